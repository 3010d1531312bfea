//! hello-cloud: an example provider for a toy REST cloud, written by following
//! docs/provider-guide.md. Its API (at `https://api.hello-cloud.example`, or an
//! `endpoint` override) has `GET /v1/me`, `POST /v1/instances` (which puts the SSH
//! key it is given on the new node), `GET /v1/instances?cluster=NAME` and
//! `DELETE /v1/instances/ID`; it authenticates with a bearer token and has one
//! region, `hello-1`. `tests/fakes/hello_cloud.py` is a fake of it.

use aloft_provider_sdk::types::*;
use aloft_provider_sdk::{Provider, credentials, errors, http, json, kv};
use serde::{Deserialize, Serialize};

const API: &str = "https://api.hello-cloud.example";
const REGION: &str = "hello-1";

#[derive(Deserialize)]
struct Me {
    id: String,
}

/// A node as the API describes it: where to reach it over SSH, and as whom.
#[derive(Serialize, Deserialize)]
struct Node {
    id: String,
    ip: String,
    #[serde(default = "default_port")]
    ssh_port: u16,
    #[serde(default = "default_user")]
    ssh_user: String,
}

fn default_port() -> u16 {
    22
}

fn default_user() -> String {
    "hello".into()
}

struct HelloCloud;

fn token() -> Result<String, ProviderError> {
    credentials::get("HELLO_CLOUD_TOKEN")
        .ok_or_else(|| errors::auth("NoToken", "set HELLO_CLOUD_TOKEN"))
}

/// Maps the API's statuses to typed errors.
fn checked(response: http::Response) -> Result<http::Response, ProviderError> {
    match response.status {
        200..=299 => Ok(response),
        401 | 403 => Err(errors::auth("Unauthorized", &response.text())),
        409 => Err(errors::capacity("NoCapacity", &response.text())),
        429 | 500..=599 => Err(errors::transient("Busy", &response.text())),
        other => Err(errors::invalid("Unexpected", &format!("HTTP {other}"))),
    }
}

fn get(path: &str) -> Result<http::Response, ProviderError> {
    checked(
        http::Request::get(&format!("{API}{path}"))
            .header("authorization", &format!("Bearer {}", token()?))
            .send()?,
    )
}

fn instance(node: &Node, head: bool) -> Instance {
    Instance {
        id: node.id.clone(),
        is_head: head,
        status: InstanceStatus::Running,
        instance_type: "hello-small".into(),
        zone: None,
        spot: false,
        public_ip: Some(node.ip.clone()),
        private_ip: Some(node.ip.clone()),
        ssh_port: node.ssh_port,
        ssh_user: Some(node.ssh_user.clone()),
        extra: Vec::new(),
    }
}

impl Provider for HelloCloud {
    fn info() -> ProviderInfo {
        ProviderInfo {
            name: "hello-cloud".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A toy REST cloud (example provider)".into(),
            capabilities: Capabilities::MULTI_NODE,
            credentials: vec!["HELLO_CLOUD_TOKEN".into()],
            hosts: vec!["api.hello-cloud.example".into()],
        }
    }

    fn configure(_settings: Vec<Pair>) -> Result<(), ProviderError> {
        Ok(())
    }

    fn regions() -> Result<Vec<Region>, ProviderError> {
        Ok(vec![Region {
            name: REGION.into(),
            zones: Vec::new(),
        }])
    }

    fn check_credentials() -> Result<Identity, ProviderError> {
        let me: Me = get("/v1/me")?.json()?;
        Ok(Identity {
            account: me.id,
            details: Vec::new(),
        })
    }

    fn run_instances(req: RunRequest) -> Result<RunResult, ProviderError> {
        if req.cluster.region != REGION {
            return Err(errors::unsupported(
                "NoSuchRegion",
                &format!("hello-cloud has no region {}", req.cluster.region),
            ));
        }
        let key = format!("cluster/{}", req.cluster.cluster);
        let mut nodes: Vec<Node> = kv::get(&key)
            .and_then(|text| json::from_str(&text).ok())
            .unwrap_or_default();
        let mut created = Vec::new();
        while nodes.len() < req.count as usize {
            let response = checked(
                http::Request::post(&format!("{API}/v1/instances"))
                    .header("authorization", &format!("Bearer {}", token()?))
                    .json(&CreateRequest {
                        cluster: &req.cluster.cluster,
                        // The cloud puts this key on the node for its SSH user:
                        // aloft logs in with the matching private key.
                        ssh_public_key: req.ssh_public_key.as_deref(),
                        labels: &req.labels,
                    })?
                    .send()?,
            )?;
            let node: Node = response.json()?;
            created.push(node.id.clone());
            nodes.push(node);
        }
        if let Ok(text) = json::to_string(&nodes) {
            kv::set(&key, &text);
        }
        Ok(RunResult {
            instances: nodes
                .iter()
                .enumerate()
                .map(|(i, n)| instance(n, i == 0))
                .collect(),
            created,
            resumed: Vec::new(),
        })
    }

    fn query_instances(clusters: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        clusters
            .into_iter()
            .map(|c| {
                let nodes: Vec<Node> =
                    get(&format!("/v1/instances?cluster={}", c.cluster))?.json()?;
                Ok(ClusterInstances {
                    instances: nodes
                        .iter()
                        .enumerate()
                        .map(|(i, n)| instance(n, i == 0))
                        .collect(),
                    cluster: c,
                })
            })
            .collect()
    }

    fn stop_instances(_: ClusterRef) -> Result<(), ProviderError> {
        Err(errors::unsupported(
            "NoStop",
            "hello-cloud cannot stop instances",
        ))
    }

    fn terminate_instances(cluster: ClusterRef) -> Result<(), ProviderError> {
        // Ask the cloud, not only our own books: whatever it still lists for the
        // cluster is deleted (a node already gone answers 404, which is fine).
        let nodes: Vec<Node> =
            get(&format!("/v1/instances?cluster={}", cluster.cluster))?.json()?;
        for node in nodes {
            let response = http::Request::new("DELETE", &format!("{API}/v1/instances/{}", node.id))
                .header("authorization", &format!("Bearer {}", token()?))
                .send()?;
            if response.status != 404 {
                checked(response)?;
            }
        }
        kv::delete(&format!("cluster/{}", cluster.cluster));
        Ok(())
    }

    fn open_ports(_: ClusterRef, _: Vec<PortRange>) -> Result<(), ProviderError> {
        Err(errors::unsupported(
            "NoPorts",
            "hello-cloud has no firewall",
        ))
    }

    fn cleanup_ports(_: ClusterRef) -> Result<(), ProviderError> {
        Ok(())
    }

    fn offers(_: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        // hello-cloud has one instance type at one price: a fixed list is enough
        // for aloft's optimizer to compare it with other clouds.
        Ok(vec![Offer {
            instance_type: "hello-small".into(),
            accelerator_name: None,
            accelerator_count: 0.0,
            vcpus: 2.0,
            memory_gib: 4.0,
            gpu_memory_mib: None,
            price: Some(0.01),
            spot_price: None,
            region: REGION.into(),
            zone: None,
        }])
    }
}

#[derive(Serialize)]
struct CreateRequest<'a> {
    cluster: &'a str,
    ssh_public_key: Option<&'a str>,
    /// Shown as the node's tags in the cloud's console.
    labels: &'a [(String, String)],
}

aloft_provider_sdk::export_provider!(HelloCloud);
