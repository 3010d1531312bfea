//! The bundled `oci` provider end to end against a fake of OCI's Core Services and
//! Identity APIs (`tests/fakes/oci_api.py`: every request checked against the
//! operations and models of the official `oci` SDK, and its signature verified
//! with the test key's public half), through the `endpoint` override. aloft reads
//! the test's OCI config file (`OCI_CONFIG_FILE`, profile DEFAULT, its key file).
//! Each instance the fake launches is a real `sshd` "machine" on its own loopback
//! address; `ssh_proxy_command` (`tests/ssh_relay.py`) routes port 22 of that
//! address to the machine's sshd, and aloft's key reaches the machine only through
//! the instance's metadata `ssh_authorized_keys`, so set-up and the job run for
//! real on every node. Facts are read back through the SDK.

use crate::common;

use std::path::Path;

use aloft_tests::oci_fake::{KEY_PEM, OciFake};
use aloft_tests::sshd::Sshd;
use common::cloud_world::CloudWorld;
use common::text;

const REGION: &str = "us-ashburn-1";

type World = CloudWorld<OciFake>;

/// The lines of the API key's body: none is in any output or file under
/// aloft's home (the key and config the fake wrote are outside it).
fn key_lines(_: &OciFake) -> Vec<String> {
    KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_string)
        .collect()
}

/// The fake with `n` machines on 127.0.11.<first..>, aloft's config pointing
/// at it (and the relay routing each machine's port 22 to its sshd), and the
/// fake's OCI config lent through `OCI_CONFIG_FILE`.
fn world(n: u8, first: u8) -> World {
    let secret = KEY_PEM.lines().nth(1).expect("a PEM body line");
    let world = CloudWorld::start("127.0.11", n, first, secret, |machines| {
        OciFake::start(REGION, machines, 0.5)
    })
    .with_fake_secrets(key_lines);
    let config = world
        .fake
        .config
        .to_str()
        .expect("a UTF-8 path")
        .to_string();
    let world = world.with_env("OCI_CONFIG_FILE", &config);
    world.write_config_behind_relay("oci", "ubuntu", None);
    world
}

/// Every request aloft sent matched one of the SDK's operations and models and
/// was signed right.
fn assert_every_request_valid(world: &World) {
    let refused = world.fake.refused_requests();
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn a_two_node_gpu_cluster_lives_its_whole_life_on_oci_and_leaves_nothing() {
    let world = world(2, 10);
    // `aloft check` names the identity OCI answers for the profile's user.
    let check = world.aloft(&["check", "-v", "oci"]);
    let said = world.ok(&check);
    assert!(said.contains("oci: enabled"), "{said}");
    assert!(said.contains("alice@example.com"), "{said}");

    // Plans price OCI's shapes from Oracle's public price list, per GPU hour times
    // the shape's GPUs (the fake lists H100 at 10.5 and A10 at 2.0), asked without
    // OCI's request signature.
    let task = world.task(
        "plan.yaml",
        "resources: {infra: oci, accelerators: H100:8}\n",
    );
    let plan = world.aloft(&["launch", "--dryrun", "-o", "json", task.to_str().unwrap()]);
    let plan: serde_json::Value = serde_json::from_str(&world.ok(&plan)).expect("a JSON plan");
    let chosen = &plan["tasks"][0]["chosen"];
    assert_eq!(chosen["instance_type"], "BM.GPU.H100.8", "{plan}");
    assert_eq!(chosen["hourly_price"], 84.0, "{plan}");
    world
        .fake
        .assert_requests_include(&["PRICES B98415", "PRICES B95909"]);

    world.launch_on_every_machine(
        "oc1",
        "{infra: oci/us-ashburn-1, accelerators: A10:1, ports: 8080}",
    );
    // The machines opened to the cluster's own key only through the instances'
    // metadata.
    let key = world.assert_machines_hold_cluster_key("oc1");
    // Each instance was given the cluster's own host key (cloud-init in metadata
    // `user_data`), named in its `aloft-host-key` freeform tag (read below); the
    // machines answer with it, and it was pinned for both nodes before the first
    // connection.
    let public = world.assert_pinned_to_cluster_host_key("oc1", 2);

    // Read back through the SDK: two instances named by role, of the A10 shape, in
    // one availability domain, in the cluster's subnet; its security list opens 22
    // and 8080 to the world.
    let facts = world.fake.sdk(
        "import base64\n\
         insts = [i for i in compute.list_instances(c).data if i.lifecycle_state != 'TERMINATED']\n\
         sls = [s for s in network.list_security_lists(c).data if s.display_name == 'aloft-oc1']\n\
         print(json.dumps(dict(\n\
           instances=sorted([i.display_name, i.shape, i.lifecycle_state, i.freeform_tags] for i in insts),\n\
           ads=sorted(set(i.availability_domain for i in insts)),\n\
           keys=sorted(set(i.metadata['ssh_authorized_keys'].split()[0] for i in insts)),\n\
           user_data=[base64.b64decode(i.metadata['user_data']).decode() for i in insts],\n\
           ports=sorted([r.tcp_options.destination_port_range.min, r.source] for s in sls\n\
                        for r in s.ingress_security_rules if r.tcp_options))))",
    );
    let tag = serde_json::json!({"aloft-cluster": "oc1", "aloft-host-key": public});
    assert_eq!(
        facts["instances"],
        serde_json::json!([
            ["oc1-head", "VM.GPU.A10.1", "RUNNING", tag],
            ["oc1-worker-1", "VM.GPU.A10.1", "RUNNING", tag]
        ]),
        "{facts}"
    );
    assert_eq!(facts["ads"].as_array().unwrap().len(), 1, "{facts}");
    let given = facts["user_data"].as_array().unwrap();
    assert_eq!(given.len(), 2, "{facts}");
    for user_data in given {
        let user_data = user_data.as_str().unwrap();
        assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
        assert!(
            user_data.contains(&format!("ed25519_public: {public}")),
            "{user_data}"
        );
    }
    assert_eq!(
        facts["keys"],
        serde_json::json!([key.split_whitespace().next()]),
        "{facts}"
    );
    assert_eq!(
        facts["ports"],
        serde_json::json!([[22, "0.0.0.0/0"], [8080, "0.0.0.0/0"]]),
        "{facts}"
    );
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "oci");

    // Stop is the STOP action; start the START action; the cluster runs again.
    world.ok(&world.aloft(&["stop", "-y", "oc1"]));
    assert_eq!(world.status_json()[0]["status"], "STOPPED");
    let states: Vec<String> = world
        .fake
        .live_instances()
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(states, ["STOPPED", "STOPPED"]);
    world.ok(&world.aloft(&["start", "oc1"]));
    assert_eq!(world.status_json()[0]["status"], "UP");
    world.assert_every_rank_runs_again("oc1", 2);

    // Down leaves nothing: no instance, and no VCN, subnet, gateway, route table or
    // security list (read with the SDK).
    world.ok(&world.aloft(&["down", "-y", "oc1"]));
    assert!(world.fake.live_instances().is_empty());
    let empty = serde_json::json!({"vcns": [], "subnets": [], "gateways": [],
                                   "route_tables": [], "security_lists": []});
    assert_eq!(world.fake.live_network(), empty);
    assert_eq!(world.status_json(), serde_json::json!([]));
    world.fake.assert_requests_include(&[
        "POST /vcns",
        "POST /internetGateways",
        "POST /routeTables",
        "POST /securityLists",
        "POST /subnets",
        "POST /instances",
        "POST /instances/{instanceId}",
        "DELETE /instances/{instanceId}",
        "DELETE /subnets/{subnetId}",
        "DELETE /vcns/{vcnId}",
    ]);

    // The conformance kit passes against the same fake (the machines are free
    // again), and leaves nothing either.
    let checks = world.conformance_kit("oci", REGION, "VM.GPU.A10.1");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("stop"))),
        "{checks:?}"
    );
    assert!(
        world.fake.live_instances().is_empty(),
        "the kit left nothing"
    );
    assert_eq!(world.fake.live_network(), empty);
    assert_every_request_valid(&world);
    world.assert_no_secret_in_files();
}

#[test]
fn out_of_host_capacity_in_every_availability_domain_moves_to_the_next_cloud_saying_why() {
    use aloft_tests::digitalocean_fake::DigitalOceanFake;
    const DO_TOKEN: &str = "dop_v1_OCIFAILOVER_NEVER_PRINTED";
    let world = world(0, 0);
    world
        .fake
        .control("capacity", serde_json::json!({"exhausted": true}));
    // The next cloud: DigitalOcean's fake, its droplet a machine behind the relay.
    let machine = Sshd::start_machine(&world.home.path().join("do"), "127.0.11.60");
    let digitalocean = DigitalOceanFake::start(DO_TOKEN, &[&machine], 0.5);
    let map = world.home.path().join("relay-map.json");
    std::fs::write(
        &map,
        serde_json::json!({"machines": [], "assigned": {&machine.ip: [&machine.ip, machine.port]}})
            .to_string(),
    )
    .unwrap();
    let config = world.config_path();
    let before = std::fs::read_to_string(&config).unwrap();
    let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ssh_relay.py");
    std::fs::write(
        &config,
        format!(
            "{before}  digitalocean:\n    endpoint: {}\n    ssh_user: {}\n    \
             ssh_proxy_command: python3 {} {} %h\n",
            digitalocean.endpoint(),
            machine.user,
            relay.display(),
            map.display()
        ),
    )
    .unwrap();
    // Spot on OCI is a preemptible instance: the launch body carries
    // preemptibleInstanceConfig (checked against the SDK's model).
    let task = world.task(
        "t.yaml",
        "resources:\n  ordered:\n    - {infra: oci/us-ashburn-1, accelerators: A10:1, use_spot: true}\n    \
         - {infra: digitalocean/tor1, accelerators: H100:1}\nrun: echo landed\n",
    );
    let run = |args: &[&str]| {
        let out = world
            .command(args)
            .env("DIGITALOCEAN_ACCESS_TOKEN", DO_TOKEN)
            .output()
            .unwrap();
        assert!(!text(&out.stdout).contains(DO_TOKEN) && !text(&out.stderr).contains(DO_TOKEN));
        out
    };
    let out = run(&["launch", "-y", "-c", "xc", task.to_str().unwrap()]);
    let stdout = world.ok(&out);
    assert!(stdout.contains("landed"), "{stdout}");
    let said = format!("{stdout}{}", text(&out.stderr));
    assert!(said.contains("Out of host capacity"), "{said}");
    assert!(said.contains("every availability domain"), "{said}");
    // One launch per availability domain, each preemptible.
    let launches = world.fake.state()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| *r == "POST /instances")
        .count();
    assert_eq!(launches, 3);
    assert_eq!(
        digitalocean.live_droplets(),
        [("xc-head".to_string(), "active".to_string())]
    );
    world.ok(&run(&["down", "-y", "xc"]));
    assert!(digitalocean.live_droplets().is_empty());
    // OCI has nothing: no instance, no network left by the failed try.
    assert!(world.fake.live_instances().is_empty());
    assert_eq!(
        world.fake.live_network(),
        serde_json::json!({"vcns": [], "subnets": [], "gateways": [],
                           "route_tables": [], "security_lists": []})
    );
    assert_every_request_valid(&world);
    world.assert_no_secret_in_files();
}

#[test]
fn a_launch_killed_anywhere_leaves_nothing_and_throttling_is_retried_and_preemption_seen() {
    let world = world(1, 50);
    let task = world.task(
        "one.yaml",
        "resources: {infra: oci/us-ashburn-1, instance_type: VM.GPU.A10.1, ports: 8080}\n\
         setup: sleep 0.2\nrun: echo done\n",
    );
    // Points across the launch: the credential check and plan, the network, the
    // instance's launch, the wait for SSH, the set-up.
    for (i, delay_ms) in [400u64, 1200, 2500].into_iter().enumerate() {
        world.kill_launch_and_down_all(&format!("k{i}"), &task, delay_ms);
        assert!(
            world.fake.live_instances().is_empty(),
            "killed after {delay_ms} ms: an instance leaked"
        );
        assert_eq!(
            world.fake.live_network(),
            serde_json::json!({"vcns": [], "subnets": [], "gateways": [],
                               "route_tables": [], "security_lists": []}),
            "killed after {delay_ms} ms: the network leaked"
        );
    }
    // Some kills fell after the network and an instance were made.
    let state = world.fake.state();
    assert!(
        !state["instances"].as_array().unwrap().is_empty(),
        "{state}"
    );

    // OCI answers the next changes 429 TooManyRequests: aloft backs off and
    // retries. The cluster is preemptible (spot).
    world.fake.control(
        "throttle",
        serde_json::json!({"count": 2, "method": "POST"}),
    );
    let spot = world.task(
        "spot.yaml",
        "resources: {infra: oci/us-ashburn-1, instance_type: VM.GPU.A10.1, use_spot: true}\n\
         run: echo done\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "rl", spot.to_str().unwrap()]);
    assert!(world.ok(&out).contains("done"));
    let throttled = world.fake.state()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| *r == "THROTTLED")
        .count();
    assert_eq!(throttled, 2);
    // OCI reclaims the preemptible instance: `status -r` says it was preempted.
    world
        .fake
        .control("preempt", serde_json::json!({"name": "rl-head"}));
    let out = world.aloft(&["status", "-r"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("PREEMPTED"), "{said}");
    world.ok(&world.aloft(&["down", "-y", "rl"]));
    assert!(world.fake.live_instances().is_empty());
    assert_every_request_valid(&world);
    world.assert_no_secret_in_files();
}

/// A managed job on a preemptible instance that OCI reclaims is seen as preempted
/// by its controller and relaunched on a new instance, where it finishes; the
/// controller leaves no instance behind.
#[test]
fn a_managed_job_whose_preemptible_instance_is_reclaimed_is_relaunched() {
    let world = world(2, 80);
    let status = |j: &serde_json::Value| j["status"].as_str().unwrap_or("").to_string();
    // The first run waits to be reclaimed; the relaunched one ends at once.
    let mark = world.home.path().join("first-run");
    let task = world.task(
        "spot.yaml",
        &format!(
            "name: train\n\
             resources: {{infra: oci/us-ashburn-1, instance_type: VM.GPU.A10.1, use_spot: true}}\n\
             run: |\n  \
               if [ -f {mark} ]; then echo relaunched; exit 0; fi\n  \
               touch {mark}\n  \
               sleep 30\n",
            mark = mark.display()
        ),
    );
    let out = world
        .command(&["jobs", "launch", "-d", "-y", task.to_str().unwrap()])
        .envs(common::cloud_world::FAST_JOBS)
        .output()
        .unwrap();
    let id = world.ok(&out).trim().to_string();
    let first =
        world.wait_for_managed_job(&id, "RUNNING", &|j| status(j) == "RUNNING" && mark.exists());
    let cluster = first["cluster_name"].as_str().unwrap().to_string();
    world.fake.control(
        "preempt",
        serde_json::json!({"name": format!("{cluster}-head")}),
    );
    let done = world.wait_for_managed_job(&id, "the end", &|j| {
        !matches!(
            status(j).as_str(),
            "PENDING" | "STARTING" | "RUNNING" | "RECOVERING" | "CANCELLING" | ""
        )
    });
    assert_eq!(
        status(&done),
        "SUCCEEDED",
        "{done}\n{}",
        world.controller_log()
    );
    assert_eq!(done["recovery_count"], 1, "{done}");
    // The controller tears the job's cluster down: no instance is left.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !world.fake.live_instances().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left: {:?}\n{}",
            world.fake.live_instances(),
            world.controller_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_every_request_valid(&world);
    world.assert_no_secret_in_files();
}

/// Timings for `docs/benchmarks.md`, run by hand: `cargo nextest run -p aloft-cli
/// --test integration --run-ignored only --no-capture -E 'test(/oci_bench/)'`.
/// `aloft check` with every bundled provider present and `oci` against the fake
/// (each call signs and sends one `GetUser`), and a 1-node launch to the job's end.
#[test]
#[ignore = "a benchmark, run by hand"]
fn oci_bench_check_and_launch_to_the_job_s_end() {
    let world = world(1, 120);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let time = |args: &[&str]| {
        let start = std::time::Instant::now();
        let out = world.command(args).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        start.elapsed().as_secs_f64() * 1000.0
    };
    time(&["check"]);
    let check: Vec<f64> = (0..7).map(|_| time(&["check"])).collect();
    let (m, lo, hi) = median(check);
    eprintln!(
        "BENCH aloft check (oci on the fake + every bundled provider): median {m:.1} ms ({lo:.1}-{hi:.1}) over 7 runs"
    );
    let task = world.task(
        "one.yaml",
        "resources: {infra: oci/us-ashburn-1, instance_type: VM.GPU.A10.1}\nrun: echo done\n",
    );
    let mut launches = Vec::new();
    for i in 0..5 {
        let name = format!("b{i}");
        launches.push(time(&["launch", "-y", "-c", &name, task.to_str().unwrap()]));
        time(&["down", "-y", &name]);
    }
    let (m, lo, hi) = median(launches);
    eprintln!(
        "BENCH aloft launch on the oci fake to the job's end: median {m:.0} ms ({lo:.0}-{hi:.0}) over 5 runs"
    );
}
