//! A switching SkyPilot user's flags and forms on the `local` provider (issue 26,
//! items 16-19): the jobs controller's log with readable times, `-v` as SkyPilot's
//! "all fields", `gpus list` as `sky gpus list` lists, `--gpus none`, `check` of
//! named clouds, `cancel` of a glob, `logs -s/-w` and `start -f`.

use crate::common;

use common::text;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// Runs `aloft ARGS` (no terminal) with `ALOFT_HOME=home` and a fast managed-jobs
/// controller, killed after 90 s: a command that should fail at once must not
/// hang the test instead.
fn aloft(home: &Path, args: &[&str]) -> Output {
    std::process::Command::new("timeout")
        .arg("90")
        .arg(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .envs([
            ("ALOFT_JOBS_POLL_MS", "200"),
            ("ALOFT_JOBS_IDLE_MS", "3000"),
            ("ALOFT_JOBS_RETRY_MS", "200"),
        ])
        .output()
        .expect("run aloft under coreutils `timeout`")
}

/// stdout and stderr together.
fn said(out: &Output) -> String {
    text(&out.stdout) + &text(&out.stderr)
}

/// stdout of a command that must succeed.
fn ok(home: &Path, args: &[&str]) -> String {
    let out = aloft(home, args);
    assert!(out.status.success(), "{args:?}: {}", said(&out));
    text(&out.stdout)
}

/// Whether `text` starts with a UTC time as `2026-12-06 22:10:03`.
fn starts_with_utc(text: &str) -> bool {
    let Some(head) = text.get(..19) else {
        return false;
    };
    head.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b' ',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    })
}

/// Whether `text` holds a UTC time anywhere.
fn holds_utc(text: &str) -> bool {
    text.char_indices()
        .any(|(i, _)| starts_with_utc(&text[i..]))
}

/// The managed job `id` as `jobs queue -o json` shows it.
fn managed_job(home: &Path, id: &str) -> serde_json::Value {
    let all: serde_json::Value =
        serde_json::from_str(&ok(home, &["jobs", "queue", "-o", "json"])).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"].as_i64().map(|v| v.to_string()).as_deref() == Some(id))
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

/// Item 16 (and `jobs launch --gpus none`, `jobs queue -v`): the controller's log
/// shows its own lines and the job's events, each with a readable UTC time, not
/// `jobs controller 12450 started at 1796568566`.
#[test]
fn the_jobs_controller_log_shows_events_with_readable_times() {
    let home = tempfile::tempdir().unwrap();
    // A task that asks for a GPU; `--gpus none` takes it back, as in SkyPilot.
    let task = home.path().join("train.yaml");
    std::fs::write(
        &task,
        "name: train\nresources:\n  accelerators: A100:1\nrun: echo trained\n",
    )
    .unwrap();
    let id = ok(
        home.path(),
        &[
            "jobs",
            "launch",
            "-d",
            "-y",
            "--gpus",
            "none",
            "--infra",
            "local",
            task.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let job = managed_job(home.path(), &id);
        if job["status"] == "SUCCEEDED" {
            break;
        }
        assert!(Instant::now() < deadline, "the job never succeeded: {job}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = ok(home.path(), &["jobs", "logs", "--controller"]);
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.iter().any(|l| starts_with_utc(l)
            && l.contains(" jobs controller ")
            && l.ends_with(" started")),
        "{log}"
    );
    let event = |what: &str| {
        let prefix = format!(" job {id}: {what}");
        lines
            .iter()
            .any(|l| starts_with_utc(l) && l[19..].starts_with(&prefix))
    };
    for what in ["submitted", "launched: ", "ended: SUCCEEDED"] {
        assert!(event(what), "no `{what}` event of job {id}:\n{log}");
    }
    assert!(!log.contains(" started at "), "{log}");
    // `jobs queue -v`: every field, the start time in UTC among them.
    let queue = ok(home.path(), &["jobs", "queue", "-v"]);
    assert!(queue.contains("STARTED (UTC)"), "{queue}");
    assert!(holds_utc(&queue), "{queue}");
    let short = ok(home.path(), &["jobs", "queue"]);
    assert!(!short.contains("STARTED (UTC)"), "{short}");
}

/// Item 17: `-v` is SkyPilot's "all fields" on `status`, `storage ls`, `gpus list`
/// and `check`; log output has a long flag of its own.
#[test]
fn verbose_shows_all_fields_and_log_output_has_a_long_flag() {
    let home = tempfile::tempdir().unwrap();
    ok(
        home.path(),
        &["launch", "-y", "-c", "box", "--infra", "local"],
    );
    let status = ok(home.path(), &["status"]);
    assert!(!status.contains("LAUNCHED"), "{status}");
    let status = ok(home.path(), &["status", "-v"]);
    assert!(status.contains("LAUNCHED (UTC)"), "{status}");
    assert!(holds_utc(&status), "{status}");
    assert_eq!(
        ok(home.path(), &["status", "--verbose"]),
        status,
        "--verbose is -v"
    );
    // Log output: a long flag (or ALOFT_LOG), which `-v` no longer is.
    let out = aloft(home.path(), &["--log", "debug", "status"]);
    assert!(out.status.success(), "{}", said(&out));

    // A bucket aloft created, with a long source: cut without -v, whole with it.
    let source = format!("/data/{}/train", "x".repeat(60));
    {
        let db = aloft::state::StateDb::open(&home.path().join("state.db")).unwrap();
        db.add_storage(&aloft::state::StorageRecord {
            name: "my-bucket".into(),
            store: "S3".into(),
            region: "us-east-1".into(),
            source: Some(source.clone()),
            created_at: 1_796_568_566,
            cluster: None,
        })
        .unwrap();
    }
    let ls = ok(home.path(), &["storage", "ls"]);
    assert!(ls.contains("2026-12-06 14:49:26"), "created in UTC: {ls}");
    assert!(!ls.contains(&source), "{ls}");
    let ls = ok(home.path(), &["storage", "ls", "-v"]);
    assert!(ls.contains(&source), "{ls}");

    let gpus = ok(home.path(), &["gpus", "list", "A100:8", "-v"]);
    assert!(gpus.contains("DEVICE_MEM"), "{gpus}");
    ok(home.path(), &["down", "-y", "box"]);
}

/// Item 18: `gpus list` lists as `sky gpus list` does: each accelerator the name
/// matches in a table of its own, the name asked for first; `--infra cloud/region`
/// lists that region; `--gpus none` means no accelerator on launch and exec.
#[test]
fn gpus_list_and_gpus_none_follow_skypilot() {
    let home = tempfile::tempdir().unwrap();
    let out = ok(home.path(), &["gpus", "list", "A100:8"]);
    let tables: Vec<&str> = out.split('┌').filter(|t| !t.trim().is_empty()).collect();
    assert!(tables.len() >= 2, "{out}");
    let gpus_of = |table: &str| -> Vec<String> {
        table
            .lines()
            .filter_map(|l| l.strip_prefix("│ "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|g| g != "GPU")
            .collect()
    };
    let first = gpus_of(tables[0]);
    assert!(
        !first.is_empty() && first.iter().all(|g| g == "A100"),
        "the exact name's table first, alone: {out}"
    );
    assert!(
        tables[1..]
            .iter()
            .any(|t| gpus_of(t).iter().any(|g| g == "A100-80GB")),
        "A100-80GB in a table of its own: {out}"
    );
    for table in &tables {
        assert!(gpus_of(table).windows(2).all(|w| w[0] == w[1]), "{out}");
    }

    // A region in --infra lists that region's offers only.
    let json = ok(
        home.path(),
        &[
            "gpus",
            "list",
            "A100:8",
            "--infra",
            "aws/eu-west-1",
            "-o",
            "json",
        ],
    );
    let listings: serde_json::Value = serde_json::from_str(&json).unwrap();
    let offers: Vec<&serde_json::Value> = listings
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["offers"].as_array().unwrap())
        .collect();
    assert!(!offers.is_empty(), "{json}");
    for offer in offers {
        assert_eq!(offer["region"], "eu-west-1", "{json}");
        assert_eq!(offer["cloud"], "aws", "{json}");
    }

    // --gpus none: the task's accelerator is taken back.
    let task = home.path().join("gpu.yaml");
    std::fs::write(
        &task,
        "resources:\n  accelerators: A100:1\nrun: echo ran without a GPU\n",
    )
    .unwrap();
    let plan = ok(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--gpus",
            "none",
            "--infra",
            "local",
            task.to_str().unwrap(),
        ],
    );
    assert!(plan.contains("no accelerators"), "{plan}");
    let launched = ok(
        home.path(),
        &[
            "launch",
            "-y",
            "-c",
            "cpu",
            "--gpus",
            "NONE",
            "--infra",
            "local",
            task.to_str().unwrap(),
        ],
    );
    assert!(launched.contains("ran without a GPU"), "{launched}");
    let exec = ok(
        home.path(),
        &["exec", "cpu", "--gpus", "none", task.to_str().unwrap()],
    );
    assert!(exec.contains("ran without a GPU"), "{exec}");
    ok(home.path(), &["down", "-y", "cpu"]);
}

/// Item 19, `check`: only the clouds named, the account with `-v`, a typo named.
#[test]
fn check_names_clouds_and_shows_accounts_with_verbose() {
    let home = tempfile::tempdir().unwrap();
    let out = ok(home.path(), &["check", "local"]);
    assert_eq!(out.trim(), "local: enabled", "{out}");
    let out = ok(home.path(), &["check", "-v", "LOCAL", "local"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.trim().starts_with("local: enabled ("), "{out}");
    let out = aloft(home.path(), &["check", "lcoal"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no provider named `lcoal` (did you mean `local`?)"),
        "{}",
        said(&out)
    );
}

/// Item 19: `cancel` of a glob, `logs -s`/`-w`, and `start -f` bringing back a
/// cluster's agent that died while the cluster is UP.
#[test]
fn cancel_takes_a_glob_logs_short_forms_and_start_force() {
    let home = tempfile::tempdir().unwrap();
    for (name, nodes) in [("exp-a", "2"), ("exp-b", "1")] {
        ok(
            home.path(),
            &[
                "launch",
                "-y",
                "-d",
                "-c",
                name,
                "--num-nodes",
                nodes,
                "--infra",
                "local",
                "sleep 600",
            ],
        );
    }
    let out = ok(home.path(), &["cancel", "-y", "exp-*"]);
    assert!(
        out.contains("on `exp-a`") && out.contains("on `exp-b`"),
        "{out}"
    );
    for name in ["exp-a", "exp-b"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let queue: serde_json::Value =
                serde_json::from_str(&ok(home.path(), &["queue", name, "-o", "json"])).unwrap();
            if queue[0]["status"] == "CANCELLED" {
                break;
            }
            assert!(Instant::now() < deadline, "{name}: {queue}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let out = aloft(home.path(), &["cancel", "-y", "exp-*", "1"]);
    assert!(!out.status.success(), "{}", said(&out));
    assert!(
        text(&out.stderr).contains("job ids belong to one cluster"),
        "{}",
        said(&out)
    );

    // logs -s (sync down) and -w N (one node), SkyPilot's short forms.
    ok(
        home.path(),
        &[
            "exec",
            "exp-a",
            "--num-nodes",
            "2",
            "echo from node $SKYPILOT_NODE_RANK",
        ],
    );
    let synced = ok(home.path(), &["logs", "-s", "exp-a", "2"]);
    let path = synced.trim();
    assert!(
        std::fs::read_to_string(path)
            .is_ok_and(|t| t.contains("from node 0") && t.contains("from node 1")),
        "{synced}"
    );
    let out = ok(
        home.path(),
        &["logs", "-w", "1", "--no-follow", "exp-a", "2"],
    );
    assert!(
        out.contains("from node 1") && !out.contains("from node 0"),
        "{out}"
    );

    // The agent of an UP cluster dies: start says it is UP; start -f repairs it.
    let pid_file = home
        .path()
        .join("local/exp-a/local-exp-a-0/.aloft/agent/agent.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = |pid: i32| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "agent {pid} outlived SIGKILL");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = aloft(home.path(), &["start", "exp-a"]);
    assert!(said(&out).contains("already UP"), "{}", said(&out));
    let out = aloft(home.path(), &["start", "-f", "exp-a"]);
    assert!(out.status.success(), "{}", said(&out));
    let again: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(again, pid);
    assert!(alive(again), "start -f did not start the agent again");
    let out = ok(home.path(), &["exec", "exp-a", "echo agent back"]);
    assert!(out.contains("agent back"), "{out}");
    ok(home.path(), &["down", "-y", "exp-*"]);
}
