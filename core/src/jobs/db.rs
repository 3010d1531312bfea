//! [`JobsDb`]: managed jobs in a SQLite file of their own (`$ALOFT_HOME/jobs.db`).
//!
//! Same approach as the state database: WAL, a busy timeout, versioned migrations
//! in `PRAGMA user_version`, and short transactions. The CLI (submit, queue,
//! cancel) and the controller use the file at once; every controller write goes
//! through [`JobsDb::update_active`], which refuses to touch a job being cancelled
//! or finished, so a cancel can never be overwritten.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::JobsError;
use super::record::{JobEvent, JobId, JobSummary, ManagedJob, NewJob, now};
use super::recovery::Location;
use super::schema::MIGRATIONS;
use super::status::ManagedJobStatus;

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const JOB_COLUMNS: &str = "id, name, spec_yaml, tasks_json, resources, status, submitted_at,
    started_at, ended_at, task_index, recovery_count, restarts_on_errors, cluster_name,
    cluster_job_id, cloud, region, zone, failure_reason, task_id, launch_attempts,
    recovering_from, teardown_pending";

const UNFINISHED: &str = "('PENDING', 'STARTING', 'RUNNING', 'RECOVERING', 'CANCELLING')";

/// Which jobs to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobFilter {
    /// Every job.
    #[default]
    All,
    /// Jobs not yet in a terminal status.
    Unfinished,
}

/// Which jobs to cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelTarget {
    /// These ids.
    Ids(Vec<JobId>),
    /// Every job with this name.
    Name(String),
    /// Every unfinished job.
    All,
}

/// The managed-jobs database.
#[derive(Debug)]
pub struct JobsDb {
    conn: Connection,
    path: PathBuf,
}

impl JobsDb {
    /// Opens (creating if needed) the database at `path` and brings its schema up to
    /// date. A file that is not a SQLite database is a [`JobsError::NotADatabase`]
    /// naming the file.
    pub fn open(path: &Path) -> Result<JobsDb, JobsError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| JobsError::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| JobsError::sqlite(path, e))?;
        let db = JobsDb {
            conn,
            path: path.to_path_buf(),
        };
        db.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| db.err(e))?;
        // A fresh file opened by two processes at once (a command and the
        // controller it starts) can answer "locked" without waiting.
        let busy = |e: &JobsError| matches!(e, JobsError::Sqlite { source, .. } if crate::sqlite::is_busy(source));
        crate::sqlite::set_up_retrying(BUSY_TIMEOUT, busy, || db.set_up())?;
        Ok(db)
    }

    /// WAL, the sync level and the schema's migrations.
    fn set_up(&self) -> Result<(), JobsError> {
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| self.err(e))?;
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.err(e))?;
        self.migrate()
    }

    /// The file this database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> JobsError {
        JobsError::sqlite(&self.path, e)
    }

    fn corrupt(&self, what: &str, detail: impl ToString) -> JobsError {
        JobsError::Corrupt {
            path: self.path.display().to_string(),
            what: what.to_string(),
            detail: detail.to_string(),
        }
    }

    fn tx(&self) -> Result<Transaction<'_>, JobsError> {
        // IMMEDIATE takes the write lock up front, so a read-modify-write cannot
        // fail half-way with SQLITE_BUSY on the upgrade.
        Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))
    }

    fn migrate(&self) -> Result<(), JobsError> {
        let known = MIGRATIONS.len() as i64;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.err(e))?;
        if version > known {
            return Err(JobsError::TooNew {
                path: self.path.display().to_string(),
                found: version,
                known,
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.tx()?;
            // Another process may have applied it while we waited for the lock.
            let current: i64 = tx
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(|e| self.err(e))?;
            if current > index as i64 {
                continue;
            }
            tx.execute_batch(sql).map_err(|e| self.err(e))?;
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .map_err(|e| self.err(e))?;
            tx.commit().map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Records a new PENDING job (with a `submitted` event) and returns it.
    pub fn submit(&self, job: &NewJob) -> Result<ManagedJob, JobsError> {
        if job.tasks.is_empty() {
            return Err(JobsError::EmptyJob(job.name.clone()));
        }
        let tasks_json = serde_json::to_string(&job.tasks).map_err(|e| self.corrupt("tasks", e))?;
        let at = now();
        let tx = self.tx()?;
        tx.execute(
            "INSERT INTO jobs (name, spec_yaml, tasks_json, resources, status, submitted_at,
                task_id) VALUES (?1, ?2, ?3, ?4, 'PENDING', ?5, '')",
            params![
                job.name,
                job.spec_yaml,
                tasks_json,
                job.resources_summary(),
                at
            ],
        )
        .map_err(|e| self.err(e))?;
        let id = tx.last_insert_rowid();
        // SkyPilot's form: sky-managed-<submit time>_<name>_<job id>.
        let task_id = format!("sky-managed-{at}_{}_{id}", job.name);
        tx.execute(
            "UPDATE jobs SET task_id = ?2 WHERE id = ?1",
            params![id, task_id],
        )
        .map_err(|e| self.err(e))?;
        let event = JobEvent::new(
            super::JobEventKind::Submitted,
            0,
            format!("submitted `{}` ({} task(s))", job.name, job.tasks.len()),
        );
        self.insert_event(&tx, id, &event)?;
        tx.commit().map_err(|e| self.err(e))?;
        self.get(id)?.ok_or(JobsError::NoSuchJob(id))
    }

    /// One job.
    pub fn get(&self, id: JobId) -> Result<Option<ManagedJob>, JobsError> {
        self.get_in(&self.conn, id)
    }

    fn get_in(&self, conn: &Connection, id: JobId) -> Result<Option<ManagedJob>, JobsError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
        let raw = conn
            .query_row(&sql, params![id], RawJob::read)
            .optional()
            .map_err(|e| self.err(e))?;
        raw.map(|r| r.decode(self)).transpose()
    }

    /// Jobs, newest first, in one query (`jobs queue`).
    pub fn list(&self, filter: JobFilter) -> Result<Vec<ManagedJob>, JobsError> {
        let sql = match filter {
            JobFilter::All => format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC"),
            JobFilter::Unfinished => format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE status IN {UNFINISHED} ORDER BY id DESC"
            ),
        };
        self.query_jobs(&sql, [])
    }

    /// What `jobs queue` lists, newest first: one query that leaves the task file
    /// and the plans in the database (the task count comes from SQLite).
    pub fn summaries(&self, filter: JobFilter) -> Result<Vec<JobSummary>, JobsError> {
        let filter = match filter {
            JobFilter::All => String::new(),
            JobFilter::Unfinished => format!("WHERE status IN {UNFINISHED}"),
        };
        let sql = format!(
            "SELECT id, name, resources, status, submitted_at, started_at, ended_at, task_index,
             json_array_length(tasks_json), recovery_count, restarts_on_errors, cluster_name,
             cloud, region, zone, failure_reason FROM jobs {filter} ORDER BY id DESC"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            out.push(self.summary(r).map_err(|e| match e {
                SummaryError::Sql(e) => self.err(e),
                SummaryError::Corrupt(e) => e,
            })?);
        }
        Ok(out)
    }

    fn summary(&self, r: &Row<'_>) -> Result<JobSummary, SummaryError> {
        let id: JobId = r.get(0)?;
        let count = |i: usize, what: &str| -> Result<u32, SummaryError> {
            let v: i64 = r.get(i)?;
            u32::try_from(v)
                .map_err(|_| SummaryError::Corrupt(self.corrupt(&format!("job {id} {what}"), v)))
        };
        let status: String = r.get(3)?;
        Ok(JobSummary {
            id,
            name: r.get(1)?,
            resources: r.get(2)?,
            status: status.parse().map_err(|e: String| {
                SummaryError::Corrupt(self.corrupt(&format!("job {id} status"), e))
            })?,
            submitted_at: r.get(4)?,
            started_at: r.get(5)?,
            ended_at: r.get(6)?,
            task_index: count(7, "task_index")?,
            task_count: count(8, "tasks")?,
            recovery_count: count(9, "recovery_count")?,
            restarts_on_errors: count(10, "restarts_on_errors")?,
            cluster_name: r.get(11)?,
            location: location(r.get(12)?, r.get(13)?, r.get(14)?),
            failure_reason: r.get(15)?,
        })
    }

    /// Ids of the unfinished jobs, oldest first (what the controller manages).
    pub fn unfinished_ids(&self) -> Result<Vec<JobId>, JobsError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT id FROM jobs WHERE status IN {UNFINISHED} ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Jobs with this name, newest first.
    pub fn find_by_name(&self, name: &str) -> Result<Vec<ManagedJob>, JobsError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE name = ?1 ORDER BY id DESC");
        self.query_jobs(&sql, params![name])
    }

    fn query_jobs(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<ManagedJob>, JobsError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map(p, RawJob::read).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r.map_err(|e| self.err(e))?.decode(self)?);
        }
        Ok(out)
    }

    /// Asks for jobs to be cancelled; returns the ids affected. A PENDING job (no
    /// cluster yet) becomes CANCELLED at once; a job that may hold a cluster becomes
    /// CANCELLING and the controller tears it down. Finished jobs are left alone.
    pub fn request_cancel(&self, target: &CancelTarget) -> Result<Vec<JobId>, JobsError> {
        let tx = self.tx()?;
        let candidates: Vec<(JobId, String, i64)> = {
            let (sql, p): (String, Vec<rusqlite::types::Value>) = match target {
                CancelTarget::Ids(ids) => (
                    format!(
                        "SELECT id, status, task_index FROM jobs WHERE status IN {UNFINISHED}
                         AND id IN ({})",
                        vec!["?"; ids.len()].join(", ")
                    ),
                    ids.iter().map(|&i| i.into()).collect(),
                ),
                CancelTarget::Name(n) => (
                    format!(
                        "SELECT id, status, task_index FROM jobs WHERE status IN {UNFINISHED}
                         AND name = ?"
                    ),
                    vec![n.clone().into()],
                ),
                CancelTarget::All => (
                    format!("SELECT id, status, task_index FROM jobs WHERE status IN {UNFINISHED}"),
                    vec![],
                ),
            };
            if matches!(target, CancelTarget::Ids(ids) if ids.is_empty()) {
                return Ok(Vec::new());
            }
            let mut stmt = tx.prepare(&sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(p), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        let at = now();
        let mut ids = Vec::new();
        for (id, status, task_index) in candidates {
            if status == ManagedJobStatus::Cancelling.as_str() {
                ids.push(id);
                continue;
            }
            if status == ManagedJobStatus::Pending.as_str() {
                tx.execute(
                    "UPDATE jobs SET status = 'CANCELLED', ended_at = ?2,
                        failure_reason = 'cancelled by the user' WHERE id = ?1",
                    params![id, at],
                )
            } else {
                tx.execute(
                    "UPDATE jobs SET status = 'CANCELLING' WHERE id = ?1",
                    params![id],
                )
            }
            .map_err(|e| self.err(e))?;
            let ev = JobEvent::new(
                super::JobEventKind::CancelRequested,
                task_index as u32,
                format!("cancel requested while {status}"),
            );
            self.insert_event(&tx, id, &ev)?;
            ids.push(id);
        }
        tx.commit().map_err(|e| self.err(e))?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Applies `change` to a job that is neither being cancelled nor finished, in
    /// one transaction, and returns the job as written. Returns `None` (and changes
    /// nothing) when the job is CANCELLING, terminal, or unknown: the controller
    /// then knows a cancel came first. `change` may set any status, including a
    /// terminal one; it cannot change the id.
    pub fn update_active(
        &self,
        id: JobId,
        change: impl FnOnce(&mut ManagedJob),
    ) -> Result<Option<ManagedJob>, JobsError> {
        let tx = self.tx()?;
        let Some(mut job) = self.get_in(&tx, id)? else {
            return Ok(None);
        };
        if job.status.is_terminal() || job.status == ManagedJobStatus::Cancelling {
            return Ok(None);
        }
        change(&mut job);
        job.id = id;
        self.write_job(&tx, &job)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Some(job))
    }

    /// Ends a CANCELLING job as CANCELLED; false when it was not CANCELLING.
    /// `leftover` names a cluster whose teardown failed, kept as the job's pending
    /// teardown so a later controller retries it.
    pub fn finish_cancel(&self, id: JobId, leftover: Option<&str>) -> Result<bool, JobsError> {
        let n = self
            .conn
            .execute(
                "UPDATE jobs SET status = 'CANCELLED', ended_at = ?2,
                    failure_reason = COALESCE(failure_reason, 'cancelled by the user'),
                    teardown_pending = COALESCE(?3, teardown_pending)
                 WHERE id = ?1 AND status = 'CANCELLING'",
                params![id, now(), leftover],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Ends an unfinished job as FAILED_CONTROLLER with `reason`; false when it had
    /// already ended.
    pub fn fail_controller(&self, id: JobId, reason: &str) -> Result<bool, JobsError> {
        let n = self
            .conn
            .execute(
                &format!(
                    "UPDATE jobs SET status = 'FAILED_CONTROLLER', ended_at = ?2,
                        failure_reason = ?3 WHERE id = ?1 AND status IN {UNFINISHED}"
                ),
                params![id, now(), reason],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Clears the job's pending teardown if it is still `cluster` (whatever the job's
    /// status: the cluster is gone either way).
    pub fn clear_teardown(&self, id: JobId, cluster: &str) -> Result<(), JobsError> {
        self.conn
            .execute(
                "UPDATE jobs SET teardown_pending = NULL
                 WHERE id = ?1 AND teardown_pending = ?2",
                params![id, cluster],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Finished jobs whose last cluster may still exist (a controller died between
    /// recording the end and the teardown).
    pub fn pending_teardowns(&self) -> Result<Vec<(JobId, String)>, JobsError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT id, teardown_pending FROM jobs WHERE teardown_pending IS NOT NULL
                 AND status NOT IN {UNFINISHED} ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Appends an event to the job's log.
    pub fn add_event(&self, id: JobId, event: &JobEvent) -> Result<(), JobsError> {
        self.insert_event(&self.conn, id, event)
    }

    /// The job's events, oldest first.
    pub fn events(&self, id: JobId) -> Result<Vec<JobEvent>, JobsError> {
        Ok(self
            .query_events(Some(id))?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// Every job's events, oldest first: what the controller did, for
    /// `jobs logs --controller`.
    pub fn all_events(&self) -> Result<Vec<(JobId, JobEvent)>, JobsError> {
        self.query_events(None)
    }

    fn query_events(&self, id: Option<JobId>) -> Result<Vec<(JobId, JobEvent)>, JobsError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT at, task_index, kind, cloud, region, zone, exit_codes, message, job_id
                 FROM job_events WHERE ?1 IS NULL OR job_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        type RawEvent = (
            i64,
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            String,
            JobId,
        );
        let rows = stmt
            .query_map(params![id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (at, task_index, kind, cloud, region, zone, codes, message, job_id): RawEvent =
                row.map_err(|e| self.err(e))?;
            out.push((
                job_id,
                JobEvent {
                    at,
                    task_index: u32::try_from(task_index)
                        .map_err(|_| self.corrupt("event task_index", task_index))?,
                    kind: kind
                        .parse()
                        .map_err(|e: String| self.corrupt("event kind", e))?,
                    location: location(cloud, region, zone),
                    exit_codes: serde_json::from_str(&codes)
                        .map_err(|e| self.corrupt("event exit_codes", e))?,
                    message,
                },
            ));
        }
        Ok(out)
    }

    fn insert_event(&self, conn: &Connection, id: JobId, e: &JobEvent) -> Result<(), JobsError> {
        let codes =
            serde_json::to_string(&e.exit_codes).map_err(|err| self.corrupt("exit codes", err))?;
        let loc = e.location.as_ref();
        conn.execute(
            "INSERT INTO job_events (job_id, at, task_index, kind, cloud, region, zone,
                exit_codes, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                e.at,
                e.task_index,
                e.kind.as_str(),
                loc.map(|l| &l.cloud),
                loc.map(|l| &l.region),
                loc.and_then(|l| l.zone.as_ref()),
                codes,
                e.message,
            ],
        )
        .map_err(|err| self.err(err))?;
        Ok(())
    }

    fn write_job(&self, conn: &Connection, j: &ManagedJob) -> Result<(), JobsError> {
        let recovering_from = j
            .recovering_from
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| self.corrupt("recovering_from", e))?;
        let loc = j.location.as_ref();
        conn.execute(
            "UPDATE jobs SET status = ?2, started_at = ?3, ended_at = ?4, task_index = ?5,
                recovery_count = ?6, restarts_on_errors = ?7, cluster_name = ?8,
                cluster_job_id = ?9, cloud = ?10, region = ?11, zone = ?12,
                failure_reason = ?13, launch_attempts = ?14, recovering_from = ?15,
                teardown_pending = ?16
             WHERE id = ?1",
            params![
                j.id,
                j.status.as_str(),
                j.started_at,
                j.ended_at,
                j.task_index,
                j.recovery_count,
                j.restarts_on_errors,
                j.cluster_name,
                j.cluster_job_id,
                loc.map(|l| &l.cloud),
                loc.map(|l| &l.region),
                loc.and_then(|l| l.zone.as_ref()),
                j.failure_reason,
                j.launch_attempts,
                recovering_from,
                j.teardown_pending,
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}

fn location(
    cloud: Option<String>,
    region: Option<String>,
    zone: Option<String>,
) -> Option<Location> {
    Some(Location {
        cloud: cloud?,
        region: region?,
        zone,
    })
}

/// Why a summary row could not be read.
enum SummaryError {
    Sql(rusqlite::Error),
    Corrupt(JobsError),
}

impl From<rusqlite::Error> for SummaryError {
    fn from(e: rusqlite::Error) -> Self {
        SummaryError::Sql(e)
    }
}

/// A row as SQLite returns it, before decoding the typed fields.
struct RawJob {
    id: i64,
    name: String,
    spec_yaml: String,
    tasks_json: String,
    resources: String,
    status: String,
    submitted_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    task_index: i64,
    recovery_count: i64,
    restarts_on_errors: i64,
    cluster_name: Option<String>,
    cluster_job_id: Option<i64>,
    cloud: Option<String>,
    region: Option<String>,
    zone: Option<String>,
    failure_reason: Option<String>,
    task_id: String,
    launch_attempts: i64,
    recovering_from: Option<String>,
    teardown_pending: Option<String>,
}

impl RawJob {
    fn read(r: &Row<'_>) -> rusqlite::Result<RawJob> {
        Ok(RawJob {
            id: r.get(0)?,
            name: r.get(1)?,
            spec_yaml: r.get(2)?,
            tasks_json: r.get(3)?,
            resources: r.get(4)?,
            status: r.get(5)?,
            submitted_at: r.get(6)?,
            started_at: r.get(7)?,
            ended_at: r.get(8)?,
            task_index: r.get(9)?,
            recovery_count: r.get(10)?,
            restarts_on_errors: r.get(11)?,
            cluster_name: r.get(12)?,
            cluster_job_id: r.get(13)?,
            cloud: r.get(14)?,
            region: r.get(15)?,
            zone: r.get(16)?,
            failure_reason: r.get(17)?,
            task_id: r.get(18)?,
            launch_attempts: r.get(19)?,
            recovering_from: r.get(20)?,
            teardown_pending: r.get(21)?,
        })
    }

    fn decode(self, db: &JobsDb) -> Result<ManagedJob, JobsError> {
        let count = |what: &str, v: i64| {
            u32::try_from(v).map_err(|_| db.corrupt(&format!("job {} {what}", self.id), v))
        };
        Ok(ManagedJob {
            id: self.id,
            tasks: serde_json::from_str(&self.tasks_json)
                .map_err(|e| db.corrupt(&format!("job {} tasks", self.id), e))?,
            status: self
                .status
                .parse()
                .map_err(|e: String| db.corrupt(&format!("job {} status", self.id), e))?,
            task_index: count("task_index", self.task_index)?,
            recovery_count: count("recovery_count", self.recovery_count)?,
            restarts_on_errors: count("restarts_on_errors", self.restarts_on_errors)?,
            launch_attempts: count("launch_attempts", self.launch_attempts)?,
            recovering_from: self
                .recovering_from
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| db.corrupt(&format!("job {} recovering_from", self.id), e))?,
            location: location(self.cloud, self.region, self.zone),
            name: self.name,
            spec_yaml: self.spec_yaml,
            resources: self.resources,
            submitted_at: self.submitted_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
            cluster_name: self.cluster_name,
            cluster_job_id: self.cluster_job_id,
            failure_reason: self.failure_reason,
            task_id: self.task_id,
            teardown_pending: self.teardown_pending,
        })
    }
}
