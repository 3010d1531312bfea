//! The bundled `primeintellect` provider end to end against a fake of Prime
//! Intellect's REST API (`tests/fakes/primeintellect_api.py`, every request
//! checked against what Prime Intellect's official package `prime` sends),
//! through the `endpoint` override. Each pod the fake creates is a real `sshd`
//! "machine" on its own loopback address, and aloft's key reaches the machine only
//! because aloft registered it as an account SSH key before the pod was created
//! (the pod API takes no key), so set-up and the job run for real. Facts are read
//! back through the package's own client.

use crate::common;

use aloft_tests::primeintellect_fake::PrimeFake;
use aloft_tests::sshd::Sshd;
use common::cloud_world::CloudWorld;
use common::text;
use serde_json::json;

/// The key only these tests know; it must never appear in any output or file.
const SECRET: &str = "pit_ALOFTCLI_4b3a2f1e0d9c8b7a.NEVER-PRINTED";

type World = CloudWorld<PrimeFake>;

impl World {
    /// The fake with `n` machines on 127.0.12.<first..>, aloft's config pointing
    /// at it and the key in `PRIME_API_KEY`.
    fn new(n: u8, first: u8) -> World {
        let world = CloudWorld::start("127.0.12", n, first, SECRET, |machines| {
            PrimeFake::start(SECRET, machines, 0.5)
        })
        .with_env("PRIME_API_KEY", SECRET);
        world.write_config("primeintellect", &world.fake.endpoint(), "");
        world
    }
}

#[test]
fn a_prime_intellect_pod_lives_its_whole_life_and_leaves_nothing() {
    let world = World::new(1, 10);
    world.launch_on_every_machine("pi", "{infra: primeintellect/US, accelerators: RTX4090:1}");
    // The machine opened to the cluster's own key only because aloft registered
    // it on the account before the pod was made.
    world.assert_machines_hold_cluster_key("pi");
    assert_eq!(world.fake.account_keys(), ["aloft-pi"]);

    // Read back through the prime package: one pod named by role, of the cheapest
    // in-stock US RTX 4090 offer, on demand.
    let facts = world.fake.sdk(
        "print(json.dumps([dict(name=p.name, gpu=p.gpu_type, n=p.gpu_count, spot=p.is_spot,\n\
           provider=p.provider_type, status=p.status) for p in pods.list().data]))",
    );
    assert_eq!(
        facts,
        json!([{"name": "aloft-pi-head", "gpu": "RTX4090_24GB", "n": 1, "spot": false,
                "provider": "runpod", "status": "ACTIVE"}]),
    );
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "primeintellect");

    // No stop on Prime Intellect: refused, nothing changes.
    let stop = world.aloft(&["stop", "-y", "pi"]);
    assert!(!stop.status.success());
    assert!(
        text(&stop.stderr).contains("cannot be stopped"),
        "{}",
        text(&stop.stderr)
    );
    assert_eq!(world.fake.live_pods().len(), 1);

    // A relaunch creates nothing new; down deletes the pod and the account key.
    let task = world.home.path().join("train.yaml");
    world.ok(&world.aloft(&["launch", "-y", "-c", "pi", task.to_str().unwrap()]));
    assert_eq!(world.fake.state()["pods"].as_array().unwrap().len(), 1);
    world.ok(&world.aloft(&["down", "-y", "pi"]));
    assert!(world.fake.live_pods().is_empty());
    assert!(world.fake.account_keys().is_empty());
    world.fake.assert_requests_include(&[
        "GET /api/v1/user/whoami",
        "GET /api/v1/availability/gpus",
        "POST /api/v1/ssh_keys/",
        "POST /api/v1/pods",
        "DELETE /api/v1/pods/{pod_id}",
        "DELETE /api/v1/ssh_keys/{key_id}",
    ]);
    world.assert_valid_and_secret_kept();
}

#[test]
fn plans_price_prime_intellect_from_live_availability_with_spot_and_one_node_only() {
    let world = World::new(0, 0);
    world.prepend_config("clouds: [primeintellect]\n");
    let said = |out: &std::process::Output| format!("{}{}", text(&out.stdout), text(&out.stderr));
    let big = world.task(
        "big.yaml",
        "resources: {accelerators: H100:8}\nrun: echo hi\n",
    );
    // A key Prime Intellect refuses: the provider is not usable, with its reason.
    let wrong = "pit-WRONG-REFUSED-NEVER-PRINTED";
    let dry = world
        .command(&["launch", "--dryrun", big.to_str().unwrap()])
        .env("PRIME_API_KEY", wrong)
        .output()
        .unwrap();
    assert!(!dry.status.success(), "{}", said(&dry));
    assert!(
        said(&dry).contains("primeintellect is not usable"),
        "{}",
        said(&dry)
    );
    assert!(said(&dry).contains("Invalid API key"), "{}", said(&dry));
    assert!(!said(&dry).contains(wrong));
    // Without the variable, the key comes from the file `prime login` writes
    // (`~/.prime/config.json`, here under a home outside aloft's).
    let home = world.xdg.path().join("home");
    std::fs::create_dir_all(home.join(".prime")).unwrap();
    std::fs::write(
        home.join(".prime/config.json"),
        json!({"api_key": SECRET, "team_id": null, "base_url": "https://api.primeintellect.ai"})
            .to_string(),
    )
    .unwrap();
    let check = world
        .command(&["check", "-v", "primeintellect"])
        .env_remove("PRIME_API_KEY")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(
        world.ok(&check).contains("sam@example.com"),
        "{}",
        said(&check)
    );
    // Live offers: the cheapest 8x H100 is Finland's.
    let dry = world.aloft(&["launch", "--dryrun", big.to_str().unwrap()]);
    assert!(dry.status.success(), "{}", said(&dry));
    assert!(said(&dry).contains("8x_H100_80GB_SXM5"), "{}", said(&dry));
    assert!(said(&dry).contains("21.6"), "{}", said(&dry));
    // With every cloud aloft ships prices for, Prime Intellect is still a candidate.
    let all = world.aloft(&["launch", "--dryrun", "--all-clouds", big.to_str().unwrap()]);
    assert!(all.status.success(), "{}", said(&all));
    assert!(
        said(&all)
            .lines()
            .any(|l| l.contains("primeintellect (") && l.contains("8x_H100_80GB_SXM5")),
        "{}",
        said(&all)
    );
    // Spot is a spot offer's price.
    let spot = world.task(
        "spot.yaml",
        "resources: {infra: primeintellect, accelerators: H100:8, use_spot: true}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", spot.to_str().unwrap()]);
    assert!(dry.status.success(), "{}", said(&dry));
    assert!(
        said(&dry).contains("12"),
        "the spot offer's price: {}",
        said(&dry)
    );
    // Two nodes cannot be planned on Prime Intellect.
    let two = world.task(
        "two.yaml",
        "num_nodes: 2\nresources: {infra: primeintellect, accelerators: RTX4090:1}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", two.to_str().unwrap()]);
    assert!(!dry.status.success(), "{}", said(&dry));
    assert!(said(&dry).contains("no multi-node"), "{}", said(&dry));
    // `gpus list` shows Prime Intellect's live offers.
    let gpus = world.aloft(&["gpus", "list", "H100", "--infra", "primeintellect"]);
    assert!(gpus.status.success(), "{}", said(&gpus));
    assert!(said(&gpus).contains("primeintellect"), "{}", said(&gpus));
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
fn the_primeintellect_provider_passes_the_conformance_kit_against_the_fake() {
    let world = World::new(3, 40);
    let checks = world.conformance_kit("primeintellect", "US", "1x_RTX4090_24GB_PCIe");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("stop"))),
        "stop must answer unsupported: {checks:?}"
    );
    assert!(world.fake.live_pods().is_empty(), "the kit left nothing");
    world.assert_valid_and_secret_kept();
}

#[test]
fn a_launch_killed_anywhere_leaves_nothing_after_down() {
    let world = World::new(1, 50);
    let task = world.task(
        "one.yaml",
        "resources: {infra: primeintellect/CA, accelerators: RTX4090:1}\nsetup: sleep 0.2\nrun: echo done\n",
    );
    // Before the pod, while it provisions, during set-up.
    for (i, delay_ms) in [300u64, 1200, 2500].into_iter().enumerate() {
        world.kill_launch_and_down_all(&format!("k{i}"), &task, delay_ms);
        assert!(
            world.fake.live_pods().is_empty(),
            "killed after {delay_ms} ms: leaked"
        );
        assert!(
            world.fake.account_keys().is_empty(),
            "killed after {delay_ms} ms: a key was left"
        );
    }
    let made = world.fake.state()["pods"].as_array().unwrap().len();
    eprintln!("pods created by the killed launches: {made}");
    assert!(made >= 1);
    world.assert_valid_and_secret_kept();
}

#[test]
fn no_prime_intellect_stock_fails_over_to_the_next_cloud_and_says_why() {
    use aloft_tests::vastai_fake::VastFake;
    const VAST_KEY: &str = "vastkey_PRIMEFAILOVER_NEVER_PRINTED";
    let world = World::new(1, 60);
    world.fake.control("capacity", json!({"exhausted": true}));
    let machine = Sshd::start_machine(&world.home.path().join("va"), "127.0.12.70");
    let vast = VastFake::start(VAST_KEY, &[&machine], 0.5);
    world.add_provider("vastai", &vast.endpoint(), &machine.user);
    let task = world.task(
        "t.yaml",
        "resources:\n  ordered:\n    - {infra: primeintellect/US, accelerators: RTX4090:1}\n    \
         - {infra: vastai/US, accelerators: RTX4090:1}\nrun: echo landed\n",
    );
    let out = world
        .command(&["launch", "-y", "-c", "xc", task.to_str().unwrap()])
        .env("VAST_API_KEY", VAST_KEY)
        .output()
        .unwrap();
    let stdout = world.ok(&out);
    assert!(stdout.contains("landed"), "{stdout}");
    let said = format!("{stdout}{}", text(&out.stderr));
    assert!(said.contains("configuration is not available"), "{said}");
    assert!(!said.contains(VAST_KEY));
    // Prime Intellect has nothing (and keeps no key); Vast.ai has the instance.
    assert!(world.fake.live_pods().is_empty());
    assert_eq!(vast.live_instances().len(), 1);
    assert_eq!(world.status_json()[0]["provider"], "vastai");
    world.ok(&world
        .command(&["down", "-y", "xc"])
        .env("VAST_API_KEY", VAST_KEY)
        .output()
        .unwrap());
    assert!(vast.live_instances().is_empty());
    assert!(world.fake.account_keys().is_empty(), "down removed the key");
    world.assert_valid_and_secret_kept();
    common::assert_secret_in_no_file(world.home.path(), VAST_KEY);
}
