//! The `primeintellect` provider: Prime Intellect GPU pods through its REST API
//! (`https://api.primeintellect.ai/api/v1`), the API key (`PRIME_API_KEY`, lent
//! by the host, which also reads the file `prime login` writes,
//! `~/.prime/config.json`) sent as `Authorization: Bearer`.
//!
//! Prime Intellect rents pods from many providers through one API
//! (`GET /availability/gpus` lists offers, `POST /pods` creates one from an
//! offer's `cloudId`, `DELETE /pods/{id}` deletes it). What that allows, and what
//! the manifest says:
//! - no multi-node: two pods share no network (multi-node clusters are a
//!   separate product), so aloft never plans a multi-node task here
//!   (`run-instances` with a count above one creates independent pods, which the
//!   conformance kit exercises);
//! - spot is a pod of a spot offer (`isSpot`);
//! - no stop/start: the pod API has none (`stop-instances` answers unsupported);
//! - no ports: the pod API takes none;
//! - SSH goes to the pod's `sshConnection` (`user@host -p port`). The pod API
//!   takes no SSH key: pods get the account's SSH keys, so the cluster's key is
//!   registered as the account key `aloft-<cluster>` before its pods are created
//!   and deleted by `terminate-instances`.
//!
//! A cluster's pods are named `aloft-<cluster>-head` (`-worker-<n>`), so
//! `run-instances` creates only what is missing (idempotent) and one listing
//! answers `query-instances` for every cluster.
//!
//! Settings (`providers.primeintellect.*`): `endpoint` (handled by the host),
//! `ssh_user` (when the pod's `sshConnection` names none; default `root`),
//! `image` (default: the offer's first image), `disk_gib` (default: the offer's;
//! a task's `disk_size` wins).

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
pub struct PrimeIntellect;

impl Provider for PrimeIntellect {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "primeintellect".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Prime Intellect GPU pods across its providers (single node; \
                          on-demand and spot; no stop, no ports), through its REST API"
                .into(),
            capabilities: Capabilities::SPOT,
            credentials: vec![api::KEY_NAME.into()],
            hosts: vec!["api.primeintellect.ai".into()],
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
aloft_provider_sdk::export_provider!(PrimeIntellect);
