//! Cudo's objects as aloft reads them: VMs (named by role, marked with their
//! cluster in `metadata`), machine types of `GET /v1/vms/machine-types-2` turned
//! into instance types and catalog rows, and GPU names.

use std::collections::BTreeMap;

use serde::Deserialize;

use aloft_provider_sdk::nodes::{self, Role};
use aloft_provider_sdk::signing::sha256_hex;
use aloft_provider_sdk::types::{InstanceStatus, Offer};

/// The `metadata` key that holds a VM's cluster (its exact name).
pub const CLUSTER_KEY: &str = "aloft-cluster";
/// The `metadata` key that holds a VM's role (`head` or `worker`).
pub const ROLE_KEY: &str = "aloft-role";

/// The boot image unless the settings or the task say (Ubuntu 22.04 with
/// NVIDIA's driver and Docker, Cudo's public image).
pub const DEFAULT_IMAGE: &str = "ubuntu-2204-nvidia-535-docker-v20240214";

/// vCPUs per GPU aloft asks for, within the machine type's bounds.
const VCPUS_PER_GPU: f64 = 8.0;
/// GiB of memory per vCPU aloft asks for, within the machine type's bounds.
const GIB_PER_VCPU: f64 = 4.0;
/// GPU counts offered per VM.
const GPU_COUNTS: [u32; 4] = [1, 2, 4, 8];

/// Whether `id` is a VM id Cudo takes: lowercase letters, digits and `-`,
/// starting with a letter, ending with a letter or digit, at most 63 (Cudo's
/// resource ids; the package does not carry the rule, so this is the strict
/// reading).
pub fn is_vm_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// The prefix of `cluster`'s VM ids: the name itself when it is already a valid
/// id part, else its lower-cased letters and digits (at most 40) and a short
/// hash of the name, so two clusters never share a prefix.
pub fn vm_prefix(cluster: &str) -> String {
    let plain: String = cluster
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if plain == cluster && cluster.len() <= 40 && is_vm_id(cluster) {
        return plain;
    }
    let mut base: String = plain.trim_matches('-').chars().take(40).collect();
    if !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base.insert(0, 'c');
    }
    let base = base.trim_end_matches('-');
    format!("{base}-{}", &sha256_hex(cluster.as_bytes())[..8])
}

/// The VM id of `cluster`'s node with `role`.
pub fn vm_id_of(cluster: &str, role: Role) -> String {
    nodes::name_of(&vm_prefix(cluster), role)
}

/// A rule's port range as Cudo writes it (`8080` or `8000-8010`).
pub fn port_range(ports: &str) -> Option<(u16, u16)> {
    let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// A price as Cudo writes it (`{"value": "0.52"}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Decimal {
    /// The amount, as text.
    #[serde(default)]
    pub value: Option<String>,
}

impl Decimal {
    /// The amount, when it is a sane number.
    pub fn amount(&self) -> Option<f64> {
        self.value
            .as_deref()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0 && *v < 100_000.0)
    }
}

/// A VM's network interface (the fields aloft reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Nic {
    /// Its public address.
    #[serde(default)]
    pub external_ip_address: Option<String>,
    /// Its private address.
    #[serde(default)]
    pub internal_ip_address: Option<String>,
}

/// One VM as Cudo answers it (the fields aloft reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vm {
    /// Its id (the `vmId` it was created with).
    pub id: String,
    /// Its data center.
    #[serde(default)]
    pub datacenter_id: Option<String>,
    /// Its machine type.
    #[serde(default)]
    pub machine_type: Option<String>,
    /// Public address.
    #[serde(default)]
    pub external_ip_address: Option<String>,
    /// Public address (older field).
    #[serde(default)]
    pub public_ip_address: Option<String>,
    /// Private address.
    #[serde(default)]
    pub internal_ip_address: Option<String>,
    /// vCPUs.
    #[serde(default)]
    pub vcpus: Option<u32>,
    /// Memory (GiB).
    #[serde(default)]
    pub memory: Option<u32>,
    /// GPU count.
    #[serde(default)]
    pub gpu_quantity: Option<u32>,
    /// Its interfaces.
    #[serde(default)]
    pub nics: Vec<Nic>,
    /// Its security groups.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Its metadata (aloft's cluster and role).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// `VmState` (`ACTIVE`, `STOPPED`, ...).
    #[serde(default)]
    pub state: Option<String>,
    /// Short state (`runn`, `stop`, `pend`, ...).
    #[serde(default)]
    pub short_state: Option<String>,
}

impl Vm {
    /// Its role in `cluster`: its metadata names the cluster exactly and its id
    /// is one of the cluster's.
    pub fn role_in(&self, cluster: &str) -> Option<Role> {
        if self.metadata.get(CLUSTER_KEY).map(String::as_str) != Some(cluster) {
            return None;
        }
        nodes::role_of(&vm_prefix(cluster), &self.id)
    }

    /// Whether it is gone (or going).
    pub fn is_gone(&self) -> bool {
        matches!(self.state.as_deref(), Some("DELETED" | "DELETING"))
    }

    /// Its status.
    pub fn status(&self) -> InstanceStatus {
        match self.state.as_deref().unwrap_or_default() {
            "ACTIVE" => InstanceStatus::Running,
            "PENDING" | "STARTING" | "CLONING" | "RECREATING" | "MIGRATING" | "HOTPLUGGING"
            | "RESIZING" | "RESIZING_DISK" | "CREATING_SNAPSHOT" | "DELETING_SNAPSHOT"
            | "REVERTING_SNAPSHOT" => InstanceStatus::Pending,
            "STOPPING" | "SUSPENDING" => InstanceStatus::Stopping,
            "STOPPED" | "SUSPENDED" => InstanceStatus::Stopped,
            "DELETING" => InstanceStatus::Terminating,
            "DELETED" => InstanceStatus::Terminated,
            _ => match self.short_state.as_deref().unwrap_or_default() {
                "runn" => InstanceStatus::Running,
                "pend" | "prol" | "boot" | "clea" => InstanceStatus::Pending,
                "stop" | "poff" | "susp" => InstanceStatus::Stopped,
                "epil" | "shut" => InstanceStatus::Stopping,
                "done" => InstanceStatus::Terminated,
                _ => InstanceStatus::Unknown,
            },
        }
    }

    /// Its public address: `externalIpAddress`, else `publicIpAddress`, else the
    /// first interface's.
    pub fn public_ip(&self) -> Option<String> {
        let nic = self.nics.iter().find_map(|n| n.external_ip_address.clone());
        [
            self.external_ip_address.clone(),
            self.public_ip_address.clone(),
            nic,
        ]
        .into_iter()
        .flatten()
        .find(|a| !a.trim().is_empty())
    }

    /// Its private address.
    pub fn private_ip(&self) -> Option<String> {
        let nic = self.nics.iter().find_map(|n| n.internal_ip_address.clone());
        [self.internal_ip_address.clone(), nic]
            .into_iter()
            .flatten()
            .find(|a| !a.trim().is_empty())
    }

    /// Its instance type, from its machine type and size.
    pub fn instance_type(&self) -> Option<String> {
        Some(
            InstanceType {
                machine_type: self.machine_type.clone()?,
                gpus: self.gpu_quantity.unwrap_or(0),
                vcpus: self.vcpus?,
                memory_gib: self.memory?,
            }
            .name(),
        )
    }
}

/// A VM size on a machine type: `<machine type>_<gpus>x<vcpus>v<memory>gb`
/// (`epyc-milan-rtx-a4000_1x8v32gb`), the shape of SkyPilot's Cudo catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceType {
    /// Cudo's machine type.
    pub machine_type: String,
    /// GPUs.
    pub gpus: u32,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory (GiB).
    pub memory_gib: u32,
}

impl InstanceType {
    /// Its name.
    pub fn name(&self) -> String {
        format!(
            "{}_{}x{}v{}gb",
            self.machine_type, self.gpus, self.vcpus, self.memory_gib
        )
    }

    /// The instance type named `name`; none when it is not one.
    pub fn parse(name: &str) -> Option<InstanceType> {
        let (machine_type, size) = name.rsplit_once('_')?;
        let (gpus, rest) = size.split_once('x')?;
        let (vcpus, rest) = rest.split_once('v')?;
        let memory = rest.strip_suffix("gb")?;
        let number = |s: &str| -> Option<u32> {
            (!s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let t = InstanceType {
            machine_type: machine_type.to_string(),
            gpus: number(gpus)?,
            vcpus: number(vcpus)?,
            memory_gib: number(memory)?,
        };
        (is_vm_id(machine_type) && t.vcpus > 0 && t.memory_gib > 0).then_some(t)
    }
}

/// One machine type in one data center, as `GET /v1/vms/machine-types-2`
/// answers it (the fields aloft reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineType {
    /// Data center.
    pub data_center_id: String,
    /// Machine type.
    pub machine_type: String,
    /// GPU model (Cudo's name: `RTX A4000`, `H100 SXM`, ...).
    #[serde(default)]
    pub gpu_model: Option<String>,
    /// Bounds of vCPUs per GiB of memory.
    #[serde(default)]
    pub min_vcpu_per_memory_gib: Option<f64>,
    /// Bounds of vCPUs per GiB of memory.
    #[serde(default)]
    pub max_vcpu_per_memory_gib: Option<f64>,
    /// Bounds of vCPUs per GPU.
    #[serde(default)]
    pub min_vcpu_per_gpu: Option<f64>,
    /// Bounds of vCPUs per GPU.
    #[serde(default)]
    pub max_vcpu_per_gpu: Option<f64>,
    /// Price of one vCPU an hour.
    #[serde(default)]
    pub vcpu_price_hr: Decimal,
    /// Price of one GiB of memory an hour.
    #[serde(default)]
    pub memory_gib_price_hr: Decimal,
    /// Price of one GPU an hour.
    #[serde(default)]
    pub gpu_price_hr: Decimal,
    /// Price of a public IPv4 address an hour.
    #[serde(default)]
    pub ipv4_price_hr: Decimal,
    /// Most GPUs free on one host.
    #[serde(default)]
    pub max_gpu_free: Option<u32>,
    /// GPUs free in the data center.
    #[serde(default)]
    pub total_gpu_free: Option<u32>,
}

fn sane(value: Option<f64>, default: f64) -> f64 {
    value
        .filter(|v| v.is_finite() && *v > 0.0 && *v < 10_000.0)
        .unwrap_or(default)
}

impl MachineType {
    /// The VM size aloft asks for with `gpus` GPUs: 8 vCPUs and 32 GiB per GPU,
    /// within the machine type's ratios.
    pub fn size(&self, gpus: u32) -> InstanceType {
        let per_gpu = VCPUS_PER_GPU.clamp(
            sane(self.min_vcpu_per_gpu, 1.0),
            sane(self.max_vcpu_per_gpu, 1024.0).max(sane(self.min_vcpu_per_gpu, 1.0)),
        );
        let vcpus = (per_gpu * f64::from(gpus.max(1))).ceil().max(1.0);
        // vCPUs per GiB between min and max: memory between vcpus/max and vcpus/min.
        let least = vcpus / sane(self.max_vcpu_per_memory_gib, 1.0);
        let most = (vcpus / sane(self.min_vcpu_per_memory_gib, 0.125)).max(least);
        let memory = (vcpus * GIB_PER_VCPU).clamp(least, most).ceil().max(1.0);
        InstanceType {
            machine_type: self.machine_type.clone(),
            gpus,
            vcpus: vcpus as u32,
            memory_gib: memory as u32,
        }
    }

    /// The hourly price of `t` (vCPUs, memory, GPUs and a public address; the
    /// boot disk is billed apart).
    pub fn price(&self, t: &InstanceType) -> Option<f64> {
        let p = self.vcpu_price_hr.amount()? * f64::from(t.vcpus)
            + self.memory_gib_price_hr.amount()? * f64::from(t.memory_gib)
            + self.gpu_price_hr.amount().unwrap_or(0.0) * f64::from(t.gpus)
            + self.ipv4_price_hr.amount().unwrap_or(0.0);
        (p > 0.0).then_some((p * 10_000.0).round() / 10_000.0)
    }

    /// Whether `count` VMs of `gpus` GPUs fit now: one host has `gpus` free and
    /// the data center `count × gpus`.
    pub fn fits(&self, gpus: u32, count: u32) -> bool {
        gpus == 0
            || (self.max_gpu_free.unwrap_or(0) >= gpus
                && self.total_gpu_free.unwrap_or(0) >= gpus.saturating_mul(count))
    }
}

/// aloft's accelerator name for Cudo's GPU model.
pub fn accelerator_of(gpu_model: &str) -> Option<String> {
    let g: String = gpu_model
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let known = [
        ("H200", "H200"),
        ("H100", "H100"),
        ("B200", "B200"),
        ("GH200", "GH200"),
        ("L40S", "L40S"),
        ("L40", "L40"),
        ("A40", "A40"),
        ("A10", "A10"),
        ("V100", "V100"),
        ("RTXA4000", "RTXA4000"),
        ("RTXA5000", "RTXA5000"),
        ("RTXA6000", "RTXA6000"),
        ("RTX6000ADA", "RTX6000-Ada"),
        ("RTX4090", "RTX4090"),
        ("RTX3080", "RTX3080"),
        ("MI300X", "MI300X"),
    ];
    if g.starts_with("A100") {
        return Some(
            if g.contains("80") {
                "A100-80GB"
            } else {
                "A100"
            }
            .to_string(),
        );
    }
    if g.starts_with("A800") {
        return Some("A800".to_string());
    }
    known
        .iter()
        .find(|(prefix, _)| g.starts_with(prefix) && !(*prefix == "A10" && g.starts_with("A100")))
        .map(|(_, name)| name.to_string())
        .or_else(|| (!g.is_empty() && g.len() <= 24).then_some(g))
}

/// Catalog rows: each GPU machine type in each data center (only `region` when
/// given) at 1, 2, 4 and 8 GPUs. Machine types without GPUs are left out: aloft
/// plans Cudo for GPU work.
pub fn offers(types: &[MachineType], region: Option<&str>) -> Vec<Offer> {
    let mut rows = Vec::new();
    for mt in types {
        if region.is_some_and(|r| r != mt.data_center_id) || !is_vm_id(&mt.machine_type) {
            continue;
        }
        let Some(gpu) = mt.gpu_model.as_deref().filter(|g| !g.trim().is_empty()) else {
            continue;
        };
        for gpus in GPU_COUNTS {
            let t = mt.size(gpus);
            let Some(price) = mt.price(&t) else { continue };
            rows.push(Offer {
                instance_type: t.name(),
                accelerator_name: accelerator_of(gpu),
                accelerator_count: f64::from(gpus),
                vcpus: f64::from(t.vcpus),
                memory_gib: f64::from(t.memory_gib),
                gpu_memory_mib: None,
                price: Some(price),
                spot_price: None,
                region: mt.data_center_id.clone(),
                zone: None,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a4000() -> MachineType {
        serde_json::from_value(serde_json::json!({
            "dataCenterId": "se-smedjebacken-1", "machineType": "epyc-milan-rtx-a4000",
            "gpuModel": "RTX A4000", "minVcpuPerMemoryGib": 0.25, "maxVcpuPerMemoryGib": 1.0,
            "minVcpuPerGpu": 1.0, "maxVcpuPerGpu": 16.0,
            "vcpuPriceHr": {"value": "0.002"}, "memoryGibPriceHr": {"value": "0.001"},
            "gpuPriceHr": {"value": "0.15"}, "ipv4PriceHr": {"value": "0.005"},
            "maxGpuFree": 4, "totalGpuFree": 6
        }))
        .unwrap()
    }

    #[test]
    fn vm_ids_are_valid_and_never_cross_clusters() {
        assert_eq!(vm_id_of("train", Role::Head), "train-head");
        assert_eq!(vm_id_of("train", Role::Worker(2)), "train-worker-2");
        let odd = vm_id_of("My_Run.1", Role::Head);
        assert!(is_vm_id(&odd), "{odd}");
        assert!(odd.starts_with("my-run-1-"), "{odd}");
        assert_ne!(vm_prefix("a-b"), vm_prefix("a_b"));
        let long = "x".repeat(80);
        assert!(is_vm_id(&vm_id_of(&long, Role::Worker(9999))));
        assert!(is_vm_id(&vm_id_of("9lives", Role::Head)));
        let vm: Vm = serde_json::from_value(serde_json::json!({
            "id": "a-worker-head", "metadata": {"aloft-cluster": "a-worker"}}))
        .unwrap();
        assert_eq!(vm.role_in("a-worker"), Some(Role::Head));
        assert_eq!(vm.role_in("a"), None, "the metadata names another cluster");
    }

    #[test]
    fn sizes_prices_and_names_round_trip() {
        let mt = a4000();
        let t = mt.size(2);
        assert_eq!(t.name(), "epyc-milan-rtx-a4000_2x16v64gb");
        assert_eq!(InstanceType::parse(&t.name()), Some(t.clone()));
        // 16 × 0.002 + 64 × 0.001 + 2 × 0.15 + 0.005
        assert_eq!(mt.price(&t), Some(0.401));
        assert!(mt.fits(2, 3));
        assert!(!mt.fits(8, 1), "no host has 8 free");
        assert!(!mt.fits(4, 2), "6 free in all");
        for bad in ["x_1x2v3", "Bad_1x2v3gb", "a_1x0v3gb", "a_x2v3gb", "nothing"] {
            assert_eq!(InstanceType::parse(bad), None, "{bad}");
        }
        let rows = offers(std::slice::from_ref(&mt), None);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].accelerator_name.as_deref(), Some("RTXA4000"));
        assert!(offers(&[mt], Some("us-newyork-1")).is_empty());
        assert_eq!(
            accelerator_of("A100 80GB PCIe").as_deref(),
            Some("A100-80GB")
        );
        assert_eq!(accelerator_of("H100 SXM").as_deref(), Some("H100"));
        assert_eq!(accelerator_of("A10").as_deref(), Some("A10"));
        assert_eq!(port_range("8080"), Some((8080, 8080)));
        assert_eq!(port_range("8000-8010"), Some((8000, 8010)));
        assert_eq!(port_range("9-1"), None);
    }

    #[test]
    fn states_and_addresses() {
        let vm: Vm = serde_json::from_value(serde_json::json!({
            "id": "t-head", "state": "STOPPED", "shortState": "poff",
            "nics": [{"externalIpAddress": "203.0.113.5", "internalIpAddress": "10.0.0.2"}]}))
        .unwrap();
        assert_eq!(vm.status(), InstanceStatus::Stopped);
        assert_eq!(vm.public_ip().as_deref(), Some("203.0.113.5"));
        assert_eq!(vm.private_ip().as_deref(), Some("10.0.0.2"));
        let vm: Vm =
            serde_json::from_value(serde_json::json!({"id": "t", "shortState": "runn"})).unwrap();
        assert_eq!(vm.status(), InstanceStatus::Running);
    }
}
