//! Many aloft processes at once: locks that say who holds them, no "database is
//! locked", launches that do not step on each other.

use crate::common;

use common::{aloft, text};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aloft::state::StateDb;

#[test]
fn down_while_a_launch_holds_the_cluster_names_the_holder_then_waits() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.yaml"),
        "providers:\n  local:\n    run_delay_ms: 2500\n",
    )
    .unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(&task, "resources: {infra: local}\nrun: echo launched\n").unwrap();
    let mut launch = Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["launch", "-y", "-d", "-c", "held", task.to_str().unwrap()])
        .env("ALOFT_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The launch records the cluster before its provider call, lock held. A fresh
    // home compiles every bundled provider first (seconds of CPU), and the other
    // test here runs eight launches at once on the same cores: be patient.
    let deadline = Instant::now() + Duration::from_secs(120);
    while StateDb::open(&home.path().join("state.db"))
        .ok()
        .and_then(|db| db.cluster("held").ok().flatten())
        .is_none()
    {
        if Instant::now() >= deadline || launch.try_wait().unwrap().is_some() {
            let _ = launch.kill();
            let out = launch.wait_with_output().unwrap();
            panic!(
                "the launch never recorded the cluster: {:?}\n{}",
                out.status,
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // --no-wait: a clear error at once.
    let started = Instant::now();
    let out = aloft(home.path(), &["down", "-y", "--no-wait", "held"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cluster `held` is busy: `aloft launch` (pid"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "--no-wait waited"
    );

    // Without it: the holder is named on screen at once, then `down` waits.
    let mut down = Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["down", "-y", "held"])
        .env("ALOFT_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = down.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut first = [0u8; 200];
        let started = Instant::now();
        let n = stderr.read(&mut first).unwrap_or(0);
        let seen_after = started.elapsed();
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        (
            String::from_utf8_lossy(&first[..n]).into_owned(),
            seen_after,
            rest,
        )
    });
    let out = launch.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the launch, left alone, finishes: {}",
        text(&out.stderr)
    );
    assert!(down.wait().unwrap().success());
    let (first, seen_after, rest) = reader.join().unwrap();
    assert!(
        first.contains("Cluster `held` is busy: `aloft launch` (pid"),
        "{first}"
    );
    assert!(seen_after < Duration::from_secs(1), "{seen_after:?}");
    assert!(rest.contains("Cluster `held` terminated."), "{rest}");
    let s = aloft(home.path(), &["status", "-o", "json"]);
    assert_eq!(text(&s.stdout).trim(), "[]");
}

#[test]
fn eight_launches_and_eight_status_calls_at_once_all_succeed() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(
        &task,
        "resources: {infra: local}\nrun: echo ok-$SKYPILOT_CLUSTER_INFO\n",
    )
    .unwrap();
    let mut children = Vec::new();
    for i in 0..8 {
        let name = format!("par{i}");
        children.push(
            Command::new(env!("CARGO_BIN_EXE_aloft"))
                .args(["launch", "-y", "-c", &name, task.to_str().unwrap()])
                .env("ALOFT_HOME", home.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        children.push(
            Command::new(env!("CARGO_BIN_EXE_aloft"))
                .args(["status", "-o", "json"])
                .env("ALOFT_HOME", home.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("locked"), "{stderr}");
    }
    let s = aloft(home.path(), &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 8, "{rows}");
    assert!(
        rows.as_array().unwrap().iter().all(|r| r["status"] == "UP"),
        "{rows}"
    );
    let out = aloft(home.path(), &["down", "-a", "-y"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = aloft(home.path(), &["status", "-o", "json"]);
    assert_eq!(text(&s.stdout).trim(), "[]");
}
