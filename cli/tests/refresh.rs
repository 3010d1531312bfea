//! `aloft status -r`: local state brought in line with what the provider reports,
//! after a crash, a preemption, or instances vanishing behind aloft's back.

use crate::common;

use common::{aloft, text};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aloft::state::StateDb;

fn status_json(home: &Path, refresh: bool) -> serde_json::Value {
    let args: &[&str] = if refresh {
        &["status", "-r", "-o", "json"]
    } else {
        &["status", "-o", "json"]
    };
    let out = aloft(home, args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits (up to 30 s) until a launch has written `name`'s first record.
fn wait_for_record(home: &Path, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while StateDb::open(&home.join("state.db"))
        .ok()
        .and_then(|db| db.cluster(name).ok().flatten())
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the launch never recorded the cluster"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts `aloft launch -c name` of a task running `run` on a `local` provider
/// whose `run-instances` takes `delay_ms`; returns once the launch has recorded
/// the cluster (its provider call is then in flight).
fn slow_launch(home: &Path, delay_ms: u64, name: &str, run: &str) -> std::process::Child {
    std::fs::write(
        home.join("config.yaml"),
        format!("providers:\n  local:\n    run_delay_ms: {delay_ms}\n"),
    )
    .unwrap();
    let task = home.join("t.yaml");
    std::fs::write(&task, format!("resources: {{infra: local}}\nrun: {run}\n")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["launch", "-y", "-c", name, task.to_str().unwrap()])
        .env("ALOFT_HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_record(home, name);
    child
}

#[test]
fn kill_9_in_the_middle_of_a_launch_then_refresh_and_down_clean_up() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("slow.yaml");
    std::fs::write(
        &task,
        "resources: {infra: local}\nsetup: sleep 30\nrun: echo never\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["launch", "-y", "-c", "crash", task.to_str().unwrap()])
        .env("ALOFT_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as the launch has written its first record.
    wait_for_record(home.path(), "crash");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The refresh tells the truth: the provider's instances exist (the launch got
    // that far) but no agent answers, so the cluster stays INIT; or the provider
    // has nothing and the record goes away; or (on a loaded machine the kill can
    // land that late) the agent was installed and answers, and only then is it UP.
    let rows = status_json(home.path(), true);
    let rows = rows.as_array().unwrap();
    assert!(rows.len() <= 1);
    if let Some(row) = rows.first() {
        assert_eq!(row["name"], "crash");
        match row["status"].as_str() {
            Some("INIT") => {
                // Launching the same name again finishes the set-up and runs the job.
                let quick = home.path().join("quick.yaml");
                std::fs::write(&quick, "resources: {infra: local}\nrun: echo completed\n").unwrap();
                let out = aloft(
                    home.path(),
                    &["launch", "-y", "-c", "crash", quick.to_str().unwrap()],
                );
                assert!(out.status.success(), "{}", text(&out.stderr));
                assert_eq!(text(&out.stdout), "completed\n");
                let rows = status_json(home.path(), true);
                assert_eq!(rows[0]["status"], "UP", "{rows}");
            }
            Some("UP") => {
                let queue = aloft(home.path(), &["queue", "crash"]);
                assert!(
                    queue.status.success(),
                    "UP, but its agent does not answer: {}",
                    text(&queue.stderr)
                );
            }
            _ => panic!("neither INIT nor UP: {row}"),
        }
    }
    let agents = || -> usize {
        let Ok(out) = Command::new("pgrep").args(["-f", "local/crash/"]).output() else {
            return 0;
        };
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let out = aloft(home.path(), &["down", "-y", "-p", "crash"]);
    // Whatever the kill interrupted, no agent of this cluster survives the down.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        agents(),
        0,
        "an agent of the killed launch is still running"
    );
    assert!(
        out.status.success() || rows.is_empty(),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(status_json(home.path(), true), serde_json::json!([]));
    let db = StateDb::open(&home.path().join("state.db")).unwrap();
    assert!(
        db.kv_list("local", "cluster/").unwrap().is_empty(),
        "instances leaked"
    );
}

#[test]
fn ctrl_c_during_provisioning_finishes_the_call_and_leaves_a_true_record() {
    let home = tempfile::tempdir().unwrap();
    // Interrupt while `run-instances` is in flight (the record is written first).
    let child = slow_launch(home.path(), 1500, "intr", "echo never");
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted after provisioning"),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty(), "no job ran");
    // The provider call completed, and the record says so: INIT with its nodes.
    let rows = status_json(home.path(), false);
    assert_eq!(rows[0]["name"], "intr");
    assert_eq!(rows[0]["status"], "INIT", "{rows}");
    let db = StateDb::open(&home.path().join("state.db")).unwrap();
    assert_eq!(db.kv_list("local", "cluster/").unwrap().len(), 1);
    // The instances run but no agent was ever installed: still INIT after a refresh.
    let rows = status_json(home.path(), true);
    assert_eq!(rows[0]["status"], "INIT", "{rows}");
    // Launching the same name again finishes the set-up and runs the job.
    std::fs::write(
        home.path().join("config.yaml"),
        "providers:\n  local:\n    run_delay_ms: 0\n",
    )
    .unwrap();
    let again = home.path().join("again.yaml");
    std::fs::write(&again, "resources: {infra: local}\nrun: echo completed\n").unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "intr", again.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "completed\n");
    assert_eq!(status_json(home.path(), true)[0]["status"], "UP");
    let out = aloft(home.path(), &["down", "-y", "intr"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(db.kv_list("local", "cluster/").unwrap().is_empty());
    assert_eq!(status_json(home.path(), true), serde_json::json!([]));
}

/// A launch waiting on its provider has a record and no instances yet: a refresh
/// meanwhile leaves the record (and the launch) alone.
#[test]
fn a_refresh_while_a_launch_waits_for_its_instances_keeps_the_cluster() {
    let home = tempfile::tempdir().unwrap();
    let child = slow_launch(home.path(), 4000, "busy", "echo landed");
    let out = aloft(home.path(), &["status", "-r"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("busy: no instances yet; its record is kept")
            && stderr.contains("`aloft launch` (pid"),
        "{stderr}"
    );
    let launched = child.wait_with_output().unwrap();
    assert!(launched.status.success(), "{}", text(&launched.stderr));
    assert_eq!(text(&launched.stdout), "landed\n");
    let rows = status_json(home.path(), true);
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    let out = aloft(home.path(), &["down", "-y", "busy"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_preempted_spot_cluster_is_reported() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.yaml"),
        "providers:\n  local:\n    preempt: [sp]\n",
    )
    .unwrap();
    let task = home.path().join("spot.yaml");
    std::fs::write(
        &task,
        "resources: {infra: local, use_spot: true}\nrun: echo up\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "sp", task.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = aloft(home.path(), &["status", "-r"]);
    assert!(
        text(&out.stderr).contains("sp: UP -> PREEMPTED"),
        "{}",
        text(&out.stderr)
    );
    let rows = status_json(home.path(), false);
    assert_eq!(rows[0]["status"], "INIT");
    assert!(aloft(home.path(), &["down", "-y", "sp"]).status.success());
}

#[test]
fn instances_gone_behind_our_back_remove_the_cluster() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(&task, "resources: {infra: local}\nrun: echo up\n").unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "gone", task.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Terminated outside aloft: the provider's books no longer have it.
    let db = StateDb::open(&home.path().join("state.db")).unwrap();
    db.kv_delete("local", "cluster/gone").unwrap();
    assert_eq!(
        status_json(home.path(), false)[0]["status"],
        "UP",
        "status alone calls no provider"
    );
    let out = aloft(home.path(), &["status", "-r"]);
    assert!(
        text(&out.stderr).contains("gone: no instances left"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(status_json(home.path(), false), serde_json::json!([]));
    // Its agent was stopped with it.
    let pid_file = home
        .path()
        .join("local/gone/local-gone-0/.aloft/agent/agent.pid");
    assert!(
        !pid_file.exists(),
        "the vanished cluster's agent still runs"
    );
}

/// A local cluster's autostop runs aloft's autostop role; when that fails, the
/// head records it and tries again: `status -r` names the failure, `status` keeps
/// showing it, and the cluster goes once the role works.
#[test]
fn a_failing_autostop_is_shown_and_retried_until_it_works() {
    let home = tempfile::tempdir().unwrap();
    let gate = home.path().join("may-stop");
    // The program the agent runs: aloft itself, but its autostop role fails (as a
    // cloud refusing the call would) until the gate file exists.
    let wrapper = home.path().join("aloft-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = aloft-role ] && [ ! -e '{gate}' ]; then\n  echo 'the cloud said no' >&2\n  exit 3\nfi\nexec '{aloft}' \"$@\"\n",
            gate = gate.display(),
            aloft = env!("CARGO_BIN_EXE_aloft"),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = [
        ("ALOFT_AGENT_BINARY", wrapper.to_str().unwrap()),
        ("ALOFT_AUTOSTOP_SECONDS_PER_MINUTE", "1"),
    ];
    let out = common::aloft_env(
        home.path(),
        &[
            "launch", "-y", "-c", "fl", "-i", "0", "--down", "--infra", "local", "echo hi",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let deadline = Instant::now() + Duration::from_secs(60);
    let note = loop {
        let out = common::aloft_env(home.path(), &["status", "-r"], &env);
        let stderr = text(&out.stderr);
        if stderr.contains("autostop failed") {
            break stderr;
        }
        assert!(
            Instant::now() < deadline,
            "no autostop failure was reported: {stderr}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(note.contains("the cloud said no"), "{note}");
    let table = common::aloft_env(home.path(), &["status"], &env);
    let table = text(&table.stdout);
    assert!(table.contains("FAILING"), "{table}");
    assert!(table.contains("the cloud said no"), "{table}");
    let json = status_json(home.path(), false);
    assert!(
        json[0]["autostop_failure"]
            .as_str()
            .is_some_and(|f| f.contains("the cloud said no")),
        "{json}"
    );

    // The head keeps trying: once the role works, the cluster goes.
    std::fs::write(&gate, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while status_json(home.path(), false)
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "the retried autostop did not tear the cluster down"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
