//! The `cudo` provider: Cudo Compute GPU virtual machines through its REST API
//! (`https://rest.compute.cudo.org/v1`), the API key (`CUDO_API_KEY`, lent by
//! the host from the current context of `~/.config/cudo/cudo.yml`, the file
//! cudoctl writes and Cudo's Python package reads) sent as `Authorization:
//! Bearer`, in the project of that context (`CUDO_PROJECT`) unless the settings
//! name one.
//!
//! What Cudo allows, and what the manifest says:
//! - multi-node: a cluster's VMs are created in one data center (`region`), each
//!   with a public address and a private one;
//! - no spot: Cudo offers no interruptible VMs (its create call has no such
//!   field), so the manifest does not declare spot;
//! - stop/start (`POST .../vms/{id}/stop|start`): a stopped VM keeps its disk;
//! - ports: a cluster whose task has `ports` gets a security group
//!   (`<cluster>-ports`: SSH and the ports in from anywhere, everything out) in
//!   its data center, given to its VMs when they are created (attached to VMs
//!   that exist), widened when a relaunch asks for more, deleted with the cluster;
//! - the image is a Cudo image id (`image_id`, default
//!   [`model::DEFAULT_IMAGE`]); the cluster's public key goes into
//!   `customSshKeys` when the VM is created.
//!
//! A cluster's VMs have the ids `<cluster>-head`, `<cluster>-worker-<n>` (the
//! cluster's name made a valid Cudo id, see [`model::vm_prefix`]) and its exact
//! name in their `metadata`, so `run-instances` creates only what is missing and
//! starts what is stopped (idempotent), and one listing answers
//! `query-instances` for every cluster.
//!
//! Settings (`providers.cudo.*`): `endpoint` (handled by the host), `project`
//! (default: the context's), `ssh_user` (default `root`), `image` (default
//! [`model::DEFAULT_IMAGE`]), `disk_gib` (default 100, a task's `disk_size` wins).

mod api;
pub mod classify;
mod lifecycle;
pub mod model;

use aloft_provider_sdk::Provider;
use aloft_provider_sdk::settings::all as settings;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};

/// The provider.
pub struct Cudo;

impl Provider for Cudo {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "cudo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Cudo Compute GPU virtual machines (multi-node in one data center; \
                          no spot; stop/start; ports by security group), through its REST API"
                .into(),
            capabilities: Capabilities::MULTI_NODE
                | Capabilities::STOP_START
                | Capabilities::OPEN_PORTS
                | Capabilities::CUSTOM_IMAGES,
            credentials: vec![api::KEY_NAME.into(), api::PROJECT_NAME.into()],
            hosts: vec!["rest.compute.cudo.org".into()],
        }
    }

    fn configure(settings: Vec<Pair>) -> Result<(), ProviderError> {
        aloft_provider_sdk::settings::store(settings);
        Ok(())
    }

    fn regions() -> Result<Vec<Region>, ProviderError> {
        lifecycle::regions()
    }

    fn check_credentials() -> Result<Identity, ProviderError> {
        lifecycle::check_credentials(&settings())
    }

    fn run_instances(req: RunRequest) -> Result<RunResult, ProviderError> {
        lifecycle::run(&req, &settings())
    }

    fn query_instances(clusters: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        lifecycle::query(&clusters, &settings())
    }

    fn stop_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        lifecycle::stop(&cluster, &settings())
    }

    fn terminate_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        lifecycle::terminate(&cluster, &settings())
    }

    fn open_ports(cluster: ClusterRef, ports: Vec<PortRange>) -> Result<(), ProviderError> {
        lifecycle::open_ports(&cluster, &ports, &settings())
    }

    fn cleanup_ports(cluster: ClusterRef) -> Result<(), ProviderError> {
        lifecycle::cleanup_ports(&cluster, &settings())
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        lifecycle::offers(region.as_deref())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Cudo);
