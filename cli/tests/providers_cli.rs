//! `aloft providers` and `aloft check` with the real binary.

use std::path::Path;
use std::process::{Command, Output};

fn aloft(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .env_remove("HELLO_CLOUD_TOKEN")
        .output()
        .expect("run aloft")
}

#[test]
fn install_validates_then_lists_and_checks() {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("hello_cloud.wasm");
    std::fs::write(&wasm, aloft_tests::components::example("hello-cloud")).unwrap();
    let junk = home.path().join("junk.wasm");
    std::fs::write(&junk, b"not a component").unwrap();

    let out = aloft(
        home.path(),
        &["providers", "install", junk.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        !home.path().join("providers/junk.wasm").exists(),
        "junk was copied"
    );

    let out = aloft(
        home.path(),
        &["providers", "install", wasm.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(home.path().join("providers/hello-cloud.wasm").is_file());

    let out = aloft(home.path(), &["providers", "list", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aws", "hello-cloud", "local", "ssh"]);
    let local = &list["providers"][2];
    assert_eq!(local["source"], "bundled");
    assert_eq!(local["api_version"], "0.1.0");
    assert_eq!(local["capabilities"]["multi_node"], true);

    let out = aloft(home.path(), &["check", "-o", "json"]);
    assert!(out.status.success());
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hello = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "hello-cloud")
        .unwrap();
    assert_eq!(hello["enabled"], false);
    assert!(
        hello["reason"]
            .as_str()
            .unwrap()
            .contains("HELLO_CLOUD_TOKEN"),
        "{hello}"
    );
    let local = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "local")
        .unwrap();
    assert_eq!(local["enabled"], true);

    let out = aloft(home.path(), &["providers", "info", "hello-cloud"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("hosts:        api.hello-cloud.example"),
        "{text}"
    );
}
