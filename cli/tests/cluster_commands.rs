//! status, queue, logs, cancel and cost-report on a cluster recorded in a real state
//! database, whose head agent (the real binary) runs jobs in a local folder.

use crate::common;

use common::{KillOnDrop, aloft, one_node_job};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aloft::runtime::agent::{AgentPaths, ClusterSpec, NodeSpec, unix_now, write_cluster_spec};
use aloft::runtime::gang::ClusterInfo;
use aloft::runtime::head::{ClusterHandle, Head, HeadLocation};
use aloft::state::{ClusterRecord, ClusterStatus, StateDb};

#[test]
fn commands_on_a_recorded_local_cluster() {
    let home = tempfile::tempdir().unwrap();
    let node = home.path().join("local/c1/node-0");
    let root = node.join(".aloft/agent");
    write_cluster_spec(
        &AgentPaths::new(&root),
        &ClusterSpec {
            info: ClusterInfo {
                cluster_name: "c1".into(),
                cloud: "local".into(),
                region: "local".into(),
                zone: Some("local-a".into()),
            },
            nodes: vec![NodeSpec::Local {
                home: node.clone(),
                ip: "127.0.0.1".into(),
            }],
            cpus_per_node: 2.0,
            gpus_per_node: 0,
            workdir: "sky_workdir".into(),
            container: None,
        },
    )
    .unwrap();
    let _agent = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(["agent", "--root"])
            .arg(&root)
            .args(["run", "--poll-ms", "20"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let location = HeadLocation::Local { root: root.clone() };
    let now = unix_now();
    let record = ClusterRecord {
        name: "c1".into(),
        provider: "local".into(),
        region: "local".into(),
        zone: Some("local-a".into()),
        instance_type: "local-2cpu".into(),
        num_nodes: 1,
        use_spot: false,
        resources_json: "{}".into(),
        status: ClusterStatus::Up,
        hourly_price: 0.5,
        launched_at: now - 7200,
        status_updated_at: now,
        autostop_minutes: Some(10),
        autostop_down: true,
        nodes_json: serde_json::to_string(&ClusterHandle {
            head: location.clone(),
            ips: vec!["127.0.0.1".into()],
            nodes: Vec::new(),
        })
        .unwrap(),
    };
    let db = StateDb::open(&home.path().join("state.db")).unwrap();
    db.upsert_cluster(&record).unwrap();
    db.start_usage(&record, now - 7200).unwrap();

    let out = aloft(home.path(), &["status", "-o", "json"]);
    assert!(out.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["name"], "c1");
    assert_eq!(rows[0]["status"], "UP");
    assert_eq!(rows[0]["head_ip"], "127.0.0.1");
    let out = aloft(home.path(), &["status", "--ip", "c1"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "127.0.0.1\n");
    let table = aloft(home.path(), &["status"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("10m (down)") && text.contains("local (local, local-a)"),
        "{text}"
    );

    let head = Head::new(location, home.path().join("ssh"));
    let first = head
        .submit(&one_node_job("job", "echo first; echo second"), &[], now)
        .unwrap();
    let out = aloft(home.path(), &["logs", "c1", &first.to_string(), "--follow"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "first\nsecond\n");
    let out = aloft(home.path(), &["logs", "c1", "--tail", "1"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "second\n");
    let out = aloft(home.path(), &["logs", "c1", "--status"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "Job 1: SUCCEEDED\n");

    let long = head
        .submit(&one_node_job("job", "sleep 60"), &[], now)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = aloft(home.path(), &["queue", "c1", "-s", "-o", "json"]);
        let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if jobs[0]["status"] == "RUNNING" {
            break;
        }
        assert!(Instant::now() < deadline, "the long job never ran: {jobs}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = aloft(home.path(), &["cancel", "-y", "c1", &long.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    loop {
        let out = aloft(home.path(), &["queue", "c1", "-o", "json"]);
        let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if jobs[1]["status"] == "CANCELLED" {
            assert_eq!(jobs[0]["status"], "SUCCEEDED");
            break;
        }
        assert!(Instant::now() < deadline, "cancel did not land: {jobs}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = aloft(home.path(), &["logs", "c1", "--status"]);
    assert_eq!(
        out.status.code(),
        Some(100),
        "a cancelled job is not a success"
    );

    let out = aloft(home.path(), &["cost-report", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cost = rows[0]["cost"].as_f64().unwrap();
    assert!((cost - 1.0).abs() < 0.01, "2 h at $0.50/h, got {cost}");

    let out = aloft(home.path(), &["queue", "nope"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no cluster named `nope` (clusters: c1)")
    );
}
