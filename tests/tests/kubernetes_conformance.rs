//! The `kubernetes` provider component against the test API server
//! (`tests/fakes/k8s_api.py`) through the plugin host, with the host's Kubernetes
//! access (`aloft::kube::access`) resolving a kubeconfig: the conformance lifecycle
//! (idempotent `run-instances`, batched queries, `stop` answered `unsupported`,
//! nothing left after `terminate`), a typed `capacity` error for a pod no node can
//! hold (and no pod left behind), and the access lent only to the bundled
//! provider of that name, never to an installed one.

use std::sync::Arc;
use std::time::Duration;

use aloft::kube::access::KubeAccess;
use aloft::plugin::{HostConfig, PluginHost, ProviderInstance};
use aloft_tests::components::provider;
use aloft_tests::conformance::{ConformanceOptions, expect_capacity_error, run_lifecycle};
use aloft_tests::k8s_fake::{FakeNode, K8sFake};
use aloft_tests::sshd::Sshd;

struct World {
    home: tempfile::TempDir,
    fake: K8sFake,
    _machines: Vec<Sshd>,
}

impl World {
    fn new(first_ip: u8) -> World {
        let home = tempfile::tempdir().unwrap();
        let machines: Vec<Sshd> = (0..3)
            .map(|i| {
                Sshd::start_machine(
                    &home.path().join(format!("m{i}")),
                    &format!("127.0.0.{}", first_ip + i),
                )
            })
            .collect();
        let addresses: Vec<(String, u16)> =
            machines.iter().map(|m| (m.ip.clone(), m.port)).collect();
        let nodes = [
            FakeNode::new("n1", 8, 32, 0, None),
            FakeNode::new("n2", 8, 32, 0, None),
        ];
        let fake = K8sFake::start(&nodes, &addresses);
        std::fs::write(
            home.path().join("kubeconfig"),
            format!(
                "current-context: k\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
                 users:\n- name: u\n  user:\n    token: {}\ncontexts:\n- name: k\n  context: {{cluster: c, user: u, namespace: aloft}}\n",
                fake.server(),
                fake.path("ca.pem").display(),
                fake.read("token"),
            ),
        )
        .unwrap();
        World {
            home,
            fake,
            _machines: machines,
        }
    }

    async fn provider(&self) -> ProviderInstance {
        let mut config = HostConfig::new(self.home.path());
        config.kube = Some(Arc::new(KubeAccess::load(
            Some(&self.home.path().join("kubeconfig")),
            None,
            Duration::from_secs(30),
        )));
        config.settings.insert(
            "kubernetes".into(),
            vec![("provision_timeout".into(), "1".into())],
        );
        let mut host = PluginHost::new(config).unwrap();
        host.load_bytes("bundled:kubernetes", &provider("kubernetes"))
            .await
            .unwrap();
        host.instance("kubernetes").await.unwrap()
    }

    fn pods(&self) -> serde_json::Value {
        self.fake.read_back(
            "print(json.dumps(sorted(p.metadata.name for p in v1.list_namespaced_pod('aloft').items)))",
        )
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn options(cluster: &str, instance_type: &str) -> ConformanceOptions {
    ConformanceOptions {
        cluster: cluster.into(),
        region: "k".into(),
        zone: None,
        instance_type: instance_type.into(),
    }
}

#[test]
fn kubernetes_passes_the_conformance_kit_against_the_api_server() {
    let world = World::new(140);
    rt().block_on(async {
        let mut k8s = world.provider().await;
        let identity = k8s.check_credentials().await.unwrap();
        assert_eq!(identity.account, "k");
        run_lifecycle(&mut k8s, &options("conf-a", "2CPU--8GB"))
            .await
            .unwrap();
        assert_eq!(world.pods(), serde_json::json!([]));
        // No node has 64 CPUs: the pod stays unschedulable, the error is typed and
        // the pod is gone.
        expect_capacity_error(&mut k8s, &options("conf-big", "64CPU--256GB"))
            .await
            .unwrap();
        assert_eq!(world.pods(), serde_json::json!([]));
    });
}

#[test]
fn only_the_bundled_kubernetes_provider_gets_the_contexts() {
    let world = World::new(150);
    rt().block_on(async {
        let mut k8s = world.provider().await;
        let regions = k8s.regions().await.unwrap();
        let names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["k"]);
        // The same bytes installed by the user (granted, even allowed to replace
        // the bundled one) are a third-party provider: no contexts, no access.
        let mut config = HostConfig::new(world.home.path());
        config.kube = Some(Arc::new(KubeAccess::load(
            Some(&world.home.path().join("kubeconfig")),
            None,
            Duration::from_secs(30),
        )));
        let mut host = PluginHost::new(config).unwrap();
        let bytes = provider("kubernetes");
        let manifest = host.load_bytes("bundled:kubernetes", &bytes).await.unwrap();
        let grant = aloft::plugin::InstallGrant::of(&manifest, true);
        host.load_installed("installed/kubernetes.wasm", &bytes, Some(&grant))
            .await
            .unwrap();
        let mut installed = host.instance("kubernetes").await.unwrap();
        assert!(installed.regions().await.unwrap().is_empty());
        assert!(installed.check_credentials().await.is_err());
    });
}
