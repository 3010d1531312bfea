//! The bundled `lambda` provider end to end against a fake of Lambda Cloud's API
//! (`tests/fakes/lambda_cloud.py`, through the `endpoint` override). Each instance
//! the fake launches is a real `sshd` "machine" on its own loopback address, and
//! `ssh_proxy_command` (`tests/ssh_relay.py`) routes port 22 of that address to
//! the machine's sshd, so setup and the job run for real on every node.

use crate::common;

use aloft_tests::fakes::{LambdaCloud, LambdaOptions};
use common::cloud_world::CloudWorld;
use common::text;

/// The API key only these tests know; it must never appear in any output or file.
const SECRET: &str = "secret_aloft-cli_5eb1f0c2.NEVER-PRINTED-KEY";

type World = CloudWorld<LambdaCloud>;

impl World {
    /// The fake (launches closer than `launch_interval` s are rate-limited), `n`
    /// machines on 127.0.0.<first..>, aloft's config pointing at it. Each
    /// machine opens to the SSH keys its instance was launched with (the relay
    /// installs them from the fake, as the image's first boot does) and the
    /// relay sends `<ip>:22` to the sshd of the machine with that address.
    fn new(n: u8, first: u8, launch_interval: f64) -> World {
        let world = CloudWorld::start("127.0.0", n, first, SECRET, |machines| {
            let ips: Vec<String> = machines.iter().map(|m| m.ip.clone()).collect();
            let options = LambdaOptions {
                boot_seconds: 1.0,
                launch_interval,
            };
            LambdaCloud::start(SECRET, &ips, &options)
        })
        .with_env("LAMBDA_API_KEY", SECRET);
        let endpoint = world.fake.endpoint();
        world.write_config_behind_relay("lambda", "root", Some(&format!("lambda={endpoint}")));
        world
    }

    /// The fake's instances named `<cluster>-...`, as `(name, status)`, sorted.
    fn instances(&self, cluster: &str) -> Vec<(String, String)> {
        let state = self.fake.state();
        let mut found: Vec<(String, String)> = state["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| {
                i["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&format!("{cluster}-")))
            })
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_string(),
                    i["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        found.sort();
        found
    }
}

#[test]
fn a_two_node_lambda_cluster_runs_its_job_on_every_node_and_goes_down() {
    // Launches 3 s apart at most: the worker's launch is rate-limited, and the
    // host's backoff retries the run, which launches only the missing worker.
    let world = World::new(2, 110, 3.0);
    let task = world.task(
        "train.yaml",
        "name: train\nnum_nodes: 2\n\
         resources: {infra: lambda/us-east-1, instance_type: gpu_1x_a10}\n\
         setup: echo setup-done > setup.txt\n\
         run: echo \"rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES on $(echo $SSH_CONNECTION | cut -d' ' -f3)\"\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "trn", task.to_str().unwrap()]);
    let stdout = world.ok(&out);
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{stdout}\n{}", text(&out.stderr));
    assert!(
        lines[0].starts_with("(rank 0) rank 0 of 2 on 127.0.0.11"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("(rank 1) rank 1 of 2 on 127.0.0.11"),
        "{stdout}"
    );
    // Each rank ran on a machine of its own.
    assert_ne!(
        lines[0].rsplit(' ').next(),
        lines[1].rsplit(' ').next(),
        "{stdout}"
    );
    assert_eq!(
        world.instances("trn"),
        [
            ("trn-head".to_string(), "active".to_string()),
            ("trn-worker-1".to_string(), "active".to_string())
        ]
    );
    assert!(world.fake.state()["rate_limited"].as_u64() >= Some(1));
    for m in &world.machines {
        assert!(
            m.home().join("sky_workdir/setup.txt").exists() || m.home().join("setup.txt").exists(),
            "setup ran on {}",
            m.ip
        );
    }
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "lambda");

    // No stopped state on Lambda: stop is refused and says what to do instead.
    let stop = world.aloft(&["stop", "-y", "trn"]);
    assert!(!stop.status.success());
    let said = format!("{}{}", text(&stop.stdout), text(&stop.stderr));
    assert!(said.contains("aloft down"), "{said}");
    assert!(!said.contains(SECRET));
    assert!(world.instances("trn").iter().all(|(_, s)| s == "active"));

    world.ok(&world.aloft(&["down", "-y", "trn"]));
    assert_eq!(
        world.instances("trn"),
        [
            ("trn-head".to_string(), "terminated".to_string()),
            ("trn-worker-1".to_string(), "terminated".to_string())
        ]
    );
    let (status, live) = world.fake.request("GET", "/api/v1/instances", None);
    assert_eq!((status, live["data"].clone()), (200, serde_json::json!([])));
    // The launch registered the cluster's own SSH key; it went with the cluster.
    assert_eq!(world.fake.state()["ssh_keys"], serde_json::json!([]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(
            &world.ok(&world.aloft(&["status", "-o", "json"]))
        )
        .unwrap(),
        serde_json::json!([])
    );
    world.assert_no_secret_in_files();
}

#[test]
fn without_capacity_in_the_first_region_the_launch_lands_in_another() {
    let world = World::new(1, 120, 0.0);
    // Only us-south-1 has capacity for the type.
    let state = world.fake.request("GET", "/api/v1/instance-types", None).1;
    for region in state["data"]["gpu_1x_a10"]["regions_with_capacity_available"]
        .as_array()
        .unwrap()
    {
        let name = region["name"].as_str().unwrap();
        if name != "us-south-1" {
            world.fake.control(
                "capacity",
                serde_json::json!({"region": name, "instance_type": "gpu_1x_a10", "exhausted": true, "advertised": false}),
            );
        }
    }
    let task = world.task(
        "t.yaml",
        "resources: {infra: lambda, instance_type: gpu_1x_a10}\nrun: echo landed\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "fo", task.to_str().unwrap()]);
    let stdout = world.ok(&out);
    assert!(stdout.contains("landed"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("capacity (instance-operations/launch/insufficient-capacity"),
        "{stderr}"
    );
    let state = world.fake.state();
    let regions: Vec<&str> = state["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["region"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["us-south-1"]);
    world.ok(&world.aloft(&["down", "-y", "fo"]));
    world.assert_no_secret_in_files();
}

/// A node whose sshd refuses the cluster's key (here: the fake cloud never puts it
/// on the machine) is given up as soon as the refusal has lasted a fifth of the
/// wait, not waited on until the wait runs out: the launch fails naming the node
/// and what ssh said, and the instance is terminated.
#[test]
fn a_node_that_refuses_the_key_fails_its_candidate_at_once_with_the_reason() {
    let world = World::new(1, 130, 0.0);
    // The relay installs no key: the map no longer names the machine's
    // authorized_keys file.
    world.write_relay_map(false);
    let m = &world.machines[0];
    let task = world.task(
        "t.yaml",
        "resources: {infra: lambda/us-east-1, instance_type: gpu_1x_a10}\nrun: echo never\n",
    );
    let log = world.home.path().join("aloft-refused.log");
    let out = world
        .command(&["launch", "-y", "-c", "rk", task.to_str().unwrap()])
        .stderr(std::fs::File::create(&log).unwrap())
        // A wait of 60 s: a refusal is given up after 12 s of it.
        .env("ALOFT_NODE_READY_TIMEOUT_SECS", "60")
        .output()
        .unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("SshKeyRefused"), "{stderr}");
    assert!(
        stderr.contains(&format!("@{}:", m.ip)) && stderr.contains("refuses the SSH key"),
        "{stderr}"
    );
    assert!(stderr.contains("Permission denied (publickey"), "{stderr}");
    assert!(!stderr.contains("did not accept SSH within"), "{stderr}");
    assert!(!stderr.contains(SECRET));
    // The candidate's instance was terminated, not left billing.
    assert_eq!(
        world.instances("rk"),
        [("rk-head".to_string(), "terminated".to_string())]
    );
}
