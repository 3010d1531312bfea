//! Which pool hosts belong to which cluster, kept in the provider's key-value store:
//! `host/<pool>/<ip:port>` names the cluster holding a host, `cluster/<name>` lists
//! a cluster's hosts (head first).

use std::collections::BTreeMap;

use aloft_provider_sdk::errors;
use aloft_provider_sdk::kv::Store;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Instance, InstanceStatus, ProviderError, RunRequest, RunResult,
};
use serde::{Deserialize, Serialize};

use crate::pools::{Host, Pools, instance_type};

/// A cluster's allocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Allocation {
    pool: String,
    /// Host ids, head first.
    hosts: Vec<String>,
}

fn cluster_key(name: &str) -> String {
    format!("cluster/{name}")
}

fn host_key(pool: &str, id: &str) -> String {
    format!("host/{pool}/{id}")
}

/// The books over a store, for the pools as configured now.
pub struct Books<'a, S: Store> {
    kv: &'a mut S,
    pools: &'a Pools,
}

impl<'a, S: Store> Books<'a, S> {
    /// Books over `kv`.
    pub fn new(kv: &'a mut S, pools: &'a Pools) -> Self {
        Books { kv, pools }
    }

    fn load(&mut self, cluster: &str) -> Option<Allocation> {
        self.kv
            .get(&cluster_key(cluster))
            .and_then(|text| serde_json::from_str(&text).ok())
    }

    /// Allocates `count` hosts of the pool named by the request's region (reusing
    /// the cluster's hosts when it exists).
    pub fn run(&mut self, req: &RunRequest) -> Result<RunResult, ProviderError> {
        let name = &req.cluster.cluster;
        let pool_name = &req.cluster.region;
        let pool = self.pools.get(pool_name).ok_or_else(|| {
            errors::unsupported(
                "UnknownPool",
                &format!(
                    "no node pool `{pool_name}` in ssh_node_pools.yaml (pools: {})",
                    self.pools.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        if req.instance_type != instance_type(pool_name) {
            return Err(errors::unsupported(
                "UnknownInstanceType",
                &format!(
                    "pool `{pool_name}` offers `{}`, not `{}`",
                    instance_type(pool_name),
                    req.instance_type
                ),
            ));
        }
        if req.use_spot {
            return Err(errors::unsupported(
                "NoSpot",
                "node pools have no spot instances",
            ));
        }
        let mut allocation = match self.load(name) {
            Some(a) if &a.pool != pool_name => {
                return Err(errors::invalid(
                    "ClusterExists",
                    &format!("cluster {name} already holds hosts of pool `{}`", a.pool),
                ));
            }
            Some(a) => a,
            None => Allocation {
                pool: pool_name.clone(),
                hosts: Vec::new(),
            },
        };
        let hosts = pool.resolved_hosts();
        let missing = (req.count as usize).saturating_sub(allocation.hosts.len());
        let free: Vec<Host> = hosts
            .iter()
            .filter(|h| self.kv.get(&host_key(pool_name, &h.id())).is_none())
            .take(missing)
            .cloned()
            .collect();
        if free.len() < missing {
            return Err(errors::in_zone(
                errors::capacity(
                    "PoolExhausted",
                    &format!(
                        "pool `{pool_name}` has {} free host(s) of {}; the cluster needs {missing} more",
                        free.len(),
                        hosts.len()
                    ),
                ),
                pool_name,
                None,
            ));
        }
        let mut created = Vec::new();
        for host in &free {
            self.kv.set(&host_key(pool_name, &host.id()), name);
            allocation.hosts.push(host.id());
            created.push(host.id());
        }
        if let Ok(text) = serde_json::to_string(&allocation) {
            self.kv.set(&cluster_key(name), &text);
        }
        Ok(RunResult {
            instances: self.instances(&allocation),
            created,
            resumed: Vec::new(),
        })
    }

    fn instances(&self, allocation: &Allocation) -> Vec<Instance> {
        let hosts = self
            .pools
            .get(&allocation.pool)
            .map(|p| p.resolved_hosts())
            .unwrap_or_default();
        allocation
            .hosts
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let host = hosts.iter().find(|h| &h.id() == id);
                let ip = host.map(|h| h.ip.clone());
                Instance {
                    id: id.clone(),
                    is_head: i == 0,
                    // A host taken out of the pool's file is no longer ours to use.
                    status: if host.is_some() {
                        InstanceStatus::Running
                    } else {
                        InstanceStatus::Unknown
                    },
                    instance_type: instance_type(&allocation.pool),
                    zone: None,
                    spot: false,
                    public_ip: ip.clone(),
                    private_ip: ip,
                    ssh_port: host.map(|h| h.port).unwrap_or(22),
                    ssh_user: host.map(|h| h.user.clone()),
                    extra: host
                        .and_then(|h| h.identity_file.clone())
                        .map(|f| vec![("identity_file".to_string(), f)])
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The clusters' hosts; an unknown cluster has none.
    pub fn query(&mut self, clusters: &[ClusterRef]) -> Vec<ClusterInstances> {
        clusters
            .iter()
            .map(|c| ClusterInstances {
                cluster: c.clone(),
                instances: self
                    .load(&c.cluster)
                    .map(|a| self.instances(&a))
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Gives a cluster's hosts back to their pool.
    pub fn release(&mut self, cluster: &ClusterRef) {
        if let Some(allocation) = self.load(&cluster.cluster) {
            for id in &allocation.hosts {
                self.kv.delete(&host_key(&allocation.pool, id));
            }
        }
        self.kv.delete(&cluster_key(&cluster.cluster));
    }

    /// `(host id, cluster)` for every allocated host of `pool`.
    pub fn allocated(&mut self, pool: &str) -> BTreeMap<String, String> {
        let prefix = host_key(pool, "");
        self.kv
            .keys(&prefix)
            .into_iter()
            .filter_map(|k| {
                let cluster = self.kv.get(&k)?;
                Some((k[prefix.len()..].to_string(), cluster))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools() -> Pools {
        serde_json::from_str(
            r#"{"lab": {"user": "me", "identity_file": "/k", "hosts": ["10.0.0.1", {"ip": "10.0.0.2", "port": 2222, "user": "other"}, "10.0.0.3"]}}"#,
        )
        .unwrap()
    }

    fn request(cluster: &str, count: u32) -> RunRequest {
        RunRequest {
            cluster: ClusterRef {
                cluster: cluster.into(),
                region: "lab".into(),
                zone: None,
            },
            instance_type: "lab-node".into(),
            count,
            use_spot: false,
            disk_size_gib: None,
            image_id: None,
            ports: Vec::new(),
            labels: Vec::new(),
            ssh_public_key: None,
        }
    }

    #[test]
    fn allocates_free_hosts_and_releases_them() {
        let pools = pools();
        let mut kv = BTreeMap::new();
        let mut books = Books::new(&mut kv, &pools);
        let a = books.run(&request("a", 2)).unwrap();
        assert_eq!(a.created, vec!["10.0.0.1:22", "10.0.0.2:2222"]);
        assert!(a.instances[0].is_head && !a.instances[1].is_head);
        assert_eq!(a.instances[1].ssh_user.as_deref(), Some("other"));
        assert_eq!(a.instances[1].ssh_port, 2222);
        assert_eq!(
            a.instances[0].extra,
            vec![("identity_file".into(), "/k".into())]
        );
        // Idempotent: the same request creates nothing.
        let again = books.run(&request("a", 2)).unwrap();
        assert!(again.created.is_empty());
        assert_eq!(again.instances.len(), 2);
        // Only one host is left: a second 2-node cluster gets a capacity error.
        let err = books.run(&request("b", 2)).unwrap_err();
        assert_eq!(err.code, "PoolExhausted");
        assert_eq!(err.region.as_deref(), Some("lab"));
        assert_eq!(books.allocated("lab").len(), 2);
        books.release(&request("a", 2).cluster);
        assert!(books.allocated("lab").is_empty());
        let b = books.run(&request("b", 3)).unwrap();
        assert_eq!(b.created.len(), 3);
    }

    #[test]
    fn unknown_pools_and_types_are_refused() {
        let pools = pools();
        let mut kv = BTreeMap::new();
        let mut books = Books::new(&mut kv, &pools);
        let mut req = request("a", 1);
        req.cluster.region = "nope".into();
        assert_eq!(books.run(&req).unwrap_err().code, "UnknownPool");
        let mut req = request("a", 1);
        req.instance_type = "m5.large".into();
        assert_eq!(books.run(&req).unwrap_err().code, "UnknownInstanceType");
        assert!(kv.is_empty(), "a refused request must not allocate");
    }

    #[test]
    fn a_host_removed_from_the_file_is_reported_unknown() {
        let pools = pools();
        let mut kv = BTreeMap::new();
        Books::new(&mut kv, &pools).run(&request("a", 1)).unwrap();
        let fewer: Pools = serde_json::from_str(r#"{"lab": {"hosts": ["10.0.0.3"]}}"#).unwrap();
        let found = Books::new(&mut kv, &fewer).query(&[request("a", 1).cluster]);
        assert_eq!(found[0].instances[0].status, InstanceStatus::Unknown);
    }
}
