//! aloft core: the embeddable library behind the `aloft` CLI.
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

pub mod catalog;
#[cfg(feature = "plugin")]
pub mod client;
pub mod config;
pub mod jobs;
#[cfg(feature = "plugin")]
pub mod kube;
pub mod launch;
pub mod optimizer;
#[cfg(feature = "plugin")]
pub mod plugin;
pub mod provision;
pub mod roles;
pub mod runtime;
pub mod state;
#[cfg(feature = "plugin")]
pub mod storage;
pub mod task;
