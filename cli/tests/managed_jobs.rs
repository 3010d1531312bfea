//! Managed jobs on the `local` provider: the controller recovers a preempted spot
//! job (which resumes from its checkpoint, with the same SKYPILOT_TASK_ID), restarts
//! a failing one within `max_restarts_on_errors`, and refuses bad input.

use crate::common;

use common::{aloft_env, text};

use std::path::Path;
use std::time::{Duration, Instant};

const FAST: [(&str, &str); 3] = [
    ("ALOFT_JOBS_POLL_MS", "200"),
    ("ALOFT_JOBS_IDLE_MS", "3000"),
    ("ALOFT_JOBS_RETRY_MS", "200"),
];

fn jobs(home: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["jobs"];
    all.extend_from_slice(args);
    aloft_env(home, &all, &FAST)
}

fn job(home: &Path, id: &str) -> serde_json::Value {
    let out = jobs(home, &["queue", "-a", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"].as_i64().map(|v| v.to_string()).as_deref() == Some(id))
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

fn wait_for(
    home: &Path,
    id: &str,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let j = job(home, id);
        if ok(&j) {
            return j;
        }
        assert!(Instant::now() < deadline, "{what} never happened: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_preempted_spot_job_is_recovered_and_resumes_from_its_checkpoint() {
    let home = tempfile::tempdir().unwrap();
    let ckpt = home.path().join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    let task = home.path().join("train.yaml");
    std::fs::write(
        &task,
        format!(
            "name: train\nresources: {{infra: local, use_spot: true}}\n\
             run: |\n  echo \"task $SKYPILOT_TASK_ID\" >> {c}/ids\n  \
             if [ -f {c}/step ]; then echo \"resumed at step $(cat {c}/step)\"; exit 0; fi\n  \
             echo 7 > {c}/step\n  sleep 60\n",
            c = ckpt.display()
        ),
    )
    .unwrap();
    let out = jobs(home.path(), &["launch", "-d", "-y", task.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let running = wait_for(home.path(), &id, "RUNNING with a checkpoint", |j| {
        j["status"] == "RUNNING" && ckpt.join("step").exists()
    });
    let cluster = running["cluster_name"].as_str().unwrap().to_string();
    // The cloud takes the spot node back.
    std::fs::write(
        home.path().join("config.yaml"),
        format!("providers:\n  local:\n    preempt: [{cluster}]\n"),
    )
    .unwrap();
    wait_for(home.path(), &id, "the recovery", |j| {
        j["status"] == "RECOVERING" || j["recovery_count"].as_u64() >= Some(1)
    });
    // Capacity is back: the replacement is not preempted.
    std::fs::write(home.path().join("config.yaml"), "").unwrap();
    let done = wait_for(home.path(), &id, "the end", |j| {
        j["status"].as_str().is_some_and(|s| {
            s != "RUNNING" && s != "RECOVERING" && s != "STARTING" && s != "PENDING"
        })
    });
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert!(done["recovery_count"].as_u64() >= Some(1), "{done}");
    let ids = std::fs::read_to_string(ckpt.join("ids")).unwrap();
    let lines: Vec<&str> = ids.lines().collect();
    assert!(lines.len() >= 2, "ran twice: {ids}");
    assert!(
        lines.iter().all(|l| *l == lines[0]),
        "SKYPILOT_TASK_ID is stable: {ids}"
    );
    // Nothing is left running: the controller tears the cluster down right after
    // it records the end (give it a moment).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = aloft_env(home.path(), &["status", "-o", "json"], &[]);
    while text(&status.stdout).trim() != "[]" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        status = aloft_env(home.path(), &["status", "-o", "json"], &[]);
    }
    assert_eq!(
        text(&status.stdout).trim(),
        "[]",
        "{}",
        text(&status.stderr)
    );
    // The cluster is gone; its output is not: the controller kept it.
    for args in [vec!["logs", "--no-follow", &id], vec!["logs", &id]] {
        let out = jobs(home.path(), &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "resumed at step 7", "{args:?}");
    }
}

#[test]
fn restarts_on_errors_are_bounded_and_exit_codes_can_force_a_restart() {
    let home = tempfile::tempdir().unwrap();
    let counter = home.path().join("runs");
    // Fails twice, then succeeds: SUCCEEDED with 2 restarts.
    let flaky = home.path().join("flaky.yaml");
    std::fs::write(
        &flaky,
        format!(
            "resources: {{infra: local, job_recovery: {{max_restarts_on_errors: 2}}}}\n\
             secrets: {{RUN_TOKEN: tok-never-listed-5512}}\n\
             run: |\n  echo x >> {c}\n  [ $(wc -l < {c}) -ge 3 ]\n",
            c = counter.display()
        ),
    )
    .unwrap();
    let out = jobs(home.path(), &["launch", "-y", flaky.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ended SUCCEEDED"),
        "{}",
        text(&out.stderr)
    );
    let all: serde_json::Value =
        serde_json::from_slice(&jobs(home.path(), &["queue", "-a", "-o", "json"]).stdout).unwrap();
    assert_eq!(all[0]["restarts_on_errors"], 2, "{all}");
    assert_eq!(all[0]["task_count"], 1, "{all}");
    // The listing never shows the task file, whose secrets it would print.
    let table = text(&jobs(home.path(), &["queue", "-a"]).stdout);
    // Plain columns: the row's status sits under the header's STATUS.
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID  TASK  NAME"), "{table}");
    let at = lines[0].find("STATUS").unwrap();
    assert_eq!(lines[1].get(at..at + 9), Some("SUCCEEDED"), "{table}");
    assert!(
        !all.to_string().contains("tok-never-listed") && !table.contains("tok-never-listed"),
        "{all}\n{table}"
    );
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        3
    );

    // Always fails: FAILED after 1 + 2 runs, exit code 100.
    let broken_counter = home.path().join("broken-runs");
    let broken = home.path().join("broken.yaml");
    std::fs::write(
        &broken,
        format!(
            "resources: {{infra: local, job_recovery: {{max_restarts_on_errors: 2}}}}\n\
             run: echo x >> {c}; exit 3\n",
            c = broken_counter.display()
        ),
    )
    .unwrap();
    let out = jobs(home.path(), &["launch", "-y", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(100), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&broken_counter)
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let bad = home.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "resources: {infra: local, job_recovery: {strategy: SOMETIMES}}\nrun: echo x\n",
    )
    .unwrap();
    let out = jobs(home.path(), &["launch", "-d", "-y", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).to_lowercase().contains("strategy"),
        "{}",
        text(&out.stderr)
    );
    let out = jobs(home.path(), &["cancel", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no managed job 999"),
        "{}",
        text(&out.stderr)
    );
    let q = jobs(home.path(), &["queue", "-a", "-o", "json"]);
    assert_eq!(text(&q.stdout).trim(), "[]");
}

/// The controller's clients carry the node agents the launching program embeds:
/// a managed job's head that reports `aarch64` gets the aarch64 agent (which
/// cannot run on this x86_64 machine, so the job then fails there, as a launch
/// does), never an error for want of one.
#[test]
fn a_managed_jobs_head_of_another_architecture_gets_its_agent() {
    const AARCH64: u16 = 183;
    let home = tempfile::tempdir().unwrap();
    let arm = aloft_tests::sshd::Sshd::start_machine_reporting(
        &home.path().join("machine-arm"),
        "127.0.0.9",
        "aarch64",
    );
    std::fs::write(
        home.path().join("ssh_node_pools.yaml"),
        format!(
            "arm:\n  user: {user}\n  identity_file: {key}\n  hosts: [{{ip: {ip}, port: {port}}}]\n",
            user = arm.user,
            key = arm.identity_file.display(),
            ip = arm.ip,
            port = arm.port,
        ),
    )
    .unwrap();
    let task = home.path().join("arm.yaml");
    std::fs::write(&task, "resources: {infra: ssh/arm}\nrun: echo on-arm\n").unwrap();
    let out = jobs(home.path(), &["launch", "-d", "-y", task.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let agent_path = arm.home().join(".aloft/bin/aloft");
    let deadline = Instant::now() + Duration::from_secs(90);
    let agent = loop {
        // Read once the upload is whole (an ELF header and more than a page).
        if let Ok(bytes) = std::fs::read(&agent_path)
            && bytes.len() > 1 << 16
        {
            break bytes;
        }
        let log =
            std::fs::read_to_string(home.path().join("jobs-controller.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "no agent was installed on the aarch64 head: {}\n{log}",
            job(home.path(), "1")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let (machine, is_static) = crate::launch_ssh::elf_machine_and_static(&agent);
    assert_eq!((machine, is_static), (AARCH64, true));
    let out = jobs(home.path(), &["cancel", "-a", "-y"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for(home.path(), "1", "the end", |j| {
        j["status"].as_str().is_some_and(|s| {
            !matches!(
                s,
                "PENDING" | "STARTING" | "RUNNING" | "RECOVERING" | "CANCELLING"
            )
        })
    });
}
