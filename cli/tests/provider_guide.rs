//! The provider guide's commands run as written: every code block of
//! docs/provider-guide.md whose fence reads ```` ```sh ci ```` runs, in order, in one
//! bash shell from the repository root, with `aloft` (this build) on `PATH`, a fresh
//! `ALOFT_HOME`, and `HELLO_CLOUD_API` pointing at a fake of hello-cloud's API
//! (`tests/fakes/hello_cloud.py`). They build the example provider, run the
//! conformance kit on it, install it and plan with it; the test then checks what
//! each step printed, so the guide cannot drift from the code.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{KillOnDrop, text};

/// The bodies of the guide's ```` ```sh ci ```` blocks, in order.
fn ci_blocks(guide: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in guide.lines() {
        match current.as_mut() {
            None if line.trim_end() == "```sh ci" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an unclosed ```sh ci block");
    blocks
}

/// `(file, body)` of the guide's blocks whose fence names `excerpt=FILE`.
fn excerpts(guide: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in guide.lines() {
        match current.as_mut() {
            None => {
                current = line
                    .strip_prefix("```")
                    .and_then(|info| {
                        info.split_whitespace()
                            .find_map(|w| w.strip_prefix("excerpt="))
                    })
                    .map(|file| (file.to_string(), String::new()));
            }
            Some(_) if line.trim_end() == "```" => found.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    found
}

#[test]
fn the_guides_excerpts_are_in_the_example_line_for_line() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = std::fs::read_to_string(repo.join("docs/provider-guide.md")).unwrap();
    let blocks = excerpts(&guide);
    assert!(blocks.len() >= 2, "{blocks:?}");
    for (file, body) in blocks {
        let source = std::fs::read_to_string(repo.join(&file)).unwrap();
        let lines: Vec<&str> = source.lines().map(str::trim_end).collect();
        let mut at = 0;
        for wanted in body
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && l.trim() != "// ...")
        {
            match lines[at..].iter().position(|l| *l == wanted) {
                Some(offset) => at += offset + 1,
                None => panic!(
                    "the guide's excerpt of {file} has a line not in it (in this order): {wanted:?}"
                ),
            }
        }
    }
}

#[test]
fn the_guides_commands_build_test_install_and_plan_with_the_example() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = std::fs::read_to_string(repo.join("docs/provider-guide.md")).unwrap();
    let blocks = ci_blocks(&guide);
    assert!(blocks.len() >= 4, "the guide's runnable blocks: {blocks:?}");

    let mut fake = Command::new("python3")
        .arg(repo.join("tests/fakes/hello_cloud.py"))
        .args(["--token", "example-token"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tests/fakes/hello_cloud.py with python3");
    let mut first = String::new();
    if let Some(out) = fake.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut first);
    }
    let _fake = KillOnDrop(fake);
    let port: u16 = first
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the fake did not start: {first:?}"));

    let scratch = tempfile::tempdir().unwrap();
    let bin = scratch.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_aloft"), bin.join("aloft")).unwrap();
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -euo pipefail\n{}", blocks.concat());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&repo)
        .env("PATH", path)
        .env("ALOFT_HOME", scratch.path().join("home"))
        .env("TMPDIR", &tmp)
        .env("HELLO_CLOUD_API", format!("http://127.0.0.1:{port}"))
        .env_remove("HELLO_CLOUD_TOKEN")
        // The example's build shares the test components' target folder (as
        // `aloft_tests::components` builds it), so it is not built twice.
        .env("CARGO_TARGET_DIR", repo.join("target/wasm"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{script}\n---\n{stdout}\n---\n{stderr}"
    );
    // providers test: every check passed, terminate included.
    for line in [
        "ok    run(2) creates two nodes",
        "ok    run is idempotent (nothing created or resumed, same nodes)",
        "ok    query after terminate: nothing left",
    ] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
    assert!(stderr.contains("every check passed"), "{stderr}");
    // install, list, check.
    assert!(
        scratch
            .path()
            .join("home/providers/hello-cloud.wasm")
            .is_file(),
        "{stderr}"
    );
    assert!(stdout.contains("hello-cloud"), "{stdout}");
    // The plan chose the example provider, from its live offer.
    assert!(
        stderr.contains("(asked provider for live offers: hello-cloud)"),
        "{stderr}"
    );
    assert!(
        stdout.contains("Chosen: hello-cloud (hello-1) hello-small"),
        "{stdout}"
    );
}

/// The worked example does what the guide's "SSH and nodes" section asks: it
/// hands run-request's public key to its cloud, which puts it on the node, and
/// returns the node's address, port and user, so a launch reaches the node (a
/// real sshd "machine" the fake gives every instance) and runs the job there.
#[test]
fn the_example_puts_the_clusters_key_on_its_node_and_a_job_runs_there() {
    use aloft_tests::sshd::Sshd;
    let home = tempfile::tempdir().unwrap();
    let machine = Sshd::start_machine(&home.path().join("m0"), "127.0.0.150");
    let ssh_node = format!(
        "{}:{}:{}:{}",
        machine.ip,
        machine.port,
        machine.user,
        machine.authorized_keys_path().display()
    );
    let (fake, port) = aloft_tests::fakes::spawn_reporting_port(
        Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fakes/hello_cloud.py"))
            .args(["--token", "example-token", "--ssh-node", &ssh_node]),
        "tests/fakes/hello_cloud.py with python3",
    );
    let _fake = KillOnDrop(fake);
    let wasm = home.path().join("hello_cloud.wasm");
    std::fs::write(&wasm, aloft_tests::components::example("hello-cloud")).unwrap();
    let env = [("HELLO_CLOUD_TOKEN", "example-token")];
    let out = common::aloft_env(
        home.path(),
        &["providers", "install", "-y", wasm.to_str().unwrap()],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(
        home.path().join("config.yaml"),
        format!(
            "clouds: [hello-cloud]\nproviders:\n  hello-cloud:\n    endpoint: http://127.0.0.1:{port}\n"
        ),
    )
    .unwrap();
    let task = home.path().join("task.yaml");
    std::fs::write(
        &task,
        "resources: {infra: hello-cloud}\nrun: echo ran on hello-cloud as $(whoami)\n",
    )
    .unwrap();
    let keys_before = std::fs::read_to_string(machine.authorized_keys_path()).unwrap();
    let out = common::aloft_env(
        home.path(),
        &["launch", "-y", "-c", "hc", task.to_str().unwrap()],
        &env,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("ran on hello-cloud as {}", machine.user)),
        "{stdout}\n{stderr}"
    );
    // The key the cloud put on the node is the cluster's own, added by the launch.
    let keys = std::fs::read_to_string(machine.authorized_keys_path()).unwrap();
    let added: Vec<&str> = keys.lines().filter(|l| !keys_before.contains(*l)).collect();
    assert_eq!(added.len(), 1, "{keys}");
    assert!(added[0].starts_with("ssh-"), "{keys}");
    let out = common::aloft_env(home.path(), &["down", "-y", "hc"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
