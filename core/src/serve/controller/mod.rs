//! The service controller: one async loop for every service in the serving
//! database. Each round it starts the endpoint (a [`Balancer`]) of a new
//! service, launches, probes, polls and tears down replicas (each call on its own
//! task, so a slow launch never holds up probes), asks the [`Autoscaler`] how
//! many replicas the measured request rate needs, rolls updates and routes the
//! endpoint to the replicas that pass their probe.
//!
//! Everything it decides is written to [`ServeDb`] before it acts, so a
//! controller killed at any point is replaced by one that adopts what exists
//! (a replica whose launch was cut is reconciled, not launched twice).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::jobs::{
    ClusterRef, JobBackend, JobProbe, LaunchConstraints, LaunchError, LaunchRequest, Launched,
    Reconciled,
};
use crate::task::{Overrides, PortRange, Task};

use super::autoscale::Autoscaler;
use super::balancer::{Balancer, BalancerConfig, Policy, Replica, TlsFiles};
use super::{
    ReplicaRecord, ReplicaStatus, ServeDb, ServeError, ServicePlan, ServiceRecord, ServiceStatus,
    UpdateMode, now,
};

mod apply;
mod ops;
mod scale;

/// What the controller needs from the world beyond a jobs backend: where a
/// replica's cluster can be reached.
pub trait ServeBackend: JobBackend {
    /// The address (`host:port`) at which this controller reaches `port` on the
    /// cluster's head node, where the replica's server listens: the head's IP, or
    /// a local port forwarded over SSH where only SSH reaches the head. Asked
    /// again before every probe, so a forward that ended is started anew.
    fn replica_address(&self, cluster: &str, port: u16) -> Option<String>;
}

/// How often the controller looks and acts.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// One round of the loop.
    pub tick: Duration,
    /// How often replica clusters are asked about (the provider and the heads):
    /// a preempted replica is noticed within this.
    pub poll_every: Duration,
    /// The window the request rate is measured over (SkyServe: 60 s).
    pub qps_window: Duration,
    /// The controller exits after this long without a service.
    pub idle_exit_after: Duration,
    /// After a failed launch, the service waits this long before the next one.
    pub launch_backoff: Duration,
    /// The address endpoints listen on.
    pub bind_ip: IpAddr,
    /// The ports endpoints are given from (first free one).
    pub ports: (u16, u16),
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            tick: Duration::from_secs(1),
            poll_every: Duration::from_secs(4),
            qps_window: Duration::from_secs(60),
            idle_exit_after: Duration::from_secs(60),
            launch_backoff: Duration::from_secs(15),
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: (30001, 30100),
        }
    }
}

/// The controller.
pub struct ServeController {
    db_path: PathBuf,
    backend: Arc<dyn ServeBackend>,
    settings: ServeSettings,
    http: reqwest::Client,
}

/// A service's state that lives in this process only.
struct Live {
    balancer: Arc<Balancer>,
    autoscaler: Autoscaler,
    autoscaler_version: u32,
    plans: HashMap<u32, (ServicePlan, Task)>,
    next_check: HashMap<u64, Instant>,
    teardown_retry: HashMap<u64, Instant>,
    backoff_until: Option<Instant>,
    next_poll: Instant,
    polling: bool,
    routed: Vec<u64>,
    precheck_failure: Option<String>,
}

enum Outcome {
    Launched(Result<(Launched, Option<String>), LaunchError>),
    /// Whether the probe passed, and the replica's URL it was sent to.
    Probed(bool, Option<String>),
    TornDown(Result<(), String>),
    Polled(Vec<(u64, JobProbe)>),
    Reconciled(Reconciled, Option<String>),
}

struct Done {
    service: String,
    replica: u64,
    outcome: Outcome,
}

impl ServeController {
    /// A controller over the serving database at `db_path`.
    pub fn new(
        db_path: PathBuf,
        backend: Arc<dyn ServeBackend>,
        settings: ServeSettings,
    ) -> Result<ServeController, ServeError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| ServeError::Controller(format!("probe client: {e}")))?;
        ServeDb::open(&db_path)?;
        Ok(ServeController {
            db_path,
            backend,
            settings,
            http,
        })
    }

    /// Runs every service until none has been left for `idle_exit_after`.
    pub async fn run(&self) -> Result<(), ServeError> {
        let db = ServeDb::open(&self.db_path)?;
        let mut lives: HashMap<String, Live> = HashMap::new();
        let mut ops: JoinSet<Done> = JoinSet::new();
        let mut busy: HashSet<(String, u64)> = HashSet::new();
        let mut idle_since: Option<Instant> = None;
        loop {
            while let Some(done) = ops.try_join_next() {
                if let Ok(done) = done {
                    busy.remove(&(done.service.clone(), done.replica));
                    self.apply(&db, &mut lives, done)?;
                }
            }
            let services = db.services()?;
            for service in &services {
                if let Err(err) = self
                    .round(&db, &mut lives, service, &mut ops, &mut busy)
                    .await
                {
                    log(&format!("service {}: {err}", service.name));
                }
            }
            // Services removed behind our back (`serve down --purge`).
            let names: HashSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
            let gone: Vec<String> = lives
                .keys()
                .filter(|n| !names.contains(n.as_str()))
                .cloned()
                .collect();
            for name in gone {
                if let Some(live) = lives.remove(&name) {
                    live.balancer.shutdown().await;
                    log(&format!("[lb {name}] closed"));
                }
            }
            if services.is_empty() && ops.is_empty() {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.settings.idle_exit_after {
                    return Ok(());
                }
            } else {
                idle_since = None;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.tick) => {}
                Some(done) = ops.join_next() => {
                    if let Ok(done) = done {
                        busy.remove(&(done.service.clone(), done.replica));
                        self.apply(&db, &mut lives, done)?;
                    }
                }
            }
        }
    }

    /// Whether the database has no service left (the caller exits under the
    /// spawn lock when so).
    pub fn no_services(&self) -> Result<bool, ServeError> {
        Ok(ServeDb::open(&self.db_path)?.services()?.is_empty())
    }

    async fn start_live(&self, db: &ServeDb, service: &ServiceRecord) -> Result<Live, ServeError> {
        let (plan, _) = self.plan(db, &service.name, service.version)?;
        let taken: HashSet<u16> = db
            .services()?
            .iter()
            .filter(|s| s.name != service.name)
            .filter_map(|s| s.port)
            .collect();
        let mut ports: Vec<u16> = service.port.into_iter().collect();
        ports
            .extend((self.settings.ports.0..=self.settings.ports.1).filter(|p| !taken.contains(p)));
        let mut last = String::from("no port left in the range");
        for port in ports {
            let config = BalancerConfig {
                bind: SocketAddr::new(self.settings.bind_ip, port),
                policy: Policy::from_name(&plan.load_balancing_policy).unwrap_or(Policy::LeastLoad),
                tls: plan.tls.as_ref().map(|(key, cert)| TlsFiles {
                    certfile: cert.clone(),
                    keyfile: key.clone(),
                }),
                stream_timeout: plan.stream_timeout,
                retries: 3,
            };
            match Balancer::start(config).await {
                Ok(balancer) => {
                    db.set_port(&service.name, port)?;
                    log(&format!(
                        "[lb {}] listening on {}",
                        service.name,
                        balancer.local_addr()
                    ));
                    return Ok(Live {
                        balancer: Arc::new(balancer),
                        autoscaler: Autoscaler::new(&plan),
                        autoscaler_version: service.version,
                        plans: HashMap::new(),
                        next_check: HashMap::new(),
                        teardown_retry: HashMap::new(),
                        backoff_until: None,
                        next_poll: Instant::now(),
                        polling: false,
                        routed: Vec::new(),
                        precheck_failure: None,
                    });
                }
                Err(err) => last = err.to_string(),
            }
            if plan.tls.is_some() && last.contains("tls") {
                break;
            }
        }
        Err(ServeError::Controller(format!(
            "cannot open the endpoint: {last}"
        )))
    }

    fn plan(
        &self,
        db: &ServeDb,
        name: &str,
        version: u32,
    ) -> Result<(ServicePlan, Task), ServeError> {
        let yaml = db.version_spec(name, version)?.ok_or_else(|| {
            ServeError::Controller(format!("version {version} of `{name}` is not recorded"))
        })?;
        let task = Task::from_yaml_str(&yaml, name, &Overrides::default())
            .map_err(|e| ServeError::Controller(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| ServeError::Controller(format!("version {version} has no task")))?;
        Ok((ServicePlan::from_task(&task)?, task))
    }

    async fn round(
        &self,
        db: &ServeDb,
        lives: &mut HashMap<String, Live>,
        service: &ServiceRecord,
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) -> Result<(), ServeError> {
        let name = service.name.clone();
        if !lives.contains_key(&name) {
            match self.start_live(db, service).await {
                Ok(live) => {
                    lives.insert(name.clone(), live);
                }
                Err(err) => {
                    if service.status != ServiceStatus::ControllerFailed && !service.shutting_down {
                        db.set_status(
                            &name,
                            ServiceStatus::ControllerFailed,
                            Some(&err.to_string()),
                        )?;
                        db.event(&name, &err.to_string())?;
                    }
                    if service.shutting_down {
                        return self.shut_down_without_endpoint(db, service, ops, busy);
                    }
                    return Ok(());
                }
            }
        }
        let Some(live) = lives.get_mut(&name) else {
            return Ok(());
        };
        for v in db
            .replicas(&name)?
            .iter()
            .map(|r| r.version)
            .chain([service.version])
        {
            if let std::collections::hash_map::Entry::Vacant(e) = live.plans.entry(v) {
                e.insert(self.plan(db, &name, v)?);
            }
        }
        let replicas = db.replicas(&name)?;
        let now_i = Instant::now();
        if service.shutting_down {
            for r in &replicas {
                self.tear_down(db, live, r, ops, busy)?;
            }
            if replicas.is_empty() && !busy.iter().any(|(s, _)| *s == name) {
                live.balancer.shutdown().await;
                log(&format!("[lb {name}] closed"));
                db.event(&name, "service down: no replica left, endpoint closed")?;
                db.remove_service(&name)?;
                lives.remove(&name);
            }
            return Ok(());
        }
        // A replica the balancer could not reach is probed now, not at its
        // interval: a dead server leaves the endpoint within a round or two.
        for id in live.balancer.take_unreachable() {
            live.next_check.insert(id, now_i);
        }
        // Each replica's next step.
        for r in &replicas {
            if busy.contains(&(name.clone(), r.id)) {
                continue;
            }
            match r.status {
                ReplicaStatus::Pending => self.launch(db, live, r, ops, busy)?,
                ReplicaStatus::Provisioning => {
                    // Left by a controller that died during the launch.
                    let backend = Arc::clone(&self.backend);
                    let cref = cluster_ref(r);
                    let (service_name, id, port) = (name.clone(), r.id, r.port);
                    busy.insert((name.clone(), r.id));
                    ops.spawn_blocking(move || {
                        let reconciled = backend.reconcile(&cref);
                        let host = backend.replica_address(&cref.cluster, port);
                        Done {
                            service: service_name,
                            replica: id,
                            outcome: Outcome::Reconciled(reconciled, host),
                        }
                    });
                }
                ReplicaStatus::Starting | ReplicaStatus::Ready | ReplicaStatus::NotReady => {
                    let due = live.next_check.get(&r.id).is_none_or(|t| *t <= now_i);
                    if due && let Some((plan, _)) = live.plans.get(&r.version) {
                        live.next_check.insert(r.id, now_i + plan.probe.interval);
                        self.probe(r, plan, ops, busy);
                    }
                }
                _ => self.tear_down(db, live, r, ops, busy)?,
            }
        }
        // Ask the clusters (a preempted replica's cluster is gone).
        let launched: Vec<ClusterRef> = replicas
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    ReplicaStatus::Starting | ReplicaStatus::Ready | ReplicaStatus::NotReady
                )
            })
            .map(cluster_ref)
            .collect();
        if !launched.is_empty() && !live.polling && live.next_poll <= now_i {
            live.polling = true;
            live.next_poll = now_i + self.settings.poll_every;
            let backend = Arc::clone(&self.backend);
            let service_name = name.clone();
            ops.spawn_blocking(move || {
                let probes = backend.poll_many(&launched);
                Done {
                    service: service_name,
                    replica: 0,
                    outcome: Outcome::Polled(
                        launched
                            .iter()
                            .map(|c| u64::try_from(c.job_id).unwrap_or_default())
                            .zip(probes)
                            .collect(),
                    ),
                }
            });
        }
        self.scale(db, live, service, &replicas, ops, busy)?;
        let replicas = db.replicas(&name)?;
        self.route(db, live, service, &replicas)?;
        let ready = replicas.iter().any(|r| r.status == ReplicaStatus::Ready);
        let starting = replicas.iter().any(|r| !r.status.is_leaving());
        let (status, failure) = if ready {
            (ServiceStatus::Ready, None)
        } else if let Some(why) = &live.precheck_failure {
            (ServiceStatus::Failed, Some(why.as_str()))
        } else if starting {
            (ServiceStatus::ReplicaInit, None)
        } else {
            (ServiceStatus::NoReplica, None)
        };
        if status != service.status || failure != service.failure.as_deref() {
            db.set_status(&name, status, failure)?;
            db.event(&name, &format!("service {status}"))?;
        }
        Ok(())
    }

    /// `serve down` of a service whose endpoint never opened.
    fn shut_down_without_endpoint(
        &self,
        db: &ServeDb,
        service: &ServiceRecord,
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) -> Result<(), ServeError> {
        let replicas = db.replicas(&service.name)?;
        for r in &replicas {
            if busy.insert((service.name.clone(), r.id)) {
                self.spawn_teardown(r, ops);
            }
        }
        if replicas.is_empty() && !busy.iter().any(|(s, _)| *s == service.name) {
            db.remove_service(&service.name)?;
        }
        Ok(())
    }
}

/// The task a replica launches: the service's task without `service:`, with
/// the replica's spot choice and the replica port open.
fn replica_task(task: &Task, plan: &ServicePlan, r: &ReplicaRecord) -> Task {
    let mut task = task.clone();
    task.service = None;
    for res in task.resources.candidates_mut() {
        res.use_spot = r.use_spot;
        if !res
            .ports
            .iter()
            .any(|p| p.start <= plan.replica_port && plan.replica_port <= p.end)
        {
            res.ports.push(PortRange {
                start: plan.replica_port,
                end: plan.replica_port,
            });
        }
    }
    task
}

fn cluster_ref(r: &ReplicaRecord) -> ClusterRef {
    ClusterRef {
        job_id: i64::try_from(r.id).unwrap_or_default(),
        task_index: 0,
        cluster: r.cluster.clone(),
        cluster_job_id: r.cluster_job_id,
        location: None,
    }
}

pub(crate) fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// A port nothing listens on right now (for replicas that share this machine).
fn free_loopback_port() -> Result<u16, ServeError> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ServeError::Controller(format!("no free port for a replica: {e}")))
}

/// A line of the controller's log, stamped with Unix time in milliseconds.
fn log(line: &str) {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    eprintln!("{}.{:03} {line}", ms / 1000, ms % 1000);
}
