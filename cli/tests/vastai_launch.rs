//! The bundled `vastai` provider end to end against a fake of Vast.ai's REST API
//! (`tests/fakes/vastai_api.py`, every request checked against what Vast.ai's
//! official package `vastai-sdk` sends), through the `endpoint` override. Each
//! instance the fake rents is a real `sshd` "machine" on its own loopback address,
//! its port 22 "mapped" to the machine's sshd port, and aloft's key reaches the
//! machine only because the fake authorizes the keys attached to the instance, so
//! set-up and the job run for real. The API key is read by the host from the file
//! Vast.ai's CLI writes (`$XDG_CONFIG_HOME/vastai/vast_api_key`); facts are read
//! back through the package's own client.

use crate::common;

use std::process::{Command, Output};

use aloft_tests::sshd::Sshd;
use aloft_tests::vastai_fake::VastFake;
use common::cloud_world::CloudWorld;
use common::text;
use serde_json::json;

/// The key only these tests know; it must never appear in any output or file
/// (the fake's `users/current` answer carries it, as Vast.ai's does).
const SECRET: &str = "vastkey0ALOFTCLI9f8e7d6c5b4a3.NEVER-PRINTED";

type World = CloudWorld<VastFake>;

impl World {
    /// The fake with `n` machines on 127.0.11.<first..>, aloft's config pointing
    /// at it and the key in Vast.ai's key file (under `XDG_CONFIG_HOME`, outside
    /// aloft's home, which must never hold the key).
    fn new(n: u8, first: u8) -> World {
        let world = CloudWorld::start("127.0.11", n, first, SECRET, |machines| {
            VastFake::start(SECRET, machines, 0.5)
        });
        let keys = world.xdg.path().join("vastai");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::write(keys.join("vast_api_key"), format!("{SECRET}\n")).unwrap();
        world.write_config("vastai", &world.fake.endpoint(), "");
        world
    }

    /// `aloft ARGS` in this world with the trace log on, as every run here has.
    fn traced(&self, args: &[&str]) -> Command {
        let mut command = self.command(args);
        command.env("ALOFT_LOG", "trace");
        command
    }
}

#[test]
fn a_vastai_instance_lives_its_whole_life_on_a_rented_offer() {
    let world = World::new(1, 10);
    world.launch_on_every_machine(
        "va",
        "{infra: vastai/US, accelerators: RTX4090:1, ports: 8080, image_id: docker:vastai/pytorch:2.4}",
    );
    // The machine opened to the cluster's own key only because aloft attached it
    // to the instance.
    world.assert_machines_hold_cluster_key("va");

    // Read back through the vastai package: one instance labelled by role, of the
    // cheapest US RTX 4090 offer, on demand, with 8080 mapped, running the task's
    // image (the instance is the container: none is made inside it).
    let facts = world.fake.sdk(
        "print(json.dumps([dict(label=i['label'], gpu=i['gpu_name'], n=i['num_gpus'],\n\
           geo=i['geolocation'], bid=i['is_bid'], ports=sorted(i['ports']), runtype=i['image_runtype'],\n\
           image=i['image_uuid'])\n\
           for i in vast.show_instances()]))",
    );
    assert_eq!(
        facts,
        json!([{"label": "aloft/va-head", "gpu": "RTX 4090", "n": 1, "geo": "Texas, US",
                "bid": false, "ports": ["22/tcp", "8080/tcp"], "runtype": "ssh_direc ssh_proxy",
                "image": "vastai/pytorch:2.4"}]),
    );
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "vastai");

    // Stop stops the instance (state stopped); start runs it again.
    world.ok(&world.aloft(&["stop", "-y", "va"]));
    assert_eq!(
        world.fake.live_instances(),
        [("aloft/va-head".to_string(), "exited".to_string())]
    );
    assert_eq!(world.status_json()[0]["status"], "STOPPED");
    world.ok(&world.aloft(&["start", "va"]));
    assert_eq!(world.status_json()[0]["status"], "UP");
    let again = world.task("again.yaml", "run: echo ran after restart\n");
    assert!(
        world
            .ok(&world.aloft(&["exec", "va", again.to_str().unwrap()]))
            .contains("ran after restart")
    );

    // A relaunch (of the same task) rents nothing new; down destroys the instance.
    let task = world.home.path().join("train.yaml");
    world.ok(&world.aloft(&["launch", "-y", "-c", "va", task.to_str().unwrap()]));
    world.ok(&world.aloft(&["down", "-y", "va"]));
    assert!(world.fake.live_instances().is_empty());
    let state = world.fake.state();
    assert_eq!(state["instances"].as_array().unwrap().len(), 1, "{state}");
    world.fake.assert_requests_include(&[
        "GET /api/v0/users/current",
        "POST /api/v0/bundles/",
        "PUT /api/v0/asks/{id}/",
        "POST /api/v0/instances/{instance_id}/ssh/",
        "PUT /api/v0/instances/{id}/",
        "DELETE /api/v0/instances/{id}/",
    ]);
    world.assert_valid_and_secret_kept();
}

#[test]
fn plans_price_vastai_from_live_offers_with_bids_as_spot_and_one_node_only() {
    let world = World::new(0, 0);
    world.prepend_config("clouds: [vastai]\n");
    let said = |out: &Output| format!("{}{}", text(&out.stdout), text(&out.stderr));
    let big = world.task(
        "big.yaml",
        "resources: {accelerators: H100:8}\nrun: echo hi\n",
    );
    // A key Vast.ai refuses (the variable wins over the key file): the provider is
    // not usable, with Vast.ai's reason.
    let wrong = "vastkey-WRONG-REFUSED-NEVER-PRINTED";
    let dry = world
        .traced(&["launch", "--dryrun", big.to_str().unwrap()])
        .env("VAST_API_KEY", wrong)
        .output()
        .unwrap();
    assert!(!dry.status.success(), "{}", said(&dry));
    assert!(
        said(&dry).contains("vastai is not usable"),
        "{}",
        said(&dry)
    );
    assert!(said(&dry).contains("Invalid user key"), "{}", said(&dry));
    assert!(!said(&dry).contains(wrong));
    let dry = world.aloft(&["launch", "--dryrun", big.to_str().unwrap()]);
    assert!(dry.status.success(), "{}", said(&dry));
    assert!(said(&dry).contains("8x_H100_SXM"), "{}", said(&dry));
    // With every cloud aloft ships prices for, Vast.ai is still a candidate.
    let all = world.aloft(&["launch", "--dryrun", "--all-clouds", big.to_str().unwrap()]);
    assert!(all.status.success(), "{}", said(&all));
    assert!(
        said(&all)
            .lines()
            .any(|l| l.contains("vastai (") && l.contains("8x_H100_SXM")),
        "{}",
        said(&all)
    );
    // Spot is an interruptible instance priced at the offer's minimum bid.
    let spot = world.task(
        "spot.yaml",
        "resources: {infra: vastai, accelerators: H100:8, use_spot: true}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", spot.to_str().unwrap()]);
    assert!(dry.status.success(), "{}", said(&dry));
    assert!(
        said(&dry).contains("9.8"),
        "the minimum bid: {}",
        said(&dry)
    );
    // Two nodes cannot be planned on Vast.ai.
    let two = world.task(
        "two.yaml",
        "num_nodes: 2\nresources: {infra: vastai, accelerators: RTX4090:1}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", two.to_str().unwrap()]);
    assert!(!dry.status.success(), "{}", said(&dry));
    assert!(said(&dry).contains("no multi-node"), "{}", said(&dry));
    // Nothing was rented: only reads and offer searches.
    let requests = world.fake.state()["requests"].clone();
    assert!(
        requests.as_array().unwrap().iter().all(|r| r
            .as_str()
            .is_some_and(|r| r.starts_with("GET ")
                || r == "POST /api/v0/bundles/"
                || r == "UNAUTHORIZED")),
        "{requests}"
    );
    world.assert_valid_and_secret_kept();
}

#[test]
fn the_vastai_provider_passes_the_conformance_kit_against_the_fake() {
    let world = World::new(3, 40);
    let checks = world.conformance_kit("vastai", "CA", "1x_RTX_4090");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("stop"))),
        "Vast.ai declares stop/start: {checks:?}"
    );
    assert!(
        world.fake.live_instances().is_empty(),
        "the kit left nothing"
    );
    world.assert_valid_and_secret_kept();
}

#[test]
fn a_launch_killed_anywhere_leaves_nothing_after_down() {
    let world = World::new(1, 50);
    let task = world.task(
        "one.yaml",
        "resources: {infra: vastai/SE, accelerators: RTX4090:1}\nsetup: sleep 0.2\nrun: echo done\n",
    );
    // Before the rent, between the rent and the key, while it boots, during set-up.
    for (i, delay_ms) in [300u64, 900, 1500, 2500].into_iter().enumerate() {
        world.kill_launch_and_down_all(&format!("k{i}"), &task, delay_ms);
        assert!(
            world.fake.live_instances().is_empty(),
            "killed after {delay_ms} ms: leaked"
        );
    }
    let state = world.fake.state();
    let made = state["instances"].as_array().unwrap().len();
    eprintln!("instances rented by the killed launches: {made}");
    assert!(made >= 1, "{state}");
    world.assert_valid_and_secret_kept();
}

#[test]
fn no_vastai_offer_left_fails_over_to_the_next_cloud_and_says_why() {
    use aloft_tests::runpod_fake::RunpodFake;
    const RUNPOD_KEY: &str = "rpa_VASTFAILOVER_NEVER_PRINTED";
    let world = World::new(1, 60);
    world.fake.control("capacity", json!({"exhausted": true}));
    let machine = Sshd::start_machine(&world.home.path().join("rp"), "127.0.11.70");
    let runpod = RunpodFake::start(RUNPOD_KEY, &[&machine], 0.5);
    world.add_provider("runpod", &runpod.endpoint(), &machine.user);
    let task = world.task(
        "t.yaml",
        "resources:\n  ordered:\n    - {infra: vastai/US, accelerators: RTX4090:1}\n    \
         - {infra: runpod/US, accelerators: A40:1}\nrun: echo landed\n",
    );
    let out = world
        .traced(&["launch", "-y", "-c", "xc", task.to_str().unwrap()])
        .env("RUNPOD_API_KEY", RUNPOD_KEY)
        .output()
        .unwrap();
    let stdout = world.ok(&out);
    assert!(stdout.contains("landed"), "{stdout}");
    let said = format!("{stdout}{}", text(&out.stderr));
    assert!(said.contains("is not available"), "{said}");
    assert!(!said.contains(RUNPOD_KEY));
    // Vast.ai has nothing; RunPod has the pod.
    assert!(world.fake.live_instances().is_empty());
    assert_eq!(runpod.live_pods().len(), 1);
    assert_eq!(world.status_json()[0]["provider"], "runpod");
    world.ok(&world
        .traced(&["down", "-y", "xc"])
        .env("RUNPOD_API_KEY", RUNPOD_KEY)
        .output()
        .unwrap());
    assert!(runpod.live_pods().is_empty());
    world.assert_valid_and_secret_kept();
    common::assert_secret_in_no_file(world.home.path(), RUNPOD_KEY);
}

#[test]
fn a_spot_instance_is_rented_with_a_bid_reported_preempted_when_outbid_and_started_again() {
    let world = World::new(1, 80);
    let task = world.task(
        "spot.yaml",
        "resources: {infra: vastai/SE, accelerators: RTX4090:1, use_spot: true}\nrun: echo on a bid\n",
    );
    assert!(
        world
            .ok(&world.aloft(&["launch", "-y", "-c", "sp", task.to_str().unwrap()]))
            .contains("on a bid")
    );
    // Read back through the package: interruptible, at the offer's minimum bid.
    let facts = world
        .fake
        .sdk("print(json.dumps([[i['id'], i['is_bid']] for i in vast.show_instances()]))");
    assert_eq!(facts[0][1], true, "{facts}");
    let id = facts[0][0].as_u64().unwrap();
    world.fake.control("outbid", json!({"id": id}));
    let out = world.aloft(&["status", "-r"]);
    let said = format!("{}{}", world.ok(&out), text(&out.stderr));
    assert!(said.contains("PREEMPTED"), "{said}");
    assert_eq!(world.status_json()[0]["status"], "INIT");
    // A relaunch starts the outbid instance again instead of renting another.
    assert!(
        world
            .ok(&world.aloft(&["launch", "-y", "-c", "sp", task.to_str().unwrap()]))
            .contains("on a bid")
    );
    assert_eq!(world.fake.state()["instances"].as_array().unwrap().len(), 1);
    world.ok(&world.aloft(&["down", "-y", "sp"]));
    assert!(world.fake.live_instances().is_empty());
    world.assert_valid_and_secret_kept();
}

#[test]
fn an_idle_cluster_is_stopped_by_its_head_through_the_stop_kit() {
    let world = World::new(1, 90);
    let task = world.task(
        "idle.yaml",
        "resources: {infra: vastai/US, accelerators: RTX4090:1}\nrun: echo working\n",
    );
    let out = world
        .traced(&[
            "launch",
            "-y",
            "-i",
            "1",
            "-c",
            "idle",
            task.to_str().unwrap(),
        ])
        .env("ALOFT_AUTOSTOP_SECONDS_PER_MINUTE", "1")
        .output()
        .unwrap();
    assert!(world.ok(&out).contains("working"));
    // The head's stop kit stops the instance through Vast.ai's API.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while world.fake.live_instances() != [("aloft/idle-head".to_string(), "exited".to_string())] {
        assert!(
            std::time::Instant::now() < deadline,
            "not stopped: {:?}\n{}",
            world.fake.live_instances(),
            world.fake.state()["requests"]
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    world.ok(&world.aloft(&["down", "-y", "idle"]));
    assert!(world.fake.live_instances().is_empty());
    world.assert_valid_and_secret_kept();
}
