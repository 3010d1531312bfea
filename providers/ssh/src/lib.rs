//! The `ssh` provider: on-prem machines grouped in node pools
//! (`~/.aloft/ssh_node_pools.yaml`, SkyPilot's format). Each pool is a region
//! (`infra: ssh/<pool>`); `run-instances` allocates free hosts of the pool and
//! `terminate-instances` gives them back. The machines are never created or
//! destroyed, so there is no stop/start and no spot.
//!
//! The component has no filesystem: the host reads the pools file and hands it
//! over as the `pools` setting (JSON); the allocation lives in the key-value store.

mod books;
pub mod pools;

use std::collections::BTreeMap;
use std::sync::Mutex;

use aloft_provider_sdk::kv::Host as HostKv;
use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{Provider, errors};

pub use books::Books;

static POOLS: Mutex<Option<pools::Pools>> = Mutex::new(None);

fn current_pools() -> pools::Pools {
    POOLS
        .lock()
        .ok()
        .and_then(|p| p.clone())
        .unwrap_or_default()
}

/// The provider.
pub struct Ssh;

impl Provider for Ssh {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "ssh".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Your own machines over SSH, in node pools (ssh_node_pools.yaml)".into(),
            capabilities: Capabilities::MULTI_NODE,
            credentials: Vec::new(),
            hosts: Vec::new(),
        }
    }

    fn configure(settings: Vec<Pair>) -> Result<(), ProviderError> {
        let settings: BTreeMap<String, String> = settings.into_iter().collect();
        let parsed = pools::parse(&settings)?;
        let mut slot = POOLS
            .lock()
            .map_err(|_| errors::invalid("Settings", "settings lock poisoned"))?;
        *slot = Some(parsed);
        Ok(())
    }

    fn regions() -> Result<Vec<Region>, ProviderError> {
        Ok(current_pools()
            .keys()
            .map(|name| Region {
                name: name.clone(),
                zones: Vec::new(),
            })
            .collect())
    }

    fn check_credentials() -> Result<Identity, ProviderError> {
        let pools = current_pools();
        if pools.is_empty() {
            return Err(errors::auth(
                "NoPools",
                "no node pools: describe your machines in ~/.aloft/ssh_node_pools.yaml",
            ));
        }
        Ok(Identity {
            account: "ssh".into(),
            details: pools
                .iter()
                .map(|(name, p)| (name.clone(), format!("{} host(s)", p.hosts.len())))
                .collect(),
        })
    }

    fn run_instances(req: RunRequest) -> Result<RunResult, ProviderError> {
        let pools = current_pools();
        Books::new(&mut HostKv, &pools).run(&req)
    }

    fn query_instances(clusters: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        let pools = current_pools();
        Ok(Books::new(&mut HostKv, &pools).query(&clusters))
    }

    fn stop_instances(_cluster: ClusterRef) -> Result<(), ProviderError> {
        Err(errors::unsupported(
            "NoStop",
            "machines of a node pool cannot be stopped; `aloft down` gives them back to the pool",
        ))
    }

    fn terminate_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        let pools = current_pools();
        Books::new(&mut HostKv, &pools).release(&cluster);
        Ok(())
    }

    fn open_ports(_cluster: ClusterRef, _ports: Vec<PortRange>) -> Result<(), ProviderError> {
        // The machines are the user's own: their firewall is theirs to manage.
        Ok(())
    }

    fn cleanup_ports(_cluster: ClusterRef) -> Result<(), ProviderError> {
        Ok(())
    }

    fn offers(region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        Ok(current_pools()
            .iter()
            .filter(|(name, _)| region.as_ref().is_none_or(|r| r == *name))
            .map(|(name, pool)| pool.offer(name))
            .collect())
    }
}

#[cfg(target_arch = "wasm32")]
aloft_provider_sdk::export_provider!(Ssh);
