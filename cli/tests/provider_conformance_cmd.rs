//! `aloft providers test`: the conformance kit run from the outside, with nothing
//! but the `aloft` binary and a component file.

use crate::common;

use common::{aloft, text};

use aloft_tests::components::provider;
use aloft_tests::moto::Moto;

#[test]
fn the_bundled_local_provider_passes_and_a_broken_setup_fails_naming_the_check() {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("local.wasm");
    std::fs::write(&wasm, provider("local")).unwrap();
    let root = home.path().join("nodes");
    let root_setting = format!("root={}", root.display());
    let out = aloft(
        home.path(),
        &[
            "providers",
            "test",
            "-y",
            wasm.to_str().unwrap(),
            "--region",
            "local",
            "--zone",
            "local-a",
            "--instance-type",
            "local-2cpu",
            "--capacity-zone",
            "local-b",
            "--setting",
            &root_setting,
            "--setting",
            "fail_capacity_zones=local-b",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for check in [
        "ok    run(2) creates two nodes",
        "ok    run is idempotent",
        "ok    query after stop: every node stopped",
        "ok    query after terminate: nothing left",
        "ok    a refused launch is a typed `capacity` error",
    ] {
        assert!(stdout.contains(check), "{check} missing:\n{stdout}");
    }
    // The same provider where launches fail: the report names the broken check,
    // and the exit code says it failed.
    let out = aloft(
        home.path(),
        &[
            "providers",
            "test",
            "-y",
            wasm.to_str().unwrap(),
            "--region",
            "local",
            "--zone",
            "local-a",
            "--instance-type",
            "local-2cpu",
            "--setting",
            &root_setting,
            "--setting",
            "fail_capacity_zones=local-a",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("FAIL  run(2)"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("failed `run(2)`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_aws_provider_passes_against_moto() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("aws.wasm");
    std::fs::write(&wasm, provider("aws")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args([
            "providers",
            "test",
            "-y",
            wasm.to_str().unwrap(),
            "--endpoint",
            &format!("http://127.0.0.1:{}", moto.port),
            "--region",
            "us-east-1",
            "--zone",
            "use1-az1",
            "--instance-type",
            "m6i.large",
            "-o",
            "json",
        ])
        .env("ALOFT_HOME", home.path())
        .env("AWS_ACCESS_KEY_ID", "AKIAPROVIDERTEST")
        .env("AWS_SECRET_ACCESS_KEY", "provider-test-secret")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 10, "{report}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{report}");
}

/// Runs `aloft providers test` on the `faulty` test component with `fault` set,
/// answering the parsed `-o json` report and the process output.
fn faulty_report(
    home: &std::path::Path,
    wasm: &std::path::Path,
    fault: &str,
    json: bool,
) -> std::process::Output {
    let fault = format!("fault={fault}");
    let mut args = vec![
        "providers",
        "test",
        "-y",
        wasm.to_str().unwrap(),
        "--region",
        "f-1",
        "--zone",
        "f-1-a",
        "--instance-type",
        "faulty-2cpu",
        "--capacity-zone",
        "f-1-full",
        "--setting",
        &fault,
    ];
    if json {
        args.extend(["-o", "json"]);
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(&args)
        .env("ALOFT_HOME", home)
        .env("FAULTY_TOKEN", "faulty-token-not-a-secret")
        .output()
        .unwrap()
}

#[test]
fn each_deliberately_broken_component_fails_naming_its_check() {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("faulty.wasm");
    std::fs::write(&wasm, aloft_tests::components::test_component("faulty")).unwrap();

    // Without a fault the same component keeps the contract: every check passes,
    // so the failures below are the faults', not the component's.
    let out = faulty_report(home.path(), &wasm, "", false);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains("ok    a refused launch is a typed `capacity` error"),
        "{stdout}"
    );

    for (fault, check) in [
        // terminate leaves one node running: the query after terminate sees it.
        ("leak", "query after terminate: nothing left"),
        // a second identical run creates two more nodes.
        (
            "dup",
            "run is idempotent (nothing created or resumed, same nodes)",
        ),
        ("two-heads", "exactly one head"),
        ("fake-stop", "query after stop: every node stopped"),
        (
            "lost-query",
            "query after run: both nodes running or pending",
        ),
        (
            "untyped-capacity",
            "a refused launch is a typed `capacity` error",
        ),
    ] {
        let out = faulty_report(home.path(), &wasm, fault, false);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{fault}: {stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!("FAIL  {check}")),
            "{fault}: {stdout}"
        );
        assert!(
            stderr.contains(&format!("failed `{check}`")),
            "{fault}: {stderr}"
        );

        let out = faulty_report(home.path(), &wasm, fault, true);
        assert_eq!(out.status.code(), Some(1), "{fault}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let checks = report["checks"].as_array().unwrap();
        let first_failed = checks.iter().find(|c| c["passed"] == false).unwrap();
        assert_eq!(first_failed["name"], check, "{fault}: {report}");
        assert!(
            !first_failed["detail"].as_str().unwrap().is_empty(),
            "{fault}: the provider's answer is shown: {report}"
        );
    }

    // A run that failed half-way terminates its test cluster anyway (reported as a
    // last `cleanup` entry), so an author's cloud is not left with test nodes.
    let out = faulty_report(home.path(), &wasm, "dup", true);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cleanup = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cleanup: terminate after the failure")
        .cloned();
    assert_eq!(
        cleanup.map(|c| c["passed"].clone()),
        Some(serde_json::Value::Bool(true)),
        "{report}"
    );
}

/// A bundled or installed provider is named, not only a file, and without
/// `--region`/`--instance-type` the test cluster goes where the provider's own
/// cheapest offer is.
#[test]
fn a_provider_is_tested_by_name_where_its_offers_say() {
    let home = tempfile::tempdir().unwrap();
    let out = aloft(home.path(), &["providers", "test", "-y", "local"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "region local, zone local-a, instance type local-1cpu (chosen from its offers)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    query after terminate: nothing left"),
        "{stdout}"
    );
    // Its nodes were folders of the throwaway home, not of this one.
    assert!(!home.path().join("local").exists());

    // An installed provider by its name, and a file, both without region or type.
    let wasm = home.path().join("faulty.wasm");
    std::fs::write(&wasm, aloft_tests::components::test_component("faulty")).unwrap();
    let out = aloft(
        home.path(),
        &["providers", "install", "-y", wasm.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    for target in ["faulty", wasm.to_str().unwrap()] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(["providers", "test", "-y", target, "-o", "json"])
            .env("ALOFT_HOME", home.path())
            .env("FAULTY_TOKEN", "faulty-token-not-a-secret")
            .output()
            .unwrap();
        assert!(out.status.success(), "{target}: {}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["region"], "f-1", "{report}");
        assert_eq!(report["zone"], "f-1-a", "{report}");
        assert_eq!(report["instance_type"], "faulty-2cpu", "{report}");
    }

    // Named, it is shown and asked about as a file is: without a terminal or -y,
    // nothing runs.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["providers", "test", "faulty"])
        .env("ALOFT_HOME", home.path())
        .env("FAULTY_TOKEN", "faulty-token-not-a-secret")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("FAULTY_TOKEN") && stderr.contains("no terminal"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("ok ") && !stdout.contains("Test cluster"),
        "{stdout}"
    );

    // A name aloft does not know is refused, listing what it knows.
    let out = aloft(home.path(), &["providers", "test", "-y", "nosuch"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`nosuch` is neither a component file nor a provider")
            && stderr.contains("local"),
        "{stderr}"
    );
}

/// A capacity check that gets a launch instead of a refusal cleans that launch up
/// (it may be billed) and says in words what it expected; no check's detail is a
/// Rust debug dump of the provider's answer.
#[test]
fn an_unexpected_success_is_cleaned_up_and_explained_in_words() {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("faulty.wasm");
    std::fs::write(&wasm, aloft_tests::components::test_component("faulty")).unwrap();
    let out = faulty_report(home.path(), &wasm, "no-capacity-check", true);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    let capacity = checks
        .iter()
        .position(|c| c["name"] == "a refused launch is a typed `capacity` error")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(checks[capacity]["passed"], false, "{report}");
    let detail = checks[capacity]["detail"].as_str().unwrap();
    assert!(
        detail.contains("expected run-instances in zone f-1-full")
            && detail.contains("`capacity` error")
            && detail.contains("it succeeded instead: 1 node(s)"),
        "{detail}"
    );
    // The launch it got was terminated: the last entry says so.
    let cleanup = &checks[capacity + 1];
    assert_eq!(
        cleanup["name"], "cleanup: terminate after the unexpected launch",
        "{report}"
    );
    assert_eq!(cleanup["passed"], true, "{report}");
    assert_eq!(checks.len(), capacity + 2, "{report}");

    // Every failure of the other faults reads as words too.
    for fault in [
        "dup",
        "two-heads",
        "fake-stop",
        "lost-query",
        "untyped-capacity",
        "leak",
    ] {
        let out = faulty_report(home.path(), &wasm, fault, true);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for check in report["checks"].as_array().unwrap() {
            let detail = check["detail"].as_str().unwrap();
            assert!(
                !detail.contains("RunResult")
                    && !detail.contains("Ok(")
                    && !detail.contains("Instance {")
                    && !detail.contains("ClusterInstances"),
                "{fault}: {detail}"
            );
            if check["passed"] == false {
                assert!(detail.starts_with("expected"), "{fault}: {detail}");
            }
        }
    }
}

/// `aloft providers test` on a bundled provider's component against a fake of its
/// cloud: every check passes (`-o json`).
fn passes_against(name: &str, endpoint: &str, args: &[&str], env: (&str, &str)) {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join(format!("{name}.wasm"));
    std::fs::write(&wasm, provider(name)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args([
            "providers",
            "test",
            "-y",
            wasm.to_str().unwrap(),
            "--endpoint",
            endpoint,
        ])
        .args(args)
        .args(["-o", "json"])
        .env("ALOFT_HOME", home.path())
        .env(env.0, env.1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 6, "{name}: {report}");
    assert!(
        checks.iter().all(|c| c["passed"] == true),
        "{name}: {report}"
    );
    // Neither declares stop: the kit required `unsupported` instead.
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("stop"))),
        "{name}: {report}"
    );
    assert!(!text(&out.stdout).contains(env.1) && !text(&out.stderr).contains(env.1));
}

#[test]
fn the_lambda_and_runpod_providers_pass_against_their_fakes() {
    use aloft_tests::fakes::{LambdaCloud, LambdaOptions};
    use aloft_tests::runpod_fake::RunpodFake;
    use aloft_tests::sshd::Sshd;
    let dir = tempfile::tempdir().unwrap();
    let machines: Vec<Sshd> = (0..6)
        .map(|i| {
            Sshd::start_machine(
                &dir.path().join(format!("m{i}")),
                &format!("127.0.4.{}", 10 + i),
            )
        })
        .collect();
    let lambda_key = "secret_lambda_kit_key";
    let ips: Vec<String> = machines[..3].iter().map(|m| m.ip.clone()).collect();
    let lambda = LambdaCloud::start(lambda_key, &ips, &LambdaOptions::default());
    // As an author's account would: the kit launches without a key of its own.
    lambda.add_ssh_key(
        "laptop",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests laptop",
    );
    passes_against(
        "lambda",
        &lambda.endpoint(),
        &["--region", "us-east-1", "--instance-type", "gpu_1x_a10"],
        ("LAMBDA_API_KEY", lambda_key),
    );
    let runpod_key = "rpa_kit_key_not_printed";
    let runpod = RunpodFake::start(runpod_key, &machines[3..].iter().collect::<Vec<_>>(), 0.0);
    passes_against(
        "runpod",
        &runpod.endpoint(),
        &[
            "--region",
            "US",
            "--zone",
            "US-CA-1",
            "--instance-type",
            "1x_A40_SECURE",
        ],
        ("RUNPOD_API_KEY", runpod_key),
    );
}

/// A test server that answers every request `401` and keeps what it received.
struct Recorder {
    port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Recorder {
    fn start() -> Recorder {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (kept, stopped) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut buf = [0u8; 8192];
                let n = conn.read(&mut buf).unwrap_or(0);
                kept.lock().unwrap().extend_from_slice(&buf[..n]);
                let _ = conn.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Recorder {
            port,
            received,
            stop,
        }
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn without_a_terminal_or_yes_the_component_is_lent_nothing() {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("hello_cloud.wasm");
    std::fs::write(&wasm, aloft_tests::components::example("hello-cloud")).unwrap();
    let server = Recorder::start();
    let secret = "hello-token-never-sent";
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(["providers", "test", wasm.to_str().unwrap()])
            .args(extra)
            .args(["--endpoint", &format!("http://127.0.0.1:{}", server.port)])
            .args(["--region", "hello-1", "--instance-type", "hello-small"])
            .env("ALOFT_HOME", home.path())
            .env("HELLO_CLOUD_TOKEN", secret)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };

    let out = run(&[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stdout}{stderr}");
    // What it asks for is shown (on stderr: stdout is the report's), then refused.
    assert!(
        stderr.contains("hello-cloud") && stderr.contains("asks for"),
        "{stderr}"
    );
    assert!(stderr.contains("credentials:") && stderr.contains("HELLO_CLOUD_TOKEN"));
    assert!(
        stderr.contains("no terminal") && stderr.contains("-y"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("ok ") && !stdout.contains("FAIL"),
        "{stdout}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let received = server.received();
    assert!(
        !received.contains(secret),
        "the secret was sent:\n{received}"
    );
    assert!(received.is_empty(), "the component was run:\n{received}");

    // With -y it is lent the token and runs (the server refuses it: a failed check).
    let out = run(&["-y"]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("FAIL"), "{}", text(&out.stdout));
    assert!(server.received().contains(secret));
}

#[test]
fn a_wildcard_over_a_public_suffix_is_refused_naming_it() {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("greedy.wasm");
    std::fs::write(&wasm, aloft_tests::components::test_component("greedy")).unwrap();
    let path = wasm.to_str().unwrap();
    for args in [
        vec!["providers", "install", "-y", path],
        vec![
            "providers",
            "test",
            "-y",
            path,
            "--region",
            "r",
            "--instance-type",
            "t",
        ],
    ] {
        let out = aloft(home.path(), &args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("`*.co.uk`") && stderr.contains("public suffix"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!home.path().join("providers/greedy.wasm").exists());
}
