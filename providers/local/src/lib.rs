//! The `local` provider: a "cloud" whose nodes are folders on this machine.
//!
//! The component has no filesystem: it only keeps the books (which clusters exist,
//! their nodes and states) in its key-value store, and tells the host each node's
//! folder (`node_dir`), which aloft's runtime creates and uses. Region `local` has
//! zones `local-a`, `local-b` and `local-c`; instance types `local-1cpu` to
//! `local-8cpu` cost nothing.
//!
//! Settings (from aloft's config, `providers.local.*`), for tests and demos:
//! `root` (folder of the node folders), `fail_capacity_zones` (comma-separated zones
//! that answer a `capacity` error), `fail_capacity_attempts` (the first N launches
//! fail for capacity, whatever the zone), `fail_quota` and `fail_auth` (`true`), and
//! `preempt` (comma-separated clusters whose spot nodes are reported preempted),
//! `run_delay_ms` (`run-instances` takes this long, like a slow cloud).

mod books;

use aloft_provider_sdk::Provider;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};

pub use books::{Books, HostKv, Kv};

/// The settings given to `configure`.
use aloft_provider_sdk::settings::all as settings;

/// The provider.
pub struct Local;

impl Provider for Local {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "local".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Nodes are folders on this machine (no cloud account needed)".into(),
            capabilities: Capabilities::SPOT
                | Capabilities::STOP_START
                | Capabilities::MULTI_NODE
                | Capabilities::OPEN_PORTS,
            credentials: Vec::new(),
            hosts: Vec::new(),
        }
    }

    fn configure(settings: Vec<Pair>) -> Result<(), ProviderError> {
        aloft_provider_sdk::settings::store(settings);
        Ok(())
    }

    fn regions() -> Result<Vec<Region>, ProviderError> {
        Ok(vec![Region {
            name: books::REGION.into(),
            zones: books::ZONES.iter().map(|z| z.to_string()).collect(),
        }])
    }

    fn check_credentials() -> Result<Identity, ProviderError> {
        books::check_auth(&settings())?;
        Ok(Identity {
            account: "local".into(),
            details: Vec::new(),
        })
    }

    fn run_instances(req: RunRequest) -> Result<RunResult, ProviderError> {
        Books::new(&mut HostKv, settings()).run(&req)
    }

    fn query_instances(clusters: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        Ok(Books::new(&mut HostKv, settings()).query(&clusters))
    }

    fn stop_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        Books::new(&mut HostKv, settings()).stop(&cluster)
    }

    fn terminate_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        Books::new(&mut HostKv, settings()).terminate(&cluster);
        Ok(())
    }

    fn open_ports(cluster: ClusterRef, ports: Vec<PortRange>) -> Result<(), ProviderError> {
        Books::new(&mut HostKv, settings()).open_ports(&cluster, &ports)
    }

    fn cleanup_ports(cluster: ClusterRef) -> Result<(), ProviderError> {
        Books::new(&mut HostKv, settings()).open_ports(&cluster, &[])
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        if region.as_deref().is_some_and(|r| r != books::REGION) {
            return Ok(Vec::new());
        }
        Ok(books::offers())
    }
}

// Exported only in the component: a native build (for unit tests) has no host to
// link these entry points against.
#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Local);
