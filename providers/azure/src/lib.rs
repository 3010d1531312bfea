//! The `azure` provider: Azure virtual machines through the Azure Resource
//! Manager REST API (`https://management.azure.com`). The host lends a service
//! principal under the names Azure's SDKs read (`AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET`, `AZURE_TENANT_ID`, `AZURE_SUBSCRIPTION_ID`; or what
//! `az login --service-principal` cached under `~/.azure`); the component trades
//! it for a token at Microsoft Entra ID (`login.microsoftonline.com`, OAuth2
//! client credentials) and keeps the token in memory only.
//!
//! Each cluster gets a resource group `aloft-<cluster>-<region>` holding a
//! network security group (SSH and the task's ports), a virtual network with one
//! subnet, and per node a public IP, a NIC and the VM (named by role,
//! `<cluster>-head`, `<cluster>-worker-<n>`, the cluster's public key in
//! `osProfile.linuxConfiguration.ssh`). `run-instances` creates only the missing
//! nodes and starts deallocated ones; stop deallocates; terminate deletes the
//! group; every long-running operation is awaited through ARM's
//! `Azure-AsyncOperation` / `Location` headers. Spot VMs are `priority: Spot`
//! with eviction policy `Deallocate`: a spot VM found deallocated that aloft did
//! not stop reads as preempted.
//!
//! Offers: the NC, ND and NV GPU sizes (and a few D-series), priced live from
//! Azure's Retail Prices API (see [`offers`]).
//!
//! Settings (`providers.azure.*`): `endpoint` (handled by the host: tests point it
//! at a fake), `subscription_id` (default: the lent one), `ssh_user` (default
//! `azureuser`), `image` (an image URN `publisher:offer:sku:version` or an image
//! id; default Ubuntu 24.04, or Microsoft's Ubuntu HPC image with NVIDIA drivers
//! on GPU sizes).

pub mod arm;
pub mod auth;
pub mod classify;
mod lifecycle;
pub mod offers;

use aloft_provider_sdk::Provider;
use aloft_provider_sdk::settings::all as settings;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};

/// The provider.
pub struct Azure;

impl Provider for Azure {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "azure".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Azure virtual machines (on-demand and spot; NC/ND/NV GPU sizes), \
                          through the Azure Resource Manager REST API"
                .into(),
            capabilities: Capabilities::SPOT
                | Capabilities::STOP_START
                | Capabilities::MULTI_NODE
                | Capabilities::OPEN_PORTS
                | Capabilities::CUSTOM_IMAGES,
            credentials: vec![
                auth::CLIENT_ID.into(),
                auth::CLIENT_SECRET.into(),
                auth::TENANT_ID.into(),
                auth::SUBSCRIPTION_ID.into(),
            ],
            hosts: vec![
                auth::LOGIN_HOST.into(),
                arm::ARM_HOST.into(),
                offers::PRICES_HOST.into(),
            ],
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
        lifecycle::open_ports(&cluster, &ports, &settings())
    }

    fn cleanup_ports(_cluster: ClusterRef) -> Result<(), ProviderError> {
        // The rules live in the cluster's NSG, which goes with its resource group.
        Ok(())
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        offers::offers(region.as_deref())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Azure);
