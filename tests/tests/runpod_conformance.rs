//! The `runpod` provider component against a fake of RunPod's GraphQL API
//! (`tests/fakes/runpod_graphql.py`, which validates every query against an SDL of
//! RunPod's published schema), through the plugin host and its `endpoint`
//! override: the conformance kit (stop answers `unsupported`), typed capacity and
//! auth errors, interruptible pods (bid, preemption, bid-resume), SSH at the
//! mapped port 22 of real sshd "machines" on loopback, and catalog rows from live
//! `gpuTypes` prices.

use std::sync::Arc;

use aloft::plugin::{
    ClusterRef, CredentialSource, ErrorKind, HostConfig, InstanceStatus, PluginError, PluginHost,
    ProviderInstance, RunRequest,
};
use aloft_tests::components::provider;
use aloft_tests::conformance::{ConformanceOptions, expect_capacity_error};
use aloft_tests::fakes::run_lifecycle_without_stop;
use aloft_tests::runpod_fake::RunpodFake;
use aloft_tests::sshd::Sshd;

/// The one key the fake accepts; it must never show in an error.
const KEY: &str = "rpa_TESTKEY0123456789ABCDEFNEVERPRINTED";

/// Lends `RUNPOD_API_KEY` (or nothing).
struct Key(Option<&'static str>);

impl CredentialSource for Key {
    fn get(&self, name: &str) -> Option<String> {
        (name == "RUNPOD_API_KEY")
            .then(|| self.0.map(str::to_string))
            .flatten()
    }
}

struct World {
    home: tempfile::TempDir,
    fake: RunpodFake,
    machines: Vec<Sshd>,
}

impl World {
    /// The fake with `n` machines on 127.0.3.<first..>.
    fn new(n: u8, first: u8, boot_seconds: f64) -> World {
        let home = tempfile::tempdir().unwrap();
        let machines: Vec<Sshd> = (0..n)
            .map(|i| {
                Sshd::start_machine(
                    &home.path().join(format!("m{i}")),
                    &format!("127.0.3.{}", first + i),
                )
            })
            .collect();
        let fake = RunpodFake::start(KEY, &machines.iter().collect::<Vec<_>>(), boot_seconds);
        World {
            home,
            fake,
            machines,
        }
    }

    async fn provider(&self, key: Option<&'static str>) -> ProviderInstance {
        let mut config = HostConfig::new(self.home.path());
        config.credentials = Arc::new(Key(key));
        config
            .endpoints
            .insert("runpod".into(), self.fake.endpoint());
        let mut host = PluginHost::new(config).unwrap();
        host.load_bytes("runpod", &provider("runpod"))
            .await
            .unwrap();
        host.instance("runpod").await.unwrap()
    }

    /// Every operation the provider sent was valid against RunPod's schema.
    fn assert_no_invalid_query(&self) {
        let state = self.fake.state();
        let requests = state["requests"].as_array().unwrap();
        assert!(!requests.is_empty());
        assert!(
            requests.iter().all(|r| r != "INVALID"),
            "a query the schema refuses: {requests:?}"
        );
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn options(cluster: &str, zone: &str) -> ConformanceOptions {
    ConformanceOptions {
        cluster: cluster.into(),
        region: "US".into(),
        zone: Some(zone.into()),
        instance_type: "1x_A40_SECURE".into(),
    }
}

fn request(cluster: &str, spot: bool) -> RunRequest {
    RunRequest {
        cluster: ClusterRef {
            cluster: cluster.into(),
            region: "US".into(),
            zone: Some("US-CA-1".into()),
        },
        instance_type: "1x_A40_SECURE".into(),
        count: 1,
        use_spot: spot,
        disk_size_gib: Some(40),
        image_id: None,
        ports: Vec::new(),
        labels: Vec::new(),
        ssh_public_key: Some(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAloftRunpodTestKey aloft".into(),
        ),
    }
}

/// The typed error of a failed call.
fn typed<T: std::fmt::Debug>(r: Result<T, PluginError>) -> aloft::plugin::ProviderError {
    match r {
        Err(PluginError::Provider { error, .. }) => {
            assert!(!error.message.contains(KEY), "the key leaked: {error:?}");
            *error
        }
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[test]
fn runpod_passes_the_conformance_kit_against_the_fake() {
    let world = World::new(3, 10, 0.0);
    rt().block_on(async {
        let mut runpod = world.provider(Some(KEY)).await;
        let info = runpod.info().await.unwrap();
        assert!(!info.capabilities.multi_node, "{info:?}");
        assert!(info.capabilities.spot && !info.capabilities.stop_start);
        assert_eq!(
            runpod.check_credentials().await.unwrap().account,
            "user_fake0001"
        );
        run_lifecycle_without_stop(&mut runpod, &options("conf-a", "US-CA-1"))
            .await
            .unwrap();
        world
            .fake
            .control("capacity", serde_json::json!({"exhausted": true}));
        expect_capacity_error(&mut runpod, &options("conf-b", "US-TX-1"))
            .await
            .unwrap();
    });
    let state = world.fake.state();
    let pods = state["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 3, "{state}");
    assert!(pods.iter().all(|p| p["desiredStatus"] == "TERMINATED"));
    assert!(world.fake.live_pods().is_empty());
    let requests: Vec<&str> = state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    for op in ["podFindAndDeployOnDemand", "podTerminate"] {
        assert!(requests.contains(&op), "{op} never sent: {requests:?}");
    }
    // No stop: the refused `stop` sent nothing to RunPod.
    assert!(!requests.contains(&"podStop"), "{requests:?}");
    world.assert_no_invalid_query();
}

#[test]
fn a_pod_is_reached_at_its_mapped_port_with_the_public_key_authorized() {
    let world = World::new(1, 20, 0.8);
    rt().block_on(async {
        let mut runpod = world.provider(Some(KEY)).await;
        let req = request("ssh", false);
        let first = runpod.run_instances(&req).await.unwrap();
        assert_eq!(first.created.len(), 1);
        // Not booted yet: no port mapping, so no address.
        assert_eq!(first.instances[0].status, InstanceStatus::Pending);
        assert_eq!(first.instances[0].public_ip, None);
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        let found = runpod
            .query_instances(std::slice::from_ref(&req.cluster))
            .await
            .unwrap();
        let node = &found[0].instances[0];
        let machine = &world.machines[0];
        assert_eq!(node.status, InstanceStatus::Running);
        assert!(node.is_head && !node.spot);
        assert_eq!(node.public_ip.as_deref(), Some(machine.ip.as_str()));
        assert_eq!(node.ssh_port, machine.port, "the mapped port, not 22");
        assert_eq!(node.ssh_user.as_deref(), Some("root"));
        assert_eq!(node.instance_type, "1x_A40_SECURE");
        // PUBLIC_KEY went where RunPod's start script puts it.
        let keys = std::fs::read_to_string(machine.dir.join("authorized_keys")).unwrap();
        assert!(keys.contains("AAAAIAloftRunpodTestKey"), "{keys}");
        // A second run changes nothing.
        assert!(runpod.run_instances(&req).await.unwrap().created.is_empty());
        runpod.terminate_instances(&req.cluster).await.unwrap();
    });
    let state = world.fake.state();
    let pod = &state["pods"][0];
    assert_eq!(pod["name"], "ssh-head");
    assert_eq!(pod["gpuTypeId"], "NVIDIA A40");
    assert_eq!(pod["cloudType"], "SECURE");
    assert_eq!(pod["dataCenterId"], "US-CA-1");
    assert_eq!(pod["containerDiskInGb"], 40);
    assert_eq!(pod["ports"], "22/tcp");
    world.assert_no_invalid_query();
}

#[test]
fn spot_pods_bid_are_preempted_and_bid_resume() {
    let world = World::new(1, 30, 0.0);
    rt().block_on(async {
        let mut runpod = world.provider(Some(KEY)).await;
        let req = request("spot", true);
        let first = runpod.run_instances(&req).await.unwrap();
        let id = first.created[0].clone();
        assert!(first.instances[0].spot);
        world
            .fake
            .control("preempt", serde_json::json!({"pod_id": id}));
        let found = runpod
            .query_instances(std::slice::from_ref(&req.cluster))
            .await
            .unwrap();
        assert_eq!(found[0].instances[0].status, InstanceStatus::Preempted);
        let again = runpod.run_instances(&req).await.unwrap();
        assert_eq!((again.created.len(), again.resumed.clone()), (0, vec![id]));
        assert_eq!(again.instances[0].status, InstanceStatus::Running);
        runpod.terminate_instances(&req.cluster).await.unwrap();
    });
    let state = world.fake.state();
    let pod = &state["pods"][0];
    assert_eq!(pod["podType"], "INTERRUPTABLE");
    // The bid is the secure cloud's interruptible price, read live from gpuTypes.
    assert_eq!(pod["bid"], 0.2);
    let requests = state["requests"].as_array().unwrap();
    assert!(requests.contains(&serde_json::json!("podRentInterruptable")));
    assert!(requests.contains(&serde_json::json!("podBidResume")));
    world.assert_no_invalid_query();
}

#[test]
fn bad_keys_no_capacity_and_unknown_types_are_typed() {
    let world = World::new(1, 40, 0.0);
    rt().block_on(async {
        let mut wrong = world.provider(Some("rpa_WRONG")).await;
        let e = typed(wrong.check_credentials().await);
        assert_eq!(e.kind, ErrorKind::Auth, "{e:?}");
        let mut none = world.provider(None).await;
        let e = typed(none.run_instances(&request("x", false)).await);
        assert_eq!(e.kind, ErrorKind::Auth, "{e:?}");
        assert!(e.message.contains("RUNPOD_API_KEY"), "{e:?}");

        let mut runpod = world.provider(Some(KEY)).await;
        world.fake.control(
            "capacity",
            serde_json::json!({"gpu_type_id": "NVIDIA A40", "exhausted": true}),
        );
        let e = typed(runpod.run_instances(&request("cap", false)).await);
        assert_eq!(e.kind, ErrorKind::Capacity, "{e:?}");
        assert!(
            e.message.contains("no longer any instances available"),
            "{e:?}"
        );
        assert_eq!(e.zone.as_deref(), Some("US-CA-1"));
        let mut cpu = request("cpu", false);
        cpu.instance_type = "cpu3c-2-4".into();
        let e = typed(runpod.run_instances(&cpu).await);
        assert_eq!(e.kind, ErrorKind::Unsupported, "{e:?}");
        // Ports after deploy: refused with the reason.
        let e = typed(runpod.open_ports(&request("cap", false).cluster, &[]).await);
        assert_eq!(e.kind, ErrorKind::Unsupported);
    });
    assert!(world.fake.live_pods().is_empty());
    let state = world.fake.state();
    assert!(
        state["requests"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("UNAUTHORIZED"))
    );
    world.assert_no_invalid_query();
}

#[test]
fn the_fake_refuses_a_dialect_and_offers_come_from_live_prices() {
    let world = World::new(0, 50, 0.0);
    rt().block_on(async {
        let mut runpod = world.provider(Some(KEY)).await;
        let offers = runpod.offers(Some("US")).await.unwrap();
        let a40: Vec<_> = offers
            .iter()
            .filter(|o| o.accelerator_name.as_deref() == Some("A40"))
            .collect();
        // Counts 1, 2, 4, 8 (the A40's maximum is 10) in both clouds.
        assert_eq!(a40.len(), 8, "{a40:?}");
        let one = a40
            .iter()
            .find(|o| o.instance_type == "1x_A40_SECURE")
            .unwrap();
        assert_eq!(
            (one.price, one.spot_price, one.region.as_str()),
            (Some(0.44), Some(0.2), "US")
        );
        assert_eq!((one.vcpus, one.memory_gib), (9.0, 48.0));
        assert_eq!(one.gpu_memory_mib, Some(48 * 1024));
        let four = a40
            .iter()
            .find(|o| o.instance_type == "4x_A40_COMMUNITY")
            .unwrap();
        assert_eq!(four.accelerator_count, 4.0);
        assert!((four.price.unwrap() - 1.4).abs() < 1e-9);
        let regions = runpod.regions().await.unwrap();
        assert!(
            regions
                .iter()
                .any(|r| r.name == "US" && r.zones.iter().any(|z| z == "US-CA-1"))
        );
    });
    world.assert_no_invalid_query();
    // The fake is strict: a field RunPod's schema lacks, or an argument of the
    // wrong type, is a validation error as RunPod answers it.
    let (status, answer) = world.fake.graphql(
        "query { myself { pods { id sshCommand } } }",
        serde_json::json!({}),
    );
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    let (status, answer) = world.fake.graphql(
        "mutation($i: PodTerminateInput) { podTerminate(input: $i) }",
        serde_json::json!({"i": {"podId": 42}}),
    );
    assert_eq!(status, 400, "{answer}");
    let requests = world.fake.state()["requests"].clone();
    assert_eq!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| *r == "INVALID")
            .count(),
        2,
        "{requests}"
    );
}
