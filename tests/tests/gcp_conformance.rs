//! The `gcp` provider component against the Compute Engine fake
//! (`tests/fakes/gcp_compute.py`, which validates every request against Google's
//! discovery document): the conformance kit passes with a service-account key and
//! with `authorized_user` application-default credentials; an exhausted zone is a
//! typed `capacity` error; a JWT signed by the wrong key is `auth`; spot, GPUs,
//! ports, labels and SSH keys reach Compute Engine as Google's own client reads
//! them back; and no secret shows in answers, errors, state or requests.

use std::sync::Arc;

use aloft::plugin::{
    ClusterRef, CredentialSource, ErrorKind, HostConfig, InstanceStatus, PluginError, PluginHost,
    PortRange, ProviderInstance, RunRequest,
};
use aloft_tests::components::provider;
use aloft_tests::conformance::{ConformanceOptions, expect_capacity_error, run_lifecycle};
use aloft_tests::gcp_fake::{FakeOptions, GcpFake, PROJECT};

/// Lends one credentials JSON document, as the host does from a file.
struct Lend(String);

impl CredentialSource for Lend {
    fn get(&self, name: &str) -> Option<String> {
        (name == "GCP_CREDENTIALS_JSON").then(|| self.0.clone())
    }
}

fn host_config(home: &std::path::Path, fake: &GcpFake, json: String) -> HostConfig {
    let mut config = HostConfig::new(home);
    config.credentials = Arc::new(Lend(json));
    config.endpoints.insert("gcp".into(), fake.endpoint());
    config
}

async fn load_gcp(config: HostConfig) -> ProviderInstance {
    let mut host = PluginHost::new(config).unwrap();
    host.load_bytes("gcp", &provider("gcp")).await.unwrap();
    host.instance("gcp").await.unwrap()
}

fn options(cluster: &str, zone: &str) -> ConformanceOptions {
    ConformanceOptions {
        cluster: cluster.into(),
        region: "us-central1".into(),
        zone: Some(zone.into()),
        instance_type: "e2-standard-4".into(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every file under `dir` (aloft's home: state database, kv, caches), searched for
/// each secret; and the fake's log of request bodies.
fn assert_no_secret(fake: &GcpFake, dir: &std::path::Path, also: &str) {
    let requests = fake.requests().to_string();
    let mut files = vec![dir.to_path_buf()];
    let mut texts = vec![
        ("requests".to_string(), requests),
        ("output".into(), also.into()),
    ];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            texts.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    for secret in fake.secrets() {
        for (place, text) in &texts {
            assert!(!text.contains(&secret), "a secret is in {place}");
        }
    }
}

#[test]
fn gcp_passes_the_conformance_kit_with_a_service_account_key() {
    let fake = GcpFake::start(FakeOptions {
        exhausted_zones: vec!["us-central1-c".into()],
        op_polls: 1,
        ..FakeOptions::default()
    });
    let home = tempfile::tempdir().unwrap();
    let mut seen = String::new();
    runtime().block_on(async {
        let mut gcp = load_gcp(host_config(home.path(), &fake, fake.service_account_json())).await;
        let identity = gcp.check_credentials().await.unwrap();
        assert_eq!(identity.account, PROJECT, "the key's project_id");
        seen.push_str(&format!("{identity:?}"));
        let regions = gcp.regions().await.unwrap();
        assert!(
            regions
                .iter()
                .any(|r| r.name == "us-central1" && r.zones.len() == 3),
            "{regions:?}"
        );
        run_lifecycle(&mut gcp, &options("conf-a", "us-central1-a"))
            .await
            .unwrap();
        // Cluster names that labels refuse (upper case, dots) still work.
        run_lifecycle(&mut gcp, &options("Conf.B", "us-central1-b"))
            .await
            .unwrap();
        expect_capacity_error(&mut gcp, &options("conf-c", "us-central1-c"))
            .await
            .unwrap();
        match gcp
            .run_instances(&RunRequest {
                cluster: ClusterRef {
                    cluster: "conf-d".into(),
                    region: "us-central1".into(),
                    zone: Some("us-central1-c".into()),
                },
                instance_type: "e2-standard-4".into(),
                count: 1,
                use_spot: false,
                disk_size_gib: None,
                image_id: None,
                ports: Vec::new(),
                labels: Vec::new(),
                ssh_public_key: None,
            })
            .await
        {
            Err(PluginError::Provider { error, .. }) => {
                assert_eq!(error.code, "ZONE_RESOURCE_POOL_EXHAUSTED");
                assert_eq!(error.zone.as_deref(), Some("us-central1-c"));
                seen.push_str(&format!("{error:?}"));
            }
            other => panic!("expected a capacity error, got {other:?}"),
        }
        // Batched query: one call answers for several clusters, unknown ones empty.
        let refs: Vec<_> = ["conf-a", "nope"]
            .iter()
            .map(|c| ClusterRef {
                cluster: c.to_string(),
                region: "us-central1".into(),
                zone: None,
            })
            .collect();
        let found = gcp.query_instances(&refs).await.unwrap();
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|c| c.instances.is_empty()), "{found:?}");
    });
    let requests = fake.requests();
    let waited = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == "compute.zoneOperations.wait")
        .count();
    assert!(waited > 0, "operations were awaited");
    let state = fake.control("state", serde_json::json!({}));
    assert!(
        state["grants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g == "urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    assert_no_secret(&fake, home.path(), &seen);
}

#[test]
fn spot_gpus_ports_labels_and_keys_reach_compute_engine() {
    let fake = GcpFake::start(FakeOptions::default());
    let home = tempfile::tempdir().unwrap();
    let cluster = ClusterRef {
        cluster: "Train.Job".into(),
        region: "us-central1".into(),
        zone: Some("us-central1-a".into()),
    };
    let mut seen = String::new();
    runtime().block_on(async {
        let mut gcp = load_gcp(host_config(home.path(), &fake, fake.service_account_json())).await;
        let run = gcp
            .run_instances(&RunRequest {
                cluster: cluster.clone(),
                instance_type: "n1-standard-8+nvidia-tesla-t4:1".into(),
                count: 2,
                use_spot: true,
                disk_size_gib: Some(120),
                image_id: None,
                ports: vec![PortRange {
                    start: 8080,
                    end: 8081,
                }],
                labels: vec![("Team".into(), "ML Research".into())],
                ssh_public_key: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIaloft me@host".into()),
            })
            .await
            .unwrap();
        seen.push_str(&format!("{run:?}"));
        assert_eq!(run.created.len(), 2);
        assert!(run.instances.iter().all(|i| i.spot
            && i.instance_type == "n1-standard-8+nvidia-tesla-t4:1"
            && i.public_ip.is_some()));
        // Read back with Google's own client.
        let facts = fake.google(
            "out = []\n\
             for zone, scoped in instances.aggregated_list(request={'project': PROJECT, 'filter': 'labels.aloft-cluster = train-job'}):\n\
             \x20   for i in scoped.instances:\n\
             \x20       out.append({'name': i.name, 'labels': dict(i.labels), 'model': i.scheduling.provisioning_model,\n\
             \x20                   'maintenance': i.scheduling.on_host_maintenance,\n\
             \x20                   'action': i.scheduling.instance_termination_action,\n\
             \x20                   'gpu': i.guest_accelerators[0].accelerator_type, 'gpus': i.guest_accelerators[0].accelerator_count,\n\
             \x20                   'keys': [m.value for m in i.metadata.items if m.key == 'ssh-keys'], 'tags': list(i.tags.items)})\n\
             fw = [{'name': f.name, 'ports': list(f.allowed[0].ports), 'targets': list(f.target_tags)} for f in firewalls.list(project=PROJECT)]\n\
             print(json.dumps({'instances': out, 'firewalls': fw}))",
        );
        let instances = facts["instances"].as_array().unwrap();
        assert_eq!(instances.len(), 2, "{facts}");
        for i in instances {
            assert_eq!(i["labels"]["aloft-cluster"], "train-job");
            assert_eq!(i["labels"]["team"], "ml-research");
            assert_eq!(i["model"], "SPOT");
            assert_eq!(i["maintenance"], "TERMINATE");
            assert_eq!(i["action"], "STOP");
            assert!(i["gpu"].as_str().unwrap().ends_with("zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4"));
            assert_eq!(i["gpus"], 1);
            assert_eq!(i["keys"][0], "aloft:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIaloft me@host");
        }
        let roles: Vec<&str> = instances
            .iter()
            .map(|i| i["labels"]["aloft-role"].as_str().unwrap())
            .collect();
        assert_eq!(roles.iter().filter(|r| **r == "head").count(), 1, "{roles:?}");
        let fw = &facts["firewalls"];
        assert_eq!(fw.as_array().unwrap().len(), 1, "{fw}");
        assert_eq!(fw[0]["ports"][0], "8080-8081");
        assert_eq!(fw[0]["targets"][0], instances[0]["tags"][0]);
        // More ports widen the same rule.
        gcp.open_ports(&cluster, &[PortRange { start: 22, end: 22 }])
            .await
            .unwrap();
        let ports = fake.google(
            "print(json.dumps([list(f.allowed[0].ports) for f in firewalls.list(project=PROJECT)]))",
        );
        assert_eq!(ports, serde_json::json!([["22", "8080-8081"]]));

        // Google reclaims the worker: query says preempted; the head stopped by aloft
        // says stopped.
        let worker = run.instances.iter().find(|i| !i.is_head).unwrap();
        fake.control(
            "preempt",
            serde_json::json!({"zone": "us-central1-a", "name": worker.id}),
        );
        let q = gcp.query_instances(std::slice::from_ref(&cluster)).await.unwrap();
        let status = |id: &str| {
            q[0].instances
                .iter()
                .find(|i| i.id == id)
                .map(|i| i.status)
                .unwrap()
        };
        assert_eq!(status(&worker.id), InstanceStatus::Preempted);
        gcp.stop_instances(&cluster).await.unwrap();
        let q = gcp.query_instances(std::slice::from_ref(&cluster)).await.unwrap();
        let head = q[0].instances.iter().find(|i| i.is_head).unwrap();
        assert_eq!(head.status, InstanceStatus::Stopped, "{q:?}");
        let again = gcp
            .run_instances(&RunRequest {
            cluster: cluster.clone(),
            instance_type: "n1-standard-8+nvidia-tesla-t4:1".into(),
            count: 2,
            use_spot: true,
            disk_size_gib: Some(120),
            image_id: None,
            ports: Vec::new(),
            labels: Vec::new(),
            ssh_public_key: None,
        })
            .await
            .unwrap();

        assert_eq!(again.resumed.len(), 2, "{again:?}");
        assert!(again.created.is_empty());
        gcp.terminate_instances(&cluster).await.unwrap();
        let left = fake.google(
            "print(json.dumps({'fw': [f.name for f in firewalls.list(project=PROJECT)], \
             'vms': [i.name for z, s in instances.aggregated_list(request={'project': PROJECT}) for i in s.instances]}))",
        );
        assert_eq!(left, serde_json::json!({"fw": [], "vms": []}));
    });
    assert_no_secret(&fake, home.path(), &seen);
}

#[test]
fn gcp_passes_the_conformance_kit_with_application_default_credentials() {
    let fake = GcpFake::start(FakeOptions {
        op_polls: 2,
        ..FakeOptions::default()
    });
    let home = tempfile::tempdir().unwrap();
    let mut config = host_config(home.path(), &fake, fake.authorized_user_json());
    // The ADC file names no project: the setting does.
    config
        .settings
        .insert("gcp".into(), vec![("project".into(), PROJECT.into())]);
    runtime().block_on(async {
        let mut gcp = load_gcp(config).await;
        let identity = gcp.check_credentials().await.unwrap();
        assert_eq!(identity.account, PROJECT);
        run_lifecycle(&mut gcp, &options("adc-a", "us-central1-b"))
            .await
            .unwrap();
        // Offers: shapes per zone, GPUs named as aloft's catalogs name them, no prices.
        let offers = gcp.offers(Some("us-central1")).await.unwrap();
        let a2 = offers
            .iter()
            .filter(|o| o.instance_type == "a2-highgpu-1g")
            .collect::<Vec<_>>();
        assert_eq!(a2.len(), 3, "one per zone: {a2:?}");
        assert!(
            a2.iter()
                .all(|o| o.accelerator_name.as_deref() == Some("A100")
                    && o.accelerator_count == 1.0
                    && o.vcpus == 12.0
                    && o.price.is_none())
        );
        assert!(
            offers
                .iter()
                .any(|o| o.instance_type.is_empty() && o.accelerator_name.as_deref() == Some("T4"))
        );
    });
    let state = fake.control("state", serde_json::json!({}));
    assert_eq!(
        state["grants"],
        serde_json::json!(["refresh_token"]),
        "one token, reused"
    );
    assert_no_secret(&fake, home.path(), "");
}

#[test]
fn a_bad_jwt_signature_or_no_project_is_refused_typed() {
    let fake = GcpFake::start(FakeOptions::default());
    let home = tempfile::tempdir().unwrap();
    let mut seen = String::new();
    runtime().block_on(async {
        let mut gcp = load_gcp(host_config(home.path(), &fake, fake.wrong_key_json())).await;
        for result in [
            gcp.check_credentials().await.map(|_| ()),
            gcp.run_instances(&RunRequest {
                cluster: ClusterRef {
                    cluster: "nope".into(),
                    region: "us-central1".into(),
                    zone: None,
                },
                instance_type: "e2-standard-4".into(),
                count: 1,
                use_spot: false,
                disk_size_gib: None,
                image_id: None,
                ports: Vec::new(),
                labels: Vec::new(),
                ssh_public_key: None,
            })
            .await
            .map(|_| ()),
        ] {
            match result {
                Err(PluginError::Provider { error, .. }) => {
                    assert_eq!(error.kind, ErrorKind::Auth, "{error:?}");
                    assert!(error.message.contains("Invalid JWT Signature"), "{error:?}");
                    seen.push_str(&format!("{error:?} {error}"));
                }
                other => panic!("expected an auth error, got {other:?}"),
            }
        }
        // authorized_user credentials without a project, and no setting: invalid.
        let mut gcp = load_gcp(host_config(home.path(), &fake, fake.authorized_user_json())).await;
        match gcp.check_credentials().await {
            Err(PluginError::Provider { error, .. }) => {
                assert_eq!(error.code, "NoProject", "{error:?}");
            }
            other => panic!("expected NoProject, got {other:?}"),
        }
    });
    assert_no_secret(&fake, home.path(), &seen);
}

#[test]
fn the_fake_refuses_what_compute_engine_refuses() {
    let fake = GcpFake::start(FakeOptions::default());
    let base = format!("/compute/v1/projects/{PROJECT}/zones/us-central1-a/instances");
    let body = |extra: &str| {
        format!(
            r#"{{"name":"x1","machineType":"zones/us-central1-a/machineTypes/e2-standard-4",
                "disks":[{{"boot":true,"initializeParams":{{"sourceImage":"global/images/i","diskSizeGb":"10"}}}}]{extra}}}"#
        )
    };
    // Unknown field, at any depth.
    let (status, doc) = fake.raw("POST", &base, &body(r#","bogusField":1"#));
    assert_eq!(status, 400, "{doc}");
    assert_eq!(doc["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown name \"bogusField\"")
    );
    let (status, _) = fake.raw(
        "POST",
        &base,
        &body(r#","scheduling":{"provisioningModel":"SPOT","onHostMaintenance":"TERMINATE","automaticRestart":false,"nope":true}"#),
    );
    assert_eq!(status, 400);
    // Wrong JSON type; a value outside the enum.
    let (status, _) = fake.raw("POST", &base, &body(r#","canIpForward":"yes""#));
    assert_eq!(status, 400);
    let (status, _) = fake.raw(
        "POST",
        &base,
        &body(r#","scheduling":{"provisioningModel":"CHEAP"}"#),
    );
    assert_eq!(status, 400);
    // Unknown query parameter; a path parameter off its pattern.
    let (status, _) = fake.raw("GET", &format!("{base}?bogus=1"), "");
    assert_eq!(status, 400);
    let (status, _) = fake.raw(
        "GET",
        &format!("/compute/v1/projects/{PROJECT}/zones/us-central1-a/instances/Bad_Name"),
        "",
    );
    assert_eq!(status, 400);
    // And the well-formed request is accepted.
    let (status, op) = fake.raw("POST", &base, &body(""));
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["kind"], "compute#operation");
    // Without a token the API says so in Google's shape.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", fake.port)).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET {base} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("UNAUTHENTICATED"));
}
