//! The `lambda` provider: Lambda Cloud through its REST API v1
//! (`https://cloud.lambdalabs.com/api/v1`), the API key (`LAMBDA_API_KEY`, lent by
//! the host) sent as the HTTP basic-auth user.
//!
//! Lambda has no tags, so cluster membership is the instance name:
//! `<cluster>-head` and `<cluster>-worker-<n>`; `run-instances` launches only the
//! names that are missing (one launch per node), so it is idempotent, and one
//! `GET /instances` answers `query-instances` for every cluster. Lambda has no spot
//! and no stopped state: `stop-instances` answers `unsupported` (`aloft down` is
//! the only way to end a cluster). Its firewall is account-wide, so ports are not
//! opened per cluster. Launches are rate-limited (about one per 10 s): a 429 is a
//! `transient` error and the host's backoff paces the retry, which launches only
//! what is still missing.
//!
//! aloft's public key is registered once as `aloft-<hash>` (or an account key with
//! the same key material is reused). Settings (`providers.lambda.*`): `endpoint`
//! (handled by the host), `ssh_user` (default `ubuntu`).

mod api;
pub mod classify;
mod lifecycle;
pub mod model;

use aloft_provider_sdk::Provider;
use aloft_provider_sdk::errors;
use aloft_provider_sdk::settings::all as settings;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};

/// The provider.
pub struct Lambda;

impl Provider for Lambda {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "lambda".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Lambda Cloud GPU instances (on-demand, multi-node), through its REST API"
                .into(),
            capabilities: Capabilities::MULTI_NODE,
            credentials: vec![api::KEY_NAME.into()],
            hosts: vec!["cloud.lambdalabs.com".into()],
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

    fn open_ports(_cluster: ClusterRef, _ports: Vec<PortRange>) -> Result<(), ProviderError> {
        Err(errors::unsupported(
            "PortsNotSupported",
            "Lambda Cloud's firewall is account-wide: open ports in the Lambda dashboard (Firewall)",
        ))
    }

    fn cleanup_ports(_cluster: ClusterRef) -> Result<(), ProviderError> {
        Ok(())
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        lifecycle::offers(region.as_deref())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Lambda);
