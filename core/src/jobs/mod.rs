//! Managed jobs (`sky jobs launch`): a controller launches each job on a cluster
//! of its own, watches it, recovers it from preemption and failures by the task's
//! `job_recovery` rules, runs pipelines task by task, and tears clusters down.
//!
//! - [`ManagedJobStatus`], [`ManagedJob`], [`JobEvent`]: the model.
//! - [`JobsDb`]: jobs and their events in `$ALOFT_HOME/jobs.db` (SQLite, WAL).
//! - [`JobOutputs`]: each task's output, kept before its cluster is torn down.
//! - [`decide`], [`plan_launch`]: the recovery rules as pure functions.
//! - [`JobBackend`]: what the controller needs from the world; implement it on
//!   top of the launch API.
//! - [`Controller`]: the async loop managing every unfinished job.
//! - [`controller_log`]: what `jobs logs --controller` shows, with UTC times.
//!
//! Every state change is written to the database before or after the backend call
//! it concerns, so a controller killed at any point can be started again on the
//! same file: it reconciles each unfinished job with its cluster before acting.

mod backend;
mod controller;
pub mod controller_log;
mod db;
mod output;
mod record;
mod recovery;
mod schema;
mod status;

pub use backend::{
    ClusterRef, JobBackend, JobProbe, LaunchError, LaunchRequest, Launched, Reconciled,
    TeardownError,
};
pub use controller::{Controller, ControllerSettings};
pub use db::{CancelTarget, JobFilter, JobsDb};
pub use output::{JobOutputs, TaskRun};
pub use record::{JobEvent, JobEventKind, JobId, JobSummary, ManagedJob, NewJob, TaskPlan};
pub use recovery::{
    Decision, LaunchConstraints, LaunchPlan, LaunchRetry, Location, Observation, RecoveryError,
    RecoveryPolicy, RecoveryStrategy, RelaunchReason, decide, plan_launch,
};
pub use status::ManagedJobStatus;

use std::path::Path;

use thiserror::Error;

/// An error of the managed-jobs store or controller.
#[derive(Debug, Error)]
pub enum JobsError {
    /// The database could not be opened, read or written.
    #[error("jobs database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not a SQLite database, or is damaged.
    #[error(
        "jobs database {path} is not a valid SQLite database (damaged or overwritten); move it away to start afresh: {detail}"
    )]
    NotADatabase {
        /// The database file.
        path: String,
        /// What SQLite said.
        detail: String,
    },
    /// The database was written by a newer aloft.
    #[error(
        "jobs database {path} has schema version {found}, newer than this aloft knows ({known}); upgrade aloft"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// A stored value could not be decoded.
    #[error("jobs database {path}: bad stored value for {what}: {detail}")]
    Corrupt {
        /// The database file.
        path: String,
        /// Which value.
        what: String,
        /// Why it is bad.
        detail: String,
    },
    /// A file-system error (creating the folder).
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A job without tasks was submitted.
    #[error("managed job `{0}` has no task")]
    EmptyJob(String),
    /// No job with this id.
    #[error("no managed job with id {0}")]
    NoSuchJob(JobId),
    /// A backend call panicked or its thread was lost.
    #[error("backend call failed: {0}")]
    Backend(String),
}

impl JobsError {
    fn sqlite(path: &Path, source: rusqlite::Error) -> JobsError {
        use rusqlite::ErrorCode;
        let path = path.display().to_string();
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => JobsError::NotADatabase {
                path,
                detail: source.to_string(),
            },
            _ => JobsError::Sqlite { path, source },
        }
    }
}
