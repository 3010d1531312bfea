//! Issue 27, item 3: autodown on Kubernetes with the narrowest credential. The
//! launcher makes a per-cluster service account allowed to delete only the
//! cluster's own pods (and ports Service) and hands the head a short-lived token of
//! it; the head tears its cluster down with that token, with no aloft process left
//! on the launcher's side; the user's token is in no request the head made; the
//! narrow token cannot touch another cluster (403 from the API server); and no
//! ServiceAccount, Role or RoleBinding of a cluster outlives it. Against the test
//! API server (`tests/fakes/k8s_api.py`, which enforces RBAC for service-account
//! tokens), whose pods are real `sshd` machines on loopback, read back from the fake.

use crate::common;
use crate::kubernetes::{Auth, World};

use aloft_tests::k8s_fake::FakeNode;
use common::text;
use serde_json::{Value, json};

/// Autostop's minute is a second long here (a hidden setting).
const FAST: [(&str, &str); 1] = [("ALOFT_AUTOSTOP_SECONDS_PER_MINUTE", "1")];
/// The identity the fake gives the head's token.
const HEAD_ACCOUNT: &str = "system:serviceaccount:aloft:ak-autostop";
/// The identity the fake gives the user's token (`Auth::Token`).
const USER: &str = "aloft-token-user";

/// Every request the fake answered, in order.
fn requests(world: &World) -> Vec<Value> {
    std::fs::read_to_string(world.fakes[0].path("requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Service accounts, Roles (their rules) and RoleBindings of namespace `aloft`,
/// read with the official client.
fn rbac(world: &World) -> Value {
    world.fakes[0].read_back(
        "rbac = client.RbacAuthorizationV1Api(client.ApiClient(cfg))\n\
         accounts = sorted(a.metadata.name for a in v1.list_namespaced_service_account('aloft').items)\n\
         roles = {r.metadata.name: [dict(groups=x.api_groups, resources=x.resources, names=x.resource_names,\n\
         \x20                                verbs=x.verbs) for x in r.rules]\n\
         \x20        for r in rbac.list_namespaced_role('aloft').items}\n\
         bindings = {b.metadata.name: dict(role=b.role_ref.name,\n\
         \x20                                subjects=[[s.kind, s.namespace, s.name] for s in b.subjects])\n\
         \x20           for b in rbac.list_namespaced_role_binding('aloft').items}\n\
         print(json.dumps(dict(accounts=accounts, roles=roles, bindings=bindings)))",
    )
}

/// The last token the fake issued to service account `account` (`NS/NAME`).
fn issued_token(world: &World, account: &str) -> String {
    let issued: Value = serde_json::from_str(&world.fakes[0].read("issued-tokens.json")).unwrap();
    issued
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|t| t["account"] == account)
        .and_then(|t| t["token"].as_str())
        .unwrap_or_else(|| panic!("no token issued to {account}: {issued}"))
        .to_string()
}

/// The API server's status for each `(method, path)` sent with `token`.
fn statuses_with(world: &World, token: &str, calls: &[(&str, &str)]) -> Value {
    let calls = serde_json::to_string(calls).unwrap();
    world.fakes[0].read_back(&format!(
        "import ssl, urllib.request, urllib.error\n\
         ctx = ssl.create_default_context(cafile=sys.argv[2])\n\
         out = []\n\
         for method, path in json.loads({calls:?}):\n\
         \x20   req = urllib.request.Request(sys.argv[1] + path, method=method,\n\
         \x20                                headers={{'Authorization': 'Bearer ' + {token:?}}})\n\
         \x20   try:\n\
         \x20       with urllib.request.urlopen(req, context=ctx) as r:\n\
         \x20           out.append(r.status)\n\
         \x20   except urllib.error.HTTPError as e:\n\
         \x20       out.append(e.code)\n\
         print(json.dumps(out))"
    ))
}

/// Pod names of namespace `aloft`.
fn pod_names(world: &World) -> Vec<String> {
    world.pods(0)["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// Ends the SSH connections this test's launches keep open (ControlPersist) and
/// checks that no process of the launcher's program runs for this test's aloft
/// home any more (the `kube-proxy` behind each connection is one).
fn no_launcher_process_left(world: &World) {
    let control = world.home.path().join("ssh");
    for entry in std::fs::read_dir(&control).into_iter().flatten().flatten() {
        use std::os::unix::fs::FileTypeExt;
        if entry.file_type().is_ok_and(|t| t.is_socket()) {
            let _ = std::process::Command::new("ssh")
                .args(["-O", "exit", "-o"])
                .arg(format!("ControlPath={}", entry.path().display()))
                .arg("unused")
                .output();
        }
    }
    let program = std::fs::canonicalize(env!("CARGO_BIN_EXE_aloft")).unwrap();
    let home = format!("ALOFT_HOME={}", world.home.path().display());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|p| {
                std::fs::read_link(p.path().join("exe")).is_ok_and(|exe| exe == program)
                    && std::fs::read(p.path().join("environ"))
                        .unwrap_or_default()
                        .split(|b| *b == 0)
                        .any(|v| v == home.as_bytes())
            })
            .map(|p| p.file_name().to_string_lossy().into_owned())
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "aloft processes of this test still run: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn autodown_on_kubernetes_deletes_the_pods_with_a_token_that_can_do_nothing_else() {
    let world = World::new(vec![vec![FakeNode::new("cpu-0", 16, 64, 0, None)]], 3, 245);
    world.configure(&[("kas", 0, Auth::Token)], &["kas"]);

    // Kubernetes cannot stop a pod: autostop is autodown there, and a plain
    // autostop is refused before anything is made.
    let one = world.task(
        "one.yaml",
        "resources: {infra: k8s/kas, cpus: 1}\nrun: echo other up\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "other", one.to_str().unwrap()]);
    world.ok(&out);
    let out = world.aloft(&["autostop", "-i", "5", "other"]);
    assert!(!out.status.success());
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("use autodown"), "{all}");
    assert_eq!(rbac(&world)["accounts"], json!([]));
    world.ok(&world.aloft(&["autostop", "-i", "100", "--down", "other"]));

    // A 2-node cluster whose job waits for the test, with autodown after one
    // (one-second) minute idle.
    let release = world.home.path().join("release");
    let task = world.task(
        "wait.yaml",
        &format!(
            "num_nodes: 2\nresources: {{infra: k8s/kas, cpus: 1}}\n\
             run: while [ ! -e {} ]; do sleep 0.2; done; echo released\n",
            release.display()
        ),
    );
    let out = world.aloft_with(
        &[
            "launch",
            "-y",
            "-d",
            "--down",
            "-i",
            "1",
            "-c",
            "ak",
            task.to_str().unwrap(),
        ],
        &FAST,
    );
    world.ok(&out);
    // The user is told what the head gets.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("a token of service account aloft/ak-autostop")
            && stderr.contains("allowed to delete pods ak-head, ak-worker-1 and service ak-ports of namespace aloft"),
        "{stderr}"
    );

    // Exactly what tearing `ak` down needs, bound to its own account only.
    let objects = rbac(&world);
    assert_eq!(
        objects["accounts"],
        json!(["ak-autostop", "other-autostop"]),
        "{objects}"
    );
    assert_eq!(
        objects["roles"]["ak-autostop"],
        json!([
            {"groups": [""], "resources": ["pods"], "names": ["ak-head", "ak-worker-1"], "verbs": ["delete"]},
            {"groups": [""], "resources": ["services"], "names": ["ak-ports"], "verbs": ["delete"]},
        ])
    );
    assert_eq!(
        objects["bindings"]["ak-autostop"],
        json!({"role": "ak-autostop", "subjects": [["ServiceAccount", "aloft", "ak-autostop"]]})
    );

    // The head's token can do nothing else: not delete another cluster's pod, not
    // read a pod (its own either), not list, not touch RBAC or another namespace.
    let token = issued_token(&world, "aloft/ak-autostop");
    let refused = statuses_with(
        &world,
        &token,
        &[
            ("DELETE", "/api/v1/namespaces/aloft/pods/other-head"),
            ("GET", "/api/v1/namespaces/aloft/pods/ak-head"),
            ("GET", "/api/v1/namespaces/aloft/pods"),
            ("DELETE", "/api/v1/namespaces/aloft/services/other-ports"),
            (
                "DELETE",
                "/apis/rbac.authorization.k8s.io/v1/namespaces/aloft/rolebindings/other-autostop",
            ),
            (
                "DELETE",
                "/api/v1/namespaces/aloft/serviceaccounts/other-autostop",
            ),
            ("DELETE", "/api/v1/namespaces/default/pods/ak-head"),
        ],
    );
    assert_eq!(refused, json!([403, 403, 403, 403, 403, 403, 403]));
    assert_eq!(pod_names(&world), ["ak-head", "ak-worker-1", "other-head"]);

    // Nothing of aloft runs on this side from here on.
    no_launcher_process_left(&world);
    let before = requests(&world).len();
    std::fs::write(&release, "").unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    while pod_names(&world) != ["other-head"] {
        assert!(
            std::time::Instant::now() < deadline,
            "the head did not tear `ak` down: {:?}\n{}",
            pod_names(&world),
            world
                .machines
                .iter()
                .map(
                    |m| std::fs::read_to_string(m.home().join(".aloft/agent/autostop.log"))
                        .unwrap_or_default()
                )
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    // The head deleted its pods with the narrow token; the user's token is in no
    // request made since the launcher left.
    let after: Vec<Value> = requests(&world).split_off(before);
    let by_head: Vec<&Value> = after
        .iter()
        .filter(|r| r["user"] != "test-reader")
        .collect();
    assert!(!by_head.is_empty());
    for r in &by_head {
        assert_eq!(r["user"], HEAD_ACCOUNT, "{r}");
        assert_ne!(r["user"], USER);
    }
    for pod in ["ak-worker-1", "ak-head"] {
        let path = format!("/api/v1/namespaces/aloft/pods/{pod}");
        assert!(
            by_head
                .iter()
                .any(|r| r["method"] == "DELETE" && r["path"] == path && r["status"] == 200),
            "{by_head:?}"
        );
    }
    // Its account, Role and RoleBinding went with the head pod that owned them,
    // and its token went with them.
    let objects = rbac(&world);
    assert_eq!(objects["accounts"], json!(["other-autostop"]), "{objects}");
    assert_eq!(objects["roles"].as_object().map(|r| r.len()), Some(1));
    assert_eq!(
        statuses_with(
            &world,
            &token,
            &[("DELETE", "/api/v1/namespaces/aloft/pods/other-head")]
        ),
        json!([401])
    );

    // The launcher finds `ak` gone. Cancelling the other cluster's autodown
    // revokes its account while its pod lives; set again, then `down`, it leaves
    // no pod, service account, Role or RoleBinding.
    let status = world.ok(&world.aloft(&["status", "-r"]));
    assert!(!status.contains("ak "), "{status}");
    world.ok(&world.aloft(&["autostop", "--cancel", "other"]));
    assert_eq!(
        rbac(&world),
        json!({"accounts": [], "roles": {}, "bindings": {}})
    );
    assert_eq!(pod_names(&world), ["other-head"]);
    world.ok(&world.aloft(&["autostop", "-i", "100", "--down", "other"]));
    assert_eq!(rbac(&world)["accounts"], json!(["other-autostop"]));
    world.ok(&world.aloft(&["down", "-y", "other"]));
    assert_eq!(pod_names(&world), Vec::<String>::new());
    assert_eq!(
        rbac(&world),
        json!({"accounts": [], "roles": {}, "bindings": {}})
    );
    // No token of the user's or of a service account in any output or file.
    world.assert_no_secret_in_files(&[]);
    let narrow_in_files = common::files_under(world.home.path())
        .into_iter()
        .filter(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).contains(&token))
        .collect::<Vec<_>>();
    assert!(narrow_in_files.is_empty(), "{narrow_in_files:?}");
}
