//! The bundled `nebius` provider end to end against a fake of Nebius AI Cloud's
//! gRPC API (`tests/fakes/nebius_api.py`: `grpcio` serving the service and
//! message descriptors of `nebius`, Nebius's official SDK, refusing any request
//! that does not parse as them), through the `endpoint` override: the provider
//! speaks gRPC over the host's `http2` import (h2c to the fake), mints its IAM
//! token by exchanging a JWT signed with the service account's key, and creates
//! instances whose cloud-init authorizes the cluster's key. Each instance the
//! fake creates is a real `sshd` "machine" on its own loopback address;
//! `ssh_proxy_command` (`tests/ssh_relay.py`) routes port 22 of that address to
//! the machine's sshd, and aloft's key reaches the machine only because the fake
//! appended the keys of the instance's cloud-init, so set-up and the job run for
//! real on every node.

use std::path::PathBuf;

use crate::common;

use aloft_tests::nebius_fake::{NebiusFake, PROJECT, SUBNET};
use aloft_tests::sshd::Sshd;
use common::cloud_world::CloudWorld;
use common::text;
use serde_json::json;

type World = CloudWorld<NebiusFake>;

/// The service account's RSA key (the SDK's test key): the fake trusts it.
fn key_pem() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../providers/sdk/src/test_key.pem")
}

/// A line of the private key: it must never appear in any output or file.
fn secret() -> String {
    let pem = std::fs::read_to_string(key_pem()).unwrap();
    pem.lines().nth(3).unwrap().to_string()
}

impl World {
    /// The fake with `n` machines on 127.0.25.<first..>, aloft's config pointing
    /// at it (project, subnet, the relay) and the credentials file's JSON in
    /// `NEBIUS_CREDENTIALS_JSON`.
    fn new(n: u8, first: u8) -> World {
        let world = CloudWorld::start("127.0.25", n, first, &secret(), |machines| {
            NebiusFake::start(&key_pem(), machines, 0.3)
        })
        .with_fake_secrets(NebiusFake::tokens)
        .with_env(
            "NEBIUS_CREDENTIALS_JSON",
            &NebiusFake::credentials_json(&key_pem()),
        );
        let proxy = world.relay_proxy_command(None);
        world.write_config_as(
            "nebius",
            &world.fake.endpoint(),
            "root",
            &format!(
                "    ssh_proxy_command: {proxy}\n    project_id: {PROJECT}\n    subnet_id: {SUBNET}\n"
            ),
        );
        world
    }
}

#[test]
fn a_two_node_nebius_cluster_lives_its_whole_life_over_grpc_and_leaves_nothing() {
    let world = World::new(2, 10);
    world.launch_on_every_machine("nb", "{infra: nebius/eu-north1, accelerators: H100:1}");
    world.assert_machines_hold_cluster_key("nb");
    // Read back through the package's own SDK: two instances named by role,
    // labelled with the cluster, on the catalog's H100 platform and preset, not
    // preemptible (no priority), running, attached to the subnet, cloud-init making the user.
    let credentials = world.xdg.path().join("nebius-credentials.json");
    std::fs::write(&credentials, NebiusFake::credentials_json(&key_pem())).unwrap();
    let facts = world.fake.sdk(
        &credentials,
        &format!(
            "from nebius.api.nebius.compute.v1 import InstanceServiceClient, ListInstancesRequest\n\
             r = InstanceServiceClient(sdk).list(ListInstancesRequest(parent_id={PROJECT:?})).wait()\n\
             print(json.dumps(sorted([i.metadata.name, i.metadata.labels['aloft-cluster'],\n\
               i.spec.resources.platform, i.spec.resources.preset, i.spec.preemptible.priority,\n\
               i.status.state.name, i.spec.network_interfaces[0].subnet_id,\n\
               '- name: {user}' in i.spec.cloud_init_user_data] for i in r.items)))",
            user = world.machines[0].user
        ),
    );
    let row = |name: &str| {
        json!([
            name,
            "nb",
            "gpu-h100-sxm",
            "1gpu-16vcpu-200gb",
            0,
            "RUNNING",
            SUBNET,
            true
        ])
    };
    assert_eq!(facts, json!([row("nb-head"), row("nb-worker-1")]));
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "nebius");

    // Stop stops both; start runs them again and every rank runs.
    world.ok(&world.aloft(&["stop", "-y", "nb"]));
    assert_eq!(
        world.fake.live_instances(),
        [
            ("nb-head".to_string(), "STOPPED".to_string()),
            ("nb-worker-1".to_string(), "STOPPED".to_string())
        ]
    );
    assert_eq!(world.status_json()[0]["status"], "STOPPED");
    world.ok(&world.aloft(&["start", "nb"]));
    assert_eq!(world.status_json()[0]["status"], "UP");
    world.assert_every_rank_runs_again("nb", 2);

    // A relaunch creates nothing new; down deletes both.
    let task = world.home.path().join("train.yaml");
    world.ok(&world.aloft(&["launch", "-y", "-c", "nb", task.to_str().unwrap()]));
    assert_eq!(world.fake.state()["instances"].as_array().unwrap().len(), 2);
    world.ok(&world.aloft(&["down", "-y", "nb"]));
    assert!(world.fake.live_instances().is_empty());
    world.fake.assert_requests_include(&[
        "TokenExchangeService/Exchange",
        "InstanceService/List",
        "InstanceService/Create",
        "InstanceService/Stop",
        "InstanceService/Start",
        "InstanceService/Delete",
    ]);
    // One token served every call of a command (the exchange is not repeated
    // per call): fewer exchanges than creates, stops, starts and deletes.
    let requests = world.fake.state()["requests"].clone();
    let count = |op: &str| {
        requests
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.as_str() == Some(op))
            .count()
    };
    assert!(
        count("TokenExchangeService/Exchange") < count("InstanceService/List"),
        "{requests}"
    );
    assert!(!world.fake.tokens().is_empty());
    world.assert_valid_and_secret_kept();
}

#[test]
fn nebius_out_of_capacity_fails_over_with_the_reason_and_the_kit_passes_from_the_key_file() {
    use aloft_tests::runpod_fake::RunpodFake;
    const RUNPOD_KEY: &str = "rpa_NEBIUSFAILOVER_NEVER_PRINTED";
    let world = World::new(3, 20);
    world.fake.control(
        "capacity",
        json!({"platform": "gpu-h100-sxm", "exhausted": true}),
    );
    let machine = Sshd::start_machine(&world.home.path().join("rp"), "127.0.25.70");
    let runpod = RunpodFake::start(RUNPOD_KEY, &[&machine], 0.5);
    world.add_provider("runpod", &runpod.endpoint(), &machine.user);
    let task = world.task(
        "t.yaml",
        "resources:\n  ordered:\n    - {infra: nebius/eu-north1, accelerators: H100:1}\n    \
         - {infra: runpod/US, accelerators: A40:1}\nrun: echo landed\n",
    );
    let out = world
        .command(&["launch", "-y", "-c", "xc", task.to_str().unwrap()])
        .env("RUNPOD_API_KEY", RUNPOD_KEY)
        .output()
        .unwrap();
    let stdout = world.ok(&out);
    assert!(stdout.contains("landed"), "{stdout}");
    let said = format!("{stdout}{}", text(&out.stderr));
    // The gRPC status and message, as the cloud said them.
    assert!(said.contains("RESOURCE_EXHAUSTED"), "{said}");
    assert!(
        said.contains("Not enough resources to create an instance of platform gpu-h100-sxm"),
        "{said}"
    );
    assert!(!said.contains(RUNPOD_KEY));
    assert!(world.fake.live_instances().is_empty());
    assert_eq!(runpod.live_pods().len(), 1);
    assert_eq!(world.status_json()[0]["provider"], "runpod");
    world.ok(&world
        .command(&["down", "-y", "xc"])
        .env("RUNPOD_API_KEY", RUNPOD_KEY)
        .output()
        .unwrap());
    assert!(runpod.live_pods().is_empty());
    world.fake.control(
        "capacity",
        json!({"platform": "gpu-h100-sxm", "exhausted": false}),
    );

    // Without the variable, the credentials come from ~/.nebius/credentials.json
    // (the file the nebius CLI and SkyPilot read; here under a home outside
    // aloft's); the conformance kit passes with them.
    let home = world.xdg.path().join("home");
    std::fs::create_dir_all(home.join(".nebius")).unwrap();
    std::fs::write(
        home.join(".nebius/credentials.json"),
        NebiusFake::credentials_json(&key_pem()),
    )
    .unwrap();
    let check = world
        .command(&["check", "-v", "nebius"])
        .env_remove("NEBIUS_CREDENTIALS_JSON")
        .env("HOME", &home)
        .output()
        .unwrap();
    let checked = world.ok(&check);
    assert!(checked.contains("nebius"), "{checked}");
    // A key Nebius does not know (another key id): the exchange is refused as
    // UNAUTHENTICATED, and the provider is not usable, with the reason.
    let wrong = NebiusFake::credentials_json(&key_pem())
        .replace(aloft_tests::nebius_fake::KEY_ID, "publickey-e00unknown");
    let refused = world
        .command(&["check", "-v", "nebius"])
        .env("NEBIUS_CREDENTIALS_JSON", &wrong)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&refused.stdout), text(&refused.stderr));
    assert!(said.contains("UNAUTHENTICATED"), "{said}");
    assert!(said.contains("unknown service account or key"), "{said}");
    assert!(!said.contains(&secret()), "secret leaked");
    // No ports are declared: a task with ports is not planned on Nebius.
    let ports = world.task(
        "ports.yaml",
        "resources: {infra: nebius, accelerators: H100:1, ports: 8080}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", ports.to_str().unwrap()]);
    let said = format!("{}{}", text(&dry.stdout), text(&dry.stderr));
    assert!(!dry.status.success(), "{said}");
    assert!(said.contains("nebius: cannot open ports"), "{said}");
    // The kit (`aloft providers test`) of the bundled component, with the
    // project and subnet as `configure` settings.
    let wasm = world.home.path().join("nebius.wasm");
    std::fs::write(&wasm, aloft_tests::components::provider("nebius")).unwrap();
    let kit = world
        .command(&[
            "providers",
            "test",
            "-y",
            wasm.to_str().unwrap(),
            "--endpoint",
            &world.fake.endpoint(),
            "--region",
            "eu-north1",
            "--instance-type",
            "cpu-d3_4vcpu-16gb",
            "--setting",
            &format!("project_id={PROJECT}"),
            "--setting",
            &format!("subnet_id={SUBNET}"),
            "--setting",
            &format!("ssh_user={}", world.machines[0].user),
            "-o",
            "json",
        ])
        .env_remove("NEBIUS_CREDENTIALS_JSON")
        .env("HOME", &home)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&world.ok(&kit)).unwrap();
    let checks = report["checks"].as_array().unwrap().clone();
    assert!(checks.len() >= 6, "{report}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{report}");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("stop"))),
        "Nebius declares stop/start: {checks:?}"
    );
    assert!(
        world.fake.live_instances().is_empty(),
        "the kit left nothing"
    );
    world.assert_valid_and_secret_kept();
}

#[test]
fn a_nebius_launch_killed_anywhere_leaves_nothing_after_down() {
    let world = World::new(2, 50);
    let task = world.task(
        "two.yaml",
        "num_nodes: 2\nresources: {infra: nebius/eu-north1, accelerators: H100:1, use_spot: true}\n\
         setup: sleep 0.2\nrun: echo done\n",
    );
    // While the creates go out, while they boot (spot: preemptible instances).
    for (i, delay_ms) in [1500u64, 3000].into_iter().enumerate() {
        world.kill_launch_and_down_all(&format!("k{i}"), &task, delay_ms);
        assert!(
            world.fake.live_instances().is_empty(),
            "killed after {delay_ms} ms: leaked"
        );
    }
    let state = world.fake.state();
    let made = state["instances"].as_array().unwrap();
    eprintln!("instances created by the killed launches: {}", made.len());
    assert!(!made.is_empty());
    // A spot task's instances are preemptible.
    assert!(made.iter().all(|i| i["preemptible"] == true), "{state}");
    world.assert_valid_and_secret_kept();
}
