//! Normalized resource requirements: what a task asks for, after parsing.
//!
//! These types are the contract between the task parser (which produces them from
//! YAML or the builder API) and the optimizer (which matches them against catalog
//! offers). Every field is already validated and normalized: counts are numbers,
//! sizes are GiB, infra is split into cloud / region / zone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a task may run: `infra: cloud/region/zone`, each part optional.
///
/// `None` means "any". Kubernetes contexts are carried as the region of cloud
/// `kubernetes`; SSH node pools as the region of cloud `ssh`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Infra {
    /// Lower-case cloud name (`aws`, `gcp`, `lambda`, `kubernetes`, `ssh`, ...).
    pub cloud: Option<String>,
    /// Region (or Kubernetes context, or SSH pool name).
    pub region: Option<String>,
    /// Availability zone.
    pub zone: Option<String>,
}

/// A CPU or memory amount: exactly `n`, or at least `n` (`"8+"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Quantity {
    /// Exactly this amount.
    Exact(f64),
    /// This amount or more.
    AtLeast(f64),
}

impl Quantity {
    /// Whether `offered` satisfies this request.
    pub fn accepts(&self, offered: f64) -> bool {
        match *self {
            Quantity::Exact(n) => (offered - n).abs() < 1e-6,
            Quantity::AtLeast(n) => offered + 1e-6 >= n,
        }
    }
}

/// One accelerator request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AcceleratorSpec {
    /// A named accelerator (`A100:8`, `A100:0.5`). `name` is as the user wrote it;
    /// the catalog canonicalizes it (case-insensitive).
    Named {
        /// Accelerator name.
        name: String,
        /// Count per node; fractional counts share a device.
        count: f64,
    },
    /// Any GPU with at least (or exactly) this much memory: `40GB+`,
    /// `nvidia:24GB:2`. Expanded against the catalog's GPU metadata.
    ByMemory {
        /// GPU memory in GB, as in `common/metadata.csv`.
        memory_gb: f64,
        /// `true` for `40GB+` (at least), `false` for `40GB` (exactly).
        at_least: bool,
        /// Manufacturer filter (`nvidia`, `amd`), lower case.
        manufacturer: Option<String>,
        /// Count per node.
        count: f64,
    },
}

/// `job_recovery`: how managed jobs recover from preemption and failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecovery {
    /// `EAGER_NEXT_REGION` (default) or `FAILOVER`, upper case.
    pub strategy: Option<String>,
    /// Restarts allowed on user-code failure.
    pub max_restarts_on_errors: u32,
    /// Exit codes that always trigger a restart.
    pub recover_on_exit_codes: Vec<u8>,
}

/// `autostop` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Autostop {
    /// Idle minutes before stopping; `None` when autostop is disabled (`false`).
    pub idle_minutes: Option<u64>,
    /// Tear down instead of stopping.
    pub down: bool,
    /// What counts as activity: `jobs_and_ssh` (default), `jobs`, `none`.
    pub wait_for: Option<String>,
    /// Hook run before stopping.
    pub hook: Option<String>,
    /// Hook timeout in seconds.
    pub hook_timeout: Option<u64>,
}

/// A port or an inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port (equal to `start` for a single port).
    pub end: u16,
}

/// `image_id`: one image, a per-region map, or a Docker image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageId {
    /// One image for every region (`ami-...`, `projects/.../images/...`).
    Single(String),
    /// A different image per region.
    PerRegion(BTreeMap<String, String>),
    /// `docker:<image>`: a container as the runtime.
    Docker(String),
}

/// One fully-specified resource request (one candidate).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Where to run.
    pub infra: Infra,
    /// vCPUs per node.
    pub cpus: Option<Quantity>,
    /// Memory per node, GiB.
    pub memory: Option<Quantity>,
    /// Accelerators per node.
    pub accelerators: Option<AcceleratorSpec>,
    /// An exact instance type.
    pub instance_type: Option<String>,
    /// Spot / preemptible instances.
    pub use_spot: bool,
    /// Recovery policy for managed jobs.
    pub job_recovery: Option<JobRecovery>,
    /// OS disk size in GiB (`None` = provider default, 256).
    pub disk_size_gib: Option<u64>,
    /// `low|medium|high|ultra|best|none`.
    pub disk_tier: Option<String>,
    /// `standard|best`.
    pub network_tier: Option<String>,
    /// `nvme:500`, `ssd:1000+`.
    pub local_disk: Option<String>,
    /// Ports to open.
    pub ports: Vec<PortRange>,
    /// Labels / tags put on the instances.
    pub labels: BTreeMap<String, String>,
    /// Machine or container image.
    pub image_id: Option<ImageId>,
    /// Autostop policy.
    pub autostop: Option<Autostop>,
    /// Upper bound on the hourly price per node (spot price when `use_spot`).
    pub max_hourly_cost: Option<f64>,
    /// Job priority, -1000..=1000.
    pub priority: Option<i32>,
    /// TPU / accelerator arguments, kept verbatim.
    pub accelerator_args: Option<serde_json::Value>,
    /// Kueue priority class name (Kubernetes).
    pub priority_class: Option<String>,
    /// Extra disks attached to each node (`resources.volumes`).
    pub volumes: Vec<DiskVolume>,
}

/// One extra disk of `resources.volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskVolume {
    /// Mount path on the node.
    pub path: Option<String>,
    /// Volume name.
    pub name: Option<String>,
    /// Size in GiB.
    pub disk_size_gib: Option<u64>,
    /// `low|medium|high|ultra|best`.
    pub disk_tier: Option<String>,
    /// `network` or `instance`.
    pub storage_type: Option<String>,
    /// `read_only` or `read_write`.
    pub attach_mode: Option<String>,
    /// Delete the disk with the cluster.
    pub auto_delete: Option<bool>,
}

/// The set of resource candidates a task accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ResourceSet {
    /// Any of these; the optimizer picks the cheapest. A plain `resources:` block is
    /// `AnyOf` with one element (or several when `accelerators` lists alternatives).
    AnyOf(Vec<Resources>),
    /// These in order of preference; the first feasible one wins.
    Ordered(Vec<Resources>),
}

impl Default for ResourceSet {
    fn default() -> Self {
        ResourceSet::AnyOf(vec![Resources::default()])
    }
}

impl ResourceSet {
    /// The candidates, in declaration order.
    pub fn candidates(&self) -> &[Resources] {
        match self {
            ResourceSet::AnyOf(v) | ResourceSet::Ordered(v) => v,
        }
    }

    /// The candidates, to change in place.
    pub fn candidates_mut(&mut self) -> &mut Vec<Resources> {
        match self {
            ResourceSet::AnyOf(v) | ResourceSet::Ordered(v) => v,
        }
    }
}

impl Infra {
    /// Parses the `infra:` string form (`aws/us-east-1`, `*/us-east-1`, `k8s/ctx`).
    pub fn parse(s: &str) -> Result<Infra, String> {
        super::units::parse_infra(s)
    }
}

impl std::fmt::Display for Infra {
    /// The `infra:` string form; `*` when unconstrained.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(super::units::format_infra(self).as_deref().unwrap_or("*"))
    }
}

impl AcceleratorSpec {
    /// Parses the string form (`A100:8`, `A100:0.5`, `40GB+`, `nvidia:24GB:2`).
    pub fn parse(s: &str) -> Result<AcceleratorSpec, String> {
        super::units::parse_accelerator(s)
    }
}

impl std::fmt::Display for AcceleratorSpec {
    /// The string form [`AcceleratorSpec::parse`] reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&super::units::format_accelerator(self))
    }
}

impl Resources {
    /// A request for `count` accelerators named `name` per node, nothing else set.
    pub fn with_accelerator(name: impl Into<String>, count: f64) -> Resources {
        Resources {
            accelerators: Some(AcceleratorSpec::Named {
                name: name.into(),
                count,
            }),
            ..Resources::default()
        }
    }

    /// Sets where to run.
    pub fn with_infra(mut self, infra: Infra) -> Resources {
        self.infra = infra;
        self
    }

    /// Sets the vCPU request.
    pub fn with_cpus(mut self, cpus: Quantity) -> Resources {
        self.cpus = Some(cpus);
        self
    }

    /// Sets the memory request (GiB).
    pub fn with_memory(mut self, memory_gib: Quantity) -> Resources {
        self.memory = Some(memory_gib);
        self
    }

    /// Sets an exact instance type.
    pub fn with_instance_type(mut self, instance_type: impl Into<String>) -> Resources {
        self.instance_type = Some(instance_type.into());
        self
    }

    /// Asks for spot instances.
    pub fn with_spot(mut self, use_spot: bool) -> Resources {
        self.use_spot = use_spot;
        self
    }

    /// Sets the OS disk size (GiB).
    pub fn with_disk_size_gib(mut self, gib: u64) -> Resources {
        self.disk_size_gib = Some(gib);
        self
    }

    /// Adds ports to open.
    pub fn with_ports(mut self, ports: impl IntoIterator<Item = PortRange>) -> Resources {
        self.ports.extend(ports);
        self
    }
}

impl From<Resources> for ResourceSet {
    fn from(r: Resources) -> Self {
        ResourceSet::AnyOf(vec![r])
    }
}
