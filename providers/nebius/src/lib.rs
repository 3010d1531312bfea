//! The `nebius` provider: Nebius AI Cloud compute instances through its gRPC API
//! (`compute.api.nebius.cloud`, `nebius.compute.v1.InstanceService`), spoken over
//! the host's `http2` import (WIT 0.2.0: HTTP/2 with the trailers that carry
//! gRPC's status). Messages are protobuf (prost, [`proto`]), framed as gRPC
//! frames them ([`grpc`]).
//!
//! Credentials ([`auth`]): an IAM token (`NEBIUS_IAM_TOKEN`), or a service
//! account's credentials file (`~/.nebius/credentials.json`, lent by the host as
//! `NEBIUS_CREDENTIALS_JSON`), whose RS256 JWT is exchanged at
//! `tokens.iam.api.nebius.cloud` (`TokenExchangeService/Exchange`).
//!
//! What the API allows, and what the manifest says:
//! - multi-node: a cluster's instances are created in one project (a region);
//!   the nodes reach each other at their private addresses;
//! - spot: preemptible instances (`spec.preemptible`, stopped on preemption);
//! - stop/start (`InstanceService/Stop|Start`);
//! - ports: a task with ports gets a VPC security group of its own ([`vpc`]:
//!   SSH, the cluster's own traffic and the ports open), attached to each
//!   instance's network interface when it is made and deleted by `down`.
//!
//! A cluster's instances carry the label `aloft-cluster=<cluster>` and are named
//! `<cluster>-head` (`-worker-<n>`), so `run-instances` creates only what is
//! missing and one listing per project answers `query-instances`.
//!
//! Instance types are the catalog's `<platform>_<preset>`
//! (`gpu-h100-sxm_8gpu-128vcpu-1600gb`); offers are live ([`offers`]: the
//! project's platforms and presets, priced by Nebius's calculator). Errors are
//! typed from gRPC status codes:
//! `RESOURCE_EXHAUSTED` is capacity (so a launch fails over), a quota when the
//! message says so.
//!
//! Settings (`providers.nebius.*`): `endpoint` (handled by the host),
//! `project_id` (or `project_id.<region>`), `subnet_id` (default: the project's
//! only subnet), `ssh_user` (default
//! `ubuntu`, created by cloud-init with the cluster's key), `image_family`
//! (default [`lifecycle::DEFAULT_IMAGE_FAMILY`]).

pub mod auth;
pub mod grpc;
pub mod lifecycle;
pub mod offers;
pub mod proto;
pub mod vpc;

use aloft_provider_sdk::Provider;
use aloft_provider_sdk::settings::all as settings;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};

/// The provider.
pub struct Nebius;

impl Provider for Nebius {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "nebius".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Nebius AI Cloud instances (multi-node, preemptible as spot, \
                          stop/start, ports by security group; live prices), through its \
                          gRPC API"
                .into(),
            capabilities: Capabilities::MULTI_NODE
                | Capabilities::STOP_START
                | Capabilities::SPOT
                | Capabilities::OPEN_PORTS,
            credentials: vec![auth::TOKEN_NAME.into(), auth::CREDENTIALS_NAME.into()],
            hosts: vec![
                lifecycle::COMPUTE_HOST.into(),
                vpc::VPC_HOST.into(),
                offers::BILLING_HOST.into(),
                auth::TOKENS_HOST.into(),
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
        offers::offers(region.as_deref(), &settings())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Nebius);

// Nebius prices live (its billing calculator answers `offers`), so plans ask it
// before the shipped catalog (WIT 0.2.0's `manifest`: no `catalog-prices`); its
// VMs run a task's container image.
#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_capabilities!(
    aloft_provider_sdk::manifest::Capabilities::CONTAINER_IMAGES
);
