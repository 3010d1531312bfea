//! aloft core: the embeddable library behind the `aloft` CLI.
//!
//! Start with [`Client`] (every lifecycle verb), [`Task`] (what to run), [`Plan`]
//! (where it would run and what it costs) and [`run_if_role`] (the one call an
//! embedding program makes first in `main`); `examples/embed` is a whole program.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use aloft::{Client, Infra, LaunchOptions, Resources, Task};
//!
//! let client = Client::builder().open()?;
//! let task = Task::builder()
//!     .run("python train.py")
//!     .resources(Resources::default().with_infra(Infra::parse("local")?))
//!     .build()?;
//! let launched = client.launch(&task, ".".as_ref(), &LaunchOptions::named("dev"))?;
//! // A task with `run` queues a job (a task without one only makes the cluster).
//! if let Some(job) = launched.job_id {
//!     let status = client.follow("dev", job, &mut std::io::stdout())?;
//!     println!("{status}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! - [`task`]: the SkyPilot-compatible task and resources model (YAML in and out, a
//!   builder API, located validation errors).
//! - `client` (feature `plugin`): the SDK's front door, a `Client` with every
//!   lifecycle verb the CLI has (launch, exec, status, refresh, stop, start, down,
//!   autostop, queue, logs, cancel, cost report, storage), typed progress events and
//!   a cancellation token.
//! - [`config`]: aloft's home folder and `config.yaml`.
//! - [`catalog`]: cloud offers (instance types, accelerators, prices per region and
//!   zone) read from SkyPilot's catalog CSV format; a snapshot ships embedded.
//! - [`jobs`]: managed jobs: their SQLite store, SkyPilot's recovery rules
//!   (`job_recovery`), and the controller that keeps every job alive through a
//!   backend (the client implements it).
//! - `kube` (feature `plugin`): Kubernetes on the host side: kubeconfig contexts,
//!   exec credential plugins, the port-forward tunnel SSH uses to reach pods.
//! - [`launch`]: a launch end to end: record, provision, set up nodes, queue the job.
//! - [`optimizer`]: picks the cheapest (or fastest) offers that satisfy each task, for
//!   single tasks, chains and general DAGs.
//! - `plugin` (feature `plugin`): the wasmtime host for provider components.
//! - [`provision`]: the failover engine: try candidates, block what errors say.
//! - [`state`]: local state in SQLite: clusters, events, usage and cost, provider kv.
//! - [`roles`]: the binary contract: every role aloft asks its program to play
//!   (agent, jobs controller, kube-proxy, autostop), answered by one call in `main`.
//! - [`runtime`]: what runs on a cluster: the head node's job scheduler.
//! - `views` (feature `plugin`): the client's answers as a person reads them: the
//!   tables, lines and notes the CLI prints, as data another front end can render.
//! - [`serve`]: services (`aloft serve`): replicas behind a load balancer that
//!   scales, heals and updates them.

#![deny(missing_docs)]
// Without `internals`, what only the node agent and aloft's tests call is unused here.
#![cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]

// The API: what an embedder needs, at the crate root. Every type a `Client` method
// takes or returns is reachable from here or from the public modules below.
#[cfg(feature = "plugin")]
pub use client::{
    AutostopSetting, CancelToken, Client, ClientBuilder, ClientError, ClientResult, ClusterView,
    CostEntry, ErrorClass, Event, LaunchOptions, Launched, Plan, PlanOptions, PlannedTask,
    RefreshNote,
};
pub use optimizer::{Candidate, TaskPlan};
#[cfg(feature = "plugin")]
pub use roles::run_if_role;
pub use runtime::queue::{JobRecord, JobStatus};
pub use state::{ClusterRecord, ClusterStatus};
pub use task::{Infra, Overrides, Resources, Task, TaskChain};

pub mod catalog;
#[cfg(feature = "plugin")]
pub mod client;
pub mod clock;
pub mod config;
pub mod jobs;
pub mod optimizer;
#[cfg(feature = "plugin")]
pub mod plugin;
pub mod roles;
pub mod serve;
mod sqlite;
pub mod task;
#[cfg(feature = "plugin")]
pub mod views;

/// Declares internal modules: private, or public (and undocumented) with the
/// `internals` feature, which only aloft's own node agent and tests turn on.
macro_rules! internal {
    ($($(#[$attr:meta])* $name:ident;)*) => {$(
        $(#[$attr])*
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "internals"))]
        mod $name;
    )*};
}

// Internals: not part of the API (use the client and the re-exports above).
internal! {
    #[cfg(feature = "plugin")]
    kube;
    launch;
    provision;
    runtime;
    state;
    #[cfg(feature = "plugin")]
    storage;
}
pub mod volumes;
