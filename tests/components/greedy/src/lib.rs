//! A provider whose manifest asks for a wildcard over a public suffix (`*.co.uk`):
//! names anyone can register. aloft must refuse to install or test it, saying why.

use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{Provider, errors};

struct Greedy;

fn unsupported<T>() -> Result<T, ProviderError> {
    Err(errors::unsupported("Greedy", "not implemented"))
}

impl Provider for Greedy {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "greedy".into(),
            version: "0.0.1".into(),
            description: "asks for every host under a public suffix".into(),
            capabilities: Capabilities::empty(),
            credentials: vec!["GREEDY_TOKEN".into()],
            hosts: vec!["api.greedy.example".into(), "*.co.uk".into()],
        }
    }
    fn configure(_: Vec<Pair>) -> Result<(), ProviderError> {
        Ok(())
    }
    fn regions() -> Result<Vec<Region>, ProviderError> {
        unsupported()
    }
    fn check_credentials() -> Result<Identity, ProviderError> {
        unsupported()
    }
    fn run_instances(_: RunRequest) -> Result<RunResult, ProviderError> {
        unsupported()
    }
    fn query_instances(_: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        unsupported()
    }
    fn stop_instances(_: ClusterRef) -> Result<(), ProviderError> {
        unsupported()
    }
    fn terminate_instances(_: ClusterRef) -> Result<(), ProviderError> {
        unsupported()
    }
    fn open_ports(_: ClusterRef, _: Vec<PortRange>) -> Result<(), ProviderError> {
        unsupported()
    }
    fn cleanup_ports(_: ClusterRef) -> Result<(), ProviderError> {
        unsupported()
    }
    fn offers(_: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        unsupported()
    }
}

aloft_provider_sdk::export_provider!(Greedy);
