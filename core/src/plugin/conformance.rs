//! The provider conformance kit: takes a provider instance through the lifecycle
//! every provider must support and reports each check by name, so an author can
//! run it against their component and their cloud's API with nothing but the
//! `aloft` binary (`aloft providers test PATH.wasm`).
//!
//! ```text
//! credentials -> run(2) (2 nodes, one head) -> batched query (2 running; an unknown
//! cluster answered empty) -> run(2) again (nothing created) -> stop -> query
//! (stopped) -> run(2) (both resumed) [stop/start only when the manifest declares
//! it; otherwise stop must answer `unsupported`] -> terminate -> query (nothing left)
//! ```

use serde::Serialize;

use super::{
    ClusterRef, ErrorKind, InstanceStatus, PluginError, ProviderInstance, RunRequest, RunResult,
};

/// Where to run the lifecycle.
#[derive(Debug, Clone)]
pub struct ConformanceOptions {
    /// A cluster name the provider does not know yet.
    pub cluster: String,
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: Option<String>,
    /// Instance type.
    pub instance_type: String,
}

/// One check and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether the provider kept the contract.
    pub passed: bool,
    /// What the provider answered when it did not (empty when it passed).
    pub detail: String,
}

/// Every check of a run, in order; the run stops at the first failed one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The checks that ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// The first failed check, if any.
    pub fn failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.passed)
    }

    fn check(&mut self, name: &str, ok: bool, detail: impl std::fmt::Debug) -> bool {
        self.checks.push(Check {
            name: name.to_string(),
            passed: ok,
            detail: if ok {
                String::new()
            } else {
                format!("{detail:?}")
            },
        });
        ok
    }

    fn call<T>(&mut self, name: &str, result: Result<T, PluginError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.checks.push(Check {
                    name: name.to_string(),
                    passed: false,
                    detail: err.to_string(),
                });
                None
            }
        }
    }
}

fn request(o: &ConformanceOptions, count: u32) -> RunRequest {
    RunRequest {
        cluster: cluster_ref(o),
        instance_type: o.instance_type.clone(),
        count,
        use_spot: false,
        disk_size_gib: None,
        image_id: None,
        ports: Vec::new(),
        labels: vec![("aloft-conformance".into(), "1".into())],
        ssh_public_key: None,
    }
}

fn cluster_ref(o: &ConformanceOptions) -> ClusterRef {
    ClusterRef {
        cluster: o.cluster.clone(),
        region: o.region.clone(),
        zone: o.zone.clone(),
    }
}

fn ids(result: &RunResult) -> Vec<&str> {
    result.instances.iter().map(|i| i.id.as_str()).collect()
}

/// Runs the lifecycle and reports every check (the run stops at the first failure).
/// When a check fails before the lifecycle's own terminate, the test cluster is
/// terminated anyway (best effort, reported as a last `cleanup` entry), so a failed
/// run does not leave the author's test nodes running on their cloud.
pub async fn run(p: &mut ProviderInstance, o: &ConformanceOptions) -> Report {
    let mut r = Report::default();
    let _ = lifecycle(p, o, &mut r).await;
    let terminated = r.checks.iter().any(|c| c.name == "terminate");
    let created = r
        .checks
        .iter()
        .any(|c| c.name.starts_with("run(2) creates"));
    if !r.passed() && created && !terminated {
        let answer = p.terminate_instances(&cluster_ref(o)).await;
        r.checks.push(Check {
            name: "cleanup: terminate after the failure".into(),
            passed: answer.is_ok(),
            detail: match answer {
                Ok(()) => String::new(),
                Err(err) => err.to_string(),
            },
        });
    }
    r
}

async fn lifecycle(p: &mut ProviderInstance, o: &ConformanceOptions, r: &mut Report) -> Option<()> {
    let manifest = r.call("info", p.info().await)?;
    r.check("info answers the manifest", true, ());
    r.call("check-credentials", p.check_credentials().await)?;
    r.check("check-credentials accepts the credentials", true, ());
    let cref = cluster_ref(o);
    let first = r.call("run(2)", p.run_instances(&request(o, 2)).await)?;
    r.check("run(2) creates two nodes", first.created.len() == 2, &first)
        .then_some(())?;
    r.check(
        "exactly one head",
        first.instances.iter().filter(|i| i.is_head).count() == 1,
        &first.instances,
    )
    .then_some(())?;
    let other = ClusterRef {
        cluster: format!("{}-absent", o.cluster),
        ..cref.clone()
    };
    let q = r.call(
        "batched query",
        p.query_instances(&[cref.clone(), other.clone()]).await,
    )?;
    let mine = q.iter().find(|c| c.cluster.cluster == o.cluster);
    r.check(
        "query after run: both nodes running or pending",
        mine.is_some_and(|c| {
            c.instances.len() == 2
                && c.instances
                    .iter()
                    .all(|i| matches!(i.status, InstanceStatus::Running | InstanceStatus::Pending))
        }),
        &q,
    )
    .then_some(())?;
    r.check(
        "batched query answers an unknown cluster with no instances",
        q.iter()
            .filter(|c| c.cluster.cluster == other.cluster)
            .all(|c| c.instances.is_empty()),
        &q,
    )
    .then_some(())?;
    let again = r.call("run(2) again", p.run_instances(&request(o, 2)).await)?;
    r.check(
        "run is idempotent (nothing created or resumed, same nodes)",
        again.created.is_empty() && again.resumed.is_empty() && {
            let (mut a, mut b) = (ids(&first), ids(&again));
            a.sort_unstable();
            b.sort_unstable();
            a == b
        },
        &again,
    )
    .then_some(())?;
    if manifest.capabilities.stop_start {
        r.call("stop", p.stop_instances(&cref).await)?;
        let q = r.call(
            "query after stop",
            p.query_instances(std::slice::from_ref(&cref)).await,
        )?;
        r.check(
            "query after stop: every node stopped",
            q.first().is_some_and(|c| {
                !c.instances.is_empty()
                    && c.instances.iter().all(|i| {
                        matches!(i.status, InstanceStatus::Stopped | InstanceStatus::Stopping)
                    })
            }),
            &q,
        )
        .then_some(())?;
        let resumed = r.call("run after stop", p.run_instances(&request(o, 2)).await)?;
        r.check(
            "run after stop resumes both, creates none",
            resumed.created.is_empty() && resumed.resumed.len() == 2,
            &resumed,
        )
        .then_some(())?;
    } else {
        let stop = p.stop_instances(&cref).await;
        r.check(
            "stop answers `unsupported` (the manifest does not declare stop-start)",
            matches!(&stop, Err(PluginError::Provider { error, .. }) if error.kind == ErrorKind::Unsupported),
            &stop,
        )
        .then_some(())?;
    }
    r.call("terminate", p.terminate_instances(&cref).await)?;
    let q = r.call(
        "query after terminate",
        p.query_instances(std::slice::from_ref(&cref)).await,
    )?;
    r.check(
        "query after terminate: nothing left",
        q.iter()
            .filter(|c| c.cluster.cluster == o.cluster)
            .flat_map(|c| &c.instances)
            .all(|i| {
                matches!(
                    i.status,
                    InstanceStatus::Terminated | InstanceStatus::Terminating
                )
            }),
        &q,
    )
    .then_some(())
}

/// Checks that `run-instances` answers a typed `capacity` error where the author
/// made the cloud refuse capacity.
pub async fn expect_capacity_error(p: &mut ProviderInstance, o: &ConformanceOptions) -> Check {
    let answer = p.run_instances(&request(o, 1)).await;
    let passed = matches!(&answer, Err(PluginError::Provider { error, .. }) if error.kind == ErrorKind::Capacity);
    Check {
        name: "a refused launch is a typed `capacity` error".into(),
        passed,
        detail: if passed {
            String::new()
        } else {
            format!("{answer:?}")
        },
    }
}
