//! What each cloud can do, so that the optimizer never picks an offer whose cloud
//! cannot run the task: a provider's manifest says it when one is installed; for
//! clouds known only from a catalog, this table says what SkyPilot documents.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::task::{ImageId, Resources};

/// What a cloud can do (mirrors the provider interface's `capabilities`, and the
/// `manifest` export of WIT 0.2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CloudCapabilities {
    /// Spot / preemptible instances.
    pub spot: bool,
    /// Stop and start (keep disks).
    pub stop_start: bool,
    /// Clusters of several nodes.
    pub multi_node: bool,
    /// Opening ports to the world.
    pub open_ports: bool,
    /// Custom VM images.
    pub custom_images: bool,
    /// Running the task's container image (`image_id: docker:...`) on its nodes.
    pub container_images: bool,
}

#[cfg(feature = "plugin")]
impl From<&crate::plugin::Capabilities> for CloudCapabilities {
    /// What a provider's manifest declares.
    fn from(c: &crate::plugin::Capabilities) -> Self {
        CloudCapabilities {
            spot: c.spot,
            stop_start: c.stop_start,
            multi_node: c.multi_node,
            open_ports: c.open_ports,
            custom_images: c.custom_images,
            container_images: c.container_images,
        }
    }
}

impl CloudCapabilities {
    /// Everything.
    pub const ALL: CloudCapabilities = CloudCapabilities {
        spot: true,
        stop_start: true,
        multi_node: true,
        open_ports: true,
        custom_images: true,
        container_images: true,
    };

    /// What clouds that aloft knows only from a catalog can do (SkyPilot's own
    /// limits: RunPod has no multi-node and no stop; Lambda no spot and no stop).
    /// RunPod's pods run the image of its settings, so no task container image,
    /// as aloft's `runpod` provider declares in its manifest.
    pub fn of_catalog_cloud(cloud: &str) -> Option<CloudCapabilities> {
        let all = CloudCapabilities::ALL;
        Some(match cloud {
            "aws" | "gcp" | "azure" | "oci" | "ibm" | "nebius" => all,
            "lambda" => CloudCapabilities {
                spot: false,
                stop_start: false,
                custom_images: false,
                ..all
            },
            "runpod" => CloudCapabilities {
                multi_node: false,
                stop_start: false,
                open_ports: true,
                custom_images: false,
                spot: true,
                container_images: false,
            },
            "fluidstack" | "paperspace" | "cudo" | "vast" => CloudCapabilities {
                spot: cloud == "vast",
                stop_start: cloud == "paperspace",
                multi_node: cloud != "vast",
                ..all
            },
            _ => return None,
        })
    }

    /// Why a task of `num_nodes` nodes with resources `r` cannot run here, if so.
    pub fn refusal(&self, num_nodes: u32, r: &Resources, use_spot: bool) -> Option<String> {
        if num_nodes > 1 && !self.multi_node {
            return Some(format!("cannot run {num_nodes}-node tasks (no multi-node)"));
        }
        if use_spot && !self.spot {
            return Some("has no spot instances".into());
        }
        if !r.ports.is_empty() && !self.open_ports {
            return Some("cannot open ports".into());
        }
        if matches!(r.image_id, Some(ImageId::Single(_) | ImageId::PerRegion(_)))
            && !self.custom_images
        {
            return Some("cannot use a custom image_id".into());
        }
        if matches!(r.image_id, Some(ImageId::Docker(_))) && !self.container_images {
            return Some(
                "cannot run a container image (image_id: docker:...): its nodes are containers \
                 of the provider's own image"
                    .into(),
            );
        }
        None
    }
}

/// Clouds that can choose a disk tier other than `best` (SkyPilot 0.14's
/// `CUSTOM_DISK_TIER` feature; Lambda, RunPod, Kubernetes, Nebius, DigitalOcean,
/// Vast, Fluidstack, Paperspace, Cudo and the rest declare it unsupported).
const CUSTOM_DISK_TIER_CLOUDS: &[&str] = &["aws", "gcp", "azure", "oci"];

/// Clouds with high-bandwidth networking for `network_tier: best` (SkyPilot's
/// `CUSTOM_NETWORK_TIER`: EFA on AWS, GPUDirect on GCP, InfiniBand on Nebius).
const NETWORK_TIER_BEST_CLOUDS: &[&str] = &["aws", "gcp", "nebius"];

/// Why `cloud` cannot give resources `r` the disk or network tier they ask for,
/// if so. As SkyPilot: a `disk_tier` other than `best` (or `none`, the default)
/// needs a cloud that chooses disk tiers, and `network_tier: best` one with
/// high-bandwidth networking; `disk_tier: best` and `network_tier: standard` fit
/// every cloud. A cloud that no table names (a third-party provider, whose
/// interface has no tier to ask for) cannot honour either.
pub fn tier_refusal(cloud: &str, r: &Resources) -> Option<String> {
    if let Some(tier) = r
        .disk_tier
        .as_deref()
        .filter(|t| !matches!(*t, "best" | "none"))
        && !CUSTOM_DISK_TIER_CLOUDS.contains(&cloud)
    {
        return Some(format!("cannot choose a disk tier (disk_tier: {tier})"));
    }
    if r.network_tier.as_deref() == Some("best") && !NETWORK_TIER_BEST_CLOUDS.contains(&cloud) {
        return Some("has no high-bandwidth networking (network_tier: best)".into());
    }
    None
}

/// Capabilities per cloud: what the options say, else the catalog table, else
/// everything (a cloud nobody describes is not second-guessed).
pub(crate) fn of(known: &BTreeMap<String, CloudCapabilities>, cloud: &str) -> CloudCapabilities {
    known
        .get(cloud)
        .copied()
        .or_else(|| CloudCapabilities::of_catalog_cloud(cloud))
        .unwrap_or(CloudCapabilities::ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cloud_that_cannot_run_container_images_refuses_a_docker_image_and_nothing_else() {
        let boxed = CloudCapabilities {
            container_images: false,
            ..CloudCapabilities::ALL
        };
        let docker = Resources {
            image_id: Some(ImageId::Docker("busybox:1.36".into())),
            ..Resources::default()
        };
        assert_eq!(
            boxed.refusal(1, &docker, false).as_deref(),
            Some(
                "cannot run a container image (image_id: docker:...): its nodes are \
                 containers of the provider's own image"
            )
        );
        assert_eq!(boxed.refusal(1, &Resources::default(), false), None);
        assert_eq!(CloudCapabilities::ALL.refusal(1, &docker, false), None);
        // A cloud known only from a catalog: RunPod cannot, as its provider declares.
        let runpod = CloudCapabilities::of_catalog_cloud("runpod");
        assert_eq!(runpod.map(|c| c.container_images), Some(false));
        let aws = CloudCapabilities::of_catalog_cloud("aws");
        assert_eq!(aws.map(|c| c.container_images), Some(true));
    }
}
