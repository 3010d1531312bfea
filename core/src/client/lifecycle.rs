//! A cluster's life through its provider: `launch`, `stop`, `start`, `down`, and
//! following a job's output.

use std::path::Path;
use std::time::Duration;

use crate::launch::{LaunchContext, LaunchError, LaunchRequest, NodeAddress, cluster_key};
use crate::plugin::{ClusterRef, RunRequest};
use crate::provision::{ProvisionError, RetryPolicy};
use crate::runtime::agent::unix_now;
use crate::runtime::head::{ClusterHandle, Head};
use crate::runtime::keys::{KeyPair, ensure_key_pair, private_key_path};
use crate::runtime::queue::JobStatus;
use crate::state::{ClusterLock, ClusterRecord, ClusterStatus};
use crate::task::Task;

use super::provisioner::{PluginProvisioner, access, wait_running};
use super::{Client, ClientError, ClientResult, Event};

/// How to launch.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// Cluster name (reused when it exists, is UP and fits).
    pub cluster: String,
    /// Skip `setup` (the cluster already ran it).
    pub no_setup: bool,
    /// Autostop once the cluster is idle (default: the task's `autostop`, if any).
    pub autostop: Option<super::AutostopSetting>,
    /// Keep going over the whole candidate list, round after round with backoff,
    /// until a launch succeeds or the call is cancelled.
    pub retry_until_up: bool,
    /// First wait between two rounds of `retry_until_up` (doubles, up to 5 min).
    pub retry_backoff: Duration,
    /// Offers ruled out before planning (a managed job's recovery blocks the
    /// region it just lost).
    pub blocked: crate::optimizer::Blocklist,
}

impl LaunchOptions {
    /// Defaults for cluster `name`.
    pub fn named(name: impl Into<String>) -> Self {
        LaunchOptions {
            cluster: name.into(),
            no_setup: false,
            autostop: None,
            retry_until_up: false,
            retry_backoff: Duration::from_secs(10),
            blocked: crate::optimizer::Blocklist::default(),
        }
    }
}

/// How to start a stopped cluster ([`Client::start_with`]).
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Try again, with back-off, until the start succeeds or the call is cancelled.
    pub retry_until_up: bool,
    /// Set this autostop once the cluster is up (else it keeps the one it had).
    pub autostop: Option<super::AutostopSetting>,
    /// Go through the start on a cluster that is already UP too (SkyPilot's
    /// `start -f`): its nodes are asked for again, their addresses recorded and the
    /// head's agent started if it does not run (a repair after it died).
    pub force: bool,
}

/// A launch that reached the point where its job, if any, is queued.
#[derive(Debug, Clone)]
pub struct Launched {
    /// The cluster's name.
    pub cluster: String,
    /// Its record.
    pub record: ClusterRecord,
    /// The queued job; none when the task has neither `run` nor `setup` (a
    /// cluster to work on, as `aloft launch -c dev` makes).
    pub job_id: Option<u64>,
}

/// A cluster name when the user gives none.
pub fn default_cluster_name() -> String {
    format!(
        "aloft-{:04x}",
        (unix_now() as u64 ^ u64::from(std::process::id())) & 0xffff
    )
}

impl Client {
    /// The user's aloft key pair (made on first use): only clusters recorded
    /// before keys were per cluster use it (see [`Client::cluster_key_pair`]).
    pub(crate) fn key_pair(&self) -> ClientResult<KeyPair> {
        ensure_key_pair(&self.home.join("keys")).map_err(ClientError::other)
    }

    /// The key pair cluster `name`'s nodes are reached with: its own (see
    /// [`cluster_key`]), made on first use. A cluster recorded before keys were
    /// per cluster names the user's key in its node addresses and keeps it (start,
    /// a new launch of its name) until it is torn down.
    pub(crate) fn cluster_key_pair(&self, name: &str) -> ClientResult<KeyPair> {
        let users = private_key_path(&self.home.join("keys"));
        let legacy = self
            .state
            .cluster(name)?
            .and_then(|record| handle(&record).ok())
            .is_some_and(|h| h.nodes.iter().any(|n| n.key_for_head() == Some(&users)));
        if legacy {
            return self.key_pair();
        }
        cluster_key::ensure(&self.home, name).map_err(ClientError::other)
    }

    /// Launches `task` (its relative paths resolved against `task_dir`): provision
    /// with failover, set up the nodes, queue the job. A cluster of that name that
    /// is UP and fits is reused. Returns once the job is queued.
    pub fn launch(
        &self,
        task: &Task,
        task_dir: &Path,
        options: &LaunchOptions,
    ) -> ClientResult<Launched> {
        super::plan::check_launchable(task)?;
        // A task with `volumes:` goes where its volumes are, and the provider is
        // told what to mount before anything is provisioned.
        let volumes = self.prepare_volumes(task, Some(&options.cluster))?;
        match &volumes {
            Some(v) => self.attach_volumes(&options.cluster, v)?,
            None => self.forget_stale_mounts(&options.cluster)?,
        }
        let task = volumes.as_ref().map_or(task, |v| &v.task);
        let result = self.launch_retrying(task, task_dir, options);
        if let Some(v) = &volumes
            && matches!(self.state.cluster(&options.cluster), Ok(None))
        {
            self.forget_volume_uses(&options.cluster, &v.provider)?;
        }
        self.refresh_ssh_config();
        // `--down` leaves nothing behind when the launch fails after instances
        // were created (nodes unreachable, set-up failed): a cluster nobody asked to
        // keep is not left billing.
        if let Err(err) = &result
            && options.autostop.is_some_and(|a| a.down)
            && !matches!(err.class(), super::ErrorClass::Interrupted)
            && self.state.cluster(&options.cluster)?.is_some()
        {
            self.emit(Event::Warning(format!(
                "the launch failed; tearing `{}` down (--down)",
                options.cluster
            )));
            if let Err(down) = self.down(&options.cluster, false) {
                self.emit(Event::Warning(format!(
                    "tearing `{}` down failed too: {down}",
                    options.cluster
                )));
            }
        }
        result
    }

    fn launch_retrying(
        &self,
        task: &Task,
        task_dir: &Path,
        options: &LaunchOptions,
    ) -> ClientResult<Launched> {
        let mut backoff = options.retry_backoff;
        let mut round = 1;
        loop {
            match self.launch_once(task, task_dir, options) {
                Err(ClientError::Launch(LaunchError::Provision(
                    err @ ProvisionError::Exhausted { .. },
                ))) if options.retry_until_up => {
                    self.emit(Event::Warning(err.to_string()));
                    round += 1;
                    self.emit(Event::RetryRound {
                        round,
                        wait_secs: backoff.as_secs(),
                    });
                    let until = std::time::Instant::now() + backoff;
                    while std::time::Instant::now() < until {
                        if self.cancel.is_cancelled() {
                            return Err(ClientError::Interrupted {
                                stage: "while waiting to retry".into(),
                                left: "nothing was left running".into(),
                            });
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(300));
                }
                other => return other,
            }
        }
    }

    fn launch_once(
        &self,
        task: &Task,
        task_dir: &Path,
        options: &LaunchOptions,
    ) -> ClientResult<Launched> {
        let plan_options = super::PlanOptions {
            all_clouds: false,
            refresh_offers: true,
            blocked: options.blocked.clone(),
        };
        let (live, opt_options) = self.plan_inputs(std::slice::from_ref(task), &plan_options)?;
        let _lock = self.lock(&options.cluster, "launch")?;
        let providers = self.providers()?;
        let ctx = LaunchContext {
            home: &self.home,
            state: &self.state,
            catalog: &live.catalog,
            options: &opt_options,
            policy: RetryPolicy::default(),
            interrupted: self.cancel.flag(),
            agents: self.node_agents.clone(),
        };
        let opt_task = super::plan::opt_task(task);
        // A new cluster starts billing: say where it goes and what it costs, even
        // when nobody was asked (`-y`, or an embedder without a prompt).
        if self.state.cluster(&options.cluster)?.is_none()
            && let Ok(plan) =
                crate::optimizer::optimize_task(&live.catalog, &opt_task, &opt_options)
        {
            let c = &plan.chosen;
            self.emit(Event::Step(format!(
                "Chosen: {} ({}{}) {}{}, ${:.2}/h for {} node(s).",
                c.cloud,
                c.region,
                c.zone
                    .as_ref()
                    .map(|z| format!(", {z}"))
                    .unwrap_or_default(),
                c.instance_type,
                if c.use_spot { "[Spot]" } else { "" },
                c.hourly_price * f64::from(task.num_nodes),
                task.num_nodes
            )));
        }
        let resources = task.resources.candidates().to_vec();
        // Bucket copies are done by the nodes: `fetch` is their script.
        let super::storage::PreparedStorage { task, fetch } =
            self.prepare_storage(task, task_dir, &options.cluster)?;
        // The provider gets this cluster's public key, made before it is asked.
        let mut provisioner = PluginProvisioner {
            rt: &self.rt,
            providers,
            cluster: options.cluster.clone(),
            key: self.cluster_key_pair(&options.cluster)?,
            known_hosts: cluster_key::known_hosts(&self.home, &options.cluster),
            host_key: cluster_key::ensure_host_key(&self.home, &options.cluster).map_err(|e| {
                ClientError::Other(format!("cannot make the cluster's host key: {e}"))
            })?,
            resources,
            control_dir: self.control_dir(),
            aloft_binary: self.agent_binary.clone(),
            node_ready_timeout: self.node_ready_timeout,
            on_step: &|step| self.emit(Event::Step(step)),
        };
        // An image in a cloud's registry (ECR, Artifact Registry) gets a login
        // minted here when the task names none.
        let registry = match crate::runtime::container::image_of(&task) {
            Some(image) => {
                self.minted_registry_login(&image, &crate::runtime::container::registry_env(&task))?
            }
            None => Vec::new(),
        };
        let request = LaunchRequest {
            cluster: &options.cluster,
            task: &task,
            task_dir,
            no_setup: options.no_setup,
            registry,
        };
        // Autostop is set through the client once the job is queued: one mechanism
        // for every provider (a remote head gets its stop kit).
        let autostop = options.autostop.or_else(|| task_autostop(&task));
        let launched = crate::launch::launch_fetching(
            &ctx,
            &request,
            fetch.as_deref(),
            &opt_task,
            &mut provisioner,
            &mut |line: &str| {
                let event = match line.strip_prefix("  ") {
                    Some(detail) => Event::Detail(detail.to_string()),
                    None => Event::Step(line.to_string()),
                };
                self.emit(event)
            },
        )
        .map_err(|e| match e {
            LaunchError::Provision(ProvisionError::Optimize(err)) => live.no_resources(&err),
            other => ClientError::Launch(other),
        });
        // A failed launch that left no record (every attempt cleaned up) leaves
        // no key either.
        if launched.is_err() && matches!(self.state.cluster(&options.cluster), Ok(None)) {
            self.forget_cluster_key(&options.cluster);
        }
        let launched = launched?;
        if autostop.is_some() {
            self.autostop(&options.cluster, autostop)?;
        }
        Ok(Launched {
            cluster: options.cluster.clone(),
            record: self.cluster(&options.cluster)?,
            job_id: launched.job_id,
        })
    }

    /// The head node's agent of `record`.
    pub(crate) fn head_of(&self, record: &ClusterRecord) -> ClientResult<Head> {
        Ok(Head::new(handle(record)?.head, self.control_dir()))
    }

    /// Streams job `job`'s output on `cluster` into `out` until it ends, and returns
    /// how it ended.
    pub fn follow(
        &self,
        cluster: &str,
        job: u64,
        out: &mut dyn std::io::Write,
    ) -> ClientResult<JobStatus> {
        let head = self.head_of(&self.cluster(cluster)?)?;
        // A local head answers with the final status itself: an autodown that
        // follows the job's end at once cannot race with a second question.
        if let Some(status) = head.logs(job, None, true, out)? {
            return Ok(status);
        }
        head.queue(false)?
            .into_iter()
            .find(|j| j.id == job)
            .map(|j| j.status)
            .ok_or_else(|| ClientError::Other(format!("job {job} vanished")))
    }

    /// Stops `name` (its disks are kept).
    pub fn stop(&self, name: &str) -> ClientResult<()> {
        self.stop_or_down_many(&[name.to_string()], Action::Stop, false)
            .pop()
            .map_or(Ok(()), |(_, r)| r)
    }

    /// Tears `name` down through its provider; with `purge`, forgets it even when the
    /// provider fails.
    pub fn down(&self, name: &str, purge: bool) -> ClientResult<()> {
        self.stop_or_down_many(&[name.to_string()], Action::Down, purge)
            .pop()
            .map_or(Ok(()), |(_, r)| r)
    }

    /// Tears down every cluster in `names` at once: each cluster's provider call
    /// starts right away, and stopping a head's agent (which may be unreachable)
    /// runs beside it, never before it. Returns each cluster's outcome.
    pub fn down_many(&self, names: &[String], purge: bool) -> Vec<(String, ClientResult<()>)> {
        self.stop_or_down_many(names, Action::Down, purge)
    }

    /// Stops every cluster in `names` at once (see [`Client::down_many`]).
    pub fn stop_many(&self, names: &[String]) -> Vec<(String, ClientResult<()>)> {
        self.stop_or_down_many(names, Action::Stop, false)
    }

    /// Starts every cluster in `names` in turn ([`Client::start_with`]); returns
    /// each cluster's outcome.
    pub fn start_many(
        &self,
        names: &[String],
        options: &StartOptions,
    ) -> Vec<(String, ClientResult<()>)> {
        let start = |name: &String| (name.clone(), self.start_with(name, options));
        names.iter().map(start).collect()
    }

    /// Takes `name`'s lock for `command`; when another process holds it, says who
    /// and waits, unless the client was told not to wait.
    pub(crate) fn lock(&self, name: &str, command: &str) -> ClientResult<ClusterLock> {
        Ok(ClusterLock::acquire_as(
            &self.locks_dir(),
            name,
            command,
            self.wait_for_locks,
            &mut |holder| {
                let who = holder.map_or_else(
                    || "another aloft command holds it".to_string(),
                    |h| h.to_string(),
                );
                self.emit(Event::Step(format!(
                    "Cluster `{name}` is busy: {who}; waiting for it (Ctrl-C leaves everything as it is)..."
                )));
            },
        )?)
    }

    /// Takes `name`'s lock for `command` only if no other process holds it (the
    /// error then says who does).
    pub(crate) fn try_lock(&self, name: &str, command: &str) -> ClientResult<ClusterLock> {
        Ok(ClusterLock::acquire_as(
            &self.locks_dir(),
            name,
            command,
            false,
            &mut |_| {},
        )?)
    }

    /// Where the clusters' lock files live.
    fn locks_dir(&self) -> std::path::PathBuf {
        self.home.join("locks")
    }

    fn stop_or_down_many(
        &self,
        names: &[String],
        action: Action,
        purge: bool,
    ) -> Vec<(String, ClientResult<()>)> {
        let verb = match action {
            Action::Stop => "stop",
            Action::Down => "down",
        };
        let mut outcomes: Vec<(String, ClientResult<()>)> = Vec::new();
        let mut work: Vec<(ClusterRecord, ClusterLock)> = Vec::new();
        for name in names {
            // The record is read under the lock: a launch that held it may have
            // changed it while this call waited.
            match self
                .cluster(name)
                .and_then(|_| self.lock(name, verb))
                .and_then(|lock| Ok((self.cluster(name)?, lock)))
            {
                Ok(item) => work.push(item),
                Err(err) => outcomes.push((name.clone(), Err(err))),
            }
        }
        outcomes.extend(self.stop_or_down_locked(work, action, purge));
        outcomes
    }

    /// Stops or tears down clusters whose locks the caller holds (see
    /// [`Client::down_many`]): the provider calls, then local state.
    pub(crate) fn stop_or_down_locked(
        &self,
        work: Vec<(ClusterRecord, ClusterLock)>,
        action: Action,
        purge: bool,
    ) -> Vec<(String, ClientResult<()>)> {
        let mut outcomes: Vec<(String, ClientResult<()>)> = Vec::new();
        if work.is_empty() {
            return outcomes;
        }
        let providers = match self.providers() {
            Ok(p) => p,
            Err(err) => {
                let message = err.to_string();
                outcomes.extend(
                    work.into_iter()
                        .map(|(r, _)| (r.name, Err(ClientError::Other(message.clone())))),
                );
                return outcomes;
            }
        };
        let control_dir = self.control_dir();
        let mut results = Vec::with_capacity(work.len());
        // Bounded: at most this many clusters' calls (and agent threads) at once.
        for batch in work.chunks(CONCURRENT_TEARDOWNS) {
            if action == Action::Stop {
                drop_stop_kits(&control_dir, batch);
                for (record, _) in batch {
                    let privileges = providers.host.privileges(&record.provider);
                    if privileges.node_folders || privileges.pool_hosts {
                        for warning in stop_containers(&control_dir, record) {
                            self.emit(Event::Warning(warning));
                        }
                    }
                }
            }
            results.extend(std::thread::scope(|scope| {
                // Before the machines go (on a node pool they live on, and so would
                // the jobs), but beside the provider call, never in front of it.
                let agents: Vec<_> = batch
                    .iter()
                    .filter(|_| action == Action::Down)
                    .map(|(record, _)| {
                        let control_dir = control_dir.clone();
                        let pool = providers.host.privileges(&record.provider).pool_hosts;
                        let mounted = self.has_mounts(&record.name);
                        scope.spawn(move || {
                            // The jobs controller's credentials go first, while the
                            // cluster's key still opens the host.
                            let mut warnings: Vec<String> =
                                super::jobs_remote::remove_kit_at(&control_dir, record, pool)
                                    .into_iter()
                                    .collect();
                            // Bucket mounts go before the nodes' folders do (a
                            // local node's folder removed through a live mount
                            // would delete the bucket's objects).
                            if mounted {
                                warnings.extend(super::mounts::unmount_at(&control_dir, record));
                            }
                            stop_agent_at(&control_dir, record);
                            warnings.extend(remove_containers(&control_dir, record));
                            if pool {
                                warnings.extend(release_cluster_key(&control_dir, record));
                            }
                            warnings
                        })
                    })
                    .collect();
                let results = self.block_on(futures::future::join_all(batch.iter().map(
                    |(record, _)| async move {
                        let cluster = cluster_ref(record);
                        let mut instance = providers.instance(&record.provider).await?;
                        match action {
                            Action::Stop => instance.stop_instances(&cluster).await,
                            Action::Down => instance.terminate_instances(&cluster).await,
                        }
                        .map_err(|e| ClientError::Provider {
                            provider: record.provider.clone(),
                            message: e.to_string(),
                        })
                    },
                )));
                for agent in agents {
                    for warning in agent.join().unwrap_or_default() {
                        self.emit(Event::Warning(warning));
                    }
                }
                results
            }));
        }
        for ((record, _lock), result) in work.into_iter().zip(results) {
            let outcome = self.finish_stop_or_down(&record, action, purge, result);
            outcomes.push((record.name, outcome));
        }
        self.refresh_ssh_config();
        outcomes
    }

    /// Brings local state in line after a cluster's provider call.
    fn finish_stop_or_down(
        &self,
        record: &ClusterRecord,
        action: Action,
        purge: bool,
        result: ClientResult<()>,
    ) -> ClientResult<()> {
        let name = &record.name;
        if let Err(err) = result {
            if !purge {
                return Err(err);
            }
            self.emit(Event::Warning(format!(
                "{err}; removing the record anyway (purge)"
            )));
        }
        if action == Action::Stop {
            self.stop_agent(record);
        }
        let now = unix_now();
        self.state.end_usage(name, now)?;
        match action {
            Action::Down => {
                // Kubernetes: the service account of the head's autostop token.
                if let Some(warning) = self.revoke_kube_stop_grant(record) {
                    self.emit(Event::Warning(warning));
                }
                self.remove_local_nodes(record);
                self.forget_mounts(name);
                self.forget_cluster_key(name);
                self.state.remove_cluster(name)?;
                let _ = self.state.add_event(name, now, "down", "terminated");
                self.delete_cluster_buckets(name);
            }
            Action::Stop => {
                self.state.set_status(name, ClusterStatus::Stopped, now)?;
                let _ = self.state.add_event(name, now, "stop", "stopped");
            }
        }
        Ok(())
    }

    /// Removes the folders of a `local` cluster's nodes (the agent's files, the
    /// synced workdir): a cluster torn down leaves nothing under aloft's home. Only
    /// folders under aloft's own `local` root are touched.
    fn remove_local_nodes(&self, record: &ClusterRecord) {
        let Ok(handle) = handle(record) else { return };
        let root = self.local_root();
        for node in &handle.nodes {
            if let NodeAddress::Local { home, .. } = node
                && home.starts_with(&root)
                && home != &root
                && !home
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
                && !self.mounted_inside(home)
                && let Err(err) = std::fs::remove_dir_all(home)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                self.emit(Event::Warning(format!(
                    "cannot remove {}: {err}",
                    home.display()
                )));
            }
        }
        // The cluster's own folder, once its nodes are gone.
        let _ = std::fs::remove_dir(root.join(&record.name));
    }

    /// Whether a live mount is at or under `home` (a warning says so: the folder
    /// stays, since removing it would go through the mount into the bucket).
    fn mounted_inside(&self, home: &Path) -> bool {
        let points = super::mounts::mounts_under(home);
        if points.is_empty() {
            return false;
        }
        let points: Vec<String> = points.iter().map(|p| p.display().to_string()).collect();
        self.emit(Event::Warning(format!(
            "{} was not removed: {} still mounted there (`fusermount3 -u` it, then remove the folder)",
            home.display(),
            points.join(", ")
        )));
        true
    }

    /// Deletes cluster `name`'s key here; a failure is a warning.
    fn forget_cluster_key(&self, name: &str) {
        crate::runtime::node::close_shared_connections(
            &self.control_dir(),
            &cluster_key::known_hosts(&self.home, name),
        );
        if let Err(err) = cluster_key::forget(&self.home, name) {
            self.emit(Event::Warning(format!(
                "cannot delete the key of `{name}` ({}): {err}",
                cluster_key::key_dir(&self.home, name).display()
            )));
        }
    }

    /// Where the `local` provider keeps node folders.
    fn local_root(&self) -> std::path::PathBuf {
        self.config
            .provider_setting("local", "root")
            .map(|r| crate::config::expand_home(&r))
            .unwrap_or_else(|| self.home.join("local"))
    }

    /// Cancels a cluster's jobs and stops its agent, best effort: an unreachable head
    /// (preempted, already gone) has nothing left to stop.
    pub(crate) fn stop_agent(&self, record: &ClusterRecord) {
        stop_agent_at(&self.control_dir(), record);
    }

    /// [`Client::start`], then `options`: with `retry_until_up`, a failed start is
    /// tried again (10 s, doubling up to 5 min, an [`Event::RetryRound`] before each
    /// wait) until it succeeds or the call is cancelled; then `autostop` is set.
    pub fn start_with(&self, name: &str, options: &StartOptions) -> ClientResult<()> {
        let mut wait = Duration::from_secs(10);
        let mut round = 1;
        loop {
            match self.start_cluster(name, options.force) {
                Err(err)
                    if options.retry_until_up
                        && !matches!(err, ClientError::UnknownCluster { .. }) =>
                {
                    self.emit(Event::Warning(format!("starting `{name}` failed: {err}")));
                    round += 1;
                    self.emit(Event::RetryRound {
                        round,
                        wait_secs: wait.as_secs(),
                    });
                    let until = std::time::Instant::now() + wait;
                    while std::time::Instant::now() < until {
                        if self.cancel.is_cancelled() {
                            return Err(ClientError::Interrupted {
                                stage: "while waiting to start again".into(),
                                left: format!("`{name}` is as it was"),
                            });
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    wait = (wait * 2).min(Duration::from_secs(300));
                }
                other => break other?,
            }
        }
        match options.autostop {
            Some(setting) => self.autostop(name, Some(setting)),
            None => Ok(()),
        }
    }

    /// Starts a stopped cluster again: the provider resumes its nodes (following new
    /// addresses), the agent comes back with its autostop setting, usage restarts.
    pub fn start(&self, name: &str) -> ClientResult<()> {
        self.start_cluster(name, false)
    }

    /// [`Client::start`]; `force` goes through it on an UP cluster too.
    fn start_cluster(&self, name: &str, force: bool) -> ClientResult<()> {
        self.cluster(name)?;
        let _lock = self.lock(name, "start")?;
        let record = self.cluster(name)?;
        let was_up = record.status == ClusterStatus::Up;
        if was_up && !force {
            self.emit(Event::Step(format!("Cluster `{name}` is already UP.")));
            return Ok(());
        }
        let providers = self.providers()?;
        let request = resume_request(&record, record.num_nodes);
        self.emit(Event::Step(if was_up {
            format!("Starting cluster `{name}` again (forced): it is UP already.")
        } else {
            format!("Starting cluster `{name}`...")
        }));
        let mut instance = self.block_on(providers.instance(&record.provider))?;
        let provider_error = |message: String| ClientError::Provider {
            provider: record.provider.clone(),
            message,
        };
        let started = self
            .block_on(instance.run_instances(&request))
            .map_err(|e| provider_error(e.to_string()))?;
        let nodes = wait_running(&self.rt, &mut instance, &request.cluster, started.instances)
            .map_err(|f| provider_error(format!("{}: {}", f.code, f.message)))?;
        // Clouds hand out new public addresses on start: record them, and tell the
        // head's agent where its nodes are now, before it starts again.
        let known_hosts = cluster_key::known_hosts(&self.home, name);
        let access = access(
            providers,
            &record.provider,
            (name, &known_hosts),
            (
                self.cluster_key_pair(name)?,
                cluster_key::host_public_key(&self.home, name),
            ),
            &self.agent_binary,
        );
        let addresses = access
            .addresses(nodes)
            .map_err(|f| provider_error(format!("{}: {}", f.code, f.message)))?;
        // A node keeps its pinned host key only at the same address as the same
        // instance (see `cluster_key`).
        let before = handle(&record).map(|h| h.nodes).unwrap_or_default();
        fn pin(a: &NodeAddress) -> Option<(&str, &str)> {
            Some((a.id(), a.host_key_alias()?))
        }
        let kept: Vec<&str> = addresses
            .iter()
            .filter_map(pin)
            .filter(|now| before.iter().any(|b| pin(b) == Some(*now)))
            .map(|(_, alias)| alias)
            .collect();
        cluster_key::keep_known_hosts(&known_hosts, &kept)
            .map_err(|e| ClientError::Other(format!("{}: {e}", known_hosts.display())))?;
        // A node given the cluster's host key keeps it at a new address too.
        access
            .pin(&addresses)
            .map_err(|f| provider_error(format!("{}: {}", f.code, f.message)))?;
        if let (Some(head_address), Some(handle)) = (
            addresses.first(),
            ClusterHandle::of(&addresses, &self.agent_binary),
        ) {
            let json = serde_json::to_string(&handle).map_err(ClientError::other)?;
            self.state.set_nodes(name, &json)?;
            let head = Head::new(handle.head, self.control_dir());
            self.emit(Event::Step(
                "Waiting for the nodes to accept connections...".into(),
            ));
            crate::launch::wait_reachable_addresses(
                &addresses,
                &self.control_dir(),
                self.node_ready_timeout,
            )?;
            let node_key = head_address.key_for_head();
            let mut spec = head.spec()?;
            spec.nodes = addresses.iter().map(NodeAddress::node_spec).collect();
            head.install(&self.node_agents, node_key, &spec, None)?;
        }
        let now = unix_now();
        if was_up {
            // Its usage interval is open already.
            let _ = self
                .state
                .add_event(name, now, "start", "started again (forced)");
        } else {
            self.state.set_status(name, ClusterStatus::Up, now)?;
            self.state.start_usage(&record, now)?;
            let _ = self.state.add_event(name, now, "start", "resumed");
        }
        self.refresh_ssh_config();
        // The cluster keeps its autostop across a stop and a start.
        if let Some(minutes) = record.autostop_minutes {
            let setting = super::AutostopSetting {
                idle_minutes: u64::from(minutes),
                down: record.autostop_down,
            };
            self.autostop(name, Some(setting))?;
        }
        Ok(())
    }
}

/// The provider's name for `record`'s cluster.
pub(crate) fn cluster_ref(record: &ClusterRecord) -> ClusterRef {
    ClusterRef {
        cluster: record.name.clone(),
        region: record.region.clone(),
        zone: record.zone.clone(),
    }
}

/// A `run-instances` request for `record`'s existing cluster: `count` nodes of its
/// recorded type (the provider resumes what exists and creates what is missing).
pub(crate) fn resume_request(record: &ClusterRecord, count: u32) -> RunRequest {
    RunRequest {
        cluster: cluster_ref(record),
        instance_type: record.instance_type.clone(),
        count,
        use_spot: record.use_spot,
        disk_size_gib: None,
        image_id: None,
        ports: Vec::new(),
        labels: vec![("aloft-cluster".into(), record.name.clone())],
        ssh_public_key: None,
    }
}

/// What state knows about the cluster's nodes.
pub(crate) fn handle(record: &ClusterRecord) -> ClientResult<ClusterHandle> {
    serde_json::from_str(&record.nodes_json).map_err(|_| {
        ClientError::Other(format!(
            "cluster `{}` has no reachable head recorded yet (status {}); try `aloft status -r`",
            record.name, record.status
        ))
    })
}

/// `resources.autostop` of the task.
fn task_autostop(task: &Task) -> Option<super::AutostopSetting> {
    task.resources
        .candidates()
        .iter()
        .find_map(|r| r.autostop.as_ref())
        .and_then(|a| {
            a.idle_minutes.map(|idle_minutes| super::AutostopSetting {
                idle_minutes,
                down: a.down,
            })
        })
}

/// Clusters stopped or torn down at once by `stop_many`/`down_many`.
const CONCURRENT_TEARDOWNS: usize = 32;

/// What `down`/`stop` do to one cluster.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Stop,
    Down,
}

/// Removes the containers of a cluster launched with `image_id: docker:...` from
/// its nodes (see [`crate::runtime::container`]); returns warnings for nodes not
/// cleaned.
fn remove_containers(control_dir: &Path, record: &ClusterRecord) -> Vec<String> {
    on_containers(
        control_dir,
        record,
        crate::runtime::container::remove_on_nodes,
    )
}

/// Stops the containers of a cluster whose nodes outlive a `stop` (this
/// machine's, a pool's: a cloud's stop ends them with the machine); returns
/// warnings for nodes not reached.
fn stop_containers(control_dir: &Path, record: &ClusterRecord) -> Vec<String> {
    on_containers(
        control_dir,
        record,
        crate::runtime::container::stop_on_nodes,
    )
}

/// What is done to a cluster's containers on its nodes (see
/// [`crate::runtime::container::remove_on_nodes`]); warnings in words.
type ContainerStep = fn(&str, &[Box<dyn crate::runtime::node::Node>]) -> Vec<String>;

/// Runs `what` on the nodes of a cluster launched with `image_id: docker:...`.
fn on_containers(control_dir: &Path, record: &ClusterRecord, what: ContainerStep) -> Vec<String> {
    let uses_containers = serde_json::from_str::<crate::task::ResourceSet>(&record.resources_json)
        .map(|set| {
            set.candidates()
                .iter()
                .any(|r| matches!(r.image_id, Some(crate::task::ImageId::Docker(_))))
        })
        .unwrap_or(false);
    if !uses_containers {
        return Vec::new();
    }
    let nodes: Vec<Box<dyn crate::runtime::node::Node>> = handle(record)
        .map(|h| h.nodes.iter().map(|a| a.connect(control_dir)).collect())
        .unwrap_or_default();
    what(&record.name, &nodes)
        .into_iter()
        .map(|w| format!("`{}`: {w}", record.name))
        .collect()
}

/// Takes the cluster's own SSH key off the hosts of a node pool (see
/// [`cluster_key::release_hosts`]); returns warnings for hosts not reached.
fn release_cluster_key(control_dir: &Path, record: &ClusterRecord) -> Vec<String> {
    let nodes: Vec<Box<dyn crate::runtime::node::Node>> = handle(record)
        .map(|h| h.nodes.iter().map(|a| a.connect(control_dir)).collect())
        .unwrap_or_default();
    cluster_key::release_hosts(&record.name, &nodes)
        .into_iter()
        .map(|e| {
            format!(
                "`{}`: could not remove the cluster's key from a host ({e}); the key itself is deleted",
                record.name
            )
        })
        .collect()
}

/// Removes the stop kits from the heads of the clusters in `batch` that have
/// autostop, all at once, best effort, before their machines stop: credentials
/// must not stay on a stopped disk (a down removes the kit with the agent, beside
/// the provider call).
fn drop_stop_kits(control_dir: &Path, batch: &[(ClusterRecord, ClusterLock)]) {
    std::thread::scope(|scope| {
        for (record, _) in batch.iter().filter(|(r, _)| r.autostop_minutes.is_some()) {
            scope.spawn(move || {
                if let Ok(handle) = handle(record)
                    && let Err(err) =
                        Head::new(handle.head, control_dir.to_path_buf()).drop_stop_kit()
                {
                    tracing::debug!("removing the stop kit of {}: {err}", record.name);
                }
            });
        }
    });
}

/// Cancels a cluster's jobs and stops its agent, best effort: an unreachable head
/// (preempted, never came up, already gone) has nothing left to stop.
fn stop_agent_at(control_dir: &Path, record: &ClusterRecord) {
    if let Ok(handle) = handle(record)
        && let Err(err) = Head::new(handle.head, control_dir.to_path_buf()).shutdown()
    {
        tracing::debug!("stopping the agent of {}: {err}", record.name);
    }
}

/// What each loaded provider says it can do, for the optimizer.
pub fn manifest_capabilities(
    providers: &super::Providers,
) -> std::collections::BTreeMap<String, crate::optimizer::CloudCapabilities> {
    providers
        .host
        .manifests()
        .iter()
        .map(|m| (m.name.clone(), (&m.capabilities).into()))
        .collect()
}

impl Client {
    /// Rewrites the SSH host entries; a failure is a warning (the cluster itself is
    /// fine).
    pub(crate) fn refresh_ssh_config(&self) {
        if let Err(err) = self.write_ssh_config() {
            self.emit(Event::Warning(format!(
                "SSH host entries not updated: {err}"
            )));
        }
    }
}
