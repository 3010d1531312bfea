//! The `kubernetes` provider: each allowed kubeconfig context is a region, and a
//! cluster is one pod per node, speaking the Kubernetes REST API through the host.
//!
//! - **Credentials**: none here. The host parses the kubeconfig, runs exec
//!   plugins, and hands this component only each allowed context's name, server
//!   URL and namespace (settings `contexts` and `problems`); requests go through
//!   the host's `kube` import (WIT 0.2.0), naming the context, and the host applies
//!   that context's CA, client certificate and bearer token. Its manifest declares
//!   no hosts and no credential names.
//! - **Types**: hand-written and minimal, over `serde_json::Value`: the component
//!   reads a dozen fields of Pods and Nodes and writes two small objects (a Pod, a
//!   Service). `k8s-openapi` 0.25 (`v1_33`) does build for `wasm32-wasip2` (about
//!   40 s in release on the shared 2-core machine), so build time is not the
//!   reason; it was left out for this first version to keep the component's code
//!   and size small. What it would have guaranteed, that the objects sent are
//!   real Kubernetes objects, the test API server checks instead: every object is
//!   validated against the official schemas with unknown fields rejected.
//! - **Instance types** are SkyPilot's form `{CPUS}CPU--{MEM}GB[--{GPU}:{N}]`
//!   (`4CPU--16GB--A100:1`); a GPU pod asks for 4 CPUs and 16 GB per GPU (less
//!   when the node has less free).
//! - **Offers** come from the cluster: nodes' allocatable minus the requests of
//!   pods placed on them, GPU types from node labels (GFD, GKE, SkyPilot,
//!   Karpenter, CoreWeave, Nebius; names normalized as SkyPilot does), price $0;
//!   only shapes some node can hold now (autoscaling node pools that are empty are
//!   not offered). `offers(Some("*nodes*"))` answers one row per GPU node instead
//!   (for `show-gpus`: `accelerator-count` = allocatable, `price` = free).
//! - **Pods** are labelled `aloft-cluster` / `aloft-role`, request cpu, memory and
//!   `nvidia.com/gpu`, are pinned by node affinity to nodes whose GPU label names
//!   the GPU, run the task's `image_id: docker:IMAGE` or Ubuntu with sshd, and get
//!   the SSH public key in `ALOFT_SSH_PUBLIC_KEY` (written to `authorized_keys` by
//!   the pod's command). Ports are a `LoadBalancer` Service `CLUSTER-ports`.
//! - **Volumes**: the host creates PersistentVolumeClaims (`aloft volumes apply`)
//!   and, before `run-instances`, leaves the cluster's mounts in this component's
//!   kv under `aloft-volumes/CLUSTER` (`model::Mount`); every pod mounts those
//!   claims at their paths, and `terminate` deletes the key.
//! - **Errors**: a pod unschedulable past `provision_timeout` (setting, default
//!   10 s, at most 45 s within one call) is `capacity` (its pods deleted); 401/403 `auth`; a ResourceQuota's
//!   "exceeded quota" `quota`; 409 on create means the pod exists and is reused.
//!   Pods cannot be stopped: `stop` is `unsupported`.
//! - **Stop kits**: a head tearing its own cluster down (autodown) runs this
//!   component with the settings `stop_pods` and `stop_services` and a context
//!   whose token may only delete those objects (`aloft::kube::stop_grant`):
//!   `terminate` then deletes them by name and lists nothing.

mod api;
pub mod capacity;
mod lifecycle;
pub mod model;

use aloft_provider_sdk::Provider;
use aloft_provider_sdk::errors;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};

use lifecycle::Settings;

/// The region name that asks `offers` for per-node rows (`show-gpus`); the host's
/// `client::offers::KUBE_NODES_QUERY`.
pub const NODES_QUERY: &str = "*nodes*";

/// The provider.
pub struct Kubernetes;

fn settings() -> Settings {
    Settings::from(&aloft_provider_sdk::settings::all())
}

impl Provider for Kubernetes {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "kubernetes".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Kubernetes clusters (kubeconfig contexts): one pod per node, GPUs from node labels"
                    .into(),
            capabilities: Capabilities::MULTI_NODE
                | Capabilities::OPEN_PORTS
                | Capabilities::CUSTOM_IMAGES
                | Capabilities::VOLUMES,
            credentials: Vec::new(),
            hosts: Vec::new(),
        }
    }

    fn configure(settings: Vec<Pair>) -> Result<(), ProviderError> {
        aloft_provider_sdk::settings::store(settings);
        Ok(())
    }

    fn regions() -> Result<Vec<Region>, ProviderError> {
        Ok(lifecycle::regions(&settings()))
    }

    fn check_credentials() -> Result<Identity, ProviderError> {
        lifecycle::check_credentials(&settings())
    }

    fn run_instances(req: RunRequest) -> Result<RunResult, ProviderError> {
        let key = model::volumes_key(&req.cluster.cluster);
        let mounts = model::mounts(aloft_provider_sdk::kv::get(&key).as_deref())
            .map_err(|e| errors::invalid("BadVolumeMounts", &e))?;
        lifecycle::run(&settings(), &req, &mounts)
    }

    fn query_instances(clusters: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        lifecycle::query(&settings(), &clusters)
    }

    fn stop_instances(_cluster: ClusterRef) -> Result<(), ProviderError> {
        Err(errors::unsupported(
            "StopNotSupported",
            "Kubernetes pods cannot be stopped and resumed: use `aloft down` to delete the cluster's pods",
        ))
    }

    fn terminate_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        lifecycle::terminate(&settings(), &cluster)?;
        // The cluster's volume mounts go with it (the volumes stay).
        aloft_provider_sdk::kv::delete(&model::volumes_key(&cluster.cluster));
        Ok(())
    }

    fn open_ports(cluster: ClusterRef, ports: Vec<PortRange>) -> Result<(), ProviderError> {
        lifecycle::open_ports(&settings(), &cluster, &ports)
    }

    fn cleanup_ports(cluster: ClusterRef) -> Result<(), ProviderError> {
        lifecycle::cleanup_ports(&settings(), &cluster)
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        if region.as_deref() == Some(NODES_QUERY) {
            return Ok(lifecycle::node_rows(&settings()));
        }
        lifecycle::offers(&settings(), region.as_deref())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Kubernetes);
