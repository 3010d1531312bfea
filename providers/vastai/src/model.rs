//! What Vast.ai answers, and the provider's pure logic over it: instance types
//! (`<n>x_<GPU>`), the labels of a cluster's instances, statuses and SSH
//! endpoints, regions from an offer's `geolocation`, and catalog rows from offer
//! searches. No host calls here, so it is unit-tested natively. Everything Vast.ai
//! answers is untrusted: a field of the wrong type, an address that does not
//! parse, a count or price out of range is dropped rather than passed on.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use aloft_provider_sdk::types::{InstanceStatus, Offer};

pub use aloft_provider_sdk::nodes::{Role, roles_to_launch};

/// Every label aloft gives an instance starts with this (one listing answers for
/// every cluster, and an instance a user made by hand is never taken for one).
pub const LABEL_PREFIX: &str = "aloft/";

/// The label of `cluster`'s node with `role`: `aloft/<cluster>-head`,
/// `aloft/<cluster>-worker-<n>` (the SDK's role names).
pub fn label_of(cluster: &str, role: Role) -> String {
    format!(
        "{LABEL_PREFIX}{}",
        aloft_provider_sdk::nodes::name_of(cluster, role)
    )
}

/// The role of the instance labelled `label` in `cluster`; none when it is not
/// one of its nodes.
pub fn role_of(cluster: &str, label: &str) -> Option<Role> {
    aloft_provider_sdk::nodes::role_of(cluster, label.strip_prefix(LABEL_PREFIX)?)
}

/// aloft's accelerator names and Vast.ai's `gpu_name`s for them (compared
/// without case, spaces or `-`); A100s are told apart by their memory.
const GPUS: &[(&str, &[&str])] = &[
    ("H100", &["h100sxm", "h100pcie", "h100nvl", "h100"]),
    ("H200", &["h200", "h200nvl"]),
    ("B200", &["b200"]),
    ("L40S", &["l40s"]),
    ("L40", &["l40"]),
    ("L4", &["l4"]),
    ("A40", &["a40"]),
    ("A10", &["a10"]),
    ("RTX3090", &["rtx3090"]),
    ("RTX4090", &["rtx4090"]),
    ("RTX5090", &["rtx5090"]),
    ("RTXA4000", &["rtxa4000"]),
    ("RTXA5000", &["rtxa5000"]),
    ("RTXA6000", &["rtxa6000"]),
    ("RTX4000-Ada", &["rtx4000ada"]),
    ("RTX6000-Ada", &["rtx6000ada"]),
    ("V100", &["teslav100", "v100"]),
    ("T4", &["teslat4", "t4"]),
    ("MI300X", &["mi300x"]),
];

fn squash(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// aloft's accelerator name for Vast.ai's `gpu_name` (`gpu_ram_mb`, per GPU,
/// tells an A100 of 80 GB from one of 40 GB).
pub fn accelerator_of(gpu_name: &str, gpu_ram_mb: Option<f64>) -> Option<&'static str> {
    let g = squash(gpu_name);
    if g.starts_with("a100") {
        return Some(if gpu_ram_mb.is_some_and(|m| m >= 60_000.0) {
            "A100-80GB"
        } else {
            "A100"
        });
    }
    GPUS.iter()
        .find(|(_, names)| names.contains(&g.as_str()))
        .map(|(name, _)| *name)
}

/// Whether `gpu_name` is safe to put in an instance type and a search: letters,
/// digits, spaces and `-`, at most 48.
fn is_gpu_name(gpu_name: &str) -> bool {
    !gpu_name.is_empty()
        && gpu_name.len() <= 48
        && gpu_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
}

/// The instance type of `count` GPUs named `gpu_name`: `8x_H100_SXM`.
pub fn instance_type(count: u32, gpu_name: &str) -> Option<String> {
    (is_gpu_name(gpu_name) && !gpu_name.contains('_') && (1..=64).contains(&count))
        .then(|| format!("{count}x_{}", gpu_name.replace(' ', "_")))
}

/// `(GPU count, Vast.ai gpu_name)` of an instance type (`8x_H100_SXM` →
/// `(8, "H100 SXM")`).
pub fn parse_instance_type(name: &str) -> Option<(u32, String)> {
    let (digits, gpu) = name.split_once("x_")?;
    let count: u32 = digits.parse().ok()?;
    if count.to_string() != digits || !(1..=64).contains(&count) {
        return None;
    }
    let gpu = gpu.replace('_', " ");
    is_gpu_name(&gpu).then_some((count, gpu))
}

/// aloft's region for an offer's `geolocation` (`"Texas, US"`, `"SE"`): its
/// country code, upper case.
pub fn region_of(geolocation: &str) -> Option<String> {
    let code = geolocation.rsplit(',').next()?.trim();
    (code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

/// Countries Vast.ai hosts are commonly in (aloft's regions; a plan's regions come
/// from the live offers).
pub const REGIONS: &[&str] = &[
    "US", "CA", "MX", "BR", "GB", "IE", "FR", "DE", "NL", "BE", "ES", "PT", "IT", "CH", "AT", "CZ",
    "PL", "SE", "NO", "FI", "DK", "EE", "LT", "RO", "BG", "HU", "UA", "IS", "JP", "KR", "TW", "HK",
    "SG", "TH", "VN", "IN", "AU", "NZ", "ZA", "IL", "AE",
];

/// One offer, as `POST /api/v0/bundles/` answers it (the fields aloft reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Ask {
    /// The offer's id (what `PUT /api/v0/asks/{id}/` rents).
    pub id: u64,
    /// GPUs.
    #[serde(default)]
    pub num_gpus: Option<f64>,
    /// The GPU's model (`H100 SXM`).
    #[serde(default)]
    pub gpu_name: Option<String>,
    /// Memory per GPU, MB.
    #[serde(default)]
    pub gpu_ram: Option<f64>,
    /// CPU cores this offer gets.
    #[serde(default)]
    pub cpu_cores_effective: Option<f64>,
    /// Memory, MB.
    #[serde(default)]
    pub cpu_ram: Option<f64>,
    /// US dollars per hour, on demand (storage included).
    #[serde(default)]
    pub dph_total: Option<f64>,
    /// The lowest bid per hour for an interruptible instance.
    #[serde(default)]
    pub min_bid: Option<f64>,
    /// `"Texas, US"`.
    #[serde(default)]
    pub geolocation: Option<String>,
}

fn sane(value: Option<f64>, max: f64) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v >= 0.0 && *v <= max)
}

impl Ask {
    /// Its instance type (`8x_H100_SXM`), when its GPU is one aloft can name.
    pub fn instance_type(&self) -> Option<String> {
        let count = sane(self.num_gpus, 64.0).filter(|n| *n >= 1.0)? as u32;
        let gpu = self.gpu_name.as_deref()?;
        accelerator_of(gpu, self.gpu_ram)?;
        instance_type(count, gpu)
    }

    /// Its region (country code).
    pub fn region(&self) -> Option<String> {
        region_of(self.geolocation.as_deref()?)
    }

    /// Its on-demand price per hour.
    pub fn price(&self) -> Option<f64> {
        sane(self.dph_total, 10_000.0).filter(|p| *p > 0.0)
    }

    /// The bid for an interruptible instance of it: its minimum bid (at least a
    /// cent an hour).
    pub fn bid(&self) -> Option<f64> {
        sane(self.min_bid, 10_000.0).map(|b| b.max(0.01))
    }
}

/// Catalog rows: the cheapest offer of each instance type in each region (only
/// `region` when given), its minimum bid as the spot price.
pub fn offers(asks: &[Ask], region: Option<&str>) -> Vec<Offer> {
    let mut best: BTreeMap<(String, String), Offer> = BTreeMap::new();
    for ask in asks {
        let (Some(instance_type), Some(r), Some(price)) =
            (ask.instance_type(), ask.region(), ask.price())
        else {
            continue;
        };
        if region.is_some_and(|want| want != r) {
            continue;
        }
        let gpu = ask.gpu_name.as_deref().unwrap_or_default();
        let count = sane(ask.num_gpus, 64.0).unwrap_or(0.0).floor();
        let row = Offer {
            instance_type: instance_type.clone(),
            accelerator_name: accelerator_of(gpu, ask.gpu_ram).map(str::to_string),
            accelerator_count: count,
            vcpus: sane(ask.cpu_cores_effective, 4096.0).unwrap_or(0.0),
            memory_gib: sane(ask.cpu_ram, 64.0 * 1024.0 * 1024.0).unwrap_or(0.0) / 1024.0,
            gpu_memory_mib: sane(ask.gpu_ram, 1e7).map(|m| m as u64),
            price: Some(price),
            spot_price: ask.bid(),
            region: r.clone(),
            zone: None,
        };
        let entry = best
            .entry((instance_type, r))
            .or_insert_with(|| row.clone());
        if row.price < entry.price {
            let spot = match (entry.spot_price, row.spot_price) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            *entry = Offer {
                spot_price: spot,
                ..row
            };
        } else if let Some(b) = row.spot_price {
            entry.spot_price = Some(entry.spot_price.map_or(b, |a| a.min(b)));
        }
    }
    best.into_values().collect()
}

/// One instance, as `GET /api/v1/instances/` answers it (the fields aloft reads).
#[derive(Debug, Clone, Deserialize)]
pub struct VastInstance {
    /// Instance (contract) id.
    pub id: u64,
    /// Its label (how aloft knows its clusters).
    #[serde(default)]
    pub label: Option<String>,
    /// `created`, `loading`, `running`, `exited`, `offline`, ...
    #[serde(default)]
    pub actual_status: Option<String>,
    /// `running` or `stopped`: what the owner asked for.
    #[serde(default)]
    pub intended_status: Option<String>,
    /// The state it is in now (`running`, `stopped`).
    #[serde(default)]
    pub cur_state: Option<String>,
    /// Whether it is interruptible (rented with a bid).
    #[serde(default)]
    pub is_bid: Option<bool>,
    /// GPUs.
    #[serde(default)]
    pub num_gpus: Option<f64>,
    /// The GPU's model.
    #[serde(default)]
    pub gpu_name: Option<String>,
    /// The host's public address.
    #[serde(default)]
    pub public_ipaddr: Option<String>,
    /// The SSH proxy's host.
    #[serde(default)]
    pub ssh_host: Option<String>,
    /// The SSH proxy's port.
    #[serde(default)]
    pub ssh_port: Option<f64>,
    /// Port mappings: `{"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41022"}]}`.
    #[serde(default)]
    pub ports: Option<Value>,
    /// The host's country (`"Texas, US"`).
    #[serde(default)]
    pub geolocation: Option<String>,
    /// US dollars per hour (its bid, when interruptible).
    #[serde(default)]
    pub dph_total: Option<f64>,
}

/// Catalog rows for the instances aloft holds whose type and region `rows` lack:
/// the offer an instance was rented from leaves the market while it is rented, and
/// a cluster must still be planned where its instance is (to start it again).
pub fn held_offers(held: &[VastInstance], rows: &[Offer], region: Option<&str>) -> Vec<Offer> {
    let mut out: Vec<Offer> = Vec::new();
    for i in held {
        if !i
            .label
            .as_deref()
            .is_some_and(|l| l.starts_with(LABEL_PREFIX))
        {
            continue;
        }
        let (Some(instance_type), Some(r)) = (
            i.instance_type(),
            i.geolocation.as_deref().and_then(region_of),
        ) else {
            continue;
        };
        let gpu = i.gpu_name.as_deref().unwrap_or_default();
        let Some(accelerator) = accelerator_of(gpu, None) else {
            continue;
        };
        let Some(price) = sane(i.dph_total, 10_000.0).filter(|p| *p > 0.0) else {
            continue;
        };
        let known = |o: &Offer| o.instance_type == instance_type && o.region == r;
        if region.is_some_and(|want| want != r) || rows.iter().any(known) || out.iter().any(known) {
            continue;
        }
        out.push(Offer {
            instance_type,
            accelerator_name: Some(accelerator.to_string()),
            accelerator_count: sane(i.num_gpus, 64.0).unwrap_or(0.0).floor(),
            vcpus: 0.0,
            memory_gib: 0.0,
            gpu_memory_mib: None,
            price: (!i.is_spot()).then_some(price),
            spot_price: i.is_spot().then_some(price),
            region: r,
            zone: None,
        });
    }
    out
}

impl VastInstance {
    /// Its role in `cluster`, if it is one of its nodes.
    pub fn role_in(&self, cluster: &str) -> Option<Role> {
        role_of(cluster, self.label.as_deref()?)
    }

    /// Whether it is interruptible.
    pub fn is_spot(&self) -> bool {
        self.is_bid == Some(true)
    }

    /// Its instance type, from its GPUs.
    pub fn instance_type(&self) -> Option<String> {
        let count = sane(self.num_gpus, 64.0).filter(|n| *n >= 1.0)? as u32;
        instance_type(count, self.gpu_name.as_deref()?)
    }

    /// The host port `container_port/tcp` is mapped to.
    pub fn host_port(&self, container_port: u16) -> Option<u16> {
        let list = self.ports.as_ref()?.get(format!("{container_port}/tcp"))?;
        list.as_array()?.iter().find_map(|m| {
            let port = m.get("HostPort")?;
            port.as_str()
                .and_then(|p| p.parse::<u16>().ok())
                .or_else(|| port.as_u64().and_then(|p| u16::try_from(p).ok()))
                .filter(|p| *p > 0)
        })
    }

    /// Where SSH reaches it: the host's address and the port its 22 is mapped
    /// to (direct), else Vast.ai's SSH proxy. Addresses are validated.
    pub fn ssh_endpoint(&self) -> Option<(String, u16)> {
        let direct = self
            .public_ipaddr
            .as_deref()
            .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
            .zip(self.host_port(22));
        if let Some((ip, port)) = direct {
            return Some((ip.to_string(), port));
        }
        let host = self.ssh_host.as_deref()?;
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let port = sane(self.ssh_port, 65535.0).filter(|p| *p >= 1.0)? as u16;
        host_ok.then(|| (host.to_string(), port))
    }

    /// Its status for aloft: running with an SSH endpoint is running; stopped by
    /// its owner is stopped; an interruptible one stopped while its owner wants it
    /// running was outbid (preempted).
    pub fn status(&self) -> InstanceStatus {
        let actual = self.actual_status.as_deref().unwrap_or("");
        let intended = self.intended_status.as_deref().unwrap_or("");
        let current = self.cur_state.as_deref().unwrap_or("");
        let halted = matches!(actual, "exited" | "stopped") || current == "stopped";
        if halted {
            if intended == "running" && self.is_spot() {
                return InstanceStatus::Preempted;
            }
            if intended == "stopped" || current == "stopped" {
                return InstanceStatus::Stopped;
            }
        }
        if intended == "stopped" {
            return InstanceStatus::Stopping;
        }
        match actual {
            "running" if self.ssh_endpoint().is_some() => InstanceStatus::Running,
            "running" | "" | "created" | "loading" | "scheduling" => InstanceStatus::Pending,
            "offline" => InstanceStatus::Unknown,
            _ => InstanceStatus::Unknown,
        }
    }
}

/// The image an instance runs unless the task or the settings name one.
pub const DEFAULT_IMAGE: &str = "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04";

/// The Docker image of a task's `image_id` (`docker:repo:tag` or `repo:tag`).
pub fn image_of(image_id: &str) -> Option<String> {
    let image = image_id.strip_prefix("docker:").unwrap_or(image_id).trim();
    (!image.is_empty()
        && image.len() <= 255
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c)))
    .then(|| image.to_string())
}

/// The create request's `env` entries that map the task's ports (`-p 8080:8080`,
/// as Vast.ai's CLI writes them), at most 64 ports.
pub fn port_env(ports: &[(u16, u16)]) -> Vec<String> {
    let mut out = Vec::new();
    for &(start, end) in ports {
        for port in start.max(1)..=end.max(start) {
            if port != 22 && out.len() < 64 {
                out.push(format!("-p {port}:{port}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_instance_types_round_trip() {
        assert_eq!(label_of("t", Role::Head), "aloft/t-head");
        assert_eq!(role_of("t", "aloft/t-head"), Some(Role::Head));
        assert_eq!(role_of("t", "aloft/t-worker-2"), Some(Role::Worker(2)));
        for stranger in ["t-head", "aloft/tx-head", "aloft/t", "my aloft/t-head"] {
            assert_eq!(role_of("t", stranger), None, "{stranger}");
        }
        assert_eq!(instance_type(8, "H100 SXM").as_deref(), Some("8x_H100_SXM"));
        assert_eq!(
            parse_instance_type("8x_H100_SXM"),
            Some((8, "H100 SXM".to_string()))
        );
        assert_eq!(
            parse_instance_type("1x_RTX_4090"),
            Some((1, "RTX 4090".into()))
        );
        for bad in ["08x_H100", "x_H100", "0x_H100", "2x_", "2x_H100;rm", "gpu"] {
            assert_eq!(parse_instance_type(bad), None, "{bad}");
        }
        assert_eq!(accelerator_of("H100 SXM", Some(81559.0)), Some("H100"));
        assert_eq!(
            accelerator_of("A100 SXM4", Some(81920.0)),
            Some("A100-80GB")
        );
        assert_eq!(accelerator_of("A100 PCIE", Some(40960.0)), Some("A100"));
        assert_eq!(accelerator_of("RTX 4090", None), Some("RTX4090"));
        assert_eq!(accelerator_of("GTX 1070", None), None);
        assert_eq!(region_of("Texas, US").as_deref(), Some("US"));
        assert_eq!(region_of("se").as_deref(), Some("SE"));
        assert_eq!(region_of("Somewhere"), None);
    }

    #[test]
    fn catalog_rows_keep_the_cheapest_offer_and_the_lowest_bid() {
        let asks: Vec<Ask> = serde_json::from_str(
            r#"[{"id": 1, "num_gpus": 8, "gpu_name": "H100 SXM", "gpu_ram": 81559,
                 "cpu_cores_effective": 128, "cpu_ram": 2064000, "dph_total": 19.5,
                 "min_bid": 9.1, "geolocation": "Texas, US"},
                {"id": 2, "num_gpus": 8, "gpu_name": "H100 SXM", "gpu_ram": 81559,
                 "cpu_cores_effective": 96, "cpu_ram": 1032000, "dph_total": 17.0,
                 "min_bid": 9.9, "geolocation": "Oregon, US"},
                {"id": 3, "num_gpus": 1, "gpu_name": "RTX 4090", "gpu_ram": 24564,
                 "dph_total": 0.35, "min_bid": 0.2, "geolocation": "SE"},
                {"id": 4, "num_gpus": 1, "gpu_name": "GTX 1070", "dph_total": 0.05,
                 "geolocation": "US"},
                {"id": 5, "num_gpus": 1, "gpu_name": "RTX 4090", "dph_total": -1,
                 "geolocation": "US"},
                {"id": 6, "num_gpus": 1, "gpu_name": "RTX 4090", "dph_total": 0.3,
                 "geolocation": "Atlantis"}]"#,
        )
        .unwrap();
        let rows = offers(&asks, None);
        assert_eq!(rows.len(), 2, "{rows:?}");
        let h = rows
            .iter()
            .find(|r| r.instance_type == "8x_H100_SXM")
            .unwrap();
        assert_eq!(h.region, "US");
        assert_eq!(h.price, Some(17.0));
        assert_eq!(h.spot_price, Some(9.1));
        assert_eq!(h.vcpus, 96.0);
        assert_eq!(h.accelerator_name.as_deref(), Some("H100"));
        assert_eq!(h.accelerator_count, 8.0);
        assert_eq!(offers(&asks, Some("SE")).len(), 1);
    }

    #[test]
    fn ssh_goes_to_the_mapping_of_port_22_else_the_proxy() {
        let i: VastInstance = serde_json::from_str(
            r#"{"id": 7, "label": "aloft/c-head", "actual_status": "running",
                "intended_status": "running", "cur_state": "running",
                "public_ipaddr": "203.0.113.9", "ssh_host": "ssh4.vast.ai", "ssh_port": 31022,
                "ports": {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41022"}],
                          "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41080"}]}}"#,
        )
        .unwrap();
        assert_eq!(i.ssh_endpoint(), Some(("203.0.113.9".into(), 41022)));
        assert_eq!(i.status(), InstanceStatus::Running);
        assert_eq!(i.role_in("c"), Some(Role::Head));
        let proxied: VastInstance = serde_json::from_str(
            r#"{"id": 8, "actual_status": "running", "public_ipaddr": "not an ip",
                "ssh_host": "ssh4.vast.ai", "ssh_port": 31022}"#,
        )
        .unwrap();
        assert_eq!(proxied.ssh_endpoint(), Some(("ssh4.vast.ai".into(), 31022)));
        let s = |actual: &str, intended: &str, current: &str, bid: bool| {
            serde_json::from_value::<VastInstance>(serde_json::json!({
                "id": 1, "actual_status": actual, "intended_status": intended,
                "cur_state": current, "is_bid": bid}))
            .unwrap()
            .status()
        };
        assert_eq!(
            s("loading", "running", "running", false),
            InstanceStatus::Pending
        );
        assert_eq!(
            s("exited", "stopped", "stopped", false),
            InstanceStatus::Stopped
        );
        assert_eq!(
            s("running", "stopped", "running", false),
            InstanceStatus::Stopping
        );
        assert_eq!(
            s("exited", "running", "stopped", true),
            InstanceStatus::Preempted
        );
        assert_eq!(
            s("running", "running", "running", false),
            InstanceStatus::Pending,
            "no SSH endpoint yet"
        );
    }

    #[test]
    fn held_instances_stay_plannable_where_the_market_has_no_offer() {
        let held: Vec<VastInstance> = serde_json::from_str(
            r#"[{"id": 1, "label": "aloft/a-head", "num_gpus": 1, "gpu_name": "RTX 4090",
                 "geolocation": "Sweden, SE", "dph_total": 0.2, "is_bid": true},
                {"id": 2, "label": "aloft/b-head", "num_gpus": 1, "gpu_name": "RTX 4090",
                 "geolocation": "Texas, US", "dph_total": 0.4},
                {"id": 3, "label": "by hand", "num_gpus": 1, "gpu_name": "RTX 4090",
                 "geolocation": "Norway, NO", "dph_total": 0.4}]"#,
        )
        .unwrap();
        let market: Vec<Ask> = serde_json::from_str(
            r#"[{"id": 9, "num_gpus": 1, "gpu_name": "RTX 4090", "dph_total": 0.45,
                 "geolocation": "Ohio, US"}]"#,
        )
        .unwrap();
        let rows = offers(&market, None);
        let extra = held_offers(&held, &rows, None);
        assert_eq!(extra.len(), 1, "{extra:?}");
        assert_eq!(extra[0].region, "SE");
        assert_eq!((extra[0].price, extra[0].spot_price), (None, Some(0.2)));
        assert!(held_offers(&held, &rows, Some("US")).is_empty());
    }

    #[test]
    fn images_and_ports() {
        assert_eq!(
            image_of("docker:pytorch/pytorch:2.4.0").as_deref(),
            Some("pytorch/pytorch:2.4.0")
        );
        assert_eq!(image_of("bad image; rm"), None);
        assert_eq!(
            port_env(&[(8080, 8080), (22, 23)]),
            ["-p 8080:8080", "-p 23:23"]
        );
    }
}
