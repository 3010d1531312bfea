//! Launching for real and managing a cluster's life through its provider:
//! `launch` (without `--dryrun`), `stop`, `start`, `down`.

use std::path::Path;

use aloft::catalog::{Catalog, Offer};
use aloft::launch::{LaunchContext, LaunchRequest, NodeAddress, launch};
use aloft::optimizer::{Candidate, OptTask, OptimizeOptions};
use aloft::plugin::{
    ClusterRef, ErrorKind, Instance, InstanceStatus, PluginError, ProviderInstance, RunRequest,
};
use aloft::provision::{Failure, FailureKind, Provisioner, RetryPolicy};
use aloft::runtime::agent::unix_now;
use aloft::runtime::head::{ClusterHandle, Head, HeadLocation};
use aloft::runtime::keys::{KeyPair, ensure_key_pair};
use aloft::runtime::queue::JobStatus;
use aloft::state::{ClusterRecord, ClusterStatus};
use aloft::task::{ImageId, Resources, Task};

use crate::cmd::cluster_access;
use crate::config::{Config, aloft_home};
use crate::exit::{CliError, CliResult};
use crate::providers::{self, Providers};

/// Maps a provider's typed error to the failover engine's.
fn failure(err: PluginError) -> Failure {
    match err {
        PluginError::Provider { error, .. } => Failure {
            kind: match error.kind {
                ErrorKind::Capacity => FailureKind::Capacity,
                ErrorKind::Quota => FailureKind::Quota,
                ErrorKind::Auth => FailureKind::Auth,
                ErrorKind::Unsupported => FailureKind::Unsupported,
                ErrorKind::Transient => FailureKind::Transient,
                ErrorKind::Invalid => FailureKind::Invalid,
                ErrorKind::Other => FailureKind::Other,
            },
            code: error.code,
            message: error.message,
        },
        // A crashed or hung provider: try elsewhere.
        other => Failure {
            kind: FailureKind::Other,
            code: "ProviderFailed".into(),
            message: other.to_string(),
        },
    }
}

/// How the launcher reaches a provider's instances: the user's aloft key (unless
/// the provider names another, as node pools do) and the provider's proxy command.
struct Access {
    key: KeyPair,
    proxy_command: Option<String>,
}

impl Access {
    /// Where each node is, head first.
    fn addresses(&self, mut nodes: Vec<Instance>) -> Vec<NodeAddress> {
        nodes.sort_by_key(|i| (!i.is_head, i.id.clone()));
        nodes.iter().map(|n| self.address(n)).collect()
    }

    /// Where `instance` can be reached.
    fn address(&self, instance: &Instance) -> NodeAddress {
        let ip = instance
            .private_ip
            .clone()
            .or_else(|| instance.public_ip.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        if let Some(dir) = instance.extra("node_dir") {
            return NodeAddress::Local {
                id: instance.id.clone(),
                home: dir.into(),
                ip,
            };
        }
        NodeAddress::Ssh {
            id: instance.id.clone(),
            host: instance.public_ip.clone().unwrap_or_else(|| ip.clone()),
            port: instance.ssh_port,
            user: instance.ssh_user.clone().unwrap_or_else(|| "ubuntu".into()),
            identity_file: instance
                .extra("identity_file")
                .map(Into::into)
                .unwrap_or_else(|| self.key.private_key.clone()),
            proxy_command: self.proxy_command.clone(),
            ip,
        }
    }
}

/// The failover engine's view of provider components.
struct PluginProvisioner<'a> {
    rt: &'a tokio::runtime::Runtime,
    providers: &'a Providers,
    cluster: String,
    key: KeyPair,
    /// What the task asks of each node beyond the instance type.
    resources: Option<Resources>,
}

impl PluginProvisioner<'_> {
    fn instance(&self, cloud: &str) -> Result<ProviderInstance, Failure> {
        self.rt
            .block_on(self.providers.host.instance(cloud))
            .map_err(failure)
    }
}

/// Polls the provider until every node runs and has an address (clouds return
/// from `run-instances` while instances are still pending).
fn wait_running(
    rt: &tokio::runtime::Runtime,
    instance: &mut ProviderInstance,
    cluster: &ClusterRef,
    mut nodes: Vec<Instance>,
) -> Result<Vec<Instance>, Failure> {
    let ready = |nodes: &[Instance]| {
        nodes.iter().all(|n| {
            n.status == InstanceStatus::Running && (n.public_ip.is_some() || n.private_ip.is_some())
        })
    };
    let deadline = std::time::Instant::now() + NODES_READY_TIMEOUT;
    while !ready(&nodes) {
        if nodes.iter().any(|n| n.status == InstanceStatus::Preempted) {
            return Err(Failure {
                kind: FailureKind::Capacity,
                code: "Preempted".into(),
                message: "an instance was reclaimed while starting".into(),
            });
        }
        if std::time::Instant::now() > deadline {
            return Err(Failure {
                kind: FailureKind::Transient,
                code: "NotReady".into(),
                message: format!(
                    "instances not running after {} s",
                    NODES_READY_TIMEOUT.as_secs()
                ),
            });
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
        let found = rt
            .block_on(instance.query_instances(std::slice::from_ref(cluster)))
            .map_err(failure)?;
        nodes = found
            .into_iter()
            .flat_map(|c| c.instances)
            .filter(|n| n.status != InstanceStatus::Terminated)
            .collect();
    }
    Ok(nodes)
}

/// How long instances may take to be running.
const NODES_READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

impl Provisioner for PluginProvisioner<'_> {
    type Nodes = Vec<NodeAddress>;

    fn run(&mut self, c: &Candidate, num_nodes: u32) -> Result<Vec<NodeAddress>, Failure> {
        let mut instance = self.instance(&c.cloud)?;
        let request = RunRequest {
            cluster: ClusterRef {
                cluster: self.cluster.clone(),
                region: c.region.clone(),
                zone: c.zone.clone(),
            },
            instance_type: c.instance_type.clone(),
            count: num_nodes,
            use_spot: c.use_spot,
            disk_size_gib: self
                .resources
                .as_ref()
                .and_then(|r| r.disk_size_gib)
                .map(|g| u32::try_from(g).unwrap_or(u32::MAX)),
            image_id: self
                .resources
                .as_ref()
                .and_then(|r| r.image_id.as_ref())
                .and_then(|image| match image {
                    ImageId::Single(id) => Some(id.clone()),
                    ImageId::PerRegion(ids) => ids.get(&c.region).cloned(),
                    ImageId::Docker(_) => None,
                }),
            ports: self
                .resources
                .as_ref()
                .map(|r| {
                    r.ports
                        .iter()
                        .map(|p| aloft::plugin::PortRange {
                            start: p.start,
                            end: p.end,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            labels: vec![("aloft-cluster".into(), self.cluster.clone())],
            ssh_public_key: Some(self.key.public_key.clone()),
        };
        let result = self
            .rt
            .block_on(instance.run_instances(&request))
            .map_err(failure)?;
        let nodes = wait_running(self.rt, &mut instance, &request.cluster, result.instances)?;
        let access = Access {
            key: self.key.clone(),
            proxy_command: self.providers.proxy_commands.get(&c.cloud).cloned(),
        };
        Ok(access.addresses(nodes))
    }

    fn clean_up(&mut self, c: &Candidate) -> Result<(), Failure> {
        let mut instance = self.instance(&c.cloud)?;
        let cluster = ClusterRef {
            cluster: self.cluster.clone(),
            region: c.region.clone(),
            zone: c.zone.clone(),
        };
        self.rt
            .block_on(instance.terminate_instances(&cluster))
            .map_err(failure)
    }
}

/// What the loaded providers offer right now.
pub struct LiveCatalog {
    /// The catalog with the providers' live offers merged in.
    pub catalog: Catalog,
    /// Providers whose credentials check out.
    pub usable: Vec<String>,
    /// `(provider, why)` for those that cannot be used.
    pub unusable: Vec<(String, String)>,
}

impl LiveCatalog {
    /// Why each unusable provider is out, one line each (for "no resources").
    pub fn explain(&self) -> String {
        self.unusable
            .iter()
            .map(|(name, why)| format!("\nprovider {name} is not usable: {why}"))
            .collect()
    }
}

/// The catalog with every loaded provider's live offers merged in (only those
/// named in `only`, when given), and which providers can be used.
pub async fn catalog_with_offers(
    providers: &Providers,
    only: Option<&[String]>,
) -> Result<LiveCatalog, CliError> {
    let mut catalog = Catalog::load(Some(&aloft_home().join("catalogs")))
        .map_err(|e| CliError::failure(e.to_string()))?;
    let mut usable = Vec::new();
    let mut unusable = Vec::new();
    let shipped = catalog.clouds();
    for manifest in providers.host.manifests() {
        if only.is_some_and(|names| !names.contains(&manifest.name)) {
            continue;
        }
        let mut instance = match providers.host.instance(&manifest.name).await {
            Ok(instance) => instance,
            Err(err) => {
                unusable.push((manifest.name.clone(), err.to_string()));
                continue;
            }
        };
        if let Err(err) = instance.check_credentials().await {
            let why = match err {
                PluginError::Provider { error, .. } => error.message,
                other => other.to_string(),
            };
            unusable.push((manifest.name.clone(), why));
            continue;
        }
        // A shipped (or user) catalog is the source of prices; live offers only
        // describe clouds without one (node pools, `local`, third-party providers).
        if shipped.contains(&manifest.name) {
            usable.push(manifest.name.clone());
            continue;
        }
        if let Ok(offers) = instance.offers(None).await {
            let offers = offers
                .into_iter()
                .map(|o| Offer {
                    cloud: manifest.name.clone(),
                    instance_type: o.instance_type,
                    accelerator: o
                        .accelerator_name
                        .map(|n| (n, o.accelerator_count))
                        .filter(|(_, c)| *c > 0.0),
                    vcpus: o.vcpus,
                    memory_gib: o.memory_gib,
                    gpu_memory_mib: o.gpu_memory_mib,
                    price: o.price,
                    spot_price: o.spot_price,
                    region: o.region,
                    zone: o.zone,
                })
                .collect();
            catalog.insert_offers(&manifest.name, offers);
        }
        usable.push(manifest.name.clone());
    }
    Ok(LiveCatalog {
        catalog,
        usable,
        unusable,
    })
}

/// A cluster name when the user gives none.
pub fn default_cluster_name() -> String {
    format!(
        "aloft-{:04x}",
        (unix_now() as u64 ^ u64::from(std::process::id())) & 0xffff
    )
}

/// Launches `task` on cluster `name`, then (unless `detach`) streams its job's
/// output and returns an error when the job did not succeed.
pub struct LaunchArgs<'a> {
    /// Cluster name.
    pub cluster: String,
    /// The task.
    pub task: &'a Task,
    /// Its folder.
    pub task_dir: &'a Path,
    /// Skip setup.
    pub no_setup: bool,
    /// Do not stream logs.
    pub detach: bool,
    /// Autostop.
    pub autostop: Option<(u64, bool)>,
    /// Retry until up.
    pub retry_until_up: bool,
}

/// Runs a real launch.
pub fn launch_task(args: LaunchArgs<'_>) -> CliResult {
    let home = aloft_home();
    let config = Config::load(&home)?;
    let rt = providers::runtime()?;
    let providers = rt.block_on(providers::load(&config))?;
    // A task that names its clouds asks only their providers: checking every
    // provider's credentials (network calls) for a task that cannot use them is
    // wasted start-up time.
    let named: Option<Vec<String>> = args
        .task
        .resources
        .candidates()
        .iter()
        .map(|r| r.infra.cloud.clone())
        .collect();
    let live = rt.block_on(catalog_with_offers(&providers, named.as_deref()))?;
    let (catalog, usable) = (&live.catalog, live.usable.clone());
    let state = cluster_access::state()?;
    let _lock = aloft::state::ClusterLock::try_acquire(&home.join("locks"), &args.cluster)
        .map_err(|e| CliError::failure(e.to_string()))?;
    let options = OptimizeOptions {
        enabled_clouds: usable,
        ..OptimizeOptions::default()
    };
    let ctx = LaunchContext {
        home: &home,
        state: &state,
        catalog,
        options: &options,
        policy: RetryPolicy {
            max_attempts: if args.retry_until_up { 10_000 } else { 50 },
            ..RetryPolicy::default()
        },
        interrupted: &crate::interrupt::INTERRUPTED,
        aloft_binary: std::env::current_exe()
            .map_err(|e| CliError::failure(format!("cannot locate the aloft binary: {e}")))?,
    };
    let opt_task = OptTask {
        name: args.task.name.clone(),
        num_nodes: args.task.num_nodes,
        resources: args.task.resources.clone(),
        estimated_hours: None,
    };
    let mut provisioner = PluginProvisioner {
        rt: &rt,
        providers: &providers,
        cluster: args.cluster.clone(),
        key: ensure_key_pair(&home.join("keys")).map_err(|e| CliError::failure(e.to_string()))?,
        resources: args.task.resources.candidates().first().cloned(),
    };
    let progress = crate::progress::Progress::new();
    crate::interrupt::install();
    crate::interrupt::launching();
    let task = crate::cmd::storage::prepare(args.task, args.task_dir, &args.cluster, &|line| {
        progress.line(line)
    })?;
    let request = LaunchRequest {
        cluster: &args.cluster,
        task: &task,
        task_dir: args.task_dir,
        no_setup: args.no_setup,
        autostop: args.autostop,
    };
    let launched = launch(
        &ctx,
        &request,
        &opt_task,
        &mut provisioner,
        &mut |line: &str| progress.line(line),
    )
    .map_err(|e| match e {
        aloft::launch::LaunchError::Provision(aloft::provision::ProvisionError::Optimize(err)) => {
            CliError::new(
                crate::exit::NO_RESOURCES,
                format!("{err}{}", live.explain()),
            )
        }
        err @ aloft::launch::LaunchError::Interrupted { .. } => {
            CliError::new(crate::interrupt::EXIT_CODE as u8, err.to_string())
        }
        other => CliError::failure(other.to_string()),
    })?;
    let r = &launched.record;
    progress.line(&format!(
        "Cluster `{}` is UP on {} ({}{}), {} node(s) of {}. Job {} queued.",
        r.name,
        r.provider,
        r.region,
        r.zone
            .as_ref()
            .map(|z| format!(", {z}"))
            .unwrap_or_default(),
        r.num_nodes,
        r.instance_type,
        launched.job_id
    ));
    progress.finish();
    if args.detach {
        println!("{}", launched.job_id);
        return Ok(());
    }
    crate::interrupt::following(format!(
        "`aloft logs {} {}` follows it again.",
        r.name, launched.job_id
    ));
    follow_job(&launched.head, launched.job_id)
}

/// Streams a job's output to stdout; fails unless the job succeeded.
pub fn follow_job(head: &HeadLocation, job: u64) -> CliResult {
    let head = Head::new(head.clone(), aloft_home().join("ssh"));
    let mut out = std::io::stdout().lock();
    head.logs(job, None, true, &mut out)
        .map_err(|e| CliError::failure(e.to_string()))?;
    let status = head
        .queue(false)
        .map_err(|e| CliError::failure(e.to_string()))?
        .into_iter()
        .find(|j| j.id == job)
        .map(|j| j.status);
    match status {
        Some(JobStatus::Succeeded) => Ok(()),
        Some(other) => Err(CliError::new(100, format!("job {job} ended {other}"))),
        None => Err(CliError::failure(format!("job {job} vanished"))),
    }
}

/// What `down`/`stop` do to one cluster.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop (keep disks).
    Stop,
    /// Tear down.
    Down,
}

/// Stops or tears down `name` through its provider; the record follows the truth.
pub fn stop_or_down(name: &str, action: Action, purge: bool) -> CliResult {
    let home = aloft_home();
    let config = Config::load(&home)?;
    let state = cluster_access::state()?;
    let record = cluster_access::cluster(&state, name)?;
    let _lock = aloft::state::ClusterLock::acquire(&home.join("locks"), name)
        .map_err(|e| CliError::failure(e.to_string()))?;
    let rt = providers::runtime()?;
    let providers = rt.block_on(providers::load(&config))?;
    let cluster = ClusterRef {
        cluster: record.name.clone(),
        region: record.region.clone(),
        zone: record.zone.clone(),
    };
    if action == Action::Down {
        // Before the machines go: on a node pool they live on, and so would the jobs.
        stop_agent(&record);
    }
    let result = rt.block_on(async {
        let mut instance = providers.instance(&record.provider).await?;
        match action {
            Action::Stop => instance.stop_instances(&cluster).await,
            Action::Down => instance.terminate_instances(&cluster).await,
        }
        .map_err(|e| CliError::failure(e.to_string()))
    });
    if let Err(err) = result {
        if !purge {
            return Err(err);
        }
        eprintln!("warning: {err}; removing the record anyway (--purge)");
    }
    if action == Action::Stop {
        stop_agent(&record);
    }
    let now = unix_now();
    state
        .end_usage(name, now)
        .map_err(|e| CliError::failure(e.to_string()))?;
    match action {
        Action::Down => {
            state
                .remove_cluster(name)
                .map_err(|e| CliError::failure(e.to_string()))?;
            let _ = state.add_event(name, now, "down", "terminated");
            eprintln!("Cluster `{name}` terminated.");
            crate::cmd::storage::delete_cluster_buckets(name);
        }
        Action::Stop => {
            state
                .set_status(name, ClusterStatus::Stopped, now)
                .map_err(|e| CliError::failure(e.to_string()))?;
            let _ = state.add_event(name, now, "stop", "stopped");
            eprintln!("Cluster `{name}` stopped.");
        }
    }
    Ok(())
}

/// Cancels a cluster's jobs and stops its agent, best effort: an unreachable head
/// (preempted, already gone) has nothing left to stop.
pub fn stop_agent(record: &ClusterRecord) {
    if let Ok(handle) = cluster_access::handle(record)
        && let Err(err) = Head::new(handle.head, aloft_home().join("ssh")).shutdown()
    {
        tracing::debug!("stopping the agent of {}: {err}", record.name);
    }
}

/// Starts a stopped cluster again: the provider resumes its nodes, the agent comes
/// back, usage restarts.
pub fn start(name: &str) -> CliResult {
    let home = aloft_home();
    let config = Config::load(&home)?;
    let state = cluster_access::state()?;
    let record = cluster_access::cluster(&state, name)?;
    if record.status == ClusterStatus::Up {
        eprintln!("Cluster `{name}` is already UP.");
        return Ok(());
    }
    let _lock = aloft::state::ClusterLock::acquire(&home.join("locks"), name)
        .map_err(|e| CliError::failure(e.to_string()))?;
    let rt = providers::runtime()?;
    let providers = rt.block_on(providers::load(&config))?;
    let request = RunRequest {
        cluster: ClusterRef {
            cluster: record.name.clone(),
            region: record.region.clone(),
            zone: record.zone.clone(),
        },
        instance_type: record.instance_type.clone(),
        count: record.num_nodes,
        use_spot: record.use_spot,
        disk_size_gib: None,
        image_id: None,
        ports: Vec::new(),
        labels: vec![("aloft-cluster".into(), record.name.clone())],
        ssh_public_key: None,
    };
    let mut instance = rt.block_on(providers.instance(&record.provider))?;
    let started = rt
        .block_on(instance.run_instances(&request))
        .map_err(|e| CliError::failure(e.to_string()))?;
    let nodes = wait_running(&rt, &mut instance, &request.cluster, started.instances)
        .map_err(|f| CliError::failure(format!("{}: {}", f.code, f.message)))?;
    // Clouds hand out new public addresses on start: record them, and tell the
    // head's agent where its nodes are now, before it starts again.
    let access = Access {
        key: ensure_key_pair(&home.join("keys")).map_err(|e| CliError::failure(e.to_string()))?,
        proxy_command: providers.proxy_commands.get(&record.provider).cloned(),
    };
    let addresses = access.addresses(nodes);
    let binary = std::env::current_exe()
        .map_err(|e| CliError::failure(format!("cannot locate the aloft binary: {e}")))?;
    if let (Some(head_address), Some(handle), Ok(_)) = (
        addresses.first(),
        ClusterHandle::of(&addresses, &binary),
        cluster_access::handle(&record),
    ) {
        let json = serde_json::to_string(&handle).map_err(|e| CliError::failure(e.to_string()))?;
        state
            .set_nodes(name, &json)
            .map_err(|e| CliError::failure(e.to_string()))?;
        let head = Head::new(handle.head, home.join("ssh"));
        let node_key = head_address.key_for_head();
        let mut spec = head.spec().map_err(|e| CliError::failure(e.to_string()))?;
        spec.nodes = addresses.iter().map(NodeAddress::node_spec).collect();
        head.install(&binary, node_key, &spec, None)
            .map_err(|e| CliError::failure(e.to_string()))?;
    }
    let now = unix_now();
    state
        .set_status(name, ClusterStatus::Up, now)
        .map_err(|e| CliError::failure(e.to_string()))?;
    state
        .start_usage(&record, now)
        .map_err(|e| CliError::failure(e.to_string()))?;
    let _ = state.add_event(name, now, "start", "resumed");
    eprintln!("Cluster `{name}` is UP again.");
    Ok(())
}
