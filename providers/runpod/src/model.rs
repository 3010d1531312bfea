//! What RunPod answers, and the provider's pure logic over it: instance type names
//! (SkyPilot's `<count>x_<GPU>_<SECURE|COMMUNITY>`) to RunPod's GPU type ids,
//! which pods belong to a cluster (by name: pods have no tags), statuses, SSH
//! endpoints from the port mappings, and catalog rows. No host calls here, so it
//! is unit-tested natively.

use serde::Deserialize;

use aloft_provider_sdk::types::{InstanceStatus, Offer};

/// The catalog's accelerator names and RunPod's GPU type ids (as RunPod's
/// `gpuTypes` query lists them; the names are those of SkyPilot's RunPod catalog).
pub const GPUS: &[(&str, &str)] = &[
    ("A100-80GB", "NVIDIA A100 80GB PCIe"),
    ("A100-80GB-SXM", "NVIDIA A100-SXM4-80GB"),
    ("A30", "NVIDIA A30"),
    ("A40", "NVIDIA A40"),
    ("B200", "NVIDIA B200"),
    ("H100", "NVIDIA H100 PCIe"),
    ("H100-NVL", "NVIDIA H100 NVL"),
    ("H100-SXM", "NVIDIA H100 80GB HBM3"),
    ("H200-SXM", "NVIDIA H200"),
    ("L4", "NVIDIA L4"),
    ("L40", "NVIDIA L40"),
    ("L40S", "NVIDIA L40S"),
    ("MI300X", "AMD Instinct MI300X OAM"),
    ("RTX3090", "NVIDIA GeForce RTX 3090"),
    ("RTX4090", "NVIDIA GeForce RTX 4090"),
    ("RTX5090", "NVIDIA GeForce RTX 5090"),
    ("RTX4000-Ada", "NVIDIA RTX 4000 Ada Generation"),
    ("RTX6000-Ada", "NVIDIA RTX 6000 Ada Generation"),
    ("RTXA4000", "NVIDIA RTX A4000"),
    ("RTXA4500", "NVIDIA RTX A4500"),
    ("RTXA5000", "NVIDIA RTX A5000"),
    ("RTXA6000", "NVIDIA RTX A6000"),
    ("V100-16GB-SXM2", "Tesla V100-SXM2-16GB"),
    ("V100-32GB-SXM2", "Tesla V100-SXM2-32GB"),
];

/// RunPod's countries (aloft's regions) and their data centers (zones), as the
/// RunPod catalog lists them.
pub const REGIONS: &[(&str, &[&str])] = &[
    ("CA", &["CA-MTL-1", "CA-MTL-2", "CA-MTL-3"]),
    ("CZ", &["EU-CZ-1"]),
    ("IS", &["EUR-IS-1", "EUR-IS-2", "EUR-IS-3"]),
    ("NL", &["EU-NL-1"]),
    ("NO", &["EU-SE-1"]),
    ("RO", &["EU-RO-1"]),
    ("SE", &["EU-SE-1"]),
    (
        "US",
        &[
            "US-CA-1", "US-CA-2", "US-DE-1", "US-GA-1", "US-GA-2", "US-IL-1", "US-KS-1", "US-KS-2",
            "US-NC-1", "US-TX-1", "US-TX-2", "US-TX-3", "US-TX-4", "US-WA-1",
        ],
    ),
];

/// The GPU counts a pod can have (catalog rows are made for these).
pub const COUNTS: &[u32] = &[1, 2, 4, 8];

/// RunPod's cloud a pod runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudType {
    /// RunPod's own data centers.
    Secure,
    /// Community hosts.
    Community,
}

impl CloudType {
    /// The `CloudTypeEnum` value.
    pub fn as_str(self) -> &'static str {
        match self {
            CloudType::Secure => "SECURE",
            CloudType::Community => "COMMUNITY",
        }
    }
}

/// What an instance type name stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct PodShape {
    /// RunPod's GPU type id (`NVIDIA A40`).
    pub gpu_type_id: String,
    /// GPUs in the pod.
    pub gpu_count: u32,
    /// Secure or community cloud.
    pub cloud: CloudType,
}

/// Parses `<count>x_<GPU>_<SECURE|COMMUNITY>`; none for anything else (CPU types
/// such as `cpu3c-2-4` included: this provider deploys GPU pods only).
pub fn parse_instance_type(name: &str) -> Option<PodShape> {
    let (count, rest) = name.split_once("x_")?;
    let gpu_count: u32 = count.parse().ok().filter(|n| *n >= 1)?;
    let (gpu, cloud) = rest.rsplit_once('_')?;
    let cloud = match cloud {
        "SECURE" => CloudType::Secure,
        "COMMUNITY" => CloudType::Community,
        _ => return None,
    };
    let gpu_type_id = GPUS.iter().find(|(n, _)| *n == gpu)?.1.to_string();
    Some(PodShape {
        gpu_type_id,
        gpu_count,
        cloud,
    })
}

/// The instance type name of `gpu_count` GPUs of accelerator `gpu` in `cloud`.
pub fn instance_type_name(gpu: &str, gpu_count: u32, cloud: CloudType) -> String {
    format!("{gpu_count}x_{gpu}_{}", cloud.as_str())
}

/// The accelerator name of a RunPod GPU type id.
pub fn accelerator_of(gpu_type_id: &str) -> Option<&'static str> {
    GPUS.iter()
        .find(|(_, id)| *id == gpu_type_id)
        .map(|(n, _)| *n)
}

/// One port mapping of a running pod (`runtime { ports { ... } }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The address it is reachable at.
    #[serde(default)]
    pub ip: Option<String>,
    /// Whether `ip` is public.
    #[serde(default)]
    pub is_ip_public: Option<bool>,
    /// The port inside the pod.
    #[serde(default)]
    pub private_port: Option<u32>,
    /// The port at `ip`.
    #[serde(default)]
    pub public_port: Option<u32>,
    /// `tcp` or `http`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A pod's runtime (absent until its container runs).
#[derive(Debug, Clone, Deserialize)]
pub struct Runtime {
    /// Its port mappings.
    #[serde(default)]
    pub ports: Option<Vec<PortMapping>>,
}

/// One pod, as `myself { pods { ... } }` answers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Pod id.
    pub id: String,
    /// The name given at deploy (how aloft knows its clusters).
    #[serde(default)]
    pub name: Option<String>,
    /// `CREATED`, `RUNNING`, `RESTARTING`, `EXITED`, `PAUSED`, `DEAD`, `TERMINATED`.
    #[serde(default)]
    pub desired_status: Option<String>,
    /// `INTERRUPTABLE` for spot pods, `RESERVED` for on-demand ones.
    #[serde(default)]
    pub pod_type: Option<String>,
    /// GPUs in the pod.
    #[serde(default)]
    pub gpu_count: Option<u32>,
    /// Its runtime, once it runs.
    #[serde(default)]
    pub runtime: Option<Runtime>,
}

impl Pod {
    /// Its role in `cluster`, if it is one of its nodes.
    pub fn role_in(&self, cluster: &str) -> Option<Role> {
        role_of(cluster, self.name.as_deref()?)
    }

    /// Whether it is an interruptible (spot) pod.
    pub fn is_spot(&self) -> bool {
        self.pod_type.as_deref() == Some("INTERRUPTABLE")
    }

    /// Gone or going.
    pub fn is_gone(&self) -> bool {
        matches!(
            self.desired_status.as_deref(),
            Some("TERMINATED") | Some("DEAD")
        )
    }

    /// Where SSH reaches it: the public address and port that port 22 (tcp) is
    /// mapped to, once RunPod publishes the mapping.
    pub fn ssh_endpoint(&self) -> Option<(String, u16)> {
        let ports = self.runtime.as_ref()?.ports.as_ref()?;
        ports
            .iter()
            .filter(|p| p.private_port == Some(22) && p.kind.as_deref() == Some("tcp"))
            .filter(|p| p.is_ip_public == Some(true))
            .find_map(|p| {
                let ip = p.ip.clone().filter(|ip| !ip.is_empty())?;
                let port = u16::try_from(p.public_port?).ok().filter(|p| *p > 0)?;
                Some((ip, port))
            })
    }

    /// Its status for aloft. A pod is `pending` until its SSH mapping is published;
    /// an interruptible pod that RunPod stopped was preempted.
    pub fn status(&self) -> InstanceStatus {
        match self.desired_status.as_deref() {
            Some("RUNNING") if self.ssh_endpoint().is_some() => InstanceStatus::Running,
            Some("RUNNING") | Some("CREATED") | Some("RESTARTING") => InstanceStatus::Pending,
            Some("EXITED") | Some("PAUSED") if self.is_spot() => InstanceStatus::Preempted,
            Some("EXITED") | Some("PAUSED") => InstanceStatus::Stopped,
            Some("TERMINATED") | Some("DEAD") => InstanceStatus::Terminated,
            _ => InstanceStatus::Unknown,
        }
    }
}

pub use aloft_provider_sdk::nodes::{Role, name_of, role_of, roles_to_launch};

/// The prices `gpuTypes` answers for one GPU type (US dollars per GPU-hour).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuType {
    /// RunPod's id (`NVIDIA A40`).
    pub id: String,
    /// GPU memory, GB.
    #[serde(default)]
    pub memory_in_gb: Option<f64>,
    /// The most GPUs one pod can have.
    #[serde(default)]
    pub max_gpu_count: Option<u32>,
    /// Offered in the secure cloud.
    #[serde(default)]
    pub secure_cloud: Option<bool>,
    /// Offered in the community cloud.
    #[serde(default)]
    pub community_cloud: Option<bool>,
    /// On-demand price in the secure cloud.
    #[serde(default)]
    pub secure_price: Option<f64>,
    /// On-demand price in the community cloud.
    #[serde(default)]
    pub community_price: Option<f64>,
    /// Interruptible price in the secure cloud.
    #[serde(default)]
    pub secure_spot_price: Option<f64>,
    /// Interruptible price in the community cloud.
    #[serde(default)]
    pub community_spot_price: Option<f64>,
    /// The cheapest pod of one GPU right now.
    #[serde(default)]
    pub lowest_price: Option<LowestPrice>,
}

/// `lowestPrice(input: {gpuCount: 1})`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LowestPrice {
    /// The lowest bid an interruptible pod is accepted at.
    #[serde(default)]
    pub minimum_bid_price: Option<f64>,
    /// The on-demand price.
    #[serde(default)]
    pub uninterruptable_price: Option<f64>,
    /// vCPUs that come with one GPU.
    #[serde(default)]
    pub min_vcpu: Option<f64>,
    /// Memory (GB) that comes with one GPU.
    #[serde(default)]
    pub min_memory: Option<f64>,
}

impl GpuType {
    /// The on-demand and interruptible price per GPU-hour in `cloud`, if offered.
    pub fn prices(&self, cloud: CloudType) -> Option<(f64, Option<f64>)> {
        let (offered, price, spot) = match cloud {
            CloudType::Secure => (self.secure_cloud, self.secure_price, self.secure_spot_price),
            CloudType::Community => (
                self.community_cloud,
                self.community_price,
                self.community_spot_price,
            ),
        };
        let price = price.filter(|p| *p > 0.0 && offered.unwrap_or(true))?;
        Some((price, spot.filter(|p| *p > 0.0)))
    }
}

/// Catalog rows: every known GPU type in both clouds where priced, for counts up to
/// its maximum, in each of `regions` (RunPod prices a GPU the same everywhere).
pub fn offers(types: &[GpuType], regions: &[&str]) -> Vec<Offer> {
    let mut rows = Vec::new();
    for t in types {
        let Some(gpu) = accelerator_of(&t.id) else {
            continue;
        };
        let max = t.max_gpu_count.unwrap_or(8);
        let lowest = t.lowest_price.as_ref();
        let vcpus = lowest.and_then(|l| l.min_vcpu).unwrap_or(0.0);
        let memory = lowest.and_then(|l| l.min_memory).unwrap_or(0.0);
        for cloud in [CloudType::Secure, CloudType::Community] {
            let Some((price, spot)) = t.prices(cloud) else {
                continue;
            };
            for &count in COUNTS.iter().filter(|c| **c <= max) {
                let n = f64::from(count);
                for region in regions {
                    rows.push(Offer {
                        instance_type: instance_type_name(gpu, count, cloud),
                        accelerator_name: Some(gpu.to_string()),
                        accelerator_count: n,
                        vcpus: vcpus * n,
                        memory_gib: memory * n,
                        gpu_memory_mib: t.memory_in_gb.map(|gb| (gb * 1024.0) as u64),
                        price: Some(price * n),
                        spot_price: spot.map(|s| s * n),
                        region: region.to_string(),
                        zone: None,
                    });
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_types_parse_to_gpu_ids() {
        assert_eq!(
            parse_instance_type("1x_A40_SECURE"),
            Some(PodShape {
                gpu_type_id: "NVIDIA A40".into(),
                gpu_count: 1,
                cloud: CloudType::Secure
            })
        );
        let h = parse_instance_type("8x_H100-SXM_COMMUNITY").unwrap();
        assert_eq!(
            (h.gpu_type_id.as_str(), h.gpu_count, h.cloud),
            ("NVIDIA H100 80GB HBM3", 8, CloudType::Community)
        );
        assert_eq!(
            parse_instance_type("2x_RTX4000-Ada_SECURE")
                .unwrap()
                .gpu_type_id,
            "NVIDIA RTX 4000 Ada Generation"
        );
        for bad in [
            "cpu3c-2-4",
            "0x_A40_SECURE",
            "1x_A40_ALL",
            "1x_NOPE_SECURE",
            "x_A40_SECURE",
            "",
        ] {
            assert_eq!(parse_instance_type(bad), None, "{bad}");
        }
        assert_eq!(
            instance_type_name("A40", 2, CloudType::Secure),
            "2x_A40_SECURE"
        );
    }

    #[test]
    fn names_round_trip_and_never_cross_clusters() {
        assert_eq!(role_of("t", &name_of("t", Role::Head)), Some(Role::Head));
        assert_eq!(
            role_of("t", &name_of("t", Role::Worker(2))),
            Some(Role::Worker(2))
        );
        assert_eq!(role_of("a", "a-worker-head"), None);
        assert_eq!(role_of("a-worker", "a-worker-1"), None);
        for stranger in ["t", "t-", "t-worker-0", "t-worker-01", "tx-head"] {
            assert_eq!(role_of("t", stranger), None, "{stranger}");
        }
        use Role::*;
        assert_eq!(roles_to_launch(&[], 2), [Head, Worker(1)]);
        assert_eq!(roles_to_launch(&[Worker(1)], 2), [Head]);
        assert_eq!(roles_to_launch(&[Head, Worker(1)], 2), []);
    }

    fn pod(json: &str) -> Pod {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ssh_goes_to_the_public_mapping_of_port_22() {
        let p = pod(
            r#"{"id": "p1", "name": "c-head", "desiredStatus": "RUNNING", "podType": "RESERVED",
                "runtime": {"ports": [
                  {"ip": "10.0.0.5", "isIpPublic": false, "privatePort": 22, "publicPort": 22, "type": "tcp"},
                  {"ip": "100.65.1.2", "isIpPublic": false, "privatePort": 8888, "publicPort": 60001, "type": "http"},
                  {"ip": "203.0.113.9", "isIpPublic": true, "privatePort": 22, "publicPort": 40222, "type": "tcp"}]}}"#,
        );
        assert_eq!(p.ssh_endpoint(), Some(("203.0.113.9".into(), 40222)));
        assert_eq!(p.status(), InstanceStatus::Running);
        assert_eq!(p.role_in("c"), Some(Role::Head));
        // No runtime yet: still booting.
        let booting =
            pod(r#"{"id": "p2", "name": "c-head", "desiredStatus": "RUNNING", "runtime": null}"#);
        assert_eq!(booting.ssh_endpoint(), None);
        assert_eq!(booting.status(), InstanceStatus::Pending);
        // A port out of range is no endpoint.
        let bad = pod(
            r#"{"id": "p3", "desiredStatus": "RUNNING", "runtime": {"ports": [
                {"ip": "203.0.113.9", "isIpPublic": true, "privatePort": 22, "publicPort": 70000, "type": "tcp"}]}}"#,
        );
        assert_eq!(bad.ssh_endpoint(), None);
    }

    #[test]
    fn statuses() {
        let s = |status: &str, kind: &str| {
            pod(&format!(
                r#"{{"id": "p", "desiredStatus": "{status}", "podType": "{kind}"}}"#
            ))
            .status()
        };
        assert_eq!(s("EXITED", "INTERRUPTABLE"), InstanceStatus::Preempted);
        assert_eq!(s("EXITED", "RESERVED"), InstanceStatus::Stopped);
        assert_eq!(s("CREATED", "RESERVED"), InstanceStatus::Pending);
        assert_eq!(s("TERMINATED", "RESERVED"), InstanceStatus::Terminated);
        assert_eq!(s("WHATEVER", "RESERVED"), InstanceStatus::Unknown);
    }

    #[test]
    fn catalog_rows_from_gpu_types() {
        let types: Vec<GpuType> = serde_json::from_str(
            r#"[{"id": "NVIDIA A40", "memoryInGb": 48, "maxGpuCount": 2, "secureCloud": true,
                 "communityCloud": false, "securePrice": 0.44, "communityPrice": 0.35,
                 "secureSpotPrice": 0.2, "communitySpotPrice": null,
                 "lowestPrice": {"minimumBidPrice": 0.2, "uninterruptablePrice": 0.44, "minVcpu": 9, "minMemory": 48}},
                {"id": "Some New GPU", "securePrice": 1.0}]"#,
        )
        .unwrap();
        let rows = offers(&types, &["US", "CA"]);
        // A40: secure only (community not offered), counts 1 and 2, two regions.
        assert_eq!(rows.len(), 4, "{rows:?}");
        let two = rows
            .iter()
            .find(|o| o.instance_type == "2x_A40_SECURE" && o.region == "US")
            .unwrap();
        assert_eq!(two.accelerator_name.as_deref(), Some("A40"));
        assert_eq!(two.accelerator_count, 2.0);
        assert_eq!(two.price, Some(0.88));
        assert_eq!(two.spot_price, Some(0.4));
        assert_eq!(two.vcpus, 18.0);
        assert_eq!(two.gpu_memory_mib, Some(49152));
    }
}

/// The network volume the host asks a cluster's pods to attach (the host's
/// `aloft::volumes::Attachment`, left in this component's kv under
/// [`volumes_key`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Mount {
    /// The volume's name in aloft.
    pub name: String,
    /// RunPod's network volume id.
    pub id: String,
    /// Where the pod sees it (`volumeMountPath`).
    pub mount_path: String,
}

/// The kv key holding a cluster's mounts (the host's `aloft::volumes::kv_key`).
pub fn volumes_key(cluster: &str) -> String {
    format!("aloft-volumes/{cluster}")
}

/// The network volume a cluster's pods attach: none without the key; a pod
/// attaches at most one.
pub fn network_volume(value: Option<&str>) -> Result<Option<Mount>, String> {
    let Some(text) = value else {
        return Ok(None);
    };
    let mut mounts: Vec<Mount> =
        serde_json::from_str(text).map_err(|e| format!("volume mounts: {e}"))?;
    match mounts.len() {
        0 | 1 => Ok(mounts.pop()),
        n => Err(format!(
            "a RunPod pod attaches one network volume; the task mounts {n}"
        )),
    }
}

#[cfg(test)]
mod mount_tests {
    use super::*;

    #[test]
    fn one_network_volume_per_pod() {
        let one = r#"[{"name":"ckpt","id":"abc","mount_path":"/ckpt","size_gib":10}]"#;
        let m = network_volume(Some(one)).unwrap().unwrap();
        assert_eq!((m.id.as_str(), m.mount_path.as_str()), ("abc", "/ckpt"));
        assert_eq!(network_volume(None).unwrap(), None);
        let two = format!("[{0},{0}]", &one[1..one.len() - 1]);
        assert!(
            network_volume(Some(&two))
                .unwrap_err()
                .contains("one network volume")
        );
    }
}
