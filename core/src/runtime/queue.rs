//! The head node's job queue, kept in SQLite next to the job logs.
//!
//! A job moves PENDING → SETTING_UP → RUNNING → one of the terminal states
//! (SUCCEEDED, FAILED, FAILED_SETUP, CANCELLED); a terminal state is final, so a
//! late "succeeded" from a process that was cancelled cannot resurrect the job. The
//! queue never stores secrets: they travel with the process that runs the job.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::scheduler::{Demand, JobId, NodeAssignment};

/// A job's state on the cluster (SkyPilot's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Waiting for resources.
    Pending,
    /// Running `setup` on its nodes.
    SettingUp,
    /// Running `run` on its nodes.
    Running,
    /// Every node's process exited 0.
    Succeeded,
    /// A node's process exited non-zero.
    Failed,
    /// `setup` failed on a node.
    FailedSetup,
    /// Cancelled by the user.
    Cancelled,
}

impl JobStatus {
    /// All states, in lifecycle order.
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Pending,
        JobStatus::SettingUp,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::FailedSetup,
        JobStatus::Cancelled,
    ];

    /// Whether the job is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded
                | JobStatus::Failed
                | JobStatus::FailedSetup
                | JobStatus::Cancelled
        )
    }

    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::SettingUp => "SETTING_UP",
            JobStatus::Running => "RUNNING",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
            JobStatus::FailedSetup => "FAILED_SETUP",
            JobStatus::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown job status `{s}`"))
    }
}

/// What to run: everything but the secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Task name, shown in the queue.
    pub name: Option<String>,
    /// What the job needs per node, and on how many nodes.
    pub demand: Demand,
    /// Accelerator name, for `SKYPILOT_NUM_GPUS_PER_NODE` and display.
    pub accelerator: Option<String>,
    /// `setup`, run on every node before `run` (none for `exec`).
    pub setup: Option<String>,
    /// `run`, gang-started on every node.
    pub run: String,
    /// Non-secret environment variables.
    pub env: Vec<(String, String)>,
}

/// A job as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Id, increasing from 1.
    pub id: JobId,
    /// The spec.
    pub spec: JobSpec,
    /// Current state.
    pub status: JobStatus,
    /// When submitted (unix seconds).
    pub submitted_at: i64,
    /// When it started setting up or running.
    pub started_at: Option<i64>,
    /// When it reached a terminal state.
    pub ended_at: Option<i64>,
    /// Where it runs, once scheduled.
    pub placement: Vec<NodeAssignment>,
    /// Exit code per node, once finished.
    pub exit_codes: Vec<i32>,
}

#[cfg(test)]
impl JobRecord {
    /// A job of `true` on one node with one CPU, submitted at second 1: a
    /// fixture for tests that need a record, not its details.
    pub(crate) fn sample(id: JobId, status: JobStatus) -> JobRecord {
        JobRecord {
            id,
            spec: JobSpec {
                name: None,
                demand: Demand {
                    cpus: 1.0,
                    gpus: 0.0,
                    num_nodes: 1,
                },
                accelerator: None,
                setup: None,
                run: "true".into(),
                env: Vec::new(),
            },
            status,
            submitted_at: 1,
            started_at: None,
            ended_at: None,
            placement: Vec::new(),
            exit_codes: Vec::new(),
        }
    }
}

/// An error of the job queue.
#[derive(Debug, Error)]
pub enum QueueError {
    /// SQLite failed.
    #[error("job queue {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value could not be decoded.
    #[error("job queue {path}: bad stored value: {detail}")]
    Corrupt {
        /// Database file.
        path: String,
        /// Why.
        detail: String,
    },
    /// No job with this id.
    #[error("no job {0} on this cluster")]
    NoSuchJob(JobId),
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    spec_json    TEXT NOT NULL,
    status       TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    started_at   INTEGER,
    ended_at     INTEGER,
    placement    TEXT NOT NULL DEFAULT '[]',
    exit_codes   TEXT NOT NULL DEFAULT '[]',
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
"#;

/// The queue.
#[derive(Debug)]
pub struct JobQueue {
    conn: Connection,
    path: PathBuf,
}

impl JobQueue {
    /// Opens (creating if needed) the queue at `path`.
    pub fn open(path: &Path) -> Result<JobQueue, QueueError> {
        let err = |source| QueueError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        let timeout = Duration::from_secs(10);
        conn.busy_timeout(timeout).map_err(err)?;
        // The agent and the launcher open a fresh queue at once (a launch starts
        // the agent, then submits): SQLite may answer "locked" without waiting.
        crate::sqlite::set_up_retrying(timeout, crate::sqlite::is_busy, || {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.execute_batch(SCHEMA)
        })
        .map_err(err)?;
        Ok(JobQueue {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn sqlite(&self, source: rusqlite::Error) -> QueueError {
        QueueError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn corrupt(&self, detail: impl fmt::Display) -> QueueError {
        QueueError::Corrupt {
            path: self.path.display().to_string(),
            detail: detail.to_string(),
        }
    }

    /// Adds a job, PENDING; returns its id.
    pub fn submit(&self, spec: &JobSpec, now: i64) -> Result<JobId, QueueError> {
        let json = serde_json::to_string(spec).map_err(|e| self.corrupt(e))?;
        self.conn
            .execute(
                "INSERT INTO jobs (spec_json, status, submitted_at) VALUES (?1, ?2, ?3)",
                params![json, JobStatus::Pending.as_str(), now],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(self.conn.last_insert_rowid() as JobId)
    }

    /// One job.
    pub fn job(&self, id: JobId) -> Result<JobRecord, QueueError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_JOB} WHERE id = ?1"))
            .map_err(|e| self.sqlite(e))?;
        let raw = stmt
            .query_row(params![id as i64], RawJob::from_row)
            .optional()
            .map_err(|e| self.sqlite(e))?;
        match raw {
            Some(raw) => self.decode(raw),
            None => Err(QueueError::NoSuchJob(id)),
        }
    }

    /// Every job, oldest first; without the finished ones when `skip_finished`.
    pub fn jobs(&self, skip_finished: bool) -> Result<Vec<JobRecord>, QueueError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_JOB} ORDER BY id"))
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], RawJob::from_row)
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            let job = self.decode(row.map_err(|e| self.sqlite(e))?)?;
            if !(skip_finished && job.status.is_terminal()) {
                out.push(job);
            }
        }
        Ok(out)
    }

    /// Pending jobs in FIFO order, with what they need (the scheduler's input).
    pub fn pending(&self) -> Result<Vec<(JobId, Demand)>, QueueError> {
        Ok(self
            .jobs(true)?
            .into_iter()
            .filter(|job| job.status == JobStatus::Pending)
            .map(|job| (job.id, job.spec.demand))
            .collect())
    }

    /// Records where a scheduled job runs and moves it to `status` (SETTING_UP or
    /// RUNNING).
    pub fn start(
        &self,
        id: JobId,
        placement: &[NodeAssignment],
        status: JobStatus,
        now: i64,
    ) -> Result<bool, QueueError> {
        let json = serde_json::to_string(placement).map_err(|e| self.corrupt(e))?;
        let changed = self
            .conn
            .execute(
                "UPDATE jobs SET status = ?2, started_at = ?3, placement = ?4
                 WHERE id = ?1 AND status = 'PENDING'",
                params![id as i64, status.as_str(), now, json],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(changed > 0)
    }

    /// Moves a job to `status` unless it already ended; returns whether it changed.
    /// Terminal states also record the end time and the exit codes.
    pub fn transition(
        &self,
        id: JobId,
        status: JobStatus,
        exit_codes: &[i32],
        now: i64,
    ) -> Result<bool, QueueError> {
        let ended_at = status.is_terminal().then_some(now);
        let codes = serde_json::to_string(exit_codes).map_err(|e| self.corrupt(e))?;
        let changed = self
            .conn
            .execute(
                "UPDATE jobs SET status = ?2, ended_at = COALESCE(?3, ended_at), exit_codes = ?4
                 WHERE id = ?1
                   AND status NOT IN ('SUCCEEDED', 'FAILED', 'FAILED_SETUP', 'CANCELLED')",
                params![id as i64, status.as_str(), ended_at, codes],
            )
            .map_err(|e| self.sqlite(e))?;
        if changed == 0 {
            // Distinguish "already over" from "no such job".
            self.job(id)?;
        }
        Ok(changed > 0)
    }

    /// Asks for a job to be cancelled. A pending job is cancelled at once; a
    /// started one is flagged for the agent, which stops its processes. Returns the
    /// job as it is after the request.
    pub fn request_cancel(&self, id: JobId, now: i64) -> Result<JobRecord, QueueError> {
        self.conn
            .execute(
                "UPDATE jobs SET status = 'CANCELLED', ended_at = ?2
                 WHERE id = ?1 AND status = 'PENDING'",
                params![id as i64, now],
            )
            .map_err(|e| self.sqlite(e))?;
        self.conn
            .execute(
                "UPDATE jobs SET cancel_requested = 1
                 WHERE id = ?1 AND status IN ('SETTING_UP', 'RUNNING')",
                params![id as i64],
            )
            .map_err(|e| self.sqlite(e))?;
        self.job(id)
    }

    /// Started jobs whose cancellation was requested.
    pub fn cancel_requests(&self) -> Result<Vec<JobId>, QueueError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM jobs WHERE cancel_requested = 1
                 AND status IN ('SETTING_UP', 'RUNNING') ORDER BY id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |row| row.get::<_, i64>(0))
            .map_err(|e| self.sqlite(e))?;
        rows.map(|r| r.map(|id| id as JobId))
            .collect::<Result<_, _>>()
            .map_err(|e| self.sqlite(e))
    }

    fn decode(&self, raw: RawJob) -> Result<JobRecord, QueueError> {
        Ok(JobRecord {
            id: raw.id as JobId,
            spec: serde_json::from_str(&raw.spec_json).map_err(|e| self.corrupt(e))?,
            status: raw.status.parse().map_err(|e: String| self.corrupt(e))?,
            submitted_at: raw.submitted_at,
            started_at: raw.started_at,
            ended_at: raw.ended_at,
            placement: serde_json::from_str(&raw.placement).map_err(|e| self.corrupt(e))?,
            exit_codes: serde_json::from_str(&raw.exit_codes).map_err(|e| self.corrupt(e))?,
        })
    }
}

const SELECT_JOB: &str = "SELECT id, spec_json, status, submitted_at, started_at, ended_at,
    placement, exit_codes FROM jobs";

struct RawJob {
    id: i64,
    spec_json: String,
    status: String,
    submitted_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    placement: String,
    exit_codes: String,
}

impl RawJob {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawJob> {
        Ok(RawJob {
            id: row.get(0)?,
            spec_json: row.get(1)?,
            status: row.get(2)?,
            submitted_at: row.get(3)?,
            started_at: row.get(4)?,
            ended_at: row.get(5)?,
            placement: row.get(6)?,
            exit_codes: row.get(7)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::scheduler::{NodeCapacity, Scheduler};

    fn spec(name: &str, gpus: f64) -> JobSpec {
        JobSpec {
            name: Some(name.into()),
            demand: Demand {
                cpus: 1.0,
                gpus,
                num_nodes: 1,
            },
            accelerator: (gpus > 0.0).then(|| "A100".to_string()),
            setup: None,
            run: "echo hi".into(),
            env: vec![("MODEL".into(), "llama".into())],
        }
    }

    #[test]
    fn jobs_flow_through_their_states_and_terminal_is_final() {
        let dir = tempfile::tempdir().unwrap();
        let q = JobQueue::open(&dir.path().join("jobs.db")).unwrap();
        let a = q.submit(&spec("a", 0.5), 10).unwrap();
        let b = q.submit(&spec("b", 0.5), 11).unwrap();
        assert_eq!((a, b), (1, 2));
        let mut sched = Scheduler::new(vec![NodeCapacity { cpus: 4.0, gpus: 1 }]);
        let started = sched.schedule(&q.pending().unwrap());
        assert_eq!(started.len(), 2, "two halves share the GPU");
        for (id, placement) in &started {
            assert!(q.start(*id, placement, JobStatus::Running, 12).unwrap());
        }
        assert!(q.pending().unwrap().is_empty());
        assert!(q.transition(a, JobStatus::Cancelled, &[], 13).unwrap());
        // The process of a cancelled job exiting 0 later must not flip it back.
        assert!(!q.transition(a, JobStatus::Succeeded, &[0], 14).unwrap());
        assert!(q.transition(b, JobStatus::Failed, &[3], 15).unwrap());
        let a = q.job(a).unwrap();
        assert_eq!(a.status, JobStatus::Cancelled);
        assert_eq!(a.ended_at, Some(13));
        let b = q.job(b).unwrap();
        assert_eq!(b.exit_codes, vec![3]);
        assert_eq!(b.placement[0].cuda_visible_devices(), "0");
        assert_eq!(b.spec.env, vec![("MODEL".to_string(), "llama".to_string())]);
        assert!(q.jobs(true).unwrap().is_empty());
        assert_eq!(q.jobs(false).unwrap().len(), 2);
        assert!(matches!(
            q.transition(99, JobStatus::Failed, &[], 16),
            Err(QueueError::NoSuchJob(99))
        ));
    }

    #[test]
    fn cancelling_a_pending_job_is_immediate_and_a_running_one_is_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let q = JobQueue::open(&dir.path().join("jobs.db")).unwrap();
        let pending = q.submit(&spec("p", 0.0), 1).unwrap();
        let running = q.submit(&spec("r", 0.0), 1).unwrap();
        assert!(q.start(running, &[], JobStatus::Running, 2).unwrap());
        assert_eq!(
            q.request_cancel(pending, 3).unwrap().status,
            JobStatus::Cancelled
        );
        assert_eq!(
            q.request_cancel(running, 3).unwrap().status,
            JobStatus::Running
        );
        assert_eq!(q.cancel_requests().unwrap(), vec![running]);
        assert!(
            q.transition(running, JobStatus::Cancelled, &[-1], 4)
                .unwrap()
        );
        assert!(q.cancel_requests().unwrap().is_empty());
        assert!(matches!(
            q.request_cancel(42, 5),
            Err(QueueError::NoSuchJob(42))
        ));
    }

    #[test]
    fn the_queue_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let id = JobQueue::open(&path)
            .unwrap()
            .submit(&spec("x", 0.0), 1)
            .unwrap();
        let q = JobQueue::open(&path).unwrap();
        assert_eq!(q.job(id).unwrap().status, JobStatus::Pending);
        assert_eq!(q.pending().unwrap().len(), 1);
    }

    #[test]
    fn status_names_round_trip() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>().unwrap(), status);
        }
        assert!("DONE".parse::<JobStatus>().is_err());
    }
}
