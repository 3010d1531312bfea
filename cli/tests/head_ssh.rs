//! A head node's agent driven over SSH, against a real sshd: the `aloft` binary on
//! the "head" (this machine, reached through sshd) runs the agent; the client side
//! submits, lists, follows logs and cancels through `Head`.

use crate::common;

use common::{KillOnDrop, one_node_job};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aloft::runtime::agent::{AgentPaths, ClusterSpec, NodeSpec, write_cluster_spec};
use aloft::runtime::gang::ClusterInfo;
use aloft::runtime::head::{Head, HeadLocation};
use aloft::runtime::queue::JobStatus;
use aloft_tests::sshd::Sshd;

#[test]
fn submit_queue_logs_and_cancel_over_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let server = Sshd::start(&dir.path().join("sshd"));
    let root = dir.path().join("head/.aloft/agent");
    let paths = AgentPaths::new(&root);
    write_cluster_spec(
        &paths,
        &ClusterSpec {
            info: ClusterInfo {
                cluster_name: "remote".into(),
                cloud: "ssh".into(),
                region: "pool".into(),
                zone: None,
            },
            nodes: vec![NodeSpec::Local {
                home: dir.path().join("head"),
                ip: "127.0.0.1".into(),
            }],
            cpus_per_node: 2.0,
            gpus_per_node: 0,
            workdir: "sky_workdir".into(),
            container: None,
        },
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_aloft");
    let _agent = KillOnDrop(
        Command::new(binary)
            .args(["agent", "--root"])
            .arg(&root)
            .args(["run", "--poll-ms", "20"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let head = Head::new(
        HeadLocation::Ssh {
            host: "127.0.0.1".into(),
            port: server.port,
            user: server.user.clone(),
            identity_file: server.identity_file.clone(),
            proxy_command: None,
            host_keys: None,
            root: root.display().to_string(),
            binary: binary.into(),
        },
        dir.path().join("cm"),
    );
    let secret = "hunter2-is-not-a-password";
    let id = head
        .submit(
            &one_node_job("remote", "echo \"it's here: ${#TOKEN} chars\""),
            &[("TOKEN".into(), secret.into())],
            1,
        )
        .unwrap();
    let mut out = Vec::new();
    head.logs(id, None, true, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "it's here: 25 chars\n");
    let jobs = head.queue(false).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::Succeeded);

    let long = head
        .submit(&one_node_job("remote", "sleep 60"), &[], 2)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while head.queue(true).unwrap()[0].status != JobStatus::Running {
        assert!(Instant::now() < deadline, "the long job never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = head.cancel(&[long], 3).unwrap();
    assert_eq!(after[0].id, long);
    while head.queue(true).unwrap().iter().any(|j| j.id == long) {
        assert!(Instant::now() < deadline, "the cancelled job did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    let jobs = head.queue(false).unwrap();
    assert_eq!(jobs[1].status, JobStatus::Cancelled);
    // The secret never reached the agent's database on the head.
    let db = std::fs::read(paths.queue_db()).unwrap();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()));
}
