//! A switching SkyPilot user's first hour on the `local` provider (issue 26, items
//! 1-11): a dev box, reusing it, tasks that do not fit, failed and finished jobs,
//! a stopped cluster, typos, and the questions SkyPilot asks.

use crate::common;

use common::text;

use std::path::Path;
use std::process::Output;

/// Runs `aloft ARGS` (no terminal) with `ALOFT_HOME=home`, killed after 60 s: a
/// command that should fail at once must not hang the test instead.
fn aloft(home: &Path, args: &[&str]) -> Output {
    std::process::Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .output()
        .expect("run aloft under coreutils `timeout`")
}

/// stdout and stderr together.
fn said(out: &Output) -> String {
    text(&out.stdout) + &text(&out.stderr)
}

/// The job queue of `cluster`, as JSON.
fn jobs(home: &Path, cluster: &str) -> Vec<serde_json::Value> {
    let out = aloft(home, &["queue", cluster, "-o", "json"]);
    assert!(out.status.success(), "{}", said(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_dev_box_is_reused_by_what_fits_and_a_misfit_is_named() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    // Item 4: a dev box queues no job and prints no id.
    let out = aloft(
        dir,
        &[
            "launch", "-y", "-c", "dev", "--infra", "local", "--ports", "8080",
        ],
    );
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(text(&out.stdout), "", "no job id: {}", said(&out));
    assert!(said(&out).contains("no job"), "{}", said(&out));
    assert_eq!(jobs(dir, "dev"), Vec::<serde_json::Value>::new());

    // Item 2: a task that leaves infra and ports out fits the cluster.
    let out = aloft(dir, &["launch", "-y", "-c", "dev", "echo reused"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(text(&out.stdout), "reused\n");
    // A real misfit names the field in words, never raw JSON.
    let out = aloft(
        dir,
        &["launch", "-y", "-c", "dev", "--gpus", "A100", "echo x"],
    );
    assert!(!out.status.success());
    assert!(
        said(&out).contains("accelerators: the task asks for A100:1; the cluster has none"),
        "{}",
        said(&out)
    );
    assert!(!said(&out).contains("AnyOf"), "{}", said(&out));

    // Item 5: exec refuses a task that does not fit, however its resources came.
    for (flags, field) in [
        (&["--gpus", "A100"][..], "accelerators:"),
        (&["--num-nodes", "2"][..], "num_nodes:"),
        (&["--cpus", "64+"][..], "cpus:"),
        (&["--infra", "aws"][..], "infra:"),
    ] {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.extend(["dev", "echo", "never"]);
        let out = aloft(dir, &args);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", said(&out));
        assert!(said(&out).contains(field), "{flags:?}: {}", said(&out));
    }
    assert_eq!(jobs(dir, "dev").len(), 1, "nothing more was queued");

    // Item 6: logs of a failed job exit 100; cancelling a finished job cancels
    // nothing and says so.
    let out = aloft(dir, &["exec", "dev", "exit 3"]);
    assert_eq!(out.status.code(), Some(100), "{}", said(&out));
    let out = aloft(dir, &["logs", "dev", "2"]);
    assert_eq!(out.status.code(), Some(100), "{}", said(&out));
    assert!(said(&out).contains("job 2 ended FAILED"), "{}", said(&out));
    let out = aloft(dir, &["logs", "dev", "1"]);
    assert!(out.status.success(), "{}", said(&out));
    let out = aloft(dir, &["cancel", "-y", "dev", "1"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("Job 1: nothing cancelled, it already ended SUCCEEDED"),
        "{}",
        said(&out)
    );
    assert!(
        !said(&out).contains("cancellation requested"),
        "{}",
        said(&out)
    );
    // Item 7: cancel asks first; with no terminal and no -y it refuses.
    let out = aloft(dir, &["cancel", "dev", "1"]);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("Cancelling job 1 on cluster `dev`"),
        "{}",
        said(&out)
    );
    assert!(said(&out).contains("pass -y"), "{}", said(&out));

    // Item 9: a misspelled name gets a suggestion.
    let out = aloft(dir, &["logs", "dve"]);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("no cluster named `dve` (did you mean `dev`?) (clusters: dev)"),
        "{}",
        said(&out)
    );

    // Item 8: ssh-setup says plainly that a local cluster has no SSH entry.
    let ssh_config = dir.join("ssh_config");
    let out = aloft(
        dir,
        &["ssh-setup", "--config", ssh_config.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("dev: local, no SSH entry: `cd "),
        "{}",
        said(&out)
    );
    assert!(!said(&out).contains("now works"), "{}", said(&out));

    // Item 7: stop asks; refused without a terminal, the cluster stays UP.
    let out = aloft(dir, &["stop", "dev"]);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("Stopping 1 cluster: dev") && said(&out).contains("pass -y"),
        "{}",
        said(&out)
    );
    let out = aloft(dir, &["stop", "-y", "dev"]);
    assert!(out.status.success(), "{}", said(&out));

    // Item 1: a stopped cluster's jobs fail at once, naming the state and the way back.
    for args in [
        &["exec", "dev", "echo", "late"][..],
        &["logs", "dev"][..],
        &["logs", "dev", "1"][..],
        &["queue", "dev"][..],
        &["cancel", "-y", "dev", "1"][..],
    ] {
        let started = std::time::Instant::now();
        let out = aloft(dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", said(&out));
        assert!(
            said(&out).contains("cluster `dev` is STOPPED: `aloft start dev` brings it back"),
            "{args:?}: {}",
            said(&out)
        );
        assert!(started.elapsed().as_secs() < 30, "{args:?} waited");
    }

    // Item 7: down NAME asks too; refused without a terminal, nothing torn down.
    let out = aloft(dir, &["down", "dev"]);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("Terminating 1 cluster: dev"),
        "{}",
        said(&out)
    );
    let out = aloft(dir, &["status", "-o", "json"]);
    assert!(text(&out.stdout).contains("\"dev\""), "{}", said(&out));
    let out = aloft(dir, &["down", "-y", "dev"]);
    assert!(out.status.success(), "{}", said(&out));
}

#[test]
fn flags_and_files_a_skypilot_user_types() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let task = dir.join("task.yaml");
    std::fs::write(
        &task,
        "resources: {accelerators: A100:8}\nrun: nvidia-smi\n",
    )
    .unwrap();
    let task = task.to_str().unwrap();
    // Item 3: --use-spot is a flag: the task file after it stays the task file.
    let out = aloft(
        dir,
        &["launch", "--dryrun", "--all-clouds", "--use-spot", task],
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("[Spot]"), "{}", said(&out));
    let out = aloft(
        dir,
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            "--use-spot",
            "--no-use-spot",
            task,
        ],
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        !said(&out).contains("[Spot]"),
        "the last of the two wins: {}",
        said(&out)
    );
    // Item 7: jobs launch asks first (so, with no terminal, it refuses) — after
    // reading the task file that follows --use-spot.
    let out = aloft(dir, &["jobs", "launch", "--use-spot", task]);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("Launching a managed job"),
        "{}",
        said(&out)
    );
    assert!(said(&out).contains("pass -y"), "{}", said(&out));

    // Item 10: a bucket aloft does not know is named as such, with no cloud call.
    let out = aloft(dir, &["storage", "delete", "no-such-bucket"]);
    assert!(!out.status.success());
    assert!(
        said(&out)
            .contains("no bucket named `no-such-bucket` that aloft created (aloft created none)"),
        "{}",
        said(&out)
    );
    assert!(!said(&out).contains("credentials"), "{}", said(&out));

    // Item 11: a pipeline given to launch points to `aloft jobs launch`.
    let pipeline = dir.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        "name: p\n---\nname: a\nrun: echo a\n---\nname: b\nrun: echo b\n",
    )
    .unwrap();
    let out = aloft(dir, &["launch", "-y", pipeline.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(said(&out).contains("`aloft jobs launch`"), "{}", said(&out));
    assert!(!said(&out).contains("does not have yet"), "{}", said(&out));
}

/// Item 12: SkyPilot's job-group example is refused by name by every verb that
/// reads a task file, before anything is planned, launched or queued.
#[test]
fn a_job_group_is_refused_by_name_everywhere() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let group = dir.join("group.yaml");
    std::fs::write(
        &group,
        "---\nname: train-with-services\nexecution: parallel\nprimary_tasks: [trainer]\n\
         ---\nname: trainer\nrun: echo train\n---\nname: data-server\nrun: sleep 600\n",
    )
    .unwrap();
    let group = group.to_str().unwrap();
    for verb in [
        &["launch", "--dryrun", group][..],
        &["launch", "-y", "-c", "g", group],
        &["jobs", "launch", "-y", group],
        &["serve", "up", "-y", group],
    ] {
        let out = aloft(dir, verb);
        assert_eq!(out.status.code(), Some(2), "{verb:?}: {}", said(&out));
        let said = said(&out);
        assert!(said.contains("group.yaml:3:"), "{verb:?}: {said}");
        assert!(said.contains("execution"), "{verb:?}: {said}");
        assert!(said.contains("job group"), "{verb:?}: {said}");
    }
    let out = aloft(dir, &["status", "-o", "json"]);
    assert_eq!(text(&out.stdout).trim(), "[]", "{}", said(&out));
}
