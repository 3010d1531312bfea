//! [`Controller`]: the async loop that manages every unfinished managed job.
//!
//! One driver task per job walks it through its statuses; a semaphore bounds the
//! launches in flight across jobs. Each driver step reads the job from the
//! database, writes what it is about to do, calls the backend, and writes the
//! outcome, so a controller killed anywhere can be started again on the same
//! file: the first step for a job that was mid-flight is `reconcile`, never a
//! second launch.
//!
//! Cluster teardowns are two-phase: a transition away from a cluster records it in
//! `teardown_pending` in the same write, and the driver tears it down and clears the
//! field at the top of its next step.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit, oneshot};
use tokio::task::JoinSet;

use super::JobsError;
use super::backend::{ClusterRef, JobBackend, JobProbe, LaunchError, LaunchRequest, Reconciled};
use super::db::JobsDb;
use super::output::{JobOutputs, TaskRun};
use super::record::{JobEvent, JobEventKind, JobId, ManagedJob, now};
use super::recovery::{Decision, LaunchRetry, Observation, RelaunchReason, decide, plan_launch};
use super::status::ManagedJobStatus;

/// How the controller paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSettings {
    /// How often each running job is polled (a preemption is acted on within one
    /// interval). Also the granularity at which waits notice a cancel.
    pub poll_interval: Duration,
    /// How often the database is scanned for newly submitted jobs.
    pub scan_interval: Duration,
    /// Launches in flight at once, across all jobs (at least 1).
    pub max_concurrent_launches: usize,
    /// Back-off and limit of failed launches.
    pub launch_retry: LaunchRetry,
    /// The controller returns after this long without unfinished jobs.
    pub idle_exit_after: Duration,
    /// Consecutive [`JobProbe::Unreachable`] polls before the cluster counts as
    /// gone.
    pub max_unreachable_polls: u32,
    /// Tries per teardown before it is recorded as failed (and left pending).
    pub teardown_attempts: u32,
    /// Consecutive driver errors (database, backend panics) on one job before it is
    /// ended `FAILED_CONTROLLER`.
    pub max_driver_errors: u32,
}

impl Default for ControllerSettings {
    fn default() -> Self {
        ControllerSettings {
            poll_interval: Duration::from_secs(5),
            scan_interval: Duration::from_secs(2),
            max_concurrent_launches: 4,
            launch_retry: LaunchRetry::default(),
            idle_exit_after: Duration::from_secs(60),
            max_unreachable_polls: 3,
            teardown_attempts: 3,
            max_driver_errors: 3,
        }
    }
}

/// The managed-jobs controller; see the [`jobs`](crate::jobs) module for how it
/// works.
pub struct Controller<B: JobBackend> {
    inner: Arc<Inner<B>>,
}

struct Inner<B: JobBackend> {
    db: Mutex<JobsDb>,
    outputs: JobOutputs,
    backend: Arc<B>,
    settings: ControllerSettings,
    launches: Semaphore,
    /// Running jobs waiting for the next poll round: where each runs, and where
    /// its answer goes. One round polls them all in one backend call.
    watching: Mutex<HashMap<JobId, (ClusterRef, oneshot::Sender<JobProbe>)>>,
}

impl<B: JobBackend> Controller<B> {
    /// A controller over the jobs database at `db_path` (opened, and migrated if
    /// needed, now).
    pub fn open(
        db_path: &Path,
        backend: Arc<B>,
        settings: ControllerSettings,
    ) -> Result<Controller<B>, JobsError> {
        let db = JobsDb::open(db_path)?;
        let launches = Semaphore::new(settings.max_concurrent_launches.max(1));
        Ok(Controller {
            inner: Arc::new(Inner {
                db: Mutex::new(db),
                outputs: JobOutputs::beside(db_path),
                backend,
                settings,
                launches,
                watching: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Manages every unfinished job (also those submitted while it runs) until
    /// none is left for `idle_exit_after`. Dropping the returned future stops all
    /// drivers at their next await point; backend calls already running finish on
    /// their own and a later controller reconciles their clusters.
    pub async fn run(&self) -> Result<(), JobsError> {
        let inner = &self.inner;
        for (id, cluster) in inner.db(|db| db.pending_teardowns())? {
            // A job ended but a previous controller died before its teardown.
            if let Some(job) = inner.db(|db| db.get(id))?
                && inner.teardown(&job, &cluster).await?
            {
                inner.db(|db| db.clear_teardown(id, &cluster))?;
            }
        }
        // Aborted when `run` returns or is dropped, as the drivers are.
        let mut poller = JoinSet::new();
        poller.spawn(Arc::clone(inner).poll_rounds());
        let mut drivers: JoinSet<(JobId, Result<(), JobsError>)> = JoinSet::new();
        let mut task_ids: HashMap<tokio::task::Id, JobId> = HashMap::new();
        let mut active: HashSet<JobId> = HashSet::new();
        let mut errors: HashMap<JobId, u32> = HashMap::new();
        let mut idle_since: Option<Instant> = None;
        loop {
            for id in inner.db(|db| db.unfinished_ids())? {
                if active.insert(id) {
                    let driver = Arc::clone(inner);
                    let handle = drivers.spawn(async move { (id, driver.drive(id).await) });
                    task_ids.insert(handle.id(), id);
                }
            }
            if active.is_empty() {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= inner.settings.idle_exit_after {
                    return Ok(());
                }
            } else {
                idle_since = None;
            }
            let sleep = tokio::time::sleep(inner.settings.scan_interval);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    Some(done) = drivers.join_next_with_id() => {
                        let (id, result) = match done {
                            Ok((tid, (id, r))) => {
                                task_ids.remove(&tid);
                                (id, r)
                            }
                            Err(e) => {
                                let id = task_ids.remove(&e.id());
                                let Some(id) = id else { continue };
                                (id, Err(JobsError::Backend(format!("job driver panicked: {e}"))))
                            }
                        };
                        active.remove(&id);
                        match result {
                            Ok(()) => {
                                errors.remove(&id);
                            }
                            Err(e) => inner.driver_failed(id, &e, &mut errors),
                        }
                    }
                }
            }
        }
    }
}

/// What a wait ended with.
enum Waited {
    /// The time passed (or the permit came) and the job is still active.
    Ready,
    /// The job was cancelled or ended meanwhile.
    Changed,
}

impl<B: JobBackend> Inner<B> {
    fn lock(&self) -> MutexGuard<'_, JobsDb> {
        // A panic while holding the lock leaves no half-written state (SQLite
        // transactions roll back), so the connection is still good.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db<T>(&self, f: impl FnOnce(&JobsDb) -> Result<T, JobsError>) -> Result<T, JobsError> {
        f(&self.lock())
    }

    fn event(&self, id: JobId, e: JobEvent) -> Result<(), JobsError> {
        tracing::info!(job = id, kind = %e.kind, "{}", e.message);
        self.db(|db| db.add_event(id, &e))
    }

    fn driver_failed(&self, id: JobId, e: &JobsError, errors: &mut HashMap<JobId, u32>) {
        let n = errors.entry(id).or_insert(0);
        *n += 1;
        tracing::error!(job = id, attempt = *n, "managing the job failed: {e}");
        let ev = JobEvent::new(JobEventKind::ControllerError, 0, e.to_string());
        // Best effort: the database may be what failed.
        let _ = self.db(|db| db.add_event(id, &ev));
        if *n >= self.settings.max_driver_errors {
            let _ = self.db(|db| db.fail_controller(id, &e.to_string()));
        }
        // Otherwise the next scan starts a new driver, which reconciles first.
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&B) -> T + Send + 'static,
    ) -> Result<T, JobsError> {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || f(&backend))
            .await
            .map_err(|e| JobsError::Backend(format!("backend call panicked: {e}")))
    }

    fn get(&self, id: JobId) -> Result<Option<ManagedJob>, JobsError> {
        self.db(|db| db.get(id))
    }

    fn is_active(&self, id: JobId) -> Result<bool, JobsError> {
        Ok(self
            .get(id)?
            .is_some_and(|j| !j.status.is_terminal() && j.status != ManagedJobStatus::Cancelling))
    }

    /// Sleeps `d`, waking every poll interval to notice a cancel.
    async fn wait(&self, id: JobId, d: Duration) -> Result<Waited, JobsError> {
        let until = Instant::now() + d;
        loop {
            if !self.is_active(id)? {
                return Ok(Waited::Changed);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Waited::Ready);
            }
            tokio::time::sleep(left.min(self.settings.poll_interval)).await;
        }
    }

    async fn launch_permit(&self, id: JobId) -> Result<Option<SemaphorePermit<'_>>, JobsError> {
        loop {
            tokio::select! {
                permit = self.launches.acquire() => {
                    // The semaphore is never closed.
                    return Ok(permit.ok());
                }
                _ = tokio::time::sleep(self.settings.poll_interval) => {
                    if !self.is_active(id)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Keeps what the job's current task printed on its cluster before the cluster
    /// goes; a failure is logged and the job goes on (its output is then lost with
    /// the cluster, as before).
    async fn keep_output(&self, job: &ManagedJob) -> Result<(), JobsError> {
        if job.cluster_job_id.is_none() {
            return Ok(());
        }
        let target = cluster_ref(job);
        let outputs = self.outputs.clone();
        let (id, run) = (job.id, TaskRun::of(job));
        let saved = self
            .blocking(move |b| outputs.save(id, run, |out| b.save_output(&target, out)))
            .await?;
        if let Err(e) = saved {
            tracing::warn!(job = id, "the output of {run:?} was not kept: {e}");
        }
        Ok(())
    }

    /// Tears `cluster` down, retrying; false when every try failed.
    async fn teardown(&self, job: &ManagedJob, cluster: &str) -> Result<bool, JobsError> {
        let target = ClusterRef {
            job_id: job.id,
            task_index: job.task_index,
            cluster: cluster.to_string(),
            cluster_job_id: job.cluster_job_id,
            location: job.location.clone(),
        };
        let attempts = self.settings.teardown_attempts.max(1);
        for attempt in 1..=attempts {
            let t = target.clone();
            match self.blocking(move |b| b.teardown(&t)).await? {
                Ok(()) => {
                    let ev = JobEvent::new(
                        JobEventKind::TornDown,
                        job.task_index,
                        format!("cluster `{cluster}` torn down"),
                    );
                    self.event(job.id, ev)?;
                    return Ok(true);
                }
                Err(e) => {
                    let ev = JobEvent::new(
                        JobEventKind::TeardownFailed,
                        job.task_index,
                        format!("{e} (try {attempt} of {attempts})"),
                    );
                    self.event(job.id, ev)?;
                    if attempt < attempts {
                        tokio::time::sleep(self.settings.poll_interval).await;
                    }
                }
            }
        }
        Ok(false)
    }

    /// Walks one job to a terminal status.
    async fn drive(self: Arc<Self>, id: JobId) -> Result<(), JobsError> {
        // This driver did not launch what the job may hold: reconcile before acting.
        let mut resumed = true;
        // Teardowns that failed in this driver are not retried on every step; the
        // next controller start retries those of finished jobs.
        let mut given_up: HashSet<String> = HashSet::new();
        loop {
            let Some(job) = self.get(id)? else {
                return Ok(());
            };
            if let Some(cluster) = job.teardown_pending.clone()
                && !given_up.contains(&cluster)
            {
                if self.teardown(&job, &cluster).await? {
                    self.db(|db| db.clear_teardown(id, &cluster))?;
                } else {
                    given_up.insert(cluster);
                }
                continue;
            }
            match job.status {
                s if s.is_terminal() => return Ok(()),
                ManagedJobStatus::Cancelling => {
                    self.keep_output(&job).await?;
                    let mut leftover = None;
                    if let Some(cluster) = &job.cluster_name
                        && !self.teardown(&job, cluster).await?
                    {
                        leftover = Some(cluster.clone());
                    }
                    self.db(|db| db.finish_cancel(id, leftover.as_deref()))?;
                    let ev = JobEvent::new(JobEventKind::Ended, job.task_index, "CANCELLED");
                    self.event(id, ev)?;
                    return Ok(());
                }
                ManagedJobStatus::Pending => self.launch_step(job).await?,
                ManagedJobStatus::Starting | ManagedJobStatus::Recovering if resumed => {
                    self.resume_launching(job).await?
                }
                ManagedJobStatus::Starting | ManagedJobStatus::Recovering => {
                    self.launch_step(job).await?
                }
                ManagedJobStatus::Running if resumed => self.resume_running(job).await?,
                ManagedJobStatus::Running => self.watch(job).await?,
                // Every other status is terminal, handled above.
                _ => return Ok(()),
            }
            resumed = false;
        }
    }

    /// One launch attempt of the current task (after the back-off the plan asks
    /// for), or the end of the job when the attempts are used up.
    async fn launch_step(&self, job: ManagedJob) -> Result<(), JobsError> {
        let id = job.id;
        let Some(task) = job.current_task().cloned() else {
            let reason = format!("task index {} out of range", job.task_index);
            self.db(|db| db.fail_controller(id, &reason))?;
            return Ok(());
        };
        let retry = &self.settings.launch_retry;
        let plan = plan_launch(
            task.policy.strategy,
            job.recovering_from.as_ref(),
            task.region_pinned,
            job.launch_attempts,
            retry,
        );
        let Some(plan) = plan else {
            let reason = format!(
                "no resources found after {} launch attempt(s)",
                job.launch_attempts
            );
            return self
                .end(&job, ManagedJobStatus::FailedNoResource, reason, None)
                .await;
        };
        if !plan.delay.is_zero() && matches!(self.wait(id, plan.delay).await?, Waited::Changed) {
            return Ok(());
        }
        let Some(permit) = self.launch_permit(id).await? else {
            return Ok(());
        };
        let cluster = job.cluster_name_for(job.task_index);
        let status = if job.status == ManagedJobStatus::Recovering {
            ManagedJobStatus::Recovering
        } else {
            ManagedJobStatus::Starting
        };
        let c = cluster.clone();
        let Some(job) = self.db(|db| {
            db.update_active(id, |j| {
                j.status = status;
                j.cluster_name = Some(c);
                j.location = None;
                j.cluster_job_id = None;
            })
        })?
        else {
            return Ok(());
        };
        let ev = JobEvent::new(
            JobEventKind::LaunchAttempt,
            job.task_index,
            format!(
                "launching `{cluster}` (attempt {}), {}",
                job.launch_attempts + 1,
                plan.constraints
            ),
        );
        self.event(id, ev)?;
        let req = LaunchRequest {
            job_id: id,
            task_index: job.task_index,
            spec_yaml: job.spec_yaml.clone(),
            cluster: cluster.clone(),
            constraints: plan.constraints,
            envs: task_envs(&job),
        };
        let result = self.blocking(move |b| b.launch(&req)).await?;
        drop(permit);
        match result {
            Ok(launched) => {
                let l = launched.clone();
                let updated = self.db(|db| {
                    db.update_active(id, |j| {
                        j.status = ManagedJobStatus::Running;
                        j.location = Some(l.location);
                        j.cluster_job_id = l.cluster_job_id;
                        j.launch_attempts = 0;
                        j.recovering_from = None;
                        j.started_at.get_or_insert_with(now);
                    })
                })?;
                let note = if updated.is_some() {
                    ""
                } else {
                    " (cancel requested meanwhile)"
                };
                let ev = JobEvent::new(
                    JobEventKind::Launched,
                    job.task_index,
                    format!("`{cluster}` launched in {}{note}", launched.location),
                )
                .at_location(Some(launched.location));
                self.event(id, ev)
            }
            Err(LaunchError::Precheck(msg)) => {
                let reason = format!("cannot launch: {msg}");
                self.end(
                    &job,
                    ManagedJobStatus::FailedPrechecks,
                    reason,
                    Some(cluster),
                )
                .await
            }
            Err(e) => {
                let c = cluster.clone();
                self.db(|db| {
                    db.update_active(id, |j| {
                        j.launch_attempts += 1;
                        j.teardown_pending = Some(c);
                    })
                })?;
                let ev = JobEvent::new(JobEventKind::LaunchFailed, job.task_index, e.to_string());
                self.event(id, ev)
            }
        }
    }

    /// Polls a running job until something other than "running" is seen (or the
    /// job is cancelled).
    async fn watch(&self, job: ManagedJob) -> Result<(), JobsError> {
        let id = job.id;
        let mut unreachable = 0u32;
        let mut target = cluster_ref(&job);
        loop {
            let (tx, rx) = oneshot::channel();
            self.watching().insert(id, (target, tx));
            // The next poll round answers for every running job at once.
            let probe = rx.await.map_err(|_| {
                JobsError::Backend("the poll rounds stopped while a job waited".into())
            })?;
            // The job may have moved on (a cancel) while it was polled.
            let Some(job) = self.get(id)? else {
                return Ok(());
            };
            if job.status != ManagedJobStatus::Running {
                return Ok(());
            }
            target = cluster_ref(&job);
            match probe {
                JobProbe::Running => unreachable = 0,
                JobProbe::Unreachable(msg) => {
                    unreachable += 1;
                    tracing::warn!(job = id, "cluster unreachable ({unreachable}): {msg}");
                    if unreachable >= self.settings.max_unreachable_polls.max(1) {
                        return self.on_probe(&job, JobProbe::ClusterGone).await;
                    }
                }
                probe => return self.on_probe(&job, probe).await,
            }
        }
    }

    fn watching(&self) -> MutexGuard<'_, HashMap<JobId, (ClusterRef, oneshot::Sender<JobProbe>)>> {
        // Plain data: a panic while it was held leaves it usable.
        self.watching.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every poll interval, polls all the jobs waiting in [`Inner::watch`] with one
    /// [`JobBackend::poll_many`] call and hands each its answer. Runs until the
    /// controller stops.
    async fn poll_rounds(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.settings.poll_interval).await;
            let batch: Vec<(ClusterRef, oneshot::Sender<JobProbe>)> =
                self.watching().drain().map(|(_, w)| w).collect();
            if batch.is_empty() {
                continue;
            }
            let targets: Vec<ClusterRef> = batch.iter().map(|(t, _)| t.clone()).collect();
            let n = targets.len();
            let probes = match self.blocking(move |b| b.poll_many(&targets)).await {
                Ok(probes) if probes.len() == n => probes,
                Ok(probes) => vec![
                    JobProbe::Unreachable(format!(
                        "the backend answered {} polls for {n} clusters",
                        probes.len()
                    ));
                    n
                ],
                Err(e) => vec![JobProbe::Unreachable(e.to_string()); n],
            };
            for ((_, tx), probe) in batch.into_iter().zip(probes) {
                // A driver that stopped waiting (its job was cancelled) is fine.
                let _ = tx.send(probe);
            }
        }
    }

    /// Acts on a poll result that is not "running".
    async fn on_probe(&self, job: &ManagedJob, probe: JobProbe) -> Result<(), JobsError> {
        let id = job.id;
        let ti = job.task_index;
        if matches!(probe, JobProbe::Succeeded | JobProbe::Failed { .. }) {
            // Before the job's status moves on, so whoever sees it move finds the
            // output kept.
            self.keep_output(job).await?;
        }
        match probe {
            JobProbe::Running | JobProbe::Unreachable(_) => Ok(()),
            JobProbe::Succeeded if (ti as usize) + 1 < job.tasks.len() => {
                let updated = self.db(|db| {
                    db.update_active(id, |j| {
                        j.task_index += 1;
                        j.status = ManagedJobStatus::Pending;
                        j.teardown_pending = j.cluster_name.take();
                        j.location = None;
                        j.cluster_job_id = None;
                        j.restarts_on_errors = 0;
                        j.launch_attempts = 0;
                        j.recovering_from = None;
                    })
                })?;
                if updated.is_some() {
                    let ev = JobEvent::new(
                        JobEventKind::TaskSucceeded,
                        ti,
                        format!("task {ti} succeeded; starting task {}", ti + 1),
                    );
                    self.event(id, ev)?;
                }
                Ok(())
            }
            JobProbe::Succeeded => {
                let cluster = job.cluster_name.clone();
                self.end(job, ManagedJobStatus::Succeeded, String::new(), cluster)
                    .await
            }
            JobProbe::Failed {
                exit_codes,
                in_setup,
            } => {
                let what = if in_setup { "setup" } else { "run" };
                let ev = JobEvent::new(
                    JobEventKind::JobFailed,
                    ti,
                    format!("the task's {what} failed with exit codes {exit_codes:?}"),
                )
                .at_location(job.location.clone())
                .with_exit_codes(exit_codes.clone());
                self.event(id, ev)?;
                let Some(task) = job.current_task() else {
                    return Ok(());
                };
                let observed = Observation::JobFailed {
                    exit_codes,
                    in_setup,
                };
                match decide(&task.policy, job.restarts_on_errors, &observed) {
                    Decision::Relaunch(reason) => self.recover(job, reason).await,
                    Decision::End { status, reason } => {
                        let cluster = job.cluster_name.clone();
                        self.end(job, status, reason, cluster).await
                    }
                }
            }
            JobProbe::ClusterGone => {
                let ev = JobEvent::new(
                    JobEventKind::Preempted,
                    ti,
                    format!(
                        "cluster `{}` preempted or gone",
                        job.cluster_name.as_deref().unwrap_or("?")
                    ),
                )
                .at_location(job.location.clone());
                self.event(id, ev)?;
                self.recover(job, RelaunchReason::Preemption).await
            }
        }
    }

    /// Marks the job RECOVERING from where it ran; the next step tears the cluster
    /// down and launches by the strategy.
    async fn recover(&self, job: &ManagedJob, reason: RelaunchReason) -> Result<(), JobsError> {
        let updated = self.db(|db| {
            db.update_active(job.id, |j| {
                j.status = ManagedJobStatus::Recovering;
                j.recovering_from = j.location.clone();
                j.teardown_pending = j.cluster_name.clone();
                j.launch_attempts = 0;
                match reason {
                    RelaunchReason::Preemption => j.recovery_count += 1,
                    RelaunchReason::RestartOnError => j.restarts_on_errors += 1,
                    RelaunchReason::RecoverOnExitCode(_) => {}
                }
            })
        })?;
        if let Some(j) = updated {
            let why = match reason {
                RelaunchReason::Preemption => format!("recovery {}", j.recovery_count),
                RelaunchReason::RestartOnError => format!(
                    "restart {} of {} on error",
                    j.restarts_on_errors,
                    j.current_task()
                        .map_or(0, |t| t.policy.max_restarts_on_errors)
                ),
                RelaunchReason::RecoverOnExitCode(c) => format!("restart on exit code {c}"),
            };
            let ev = JobEvent::new(JobEventKind::Recovering, j.task_index, why)
                .at_location(j.recovering_from.clone());
            self.event(job.id, ev)?;
        }
        Ok(())
    }

    /// Ends the job with `status`; `cluster` (if any) is torn down by the next step.
    async fn end(
        &self,
        job: &ManagedJob,
        status: ManagedJobStatus,
        reason: String,
        cluster: Option<String>,
    ) -> Result<(), JobsError> {
        let r = reason.clone();
        let updated = self.db(|db| {
            db.update_active(job.id, |j| {
                j.status = status;
                j.ended_at = Some(now());
                j.failure_reason = (!r.is_empty()).then_some(r);
                j.teardown_pending = cluster;
            })
        })?;
        if updated.is_some() {
            let msg = if reason.is_empty() {
                status.to_string()
            } else {
                format!("{status}: {reason}")
            };
            self.event(
                job.id,
                JobEvent::new(JobEventKind::Ended, job.task_index, msg),
            )?;
        }
        Ok(())
    }

    /// A STARTING or RECOVERING job a previous controller left: adopt its cluster
    /// if the launch went through, else clean up so the next step launches again.
    async fn resume_launching(&self, job: ManagedJob) -> Result<(), JobsError> {
        let id = job.id;
        let Some(cluster) = job.cluster_name.clone() else {
            return Ok(());
        };
        let target = cluster_ref(&job);
        match self.blocking(move |b| b.reconcile(&target)).await? {
            Reconciled::Alive { launched, probe } => {
                let l = launched.clone();
                let adopted = self.db(|db| {
                    db.update_active(id, |j| {
                        j.status = ManagedJobStatus::Running;
                        j.location = Some(l.location);
                        j.cluster_job_id = l.cluster_job_id;
                        j.launch_attempts = 0;
                        j.recovering_from = None;
                        j.started_at.get_or_insert_with(now);
                    })
                })?;
                let Some(adopted) = adopted else {
                    return Ok(());
                };
                let ev = JobEvent::new(
                    JobEventKind::Resumed,
                    job.task_index,
                    format!("adopted `{cluster}`, launched in {}", launched.location),
                )
                .at_location(Some(launched.location));
                self.event(id, ev)?;
                self.on_probe(&adopted, probe).await
            }
            Reconciled::Absent => {
                let ev = JobEvent::new(
                    JobEventKind::Resumed,
                    job.task_index,
                    format!(
                        "`{cluster}` did not come up before the controller stopped; launching again"
                    ),
                );
                self.event(id, ev)?;
                self.db(|db| db.update_active(id, |j| j.teardown_pending = Some(cluster)))?;
                Ok(())
            }
        }
    }

    /// A RUNNING job a previous controller left: go on from what its cluster says.
    async fn resume_running(&self, job: ManagedJob) -> Result<(), JobsError> {
        let target = cluster_ref(&job);
        let probe = match self.blocking(move |b| b.reconcile(&target)).await? {
            Reconciled::Alive { probe, .. } => probe,
            Reconciled::Absent => JobProbe::ClusterGone,
        };
        let ev = JobEvent::new(
            JobEventKind::Resumed,
            job.task_index,
            format!(
                "resumed watching `{}`: {probe:?}",
                job.cluster_name.as_deref().unwrap_or("?")
            ),
        );
        self.event(job.id, ev)?;
        self.on_probe(&job, probe).await
    }
}

fn cluster_ref(job: &ManagedJob) -> ClusterRef {
    ClusterRef {
        job_id: job.id,
        task_index: job.task_index,
        cluster: job
            .cluster_name
            .clone()
            .unwrap_or_else(|| job.cluster_name_for(job.task_index)),
        cluster_job_id: job.cluster_job_id,
        location: job.location.clone(),
    }
}

/// The SkyPilot variables a managed task sees.
fn task_envs(job: &ManagedJob) -> BTreeMap<String, String> {
    let ids: Vec<String> = (0..job.tasks.len() as u32)
        .map(|i| job.task_id_for(i))
        .collect();
    BTreeMap::from([
        (
            "SKYPILOT_TASK_ID".to_string(),
            job.task_id_for(job.task_index),
        ),
        ("SKYPILOT_TASK_IDS".to_string(), ids.join(",")),
        ("SKYPILOT_MANAGED_JOB_ID".to_string(), job.id.to_string()),
    ])
}
