//! The `aws` provider: EC2 through its Query API, signed with SigV4 inside the
//! component; credentials are lent by the host (environment or
//! `~/.aws/credentials`). Instances carry the tags `aloft-cluster` and `aloft-role`,
//! which make `run-instances` idempotent and let one `DescribeInstances` per region
//! answer for every cluster. Each cluster gets a security group (SSH plus the
//! task's ports), deleted with the cluster; the user's key pair is imported once per
//! region and kept (it holds nothing but a public key).
//!
//! Settings (`providers.aws.*`): `endpoint` (handled by the host: tests and
//! air-gapped users point it at an emulator), `ssh_user` (default `ubuntu`),
//! `image_id` (default: the newest Canonical Ubuntu image of the region).

mod api;
pub mod classify;
mod ec2;
mod lifecycle;

use aloft_provider_sdk::Provider;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};

use aloft_provider_sdk::settings::all as settings;

/// The provider.
pub struct Aws;

impl Provider for Aws {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "aws".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Amazon EC2 (on-demand and spot), through the EC2 Query API".into(),
            capabilities: Capabilities::SPOT
                | Capabilities::STOP_START
                | Capabilities::MULTI_NODE
                | Capabilities::OPEN_PORTS
                | Capabilities::CUSTOM_IMAGES,
            credentials: vec![
                "AWS_ACCESS_KEY_ID".into(),
                "AWS_SECRET_ACCESS_KEY".into(),
                "AWS_SESSION_TOKEN".into(),
            ],
            hosts: vec!["*.amazonaws.com".into()],
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
        lifecycle::caller_identity()
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
        let group = ec2::ensure_group(&cluster.region, &cluster.cluster)?;
        ec2::authorize(&cluster.region, &group, &ports)
    }

    fn cleanup_ports(_cluster: ClusterRef) -> Result<(), ProviderError> {
        // The cluster's security group goes with the cluster (terminate).
        Ok(())
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        lifecycle::offers(region.as_deref().unwrap_or("us-east-1"))
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Aws);
