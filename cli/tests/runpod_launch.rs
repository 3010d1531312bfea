//! The bundled `runpod` provider end to end against a fake of RunPod's GraphQL API
//! (`tests/fakes/runpod_graphql.py`, every query validated against RunPod's
//! schema), through the `endpoint` override. Each pod the fake deploys is a real
//! `sshd` "machine" on its own loopback address; SSH goes to the port RunPod maps
//! the pod's port 22 to, and aloft's key reaches the machine only through the
//! pod's `PUBLIC_KEY` env, so set-up and the job run for real.

use crate::common;

use aloft_tests::runpod_fake::RunpodFake;
use common::cloud_world::CloudWorld;
use common::text;

/// The API key only these tests know; it must never appear in any output or file.
const SECRET: &str = "rpa_ALOFTCLI7Q2W9E4R1T6Y3U8I5O0P.NEVER-PRINTED";

pub(crate) type World = CloudWorld<RunpodFake>;

impl World {
    /// The fake with `n` machines on 127.0.4.<first..>, aloft's config pointing at it.
    pub(crate) fn new(n: u8, first: u8) -> World {
        let world = CloudWorld::start("127.0.4", n, first, SECRET, |machines| {
            RunpodFake::start(SECRET, machines, 1.0)
        })
        .with_env("RUNPOD_API_KEY", SECRET);
        world.write_config("runpod", &world.fake.endpoint(), "");
        world
    }

    /// Every pod the fake ever made, as `(name, desiredStatus)`, sorted.
    fn pods(&self) -> Vec<(String, String)> {
        let state = self.fake.state();
        let mut found: Vec<(String, String)> = state["pods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["desiredStatus"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        found.sort();
        found
    }
}

#[test]
fn a_gpu_task_runs_on_a_runpod_pod_refuses_stop_and_goes_down() {
    let world = World::new(1, 10);
    world.launch_on_every_machine("rp", "{infra: runpod/US, accelerators: A40:1}");
    // The launch reached the machine only because PUBLIC_KEY, the cluster's own
    // key, was authorized.
    world.assert_machines_hold_cluster_key("rp");

    assert_eq!(
        world.pods(),
        [("rp-head".to_string(), "RUNNING".to_string())]
    );
    let state = world.fake.state();
    let pod = &state["pods"][0];
    assert_eq!(pod["gpuTypeId"], "NVIDIA A40");
    assert_eq!(pod["podType"], "RESERVED");
    assert!(
        pod["dataCenterId"]
            .as_str()
            .is_some_and(|dc| dc.starts_with("US-")),
        "{pod}"
    );
    let rows = world.status_json();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "runpod");

    // No stop on RunPod (as in SkyPilot): refused with the reason, the pod runs on.
    let refused = world.aloft(&["stop", "-y", "rp"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cannot be stopped"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(
        world.pods(),
        [("rp-head".to_string(), "RUNNING".to_string())]
    );
    assert_eq!(world.status_json()[0]["status"], "UP");
    let again = world.ok(&world.aloft(&["exec", "rp", "echo", "after-refused-stop"]));
    assert!(again.contains("after-refused-stop"), "{again}");

    world.ok(&world.aloft(&["down", "-y", "rp"]));
    assert_eq!(
        world.pods(),
        [("rp-head".to_string(), "TERMINATED".to_string())]
    );
    assert!(world.fake.live_pods().is_empty());
    assert_eq!(world.status_json(), serde_json::json!([]));
    // Every query aloft sent was valid against RunPod's schema.
    let requests = world.fake.state()["requests"].clone();
    assert!(
        !requests.as_array().unwrap().iter().any(|r| r == "INVALID"),
        "{requests}"
    );
    assert!(
        !requests.as_array().unwrap().iter().any(|r| r == "podStop"),
        "a refused stop sends nothing: {requests}"
    );
    world
        .fake
        .assert_requests_include(&["podFindAndDeployOnDemand", "podTerminate"]);
    world.assert_no_secret_in_files();
}

#[test]
fn a_two_node_task_is_never_placed_on_runpod_and_the_plan_says_why() {
    let world = World::new(1, 20);
    // Dry runs plan over the configured clouds.
    world.prepend_config("clouds: [runpod]\n");
    let task = world.task(
        "two.yaml",
        "num_nodes: 2\nresources: {infra: runpod, accelerators: A40:1}\nrun: echo hi\n",
    );
    let dry = world.aloft(&["launch", "--dryrun", task.to_str().unwrap()]);
    let said = format!("{}{}", text(&dry.stdout), text(&dry.stderr));
    assert!(!dry.status.success(), "{said}");
    assert!(
        said.contains("cloud runpod: cannot run 2-node tasks (no multi-node)"),
        "{said}"
    );
    let launch = world.aloft(&["launch", "-y", "-c", "two", task.to_str().unwrap()]);
    let said = format!("{}{}", text(&launch.stdout), text(&launch.stderr));
    assert!(!launch.status.success(), "{said}");
    assert!(said.contains("no multi-node"), "{said}");
    assert!(!said.contains(SECRET));
    // Nothing was asked of RunPod beyond reading.
    assert!(world.pods().is_empty());
    let requests = world.fake.state()["requests"].clone();
    assert!(
        !requests
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.starts_with("pod"))),
        "{requests}"
    );
    world.assert_no_secret_in_files();
}

#[test]
fn no_capacity_on_runpod_fails_over_nowhere_and_says_why() {
    let world = World::new(1, 30);
    world
        .fake
        .control("capacity", serde_json::json!({"exhausted": true}));
    let task = world.task(
        "t.yaml",
        "resources: {infra: runpod/US, accelerators: A40:1}\nrun: echo hi\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "cap", task.to_str().unwrap()]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("no longer any instances available"), "{said}");
    assert!(!said.contains(SECRET));
    assert!(world.pods().is_empty());
    assert_eq!(world.status_json(), serde_json::json!([]));
    world.assert_no_secret_in_files();
}
