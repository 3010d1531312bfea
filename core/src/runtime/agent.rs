//! The agent on a cluster's head node: it owns the job queue, starts jobs when
//! their resources are free, gang-runs them on their nodes, writes their logs and
//! carries out cancellations.
//!
//! Everything outside the agent talks to it through the queue database: `submit`
//! inserts a job, `cancel` sets a flag, `queue`/`logs` read. The agent process
//! ([`Agent::run`]) polls that database, so any number of short-lived CLI calls
//! (locally, or over SSH on a cloud node) can drive it without a server socket.
//!
//! Secrets reach a job through a file readable only by its owner (mode 0600) that
//! the agent deletes as soon as it has read it; they never enter the queue or logs.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::gang::{ClusterInfo, GangKiller, GangMember, GangSpec, Phase, run_gang};
use super::node::{HostKeys, LocalNode, Node, SshNode, SshTarget};
use super::queue::{JobQueue, JobRecord, JobSpec, JobStatus, QueueError};
use super::scheduler::{JobId, NodeAssignment, NodeCapacity, Scheduler};

/// Where the agent keeps its files, under the head node's home.
#[derive(Debug, Clone)]
pub struct AgentPaths {
    root: PathBuf,
}

impl AgentPaths {
    /// The agent folder (`~/.aloft/agent` on a node).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        AgentPaths { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The job queue database.
    pub fn queue_db(&self) -> PathBuf {
        self.root.join("jobs.db")
    }

    /// The cluster description the agent runs with.
    pub fn cluster_file(&self) -> PathBuf {
        self.root.join("cluster.json")
    }

    /// The merged log of a job.
    pub fn job_log(&self, id: JobId) -> PathBuf {
        self.root.join("logs").join(id.to_string()).join("run.log")
    }

    /// The autostop setting (absent when autostop is off).
    pub fn autostop_file(&self) -> PathBuf {
        self.root.join("autostop.json")
    }

    /// The last failure of the autostop command (absent while none failed since
    /// autostop was set).
    pub fn autostop_failure_file(&self) -> PathBuf {
        self.root.join("autostop-failure.json")
    }

    fn secrets_file(&self, id: JobId) -> PathBuf {
        self.root.join("secrets").join(format!("{id}.json"))
    }
}

/// How the agent reaches one node of its cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeSpec {
    /// A folder on the agent's machine.
    Local {
        /// The node's home.
        home: PathBuf,
        /// The IP the other nodes see.
        ip: String,
    },
    /// A machine reached over SSH.
    Ssh {
        /// Host (usually the private IP).
        host: String,
        /// SSH port.
        port: u16,
        /// Login user.
        user: String,
        /// Private key on the head node.
        identity_file: PathBuf,
        /// `ProxyCommand`, if any.
        proxy_command: Option<String>,
        /// The IP the other nodes see.
        ip: String,
        /// The node's host key as the launcher pinned it, in the head's copy of
        /// the launcher's file (`None` from launchers that did not pin: not
        /// checked).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host_keys: Option<HostKeys>,
    },
}

impl NodeSpec {
    fn ip(&self) -> &str {
        match self {
            NodeSpec::Local { ip, .. } | NodeSpec::Ssh { ip, .. } => ip,
        }
    }

    pub(crate) fn connect(&self, control_dir: &Path) -> Arc<dyn Node> {
        match self {
            NodeSpec::Local { home, .. } => Arc::new(LocalNode::new(home.clone())),
            NodeSpec::Ssh {
                host,
                port,
                user,
                identity_file,
                proxy_command,
                host_keys,
                ..
            } => Arc::new(SshNode::new(SshTarget {
                host: host.clone(),
                port: *port,
                user: user.clone(),
                identity_file: identity_file.clone(),
                control_dir: control_dir.to_path_buf(),
                proxy_command: proxy_command.clone(),
                host_keys: host_keys.clone(),
            })),
        }
    }
}

/// The cluster as the agent sees it (written by the launcher into
/// [`AgentPaths::cluster_file`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// Identity, for `SKYPILOT_CLUSTER_INFO`.
    pub info: ClusterInfo,
    /// Nodes, head first.
    pub nodes: Vec<NodeSpec>,
    /// vCPUs per node available to jobs.
    pub cpus_per_node: f64,
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Folder each job runs in, relative to a node's home.
    pub workdir: String,
    /// The container every job runs in (`image_id: docker:...`), one per node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<super::container::ContainerSpec>,
}

/// The shortest idle time before autostop fires, even with `-i 0`: a launcher
/// that follows the job's output reads its last lines (and its final status) from
/// the head, which an autodown would otherwise remove at once.
pub const AUTOSTOP_GRACE_SECS: i64 = 3;

/// When the cluster stops itself: after `idle_minutes` without pending or running
/// jobs, the agent runs `command` (written by the launcher: it stops or tears down
/// this cluster through its provider) once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutostopSpec {
    /// Idle minutes before acting.
    pub idle_minutes: u64,
    /// Tear down instead of stopping (informational; `command` does the work).
    pub down: bool,
    /// Seconds in one "minute" of `idle_minutes` (default 60; tests make it short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_per_minute: Option<u64>,
    /// Program and arguments to run.
    pub command: Vec<String>,
    /// The command reads the stop kit on its stdin (`agent self-stop`): the agent
    /// writes the kit it holds in memory there, and records a failure instead of
    /// running it while it holds none (see `stop_kit`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_kit: bool,
    /// Files whose lock a live process holds while it keeps the cluster busy
    /// without being one of its jobs (a jobs controller on its own cluster holds
    /// its lock file while it manages jobs). Relative paths are under the head
    /// user's `$HOME`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub busy_while_locked: Vec<String>,
}

/// Whether some process holds the lock of one of `paths` (see
/// [`AutostopSpec::busy_while_locked`]); a missing file is not busy.
fn held_by_another(paths: &[String]) -> bool {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    paths.iter().any(|p| {
        let path = match (Path::new(p).is_relative(), &home) {
            (true, Some(home)) => home.join(p),
            _ => PathBuf::from(p),
        };
        // Our own try is released when the file is dropped.
        File::open(&path).is_ok_and(|f| f.try_lock_shared().is_err())
    })
}

/// The autostop command failed: the agent tries again after a while (one more
/// autostop "minute" per failure, at most ten) and keeps this for the launcher's
/// `status -r`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutostopFailure {
    /// When it last failed, Unix seconds.
    pub at: i64,
    /// Failures since autostop was set.
    pub attempts: u32,
    /// How it ended and the last line it printed.
    pub reason: String,
    /// When the agent tries again, Unix seconds.
    pub retry_at: i64,
}

/// The autostop command's last failure, if any since autostop was set.
pub fn autostop_failure(paths: &AgentPaths) -> Option<AutostopFailure> {
    let text = std::fs::read_to_string(paths.autostop_failure_file()).ok()?;
    serde_json::from_str(&text).ok()
}

/// Sets (or, with `None`, cancels) the cluster's autostop.
pub fn set_autostop(paths: &AgentPaths, spec: Option<&AutostopSpec>) -> Result<(), AgentError> {
    // A new setting starts with a clean slate.
    let _ = std::fs::remove_file(paths.autostop_failure_file());
    let path = paths.autostop_file();
    match spec {
        None => match std::fs::remove_file(&path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(file_error(&path, err)),
            _ => Ok(()),
        },
        Some(spec) => {
            std::fs::create_dir_all(paths.root()).map_err(|e| file_error(paths.root(), e))?;
            let text = serde_json::to_string(spec).map_err(|e| file_error(&path, e))?;
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, text).map_err(|e| file_error(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| file_error(&path, e))
        }
    }
}

/// The cluster's autostop, if set.
pub fn autostop(paths: &AgentPaths) -> Result<Option<AutostopSpec>, AgentError> {
    Ok(autostop_since(paths)?.map(|(spec, _)| spec))
}

/// The cluster's autostop, if set, with when it was set (the file's time, Unix
/// seconds), both read through one open of the file.
fn autostop_since(paths: &AgentPaths) -> Result<Option<(AutostopSpec, i64)>, AgentError> {
    let path = paths.autostop_file();
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(file_error(&path, err)),
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(|e| file_error(&path, e))?;
    let spec = serde_json::from_str(&text).map_err(|e| file_error(&path, e))?;
    let set_at = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(Some((spec, set_at)))
}

/// An error of the agent or of a call into its queue.
#[derive(Debug, Error)]
pub enum AgentError {
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A file of the agent could not be read or written.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// The job can never run on this cluster.
    #[error("job rejected: {0}")]
    Rejected(String),
}

fn file_error(path: &Path, detail: impl std::fmt::Display) -> AgentError {
    AgentError::File {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// Writes `spec` as the cluster description for an agent in `paths`.
pub fn write_cluster_spec(paths: &AgentPaths, spec: &ClusterSpec) -> Result<(), AgentError> {
    let path = paths.cluster_file();
    std::fs::create_dir_all(paths.root()).map_err(|e| file_error(paths.root(), e))?;
    let text = serde_json::to_string_pretty(spec).map_err(|e| file_error(&path, e))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| file_error(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| file_error(&path, e))
}

/// The cluster description the agent in `paths` runs with.
pub fn read_cluster_spec(paths: &AgentPaths) -> Result<ClusterSpec, AgentError> {
    let path = paths.cluster_file();
    let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, e))?;
    serde_json::from_str(&text).map_err(|e| file_error(&path, e))
}

/// Queues a job on the cluster whose agent lives in `paths`; secrets go to a
/// private file the agent consumes. Fails at once if the cluster can never fit it.
pub fn submit(
    paths: &AgentPaths,
    spec: &JobSpec,
    secrets: &[(String, String)],
    now: i64,
) -> Result<JobId, AgentError> {
    let cluster = read_cluster_spec(paths)?;
    capacity_scheduler(&cluster)
        .check(&spec.demand)
        .map_err(|e| AgentError::Rejected(e.to_string()))?;
    let queue = JobQueue::open(&paths.queue_db())?;
    if secrets.is_empty() {
        return Ok(queue.submit(spec, now)?);
    }
    // The job is inserted first to get its id, but as it may be scheduled at once
    // the agent waits for the secrets file of a job that declares secrets.
    let mut spec = spec.clone();
    spec.env.retain(|(k, _)| k != SECRETS_MARKER);
    spec.env
        .push((SECRETS_MARKER.into(), secrets.len().to_string()));
    let id = queue.submit(&spec, now)?;
    let path = paths.secrets_file(id);
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        let text = serde_json::to_string(secrets).map_err(std::io::Error::other)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(err) = write() {
        let _ = queue.request_cancel(id, now);
        return Err(file_error(&path, err));
    }
    Ok(id)
}

/// Writes a job's log to `out`: the last `tail` lines (all when `None`), then, with
/// `follow`, what the job writes until it ends. Returns the job's final record.
pub fn write_log(
    paths: &AgentPaths,
    id: JobId,
    tail: Option<usize>,
    follow: bool,
    out: &mut dyn Write,
) -> Result<JobRecord, AgentError> {
    use std::io::{Read, Seek, SeekFrom};

    let queue = JobQueue::open(&paths.queue_db())?;
    let mut job = queue.job(id)?;
    let path = paths.job_log(id);
    let out_error = |e: std::io::Error| file_error(Path::new("<output>"), e);
    let mut offset = 0u64;
    if let Ok(text) = std::fs::read(&path) {
        offset = text.len() as u64;
        let start = match tail {
            Some(n) => tail_start(&text, n),
            None => 0,
        };
        out.write_all(&text[start..]).map_err(out_error)?;
    }
    if !follow {
        return Ok(job);
    }
    loop {
        let ended = job.status.is_terminal();
        if let Ok(mut file) = File::open(&path) {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| file_error(&path, e))?;
            let mut more = Vec::new();
            file.read_to_end(&mut more)
                .map_err(|e| file_error(&path, e))?;
            offset += more.len() as u64;
            out.write_all(&more).map_err(out_error)?;
            out.flush().map_err(out_error)?;
        }
        // Read once more after the job ended, so its last lines are not lost.
        if ended {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        job = queue.job(id)?;
    }
    Ok(job)
}

/// Byte offset where the last `n` lines of `text` begin.
fn tail_start(text: &[u8], n: usize) -> usize {
    if n == 0 {
        return text.len();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

/// An env entry that tells the agent a job has secrets waiting in a file (the
/// value is their count, never their content).
const SECRETS_MARKER: &str = "__ALOFT_SECRETS";

fn capacity_scheduler(cluster: &ClusterSpec) -> Scheduler {
    Scheduler::new(
        cluster
            .nodes
            .iter()
            .map(|_| NodeCapacity {
                cpus: cluster.cpus_per_node,
                gpus: cluster.gpus_per_node,
            })
            .collect(),
    )
}

/// A finished job, reported by its thread.
struct Finished {
    id: JobId,
    status: JobStatus,
    exit_codes: Vec<i32>,
}

/// What the agent keeps for a started job.
struct Started {
    killer: Arc<Mutex<Option<GangKiller>>>,
    cancelled: Arc<AtomicBool>,
}

/// The agent.
pub struct Agent {
    paths: AgentPaths,
    cluster: ClusterSpec,
    nodes: Vec<Arc<dyn Node>>,
    queue: JobQueue,
    scheduler: Scheduler,
    started: BTreeMap<JobId, Started>,
    done_tx: mpsc::Sender<Finished>,
    done_rx: mpsc::Receiver<Finished>,
    clock: fn() -> i64,
    /// When the cluster last had a pending or running job (or the agent started).
    last_active: i64,
    /// Where the autostop command is.
    autostop: AutostopRun,
    /// The stop kit in memory and the socket it arrives on, where the agent takes
    /// one ([`Agent::hold_stop_kits`]).
    kits: Option<super::stop_kit::KitKeeper>,
}

/// The autostop command's progress.
#[derive(Debug)]
enum AutostopRun {
    /// Not started.
    Waiting,
    /// Started; its exit decides what is next.
    Running(std::process::Child),
    /// Failed `attempts` times; tried again once idle at `retry_at`.
    Failed { attempts: u32, retry_at: i64 },
    /// Succeeded: the cluster stops or goes (never run again).
    Done,
}

pub use crate::clock::unix_now;

impl Agent {
    /// Opens the agent's queue and cluster description. Jobs left SETTING_UP or
    /// RUNNING by a previous agent process (which died with its children) are marked
    /// FAILED: their processes are gone.
    pub fn open(paths: AgentPaths) -> Result<Agent, AgentError> {
        let cluster = read_cluster_spec(&paths)?;
        let queue = JobQueue::open(&paths.queue_db())?;
        let control_dir = paths.root().join("cm");
        let nodes = cluster
            .nodes
            .iter()
            .map(|n| n.connect(&control_dir))
            .collect();
        let now = unix_now();
        for job in queue.jobs(true)? {
            if matches!(job.status, JobStatus::SettingUp | JobStatus::Running) {
                queue.transition(job.id, JobStatus::Failed, &[], now)?;
            }
        }
        let (done_tx, done_rx) = mpsc::channel();
        Ok(Agent {
            scheduler: capacity_scheduler(&cluster),
            paths,
            cluster,
            nodes,
            queue,
            started: BTreeMap::new(),
            done_tx,
            done_rx,
            clock: unix_now,
            last_active: now,
            autostop: AutostopRun::Waiting,
            kits: None,
        })
    }

    /// Takes stop kits on the agent folder's socket and keeps them in memory only
    /// (see `stop_kit`); call it after making the process non-dumpable.
    pub fn hold_stop_kits(&mut self) -> Result<(), AgentError> {
        let keeper = super::stop_kit::KitKeeper::listen(self.paths.root())
            .map_err(|e| file_error(self.paths.root(), e))?;
        self.kits = Some(keeper);
        Ok(())
    }

    /// Whether any job is pending or running (for idleness / autostop).
    pub fn busy(&self) -> Result<bool, AgentError> {
        Ok(!self.started.is_empty() || !self.queue.pending()?.is_empty())
    }

    /// One step: record finished jobs, carry out cancellations, start what fits.
    pub fn tick(&mut self) -> Result<(), AgentError> {
        let now = (self.clock)();
        // A new kit gets a new try at once, rather than at a failure's retry time.
        if let Some(super::stop_kit::KitEvent::Put) = self.kits.as_mut().and_then(|k| k.serve())
            && matches!(self.autostop, AutostopRun::Failed { .. })
        {
            self.autostop = AutostopRun::Waiting;
        }
        while let Ok(done) = self.done_rx.try_recv() {
            self.scheduler.release(done.id);
            self.started.remove(&done.id);
            self.queue
                .transition(done.id, done.status, &done.exit_codes, now)?;
        }
        for id in self.queue.cancel_requests()? {
            if let Some(job) = self.started.get(&id) {
                job.cancelled.store(true, Ordering::SeqCst);
                if let Ok(killer) = job.killer.lock()
                    && let Some(killer) = killer.as_ref()
                {
                    killer.kill();
                }
            }
            self.queue.transition(id, JobStatus::Cancelled, &[], now)?;
        }
        let pending = self.queue.pending()?;
        for (id, placement) in self.scheduler.schedule(&pending) {
            self.start_job(id, placement, now)?;
        }
        if !pending.is_empty() || !self.started.is_empty() {
            self.last_active = now;
            return Ok(());
        }
        self.check_autostop(now)
    }

    /// Runs the autostop command once the idle cluster has been idle long enough
    /// (never sooner than [`AUTOSTOP_GRACE_SECS`]); a command that fails is
    /// recorded ([`autostop_failure`]) and run again later.
    fn check_autostop(&mut self, now: i64) -> Result<(), AgentError> {
        let attempts = match &mut self.autostop {
            AutostopRun::Done => return Ok(()),
            AutostopRun::Running(child) => {
                match child.try_wait() {
                    Ok(None) => return Ok(()),
                    Ok(Some(status)) if status.success() => {
                        let _ = std::fs::remove_file(self.paths.autostop_failure_file());
                        self.autostop = AutostopRun::Done;
                        // Its work is done: the credentials go.
                        if let Some(kits) = self.kits.as_mut() {
                            kits.forget();
                        }
                    }
                    outcome => {
                        let how = match outcome {
                            Ok(Some(status)) => status.to_string(),
                            Err(err) => format!("cannot be waited for: {err}"),
                            Ok(None) => unreachable!("handled above"),
                        };
                        self.record_autostop_failure(now, &how)?;
                    }
                }
                return Ok(());
            }
            AutostopRun::Failed { retry_at, .. } if now < *retry_at => return Ok(()),
            AutostopRun::Failed { attempts, .. } => *attempts,
            AutostopRun::Waiting => 0,
        };
        let Some((spec, set_at)) = autostop_since(&self.paths)? else {
            return Ok(());
        };
        if held_by_another(&spec.busy_while_locked) {
            self.last_active = now;
            return Ok(());
        }
        // Idle time counts from the last activity or from when autostop was set,
        // whichever is later (as SkyPilot's skylet): setting it on a cluster idle
        // for hours gives the full wait, and a launcher setting it before starting
        // its work (a jobs controller) is not stopped under its feet.
        let idle = now - self.last_active.max(set_at);
        let minute = spec.seconds_per_minute.unwrap_or(60) as i64;
        if idle < (spec.idle_minutes as i64 * minute).max(AUTOSTOP_GRACE_SECS) {
            return Ok(());
        }
        let Some((program, args)) = spec.command.split_first() else {
            return Ok(());
        };
        let kit = match (spec.stop_kit, self.kits.as_ref().and_then(|k| k.kit())) {
            (false, _) => None,
            (true, Some(kit)) => Some(kit.to_vec()),
            (true, None) => {
                self.autostop = AutostopRun::Failed {
                    attempts,
                    retry_at: 0,
                };
                return self.record_autostop_failure(now, super::stop_kit::LOST_KIT);
            }
        };
        let log_path = self.paths.root().join("autostop.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| file_error(&log_path, e))?;
        let err_log = log.try_clone().map_err(|e| file_error(&log_path, e))?;
        // Its own process group: the command may well stop the machine this agent
        // runs on, and it must not die with the agent when the agent is stopped.
        use std::os::unix::process::CommandExt;
        let spawned = std::process::Command::new(program)
            .args(args)
            .stdin(if kit.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(log)
            .stderr(err_log)
            .process_group(0)
            .spawn();
        self.autostop = AutostopRun::Failed {
            attempts,
            retry_at: 0,
        };
        match spawned {
            Ok(mut child) => {
                // The kit goes on a pipe only the command reads, from a thread of
                // its own: the agent keeps polling while the command reads it. Not
                // before the command made itself non-dumpable: until then another
                // process of this user could open its end of the pipe
                // (`/proc/PID/fd/0`). A command that never does gets no kit (and
                // fails, recorded as any failure).
                if let (Some(mut kit), Some(mut stdin)) = (kit, child.stdin.take()) {
                    let pid = child.id();
                    std::thread::spawn(move || {
                        if super::stop_kit::wait_undumpable(pid, Duration::from_secs(10)) {
                            let _ = stdin.write_all(&kit);
                        }
                        kit.fill(0);
                    });
                }
                self.autostop = AutostopRun::Running(child)
            }
            Err(err) => {
                self.record_autostop_failure(now, &format!("cannot start {program}: {err}"))?
            }
        }
        Ok(())
    }

    /// Records that the autostop command failed (`how`, with the last line of its
    /// log) and when it runs again.
    fn record_autostop_failure(&mut self, now: i64, how: &str) -> Result<(), AgentError> {
        let attempts = match self.autostop {
            AutostopRun::Failed { attempts, .. } => attempts + 1,
            _ => autostop_failure(&self.paths).map_or(0, |f| f.attempts) + 1,
        };
        let minute = autostop(&self.paths)?
            .and_then(|s| s.seconds_per_minute)
            .unwrap_or(60) as i64;
        let retry_at = now + minute * i64::from(attempts.min(10));
        let log =
            std::fs::read_to_string(self.paths.root().join("autostop.log")).unwrap_or_default();
        let last: String = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(400)
            .collect();
        let failure = AutostopFailure {
            at: now,
            attempts,
            reason: if last.is_empty() {
                how.to_string()
            } else {
                format!("{how}: {last}")
            },
            retry_at,
        };
        let path = self.paths.autostop_failure_file();
        let text = serde_json::to_string(&failure).map_err(|e| file_error(&path, e))?;
        std::fs::write(&path, text).map_err(|e| file_error(&path, e))?;
        self.autostop = AutostopRun::Failed { attempts, retry_at };
        Ok(())
    }

    /// Runs until `stop` is set, polling every `poll`.
    pub fn run(&mut self, poll: Duration, stop: &AtomicBool) -> Result<(), AgentError> {
        while !stop.load(Ordering::SeqCst) {
            // The folder is gone (the node was wiped): nobody can reach this agent
            // any more, so it must not poll forever.
            if !self.paths.root().exists() {
                return Ok(());
            }
            self.tick()?;
            std::thread::sleep(poll);
        }
        Ok(())
    }

    fn start_job(
        &mut self,
        id: JobId,
        placement: Vec<NodeAssignment>,
        now: i64,
    ) -> Result<(), AgentError> {
        let job = self.queue.job(id)?;
        let secrets = match self.take_secrets(&job) {
            Ok(secrets) => secrets,
            // Not there yet: the submitter is still writing it. Try next tick.
            Err(None) => {
                self.scheduler.release(id);
                return Ok(());
            }
            Err(Some(err)) => {
                self.scheduler.release(id);
                self.queue.transition(id, JobStatus::Failed, &[], now)?;
                return Err(err);
            }
        };
        let first = if job.spec.setup.is_some() {
            JobStatus::SettingUp
        } else {
            JobStatus::Running
        };
        if !self.queue.start(id, &placement, first, now)? {
            // Cancelled between scheduling and now.
            self.scheduler.release(id);
            return Ok(());
        }
        let log_path = self.paths.job_log(id);
        let log = open_log(&log_path)?;
        let started = Started {
            killer: Arc::new(Mutex::new(None)),
            cancelled: Arc::new(AtomicBool::new(false)),
        };
        let run = JobRun {
            job,
            placement,
            secrets,
            nodes: self.nodes.clone(),
            ips: self
                .cluster
                .nodes
                .iter()
                .map(|n| n.ip().to_string())
                .collect(),
            cluster: self.cluster.clone(),
            log,
            killer: started.killer.clone(),
            cancelled: started.cancelled.clone(),
            queue_db: self.paths.queue_db(),
        };
        let done = self.done_tx.clone();
        self.started.insert(id, started);
        std::thread::spawn(move || {
            let finished = run.execute();
            // The agent outlives its job threads; if it is gone nobody needs this.
            let _ = done.send(finished);
        });
        Ok(())
    }

    /// The job's secrets: `Err(None)` while their file is not written yet.
    fn take_secrets(&self, job: &JobRecord) -> Result<Vec<(String, String)>, Option<AgentError>> {
        if !job.spec.env.iter().any(|(k, _)| k == SECRETS_MARKER) {
            return Ok(Vec::new());
        }
        let path = self.paths.secrets_file(job.id);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(None),
            Err(err) => return Err(Some(file_error(&path, err))),
        };
        let _ = std::fs::remove_file(&path);
        serde_json::from_str(&text).map_err(|_| Some(file_error(&path, "unreadable secrets file")))
    }
}

fn open_log(path: &Path) -> Result<Arc<Mutex<File>>, AgentError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| file_error(path, e))?;
    Ok(Arc::new(Mutex::new(file)))
}

/// A job being carried out on its own thread.
struct JobRun {
    job: JobRecord,
    placement: Vec<NodeAssignment>,
    secrets: Vec<(String, String)>,
    nodes: Vec<Arc<dyn Node>>,
    ips: Vec<String>,
    cluster: ClusterSpec,
    log: Arc<Mutex<File>>,
    killer: Arc<Mutex<Option<GangKiller>>>,
    cancelled: Arc<AtomicBool>,
    queue_db: PathBuf,
}

impl JobRun {
    fn execute(self) -> Finished {
        let id = self.job.id;
        if let Some(setup) = self.job.spec.setup.clone() {
            let outcome = self.phase(Phase::Setup, &setup);
            if self.cancelled.load(Ordering::SeqCst) {
                return self.finished(JobStatus::Cancelled, outcome);
            }
            if !outcome.succeeded() {
                return self.finished(JobStatus::FailedSetup, outcome);
            }
            // A fresh connection: the agent's own is not shared across threads.
            if let Ok(queue) = JobQueue::open(&self.queue_db) {
                let _ = queue.transition(id, JobStatus::Running, &[], unix_now());
            }
        }
        let run = self.job.spec.run.clone();
        let outcome = self.phase(Phase::Run, &run);
        let status = if self.cancelled.load(Ordering::SeqCst) {
            JobStatus::Cancelled
        } else if outcome.succeeded() {
            JobStatus::Succeeded
        } else {
            JobStatus::Failed
        };
        self.finished(status, outcome)
    }

    fn finished(&self, status: JobStatus, outcome: super::gang::GangOutcome) -> Finished {
        // Why a node did not run its part (unreachable, its host key refused) goes
        // into the job's log; a rank stopped with the others is no news.
        if let Ok(mut log) = self.log.lock() {
            for (rank, result) in outcome.results.iter().enumerate() {
                if let Err(err) = result
                    && !matches!(err, super::node::NodeError::Killed { .. })
                {
                    let _ = writeln!(log, "(rank {rank}) aloft: {err}");
                }
            }
        }
        Finished {
            id: self.job.id,
            status,
            exit_codes: outcome.exit_codes(),
        }
    }

    fn phase(&self, phase: Phase, script: &str) -> super::gang::GangOutcome {
        let multi = self.placement.len() > 1;
        let members = self
            .placement
            .iter()
            .enumerate()
            .map(|(rank, assignment)| GangMember {
                node: self.nodes[assignment.node].as_ref(),
                ip: self.ips[assignment.node].clone(),
                cuda_visible_devices: (!assignment.gpu_indices.is_empty())
                    .then(|| assignment.cuda_visible_devices()),
                log: Box::new(LineLog {
                    file: self.log.clone(),
                    prefix: multi.then(|| format!("(rank {rank}) ")),
                    pending: Vec::new(),
                }),
            })
            .collect();
        let env = self
            .job
            .spec
            .env
            .iter()
            .filter(|(k, _)| k != SECRETS_MARKER)
            .cloned()
            .collect();
        let spec = GangSpec {
            script: script.to_string(),
            env,
            secrets: self.secrets.clone(),
            cwd: Some(self.cluster.workdir.clone()),
            cluster: self.cluster.info.clone(),
            task_id: format!(
                "aloft-{}_{}_{}",
                self.job.submitted_at, self.cluster.info.cluster_name, self.job.id
            ),
            gpus_per_node: self.job.spec.demand.gpus,
            phase,
            in_container: self.cluster.container.is_some(),
        };
        run_gang(members, &spec, |killer| {
            if let Ok(mut slot) = self.killer.lock() {
                *slot = Some(killer.clone());
            }
            // A cancel that arrived while the gang was starting.
            if self.cancelled.load(Ordering::SeqCst) {
                killer.kill();
            }
        })
    }
}

/// Writes whole lines to the shared job log, with an optional rank prefix.
struct LineLog {
    file: Arc<Mutex<File>>,
    prefix: Option<String>,
    pending: Vec<u8>,
}

impl LineLog {
    fn emit(&mut self, line: &[u8]) -> std::io::Result<()> {
        let mut file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("log lock poisoned"))?;
        if let Some(prefix) = &self.prefix {
            file.write_all(prefix.as_bytes())?;
        }
        file.write_all(line)?;
        file.flush()
    }
}

impl Write for LineLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineLog {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let mut rest = std::mem::take(&mut self.pending);
            rest.push(b'\n');
            let _ = self.emit(&rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::runtime::scheduler::Demand;

    fn cluster(dir: &Path, nodes: usize, gpus: u32) -> AgentPaths {
        let paths = AgentPaths::new(dir.join("head/.aloft/agent"));
        let spec = ClusterSpec {
            info: ClusterInfo {
                cluster_name: "t".into(),
                cloud: "local".into(),
                region: "local".into(),
                zone: None,
            },
            nodes: (0..nodes)
                .map(|i| NodeSpec::Local {
                    home: if i == 0 {
                        dir.join("head")
                    } else {
                        dir.join(format!("worker{i}"))
                    },
                    ip: format!("127.0.0.{}", i + 1),
                })
                .collect(),
            cpus_per_node: 4.0,
            gpus_per_node: gpus,
            workdir: "sky_workdir".into(),
            container: None,
        };
        write_cluster_spec(&paths, &spec).unwrap();
        paths
    }

    fn job(run: &str, setup: Option<&str>, nodes: u32, gpus: f64) -> JobSpec {
        JobSpec {
            name: Some("j".into()),
            demand: Demand {
                cpus: 1.0,
                gpus,
                num_nodes: nodes,
            },
            accelerator: None,
            setup: setup.map(str::to_string),
            run: run.into(),
            env: vec![("GREETING".into(), "hello".into())],
        }
    }

    /// Runs the agent until `done` holds for the queue, or panics after 20 s.
    fn drive(paths: &AgentPaths, done: impl Fn(&JobQueue) -> bool) {
        let mut agent = Agent::open(paths.clone()).unwrap();
        let queue = JobQueue::open(&paths.queue_db()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&queue) {
            assert!(
                Instant::now() < deadline,
                "timed out: {:?}",
                queue.jobs(false)
            );
            agent.tick().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let finished threads report, so later assertions see final states.
        agent.tick().unwrap();
    }

    fn status(q: &JobQueue, id: JobId) -> JobStatus {
        q.job(id).unwrap().status
    }

    #[test]
    fn a_two_node_job_runs_setup_then_run_on_both_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 2, 0);
        let id = submit(
            &paths,
            &job(
                "echo \"$GREETING from $SKYPILOT_NODE_RANK token=$TOKEN\"",
                Some("echo setup $SKYPILOT_SETUP_NODE_RANK > setup.txt"),
                2,
                0.0,
            ),
            &[("TOKEN".into(), "tok-123".into())],
            1,
        )
        .unwrap();
        drive(&paths, |q| status(q, id).is_terminal());
        let q = JobQueue::open(&paths.queue_db()).unwrap();
        assert_eq!(status(&q, id), JobStatus::Succeeded);
        let log = std::fs::read_to_string(paths.job_log(id)).unwrap();
        let mut lines: Vec<&str> = log.lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "(rank 0) hello from 0 token=tok-123",
                "(rank 1) hello from 1 token=tok-123"
            ]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("worker1/sky_workdir/setup.txt")).unwrap(),
            "setup 1\n"
        );
        // The secret was consumed: its file is gone and the queue never saw it.
        assert!(!paths.secrets_file(id).exists());
        let stored = std::fs::read(paths.queue_db()).unwrap();
        assert!(!stored.windows(7).any(|w| w == b"tok-123"));
    }

    #[test]
    fn a_failing_setup_ends_failed_setup_and_run_never_starts() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let id = submit(&paths, &job("touch ran", Some("exit 9"), 1, 0.0), &[], 1).unwrap();
        drive(&paths, |q| status(q, id).is_terminal());
        let q = JobQueue::open(&paths.queue_db()).unwrap();
        let record = q.job(id).unwrap();
        assert_eq!(record.status, JobStatus::FailedSetup);
        assert_eq!(record.exit_codes, vec![9]);
        assert!(!dir.path().join("head/sky_workdir/ran").exists());
    }

    #[test]
    fn cancel_stops_a_long_job_and_frees_its_gpu() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 1);
        let long = submit(&paths, &job("sleep 60", None, 1, 1.0), &[], 1).unwrap();
        let next = submit(&paths, &job("echo next", None, 1, 1.0), &[], 2).unwrap();
        let mut agent = Agent::open(paths.clone()).unwrap();
        let q = JobQueue::open(&paths.queue_db()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while status(&q, long) != JobStatus::Running {
            assert!(Instant::now() < deadline);
            agent.tick().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(status(&q, next), JobStatus::Pending, "the GPU is taken");
        let started = Instant::now();
        q.request_cancel(long, 3).unwrap();
        while !status(&q, next).is_terminal() {
            assert!(Instant::now() < deadline);
            agent.tick().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(started.elapsed() < Duration::from_secs(15));
        assert_eq!(status(&q, long), JobStatus::Cancelled);
        assert_eq!(status(&q, next), JobStatus::Succeeded);
        let log = std::fs::read_to_string(paths.job_log(next)).unwrap();
        assert_eq!(log, "next\n");
    }

    #[test]
    fn logs_follow_a_job_to_its_end_and_tail_counts_lines() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let id = submit(
            &paths,
            &job(
                "for i in 1 2 3; do echo line$i; sleep 0.1; done",
                None,
                1,
                0.0,
            ),
            &[],
            1,
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let agent_paths = paths.clone();
        let agent_stop = stop.clone();
        let agent = std::thread::spawn(move || {
            let mut agent = Agent::open(agent_paths).unwrap();
            agent.run(Duration::from_millis(20), &agent_stop).unwrap();
        });
        let mut out = Vec::new();
        let record = write_log(&paths, id, None, true, &mut out).unwrap();
        stop.store(true, Ordering::SeqCst);
        agent.join().unwrap();
        assert_eq!(record.status, JobStatus::Succeeded);
        assert_eq!(String::from_utf8(out).unwrap(), "line1\nline2\nline3\n");
        let mut out = Vec::new();
        write_log(&paths, id, Some(2), false, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "line2\nline3\n");
        assert_eq!(tail_start(b"a\nb\n", 5), 0);
        assert_eq!(tail_start(b"a\nb\n", 0), 4);
    }

    #[test]
    fn autostop_runs_its_command_once_after_the_idle_time() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let marker = dir.path().join("stopped");
        set_autostop(
            &paths,
            Some(&AutostopSpec {
                seconds_per_minute: None,
                idle_minutes: 1,
                down: true,
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    format!("echo x >> {}", marker.display()),
                ],
                busy_while_locked: Vec::new(),
                stop_kit: false,
            }),
        )
        .unwrap();
        let mut agent = Agent::open(paths.clone()).unwrap();
        agent.tick().unwrap();
        assert!(!marker.exists(), "not idle long enough yet");
        // The last activity was two minutes ago, but autostop was set just now:
        // the wait counts from the setting.
        agent.last_active -= 120;
        agent.tick().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !marker.exists(),
            "the wait counts from when autostop was set"
        );
        set_long_ago(&paths);
        agent.tick().unwrap();
        agent.tick().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "autostop command did not run");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "x\n", "ran once");
        // Cancelling autostop removes the setting.
        set_autostop(&paths, None).unwrap();
        assert_eq!(autostop(&paths).unwrap(), None);
    }

    #[test]
    fn a_kit_autostop_gets_the_kit_from_memory_on_stdin_and_says_when_it_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let got = dir.path().join("got-kit");
        set_autostop(
            &paths,
            Some(&AutostopSpec {
                seconds_per_minute: Some(1),
                idle_minutes: 0,
                down: false,
                // As `self-stop`: non-dumpable (prctl 4 = PR_SET_DUMPABLE)
                // before it reads the kit.
                command: vec![
                    "python3".into(),
                    "-c".into(),
                    format!(
                        "import ctypes, sys; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); \
                         open({:?}, 'wb').write(sys.stdin.buffer.read())",
                        got.display().to_string()
                    ),
                ],
                busy_while_locked: Vec::new(),
                stop_kit: true,
            }),
        )
        .unwrap();
        set_long_ago(&paths);
        let mut agent = Agent::open(paths.clone()).unwrap();
        agent.hold_stop_kits().unwrap();
        agent.last_active -= 600;
        // No kit held (an agent that restarted): a failure naming it, no run.
        tick_until(&mut agent, "the lost kit was not recorded", &|| {
            autostop_failure(&paths).is_some()
        });
        let failure = autostop_failure(&paths).unwrap();
        assert_eq!(failure.reason, super::super::stop_kit::LOST_KIT);
        assert!(!got.exists());
        // A kit sent again runs at once, on the command's stdin, and is then
        // dropped from memory.
        let kit = br#"{"credentials":{"K":"s3cret"}}"#;
        std::thread::scope(|s| {
            let root = paths.root().to_path_buf();
            let sender = s.spawn(move || super::super::stop_kit::hand_over(&root, kit));
            tick_until(&mut agent, "the kit was not run", &|| {
                std::fs::read(&got).is_ok_and(|b| b == kit)
            });
            sender.join().unwrap().unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(agent.autostop, AutostopRun::Done) {
            assert!(Instant::now() < deadline, "autostop did not finish");
            agent.tick().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(autostop_failure(&paths).is_none());
        assert!(agent.kits.as_ref().unwrap().kit().is_none());
    }

    #[test]
    fn a_busy_cluster_is_not_idle() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let marker = dir.path().join("stopped");
        set_autostop(
            &paths,
            Some(&AutostopSpec {
                seconds_per_minute: None,
                idle_minutes: 0,
                down: false,
                command: vec!["touch".into(), marker.display().to_string()],
                busy_while_locked: Vec::new(),
                stop_kit: false,
            }),
        )
        .unwrap();
        submit(&paths, &job("sleep 1", None, 1, 0.0), &[], 1).unwrap();
        let mut agent = Agent::open(paths.clone()).unwrap();
        agent.last_active -= 600;
        agent.tick().unwrap();
        assert!(agent.busy().unwrap());
        std::thread::sleep(Duration::from_millis(300));
        assert!(!marker.exists(), "autostop fired while a job was running");
    }

    #[test]
    fn a_failing_autostop_is_recorded_and_tried_again_until_it_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let gate = dir.path().join("may-stop");
        let marker = dir.path().join("stopped");
        // Fails (saying why) until the gate file exists, then succeeds.
        let script = format!(
            "if [ -e {gate} ]; then touch {marker}; else echo 'provider refused' >&2; exit 3; fi",
            gate = gate.display(),
            marker = marker.display()
        );
        set_autostop(
            &paths,
            Some(&AutostopSpec {
                seconds_per_minute: Some(1),
                idle_minutes: 0,
                down: false,
                command: vec!["sh".into(), "-c".into(), script],
                busy_while_locked: Vec::new(),
                stop_kit: false,
            }),
        )
        .unwrap();
        set_long_ago(&paths);
        let mut agent = Agent::open(paths.clone()).unwrap();
        agent.last_active -= 600;
        tick_until(&mut agent, "the failure was not recorded", &|| {
            autostop_failure(&paths).is_some()
        });
        let failure = autostop_failure(&paths).unwrap();
        assert_eq!(failure.attempts, 1);
        assert!(failure.reason.contains("provider refused"), "{failure:?}");
        assert!(failure.retry_at > failure.at, "{failure:?}");
        tick_until(&mut agent, "the command was not tried again", &|| {
            autostop_failure(&paths).is_some_and(|f| f.attempts >= 2)
        });
        std::fs::write(&gate, "").unwrap();
        tick_until(&mut agent, "the retry did not succeed", &|| marker.exists());
        tick_until(&mut agent, "the failure was not cleared", &|| {
            autostop_failure(&paths).is_none()
        });
        // Done: never run again.
        std::fs::remove_file(&marker).unwrap();
        for _ in 0..5 {
            agent.tick().unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(!marker.exists());
    }

    /// Makes the autostop setting an hour old.
    /// Ticks `agent` until `done` (failing with `what` after 20 s).
    fn tick_until(agent: &mut Agent, what: &str, done: &dyn Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            agent.tick().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn set_long_ago(paths: &AgentPaths) {
        let file = File::options()
            .write(true)
            .open(paths.autostop_file())
            .unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
    }

    #[test]
    fn a_cluster_is_busy_while_a_named_lock_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let marker = dir.path().join("stopped");
        let lock = dir.path().join("controller.lock");
        std::fs::write(&lock, "").unwrap();
        set_autostop(
            &paths,
            Some(&AutostopSpec {
                seconds_per_minute: None,
                idle_minutes: 1,
                down: false,
                command: vec!["touch".into(), marker.display().to_string()],
                busy_while_locked: vec![
                    dir.path().join("absent.lock").display().to_string(),
                    lock.display().to_string(),
                ],
                stop_kit: false,
            }),
        )
        .unwrap();
        let mut agent = Agent::open(paths.clone()).unwrap();
        // Held (as a controller holds its lock), the cluster stays busy however
        // long ago its last job ran.
        // Set long ago: only the lock keeps the cluster busy.
        set_long_ago(&paths);
        let holder = File::open(&lock).unwrap();
        holder.lock().unwrap();
        agent.last_active -= 600;
        agent.tick().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(!marker.exists(), "autostop fired while the lock was held");
        // Released: idle from that moment, so not at once, then after the wait.
        drop(holder);
        agent.tick().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(!marker.exists(), "idle time counts from the lock's release");
        agent.last_active -= 120;
        agent.tick().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !marker.exists() {
            assert!(
                Instant::now() < deadline,
                "autostop did not fire once released"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_job_larger_than_the_cluster_is_rejected_at_submit() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let err = submit(&paths, &job("true", None, 2, 0.0), &[], 1).unwrap_err();
        assert!(matches!(err, AgentError::Rejected(_)), "{err}");
        assert!(err.to_string().contains("2 nodes"), "{err}");
    }

    #[test]
    fn an_agent_whose_folder_vanished_exits() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let mut agent = Agent::open(paths.clone()).unwrap();
        let root = paths.root().to_path_buf();
        let runner = std::thread::spawn(move || {
            agent.run(Duration::from_millis(10), &AtomicBool::new(false))
        });
        std::thread::sleep(Duration::from_millis(50));
        std::fs::remove_dir_all(&root).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !runner.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the agent kept running"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(runner.join().unwrap().is_ok());
    }

    #[test]
    fn jobs_left_running_by_a_dead_agent_are_marked_failed() {
        let dir = tempfile::tempdir().unwrap();
        let paths = cluster(dir.path(), 1, 0);
        let id = submit(&paths, &job("true", None, 1, 0.0), &[], 1).unwrap();
        let q = JobQueue::open(&paths.queue_db()).unwrap();
        q.start(id, &[], JobStatus::Running, 2).unwrap();
        Agent::open(paths.clone()).unwrap();
        assert_eq!(status(&q, id), JobStatus::Failed);
    }
}
