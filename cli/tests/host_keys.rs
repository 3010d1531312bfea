//! Pinned host keys: each cluster's nodes are trusted on first use, in a
//! `known_hosts` file of its own, and refused when they answer with another key.
//! The "machines" are real `sshd`s on loopback addresses of their own.

use std::path::Path;

use crate::common;

use common::{aloft, text};

use aloft_tests::sshd::Sshd;

/// Writes pool `lab` of `machines`, reached with the first one's key (the user's,
/// which the others must authorize).
fn write_pool(home: &Path, machines: &[&Sshd]) {
    let hosts: String = machines
        .iter()
        .map(|m| format!("    - ip: {}\n      port: {}\n", m.ip, m.port))
        .collect();
    std::fs::write(
        home.join("ssh_node_pools.yaml"),
        format!(
            "lab:\n  user: {}\n  identity_file: {}\n  hosts:\n{hosts}",
            machines[0].user,
            machines[0].identity_file.display(),
        ),
    )
    .unwrap();
}

/// The key data (second field) of an OpenSSH public key line.
fn key_data(public: &str) -> String {
    public.split_whitespace().nth(1).unwrap().to_string()
}

fn known_hosts(home: &Path, cluster: &str) -> std::path::PathBuf {
    home.join("keys/clusters").join(cluster).join("known_hosts")
}

#[test]
fn a_node_answering_with_another_host_key_is_refused_and_sent_nothing() {
    let home = tempfile::tempdir().unwrap();
    let mut a = Sshd::start_machine(&home.path().join("machine-a"), "127.0.0.21");
    write_pool(home.path(), &[&a]);
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("data.txt"), "1").unwrap();
    let task = project.join("task.yaml");
    std::fs::write(
        &task,
        "workdir: .\nresources: {infra: ssh/lab}\nrun: echo up\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "pinned", task.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(a.home().join("sky_workdir/data.txt").exists());

    // Another machine (another host key) answers at the head's address and port.
    a.restart_with_new_host_key();
    std::fs::write(project.join("new.txt"), "must not leave").unwrap();
    let again = project.join("again.yaml");
    std::fs::write(
        &again,
        "workdir: .\nresources: {infra: ssh/lab}\nrun: touch ~/ran-with-workdir\n",
    )
    .unwrap();
    for args in [
        vec!["exec", "pinned", "touch ~/ran-inline"],
        vec!["exec", "pinned", again.to_str().unwrap()],
    ] {
        let out = aloft(home.path(), &args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("host key changed") && stderr.contains("cluster `pinned`"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!a.home().join("ran-inline").exists(), "nothing ran");
    assert!(!a.home().join("ran-with-workdir").exists(), "nothing ran");
    assert!(
        !a.home().join("sky_workdir/new.txt").exists(),
        "nothing was uploaded"
    );
    // The pinned key is still the first machine's, not the newcomer's.
    let pinned = std::fs::read_to_string(known_hosts(home.path(), "pinned")).unwrap();
    assert!(
        !pinned.contains(&key_data(&a.host_public_key())),
        "{pinned}"
    );
}

#[test]
fn each_cluster_pins_its_nodes_keys_the_head_checks_them_and_down_forgets_them() {
    let home = tempfile::tempdir().unwrap();
    let a = Sshd::start_machine(&home.path().join("machine-a"), "127.0.0.22");
    let mut b = Sshd::start_machine(&home.path().join("machine-b"), "127.0.0.23");
    b.authorize(&a);
    write_pool(home.path(), &[&a, &b]);
    let task = home.path().join("task.yaml");
    std::fs::write(
        &task,
        "num_nodes: 2\nresources: {infra: ssh/lab}\nrun: touch ~/ran-$SKYPILOT_NODE_RANK\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "gang", task.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The head reached its worker, checking the key the launcher pinned.
    assert!(b.home().join("ran-1").exists());

    // The cluster's own file holds each node's key under `[ip]:port`.
    let file = known_hosts(home.path(), "gang");
    let pinned = std::fs::read_to_string(&file).unwrap();
    for machine in [&a, &b] {
        let name = format!("[{}]:{}", machine.ip, machine.port);
        let data = key_data(&machine.host_public_key());
        assert!(
            pinned
                .lines()
                .any(|l| l.starts_with(&format!("{name} ")) && l.contains(&data)),
            "{name} not pinned: {pinned}"
        );
    }
    // The head holds a copy, for its connections to its workers.
    assert_eq!(
        std::fs::read_to_string(a.home().join(".aloft/keys/cluster-known_hosts")).unwrap(),
        pinned
    );

    // `ssh gang` checks the same keys in the same file, trusting only new nodes.
    let config = std::fs::read_to_string(home.path().join("ssh/config")).unwrap();
    let entry = config
        .split("\nHost ")
        .find(|e| e.starts_with("gang\n"))
        .unwrap_or_else(|| panic!("no entry for gang: {config}"));
    for line in [
        format!("UserKnownHostsFile \"{}\"", file.display()),
        "StrictHostKeyChecking accept-new".into(),
        format!("HostKeyAlias [{}]:{}", a.ip, a.port),
    ] {
        assert!(entry.lines().any(|l| l.trim() == line), "{line}: {config}");
    }
    assert!(!config.contains("StrictHostKeyChecking no"), "{config}");
    assert!(!config.contains("/dev/null"), "{config}");

    // A worker that answers with another key is refused by the head: the job
    // fails and nothing runs there.
    b.restart_with_new_host_key();
    let again = home.path().join("again.yaml");
    std::fs::write(
        &again,
        "num_nodes: 2\nresources: {infra: ssh/lab}\nrun: touch ~/again-$SKYPILOT_NODE_RANK\n",
    )
    .unwrap();
    let out = aloft(home.path(), &["exec", "gang", again.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out.stderr));
    let logs = text(&aloft(home.path(), &["logs", "gang", "2"]).stdout);
    assert!(
        logs.contains("(rank 1) aloft: refusing")
            && logs.contains("host key changed")
            && logs.contains("cluster `gang`"),
        "{logs}"
    );
    assert!(
        !b.home().join("again-1").exists(),
        "nothing ran on the worker"
    );

    let out = aloft(home.path(), &["down", "-y", "gang"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!file.exists(), "down forgets the pinned keys");
    assert!(!a.home().join(".aloft/keys/cluster-known_hosts").exists());
}
