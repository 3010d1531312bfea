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

/// The documented binary contract: the cluster's agent runs this program in its
/// autostop role (`aloft::roles::run_if_role`), which tears the cluster down once
/// idle, with the example long gone.
#[test]
fn the_embedding_example_tears_its_cluster_down_through_its_autostop_role() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aloft-embed"))
        .args(["--autodown", "echo rank=$SKYPILOT_NODE_RANK"])
        .env("ALOFT_HOME", home.path())
        .env_remove("ALOFT_AGENT_BINARY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("rank=1"), "{stdout}");
    assert_eq!(
        rusqlite_count(&home.path().join("state.db")),
        1,
        "the cluster is left up"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rusqlite_count(&home.path().join("state.db")) > 0 {
        if std::time::Instant::now() > deadline {
            let log = std::fs::read_dir(home.path().join("local"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    std::fs::read_to_string(e.path().join(".aloft/agent/autostop.log")).ok()
                })
                .collect::<Vec<_>>();
            panic!("the cluster was not torn down within 60 s; autostop logs: {log:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The README's embedding snippet is this example's code, word for word.
#[test]
fn the_readme_shows_this_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let main = std::fs::read_to_string(root.join("examples/embed/src/main.rs")).unwrap();
    let start = readme
        .find("```rust\n")
        .expect("a rust block in the README")
        + 8;
    let snippet = &readme[start..start + readme[start..].find("```").unwrap()];
    assert!(snippet.contains("run_if_role"), "{snippet}");
    assert!(
        main.contains(snippet.trim_end()),
        "the README's snippet is not examples/embed/src/main.rs:\n{snippet}"
    );
}
