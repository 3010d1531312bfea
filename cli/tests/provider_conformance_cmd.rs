//! `aloft providers test`: the conformance kit run from the outside, with nothing
//! but the `aloft` binary and a component file.

mod common;

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
