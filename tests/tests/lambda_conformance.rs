//! The `lambda` provider component against a fake of Lambda Cloud's API
//! (`tests/fakes/lambda_cloud.py`), through the plugin host and its `endpoint`
//! override: the conformance lifecycle (without stop: Lambda has none), typed
//! capacity, auth and rate-limit errors, batched queries and catalog rows. Every
//! launched instance is a real sshd "machine" on its own loopback address.

use std::sync::Arc;

use aloft::plugin::{
    ClusterRef, CredentialSource, ErrorKind, HostConfig, PluginError, PluginHost, ProviderInstance,
    RunRequest,
};
use aloft_tests::components::provider;
use aloft_tests::conformance::ConformanceOptions;
use aloft_tests::fakes::{LambdaCloud, LambdaOptions, run_lifecycle_without_stop};
use aloft_tests::sshd::Sshd;

/// The one key the fake accepts; it must never show in an error.
const KEY: &str = "secret_aloft-test_0123456789abcdef.NEVERPRINTED";

/// Lends `LAMBDA_API_KEY` (or nothing).
struct Key(Option<&'static str>);

impl CredentialSource for Key {
    fn get(&self, name: &str) -> Option<String> {
        (name == "LAMBDA_API_KEY")
            .then(|| self.0.map(str::to_string))
            .flatten()
    }
}

struct World {
    home: tempfile::TempDir,
    fake: LambdaCloud,
    machines: Vec<Sshd>,
}

impl World {
    /// The fake with `n` machines on 127.0.0.<first..>, and one SSH key in the
    /// account (the kit asks without a public key of its own).
    fn new(n: u8, first: u8, options: LambdaOptions) -> World {
        let home = tempfile::tempdir().unwrap();
        let machines: Vec<Sshd> = (0..n)
            .map(|i| {
                Sshd::start_machine(
                    &home.path().join(format!("m{i}")),
                    &format!("127.0.0.{}", first + i),
                )
            })
            .collect();
        let ips: Vec<String> = machines.iter().map(|m| m.ip.clone()).collect();
        let fake = LambdaCloud::start(KEY, &ips, &options);
        fake.add_ssh_key(
            "laptop",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests laptop",
        );
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
            .insert("lambda".into(), self.fake.endpoint());
        let mut host = PluginHost::new(config).unwrap();
        host.load_bytes("lambda", &provider("lambda"))
            .await
            .unwrap();
        host.instance("lambda").await.unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn options(cluster: &str, region: &str) -> ConformanceOptions {
    ConformanceOptions {
        cluster: cluster.into(),
        region: region.into(),
        zone: None,
        instance_type: "gpu_1x_a10".into(),
    }
}

fn run_request(cluster: &str, region: &str, count: u32) -> RunRequest {
    RunRequest {
        cluster: ClusterRef {
            cluster: cluster.into(),
            region: region.into(),
            zone: None,
        },
        instance_type: "gpu_1x_a10".into(),
        count,
        use_spot: false,
        disk_size_gib: None,
        image_id: None,
        ports: Vec::new(),
        labels: Vec::new(),
        ssh_public_key: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAloftKeyForTests aloft".into()),
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
fn lambda_passes_the_conformance_kit_against_the_fake() {
    let world = World::new(3, 60, LambdaOptions::default());
    rt().block_on(async {
        let mut lambda = world.provider(Some(KEY)).await;
        let identity = lambda.check_credentials().await.unwrap();
        assert_eq!(identity.account, "lambda-cloud");
        run_lifecycle_without_stop(&mut lambda, &options("conf-a", "us-east-1"))
            .await
            .unwrap();
        // Batched query: one call answers for several clusters, unknown ones empty.
        let refs: Vec<ClusterRef> = ["conf-a", "nope"]
            .iter()
            .map(|c| ClusterRef {
                cluster: c.to_string(),
                region: "us-east-1".into(),
                zone: None,
            })
            .collect();
        let found = lambda.query_instances(&refs).await.unwrap();
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|c| c.instances.is_empty()), "{found:?}");
    });
    let state = world.fake.state();
    let instances = state["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 3, "{state}");
    let mut names: Vec<&str> = instances
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["conf-a-head", "conf-a-worker-1", "conf-a-worker-2"]);
    assert!(
        instances.iter().all(|i| i["status"] == "terminated"),
        "{state}"
    );
    // Each instance was one of the machines, by its own address.
    let mut ips: Vec<&str> = instances
        .iter()
        .map(|i| i["ip"].as_str().unwrap())
        .collect();
    ips.sort();
    let mut machines: Vec<&str> = world.machines.iter().map(|m| m.ip.as_str()).collect();
    machines.sort();
    assert_eq!(ips, machines);
    // The kit asked without a public key: the account's key was used, none added.
    assert_eq!(state["ssh_keys"].as_array().unwrap().len(), 1);
    assert!(
        instances
            .iter()
            .all(|i| i["ssh_key_names"] == serde_json::json!(["laptop"]))
    );
}

#[test]
fn nodes_are_the_machines_and_the_public_key_is_registered_once() {
    let world = World::new(
        2,
        70,
        LambdaOptions {
            boot_seconds: 1.0,
            ..Default::default()
        },
    );
    rt().block_on(async {
        let mut lambda = world.provider(Some(KEY)).await;
        let result = lambda
            .run_instances(&run_request("mc", "us-west-1", 2))
            .await
            .unwrap();
        assert_eq!(result.created.len(), 2);
        // Booting nodes have no address yet.
        assert!(
            result.instances.iter().all(|i| i.public_ip.is_none()),
            "{result:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let found = lambda
            .query_instances(&[run_request("mc", "us-west-1", 2).cluster])
            .await
            .unwrap();
        for node in &found[0].instances {
            assert_eq!(node.status, aloft::plugin::InstanceStatus::Running);
            assert_eq!(node.ssh_port, 22);
            assert_eq!(node.ssh_user.as_deref(), Some("ubuntu"));
            let ip = node.public_ip.clone().unwrap();
            let machine = world.machines.iter().find(|m| m.ip == ip).unwrap();
            // A real sshd answers at that address.
            assert!(std::net::TcpStream::connect((ip.as_str(), machine.port)).is_ok());
            assert_eq!(node.private_ip.as_deref(), Some(ip.as_str()));
        }
        // The same key again (another comment) is not registered twice.
        let mut again = run_request("mc", "us-west-1", 2);
        again.ssh_public_key =
            Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAloftKeyForTests other-comment".into());
        assert!(
            lambda
                .run_instances(&again)
                .await
                .unwrap()
                .created
                .is_empty()
        );
        lambda.terminate_instances(&again.cluster).await.unwrap();
    });
    let state = world.fake.state();
    let keys: Vec<&str> = state["ssh_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    // The key the launch registered went with the cluster; the account's own stays.
    assert_eq!(keys, ["laptop"], "{state}");
    let instances = state["instances"].as_array().unwrap();
    let used = instances[0]["ssh_key_names"][0]
        .as_str()
        .unwrap_or_default();
    assert!(used.starts_with("aloft-"), "{state}");
    assert!(
        instances.iter().all(|i| i["ssh_key_names"][0] == used),
        "one key, registered once: {state}"
    );
}

#[test]
fn no_capacity_is_a_typed_capacity_error_whether_listed_or_refused_at_launch() {
    let world = World::new(1, 80, LambdaOptions::default());
    // us-west-1: instance-types already says there is none (no launch is spent).
    world.fake.control(
        "capacity",
        serde_json::json!({"region": "us-west-1", "exhausted": true, "advertised": false}),
    );
    // us-south-1: listed as available, but the launch itself is refused.
    world.fake.control(
        "capacity",
        serde_json::json!({"region": "us-south-1", "instance_type": "gpu_1x_a10", "exhausted": true, "advertised": true}),
    );
    rt().block_on(async {
        let mut lambda = world.provider(Some(KEY)).await;
        for region in ["us-west-1", "us-south-1"] {
            let error = typed(lambda.run_instances(&run_request("cap", region, 1)).await);
            assert_eq!(error.kind, ErrorKind::Capacity, "{region}: {error:?}");
            assert_eq!(
                error.code,
                "instance-operations/launch/insufficient-capacity"
            );
            assert_eq!(error.region.as_deref(), Some(region));
        }
        // The conformance kit's own check.
        aloft_tests::conformance::expect_capacity_error(
            &mut lambda,
            &options("cap2", "us-south-1"),
        )
        .await
        .unwrap();
    });
    let state = world.fake.state();
    let launches = state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r == &"POST /api/v1/instance-operations/launch")
        .count();
    assert_eq!(launches, 2, "us-west-1 spent no launch: {state}");
    assert!(state["instances"].as_array().unwrap().is_empty());
}

#[test]
fn a_bad_or_missing_key_is_an_auth_error() {
    let world = World::new(0, 0, LambdaOptions::default());
    rt().block_on(async {
        let mut wrong = world.provider(Some("secret_wrong_key.nope")).await;
        let error = typed(wrong.check_credentials().await);
        assert_eq!(error.kind, ErrorKind::Auth, "{error:?}");
        assert_eq!(error.code, "global/invalid-api-key");
        assert!(!error.message.contains("secret_wrong_key"), "{error:?}");
        let error = typed(wrong.run_instances(&run_request("a", "us-east-1", 1)).await);
        assert_eq!(error.kind, ErrorKind::Auth);
        let mut none = world.provider(None).await;
        let error = typed(none.check_credentials().await);
        assert_eq!(error.kind, ErrorKind::Auth);
        assert!(error.message.contains("LAMBDA_API_KEY"), "{error:?}");
    });
}

#[test]
fn a_rate_limited_launch_is_transient_and_the_retry_launches_only_what_is_missing() {
    let world = World::new(
        2,
        90,
        LambdaOptions {
            launch_interval: 3.0,
            ..Default::default()
        },
    );
    rt().block_on(async {
        let mut lambda = world.provider(Some(KEY)).await;
        let error = typed(
            lambda
                .run_instances(&run_request("rl", "us-east-1", 2))
                .await,
        );
        assert_eq!(error.kind, ErrorKind::Transient, "{error:?}");
        // The head was launched before the limit hit; the retry adds the worker.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let result = lambda
            .run_instances(&run_request("rl", "us-east-1", 2))
            .await
            .unwrap();
        assert_eq!(result.created.len(), 1, "{result:?}");
        assert_eq!(result.instances.len(), 2);
        assert_eq!(result.instances.iter().filter(|i| i.is_head).count(), 1);
        lambda
            .terminate_instances(&run_request("rl", "us-east-1", 2).cluster)
            .await
            .unwrap();
    });
}

#[test]
fn stop_says_down_is_the_way_and_ports_are_not_opened() {
    let world = World::new(0, 0, LambdaOptions::default());
    rt().block_on(async {
        let mut lambda = world.provider(Some(KEY)).await;
        let cluster = run_request("s", "us-east-1", 1).cluster;
        let error = typed(lambda.stop_instances(&cluster).await);
        assert_eq!(error.kind, ErrorKind::Unsupported);
        assert!(error.message.contains("aloft down s"), "{error:?}");
        let error = typed(
            lambda
                .open_ports(
                    &cluster,
                    &[aloft::plugin::PortRange {
                        start: 8080,
                        end: 8080,
                    }],
                )
                .await,
        );
        assert_eq!(error.kind, ErrorKind::Unsupported);
        let mut spot = run_request("s", "us-east-1", 1);
        spot.use_spot = true;
        assert_eq!(
            typed(lambda.run_instances(&spot).await).kind,
            ErrorKind::Unsupported
        );
        let info = lambda.info().await.unwrap();
        assert_eq!(info.name, "lambda");
    });
}

#[test]
fn offers_come_from_instance_types() {
    let world = World::new(0, 0, LambdaOptions::default());
    rt().block_on(async {
        let mut lambda = world.provider(Some(KEY)).await;
        let rows = lambda.offers(Some("us-east-1")).await.unwrap();
        assert_eq!(rows.len(), 4, "{rows:?}");
        let a10 = rows
            .iter()
            .find(|o| o.instance_type == "gpu_1x_a10")
            .unwrap();
        assert_eq!(a10.accelerator_name.as_deref(), Some("A10"));
        assert_eq!(a10.price, Some(0.75));
        assert_eq!(a10.region, "us-east-1");
        let h100 = rows
            .iter()
            .find(|o| o.instance_type == "gpu_8x_h100_sxm5")
            .unwrap();
        assert_eq!(h100.accelerator_count, 8.0);
        assert_eq!(h100.gpu_memory_mib, Some(81920));
        let regions = lambda.regions().await.unwrap();
        assert!(regions.iter().any(|r| r.name == "us-east-1"));
    });
}

#[test]
fn the_fake_refuses_what_lambda_refuses() {
    let world = World::new(0, 0, LambdaOptions::default());
    let launch = |body: serde_json::Value| {
        world
            .fake
            .request("POST", "/api/v1/instance-operations/launch", Some(&body))
    };
    let good = serde_json::json!({"region_name": "us-east-1", "instance_type_name": "gpu_1x_a10",
        "ssh_key_names": ["laptop"], "quantity": 1, "name": "x-head"});
    for (field, value) in [
        ("unknown_field", serde_json::json!(1)),
        ("quantity", serde_json::json!(2)),
        ("ssh_key_names", serde_json::json!(["laptop", "laptop"])),
        ("name", serde_json::json!("")),
        ("region_name", serde_json::json!("mars-1")),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let (status, answer) = launch(body);
        assert_eq!(status, 400, "{field}: {answer}");
        assert_eq!(
            answer["error"]["code"], "global/invalid-parameters",
            "{field}"
        );
    }
    let (status, answer) = world.fake.request(
        "POST",
        "/api/v1/instance-operations/terminate",
        Some(&serde_json::json!({"ids": []})),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("global/invalid-parameters"))
    );
}
