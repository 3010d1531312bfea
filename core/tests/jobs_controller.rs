//! The managed-jobs controller against a scripted in-memory backend.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aloft::jobs::{
    CancelTarget, ClusterRef, Controller, ControllerSettings, JobBackend, JobEventKind, JobId,
    JobOutputs, JobProbe, JobsDb, LaunchConstraints, LaunchError, LaunchRequest, LaunchRetry,
    Launched, Location, ManagedJob, ManagedJobStatus, NewJob, Reconciled, TaskRun, TeardownError,
};
use aloft::task::{Overrides, TaskChain};

/// One launch the backend saw.
#[derive(Debug, Clone)]
struct LaunchRecord {
    cluster: String,
    task_index: u32,
    constraints: LaunchConstraints,
    landed: Option<Location>,
    task_id: Option<String>,
}

struct Live {
    location: Location,
    script: VecDeque<JobProbe>,
    /// Which launch (1-based) made it: what its job "prints".
    launch: usize,
}

#[derive(Default)]
struct State {
    /// Results of the next launches (front first); empty means success.
    launch_results: VecDeque<Result<(), LaunchError>>,
    /// What each successful launch's job does, poll by poll (the last repeats).
    runs: VecDeque<Vec<JobProbe>>,
    live: HashMap<String, Live>,
    launches: Vec<LaunchRecord>,
    teardowns: Vec<String>,
    /// "launch <cluster>" / "teardown <cluster>" in call order.
    ops: Vec<String>,
    /// How many clusters each `poll_many` call asked about.
    poll_batches: Vec<usize>,
}

/// A cloud with three regions, scripted failures and job behaviours.
struct ScriptedBackend {
    regions: Vec<Location>,
    launch_delay: Duration,
    state: Mutex<State>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Every teardown fails while set.
    fail_teardowns: AtomicBool,
}

impl ScriptedBackend {
    fn new(launch_delay: Duration) -> Arc<ScriptedBackend> {
        Arc::new(ScriptedBackend {
            regions: ["us-east-1", "us-west-2", "eu-west-1"]
                .into_iter()
                .map(|r| Location::new("aws", r))
                .collect(),
            launch_delay,
            state: Mutex::new(State::default()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            fail_teardowns: AtomicBool::new(false),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("backend state")
    }

    fn script_runs(&self, runs: Vec<Vec<JobProbe>>) {
        self.state().runs.extend(runs);
    }

    fn script_launches(&self, results: Vec<Result<(), LaunchError>>) {
        self.state().launch_results.extend(results);
    }

    fn launches(&self) -> Vec<LaunchRecord> {
        self.state().launches.clone()
    }
}

impl JobBackend for ScriptedBackend {
    fn launch(&self, req: &LaunchRequest) -> Result<Launched, LaunchError> {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(n, Ordering::SeqCst);
        std::thread::sleep(self.launch_delay);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut st = self.state();
        st.ops.push(format!("launch {}", req.cluster));
        let mut record = LaunchRecord {
            cluster: req.cluster.clone(),
            task_index: req.task_index,
            constraints: req.constraints.clone(),
            landed: None,
            task_id: req.envs.get("SKYPILOT_TASK_ID").cloned(),
        };
        let scripted = st.launch_results.pop_front().unwrap_or(Ok(()));
        let place = self.regions.iter().find(|r| {
            !req.constraints.blocked.contains(r)
                && req.constraints.pinned.as_ref().is_none_or(|p| p == *r)
        });
        let result = match (scripted, place) {
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(LaunchError::NoResources("no region left".into())),
            (Ok(()), Some(loc)) => {
                let script = st.runs.pop_front().unwrap_or(vec![JobProbe::Succeeded]);
                let launch = st.launches.len() + 1;
                st.live.insert(
                    req.cluster.clone(),
                    Live {
                        location: loc.clone(),
                        script: script.into(),
                        launch,
                    },
                );
                record.landed = Some(loc.clone());
                Ok(Launched {
                    location: loc.clone(),
                    cluster_job_id: Some(1),
                })
            }
        };
        st.launches.push(record);
        result
    }

    fn poll(&self, cluster: &ClusterRef) -> JobProbe {
        let mut st = self.state();
        let Some(live) = st.live.get_mut(&cluster.cluster) else {
            return JobProbe::ClusterGone;
        };
        let probe = if live.script.len() > 1 {
            live.script.pop_front()
        } else {
            live.script.front().cloned()
        }
        .unwrap_or(JobProbe::Running);
        if probe == JobProbe::ClusterGone {
            st.live.remove(&cluster.cluster);
        }
        probe
    }

    fn poll_many(&self, clusters: &[ClusterRef]) -> Vec<JobProbe> {
        self.state().poll_batches.push(clusters.len());
        clusters.iter().map(|c| self.poll(c)).collect()
    }

    fn save_output(
        &self,
        cluster: &ClusterRef,
        out: &mut dyn std::io::Write,
    ) -> Result<(), String> {
        let st = self.state();
        let live = st.live.get(&cluster.cluster).ok_or("cluster gone")?;
        writeln!(out, "{} launch {}", cluster.cluster, live.launch).map_err(|e| e.to_string())
    }

    fn teardown(&self, cluster: &ClusterRef) -> Result<(), TeardownError> {
        if self.fail_teardowns.load(Ordering::SeqCst) {
            return Err(TeardownError {
                cluster: cluster.cluster.clone(),
                message: "cloud API down".into(),
            });
        }
        let mut st = self.state();
        st.ops.push(format!("teardown {}", cluster.cluster));
        st.teardowns.push(cluster.cluster.clone());
        st.live.remove(&cluster.cluster);
        Ok(())
    }

    fn reconcile(&self, cluster: &ClusterRef) -> Reconciled {
        let st = self.state();
        match st.live.get(&cluster.cluster) {
            Some(live) => Reconciled::Alive {
                launched: Launched {
                    location: live.location.clone(),
                    cluster_job_id: Some(1),
                },
                probe: live.script.front().cloned().unwrap_or(JobProbe::Running),
            },
            None => Reconciled::Absent,
        }
    }
}

fn settings() -> ControllerSettings {
    ControllerSettings {
        poll_interval: Duration::from_millis(20),
        scan_interval: Duration::from_millis(10),
        max_concurrent_launches: 4,
        launch_retry: LaunchRetry {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            max_attempts: 4,
        },
        idle_exit_after: Duration::from_millis(50),
        max_unreachable_polls: 3,
        teardown_attempts: 2,
        max_driver_errors: 3,
    }
}

fn job(yaml: &str) -> NewJob {
    let chain =
        TaskChain::from_yaml_str(yaml, "job.yaml", &Overrides::default()).expect("valid task");
    NewJob::from_chain(&chain, None).expect("valid recovery")
}

fn spot(recovery: &str) -> NewJob {
    job(&format!(
        "name: train\nresources:\n  infra: aws\n  use_spot: true\n{recovery}run: python train.py\n"
    ))
}

fn submit(path: &Path, j: &NewJob) -> JobId {
    JobsDb::open(path)
        .expect("open")
        .submit(j)
        .expect("submit")
        .id
}

fn get(path: &Path, id: JobId) -> ManagedJob {
    JobsDb::open(path)
        .expect("open")
        .get(id)
        .expect("get")
        .expect("job exists")
}

fn event_kinds(path: &Path, id: JobId) -> Vec<JobEventKind> {
    JobsDb::open(path)
        .expect("open")
        .events(id)
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Runs a controller until it goes idle (with a safety timeout).
async fn run_to_idle(path: &Path, backend: &Arc<ScriptedBackend>, s: ControllerSettings) {
    let ctl = Controller::open(path, Arc::clone(backend), s).expect("controller");
    tokio::time::timeout(Duration::from_secs(20), ctl.run())
        .await
        .expect("controller went idle in time")
        .expect("controller ran cleanly");
}

/// Waits until the job satisfies `pred`.
async fn wait_until(path: &Path, id: JobId, what: &str, pred: impl Fn(&ManagedJob) -> bool) {
    let start = Instant::now();
    loop {
        let j = get(path, id);
        if pred(&j) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}; job is {:?}",
            j.status
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the controller kept of the output of task `task`'s run after
/// `restarts` restarts on error.
fn kept(path: &Path, id: JobId, task: u32, restarts: u32) -> Option<String> {
    let run = TaskRun {
        task,
        recoveries: 0,
        restarts,
    };
    let mut out = Vec::new();
    JobOutputs::beside(path)
        .copy(id, run, 0, &mut out)
        .expect("readable")
        .then(|| String::from_utf8(out).expect("utf-8"))
}

fn gone(cluster_alive: &ScriptedBackend) -> bool {
    cluster_alive.state().live.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_next_region_relaunches_elsewhere_after_preemption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_runs(vec![
        vec![JobProbe::Running, JobProbe::Running, JobProbe::ClusterGone],
        vec![JobProbe::Running, JobProbe::Succeeded],
    ]);
    let id = submit(&path, &spot(""));
    run_to_idle(&path, &backend, settings()).await;

    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Succeeded);
    assert_eq!(j.recovery_count, 1);
    assert_eq!(j.restarts_on_errors, 0);
    assert!(j.ended_at.is_some() && j.started_at.is_some());
    let l = backend.launches();
    assert_eq!(l.len(), 2);
    let east = Location::new("aws", "us-east-1");
    assert_eq!(l[0].landed, Some(east.clone()));
    assert!(l[0].constraints.is_unconstrained());
    assert_eq!(l[1].constraints.blocked, vec![east.clone()]);
    assert_eq!(l[1].landed, Some(Location::new("aws", "us-west-2")));
    // the same cluster name and SKYPILOT_TASK_ID across the recovery
    assert_eq!(l[0].cluster, l[1].cluster);
    assert_eq!(l[0].task_id, Some(j.task_id_for(0)));
    assert_eq!(l[0].task_id, l[1].task_id);
    assert!(gone(&backend), "every cluster is torn down at the end");
    let events = JobsDb::open(&path)
        .expect("open")
        .events(id)
        .expect("events");
    let preempted = events
        .iter()
        .find(|e| e.kind == JobEventKind::Preempted)
        .expect("a preemption event");
    assert_eq!(preempted.location, Some(east));
    assert!(events.iter().any(|e| e.kind == JobEventKind::Launched
        && e.location == Some(Location::new("aws", "us-west-2"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_next_region_does_not_block_a_pinned_region() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_runs(vec![vec![JobProbe::ClusterGone], vec![JobProbe::Succeeded]]);
    let id = submit(
        &path,
        &job("resources:\n  infra: aws/us-east-1\n  use_spot: true\nrun: x\n"),
    );
    run_to_idle(&path, &backend, settings()).await;
    assert_eq!(get(&path, id).status, ManagedJobStatus::Succeeded);
    let l = backend.launches();
    assert_eq!(l.len(), 2);
    assert!(
        l[1].constraints.is_unconstrained(),
        "{:?}",
        l[1].constraints
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_tries_the_same_region_first_then_anywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    // run 1 is preempted; run 2 (same region) succeeds, then the second job's
    // same-region attempt finds no capacity and it goes anywhere.
    backend.script_runs(vec![
        vec![JobProbe::Running, JobProbe::ClusterGone],
        vec![JobProbe::Succeeded],
    ]);
    let id = submit(&path, &spot("  job_recovery: FAILOVER\n"));
    run_to_idle(&path, &backend, settings()).await;
    assert_eq!(get(&path, id).status, ManagedJobStatus::Succeeded);
    let east = Location::new("aws", "us-east-1");
    let l = backend.launches();
    assert_eq!(l.len(), 2);
    assert_eq!(l[1].constraints.pinned, Some(east.clone()));
    assert_eq!(l[1].landed, Some(east.clone()));

    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_runs(vec![vec![JobProbe::ClusterGone], vec![JobProbe::Succeeded]]);
    backend.script_launches(vec![
        Ok(()),
        Err(LaunchError::NoResources("us-east-1 is full".into())),
    ]);
    let id = submit(&path, &spot("  job_recovery: FAILOVER\n"));
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Succeeded);
    assert_eq!(j.recovery_count, 1);
    let l = backend.launches();
    assert_eq!(l.len(), 3);
    assert_eq!(l[1].constraints.pinned, Some(east));
    assert!(l[1].landed.is_none());
    assert!(l[2].constraints.is_unconstrained());
    assert!(event_kinds(&path, id).contains(&JobEventKind::LaunchFailed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_on_errors_until_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    let fail = || JobProbe::Failed {
        exit_codes: vec![1],
        in_setup: false,
    };
    backend.script_runs(vec![vec![fail()], vec![fail()], vec![JobProbe::Succeeded]]);
    let id = submit(
        &path,
        &spot("  job_recovery:\n    max_restarts_on_errors: 2\n"),
    );
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Succeeded);
    assert_eq!(j.restarts_on_errors, 2);
    assert_eq!(j.recovery_count, 0);
    assert_eq!(backend.launches().len(), 3);
    assert!(gone(&backend));
    // Each run's output was kept before its cluster went.
    let cluster = &backend.launches()[2].cluster;
    assert_eq!(kept(&path, id, 0, 0), Some(format!("{cluster} launch 1\n")));
    assert_eq!(kept(&path, id, 0, 2), Some(format!("{cluster} launch 3\n")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_job_fails_after_three_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    let fail = || {
        vec![JobProbe::Failed {
            exit_codes: vec![1],
            in_setup: false,
        }]
    };
    backend.script_runs(vec![fail(), fail(), fail(), fail(), fail()]);
    let id = submit(
        &path,
        &spot("  job_recovery:\n    max_restarts_on_errors: 2\n"),
    );
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Failed);
    assert_eq!(j.restarts_on_errors, 2);
    assert_eq!(backend.launches().len(), 3);
    let reason = j.failure_reason.unwrap_or_default();
    assert!(reason.contains("exit code 1"), "{reason}");
    let events = JobsDb::open(&path)
        .expect("open")
        .events(id)
        .expect("events");
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e.kind == JobEventKind::JobFailed)
        .collect();
    assert_eq!(failures.len(), 3);
    assert!(failures.iter().all(|e| e.exit_codes == vec![1]));
    assert!(gone(&backend));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_on_exit_codes_restarts_without_counting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    let code = |c| {
        vec![JobProbe::Failed {
            exit_codes: vec![c],
            in_setup: false,
        }]
    };
    backend.script_runs(vec![
        code(33),
        code(33),
        code(33),
        vec![JobProbe::Succeeded],
    ]);
    let id = submit(
        &path,
        &spot("  job_recovery:\n    recover_on_exit_codes: 33\n"),
    );
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Succeeded);
    assert_eq!(j.restarts_on_errors, 0);
    assert_eq!(backend.launches().len(), 4);

    // another code, or a setup failure, ends the job
    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_runs(vec![code(34)]);
    let id = submit(
        &path,
        &spot("  job_recovery:\n    recover_on_exit_codes: 33\n"),
    );
    run_to_idle(&path, &backend, settings()).await;
    assert_eq!(get(&path, id).status, ManagedJobStatus::Failed);

    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_runs(vec![vec![JobProbe::Failed {
        exit_codes: vec![2],
        in_setup: true,
    }]]);
    let id = submit(&path, &spot(""));
    run_to_idle(&path, &backend, settings()).await;
    assert_eq!(get(&path, id).status, ManagedJobStatus::FailedSetup);
    assert_eq!(backend.launches().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_failures_back_off_then_fail_no_resource() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_launches(
        (0..10)
            .map(|_| Err(LaunchError::NoResources("sold out".into())))
            .collect(),
    );
    let id = submit(&path, &spot(""));
    let start = Instant::now();
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::FailedNoResource);
    assert_eq!(backend.launches().len(), 4, "max_attempts launches");
    // backoffs 10 + 20 + 20 ms
    assert!(start.elapsed() >= Duration::from_millis(50));
    // whatever a failed launch left behind is torn down
    assert_eq!(backend.state().teardowns.len(), 4);

    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_launches(vec![Err(LaunchError::Precheck("no credentials".into()))]);
    let id = submit(&path, &spot(""));
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::FailedPrechecks);
    assert!(
        j.failure_reason
            .unwrap_or_default()
            .contains("no credentials"),
        "reason names the cause"
    );
    assert_eq!(backend.launches().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_counts_as_gone_after_several_polls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    let u = || JobProbe::Unreachable("timeout".into());
    backend.script_runs(vec![
        vec![JobProbe::Running, u(), JobProbe::Running, u(), u(), u()],
        vec![JobProbe::Succeeded],
    ]);
    let id = submit(&path, &spot(""));
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Succeeded);
    assert_eq!(j.recovery_count, 1);
    assert_eq!(backend.launches().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_starting_tears_down_what_launched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::from_millis(300));
    backend.script_runs(vec![vec![JobProbe::Running]]);
    let id = submit(&path, &spot(""));
    let ctl = Controller::open(&path, Arc::clone(&backend), settings()).expect("controller");
    let run = tokio::spawn(async move { ctl.run().await });
    wait_until(&path, id, "STARTING", |j| {
        j.status == ManagedJobStatus::Starting
    })
    .await;
    let db = JobsDb::open(&path).expect("open");
    assert_eq!(
        db.request_cancel(&CancelTarget::Ids(vec![id]))
            .expect("cancel"),
        vec![id]
    );
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("idle in time")
        .expect("join")
        .expect("run");
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Cancelled);
    assert_eq!(backend.launches().len(), 1);
    let cluster = j.cluster_name.expect("cluster recorded before the launch");
    assert!(backend.state().teardowns.contains(&cluster));
    assert!(
        gone(&backend),
        "the cluster launched during the cancel is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_recovering_tears_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::from_millis(200));
    backend.script_runs(vec![
        vec![JobProbe::Running, JobProbe::ClusterGone],
        vec![JobProbe::Running],
    ]);
    let id = submit(&path, &spot(""));
    let ctl = Controller::open(&path, Arc::clone(&backend), settings()).expect("controller");
    let run = tokio::spawn(async move { ctl.run().await });
    wait_until(&path, id, "RECOVERING", |j| {
        j.status == ManagedJobStatus::Recovering
    })
    .await;
    JobsDb::open(&path)
        .expect("open")
        .request_cancel(&CancelTarget::All)
        .expect("cancel");
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("idle in time")
        .expect("join")
        .expect("run");
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Cancelled);
    assert!(gone(&backend));
    assert!(backend.launches().len() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_running_tears_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_runs(vec![vec![JobProbe::Running]]);
    let id = submit(&path, &spot(""));
    let ctl = Controller::open(&path, Arc::clone(&backend), settings()).expect("controller");
    let run = tokio::spawn(async move { ctl.run().await });
    wait_until(&path, id, "RUNNING", |j| {
        j.status == ManagedJobStatus::Running
    })
    .await;
    JobsDb::open(&path)
        .expect("open")
        .request_cancel(&CancelTarget::Name("train".into()))
        .expect("cancel");
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("idle in time")
        .expect("join")
        .expect("run");
    assert_eq!(get(&path, id).status, ManagedJobStatus::Cancelled);
    assert!(gone(&backend));
    let cluster = &backend.launches()[0].cluster;
    assert_eq!(kept(&path, id, 0, 0), Some(format!("{cluster} launch 1\n")));
    assert_eq!(
        event_kinds(&path, id).last(),
        Some(&JobEventKind::Ended),
        "the log ends with the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_controller_adopts_a_running_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    let mut run = vec![JobProbe::Running; 15];
    run.push(JobProbe::Succeeded);
    backend.script_runs(vec![run]);
    let id = submit(&path, &spot(""));
    let ctl = Controller::open(&path, Arc::clone(&backend), settings()).expect("controller");
    let first = tokio::spawn(async move { ctl.run().await });
    wait_until(&path, id, "RUNNING", |j| {
        j.status == ManagedJobStatus::Running
    })
    .await;
    // kill the controller mid-run
    first.abort();
    assert!(first.await.is_err_and(|e| e.is_cancelled()));
    assert_eq!(get(&path, id).status, ManagedJobStatus::Running);

    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Succeeded);
    assert_eq!(
        backend.launches().len(),
        1,
        "no second cluster for a running job"
    );
    assert!(event_kinds(&path, id).contains(&JobEventKind::Resumed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_controller_adopts_a_launch_that_finished_meanwhile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::from_millis(150));
    backend.script_runs(vec![vec![JobProbe::Running, JobProbe::Succeeded]]);
    let id = submit(&path, &spot(""));
    let ctl = Controller::open(&path, Arc::clone(&backend), settings()).expect("controller");
    let first = tokio::spawn(async move { ctl.run().await });
    wait_until(&path, id, "STARTING", |j| {
        j.status == ManagedJobStatus::Starting
    })
    .await;
    first.abort();
    let _ = first.await;
    // the launch already on the blocking pool completes without a controller
    let start = Instant::now();
    while backend.launches().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "launch finished");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(get(&path, id).status, ManagedJobStatus::Starting);

    run_to_idle(&path, &backend, settings()).await;
    assert_eq!(get(&path, id).status, ManagedJobStatus::Succeeded);
    assert_eq!(backend.launches().len(), 1, "the cluster was adopted");
    assert!(gone(&backend));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_controller_relaunches_when_the_cluster_never_came_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    let id = submit(&path, &spot(""));
    // as if a controller died right after recording the launch
    let db = JobsDb::open(&path).expect("open");
    let cluster = get(&path, id).cluster_name_for(0);
    db.update_active(id, |j| {
        j.status = ManagedJobStatus::Starting;
        j.cluster_name = Some(cluster.clone());
    })
    .expect("update")
    .expect("active");
    run_to_idle(&path, &backend, settings()).await;
    assert_eq!(get(&path, id).status, ManagedJobStatus::Succeeded);
    let st = backend.state();
    assert_eq!(st.launches.len(), 1);
    // the leftover is torn down before the new launch
    assert_eq!(st.ops.first(), Some(&format!("teardown {cluster}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_runs_its_tasks_in_order_on_their_own_clusters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_runs(vec![
        vec![JobProbe::Running, JobProbe::Succeeded],
        vec![JobProbe::Succeeded],
    ]);
    let pipeline = job(
        "name: pipe\n---\nname: prep\nrun: echo prep\n---\nname: train\nresources:\n  use_spot: true\nrun: echo train\n",
    );
    assert_eq!(pipeline.tasks.len(), 2);
    let id = submit(&path, &pipeline);
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Succeeded);
    assert_eq!(j.task_index, 1);
    {
        let st = backend.state();
        let c0 = format!("pipe-{id}-0");
        let c1 = format!("pipe-{id}-1");
        assert_eq!(
            st.ops,
            vec![
                format!("launch {c0}"),
                format!("teardown {c0}"),
                format!("launch {c1}"),
                format!("teardown {c1}"),
            ]
        );
        assert_eq!(st.launches[0].task_index, 0);
        assert_eq!(st.launches[1].task_index, 1);
        assert_ne!(st.launches[0].task_id, st.launches[1].task_id);
        // Each task's output was kept before its cluster was torn down.
        assert_eq!(kept(&path, id, 0, 0), Some(format!("{c0} launch 1\n")));
        assert_eq!(kept(&path, id, 1, 0), Some(format!("{c1} launch 2\n")));
    }
    assert!(event_kinds(&path, id).contains(&JobEventKind::TaskSucceeded));

    // a failing first task ends the pipeline
    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.script_runs(vec![vec![JobProbe::Failed {
        exit_codes: vec![1],
        in_setup: false,
    }]]);
    let id = submit(&path, &pipeline);
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Failed);
    assert_eq!(j.task_index, 0);
    assert_eq!(backend.launches().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launches_in_flight_stay_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::from_millis(60));
    let ids: Vec<JobId> = (0..6).map(|_| submit(&path, &spot(""))).collect();
    let mut s = settings();
    s.max_concurrent_launches = 2;
    run_to_idle(&path, &backend, s).await;
    for id in ids {
        assert_eq!(get(&path, id).status, ManagedJobStatus::Succeeded);
    }
    assert_eq!(backend.launches().len(), 6);
    assert_eq!(
        backend.max_in_flight.load(Ordering::SeqCst),
        2,
        "the bound is reached and never exceeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_teardown_stays_pending_and_the_next_controller_retries_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    backend.fail_teardowns.store(true, Ordering::SeqCst);
    let id = submit(&path, &spot(""));
    run_to_idle(&path, &backend, settings()).await;
    let j = get(&path, id);
    assert_eq!(j.status, ManagedJobStatus::Succeeded);
    let cluster = j.cluster_name.clone().expect("cluster");
    assert_eq!(j.teardown_pending, Some(cluster.clone()));
    assert!(!gone(&backend), "the cluster is still up");
    let failures = event_kinds(&path, id)
        .into_iter()
        .filter(|k| *k == JobEventKind::TeardownFailed)
        .count();
    assert_eq!(failures, 2, "teardown_attempts tries");

    backend.fail_teardowns.store(false, Ordering::SeqCst);
    run_to_idle(&path, &backend, settings()).await;
    assert!(gone(&backend));
    assert_eq!(get(&path, id).teardown_pending, None);
    assert_eq!(backend.launches().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poll_round_asks_about_every_running_job_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let backend = ScriptedBackend::new(Duration::ZERO);
    // Ten polls each: however the six launches spread over the first rounds,
    // their runs overlap for several rounds.
    let mut run = vec![JobProbe::Running; 9];
    run.push(JobProbe::Succeeded);
    backend.script_runs(vec![run; 6]);
    let ids: Vec<JobId> = (0..6).map(|_| submit(&path, &spot(""))).collect();
    run_to_idle(&path, &backend, settings()).await;
    for id in ids {
        assert_eq!(get(&path, id).status, ManagedJobStatus::Succeeded);
    }
    let batches = backend.state().poll_batches.clone();
    // Each job was polled ten times; the six ran together, so rounds asked about
    // all six in one call rather than one call per job.
    assert_eq!(batches.iter().sum::<usize>(), 60, "{batches:?}");
    assert!(batches.contains(&6), "{batches:?}");
    assert!(batches.len() < 60, "{batches:?}");
}
