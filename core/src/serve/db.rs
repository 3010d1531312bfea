//! [`ServeDb`]: services, their versions, replicas and events in a SQLite file of
//! their own (`$ALOFT_HOME/serve.db`), shared by the CLI and the controller as
//! the jobs database is (WAL, a busy timeout, short transactions).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::ServeError;
use super::status::{ReplicaStatus, ServiceStatus};

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS services (
    name          TEXT PRIMARY KEY,
    version       INTEGER NOT NULL,
    status        TEXT NOT NULL,
    port          INTEGER,
    update_mode   TEXT NOT NULL DEFAULT 'rolling',
    shutting_down INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    failure       TEXT
);
CREATE TABLE IF NOT EXISTS versions (
    service   TEXT NOT NULL,
    version   INTEGER NOT NULL,
    spec_yaml TEXT NOT NULL,
    PRIMARY KEY (service, version)
);
CREATE TABLE IF NOT EXISTS replicas (
    service        TEXT NOT NULL,
    id             INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    cluster        TEXT NOT NULL,
    status         TEXT NOT NULL,
    use_spot       INTEGER NOT NULL,
    port           INTEGER NOT NULL,
    url            TEXT,
    cluster_job_id INTEGER,
    location       TEXT,
    launched_at    INTEGER,
    ready_at       INTEGER,
    failing_since  INTEGER,
    PRIMARY KEY (service, id)
);
CREATE TABLE IF NOT EXISTS serve_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    at      INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replica_ids (
    service TEXT PRIMARY KEY,
    next    INTEGER NOT NULL
);
"#;

/// How an update replaces the old version's replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateMode {
    /// Old replicas leave one by one as new ones become ready.
    Rolling,
    /// Traffic moves to the new version at once, when enough of it is ready.
    BlueGreen,
}

impl UpdateMode {
    /// SkyPilot's name.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateMode::Rolling => "rolling",
            UpdateMode::BlueGreen => "blue_green",
        }
    }

    /// The mode of a name (`rolling`, `blue_green`).
    pub fn parse(text: &str) -> Option<UpdateMode> {
        match text {
            "rolling" => Some(UpdateMode::Rolling),
            "blue_green" | "blue-green" => Some(UpdateMode::BlueGreen),
            _ => None,
        }
    }
}

impl std::str::FromStr for UpdateMode {
    type Err = String;

    /// [`UpdateMode::parse`], with an error that names the modes.
    fn from_str(text: &str) -> Result<Self, String> {
        UpdateMode::parse(text)
            .ok_or_else(|| format!("`{text}` is not an update mode (rolling, blue_green)"))
    }
}

/// A service as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRecord {
    /// Its name.
    pub name: String,
    /// The newest version (1 at `serve up`, one more per update).
    pub version: u32,
    /// Its status.
    pub status: ServiceStatus,
    /// The endpoint's port on this machine, once the balancer listens.
    pub port: Option<u16>,
    /// How the newest version replaces older ones.
    pub update_mode: UpdateMode,
    /// `serve down` asked for it.
    pub shutting_down: bool,
    /// When it was brought up (Unix seconds).
    pub created_at: i64,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

/// A replica as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    /// The service.
    pub service: String,
    /// Its id within the service (1, 2, ...; never reused).
    pub id: u64,
    /// The service version it runs.
    pub version: u32,
    /// Its cluster's name.
    pub cluster: String,
    /// Its status.
    pub status: ReplicaStatus,
    /// Whether it asks for spot capacity.
    pub use_spot: bool,
    /// The port its server listens on.
    pub port: u16,
    /// `http://host:port` once its cluster is up.
    pub url: Option<String>,
    /// Its job's id on its cluster.
    pub cluster_job_id: Option<i64>,
    /// `cloud/region`, once launched.
    pub location: Option<String>,
    /// When its job was submitted.
    pub launched_at: Option<i64>,
    /// When it first passed its probe.
    pub ready_at: Option<i64>,
    /// Since when its probe fails (while it does).
    pub failing_since: Option<i64>,
}

/// One line of a service's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServeEvent {
    /// When (Unix seconds).
    pub at: i64,
    /// What happened.
    pub message: String,
}

/// The serving database.
#[derive(Debug)]
pub struct ServeDb {
    conn: Connection,
    path: PathBuf,
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl ServeDb {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<ServeDb, ServeError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| ServeError::Db {
                path: parent.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let db_err = |e: rusqlite::Error| ServeError::Db {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let conn = Connection::open(path).map_err(db_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
        let set_up = |conn: &Connection| -> rusqlite::Result<()> {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(SCHEMA)
        };
        crate::sqlite::set_up_retrying(BUSY_TIMEOUT, crate::sqlite::is_busy, || set_up(&conn))
            .map_err(db_err)?;
        Ok(ServeDb {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, e: rusqlite::Error) -> ServeError {
        ServeError::Db {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// Records a new service at version 1 with its task; refuses a name in use.
    pub fn add_service(&mut self, name: &str, spec_yaml: &str) -> Result<(), ServeError> {
        let tx = self.conn.transaction().map_err(|e| ServeError::Db {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        let exists: Option<i64> = tx
            .query_row("SELECT 1 FROM services WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| ServeError::Db {
                path: self.path.display().to_string(),
                message: e.to_string(),
            })?;
        if exists.is_some() {
            return Err(ServeError::Exists(name.to_string()));
        }
        let run = |tx: &rusqlite::Transaction<'_>| -> rusqlite::Result<()> {
            tx.execute(
                "INSERT INTO services (name, version, status, created_at) VALUES (?1, 1, ?2, ?3)",
                params![name, ServiceStatus::ControllerInit.as_str(), now()],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO versions (service, version, spec_yaml) VALUES (?1, 1, ?2)",
                params![name, spec_yaml],
            )?;
            tx.execute(
                "INSERT INTO serve_events (service, at, message) VALUES (?1, ?2, 'service submitted (version 1)')",
                params![name, now()],
            )?;
            Ok(())
        };
        run(&tx).map_err(|e| ServeError::Db {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        tx.commit().map_err(|e| ServeError::Db {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Records version `n + 1` of a service; returns it.
    pub fn add_version(
        &self,
        name: &str,
        spec_yaml: &str,
        mode: UpdateMode,
    ) -> Result<u32, ServeError> {
        let current = self
            .service(name)?
            .ok_or_else(|| ServeError::UnknownService(name.to_string()))?;
        if current.shutting_down {
            return Err(ServeError::Invalid(format!(
                "service `{name}` is shutting down"
            )));
        }
        let version = current.version + 1;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO versions (service, version, spec_yaml) VALUES (?1, ?2, ?3)",
                params![name, version, spec_yaml],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "UPDATE services SET version = ?2, update_mode = ?3 WHERE name = ?1",
                params![name, version, mode.as_str()],
            )
            .map_err(|e| self.err(e))?;
        self.event(
            name,
            &format!("update to version {version} ({})", mode.as_str()),
        )?;
        Ok(version)
    }

    /// The task of a service's version.
    pub fn version_spec(&self, name: &str, version: u32) -> Result<Option<String>, ServeError> {
        self.conn
            .query_row(
                "SELECT spec_yaml FROM versions WHERE service = ?1 AND version = ?2",
                params![name, version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every service, by name.
    pub fn services(&self) -> Result<Vec<ServiceRecord>, ServeError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, version, status, port, update_mode, shutting_down, created_at, failure
                 FROM services ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], service_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// One service.
    pub fn service(&self, name: &str) -> Result<Option<ServiceRecord>, ServeError> {
        Ok(self.services()?.into_iter().find(|s| s.name == name))
    }

    /// Sets a service's status (and why it failed, when it did).
    pub fn set_status(
        &self,
        name: &str,
        status: ServiceStatus,
        failure: Option<&str>,
    ) -> Result<(), ServeError> {
        self.conn
            .execute(
                "UPDATE services SET status = ?2, failure = ?3 WHERE name = ?1",
                params![name, status.as_str(), failure],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records the endpoint's port.
    pub fn set_port(&self, name: &str, port: u16) -> Result<(), ServeError> {
        self.conn
            .execute(
                "UPDATE services SET port = ?2 WHERE name = ?1",
                params![name, port],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Marks a service for `serve down`; `false` when there is no such service.
    pub fn mark_shutting_down(&self, name: &str) -> Result<bool, ServeError> {
        let n = self
            .conn
            .execute(
                "UPDATE services SET shutting_down = 1, status = ?2 WHERE name = ?1",
                params![name, ServiceStatus::ShuttingDown.as_str()],
            )
            .map_err(|e| self.err(e))?;
        if n > 0 {
            self.event(name, "shutting down")?;
        }
        Ok(n > 0)
    }

    /// Forgets a service and everything about it.
    pub fn remove_service(&self, name: &str) -> Result<(), ServeError> {
        for table in [
            "services WHERE name",
            "versions WHERE service",
            "replicas WHERE service",
        ] {
            self.conn
                .execute(&format!("DELETE FROM {table} = ?1"), [name])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// A new replica of `version`, PENDING, with the next id of the service.
    pub fn new_replica(
        &self,
        service: &str,
        version: u32,
        use_spot: bool,
        port: u16,
    ) -> Result<ReplicaRecord, ServeError> {
        let id: i64 = self
            .conn
            .query_row(
                "INSERT INTO replica_ids (service, next) VALUES (?1, 2)
                 ON CONFLICT(service) DO UPDATE SET next = next + 1
                 RETURNING next - 1",
                [service],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let replica = ReplicaRecord {
            service: service.to_string(),
            id: u64::try_from(id).unwrap_or_default(),
            version,
            cluster: format!("{service}-{id}"),
            status: ReplicaStatus::Pending,
            use_spot,
            port,
            url: None,
            cluster_job_id: None,
            location: None,
            launched_at: None,
            ready_at: None,
            failing_since: None,
        };
        self.put_replica(&replica)?;
        Ok(replica)
    }

    /// Writes a replica's row.
    pub fn put_replica(&self, r: &ReplicaRecord) -> Result<(), ServeError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO replicas (service, id, version, cluster, status, use_spot,
                   port, url, cluster_job_id, location, launched_at, ready_at, failing_since)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    r.service,
                    i64::try_from(r.id).unwrap_or_default(),
                    r.version,
                    r.cluster,
                    r.status.as_str(),
                    r.use_spot,
                    r.port,
                    r.url,
                    r.cluster_job_id,
                    r.location,
                    r.launched_at,
                    r.ready_at,
                    r.failing_since,
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// A service's replicas, by id.
    pub fn replicas(&self, service: &str) -> Result<Vec<ReplicaRecord>, ServeError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT service, id, version, cluster, status, use_spot, port, url, cluster_job_id,
                        location, launched_at, ready_at, failing_since
                 FROM replicas WHERE service = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([service], replica_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Forgets a replica (its cluster is gone).
    pub fn remove_replica(&self, service: &str, id: u64) -> Result<(), ServeError> {
        self.conn
            .execute(
                "DELETE FROM replicas WHERE service = ?1 AND id = ?2",
                params![service, i64::try_from(id).unwrap_or_default()],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Adds a line to a service's history.
    pub fn event(&self, service: &str, message: &str) -> Result<(), ServeError> {
        self.conn
            .execute(
                "INSERT INTO serve_events (service, at, message) VALUES (?1, ?2, ?3)",
                params![service, now(), message],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// A service's history, oldest first.
    pub fn events(&self, service: &str) -> Result<Vec<ServeEvent>, ServeError> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, message FROM serve_events WHERE service = ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([service], |r| {
                Ok(ServeEvent {
                    at: r.get(0)?,
                    message: r.get(1)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}

fn bad_text(column: usize, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("unknown value `{text}`").into(),
    )
}

fn service_row(r: &Row<'_>) -> rusqlite::Result<ServiceRecord> {
    let status: String = r.get(2)?;
    let mode: String = r.get(4)?;
    Ok(ServiceRecord {
        name: r.get(0)?,
        version: r.get(1)?,
        status: ServiceStatus::parse(&status).ok_or_else(|| bad_text(2, &status))?,
        port: r.get(3)?,
        update_mode: UpdateMode::parse(&mode).ok_or_else(|| bad_text(4, &mode))?,
        shutting_down: r.get(5)?,
        created_at: r.get(6)?,
        failure: r.get(7)?,
    })
}

fn replica_row(r: &Row<'_>) -> rusqlite::Result<ReplicaRecord> {
    let status: String = r.get(4)?;
    let id: i64 = r.get(1)?;
    Ok(ReplicaRecord {
        service: r.get(0)?,
        id: u64::try_from(id).unwrap_or_default(),
        version: r.get(2)?,
        cluster: r.get(3)?,
        status: ReplicaStatus::parse(&status).ok_or_else(|| bad_text(4, &status))?,
        use_spot: r.get(5)?,
        port: r.get(6)?,
        url: r.get(7)?,
        cluster_job_id: r.get(8)?,
        location: r.get(9)?,
        launched_at: r.get(10)?,
        ready_at: r.get(11)?,
        failing_since: r.get(12)?,
    })
}
