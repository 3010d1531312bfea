//! A launch from start to finish: record the cluster, provision it with failover,
//! bring up the head node's agent, sync the working directory and file mounts, and
//! queue the task's job.
//!
//! Local state is written before and after each provider call (the cluster is INIT
//! with the candidate being tried before `run-instances`, its nodes right after), so
//! a crash at any point leaves a record that `status --refresh` can reconcile.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use thiserror::Error;

pub use crate::runtime::address::NodeAddress;
pub use crate::runtime::daemon::{start_local_agent, stop_local_agent};

use crate::catalog::Catalog;
use crate::optimizer::{Candidate, OptTask, OptimizeOptions};
use crate::provision::{Attempt, Failure, ProvisionError, Provisioner, RetryPolicy, provision};
use crate::runtime::agent::{AgentError, AutostopSpec, ClusterSpec, unix_now};
use crate::runtime::gang::ClusterInfo;
use crate::runtime::head::{ClusterHandle, Head, HeadError, HeadLocation};
use crate::runtime::node::{Node, NodeError};
use crate::runtime::node_agents::NodeAgents;
use crate::runtime::queue::JobSpec;
use crate::runtime::scheduler::{Demand, JobId};
use crate::state::{ClusterRecord, ClusterStatus, StateDb, StateError};
use crate::task::{FileMount, ResourceSet, SecretValue, Task, Workdir};

pub mod cluster_key;
pub mod fit;

/// Folder each job runs in, relative to a node's home (SkyPilot's name).
pub const WORKDIR: &str = "sky_workdir";

/// What to launch.
pub struct LaunchRequest<'a> {
    /// Cluster name.
    pub cluster: &'a str,
    /// The task.
    pub task: &'a Task,
    /// Folder that relative `workdir` and `file_mounts` paths are relative to.
    pub task_dir: &'a Path,
    /// Skip `setup` (the cluster already ran it).
    pub no_setup: bool,
    /// A registry login minted for the task's container image (the
    /// `SKYPILOT_DOCKER_*` variables), used when the task names none.
    pub registry: Vec<(String, String)>,
}

/// What a launch needs from its surroundings.
pub struct LaunchContext<'a> {
    /// aloft's home (`~/.aloft`).
    pub home: &'a Path,
    /// Local state.
    pub state: &'a StateDb,
    /// Offers.
    pub catalog: &'a Catalog,
    /// Enabled clouds and blocklist.
    pub options: &'a OptimizeOptions,
    /// Retries and backoff.
    pub policy: RetryPolicy,
    /// The programs heads run: the node agent per architecture, and the `aloft`
    /// program that runs a local cluster's agent.
    pub agents: NodeAgents,
    /// Set (by a Ctrl-C handler) to stop at the next step boundary: no provider
    /// call is cut in half, and the record says what exists.
    pub interrupted: &'a AtomicBool,
}

/// A launch that reached the point where the job, if any, is queued.
#[derive(Debug)]
pub struct Launched {
    /// The cluster as recorded.
    pub record: ClusterRecord,
    /// The queued job; none when the task has neither `run` nor `setup`.
    pub job_id: Option<JobId>,
    /// How to reach the head's agent (for logs).
    pub head: HeadLocation,
    /// Every provisioning attempt.
    pub attempts: Vec<Attempt>,
}

/// Why a launch failed.
#[derive(Debug, Error)]
pub enum LaunchError {
    /// Provisioning failed (every attempt listed).
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// Local state could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The cluster exists and the task does not fit it (see [`fit::misfit`]).
    #[error(
        "cluster `{name}` exists on {existing}; it does not fit this task ({reason}). Use another name, or `aloft down {name}` first"
    )]
    Mismatch {
        /// Cluster name.
        name: String,
        /// What it runs on.
        existing: String,
        /// The field that does not fit, in words.
        reason: String,
    },
    /// A node could not be set up.
    #[error("setting up the nodes failed: {0}")]
    Node(#[from] NodeError),
    /// The agent could not be started or reached.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The head could not be reached.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The task asks for something this build cannot do yet.
    #[error("{0}")]
    Unsupported(String),
    /// A node could not copy the task's buckets (what the node's fetch said:
    /// the objects that did not arrive; never a URL).
    #[error("copying buckets onto node {node} failed:\n{detail}")]
    Fetch {
        /// The node.
        node: String,
        /// The fetch's last lines.
        detail: String,
    },
    /// A node's container (`image_id: docker:...`) could not be made.
    #[error(transparent)]
    Container(#[from] crate::runtime::container::ContainerError),
    /// The user interrupted the launch; what exists is recorded.
    #[error("interrupted {stage}; {left}")]
    Interrupted {
        /// Where the launch stopped.
        stage: &'static str,
        /// What was left and how to deal with it.
        left: String,
    },
}

/// Records every provider call in local state around the real provisioner.
struct Recording<'a, P> {
    inner: &'a mut P,
    interrupted: &'a AtomicBool,
    state: &'a StateDb,
    cluster: &'a str,
    num_nodes: u32,
    /// The resources asked for; the record gets them narrowed to each offer tried.
    resources: &'a ResourceSet,
}

impl<P: Provisioner> Provisioner for Recording<'_, P> {
    type Nodes = P::Nodes;

    fn run(&mut self, c: &Candidate, num_nodes: u32) -> Result<P::Nodes, Failure> {
        if self.interrupted.load(Ordering::SeqCst) {
            // `invalid` ends failover at once: no further candidate is tried.
            return Err(Failure {
                kind: crate::provision::FailureKind::Invalid,
                code: "Interrupted".into(),
                message: "interrupted by the user before this attempt".into(),
            });
        }
        let now = unix_now();
        // Before the call: a crash from here on leaves an INIT record naming where
        // instances may exist.
        let record = ClusterRecord {
            name: self.cluster.to_string(),
            provider: c.cloud.clone(),
            region: c.region.clone(),
            zone: c.zone.clone(),
            instance_type: c.instance_type.clone(),
            num_nodes: self.num_nodes,
            use_spot: c.use_spot,
            resources_json: serde_json::to_string(&fit::launched_resources(self.resources, c))
                .unwrap_or_default(),
            status: ClusterStatus::Init,
            hourly_price: c.hourly_price * f64::from(self.num_nodes),
            launched_at: now,
            status_updated_at: now,
            autostop_minutes: None,
            autostop_down: false,
            nodes_json: "null".into(),
        };
        let note = |kind: &str, message: String| {
            // Best effort: failing to write an event must not hide the provider's answer.
            let _ = self
                .state
                .add_event(self.cluster, unix_now(), kind, &message);
        };
        if let Err(err) = self.state.upsert_cluster(&record) {
            return Err(Failure {
                kind: crate::provision::FailureKind::Invalid,
                code: "LocalState".into(),
                message: err.to_string(),
            });
        }
        note(
            "provision-attempt",
            format!("{} {} {}", c.cloud, c.region, c.instance_type),
        );
        let result = self.inner.run(c, num_nodes);
        match &result {
            Ok(_) => note("provisioned", format!("{} {}", c.cloud, c.region)),
            Err(f) => note(
                "provision-failed",
                format!("{}: {}: {}", f.kind.as_str(), f.code, f.message),
            ),
        }
        result
    }

    fn clean_up(&mut self, c: &Candidate) -> Result<(), Failure> {
        let result = self.inner.clean_up(c);
        if result.is_ok() {
            let _ = self.state.remove_cluster(self.cluster);
        }
        result
    }
}

/// Launches `req` (or reuses its cluster when it exists and fits).
pub fn launch<P>(
    ctx: &LaunchContext<'_>,
    req: &LaunchRequest<'_>,
    opt_task: &OptTask,
    provisioner: &mut P,
    progress: &mut dyn FnMut(&str),
) -> Result<Launched, LaunchError>
where
    P: Provisioner<Nodes = Vec<NodeAddress>>,
{
    launch_fetching(ctx, req, None, opt_task, provisioner, progress)
}

/// [`launch`], where every new node also runs `fetch` (a bash script, e.g. the
/// bucket copies of `storage::fetch::script`) once the workdir and file mounts
/// are synced and before the agent starts, all nodes at once. The script may hold
/// secrets (pre-signed URLs): it goes to each node on `bash`'s standard input,
/// never on a command line, and its text is in no error.
pub fn launch_fetching<P>(
    ctx: &LaunchContext<'_>,
    req: &LaunchRequest<'_>,
    fetch: Option<&str>,
    opt_task: &OptTask,
    provisioner: &mut P,
    progress: &mut dyn FnMut(&str),
) -> Result<Launched, LaunchError>
where
    P: Provisioner<Nodes = Vec<NodeAddress>>,
{
    let (record, head, attempts, chosen) = match ctx.state.cluster(req.cluster)? {
        Some(existing) if existing.status == ClusterStatus::Up => {
            if let Some(reason) = fit::misfit(&opt_task.resources, opt_task.num_nodes, &existing) {
                return Err(LaunchError::Mismatch {
                    name: existing.name.clone(),
                    existing: format!(
                        "{} {} x{}",
                        existing.provider, existing.instance_type, existing.num_nodes
                    ),
                    reason,
                });
            }
            progress(&format!("Reusing cluster `{}`.", existing.name));
            let handle: ClusterHandle = serde_json::from_str(&existing.nodes_json)
                .map_err(|e| LaunchError::Unsupported(format!("unreadable cluster record: {e}")))?;
            (existing, handle.head, Vec::new(), None)
        }
        _ => {
            progress("Provisioning...");
            let mut recording = Recording {
                inner: provisioner,
                interrupted: ctx.interrupted,
                state: ctx.state,
                cluster: req.cluster,
                num_nodes: opt_task.num_nodes,
                resources: &opt_task.resources,
            };
            let done = provision(
                ctx.catalog,
                opt_task,
                ctx.options,
                &mut recording,
                &ctx.policy,
                |attempt| progress(&format!("  {}", attempt.summary())),
            )?;
            stop_if_interrupted(ctx, "after provisioning", || {
                format!(
                    "the nodes exist and cluster `{0}` is recorded INIT: `aloft down {0}` removes it, `aloft status -r {0}` shows the truth",
                    req.cluster
                )
            })?;
            let (record, head) = bring_up(ctx, req, fetch, &done.candidate, &done.nodes, progress)?;
            (
                record,
                head,
                done.attempts,
                Some(done.candidate.accelerators),
            )
        }
    };
    stop_if_interrupted(ctx, "before the job was queued", || {
        format!(
            "cluster `{0}` is UP with no new job: `aloft exec {0} TASK` runs one, `aloft down {0}` removes it",
            req.cluster
        )
    })?;
    // A task with nothing to run (a dev box: `aloft launch -c dev`) queues no job.
    let job_id = if req.task.run.is_none() && req.task.setup.is_none() {
        None
    } else {
        let (spec, secrets) = job_spec(
            req.task,
            req.no_setup,
            &job_demand(&opt_task.resources, opt_task.num_nodes, chosen.as_ref()),
        );
        let head_handle = Head::new(head.clone(), ctx.home.join("ssh"));
        Some(head_handle.submit(&spec, &secrets, unix_now())?)
    };
    Ok(Launched {
        record,
        job_id,
        head,
        attempts,
    })
}

/// Ends the launch at a step boundary when the user interrupted it; `left` says
/// what exists and how to deal with it.
fn stop_if_interrupted(
    ctx: &LaunchContext<'_>,
    stage: &'static str,
    left: impl FnOnce() -> String,
) -> Result<(), LaunchError> {
    if ctx.interrupted.load(Ordering::SeqCst) {
        return Err(LaunchError::Interrupted {
            stage,
            left: left(),
        });
    }
    Ok(())
}

/// What a job of a task with these resources needs per node, on `num_nodes` nodes.
///
/// With `chosen` (the accelerators per node of the offer the cluster runs on), the
/// demand comes from the first resource candidate that this offer satisfies — for
/// `any_of: [{accelerators: A100:8}, {accelerators: A100:4}]` landing on a 4-GPU
/// offer, 4 GPUs; without it, from the first candidate.
pub fn job_demand(
    resources: &ResourceSet,
    num_nodes: u32,
    chosen: Option<&std::collections::BTreeMap<String, f64>>,
) -> Demand {
    let requested = |r: &crate::task::Resources| -> Option<(Option<String>, f64)> {
        r.accelerators.as_ref().map(|a| match a {
            crate::task::AcceleratorSpec::Named { name, count } => (Some(name.clone()), *count),
            crate::task::AcceleratorSpec::ByMemory { count, .. } => (None, *count),
        })
    };
    let fits = |name: &Option<String>, count: f64| match chosen {
        None => true,
        Some(offer) => offer.iter().any(|(have, n)| {
            *n + 1e-9 >= count && name.as_ref().is_none_or(|w| w.eq_ignore_ascii_case(have))
        }),
    };
    let candidates = resources.candidates();
    let gpus = candidates
        .iter()
        .filter_map(requested)
        .find(|(name, count)| fits(name, *count))
        .or_else(|| candidates.first().and_then(requested))
        .map(|(_, count)| count)
        .unwrap_or(0.0);
    Demand {
        // A job takes half a CPU unless it asks: several jobs share a node by default.
        cpus: 0.5,
        gpus,
        num_nodes,
    }
}

/// The job for a task: its spec (no secrets) and its secrets.
pub fn job_spec(task: &Task, no_setup: bool, demand: &Demand) -> (JobSpec, Vec<(String, String)>) {
    let secrets = task
        .secrets
        .iter()
        .filter_map(|(k, v)| match v {
            SecretValue::Inline(secret) => Some((k.clone(), secret.expose().to_string())),
            SecretValue::Managed => None,
        })
        .collect();
    let spec = JobSpec {
        name: task.name.clone(),
        demand: demand.clone(),
        accelerator: None,
        setup: if no_setup { None } else { task.setup.clone() },
        run: task.run.clone().unwrap_or_else(|| "true".into()),
        env: task
            .envs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    (spec, secrets)
}

/// After provisioning: record the nodes, start the agent, sync files.
fn bring_up(
    ctx: &LaunchContext<'_>,
    req: &LaunchRequest<'_>,
    fetch: Option<&str>,
    c: &Candidate,
    addresses: &[NodeAddress],
    progress: &mut dyn FnMut(&str),
) -> Result<(ClusterRecord, HeadLocation), LaunchError> {
    let (Some(head_address), Some(handle)) = (
        addresses.first(),
        ClusterHandle::of(addresses, ctx.agents.launcher()),
    ) else {
        return Err(LaunchError::Unsupported(
            "the provider returned no nodes".into(),
        ));
    };
    let head = handle.head.clone();
    let mut record = ctx
        .state
        .cluster(req.cluster)?
        .ok_or_else(|| LaunchError::Unsupported("the cluster record vanished".into()))?;
    record.nodes_json = serde_json::to_string(&handle).unwrap_or_else(|_| "null".into());
    ctx.state.set_nodes(req.cluster, &record.nodes_json)?;

    let control_dir = ctx.home.join("ssh");
    // The provisioner returned them once they accepted SSH (its one wait, with
    // progress): no second wait here.
    let mut node_handles: Vec<Box<dyn Node>> =
        addresses.iter().map(|a| a.connect(&control_dir)).collect();
    // Nodes reached with any other key (a pool's `identity_file`) are reached with
    // the cluster's own key from here on; the other key goes nowhere.
    let own_key = cluster_key::ensure(ctx.home, req.cluster)
        .map_err(|e| LaunchError::Unsupported(format!("the cluster's SSH key: {e}")))?;
    let adopted = cluster_key::adopt(req.cluster, &own_key, addresses, &node_handles)?;
    let addresses = match &adopted {
        Some(with_cluster_key) => {
            progress("Authorized the cluster's own SSH key on its nodes.");
            let handle = ClusterHandle::of(with_cluster_key, ctx.agents.launcher())
                .ok_or_else(|| LaunchError::Unsupported("the provider returned no nodes".into()))?;
            record.nodes_json = serde_json::to_string(&handle).unwrap_or_else(|_| "null".into());
            ctx.state.set_nodes(req.cluster, &record.nodes_json)?;
            node_handles = with_cluster_key
                .iter()
                .map(|a| a.connect(&control_dir))
                .collect();
            with_cluster_key.as_slice()
        }
        None => addresses,
    };
    let head = ClusterHandle::of(addresses, ctx.agents.launcher())
        .map(|h| h.head)
        .unwrap_or(head);
    let head_address = addresses.first().unwrap_or(head_address);
    progress("Syncing files...");
    sync_files(req, &node_handles)?;
    if let Some(script) = fetch {
        progress("Fetching buckets on the nodes...");
        fetch_on_nodes(script, &node_handles)?;
    }
    let gpus_per_node: u32 = c.accelerators.values().map(|n| n.ceil() as u32).sum();
    let container = crate::runtime::container::spec_for(req.task, gpus_per_node > 0)
        .filter(|_| !crate::runtime::container::image_is_the_node(&c.cloud));
    if let Some(container) = &container {
        progress(&format!(
            "Starting a container of {} on each node...",
            container.image
        ));
        let mut registry = crate::runtime::container::registry_env(req.task);
        if registry.is_empty() {
            registry = req.registry.clone();
        }
        crate::runtime::container::start_on_nodes(
            container,
            req.cluster,
            &registry,
            &node_handles,
        )?;
    }
    progress("Starting the agent on the head node...");

    let spec = ClusterSpec {
        info: ClusterInfo {
            cluster_name: req.cluster.to_string(),
            cloud: c.cloud.clone(),
            region: c.region.clone(),
            zone: c.zone.clone(),
        },
        nodes: addresses.iter().map(NodeAddress::node_spec).collect(),
        cpus_per_node: c.vcpus.max(1.0),
        gpus_per_node,
        workdir: WORKDIR.into(),
        container,
    };
    // The agent reaches every node (itself included) over SSH with this key.
    // Autostop is set once the job is queued (see `launch`): an agent told to stop
    // when idle must never see the cluster idle before its first job.
    let node_key = head_address.key_for_head();
    Head::new(head.clone(), control_dir).install(&ctx.agents, node_key, &spec, None)?;
    let now = unix_now();
    ctx.state.set_status(req.cluster, ClusterStatus::Up, now)?;
    record.status = ClusterStatus::Up;
    record.status_updated_at = now;
    ctx.state.start_usage(&record, now)?;
    Ok((record, head))
}

/// The autostop of a local cluster of `home`: once the cluster has been idle for
/// `minutes` (of `seconds_per_minute` seconds each, 60 by default: tests make them
/// short), its agent runs `binary` in its [`crate::roles::Role::Autostop`] role on
/// this machine.
pub fn autostop_spec(
    binary: &Path,
    home: &Path,
    cluster: &str,
    minutes: u64,
    down: bool,
    seconds_per_minute: Option<u64>,
) -> AutostopSpec {
    let role = crate::roles::Role::Autostop {
        home: home.to_path_buf(),
        cluster: cluster.to_string(),
        down,
    };
    AutostopSpec {
        idle_minutes: minutes,
        down,
        seconds_per_minute,
        command: role.command_line(binary),
        busy_while_locked: Vec::new(),
        stop_kit: false,
    }
}

/// Waits until every node of `addresses` accepts a trivial command, at most
/// `timeout`.
pub fn wait_reachable_addresses(
    addresses: &[NodeAddress],
    control_dir: &Path,
    timeout: std::time::Duration,
) -> Result<(), LaunchError> {
    let nodes: Vec<Box<dyn Node>> = addresses.iter().map(|a| a.connect(control_dir)).collect();
    wait_reachable(&nodes, timeout)
}

/// How long a fresh node may take to accept SSH by default (cloud images boot for
/// a while).
pub const NODE_READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// What [`wait_reachable_addresses_reporting`] tells its caller about a node, by
/// its index in the addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeWait {
    /// The node accepts SSH now.
    Reachable(usize),
    /// The node's last attempt failed with this (what ssh said).
    Failed(usize, String),
}

/// [`wait_reachable_addresses`], telling `report` as soon as a node accepts SSH
/// and, while it does not, why its last attempt failed, so a caller can show
/// per-node progress and the last SSH error while the others are still waited for.
pub fn wait_reachable_addresses_reporting(
    addresses: &[NodeAddress],
    control_dir: &Path,
    timeout: std::time::Duration,
    report: &std::sync::mpsc::Sender<NodeWait>,
) -> Result<(), LaunchError> {
    let nodes: Vec<Box<dyn Node>> = addresses.iter().map(|a| a.connect(control_dir)).collect();
    let deadline = std::time::Instant::now() + timeout;
    let grace = key_refusal_grace(timeout);
    std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                scope.spawn(move || {
                    // The receiver may be gone (the caller stopped listening).
                    let failed = |why: String| {
                        let _ = report.send(NodeWait::Failed(index, why));
                    };
                    wait_one(node.as_ref(), deadline, grace, &failed)?;
                    let _ = report.send(NodeWait::Reachable(index));
                    Ok::<(), NodeError>(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap_or_else(|_| {
                Err(NodeError::Killed {
                    node: "node thread".into(),
                })
            })?;
        }
        Ok(())
    })
}

/// How long a node may refuse aloft's key before that counts as for good: a fifth
/// of the wait, at most a minute. A cloud may put the key on a fresh node after its
/// sshd started (GCP's guest agent does), so the first refusals are waited out.
pub fn key_refusal_grace(timeout: std::time::Duration) -> std::time::Duration {
    (timeout / 5).min(std::time::Duration::from_secs(60))
}

/// Waits until `node` runs a trivial command; only "unreachable" is retried, until
/// `deadline`, and a refused key only until it has been refused for `grace`
/// without a break ([`NodeError::KeyRefused`]). `failed` hears each failed
/// attempt's reason.
fn wait_one(
    node: &dyn Node,
    deadline: std::time::Instant,
    grace: std::time::Duration,
    failed: &dyn Fn(String),
) -> Result<(), NodeError> {
    let mut refused_since: Option<std::time::Instant> = None;
    loop {
        match node.run(
            &crate::runtime::node::Script::new("true"),
            &mut std::io::sink(),
        ) {
            Ok(_) => return Ok(()),
            Err(err @ NodeError::Unreachable { .. }) => {
                let now = std::time::Instant::now();
                if err.is_key_refusal() {
                    let since = *refused_since.get_or_insert(now);
                    if now.duration_since(since) >= grace
                        && let NodeError::Unreachable { node, detail } = err
                    {
                        return Err(NodeError::KeyRefused {
                            node,
                            seconds: now.duration_since(since).as_secs(),
                            detail,
                        });
                    }
                } else {
                    refused_since = None;
                }
                if now >= deadline {
                    return Err(err);
                }
                if let NodeError::Unreachable { detail, .. } = &err {
                    failed(detail.clone());
                }
                std::thread::sleep(std::time::Duration::from_secs(2));
            }
            Err(err) => return Err(err),
        }
    }
}

/// Waits until every node runs a trivial command (all nodes at once); only
/// "unreachable" is retried (a refused key for a while, see [`key_refusal_grace`]).
fn wait_reachable(
    nodes: &[Box<dyn Node>],
    timeout: std::time::Duration,
) -> Result<(), LaunchError> {
    let deadline = std::time::Instant::now() + timeout;
    let grace = key_refusal_grace(timeout);
    Ok(on_every_node(nodes, |node| {
        wait_one(node, deadline, grace, &|_| {})
    })?)
}

/// Copies the workdir (honouring `.gitignore`) and local file mounts to every node.
fn sync_files(req: &LaunchRequest<'_>, nodes: &[Box<dyn Node>]) -> Result<(), LaunchError> {
    upload(&copies(req.task, req.task_dir, true)?, nodes)
}

/// Copies the task's workdir to the nodes of a running cluster, as `exec` does
/// (file mounts are a launch-time thing, as in SkyPilot).
pub fn sync_workdir(
    task: &Task,
    task_dir: &Path,
    addresses: &[NodeAddress],
    control_dir: &Path,
) -> Result<(), LaunchError> {
    let nodes: Vec<Box<dyn Node>> = addresses.iter().map(|a| a.connect(control_dir)).collect();
    upload(&copies(task, task_dir, false)?, &nodes)
}

/// `(local source, node target, honour .gitignore)` for the workdir and, with
/// `mounts`, the local file mounts.
fn copies(
    task: &Task,
    task_dir: &Path,
    mounts: bool,
) -> Result<Vec<(PathBuf, String, bool)>, LaunchError> {
    let resolve = |p: &str| {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            task_dir.join(path)
        }
    };
    let mut copies: Vec<(PathBuf, String, bool)> = Vec::new();
    match &task.workdir {
        Some(Workdir::Local(dir)) => copies.push((resolve(dir), WORKDIR.into(), true)),
        Some(Workdir::Git { .. }) => {
            return Err(LaunchError::Unsupported(
                "a git workdir is not supported yet; use a local folder".into(),
            ));
        }
        None => {}
    }
    for (target, mount) in task.file_mounts.iter().filter(|_| mounts) {
        match mount {
            FileMount::Path(source) if !source.contains("://") => {
                // One rule for every mode and node (MOUNT mode mounts at the same
                // place): an absolute target is that path on the node, `~/x` and a
                // relative `x` are under the node user's home.
                let target = target.strip_prefix("~/").unwrap_or(target);
                copies.push((resolve(source), target.to_string(), false));
            }
            _ => {
                return Err(LaunchError::Unsupported(format!(
                    "file mount `{target}`: bucket mounts are resolved before the launch (S3 only)"
                )));
            }
        }
    }
    Ok(copies)
}

fn upload(copies: &[(PathBuf, String, bool)], nodes: &[Box<dyn Node>]) -> Result<(), LaunchError> {
    for (source, target, gitignore) in copies {
        if !source.exists() {
            return Err(LaunchError::Unsupported(format!(
                "{} does not exist",
                source.display()
            )));
        }
        on_every_node(nodes, |node| node.upload(source, target, *gitignore))?;
    }
    Ok(())
}

/// Runs the fetch `script` on every node at once; a node whose script fails is
/// [`LaunchError::Fetch`] with the script's last lines (never its text).
fn fetch_on_nodes(script: &str, nodes: &[Box<dyn Node>]) -> Result<(), LaunchError> {
    let script = crate::runtime::node::Script::new(script);
    std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                let script = &script;
                scope.spawn(move || {
                    let mut output = Vec::new();
                    let code = node.run(script, &mut output)?;
                    if code == 0 {
                        return Ok(());
                    }
                    let text = String::from_utf8_lossy(&output);
                    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                    let detail = lines[lines.len().saturating_sub(10)..].join("\n");
                    Err(LaunchError::Fetch {
                        node: node.describe(),
                        detail: if detail.is_empty() {
                            format!("exit status {code}")
                        } else {
                            detail
                        },
                    })
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap_or_else(|_| {
                Err(LaunchError::Node(NodeError::Killed {
                    node: "node thread".into(),
                }))
            })?;
        }
        Ok(())
    })
}

/// Runs `f` on every node at once; the first error wins.
fn on_every_node<F>(nodes: &[Box<dyn Node>], f: F) -> Result<(), NodeError>
where
    F: Fn(&dyn Node) -> Result<(), NodeError> + Sync,
{
    std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                let f = &f;
                scope.spawn(move || f(node.as_ref()))
            })
            .collect();
        for handle in handles {
            handle.join().unwrap_or_else(|_| {
                Err(NodeError::Killed {
                    node: "node thread".into(),
                })
            })?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Resources;

    #[test]
    fn the_demand_comes_from_the_resources_the_chosen_offer_satisfies() {
        let any_of = ResourceSet::AnyOf(vec![
            Resources::with_accelerator("A100", 8.0),
            Resources::with_accelerator("A100", 4.0),
        ]);
        let four: std::collections::BTreeMap<String, f64> = [("A100".to_string(), 4.0)].into();
        let eight: std::collections::BTreeMap<String, f64> = [("A100".to_string(), 8.0)].into();
        assert_eq!(job_demand(&any_of, 1, Some(&four)).gpus, 4.0);
        assert_eq!(job_demand(&any_of, 1, Some(&eight)).gpus, 8.0);
        assert_eq!(
            job_demand(&any_of, 2, None).gpus,
            8.0,
            "no offer: the first"
        );
        // A fractional request keeps its fraction on a whole-GPU offer.
        let half: ResourceSet = Resources::with_accelerator("T4", 0.5).into();
        let one: std::collections::BTreeMap<String, f64> = [("T4".to_string(), 1.0)].into();
        assert_eq!(job_demand(&half, 1, Some(&one)).gpus, 0.5);
        let cpu: ResourceSet = Resources::default().into();
        assert_eq!(job_demand(&cpu, 1, Some(&one)).gpus, 0.0);
    }
}
