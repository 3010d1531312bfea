//! A small, honest provider whose nodes live in its kv store, with one fault chosen
//! by the `fault` setting, so the conformance kit can be shown to catch each kind of
//! broken provider (`aloft providers test … --setting fault=NAME`):
//!
//! - `` (none): keeps the contract; the kit passes.
//! - `leak`: `terminate-instances` forgets to delete the last node; `query-instances`
//!   still reports it running (as a real cloud would bill it).
//! - `dup`: `run-instances` is not idempotent: every call creates `count` new nodes.
//! - `two-heads`: every node claims to be the head.
//! - `fake-stop`: `stop-instances` answers Ok but the nodes keep running.
//! - `untyped-capacity`: a zone ending in `-full` refuses capacity with an `invalid`
//!   error instead of a `capacity` one (without the fault it is `capacity`).
//! - `lost-query`: `query-instances` leaves out the clusters it was asked about.
//! - `no-capacity-check`: a zone ending in `-full` launches like any other (the
//!   capacity check gets an unexpected success, and must clean it up).
//!
//! It also answers `offers` (one CPU type, `faulty-2cpu`, in `f-1`/`f-1-a`, priced by
//! the `price` setting, 0.001 USD/h by default) and counts those calls in its kv
//! under `calls.offers`, so a test can tell whether a plan asked it. Its only
//! credential is `FAULTY_TOKEN` (checked for presence).
//!
//! It does not export WIT 0.2.0's `manifest`, so it can run a task's container
//! image, unless built with the `no-container-images` feature (as
//! `tests/components/boxed` is).

use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Instance, InstanceStatus, Offer, Pair,
    PortRange, ProviderError, ProviderInfo, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{Provider, credentials, errors, kv, settings};

struct Faulty;

fn fault() -> String {
    settings::all().get("fault").cloned().unwrap_or_default()
}

/// A node as kept in kv: `id:status` where status is `running` or `stopped`.
struct Node {
    id: String,
    running: bool,
}

fn key(cluster: &str) -> String {
    format!("cluster/{cluster}")
}

fn load(cluster: &str) -> Vec<Node> {
    kv::get(&key(cluster))
        .unwrap_or_default()
        .split(',')
        .filter_map(|item| item.split_once(':'))
        .map(|(id, status)| Node {
            id: id.to_string(),
            running: status == "running",
        })
        .collect()
}

fn save(cluster: &str, nodes: &[Node]) {
    if nodes.is_empty() {
        kv::delete(&key(cluster));
        return;
    }
    let text: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}:{}", n.id, if n.running { "running" } else { "stopped" }))
        .collect();
    kv::set(&key(cluster), &text.join(","));
}

fn next_id() -> String {
    let n: u64 = kv::get("next-id").and_then(|v| v.parse().ok()).unwrap_or(1);
    kv::set("next-id", &(n + 1).to_string());
    format!("f-{n}")
}

fn instance(node: &Node, head: bool, zone: &Option<String>) -> Instance {
    Instance {
        id: node.id.clone(),
        is_head: head || fault() == "two-heads",
        status: if node.running {
            InstanceStatus::Running
        } else {
            InstanceStatus::Stopped
        },
        instance_type: "faulty-2cpu".into(),
        zone: zone.clone(),
        spot: false,
        public_ip: Some("192.0.2.10".into()),
        private_ip: Some("10.0.0.10".into()),
        ssh_port: 22,
        ssh_user: Some("faulty".into()),
        extra: Vec::new(),
    }
}

fn instances(nodes: &[Node], zone: &Option<String>) -> Vec<Instance> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| instance(n, i == 0, zone))
        .collect()
}

impl Provider for Faulty {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "faulty".into(),
            version: "0.1.0".into(),
            description: "a test provider with one fault chosen by a setting".into(),
            capabilities: Capabilities::MULTI_NODE | Capabilities::STOP_START,
            credentials: vec!["FAULTY_TOKEN".into()],
            hosts: vec!["api.faulty.example".into()],
        }
    }

    fn configure(pairs: Vec<Pair>) -> Result<(), ProviderError> {
        settings::store(pairs);
        Ok(())
    }

    fn regions() -> Result<Vec<Region>, ProviderError> {
        Ok(vec![Region {
            name: "f-1".into(),
            zones: vec!["f-1-a".into(), "f-1-full".into()],
        }])
    }

    fn check_credentials() -> Result<Identity, ProviderError> {
        match credentials::get("FAULTY_TOKEN") {
            Some(token) if !token.is_empty() => Ok(Identity {
                account: "faulty-account".into(),
                details: Vec::new(),
            }),
            _ => Err(errors::auth("NoToken", "FAULTY_TOKEN is not set")),
        }
    }

    fn run_instances(req: RunRequest) -> Result<RunResult, ProviderError> {
        Self::check_credentials()?;
        let zone = req.cluster.zone.clone();
        if zone.as_deref().is_some_and(|z| z.ends_with("-full")) && fault() != "no-capacity-check" {
            return Err(if fault() == "untyped-capacity" {
                errors::invalid("Refused", "no room in this zone")
            } else {
                errors::capacity("NoCapacity", "no room in this zone")
            });
        }
        let cluster = &req.cluster.cluster;
        let mut nodes = load(cluster);
        let mut created = Vec::new();
        let mut resumed = Vec::new();
        if fault() == "dup" {
            for _ in 0..req.count {
                let id = next_id();
                created.push(id.clone());
                nodes.push(Node { id, running: true });
            }
        } else {
            for node in nodes.iter_mut().filter(|n| !n.running) {
                node.running = true;
                resumed.push(node.id.clone());
            }
            while nodes.len() < req.count as usize {
                let id = next_id();
                created.push(id.clone());
                nodes.push(Node { id, running: true });
            }
        }
        save(cluster, &nodes);
        Ok(RunResult {
            instances: instances(&nodes, &zone),
            created,
            resumed,
        })
    }

    fn query_instances(clusters: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        if fault() == "lost-query" {
            return Ok(Vec::new());
        }
        Ok(clusters
            .into_iter()
            .map(|c| ClusterInstances {
                instances: instances(&load(&c.cluster), &c.zone),
                cluster: c,
            })
            .collect())
    }

    fn stop_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        if fault() == "fake-stop" {
            return Ok(());
        }
        let mut nodes = load(&cluster.cluster);
        for node in &mut nodes {
            node.running = false;
        }
        save(&cluster.cluster, &nodes);
        Ok(())
    }

    fn terminate_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        let mut nodes = load(&cluster.cluster);
        if fault() == "leak" {
            // Deletes every node but the last one, which keeps running (and billing).
            let kept = nodes.pop();
            nodes = kept.into_iter().collect();
        } else {
            nodes.clear();
        }
        save(&cluster.cluster, &nodes);
        Ok(())
    }

    fn open_ports(_: ClusterRef, _: Vec<PortRange>) -> Result<(), ProviderError> {
        Ok(())
    }

    fn cleanup_ports(_: ClusterRef) -> Result<(), ProviderError> {
        Ok(())
    }

    fn offers(_region: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        let calls: u64 = kv::get("calls.offers")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        kv::set("calls.offers", &(calls + 1).to_string());
        let price = settings::all()
            .get("price")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0.001);
        Ok(vec![Offer {
            instance_type: "faulty-2cpu".into(),
            accelerator_name: None,
            accelerator_count: 0.0,
            vcpus: 2.0,
            memory_gib: 8.0,
            gpu_memory_mib: None,
            price: Some(price),
            spot_price: None,
            region: "f-1".into(),
            zone: Some("f-1-a".into()),
        }])
    }
}

aloft_provider_sdk::export_provider!(Faulty);

// Built as `tests/components/boxed`, it declares that its nodes are containers of
// its own image, which cannot run a task's container image.
#[cfg(feature = "no-container-images")]
aloft_provider_sdk::export_capabilities!(aloft_provider_sdk::manifest::Capabilities::empty());
