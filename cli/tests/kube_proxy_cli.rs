//! `aloft kube-proxy`: hidden from help, refuses names that are not Kubernetes
//! names before anything else, and reports a context it cannot resolve on stderr
//! (stdout belongs to SSH). The relay itself is tested in
//! `tests/tests/kube_portforward.rs`.

use std::process::{Command, Output};

fn aloft(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .env_remove("ALOFT_LOG")
        .output()
        .expect("run aloft")
}

#[test]
fn kube_proxy_is_hidden_and_checks_its_arguments() {
    let home = tempfile::tempdir().unwrap();
    let help = aloft(home.path(), &["--help"]);
    assert!(help.status.success());
    assert!(!String::from_utf8_lossy(&help.stdout).contains("kube-proxy"));

    let bad = aloft(
        home.path(),
        &[
            "kube-proxy",
            "--context",
            "c1",
            "--namespace",
            "default",
            "--pod",
            "p;id",
            "--port",
            "22",
        ],
    );
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("pod name \"p;id\""), "{stderr}");

    let kubeconfig = home.path().join("missing-kubeconfig");
    let unresolved = aloft(
        home.path(),
        &[
            "kube-proxy",
            "--context",
            "c1",
            "--namespace",
            "default",
            "--pod",
            "p1",
            "--port",
            "22",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    );
    assert!(!unresolved.status.success());
    assert!(unresolved.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&unresolved.stderr);
    assert!(stderr.contains("kube-proxy:"), "{stderr}");
}
