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

/// Writes a task file `NAME.yaml` on `local` running `run`.
fn local_task(home: &Path, name: &str, run: &str) -> String {
    let path = home.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!("name: {name}\nresources: {{infra: local}}\nrun: {run}\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// `jobs launch -d -y TASK`, returning the job's id.
fn launch_detached(home: &Path, task: &str) -> String {
    let out = jobs(home, &["launch", "-d", "-y", task]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn ended(j: &serde_json::Value) -> bool {
    j["status"].as_str().is_some_and(|s| {
        !matches!(
            s,
            "PENDING" | "STARTING" | "RUNNING" | "RECOVERING" | "CANCELLING"
        )
    })
}

/// Cancels every job and waits until each has ended (no cluster left behind).
fn cancel_all_and_wait(home: &Path, ids: &[&str]) {
    let out = jobs(home, &["cancel", "-a", "-y"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for id in ids {
        wait_for(home, id, "the end", ended);
    }
}

/// Runs `aloft jobs ARGS` on a pseudo-terminal (util-linux `script`), `typed`
/// typed ahead; what it printed (stdout and stderr, with the echo) and whether it
/// succeeded.
fn jobs_on_terminal(home: &Path, args: &[&str], typed: &str) -> (bool, String) {
    use std::io::Write;
    let line: Vec<String> = [env!("CARGO_BIN_EXE_aloft"), "jobs"]
        .into_iter()
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut child = std::process::Command::new("timeout")
        .args(["120", "script", "-qec", &line.join(" "), "/dev/null"])
        .env("ALOFT_HOME", home)
        .envs(FAST)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(typed.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

/// `jobs logs` without an id follows the newest unfinished job (SkyPilot), and
/// says plainly when there is none.
#[test]
fn jobs_logs_without_an_id_follows_the_newest_unfinished_job() {
    let home = tempfile::tempdir().unwrap();
    let out = jobs(home.path(), &["logs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no managed job to show; give an id"),
        "{}",
        text(&out.stderr)
    );
    let older = local_task(home.path(), "older", "echo older-out; sleep 120");
    let newer = local_task(home.path(), "newer", "echo newer-out; sleep 3");
    let a = launch_detached(home.path(), &older);
    let b = launch_detached(home.path(), &newer);
    let out = jobs(home.path(), &["logs"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "newer-out",
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains(&format!("Managed job {b} ")),
        "{}",
        text(&out.stderr)
    );
    // It followed the job to its end.
    assert_eq!(job(home.path(), &b)["status"], "SUCCEEDED");
    // The finished job is no longer the one shown: the older, unfinished one is.
    wait_for(home.path(), &a, "the older job running", |j| {
        j["status"] == "RUNNING"
    });
    let out = jobs(home.path(), &["logs", "--no-follow"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("Managed job {a} ")),
        "{}",
        text(&out.stderr)
    );
    cancel_all_and_wait(home.path(), &[&a]);
    // Only finished jobs left: nothing to follow.
    let out = jobs(home.path(), &["logs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no managed job to show; give an id"),
        "{}",
        text(&out.stderr)
    );
}

/// `jobs queue` lists finished jobs by default, `-s/--skip-finished` hides them,
/// `--name` filters, and `-o json` carries what the table shows.
#[test]
fn jobs_queue_shows_finished_jobs_unless_skipped_and_filters_by_name() {
    let home = tempfile::tempdir().unwrap();
    let done = local_task(home.path(), "done-job", "echo hi");
    let out = jobs(home.path(), &["launch", "-y", &done]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let live = local_task(home.path(), "live-job", "sleep 120");
    let live_id = launch_detached(home.path(), &live);
    let names = |args: &[&str]| -> Vec<String> {
        let out = jobs(home.path(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Newest first, finished ones too.
    assert_eq!(names(&["queue", "-o", "json"]), ["live-job", "done-job"]);
    assert_eq!(
        names(&["queue", "-a", "-o", "json"]),
        ["live-job", "done-job"]
    );
    assert_eq!(names(&["queue", "-s", "-o", "json"]), ["live-job"]);
    assert_eq!(
        names(&["queue", "--skip-finished", "-o", "json"]),
        ["live-job"]
    );
    assert_eq!(
        names(&["queue", "--name", "done-job", "-o", "json"]),
        ["done-job"]
    );
    assert!(names(&["queue", "-s", "--name", "done-job", "-o", "json"]).is_empty());
    // The table shows the finished job under STATUS; the JSON has every column's
    // source.
    let table = text(&jobs(home.path(), &["queue"]).stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let at = lines[0].find("STATUS").unwrap();
    assert_eq!(lines[2].get(at..at + 9), Some("SUCCEEDED"), "{table}");
    let short = text(&jobs(home.path(), &["queue", "-s"]).stdout);
    assert_eq!(short.lines().count(), 2, "{short}");
    assert!(!short.contains("done-job"), "{short}");
    let out = jobs(home.path(), &["queue", "--name", "done-job", "-o", "json"]);
    let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &row[0];
    for key in [
        "id",
        "task_index",
        "task_count",
        "name",
        "resources",
        "submitted_at",
        "started_at",
        "ended_at",
        "recovery_count",
        "status",
        "location",
    ] {
        assert!(row.get(key).is_some(), "no {key} in {row}");
    }
    assert_eq!(row["status"], "SUCCEEDED", "{row}");
    assert!(row["ended_at"].as_i64().is_some(), "{row}");
    cancel_all_and_wait(home.path(), &[&live_id]);
}

/// `jobs cancel` asks first, as `aloft cancel` and SkyPilot do: with no terminal
/// and no `-y` it refuses and cancels nothing; "n" on a terminal cancels nothing;
/// `-y` cancels.
#[test]
fn jobs_cancel_asks_first_and_refuses_without_a_terminal() {
    let home = tempfile::tempdir().unwrap();
    let task = local_task(home.path(), "keep", "sleep 120");
    let id = launch_detached(home.path(), &task);
    let unfinished = |what: &str| {
        let j = job(home.path(), &id);
        assert!(
            matches!(
                j["status"].as_str(),
                Some("PENDING" | "STARTING" | "RUNNING")
            ),
            "{what}: {j}"
        );
    };
    for args in [
        vec!["cancel", id.as_str()],
        vec!["cancel", "-n", "keep"],
        vec!["cancel", "-a"],
    ] {
        let out = jobs(home.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("Cancelling 1 managed job(s) ({id})"))
                && err.contains("no terminal")
                && err.contains("-y"),
            "{args:?}: {err}"
        );
        unfinished("after a refusal without a terminal");
    }
    let (ok, shown) = jobs_on_terminal(home.path(), &["cancel", &id], "n\n");
    assert!(!ok, "{shown}");
    assert!(
        shown.contains(&format!(
            "Cancelling 1 managed job(s) ({id}). Proceed? [Y/n]"
        )),
        "{shown}"
    );
    unfinished("after answering n");
    let out = jobs(home.path(), &["cancel", "-y", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let done = wait_for(home.path(), &id, "the cancellation", ended);
    assert_eq!(done["status"], "CANCELLED", "{done}");
}

/// A followed managed job that ends CANCELLED exits 103 (SkyPilot's code for a
/// cancelled job), from `jobs launch` and from `jobs logs ID` alike.
#[test]
fn a_followed_job_that_is_cancelled_exits_103() {
    let home = tempfile::tempdir().unwrap();
    let task = local_task(home.path(), "doomed", "echo started; sleep 120");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["jobs", "launch", "-y", &task])
        .env("ALOFT_HOME", home.path())
        .envs(FAST)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut launch = common::KillOnDrop(child);
    wait_for(home.path(), "1", "RUNNING", |j| j["status"] == "RUNNING");
    let out = jobs(home.path(), &["cancel", "-y", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = launch.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "jobs launch never returned");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(launch.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(103), "{err}");
    assert!(err.contains("ended CANCELLED"), "{err}");
    let out = jobs(home.path(), &["logs", "1"]);
    assert_eq!(out.status.code(), Some(103), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ended CANCELLED"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_relative_workdir_is_the_task_files_wherever_the_controller_runs() {
    let home = tempfile::tempdir().unwrap();
    let proj = home.path().join("proj");
    std::fs::create_dir_all(proj.join("code")).unwrap();
    std::fs::write(proj.join("code/marker.txt"), "marker-42\n").unwrap();
    let task = proj.join("job.yaml");
    std::fs::write(
        &task,
        "name: wd\nresources: {infra: local}\nworkdir: code\nrun: cat marker.txt\n",
    )
    .unwrap();
    // The CLI runs in another folder, and the controller in aloft's home.
    let out = jobs(home.path(), &["launch", "-d", "-y", task.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let done = wait_for(home.path(), &id, "the end", |j| {
        j["status"] == "SUCCEEDED" || j["status"] == "FAILED" || j["status"] == "FAILED_SETUP"
    });
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let logs = jobs(home.path(), &["logs", "--no-follow", &id]);
    assert!(
        text(&logs.stdout).contains("marker-42"),
        "{}",
        text(&logs.stdout)
    );
}

/// The question before a launch names the job as it will be named: a pipeline's
/// header name wins over its first task's (the question used to show the task's).
#[test]
fn the_launch_question_names_a_pipeline_job_by_its_header() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("pipe.yaml");
    std::fs::write(
        &task,
        "name: pipe\n---\nname: first\nrun: echo a\n---\nname: second\nrun: echo b\n",
    )
    .unwrap();
    let out = jobs(home.path(), &["launch", task.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("Launching a managed job `pipe`"), "{err}");
    let queue = job(home.path(), "1");
    assert!(
        queue.is_null(),
        "nothing is submitted without a yes: {queue}"
    );
}
