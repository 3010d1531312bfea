//! Managed jobs through the client: submit, list, cancel, follow across
//! recoveries, and run the one controller that keeps them alive (holding a lock in
//! aloft's home, so no second controller manages the same database).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::jobs::{
    CancelTarget, Controller, ControllerSettings, JobFilter, JobId, JobOutputs, JobSummary, JobsDb,
    ManagedJob, ManagedJobStatus, NewJob, TaskRun,
};
use crate::task::TaskChain;

use super::controllers::{ControllerProcess, open_lock, take_controller_lock};
use super::jobs_remote::GrantConsent;
use super::{Client, ClientBackend, ClientError, ClientResult};

impl Client {
    /// The managed-jobs database of this machine's controller.
    fn jobs_db_path(&self) -> PathBuf {
        self.home.join("jobs.db")
    }

    fn jobs_db(&self) -> ClientResult<JobsDb> {
        JobsDb::open(&self.jobs_db_path()).map_err(ClientError::other)
    }

    /// The lock file the running controller holds.
    pub fn jobs_controller_lock_path(&self) -> PathBuf {
        self.home.join("jobs-controller.lock")
    }

    /// Whether a jobs controller holds its lock right now, or one is starting.
    pub fn jobs_controller_running(&self) -> ClientResult<bool> {
        for path in [self.jobs_controller_lock_path(), self.starting_lock_path()] {
            if open_lock(&path)?.try_lock().is_err() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Held by a command from its check for a running controller until the one it
    /// started holds the main lock, and by a controller while it decides to exit.
    fn starting_lock_path(&self) -> PathBuf {
        self.home.join("jobs-controller.starting.lock")
    }

    /// Submits `chain` as a managed job named `name` (its tasks run in order, each on
    /// a cluster of its own) and makes sure a controller runs: here (a process of
    /// its own, exiting when idle) or on the controller cluster `config.yaml`
    /// names. A task this build cannot carry out, or a bad `job_recovery`, is
    /// refused before anything is written. Returns the job's id. A remote
    /// controller's grant not recorded before is refused: see
    /// [`Client::submit_job_with_consent`].
    pub fn submit_job(&self, chain: &TaskChain, name: Option<&str>) -> ClientResult<JobId> {
        self.submit_job_with_consent(chain, name, &mut |_| false)
    }

    /// [`Client::submit_job`], asking `consent` before a remote controller is
    /// given a [`ControllerGrant`](super::ControllerGrant) wider than the one the
    /// user consented to last (the first time, or when `jobs.controller.providers`
    /// grows); a yes is recorded, a no refuses ([`ClientError::GrantRefused`]) with
    /// nothing sent.
    /// The question comes before the controller cluster is launched when its
    /// provider is known then (listed, recorded, or pinned by its resources). A
    /// task naming a provider outside the grant is refused
    /// ([`ClientError::ProviderNotGranted`]).
    pub fn submit_job_with_consent(
        &self,
        chain: &TaskChain,
        name: Option<&str>,
        consent: &mut GrantConsent<'_>,
    ) -> ClientResult<JobId> {
        for task in chain.tasks() {
            crate::task::support::check_launchable(task).map_err(ClientError::InvalidInput)?;
            super::volumes::refuse_volumes(task, "managed jobs")?;
        }
        // The controller runs in another folder: relative paths are this one's.
        let mut resolved = chain.clone();
        resolved.resolve_local_paths(&std::env::current_dir().map_err(ClientError::other)?);
        let new = NewJob::from_chain(&resolved, name)
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        if self.jobs_controller_cluster().is_some() {
            super::jobs_remote::check_remote_submittable(chain)?;
            if let Some(grant) = self.controller_grant()? {
                grant.check(chain)?;
                self.ensure_granted(&grant, consent)?;
            }
        }
        if let Some(remote) = self.remote_jobs(Some(consent))? {
            return remote.submit(chain, name);
        }
        let job = self.jobs_db()?.submit(&new).map_err(ClientError::other)?;
        self.ensure_local_jobs_controller()?;
        Ok(job.id)
    }

    /// Managed jobs as `jobs queue` lists them, newest first (only unfinished ones
    /// unless `all`), from whichever controller runs them.
    pub fn managed_jobs(&self, all: bool) -> ClientResult<Vec<JobSummary>> {
        if let Some(cluster) = self.jobs_controller_cluster() {
            if self.state.cluster(cluster)?.is_none() {
                return Ok(Vec::new());
            }
            if let Some(remote) = self.remote_jobs(None)? {
                return remote.queue(all);
            }
        }
        let filter = if all {
            JobFilter::All
        } else {
            JobFilter::Unfinished
        };
        let jobs = self
            .jobs_db()?
            .summaries(filter)
            .map_err(ClientError::other)?;
        // A controller that died (kill -9, a reboot) is started again by the next
        // look at the queue, and resumes every unfinished job.
        if jobs.iter().any(|j| !j.status.is_terminal()) {
            self.ensure_local_jobs_controller()?;
        }
        Ok(jobs)
    }

    /// Managed job `id`'s whole record (a controller on this machine only; a remote
    /// controller's jobs are listed with [`Client::managed_jobs`]).
    pub fn managed_job(&self, id: JobId) -> ClientResult<ManagedJob> {
        self.jobs_db()?
            .get(id)
            .map_err(ClientError::other)?
            .ok_or_else(|| ClientError::Other(format!("no managed job {id}")))
    }

    /// Requests cancellation; every named id must exist, and something unfinished
    /// must match, else nothing is written. Returns the jobs now cancelling.
    pub fn cancel_jobs(&self, target: &CancelTarget) -> ClientResult<Vec<JobId>> {
        if let Some(remote) = self.remote_jobs(None)? {
            return remote.cancel(target);
        }
        let db = self.jobs_db()?;
        if let CancelTarget::Ids(ids) = target {
            for id in ids {
                if db.get(*id).map_err(ClientError::other)?.is_none() {
                    return Err(ClientError::Other(format!("no managed job {id}")));
                }
            }
        }
        let cancelled = db.request_cancel(target).map_err(ClientError::other)?;
        if cancelled.is_empty() {
            return Err(ClientError::Other("no unfinished job to cancel".into()));
        }
        self.ensure_local_jobs_controller()?;
        Ok(cancelled)
    }

    /// Streams managed job `id`'s output into `out` from whatever cluster it runs
    /// on now, across recoveries, until it ends; returns how it ended.
    pub fn follow_managed_job(
        &self,
        id: JobId,
        out: &mut dyn std::io::Write,
    ) -> ClientResult<JobSummary> {
        if let Some(remote) = self.remote_jobs(None)? {
            remote.logs(Some(id), true, out)?;
            return remote
                .queue(true)?
                .into_iter()
                .find(|j| j.id == id)
                .ok_or_else(|| ClientError::Other(format!("no managed job {id}")));
        }
        let outputs = self.job_outputs();
        // The run streamed last, and how much of it was written.
        let mut last: Option<Streamed> = None;
        loop {
            let job = self.managed_job(id)?;
            let run = RunKey::of(&job);
            match last.as_mut() {
                // The job moved past the run streamed last: what the stream missed
                // (the cluster's teardown can cut it short) is in the output the
                // controller kept before tearing it down.
                Some(s) if !s.caught_up && run.as_ref() != Some(&s.run) => {
                    outputs
                        .copy(id, s.run.run, s.written, out)
                        .map_err(ClientError::other)?;
                    s.caught_up = true;
                }
                // Nothing streamed: a job that already ended shows all it kept.
                None if job.status.is_terminal() => {
                    outputs
                        .copy_last_runs(id, job.task_index, out)
                        .map_err(ClientError::other)?;
                }
                _ => {}
            }
            if job.status.is_terminal() {
                return Ok(job.summary());
            }
            if let Some(run) = run
                && last.as_ref().is_none_or(|s| s.run != run)
            {
                let mut counted = Counted { out, written: 0 };
                // Ends when that job ends, or when its cluster goes (preemption).
                let _ = self.logs(
                    &run.cluster,
                    u64::try_from(run.cluster_job).unwrap_or_default(),
                    None,
                    true,
                    &mut counted,
                );
                last = Some(Streamed {
                    written: counted.written,
                    run,
                    caught_up: false,
                });
                continue;
            }
            if self.cancel.is_cancelled() {
                return Err(ClientError::Interrupted {
                    stage: "while following the job".into(),
                    left: format!("managed job {id} keeps running"),
                });
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Where the controller on this machine keeps each task's output.
    fn job_outputs(&self) -> JobOutputs {
        JobOutputs::beside(&self.jobs_db_path())
    }

    /// What managed job `id` printed so far, from the cluster it runs on now, or
    /// (`id` `None`) the controller's own log, into `out`.
    pub fn managed_job_output(
        &self,
        id: Option<JobId>,
        out: &mut dyn std::io::Write,
    ) -> ClientResult<()> {
        if let Some(remote) = self.remote_jobs(None)? {
            return remote.logs(id, false, out);
        }
        let Some(id) = id else {
            // The controller processes' lines and every job's events, by time.
            let path = self.home.join("jobs-controller.log");
            let log = match std::fs::read(&path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(ClientError::Other(format!("{}: {e}", path.display()))),
            };
            let events = self.jobs_db()?.all_events().map_err(ClientError::other)?;
            if log.is_empty() && events.is_empty() {
                return Err(ClientError::Other(
                    "no controller log yet: no managed job was launched here".into(),
                ));
            }
            let text = crate::jobs::controller_log::render(&log, &events);
            return out.write_all(text.as_bytes()).map_err(ClientError::other);
        };
        let job = self.managed_job(id)?;
        if let (Some(cluster), Some(cluster_job)) = (&job.cluster_name, job.cluster_job_id)
            && job.status == ManagedJobStatus::Running
        {
            return self.logs(
                cluster,
                u64::try_from(cluster_job).unwrap_or_default(),
                None,
                false,
                out,
            );
        }
        // Its cluster is gone or not up yet: what the controller kept.
        let any = self
            .job_outputs()
            .copy_last_runs(id, job.task_index, out)
            .map_err(ClientError::other)?;
        if !any {
            self.emit(super::Event::Step(format!(
                "Job {id} is {} and has no output yet.",
                job.status.as_str()
            )));
        }
        Ok(())
    }

    /// Starts the controller process on this machine (the agent program in its
    /// [`crate::roles::Role::JobsController`] role) unless one runs; it outlives
    /// this call and exits when idle.
    fn ensure_local_jobs_controller(&self) -> ClientResult<()> {
        self.ensure_controller(&ControllerProcess {
            role: crate::roles::Role::JobsController {
                home: self.home.clone(),
                tuning: self.controller_tuning,
            },
            lock: self.jobs_controller_lock_path(),
            spawn_lock: self.starting_lock_path(),
            log: self.home.join("jobs-controller.log"),
        })
    }

    /// Runs the jobs controller on this thread until it has been idle for
    /// `settings.idle_exit_after`. Returns `Ok(false)` at once when another
    /// controller holds the lock.
    pub fn run_jobs_controller(&self, settings: ControllerSettings) -> ClientResult<bool> {
        let Some(lock) = take_controller_lock(&self.jobs_controller_lock_path())? else {
            return Ok(false);
        };
        let backend = ClientBackend::for_client(self);
        let controller = Controller::open(&self.jobs_db_path(), Arc::new(backend), settings)
            .map_err(ClientError::other)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(ClientError::other)?;
        loop {
            rt.block_on(controller.run()).map_err(ClientError::other)?;
            // Idle. Under the spawn lock, a job submitted since the last scan is
            // either seen here or its command finds no controller and starts one.
            let spawning = open_lock(&self.starting_lock_path())?;
            spawning.lock().map_err(ClientError::other)?;
            let left = self
                .jobs_db()?
                .unfinished_ids()
                .map_err(ClientError::other)?;
            if left.is_empty() {
                drop(lock);
                drop(spawning);
                return Ok(true);
            }
        }
    }
}

/// One run of a managed job's task on a cluster, as a follower tells runs apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunKey {
    run: TaskRun,
    cluster: String,
    cluster_job: i64,
}

impl RunKey {
    /// The run the job is on, when it runs.
    fn of(job: &ManagedJob) -> Option<RunKey> {
        match (&job.cluster_name, job.cluster_job_id, job.status) {
            (Some(cluster), Some(cluster_job), ManagedJobStatus::Running) => Some(RunKey {
                run: TaskRun::of(job),
                cluster: cluster.clone(),
                cluster_job,
            }),
            _ => None,
        }
    }
}

/// A run a follower streamed: how many bytes it wrote, and whether the rest was
/// taken from the kept output since.
struct Streamed {
    run: RunKey,
    written: u64,
    caught_up: bool,
}

/// A writer that counts what passes through.
struct Counted<'a> {
    out: &'a mut dyn std::io::Write,
    written: u64,
}

impl std::io::Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
