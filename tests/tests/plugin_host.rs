//! The provider host against real components: hostile ones are contained, the
//! `local` provider passes the conformance kit, HTTP reaches only allowed hosts.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aloft::plugin::{HostConfig, PluginError, PluginHost};
use aloft_tests::components::{provider, test_component};
use aloft_tests::conformance::{ConformanceOptions, expect_capacity_error, run_lifecycle};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn config(home: &std::path::Path, mode: &str) -> HostConfig {
    let mut config = HostConfig::new(home);
    config.call_timeout = Duration::from_secs(1);
    config
        .settings
        .insert("hostile".into(), vec![("mode".into(), mode.into())]);
    config
}

/// A loopback HTTP server that answers 200 `pong` and counts connections.
fn server() -> (u16, Arc<AtomicUsize>, Arc<std::sync::Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let (h, s) = (hits.clone(), seen.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            *s.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong",
            );
        }
    });
    (port, hits, seen)
}

/// Loads the hostile component in `mode` plus `local`, calls `regions` on the
/// hostile one, then proves `local` still answers.
fn hostile_call(
    mode: &str,
    extra: impl FnOnce(&mut HostConfig),
) -> (Result<Vec<aloft::plugin::Region>, PluginError>, Duration) {
    let home = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut cfg = config(home.path(), mode);
        extra(&mut cfg);
        let mut host = PluginHost::new(cfg).unwrap();
        host.load_bytes("hostile", &test_component("hostile"))
            .await
            .unwrap();
        host.load_bytes("local", &provider("local")).await.unwrap();
        let mut hostile = host.instance("hostile").await.unwrap();
        let started = Instant::now();
        let result = hostile.regions().await;
        let elapsed = started.elapsed();
        // The host carries on: another provider's next call works.
        let mut local = host.instance("local").await.unwrap();
        assert_eq!(local.regions().await.unwrap()[0].name, "local");
        (result, elapsed)
    })
}

#[test]
fn an_infinite_loop_ends_with_a_deadline_error() {
    let (result, elapsed) = hostile_call("loop", |_| {});
    assert!(
        matches!(result, Err(PluginError::Deadline { .. })),
        "{result:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn a_4_gib_allocation_ends_with_a_memory_error() {
    let (result, _) = hostile_call("grow", |c| c.memory_limit = 256 << 20);
    assert!(
        matches!(result, Err(PluginError::Memory { limit_mib: 256, .. })),
        "{result:?}"
    );
}

#[test]
fn a_panic_is_a_trap_error() {
    let (result, _) = hostile_call("trap", |_| {});
    assert!(
        matches!(result, Err(PluginError::Trap { .. })),
        "{result:?}"
    );
}

#[test]
fn files_and_environment_are_out_of_reach() {
    let (result, _) = hostile_call("peek", |_| {});
    let Err(PluginError::Provider { error, .. }) = result else {
        panic!("{result:?}");
    };
    assert!(error.message.starts_with("file=Err("), "{}", error.message);
    assert!(
        error.message.contains("env=Err(NotPresent)"),
        "{}",
        error.message
    );
    assert!(error.message.ends_with("vars=0"), "{}", error.message);
}

#[test]
fn a_host_outside_the_manifest_is_refused_and_receives_nothing() {
    let (port, hits, _) = server();
    let (result, _) = hostile_call(&format!("http:http://127.0.0.1:{port}/steal"), |_| {});
    let Err(PluginError::Provider { error, .. }) = result else {
        panic!("{result:?}");
    };
    assert_eq!(error.code, "HostNotAllowed");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the server was contacted");
}

#[test]
fn the_kubernetes_bridge_answers_no_component_but_the_granted_one() {
    // A context whose API server is a real server here: were the bridge open to
    // any component, the request would reach it.
    let (port, hits, _) = server();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: dev\n\
             clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n\
             users: [{{name: u, user: {{token: kube-secret-token}}}}]\n\
             contexts: [{{name: dev, context: {{cluster: c, user: u}}}}]\n"
        ),
    )
    .unwrap();
    let (result, _) = hostile_call("kube:dev|/api/v1/pods", |c| {
        c.kube = Some(Arc::new(aloft::kube::access::KubeAccess::load(
            Some(&kubeconfig),
            None,
            Duration::from_secs(5),
        )));
    });
    let Err(PluginError::Provider { error, .. }) = result else {
        panic!("{result:?}");
    };
    assert!(error.message.contains("Denied"), "{}", error.message);
    assert!(error.message.contains("not granted"), "{}", error.message);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the API server was contacted"
    );
}

#[test]
fn an_allowed_host_is_reached_through_its_endpoint_override() {
    let (port, hits, seen) = server();
    let (result, _) = hostile_call("http:http://allowed.example/ping", |c| {
        c.endpoints
            .insert("hostile".into(), format!("http://127.0.0.1:{port}"));
    });
    let regions = result.unwrap();
    assert_eq!(regions[0].name, "status-200");
    assert_eq!(regions[0].zones, ["pong"]);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let request = seen.lock().unwrap().clone();
    assert!(request.starts_with("GET /ping HTTP/1.1"), "{request}");
    assert!(
        request.to_lowercase().contains("host: allowed.example"),
        "{request}"
    );
    assert!(request.to_lowercase().contains("x-probe: 1"), "{request}");
}

#[test]
fn the_users_allow_list_narrows_the_manifest() {
    let (port, hits, _) = server();
    let (result, _) = hostile_call("http:http://allowed.example/ping", |c| {
        c.endpoints
            .insert("hostile".into(), format!("http://127.0.0.1:{port}"));
        // The manifest declares allowed.example; the user allows only another host.
        c.allowed_hosts = Some(vec!["other.example".into()]);
    });
    let Err(PluginError::Provider { error, .. }) = result else {
        panic!("{result:?}");
    };
    assert_eq!(error.code, "HostNotAllowed");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the server was contacted");
}

#[test]
fn a_response_above_the_size_cap_is_refused() {
    let (port, hits, _) = server();
    let (result, _) = hostile_call("http:http://allowed.example/ping", |c| {
        c.endpoints
            .insert("hostile".into(), format!("http://127.0.0.1:{port}"));
        c.max_response_bytes = 2; // the server answers 4 bytes
    });
    let Err(PluginError::Provider { error, .. }) = result else {
        panic!("{result:?}");
    };
    assert_eq!(error.code, "TooLarge");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// Credentials from a fixed map, so the test does not touch the process env.
struct Fixed;

impl aloft::plugin::CredentialSource for Fixed {
    fn get(&self, name: &str) -> Option<String> {
        match name {
            "HOSTILE_TOKEN" => Some("tok-abcdef-123456".into()),
            "OTHER_SECRET" => Some("must-not-leak".into()),
            _ => None,
        }
    }
}

#[test]
fn only_declared_secrets_are_lent_and_they_are_scrubbed() {
    let (result, _) = hostile_call("secret", |c| c.credentials = Arc::new(Fixed));
    let Err(PluginError::Provider { error, .. }) = result else {
        panic!("{result:?}");
    };
    // The guest got its declared token (it returned it), the host scrubbed it; the
    // undeclared one was refused.
    assert_eq!(error.message, "token=*** undeclared=None");
}

#[test]
fn a_newer_api_version_is_refused_with_the_supported_ones() {
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut host = PluginHost::new(HostConfig::new(home.path())).unwrap();
        let err = host
            .load_bytes("future.wasm", &test_component("future"))
            .await
            .unwrap_err();
        assert!(matches!(err, PluginError::Incompatible { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "future.wasm: built for provider interface 0.2.0; this aloft speaks 0.1.0"
        );
        let err = host.load_bytes("junk.wasm", b"not wasm").await.unwrap_err();
        assert!(matches!(err, PluginError::Load { .. }), "{err}");
    });
}

#[test]
fn whether_nodes_run_container_images_is_read_from_the_0_2_0_manifest_export() {
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut host = PluginHost::new(HostConfig::new(home.path())).unwrap();
        // A 0.1.0 component (no `manifest` export) loads unchanged, and can.
        let faulty = host
            .load_bytes("faulty", &test_component("faulty"))
            .await
            .unwrap();
        assert!(faulty.capabilities.container_images, "{faulty:?}");
        assert_eq!(faulty.api_version, "0.1.0");
        // So can one that imports 0.2.0 but does not export `manifest`.
        let hostile = host
            .inspect("hostile", &test_component("hostile"))
            .await
            .unwrap();
        assert!(hostile.capabilities.container_images, "{hostile:?}");
        // The same source exporting it, declaring no container images: that
        // capability goes, the 0.1.0 ones stay.
        let boxed = host
            .inspect("boxed", &test_component("boxed"))
            .await
            .unwrap();
        assert!(!boxed.capabilities.container_images, "{boxed:?}");
        assert_eq!(
            aloft::plugin::Capabilities {
                container_images: true,
                catalog_prices: true,
                ..boxed.capabilities
            },
            faulty.capabilities
        );
        // RunPod declares it through the SDK, and its instances say the same.
        let runpod = host
            .load_bytes("runpod", &provider("runpod"))
            .await
            .unwrap();
        assert!(!runpod.capabilities.container_images, "{runpod:?}");
        let mut instance = host.instance("runpod").await.unwrap();
        let info = instance.info().await.unwrap();
        assert!(!info.capabilities.container_images, "{info:?}");
        // ... while keeping its shipped catalog's prices; Nebius, which prices
        // live, declares the other way round.
        assert!(runpod.capabilities.catalog_prices, "{runpod:?}");
        assert!(faulty.capabilities.catalog_prices, "{faulty:?}");
        let nebius = host
            .load_bytes("nebius", &provider("nebius"))
            .await
            .unwrap();
        assert!(nebius.capabilities.container_images, "{nebius:?}");
        assert!(!nebius.capabilities.catalog_prices, "{nebius:?}");
    });
}

#[test]
fn local_passes_the_conformance_kit() {
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut cfg = HostConfig::new(home.path());
        cfg.settings.insert(
            "local".into(),
            vec![("fail_capacity_zones".into(), "local-b".into())],
        );
        let mut host = PluginHost::new(cfg).unwrap();
        host.load_bytes("local", &provider("local")).await.unwrap();
        let mut local = host.instance("local").await.unwrap();
        let options = ConformanceOptions {
            cluster: "conf".into(),
            region: "local".into(),
            zone: Some("local-a".into()),
            instance_type: "local-2cpu".into(),
        };
        run_lifecycle(&mut local, &options).await.unwrap();
        let in_b = ConformanceOptions {
            zone: Some("local-b".into()),
            ..options
        };
        expect_capacity_error(&mut local, &in_b).await.unwrap();
    });
}

#[test]
fn kv_state_survives_instances_and_the_compiled_cache_is_reused() {
    let home = tempfile::tempdir().unwrap();
    let options = ConformanceOptions {
        cluster: "keep".into(),
        region: "local".into(),
        zone: Some("local-c".into()),
        instance_type: "local-1cpu".into(),
    };
    let rt = runtime();
    rt.block_on(async {
        let mut host = PluginHost::new(HostConfig::new(home.path())).unwrap();
        host.load_bytes("local", &provider("local")).await.unwrap();
        let mut a = host.instance("local").await.unwrap();
        let req = aloft::plugin::RunRequest {
            cluster: aloft::plugin::ClusterRef {
                cluster: options.cluster.clone(),
                region: options.region.clone(),
                zone: options.zone.clone(),
            },
            instance_type: options.instance_type.clone(),
            count: 1,
            use_spot: false,
            disk_size_gib: None,
            image_id: None,
            ports: Vec::new(),
            labels: Vec::new(),
            ssh_public_key: None,
        };
        a.run_instances(&req).await.unwrap();
    });
    let cached: Vec<_> = std::fs::read_dir(home.path().join("cache/components"))
        .unwrap()
        .collect();
    assert_eq!(cached.len(), 1, "one compiled component in the cache");
    // A new host (a new CLI process) sees the cluster from the persisted kv.
    rt.block_on(async {
        let mut host = PluginHost::new(HostConfig::new(home.path())).unwrap();
        host.load_bytes("local", &provider("local")).await.unwrap();
        let mut b = host.instance("local").await.unwrap();
        let q = b
            .query_instances(&[aloft::plugin::ClusterRef {
                cluster: "keep".into(),
                region: "local".into(),
                zone: Some("local-c".into()),
            }])
            .await
            .unwrap();
        assert_eq!(q[0].instances.len(), 1);
    });
}

/// Lends `HELLO_CLOUD_TOKEN` only.
struct HelloToken;

impl aloft::plugin::CredentialSource for HelloToken {
    fn get(&self, name: &str) -> Option<String> {
        (name == "HELLO_CLOUD_TOKEN").then(|| "hello-token-42".to_string())
    }
}

#[test]
fn the_example_provider_from_the_guide_builds_loads_and_calls_its_api() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        if let Some(Ok(mut stream)) = listener.incoming().next() {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            *s.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).into_owned();
            let body = r#"{"id":"acct-7"}"#;
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut cfg = HostConfig::new(home.path());
        cfg.credentials = Arc::new(HelloToken);
        cfg.endpoints
            .insert("hello-cloud".into(), format!("http://127.0.0.1:{port}"));
        let mut host = PluginHost::new(cfg).unwrap();
        let manifest = host
            .load_bytes(
                "hello-cloud",
                &aloft_tests::components::example("hello-cloud"),
            )
            .await
            .unwrap();
        assert_eq!(manifest.name, "hello-cloud");
        assert_eq!(manifest.hosts, ["api.hello-cloud.example"]);
        assert_eq!(manifest.credentials, ["HELLO_CLOUD_TOKEN"]);
        let mut hello = host.instance("hello-cloud").await.unwrap();
        let identity = hello.check_credentials().await.unwrap();
        assert_eq!(identity.account, "acct-7");
    });
    let request = seen.lock().unwrap().to_lowercase();
    assert!(request.starts_with("get /v1/me http/1.1"), "{request}");
    assert!(
        request.contains("authorization: bearer hello-token-42"),
        "{request}"
    );
}
