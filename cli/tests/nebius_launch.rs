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
        World::configured(n, first, true)
    }

    /// [`World::new`], the subnet set in the config or not (found in the
    /// project).
    fn configured(n: u8, first: u8, subnet: bool) -> World {
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
                "    ssh_proxy_command: {proxy}\n    project_id: {PROJECT}\n{}",
                if subnet {
                    format!("    subnet_id: {SUBNET}\n")
                } else {
                    String::new()
                }
            ),
        );
        world
    }
}

#[test]
fn a_two_node_nebius_cluster_lives_its_whole_life_over_grpc_and_leaves_nothing() {
    let world = World::new(2, 10);
    // With a port: the subnet is the configured one (its network looked up for
    // the cluster's security group, which both nodes share).
    world.launch_on_every_machine(
        "nb",
        "{infra: nebius/eu-north1, accelerators: H100:1, ports: 8888}",
    );
    let state = world.fake.state();
    let groups = live(&state, "security_groups");
    assert_eq!(groups.len(), 1, "{state}");
    let nodes = state["instances"].as_array().unwrap();
    assert!(
        nodes.len() == 2
            && nodes
                .iter()
                .all(|i| i["security_groups"] == json!([groups[0]["id"]])),
        "{state}"
    );
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
    // Each instance was given the cluster's own host key (`ssh_keys` in the same
    // cloud-init document as the user), named in a label that queries read back;
    // the machines answer with it, and it was pinned for both nodes before the
    // first connection.
    let public = world.assert_pinned_to_cluster_host_key("nb", 2);
    let given = world.fake.sdk(
        &credentials,
        &format!(
            "import base64\n\
             from nebius.api.nebius.compute.v1 import InstanceServiceClient, ListInstancesRequest\n\
             head = b'\\0\\0\\0\\x0bssh-ed25519\\0\\0\\0\\x20'\n\
             r = InstanceServiceClient(sdk).list(ListInstancesRequest(parent_id={PROJECT:?})).wait()\n\
             print(json.dumps([['ssh-ed25519 ' + base64.b64encode(head + base64.b32decode(\n\
             \x20   i.metadata.labels['aloft-host-key'].upper() + '====')).decode(),\n\
             \x20 i.spec.cloud_init_user_data] for i in r.items]))"
        ),
    );
    let given = given.as_array().unwrap();
    assert_eq!(given.len(), 2, "{given:?}");
    for g in given {
        assert_eq!(g[0].as_str(), Some(public.as_str()), "{g}");
        let user_data = g[1].as_str().unwrap();
        assert!(
            user_data.contains(&format!("ed25519_public: {public}")),
            "{user_data}"
        );
        assert!(
            user_data.contains(&format!("- name: {}", world.machines[0].user)),
            "{user_data}"
        );
    }
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
    assert!(live(&world.fake.state(), "security_groups").is_empty());
    world.fake.assert_requests_include(&[
        "SubnetService/Get",
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
    // Ports are declared (security groups): a task with ports plans on Nebius.
    let ports = world.task(
        "ports.yaml",
        "resources: {infra: nebius, accelerators: H100:1, ports: 8080}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", ports.to_str().unwrap()]);
    let said = format!("{}{}", text(&dry.stdout), text(&dry.stderr));
    assert!(dry.status.success(), "{said}");
    assert!(!said.contains("cannot open ports"), "{said}");
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

/// The live (not deleted) items of the fake's state list `what`.
fn live(state: &serde_json::Value, what: &str) -> Vec<serde_json::Value> {
    state[what]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["deleted"] == false)
        .cloned()
        .collect()
}

#[test]
fn a_nebius_task_with_ports_gets_a_security_group_on_the_found_subnet_and_down_leaves_none() {
    // No subnet_id in the config: the project's only subnet is found.
    let world = World::configured(1, 30, false);
    let task = world.task(
        "web.yaml",
        "resources: {infra: nebius/eu-north1, accelerators: H100:1, ports: [8080, 9000-9009]}\n\
         run: echo serving\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "web", task.to_str().unwrap()]);
    let stdout = world.ok(&out);
    assert!(stdout.contains("serving"), "{stdout}");
    // Read back through the package's own SDK: the cluster's group in the
    // subnet's network, its rules (egress, the group's own traffic, SSH, the 11
    // ports eight a rule), and the instance on the found subnet with the group.
    let credentials = world.xdg.path().join("nebius-credentials.json");
    std::fs::write(&credentials, NebiusFake::credentials_json(&key_pem())).unwrap();
    let facts = world.fake.sdk(
        &credentials,
        &format!(
            "from nebius.api.nebius.vpc.v1 import SecurityGroupServiceClient, ListSecurityGroupsRequest, \
             SecurityRuleServiceClient, ListSecurityRulesRequest\n\
             from nebius.api.nebius.compute.v1 import InstanceServiceClient, ListInstancesRequest\n\
             groups = SecurityGroupServiceClient(sdk).list(ListSecurityGroupsRequest(parent_id={PROJECT:?})).wait().items\n\
             out = {{'groups': [[g.metadata.name, g.metadata.labels['aloft-cluster'], g.spec.network_id] for g in groups]}}\n\
             gid = groups[0].metadata.id\n\
             rules = SecurityRuleServiceClient(sdk).list(ListSecurityRulesRequest(parent_id=gid)).wait().items\n\
             out['rules'] = sorted([r.metadata.name, r.spec.access.name, r.spec.protocol.name,\n\
               (r.spec.ingress.source_security_group_id == gid) if r.spec.ingress else None,\n\
               list(r.spec.ingress.source_cidrs) if r.spec.ingress else list(r.spec.egress.destination_cidrs),\n\
               list(r.spec.ingress.destination_ports) if r.spec.ingress else []] for r in rules)\n\
             inst = InstanceServiceClient(sdk).list(ListInstancesRequest(parent_id={PROJECT:?})).wait().items\n\
             out['nics'] = [[i.spec.network_interfaces[0].subnet_id,\n\
               [g.id == gid for g in i.spec.network_interfaces[0].security_groups]] for i in inst]\n\
             print(json.dumps(out))"
        ),
    );
    assert_eq!(
        facts["groups"],
        json!([["web-aloft", "web", "vpcnetwork-e00aloftfake"]]),
        "{facts}"
    );
    let anywhere = json!(["0.0.0.0/0"]);
    assert_eq!(
        facts["rules"],
        json!([
            ["cluster", "ALLOW", "ANY", true, [], []],
            ["egress", "ALLOW", "ANY", null, anywhere, []],
            [
                "ports-8080-9006",
                "ALLOW",
                "TCP",
                false,
                anywhere,
                [8080, 9000, 9001, 9002, 9003, 9004, 9005, 9006]
            ],
            [
                "ports-9007-9009",
                "ALLOW",
                "TCP",
                false,
                anywhere,
                [9007, 9008, 9009]
            ],
            ["ssh", "ALLOW", "TCP", false, anywhere, [22]],
        ]),
        "{facts}"
    );
    assert_eq!(facts["nics"], json!([[SUBNET, [true]]]), "{facts}");

    // A relaunch makes no second group or rule; down deletes the instance,
    // then the group's rules and the group.
    world.ok(&world.aloft(&["launch", "-y", "-c", "web", task.to_str().unwrap()]));
    let state = world.fake.state();
    assert_eq!(live(&state, "security_groups").len(), 1, "{state}");
    assert_eq!(live(&state, "security_rules").len(), 5, "{state}");
    world.ok(&world.aloft(&["down", "-y", "web"]));
    let state = world.fake.state();
    assert!(world.fake.live_instances().is_empty());
    assert!(live(&state, "security_groups").is_empty(), "{state}");
    assert!(live(&state, "security_rules").is_empty(), "{state}");
    world.fake.assert_requests_include(&[
        "SubnetService/List",
        "SecurityGroupService/Create",
        "SecurityRuleService/Create",
        "SecurityRuleService/Delete",
        "SecurityGroupService/Delete",
    ]);

    // No subnet in the project, or two: the launch fails naming the setting
    // (and the subnets), before any instance is made.
    let plain = world.task(
        "plain.yaml",
        "resources: {infra: nebius/eu-north1, accelerators: H100:1}\nrun: echo hi\n",
    );
    for (subnets, expected) in [
        (json!([]), "has no VPC subnet"),
        (
            json!([SUBNET, "vpcsubnet-e00second"]),
            "has 2 VPC subnets (vpcsubnet-e00aloftfake, vpcsubnet-e00second)",
        ),
    ] {
        world.fake.control("subnets", json!({ "subnets": subnets }));
        let out = world.aloft(&["launch", "-y", "-c", "nosub", plain.to_str().unwrap()]);
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{said}");
        assert!(said.contains(expected), "{said}");
        assert!(said.contains("providers.nebius.subnet_id"), "{said}");
        assert!(world.fake.live_instances().is_empty());
    }
    // Out of capacity after its group was made: the failed candidate is cleaned
    // up, the group with it.
    world
        .fake
        .control("subnets", json!({ "subnets": [SUBNET] }));
    world.fake.control(
        "capacity",
        json!({"platform": "gpu-h100-sxm", "exhausted": true}),
    );
    let out = world.aloft(&["launch", "-y", "-c", "full", task.to_str().unwrap()]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("RESOURCE_EXHAUSTED"), "{said}");
    let state = world.fake.state();
    let made = state["security_groups"].as_array().unwrap();
    assert!(made.iter().any(|g| g["name"] == "full-aloft"), "{state}");
    assert!(live(&state, "security_groups").is_empty(), "{state}");
    assert!(live(&state, "security_rules").is_empty(), "{state}");
    world.assert_valid_and_secret_kept();
}

#[test]
fn plans_price_nebius_from_its_api_and_the_catalog_is_only_the_fallback() {
    let world = World::new(0, 0);
    // Asked every time (no cached answer), Nebius among the user's clouds.
    world.prepend_config("offers_cache_secs: 0\nclouds: [nebius]\n");
    let task = world.task(
        "big.yaml",
        "resources: {accelerators: H100:8}\nrun: echo hi\n",
    );
    let plan = |args: &[&str]| {
        let mut all = vec!["launch", "--dryrun"];
        all.extend_from_slice(args);
        all.push(task.to_str().unwrap());
        let out = world.aloft(&all);
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{said}");
        said
    };
    let nebius_line = |said: &str| {
        said.lines()
            .find(|l| l.contains("nebius (") && l.contains("gpu-h100-sxm_8gpu-128vcpu-1600gb"))
            .unwrap_or_else(|| panic!("no Nebius H100:8 candidate: {said}"))
            .to_string()
    };
    // With every cloud aloft ships prices for: Nebius's H100:8 at the
    // calculator's 21.37/h, not the catalog's 23.60.
    let said = plan(&["--all-clouds"]);
    let line = nebius_line(&said);
    assert!(line.contains("21.37"), "{said}");
    assert!(!line.contains("23.6"), "{said}");
    let state = world.fake.state();
    let requests = state["requests"].as_array().unwrap();
    for call in ["PlatformService/List", "CalculatorService/EstimateBatch"] {
        assert!(
            requests.iter().any(|r| r.as_str() == Some(call)),
            "{call}: {requests:?}"
        );
    }
    // `gpus list` shows the same live prices.
    let gpus = world.aloft(&["gpus", "list", "H100", "--infra", "nebius"]);
    let listed = format!("{}{}", text(&gpus.stdout), text(&gpus.stderr));
    assert!(gpus.status.success(), "{listed}");
    assert!(listed.contains("21.37"), "{listed}");
    assert!(!listed.contains("23.6"), "{listed}");
    // A price Nebius changes is the plan's next time, spot included.
    world.fake.control(
        "price",
        json!({"platform": "gpu-h100-sxm", "preset": "8gpu-128vcpu-1600gb",
               "price": "19.84", "spot_price": "7.25"}),
    );
    assert!(nebius_line(&plan(&[])).contains("19.84"));
    assert!(nebius_line(&plan(&["--use-spot"])).contains("7.25"));
    // A price that is no price (negative) is not believed: that preset is not
    // offered (the calculator's other answers still are), and the catalog's
    // price does not come back in its place.
    world.fake.control(
        "price",
        json!({"platform": "gpu-h100-sxm", "preset": "8gpu-128vcpu-1600gb",
               "price": "-5", "spot_price": "3.00"}),
    );
    let out = world.aloft(&["launch", "--dryrun", task.to_str().unwrap()]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("H100:1"),
        "the 1-GPU preset is still offered: {said}"
    );
    assert!(!said.contains("8gpu"), "{said}");
    // The calculator refused (a service account without billing access): the
    // catalog prices Nebius, and a warning says so.
    world.fake.control("calculator", json!({"refuse": true}));
    let said = plan(&["--all-clouds"]);
    assert!(said.contains("no live offers"), "{said}");
    assert!(said.contains("PERMISSION_DENIED"), "{said}");
    assert!(nebius_line(&said).contains("23.6"), "{said}");
    world.assert_valid_and_secret_kept();
}
