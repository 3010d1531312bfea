//! The SDK's front door: a [`Client`] opened on aloft's home folder, with every
//! lifecycle verb the `aloft` CLI offers — `launch`, `exec`, `status`, `refresh`,
//! `stop`, `start`, `down`, `autostop`, `queue`, `logs`, `cancel`, `cost_report`,
//! storage and provider checks.
//!
//! Progress is reported as typed [`Event`]s that an embedder renders or ignores;
//! cancellation (what Ctrl-C does in the CLI) is a [`CancelToken`] the caller holds:
//! a cancelled launch stops at the next step boundary, never inside a provider call,
//! and local state says what exists.
//!
//! ```no_run
//! use aloft::client::{Client, LaunchOptions};
//! use aloft::task::{Infra, Resources, Task};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Providers are WebAssembly components; an embedder brings the ones it ships
//! // (crate `aloft-bundled-providers` has aloft's own).
//! let bundled: &[(&str, &[u8])] = &[];
//! let client = Client::builder().bundled_providers(bundled).open()?;
//! let task = Task::builder()
//!     .run("echo hello")
//!     .resources(Resources::default().with_infra(Infra::parse("local")?))
//!     .build()?;
//! let launched = client.launch(&task, std::path::Path::new("."), &LaunchOptions::named("demo"))?;
//! // A task with `run` queues a job (a task without one only makes the cluster).
//! if let Some(job) = launched.job_id {
//!     let status = client.follow("demo", job, &mut std::io::stdout())?;
//!     println!("job ended {status}");
//! }
//! client.down("demo", false)?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod addresses;
mod autostop;
mod cancels;
mod catalogs;
mod choices;
mod cluster;
mod conformance;
mod consent;
mod controllers;
mod events;
mod gpus;
mod jobs_backend;
mod jobs_remote;
mod json_shapes;
mod lifecycle;
mod logging;
mod logs;
mod managed;
mod managed_select;
mod mounts;
mod offers;
mod per_cluster;
mod plan;
mod provider_list;
mod providers;
mod provisioner;
mod refresh;
mod registry;
mod serve;
mod serve_remote;
mod ssh_config;
mod storage;
mod targets;
mod tasks;
mod volumes;

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use autostop::AutostopSetting;
pub use cancels::CancelOutcomes;
pub use choices::{job_status_result, volume_from_fields};
pub use cluster::{
    CancelTargets, Cancellation, ClusterView, CostEntry, HeadAccess, is_cluster_pattern,
};
pub use conformance::conformance_result;
pub use consent::with_consent;
pub use events::{CancelToken, Event};
pub use gpus::GpuRequest;
pub use jobs_backend::ClientBackend;
pub use jobs_remote::{CONTROLLER_CLUSTER, CONTROLLER_HOME, ControllerGrant, GrantConsent};
pub use lifecycle::{
    LaunchOptions, Launched, StartOptions, default_cluster_name, manifest_capabilities,
};
pub use logging::{COMPILER_CRATES, log_directives};
pub use logs::{LogsOptions, RankFilter, job_end_result};
pub use managed_select::{ManagedQueueFilter, managed_job_end_result};
pub use offers::{KUBE_NODES_QUERY, KubeGpus, LiveCatalog};
pub use per_cluster::{ClusterPart, PerCluster};
pub use plan::{LeftOut, Plan, PlanOptions, PlanSummary, PlannedTask, TaskSummary};
pub use provider_list::{ProviderList, ProviderListing, capability_names};
pub use providers::{
    ComponentReview, ConfiguredCredentials, CredentialCheck, ProviderTest, Providers,
    default_component_cache, known_clouds, load as load_providers,
};
pub use refresh::RefreshNote;
pub use registry::RegistryLogin;
pub use serve::{ServeLogs, ServiceView};
pub use ssh_config::{IncludeOutcome, SshSetup};
pub use storage::{BucketDeletion, delete_bucket_result};
pub use targets::Queues;
pub use tasks::{LoadedTask, TaskUse, key_values_with_file};
pub use volumes::VolumeView;

use crate::config::{Config, ConfigError, aloft_home};
use crate::launch::LaunchError;
use crate::runtime::head::HeadError;
use crate::runtime::node_agents::NodeAgents;
use crate::state::{ClusterRecord, StateDb, StateError};

/// Why a client call failed. [`ClientError::class`] sorts errors for exit codes.
#[derive(Debug, Error)]
pub enum ClientError {
    /// `config.yaml` (or another settings file) cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Local state cannot be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A launch failed (provisioning, setting up the nodes, the agent).
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// A head node's agent could not be reached or used.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// No cluster of that name.
    #[error(
        "no cluster named `{name}`{} ({known})",
        suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
    )]
    UnknownCluster {
        /// The name asked for.
        name: String,
        /// The existing name closest to it, when it looks like a typo of one.
        suggestion: Option<String>,
        /// What exists, for the message.
        known: String,
    },
    /// A glob pattern given for cluster names (`'dev-*'`) matches no cluster.
    #[error("no cluster matches `{pattern}` ({known})")]
    NoClusterMatches {
        /// The pattern.
        pattern: String,
        /// What exists, for the message.
        known: String,
    },
    /// The cluster exists but is not UP, so its head cannot run, list or follow
    /// jobs; the message says how to bring it back.
    #[error("cluster `{name}` is {status}: {hint}")]
    ClusterNotUp {
        /// The cluster.
        name: String,
        /// Its status in local state.
        status: crate::state::ClusterStatus,
        /// What to do about it.
        hint: String,
    },
    /// The task asks for something the cluster does not have; nothing was queued.
    #[error("the task does not fit cluster `{name}` ({existing}): {reason}; nothing was queued")]
    DoesNotFit {
        /// The cluster.
        name: String,
        /// What it runs on.
        existing: String,
        /// The field that does not fit, in words.
        reason: String,
    },
    /// No bucket of that name in local state: aloft deletes only buckets it created.
    #[error("no bucket named `{name}` that aloft created ({known})")]
    UnknownBucket {
        /// The name asked for.
        name: String,
        /// What aloft knows, for the message.
        known: String,
    },
    /// Nothing satisfies the request; `reasons` says why each provider was out,
    /// first: a provider left out (a refused key) is most often the whole story.
    #[error("{reasons}{message}")]
    NoResources {
        /// What the optimizer said.
        message: String,
        /// One line per unusable provider, each ending with a newline.
        reasons: String,
    },
    /// A settings or input file is malformed (`file:line:col: message`).
    #[error("{0}")]
    InvalidInput(String),
    /// A provider call failed.
    #[error("provider {provider}: {message}")]
    Provider {
        /// Which provider.
        provider: String,
        /// What it said.
        message: String,
    },
    /// A job ended without succeeding.
    #[error("job {job} ended {status}")]
    JobFailed {
        /// The job.
        job: u64,
        /// How it ended.
        status: String,
    },
    /// A job has not (or not yet) succeeded, read without waiting (see
    /// [`job_status_result`]).
    #[error("job {job} is {status}")]
    JobNotSucceeded {
        /// The job.
        job: u64,
        /// Its status now.
        status: String,
    },
    /// A reviewed component would replace the bundled provider of its name and the
    /// user did not say it may (see [`ComponentReview::check_replace`]).
    #[error(
        "`{name}` is a bundled provider; installing this component would replace it. \
         Nothing was installed"
    )]
    ReplacesBundled {
        /// The provider's name.
        name: String,
    },
    /// A managed job that was followed ended without succeeding (see
    /// [`managed_job_end_result`]).
    #[error(
        "managed job {id} {}",
        if *status == crate::jobs::ManagedJobStatus::Cancelled {
            "was cancelled".to_string()
        } else {
            format!("ended {}", status.as_str())
        }
    )]
    ManagedJobEnded {
        /// The job.
        id: crate::jobs::JobId,
        /// How it ended.
        status: crate::jobs::ManagedJobStatus,
    },
    /// The caller cancelled (see [`CancelToken`]); `left` says what exists.
    #[error("interrupted {stage}; {left}")]
    Interrupted {
        /// Where it stopped.
        stage: String,
        /// What was left and how to deal with it.
        left: String,
    },
    /// A managed job's task names a provider the remote jobs controller is not
    /// granted (`jobs.controller.providers`); nothing was submitted.
    #[error(
        "provider `{provider}` is not granted to the jobs controller (cluster \
         `{CONTROLLER_CLUSTER}`), which holds no credentials for it: add it to \
         `jobs.controller.providers` in config.yaml (granted now: {})",
        granted.join(", ")
    )]
    ProviderNotGranted {
        /// The provider the task names.
        provider: String,
        /// The providers granted.
        granted: Vec<String>,
    },
    /// The user did not consent to the remote jobs controller holding these
    /// providers' credentials; none was sent.
    #[error(
        "the jobs controller (cluster `{CONTROLLER_CLUSTER}`) was not granted the \
         credentials of {}; nothing was sent",
        providers.join(", ")
    )]
    GrantRefused {
        /// The providers whose credentials were asked for.
        providers: Vec<String>,
    },
    /// A service could not be served, updated or found.
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    /// Anything else, with a message for humans.
    #[error("{0}")]
    Other(String),
}

/// Broad classes of [`ClientError`], for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad input (task file, settings file): the CLI's exit code 2.
    Invalid,
    /// No resources satisfy the request: exit code 3.
    NoResources,
    /// The job ran and did not succeed: exit code 100.
    JobFailed,
    /// A managed job that was followed ended CANCELLED: exit code 103 (SkyPilot's).
    JobCancelled,
    /// Cancelled by the caller: exit code 130.
    Interrupted,
    /// Anything else: exit code 1.
    Failure,
}

impl ErrorClass {
    /// The exit code aloft's CLI ends with for this class (SkyPilot's where it has
    /// one), for an embedding program that wants the same contract with its scripts.
    pub const fn exit_code(self) -> u8 {
        match self {
            ErrorClass::Invalid => 2,
            ErrorClass::NoResources => 3,
            ErrorClass::JobFailed => 100,
            ErrorClass::JobCancelled => 103,
            ErrorClass::Interrupted => 130,
            ErrorClass::Failure => 1,
        }
    }
}

impl ClientError {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            ClientError::InvalidInput(_)
            | ClientError::DoesNotFit { .. }
            | ClientError::ProviderNotGranted { .. }
            | ClientError::Config(ConfigError::Invalid(_))
            | ClientError::Serve(
                crate::serve::ServeError::Invalid(_)
                | crate::serve::ServeError::Exists(_)
                | crate::serve::ServeError::UnknownService(_),
            ) => ErrorClass::Invalid,
            ClientError::NoResources { .. } => ErrorClass::NoResources,
            ClientError::JobFailed { .. } | ClientError::JobNotSucceeded { .. } => {
                ErrorClass::JobFailed
            }
            ClientError::ManagedJobEnded {
                status: crate::jobs::ManagedJobStatus::Cancelled,
                ..
            } => ErrorClass::JobCancelled,
            ClientError::ManagedJobEnded { .. } => ErrorClass::JobFailed,
            ClientError::Interrupted { .. }
            | ClientError::Launch(LaunchError::Interrupted { .. }) => ErrorClass::Interrupted,
            _ => ErrorClass::Failure,
        }
    }

    pub(crate) fn other(err: impl std::fmt::Display) -> ClientError {
        ClientError::Other(err.to_string())
    }
}

/// Result of a client call.
pub type ClientResult<T> = Result<T, ClientError>;

/// Builds a [`Client`].
pub struct ClientBuilder {
    home: Option<PathBuf>,
    bundled: Vec<(String, &'static [u8])>,
    compiled: Vec<(String, &'static [u8])>,
    agent_binary: Option<PathBuf>,
    node_agents: Vec<(String, &'static [u8])>,
    controller_tuning: crate::roles::ControllerTuning,
    serve_tuning: crate::roles::ControllerTuning,
    serve_bind: Option<std::net::IpAddr>,
    component_cache: Option<PathBuf>,
    node_ready_timeout: std::time::Duration,
    autostop_seconds_per_minute: Option<u64>,
    events: events::Sink,
    cancel: CancelToken,
    wait_for_locks: bool,
}

impl ClientBuilder {
    /// How long fresh nodes may take to accept SSH before a launch gives the
    /// candidate up (default [`crate::launch::NODE_READY_TIMEOUT`], 300 s).
    pub fn node_ready_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.node_ready_timeout = timeout;
        self
    }

    /// Seconds in one minute of autostop's idle time (default 60): tests and demos
    /// make autostop fire in seconds.
    pub fn autostop_seconds_per_minute(mut self, seconds: u64) -> Self {
        self.autostop_seconds_per_minute = Some(seconds);
        self
    }

    /// Where compiled provider components are kept (default:
    /// [`default_component_cache`], shared by every home of this user).
    pub fn component_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.component_cache = Some(dir.into());
        self
    }

    /// Timings of the managed-jobs controller this client starts (default:
    /// [`crate::jobs::ControllerSettings::default`]).
    pub fn jobs_controller_tuning(mut self, tuning: crate::roles::ControllerTuning) -> Self {
        self.controller_tuning = tuning;
        self
    }

    /// Timings of the service controller this client starts (default:
    /// [`crate::serve::controller::ServeSettings::default`]).
    pub fn serve_controller_tuning(mut self, tuning: crate::roles::ControllerTuning) -> Self {
        self.serve_tuning = tuning;
        self
    }

    /// The address the service endpoints this client's controller opens listen
    /// on (default 127.0.0.1; a controller cluster's host uses 0.0.0.0).
    pub fn serve_endpoint_bind(mut self, ip: std::net::IpAddr) -> Self {
        self.serve_bind = Some(ip);
        self
    }

    /// Whether a call on a cluster that another aloft process holds waits for it
    /// (default, after an event naming the holder) or fails at once.
    pub fn wait_for_locks(mut self, wait: bool) -> Self {
        self.wait_for_locks = wait;
        self
    }

    /// aloft's home folder (default: `$ALOFT_HOME`, else `~/.aloft`).
    pub fn home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// The provider components this program ships, as `(name, component bytes)`;
    /// installed ones under `HOME/providers` are loaded too.
    pub fn bundled_providers(mut self, providers: &[(&str, &'static [u8])]) -> Self {
        self.bundled = providers
            .iter()
            .map(|(name, bytes)| (name.to_string(), *bytes))
            .collect();
        self
    }

    /// The bundled providers compiled ahead of time for this machine, as `(name,
    /// compiled bytes)` (`aloft_bundled_providers::compiled()`): a provider found
    /// here loads in milliseconds instead of being compiled on this machine's
    /// first command. One compiled for another engine or CPU is refused by
    /// wasmtime's header check and compiled as usual.
    ///
    /// # Safety
    /// Each entry must be wasmtime's `precompile_component` output for the
    /// component [`ClientBuilder::bundled_providers`] is given under the same name
    /// (as the two lists of `aloft-bundled-providers` are, made by one build):
    /// wasmtime runs that machine code as it is.
    pub unsafe fn compiled_providers(mut self, compiled: &[(&str, &'static [u8])]) -> Self {
        self.compiled = compiled
            .iter()
            .map(|(name, bytes)| (name.to_string(), *bytes))
            .collect();
        self
    }

    /// The program that runs a head node's agent: it must hand `agent ...`
    /// command lines to [`crate::runtime::agent_cli::run`], as the `aloft` CLI does.
    /// Default: `$ALOFT_AGENT_BINARY`, else the running program.
    pub fn agent_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.agent_binary = Some(path.into());
        self
    }

    /// The small node agents (`core/agent`, static musl builds) this program ships,
    /// as `(architecture, program bytes)`; a remote head gets the one for its
    /// `uname -m`. Without one for a head's architecture the head gets
    /// [`ClientBuilder::agent_binary`] when that runs there, else the launch fails
    /// with a clear error.
    pub fn node_agents(mut self, agents: &[(&str, &'static [u8])]) -> Self {
        self.node_agents = agents
            .iter()
            .map(|(arch, bytes)| (arch.to_string(), *bytes))
            .collect();
        self
    }

    /// Receives every progress [`Event`] (default: ignored).
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = events::Sink::new(f);
        self
    }

    /// The token that cancels this client's long calls.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// Opens the client: reads `config.yaml` and opens the state database (providers
    /// load on first use).
    pub fn open(self) -> ClientResult<Client> {
        let home = self.home.unwrap_or_else(aloft_home);
        ensure_private_dir(&home)?;
        let config = Config::load(&home)?;
        let state = StateDb::open(&home.join("state.db"))?;
        let agent_binary = match self.agent_binary {
            Some(path) => path,
            None => match std::env::var_os("ALOFT_AGENT_BINARY").filter(|v| !v.is_empty()) {
                Some(path) => PathBuf::from(path),
                None => std::env::current_exe().map_err(|e| {
                    ClientError::Other(format!("cannot locate the agent binary: {e}"))
                })?,
            },
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Other(format!("cannot start the async runtime: {e}")))?;
        let node_agents = self.node_agents.iter().fold(
            NodeAgents::new(&agent_binary, home.join("node-agents")),
            |agents, (arch, bytes)| agents.with_agent(arch, bytes),
        );
        let component_cache = self
            .component_cache
            .unwrap_or_else(|| default_component_cache(&home));
        Ok(Client {
            home,
            config,
            state,
            bundled: self.bundled,
            compiled: self.compiled,
            node_agent_bytes: self.node_agents,
            controller_tuning: self.controller_tuning,
            serve_tuning: self.serve_tuning,
            serve_bind: self.serve_bind,
            component_cache,
            node_ready_timeout: self.node_ready_timeout,
            autostop_seconds_per_minute: self.autostop_seconds_per_minute,
            node_agents,
            agent_binary,
            events: self.events,
            cancel: self.cancel,
            wait_for_locks: self.wait_for_locks,
            rt,
            providers: OnceCell::new(),
        })
    }
}

/// A handle on aloft's home: local state, the user's settings and the providers.
///
/// Calls block the calling thread (provider calls run on a private single-threaded
/// async runtime).
pub struct Client {
    home: PathBuf,
    config: Config,
    state: StateDb,
    bundled: Vec<(String, &'static [u8])>,
    /// The bundled providers compiled ahead of time, by name.
    compiled: Vec<(String, &'static [u8])>,
    agent_binary: PathBuf,
    node_agents: NodeAgents,
    /// The node agents as given to the builder (for the clients of a jobs backend).
    node_agent_bytes: Vec<(String, &'static [u8])>,
    controller_tuning: crate::roles::ControllerTuning,
    serve_tuning: crate::roles::ControllerTuning,
    serve_bind: Option<std::net::IpAddr>,
    component_cache: PathBuf,
    node_ready_timeout: std::time::Duration,
    autostop_seconds_per_minute: Option<u64>,
    events: events::Sink,
    cancel: CancelToken,
    wait_for_locks: bool,
    rt: tokio::runtime::Runtime,
    providers: OnceCell<Providers>,
}

impl Client {
    /// A builder with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            home: None,
            bundled: Vec::new(),
            compiled: Vec::new(),
            agent_binary: None,
            node_agents: Vec::new(),
            controller_tuning: Default::default(),
            serve_tuning: Default::default(),
            serve_bind: None,
            component_cache: None,
            node_ready_timeout: crate::launch::NODE_READY_TIMEOUT,
            autostop_seconds_per_minute: None,
            events: events::Sink::default(),
            cancel: CancelToken::new(),
            wait_for_locks: true,
        }
    }

    /// aloft's home folder.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The user's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Local state.
    pub fn state(&self) -> &StateDb {
        &self.state
    }

    /// The token that cancels this client's long calls.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Every provider, loaded on first use.
    pub fn providers(&self) -> ClientResult<&Providers> {
        if let Some(p) = self.providers.get() {
            return Ok(p);
        }
        let loaded = self.rt.block_on(providers::load_with_cache(
            &self.home,
            &self.config,
            &self.bundled,
            &self.compiled,
            &self.component_cache,
            Some(self.compile_hook()),
        ))?;
        Ok(self.providers.get_or_init(|| loaded))
    }

    /// Turns the host's "compiling a component" into a progress event.
    fn compile_hook(&self) -> crate::plugin::CompileHook {
        let events = self.events.clone();
        std::sync::Arc::new(move |origin: &str| {
            events.emit(&Event::Step(format!(
                "Compiling provider component {origin} (first use on this machine; kept for later runs)..."
            )))
        })
    }

    /// Runs a future on the client's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub(crate) fn emit(&self, event: Event) {
        self.events.emit(&event);
    }

    pub(crate) fn control_dir(&self) -> PathBuf {
        self.home.join("ssh")
    }

    /// The record of cluster `name`, or [`ClientError::UnknownCluster`] listing what
    /// exists.
    pub fn cluster(&self, name: &str) -> ClientResult<ClusterRecord> {
        if let Some(record) = self.state.cluster(name)? {
            return Ok(record);
        }
        let names: Vec<String> = self.state.clusters()?.into_iter().map(|c| c.name).collect();
        let known = if names.is_empty() {
            "there are no clusters".to_string()
        } else {
            format!("clusters: {}", names.join(", "))
        };
        Err(ClientError::UnknownCluster {
            name: name.to_string(),
            suggestion: crate::task::suggest(name, names.iter().map(String::as_str)),
            known,
        })
    }
}

/// Creates aloft's home readable by this user only (it holds keys and state).
fn ensure_private_dir(dir: &Path) -> ClientResult<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| ClientError::Other(format!("cannot create {}: {e}", dir.display())))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}
