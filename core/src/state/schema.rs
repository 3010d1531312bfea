//! Schema migrations, applied in order and recorded in `PRAGMA user_version`.

/// Each entry takes the schema from version `i` to `i + 1`. Never edit a released
/// entry: add a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: clusters, their events, usage intervals, provider key-value stores.
    r#"
    CREATE TABLE clusters (
        name              TEXT PRIMARY KEY,
        provider          TEXT NOT NULL,
        region            TEXT NOT NULL,
        zone              TEXT,
        instance_type     TEXT NOT NULL,
        num_nodes         INTEGER NOT NULL,
        use_spot          INTEGER NOT NULL,
        resources_json    TEXT NOT NULL,
        status            TEXT NOT NULL,
        hourly_price      REAL NOT NULL,
        launched_at       INTEGER NOT NULL,
        status_updated_at INTEGER NOT NULL,
        autostop_minutes  INTEGER,
        autostop_down     INTEGER NOT NULL DEFAULT 0,
        nodes_json        TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE cluster_events (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        cluster  TEXT NOT NULL,
        at       INTEGER NOT NULL,
        kind     TEXT NOT NULL,
        message  TEXT NOT NULL
    );
    CREATE INDEX cluster_events_by_cluster ON cluster_events(cluster, id);
    CREATE TABLE usage_intervals (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        cluster       TEXT NOT NULL,
        provider      TEXT NOT NULL,
        instance_type TEXT NOT NULL,
        num_nodes     INTEGER NOT NULL,
        hourly_price  REAL NOT NULL,
        started_at    INTEGER NOT NULL,
        ended_at      INTEGER
    );
    CREATE INDEX usage_open ON usage_intervals(cluster, ended_at);
    CREATE TABLE provider_kv (
        provider TEXT NOT NULL,
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (provider, key)
    );
    "#,
    // 2: buckets aloft created, so `aloft storage ls/delete` know them.
    r#"
    CREATE TABLE storage (
        name       TEXT PRIMARY KEY,
        store      TEXT NOT NULL,
        region     TEXT NOT NULL,
        source     TEXT,
        created_at INTEGER NOT NULL
    );
    "#,
    // 3: a bucket made for one cluster (`persistent: false`) goes with it.
    r#"
    ALTER TABLE storage ADD COLUMN cluster TEXT;
    "#,
    // 4: volumes (`aloft volumes apply`) and the clusters that mount them.
    r#"
    CREATE TABLE volumes (
        name        TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        provider    TEXT NOT NULL,
        region      TEXT NOT NULL,
        size_gib    INTEGER,
        cloud_id    TEXT NOT NULL,
        spec_json   TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE volume_uses (
        volume     TEXT NOT NULL,
        cluster    TEXT NOT NULL,
        mount_path TEXT NOT NULL,
        PRIMARY KEY (volume, cluster, mount_path)
    );
    "#,
];
