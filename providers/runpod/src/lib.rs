//! The `runpod` provider: RunPod pods through its GraphQL API
//! (`https://api.runpod.io/graphql`), the API key (`RUNPOD_API_KEY`, lent by the
//! host) sent as `Authorization: Bearer`.
//!
//! Pods have no tags, so cluster membership is the pod name: `<cluster>-head` (and
//! `<cluster>-worker-<n>`, though the manifest does not declare multi-node: RunPod
//! pods of one cluster share no network, so the optimizer never plans a
//! multi-node task here). `run-instances` deploys only the names that are missing
//! (`podFindAndDeployOnDemand`, or `podRentInterruptable` with a bid for spot) and
//! resumes pods stopped behind aloft's back (`podResume` / `podBidResume`), so it
//! is idempotent; one
//! `myself { pods }` query answers `query-instances` for every cluster. SSH goes to
//! the public address and port that the pod's port 22 is mapped to; aloft's public
//! key is passed as the `PUBLIC_KEY` env, which RunPod's images authorize.
//!
//! Volumes: the host creates network volumes (`aloft volumes apply`, RunPod's REST
//! API) and, before `run-instances`, leaves the cluster's mount in this component's
//! kv under `aloft-volumes/CLUSTER` (`model::Mount`); pods are deployed with its
//! `networkVolumeId` and `volumeMountPath` (one volume a pod), and `terminate`
//! deletes the key.
//!
//! Container images: a pod runs the image its settings name, with no Docker
//! inside, so the manifest declares (WIT 0.2.0) that its nodes cannot run a
//! task's `image_id: docker:...`, and the optimizer leaves RunPod out of such tasks.
//!
//! Settings (`providers.runpod.*`): `endpoint` (handled by the host), `ssh_user`
//! (default `root`), `image` (the pod image), `bid_per_gpu` (spot bid; default:
//! the current interruptible price).
//!
//! No stop, as in SkyPilot: a stopped pod loses its container disk (aloft's runtime,
//! the workdir) and may not get its GPU back, so `stop` answers `unsupported`
//! and autostop on RunPod means autodown.

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
pub struct Runpod;

impl Provider for Runpod {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "runpod".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "RunPod GPU pods (on-demand and interruptible, single node), through its GraphQL API"
                    .into(),
            capabilities: Capabilities::SPOT | Capabilities::OPEN_PORTS | Capabilities::VOLUMES,
            credentials: vec![api::KEY_NAME.into()],
            hosts: vec!["api.runpod.io".into()],
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
        let key = model::volumes_key(&req.cluster.cluster);
        let volume = model::network_volume(aloft_provider_sdk::kv::get(&key).as_deref())
            .map_err(|e| errors::invalid("BadVolumeMounts", &e))?;
        lifecycle::run(&req, &settings(), volume.as_ref())
    }

    fn query_instances(clusters: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        lifecycle::query(&clusters, &settings())
    }

    fn stop_instances(_cluster: ClusterRef) -> Result<(), ProviderError> {
        Err(errors::unsupported(
            "NoStop",
            "RunPod pods cannot be stopped by aloft (a stopped pod loses its container disk \
             and may not get its GPU back): use `aloft down`, or autodown (`--down`)",
        ))
    }

    fn terminate_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        lifecycle::terminate(&cluster)?;
        // The cluster's volume mounts go with it (the volumes stay).
        aloft_provider_sdk::kv::delete(&model::volumes_key(&cluster.cluster));
        Ok(())
    }

    fn open_ports(_cluster: ClusterRef, _ports: Vec<PortRange>) -> Result<(), ProviderError> {
        Err(errors::unsupported(
            "PortsAtDeployOnly",
            "RunPod maps a pod's ports when it is deployed: relaunch with the task's `ports`",
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
aloft_provider_sdk::export_provider!(Runpod);

// A pod is a container of the image in `providers.runpod.image`, with no Docker
// inside: it cannot run a task's container image (WIT 0.2.0's `manifest`). Its
// shipped catalog prices it.
#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_capabilities!(
    aloft_provider_sdk::manifest::Capabilities::CATALOG_PRICES
);
