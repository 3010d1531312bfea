//! The `oci` provider: Oracle Cloud Infrastructure compute instances of VM and BM
//! GPU shapes (`VM.GPU.A10.1`, `BM.GPU.H100.8`, ...) through the Core Services REST
//! API (`iaas.<region>.oraclecloud.com/20160918`), every request signed inside the
//! component with the user's API key (OCI's HTTP signature scheme, rsa-sha256).
//! The host lends the active profile of `~/.oci/config` (`OCI_PROFILE_JSON`:
//! user, tenancy, fingerprint, region) and the key file's PEM
//! (`OCI_CLI_KEY_CONTENT`).
//!
//! Per cluster, in the compartment (`providers.oci.compartment_id`, else the
//! tenancy): a VCN `aloft-<cluster>` with an internet gateway, a route table to
//! it, a security list (SSH and the task's ports from anywhere, everything inside
//! the VCN) and one regional subnet; instances named by role (`<cluster>-head`,
//! `<cluster>-worker-<n>`), all tagged `aloft-cluster: <cluster>`, all in one
//! availability domain (each domain tried in turn while OCI is out of host
//! capacity), with aloft's public key in metadata `ssh_authorized_keys`. Spot is a
//! preemptible instance (terminated on preemption). Stop and start are instance
//! actions; terminate deletes the instances, waits for them, then the network.
//!
//! Offers: the GPU shapes of [`model::SHAPES`], priced live from Oracle's public
//! price list ([`prices`]).
//!
//! Settings (`providers.oci.*`): `endpoint` (handled by the host),
//! `compartment_id`, `image_id` (default: the newest Canonical Ubuntu 22.04 image
//! for the shape), `ssh_user` (default `ubuntu`).

pub mod api;
pub mod classify;
mod lifecycle;
pub mod model;
pub mod prices;
pub mod sign;

use aloft_provider_sdk::Provider;
use aloft_provider_sdk::settings::all as settings;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};

/// The provider.
pub struct Oci;

impl Provider for Oci {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "oci".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Oracle Cloud Infrastructure: VM and bare-metal GPU shapes, \
                          preemptible as spot, multi-node, stop/start, through the Core \
                          Services REST API"
                .into(),
            capabilities: Capabilities::SPOT
                | Capabilities::STOP_START
                | Capabilities::MULTI_NODE
                | Capabilities::OPEN_PORTS
                | Capabilities::CUSTOM_IMAGES,
            credentials: vec![api::PROFILE_NAME.into(), api::KEY_NAME.into()],
            hosts: model::ALL_REGIONS
                .iter()
                .flat_map(|r| {
                    [
                        format!("iaas.{r}.oraclecloud.com"),
                        format!("identity.{r}.oraclecloud.com"),
                    ]
                })
                .chain([prices::PRICES_HOST.to_string()])
                .collect(),
        }
    }

    fn configure(settings: Vec<Pair>) -> Result<(), ProviderError> {
        aloft_provider_sdk::settings::store(settings);
        Ok(())
    }

    fn regions() -> Result<Vec<Region>, ProviderError> {
        Ok(lifecycle::regions())
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

    fn cleanup_ports(_cluster: ClusterRef) -> Result<(), ProviderError> {
        // The security list goes with the cluster's VCN at terminate.
        Ok(())
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        prices::offers(region.as_deref())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Oci);
