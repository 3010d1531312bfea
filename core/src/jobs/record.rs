//! Managed-job records: the job, its tasks' recovery plans, and its event log.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::recovery::{Location, RecoveryError, RecoveryPolicy};
use super::status::ManagedJobStatus;
use crate::task::{Task, TaskChain};

/// A managed job's id (positive, assigned by the database, never reused).
pub type JobId = i64;

/// What the controller needs to know about one task of a job, fixed at submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPlan {
    /// The task's name, if it has one.
    pub name: Option<String>,
    /// How it recovers.
    pub policy: RecoveryPolicy,
    /// Every resource candidate names a region (EAGER_NEXT_REGION then never
    /// blocks the region it loses).
    pub region_pinned: bool,
    /// A one-line summary of its resources, for display.
    pub resources: String,
}

impl TaskPlan {
    /// The plan of a parsed task: its `job_recovery` (the first candidate that has
    /// one) and whether it pins a region.
    pub fn from_task(task: &Task) -> Result<TaskPlan, RecoveryError> {
        let candidates = task.resources.candidates();
        let jr = candidates.iter().find_map(|r| r.job_recovery.as_ref());
        Ok(TaskPlan {
            name: task.name.clone(),
            policy: RecoveryPolicy::from_job_recovery(jr)?,
            region_pinned: !candidates.is_empty()
                && candidates.iter().all(|r| r.infra.region.is_some()),
            resources: summarize_resources(task),
        })
    }
}

fn summarize_resources(task: &Task) -> String {
    let parts: Vec<String> = task
        .resources
        .candidates()
        .iter()
        .map(|r| {
            let mut p = Vec::new();
            let infra = r.infra.to_string();
            if infra != "*" {
                p.push(infra);
            }
            if let Some(a) = &r.accelerators {
                p.push(a.to_string());
            } else if let Some(t) = &r.instance_type {
                p.push(t.clone());
            }
            if r.use_spot {
                p.push("[spot]".to_string());
            }
            if p.is_empty() {
                "default".to_string()
            } else {
                p.join(" ")
            }
        })
        .collect();
    format!("{}x {}", task.num_nodes.max(1), parts.join(" | "))
}

/// A job to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The job's name.
    pub name: String,
    /// The task file the backend launches from: one task or a serialized
    /// [`TaskChain`]. It is stored as given; write it with secrets when the backend
    /// needs them (the database file is the user's own).
    pub spec_yaml: String,
    /// One plan per task, in pipeline order (at least one).
    pub tasks: Vec<TaskPlan>,
}

impl NewJob {
    /// The name a job running `chain` gets when one is chosen: `name`, else the
    /// chain's (a pipeline's header), else the first task's; `None` leaves it
    /// `managed-job` (see [`NewJob::from_chain`]).
    pub fn chosen_name(chain: &TaskChain, name: Option<&str>) -> Option<String> {
        name.map(str::to_string)
            .or_else(|| chain.name.clone())
            .or_else(|| chain.tasks().first().and_then(|t| t.name.clone()))
    }

    /// A job running `chain` (a pipeline runs its tasks in order). The name is
    /// `name`, else the chain's, else the first task's, else `managed-job`.
    pub fn from_chain(chain: &TaskChain, name: Option<&str>) -> Result<NewJob, RecoveryError> {
        let tasks = chain
            .tasks()
            .iter()
            .map(TaskPlan::from_task)
            .collect::<Result<Vec<_>, _>>()?;
        let name = Self::chosen_name(chain, name).unwrap_or_else(|| "managed-job".to_string());
        Ok(NewJob {
            name,
            spec_yaml: chain.to_yaml_string_with_secrets(),
            tasks,
        })
    }

    /// The summary of every task's resources, `; `-separated.
    pub fn resources_summary(&self) -> String {
        let r: Vec<&str> = self.tasks.iter().map(|t| t.resources.as_str()).collect();
        r.join("; ")
    }
}

/// A managed job as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedJob {
    /// The job's id.
    pub id: JobId,
    /// The job's name.
    pub name: String,
    /// The task file (one task or a serialized chain).
    pub spec_yaml: String,
    /// One plan per task.
    pub tasks: Vec<TaskPlan>,
    /// A summary of the resources asked for.
    pub resources: String,
    /// Status.
    pub status: ManagedJobStatus,
    /// When it was submitted (unix seconds).
    pub submitted_at: i64,
    /// When its first task first started running.
    pub started_at: Option<i64>,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// The task now running (0-based; pipelines advance it).
    pub task_index: u32,
    /// Recoveries from preemption, over the whole job.
    pub recovery_count: u32,
    /// Counted restarts after user failures, for the current task.
    pub restarts_on_errors: u32,
    /// The cluster of the current task, once its launch started.
    pub cluster_name: Option<String>,
    /// The job's id on that cluster, when the backend reports one.
    pub cluster_job_id: Option<i64>,
    /// Where the current cluster runs.
    pub location: Option<Location>,
    /// Why it failed or was cancelled.
    pub failure_reason: Option<String>,
    /// The stable base of `SKYPILOT_TASK_ID` (see [`ManagedJob::task_id_for`]).
    pub task_id: String,
    /// Failed launch attempts in the current launch sequence.
    pub launch_attempts: u32,
    /// The location being recovered from, while recovering.
    pub recovering_from: Option<Location>,
    /// A cluster that must still be torn down (written before the teardown, cleared
    /// after it, so a crash in between does not leak it).
    pub teardown_pending: Option<String>,
}

/// What a listing (`jobs queue`) shows of a job: read without the task file and
/// the plans, so 10,000 rows list fast, and the task file (which may carry
/// secrets) is never printed. [`crate::client::Client::managed_job`] has the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    /// The job's id.
    pub id: JobId,
    /// The job's name.
    pub name: String,
    /// A summary of the resources asked for.
    pub resources: String,
    /// Status.
    pub status: ManagedJobStatus,
    /// When it was submitted (unix seconds).
    pub submitted_at: i64,
    /// When its first task first started running.
    pub started_at: Option<i64>,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// The task now running (0-based).
    pub task_index: u32,
    /// How many tasks the job has (more than one for a pipeline).
    pub task_count: u32,
    /// Recoveries from preemption, over the whole job.
    pub recovery_count: u32,
    /// Counted restarts after user failures, for the current task.
    pub restarts_on_errors: u32,
    /// The cluster of the current task, once its launch started.
    pub cluster_name: Option<String>,
    /// Where the current cluster runs.
    pub location: Option<Location>,
    /// Why it failed or was cancelled.
    pub failure_reason: Option<String>,
}

impl ManagedJob {
    /// What a listing shows of this job.
    pub fn summary(&self) -> JobSummary {
        JobSummary {
            id: self.id,
            name: self.name.clone(),
            resources: self.resources.clone(),
            status: self.status,
            submitted_at: self.submitted_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
            task_index: self.task_index,
            task_count: u32::try_from(self.tasks.len()).unwrap_or(u32::MAX),
            recovery_count: self.recovery_count,
            restarts_on_errors: self.restarts_on_errors,
            cluster_name: self.cluster_name.clone(),
            location: self.location.clone(),
            failure_reason: self.failure_reason.clone(),
        }
    }

    /// `SKYPILOT_TASK_ID` for task `index`: the same across recoveries.
    pub fn task_id_for(&self, index: u32) -> String {
        format!("{}-{index}", self.task_id)
    }

    /// The plan of the current task.
    pub fn current_task(&self) -> Option<&TaskPlan> {
        self.tasks.get(self.task_index as usize)
    }

    /// The cluster name of task `index`: `<name>-<id>` (SkyPilot's form), with
    /// `-<index>` added in pipelines so each task has its own cluster.
    pub fn cluster_name_for(&self, index: u32) -> String {
        let mut base: String = self
            .name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(20)
            .collect();
        base = base.trim_matches('-').to_string();
        if base.is_empty() || !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
            base = format!("job{base}");
        }
        if self.tasks.len() > 1 {
            format!("{base}-{}-{index}", self.id)
        } else {
            format!("{base}-{}", self.id)
        }
    }
}

/// What kind of thing happened to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobEventKind {
    /// The job was submitted.
    Submitted,
    /// A launch was started.
    LaunchAttempt,
    /// The launch succeeded; the event's location says where.
    Launched,
    /// A launch failed.
    LaunchFailed,
    /// The cluster was found preempted (or gone).
    Preempted,
    /// The user's job failed; the event's exit codes say how.
    JobFailed,
    /// The task is launched again after a failure or preemption.
    Recovering,
    /// One task of a pipeline succeeded.
    TaskSucceeded,
    /// The job ended (the message says with which status).
    Ended,
    /// Cancel was asked for.
    CancelRequested,
    /// A cluster was torn down.
    TornDown,
    /// A teardown failed.
    TeardownFailed,
    /// A (new) controller took the job over after a restart.
    Resumed,
    /// The controller hit an error managing the job.
    ControllerError,
}

impl JobEventKind {
    const ALL: [JobEventKind; 14] = [
        JobEventKind::Submitted,
        JobEventKind::LaunchAttempt,
        JobEventKind::Launched,
        JobEventKind::LaunchFailed,
        JobEventKind::Preempted,
        JobEventKind::JobFailed,
        JobEventKind::Recovering,
        JobEventKind::TaskSucceeded,
        JobEventKind::Ended,
        JobEventKind::CancelRequested,
        JobEventKind::TornDown,
        JobEventKind::TeardownFailed,
        JobEventKind::Resumed,
        JobEventKind::ControllerError,
    ];

    /// The stored name (`launch-failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobEventKind::Submitted => "submitted",
            JobEventKind::LaunchAttempt => "launch-attempt",
            JobEventKind::Launched => "launched",
            JobEventKind::LaunchFailed => "launch-failed",
            JobEventKind::Preempted => "preempted",
            JobEventKind::JobFailed => "job-failed",
            JobEventKind::Recovering => "recovering",
            JobEventKind::TaskSucceeded => "task-succeeded",
            JobEventKind::Ended => "ended",
            JobEventKind::CancelRequested => "cancel-requested",
            JobEventKind::TornDown => "torn-down",
            JobEventKind::TeardownFailed => "teardown-failed",
            JobEventKind::Resumed => "resumed",
            JobEventKind::ControllerError => "controller-error",
        }
    }
}

impl fmt::Display for JobEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobEventKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobEventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown job event kind `{s}`"))
    }
}

/// Something that happened to a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    /// When (unix seconds).
    pub at: i64,
    /// The task it concerns.
    pub task_index: u32,
    /// What kind of thing.
    pub kind: JobEventKind,
    /// Where (launched at, preempted in), when it concerns a place.
    pub location: Option<Location>,
    /// Exit codes, for job failures.
    pub exit_codes: Vec<i32>,
    /// A human-readable message.
    pub message: String,
}

impl JobEvent {
    /// An event of `kind` for `task_index`, now, without place or exit codes.
    pub fn new(kind: JobEventKind, task_index: u32, message: impl Into<String>) -> JobEvent {
        JobEvent {
            at: now(),
            task_index,
            kind,
            location: None,
            exit_codes: Vec::new(),
            message: message.into(),
        }
    }

    /// The same event, at `location`.
    pub fn at_location(mut self, location: Option<Location>) -> JobEvent {
        self.location = location;
        self
    }

    /// The same event, with exit codes.
    pub fn with_exit_codes(mut self, codes: Vec<i32>) -> JobEvent {
        self.exit_codes = codes;
        self
    }
}

/// The current time as unix seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(yaml: &str) -> TaskChain {
        TaskChain::from_yaml_str(yaml, "job.yaml", &Default::default()).unwrap()
    }

    #[test]
    fn a_job_is_named_by_the_caller_then_the_pipeline_then_its_first_task() {
        let pipeline = chain("name: pipe\n---\nname: a\nrun: x\n---\nname: b\nrun: y\n");
        assert_eq!(
            NewJob::chosen_name(&pipeline, Some("mine")).as_deref(),
            Some("mine")
        );
        assert_eq!(
            NewJob::chosen_name(&pipeline, None).as_deref(),
            Some("pipe")
        );
        let single = chain("name: a\nrun: x\n");
        assert_eq!(NewJob::chosen_name(&single, None).as_deref(), Some("a"));
        let anonymous = chain("run: x\n");
        assert_eq!(NewJob::chosen_name(&anonymous, None), None);
        assert_eq!(
            NewJob::from_chain(&anonymous, None).unwrap().name,
            "managed-job"
        );
    }
}
