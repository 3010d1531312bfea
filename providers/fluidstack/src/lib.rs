//! The `fluidstack` provider: Fluidstack GPU instances through its REST API
//! (`https://platform.fluidstack.io`, as the official `fluidstack` package
//! calls it), the API key (`FLUIDSTACK_API_KEY`, the variable the package reads;
//! the host also reads `~/.fluidstack/api_key`, the file SkyPilot's Fluidstack
//! support reads) sent in the `api-key` header.
//!
//! What the API allows, and what the manifest says:
//! - multi-node: a cluster's instances are created in one region; each has a
//!   public address (the API names no private one), which the nodes use;
//! - no spot: the create call has no such field, so the manifest does not
//!   declare spot;
//! - stop/start (`PUT /instances/{id}/stop|start`);
//! - no ports: the API has no firewall or port call (`open-ports` with ports
//!   answers unsupported);
//! - instances are created with the name of an account SSH key (`ssh_key`), so
//!   the cluster's key is registered as the account key `aloft-<cluster>` before
//!   its instances are created and deleted by `terminate-instances`;
//! - the operating system is one of the API's two labels (`os` setting, default
//!   [`model::DEFAULT_OS`]); no custom images.
//!
//! A cluster's instances are named `aloft-<cluster>-head` (`-worker-<n>`), so
//! `run-instances` creates only what is missing (idempotent; the create call
//! answers no id, the listing finds them by name) and one listing answers
//! `query-instances` for every cluster.
//!
//! Instance types are `<n>x_<gpu_type>` (`8x_H100_SXM5_80GB`), regions the API's
//! own (`NORWAY`, `TEXAS_USA`), priced from `list_available_configurations`.
//!
//! Settings (`providers.fluidstack.*`): `endpoint` (handled by the host),
//! `ssh_user` (when an instance names no `username`; default `ubuntu`), `os`.

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
pub struct Fluidstack;

impl Provider for Fluidstack {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "fluidstack".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Fluidstack GPU instances (multi-node in one region; no spot; \
                          stop/start; no ports), through its REST API"
                .into(),
            capabilities: Capabilities::MULTI_NODE | Capabilities::STOP_START,
            credentials: vec![api::KEY_NAME.into()],
            hosts: vec!["platform.fluidstack.io".into()],
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
        lifecycle::check_credentials()
    }

    fn run_instances(req: RunRequest) -> Result<RunResult, ProviderError> {
        lifecycle::run(&req, &settings())
    }

    fn query_instances(clusters: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        lifecycle::query(&clusters, &settings())
    }

    fn stop_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        lifecycle::stop(&cluster)
    }

    fn terminate_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        lifecycle::terminate(&cluster)
    }

    fn open_ports(cluster: ClusterRef, ports: Vec<PortRange>) -> Result<(), ProviderError> {
        lifecycle::open_ports(&cluster, &ports)
    }

    fn cleanup_ports(_cluster: ClusterRef) -> Result<(), ProviderError> {
        Ok(())
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        lifecycle::offers(region.as_deref())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Fluidstack);
