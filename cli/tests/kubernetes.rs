//! The bundled `kubernetes` provider end to end through the CLI, against the test
//! API server (`tests/fakes/k8s_api.py`): kubeconfig contexts are regions, the host
//! resolves credentials (bearer token, exec plugin, client certificate) and the pods
//! the fake schedules are real `sshd` machines on loopback, so setup and the job run
//! for real. Facts are read back with the official Python client; no token or key
//! may show in output, logs or files.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output};

use aloft_tests::k8s_fake::{FakeNode, K8sFake};
use aloft_tests::sshd::Sshd;
use common::text;

const GKE: &str = "cloud.google.com/gke-accelerator";
const GFD: &str = "nvidia.com/gpu.product";

/// How a context authenticates.
pub(crate) enum Auth {
    Token,
    Forbidden,
    Exec,
    ClientCert,
}

pub(crate) struct World {
    pub(crate) home: tempfile::TempDir,
    pub(crate) fakes: Vec<K8sFake>,
    pub(crate) machines: Vec<Sshd>,
    kubeconfig: PathBuf,
}

impl World {
    /// `clusters`: per fake cluster, its nodes; `machines` sshd machines from
    /// 127.0.0.`first_ip`, split evenly between the fakes.
    pub(crate) fn new(
        clusters: Vec<Vec<FakeNode>>,
        machines_per_cluster: usize,
        first_ip: u8,
    ) -> World {
        Self::new_with(
            clusters,
            machines_per_cluster,
            first_ip,
            serde_json::json!({}),
        )
    }

    /// [`World::new`] with settings for every fake (see `K8sFake::start_with`).
    fn new_with(
        clusters: Vec<Vec<FakeNode>>,
        machines_per_cluster: usize,
        first_ip: u8,
        extra: serde_json::Value,
    ) -> World {
        let home = tempfile::tempdir().unwrap();
        let mut machines = Vec::new();
        let mut fakes = Vec::new();
        for (c, nodes) in clusters.into_iter().enumerate() {
            let mut addresses = Vec::new();
            let mut keys = serde_json::Map::new();
            for i in 0..machines_per_cluster {
                let n = c * machines_per_cluster + i;
                let ip = format!("127.0.0.{}", first_ip as usize + n);
                let m = Sshd::start_machine(&home.path().join(format!("m{n}")), &ip);
                addresses.push((m.ip.clone(), m.port));
                keys.insert(
                    format!("{}:{}", m.ip, m.port),
                    m.authorized_keys_path().display().to_string().into(),
                );
                machines.push(m);
            }
            let mut extra = extra.clone();
            extra["authorized_keys"] = keys.into();
            fakes.push(K8sFake::start_with(&nodes, &addresses, extra));
        }
        let kubeconfig = home.path().join("kube").join("config");
        World {
            home,
            fakes,
            machines,
            kubeconfig,
        }
    }

    /// Writes the kubeconfig (contexts: `(name, fake index, auth)`) and aloft's
    /// config allowing `allowed`.
    pub(crate) fn configure(&self, contexts: &[(&str, usize, Auth)], allowed: &[&str]) {
        let dir = self.kubeconfig.parent().unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let mut clusters = String::new();
        let mut users = String::new();
        let mut ctxs = String::new();
        for (name, fake, auth) in contexts {
            let f = &self.fakes[*fake];
            clusters.push_str(&format!(
                "- name: c-{name}\n  cluster:\n    server: {}\n    certificate-authority: {}\n",
                f.server(),
                f.path("ca.pem").display()
            ));
            let user = match auth {
                Auth::Token => format!("    token: {}\n", f.read("token")),
                Auth::Forbidden => format!("    token: {}\n", f.read("forbidden-token")),
                Auth::ClientCert => format!(
                    "    client-certificate: {}\n    client-key-data: {}\n",
                    f.path("client.pem").display(),
                    base64(&f.read("client-key.pem"))
                ),
                Auth::Exec => {
                    // A plugin as EKS's and GKE's are: prints an ExecCredential.
                    let script = dir.join(format!("plugin-{name}.sh"));
                    std::fs::write(
                        &script,
                        format!(
                            "#!/bin/sh\n[ \"$1\" = get-token ] && [ \"$CLUSTER_ID\" = {name} ] || exit 2\n\
                             case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) exit 3;; esac\n\
                             echo \"$(date +%s%N)\" >> {runs}\n\
                             printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\",\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}}}' \"$(cat {token})\"\n",
                            runs = dir.join(format!("plugin-{name}.runs")).display(),
                            token = f.path("token").display(),
                        ),
                    )
                    .unwrap();
                    std::fs::set_permissions(
                        &script,
                        std::os::unix::fs::PermissionsExt::from_mode(0o755),
                    )
                    .unwrap();
                    format!(
                        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./plugin-{name}.sh\n      args: [get-token]\n      env:\n      - name: CLUSTER_ID\n        value: {name}\n      interactiveMode: Never\n"
                    )
                }
            };
            users.push_str(&format!("- name: u-{name}\n  user:\n{user}"));
            ctxs.push_str(&format!(
                "- name: {name}\n  context:\n    cluster: c-{name}\n    user: u-{name}\n    namespace: aloft\n"
            ));
        }
        std::fs::write(
            &self.kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: {}\nclusters:\n{clusters}users:\n{users}contexts:\n{ctxs}",
                contexts[0].0
            ),
        )
        .unwrap();
        std::fs::write(
            self.home.path().join("config.yaml"),
            format!(
                "kubernetes:\n  allowed_contexts: [{}]\n  provision_timeout: 2\n\
                 providers:\n  kubernetes:\n    ssh_user: {}\n",
                allowed.join(", "),
                self.machines[0].user
            ),
        )
        .unwrap();
    }

    pub(crate) fn aloft(&self, args: &[&str]) -> Output {
        self.aloft_with(args, &[])
    }

    /// [`World::aloft`] with more environment variables.
    pub(crate) fn aloft_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let log = self.home.path().join(format!("aloft-{}.log", args[0]));
        let stderr = std::fs::File::create(&log).unwrap();
        let mut out = Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(args)
            .envs(env.iter().copied())
            .stderr(stderr)
            .env("ALOFT_HOME", self.home.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("ALOFT_LOG", "trace")
            // A jobs controller (one test runs one) polls fast and goes idle soon.
            .env("ALOFT_JOBS_POLL_MS", "200")
            .env("ALOFT_JOBS_IDLE_MS", "1500")
            .env("ALOFT_JOBS_RETRY_MS", "200")
            // A serve controller (one test runs one) polls and retries fast.
            .env("ALOFT_SERVE_POLL_MS", "300")
            .env("ALOFT_SERVE_IDLE_MS", "2000")
            .env("ALOFT_SERVE_RETRY_MS", "500")
            .output()
            .expect("run aloft");
        out.stderr = std::fs::read(&log).unwrap_or_default();
        out
    }

    pub(crate) fn task(&self, name: &str, body: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        self.fakes.iter().flat_map(K8sFake::secrets).collect()
    }

    fn no_secret_in(&self, out: &Output) {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        for secret in self.secrets() {
            assert!(
                !stdout.contains(&secret) && !stderr.contains(&secret),
                "a secret leaked into aloft's output"
            );
        }
    }

    pub(crate) fn ok(&self, out: &Output) -> String {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        self.no_secret_in(out);
        stdout
    }

    /// No token or key in any file under aloft's home but the kubeconfig's folder
    /// (which the test itself wrote) and the files in `except`.
    pub(crate) fn assert_no_secret_in_files(&self, except: &[&std::path::Path]) {
        let kube = self.kubeconfig.parent().unwrap();
        for path in common::files_under(self.home.path()) {
            if path.starts_with(kube) || except.contains(&path.as_path()) {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            for secret in self.secrets() {
                assert!(!text.contains(&secret), "a secret is in {}", path.display());
            }
        }
    }

    /// The pods of the `aloft` namespace of fake `i`, read with the official client.
    pub(crate) fn pods(&self, i: usize) -> serde_json::Value {
        self.fakes[i].read_back(
            "out = []\n\
             for p in v1.list_namespaced_pod('aloft').items:\n\
             \x20   r = p.spec.containers[0].resources\n\
             \x20   out.append(dict(name=p.metadata.name, labels=p.metadata.labels, phase=p.status.phase,\n\
             \x20                   node=p.spec.node_name, requests=r.requests, limits=r.limits, ip=p.status.pod_ip,\n\
             \x20                   image=p.spec.containers[0].image))\n\
             svcs = [dict(name=s.metadata.name, ports=[x.port for x in s.spec.ports], selector=s.spec.selector)\n\
             \x20       for s in v1.list_namespaced_service('aloft').items]\n\
             print(json.dumps(dict(pods=sorted(out, key=lambda p: p['name']), services=svcs)))",
        )
    }
}

fn base64(text: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = text.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, c)| n | (u32::from(*c) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn gpu_pool() -> Vec<FakeNode> {
    vec![
        FakeNode::new("gke-a100", 12, 85, 1, Some((GKE, "nvidia-tesla-a100"))),
        FakeNode::new("gfd-a100", 16, 64, 1, Some((GFD, "NVIDIA-A100-SXM4-40GB"))),
        FakeNode::new("cpu-1", 8, 32, 0, None),
    ]
}

fn sorted_lines(out: &Output) -> Vec<String> {
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn a_two_node_gpu_cluster_lives_its_whole_life_on_the_api_server() {
    let world = World::new(vec![gpu_pool()], 3, 60);
    world.configure(&[("gpu", 0, Auth::Exec)], &["gpu"]);
    let task = world.task(
        "train.yaml",
        "name: train\nnum_nodes: 2\n\
         resources: {infra: k8s/gpu, accelerators: A100:1, ports: 8080, image_id: docker:ubuntu:24.04}\n\
         run: echo \"rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES gpus $SKYPILOT_NUM_GPUS_PER_NODE\"\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "trn", task.to_str().unwrap()]);
    world.ok(&out);
    assert_eq!(
        sorted_lines(&out),
        ["(rank 0) rank 0 of 2 gpus 1", "(rank 1) rank 1 of 2 gpus 1"],
        "{}",
        text(&out.stderr)
    );
    // The exec plugin ran (the host ran it, with its args and env), once per
    // process at most: its token is cached until it expires.
    let runs = std::fs::read_to_string(world.kubeconfig.with_file_name("plugin-gpu.runs"))
        .expect("the exec plugin ran");
    assert!(!runs.is_empty());

    let found = world.pods(0);
    let pods = found["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 2, "{found}");
    let nodes: std::collections::BTreeSet<&str> =
        pods.iter().map(|p| p["node"].as_str().unwrap()).collect();
    assert_eq!(
        nodes,
        ["gfd-a100", "gke-a100"].into_iter().collect(),
        "one pod on each GPU node, whichever label names its GPU: {found}"
    );
    for p in pods {
        assert_eq!(p["phase"], "Running");
        // The task's image is the pod's image (no container inside the pod).
        assert_eq!(p["image"], "ubuntu:24.04");
        assert_eq!(p["labels"]["aloft-cluster"], "trn");
        assert_eq!(p["requests"]["nvidia.com/gpu"], "1");
        assert_eq!(p["limits"]["nvidia.com/gpu"], "1");
        assert_eq!(p["requests"]["cpu"], "4");
        assert_eq!(p["requests"]["memory"], "16Gi");
    }
    let roles: Vec<&str> = pods
        .iter()
        .map(|p| p["labels"]["aloft-role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["head", "worker"], "{found}");
    assert_eq!(found["services"][0]["ports"], serde_json::json!([8080]));
    assert_eq!(found["services"][0]["selector"]["aloft-role"], "head");
    // The pods were given the cluster's own host key, from a Secret the head pod
    // owns (never inline in a pod's spec), answer with it, and were pinned to it
    // before the first connection.
    // The fake places pods on the first free machines.
    let used: Vec<&Sshd> = world.machines.iter().take(2).collect();
    let public = common::assert_pinned_to_cluster_host_key(world.home.path(), &used, "trn", 2);
    let private =
        std::fs::read_to_string(world.home.path().join("keys/clusters/trn/host/aloft-key"))
            .unwrap();
    let given = world.fakes[0].read_back(
        "import base64\n\
         pods = v1.list_namespaced_pod('aloft').items\n\
         env = [[dict(name=e.name, value=e.value, secret=e.value_from and e.value_from.secret_key_ref.name)\n\
         \x20       for e in p.spec.containers[0].env if e.name == 'ALOFT_SSH_HOST_KEY'] for p in pods]\n\
         s = v1.read_namespaced_secret('trn-host-key', 'aloft')\n\
         print(json.dumps(dict(annotations=[p.metadata.annotations.get('aloft.dev/host-key') for p in pods], env=env,\n\
         \x20   key=base64.b64decode(s.data['ssh_host_ed25519_key']).decode(),\n\
         \x20   owners=[o.name for o in s.metadata.owner_references or []])))",
    );
    assert_eq!(given["annotations"], serde_json::json!([public, public]));
    for env in given["env"].as_array().unwrap() {
        assert_eq!(env[0]["secret"], "trn-host-key", "{given}");
        assert!(env[0]["value"].is_null(), "the key inline in a pod's spec");
    }
    assert_eq!(given["key"].as_str().unwrap().trim(), private.trim());
    assert_eq!(given["owners"], serde_json::json!(["trn-head"]));

    let again = world.task(
        "again.yaml",
        "num_nodes: 2\nrun: echo again $SKYPILOT_NODE_RANK\n",
    );
    let out = world.aloft(&["exec", "trn", again.to_str().unwrap()]);
    world.ok(&out);
    assert_eq!(sorted_lines(&out), ["(rank 0) again 0", "(rank 1) again 1"]);
    let queue = world.ok(&world.aloft(&["queue", "trn", "-o", "json"]));
    let jobs: serde_json::Value = serde_json::from_str(&queue).unwrap();
    assert_eq!(jobs.as_array().map(Vec::len), Some(2), "{jobs}");
    let logs = world.ok(&world.aloft(&["logs", "trn", "1"]));
    assert!(logs.contains("rank 1 of 2 gpus 1"), "{logs}");
    let status = world.ok(&world.aloft(&["status", "-r", "-o", "json"]));
    let rows: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "kubernetes");

    let out = world.aloft(&["stop", "-y", "trn"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot be stopped")
            || text(&out.stdout).contains("cannot be stopped"),
        "{}",
        text(&out.stderr)
    );
    world.ok(&world.aloft(&["down", "-y", "trn"]));
    let left = world.pods(0);
    assert_eq!(left, serde_json::json!({"pods": [], "services": []}));
    let secrets = world.fakes[0].read_back(
        "print(json.dumps([s.metadata.name for s in v1.list_namespaced_secret('aloft').items]))",
    );
    assert_eq!(
        secrets,
        serde_json::json!([]),
        "the host key's Secret is left"
    );
    world.assert_no_secret_in_files(&[]);
}

#[test]
fn failover_moves_past_a_full_and_a_forbidden_context() {
    // `small` has one free A100 (a 2-node task cannot fit), `big` has two;
    // `locked` is `small`'s server with a token it answers 403 to.
    let small = vec![FakeNode::new(
        "s-a100",
        8,
        64,
        1,
        Some((GFD, "NVIDIA-A100-SXM4-40GB")),
    )];
    let big = vec![
        FakeNode::new("b-a100-1", 8, 64, 1, Some((GKE, "nvidia-tesla-a100"))),
        FakeNode::new("b-a100-2", 8, 64, 1, Some((GKE, "nvidia-tesla-a100"))),
    ];
    let world = World::new(vec![small, big], 2, 80);
    world.configure(
        &[
            ("locked", 0, Auth::Forbidden),
            ("small", 0, Auth::Token),
            ("big", 1, Auth::ClientCert),
        ],
        &["locked", "small", "big"],
    );
    let task = world.task(
        "t.yaml",
        "num_nodes: 2\n\
         resources:\n  accelerators: A100:1\n  ordered:\n  - infra: k8s/locked\n  - infra: k8s/small\n  - infra: k8s/big\n\
         run: echo up $SKYPILOT_NODE_RANK\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "fo", task.to_str().unwrap()]);
    world.ok(&out);
    assert_eq!(sorted_lines(&out), ["(rank 0) up 0", "(rank 1) up 1"]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("kubernetes context locked skipped") && stderr.contains("forbidden"),
        "{stderr}"
    );
    assert!(stderr.contains("Unschedulable"), "{stderr}");
    // What `small` got was deleted; `big` runs both pods.
    assert_eq!(world.pods(0)["pods"], serde_json::json!([]));
    let big = world.pods(1);
    assert_eq!(big["pods"].as_array().map(Vec::len), Some(2), "{big}");
    world.ok(&world.aloft(&["down", "-y", "fo"]));
    assert_eq!(world.pods(1)["pods"], serde_json::json!([]));
    world.assert_no_secret_in_files(&[]);
}

#[test]
fn kubeconfig_mistakes_are_named() {
    let world = World::new(vec![gpu_pool()], 1, 100);
    world.configure(&[("gpu", 0, Auth::Token)], &["gpu", "nope"]);
    let task = world.task("t.yaml", "resources: {infra: k8s/nope}\nrun: echo hi\n");
    let out = world.aloft(&["launch", "-y", task.to_str().unwrap()]);
    assert!(!out.status.success());
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("known contexts: gpu"), "{all}");
    world.no_secret_in(&out);

    std::fs::write(
        &world.kubeconfig,
        "apiVersion: v1\nclusters:\n- name: x\n  cluster: [unclosed\ncontexts: []\n",
    )
    .unwrap();
    let out = world.aloft(&["launch", "-y", task.to_str().unwrap()]);
    assert!(!out.status.success());
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let at = format!("{}:4", world.kubeconfig.display());
    assert!(all.contains(&at), "{all}");
}

#[test]
fn show_gpus_counts_total_and_free_per_context() {
    let pool = vec![
        FakeNode::new("a1", 32, 256, 4, Some((GKE, "nvidia-tesla-a100"))),
        FakeNode::new("a2", 32, 256, 4, Some((GFD, "NVIDIA-A100-SXM4-40GB"))),
        FakeNode::new("h1", 32, 256, 8, Some((GFD, "NVIDIA-H100-80GB-HBM3"))),
        FakeNode::new("c1", 8, 32, 0, None),
    ];
    // The server answers one item per page, as an API server may: every list is
    // read to its end through `continue` tokens.
    let world = World::new_with(vec![pool], 1, 110, serde_json::json!({"page_cap": 1}));
    world.configure(&[("gpus", 0, Auth::ClientCert)], &["gpus"]);
    // One pod already holds 2 A100s (made with the official client).
    world.fakes[0].read_back(
        "pod = {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'busy'},\n\
         \x20      'spec': {'nodeSelector': {'cloud.google.com/gke-accelerator': 'nvidia-tesla-a100'},\n\
         \x20               'containers': [{'name': 'x', 'image': 'busybox',\n\
         \x20                               'resources': {'limits': {'nvidia.com/gpu': '2'}}}]}}\n\
         v1.create_namespaced_pod('aloft', pod)\nprint('{}')",
    );
    let out = world.aloft(&["show-gpus", "--infra", "k8s", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&world.ok(&out)).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([
            {"context": "gpus", "gpu": "A100", "total": 8, "free": 6, "nodes": 2},
            {"context": "gpus", "gpu": "H100", "total": 8, "free": 8, "nodes": 1},
        ])
    );
    let continued: u32 = world.fakes[0]
        .read("continued-lists")
        .trim()
        .parse()
        .unwrap();
    assert!(continued >= 3, "4 nodes in pages of 1: {continued}");
    let table = world.ok(&world.aloft(&["show-gpus", "--infra", "k8s/gpus"]));
    assert!(
        table.contains("CONTEXT") && table.contains("H100"),
        "{table}"
    );
}

#[test]
fn a_resource_quota_is_a_quota_error_and_leaves_nothing() {
    let world = World::new_with(
        vec![gpu_pool()],
        2,
        120,
        serde_json::json!({"pod_quota": {"aloft": 1}}),
    );
    world.configure(&[("q", 0, Auth::Token)], &["q"]);
    let task = world.task(
        "t.yaml",
        "num_nodes: 2\nresources: {infra: k8s/q, cpus: 2}\nrun: echo hi\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "qq", task.to_str().unwrap()]);
    assert!(!out.status.success());
    world.no_secret_in(&out);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("exceeded quota"), "{all}");
    assert!(
        all.contains("quota (Forbidden: "),
        "typed as a quota error: {all}"
    );
    assert_eq!(world.pods(0)["pods"], serde_json::json!([]));
}

/// `aloft serve` on Kubernetes: the replica is a pod that only the API server's
/// port-forward reaches, so the controller reaches its port through an SSH
/// forward over it. Its pod is deleted behind aloft's back (its server dies with
/// it); the controller replaces it, and `serve down` leaves no pod or service.
#[test]
fn a_replica_pod_deleted_behind_alofts_back_is_replaced() {
    let world = World::new(vec![vec![FakeNode::new("cpu-0", 16, 64, 0, None)]], 2, 190);
    world.configure(&[("svc", 0, Auth::Token)], &["svc"]);
    // One replica at a time serves, so the machines (which share this host's
    // loopback) never have two servers on the port.
    let port = common::free_port();
    let marker = format!("aloft-k8s-replica-{port}");
    let _replicas = common::ReplicasEndOnDrop(marker.clone());
    let server = world.task("server.py", common::REPLICA_SERVER);
    let task = world.task(
        "svc.yaml",
        &format!(
            "resources: {{infra: k8s/svc, cpus: 1, ports: {port}}}\n\
             service:\n  readiness_probe: /\n  replicas: 1\n\
             run: exec python3 {} {marker}\n",
            server.display()
        ),
    );
    world.ok(&world.aloft(&["serve", "up", "-y", "-n", "web", task.to_str().unwrap()]));
    let status = &|| -> serde_json::Value {
        let out = world.ok(&world.aloft(&["serve", "status", "web", "-o", "json"]));
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
    };
    let log = world.home.path().join("serve-controller.log");
    let s = common::wait_replica_ready(status, 1, &log);
    let endpoint = s["endpoint"].as_str().unwrap().to_string();
    let first = common::http_get(&endpoint);
    assert!(first.starts_with("replica 1 on 127.0.0.19"), "{first}");

    let deleted = world.fakes[0].read_back(
        "pods = [p.metadata.name for p in v1.list_namespaced_pod('aloft', label_selector='aloft-cluster=web-1').items]\n\
         for p in pods:\n\
         \x20   v1.delete_namespaced_pod(p, 'aloft')\n\
         print(json.dumps(pods))",
    );
    assert_eq!(deleted.as_array().map(Vec::len), Some(1), "{deleted}");
    let pkill = Command::new("pkill")
        .args(["-f", &marker])
        .status()
        .unwrap();
    assert!(pkill.success());

    let s = common::wait_replica_ready(status, 2, &log);
    assert_eq!(s["replicas"].as_array().map(Vec::len), Some(1), "{s:#}");
    let second = common::http_get(&endpoint);
    assert!(second.starts_with("replica 2 on 127.0.0.19"), "{second}");

    world.ok(&world.aloft(&["serve", "down", "-y", "web"]));
    assert_eq!(
        world.pods(0),
        serde_json::json!({"pods": [], "services": []})
    );
    let forwards = Command::new("pgrep")
        .args(["-f", &format!(":127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(forwards.stdout.is_empty(), "{}", text(&forwards.stdout));
    world.assert_no_secret_in_files(&[]);
}

#[test]
fn a_jobs_controller_in_a_pod_runs_its_jobs_in_pods_of_their_own() {
    let world = World::new(vec![vec![FakeNode::new("cpu-0", 16, 64, 0, None)]], 2, 130);
    world.configure(&[("ctl", 0, Auth::Exec)], &["ctl"]);
    let config = world.home.path().join("config.yaml");
    let mut text_config = std::fs::read_to_string(&config).unwrap();
    text_config.push_str("jobs:\n  controller:\n    resources: {infra: k8s/ctl, cpus: 1}\n");
    std::fs::write(&config, text_config).unwrap();
    let task = world.task(
        "job.yaml",
        "name: podjob\nresources: {infra: k8s/ctl, cpus: 1}\nrun: echo pod-job-$SKYPILOT_TASK_ID\n",
    );

    // The submitting process exits once the controller (in a pod) has the job.
    let id = world
        .ok(&world.aloft(&["jobs", "launch", "-d", "-y", task.to_str().unwrap()]))
        .trim()
        .to_string();
    assert_eq!(id, "1");
    // The controller, in the first pod, launches the job's pod with the kubeconfig
    // it was given (the exec plugin's token, resolved here), and reaches it through
    // the API server's port-forward as any launcher does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let job = loop {
        let queue = world.ok(&world.aloft(&["jobs", "queue", "-a", "-o", "json"]));
        let jobs: serde_json::Value = serde_json::from_str(&queue).unwrap();
        let job = jobs[0].clone();
        let status = job["status"].as_str().unwrap_or_default().to_string();
        if !["PENDING", "STARTING", "RUNNING", "RECOVERING"].contains(&status.as_str()) {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never ended: {job}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let controller_log = world.aloft(&["jobs", "logs", "--controller"]);
    assert_eq!(
        job["status"],
        "SUCCEEDED",
        "{job}\n{}",
        text(&controller_log.stdout)
    );
    let logs = world.ok(&world.aloft(&["jobs", "logs", "--no-follow", &id]));
    assert!(logs.contains("pod-job-sky-managed-"), "{logs}");

    // Read back with the official client: the controller's pod is there, the job's
    // pod was deleted when the job ended.
    let pods = world.pods(0)["pods"].clone();
    let clusters: Vec<&str> = pods
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["labels"]["aloft-cluster"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(clusters, ["aloft-jobs-controller"], "{pods}");

    // The controller's own kubeconfig: the token inline, the plugin not named, 0600;
    // its config points at it.
    let host = world.machines[0].home().join(".aloft-jobs");
    let kubeconfig = host.join("kubeconfig");
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let kube_text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(kube_text.contains(world.fakes[0].read("token").trim()));
    assert!(!kube_text.contains("plugin-ctl.sh"), "{kube_text}");
    let host_config = std::fs::read_to_string(host.join("config.yaml")).unwrap();
    assert!(
        host_config.contains("~/.aloft-jobs/kubeconfig"),
        "{host_config}"
    );
    // Nowhere else: not in the controller's state, logs or job outputs.
    world.assert_no_secret_in_files(&[&kubeconfig]);

    world.ok(&world.aloft(&["down", "-y", "aloft-jobs-controller"]));
    assert_eq!(world.pods(0)["pods"], serde_json::json!([]));
}

/// Benchmark, run by hand (`cargo test -p aloft-cli --test kubernetes -- --ignored
/// --nocapture a_hundred`, with `ALOFT_BENCH_BIN=target/release/aloft` to time a
/// release build): against the test API server with 500 nodes of 8 GPUs (250 A100
/// labelled as GKE does, 250 H100 as GFD does), `show-gpus --infra k8s` five times,
/// then a 100-node cluster from `launch` to every rank having run (100 sshd
/// machines), then its `down`. Prints the times and the launch's progress lines.
#[test]
#[ignore = "a benchmark: run by hand, see docs/benchmarks.md"]
fn a_hundred_pod_launch_benchmark() {
    let bin = std::env::var_os("ALOFT_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aloft")));
    let started = std::time::Instant::now();
    let nodes: Vec<FakeNode> = (0..500)
        .map(|i| match i % 2 {
            0 => FakeNode::new(
                &format!("a100-{i}"),
                8,
                64,
                8,
                Some((GKE, "nvidia-tesla-a100")),
            ),
            _ => FakeNode::new(
                &format!("h100-{i}"),
                8,
                64,
                8,
                Some((GFD, "NVIDIA-H100-80GB-HBM3")),
            ),
        })
        .collect();
    let world = World::new(vec![nodes], 100, 140);
    world.configure(&[("big", 0, Auth::Token)], &["big"]);
    eprintln!(
        "100 sshd machines and the API server up in {:.1?}",
        started.elapsed()
    );
    // As a user runs it: no trace logging (the tests' default).
    let run = |args: &[&str]| {
        let started = std::time::Instant::now();
        let out = Command::new(&bin)
            .args(args)
            .env("ALOFT_HOME", world.home.path())
            .env("KUBECONFIG", &world.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("ALOFT_LOG")
            .output()
            .expect("run aloft");
        let took = started.elapsed();
        world.ok(&out);
        (out, took)
    };
    for _ in 0..5 {
        let (out, took) = run(&["show-gpus", "--infra", "k8s"]);
        eprintln!("show-gpus --infra k8s over 500 nodes: {took:.3?}");
        assert!(text(&out.stdout).contains("H100"), "{}", text(&out.stdout));
    }
    let task = world.task(
        "wide.yaml",
        "num_nodes: 100\nresources: {infra: k8s/big, cpus: 1}\nrun: echo rank $SKYPILOT_NODE_RANK\n",
    );
    let (out, took) = run(&["launch", "-y", "-c", "wide", task.to_str().unwrap()]);
    let ranks = sorted_lines(&out).len();
    eprintln!("launch of 100 pods to every rank done: {took:.2?} ({ranks} rank lines)");
    for line in text(&out.stderr)
        .lines()
        .filter(|l| !l.contains("reachable (") || l.contains(" 1/100") || l.contains(" 100/100"))
    {
        eprintln!("  {line}");
    }
    assert_eq!(ranks, 100, "{}", text(&out.stdout));
    let (_, took) = run(&["down", "-y", "wide"]);
    eprintln!("down of 100 pods: {took:.2?}");
}
