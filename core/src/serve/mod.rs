//! Serving (`aloft serve`): services whose replicas are ordinary clusters behind
//! one endpoint. The controller (one process for every service on this machine)
//! launches, probes, scales, replaces and updates replicas; the load balancer in
//! the same process proxies each service's requests to its ready replicas.
//!
//! - [`ServicePlan`]: a task's `service:` section with SkyServe's defaults.
//! - [`ServeDb`]: services, versions, replicas and events in SQLite.
//! - [`autoscale`]: how many replicas a request rate asks for, with hysteresis.
//! - `controller` (feature `plugin`): the loop that keeps every service as asked.
//! - `balancer` (feature `plugin`): the HTTP proxy in front of ready replicas.

use thiserror::Error;

pub mod autoscale;
#[cfg(feature = "plugin")]
pub mod balancer;
#[cfg(feature = "plugin")]
pub mod controller;
mod db;
mod spec;
mod status;

pub use db::{ReplicaRecord, ServeDb, ServeEvent, ServiceRecord, UpdateMode, now};
pub use spec::{Probe, ServicePlan};
pub use status::{ReplicaStatus, ServiceStatus};

/// What can go wrong with a service.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The task or a request is not valid for serving; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// No service of that name.
    #[error("no service named `{0}`")]
    UnknownService(String),
    /// `serve up` of a name in use.
    #[error("a service named `{0}` exists already; change it with `aloft serve update {0} TASK`")]
    Exists(String),
    /// The serving database failed.
    #[error("{path}: {message}")]
    Db {
        /// The database file.
        path: String,
        /// What failed.
        message: String,
    },
    /// The controller could not do its work (its endpoint, its runtime).
    #[error("{0}")]
    Controller(String),
}
