//! The `vastai` provider: Vast.ai GPU instances through its REST API
//! (`https://console.vast.ai/api/v0`, and `/api/v1/instances/` for the listing),
//! the API key (`VAST_API_KEY`, lent by the host, which also reads the file
//! Vast.ai's CLI writes, `~/.config/vastai/vast_api_key`, and the older
//! `~/.vast_api_key`) sent as `Authorization: Bearer`.
//!
//! Vast.ai is a marketplace: an instance is a Docker container on a host someone
//! rents out, made by renting an offer (`POST /api/v0/bundles/` searches them,
//! `PUT /api/v0/asks/{id}/` rents one). What that allows, and what the manifest
//! says:
//! - no multi-node: the hosts of two offers share no network, so aloft never plans
//!   a multi-node task here (`run-instances` with a count above one rents
//!   independent instances, which the conformance kit exercises);
//! - spot is an interruptible instance, rented with a bid (the offer's minimum
//!   bid); an outbid instance stops and `query-instances` reports it preempted;
//! - stop/start (`PUT /api/v0/instances/{id}/` with `state`): a stopped instance
//!   keeps its disk (billed) but frees its GPUs, so starting it again waits until
//!   they are free;
//! - ports are mapped when the container is created (`-p N:N`) to host ports
//!   Vast.ai picks; they cannot be added later;
//! - SSH goes to the host's public address and the port its 22 is mapped to (or
//!   Vast.ai's SSH proxy); the cluster's key is attached to the instance
//!   (`POST /api/v0/instances/{id}/ssh/`);
//! - the image is any Docker image (`image_id: docker:...`).
//!
//! A cluster's instance is labelled `aloft/<cluster>-head` when it is rented, so
//! `run-instances` rents only what is missing and starts what is stopped
//! (idempotent), and one listing answers `query-instances` for every cluster.
//!
//! Settings (`providers.vastai.*`): `endpoint` (handled by the host), `ssh_user`
//! (default `root`), `image` (default [`model::DEFAULT_IMAGE`]), `disk_gib`
//! (default 32, a task's `disk_size` wins).

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
pub struct VastAi;

impl Provider for VastAi {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "vastai".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Vast.ai GPU instances (containers on rented hosts: single node; \
                          on-demand and interruptible; stop/start; ports at create), \
                          through its REST API"
                .into(),
            capabilities: Capabilities::SPOT
                | Capabilities::STOP_START
                | Capabilities::OPEN_PORTS
                | Capabilities::CUSTOM_IMAGES,
            credentials: vec![api::KEY_NAME.into()],
            hosts: vec!["console.vast.ai".into()],
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
        // The port mappings go with the instance.
        Ok(())
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        lifecycle::offers(region.as_deref())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(VastAi);
