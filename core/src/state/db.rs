//! The state database and its records.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::StateError;
use super::schema::MIGRATIONS;

#[path = "volumes.rs"]
mod volumes;
pub use volumes::{VolumeRecord, VolumeUse};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A cluster's lifecycle state as aloft last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClusterStatus {
    /// Provisioning started but did not finish, or the cluster is in an abnormal
    /// state found on refresh.
    Init,
    /// All nodes are running and set up.
    Up,
    /// The nodes are stopped (disks kept).
    Stopped,
}

impl fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClusterStatus::Init => "INIT",
            ClusterStatus::Up => "UP",
            ClusterStatus::Stopped => "STOPPED",
        })
    }
}

impl FromStr for ClusterStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "INIT" => Ok(ClusterStatus::Init),
            "UP" => Ok(ClusterStatus::Up),
            "STOPPED" => Ok(ClusterStatus::Stopped),
            other => Err(format!("unknown cluster status `{other}`")),
        }
    }
}

/// One cluster as recorded locally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// The cluster's name (unique for this user).
    pub name: String,
    /// Provider name (`local`, `aws`, ...).
    pub provider: String,
    /// Region.
    pub region: String,
    /// Zone, when the provider has zones.
    pub zone: Option<String>,
    /// Instance type of every node.
    pub instance_type: String,
    /// Number of nodes.
    pub num_nodes: u32,
    /// Spot instances.
    pub use_spot: bool,
    /// The resources asked for, as JSON (never holds secrets).
    pub resources_json: String,
    /// Last known status.
    pub status: ClusterStatus,
    /// Hourly price of the whole cluster at launch, USD. Cost reports use this, never
    /// today's catalog.
    pub hourly_price: f64,
    /// When the cluster was first launched (unix seconds).
    pub launched_at: i64,
    /// When `status` last changed (unix seconds).
    pub status_updated_at: i64,
    /// Autostop after this many idle minutes.
    pub autostop_minutes: Option<u32>,
    /// Autostop tears down instead of stopping.
    pub autostop_down: bool,
    /// The nodes as the provider last reported them, as JSON.
    pub nodes_json: String,
}

#[cfg(test)]
impl ClusterRecord {
    /// A one-node `local` cluster named `name` with `status`, for unit tests.
    pub(crate) fn sample(name: &str, status: ClusterStatus) -> ClusterRecord {
        ClusterRecord {
            name: name.into(),
            provider: "local".into(),
            region: "local".into(),
            zone: None,
            instance_type: "local-2cpu".into(),
            num_nodes: 1,
            use_spot: false,
            resources_json: "{}".into(),
            status,
            hourly_price: 0.0,
            launched_at: 0,
            status_updated_at: 0,
            autostop_minutes: None,
            autostop_down: false,
            nodes_json: "null".into(),
        }
    }
}

/// Something that happened to a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// When (unix seconds).
    pub at: i64,
    /// A short machine-readable kind (`provision-attempt`, `status`, ...).
    pub kind: String,
    /// A human-readable message.
    pub message: String,
}

/// Cost of one cluster over a period, from its usage intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostRow {
    /// Cluster name.
    pub cluster: String,
    /// Provider.
    pub provider: String,
    /// Instance type.
    pub instance_type: String,
    /// Nodes (of the latest interval).
    pub num_nodes: u32,
    /// Hours the cluster was up within the period.
    pub hours: f64,
    /// Cost in USD: hours × the hourly price recorded at launch.
    pub cost: f64,
    /// Whether the cluster is still up (an interval is open).
    pub active: bool,
}

/// The state database.
#[derive(Debug)]
pub struct StateDb {
    conn: Connection,
    path: PathBuf,
}

impl StateDb {
    /// Opens (creating if needed) the database at `path` and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<StateDb, StateError> {
        Self::open_checked(path).map_err(|err| damaged(path, err))
    }

    fn open_checked(path: &Path) -> Result<StateDb, StateError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // aloft's home holds secrets' neighbours (state, keys): owner-only.
            std::os::unix::fs::DirBuilderExt::mode(
                std::fs::DirBuilder::new().recursive(true),
                0o700,
            )
            .create(parent)
            .map_err(|source| StateError::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        // The database (and so its -wal/-shm files, which SQLite creates with the
        // same mode) is readable by its owner only.
        std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new().create(true).append(true),
            0o600,
        )
        .open(path)
        .and_then(|f| {
            use std::os::unix::fs::PermissionsExt;
            let mode = f.metadata()?.permissions().mode();
            if mode & 0o077 != 0 {
                f.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
            }
            Ok(())
        })
        .map_err(|source| StateError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|source| StateError::Sqlite {
            path: path.display().to_string(),
            source,
        })?;
        let mut db = StateDb {
            conn,
            path: path.to_path_buf(),
        };
        db.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db.sqlite(e))?;
        crate::sqlite::set_up_retrying(BUSY_TIMEOUT, is_busy, || db.set_up())?;
        Ok(db)
    }

    /// WAL, the sync level and the schema's migrations.
    fn set_up(&mut self) -> Result<(), StateError> {
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| self.sqlite(e))?;
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.sqlite(e))?;
        self.migrate()
    }

    /// The file this database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether `err` is SQLite's "busy" or "locked": another process holds the file.
fn is_busy(err: &StateError) -> bool {
    matches!(err, StateError::Sqlite { source, .. } if crate::sqlite::is_busy(source))
}

/// A database file that is not SQLite, or is corrupted, becomes
/// [`StateError::Damaged`], which says how to recover; other errors pass.
fn damaged(path: &Path, err: StateError) -> StateError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match err {
        StateError::Sqlite {
            source: rusqlite::Error::SqliteFailure(e, _),
            ..
        } if matches!(e.code, NotADatabase | DatabaseCorrupt) => StateError::Damaged {
            path: path.display().to_string(),
        },
        other => other,
    }
}

impl StateDb {
    fn sqlite(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn migrate(&mut self) -> Result<(), StateError> {
        let path = self.path.display().to_string();
        let sqlite = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let known = MIGRATIONS.len() as i64;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sqlite)?;
        if version > known {
            return Err(StateError::TooNew {
                path: path.clone(),
                found: version,
                known,
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            // IMMEDIATE so that two processes opening a fresh file do not both apply
            // the same migration; the second one re-reads the version and skips it.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite)?;
            let current: i64 = tx
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(sqlite)?;
            if current > index as i64 {
                continue;
            }
            tx.execute_batch(sql).map_err(sqlite)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .map_err(sqlite)?;
            tx.commit().map_err(sqlite)?;
        }
        Ok(())
    }

    /// Inserts the cluster, or replaces the record with the same name.
    pub fn upsert_cluster(&self, c: &ClusterRecord) -> Result<(), StateError> {
        super::validate_cluster_name(&c.name)?;
        self.conn
            .execute(
                "INSERT INTO clusters (name, provider, region, zone, instance_type, num_nodes,
                    use_spot, resources_json, status, hourly_price, launched_at,
                    status_updated_at, autostop_minutes, autostop_down, nodes_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT(name) DO UPDATE SET provider = excluded.provider,
                    region = excluded.region, zone = excluded.zone,
                    instance_type = excluded.instance_type, num_nodes = excluded.num_nodes,
                    use_spot = excluded.use_spot, resources_json = excluded.resources_json,
                    status = excluded.status, hourly_price = excluded.hourly_price,
                    launched_at = excluded.launched_at,
                    status_updated_at = excluded.status_updated_at,
                    autostop_minutes = excluded.autostop_minutes,
                    autostop_down = excluded.autostop_down, nodes_json = excluded.nodes_json",
                params![
                    c.name,
                    c.provider,
                    c.region,
                    c.zone,
                    c.instance_type,
                    c.num_nodes,
                    c.use_spot,
                    c.resources_json,
                    c.status.to_string(),
                    c.hourly_price,
                    c.launched_at,
                    c.status_updated_at,
                    c.autostop_minutes,
                    c.autostop_down,
                    c.nodes_json,
                ],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Changes a cluster's status; returns false when there is no such cluster.
    pub fn set_status(
        &self,
        name: &str,
        status: ClusterStatus,
        at: i64,
    ) -> Result<bool, StateError> {
        let changed = self
            .conn
            .execute(
                "UPDATE clusters SET status = ?2, status_updated_at = ?3 WHERE name = ?1",
                params![name, status.to_string(), at],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(changed > 0)
    }

    /// Records the nodes the provider reported for a cluster.
    pub fn set_nodes(&self, name: &str, nodes_json: &str) -> Result<bool, StateError> {
        let changed = self
            .conn
            .execute(
                "UPDATE clusters SET nodes_json = ?2 WHERE name = ?1",
                params![name, nodes_json],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(changed > 0)
    }

    /// Sets (or clears, with `None`) a cluster's autostop.
    pub fn set_autostop(
        &self,
        name: &str,
        minutes: Option<u32>,
        down: bool,
    ) -> Result<bool, StateError> {
        let changed = self
            .conn
            .execute(
                "UPDATE clusters SET autostop_minutes = ?2, autostop_down = ?3 WHERE name = ?1",
                params![name, minutes, down],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(changed > 0)
    }

    /// One cluster by name.
    pub fn cluster(&self, name: &str) -> Result<Option<ClusterRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_CLUSTER} WHERE name = ?1"))
            .map_err(|e| self.sqlite(e))?;
        let raw = stmt
            .query_row(params![name], RawCluster::from_row)
            .optional()
            .map_err(|e| self.sqlite(e))?;
        raw.map(|r| r.into_record(&self.path)).transpose()
    }

    /// Every cluster, by name.
    pub fn clusters(&self) -> Result<Vec<ClusterRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_CLUSTER} ORDER BY name"))
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], RawCluster::from_row)
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| self.sqlite(e))?.into_record(&self.path)?);
        }
        Ok(out)
    }

    /// Forgets a cluster (its events and usage history stay, for cost reports).
    pub fn remove_cluster(&self, name: &str) -> Result<bool, StateError> {
        let changed = self
            .conn
            .execute("DELETE FROM clusters WHERE name = ?1", params![name])
            .map_err(|e| self.sqlite(e))?;
        // A cluster that is gone mounts no volume.
        self.conn
            .execute("DELETE FROM volume_uses WHERE cluster = ?1", params![name])
            .map_err(|e| self.sqlite(e))?;
        Ok(changed > 0)
    }

    /// Appends an event to a cluster's history.
    pub fn add_event(
        &self,
        cluster: &str,
        at: i64,
        kind: &str,
        message: &str,
    ) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO cluster_events (cluster, at, kind, message) VALUES (?1, ?2, ?3, ?4)",
                params![cluster, at, kind, message],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// A cluster's events, oldest first.
    pub fn events(&self, cluster: &str) -> Result<Vec<ClusterEvent>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, kind, message FROM cluster_events WHERE cluster = ?1 ORDER BY id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![cluster], |row| {
                Ok(ClusterEvent {
                    at: row.get(0)?,
                    kind: row.get(1)?,
                    message: row.get(2)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Opens a usage interval for a cluster (when it comes up), unless one is open.
    pub fn start_usage(&self, c: &ClusterRecord, at: i64) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO usage_intervals
                    (cluster, provider, instance_type, num_nodes, hourly_price, started_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6
                 WHERE NOT EXISTS (SELECT 1 FROM usage_intervals
                                   WHERE cluster = ?1 AND ended_at IS NULL)",
                params![
                    c.name,
                    c.provider,
                    c.instance_type,
                    c.num_nodes,
                    c.hourly_price,
                    at
                ],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Closes a cluster's open usage interval (when it stops or goes away).
    pub fn end_usage(&self, cluster: &str, at: i64) -> Result<(), StateError> {
        self.conn
            .execute(
                "UPDATE usage_intervals SET ended_at = MAX(?2, started_at)
                 WHERE cluster = ?1 AND ended_at IS NULL",
                params![cluster, at],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Cost per cluster over `[since, now]`, from the prices recorded at launch.
    pub fn cost_report(&self, since: i64, now: i64) -> Result<Vec<CostRow>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT cluster, provider, instance_type, num_nodes, hourly_price,
                        started_at, ended_at
                 FROM usage_intervals
                 WHERE COALESCE(ended_at, ?2) >= ?1
                 ORDER BY cluster, id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![since, now], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, u32>(3)?,
                    row.get::<_, f64>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, Option<i64>>(6)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut out: Vec<CostRow> = Vec::new();
        for row in rows {
            let (cluster, provider, instance_type, num_nodes, price, start, end) =
                row.map_err(|e| self.sqlite(e))?;
            let from = start.max(since);
            let to = end.unwrap_or(now).max(from);
            let hours = (to - from) as f64 / 3600.0;
            match out.last_mut().filter(|r| r.cluster == cluster) {
                Some(last) => {
                    last.hours += hours;
                    last.cost += hours * price;
                    last.num_nodes = num_nodes;
                    last.instance_type = instance_type;
                    last.active |= end.is_none();
                }
                None => out.push(CostRow {
                    cluster,
                    provider,
                    instance_type,
                    num_nodes,
                    hours,
                    cost: hours * price,
                    active: end.is_none(),
                }),
            }
        }
        Ok(out)
    }

    /// A value from a provider's key-value store.
    pub fn kv_get(&self, provider: &str, key: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row(
                "SELECT value FROM provider_kv WHERE provider = ?1 AND key = ?2",
                params![provider, key],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    /// Sets a value in a provider's key-value store.
    pub fn kv_set(&self, provider: &str, key: &str, value: &str) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO provider_kv (provider, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(provider, key) DO UPDATE SET value = excluded.value",
                params![provider, key, value],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Deletes a key from a provider's key-value store.
    pub fn kv_delete(&self, provider: &str, key: &str) -> Result<(), StateError> {
        self.conn
            .execute(
                "DELETE FROM provider_kv WHERE provider = ?1 AND key = ?2",
                params![provider, key],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Keys of a provider's store that start with `prefix`, sorted.
    pub fn kv_list(&self, provider: &str, prefix: &str) -> Result<Vec<String>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key FROM provider_kv WHERE provider = ?1 AND substr(key, 1, length(?2)) = ?2
                 ORDER BY key",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![provider, prefix], |row| row.get(0))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }
}

/// A bucket aloft created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageRecord {
    /// Bucket name.
    pub name: String,
    /// Store kind (`S3`).
    pub store: String,
    /// Region it was created in.
    pub region: String,
    /// What was uploaded into it, if anything.
    pub source: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// The cluster it is deleted with (`persistent: false`); `None` keeps it.
    #[serde(default)]
    pub cluster: Option<String>,
}

impl StateDb {
    /// Records a bucket (again: the first record is kept).
    pub fn add_storage(&self, record: &StorageRecord) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO storage (name, store, region, source, created_at, cluster)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    record.name,
                    record.store,
                    record.region,
                    record.source,
                    record.created_at,
                    record.cluster
                ],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Every recorded bucket, by name.
    pub fn storage(&self) -> Result<Vec<StorageRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, store, region, source, created_at, cluster FROM storage ORDER BY name",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(StorageRecord {
                    name: row.get(0)?,
                    store: row.get(1)?,
                    region: row.get(2)?,
                    source: row.get(3)?,
                    created_at: row.get(4)?,
                    cluster: row.get(5)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Forgets a bucket.
    pub fn remove_storage(&self, name: &str) -> Result<(), StateError> {
        self.conn
            .execute("DELETE FROM storage WHERE name = ?1", params![name])
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }
}

const SELECT_CLUSTER: &str = "SELECT name, provider, region, zone, instance_type, num_nodes,
    use_spot, resources_json, status, hourly_price, launched_at, status_updated_at,
    autostop_minutes, autostop_down, nodes_json FROM clusters";

/// A row as stored, before the status text is checked.
struct RawCluster {
    record: ClusterRecord,
    status: String,
}

impl RawCluster {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawCluster> {
        Ok(RawCluster {
            status: row.get(8)?,
            record: ClusterRecord {
                name: row.get(0)?,
                provider: row.get(1)?,
                region: row.get(2)?,
                zone: row.get(3)?,
                instance_type: row.get(4)?,
                num_nodes: row.get(5)?,
                use_spot: row.get(6)?,
                resources_json: row.get(7)?,
                status: ClusterStatus::Init,
                hourly_price: row.get(9)?,
                launched_at: row.get(10)?,
                status_updated_at: row.get(11)?,
                autostop_minutes: row.get(12)?,
                autostop_down: row.get(13)?,
                nodes_json: row.get(14)?,
            },
        })
    }

    fn into_record(self, path: &Path) -> Result<ClusterRecord, StateError> {
        let status = self.status.parse().map_err(|detail| StateError::Corrupt {
            path: path.display().to_string(),
            what: format!("status of cluster `{}`", self.record.name),
            detail,
        })?;
        Ok(ClusterRecord {
            status,
            ..self.record
        })
    }
}
