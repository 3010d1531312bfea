//! What DigitalOcean answers, and the provider's pure logic over it: the tags and
//! names of a cluster's droplets, statuses and addresses, the cluster's firewall
//! rules, and catalog rows from `GET /v2/sizes`. No host calls here, so it is
//! unit-tested natively. Everything DigitalOcean answers is untrusted: a field of
//! the wrong type, an address that does not parse, a count or price out of range
//! is dropped rather than passed on.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Value, json};

use aloft_provider_sdk::types::{InstanceStatus, Offer, PortRange};

/// The tag every droplet aloft creates carries (one listing answers for every
/// cluster).
pub const MANAGED_TAG: &str = "aloft";

/// DigitalOcean's region slugs (aloft's regions; DigitalOcean has no zones).
pub const REGIONS: &[&str] = &[
    "nyc1", "nyc2", "nyc3", "sfo2", "sfo3", "tor1", "atl1", "ric1", "ams3", "fra1", "lon1", "sgp1",
    "blr1", "syd1",
];

/// The tag of `cluster`'s droplets and firewall: `aloft-c-<cluster>` with `.` as
/// `:` (tags allow letters, digits, `-`, `_` and `:`; cluster names letters,
/// digits, `-`, `_` and `.`), so two clusters never share a tag.
pub fn cluster_tag(cluster: &str) -> String {
    format!("aloft-c-{}", cluster.replace('.', ":"))
}

/// The prefix of the tag that names the SSH host key a droplet was created with
/// (cloud-init installs it from the droplet's `user_data`). DigitalOcean keeps no
/// other per-droplet data the API reads back, and a tag allows only letters,
/// digits, `-`, `_` and `:` (case-insensitively), so the tag carries the key in
/// the SDK's label form ([`aloft_provider_sdk::nodes::host_key_label`]: the
/// ed25519 key's 32 bytes in lower-case base32), from which the OpenSSH line is
/// rebuilt.
pub const HOST_KEY_TAG: &str = "aloft-host-key:";

/// The [`HOST_KEY_TAG`] tag naming `public` (an `ssh-ed25519 DATA [comment]`
/// line); none when it is not a well-formed ed25519 key.
pub fn host_key_tag(public: &str) -> Option<String> {
    aloft_provider_sdk::nodes::host_key_label(public).map(|v| format!("{HOST_KEY_TAG}{v}"))
}

/// The public host key line (`ssh-ed25519 DATA`) a [`HOST_KEY_TAG`] tag names;
/// none for any other tag.
pub fn host_key_of_tag(tag: &str) -> Option<String> {
    let value = tag
        .get(..HOST_KEY_TAG.len())
        .filter(|p| p.eq_ignore_ascii_case(HOST_KEY_TAG))
        .and(tag.get(HOST_KEY_TAG.len()..))?;
    aloft_provider_sdk::nodes::host_key_of_label(value)
}

/// `cluster` as a host name part (droplet and firewall names allow letters,
/// digits, `.` and `-`; `_` becomes `-`). Membership is by tag, never by name.
pub fn dns_safe(cluster: &str) -> String {
    cluster.replace('_', "-")
}

/// The firewall of `cluster`.
pub fn firewall_name(cluster: &str) -> String {
    format!("aloft-{}", dns_safe(cluster))
}

pub use aloft_provider_sdk::nodes::{Role, roles_to_launch};

/// The droplet name of `cluster`'s node with `role` (the SDK's role names over
/// [`dns_safe`]).
pub fn name_of(cluster: &str, role: Role) -> String {
    aloft_provider_sdk::nodes::name_of(&dns_safe(cluster), role)
}

/// The role of the droplet named `name` in `cluster`; none when the name is not
/// one of its node names.
pub fn role_of(cluster: &str, name: &str) -> Option<Role> {
    aloft_provider_sdk::nodes::role_of(&dns_safe(cluster), name)
}

/// Whether `slug` looks like a DigitalOcean size or region slug (`gpu-h100x1-80gb`,
/// `s-2vcpu-4gb`, `nyc2`): lower-case letters, digits and `-`, at most 64.
pub fn is_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 64
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// One address of a droplet (`networks.v4[]`).
#[derive(Debug, Clone, Deserialize)]
pub struct Address {
    /// The address.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// `public` or `private`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A droplet's networks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Networks {
    /// IPv4 addresses.
    #[serde(default)]
    pub v4: Vec<Address>,
}

/// A slug-bearing object (`region`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Slugged {
    /// Its slug.
    #[serde(default)]
    pub slug: Option<String>,
}

/// One droplet, as `GET /v2/droplets` answers it (the fields aloft reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Droplet {
    /// Droplet id.
    pub id: u64,
    /// Its name (the node's role).
    #[serde(default)]
    pub name: String,
    /// `new`, `active`, `off` or `archive`.
    #[serde(default)]
    pub status: String,
    /// Its size (aloft's instance type).
    #[serde(default)]
    pub size_slug: Option<String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its region.
    #[serde(default)]
    pub region: Option<Slugged>,
    /// Its addresses.
    #[serde(default)]
    pub networks: Option<Networks>,
}

fn address_of(networks: Option<&Networks>, kind: &str) -> Option<String> {
    networks?
        .v4
        .iter()
        .filter(|a| a.kind.as_deref() == Some(kind))
        .filter_map(|a| a.ip_address.as_deref())
        .find_map(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| ip.to_string())
}

impl Droplet {
    /// Whether it is one of `cluster`'s nodes (by tag).
    pub fn in_cluster(&self, cluster: &str) -> bool {
        let tag = cluster_tag(cluster);
        self.tags.contains(&tag)
    }

    /// Its role in `cluster`, if it is one of its nodes.
    pub fn role_in(&self, cluster: &str) -> Option<Role> {
        if !self.in_cluster(cluster) {
            return None;
        }
        role_of(cluster, &self.name)
    }

    /// The public host key it was created with (its [`HOST_KEY_TAG`] tag), if any.
    pub fn host_key(&self) -> Option<String> {
        self.tags.iter().find_map(|t| host_key_of_tag(t))
    }

    /// Its public IPv4 address (validated).
    pub fn public_ip(&self) -> Option<String> {
        address_of(self.networks.as_ref(), "public")
    }

    /// Its private (VPC) IPv4 address (validated).
    pub fn private_ip(&self) -> Option<String> {
        address_of(self.networks.as_ref(), "private")
    }

    /// Its region slug.
    pub fn region_slug(&self) -> Option<&str> {
        self.region.as_ref()?.slug.as_deref()
    }

    /// Its status for aloft: `active` with a public address is running; a droplet
    /// powered off (by aloft's stop or behind its back) is stopped.
    pub fn status(&self) -> InstanceStatus {
        match self.status.as_str() {
            "active" if self.public_ip().is_some() => InstanceStatus::Running,
            "new" | "active" => InstanceStatus::Pending,
            "off" => InstanceStatus::Stopped,
            "archive" => InstanceStatus::Terminated,
            _ => InstanceStatus::Unknown,
        }
    }
}

/// The GPU of a size (`gpu_info`).
#[derive(Debug, Clone, Deserialize)]
pub struct GpuInfo {
    /// GPUs.
    #[serde(default)]
    pub count: Option<f64>,
    /// The model (`nvidia_h100`).
    #[serde(default)]
    pub model: Option<String>,
    /// Memory per GPU.
    #[serde(default)]
    pub vram: Option<Amount>,
}

/// An amount with a unit (`{"amount": 80, "unit": "gib"}`).
#[derive(Debug, Clone, Deserialize)]
pub struct Amount {
    /// How much.
    #[serde(default)]
    pub amount: Option<f64>,
    /// Of what.
    #[serde(default)]
    pub unit: Option<String>,
}

/// One size, as `GET /v2/sizes` answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct Size {
    /// Its slug (aloft's instance type).
    pub slug: String,
    /// Whether droplets of it can be created now.
    #[serde(default)]
    pub available: Option<bool>,
    /// US dollars per hour.
    #[serde(default)]
    pub price_hourly: Option<f64>,
    /// vCPUs.
    #[serde(default)]
    pub vcpus: Option<f64>,
    /// Memory, MB.
    #[serde(default)]
    pub memory: Option<f64>,
    /// Region slugs it can be created in.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Its GPUs (GPU sizes only).
    #[serde(default)]
    pub gpu_info: Option<GpuInfo>,
}

/// aloft's accelerator names (those of the shared accelerator catalog) and the
/// spellings DigitalOcean uses for them (in `gpu_info.model` or the size slug),
/// compared without case, `nvidia`/`amd` prefixes and separators.
const GPUS: &[(&str, &[&str])] = &[
    ("H100", &["h100"]),
    ("H200", &["h200"]),
    ("B300", &["b300"]),
    ("L40S", &["l40s"]),
    ("RTX4000-Ada", &["rtx4000ada", "4000ada"]),
    ("RTX6000-Ada", &["rtx6000ada", "6000ada"]),
    ("MI300X", &["mi300x", "mi300"]),
    ("MI325X", &["mi325x", "mi325"]),
    ("MI350X", &["mi350x", "mi350"]),
];

fn squash(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let lower = lower
        .strip_prefix("nvidia")
        .or_else(|| lower.strip_prefix("amd"))
        .unwrap_or(&lower);
    lower.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// aloft's accelerator name for DigitalOcean's GPU model `model`.
pub fn accelerator_of(model: &str) -> Option<&'static str> {
    let m = squash(model);
    GPUS.iter()
        .find(|(_, spellings)| spellings.contains(&m.as_str()))
        .map(|(name, _)| *name)
}

/// The GPU model part of a GPU size slug (`gpu-h100x8-640gb` → `h100`,
/// `gpu-mi300x1-192gb` → `mi300`).
fn model_in_slug(slug: &str) -> Option<&str> {
    let part = slug.strip_prefix("gpu-")?.split('-').next()?;
    let (model, count) = part.rsplit_once('x')?;
    count.parse::<u32>().ok()?;
    Some(model)
}

/// The `(accelerator, count, GPU memory MiB)` of a size, if it has GPUs.
pub fn gpus_of(size: &Size) -> Option<(&'static str, u32, Option<u64>)> {
    let info = size.gpu_info.as_ref()?;
    let count = info
        .count
        .filter(|c| c.is_finite() && *c >= 1.0 && *c <= 64.0)? as u32;
    let name = info
        .model
        .as_deref()
        .and_then(accelerator_of)
        .or_else(|| model_in_slug(&size.slug).and_then(accelerator_of))?;
    let vram = info.vram.as_ref().and_then(|v| {
        let amount = v.amount.filter(|a| a.is_finite() && *a > 0.0 && *a < 1e6)?;
        let mib = match v.unit.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("gib") | Some("gb") => amount * 1024.0,
            Some("mib") | Some("mb") => amount,
            Some("tib") | Some("tb") => amount * 1024.0 * 1024.0,
            _ => return None,
        };
        Some(mib as u64)
    });
    Some((name, count, vram))
}

fn sane(value: Option<f64>, max: f64) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v >= 0.0 && *v <= max)
}

/// Catalog rows: every available size with a sane price, once per region it is
/// offered in (only `region` when given). GPU sizes whose GPU aloft does not know
/// are left out (a plan could not ask for them); CPU sizes have no accelerator.
pub fn offers(sizes: &[Size], region: Option<&str>) -> Vec<Offer> {
    let mut rows = Vec::new();
    for size in sizes {
        if !is_slug(&size.slug) || size.available == Some(false) {
            continue;
        }
        let Some(price) = sane(size.price_hourly, 10_000.0).filter(|p| *p > 0.0) else {
            continue;
        };
        let gpus = if size.gpu_info.is_some() {
            match gpus_of(size) {
                Some(g) => Some(g),
                None => continue,
            }
        } else {
            None
        };
        let vcpus = sane(size.vcpus, 4096.0).unwrap_or(0.0);
        let memory_gib = sane(size.memory, 64.0 * 1024.0 * 1024.0).unwrap_or(0.0) / 1024.0;
        for r in size.regions.iter().filter(|r| is_slug(r)) {
            if region.is_some_and(|want| want != r) {
                continue;
            }
            rows.push(Offer {
                instance_type: size.slug.clone(),
                accelerator_name: gpus.map(|(name, _, _)| name.to_string()),
                accelerator_count: gpus.map(|(_, n, _)| f64::from(n)).unwrap_or(0.0),
                vcpus,
                memory_gib,
                gpu_memory_mib: gpus.and_then(|(_, _, v)| v),
                price: Some(price),
                spot_price: None,
                region: r.clone(),
                zone: None,
            });
        }
    }
    rows
}

/// The image a droplet of `size` boots unless the task or the settings name one:
/// DigitalOcean's AI/ML-ready images for GPU sizes (drivers and CUDA or ROCm
/// installed), Ubuntu otherwise.
pub fn default_image(size: &str) -> &'static str {
    match model_in_slug(size) {
        Some(m) if m.starts_with("mi") => "gpu-amd-base",
        Some(_) => "gpu-h100x1-base",
        None => "ubuntu-22-04-x64",
    }
}

/// The inbound rules of a cluster's firewall: SSH and the task's ports from
/// anywhere, and everything between the cluster's own droplets (by tag).
pub fn inbound_rules(tag: &str, ports: &[PortRange]) -> Vec<Value> {
    let anywhere = json!({"addresses": ["0.0.0.0/0", "::/0"]});
    let mut rules = vec![json!({"protocol": "tcp", "ports": "22", "sources": anywhere})];
    rules.extend(port_rules(ports));
    for protocol in ["tcp", "udp"] {
        rules.push(json!({"protocol": protocol, "ports": "0", "sources": {"tags": [tag]}}));
    }
    rules
}

/// Rules opening `ports` (tcp) from anywhere.
pub fn port_rules(ports: &[PortRange]) -> Vec<Value> {
    ports
        .iter()
        .filter(|r| r.start >= 1)
        .map(|r| {
            let ports = if r.end > r.start {
                format!("{}-{}", r.start, r.end)
            } else {
                r.start.to_string()
            };
            json!({"protocol": "tcp", "ports": ports,
                   "sources": {"addresses": ["0.0.0.0/0", "::/0"]}})
        })
        .collect()
}

/// The outbound rules: everything to anywhere.
pub fn outbound_rules() -> Vec<Value> {
    let anywhere = json!({"addresses": ["0.0.0.0/0", "::/0"]});
    vec![
        json!({"protocol": "tcp", "ports": "0", "destinations": anywhere}),
        json!({"protocol": "udp", "ports": "0", "destinations": anywhere}),
        // ICMP has no ports; pydo's schema requires the field and documents "0".
        json!({"protocol": "icmp", "ports": "0", "destinations": anywhere}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_key_goes_into_a_valid_tag_and_comes_back_unchanged() {
        // A real ed25519 key (ssh-keygen -t ed25519), its comment dropped.
        let public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDgFmdu7iw+MOrLtDD2V+FVKPxmiLhVH1ev5JVPB+mMR me@there";
        let tag = host_key_tag(public).unwrap();
        assert!(tag.starts_with(HOST_KEY_TAG), "{tag}");
        // DigitalOcean's tag rule: letters, digits, `-`, `_`, `:`; at most 255.
        assert!(tag.len() <= 255, "{tag}");
        assert!(
            tag.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:".contains(c)),
            "{tag}"
        );
        let back = host_key_of_tag(&tag).unwrap();
        assert_eq!(
            back,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDgFmdu7iw+MOrLtDD2V+FVKPxmiLhVH1ev5JVPB+mMR"
        );
        // Tags are case-insensitive at DigitalOcean: an upper-cased answer reads the same.
        assert_eq!(host_key_of_tag(&tag.to_uppercase()), Some(back.clone()));
        let droplet = Droplet {
            id: 1,
            name: "c-head".into(),
            status: "active".into(),
            size_slug: None,
            tags: vec!["aloft".into(), "aloft-c-c".into(), tag],
            region: None,
            networks: None,
        };
        assert_eq!(droplet.host_key(), Some(back));
        // Not an ed25519 key, another tag, a value that is no key: nothing.
        assert_eq!(
            host_key_tag("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ x"),
            None
        );
        assert_eq!(host_key_of_tag("aloft-c-c"), None);
        assert_eq!(host_key_of_tag("aloft-host-key:abcd"), None);
        assert_eq!(host_key_of_tag("aloft-host-key"), None);
    }

    #[test]
    fn tags_and_names_never_cross_clusters() {
        assert_eq!(cluster_tag("a.b_c"), "aloft-c-a:b_c");
        assert_ne!(cluster_tag("a.b"), cluster_tag("a-b"));
        assert_eq!(name_of("t_1", Role::Head), "t-1-head");
        assert_eq!(role_of("t", &name_of("t", Role::Head)), Some(Role::Head));
        assert_eq!(
            role_of("t", &name_of("t", Role::Worker(2))),
            Some(Role::Worker(2))
        );
        for stranger in ["t", "t-", "t-worker-0", "t-worker-01", "tx-head"] {
            assert_eq!(role_of("t", stranger), None, "{stranger}");
        }
        use Role::*;
        assert_eq!(roles_to_launch(&[], 2), [Head, Worker(1)]);
        assert_eq!(roles_to_launch(&[Worker(1)], 2), [Head]);
        assert_eq!(roles_to_launch(&[Head, Worker(1)], 2), []);
        // Membership is by tag: the right name without the tag is not a node.
        let d: Droplet =
            serde_json::from_str(r#"{"id": 1, "name": "t-head", "tags": ["aloft"]}"#).unwrap();
        assert_eq!(d.role_in("t"), None);
        let d: Droplet =
            serde_json::from_str(r#"{"id": 1, "name": "t-head", "tags": ["aloft-c-t"]}"#).unwrap();
        assert_eq!(d.role_in("t"), Some(Role::Head));
    }

    #[test]
    fn statuses_and_addresses_are_validated() {
        let d: Droplet = serde_json::from_str(
            r#"{"id": 7, "name": "c-head", "status": "active", "size_slug": "gpu-h100x1-80gb",
                "region": {"slug": "nyc2"}, "tags": ["aloft", "aloft-c-c"],
                "networks": {"v4": [
                  {"ip_address": "10.116.0.2", "type": "private"},
                  {"ip_address": "not an address", "type": "public"},
                  {"ip_address": "203.0.113.7", "type": "public"}]}}"#,
        )
        .unwrap();
        assert_eq!(d.public_ip().as_deref(), Some("203.0.113.7"));
        assert_eq!(d.private_ip().as_deref(), Some("10.116.0.2"));
        assert_eq!(d.status(), InstanceStatus::Running);
        assert_eq!(d.region_slug(), Some("nyc2"));
        let s = |status: &str| {
            serde_json::from_str::<Droplet>(&format!(r#"{{"id": 1, "status": "{status}"}}"#))
                .unwrap()
                .status()
        };
        assert_eq!(s("new"), InstanceStatus::Pending);
        assert_eq!(s("active"), InstanceStatus::Pending, "no address yet");
        assert_eq!(s("off"), InstanceStatus::Stopped);
        assert_eq!(s("archive"), InstanceStatus::Terminated);
        assert_eq!(s("resizing?"), InstanceStatus::Unknown);
    }

    #[test]
    fn catalog_rows_from_sizes() {
        let sizes: Vec<Size> = serde_json::from_str(
            r#"[{"slug": "gpu-h100x8-640gb", "available": true, "price_hourly": 23.92,
                 "vcpus": 160, "memory": 1966080, "regions": ["nyc2", "tor1"],
                 "gpu_info": {"count": 8, "model": "nvidia_h100", "vram": {"amount": 640, "unit": "gib"}}},
                {"slug": "gpu-mi300x1-192gb", "available": true, "price_hourly": 1.99,
                 "vcpus": 20, "memory": 245760, "regions": ["atl1"],
                 "gpu_info": {"count": 1, "model": "", "vram": {"amount": 192, "unit": "gib"}}},
                {"slug": "s-2vcpu-4gb", "available": true, "price_hourly": 0.03571,
                 "vcpus": 2, "memory": 4096, "regions": ["nyc2", "Bad Region"]},
                {"slug": "gpu-zz9x1-1gb", "available": true, "price_hourly": 1.0, "regions": ["nyc2"],
                 "gpu_info": {"count": 1, "model": "zz9"}},
                {"slug": "s-1vcpu-1gb", "available": true, "price_hourly": -1, "regions": ["nyc2"]},
                {"slug": "s-8vcpu-16gb", "available": false, "price_hourly": 0.1, "regions": ["nyc2"]}]"#,
        )
        .unwrap();
        let rows = offers(&sizes, None);
        assert_eq!(rows.len(), 4, "{rows:?}");
        let h = &rows[0];
        assert_eq!(h.instance_type, "gpu-h100x8-640gb");
        assert_eq!(h.accelerator_name.as_deref(), Some("H100"));
        assert_eq!(h.accelerator_count, 8.0);
        assert_eq!(h.memory_gib, 1920.0);
        assert_eq!(h.gpu_memory_mib, Some(640 * 1024));
        assert_eq!(h.spot_price, None);
        let mi = rows.iter().find(|r| r.region == "atl1").unwrap();
        assert_eq!(
            mi.accelerator_name.as_deref(),
            Some("MI300X"),
            "from the slug"
        );
        let cpu = rows
            .iter()
            .find(|r| r.instance_type == "s-2vcpu-4gb")
            .unwrap();
        assert_eq!(cpu.accelerator_name, None);
        assert_eq!(cpu.accelerator_count, 0.0);
        assert_eq!(offers(&sizes, Some("tor1")).len(), 1);
        assert_eq!(default_image("gpu-h100x8-640gb"), "gpu-h100x1-base");
        assert_eq!(default_image("gpu-mi300x1-192gb"), "gpu-amd-base");
        assert_eq!(default_image("s-2vcpu-4gb"), "ubuntu-22-04-x64");
    }

    #[test]
    fn firewall_rules_open_ssh_the_task_ports_and_the_cluster() {
        let rules = inbound_rules(
            "aloft-c-t",
            &[
                PortRange {
                    start: 8080,
                    end: 8080,
                },
                PortRange {
                    start: 9000,
                    end: 9010,
                },
            ],
        );
        let ports: Vec<&str> = rules.iter().map(|r| r["ports"].as_str().unwrap()).collect();
        assert_eq!(ports, ["22", "8080", "9000-9010", "0", "0"]);
        assert_eq!(rules[3]["sources"]["tags"][0], "aloft-c-t");
    }
}
