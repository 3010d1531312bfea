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

/// The regions whose EC2 API this provider may call (`ec2.REGION.amazonaws.com`).
/// The manifest names each API host: a wildcard under `amazonaws.com` would also
/// reach every other customer's buckets and gateways, and the host refuses one.
const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
];

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
            hosts: std::iter::once("sts.amazonaws.com".to_string())
                .chain(REGIONS.iter().map(|r| format!("ec2.{r}.amazonaws.com")))
                .collect(),
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
