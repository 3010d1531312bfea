//! The provider interface as host-side Rust types, independent of any one WIT
//! version: each version's bindings convert into these, so the rest of aloft never
//! sees generated code.

use serde::{Deserialize, Serialize};

/// How a failed provider call should steer failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// No capacity in the zone.
    Capacity,
    /// A quota or limit was hit.
    Quota,
    /// Credentials missing, wrong or expired.
    Auth,
    /// The provider cannot do this.
    Unsupported,
    /// Try again later.
    Transient,
    /// The request is wrong.
    Invalid,
    /// Anything else.
    Other,
}

/// A typed error returned by a provider, with the cloud's own code and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The cloud's code.
    pub code: String,
    /// The cloud's message (scrubbed of secrets by the host).
    pub message: String,
    /// Region the error is about.
    pub region: Option<String>,
    /// Zone the error is about.
    pub zone: Option<String>,
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} error {}: {}",
            serde_json::to_value(self.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            self.code,
            self.message
        )
    }
}

/// What a provider can do: 0.1.0's `capabilities` flags, and what the `manifest`
/// export of 0.2.0 declares (for a component without it, every capability that
/// export names: see [`Capabilities::container_images`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Spot instances.
    pub spot: bool,
    /// Stop and start.
    pub stop_start: bool,
    /// Clusters of several nodes.
    pub multi_node: bool,
    /// Opening ports.
    pub open_ports: bool,
    /// Custom images.
    pub custom_images: bool,
    /// Volumes.
    pub volumes: bool,
    /// Its nodes can run the task's container image (`image_id: docker:...`).
    /// Declared through 0.2.0's `manifest` export; a component that does not
    /// export it can (aloft runs the image on the node itself).
    #[serde(default = "yes")]
    pub container_images: bool,
    /// aloft's shipped catalog (where it has one for the provider) gives its
    /// current prices; without, the provider prices live: plans ask its `offers`
    /// and use the catalog only when it cannot answer. Declared through 0.2.0's
    /// `manifest` export; a component that does not export it has it.
    #[serde(default = "yes")]
    pub catalog_prices: bool,
}

/// The default of a capability a component states nothing about.
fn yes() -> bool {
    true
}

/// A provider's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Name used in `infra:`.
    pub name: String,
    /// The provider's version.
    pub version: String,
    /// The WIT version it was built for.
    pub api_version: String,
    /// One line.
    pub description: String,
    /// Capabilities.
    pub capabilities: Capabilities,
    /// Secrets it may read.
    pub credentials: Vec<String>,
    /// Hosts it may call.
    pub hosts: Vec<String>,
}

/// A region and its zones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Name.
    pub name: String,
    /// Zones.
    pub zones: Vec<String>,
}

/// Who the credentials belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Account id.
    pub account: String,
    /// Other facts.
    pub details: Vec<(String, String)>,
}

/// A port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
}

/// One cluster on one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRef {
    /// Cluster name.
    pub cluster: String,
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: Option<String>,
}

/// A request for a cluster's nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Which cluster.
    pub cluster: ClusterRef,
    /// Instance type.
    pub instance_type: String,
    /// Node count.
    pub count: u32,
    /// Spot.
    pub use_spot: bool,
    /// Disk size.
    pub disk_size_gib: Option<u32>,
    /// Image.
    pub image_id: Option<String>,
    /// Ports to open.
    pub ports: Vec<PortRange>,
    /// Labels / tags.
    pub labels: Vec<(String, String)>,
    /// SSH public key to authorize.
    pub ssh_public_key: Option<String>,
}

/// An instance's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceStatus {
    /// Starting.
    Pending,
    /// Running.
    Running,
    /// Stopping.
    Stopping,
    /// Stopped.
    Stopped,
    /// Terminating.
    Terminating,
    /// Gone.
    Terminated,
    /// Reclaimed by the cloud.
    Preempted,
    /// Unknown.
    Unknown,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Id.
    pub id: String,
    /// Head node.
    pub is_head: bool,
    /// State.
    pub status: InstanceStatus,
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: Option<String>,
    /// Spot.
    pub spot: bool,
    /// Public IP.
    pub public_ip: Option<String>,
    /// Private IP.
    pub private_ip: Option<String>,
    /// SSH port.
    pub ssh_port: u16,
    /// SSH user.
    pub ssh_user: Option<String>,
    /// Provider-specific facts.
    pub extra: Vec<(String, String)>,
}

impl Instance {
    /// A provider-specific fact by key.
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What `run-instances` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    /// The cluster's nodes.
    pub instances: Vec<Instance>,
    /// Created by this call.
    pub created: Vec<String>,
    /// Started again by this call.
    pub resumed: Vec<String>,
}

/// A cluster's nodes as queried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInstances {
    /// Which cluster.
    pub cluster: ClusterRef,
    /// Its nodes.
    pub instances: Vec<Instance>,
}

/// A catalog row from a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderOffer {
    /// Instance type.
    pub instance_type: String,
    /// Accelerator.
    pub accelerator_name: Option<String>,
    /// Accelerator count.
    pub accelerator_count: f64,
    /// vCPUs.
    pub vcpus: f64,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// GPU memory, MiB.
    pub gpu_memory_mib: Option<u64>,
    /// On-demand price.
    pub price: Option<f64>,
    /// Spot price.
    pub spot_price: Option<f64>,
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: Option<String>,
}
