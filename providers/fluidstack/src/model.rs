//! What Fluidstack answers, and the provider's pure logic over it: instance types
//! (`<n>x_<gpu_type>`), the names of a cluster's instances, statuses and SSH
//! endpoints, and catalog rows from the available configurations. No host calls
//! here, so it is unit-tested natively. Everything the API answers is untrusted:
//! a field of the wrong type, an address that does not parse, a count or price
//! out of range is dropped rather than passed on.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use aloft_provider_sdk::types::{InstanceStatus, Offer};

pub use aloft_provider_sdk::nodes::{Role, roles_to_launch};

/// Every instance aloft names starts with this (one listing answers for every
/// cluster, and an instance a user made by hand is never taken for one).
pub const NAME_PREFIX: &str = "aloft-";

/// The operating system aloft asks for (the newer of the package's
/// `SupportedOperatingSystem`s; SkyPilot asks for it too).
pub const DEFAULT_OS: &str = "ubuntu_22_04_lts_nvidia";

/// The name of `cluster`'s instance with `role`: `aloft-<cluster>-head`,
/// `aloft-<cluster>-worker-<n>` (the SDK's role names).
pub fn name_of(cluster: &str, role: Role) -> String {
    format!(
        "{NAME_PREFIX}{}",
        aloft_provider_sdk::nodes::name_of(cluster, role)
    )
}

/// The role of the instance named `name` in `cluster`; none when it is not one
/// of its nodes.
pub fn role_of(cluster: &str, name: &str) -> Option<Role> {
    aloft_provider_sdk::nodes::role_of(cluster, name.strip_prefix(NAME_PREFIX)?)
}

/// The name of the account SSH key aloft registers for `cluster`.
pub fn key_name_of(cluster: &str) -> String {
    format!("{NAME_PREFIX}{cluster}")
}

/// aloft's accelerator names for the leading words of Fluidstack's `GpuType`s
/// (`H100_SXM5_80GB` → `H100`); A100s by their memory, below.
const GPUS: &[(&str, &str)] = &[
    ("H100", "H100"),
    ("H200", "H200"),
    ("L40S", "L40S"),
    ("L40", "L40"),
    ("L4", "L4"),
    ("A40", "A40"),
    ("A30", "A30"),
    ("A10", "A10"),
    ("RTX_A6000_ADA", "RTX6000-Ada"),
    ("RTX_A6000", "RTXA6000"),
    ("RTX_A5000", "RTXA5000"),
    ("RTX_A4000", "RTXA4000"),
    ("RTX_6000", "RTX6000"),
    ("TESLA_V100", "V100"),
    ("T4", "T4"),
];

/// aloft's accelerator name for a `gpu_type` (`A100_SXM4_80GB` → `A100-80GB`).
pub fn accelerator_of(gpu_type: &str) -> Option<&'static str> {
    let upper = gpu_type.to_ascii_uppercase();
    if upper.starts_with("A100_") {
        return Some(if upper.ends_with("_80GB") {
            "A100-80GB"
        } else {
            "A100"
        });
    }
    // The longest matching name first (`RTX_A6000_ADA` before `RTX_A6000`).
    GPUS.iter()
        .filter(|(g, _)| upper == *g || upper.starts_with(&format!("{g}_")))
        .max_by_key(|(g, _)| g.len())
        .map(|(_, a)| *a)
}

/// Memory per GPU in MiB from a `gpu_type`'s `_<n>GB` suffix.
pub fn gpu_memory_mib(gpu_type: &str) -> Option<u64> {
    let gb: u64 = gpu_type
        .rsplit('_')
        .next()?
        .strip_suffix("GB")?
        .parse()
        .ok()?;
    (1..=1024).contains(&gb).then_some(gb * 1024)
}

/// Whether `gpu_type` is safe in an instance type and a request: upper-case
/// letters, digits and `_`, at most 48.
fn is_gpu_type(gpu_type: &str) -> bool {
    !gpu_type.is_empty()
        && gpu_type.len() <= 48
        && gpu_type
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The instance type of `count` GPUs of `gpu_type`: `8x_H100_SXM5_80GB`.
pub fn instance_type(count: u32, gpu_type: &str) -> Option<String> {
    (is_gpu_type(gpu_type) && (1..=64).contains(&count)).then(|| format!("{count}x_{gpu_type}"))
}

/// `(GPU count, gpu_type)` of an instance type.
pub fn parse_instance_type(name: &str) -> Option<(u32, String)> {
    let (digits, gpu) = name.split_once("x_")?;
    let count: u32 = digits.parse().ok()?;
    if count.to_string() != digits {
        return None;
    }
    instance_type(count, gpu)?;
    Some((count, gpu.to_string()))
}

/// Whether `region` is one Fluidstack could name (its `Region`s are upper-case
/// words such as `NORWAY`, `TEXAS_USA`).
pub fn is_region(region: &str) -> bool {
    is_gpu_type(region)
        && region
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase())
}

/// One row of `GET /list_available_configurations` (the package's
/// `ConfigurationResponse`).
#[derive(Debug, Clone, Deserialize)]
pub struct Configuration {
    /// `H100_SXM5_80GB`.
    pub gpu_type: String,
    /// The GPU counts an instance of it may have.
    pub gpu_counts: Vec<f64>,
    /// Price per GPU and hour (a decimal string).
    pub price_per_gpu_hr: String,
    /// The regions offering it now.
    pub regions: Vec<String>,
}

impl Configuration {
    /// Its price per GPU-hour, when it is a sane number.
    pub fn price_per_gpu(&self) -> Option<f64> {
        self.price_per_gpu_hr
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p > 0.0 && *p < 10_000.0)
    }

    /// Its GPU counts that are sane whole numbers.
    pub fn counts(&self) -> impl Iterator<Item = u32> + '_ {
        self.gpu_counts
            .iter()
            .filter(|n| n.is_finite() && n.fract() == 0.0 && (1.0..=64.0).contains(*n))
            .map(|n| *n as u32)
    }

    /// Whether it offers `count` GPUs of `gpu_type` in `region`.
    pub fn offers(&self, gpu_type: &str, count: u32, region: &str) -> bool {
        self.gpu_type == gpu_type
            && self.counts().any(|n| n == count)
            && self.regions.iter().any(|r| r == region)
    }
}

/// Catalog rows: each instance type of each configuration in each of its regions
/// (only `region` when given), priced as its GPUs times the price per GPU-hour,
/// the cheapest when two configurations name the same.
pub fn offers(rows: &[Configuration], region: Option<&str>) -> Vec<Offer> {
    let mut best: BTreeMap<(String, String), Offer> = BTreeMap::new();
    for row in rows {
        let (Some(accelerator), Some(per_gpu)) =
            (accelerator_of(&row.gpu_type), row.price_per_gpu())
        else {
            continue;
        };
        for count in row.counts() {
            let Some(instance_type) = instance_type(count, &row.gpu_type) else {
                continue;
            };
            let price = per_gpu * f64::from(count);
            for r in row.regions.iter().filter(|r| is_region(r)) {
                if region.is_some_and(|want| want != r) {
                    continue;
                }
                let offer = Offer {
                    instance_type: instance_type.clone(),
                    accelerator_name: Some(accelerator.to_string()),
                    accelerator_count: f64::from(count),
                    vcpus: 0.0,
                    memory_gib: 0.0,
                    gpu_memory_mib: gpu_memory_mib(&row.gpu_type),
                    price: Some(price),
                    spot_price: None,
                    region: r.clone(),
                    zone: None,
                };
                let key = (instance_type.clone(), r.clone());
                if best
                    .get(&key)
                    .is_none_or(|o| o.price.is_some_and(|p| price < p))
                {
                    best.insert(key, offer);
                }
            }
        }
    }
    best.into_values().collect()
}

/// The configuration of an instance (the package's
/// `ConfigurationInstanceResponse`: the fields aloft reads).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InstanceConfiguration {
    /// Its GPUs.
    #[serde(default)]
    pub gpu_count: Option<f64>,
    /// Its region.
    #[serde(default)]
    pub region: Option<String>,
    /// Its GPU model.
    #[serde(default)]
    pub gpu_model: Option<GpuModel>,
}

/// The package's `GpuModelResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GpuModel {
    /// `H100_SXM5_80GB`.
    #[serde(default)]
    pub name: Option<String>,
}

/// One instance, as `GET /instances` lists it (the package's
/// `ListInstanceResponse`: the fields aloft reads).
#[derive(Debug, Clone, Deserialize)]
pub struct FsInstance {
    /// Its id.
    pub id: String,
    /// Its name (how aloft knows its clusters).
    #[serde(default)]
    pub name: Option<String>,
    /// `running`, `starting`, `pending`, `failed`, `terminated`, `stopped`,
    /// `stopping` (or a word the package does not know).
    #[serde(default)]
    pub status: Option<String>,
    /// The user to log in as.
    #[serde(default)]
    pub username: Option<String>,
    /// Its SSH port (a string).
    #[serde(default)]
    pub ssh_port: Option<String>,
    /// Its public address.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// Its configuration.
    #[serde(default)]
    pub configuration: Option<InstanceConfiguration>,
}

impl FsInstance {
    /// Its role in `cluster`, by name.
    pub fn role_in(&self, cluster: &str) -> Option<Role> {
        role_of(cluster, self.name.as_deref()?)
    }

    /// aloft's status.
    pub fn status(&self) -> InstanceStatus {
        match self
            .status
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase()
            .as_str()
        {
            "running" if self.address().is_some() => InstanceStatus::Running,
            "running" | "starting" | "pending" | "" => InstanceStatus::Pending,
            "stopping" => InstanceStatus::Stopping,
            "stopped" => InstanceStatus::Stopped,
            "terminated" => InstanceStatus::Terminated,
            _ => InstanceStatus::Unknown,
        }
    }

    /// Whether the instance failed (Fluidstack gave up on it).
    pub fn failed(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("failed"))
    }

    /// Its public address, when it parses.
    pub fn address(&self) -> Option<String> {
        let ip: IpAddr = self.ip_address.as_deref()?.trim().parse().ok()?;
        Some(ip.to_string())
    }

    /// Its SSH port (22 when none or not a port).
    pub fn port(&self) -> u16 {
        self.ssh_port
            .as_deref()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .filter(|p| *p > 0)
            .unwrap_or(22)
    }

    /// Its login user, when it is a plain user name.
    pub fn user(&self) -> Option<String> {
        self.username
            .as_deref()
            .map(str::trim)
            .filter(|u| {
                !u.is_empty()
                    && u.len() <= 32
                    && u.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            })
            .map(str::to_string)
    }

    /// Its instance type, from its configuration.
    pub fn instance_type(&self) -> Option<String> {
        let c = self.configuration.as_ref()?;
        let count = c
            .gpu_count
            .filter(|n| n.fract() == 0.0 && *n >= 1.0 && *n <= 64.0)? as u32;
        instance_type(count, c.gpu_model.as_ref()?.name.as_deref()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(gpu: &str, counts: &[f64], price: &str, regions: &[&str]) -> Configuration {
        Configuration {
            gpu_type: gpu.into(),
            gpu_counts: counts.to_vec(),
            price_per_gpu_hr: price.into(),
            regions: regions.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn instance_types_round_trip_and_reject_what_is_not_one() {
        assert_eq!(
            instance_type(8, "H100_SXM5_80GB").as_deref(),
            Some("8x_H100_SXM5_80GB")
        );
        assert_eq!(
            parse_instance_type("8x_H100_SXM5_80GB"),
            Some((8, "H100_SXM5_80GB".into()))
        );
        for bad in [
            "08x_H100",
            "0x_H100",
            "8x_h100",
            "8x_H100/../x",
            "H100",
            "99x_H100",
        ] {
            assert_eq!(parse_instance_type(bad), None, "{bad}");
        }
    }

    #[test]
    fn gpu_types_name_aloft_accelerators() {
        let table = [
            ("H100_SXM5_80GB", Some("H100")),
            ("A100_PCIE_80GB", Some("A100-80GB")),
            ("A100_SXM4_40GB", Some("A100")),
            ("RTX_A6000_ADA_48GB", Some("RTX6000-Ada")),
            ("RTX_A6000_48GB", Some("RTXA6000")),
            ("RTX_A4000_16GB", Some("RTXA4000")),
            ("TESLA_V100_16GB", Some("V100")),
            ("L40_48GB", Some("L40")),
            ("L4_24GB", Some("L4")),
            ("MYSTERY_9000", None),
        ];
        for (gpu, want) in table {
            assert_eq!(accelerator_of(gpu), want, "{gpu}");
        }
        assert_eq!(gpu_memory_mib("H100_SXM5_80GB"), Some(80 * 1024));
    }

    #[test]
    fn offers_price_every_count_in_every_region_and_drop_nonsense() {
        let rows = [
            config(
                "H100_SXM5_80GB",
                &[1.0, 8.0],
                "2.50",
                &["NORWAY", "TEXAS_USA"],
            ),
            config("H100_SXM5_80GB", &[8.0], "2.00", &["NORWAY"]),
            config("RTX_A4000_16GB", &[1.5, 1.0], "NaN", &["CANADA"]),
            config("MYSTERY_9000", &[1.0], "1.0", &["CANADA"]),
        ];
        let all = offers(&rows, None);
        assert_eq!(all.len(), 4);
        let norway8 = all
            .iter()
            .find(|o| o.instance_type == "8x_H100_SXM5_80GB" && o.region == "NORWAY")
            .unwrap();
        assert_eq!(norway8.price, Some(16.0));
        assert_eq!(norway8.accelerator_name.as_deref(), Some("H100"));
        assert_eq!(offers(&rows, Some("TEXAS_USA")).len(), 2);
        assert!(rows[0].offers("H100_SXM5_80GB", 8, "TEXAS_USA"));
        assert!(!rows[1].offers("H100_SXM5_80GB", 8, "TEXAS_USA"));
    }

    #[test]
    fn instances_read_status_address_and_port_defensively() {
        let mut i = FsInstance {
            id: "i1".into(),
            name: Some("aloft-c-worker-2".into()),
            status: Some("running".into()),
            username: Some("ubuntu".into()),
            ssh_port: Some("2222".into()),
            ip_address: Some("203.0.113.9".into()),
            configuration: None,
        };
        assert_eq!(i.role_in("c"), Some(Role::Worker(2)));
        assert_eq!(i.role_in("c-worker"), None);
        assert_eq!(i.status(), InstanceStatus::Running);
        assert_eq!(i.port(), 2222);
        i.ip_address = Some("not an ip; rm -rf".into());
        i.ssh_port = Some("x".into());
        i.username = Some("root; echo".into());
        assert_eq!(i.status(), InstanceStatus::Pending);
        assert_eq!(i.port(), 22);
        assert_eq!(i.user(), None);
        i.status = Some("failed".into());
        assert!(i.failed());
    }
}
