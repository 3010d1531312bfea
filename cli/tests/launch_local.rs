//! `aloft launch` for real on the bundled `local` provider (a WebAssembly component
//! loaded by the host), with the real agent and real processes.

use crate::common;

use common::{aloft, text};

use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn launch_fails_over_runs_a_gang_and_tears_down() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.yaml"),
        "providers:\n  local:\n    fail_capacity_zones: [local-a, local-b]\n",
    )
    .unwrap();
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("data.txt"), "42").unwrap();
    // `file_mounts` targets: `~/x` under the node's home, an absolute one at that
    // path (on a local node, this machine's).
    let absolute = home.path().join("abs/data.txt");
    std::fs::write(
        project.join("task.yaml"),
        format!(
            "name: gang\nnum_nodes: 2\nworkdir: .\nresources: {{infra: local, cpus: 2}}\n\
             file_mounts:\n  ~/in/d.txt: ./data.txt\n  {abs}: ./data.txt\n\
             run: echo \"rank $SKYPILOT_NODE_RANK/$SKYPILOT_NUM_NODES sees $(echo $SKYPILOT_NODE_IPS) data=$(cat data.txt)$(cat ~/in/d.txt)$(cat {abs})\"\n",
            abs = absolute.display()
        ),
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &[
            "launch",
            "-y",
            "-c",
            "g",
            project.join("task.yaml").to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "(rank 0) rank 0/2 sees 127.0.0.1 127.0.0.1 data=424242",
            "(rank 1) rank 1/2 sees 127.0.0.1 127.0.0.1 data=424242"
        ]
    );
    // The failover summary names the two refused zones.
    assert!(
        stderr.contains("local/local-a local-2cpu: capacity (LocalCapacity"),
        "{stderr}"
    );
    assert!(
        stderr.contains("local/local-b local-2cpu: capacity (LocalCapacity"),
        "{stderr}"
    );
    assert!(stderr.contains("local/local-c local-2cpu: ok"), "{stderr}");
    // The SSH wait reports each node as it becomes reachable.
    for line in ["node 1/2 reachable (", "node 2/2 reachable ("] {
        assert!(stderr.contains(line), "{line} missing:\n{stderr}");
    }

    let status = aloft(home.path(), &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[0]["name"], "g");
    assert_eq!(rows[0]["zone"], "local-c");
    assert_eq!(rows[0]["status"], "UP");

    let down = aloft(home.path(), &["down", "-y", "g"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    let status = aloft(home.path(), &["status", "-o", "json"]);
    assert_eq!(text(&status.stdout).trim(), "[]");
    // Nothing left behind in the provider's books either (its kv, in state).
    let db = aloft::state::StateDb::open(&home.path().join("state.db")).unwrap();
    assert!(db.kv_list("local", "cluster/").unwrap().is_empty());
}

#[test]
fn a_failing_setup_exits_non_zero_and_autodown_cleans_up() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("bad.yaml");
    std::fs::write(
        &task,
        "resources: {infra: local}\nsetup: exit 7\nrun: echo never\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "bad", task.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(100), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("FAILED_SETUP"),
        "{}",
        text(&out.stderr)
    );
    let q = aloft(home.path(), &["queue", "bad", "-o", "json"]);
    let jobs: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
    assert_eq!(jobs[0]["status"], "FAILED_SETUP");
    assert!(aloft(home.path(), &["down", "-y", "bad"]).status.success());

    let ok = home.path().join("ok.yaml");
    std::fs::write(&ok, "resources: {infra: local}\nrun: echo done\n").unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "--down", "-c", "auto", ok.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "done\n");
    // The agent tears the idle cluster down by itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = aloft(home.path(), &["status", "-o", "json"]);
        if text(&status.stdout).trim() == "[]" {
            break;
        }
        assert!(Instant::now() < deadline, "autodown did not happen");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn launch_exec_queue_logs_stop_start_down() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello.yaml");
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "life", example.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hello from node 0 of 1 (127.0.0.1)"));

    let out = aloft(
        home.path(),
        &[
            "exec",
            "--env",
            "GREETING=hi",
            "life",
            "echo",
            "exec-$SKYPILOT_NODE_RANK-$GREETING",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "exec-0-hi\n");

    let q = aloft(home.path(), &["queue", "life", "-o", "json"]);
    let jobs: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
    let statuses: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["SUCCEEDED", "SUCCEEDED"]);
    let logs = aloft(home.path(), &["logs", "life", "2"]);
    assert_eq!(text(&logs.stdout), "exec-0-hi\n");

    assert!(aloft(home.path(), &["stop", "-y", "life"]).status.success());
    let s = aloft(home.path(), &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(rows[0]["status"], "STOPPED");
    assert!(aloft(home.path(), &["start", "life"]).status.success());
    let out = aloft(home.path(), &["exec", "life", "echo back"]);
    assert_eq!(text(&out.stdout), "back\n", "{}", text(&out.stderr));
    let node_dirs = home.path().join("local/life");
    assert!(
        node_dirs.is_dir(),
        "the node folders exist while the cluster does"
    );
    assert!(aloft(home.path(), &["down", "-y", "life"]).status.success());
    let s = aloft(home.path(), &["status", "-o", "json"]);
    assert_eq!(text(&s.stdout).trim(), "[]");
    // Nothing of the cluster is left under aloft's home: no node folder (agent
    // files, synced workdir), no record.
    assert!(
        !node_dirs.exists(),
        "{} is left behind",
        node_dirs.display()
    );
    let left: Vec<_> = std::fs::read_dir(home.path().join("local"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left under local/: {left:?}");
}

#[test]
fn retry_until_up_goes_round_after_round_until_a_launch_succeeds() {
    let home = tempfile::tempdir().unwrap();
    // The first seven launches fail for capacity whatever the zone: the launch
    // without -r loses all three zones; with -r, round 1 loses them again and
    // round 2 succeeds on its second try.
    std::fs::write(
        home.path().join("config.yaml"),
        "providers:\n  local:\n    fail_capacity_attempts: 7\n",
    )
    .unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(&task, "resources: {infra: local}\nrun: echo finally up\n").unwrap();
    let without = aloft(
        home.path(),
        &["launch", "-y", "-c", "once", task.to_str().unwrap()],
    );
    assert!(!without.status.success(), "without -r a launch gives up");
    assert!(
        text(&without.stderr).contains("every candidate failed"),
        "{}",
        text(&without.stderr)
    );
    let s = aloft(home.path(), &["status", "-o", "json"]);
    assert_eq!(
        text(&s.stdout).trim(),
        "[]",
        "a failed launch leaves no record"
    );

    let out = common::aloft_env(
        home.path(),
        &[
            "launch",
            "-y",
            "-r",
            "-c",
            "patient",
            task.to_str().unwrap(),
        ],
        &[("ALOFT_RETRY_BACKOFF_MS", "100")],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout, "finally up\n");
    assert!(stderr.contains("retrying (round 2)"), "{stderr}");
    assert!(stderr.contains("(attempt 7)"), "{stderr}");
    assert!(
        aloft(home.path(), &["down", "-y", "patient"])
            .status
            .success()
    );
}

#[test]
fn exec_of_a_gpu_task_on_a_cpu_cluster_is_refused_before_queueing() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(&task, "resources: {infra: local}\nrun: echo cpu\n").unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "cpu", task.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let gpu = home.path().join("gpu.yaml");
    std::fs::write(&gpu, "resources: {accelerators: A100:1}\nrun: echo gpu\n").unwrap();
    let out = aloft(home.path(), &["exec", "cpu", gpu.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("accelerators: the task asks for A100:1; the cluster has none"),
        "{}",
        text(&out.stderr)
    );
    let q = aloft(home.path(), &["queue", "cpu", "-o", "json"]);
    let jobs: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
    assert_eq!(
        jobs.as_array().unwrap().len(),
        1,
        "nothing was queued: {jobs}"
    );
    assert!(aloft(home.path(), &["down", "-y", "cpu"]).status.success());
}

#[test]
fn a_valueless_secret_is_refused_not_ignored() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(
        &task,
        "resources: {infra: local}\nsecrets: {HF_TOKEN: null}\nrun: echo x\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "refused", task.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("secrets.HF_TOKEN"),
        "{}",
        text(&out.stderr)
    );
    let s = aloft(home.path(), &["status", "-o", "json"]);
    assert_eq!(text(&s.stdout).trim(), "[]", "nothing was provisioned");
}

#[test]
fn autostop_set_on_a_running_cluster_stops_it() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(&task, "resources: {infra: local}\nrun: echo up\n").unwrap();
    assert!(
        aloft(
            home.path(),
            &["launch", "-y", "-c", "idle", task.to_str().unwrap()]
        )
        .status
        .success()
    );
    let out = aloft(home.path(), &["autostop", "idle", "-i", "0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = aloft(home.path(), &["status", "-o", "json"]);
        let rows: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
        if rows[0]["status"] == "STOPPED" {
            assert_eq!(rows[0]["autostop_minutes"], 0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "autostop did not stop the cluster: {rows}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(aloft(home.path(), &["down", "-y", "idle"]).status.success());
}

#[test]
fn exec_syncs_the_workdir_again() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("data.txt"), "first").unwrap();
    let task = project.join("task.yaml");
    std::fs::write(
        &task,
        "workdir: .\nresources: {infra: local}\nrun: cat data.txt\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "wd", task.to_str().unwrap()],
    );
    assert_eq!(text(&out.stdout), "first\n", "{}", text(&out.stderr));
    // Edited after the launch: exec runs the new version.
    std::fs::write(project.join("data.txt"), "second").unwrap();
    let out = aloft(home.path(), &["exec", "wd", task.to_str().unwrap()]);
    assert_eq!(text(&out.stdout), "second\n", "{}", text(&out.stderr));
    assert!(aloft(home.path(), &["down", "-y", "wd"]).status.success());
}
