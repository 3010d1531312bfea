//! The bundled `cudo` provider end to end against a fake of Cudo Compute's REST
//! API (`tests/fakes/cudo_api.py`, every request checked against the operations
//! and models of `cudo-compute`, Cudo's OpenAPI-generated package), through the
//! `endpoint` override. Each VM the fake creates is a real `sshd` "machine" on its
//! own loopback address; `ssh_proxy_command` (`tests/ssh_relay.py`) routes port 22
//! of that address to the machine's sshd, and aloft's key reaches the machine only
//! because the fake authorizes the VM's `customSshKeys`, so set-up and the job run
//! for real on every node. The API key and project are read by the host from
//! `~/.config/cudo/cudo.yml` (the file cudoctl writes; `HOME` is the world's own
//! folder, outside aloft's home); facts are read back through the package's
//! client.

use crate::common;

use std::process::Output;

use aloft_tests::cudo_fake::CudoFake;
use aloft_tests::sshd::Sshd;
use common::cloud_world::CloudWorld;
use common::text;
use serde_json::json;

/// The key only these tests know; it must never appear in any output or file.
const SECRET: &str = "cudo-ALOFTCLI-7c6b5a4d3e2f1.NEVER-PRINTED";
/// The project of the context.
const PROJECT: &str = "aloft-tests";
/// A data center of the fake with RTX A4000s.
const DC: &str = "se-smedjebacken-1";

type World = CloudWorld<CudoFake>;

impl World {
    /// The fake with `n` machines on 127.0.12.<first..>, the key and project in
    /// `cudo.yml` (in its own context, another context holding a wrong key) and
    /// aloft's config pointing at the fake behind the relay.
    fn new(n: u8, first: u8) -> World {
        let world = CloudWorld::start("127.0.12", n, first, SECRET, |machines| {
            CudoFake::start(SECRET, PROJECT, machines, 0.5)
        });
        // HOME is the world's config folder (outside aloft's home), as cudoctl
        // and the package read `~/.config/cudo/cudo.yml`.
        let home = world.xdg.path().to_str().expect("a UTF-8 path").to_string();
        let cudo = world.xdg.path().join(".config/cudo");
        std::fs::create_dir_all(&cudo).unwrap();
        std::fs::write(
            cudo.join("cudo.yml"),
            format!(
                "configVersion: v0\ncurrent-context: work\ncontexts:\n\
                 - {{name: old, key: old-key, project: old-project}}\n\
                 - {{name: work, key: work-key, project: {PROJECT}}}\n\
                 keys:\n- {{name: old-key, key: cudo-OLD-WRONG-KEY}}\n\
                 - {{name: work-key, key: {SECRET}}}\n"
            ),
        )
        .unwrap();
        let world = world.with_env("HOME", &home);
        world.write_config_behind_relay("cudo", "root", None);
        world
    }
}

#[test]
fn a_two_node_cudo_cluster_lives_its_whole_life_on_cudo_vms() {
    let world = World::new(2, 10);
    world.launch_on_every_machine(
        "cu",
        &format!("{{infra: cudo/{DC}, accelerators: RTXA4000:1, ports: 8080}}"),
    );
    // The machines opened to the cluster's own key only because aloft created the
    // VMs with it.
    world.assert_machines_hold_cluster_key("cu");

    // Read back through cudo-compute: two VMs named by role, marked with the
    // cluster, of one A4000 each, in the data center, running, in the cluster's
    // security group, which lets SSH and 8080 in.
    let facts = world.fake.sdk(
        "print(json.dumps(sorted([v.id, v.machine_type, v.datacenter_id, v.gpu_quantity, v.vcpus,\n\
           v.memory, v.state, v.metadata, v.security_group_ids] for v in vms.list_vms(project).vms)))",
    );
    let group = world.fake.sdk(
        "g = net.get_security_group(project, 'cu-ports').security_group\n\
         print(json.dumps([g.data_center_id, sorted([r.ports, r.ip_range_cidr] for r in g.rules\n\
           if r.rule_type == 'RULE_TYPE_INBOUND')]))",
    );
    assert_eq!(
        group,
        json!([DC, [["22", "0.0.0.0/0"], ["8080", "0.0.0.0/0"]]]),
    );
    assert_eq!(
        facts,
        json!([
            ["cu-head", "epyc-milan-rtx-a4000", DC, 1, 8, 32, "ACTIVE",
             {"aloft-cluster": "cu", "aloft-role": "head"}, ["cu-ports"]],
            ["cu-worker-1", "epyc-milan-rtx-a4000", DC, 1, 8, 32, "ACTIVE",
             {"aloft-cluster": "cu", "aloft-role": "worker"}, ["cu-ports"]]
        ]),
    );
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "cudo");

    // Stop stops both VMs; start runs them again and every rank runs.
    world.ok(&world.aloft(&["stop", "-y", "cu"]));
    assert_eq!(
        world.fake.live_vms(),
        [
            ("cu-head".to_string(), "STOPPED".to_string()),
            ("cu-worker-1".to_string(), "STOPPED".to_string())
        ]
    );
    assert_eq!(world.status_json()[0]["status"], "STOPPED");
    world.ok(&world.aloft(&["start", "cu"]));
    assert_eq!(world.status_json()[0]["status"], "UP");
    world.assert_every_rank_runs_again("cu", 2);

    // A relaunch of the same task creates nothing; down terminates both VMs and
    // deletes the security group.
    let task = world.home.path().join("train.yaml");
    world.ok(&world.aloft(&["launch", "-y", "-c", "cu", task.to_str().unwrap()]));
    world.ok(&world.aloft(&["down", "-y", "cu"]));
    assert!(world.fake.live_vms().is_empty());
    let state = world.fake.state();
    assert_eq!(state["vms"].as_array().unwrap().len(), 2, "{state}");
    assert!(
        state["security_groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["deleted"] == true),
        "{state}"
    );
    world.fake.assert_requests_include(&[
        "GET /v1/projects/{id}",
        "GET /v1/vms/machine-types-2",
        "POST /v1/projects/{projectId}/vm",
        "GET /v1/projects/{projectId}/vms",
        "POST /v1/projects/{projectId}/vms/{id}/stop",
        "POST /v1/projects/{projectId}/vms/{id}/start",
        "POST /v1/projects/{projectId}/vms/{id}/terminate",
        "POST /v1/projects/{securityGroup.projectId}/networks/security-groups",
        "DELETE /v1/projects/{projectId}/networks/security-groups/{id}",
    ]);
    world.assert_valid_and_secret_kept();
}

#[test]
fn plans_price_cudo_from_live_machine_types_and_a_refused_key_says_why() {
    let world = World::new(0, 0);
    world.prepend_config("clouds: [cudo]\n");
    let said = |out: &Output| format!("{}{}", text(&out.stdout), text(&out.stderr));
    let big = world.task(
        "big.yaml",
        "resources: {accelerators: H100:8}\nrun: echo hi\n",
    );
    // A key Cudo refuses (the variable wins over cudo.yml): the provider is not
    // usable, with Cudo's reason.
    let wrong = "cudo-WRONG-REFUSED-NEVER-PRINTED";
    let dry = world
        .command(&["launch", "--dryrun", big.to_str().unwrap()])
        .env("CUDO_API_KEY", wrong)
        .output()
        .unwrap();
    assert!(!dry.status.success(), "{}", said(&dry));
    assert!(said(&dry).contains("cudo is not usable"), "{}", said(&dry));
    assert!(said(&dry).contains("invalid api key"), "{}", said(&dry));
    assert!(!said(&dry).contains(wrong));
    // 8 × H100 in New York from the live machine types: 64 vCPUs, 256 GiB.
    let dry = world.aloft(&["launch", "--dryrun", big.to_str().unwrap()]);
    assert!(dry.status.success(), "{}", said(&dry));
    assert!(
        said(&dry).contains("sapphire-rapids-h100_8x64v256gb"),
        "{}",
        said(&dry)
    );
    assert!(said(&dry).contains("us-newyork-1"), "{}", said(&dry));
    // With every cloud aloft ships prices for, Cudo is still a candidate.
    let all = world.aloft(&["launch", "--dryrun", "--all-clouds", big.to_str().unwrap()]);
    assert!(all.status.success(), "{}", said(&all));
    assert!(
        said(&all)
            .lines()
            .any(|l| l.contains("cudo (") && l.contains("sapphire-rapids-h100_8x64v256gb")),
        "{}",
        said(&all)
    );
    // `gpus list --infra cudo` lists the live A4000 offers (Cudo has no catalog).
    let gpus = world.aloft(&["gpus", "list", "RTXA4000", "--infra", "cudo"]);
    assert!(gpus.status.success(), "{}", said(&gpus));
    assert!(said(&gpus).contains("RTXA4000"), "{}", said(&gpus));
    assert!(
        said(&gpus).contains("0.21"),
        "1 × A4000 in Sweden, 0.2078/h: {}",
        said(&gpus)
    );
    // Two nodes plan; spot does not (Cudo has none).
    let two = world.task(
        "two.yaml",
        "num_nodes: 2\nresources: {infra: cudo, accelerators: RTXA4000:1}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", two.to_str().unwrap()]);
    assert!(dry.status.success(), "{}", said(&dry));
    let spot = world.task(
        "spot.yaml",
        "resources: {infra: cudo, accelerators: RTXA4000:1, use_spot: true}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", spot.to_str().unwrap()]);
    assert!(!dry.status.success(), "{}", said(&dry));
    assert!(said(&dry).contains("no spot"), "{}", said(&dry));
    // Nothing was created: only reads.
    let requests = world.fake.state()["requests"].clone();
    assert!(
        requests.as_array().unwrap().iter().all(|r| r
            .as_str()
            .is_some_and(|r| r.starts_with("GET ") || r == "UNAUTHORIZED")),
        "{requests}"
    );
    world.assert_valid_and_secret_kept();
}

#[test]
fn the_cudo_provider_passes_the_conformance_kit_against_the_fake() {
    let world = World::new(3, 40);
    let checks = world.conformance_kit("cudo", DC, "epyc-milan-rtx-a4000_1x8v32gb");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("stop"))),
        "Cudo declares stop/start: {checks:?}"
    );
    assert!(world.fake.live_vms().is_empty(), "the kit left nothing");
    world.assert_valid_and_secret_kept();
}

#[test]
fn a_cudo_launch_killed_anywhere_leaves_nothing_after_down() {
    let world = World::new(2, 50);
    let task = world.task(
        "two.yaml",
        &format!(
            "num_nodes: 2\nresources: {{infra: cudo/{DC}, accelerators: RTXA4000:1}}\n\
             setup: sleep 0.2\nrun: echo done\n"
        ),
    );
    // Before the create, between the two creates, while they boot, during set-up.
    for (i, delay_ms) in [300u64, 900, 1500, 2500].into_iter().enumerate() {
        world.kill_launch_and_down_all(&format!("k{i}"), &task, delay_ms);
        assert!(
            world.fake.live_vms().is_empty(),
            "killed after {delay_ms} ms: leaked"
        );
    }
    let state = world.fake.state();
    let made = state["vms"].as_array().unwrap().len();
    eprintln!("VMs created by the killed launches: {made}");
    assert!(made >= 1, "{state}");
    world.assert_valid_and_secret_kept();
}

#[test]
fn cudo_out_of_capacity_fails_over_to_the_next_cloud_and_says_why() {
    use aloft_tests::runpod_fake::RunpodFake;
    const RUNPOD_KEY: &str = "rpa_CUDOFAILOVER_NEVER_PRINTED";
    const UK: &str = "gb-bournemouth-1";
    let world = World::new(1, 60);
    // Sweden's machine types show no free A4000: refused before any create.
    world.fake.control(
        "capacity",
        json!({"data_center": DC, "exhausted": true, "reported": true}),
    );
    // In the UK they still show free GPUs, but the create is refused with gRPC
    // RESOURCE_EXHAUSTED, as when the last host is taken in between.
    world
        .fake
        .control("capacity", json!({"data_center": UK, "exhausted": true}));
    let machine = Sshd::start_machine(&world.home.path().join("rp"), "127.0.12.70");
    let runpod = RunpodFake::start(RUNPOD_KEY, &[&machine], 0.5);
    world.add_provider("runpod", &runpod.endpoint(), &machine.user);
    let task = world.task(
        "t.yaml",
        &format!(
            "resources:\n  ordered:\n    - {{infra: cudo/{DC}, accelerators: RTXA4000:1}}\n    \
             - {{infra: cudo/{UK}, accelerators: RTXA4000:1}}\n    \
             - {{infra: runpod/US, accelerators: A40:1}}\nrun: echo landed\n"
        ),
    );
    let out = world
        .command(&["launch", "-y", "-c", "xc", task.to_str().unwrap()])
        .env("RUNPOD_API_KEY", RUNPOD_KEY)
        .output()
        .unwrap();
    let stdout = world.ok(&out);
    assert!(stdout.contains("landed"), "{stdout}");
    let said = format!("{stdout}{}", text(&out.stderr));
    assert!(
        said.contains(&format!(
            "Cudo has no room for 1 × epyc-milan-rtx-a4000_1x8v32gb in {DC}"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("resource exhausted: no host in {UK}")),
        "{said}"
    );
    assert!(!said.contains(RUNPOD_KEY));
    // Cudo has nothing; RunPod has the pod.
    assert!(world.fake.live_vms().is_empty());
    let requests = world.fake.state()["requests"].clone();
    let creates = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| *r == "POST /v1/projects/{projectId}/vm")
        .count();
    assert_eq!(creates, 1, "one create, in the UK: {requests}");
    assert_eq!(runpod.live_pods().len(), 1);
    assert_eq!(world.status_json()[0]["provider"], "runpod");
    world.ok(&world
        .command(&["down", "-y", "xc"])
        .env("RUNPOD_API_KEY", RUNPOD_KEY)
        .output()
        .unwrap());
    assert!(runpod.live_pods().is_empty());
    world.assert_valid_and_secret_kept();
    common::assert_secret_in_no_file(world.home.path(), RUNPOD_KEY);
}
