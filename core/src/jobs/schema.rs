//! Schema migrations of the jobs database, applied in order and recorded in
//! `PRAGMA user_version`.

/// Each entry takes the schema from version `i` to `i + 1`. Never edit a released
/// entry: add a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: jobs and their events.
    r#"
    CREATE TABLE jobs (
        id                 INTEGER PRIMARY KEY AUTOINCREMENT,
        name               TEXT NOT NULL,
        spec_yaml          TEXT NOT NULL,
        tasks_json         TEXT NOT NULL,
        resources          TEXT NOT NULL,
        status             TEXT NOT NULL,
        submitted_at       INTEGER NOT NULL,
        started_at         INTEGER,
        ended_at           INTEGER,
        task_index         INTEGER NOT NULL DEFAULT 0,
        recovery_count     INTEGER NOT NULL DEFAULT 0,
        restarts_on_errors INTEGER NOT NULL DEFAULT 0,
        cluster_name       TEXT,
        cluster_job_id     INTEGER,
        cloud              TEXT,
        region             TEXT,
        zone               TEXT,
        failure_reason     TEXT,
        task_id            TEXT NOT NULL,
        launch_attempts    INTEGER NOT NULL DEFAULT 0,
        recovering_from    TEXT,
        teardown_pending   TEXT
    );
    CREATE INDEX jobs_by_status ON jobs(status);
    CREATE INDEX jobs_by_name ON jobs(name);
    CREATE TABLE job_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id      INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        task_index  INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        cloud       TEXT,
        region      TEXT,
        zone        TEXT,
        exit_codes  TEXT NOT NULL DEFAULT '[]',
        message     TEXT NOT NULL
    );
    CREATE INDEX job_events_by_job ON job_events(job_id, id);
    "#,
];
