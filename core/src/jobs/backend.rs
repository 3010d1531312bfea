//! [`JobBackend`]: what the controller needs from the world (launch a task on a
//! cluster, ask how its job is doing, tear the cluster down), so the controller's
//! logic runs the same against real clouds and against a scripted test backend.

use std::collections::BTreeMap;

use thiserror::Error;

use super::record::JobId;
use super::recovery::{LaunchConstraints, Location};

/// One launch the controller asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRequest {
    /// The managed job.
    pub job_id: JobId,
    /// Which task of the job's spec to launch (0-based, pipeline order).
    pub task_index: u32,
    /// The job's task file: one task or a chain (pick task `task_index`).
    pub spec_yaml: String,
    /// The cluster to create; the name is the same across recoveries of a task.
    /// A cluster of that name may be left over from a crashed attempt: the backend
    /// reuses or replaces it, never fails because of it.
    pub cluster: String,
    /// Placement constraints from the recovery strategy, on top of the task's own
    /// resources (which may pin a cloud or region themselves).
    pub constraints: LaunchConstraints,
    /// Environment variables to set for the task: `SKYPILOT_TASK_ID` (stable across
    /// recoveries), `SKYPILOT_MANAGED_JOB_ID`, `SKYPILOT_TASK_IDS`.
    pub envs: BTreeMap<String, String>,
}

/// Where a launch landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// Cloud, region and zone of the cluster.
    pub location: Location,
    /// The job's id on the cluster's own queue, when there is one.
    pub cluster_job_id: Option<i64>,
}

/// The cluster a task runs on, as the controller knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef {
    /// The managed job.
    pub job_id: JobId,
    /// The task.
    pub task_index: u32,
    /// Cluster name.
    pub cluster: String,
    /// The job's id on the cluster, if the launch reported one.
    pub cluster_job_id: Option<i64>,
    /// Where the cluster runs, if known.
    pub location: Option<Location>,
}

/// What the job on a cluster is doing, as [`JobBackend::poll`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobProbe {
    /// Set up or running (any non-terminal state on the cluster).
    Running,
    /// Finished with exit code 0 on every node.
    Succeeded,
    /// The user's code failed; the cluster is still up.
    Failed {
        /// Exit codes (one per node; empty when unknown).
        exit_codes: Vec<i32>,
        /// It was `setup` that failed.
        in_setup: bool,
    },
    /// The cluster is gone or not up (preempted, terminated by the cloud). The
    /// backend should say this only after asking the cloud, not because one
    /// request timed out.
    ClusterGone,
    /// The cluster could not be reached and its state is unknown. The controller
    /// tries again; after several in a row it treats the cluster as gone.
    Unreachable(String),
}

/// What [`JobBackend::reconcile`] found for a cluster a previous controller left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// The cluster is up and our job was submitted to it: the controller adopts it
    /// (no second launch) and goes on from `probe`.
    Alive {
        /// Where it runs.
        launched: Launched,
        /// What its job is doing.
        probe: JobProbe,
    },
    /// No usable cluster or no job of ours on it: the controller tears down
    /// whatever is left and launches again.
    Absent,
}

/// Why a launch failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LaunchError {
    /// No capacity or quota for the request (within the constraints): retried
    /// with back-off, then `FAILED_NO_RESOURCE`.
    #[error("no resources: {0}")]
    NoResources(String),
    /// The task cannot be launched at all (invalid for every cloud, credentials
    /// missing): the job ends `FAILED_PRECHECKS` without retrying.
    #[error("cannot launch: {0}")]
    Precheck(String),
    /// Anything else (a transient error): retried like `NoResources`.
    #[error("launch failed: {0}")]
    Other(String),
}

/// A teardown that did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("teardown of `{cluster}` failed: {message}")]
pub struct TeardownError {
    /// The cluster.
    pub cluster: String,
    /// What went wrong.
    pub message: String,
}

/// The controller's view of the world. Methods are blocking; the controller calls
/// them on tokio's blocking pool, several at once for different jobs, so an
/// implementation must be thread-safe. None is called twice at once for the same
/// job.
///
/// The controller writes its intent to the jobs database before each call and the
/// outcome after it, so any call may be interrupted by a crash; implementations
/// must make [`launch`](JobBackend::launch) and
/// [`teardown`](JobBackend::teardown) safe to repeat on the same cluster name.
pub trait JobBackend: Send + Sync + 'static {
    /// Launches task `req.task_index` of the job on cluster `req.cluster`, within
    /// `req.constraints`, submits its job and returns where it landed. It returns
    /// once the job is submitted, not when it ends. On failure it should clean up
    /// what it created (the controller also calls `teardown` after a failure).
    fn launch(&self, req: &LaunchRequest) -> Result<Launched, LaunchError>;

    /// What the job on the cluster is doing now.
    fn poll(&self, cluster: &ClusterRef) -> JobProbe;

    /// What the jobs on `clusters` are doing now, one answer per cluster in
    /// order. The controller polls every running job in one call per round; the
    /// default asks [`poll`](JobBackend::poll) for each. A backend overrides it when
    /// one request answers for many clusters (one provider query per region for
    /// all of them, not one per job).
    fn poll_many(&self, clusters: &[ClusterRef]) -> Vec<JobProbe> {
        clusters.iter().map(|c| self.poll(c)).collect()
    }

    /// Writes everything the job on the cluster printed so far into `out`. The
    /// controller keeps it (see [`JobOutputs`](super::JobOutputs)) before it tears
    /// a cluster down whose job ended, so the output outlives the cluster.
    fn save_output(&self, cluster: &ClusterRef, out: &mut dyn std::io::Write)
    -> Result<(), String>;

    /// Tears the cluster down. Idempotent: a cluster that does not exist is
    /// success.
    fn teardown(&self, cluster: &ClusterRef) -> Result<(), TeardownError>;

    /// After a controller restart: is this cluster still there with our job on it?
    /// `cluster.location` and `cluster.cluster_job_id` may be unknown (the crash
    /// came during the launch).
    fn reconcile(&self, cluster: &ClusterRef) -> Reconciled;
}
