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

/// What the controller needs from the world beyond a jobs backend: where a
/// replica's cluster can be reached.
pub trait ServeBackend: JobBackend {
    /// The host (an IP) of the cluster's head node, where its server listens.
    fn head_host(&self, cluster: &str) -> Option<String>;
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
    Probed(bool),
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
                    let (service_name, id) = (name.clone(), r.id);
                    busy.insert((name.clone(), r.id));
                    ops.spawn_blocking(move || {
                        let reconciled = backend.reconcile(&cref);
                        let host = backend.head_host(&cref.cluster);
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

    fn scale(
        &self,
        db: &ServeDb,
        live: &mut Live,
        service: &ServiceRecord,
        replicas: &[ReplicaRecord],
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) -> Result<(), ServeError> {
        let version = service.version;
        let Some((plan, task)) = live.plans.get(&version).cloned() else {
            return Ok(());
        };
        if live.autoscaler_version != version {
            // A new version brings its own policy; the count carries over.
            live.autoscaler = Autoscaler::new(&plan);
            live.autoscaler_version = version;
        }
        let qps = live.balancer.request_rate(self.settings.qps_window);
        let target = live.autoscaler.decide(qps, Instant::now());
        let current: Vec<&ReplicaRecord> = replicas
            .iter()
            .filter(|r| r.version == version && !r.status.is_leaving())
            .collect();
        let ready = |spot: Option<bool>| {
            current
                .iter()
                .filter(|r| {
                    r.status == ReplicaStatus::Ready && spot.is_none_or(|s| r.use_spot == s)
                })
                .count() as u32
        };
        let (spot_want, on_demand_want) = if plan.use_spot {
            let base = plan.base_ondemand_fallback_replicas.min(target);
            let spot = target - base;
            let cover = if plan.dynamic_ondemand_fallback {
                spot.saturating_sub(ready(Some(true)))
            } else {
                0
            };
            (spot, base + cover)
        } else {
            (0, target)
        };
        let local_ports = task
            .resources
            .candidates()
            .iter()
            .all(|r| r.infra.cloud.as_deref() == Some("local"));
        let backing_off = live.backoff_until.is_some_and(|t| t > Instant::now());
        for (spot, want) in [(true, spot_want), (false, on_demand_want)] {
            let mut have: Vec<&ReplicaRecord> = current
                .iter()
                .copied()
                .filter(|r| r.use_spot == spot)
                .collect();
            let count = have.len() as u32;
            if count < want && !backing_off && live.precheck_failure.is_none() {
                for _ in count..want {
                    let port = if local_ports {
                        free_loopback_port()?
                    } else {
                        plan.replica_port
                    };
                    let r = db.new_replica(&service.name, version, spot, port)?;
                    db.event(
                        &service.name,
                        &format!(
                            "replica {} ({}, version {version}) to launch",
                            r.id,
                            if spot { "spot" } else { "on-demand" }
                        ),
                    )?;
                    self.launch(db, live, &r, ops, busy)?;
                }
            } else if count > want {
                have.sort_by_key(|r| (r.status.scale_down_rank(), std::cmp::Reverse(r.id)));
                for r in have.into_iter().take((count - want) as usize) {
                    db.event(&service.name, &format!("replica {} scaled down", r.id))?;
                    self.retire(db, r)?;
                }
            }
        }
        // Older versions leave as the newest one becomes ready.
        let ready_new = ready(None);
        let mut old: Vec<&ReplicaRecord> = replicas
            .iter()
            .filter(|r| r.version < version && !r.status.is_leaving())
            .collect();
        let keep_old = match service.update_mode {
            UpdateMode::Rolling => target.saturating_sub(ready_new) as usize,
            UpdateMode::BlueGreen if ready_new >= target => 0,
            UpdateMode::BlueGreen => old.len(),
        };
        if old.len() > keep_old {
            old.sort_by_key(|r| (r.status.scale_down_rank(), r.id));
            let n = old.len() - keep_old;
            for r in old.into_iter().take(n) {
                db.event(
                    &service.name,
                    &format!("replica {} of version {} retired", r.id, r.version),
                )?;
                self.retire(db, r)?;
            }
        }
        Ok(())
    }

    /// Points the endpoint at the replicas that should take traffic.
    fn route(
        &self,
        db: &ServeDb,
        live: &mut Live,
        service: &ServiceRecord,
        replicas: &[ReplicaRecord],
    ) -> Result<(), ServeError> {
        let ready: Vec<&ReplicaRecord> = replicas
            .iter()
            .filter(|r| r.status == ReplicaStatus::Ready && r.url.is_some())
            .collect();
        let newest: Vec<&ReplicaRecord> = ready
            .iter()
            .copied()
            .filter(|r| r.version == service.version)
            .collect();
        let chosen: Vec<&ReplicaRecord> = match service.update_mode {
            UpdateMode::BlueGreen if (newest.len() as u32) < live.autoscaler.current() => {
                let old: Vec<&ReplicaRecord> = ready
                    .iter()
                    .copied()
                    .filter(|r| r.version != service.version)
                    .collect();
                if old.is_empty() { newest } else { old }
            }
            UpdateMode::BlueGreen => newest,
            UpdateMode::Rolling => ready,
        };
        let ids: Vec<u64> = chosen.iter().map(|r| r.id).collect();
        if ids != live.routed {
            live.balancer.set_replicas(
                chosen
                    .iter()
                    .filter_map(|r| r.url.clone().map(|url| Replica { id: r.id, url }))
                    .collect(),
            );
            log(&format!("[lb {}] replicas {ids:?}", service.name));
            db.event(
                &service.name,
                &format!("endpoint routes to replicas {ids:?}"),
            )?;
            live.routed = ids;
        }
        Ok(())
    }

    fn launch(
        &self,
        db: &ServeDb,
        live: &Live,
        r: &ReplicaRecord,
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) -> Result<(), ServeError> {
        let Some((plan, task)) = live.plans.get(&r.version) else {
            return Ok(());
        };
        let spec_yaml = replica_task(task, plan, r).to_yaml_string_with_secrets();
        let mut updated = r.clone();
        updated.status = ReplicaStatus::Provisioning;
        db.put_replica(&updated)?;
        let req = LaunchRequest {
            job_id: i64::try_from(r.id).unwrap_or_default(),
            task_index: 0,
            spec_yaml,
            cluster: r.cluster.clone(),
            constraints: LaunchConstraints::default(),
            envs: BTreeMap::from([
                ("ALOFT_SERVE_PORT".to_string(), r.port.to_string()),
                ("ALOFT_SERVE_REPLICA_ID".to_string(), r.id.to_string()),
                ("ALOFT_SERVE_VERSION".to_string(), r.version.to_string()),
            ]),
        };
        let backend = Arc::clone(&self.backend);
        let (service, id) = (r.service.clone(), r.id);
        busy.insert((service.clone(), id));
        log(&format!(
            "service {service}: launching replica {id} on {}",
            r.cluster
        ));
        ops.spawn_blocking(move || {
            let result = backend
                .launch(&req)
                .map(|launched| (launched, backend.head_host(&req.cluster)));
            Done {
                service,
                replica: id,
                outcome: Outcome::Launched(result),
            }
        });
        Ok(())
    }

    fn probe(
        &self,
        r: &ReplicaRecord,
        plan: &ServicePlan,
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) {
        let Some(base) = r.url.clone() else {
            return;
        };
        let url = format!("{base}{}", plan.probe.path);
        let mut request = match &plan.probe.post_data {
            Some(body) => self.http.post(&url).json(body),
            None => self.http.get(&url),
        };
        for (k, v) in &plan.probe.headers {
            request = request.header(k, v);
        }
        let request = request.timeout(plan.probe.timeout);
        let (service, id) = (r.service.clone(), r.id);
        busy.insert((service.clone(), id));
        ops.spawn(async move {
            let ok = request
                .send()
                .await
                .is_ok_and(|resp| resp.status().is_success());
            Done {
                service,
                replica: id,
                outcome: Outcome::Probed(ok),
            }
        });
    }

    /// Takes a replica out: out of the endpoint this round; its cluster is torn
    /// down in a later round, once the requests it was serving have ended.
    fn retire(&self, db: &ServeDb, r: &ReplicaRecord) -> Result<(), ServeError> {
        let mut updated = r.clone();
        updated.status = ReplicaStatus::ShuttingDown;
        db.put_replica(&updated)
    }

    fn tear_down(
        &self,
        db: &ServeDb,
        live: &mut Live,
        r: &ReplicaRecord,
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) -> Result<(), ServeError> {
        if busy.contains(&(r.service.clone(), r.id)) {
            return Ok(());
        }
        if live
            .teardown_retry
            .get(&r.id)
            .is_some_and(|t| *t > Instant::now())
        {
            return Ok(());
        }
        // Requests already sent to it finish first (the balancer ends each within
        // the stream timeout).
        if live.balancer.in_flight().get(&r.id).is_some_and(|n| *n > 0) {
            return Ok(());
        }
        if !r.status.is_leaving() {
            let mut updated = r.clone();
            updated.status = ReplicaStatus::ShuttingDown;
            db.put_replica(&updated)?;
        }
        busy.insert((r.service.clone(), r.id));
        self.spawn_teardown(r, ops);
        Ok(())
    }

    fn spawn_teardown(&self, r: &ReplicaRecord, ops: &mut JoinSet<Done>) {
        let backend = Arc::clone(&self.backend);
        let cref = cluster_ref(r);
        let (service, id) = (r.service.clone(), r.id);
        log(&format!(
            "service {service}: tearing down replica {id} ({})",
            r.cluster
        ));
        ops.spawn_blocking(move || Done {
            service,
            replica: id,
            outcome: Outcome::TornDown(backend.teardown(&cref).map_err(|e| e.to_string())),
        });
    }

    fn apply(
        &self,
        db: &ServeDb,
        lives: &mut HashMap<String, Live>,
        done: Done,
    ) -> Result<(), ServeError> {
        let name = done.service.as_str();
        let replicas = db.replicas(name)?;
        if let Outcome::Polled(probes) = done.outcome {
            if let Some(live) = lives.get_mut(name) {
                live.polling = false;
            }
            for (id, probe) in probes {
                let Some(r) = replicas.iter().find(|r| r.id == id) else {
                    continue;
                };
                if !matches!(
                    r.status,
                    ReplicaStatus::Starting | ReplicaStatus::Ready | ReplicaStatus::NotReady
                ) {
                    continue;
                }
                let status = match probe {
                    JobProbe::ClusterGone if r.use_spot => ReplicaStatus::Preempted,
                    JobProbe::ClusterGone => ReplicaStatus::Failed,
                    JobProbe::Failed { .. } | JobProbe::Succeeded => ReplicaStatus::Failed,
                    JobProbe::Running | JobProbe::Unreachable(_) => continue,
                };
                let why = match status {
                    ReplicaStatus::Preempted => "its spot instance was preempted",
                    _ if matches!(probe, JobProbe::ClusterGone) => "its cluster is gone",
                    _ => "its job ended",
                };
                db.event(name, &format!("replica {id}: {status}: {why}"))?;
                let mut updated = r.clone();
                updated.status = status;
                db.put_replica(&updated)?;
            }
            return Ok(());
        }
        let Some(r) = replicas.iter().find(|r| r.id == done.replica) else {
            return Ok(());
        };
        let mut updated = r.clone();
        match done.outcome {
            Outcome::Launched(Ok((launched, host)))
            | Outcome::Reconciled(Reconciled::Alive { launched, .. }, host) => {
                if r.status.is_leaving() {
                    // Retired while it launched: the next round tears it down.
                    return Ok(());
                }
                updated.cluster_job_id = launched.cluster_job_id;
                updated.location = Some(format!(
                    "{}/{}",
                    launched.location.cloud, launched.location.region
                ));
                updated.launched_at = Some(now());
                match host {
                    Some(host) => {
                        updated.status = ReplicaStatus::Starting;
                        updated.url = Some(format!("http://{}:{}", url_host(&host), r.port));
                        db.event(
                            name,
                            &format!(
                                "replica {} launched on {}",
                                r.id,
                                updated.location.as_deref().unwrap_or("?")
                            ),
                        )?;
                    }
                    None => {
                        updated.status = ReplicaStatus::FailedProvision;
                        db.event(
                            name,
                            &format!("replica {}: its cluster has no address", r.id),
                        )?;
                    }
                }
            }
            Outcome::Launched(Err(err)) => {
                updated.status = ReplicaStatus::FailedProvision;
                db.event(name, &format!("replica {}: launch failed: {err}", r.id))?;
                if let Some(live) = lives.get_mut(name) {
                    live.backoff_until = Some(Instant::now() + self.settings.launch_backoff);
                    if let LaunchError::Precheck(why) = &err {
                        live.precheck_failure = Some(why.clone());
                    }
                }
            }
            Outcome::Reconciled(Reconciled::Absent, _) => {
                updated.status = ReplicaStatus::FailedProvision;
                db.event(
                    name,
                    &format!("replica {}: its launch was cut short; replacing it", r.id),
                )?;
            }
            Outcome::Probed(ok) => {
                let Some(live) = lives.get(name) else {
                    return Ok(());
                };
                let Some((plan, _)) = live.plans.get(&r.version) else {
                    return Ok(());
                };
                let t = now();
                let elapsed = |since: Option<i64>| {
                    Duration::from_secs(u64::try_from(t - since.unwrap_or(t)).unwrap_or(0))
                };
                match (r.status, ok) {
                    (ReplicaStatus::Starting | ReplicaStatus::NotReady, true) => {
                        updated.status = ReplicaStatus::Ready;
                        updated.ready_at.get_or_insert(t);
                        updated.failing_since = None;
                        db.event(name, &format!("replica {} READY", r.id))?;
                    }
                    (ReplicaStatus::Ready, true) => return Ok(()),
                    (ReplicaStatus::Starting, false) => {
                        if elapsed(r.launched_at) < plan.probe.initial_delay {
                            return Ok(());
                        }
                        updated.status = ReplicaStatus::FailedInitialDelay;
                        db.event(
                            name,
                            &format!("replica {}: not ready within the initial delay", r.id),
                        )?;
                    }
                    (ReplicaStatus::Ready, false) => {
                        updated.status = ReplicaStatus::NotReady;
                        updated.failing_since = Some(t);
                        db.event(
                            name,
                            &format!("replica {} NOT_READY: its probe fails", r.id),
                        )?;
                    }
                    (ReplicaStatus::NotReady, false) => {
                        if elapsed(r.failing_since) < plan.probe.failure_timeout {
                            return Ok(());
                        }
                        updated.status = ReplicaStatus::FailedProbing;
                        db.event(
                            name,
                            &format!("replica {}: failed its probe too long", r.id),
                        )?;
                    }
                    _ => return Ok(()),
                }
            }
            Outcome::TornDown(Ok(())) => {
                db.remove_replica(name, r.id)?;
                db.event(name, &format!("replica {} torn down", r.id))?;
                if let Some(live) = lives.get_mut(name) {
                    live.next_check.remove(&r.id);
                    live.teardown_retry.remove(&r.id);
                }
                return Ok(());
            }
            Outcome::TornDown(Err(err)) => {
                // Tried again after a while, not every round.
                if let Some(live) = lives.get_mut(name) {
                    live.teardown_retry
                        .insert(r.id, Instant::now() + self.settings.launch_backoff);
                }
                db.event(
                    name,
                    &format!("replica {}: teardown failed (tried again): {err}", r.id),
                )?;
                return Ok(());
            }
            Outcome::Polled(_) => return Ok(()),
        }
        db.put_replica(&updated)
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

fn url_host(host: &str) -> String {
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
