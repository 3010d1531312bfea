//! `aloft launch` on the bundled `ssh` provider: a node pool of two "machines",
//! each a real `sshd` on its own loopback address with its own home folder.

use crate::common;

use common::{aloft, text};

use aloft_tests::sshd::Sshd;

/// Writes pool `lab` of machines `a` and `b`, reached with `a`'s key (the user's).
fn write_pool(home: &std::path::Path, a: &Sshd, b: &Sshd) {
    std::fs::write(
        home.join("ssh_node_pools.yaml"),
        format!(
            "lab:\n  user: {user}\n  identity_file: {key}\n  cpus: 4\n  hosts:\n    - ip: {ipa}\n      port: {pa}\n    - ip: {ipb}\n      port: {pb}\n",
            user = a.user,
            key = a.identity_file.display(),
            ipa = a.ip,
            pa = a.port,
            ipb = b.ip,
            pb = b.port,
        ),
    )
    .unwrap();
}

#[test]
fn a_pool_runs_a_gang_job_over_ssh_and_gives_its_hosts_back() {
    let home = tempfile::tempdir().unwrap();
    let a = Sshd::start_machine(&home.path().join("machine-a"), "127.0.0.2");
    let b = Sshd::start_machine(&home.path().join("machine-b"), "127.0.0.3");
    // Both hosts take the user's key (the pool's `identity_file`); the hosts do
    // not trust each other.
    b.authorize(&a);
    write_pool(home.path(), &a, &b);
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("data.txt"), "42").unwrap();
    std::fs::write(project.join("secret.log"), "ignored").unwrap();
    std::fs::write(project.join(".gitignore"), "*.log\n").unwrap();
    std::fs::write(
        project.join("task.yaml"),
        "name: gang\nnum_nodes: 2\nworkdir: .\nresources: {infra: ssh/lab, cpus: 2+}\n\
         setup: echo setup-on-$(hostname -I 2>/dev/null | wc -w)-ifaces > setup.txt\n\
         run: echo \"rank $SKYPILOT_NODE_RANK/$SKYPILOT_NUM_NODES at $(echo $SSH_CONNECTION | cut -d' ' -f3,4) sees $(echo $SKYPILOT_NODE_IPS) data=$(cat data.txt) home=$HOME\"\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &[
            "launch",
            "-y",
            "-c",
            "lab1",
            project.join("task.yaml").to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{stdout}");
    // Each rank ran on its own machine and saw both nodes' addresses.
    for (rank, server) in [(0, &a), (1, &b)] {
        let expected = format!(
            "(rank {rank}) rank {rank}/2 at {} {} sees 127.0.0.2 127.0.0.3 data=42 home={}",
            server.ip,
            server.port,
            server.home().display()
        );
        assert_eq!(lines[rank], expected, "{stdout}\n{stderr}");
        // The workdir was synced to every node, honouring .gitignore.
        let workdir = server.home().join("sky_workdir");
        assert!(workdir.join("data.txt").exists());
        assert!(!workdir.join("secret.log").exists(), ".gitignore honoured");
        assert!(
            workdir.join("setup.txt").exists(),
            "setup ran on every node"
        );
    }
    // The head holds the aloft binary, its agent and the key to reach the worker.
    let head = a.home();
    assert!(head.join(".aloft/bin/aloft").exists());
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(head.join(".aloft/keys/cluster-key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);
    assert!(head.join(".aloft/agent/agent.pid").exists(), "agent runs");
    // The head's key is the cluster's own, never the user's; both hosts
    // authorized it (marked with the cluster's name) for the cluster's life.
    let user_key = std::fs::read(&a.identity_file).unwrap();
    assert_ne!(
        std::fs::read(head.join(".aloft/keys/cluster-key")).unwrap(),
        user_key
    );
    let cluster_pub =
        std::fs::read_to_string(home.path().join("keys/clusters/lab1/aloft-key.pub")).unwrap();
    let cluster_key_data = cluster_pub.split_whitespace().nth(1).unwrap().to_string();
    for server in [&a, &b] {
        let authorized =
            std::fs::read_to_string(server.home().join(".ssh/authorized_keys")).unwrap();
        assert!(
            authorized
                .lines()
                .any(|l| l.contains(&cluster_key_data) && l.ends_with(" aloft-cluster:lab1")),
            "{authorized}"
        );
        // Nothing on the machine holds the user's private key.
        for file in common::files_under(&server.home()) {
            if let Ok(bytes) = std::fs::read(&file) {
                assert!(
                    !bytes
                        .windows(user_key.len().min(200))
                        .any(|w| w == &user_key[..user_key.len().min(200)]),
                    "the user's key is on a node: {}",
                    file.display()
                );
            }
        }
    }

    let status = aloft(home.path(), &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[0]["provider"], "ssh", "{rows}");
    assert_eq!(rows[0]["region"], "lab");

    // A second 2-node cluster does not fit: the pool is exhausted, and nothing is
    // left behind by the attempt.
    let out = aloft(
        home.path(),
        &[
            "launch",
            "-y",
            "-c",
            "lab2",
            project.join("task.yaml").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("PoolExhausted"),
        "{}",
        text(&out.stderr)
    );
    let status = aloft(home.path(), &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");

    let out = aloft(home.path(), &["down", "-y", "lab1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !head.join(".aloft/agent/agent.pid").exists(),
        "down stops the agent on the head"
    );
    // `down` took the cluster's key off both hosts and deleted it.
    for server in [&a, &b] {
        let authorized =
            std::fs::read_to_string(server.home().join(".ssh/authorized_keys")).unwrap();
        assert!(!authorized.contains("aloft-cluster:lab1"), "{authorized}");
        assert!(!authorized.contains(&cluster_key_data), "{authorized}");
    }
    assert!(!home.path().join("keys/clusters/lab1").exists());
    // The hosts went back to the pool: the same launch now fits.
    let out = aloft(
        home.path(),
        &[
            "launch",
            "-y",
            "-d",
            "-c",
            "lab2",
            project.join("task.yaml").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = aloft(home.path(), &["down", "-y", "lab2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_pool_reached_with_alofts_own_key_still_gets_a_cluster_key_which_down_takes_back() {
    let home = tempfile::tempdir().unwrap();
    let a = Sshd::start_machine(&home.path().join("machine-a"), "127.0.0.14");
    // The pool's `identity_file` is aloft's own key, which the host takes.
    let own = aloft::runtime::keys::ensure_key_pair(&home.path().join("keys")).unwrap();
    a.authorize_key(&own.public_key);
    std::fs::write(
        home.path().join("ssh_node_pools.yaml"),
        format!(
            "lab:\n  user: {}\n  identity_file: {}\n  hosts: [{{ip: {}, port: {}}}]\n",
            a.user,
            own.private_key.display(),
            a.ip,
            a.port
        ),
    )
    .unwrap();
    // Another cluster's line, whose name a pattern `a.b` would match.
    let ssh_dir = a.home().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther aloft-cluster:axb";
    std::fs::write(ssh_dir.join("authorized_keys"), format!("{other}\n")).unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(&task, "resources: {infra: ssh/lab}\nrun: echo up\n").unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "a.b", task.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The head holds the cluster's key, not aloft's own, and the host authorized it.
    let cluster_key = std::fs::read(home.path().join("keys/clusters/a.b/aloft-key")).unwrap();
    let head_key = std::fs::read(a.home().join(".aloft/keys/cluster-key")).unwrap();
    assert_eq!(head_key, cluster_key);
    assert_ne!(head_key, std::fs::read(&own.private_key).unwrap());
    let authorized = std::fs::read_to_string(ssh_dir.join("authorized_keys")).unwrap();
    assert!(
        authorized
            .lines()
            .any(|l| l.ends_with(" aloft-cluster:a.b")),
        "{authorized}"
    );
    let entries = std::fs::read_to_string(home.path().join("ssh/config")).unwrap();
    assert!(entries.contains("keys/clusters/a.b/aloft-key"), "{entries}");

    let out = aloft(home.path(), &["down", "-y", "a.b"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // No key of the cluster is left on the host or here; `axb`'s line stays.
    for file in common::files_under(&a.home()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(cluster_key.len()).any(|w| w == cluster_key),
            "the cluster's key is left on the host: {}",
            file.display()
        );
    }
    let authorized = std::fs::read_to_string(ssh_dir.join("authorized_keys")).unwrap();
    assert_eq!(authorized, format!("{other}\n"));
    assert!(!home.path().join("keys/clusters/a.b").exists());
}

#[test]
fn a_malformed_pools_file_names_its_line() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("ssh_node_pools.yaml"),
        "lab:\n  hosts: [a, b\n  user: x\n",
    )
    .unwrap();
    let project = home.path().join("t.yaml");
    std::fs::write(&project, "resources: {infra: ssh/lab}\nrun: echo hi\n").unwrap();
    let out = aloft(home.path(), &["launch", "-y", project.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("ssh_node_pools.yaml:"), "{stderr}");
}

#[test]
fn a_dryrun_plans_on_a_pool_without_contacting_it() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("ssh_node_pools.yaml"),
        "lab:\n  cpus: 16\n  accelerators: A100:2\n  hosts: [192.0.2.1, 192.0.2.2]\n",
    )
    .unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(
        &task,
        "resources: {infra: ssh/lab, accelerators: A100:2}\nrun: echo hi\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &["launch", "--dryrun", "-o", "json", task.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chosen = &plan["tasks"][0]["chosen"];
    assert_eq!(chosen["cloud"], "ssh", "{plan}");
    assert_eq!(chosen["region"], "lab");
    assert_eq!(chosen["instance_type"], "lab-node");
    assert_eq!(chosen["hourly_price"], 0.0);
}

#[test]
fn ssh_cluster_and_rsync_work_through_the_generated_config() {
    let home = tempfile::tempdir().unwrap();
    let a = Sshd::start_machine(&home.path().join("machine-a"), "127.0.0.12");
    let b = Sshd::start_machine(&home.path().join("machine-b"), "127.0.0.13");
    b.authorize(&a);
    write_pool(home.path(), &a, &b);
    let task = home.path().join("t.yaml");
    std::fs::write(
        &task,
        "num_nodes: 2\nresources: {infra: ssh/lab}\nrun: echo up\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "box", task.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A user's own ssh config, in a temporary home: aloft adds one Include line.
    let user_config = home.path().join("user-ssh/config");
    std::fs::create_dir_all(user_config.parent().unwrap()).unwrap();
    std::fs::write(&user_config, "Host mine\n  HostName 127.0.0.1\n").unwrap();
    let setup = aloft(
        home.path(),
        &["ssh-setup", "--config", user_config.to_str().unwrap()],
    );
    assert!(setup.status.success(), "{}", text(&setup.stderr));
    assert!(
        text(&setup.stderr).contains("Added `Include"),
        "{}",
        text(&setup.stderr)
    );
    let again = aloft(
        home.path(),
        &["ssh-setup", "--config", user_config.to_str().unwrap()],
    );
    assert!(text(&again.stderr).contains("nothing changed"));
    let written = std::fs::read_to_string(&user_config).unwrap();
    assert_eq!(written.matches("Include").count(), 1, "{written}");
    assert!(
        written.ends_with("Host mine\n  HostName 127.0.0.1\n"),
        "the user's lines are kept"
    );

    let ssh = |args: &[&str]| {
        std::process::Command::new("ssh")
            .arg("-F")
            .arg(&user_config)
            .args(args)
            .output()
            .unwrap()
    };
    let head = ssh(&["box", "echo $SSH_CONNECTION"]);
    assert!(head.status.success(), "{}", text(&head.stderr));
    assert!(
        text(&head.stdout).contains(&format!("{} {}", a.ip, a.port)),
        "{}",
        text(&head.stdout)
    );
    let worker = ssh(&["box-worker1", "echo $SSH_CONNECTION"]);
    assert!(worker.status.success(), "{}", text(&worker.stderr));
    assert!(text(&worker.stdout).contains(&format!("{} {}", b.ip, b.port)));
    // rsync by cluster name, through the same config.
    let data = home.path().join("payload.txt");
    std::fs::write(&data, "synced by name").unwrap();
    let rsync = std::process::Command::new("rsync")
        .arg("-e")
        .arg(format!("ssh -F {}", user_config.display()))
        .arg(&data)
        .arg("box:payload.txt")
        .output()
        .unwrap();
    assert!(rsync.status.success(), "{}", text(&rsync.stderr));
    assert_eq!(
        std::fs::read_to_string(a.home().join("payload.txt")).unwrap(),
        "synced by name"
    );
    // down removes the entries.
    assert!(aloft(home.path(), &["down", "-y", "box"]).status.success());
    let entries = std::fs::read_to_string(home.path().join("ssh/config")).unwrap();
    assert!(!entries.contains("Host box"), "{entries}");
    assert!(!ssh(&["box", "true"]).status.success());
}

#[test]
fn autodown_on_a_pool_gives_the_hosts_back_at_the_next_refresh() {
    let home = tempfile::tempdir().unwrap();
    let a = Sshd::start_machine(&home.path().join("machine-a"), "127.0.0.6");
    let b = Sshd::start_machine(&home.path().join("machine-b"), "127.0.0.7");
    b.authorize(&a);
    write_pool(home.path(), &a, &b);
    let task = home.path().join("task.yaml");
    std::fs::write(
        &task,
        "num_nodes: 2\nresources: {infra: ssh/lab}\nrun: echo working\n",
    )
    .unwrap();
    let fast = [("ALOFT_AUTOSTOP_SECONDS_PER_MINUTE", "1")];
    let task = task.to_str().unwrap();
    let out = common::aloft_env(
        home.path(),
        &["launch", "-y", "-i", "1", "--down", "-c", "auto", task],
        &fast,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The head tears the cluster down by itself once idle; the next `status -r`
    // finishes it here: the record goes, the hosts go back to the pool.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let out = common::aloft_env(home.path(), &["status", "-r", "-o", "json"], &fast);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if rows == serde_json::json!([]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still there: {rows}\n{}",
            text(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    for server in [&a, &b] {
        let authorized =
            std::fs::read_to_string(server.home().join(".ssh/authorized_keys")).unwrap();
        assert!(!authorized.contains("aloft-cluster:auto"), "{authorized}");
    }
    assert!(!home.path().join("keys/clusters/auto").exists());
    // Both hosts are free again: the same 2-node launch fits.
    let out = aloft(home.path(), &["launch", "-y", "-c", "again", task]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        aloft(home.path(), &["down", "-y", "again"])
            .status
            .success()
    );
}

/// An ELF program's machine (`e_machine`) and whether it is static (no `PT_INTERP`).
pub(crate) fn elf_machine_and_static(program: &[u8]) -> (u16, bool) {
    assert_eq!(&program[..4], b"\x7fELF", "not an ELF program");
    let u16_at = |o: usize| u16::from_le_bytes([program[o], program[o + 1]]);
    let phoff = u64::from_le_bytes(program[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54) as usize, u16_at(56) as usize);
    let interp = (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(program[at..at + 4].try_into().unwrap()) == 3
    });
    (u16_at(18), !interp)
}

#[test]
fn each_head_gets_the_small_static_agent_of_its_architecture() {
    const X86_64: u16 = 62;
    const AARCH64: u16 = 183;
    let home = tempfile::tempdir().unwrap();
    let x86 = Sshd::start_machine(&home.path().join("machine-x86"), "127.0.0.8");
    let arm =
        Sshd::start_machine_reporting(&home.path().join("machine-arm"), "127.0.0.9", "aarch64");
    arm.authorize(&x86);
    std::fs::write(
        home.path().join("ssh_node_pools.yaml"),
        format!(
            "x86:\n  user: {user}\n  identity_file: {key}\n  hosts: [{{ip: {ia}, port: {pa}}}]\n\
             arm:\n  user: {user}\n  identity_file: {key}\n  hosts: [{{ip: {ib}, port: {pb}}}]\n",
            user = x86.user,
            key = x86.identity_file.display(),
            ia = x86.ip,
            pa = x86.port,
            ib = arm.ip,
            pb = arm.port,
        ),
    )
    .unwrap();
    let task = |pool: &str| {
        let path = home.path().join(format!("{pool}.yaml"));
        std::fs::write(
            &path,
            format!("resources: {{infra: ssh/{pool}}}\nrun: echo on-{pool}\n"),
        )
        .unwrap();
        path
    };
    let launcher = std::fs::metadata(env!("CARGO_BIN_EXE_aloft"))
        .unwrap()
        .len();

    // An x86_64 head runs the x86_64 agent: static, a fraction of the launcher's size.
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "x", task("x86").to_str().unwrap()],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("on-x86"), "{stdout}");
    let agent = std::fs::read(x86.home().join(".aloft/bin/aloft")).unwrap();
    assert_eq!(elf_machine_and_static(&agent), (X86_64, true), "{stderr}");
    assert!(
        (agent.len() as u64) < 8 << 20 && (agent.len() as u64) < launcher / 4,
        "agent {} bytes, launcher {launcher}",
        agent.len()
    );
    assert!(
        !x86.home().join(".aloft/bin/aloft-full").exists(),
        "without autostop the head gets only the agent"
    );

    // A head that says it is aarch64 gets the aarch64 agent, which cannot run on
    // this x86_64 test machine: the launch fails there, naming the agent's failure.
    let out = aloft(
        home.path(),
        &["launch", "-y", "-c", "a", task("arm").to_str().unwrap()],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let agent = std::fs::read(arm.home().join(".aloft/bin/aloft")).unwrap();
    assert_eq!(elf_machine_and_static(&agent), (AARCH64, true), "{stderr}");
    assert!(stderr.contains("agent"), "{stderr}");

    for cluster in ["x", "a"] {
        let out = aloft(home.path(), &["down", "-y", cluster]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

/// A cluster torn down and launched again under the same name on the same hosts
/// (as a managed job's recovery does) pins their host keys afresh: the launcher's
/// shared SSH connection of the first cluster, still open, must not stand in for
/// the new cluster's first connection, which is what writes its `known_hosts`.
#[test]
fn the_same_name_launched_again_on_the_same_hosts_pins_their_keys_again() {
    let home = tempfile::tempdir().unwrap();
    let a = Sshd::start_machine(&home.path().join("machine-a"), "127.0.0.4");
    let b = Sshd::start_machine(&home.path().join("machine-b"), "127.0.0.5");
    b.authorize(&a);
    write_pool(home.path(), &a, &b);
    let task = home.path().join("task.yaml");
    std::fs::write(
        &task,
        "num_nodes: 2\nresources: {infra: ssh/lab}\nrun: echo rank $SKYPILOT_NODE_RANK\n",
    )
    .unwrap();
    for round in 0..2 {
        let out = aloft(
            home.path(),
            &["launch", "-y", "-c", "again", task.to_str().unwrap()],
        );
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "round {round}: {stdout}\n{stderr}");
        let mut lines: Vec<&str> = stdout.lines().collect();
        lines.sort();
        assert_eq!(lines, ["(rank 0) rank 0", "(rank 1) rank 1"], "{stderr}");
        let out = aloft(home.path(), &["down", "-y", "again"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}
