//! The `digitalocean` provider: DigitalOcean droplets (GPU droplets such as
//! `gpu-h100x1-80gb` / `gpu-h100x8-640gb`, and CPU sizes) through its REST API v2
//! (`https://api.digitalocean.com/v2`), the personal access token
//! (`DIGITALOCEAN_ACCESS_TOKEN`, lent by the host, which also reads `doctl`'s
//! `~/.config/doctl/config.yaml`) sent as `Authorization: Bearer`.
//!
//! A cluster's droplets carry the tag `aloft-c-<cluster>` (and `aloft`, so one
//! `GET /v2/droplets?tag_name=aloft` answers `query-instances` for every cluster)
//! and are named by role (`<cluster>-head`, `<cluster>-worker-<n>`):
//! `run-instances` creates only the roles that are missing and powers on stopped
//! droplets, so it is idempotent. Each cluster gets a cloud firewall applied to its
//! tag (SSH and the task's ports from anywhere, everything between its droplets);
//! aloft's public key is registered as an account key `aloft-<hash>` (or an
//! account key with the same key material is reused) and the key aloft registered
//! is deleted with the cluster. Stop is a `power_off` action, start `power_on`
//! (DigitalOcean keeps billing a powered-off droplet); terminate destroys the
//! droplets by tag (`DELETE /v2/droplets?tag_name=`), then the firewall. No spot:
//! DigitalOcean has none. Multi-node works (droplets of a region share its VPC).
//!
//! Settings (`providers.digitalocean.*`): `endpoint` (handled by the host),
//! `ssh_user` (default `root`), `image` (default: DigitalOcean's AI/ML-ready
//! image for GPU sizes, `ubuntu-22-04-x64` otherwise).

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
pub struct DigitalOcean;

impl Provider for DigitalOcean {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "digitalocean".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "DigitalOcean droplets (GPU and CPU, on-demand only: no spot; \
                          multi-node, stop/start), through its REST API v2"
                .into(),
            capabilities: Capabilities::STOP_START
                | Capabilities::MULTI_NODE
                | Capabilities::OPEN_PORTS
                | Capabilities::CUSTOM_IMAGES,
            credentials: vec![api::TOKEN_NAME.into()],
            hosts: vec!["api.digitalocean.com".into()],
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

    fn cleanup_ports(cluster: ClusterRef) -> Result<(), ProviderError> {
        lifecycle::cleanup_ports(&cluster)
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        lifecycle::offers(region.as_deref())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(DigitalOcean);
