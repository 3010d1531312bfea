//! The `gcp` provider: Compute Engine through its v1 REST API. The host lends
//! Google's credentials as one JSON document (`GCP_CREDENTIALS_JSON`: the
//! service-account key of `GOOGLE_APPLICATION_CREDENTIALS`, or the
//! `authorized_user` file of `gcloud auth application-default login`); the
//! component trades them for an access token (a JWT signed RS256, or the refresh
//! token) and keeps the token in memory only.
//!
//! Instances carry the labels `aloft-cluster` (the cluster's name, sanitized to
//! what labels allow) and `aloft-role`, and names `aloft-<cluster>-<hash>-<role>`;
//! one `aggregatedList` filtered by label answers for every cluster. A cluster with
//! ports gets a firewall rule (`aloft-<cluster>-<hash>`, targeting the tag of the
//! same name), deleted with the cluster. Spot instances stop when reclaimed, so a
//! stopped spot instance aloft did not stop reads as preempted.
//!
//! Settings (`providers.gcp.*`): `endpoint` (handled by the host: tests point it at
//! a fake), `project` (default: the credentials' `project_id` or
//! `quota_project_id`), `ssh_user` (default `aloft`), `image_id` (default Ubuntu
//! 22.04, or the Deep Learning VM image on GPU machines), `network` (default
//! `default`).
//!
//! Instance types are machine types; GPUs that attach to a host (N1 with T4, V100,
//! ...) are asked for as `n1-standard-8+nvidia-tesla-t4:1`.

pub mod api;
pub mod auth;
pub mod classify;
pub mod gce;
mod lifecycle;

use aloft_provider_sdk::Provider;
use aloft_provider_sdk::settings::all as settings;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};

/// The provider.
pub struct Gcp;

impl Provider for Gcp {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "gcp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Google Compute Engine (on-demand and spot), through its v1 REST API"
                .into(),
            capabilities: Capabilities::SPOT
                | Capabilities::STOP_START
                | Capabilities::MULTI_NODE
                | Capabilities::OPEN_PORTS
                | Capabilities::CUSTOM_IMAGES,
            credentials: vec![auth::CREDENTIALS.into()],
            hosts: vec![
                "oauth2.googleapis.com".into(),
                "compute.googleapis.com".into(),
            ],
        }
    }

    fn configure(settings: Vec<Pair>) -> Result<(), ProviderError> {
        aloft_provider_sdk::settings::store(settings);
        Ok(())
    }

    fn regions() -> Result<Vec<Region>, ProviderError> {
        lifecycle::regions(&settings())
    }

    fn check_credentials() -> Result<Identity, ProviderError> {
        lifecycle::identity(&settings())
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
        let settings = settings();
        let project = lifecycle::project(&settings)?;
        lifecycle::ensure_firewall(&project, &cluster.cluster, &ports, &settings)
    }

    fn cleanup_ports(cluster: ClusterRef) -> Result<(), ProviderError> {
        let project = lifecycle::project(&settings())?;
        lifecycle::delete_firewall(&project, &cluster.cluster)
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        // Shapes per zone; no prices (not in the Compute API, see `lifecycle::offers`).
        lifecycle::offers(region.as_deref().unwrap_or("us-central1"), &settings())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Gcp);
