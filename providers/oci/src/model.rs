//! What OCI answers, and the provider's pure logic over it: the names and tags of a
//! cluster's instances and network, states, the security list's rules, and the
//! catalog rows of OCI's GPU shapes. No host calls here, so it is unit-tested
//! natively.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use aloft_provider_sdk::types::{InstanceStatus, Offer, PortRange};

pub use aloft_provider_sdk::nodes::{Role, name_of, role_of, roles_to_launch};

/// The freeform tag on everything aloft creates, holding the cluster's name.
pub const CLUSTER_TAG: &str = "aloft-cluster";

/// The freeform tag naming the public SSH host key an instance was created with
/// (cloud-init installs it from metadata `user_data`).
pub const HOST_KEY_TAG: &str = "aloft-host-key";

/// The address block of a cluster's VCN, and of its one (regional) subnet.
pub const VCN_CIDR: &str = "10.0.0.0/16";
/// See [`VCN_CIDR`].
pub const SUBNET_CIDR: &str = "10.0.0.0/24";

/// The display name of a cluster's VCN and of each network part in it.
pub fn network_name(cluster: &str) -> String {
    format!("aloft-{cluster}")
}

/// An instance, as `ListInstances` / `LaunchInstance` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub lifecycle_state: String,
    #[serde(default)]
    pub shape: String,
    #[serde(default)]
    pub availability_domain: String,
    #[serde(default)]
    pub freeform_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub preemptible_instance_config: Option<Value>,
}

impl Instance {
    /// Its role in `cluster`: named by role and tagged with the cluster.
    pub fn role_in(&self, cluster: &str) -> Option<Role> {
        if self.freeform_tags.get(CLUSTER_TAG).map(String::as_str) != Some(cluster) {
            return None;
        }
        role_of(cluster, &self.display_name)
    }

    /// Gone (or going) for good.
    pub fn is_gone(&self) -> bool {
        matches!(self.lifecycle_state.as_str(), "TERMINATED" | "TERMINATING")
    }

    /// aloft's status of it.
    pub fn status(&self) -> InstanceStatus {
        match self.lifecycle_state.as_str() {
            "PROVISIONING" | "STARTING" | "CREATING_IMAGE" | "MOVING" => InstanceStatus::Pending,
            "RUNNING" => InstanceStatus::Running,
            "STOPPING" => InstanceStatus::Stopping,
            "STOPPED" => InstanceStatus::Stopped,
            "TERMINATING" => InstanceStatus::Terminating,
            "TERMINATED" => InstanceStatus::Terminated,
            _ => InstanceStatus::Unknown,
        }
    }
}

/// The cluster's members of `all`, with their roles, head first (gone ones left
/// out).
pub fn members(all: &[Instance], cluster: &str) -> Vec<(Role, Instance)> {
    let mut found: Vec<(Role, Instance)> = all
        .iter()
        .filter(|i| !i.is_gone())
        .filter_map(|i| i.role_in(cluster).map(|r| (r, i.clone())))
        .collect();
    found.sort_by_key(|(r, _)| *r);
    found
}

/// A network resource (VCN, subnet, gateway, route table, security list): the
/// fields aloft reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub lifecycle_state: String,
    #[serde(default)]
    pub freeform_tags: BTreeMap<String, String>,
}

impl Resource {
    /// Made by aloft for `cluster` (named and tagged so), and not deleted.
    pub fn is_of(&self, cluster: &str) -> bool {
        self.is_live()
            && self.display_name == network_name(cluster)
            && self.freeform_tags.get(CLUSTER_TAG).map(String::as_str) == Some(cluster)
    }

    /// Not deleted (nor being deleted).
    pub fn is_live(&self) -> bool {
        !matches!(self.lifecycle_state.as_str(), "TERMINATED" | "TERMINATING")
    }
}

/// A VNIC attachment.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VnicAttachment {
    #[serde(default)]
    pub instance_id: String,
    #[serde(default)]
    pub vnic_id: Option<String>,
    #[serde(default)]
    pub lifecycle_state: String,
}

/// A VNIC's addresses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vnic {
    #[serde(default)]
    pub public_ip: Option<String>,
    #[serde(default)]
    pub private_ip: Option<String>,
}

/// An address OCI gave, when it parses as one.
pub fn address(a: &Option<String>) -> Option<String> {
    a.as_deref()
        .filter(|a| a.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string)
}

/// The security list's ingress rules: SSH and the task's ports (TCP) from
/// anywhere, everything from inside the VCN.
pub fn ingress_rules(ports: &[PortRange]) -> Value {
    let mut rules = vec![tcp_rule(22, 22)];
    for p in ports {
        if p.start == 22 && p.end == 22 {
            continue;
        }
        rules.push(tcp_rule(p.start.min(p.end), p.start.max(p.end)));
    }
    rules.push(
        json!({"source": VCN_CIDR, "sourceType": "CIDR_BLOCK", "protocol": "all",
                      "isStateless": false}),
    );
    Value::Array(rules)
}

fn tcp_rule(min: u16, max: u16) -> Value {
    json!({
        "source": "0.0.0.0/0", "sourceType": "CIDR_BLOCK", "protocol": "6", "isStateless": false,
        "tcpOptions": {"destinationPortRange": {"min": min, "max": max}},
    })
}

/// The security list's egress rules: everything, anywhere.
pub fn egress_rules() -> Value {
    json!([{"destination": "0.0.0.0/0", "destinationType": "CIDR_BLOCK", "protocol": "all",
            "isStateless": false}])
}

/// OCI regions aloft offers (where GPU shapes are sold).
pub const REGIONS: &[&str] = &[
    "us-ashburn-1",
    "us-phoenix-1",
    "us-chicago-1",
    "eu-frankfurt-1",
    "uk-london-1",
];

/// OCI's commercial regions: the hosts the manifest declares (a profile's home
/// region may be any of them; launches go to [`REGIONS`]).
pub const ALL_REGIONS: &[&str] = &[
    "us-ashburn-1",
    "us-phoenix-1",
    "us-chicago-1",
    "us-sanjose-1",
    "ca-toronto-1",
    "ca-montreal-1",
    "sa-saopaulo-1",
    "sa-vinhedo-1",
    "sa-santiago-1",
    "sa-bogota-1",
    "sa-valparaiso-1",
    "mx-queretaro-1",
    "mx-monterrey-1",
    "uk-london-1",
    "uk-cardiff-1",
    "eu-frankfurt-1",
    "eu-amsterdam-1",
    "eu-zurich-1",
    "eu-madrid-1",
    "eu-marseille-1",
    "eu-milan-1",
    "eu-paris-1",
    "eu-stockholm-1",
    "eu-jovanovac-1",
    "il-jerusalem-1",
    "me-dubai-1",
    "me-jeddah-1",
    "me-abudhabi-1",
    "me-riyadh-1",
    "af-johannesburg-1",
    "ap-tokyo-1",
    "ap-osaka-1",
    "ap-seoul-1",
    "ap-chuncheon-1",
    "ap-mumbai-1",
    "ap-hyderabad-1",
    "ap-singapore-1",
    "ap-singapore-2",
    "ap-sydney-1",
    "ap-melbourne-1",
];

/// One GPU shape: (shape, accelerator, count, vCPUs, memory GiB, GPU memory GiB
/// each, the price list's part number of its GPU hour, preemptible offered).
type Shape = (
    &'static str,
    &'static str,
    f64,
    f64,
    f64,
    u64,
    &'static str,
    bool,
);

/// OCI's GPU shapes, a hand-checked minimal list. Provenance: shapes, GPUs,
/// OCPUs (two vCPUs each) and memory from OCI's "Compute Shapes" page
/// (docs.oracle.com/iaas/Content/Compute/References/computeshapes.htm, GPU
/// shapes). Prices are not here: OCI bills these shapes per GPU hour, under the
/// price list part named beside each shape (the part numbers Oracle's own cost
/// estimator, oracle/oci-designer-toolkit, lists for these GPUs), and the price of
/// each part is read live from Oracle's public price list (see
/// [`crate::prices`]). Preemptible capacity is half the on-demand price (OCI's
/// price list: "Preemptible instances are priced at 50%"), offered here for the VM
/// shapes only. Prices are the same in every region; each shape is listed in every
/// region of [`REGIONS`] (availability differs per region and tenancy: a launch
/// where it is missing fails over).
pub const SHAPES: &[Shape] = &[
    ("VM.GPU.A10.1", "A10", 1.0, 30.0, 240.0, 24, "B95909", true),
    ("VM.GPU.A10.2", "A10", 2.0, 60.0, 480.0, 24, "B95909", true),
    (
        "BM.GPU.A10.4",
        "A10",
        4.0,
        128.0,
        1024.0,
        24,
        "B95909",
        false,
    ),
    ("VM.GPU3.1", "V100", 1.0, 12.0, 90.0, 16, "B92740", true),
    ("VM.GPU3.2", "V100", 2.0, 24.0, 180.0, 16, "B92740", true),
    ("VM.GPU3.4", "V100", 4.0, 48.0, 360.0, 16, "B92740", true),
    ("BM.GPU3.8", "V100", 8.0, 104.0, 768.0, 16, "B92740", false),
    ("BM.GPU4.8", "A100", 8.0, 128.0, 2048.0, 40, "B93544", false),
    (
        "BM.GPU.A100-v2.8",
        "A100-80GB",
        8.0,
        256.0,
        2048.0,
        80,
        "B95907",
        false,
    ),
    (
        "BM.GPU.H100.8",
        "H100",
        8.0,
        224.0,
        2048.0,
        80,
        "B98415",
        false,
    ),
    (
        "BM.GPU.L40S.4",
        "L40S",
        4.0,
        224.0,
        1024.0,
        48,
        "B109479",
        false,
    ),
];

/// The price list parts [`SHAPES`] are billed under, each once.
pub fn price_parts() -> Vec<&'static str> {
    let mut parts: Vec<&str> = SHAPES.iter().map(|s| s.6).collect();
    parts.sort_unstable();
    parts.dedup();
    parts
}

/// Catalog rows of [`SHAPES`], for `region` or every region, priced from
/// `gpu_hour` (USD per GPU hour by part number). A shape whose part has no price
/// is left out: aloft never offers what it cannot price.
pub fn offers(region: Option<&str>, gpu_hour: &BTreeMap<String, f64>) -> Vec<Offer> {
    let mut rows = Vec::new();
    for r in REGIONS
        .iter()
        .filter(|r| region.is_none_or(|want| want == **r))
    {
        for (shape, gpu, count, vcpus, memory, gpu_gib, part, preemptible) in SHAPES {
            let Some(per_gpu) = gpu_hour.get(*part) else {
                continue;
            };
            let price = per_gpu * count;
            rows.push(Offer {
                instance_type: shape.to_string(),
                accelerator_name: Some(gpu.to_string()),
                accelerator_count: *count,
                vcpus: *vcpus,
                memory_gib: *memory,
                gpu_memory_mib: Some(gpu_gib * 1024),
                price: Some(price),
                spot_price: preemptible.then_some(price / 2.0),
                region: r.to_string(),
                zone: None,
            });
        }
    }
    rows
}

/// Whether `shape` looks like an OCI shape name (`VM.GPU.A10.1`, `BM.GPU4.8`).
pub fn is_shape(shape: &str) -> bool {
    (shape.starts_with("VM.") || shape.starts_with("BM."))
        && shape.len() <= 64
        && shape
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cluster_s_tagged_and_named_live_instances_are_members() {
        let inst = |name: &str, tag: &str, state: &str| Instance {
            id: format!("ocid1.instance.{name}"),
            display_name: name.into(),
            lifecycle_state: state.into(),
            shape: "VM.GPU.A10.1".into(),
            availability_domain: "AD-1".into(),
            freeform_tags: [(CLUSTER_TAG.to_string(), tag.to_string())].into(),
            preemptible_instance_config: None,
        };
        let all = vec![
            inst("c-worker-1", "c", "RUNNING"),
            inst("c-head", "c", "STOPPED"),
            inst("c-worker-2", "c", "TERMINATED"),
            inst("c-head", "other", "RUNNING"),
            inst("c-x", "c", "RUNNING"),
        ];
        let m = members(&all, "c");
        let roles: Vec<Role> = m.iter().map(|(r, _)| *r).collect();
        assert_eq!(roles, [Role::Head, Role::Worker(1)]);
        assert_eq!(m[0].1.status(), InstanceStatus::Stopped);
    }

    #[test]
    fn the_security_list_opens_ssh_and_the_task_s_ports() {
        let rules = ingress_rules(&[
            PortRange {
                start: 8080,
                end: 8081,
            },
            PortRange { start: 22, end: 22 },
        ]);
        let ports: Vec<(u64, u64)> = rules
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| {
                let range = r.pointer("/tcpOptions/destinationPortRange")?;
                Some((range["min"].as_u64()?, range["max"].as_u64()?))
            })
            .collect();
        assert_eq!(ports, [(22, 22), (8080, 8081)]);
    }

    #[test]
    fn offers_cover_every_priced_shape_in_a_region_with_preemptible_at_half_price() {
        let prices: BTreeMap<String, f64> = price_parts()
            .into_iter()
            .map(|p| (p.to_string(), 2.0))
            .collect();
        let rows = offers(Some("us-ashburn-1"), &prices);
        assert_eq!(rows.len(), SHAPES.len());
        let a10 = rows
            .iter()
            .find(|o| o.instance_type == "VM.GPU.A10.2")
            .unwrap();
        assert_eq!((a10.price, a10.spot_price), (Some(4.0), Some(2.0)));
        let h100 = rows
            .iter()
            .find(|o| o.instance_type == "BM.GPU.H100.8")
            .unwrap();
        assert_eq!((h100.price, h100.spot_price), (Some(16.0), None));
        assert!(offers(Some("nowhere-1"), &prices).is_empty());
        assert!(REGIONS.iter().all(|r| ALL_REGIONS.contains(r)));
        assert_eq!(offers(None, &prices).len(), SHAPES.len() * REGIONS.len());
        // A part the price list did not price: its shapes are not offered.
        let mut partial = prices.clone();
        partial.remove("B98415");
        let rows = offers(Some("us-ashburn-1"), &partial);
        assert!(rows.iter().all(|o| o.instance_type != "BM.GPU.H100.8"));
        assert_eq!(rows.len(), SHAPES.len() - 1);
        assert!(is_shape("BM.GPU.A100-v2.8") && !is_shape("gpu-h100x1") && !is_shape("VM.a/b"));
    }
}
