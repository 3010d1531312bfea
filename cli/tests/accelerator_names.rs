//! Accelerator names from SkyPilot's own task files (issue 26, item 13): the names
//! `gpus list` shows plan (`Inferentia`, `Inferentia2`, `Trainium`), and on
//! Kubernetes a GPU no catalog knows is matched against the nodes' GPU labels (the
//! test API server, `tests/fakes/k8s_api.py`).

use std::path::Path;
use std::process::{Command, Output};

use aloft_tests::k8s_fake::{FakeNode, K8sFake};

use crate::common::text;

fn aloft(home: &Path, args: &[&str], kubeconfig: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aloft"));
    command
        .args(args)
        .env("ALOFT_HOME", home)
        .env_remove("KUBERNETES_SERVICE_HOST");
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    command.output().expect("run aloft")
}

fn task(home: &Path, name: &str, yaml: &str) -> String {
    let path = home.join(name);
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_string()
}

/// SkyPilot's AWS Neuron examples ask for `Inferentia:6` and the like: names that
/// only the offers carry. They plan in SkyPilot's spelling whatever the case, and a
/// count no instance has is told the counts there are.
#[test]
fn inferentia_and_trainium_plan_as_gpus_list_shows_them() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let listed = aloft(home, &["gpus", "list", "Inferentia"], None);
    assert!(
        text(&listed.stdout).contains("Inferentia"),
        "{}",
        text(&listed.stderr)
    );
    let dry = |yaml: &str| {
        let t = task(home, "neuron.yaml", yaml);
        aloft(home, &["launch", "--dryrun", "--all-clouds", &t], None)
    };
    let out = dry("resources:\n  accelerators: inferentia2:6\nrun: echo hi\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("inf2.24xlarge") && shown.contains("Inferentia2:6"),
        "{shown}"
    );
    let out = dry("resources:\n  accelerators: Trainium:16\nrun: echo hi\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Trainium:16"));
    let out = dry("resources:\n  accelerators: Inferentia:6\nrun: echo hi\n");
    let err = text(&out.stderr);
    assert!(!err.contains("unknown accelerator"), "{err}");
    assert!(
        err.contains(
            "try one of these offered accelerators: Inferentia:1, Inferentia:4, Inferentia:16"
        ),
        "{err}"
    );
}

/// A GPU the catalogs do not list (`NVIDIA-H20`, labelled by GPU feature
/// discovery) plans on the Kubernetes node that carries it; a name no node carries
/// finds no Kubernetes offer rather than being refused by name.
#[test]
fn kubernetes_matches_an_uncatalogued_gpu_name_against_its_nodes_labels() {
    let nodes = vec![
        FakeNode::new(
            "h20-node",
            32,
            256,
            2,
            Some(("nvidia.com/gpu.product", "NVIDIA-H20")),
        ),
        FakeNode::new("cpu-node", 8, 32, 0, None),
    ];
    let fake = K8sFake::start(&nodes, &[]);
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let kubeconfig = home.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n\
             - name: c-lab\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
             users:\n- name: u-lab\n  user:\n    token: {}\n\
             contexts:\n- name: lab\n  context:\n    cluster: c-lab\n    user: u-lab\n    namespace: aloft\n",
            fake.server(),
            fake.path("ca.pem").display(),
            fake.read("token").trim()
        ),
    )
    .unwrap();
    std::fs::write(
        home.join("config.yaml"),
        "kubernetes:\n  allowed_contexts: [lab]\n",
    )
    .unwrap();
    let t = task(
        home,
        "h20.yaml",
        "resources:\n  infra: k8s\n  accelerators: h20:2\nrun: nvidia-smi\n",
    );
    let out = aloft(home, &["launch", "--dryrun", &t], Some(&kubeconfig));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("kubernetes") && shown.contains("H20:2"),
        "{shown}"
    );

    let t = task(
        home,
        "b300.yaml",
        "resources:\n  infra: k8s\n  accelerators: B300:1\nrun: nvidia-smi\n",
    );
    let out = aloft(home, &["launch", "--dryrun", &t], Some(&kubeconfig));
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(!err.contains("unknown accelerator"), "{err}");
    assert!(err.contains("accelerators B300:1"), "{err}");
}
