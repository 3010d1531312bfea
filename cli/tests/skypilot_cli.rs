//! SkyPilot's command lines work as a switching user types them, on a `local`
//! cluster (or as a dry run where no cluster is needed). Table-driven: each row is a
//! command line, whether it must succeed, and what its output must hold.

use crate::common;

use common::{aloft, text};

#[test]
fn skypilot_style_command_lines_do_what_skypilot_does() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    std::fs::write(dir.join("good.env"), "# comment\nLR=0.1\nEPOCHS=\"3\"\n").unwrap();
    std::fs::write(dir.join("bad.env"), "LR=0.1\nthis line is not dotenv\n").unwrap();
    std::fs::write(
        dir.join("secrets.env"),
        "HF_TOKEN=hf_not_printed_anywhere\n",
    )
    .unwrap();
    let env_file = format!("{}/good.env", dir.display());
    let bad_env = format!("{}/bad.env", dir.display());
    let secret_file = format!("{}/secrets.env", dir.display());
    let leaked = |out: &std::process::Output| {
        text(&out.stdout).contains("hf_not_printed_anywhere")
            || text(&out.stderr).contains("hf_not_printed_anywhere")
    };
    let rows: Vec<(Vec<String>, bool, &str)> = vec![
        // The quickstart's first two commands: a dev box with no task, an inline command.
        (
            vec!["launch", "-y", "-c", "dev", "--infra", "local"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "Cluster `dev` is UP",
        ),
        (
            vec!["launch", "-y", "-c", "dev"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "nothing new is provisioned",
        ),
        (
            vec![
                "launch",
                "-y",
                "-c",
                "cmd",
                "--infra",
                "local",
                "echo inline-$SKYPILOT_NODE_RANK",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            true,
            "inline-0",
        ),
        (
            vec![
                "launch",
                "-y",
                "-c",
                "dash",
                "--infra",
                "local",
                "--",
                "echo",
                "after-dashes",
                "--lr",
                "1",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            true,
            "after-dashes --lr 1",
        ),
        (
            vec![
                "launch",
                "-y",
                "-c",
                "envf",
                "--infra",
                "local",
                "--env-file",
                &env_file,
                "--secret-file",
                &secret_file,
                "echo lr=$LR epochs=$EPOCHS token=${#HF_TOKEN}",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            true,
            "lr=0.1 epochs=3 token=23",
        ),
        // exec takes the rest of the line; cancel without ids takes the latest job.
        (
            vec!["exec", "dev", "echo", "exec", "--lr", "1"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "exec --lr 1",
        ),
        (
            vec!["logs", "dev"].into_iter().map(String::from).collect(),
            true,
            "exec --lr 1",
        ),
        (
            vec!["cancel", "-y", "dev"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "Job 1: nothing cancelled, it already ended SUCCEEDED",
        ),
        (
            vec!["queue"].into_iter().map(String::from).collect(),
            true,
            "Job queue of cluster dash",
        ),
        (
            vec!["queue", "d*"].into_iter().map(String::from).collect(),
            true,
            "Job queue of cluster dev",
        ),
        (
            vec!["autostop", "-a", "-i", "30"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "`envf` will stop after 30 idle minute(s)",
        ),
        (
            vec!["status", "d*"].into_iter().map(String::from).collect(),
            true,
            "dash",
        ),
        (
            vec!["gpus", "list", "A100:8"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "gpu_8x_a100",
        ),
        (
            vec!["show-gpus", "H100"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "H100",
        ),
        (
            vec![
                "launch",
                "--dryrun",
                "--gpus",
                "A100:8",
                "--all-clouds",
                "--no-use-spot",
                "nvidia-smi",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            true,
            "Chosen:",
        ),
        (
            vec!["completion", "bash"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "_aloft()",
        ),
        (
            vec!["completion", "zsh"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "#compdef aloft",
        ),
        (
            vec!["completion", "fish"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "complete -c aloft",
        ),
        (
            vec![
                "launch",
                "-y",
                "-c",
                "web",
                "--infra",
                "local",
                "--ports",
                "8080",
                "--ports",
                "9000-9001",
                "echo serving",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            true,
            "serving",
        ),
        (
            vec!["status", "--endpoints", "web"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "8080: 127.0.0.1:8080",
        ),
        (
            vec!["status", "--endpoint", "9001", "web"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "127.0.0.1:9001",
        ),
        (
            vec!["status", "--endpoint", "22", "web"]
                .into_iter()
                .map(String::from)
                .collect(),
            false,
            "port 22 is not open on `web`",
        ),
        (
            vec!["logs", "--sync-down", "web"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "/logs/web/job-1.log",
        ),
        (
            vec![
                "launch",
                "-y",
                "-c",
                "pair",
                "--infra",
                "local",
                "--num-nodes",
                "2",
                "echo from-$SKYPILOT_NODE_RANK",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            true,
            "(rank 1) from-1",
        ),
        (
            vec!["logs", "--worker", "1", "pair"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "from-1",
        ),
        (
            vec!["stop", "-y", "pair"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "stopped",
        ),
        (
            vec!["start", "-r", "-i", "30", "pair"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
            "is UP again",
        ),
        // Bad input: clear errors, nothing changed.
        (
            vec!["launch", "-y", "missing.yaml"]
                .into_iter()
                .map(String::from)
                .collect(),
            false,
            "missing.yaml: no such task file",
        ),
        (
            vec!["down", "zz-*"].into_iter().map(String::from).collect(),
            false,
            "no cluster matches `zz-*`",
        ),
        (
            vec![
                "launch",
                "--dryrun",
                "--env-file",
                &bad_env,
                "--infra",
                "local",
                "echo",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            false,
            "bad.env:2: not a KEY=VALUE line",
        ),
        (
            vec!["down", "'cmd'", "d*"]
                .into_iter()
                .map(String::from)
                .collect(),
            false,
            "no cluster named `'cmd'`",
        ),
    ];
    let worker_only = |out: &std::process::Output| !text(&out.stdout).contains("from-0");
    for (args, ok, shows) in &rows {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = aloft(dir, &argv);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(
            out.status.success(),
            *ok,
            "aloft {}:\n{all}",
            argv.join(" ")
        );
        assert!(
            all.contains(shows),
            "aloft {}: expected `{shows}` in:\n{all}",
            argv.join(" ")
        );
        assert!(
            !leaked(&out),
            "aloft {}: a secret was printed",
            argv.join(" ")
        );
        if argv.contains(&"--worker") {
            assert!(worker_only(&out), "only node 1's lines: {all}");
        }
    }
    // The failed `down` above touched nothing: every cluster is still there.
    let s = aloft(dir, &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    let mut names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["cmd", "dash", "dev", "envf", "pair", "web"]);
    // Glob patterns tear down what they match, and only that.
    let out = aloft(dir, &["down", "-y", "d*"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = aloft(dir, &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    let mut names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["cmd", "envf", "pair", "web"]);
    // `down -a` asks first; with no terminal to ask and no -y it refuses, and
    // every cluster stays.
    let refused = aloft(dir, &["down", "-a"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("pass -y"),
        "{}",
        text(&refused.stderr)
    );
    let s = aloft(dir, &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 4, "{rows}");
    assert!(aloft(dir, &["down", "-a", "-y"]).status.success());
    let s = aloft(dir, &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 0, "{rows}");
}

/// Runs `aloft ARGS` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn aloft_on_terminal(home: &std::path::Path, args: &str, answer: &str) -> (bool, String) {
    use std::io::Write;
    let command = format!("'{}' {args}", env!("CARGO_BIN_EXE_aloft"));
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("ALOFT_HOME", home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

#[test]
fn a_launch_that_creates_a_cluster_shows_the_plan_and_asks_first() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let task = format!("{}/../examples/hello.yaml", env!("CARGO_MANIFEST_DIR"));
    let clusters = || {
        let s = aloft(dir, &["status", "-o", "json"]);
        !serde_json::from_slice::<Vec<serde_json::Value>>(&s.stdout)
            .unwrap()
            .is_empty()
    };
    // No terminal and no -y: refused before anything is created.
    let out = aloft(dir, &["launch", "-c", "asked", &task]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("pass -y"),
        "{}",
        text(&out.stderr)
    );
    assert!(!clusters(), "nothing may be created without a yes");
    // On a terminal: the plan, the question; "n" launches nothing.
    let (ok, shown) = aloft_on_terminal(dir, &format!("launch -c asked {task}"), "n\n");
    assert!(!ok, "{shown}");
    assert!(shown.contains("Chosen: local"), "{shown}");
    assert!(
        shown.contains("Launching a new cluster `asked`. Proceed? [Y/n]"),
        "{shown}"
    );
    assert!(!clusters(), "a no launches nothing: {shown}");
    // An empty answer takes the default, yes: the job runs.
    let (ok, shown) = aloft_on_terminal(dir, &format!("launch -c asked {task}"), "\n");
    assert!(ok, "{shown}");
    assert!(shown.contains("hello from node 0 of 1"), "{shown}");
    assert!(clusters());
    // Reusing the cluster asks nothing, even without a terminal.
    let out = aloft(dir, &["launch", "-c", "asked", &task]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // `down NAME` asks as SkyPilot does; "n" tears nothing down.
    let (ok, shown) = aloft_on_terminal(dir, "down asked", "n\n");
    assert!(!ok, "{shown}");
    assert!(
        shown.contains("Terminating 1 cluster: asked. Proceed? [Y/n]"),
        "{shown}"
    );
    assert!(clusters(), "a no tears nothing down: {shown}");
    assert!(aloft(dir, &["down", "-y", "asked"]).status.success());
}
