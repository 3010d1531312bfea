//! The local provider's bookkeeping, over a key-value store (the host's in the
//! component, a map in tests).

use std::collections::BTreeMap;

use aloft_provider_sdk::errors;
pub use aloft_provider_sdk::kv::{Host as HostKv, Store as Kv};
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Instance, InstanceStatus, Offer, PortRange, ProviderError,
    RunRequest, RunResult,
};
use serde::{Deserialize, Serialize};

/// The only region.
pub const REGION: &str = "local";
/// Its zones.
pub const ZONES: [&str; 3] = ["local-a", "local-b", "local-c"];
/// vCPUs of the instance types `local-<n>cpu`.
const SIZES: [u32; 4] = [1, 2, 4, 8];
/// Where node folders live unless the `root` setting says otherwise.
const DEFAULT_ROOT: &str = "/tmp/aloft-local";

/// One cluster's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cluster {
    zone: String,
    instance_type: String,
    spot: bool,
    nodes: Vec<Node>,
    ports: Vec<(u16, u16)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Node {
    id: String,
    running: bool,
}

/// Fails with an auth error when the `fail_auth` setting is on.
pub fn check_auth(settings: &BTreeMap<String, String>) -> Result<(), ProviderError> {
    if settings.get("fail_auth").is_some_and(|v| v == "true") {
        return Err(errors::auth(
            "LocalAuth",
            "fail_auth is set for the local provider",
        ));
    }
    Ok(())
}

/// Offers: every size in every zone, free.
pub fn offers() -> Vec<Offer> {
    let mut out = Vec::new();
    for zone in ZONES {
        for n in SIZES {
            out.push(Offer {
                instance_type: format!("local-{n}cpu"),
                accelerator_name: None,
                accelerator_count: 0.0,
                vcpus: f64::from(n),
                memory_gib: f64::from(2 * n),
                gpu_memory_mib: None,
                price: Some(0.0),
                spot_price: Some(0.0),
                region: REGION.into(),
                zone: Some(zone.into()),
            });
        }
    }
    out
}

/// The books over a store, with the provider's settings.
pub struct Books<'a, K: Kv> {
    kv: &'a mut K,
    settings: BTreeMap<String, String>,
}

fn key(cluster: &str) -> String {
    format!("cluster/{cluster}")
}

fn list_setting(settings: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    settings
        .get(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

impl<'a, K: Kv> Books<'a, K> {
    /// Books over `kv`.
    pub fn new(kv: &'a mut K, settings: BTreeMap<String, String>) -> Self {
        Books { kv, settings }
    }

    fn load(&mut self, cluster: &str) -> Option<Cluster> {
        self.kv
            .get(&key(cluster))
            .and_then(|text| serde_json::from_str(&text).ok())
    }

    fn save(&mut self, name: &str, cluster: &Cluster) {
        if let Ok(text) = serde_json::to_string(cluster) {
            self.kv.set(&key(name), &text);
        }
    }

    fn instances(&self, name: &str, c: &Cluster, may_preempt: bool) -> Vec<Instance> {
        let root = self
            .settings
            .get("root")
            .cloned()
            .unwrap_or_else(|| DEFAULT_ROOT.to_string());
        let preempted = may_preempt
            && c.spot
            && list_setting(&self.settings, "preempt")
                .iter()
                .any(|p| p == name);
        c.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| Instance {
                id: n.id.clone(),
                is_head: i == 0,
                status: if preempted {
                    InstanceStatus::Preempted
                } else if n.running {
                    InstanceStatus::Running
                } else {
                    InstanceStatus::Stopped
                },
                instance_type: c.instance_type.clone(),
                zone: Some(c.zone.clone()),
                spot: c.spot,
                public_ip: Some("127.0.0.1".into()),
                private_ip: Some("127.0.0.1".into()),
                ssh_port: 22,
                ssh_user: None,
                extra: vec![("node_dir".into(), format!("{root}/{name}/{}", n.id))],
            })
            .collect()
    }

    /// Creates or resumes a cluster's nodes.
    pub fn run(&mut self, req: &RunRequest) -> Result<RunResult, ProviderError> {
        check_auth(&self.settings)?;
        if let Some(ms) = self
            .settings
            .get("run_delay_ms")
            .and_then(|v| v.parse().ok())
        {
            // A slow cloud, for tests of what happens while a call is in flight.
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let name = &req.cluster.cluster;
        let zone = req
            .cluster
            .zone
            .clone()
            .unwrap_or_else(|| ZONES[0].to_string());
        if req.cluster.region != REGION || !ZONES.contains(&zone.as_str()) {
            return Err(errors::unsupported(
                "UnknownZone",
                &format!("local has region `local` with zones {}", ZONES.join(", ")),
            ));
        }
        // `fail_capacity_attempts: N`: the first N launches fail for capacity,
        // whatever the zone (counted in the books), so a test can see a launch
        // succeed only after whole rounds of failures.
        let attempts_to_fail: u64 = self
            .settings
            .get("fail_capacity_attempts")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if attempts_to_fail > 0 {
            let failed: u64 = self
                .kv
                .get("failed_attempts")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if failed < attempts_to_fail {
                self.kv.set("failed_attempts", &(failed + 1).to_string());
                return Err(errors::in_zone(
                    errors::capacity(
                        "LocalCapacity",
                        &format!("no capacity left in {zone} (attempt {})", failed + 1),
                    ),
                    REGION,
                    Some(&zone),
                ));
            }
        }
        if list_setting(&self.settings, "fail_capacity_zones").contains(&zone) {
            return Err(errors::in_zone(
                errors::capacity("LocalCapacity", &format!("no capacity left in {zone}")),
                REGION,
                Some(&zone),
            ));
        }
        if self.settings.get("fail_quota").is_some_and(|v| v == "true") {
            return Err(errors::quota("LocalQuota", "fail_quota is set"));
        }
        if !SIZES
            .iter()
            .any(|n| req.instance_type == format!("local-{n}cpu"))
        {
            return Err(errors::unsupported(
                "UnknownInstanceType",
                &format!("no instance type `{}` on local", req.instance_type),
            ));
        }
        let mut cluster = match self.load(name) {
            Some(c) if c.instance_type != req.instance_type || c.zone != zone => {
                return Err(errors::invalid(
                    "ClusterExists",
                    &format!("cluster {name} exists as {} in {}", c.instance_type, c.zone),
                ));
            }
            Some(c) => c,
            None => Cluster {
                zone: zone.clone(),
                instance_type: req.instance_type.clone(),
                spot: req.use_spot,
                nodes: Vec::new(),
                ports: Vec::new(),
            },
        };
        let mut resumed = Vec::new();
        for node in cluster.nodes.iter_mut().filter(|n| !n.running) {
            node.running = true;
            resumed.push(node.id.clone());
        }
        let mut created = Vec::new();
        while cluster.nodes.len() < req.count as usize {
            let id = format!("local-{name}-{}", cluster.nodes.len());
            created.push(id.clone());
            cluster.nodes.push(Node { id, running: true });
        }
        cluster.ports = req.ports.iter().map(|p| (p.start, p.end)).collect();
        self.save(name, &cluster);
        Ok(RunResult {
            // Preemption (simulated) happens after a launch, never during it.
            instances: self.instances(name, &cluster, false),
            created,
            resumed,
        })
    }

    /// The instances of many clusters.
    pub fn query(&mut self, clusters: &[ClusterRef]) -> Vec<ClusterInstances> {
        clusters
            .iter()
            .map(|c| {
                let instances = self
                    .load(&c.cluster)
                    .map(|record| self.instances(&c.cluster, &record, true))
                    .unwrap_or_default();
                ClusterInstances {
                    cluster: c.clone(),
                    instances,
                }
            })
            .collect()
    }

    /// Stops every node.
    pub fn stop(&mut self, c: &ClusterRef) -> Result<(), ProviderError> {
        let Some(mut cluster) = self.load(&c.cluster) else {
            return Err(errors::invalid(
                "NoSuchCluster",
                &format!("no cluster {}", c.cluster),
            ));
        };
        for node in &mut cluster.nodes {
            node.running = false;
        }
        self.save(&c.cluster, &cluster);
        Ok(())
    }

    /// Forgets the cluster.
    pub fn terminate(&mut self, c: &ClusterRef) {
        self.kv.delete(&key(&c.cluster));
    }

    /// Records the ports.
    pub fn open_ports(&mut self, c: &ClusterRef, ports: &[PortRange]) -> Result<(), ProviderError> {
        let Some(mut cluster) = self.load(&c.cluster) else {
            return Ok(());
        };
        cluster.ports = ports.iter().map(|p| (p.start, p.end)).collect();
        self.save(&c.cluster, &cluster);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cluster: &str, zone: &str, count: u32) -> RunRequest {
        RunRequest {
            cluster: ClusterRef {
                cluster: cluster.into(),
                region: REGION.into(),
                zone: Some(zone.into()),
            },
            instance_type: "local-2cpu".into(),
            count,
            use_spot: true,
            disk_size_gib: None,
            image_id: None,
            ports: Vec::new(),
            labels: Vec::new(),
            ssh_public_key: None,
        }
    }

    #[test]
    fn run_is_idempotent_resumes_and_marks_one_head() {
        let mut kv = BTreeMap::new();
        let settings: BTreeMap<String, String> = [("root".to_string(), "/r".to_string())].into();
        let mut books = Books::new(&mut kv, settings.clone());
        let first = books.run(&req("c", "local-b", 2)).unwrap();
        assert_eq!(first.created, ["local-c-0", "local-c-1"]);
        assert_eq!(first.instances.iter().filter(|i| i.is_head).count(), 1);
        assert_eq!(first.instances[1].extra[0].1, "/r/c/local-c-1");
        let again = books.run(&req("c", "local-b", 2)).unwrap();
        assert!(again.created.is_empty() && again.resumed.is_empty());
        let cref = req("c", "local-b", 2).cluster;
        books.stop(&cref).unwrap();
        let q = books.query(std::slice::from_ref(&cref));
        assert!(
            q[0].instances
                .iter()
                .all(|i| i.status == InstanceStatus::Stopped)
        );
        let resumed = books.run(&req("c", "local-b", 3)).unwrap();
        assert_eq!(resumed.resumed.len(), 2);
        assert_eq!(resumed.created, ["local-c-2"]);
        books.terminate(&cref);
        assert!(books.query(&[cref])[0].instances.is_empty());
    }

    #[test]
    fn injected_failures_are_typed() {
        let mut kv = BTreeMap::new();
        let settings: BTreeMap<String, String> = [
            (
                "fail_capacity_zones".to_string(),
                "local-a, local-b".to_string(),
            ),
            ("preempt".to_string(), "c".to_string()),
        ]
        .into();
        let mut books = Books::new(&mut kv, settings);
        let err = books.run(&req("c", "local-a", 1)).unwrap_err();
        assert_eq!(err.code, "LocalCapacity");
        assert_eq!(err.zone.as_deref(), Some("local-a"));
        let ok = books.run(&req("c", "local-c", 1)).unwrap();
        assert_eq!(
            ok.instances[0].status,
            InstanceStatus::Running,
            "up at launch"
        );
        let later = books.query(&[req("c", "local-c", 1).cluster]);
        assert_eq!(later[0].instances[0].status, InstanceStatus::Preempted);
        let mut bad = req("d", "local-c", 1);
        bad.instance_type = "huge".into();
        assert_eq!(books.run(&bad).unwrap_err().code, "UnknownInstanceType");
    }
}
