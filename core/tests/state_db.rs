//! The state database on a real SQLite file.

use aloft::state::{ClusterLock, ClusterRecord, ClusterStatus, StateDb, StateError};

fn record(name: &str, price: f64) -> ClusterRecord {
    ClusterRecord {
        name: name.to_string(),
        provider: "local".into(),
        region: "local".into(),
        zone: Some("local-a".into()),
        instance_type: "local-2cpu".into(),
        num_nodes: 2,
        use_spot: false,
        resources_json: "{}".into(),
        status: ClusterStatus::Init,
        hourly_price: price,
        launched_at: 1_000,
        status_updated_at: 1_000,
        autostop_minutes: None,
        autostop_down: false,
        nodes_json: "[]".into(),
    }
}

#[test]
fn clusters_round_trip_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.db");
    {
        let db = StateDb::open(&path).unwrap();
        db.upsert_cluster(&record("b", 1.0)).unwrap();
        db.upsert_cluster(&record("a", 2.0)).unwrap();
        assert!(db.set_status("a", ClusterStatus::Up, 1_100).unwrap());
        assert!(!db.set_status("missing", ClusterStatus::Up, 1_100).unwrap());
        assert!(db.set_autostop("a", Some(10), true).unwrap());
        assert!(db.set_nodes("a", r#"[{"id":"n0"}]"#).unwrap());
    }
    let db = StateDb::open(&path).unwrap();
    let all = db.clusters().unwrap();
    assert_eq!(
        all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let a = db.cluster("a").unwrap().unwrap();
    assert_eq!(a.status, ClusterStatus::Up);
    assert_eq!(a.status_updated_at, 1_100);
    assert_eq!(a.autostop_minutes, Some(10));
    assert!(a.autostop_down);
    assert_eq!(a.nodes_json, r#"[{"id":"n0"}]"#);
    assert!(db.remove_cluster("a").unwrap());
    assert!(db.cluster("a").unwrap().is_none());
}

#[test]
fn events_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("state.db")).unwrap();
    db.add_event("c", 5, "attempt", "local/local-a: capacity")
        .unwrap();
    db.add_event("c", 5, "attempt", "local/local-b: ok")
        .unwrap();
    db.add_event("other", 6, "status", "UP").unwrap();
    let events = db.events("c").unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].message, "local/local-a: capacity");
    assert_eq!(events[1].message, "local/local-b: ok");
}

#[test]
fn cost_comes_from_the_price_recorded_at_launch() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("state.db")).unwrap();
    let c = record("train", 3.0);
    db.upsert_cluster(&c).unwrap();
    db.start_usage(&c, 0).unwrap();
    db.start_usage(&c, 100).unwrap(); // already open: no second interval
    db.end_usage("train", 3_600).unwrap();
    // Relaunched later at a different price: the first hour keeps its old price.
    let c2 = record("train", 5.0);
    db.start_usage(&c2, 7_200).unwrap();
    let rows = db.cost_report(0, 7_200 + 1_800).unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert!((row.hours - 1.5).abs() < 1e-9, "{row:?}");
    assert!((row.cost - (3.0 + 2.5)).abs() < 1e-9, "{row:?}");
    assert!(row.active);
    // A window that starts after the first interval only counts the second.
    let rows = db.cost_report(7_200, 7_200 + 1_800).unwrap();
    assert!((rows[0].cost - 2.5).abs() < 1e-9, "{rows:?}");
}

#[test]
fn provider_kv_is_private_per_provider() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("state.db")).unwrap();
    db.kv_set("local", "cluster/a/0", "x").unwrap();
    db.kv_set("local", "cluster/a/1", "y").unwrap();
    db.kv_set("local", "cluster/b/0", "z").unwrap();
    db.kv_set("aws", "cluster/a/0", "secret-of-aws").unwrap();
    assert_eq!(
        db.kv_get("local", "cluster/a/0").unwrap().as_deref(),
        Some("x")
    );
    assert_eq!(
        db.kv_list("local", "cluster/a/").unwrap(),
        ["cluster/a/0", "cluster/a/1"]
    );
    db.kv_set("local", "cluster/a/0", "x2").unwrap();
    db.kv_delete("local", "cluster/a/1").unwrap();
    assert_eq!(db.kv_list("local", "cluster/a/").unwrap(), ["cluster/a/0"]);
    assert_eq!(
        db.kv_get("local", "cluster/a/0").unwrap().as_deref(),
        Some("x2")
    );
    assert_eq!(
        db.kv_get("aws", "cluster/a/0").unwrap().as_deref(),
        Some("secret-of-aws")
    );
    // `%` and `_` in prefixes are literal, not LIKE patterns.
    db.kv_set("local", "a_b", "1").unwrap();
    db.kv_set("local", "axb", "2").unwrap();
    assert_eq!(db.kv_list("local", "a_").unwrap(), ["a_b"]);
}

#[test]
fn concurrent_writers_do_not_lose_updates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    StateDb::open(&path).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let db = StateDb::open(&path).unwrap();
                for i in 0..50 {
                    db.add_event("c", i, "t", &format!("{t}-{i}")).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let db = StateDb::open(&path).unwrap();
    assert_eq!(db.events("c").unwrap().len(), 200);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = StateDb::open(&path).unwrap_err();
    assert!(matches!(err, StateError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade aloft"));
}

#[test]
fn a_cluster_lock_excludes_a_second_holder_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let locks = dir.path().join("locks");
    let held = ClusterLock::try_acquire(&locks, "my-odd.name_1").unwrap();
    let err = ClusterLock::try_acquire(&locks, "my-odd.name_1").unwrap_err();
    match &err {
        StateError::Held { cluster, holder } => {
            assert_eq!(cluster, "my-odd.name_1");
            assert_eq!(holder.pid, std::process::id());
        }
        other => panic!("expected the holder to be named: {other:?}"),
    }
    // Another cluster is independent.
    ClusterLock::try_acquire(&locks, "other").unwrap();
    drop(held);
    ClusterLock::try_acquire(&locks, "my-odd.name_1").unwrap();
}

#[test]
fn a_damaged_database_names_the_file_and_how_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(
        &path,
        b"this is not a database, it was overwritten by mistake....",
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = StateDb::open(&path).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StateError::Damaged { .. }), "{err:?}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("move it aside"), "{text}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file is left as it was"
    );
}
