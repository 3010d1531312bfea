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

/// The whole way: a kubeconfig (token auth, plain HTTP to the fake), real `ssh`
/// with `aloft kube-proxy` as its `ProxyCommand`, a real sshd "pod".
#[test]
fn ssh_through_aloft_kube_proxy_with_a_kubeconfig() {
    use aloft_tests::portforward_fake::PortForwardServer;
    use aloft_tests::sshd::Sshd;
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_machine(&dir.path().join("m1"), "127.0.0.48");
    let token = "kubeconfig-token-0123456789abcdef";
    let server = PortForwardServer::start(
        token,
        &[format!("team-a/p1={}:{}", sshd.ip, sshd.port)],
        None,
    );
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n\
             - name: fake\n  cluster:\n    server: {}\ncontexts:\n\
             - name: fake\n  context:\n    cluster: fake\n    user: u\n    namespace: team-a\n\
             users:\n- name: u\n  user:\n    token: {token}\n",
            server.url()
        ),
    )
    .unwrap();
    let out = Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-o", "IdentitiesOnly=yes"])
        .arg("-o")
        .arg(format!(
            "ProxyCommand='{}' kube-proxy --kubeconfig '{}' --context fake --namespace team-a \
             --pod p1 --port %p",
            env!("CARGO_BIN_EXE_aloft"),
            kubeconfig.display()
        ))
        .arg("-i")
        .arg(&sshd.identity_file)
        .args(["-p", &sshd.port.to_string()])
        .arg(format!("{}@p1.team-a", sshd.user))
        .arg("echo through the api server")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "through the api server"
    );
    assert!(!stderr.contains(token));
}
