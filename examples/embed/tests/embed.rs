//! The example embedding program runs a 2-node job on `local` and tears it down.

use std::process::Command;

#[test]
fn the_embedding_example_launches_streams_and_tears_down() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aloft-embed"))
        .arg("echo rank=$SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES")
        .env("ALOFT_HOME", home.path())
        .env_remove("ALOFT_AGENT_BINARY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("rank=0 of 2"), "{stdout}");
    assert!(stdout.contains("rank=1 of 2"), "{stdout}");
    assert!(stderr.contains("> Provisioning..."), "{stderr}");
    // Torn down: no record left, no node folder left.
    let db = rusqlite_count(&home.path().join("state.db"));
    assert_eq!(db, 0, "clusters left in state");
    let local = home.path().join("local");
    let left: Vec<_> = std::fs::read_dir(&local)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "node folders left: {left:?}");
}

/// Clusters in the state database, read with the sqlite3-compatible schema.
fn rusqlite_count(path: &std::path::Path) -> usize {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM clusters", [], |r| r.get::<_, i64>(0))
        .unwrap() as usize
}
