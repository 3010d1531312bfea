//! Node access over SSH, against real `sshd` servers on loopback.

use aloft::runtime::node::{HostKeys, Node, NodeError, Script, SshNode, SshTarget};
use aloft_tests::sshd::Sshd;

fn target_for(server: &Sshd, control_dir: &std::path::Path) -> SshTarget {
    SshTarget {
        host: server.ip.clone(),
        port: server.port,
        user: server.user.clone(),
        identity_file: server.identity_file.clone(),
        control_dir: control_dir.to_path_buf(),
        proxy_command: None,
        host_keys: None,
    }
}

fn node_for(server: &Sshd, control_dir: &std::path::Path) -> SshNode {
    SshNode::new(target_for(server, control_dir))
}

#[test]
fn scripts_run_with_env_and_exit_codes_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let server = Sshd::start(&dir.path().join("sshd"));
    let node = node_for(&server, &dir.path().join("cm"));
    let remote_dir = dir.path().join("remote home");
    let script = Script {
        body: "echo \"rank=$RANK secret-len=${#TOKEN}\"; pwd; echo oops >&2; exit 7".into(),
        env: vec![
            ("RANK".into(), "1".into()),
            ("TOKEN".into(), "s3cr3t value".into()),
        ],
        cwd: Some(remote_dir.display().to_string()),
    };
    let mut out = Vec::new();
    let code = node.run(&script, &mut out).unwrap();
    assert_eq!(code, 7);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        format!("rank=1 secret-len=12\n{}\noops\n", remote_dir.display())
    );
    // A second command reuses the ControlMaster connection: its socket exists.
    let sockets = std::fs::read_dir(dir.path().join("cm")).unwrap().count();
    assert_eq!(sockets, 1, "one multiplexed master connection");
    let mut out = Vec::new();
    assert_eq!(node.run(&Script::new("echo again"), &mut out).unwrap(), 0);
    assert_eq!(out, b"again\n");
}

#[test]
fn upload_syncs_a_workdir_honouring_gitignore() {
    let dir = tempfile::tempdir().unwrap();
    let server = Sshd::start(&dir.path().join("sshd"));
    let node = node_for(&server, &dir.path().join("cm"));
    let src = dir.path().join("project");
    std::fs::create_dir_all(src.join("data")).unwrap();
    std::fs::write(src.join(".gitignore"), "*.ckpt\n").unwrap();
    std::fs::write(src.join("train.py"), "print('hi')").unwrap();
    std::fs::write(src.join("data/model.ckpt"), "big").unwrap();
    std::fs::write(src.join("data/labels.txt"), "a,b").unwrap();
    let dst = dir.path().join("dst/nested/workdir");
    node.upload(&src, &dst.display().to_string(), true).unwrap();
    assert_eq!(
        std::fs::read_to_string(dst.join("train.py")).unwrap(),
        "print('hi')"
    );
    assert!(dst.join("data/labels.txt").is_file());
    assert!(!dst.join("data/model.ckpt").exists());
    // A top-level .skyignore replaces .gitignore (SkyPilot's rule).
    std::fs::write(src.join(".skyignore"), "data/\n").unwrap();
    let dst = dir.path().join("dst/sky");
    node.upload(&src, &dst.display().to_string(), true).unwrap();
    assert!(dst.join("train.py").is_file());
    assert!(!dst.join("data").exists());
    let dst = dir.path().join("dst/sky2");
    std::fs::write(src.join(".skyignore"), "*.py\n").unwrap();
    node.upload(&src, &dst.display().to_string(), true).unwrap();
    assert!(!dst.join("train.py").exists());
    assert!(
        dst.join("data/model.ckpt").is_file(),
        "the .gitignore no longer applies"
    );
}

#[test]
fn an_unreachable_node_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Sshd::start(&dir.path().join("sshd"));
    let port = server.port;
    let key = server.identity_file.clone();
    drop(server);
    let node = SshNode::new(SshTarget {
        host: "127.0.0.1".into(),
        port,
        user: "nobody".into(),
        identity_file: key,
        control_dir: dir.path().join("cm"),
        proxy_command: None,
        host_keys: None,
    });
    let err = node.run(&Script::new("true"), &mut Vec::new()).unwrap_err();
    assert!(matches!(err, NodeError::Unreachable { .. }), "{err}");
}

#[test]
fn a_host_key_is_trusted_on_first_use_and_another_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Sshd::start_machine(&dir.path().join("sshd"), "127.0.0.31");
    let known_hosts = dir.path().join("cluster c/known_hosts");
    let mut target = SshTarget {
        host_keys: Some(HostKeys::first_use(
            "c",
            &known_hosts,
            &server.ip,
            server.port,
        )),
        ..target_for(&server, &dir.path().join("cm"))
    };
    let node = SshNode::new(target.clone());
    assert_eq!(node.run(&Script::new("true"), &mut Vec::new()).unwrap(), 0);
    let pinned = std::fs::read_to_string(&known_hosts).unwrap();
    let key = server.host_public_key();
    let key = key.split_whitespace().nth(1).unwrap();
    assert!(
        pinned.starts_with(&format!("[{}]:{} ", server.ip, server.port)) && pinned.contains(key),
        "{pinned}"
    );

    server.restart_with_new_host_key();
    let refused = |err: NodeError| {
        assert!(
            matches!(&err, NodeError::HostKeyChanged { cluster, .. } if cluster == "c"),
            "{err}"
        )
    };
    refused(
        node.run(&Script::new("touch ran"), &mut Vec::new())
            .unwrap_err(),
    );
    let local = dir.path().join("payload.txt");
    std::fs::write(&local, "x").unwrap();
    refused(node.upload(&local, "payload.txt", false).unwrap_err());
    assert!(!server.home().join("ran").exists());
    assert!(!server.home().join("payload.txt").exists());
    // The head's strict check refuses a host the launcher never pinned.
    let keys = target.host_keys.take().unwrap();
    target.host_keys = Some(keys.on_head(&dir.path().join("empty")));
    let err = SshNode::new(target).run(&Script::new("true"), &mut Vec::new());
    refused(err.unwrap_err());
}

#[test]
fn a_killer_stops_the_remote_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let server = Sshd::start(&dir.path().join("sshd"));
    let node = node_for(&server, &dir.path().join("cm"));
    let marker = dir.path().join("still-running");
    let script = Script::new(format!("(sleep 2; touch {}) & sleep 30", marker.display()));
    let running = node.spawn(&script).unwrap();
    let killer = running.killer();
    let started = std::time::Instant::now();
    let waiter = std::thread::spawn(move || running.wait(&mut Vec::new()));
    std::thread::sleep(std::time::Duration::from_millis(500));
    killer.kill();
    let result = waiter.join().unwrap();
    assert!(
        matches!(result, Err(NodeError::Killed { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // The background child was in the same group: it never gets to write the marker.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!marker.exists(), "the remote background process survived");
}

#[test]
fn a_machine_has_its_own_address_and_home() {
    let dir = tempfile::tempdir().unwrap();
    let a = Sshd::start_machine(&dir.path().join("a"), "127.0.0.2");
    let b = Sshd::start_machine(&dir.path().join("b"), "127.0.0.3");
    let source = dir.path().join("src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("f.txt"), "hello").unwrap();
    for server in [&a, &b] {
        let node = node_for(server, &dir.path().join("cm"));
        node.upload(&source, "work", false).unwrap();
        let mut out = Vec::new();
        let script = Script::new("pwd; echo \"$HOME\"; echo \"$SSH_CONNECTION\" | cut -d' ' -f3");
        assert_eq!(node.run(&script, &mut out).unwrap(), 0);
        let home = server.home().display().to_string();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], home);
        assert_eq!(lines[1], home);
        assert_eq!(lines[2], server.ip, "the server's own address");
        assert_eq!(
            std::fs::read_to_string(server.home().join("work/f.txt")).unwrap(),
            "hello"
        );
    }
}
