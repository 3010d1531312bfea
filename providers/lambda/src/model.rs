//! What Lambda Cloud answers, and the provider's pure logic over it: which
//! instances belong to a cluster (by name: Lambda has no tags), which names a
//! `run` must still launch, statuses, and catalog rows. No host calls here, so it
//! is unit-tested natively.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use aloft_provider_sdk::types::{InstanceStatus, Offer};

/// Lambda's longest instance name.
pub const MAX_NAME: usize = 64;

/// Every region Lambda Cloud has offered (its API has no region list; SkyPilot's
/// catalog fetcher keeps the same list).
pub const REGIONS: &[&str] = &[
    "asia-northeast-1",
    "asia-northeast-2",
    "asia-south-1",
    "australia-east-1",
    "europe-central-1",
    "europe-south-1",
    "me-west-1",
    "us-east-1",
    "us-east-2",
    "us-east-3",
    "us-midwest-1",
    "us-south-1",
    "us-south-2",
    "us-south-3",
    "us-west-1",
    "us-west-2",
    "us-west-3",
];

/// `{"name": ..., "description": ...}` (regions, instance types inside instances).
#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    /// The short name.
    pub name: String,
}

/// One entry of `GET /instances`.
#[derive(Debug, Clone, Deserialize)]
pub struct LambdaInstance {
    /// Instance id.
    pub id: String,
    /// The name given at launch (how aloft knows its clusters).
    #[serde(default)]
    pub name: Option<String>,
    /// Public IPv4 address (none while booting).
    #[serde(default)]
    pub ip: Option<String>,
    /// Private IPv4 address.
    #[serde(default)]
    pub private_ip: Option<String>,
    /// `booting`, `active`, `unhealthy`, `terminating` or `terminated`.
    pub status: String,
    /// Its region.
    #[serde(default)]
    pub region: Option<Named>,
    /// Its instance type.
    #[serde(default)]
    pub instance_type: Option<Named>,
}

impl LambdaInstance {
    /// Its region's name.
    pub fn region_name(&self) -> Option<&str> {
        self.region.as_ref().map(|r| r.name.as_str())
    }

    /// Its instance type's name.
    pub fn type_name(&self) -> &str {
        self.instance_type
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or_default()
    }

    /// Its role in `cluster`, if it is one of its nodes.
    pub fn role_in(&self, cluster: &str) -> Option<Role> {
        role_of(cluster, self.name.as_deref()?)
    }

    /// Gone or going.
    pub fn is_gone(&self) -> bool {
        matches!(self.status.as_str(), "terminating" | "terminated")
    }
}

pub use aloft_provider_sdk::nodes::{Role, name_of, role_of, roles_to_launch};

/// An instance's status; `terminated` is `preempted` unless aloft terminated it
/// (Lambda has no spot: a node gone behind aloft's back vanished).
pub fn status(lambda_status: &str, terminated_by_us: bool) -> InstanceStatus {
    match lambda_status {
        "booting" => InstanceStatus::Pending,
        "active" => InstanceStatus::Running,
        "terminating" if terminated_by_us => InstanceStatus::Terminating,
        "terminated" if terminated_by_us => InstanceStatus::Terminated,
        "terminating" | "terminated" => InstanceStatus::Preempted,
        _ => InstanceStatus::Unknown,
    }
}

/// A number Lambda may send as a JSON number or a string (`"80"`).
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    match &value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Null => Some(0.0),
        _ => None,
    }
    .ok_or_else(|| serde::de::Error::custom(format!("expected a number, got {value}")))
}

/// An instance type's hardware.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Specs {
    /// vCPUs.
    #[serde(default, deserialize_with = "number")]
    pub vcpus: f64,
    /// Memory, GiB.
    #[serde(default, deserialize_with = "number")]
    pub memory_gib: f64,
    /// Local storage, GiB.
    #[serde(default, deserialize_with = "number")]
    pub storage_gib: f64,
    /// GPUs.
    #[serde(default, deserialize_with = "number")]
    pub gpus: f64,
}

/// An instance type's hardware and price.
#[derive(Debug, Clone, Deserialize)]
pub struct TypeInfo {
    /// `gpu_1x_a10`.
    pub name: String,
    /// `NVIDIA A10 (24 GB)`.
    #[serde(default)]
    pub gpu_description: String,
    /// Price, US cents per hour.
    #[serde(default, deserialize_with = "number")]
    pub price_cents_per_hour: f64,
    /// Hardware.
    #[serde(default)]
    pub specs: Specs,
}

/// One entry of `GET /instance-types`.
#[derive(Debug, Clone, Deserialize)]
pub struct TypeEntry {
    /// The type.
    pub instance_type: TypeInfo,
    /// Regions that can launch it right now.
    #[serde(default)]
    pub regions_with_capacity_available: Vec<Named>,
}

impl TypeEntry {
    /// Whether `region` can launch it right now.
    pub fn has_capacity_in(&self, region: &str) -> bool {
        self.regions_with_capacity_available
            .iter()
            .any(|r| r.name == region)
    }
}

/// The accelerator and count an instance type name stands for
/// (`gpu_{count}x_{gpu}[_suffix]`, named as SkyPilot's catalog names them); none
/// for CPU-only types.
pub fn accelerator_of(name: &str) -> Option<(String, f64)> {
    if name == "gpu_8x_a100_80gb_sxm4" {
        return Some(("A100-80GB".into(), 8.0));
    }
    let mut parts = name.split('_');
    if parts.next()? != "gpu" {
        return None;
    }
    let count: f64 = parts.next()?.strip_suffix('x')?.parse().ok()?;
    let gpu = parts.next()?.to_uppercase();
    (gpu != "GENERAL").then_some((gpu, count))
}

/// GPU memory per GPU in MiB, from the description (`... (24 GB)`), else from
/// what Lambda has published for the accelerator.
pub fn gpu_memory_mib(gpu_description: &str, accelerator: &str) -> Option<u64> {
    let from_text = gpu_description
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.split_once("GB"))
        .and_then(|(n, _)| n.trim().parse::<u64>().ok())
        .map(|gb| gb * 1024);
    from_text.or(match accelerator {
        "A100" => Some(40960),
        "A100-80GB" => Some(81920),
        "A6000" => Some(49152),
        "A10" | "RTX6000" => Some(24576),
        "V100" => Some(16384),
        "H100" => Some(81920),
        "GH200" => Some(98304),
        "B200" => Some(184320),
        _ => None,
    })
}

/// Catalog rows: every type in each of `regions` (Lambda prices a type the same
/// everywhere; capacity comes and goes, so rows do not depend on it).
pub fn offers(types: &BTreeMap<String, TypeEntry>, regions: &[String]) -> Vec<Offer> {
    let mut rows = Vec::new();
    for (name, entry) in types {
        let info = &entry.instance_type;
        let accelerator = accelerator_of(name);
        let count = match &accelerator {
            Some((_, from_name)) if info.specs.gpus <= 0.0 => *from_name,
            Some(_) => info.specs.gpus,
            None => 0.0,
        };
        for region in regions {
            rows.push(Offer {
                instance_type: name.clone(),
                accelerator_name: accelerator.as_ref().map(|(a, _)| a.clone()),
                accelerator_count: count,
                vcpus: info.specs.vcpus,
                memory_gib: info.specs.memory_gib,
                gpu_memory_mib: accelerator
                    .as_ref()
                    .and_then(|(a, _)| gpu_memory_mib(&info.gpu_description, a)),
                price: Some(info.price_cents_per_hour / 100.0),
                spot_price: None,
                region: region.clone(),
                zone: None,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_never_cross_clusters() {
        assert_eq!(
            role_of("trn", &name_of("trn", Role::Head)),
            Some(Role::Head)
        );
        assert_eq!(
            role_of("trn", &name_of("trn", Role::Worker(3))),
            Some(Role::Worker(3))
        );
        // Cluster `a` and cluster `a-worker` never claim each other's nodes.
        assert_eq!(role_of("a", "a-worker-head"), None);
        assert_eq!(role_of("a-worker", "a-worker-1"), None);
        assert_eq!(role_of("a-worker", "a-worker-head"), Some(Role::Head));
        for stranger in [
            "trn",
            "trn-",
            "trn-worker",
            "trn-worker-0",
            "trn-worker-01",
            "trnx-head",
            "my-trn-head",
        ] {
            assert_eq!(role_of("trn", stranger), None, "{stranger}");
        }
    }

    #[test]
    fn run_launches_only_what_is_missing_head_first() {
        use Role::*;
        assert_eq!(roles_to_launch(&[], 3), [Head, Worker(1), Worker(2)]);
        assert_eq!(roles_to_launch(&[Head, Worker(1)], 2), []);
        assert_eq!(roles_to_launch(&[Worker(2)], 3), [Head, Worker(1)]);
        assert_eq!(
            roles_to_launch(&[Head, Worker(2)], 4),
            [Worker(1), Worker(3)]
        );
        assert_eq!(roles_to_launch(&[Head, Worker(1), Worker(2)], 1), []);
    }

    #[test]
    fn statuses() {
        assert_eq!(status("booting", false), InstanceStatus::Pending);
        assert_eq!(status("active", false), InstanceStatus::Running);
        assert_eq!(status("unhealthy", false), InstanceStatus::Unknown);
        assert_eq!(status("terminating", true), InstanceStatus::Terminating);
        assert_eq!(status("terminated", true), InstanceStatus::Terminated);
        assert_eq!(status("terminated", false), InstanceStatus::Preempted);
    }

    #[test]
    fn catalog_rows_from_instance_types() {
        let json = r#"{
          "gpu_1x_a10": {"instance_type": {"name": "gpu_1x_a10", "description": "1x A10 (24 GB PCIe)",
             "gpu_description": "A10 (24 GB PCIe)", "price_cents_per_hour": 75,
             "specs": {"vcpus": 30, "memory_gib": 200, "storage_gib": 1400, "gpus": 1}},
           "regions_with_capacity_available": [{"name": "us-east-1", "description": "Virginia, USA"}]},
          "gpu_8x_a100_80gb_sxm4": {"instance_type": {"name": "gpu_8x_a100_80gb_sxm4", "description": "8x A100 (80 GB SXM4)",
             "gpu_description": "A100 (80 GB SXM4)", "price_cents_per_hour": "1432",
             "specs": {"vcpus": 240, "memory_gib": 1800, "storage_gib": 20480, "gpus": 8}},
           "regions_with_capacity_available": []},
          "cpu_4x_general": {"instance_type": {"name": "cpu_4x_general", "description": "4x CPU",
             "gpu_description": "", "price_cents_per_hour": 20,
             "specs": {"vcpus": 4, "memory_gib": 16, "storage_gib": 100, "gpus": 0}},
           "regions_with_capacity_available": []}
        }"#;
        let types: BTreeMap<String, TypeEntry> = serde_json::from_str(json).unwrap();
        assert!(types["gpu_1x_a10"].has_capacity_in("us-east-1"));
        assert!(!types["gpu_1x_a10"].has_capacity_in("us-west-1"));
        let rows = offers(&types, &["us-east-1".into(), "us-west-1".into()]);
        assert_eq!(rows.len(), 6);
        let a10 = rows
            .iter()
            .find(|o| o.instance_type == "gpu_1x_a10")
            .unwrap();
        assert_eq!(a10.accelerator_name.as_deref(), Some("A10"));
        assert_eq!(a10.accelerator_count, 1.0);
        assert_eq!(a10.gpu_memory_mib, Some(24576));
        assert_eq!(a10.price, Some(0.75));
        assert_eq!(a10.vcpus, 30.0);
        assert_eq!(a10.spot_price, None);
        let big = rows
            .iter()
            .find(|o| o.instance_type == "gpu_8x_a100_80gb_sxm4")
            .unwrap();
        assert_eq!(big.accelerator_name.as_deref(), Some("A100-80GB"));
        assert_eq!(big.price, Some(14.32));
        assert_eq!(big.gpu_memory_mib, Some(81920));
        let cpu = rows
            .iter()
            .find(|o| o.instance_type == "cpu_4x_general")
            .unwrap();
        assert_eq!(cpu.accelerator_name, None);
        assert_eq!(cpu.accelerator_count, 0.0);
    }
}
