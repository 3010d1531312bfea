//! Services through the client: `serve up`, `status`, `update`, `down`, `logs`,
//! and the one controller process (with every service's load balancer) that
//! keeps them as asked.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::roles::Role;
use crate::runtime::node::Forward;
use crate::serve::controller::{ServeBackend, ServeController, ServeSettings, url_host};
use crate::serve::{
    ReplicaRecord, ServeDb, ServeError, ServeEvent, ServicePlan, ServiceStatus, UpdateMode,
};
use crate::task::Task;

use super::controllers::{ControllerProcess, open_lock, take_controller_lock};
use super::jobs_remote::GrantConsent;
use super::{Client, ClientBackend, ClientError, ClientResult, Event, PlanOptions};

/// How long `serve up` waits for the endpoint to listen before it answers
/// without one.
const ENDPOINT_WAIT: Duration = Duration::from_secs(15);

/// How long `serve down` waits for every replica to be torn down.
const DOWN_WAIT: Duration = Duration::from_secs(30 * 60);

/// A service as `serve status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceView {
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: ServiceStatus,
    /// The newest version.
    pub version: u32,
    /// The endpoint's URL (`http://127.0.0.1:PORT`, `https://` with TLS), once
    /// it listens.
    pub endpoint: Option<String>,
    /// How updates replace replicas.
    pub update_mode: UpdateMode,
    /// When it was brought up (Unix seconds).
    pub created_at: i64,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    /// Its replicas.
    pub replicas: Vec<ReplicaRecord>,
}

impl ServiceView {
    /// How many of its replicas are READY (serving traffic).
    pub fn ready_replicas(&self) -> usize {
        self.replicas
            .iter()
            .filter(|r| r.status == crate::serve::ReplicaStatus::Ready)
            .count()
    }

    /// Why it failed, fit to show on a terminal (no control characters), when
    /// it did.
    pub fn failure_to_show(&self) -> Option<String> {
        self.failure.as_deref().map(crate::plugin::display_safe)
    }
}

/// What `serve logs` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeLogs {
    /// The controller's history of the service.
    Controller,
    /// The load balancer's lines.
    LoadBalancer,
    /// One replica's job output.
    Replica(u64),
}

impl Client {
    fn serve_db(&self) -> ClientResult<ServeDb> {
        Ok(ServeDb::open(&self.home.join("serve.db"))?)
    }

    fn serve_process(&self) -> ControllerProcess {
        ControllerProcess {
            role: Role::ServeController {
                home: self.home.clone(),
                tuning: self.serve_tuning,
            },
            lock: self.home.join("serve-controller.lock"),
            spawn_lock: self.home.join("serve-controller.starting.lock"),
            log: self.serve_log_path(),
        }
    }

    fn serve_log_path(&self) -> PathBuf {
        self.home.join("serve-controller.log")
    }

    /// Checks a service's task as `serve up` and `serve update` do, before
    /// anything is written: its `service:` section, and that its replicas can be
    /// launched and placed. Returns the task to store.
    fn servable(&self, task: &Task) -> ClientResult<Task> {
        ServicePlan::from_task(task)?.check_files()?;
        let mut replica = task.clone();
        replica.service = None;
        super::plan::check_launchable(&replica)?;
        super::volumes::refuse_volumes(&replica, "services")?;
        self.plan(std::slice::from_ref(&replica), &PlanOptions::default())?;
        let mut stored = task.clone();
        // The controller runs elsewhere: relative paths are this directory's.
        stored.resolve_local_paths(&std::env::current_dir().map_err(ClientError::other)?);
        Ok(stored)
    }

    /// Brings a service up: checks its task (nothing is written when it is not
    /// servable; relative local paths are resolved against the current
    /// directory, see [`Task::resolve_local_paths`]), records it, starts the controller and waits briefly for the
    /// endpoint. Returns the service's name and endpoint URL (`None` while it
    /// does not listen yet). With a controller cluster configured
    /// (`jobs.controller`), the service is served there; a grant not consented to
    /// before is refused (see [`Client::serve_up_with_consent`]).
    pub fn serve_up(
        &self,
        task: &Task,
        name: Option<&str>,
    ) -> ClientResult<(String, Option<String>)> {
        self.serve_up_with_consent(task, name, &mut |_| false)
    }

    /// [`Client::serve_up`], asking `consent` before the controller cluster is
    /// given credentials it was not granted before (as
    /// [`Client::submit_job_with_consent`] does).
    pub fn serve_up_with_consent(
        &self,
        task: &Task,
        name: Option<&str>,
        consent: &mut GrantConsent<'_>,
    ) -> ClientResult<(String, Option<String>)> {
        let name = match name.or(task.name.as_deref()) {
            Some(name) => name.to_string(),
            None => format!("service-{:04x}", std::process::id() & 0xffff),
        };
        crate::state::validate_cluster_name(&name)
            .map_err(|e| ClientError::InvalidInput(format!("service name: {e}")))?;
        if self.jobs_controller_cluster().is_some() {
            ServicePlan::from_task(task)?.check_files()?;
            if let Some(remote) = self.remote_serve(Some(consent))? {
                return self.remote_serve_up(&remote, task, &name);
            }
        }
        let stored = self.servable(task)?;
        // Replicas are clusters `NAME-ID`: one of those already here (a cluster
        // of the user's, or a replica an earlier service left) would be reused.
        let taken = self.state.clusters()?.into_iter().find(|c| {
            c.name
                .strip_prefix(&format!("{name}-"))
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        });
        if let Some(cluster) = taken {
            return Err(ServeError::Invalid(format!(
                "cluster `{}` exists, and replicas of service `{name}` would be clusters \
                 `{name}-1`, `{name}-2`, ...: take it down or name the service otherwise (-n)",
                cluster.name
            ))
            .into());
        }
        self.serve_db()?
            .add_service(&name, &stored.to_yaml_string_with_secrets())?;
        self.emit(Event::Step(format!("Service `{name}` submitted.")));
        self.ensure_controller(&self.serve_process())?;
        let deadline = Instant::now() + ENDPOINT_WAIT;
        let db = self.serve_db()?;
        loop {
            let service = db.service(&name)?;
            match service {
                Some(s) if s.port.is_some() => {
                    return Ok((name, self.endpoint(&db, &s.name, s.version, s.port)));
                }
                Some(s) if s.status == ServiceStatus::ControllerFailed => {
                    return Err(ServeError::Controller(s.failure.unwrap_or_default()).into());
                }
                _ if Instant::now() >= deadline => return Ok((name, None)),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The endpoint's URL: `https://` when the service's newest version
    /// terminates TLS.
    fn endpoint(
        &self,
        db: &ServeDb,
        name: &str,
        version: u32,
        port: Option<u16>,
    ) -> Option<String> {
        let tls = db
            .version_spec(name, version)
            .ok()
            .flatten()
            .and_then(|yaml| Task::from_yaml_str(&yaml, name, &Default::default()).ok())
            .and_then(|tasks| tasks.into_iter().next())
            .and_then(|task| ServicePlan::from_task(&task).ok())
            .is_some_and(|plan| plan.tls.is_some());
        let scheme = if tls { "https" } else { "http" };
        port.map(|p| format!("{scheme}://127.0.0.1:{p}"))
    }

    /// Services (all, or those named; an unknown name is an error), with their
    /// replicas. A controller that died is started again, and resumes them.
    pub fn serve_status(&self, names: &[String]) -> ClientResult<Vec<ServiceView>> {
        if let Some(remote) = self.remote_serve_if_up()? {
            return self.remote_serve_status(&remote, names);
        }
        let db = self.serve_db()?;
        let services = db.services()?;
        if let Some(missing) = names
            .iter()
            .find(|n| !services.iter().any(|s| &s.name == *n))
        {
            return Err(ServeError::UnknownService(missing.clone()).into());
        }
        if !services.is_empty() {
            self.ensure_controller(&self.serve_process())?;
        }
        services
            .into_iter()
            .filter(|s| names.is_empty() || names.contains(&s.name))
            .map(|s| {
                Ok(ServiceView {
                    replicas: db.replicas(&s.name)?,
                    endpoint: self.endpoint(&db, &s.name, s.version, s.port),
                    name: s.name,
                    status: s.status,
                    version: s.version,
                    update_mode: s.update_mode,
                    created_at: s.created_at,
                    failure: s.failure,
                })
            })
            .collect()
    }

    /// Replaces a service's task with `task` as a new version; replicas of the
    /// old one leave as `mode` says. Returns the new version.
    pub fn serve_update(&self, name: &str, task: &Task, mode: UpdateMode) -> ClientResult<u32> {
        if let Some(remote) = self.remote_serve_if_up()? {
            ServicePlan::from_task(task)?;
            return self.remote_serve_update(&remote, name, task, mode);
        }
        let db = self.serve_db()?;
        if db.service(name)?.is_none() {
            return Err(ServeError::UnknownService(name.to_string()).into());
        }
        let stored = self.servable(task)?;
        let version = db.add_version(name, &stored.to_yaml_string_with_secrets(), mode)?;
        self.emit(Event::Step(format!(
            "Service `{name}`: version {version} submitted ({} update).",
            mode.as_str()
        )));
        self.ensure_controller(&self.serve_process())?;
        Ok(version)
    }

    /// Takes services down (those named, or every one with `all`): their replicas
    /// are torn down and their endpoints closed; waits until they are gone. An
    /// unknown name is an error and nothing is touched. With `purge`, a service
    /// the controller cannot take down (its endpoint never opened) has its
    /// replica clusters torn down from here and is forgotten.
    pub fn serve_down(
        &self,
        names: &[String],
        all: bool,
        purge: bool,
    ) -> ClientResult<Vec<String>> {
        if let Some(remote) = self.remote_serve_if_up()? {
            return self.remote_serve_down(&remote, names, all, purge);
        }
        let db = self.serve_db()?;
        let services = db.services()?;
        let targets: Vec<String> = if all {
            services.iter().map(|s| s.name.clone()).collect()
        } else {
            if let Some(missing) = names
                .iter()
                .find(|n| !services.iter().any(|s| &s.name == *n))
            {
                return Err(ServeError::UnknownService(missing.clone()).into());
            }
            names.to_vec()
        };
        for name in &targets {
            db.mark_shutting_down(name)?;
        }
        if targets.is_empty() {
            return Ok(targets);
        }
        self.ensure_controller(&self.serve_process())?;
        let deadline = Instant::now() + DOWN_WAIT;
        let mut last = String::new();
        loop {
            let mut left = Vec::new();
            for name in &targets {
                if let Some(service) = db.service(name)? {
                    if purge
                        && service.port.is_none()
                        && service.status == ServiceStatus::ControllerFailed
                    {
                        self.purge_service(&db, name)?;
                        continue;
                    }
                    left.push(format!("{name} ({} replicas)", db.replicas(name)?.len()));
                }
            }
            if left.is_empty() {
                return Ok(targets);
            }
            let now = left.join(", ");
            if now != last {
                self.emit(Event::Step(format!("Shutting down: {now}")));
                last = now;
            }
            if self.cancel.is_cancelled() || Instant::now() >= deadline {
                return Err(ClientError::Interrupted {
                    stage: "while services shut down".into(),
                    left: format!(
                        "the controller goes on taking down {last}; see `aloft serve status`"
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The controller cluster's host when services are served there: an error
    /// while it is not up (there is nothing to show or change without it).
    fn remote_serve_if_up(&self) -> ClientResult<Option<super::jobs_remote::RemoteJobs>> {
        if self.jobs_controller_cluster().is_none() {
            return Ok(None);
        }
        if self.state.cluster(super::CONTROLLER_CLUSTER)?.is_none() {
            return Err(ServeError::Invalid(format!(
                "services are served on the controller cluster `{}` (jobs.controller in config.yaml), which is not up; `aloft serve up` brings it up",
                super::CONTROLLER_CLUSTER
            ))
            .into());
        }
        self.remote_serve(None)
    }

    fn purge_service(&self, db: &ServeDb, name: &str) -> ClientResult<()> {
        for r in db.replicas(name)? {
            match self.down(&r.cluster, false) {
                Ok(()) | Err(ClientError::UnknownCluster { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        db.remove_service(name)?;
        Ok(())
    }

    /// Writes what `which` shows of a service to `out`; `follow` keeps writing
    /// until the service is gone (or, for a replica, its job ends).
    pub fn serve_logs(
        &self,
        name: &str,
        which: ServeLogs,
        follow: bool,
        out: &mut dyn Write,
    ) -> ClientResult<()> {
        if let Some(remote) = self.remote_serve_if_up()? {
            return self.remote_serve_logs(&remote, name, which, follow, out);
        }
        let db = self.serve_db()?;
        if db.service(name)?.is_none() {
            return Err(ServeError::UnknownService(name.to_string()).into());
        }
        match which {
            ServeLogs::Replica(id) => {
                let replica = db
                    .replicas(name)?
                    .into_iter()
                    .find(|r| r.id == id)
                    .ok_or_else(|| {
                        ServeError::Invalid(format!("service `{name}` has no replica {id}"))
                    })?;
                let job = replica
                    .cluster_job_id
                    .and_then(|j| u64::try_from(j).ok())
                    .ok_or_else(|| {
                        ServeError::Invalid(format!(
                            "replica {id} of `{name}` has not started its job yet ({})",
                            replica.status
                        ))
                    })?;
                self.logs(&replica.cluster, job, None, follow, out)
            }
            ServeLogs::Controller => {
                let mut shown = 0;
                loop {
                    let events: Vec<ServeEvent> = db.events(name)?;
                    for e in events.iter().skip(shown) {
                        writeln!(out, "{} {}", crate::clock::utc(e.at), e.message)
                            .map_err(ClientError::other)?;
                    }
                    shown = events.len();
                    if !follow || self.cancel.is_cancelled() || db.service(name)?.is_none() {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            ServeLogs::LoadBalancer => {
                let tag = format!("[lb {name}]");
                let mut shown = 0;
                loop {
                    let text = std::fs::read_to_string(self.serve_log_path()).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().filter(|l| l.contains(&tag)).collect();
                    for line in lines.iter().skip(shown) {
                        writeln!(out, "{line}").map_err(ClientError::other)?;
                    }
                    shown = lines.len();
                    if !follow || self.cancel.is_cancelled() || db.service(name)?.is_none() {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }

    /// Runs the service controller on this thread until no service is left for
    /// `settings.idle_exit_after`; its endpoints listen on the client's
    /// [`ClientBuilder::serve_endpoint_bind`](super::ClientBuilder::serve_endpoint_bind)
    /// address when one is set. Returns `Ok(false)` at once when another
    /// controller holds the lock.
    pub fn run_serve_controller(&self, mut settings: ServeSettings) -> ClientResult<bool> {
        if let Some(ip) = self.serve_bind {
            settings.bind_ip = ip;
        }
        let process = self.serve_process();
        let Some(lock) = take_controller_lock(&process.lock)? else {
            return Ok(false);
        };
        let backend: Arc<dyn ServeBackend> = Arc::new(ClientBackend::for_client(self));
        let controller = ServeController::new(self.home.join("serve.db"), backend, settings)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(ClientError::other)?;
        loop {
            rt.block_on(controller.run())?;
            // Idle: a service brought up since the last round is either seen
            // here or its command finds no controller and starts one.
            let spawning = open_lock(&process.spawn_lock)?;
            spawning.lock().map_err(ClientError::other)?;
            if controller.no_services()? {
                drop(lock);
                drop(spawning);
                return Ok(true);
            }
        }
    }
}

impl ServeBackend for ClientBackend {
    fn replica_address(&self, cluster: &str, port: u16) -> Option<String> {
        if let Some(address) = self.forwarded_address(cluster) {
            return Some(address);
        }
        let forwarded = |f: &Forward| format!("127.0.0.1:{}", f.local_port());
        let (address, forward) = self
            .with_client(|client| {
                let record = client.state().cluster(cluster).ok()??;
                match client.head_of(&record).ok()?.forward(port) {
                    Ok(Some(forward)) => Some((forwarded(&forward), Some(forward))),
                    Ok(None) => {
                        let ip = super::lifecycle::handle(&record)
                            .ok()?
                            .ips
                            .first()
                            .cloned()?;
                        Some((format!("{}:{port}", url_host(&ip)), None))
                    }
                    Err(err) => {
                        tracing::warn!("cannot reach port {port} of `{cluster}`: {err}");
                        None
                    }
                }
            })
            .ok()
            .flatten()?;
        if let Some(forward) = forward {
            self.forwards().insert(cluster.to_string(), forward);
        }
        Some(address)
    }
}

impl ClientBackend {
    fn forwards(&self) -> std::sync::MutexGuard<'_, HashMap<String, Forward>> {
        // Plain data: a panic while it was held leaves it usable.
        self.forwards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The local address of the forward kept for `cluster`, while it runs (one
    /// that ended is dropped).
    fn forwarded_address(&self, cluster: &str) -> Option<String> {
        let mut forwards = self.forwards();
        let forward = forwards.get_mut(cluster)?;
        if forward.is_alive() {
            return Some(format!("127.0.0.1:{}", forward.local_port()));
        }
        forwards.remove(cluster);
        None
    }

    /// Ends the forward kept for `cluster`, if any (its cluster is going).
    pub(super) fn end_forward(&self, cluster: &str) {
        let forward = self.forwards().remove(cluster);
        drop(forward);
    }
}
