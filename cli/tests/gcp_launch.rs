//! The bundled `gcp` provider end to end through the CLI, against the Compute
//! Engine fake (`tests/fakes/gcp_compute.py`): credentials come from the key file
//! named by `GOOGLE_APPLICATION_CREDENTIALS` (read by the host, lent to the
//! component), `ssh_proxy_command` routes SSH to the addresses the fake invents onto
//! real `sshd` machines on loopback, so setup and the job run for real. Facts are
//! read back with Google's own client; no secret may show in output, logs or files.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aloft_tests::gcp_fake::{FakeOptions, GcpFake};
use aloft_tests::sshd::Sshd;
use common::text;

struct World {
    home: tempfile::TempDir,
    fake: GcpFake,
    machines: Vec<Sshd>,
}

impl World {
    fn new(n: usize, first_ip: u8) -> World {
        let home = tempfile::tempdir().unwrap();
        let fake = GcpFake::start(FakeOptions {
            op_polls: 1,
            ..FakeOptions::default()
        });
        // Each machine opens to the `ssh-keys` its instance was created with (the
        // relay installs them from the fake, as the guest agent does).
        let machines: Vec<Sshd> = (0..n)
            .map(|i| {
                let ip = format!("127.0.0.{}", first_ip + i as u8);
                Sshd::start_machine(&home.path().join(format!("m{i}")), &ip)
            })
            .collect();
        let map = home.path().join("relay-map.json");
        // A shutdown from inside a machine does what Compute Engine does to its VM.
        let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/gcp_guest_shutdown.py");
        for m in &machines {
            m.on_power_off(&format!(
                "exec python3 {} {} {} {}",
                guest.display(),
                map.display(),
                m.ip,
                fake.endpoint()
            ));
        }
        let list: Vec<serde_json::Value> = machines
            .iter()
            .map(|m| serde_json::json!([m.ip, m.port, m.authorized_keys_path()]))
            .collect();
        std::fs::write(
            &map,
            serde_json::json!({"machines": list, "assigned": {}}).to_string(),
        )
        .unwrap();
        let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ssh_relay.py");
        std::fs::write(
            home.path().join("config.yaml"),
            format!(
                "providers:\n  gcp:\n    endpoint: {endpoint}\n    ssh_user: {user}\n    \
                 ssh_proxy_command: python3 {relay} --keys gcp={endpoint} {map} %h\n",
                endpoint = fake.endpoint(),
                user = machines[0].user,
                relay = relay.display(),
                map = map.display(),
            ),
        )
        .unwrap();
        World {
            home,
            fake,
            machines,
        }
    }

    fn aloft(&self, args: &[&str]) -> Output {
        let log = self.home.path().join(format!("aloft-{}.log", args[0]));
        let stderr = std::fs::File::create(&log).unwrap();
        let mut out = Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(args)
            .stderr(stderr)
            .env("ALOFT_HOME", self.home.path())
            .env(
                "GOOGLE_APPLICATION_CREDENTIALS",
                self.fake.service_account_path(),
            )
            .env("CLOUDSDK_CONFIG", "/nonexistent")
            .env_remove("GCP_CREDENTIALS_JSON")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("ALOFT_LOG", "trace")
            .env("ALOFT_AUTOSTOP_SECONDS_PER_MINUTE", "1")
            .output()
            .expect("run aloft");
        out.stderr = std::fs::read(&log).unwrap_or_default();
        out
    }

    fn task(&self, name: &str, body: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    fn ok(&self, out: &Output) -> String {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        for secret in self.fake.secrets() {
            assert!(
                !stdout.contains(&secret) && !stderr.contains(&secret),
                "secret leaked"
            );
        }
        stdout
    }

    /// Every file under aloft's home (state, logs, the machines' files).
    fn assert_no_secret_in_files(&self) {
        let mut dirs = vec![self.home.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                match entry.file_type() {
                    Ok(t) if t.is_dir() => dirs.push(path),
                    Ok(t) if t.is_file() => {
                        let bytes = std::fs::read(&path).unwrap_or_default();
                        let text = String::from_utf8_lossy(&bytes);
                        for secret in self.fake.secrets() {
                            assert!(!text.contains(&secret), "a secret is in {}", path.display());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn a_two_node_cluster_lives_its_whole_life_on_the_compute_fake() {
    let world = World::new(2, 40);
    let task = world.task(
        "train.yaml",
        "name: train\nnum_nodes: 2\n\
         resources: {infra: gcp/us-central1, instance_type: e2-standard-2, ports: 8080}\n\
         setup: echo setup-done > setup.txt\n\
         run: echo \"rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES\"\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "trn", task.to_str().unwrap()]);
    let stdout = world.ok(&out);
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["(rank 0) rank 0 of 2", "(rank 1) rank 1 of 2"],
        "{}",
        text(&out.stderr)
    );
    let found = world.fake.google(
        "out = [dict(name=i.name, status=i.status, labels=dict(i.labels), type=i.machine_type.rsplit('/', 1)[-1])\n\
         \x20      for z, s in instances.aggregated_list(request={'project': PROJECT, 'filter': 'labels.aloft-cluster = trn'})\n\
         \x20      for i in s.instances]\n\
         fw = [list(f.allowed[0].ports) for f in firewalls.list(project=PROJECT)]\n\
         print(json.dumps(dict(instances=out, firewalls=fw)))",
    );
    let instances = found["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2, "{found}");
    assert!(
        instances
            .iter()
            .all(|i| i["status"] == "RUNNING" && i["type"] == "e2-standard-2")
    );
    assert_eq!(found["firewalls"], serde_json::json!([["8080"]]));
    // Each VM was given the cluster's own host key (cloud-init `user-data`, named
    // in the `aloft-host-key` item), answers with it, and was pinned to it before
    // the first connection.
    let machines: Vec<&Sshd> = world.machines.iter().collect();
    let public = common::assert_pinned_to_cluster_host_key(world.home.path(), &machines, "trn", 2);
    let items = world.fake.google(
        "out = [{m.key: m.value for m in i.metadata.items}\n\
         \x20      for z, s in instances.aggregated_list(request={'project': PROJECT, 'filter': 'labels.aloft-cluster = trn'})\n\
         \x20      for i in s.instances]\n\
         print(json.dumps(out))",
    );
    for vm in items.as_array().unwrap() {
        assert_eq!(
            vm["aloft-host-key"].as_str(),
            Some(public.as_str()),
            "{items}"
        );
        assert!(
            vm["user-data"]
                .as_str()
                .unwrap()
                .starts_with("#cloud-config\n")
        );
    }
    for m in &world.machines {
        assert!(
            m.home().join("sky_workdir/setup.txt").exists() || m.home().join("setup.txt").exists()
        );
    }
    let status = world.ok(&world.aloft(&["status", "-r", "-o", "json"]));
    let rows: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "gcp");

    world.ok(&world.aloft(&["stop", "-y", "trn"]));
    let states = world.fake.google(
        "print(json.dumps(sorted(i.status for z, s in instances.aggregated_list(request={'project': PROJECT}) for i in s.instances)))",
    );
    assert_eq!(states, serde_json::json!(["TERMINATED", "TERMINATED"]));
    world.ok(&world.aloft(&["start", "trn"]));
    let status = world.ok(&world.aloft(&["status", "-r", "-o", "json"]));
    let rows: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(rows[0]["status"], "UP", "{rows}");

    world.ok(&world.aloft(&["down", "-y", "trn"]));
    let left = world.fake.google(
        "print(json.dumps(dict(vms=[i.name for z, s in instances.aggregated_list(request={'project': PROJECT}) for i in s.instances], \
         fw=[f.name for f in firewalls.list(project=PROJECT)])))",
    );
    assert_eq!(left, serde_json::json!({"vms": [], "fw": []}));
    world.assert_no_secret_in_files();
}

/// The fake's status of `cluster`'s VMs (by their `aloft-cluster` label), sorted.
fn vm_states(world: &World, cluster: &str) -> serde_json::Value {
    world.fake.google(&format!(
        "r = instances.aggregated_list(request={{'project': PROJECT, 'filter': 'labels.aloft-cluster = {cluster}'}})\n\
         print(json.dumps(sorted(i.status for _, scoped in r for i in scoped.instances)))"
    ))
}

/// Waits (up to a minute) until every VM of `cluster` is `state`.
fn wait_for_vms(world: &World, cluster: &str, state: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = vm_states(world, cluster);
        if now
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|s| s == state))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{cluster} never became {state}: {now}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn autostop_and_autodown_power_off_with_no_credential_on_the_head() {
    // Compute Engine stops a VM whose OS shuts down: the head powers itself off
    // when idle, and no credential (no stop kit) goes to it.
    let world = World::new(2, 45);
    let task = world.task(
        "idle.yaml",
        "resources: {infra: gcp/us-central1, instance_type: e2-standard-2}\nrun: echo working\n",
    );
    let task = task.to_str().unwrap();
    let out = world.aloft(&["launch", "-y", "-i", "1", "-c", "as", task]);
    assert_eq!(world.ok(&out), "working\n");
    assert!(
        !text(&out.stderr).contains("stop kit"),
        "{}",
        text(&out.stderr)
    );
    wait_for_vms(&world, "as", "TERMINATED");
    let rows: serde_json::Value =
        serde_json::from_str(&world.ok(&world.aloft(&["status", "-r", "-o", "json"]))).unwrap();
    assert_eq!(rows[0]["name"], "as", "{rows}");
    assert_eq!(rows[0]["status"], "STOPPED", "{rows}");

    // Autodown: the head powers off the same way (Compute Engine only stops), the
    // launcher says so, and the next `status -r` deletes the stopped VM.
    let out = world.aloft(&["launch", "-y", "-i", "1", "--down", "-c", "ad", task]);
    assert_eq!(world.ok(&out), "working\n");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`aloft status -r` deletes it") && !stderr.contains("stop kit"),
        "{stderr}"
    );
    wait_for_vms(&world, "ad", "TERMINATED");
    let out = world.ok(&world.aloft(&["status", "-r", "-o", "json"]));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["as"], "{rows}");
    assert_eq!(vm_states(&world, "ad"), serde_json::json!([]));

    // No machine ever held a kit or aloft itself (which runs a kit), and nothing
    // anywhere holds the secret.
    for m in &world.machines {
        let files = common::files_under(&m.home());
        assert!(
            !files
                .iter()
                .any(|p| p.ends_with("stop-kit.json") || p.ends_with("bin/aloft-full")),
            "{files:?}"
        );
    }
    world.assert_no_secret_in_files();
    world.ok(&world.aloft(&["down", "-y", "as"]));
    assert_eq!(vm_states(&world, "as"), serde_json::json!([]));
}
