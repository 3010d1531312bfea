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
    ClusterInstances, ClusterRef, ErrorKind, Instance, InstanceStatus, PluginError,
    ProviderInstance, RunRequest, RunResult,
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
    /// When it did not: what was expected and what the provider answered, in
    /// words (empty when it passed).
    pub detail: String,
}

/// Every check of a run, in order; the run stops at the first failed one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The test cluster's region.
    pub region: String,
    /// Its zone, if any.
    pub zone: Option<String>,
    /// Its nodes' instance type.
    pub instance_type: String,
    /// The checks that ran.
    pub checks: Vec<Check>,
    /// Whether a `run-instances` was sent for the test cluster (it may have
    /// created nodes even when it failed, so the kit terminates the cluster).
    #[serde(skip)]
    launched: bool,
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

    /// Records a check; `detail` says what was expected and what came instead
    /// (asked only when the check failed).
    fn check(&mut self, name: &str, ok: bool, detail: impl FnOnce() -> String) -> bool {
        self.checks.push(Check {
            name: name.to_string(),
            passed: ok,
            detail: if ok { String::new() } else { detail() },
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
                    detail: format!("expected it to succeed; the provider answered: {err}"),
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

/// `a, b` or `none`.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// `3 node(s): i-1 (head, running), i-2 (running)`, or `no nodes`.
fn nodes(instances: &[Instance]) -> String {
    if instances.is_empty() {
        return "no nodes".into();
    }
    let each: Vec<String> = instances
        .iter()
        .map(|i| {
            let status = serde_json::to_value(i.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{:?}", i.status));
            if i.is_head {
                format!("{} (head, {status})", i.id)
            } else {
                format!("{} ({status})", i.id)
            }
        })
        .collect();
    format!("{} node(s): {}", instances.len(), each.join(", "))
}

/// What a run answered, in words.
fn run_result(result: &RunResult) -> String {
    format!(
        "{}; created: {}; resumed: {}",
        nodes(&result.instances),
        list(&result.created),
        list(&result.resumed)
    )
}

/// What a query answered for `cluster`, in words.
fn query_answer(answer: &[ClusterInstances], cluster: &str) -> String {
    let mine: Vec<&ClusterInstances> = answer
        .iter()
        .filter(|c| c.cluster.cluster == cluster)
        .collect();
    if mine.is_empty() {
        let named: Vec<String> = answer.iter().map(|c| c.cluster.cluster.clone()).collect();
        return format!(
            "the answer does not list cluster `{cluster}` (it lists: {})",
            list(&named)
        );
    }
    let all: Vec<Instance> = mine.iter().flat_map(|c| c.instances.clone()).collect();
    format!("cluster `{cluster}` has {}", nodes(&all))
}

/// Terminates `cluster` after a failed check, as a `cleanup: ...` entry.
async fn clean_up(p: &mut ProviderInstance, cluster: &ClusterRef, name: &str) -> Check {
    let answer = p.terminate_instances(cluster).await;
    Check {
        name: name.to_string(),
        passed: answer.is_ok(),
        detail: match answer {
            Ok(()) => String::new(),
            Err(err) => format!(
                "terminating test cluster `{}` failed; delete its nodes by hand: {err}",
                cluster.cluster
            ),
        },
    }
}

/// Runs the lifecycle and reports every check (the run stops at the first failure).
/// When a check fails after the test cluster was asked for, and before the
/// lifecycle's own terminate, the cluster is terminated anyway (reported as a last
/// `cleanup` entry), so a failed run does not leave the author's test nodes running
/// on their cloud.
pub async fn run(p: &mut ProviderInstance, o: &ConformanceOptions) -> Report {
    let mut r = Report {
        region: o.region.clone(),
        zone: o.zone.clone(),
        instance_type: o.instance_type.clone(),
        ..Report::default()
    };
    let _ = lifecycle(p, o, &mut r).await;
    let terminated = r.checks.iter().any(|c| c.name == "terminate");
    if !r.passed() && r.launched && !terminated {
        let check = clean_up(p, &cluster_ref(o), "cleanup: terminate after the failure").await;
        r.checks.push(check);
    }
    r
}

async fn lifecycle(p: &mut ProviderInstance, o: &ConformanceOptions, r: &mut Report) -> Option<()> {
    let manifest = r.call("info", p.info().await)?;
    r.check("info answers the manifest", true, String::new);
    r.call("check-credentials", p.check_credentials().await)?;
    r.check(
        "check-credentials accepts the credentials",
        true,
        String::new,
    );
    let cref = cluster_ref(o);
    r.launched = true;
    let first = r.call("run(2)", p.run_instances(&request(o, 2)).await)?;
    r.check("run(2) creates two nodes", first.created.len() == 2, || {
        format!(
            "expected 2 nodes created for a new cluster; the provider answered {}",
            run_result(&first)
        )
    })
    .then_some(())?;
    let heads = first.instances.iter().filter(|i| i.is_head).count();
    r.check("exactly one head", heads == 1, || {
        format!(
            "expected exactly one node marked head; {heads} are, of {}",
            nodes(&first.instances)
        )
    })
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
        || {
            format!(
                "expected the 2 nodes, each running or pending; {}",
                query_answer(&q, &o.cluster)
            )
        },
    )
    .then_some(())?;
    r.check(
        "batched query answers an unknown cluster with no instances",
        q.iter()
            .filter(|c| c.cluster.cluster == other.cluster)
            .all(|c| c.instances.is_empty()),
        || {
            format!(
                "expected no nodes for a cluster nobody created; {}",
                query_answer(&q, &other.cluster)
            )
        },
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
        || {
            format!(
                "expected the same 2 nodes with nothing created or resumed; the provider \
                 answered {}",
                run_result(&again)
            )
        },
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
            || {
                format!(
                    "expected every node stopped or stopping; {}",
                    query_answer(&q, &o.cluster)
                )
            },
        )
        .then_some(())?;
        let resumed = r.call("run after stop", p.run_instances(&request(o, 2)).await)?;
        r.check(
            "run after stop resumes both, creates none",
            resumed.created.is_empty() && resumed.resumed.len() == 2,
            || {
                format!(
                    "expected both stopped nodes resumed and none created; the provider \
                     answered {}",
                    run_result(&resumed)
                )
            },
        )
        .then_some(())?;
    } else {
        let stop = p.stop_instances(&cref).await;
        r.check(
            "stop answers `unsupported` (the manifest does not declare stop-start)",
            matches!(&stop, Err(PluginError::Provider { error, .. }) if error.kind == ErrorKind::Unsupported),
            || match &stop {
                Ok(()) => "expected an `unsupported` error, since the manifest does not declare \
                           stop-start; the provider answered success (declare stop-start, or \
                           refuse to stop)"
                    .to_string(),
                Err(err) => format!("expected an `unsupported` error; the provider answered: {err}"),
            },
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
        || {
            format!(
                "expected no node left (or only terminating ones): terminate must delete on \
                 the cloud; {}",
                query_answer(&q, &o.cluster)
            )
        },
    )
    .then_some(())
}

/// Checks that `run-instances` answers a typed `capacity` error where the author
/// made the cloud refuse capacity. A launch that succeeds instead is terminated at
/// once (it may be billed); the check's detail says so.
pub async fn expect_capacity_error(p: &mut ProviderInstance, o: &ConformanceOptions) -> Check {
    let mut checks = capacity_checks(p, o).await;
    let mut check = checks.remove(0);
    if let Some(cleanup) = checks.first() {
        check.detail.push_str(&if cleanup.passed {
            "; the test cluster it created was terminated".to_string()
        } else {
            format!("; {}", cleanup.detail)
        });
    }
    check
}

/// [`expect_capacity_error`] as report entries: the check, then, when the launch
/// unexpectedly succeeded, a `cleanup` entry for terminating what it created.
pub async fn capacity_checks(p: &mut ProviderInstance, o: &ConformanceOptions) -> Vec<Check> {
    let zone = o.zone.as_deref().unwrap_or("(no zone)");
    let answer = p.run_instances(&request(o, 1)).await;
    let passed = matches!(&answer, Err(PluginError::Provider { error, .. }) if error.kind == ErrorKind::Capacity);
    let detail = match &answer {
        _ if passed => String::new(),
        Ok(result) => format!(
            "expected run-instances in zone {zone}, where capacity is refused, to fail with \
             a `capacity` error; it succeeded instead: {}",
            run_result(result)
        ),
        Err(PluginError::Provider { error, .. }) => format!(
            "expected a `capacity` error in zone {zone}; the provider answered `{error}` \
             instead, which aloft would not treat as a full zone"
        ),
        Err(err) => format!("expected a `capacity` error in zone {zone}; the call failed: {err}"),
    };
    let mut checks = vec![Check {
        name: "a refused launch is a typed `capacity` error".into(),
        passed,
        detail,
    }];
    if answer.is_ok() {
        checks.push(
            clean_up(
                p,
                &cluster_ref(o),
                "cleanup: terminate after the unexpected launch",
            )
            .await,
        );
    }
    checks
}
