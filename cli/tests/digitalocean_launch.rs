//! The bundled `digitalocean` provider end to end against a fake of DigitalOcean's
//! REST API v2 (`tests/fakes/digitalocean_api.py`, every request checked against
//! the operations of `pydo`, DigitalOcean's OpenAPI-generated client), through the
//! `endpoint` override. Each droplet the fake creates is a real `sshd` "machine"
//! on its own loopback address; `ssh_proxy_command` (`tests/ssh_relay.py`) routes
//! port 22 of that address to the machine's sshd, and aloft's key reaches the
//! machine only because the fake authorizes the account keys named in the
//! droplet's `ssh_keys`, so set-up and the job run for real on every node. Facts
//! are read back through pydo.

use crate::common;

use std::path::PathBuf;

use aloft_tests::digitalocean_fake::DigitalOceanFake;
use aloft_tests::sshd::Sshd;
use common::cloud_world::CloudWorld;
use common::text;

/// The token only these tests know; it must never appear in any output or file.
const SECRET: &str = "dop_v1_ALOFTCLI0c9b8a7d6e5f4.NEVER-PRINTED";

type World = CloudWorld<DigitalOceanFake>;

impl World {
    /// The fake with `n` machines on 127.0.9.<first..>, aloft's config pointing at
    /// it (and the relay routing each machine's port 22 to its sshd).
    fn new(n: u8, first: u8) -> World {
        let world = CloudWorld::start("127.0.9", n, first, SECRET, |machines| {
            DigitalOceanFake::start(SECRET, machines, 1.0)
        })
        .with_env("DIGITALOCEAN_ACCESS_TOKEN", SECRET);
        world.write_config_behind_relay("digitalocean", "root", None);
        world
    }
}

#[test]
fn a_two_node_gpu_cluster_lives_its_whole_life_on_digitalocean_droplets() {
    let world = World::new(2, 10);
    world.launch_on_every_machine(
        "do1",
        "{infra: digitalocean/nyc2, accelerators: H100:1, ports: 8080}",
    );
    // The machines opened to the cluster's own key only because the droplets were
    // created with the account key aloft registered for it.
    world.assert_machines_hold_cluster_key("do1");
    // Each droplet was given the cluster's own host key (cloud-init `user_data`),
    // named in a tag that queries read back; the machines answer with it, and it
    // was pinned for both nodes before the first connection.
    let public = world.assert_pinned_to_cluster_host_key("do1", 2);
    let private =
        std::fs::read_to_string(world.home.path().join("keys/clusters/do1/host/aloft-key"))
            .unwrap();
    let state = world.fake.state();
    let made = state["droplets"].as_array().unwrap();
    assert_eq!(made.len(), 2, "{state}");
    for d in made {
        let user_data = d["user_data"].as_str().unwrap();
        assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
        assert!(user_data.contains(&public), "{user_data}");
        assert!(
            private
                .lines()
                .all(|l| user_data.contains(&format!("    {l}\n"))),
            "{user_data}"
        );
    }
    let named = world.fake.pydo(
        "import base64\n\
         head = b'\\0\\0\\0\\x0bssh-ed25519\\0\\0\\0\\x20'\n\
         ds = client.droplets.list(tag_name='aloft-c-do1', **o)['droplets']\n\
         print(json.dumps([['ssh-ed25519 ' + base64.b64encode(head + base64.b32decode(t.split(':', 1)[1].upper() + '====')).decode()\n\
         \x20                for t in d['tags'] if t.startswith('aloft-host-key:')] for d in ds]))",
    );
    assert_eq!(
        named,
        serde_json::json!([[public.clone()], [public.clone()]]),
        "{named}"
    );

    // Read back through pydo: two droplets named by role, tagged with the cluster,
    // of the H100 size, in nyc2; the cluster's firewall on its tag with 22 and 8080.
    let facts = world.fake.pydo(
        "ds = client.droplets.list(tag_name='aloft-c-do1', **o)['droplets']\n\
         fws = client.firewalls.list(**o)['firewalls']\n\
         keys = client.ssh_keys.list(**o)['ssh_keys']\n\
         print(json.dumps(dict(\n\
           droplets=sorted([d['name'], d['size_slug'], d['region']['slug'], d['status']] for d in ds),\n\
           firewalls=[dict(name=f['name'], tags=f['tags'],\n\
                           ports=sorted(r['ports'] for r in f['inbound_rules'] if 'addresses' in r['sources'])) for f in fws],\n\
           keys=[k['name'] for k in keys])))",
    );
    assert_eq!(
        facts["droplets"],
        serde_json::json!([
            ["do1-head", "gpu-h100x1-80gb", "nyc2", "active"],
            ["do1-worker-1", "gpu-h100x1-80gb", "nyc2", "active"]
        ]),
        "{facts}"
    );
    assert_eq!(
        facts["firewalls"],
        serde_json::json!([{"name": "aloft-do1", "tags": ["aloft-c-do1"], "ports": ["22", "8080"]}]),
        "{facts}"
    );
    assert_eq!(facts["keys"].as_array().unwrap().len(), 1, "{facts}");
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "digitalocean");

    // Stop powers the droplets off; start powers them on; the cluster runs again.
    world.ok(&world.aloft(&["stop", "-y", "do1"]));
    assert_eq!(
        world.fake.live_droplets(),
        [
            ("do1-head".to_string(), "off".to_string()),
            ("do1-worker-1".to_string(), "off".to_string())
        ]
    );
    assert_eq!(world.status_json()[0]["status"], "STOPPED");
    world.ok(&world.aloft(&["start", "do1"]));
    assert_eq!(world.status_json()[0]["status"], "UP");
    world.assert_every_rank_runs_again("do1", 2);

    // Down leaves nothing: no droplet, no firewall, no SSH key aloft registered.
    world.ok(&world.aloft(&["down", "-y", "do1"]));
    assert!(world.fake.live_droplets().is_empty());
    let left = world.fake.pydo(
        "print(json.dumps(dict(firewalls=len(client.firewalls.list(**o)['firewalls']),\n\
           keys=len(client.ssh_keys.list(**o)['ssh_keys']),\n\
           host_key_tags=[t['name'] for t in client.tags.list(**o)['tags'] if t['name'].startswith('aloft-host-key')])))",
    );
    assert_eq!(
        left,
        serde_json::json!({"firewalls": 0, "keys": 0, "host_key_tags": []})
    );
    assert_eq!(world.status_json(), serde_json::json!([]));
    world.assert_every_request_valid();
    world.fake.assert_requests_include(&[
        "POST /v2/droplets",
        "POST /v2/firewalls",
        "POST /v2/account/keys",
        "POST /v2/droplets/{droplet_id}/actions",
        "DELETE /v2/droplets",
        "DELETE /v2/firewalls/{firewall_id}",
        "DELETE /v2/account/keys/{ssh_key_identifier}",
        "DELETE /v2/tags/{tag_id}",
    ]);
    world.assert_no_secret_in_files();
}

#[test]
fn no_capacity_in_one_region_fails_over_to_the_next_and_says_why() {
    let world = World::new(1, 30);
    world.fake.control(
        "capacity",
        serde_json::json!({"size": "gpu-h100x1-80gb", "region": "nyc2", "exhausted": true}),
    );
    let task = world.task(
        "t.yaml",
        "resources:\n  ordered:\n    - {infra: digitalocean/nyc2, accelerators: H100:1}\n    \
         - {infra: digitalocean/tor1, accelerators: H100:1}\nrun: echo landed\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "fo", task.to_str().unwrap()]);
    let stdout = world.ok(&out);
    assert!(stdout.contains("landed"), "{stdout}");
    let said = format!("{stdout}{}", text(&out.stderr));
    assert!(
        said.contains("Size is not available in this region"),
        "{said}"
    );
    // The droplet is in tor1, and nyc2 has none.
    let regions = world.fake.pydo(
        "print(json.dumps([d['region']['slug'] for d in client.droplets.list(**o)['droplets']]))",
    );
    assert_eq!(regions, serde_json::json!(["tor1"]));
    world.ok(&world.aloft(&["down", "-y", "fo"]));
    assert!(world.fake.live_droplets().is_empty());
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}

#[test]
fn every_cloud_plan_asks_digitalocean_when_its_token_is_set_without_clouds_naming_it() {
    // No `clouds:` and a task that names no cloud: with the token set, planning
    // over every cloud asks DigitalOcean (no shipped catalog) for its sizes.
    let world = World::new(0, 0);
    let task = world.task(
        "big.yaml",
        "resources: {accelerators: H100:8}\nrun: echo hi\n",
    );
    let all = world.aloft(&["launch", "--dryrun", "--all-clouds", task.to_str().unwrap()]);
    let said = format!("{}{}", text(&all.stdout), text(&all.stderr));
    assert!(all.status.success(), "{said}");
    assert!(
        said.lines()
            .any(|l| l.contains("digitalocean (") && l.contains("gpu-h100x8-640gb")),
        "{said}"
    );
    assert!(!said.contains(SECRET));
}

#[test]
fn plans_price_digitalocean_from_its_live_sizes_and_never_offer_spot() {
    let world = World::new(0, 0);
    world.prepend_config("clouds: [digitalocean]\n");
    let task = world.task(
        "big.yaml",
        "resources: {accelerators: H100:8}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", task.to_str().unwrap()]);
    let said = format!("{}{}", text(&dry.stdout), text(&dry.stderr));
    assert!(dry.status.success(), "{said}");
    assert!(said.contains("gpu-h100x8-640gb"), "{said}");
    assert!(said.contains("digitalocean"), "{said}");
    // With every cloud aloft ships prices for, DigitalOcean is still a candidate.
    let all = world.aloft(&["launch", "--dryrun", "--all-clouds", task.to_str().unwrap()]);
    let said = format!("{}{}", text(&all.stdout), text(&all.stderr));
    assert!(all.status.success(), "{said}");
    assert!(
        said.lines()
            .any(|l| l.contains("digitalocean (") && l.contains("gpu-h100x8-640gb")),
        "{said}"
    );
    let spot = world.task(
        "spot.yaml",
        "resources: {infra: digitalocean, accelerators: H100:1, use_spot: true}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", spot.to_str().unwrap()]);
    let said = format!("{}{}", text(&dry.stdout), text(&dry.stderr));
    assert!(!dry.status.success(), "{said}");
    assert!(said.contains("no spot"), "{said}");
    assert!(!said.contains(SECRET));
    // Nothing was asked of DigitalOcean beyond reading.
    let requests = world.fake.state()["requests"].clone();
    assert!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_str().is_some_and(|r| r.starts_with("GET "))),
        "{requests}"
    );
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}

#[test]
fn the_digitalocean_provider_passes_the_conformance_kit_against_the_fake() {
    let world = World::new(3, 40);
    let checks = world.conformance_kit("digitalocean", "tor1", "s-2vcpu-4gb");
    // DigitalOcean declares stop/start: the kit stopped and started the cluster.
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("stop"))),
        "{checks:?}"
    );
    assert!(
        world.fake.live_droplets().is_empty(),
        "the kit left nothing"
    );
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}

#[test]
fn a_launch_killed_anywhere_leaves_nothing_after_down() {
    let world = World::new(1, 50);
    let task = world.task(
        "one.yaml",
        "resources: {infra: digitalocean/tor1, instance_type: s-2vcpu-4gb, ports: 8080}\n\
         setup: sleep 0.2\nrun: echo done\n",
    );
    // Points across the launch: the credential check and plan, the key and the
    // firewall, the create, the wait for SSH, the set-up.
    for (i, delay_ms) in [150u64, 400, 700, 1000, 1400, 2000, 3000]
        .into_iter()
        .enumerate()
    {
        world.kill_launch_and_down_all(&format!("k{i}"), &task, delay_ms);
        let left = world.fake.pydo(
            "print(json.dumps(dict(\n\
               droplets=[d['name'] for d in client.droplets.list(**o)['droplets']],\n\
               firewalls=[f['name'] for f in client.firewalls.list(**o)['firewalls']],\n\
               keys=[k['name'] for k in client.ssh_keys.list(**o)['ssh_keys']])))",
        );
        assert_eq!(
            left,
            serde_json::json!({"droplets": [], "firewalls": [], "keys": []}),
            "killed after {delay_ms} ms: leaked"
        );
    }
    // Some kills fell after a droplet, its firewall and its key were made.
    let state = world.fake.state();
    let made = state["droplets"].as_array().unwrap().len();
    eprintln!("droplets made by the killed launches: {made}");
    assert!(made >= 1, "{state}");
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}

#[test]
fn no_capacity_anywhere_on_digitalocean_fails_over_to_the_next_cloud_and_says_why() {
    use aloft_tests::runpod_fake::RunpodFake;
    const RUNPOD_KEY: &str = "rpa_DOFAILOVER_NEVER_PRINTED";
    let world = World::new(1, 60);
    world
        .fake
        .control("capacity", serde_json::json!({"exhausted": true}));
    let machine = Sshd::start_machine(&world.home.path().join("rp"), "127.0.9.70");
    let runpod = RunpodFake::start(RUNPOD_KEY, &[&machine], 0.5);
    world.add_provider("runpod", &runpod.endpoint(), &machine.user);
    let task = world.task(
        "t.yaml",
        "resources:\n  ordered:\n    - {infra: digitalocean/nyc2, accelerators: H100:1}\n    \
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
        said.contains("Size is not available in this region"),
        "{said}"
    );
    assert!(!said.contains(RUNPOD_KEY));
    // DigitalOcean has nothing; RunPod has the pod.
    assert!(world.fake.live_droplets().is_empty());
    assert_eq!(runpod.live_pods().len(), 1);
    let rows = world.status_json();
    assert_eq!(rows[0]["provider"], "runpod", "{rows}");
    let down = world
        .command(&["down", "-y", "xc"])
        .env("RUNPOD_API_KEY", RUNPOD_KEY)
        .output()
        .unwrap();
    world.ok(&down);
    assert!(runpod.live_pods().is_empty());
    // The firewall the failed try made in nyc2 went with the failover (or `down`).
    let left = world.fake.pydo(
        "print(json.dumps(dict(firewalls=len(client.firewalls.list(**o)['firewalls']),\n\
           keys=len(client.ssh_keys.list(**o)['ssh_keys']),\n\
           host_key_tags=[t['name'] for t in client.tags.list(**o)['tags'] if t['name'].startswith('aloft-host-key')])))",
    );
    assert_eq!(
        left,
        serde_json::json!({"firewalls": 0, "keys": 0, "host_key_tags": []})
    );
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
    common::assert_secret_in_no_file(world.home.path(), RUNPOD_KEY);
}

#[test]
fn autostop_gives_the_head_a_stop_kit_in_memory_named_not_printed_and_a_manual_stop_drops_it() {
    let world = World::new(1, 80);
    let task = world.task(
        "idle.yaml",
        "resources: {infra: digitalocean/tor1, instance_type: s-2vcpu-4gb}\nrun: echo working\n",
    );
    let out = world.aloft(&[
        "launch",
        "-y",
        "-i",
        "100",
        "-c",
        "kit",
        task.to_str().unwrap(),
    ]);
    assert!(world.ok(&out).contains("working"));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("stop kit") && stderr.contains("DIGITALOCEAN_ACCESS_TOKEN"),
        "{stderr}"
    );
    // The kit is in the head agent's memory, on no file (see stop_kit_secrets).
    world.assert_no_secret_in_files();
    // A manual stop (power_off) has the agent drop the kit before it powers off.
    world.ok(&world.aloft(&["stop", "-y", "kit"]));
    assert_eq!(
        world.fake.live_droplets(),
        [("kit-head".to_string(), "off".to_string())]
    );
    let kits: Vec<PathBuf> = common::files_under(&world.machines[0].home())
        .into_iter()
        .filter(|p| p.ends_with("stop-kit.json"))
        .collect();
    assert!(kits.is_empty(), "{kits:?}");
    world.assert_no_secret_in_files();
    world.ok(&world.aloft(&["down", "-y", "kit"]));
    assert!(world.fake.live_droplets().is_empty());
    world.assert_every_request_valid();
}

#[test]
fn an_idle_cluster_is_powered_off_by_its_head_through_the_stop_kit() {
    let world = World::new(1, 90);
    let task = world.task(
        "idle.yaml",
        "resources: {infra: digitalocean/tor1, instance_type: s-2vcpu-4gb}\nrun: echo working\n",
    );
    let mut launch = world.command(&[
        "launch",
        "-y",
        "-i",
        "1",
        "-c",
        "idle",
        task.to_str().unwrap(),
    ]);
    launch.env("ALOFT_AUTOSTOP_SECONDS_PER_MINUTE", "1");
    assert!(world.ok(&launch.output().unwrap()).contains("working"));
    // The head's stop kit powers the droplet off through DigitalOcean's API.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while world.fake.live_droplets() != [("idle-head".to_string(), "off".to_string())] {
        assert!(
            std::time::Instant::now() < deadline,
            "not powered off: {:?}\n{}",
            world.fake.live_droplets(),
            world.fake.state()["requests"]
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    world.ok(&world.aloft(&["down", "-y", "idle"]));
    assert!(world.fake.live_droplets().is_empty());
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
}

#[test]
fn rate_limited_calls_are_retried_and_a_refused_token_skips_digitalocean_saying_why() {
    let world = World::new(1, 100);
    // DigitalOcean answers the next changes 429: aloft backs off and retries.
    world.fake.control(
        "throttle",
        serde_json::json!({"count": 2, "method": "POST"}),
    );
    let task = world.task(
        "t.yaml",
        "resources: {infra: digitalocean/tor1, instance_type: s-2vcpu-4gb}\nrun: echo landed\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "rl", task.to_str().unwrap()]);
    assert!(world.ok(&out).contains("landed"));
    let requests = world.fake.state()["requests"].clone();
    let throttled = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| *r == "THROTTLED")
        .count();
    assert_eq!(throttled, 2, "{requests}");
    world.ok(&world.aloft(&["down", "-y", "rl"]));
    assert!(world.fake.live_droplets().is_empty());

    // A token DigitalOcean refuses: the provider is skipped, with its reason.
    let wrong = "dop_v1_WRONG.REFUSED-NEVER-PRINTED";
    let out = world
        .command(&["launch", "-y", "-c", "bad", task.to_str().unwrap()])
        .env("DIGITALOCEAN_ACCESS_TOKEN", wrong)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("digitalocean is skipped"), "{said}");
    assert!(said.contains("Unable to authenticate you"), "{said}");
    assert!(!said.contains(wrong));
    assert!(world.fake.live_droplets().is_empty());
    world.assert_every_request_valid();
    world.assert_no_secret_in_files();
    common::assert_secret_in_no_file(world.home.path(), wrong);
}
