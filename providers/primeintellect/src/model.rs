//! What Prime Intellect answers, and the provider's pure logic over it: instance
//! types (`<n>x_<gpuType>_<socket>`), the names of a cluster's pods, statuses and
//! SSH endpoints, and catalog rows from the availability API. No host calls here,
//! so it is unit-tested natively. Everything the API answers is untrusted: a field
//! of the wrong type, an address that does not parse, a count or price out of
//! range is dropped rather than passed on.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use aloft_provider_sdk::types::{InstanceStatus, Offer};

pub use aloft_provider_sdk::nodes::{Role, roles_to_launch};

/// Every pod aloft names starts with this (one listing answers for every
/// cluster, and a pod a user made by hand is never taken for one).
pub const NAME_PREFIX: &str = "aloft-";

/// The name of `cluster`'s pod with `role`: `aloft-<cluster>-head`,
/// `aloft-<cluster>-worker-<n>` (the SDK's role names).
pub fn name_of(cluster: &str, role: Role) -> String {
    format!(
        "{NAME_PREFIX}{}",
        aloft_provider_sdk::nodes::name_of(cluster, role)
    )
}

/// The role of the pod named `name` in `cluster`; none when it is not one of
/// its nodes.
pub fn role_of(cluster: &str, name: &str) -> Option<Role> {
    aloft_provider_sdk::nodes::role_of(cluster, name.strip_prefix(NAME_PREFIX)?)
}

/// The name of the account SSH key aloft registers for `cluster`.
pub fn key_name_of(cluster: &str) -> String {
    format!("{NAME_PREFIX}{cluster}")
}

/// aloft's accelerator names for Prime Intellect's `gpuType`s (the part before
/// the memory suffix: `H100_80GB` → `H100`); A100s by their memory.
const GPUS: &[(&str, &str)] = &[
    ("H100", "H100"),
    ("H200", "H200"),
    ("B200", "B200"),
    ("GH200", "GH200"),
    ("L40S", "L40S"),
    ("L40", "L40"),
    ("L4", "L4"),
    ("A40", "A40"),
    ("A10", "A10"),
    ("A6000", "RTXA6000"),
    ("A5000", "RTXA5000"),
    ("A4000", "RTXA4000"),
    ("RTX3090", "RTX3090"),
    ("RTX4090", "RTX4090"),
    ("RTX5090", "RTX5090"),
    ("RTX6000ADA", "RTX6000-Ada"),
    ("V100", "V100"),
    ("T4", "T4"),
    ("MI300X", "MI300X"),
];

/// aloft's accelerator name for a `gpuType` (`A100_80GB` → `A100-80GB`).
pub fn accelerator_of(gpu_type: &str) -> Option<&'static str> {
    let upper = gpu_type.to_ascii_uppercase();
    let (family, memory) = upper.split_once('_').unwrap_or((upper.as_str(), ""));
    if family == "A100" {
        return Some(if memory.starts_with("80") {
            "A100-80GB"
        } else {
            "A100"
        });
    }
    GPUS.iter().find(|(g, _)| *g == family).map(|(_, a)| *a)
}

/// Whether `part` is safe in an instance type and a query: letters, digits and
/// `_`, at most 48.
fn is_word(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 48
        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The instance type of `count` GPUs of `gpu_type` on `socket`:
/// `8x_H100_80GB_SXM5`.
pub fn instance_type(count: u32, gpu_type: &str, socket: &str) -> Option<String> {
    (is_word(gpu_type) && is_word(socket) && !socket.contains('_') && (1..=64).contains(&count))
        .then(|| format!("{count}x_{gpu_type}_{socket}"))
}

/// `(GPU count, gpuType, socket)` of an instance type.
pub fn parse_instance_type(name: &str) -> Option<(u32, String, String)> {
    let (digits, rest) = name.split_once("x_")?;
    let count: u32 = digits.parse().ok()?;
    if count.to_string() != digits || !(1..=64).contains(&count) {
        return None;
    }
    let (gpu, socket) = rest.rsplit_once('_')?;
    instance_type(count, gpu, socket)?;
    Some((count, gpu.to_string(), socket.to_string()))
}

/// aloft's region for an availability row's `country`: the code, upper case.
pub fn region_of(country: &str) -> Option<String> {
    let code = country.trim();
    (code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

/// A resource's range in an availability row (`vcpu`, `memory`, `disk`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Range {
    /// What a pod gets unless asked otherwise.
    #[serde(default)]
    pub default_count: Option<f64>,
    /// The least.
    #[serde(default)]
    pub min_count: Option<f64>,
    /// The most.
    #[serde(default)]
    pub max_count: Option<f64>,
}

/// Prices of an availability row.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    /// On-demand price per hour.
    #[serde(default)]
    pub on_demand: Option<f64>,
    /// Community (secondary market) price per hour.
    #[serde(default)]
    pub community_price: Option<f64>,
}

/// One row of `GET /api/v1/availability/gpus` (`prime_cli`'s `GPUAvailability`:
/// the fields aloft reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    /// What `POST /pods` takes as `cloudId`.
    pub cloud_id: String,
    /// `H100_80GB`.
    pub gpu_type: String,
    /// `SXM5`, `PCIe`, ...
    #[serde(default)]
    pub socket: Option<String>,
    /// The provider behind the offer (`runpod`, `hyperstack`, ...).
    #[serde(default)]
    pub provider: Option<String>,
    /// Its data center.
    #[serde(default)]
    pub data_center: Option<String>,
    /// Its country (`US`).
    #[serde(default)]
    pub country: Option<String>,
    /// GPUs.
    pub gpu_count: f64,
    /// Memory per GPU, GB.
    #[serde(default)]
    pub gpu_memory: Option<f64>,
    /// Disk range, GB.
    #[serde(default)]
    pub disk: Range,
    /// vCPU range.
    #[serde(default)]
    pub vcpu: Range,
    /// Memory range, GB.
    #[serde(default)]
    pub memory: Range,
    /// `High`, `Medium`, `Low`, or a word for none.
    #[serde(default)]
    pub stock_status: Option<String>,
    /// `secure_cloud` / `community_cloud`.
    #[serde(default)]
    pub security: Option<String>,
    /// Its prices.
    #[serde(default)]
    pub prices: Prices,
    /// Images a pod of it may run.
    #[serde(default)]
    pub images: Option<Vec<String>>,
    /// Whether it is a spot offer.
    #[serde(default)]
    pub is_spot: Option<bool>,
}

fn sane(value: Option<f64>, max: f64) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v >= 0.0 && *v <= max)
}

impl Availability {
    /// Its instance type, when its GPU is one aloft can name.
    pub fn instance_type(&self) -> Option<String> {
        let count = sane(Some(self.gpu_count), 64.0).filter(|n| *n >= 1.0)? as u32;
        accelerator_of(&self.gpu_type)?;
        instance_type(count, &self.gpu_type, self.socket.as_deref()?)
    }

    /// Its region (country code).
    pub fn region(&self) -> Option<String> {
        region_of(self.country.as_deref()?)
    }

    /// Its price per hour (the community price when there is one, as
    /// `prime_cli`'s `Prices.price`).
    pub fn price(&self) -> Option<f64> {
        sane(
            self.prices.community_price.or(self.prices.on_demand),
            10_000.0,
        )
        .filter(|p| *p > 0.0)
    }

    /// Whether it is a spot offer.
    pub fn spot(&self) -> bool {
        self.is_spot == Some(true)
    }

    /// Whether it can be rented now (some stock).
    pub fn in_stock(&self) -> bool {
        let s = self
            .stock_status
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        !(s.is_empty()
            || s.contains("unavailable")
            || s.contains("out")
            || s == "none"
            || s == "sold out")
    }

    /// A count to ask for from `range`: its default, else its minimum.
    pub fn count_of(range: &Range) -> Option<u32> {
        sane(range.default_count.or(range.min_count), 1e6).map(|v| v as u32)
    }
}

/// Catalog rows: the cheapest in-stock offer of each instance type in each
/// region (only `region` when given), the cheapest spot offer as its spot price.
pub fn offers(rows: &[Availability], region: Option<&str>) -> Vec<Offer> {
    let mut best: BTreeMap<(String, String), Offer> = BTreeMap::new();
    for row in rows {
        let (Some(instance_type), Some(r), Some(price)) =
            (row.instance_type(), row.region(), row.price())
        else {
            continue;
        };
        if !row.in_stock() || region.is_some_and(|want| want != r) {
            continue;
        }
        let entry = best
            .entry((instance_type.clone(), r.clone()))
            .or_insert_with(|| Offer {
                instance_type,
                accelerator_name: accelerator_of(&row.gpu_type).map(str::to_string),
                accelerator_count: row.gpu_count.floor(),
                vcpus: 0.0,
                memory_gib: 0.0,
                gpu_memory_mib: sane(row.gpu_memory, 1e5).map(|g| (g * 1024.0) as u64),
                price: None,
                spot_price: None,
                region: r,
                zone: None,
            });
        let slot = if row.spot() {
            &mut entry.spot_price
        } else {
            &mut entry.price
        };
        if slot.is_none_or(|p| price < p) {
            *slot = Some(price);
            if !row.spot() || entry.vcpus == 0.0 {
                entry.vcpus = sane(row.vcpu.default_count, 4096.0).unwrap_or(0.0);
                entry.memory_gib = sane(row.memory.default_count, 1e6).unwrap_or(0.0);
            }
        }
    }
    best.into_values().collect()
}

/// One pod, as `GET /api/v1/pods` lists it (`prime_cli`'s `Pod`: the fields
/// aloft reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Its id.
    pub id: String,
    /// Its name (how aloft knows its clusters).
    #[serde(default)]
    pub name: Option<String>,
    /// `PROVISIONING`, `PENDING`, `ACTIVE`, `ERROR`, `TERMINATED`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// `FINISHED` once the image is installed.
    #[serde(default)]
    pub installation_status: Option<String>,
    /// 0..100.
    #[serde(default)]
    pub installation_progress: Option<f64>,
    /// `user@host -p port` (a list for multi-node pods).
    #[serde(default)]
    pub ssh_connection: Option<serde_json::Value>,
    /// `gpuName` in the answer.
    #[serde(default, rename = "gpuName")]
    pub gpu_type: Option<String>,
    /// GPUs.
    #[serde(default)]
    pub gpu_count: Option<f64>,
    /// Its socket.
    #[serde(default)]
    pub socket: Option<String>,
    /// Whether it is a spot pod.
    #[serde(default)]
    pub is_spot: Option<bool>,
}

/// `(user, host, port)` of an `sshConnection` (`root@203.0.113.7 -p 22`), each
/// part validated.
pub fn parse_ssh(connection: &str) -> Option<(Option<String>, String, u16)> {
    let mut parts = connection.split_whitespace();
    let target = parts.next()?;
    let mut port = 22u16;
    while let Some(flag) = parts.next() {
        if flag != "-p" {
            return None;
        }
        port = parts.next()?.parse().ok().filter(|p| *p > 0)?;
    }
    let (user, host) = match target.split_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, target),
    };
    let user_ok = user.as_deref().is_none_or(|u| {
        !u.is_empty()
            && u.len() <= 32
            && u.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && u.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    let host_ok = host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && !host.starts_with('-')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    (user_ok && host_ok).then(|| (user, host.to_string(), port))
}

impl Pod {
    /// Its role in `cluster`, if it is one of its nodes.
    pub fn role_in(&self, cluster: &str) -> Option<Role> {
        role_of(cluster, self.name.as_deref()?)
    }

    /// Its instance type, from its GPUs.
    pub fn instance_type(&self) -> Option<String> {
        let count = sane(self.gpu_count, 64.0).filter(|n| *n >= 1.0)? as u32;
        instance_type(count, self.gpu_type.as_deref()?, self.socket.as_deref()?)
    }

    /// Where SSH reaches it (the first connection of a list).
    pub fn ssh(&self) -> Option<(Option<String>, String, u16)> {
        let text = match self.ssh_connection.as_ref()? {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(list) => list.iter().find_map(|v| v.as_str())?.to_string(),
            _ => return None,
        };
        parse_ssh(&text)
    }

    /// Its status for aloft: active, installed and with an SSH endpoint is
    /// running; terminated is gone; an error is unknown.
    pub fn status(&self) -> InstanceStatus {
        let status = self.status.as_deref().unwrap_or("").to_ascii_uppercase();
        let installed = self.installation_status.as_deref() == Some("FINISHED")
            || self.installation_progress.is_some_and(|p| p >= 100.0);
        match status.as_str() {
            "ACTIVE" if installed && self.ssh().is_some() => InstanceStatus::Running,
            "ACTIVE" | "PENDING" | "PROVISIONING" | "INSTALLING" | "" => InstanceStatus::Pending,
            "TERMINATED" | "DELETED" if self.is_spot == Some(true) => InstanceStatus::Preempted,
            "TERMINATED" | "DELETED" => InstanceStatus::Terminated,
            "TERMINATING" => InstanceStatus::Terminating,
            "STOPPED" => InstanceStatus::Stopped,
            _ => InstanceStatus::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_instance_types_round_trip() {
        assert_eq!(name_of("t", Role::Head), "aloft-t-head");
        assert_eq!(role_of("t", "aloft-t-worker-2"), Some(Role::Worker(2)));
        for stranger in ["t-head", "aloft-tx-head", "aloft-t", "my-aloft-t-head"] {
            assert_eq!(role_of("t", stranger), None, "{stranger}");
        }
        assert_eq!(
            instance_type(8, "H100_80GB", "SXM5").as_deref(),
            Some("8x_H100_80GB_SXM5")
        );
        assert_eq!(
            parse_instance_type("8x_H100_80GB_SXM5"),
            Some((8, "H100_80GB".into(), "SXM5".into()))
        );
        for bad in [
            "08x_H100_80GB_SXM5",
            "x_H100_SXM",
            "2x_H100",
            "2x_H1;0_SXM",
            "gpu",
        ] {
            assert_eq!(parse_instance_type(bad), None, "{bad}");
        }
        assert_eq!(accelerator_of("A100_80GB"), Some("A100-80GB"));
        assert_eq!(accelerator_of("A100_40GB"), Some("A100"));
        assert_eq!(accelerator_of("RTX4090_24GB"), Some("RTX4090"));
        assert_eq!(accelerator_of("CPU_NODE"), None);
    }

    #[test]
    fn catalog_rows_keep_the_cheapest_in_stock_offer_and_spot_apart() {
        let rows: Vec<Availability> = serde_json::from_str(
            r#"[{"cloudId": "a", "gpuType": "H100_80GB", "socket": "SXM5", "country": "US",
                 "gpuCount": 8, "gpuMemory": 80, "stockStatus": "High",
                 "vcpu": {"defaultCount": 104}, "memory": {"defaultCount": 752},
                 "prices": {"onDemand": 19.9}},
                {"cloudId": "b", "gpuType": "H100_80GB", "socket": "SXM5", "country": "US",
                 "gpuCount": 8, "gpuMemory": 80, "stockStatus": "Low",
                 "prices": {"onDemand": 21.0, "communityPrice": 18.4}},
                {"cloudId": "c", "gpuType": "H100_80GB", "socket": "SXM5", "country": "US",
                 "gpuCount": 8, "stockStatus": "Medium", "isSpot": true,
                 "prices": {"onDemand": 9.5}},
                {"cloudId": "d", "gpuType": "H100_80GB", "socket": "SXM5", "country": "US",
                 "gpuCount": 8, "stockStatus": "Unavailable", "prices": {"onDemand": 1.0}},
                {"cloudId": "e", "gpuType": "CPU_NODE", "socket": "PCIe", "country": "US",
                 "gpuCount": 1, "stockStatus": "High", "prices": {"onDemand": 0.1}},
                {"cloudId": "f", "gpuType": "RTX4090_24GB", "socket": "PCIe", "country": "Atlantis",
                 "gpuCount": 1, "stockStatus": "High", "prices": {"onDemand": 0.3}}]"#,
        )
        .unwrap();
        let offers = offers(&rows, None);
        assert_eq!(offers.len(), 1, "{offers:?}");
        let h = &offers[0];
        assert_eq!(h.instance_type, "8x_H100_80GB_SXM5");
        assert_eq!((h.price, h.spot_price), (Some(18.4), Some(9.5)));
        assert_eq!(h.accelerator_name.as_deref(), Some("H100"));
        assert_eq!(h.gpu_memory_mib, Some(80 * 1024));
        assert!(super::offers(&rows, Some("SE")).is_empty());
    }

    #[test]
    fn ssh_connections_and_statuses() {
        assert_eq!(
            parse_ssh("root@203.0.113.7 -p 2222"),
            Some((Some("root".into()), "203.0.113.7".into(), 2222))
        );
        assert_eq!(
            parse_ssh("ubuntu@pod.example.net"),
            Some((Some("ubuntu".into()), "pod.example.net".into(), 22))
        );
        for bad in ["-oProxyCommand=x@h", "root@h -p x", "ro ot@h", "r;m@h"] {
            assert_eq!(parse_ssh(bad), None, "{bad}");
        }
        let pod = |status: &str, ssh: serde_json::Value, installed: &str| {
            serde_json::from_value::<Pod>(serde_json::json!({
                "id": "p", "name": "aloft-c-head", "status": status,
                "sshConnection": ssh, "installationStatus": installed}))
            .unwrap()
        };
        let up = pod(
            "ACTIVE",
            serde_json::json!(["root@10.1.2.3 -p 22"]),
            "FINISHED",
        );
        assert_eq!(up.status(), InstanceStatus::Running);
        assert_eq!(up.role_in("c"), Some(Role::Head));
        assert_eq!(
            pod("ACTIVE", serde_json::json!(null), "FINISHED").status(),
            InstanceStatus::Pending
        );
        assert_eq!(
            pod("ACTIVE", serde_json::json!("root@h -p 22"), "ACTIVE").status(),
            InstanceStatus::Pending
        );
        assert_eq!(
            pod("PROVISIONING", serde_json::json!(null), "").status(),
            InstanceStatus::Pending
        );
        assert_eq!(
            pod("TERMINATED", serde_json::json!(null), "").status(),
            InstanceStatus::Terminated
        );
        assert_eq!(
            pod("ERROR", serde_json::json!(null), "").status(),
            InstanceStatus::Unknown
        );
    }
}
