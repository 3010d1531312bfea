//! `aloft volumes` and a task's `volumes:` on the bundled `kubernetes` provider,
//! against the test API server (`tests/fakes/k8s_api.py`, every object validated
//! against the official schemas): the PVC is created, the pods mount it, and what
//! the server holds is read back with the official Python client.

use crate::common::text;
use crate::kubernetes::{Auth, World};

use aloft_tests::k8s_fake::FakeNode;

/// The claims and the pods' volumes and mounts in namespace `aloft`, as the
/// official client reads them.
fn claims_and_pods(world: &World) -> serde_json::Value {
    world.fakes[1].read_back(
        "claims = [dict(name=c.metadata.name, labels=c.metadata.labels, modes=c.spec.access_modes,\n\
         \x20              cls=c.spec.storage_class_name, size=c.spec.resources.requests['storage'],\n\
         \x20              phase=c.status.phase)\n\
         \x20         for c in v1.list_namespaced_persistent_volume_claim('aloft').items]\n\
         pods = [dict(name=p.metadata.name,\n\
         \x20            claims=[(v.name, v.persistent_volume_claim.claim_name) for v in (p.spec.volumes or [])\n\
         \x20                    if v.persistent_volume_claim],\n\
         \x20            mounts=[(m.name, m.mount_path) for m in (p.spec.containers[0].volume_mounts or [])])\n\
         \x20       for p in v1.list_namespaced_pod('aloft').items]\n\
         print(json.dumps(dict(claims=claims, pods=pods)))",
    )
}

#[test]
fn a_pvc_is_made_mounted_by_the_pods_kept_while_in_use_and_deleted_after_down() {
    // Two contexts; the volume is on the second (the kubeconfig's current context
    // is the first, and it is as free).
    let node = || vec![FakeNode::new("cpu-0", 16, 64, 0, None)];
    let world = World::new(vec![node(), node()], 1, 240);
    world.configure(
        &[("kc", 0, Auth::Token), ("kd", 1, Auth::Token)],
        &["kc", "kd"],
    );
    let volume = world.task(
        "data.yaml",
        "name: data\ntype: k8s-pvc\ninfra: k8s/kd\nsize: 10Gi\nlabels: {team: ml}\n\
         config: {storage_class_name: standard, access_mode: ReadWriteOnce}\n",
    );
    world.ok(&world.aloft(&["volumes", "apply", volume.to_str().unwrap()]));
    let found = claims_and_pods(&world);
    assert_eq!(
        found["claims"],
        serde_json::json!([{
            "name": "data", "labels": {"team": "ml", "aloft-volume": "data"},
            "modes": ["ReadWriteOnce"], "cls": "standard", "size": "10Gi", "phase": "Bound",
        }]),
        "{found}"
    );
    // The same name again is refused, naming what exists.
    let again = world.aloft(&["volumes", "apply", volume.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );

    // A provider that cannot mount volumes is refused by name, before anything
    // is provisioned.
    let local = world.task(
        "local.yaml",
        "resources: {infra: local}\nvolumes: {/mnt/data: data}\nrun: echo never\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "lc", local.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("provider local cannot mount volumes"),
        "{}",
        text(&out.stderr)
    );
    let status = world.ok(&world.aloft(&["status", "-o", "json"]));
    assert!(!status.contains("\"lc\""), "{status}");
    // Managed jobs cannot mount volumes yet: refused by name.
    let out = world.aloft(&["jobs", "launch", "-d", "-y", local.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("managed jobs cannot mount volumes yet"),
        "{}",
        text(&out.stderr)
    );
    // An unknown volume is refused with the names aloft knows.
    let unknown = world.task("unknown.yaml", "volumes: {/mnt/x: nope}\nrun: echo never\n");
    let out = world.aloft(&["launch", "-y", "-c", "uc", unknown.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no volume named `nope`") && text(&out.stderr).contains("data"),
        "{}",
        text(&out.stderr)
    );

    // A task naming no infra goes where its volume is, and its pods mount it.
    let task = world.task(
        "train.yaml",
        "resources: {cpus: 2}\nvolumes: {/mnt/data: data}\nrun: echo mounted\n",
    );
    // Without the volume the first context is chosen: the volume is what moves it.
    let plain = world.task("plain.yaml", "resources: {cpus: 2}\nrun: echo plain\n");
    let plan = world.ok(&world.aloft(&["launch", "--dryrun", plain.to_str().unwrap()]));
    assert!(plan.contains("kubernetes (kc)"), "{plan}");
    // The dry run plans it there too, and creates nothing.
    let plan = world.ok(&world.aloft(&["launch", "--dryrun", task.to_str().unwrap()]));
    assert!(
        plan.contains("kubernetes (kd)") && !plan.contains("(kc)") && !plan.contains("local"),
        "{plan}"
    );
    assert_eq!(claims_and_pods(&world)["pods"], serde_json::json!([]));
    let out = world.aloft(&["launch", "-y", "-c", "vc", task.to_str().unwrap()]);
    assert_eq!(text(&out.stdout).trim(), "mounted", "{}", text(&out.stderr));
    world.ok(&out);
    let found = claims_and_pods(&world);
    assert_eq!(
        found["pods"],
        serde_json::json!([{
            "name": "vc-head",
            "claims": [["aloft-vol-0", "data"]],
            "mounts": [["aloft-vol-0", "/mnt/data"]],
        }]),
        "{found}"
    );

    let listed: serde_json::Value =
        serde_json::from_str(&world.ok(&world.aloft(&["volumes", "ls", "-o", "json"]))).unwrap();
    assert_eq!(listed[0]["name"], "data");
    assert_eq!(listed[0]["kind"], "k8s-pvc");
    assert_eq!(listed[0]["provider"], "kubernetes");
    assert_eq!(listed[0]["region"], "kd");
    assert_eq!(listed[0]["size_gib"], 10);
    assert_eq!(listed[0]["cloud_id"], "aloft/data");
    assert_eq!(
        listed[0]["used_by"],
        serde_json::json!([{"volume": "data", "cluster": "vc", "mount_path": "/mnt/data"}])
    );

    // `exec` on the cluster: the same volumes run, others are refused (volumes
    // are mounted when a cluster is made).
    let out = world.aloft(&["exec", "vc", task.to_str().unwrap()]);
    assert_eq!(text(&out.stdout).trim(), "mounted", "{}", text(&out.stderr));
    let moved = world.task(
        "moved.yaml",
        "volumes: {/mnt/elsewhere: data}\nrun: echo never\n",
    );
    let out = world.aloft(&["exec", "vc", moved.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("mounts /mnt/data → data but the task asks for /mnt/elsewhere → data"),
        "{}",
        text(&out.stderr)
    );

    // In use: refused, naming the cluster; the claim stays.
    let out = world.aloft(&["volumes", "delete", "data"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("in use by cluster(s) vc"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(claims_and_pods(&world)["claims"][0]["name"], "data");

    // After `down`: deleted on the server and forgotten.
    world.ok(&world.aloft(&["down", "-y", "vc"]));
    world.ok(&world.aloft(&["volumes", "delete", "data"]));
    let found = claims_and_pods(&world);
    assert_eq!(found["claims"], serde_json::json!([]), "{found}");
    let listed = world.ok(&world.aloft(&["volumes", "ls", "-o", "json"]));
    assert_eq!(listed.trim(), "[]");
}

#[test]
fn a_runpod_network_volume_is_made_attached_at_deploy_and_deleted_after_down() {
    let world = crate::runpod_launch::World::new(1, 40);
    let volume = world.task(
        "ckpt.yaml",
        "name: ckpt\ntype: runpod-network-volume\ninfra: runpod/US/US-KS-2\nsize: 20\n",
    );
    world.ok(&world.aloft(&["volumes", "apply", volume.to_str().unwrap()]));
    let made = world.fake.state()["network_volumes"].clone();
    let id = made[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        made,
        serde_json::json!([{"id": id, "name": "ckpt", "size": 20, "dataCenterId": "US-KS-2"}])
    );

    // The task names no place: it goes to the volume's data center, and the pod
    // is deployed with the volume.
    let task = world.task(
        "ckpt-task.yaml",
        "resources: {accelerators: A40:1}\nvolumes: {/ckpt: ckpt}\nrun: echo attached\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "rv", task.to_str().unwrap()]);
    assert_eq!(world.ok(&out).trim(), "attached", "{}", text(&out.stderr));
    let state = world.fake.state();
    let pod = &state["pods"][0];
    assert_eq!(pod["name"], "rv-head", "{state}");
    assert_eq!(pod["networkVolumeId"], id.as_str(), "{state}");
    assert_eq!(pod["volumeMountPath"], "/ckpt", "{state}");
    assert_eq!(pod["dataCenterId"], "US-KS-2", "{state}");

    let out = world.aloft(&["volumes", "delete", "ckpt"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("in use by cluster(s) rv"),
        "{}",
        text(&out.stderr)
    );
    world.ok(&world.aloft(&["down", "-y", "rv"]));
    world.ok(&world.aloft(&["volumes", "delete", "ckpt"]));
    assert_eq!(world.fake.state()["network_volumes"], serde_json::json!([]));
    world.assert_valid_and_secret_kept();
}
