//! The bundled `fluidstack` provider end to end against a fake of Fluidstack's
//! REST API (`tests/fakes/fluidstack_api.py`, every request checked against the
//! clients and types of `fluidstack`, Fluidstack's official Fern-generated
//! package), through the `endpoint` override. Each instance the fake creates is a
//! real `sshd` "machine" on its own loopback address, and aloft's key reaches the
//! machine only because aloft registered it as the account SSH key the instance
//! was created with, so set-up and the job run for real on every node. Facts are
//! read back through the package's own client.

use crate::common;

use aloft_tests::fluidstack_fake::FluidstackFake;
use aloft_tests::sshd::Sshd;
use common::cloud_world::CloudWorld;
use common::text;
use serde_json::json;

/// The key only these tests know; it must never appear in any output or file.
const SECRET: &str = "fsk_ALOFTCLI_9e8d7c6b5a4f3e2d.NEVER-PRINTED";

type World = CloudWorld<FluidstackFake>;

impl World {
    /// The fake with `n` machines on 127.0.13.<first..>, aloft's config pointing
    /// at it and the key in `FLUIDSTACK_API_KEY`.
    fn new(n: u8, first: u8) -> World {
        let world = CloudWorld::start("127.0.13", n, first, SECRET, |machines| {
            FluidstackFake::start(SECRET, machines, 0.3)
        })
        .with_env("FLUIDSTACK_API_KEY", SECRET);
        world.write_config("fluidstack", &world.fake.endpoint(), "");
        world
    }
}

#[test]
fn a_two_node_fluidstack_cluster_lives_its_whole_life_and_leaves_nothing() {
    let world = World::new(2, 10);
    world.launch_on_every_machine("fs", "{infra: fluidstack/NORWAY, accelerators: RTXA4000:1}");
    // The machines opened to the cluster's own key only because aloft registered
    // it as the account key the instances were created with.
    world.assert_machines_hold_cluster_key("fs");
    assert_eq!(world.fake.account_keys(), ["aloft-fs"]);

    // Read back through the package: two instances named by role, one A4000 each,
    // in Norway, running, created with the cluster's account key.
    let facts = world.fake.sdk(
        "print(json.dumps(sorted([i.name, i.status, i.configuration.gpu_model.name,\n\
           i.configuration.gpu_count, i.configuration.region, i.ssh_keys]\n\
           for i in fs.instances.list())))",
    );
    assert_eq!(
        facts,
        json!([
            [
                "aloft-fs-head",
                "running",
                "RTX_A4000_16GB",
                1,
                "NORWAY",
                ["aloft-fs"]
            ],
            [
                "aloft-fs-worker-1",
                "running",
                "RTX_A4000_16GB",
                1,
                "NORWAY",
                ["aloft-fs"]
            ]
        ]),
    );
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "fluidstack");

    // Stop stops both; start runs them again and every rank runs.
    world.ok(&world.aloft(&["stop", "-y", "fs"]));
    assert_eq!(
        world.fake.live_instances(),
        [
            ("aloft-fs-head".to_string(), "stopped".to_string()),
            ("aloft-fs-worker-1".to_string(), "stopped".to_string())
        ]
    );
    assert_eq!(world.status_json()[0]["status"], "STOPPED");
    world.ok(&world.aloft(&["start", "fs"]));
    assert_eq!(world.status_json()[0]["status"], "UP");
    world.assert_every_rank_runs_again("fs", 2);

    // A relaunch creates nothing new; down deletes both and the account key.
    let task = world.home.path().join("train.yaml");
    world.ok(&world.aloft(&["launch", "-y", "-c", "fs", task.to_str().unwrap()]));
    assert_eq!(world.fake.state()["instances"].as_array().unwrap().len(), 2);
    world.ok(&world.aloft(&["down", "-y", "fs"]));
    assert!(world.fake.live_instances().is_empty());
    assert!(world.fake.account_keys().is_empty());
    world.fake.assert_requests_include(&[
        "GET /ssh_keys",
        "POST /ssh_keys",
        "GET /list_available_configurations",
        "POST /instances",
        "GET /instances",
        "PUT /instances/{instance_id}/stop",
        "PUT /instances/{instance_id}/start",
        "DELETE /instances/{instance_id}",
        "DELETE /ssh_keys/{ssh_key_name}",
    ]);
    world.assert_valid_and_secret_kept();
}

#[test]
fn plans_price_fluidstack_from_live_configurations_and_a_refused_key_says_why() {
    let world = World::new(0, 0);
    world.prepend_config("clouds: [fluidstack]\n");
    let said = |out: &std::process::Output| format!("{}{}", text(&out.stdout), text(&out.stderr));
    let big = world.task(
        "big.yaml",
        "resources: {accelerators: H100:8}\nrun: echo hi\n",
    );
    // A key Fluidstack refuses: the provider is not usable, with its reason.
    let wrong = "fsk-WRONG-REFUSED-NEVER-PRINTED";
    let dry = world
        .command(&["launch", "--dryrun", big.to_str().unwrap()])
        .env("FLUIDSTACK_API_KEY", wrong)
        .output()
        .unwrap();
    assert!(!dry.status.success(), "{}", said(&dry));
    assert!(
        said(&dry).contains("fluidstack is not usable"),
        "{}",
        said(&dry)
    );
    assert!(said(&dry).contains("Invalid API key"), "{}", said(&dry));
    assert!(!said(&dry).contains(wrong));
    // Without the variable, the key comes from ~/.fluidstack/api_key (the file
    // SkyPilot reads; here under a home outside aloft's).
    let home = world.xdg.path().join("home");
    std::fs::create_dir_all(home.join(".fluidstack")).unwrap();
    std::fs::write(home.join(".fluidstack/api_key"), format!("{SECRET}\n")).unwrap();
    let check = world
        .command(&["check", "-v", "fluidstack"])
        .env_remove("FLUIDSTACK_API_KEY")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(world.ok(&check).contains("fluidstack"), "{}", said(&check));
    // Live offers: 8 H100 SXM5 in Norway at 8 × 2.89.
    let dry = world.aloft(&["launch", "--dryrun", big.to_str().unwrap()]);
    assert!(dry.status.success(), "{}", said(&dry));
    assert!(said(&dry).contains("8x_H100_SXM5_80GB"), "{}", said(&dry));
    assert!(said(&dry).contains("23.12"), "{}", said(&dry));
    // With every cloud aloft ships prices for, Fluidstack is still a candidate.
    let all = world.aloft(&["launch", "--dryrun", "--all-clouds", big.to_str().unwrap()]);
    assert!(all.status.success(), "{}", said(&all));
    assert!(
        said(&all)
            .lines()
            .any(|l| l.contains("fluidstack (") && l.contains("8x_H100_SXM5_80GB")),
        "{}",
        said(&all)
    );
    // Fluidstack has no spot.
    let spot = world.task(
        "spot.yaml",
        "resources: {infra: fluidstack, accelerators: H100:8, use_spot: true}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", spot.to_str().unwrap()]);
    assert!(!dry.status.success(), "{}", said(&dry));
    assert!(
        said(&dry).contains("no spot price listed"),
        "{}",
        said(&dry)
    );
    // Nor ports (the API has no firewall call).
    let ports = world.task(
        "ports.yaml",
        "resources: {infra: fluidstack, accelerators: H100:8, ports: 8080}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", ports.to_str().unwrap()]);
    assert!(!dry.status.success(), "{}", said(&dry));
    assert!(
        said(&dry).contains("fluidstack: cannot open ports"),
        "{}",
        said(&dry)
    );
    // `gpus list` shows Fluidstack's live offers.
    let gpus = world.aloft(&["gpus", "list", "A4000", "--infra", "fluidstack"]);
    assert!(gpus.status.success(), "{}", said(&gpus));
    assert!(said(&gpus).contains("1x_RTX_A4000_16GB"), "{}", said(&gpus));
    assert!(said(&gpus).contains("CANADA"), "{}", said(&gpus));
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
fn the_fluidstack_provider_passes_the_conformance_kit_against_the_fake() {
    let world = World::new(3, 40);
    // The kit sends no public key: the create names the account's own key.
    world.fake.sdk(
        "fs.ssh_keys.create(name='laptop', public_key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKitkey kit')\n\
         print('null')",
    );
    let checks = world.conformance_kit("fluidstack", "NORWAY", "1x_RTX_A4000_16GB");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("stop"))),
        "Fluidstack declares stop/start: {checks:?}"
    );
    assert!(
        world.fake.live_instances().is_empty(),
        "the kit left nothing"
    );
    assert_eq!(
        world.fake.account_keys(),
        ["laptop"],
        "the kit left no key of its own and kept the user's"
    );
    world.assert_valid_and_secret_kept();
}

#[test]
fn a_fluidstack_launch_killed_anywhere_leaves_nothing_after_down() {
    let world = World::new(2, 50);
    let task = world.task(
        "two.yaml",
        "num_nodes: 2\nresources: {infra: fluidstack/CANADA, accelerators: RTXA4000:1}\n\
         setup: sleep 0.2\nrun: echo done\n",
    );
    // Before the creates, while they boot, during set-up.
    for (i, delay_ms) in [300u64, 1200, 2500].into_iter().enumerate() {
        world.kill_launch_and_down_all(&format!("k{i}"), &task, delay_ms);
        assert!(
            world.fake.live_instances().is_empty(),
            "killed after {delay_ms} ms: leaked"
        );
        assert!(
            world.fake.account_keys().is_empty(),
            "killed after {delay_ms} ms: a key was left"
        );
    }
    let made = world.fake.state()["instances"].as_array().unwrap().len();
    eprintln!("instances created by the killed launches: {made}");
    assert!(made >= 1);
    world.assert_valid_and_secret_kept();
}

#[test]
fn fluidstack_out_of_stock_fails_over_to_the_next_cloud_and_says_why() {
    use aloft_tests::runpod_fake::RunpodFake;
    const RUNPOD_KEY: &str = "rpa_FLUIDSTACKFAILOVER_NEVER_PRINTED";
    let world = World::new(1, 60);
    // Norway's A4000s are still listed, but the create is refused as out of
    // stock (the last one taken in between).
    world.fake.control(
        "capacity",
        json!({"gpu_type": "RTX_A4000_16GB", "region": "NORWAY", "exhausted": true}),
    );
    let machine = Sshd::start_machine(&world.home.path().join("rp"), "127.0.13.70");
    let runpod = RunpodFake::start(RUNPOD_KEY, &[&machine], 0.5);
    world.add_provider("runpod", &runpod.endpoint(), &machine.user);
    let task = world.task(
        "t.yaml",
        "resources:\n  ordered:\n    - {infra: fluidstack/NORWAY, accelerators: RTXA4000:1}\n    \
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
    assert!(
        said.contains("1 x RTX_A4000_16GB is out of stock in NORWAY"),
        "{said}"
    );
    assert!(!said.contains(RUNPOD_KEY));
    // Fluidstack has nothing (and keeps no key); RunPod has the pod.
    assert!(world.fake.live_instances().is_empty());
    assert!(
        world.fake.account_keys().is_empty(),
        "the key went with the failed try"
    );
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
