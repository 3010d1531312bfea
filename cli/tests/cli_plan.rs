//! The `aloft` binary end to end: validate, launch --dryrun and show-gpus, their
//! output formats and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn aloft(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .env_remove("ALOFT_LOG")
        .output()
        .expect("run aloft")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The SkyPilot example corpus: `ALOFT_SKYPILOT_EXAMPLES`, else beside the
/// checkout (`../shared/reference/...`), as the core tests find it.
fn skypilot_examples() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ALOFT_SKYPILOT_EXAMPLES") {
        return Some(PathBuf::from(dir));
    }
    let found = repo()
        .canonicalize()
        .expect("repo root")
        .ancestors()
        .map(|a| a.join("shared/reference/skypilot-examples"))
        .find(|p| p.is_dir());
    if found.is_none() {
        println!(
            "SKIPPED: the SkyPilot example corpus (../shared/reference/skypilot-examples) is not beside this checkout; set ALOFT_SKYPILOT_EXAMPLES to run these checks"
        );
    }
    found
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_current_skypilot_example_validates_and_outdated_ones_fail() {
    let Some(corpus) = skypilot_examples() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    files.sort();
    assert!(files.len() >= 15, "corpus too small: {files:?}");
    for file in files {
        let out = aloft(home.path(), &["validate", file.to_str().unwrap()]);
        let outdated = file.components().any(|c| c.as_os_str() == "outdated");
        if outdated {
            assert_eq!(
                out.status.code(),
                Some(2),
                "{}: {}",
                file.display(),
                stderr(&out)
            );
            // The error is located: file:line:col: field: message.
            let err = stderr(&out);
            assert!(
                err.contains(&format!("{}:", file.display())) && err.contains("unknown field"),
                "{err}"
            );
        } else {
            assert!(out.status.success(), "{}: {}", file.display(), stderr(&out));
        }
    }
}

#[test]
fn an_invalid_task_exits_2_with_a_located_error() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("bad.yaml");
    std::fs::write(&task, "name: x\nresources:\n  acclerators: A100:8\n").unwrap();
    let out = aloft(
        home.path(),
        &["launch", "--dryrun", "--all-clouds", task.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "error: {}:3:3: resources.acclerators: unknown field (did you mean `accelerators`?)",
            task.display()
        )
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn dryrun_json_has_the_documented_shape() {
    let home = tempfile::tempdir().unwrap();
    let out = aloft(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            "-o",
            "json",
            repo().join("examples/train-a100.yaml").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let task = &plan["tasks"][0];
    assert_eq!(task["name"], "train");
    assert_eq!(task["num_nodes"], 1);
    let chosen = &task["chosen"];
    for key in [
        "cloud",
        "region",
        "zone",
        "instance_type",
        "accelerators",
        "use_spot",
        "vcpus",
        "memory_gib",
        "hourly_price",
    ] {
        assert!(chosen.get(key).is_some(), "missing {key} in {chosen}");
    }
    assert_eq!(chosen["cloud"], "lambda");
    assert_eq!(chosen["accelerators"]["A100"], 8.0);
    assert!(task["candidates"].as_array().unwrap().len() >= 3);
    assert_eq!(plan["total_hourly_cost"], chosen["hourly_price"]);
}

#[test]
fn overrides_apply_and_a_price_cap_exits_3_with_a_hint() {
    let home = tempfile::tempdir().unwrap();
    let example = repo().join("examples/train-a100.yaml");
    let out = aloft(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            "--gpus",
            "H100:8",
            "--use-spot",
            "-o",
            "json",
            example.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["tasks"][0]["chosen"]["accelerators"]["H100"], 8.0);
    assert_eq!(plan["tasks"][0]["chosen"]["use_spot"], true);

    let capped = home.path().join("capped.yaml");
    std::fs::write(
        &capped,
        "resources:\n  accelerators: A100:8\n  max_hourly_cost: 1\n",
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            capped.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("max_hourly_cost $1.00 excluded"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

/// The dry run plans as the launch does: only providers whose credentials check
/// out (none of the clouds here has any), so it says why each is out and how to
/// see every cloud's prices anyway.
#[test]
fn the_dryrun_plans_only_usable_clouds_and_says_how_to_see_them_all() {
    let home = tempfile::tempdir().unwrap();
    let example = home.path().join("cpu.yaml");
    std::fs::write(&example, "resources: {cpus: 2+}\nrun: echo hi\n").unwrap();
    std::fs::write(home.path().join("config.yaml"), "clouds: [gcp]\n").unwrap();
    let no_gcp = [("CLOUDSDK_CONFIG", "/nonexistent")];
    let out = crate::common::aloft_env(
        home.path(),
        &["launch", "--dryrun", example.to_str().unwrap()],
        &no_gcp,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("provider gcp is not usable"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--all-clouds"), "{}", stderr(&out));
    let out = crate::common::aloft_env(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            "-o",
            "json",
            "--infra",
            "gcp",
            example.to_str().unwrap(),
        ],
        &no_gcp,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["tasks"][0]["chosen"]["cloud"], "gcp");
}

#[test]
fn a_pipeline_plans_every_task() {
    let Some(corpus) = skypilot_examples() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let pipeline = corpus.join("examples/chain_dag/2_jobs.yaml");
    let out = aloft(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            "-o",
            "json",
            pipeline.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["tasks"].as_array().unwrap().len(), 2);
}

#[test]
fn show_gpus_lists_prices_per_cloud() {
    let home = tempfile::tempdir().unwrap();
    let out = aloft(
        home.path(),
        &["show-gpus", "A100", "--infra", "aws", "-o", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let listings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = listings
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["accelerator"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"A100"), "{names:?}");
    let a100 = listings
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["accelerator"] == "A100")
        .unwrap();
    let eight = a100["offers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["count"] == 8.0)
        .unwrap();
    // Cheapest on-demand p4d.24xlarge across AWS regions (us-east-1, $32.7726).
    assert_eq!(eight["cloud"], "aws");
    assert_eq!(eight["instance_type"], "p4d.24xlarge");
    assert_eq!(eight["price"], 32.7726);
    let out = aloft(home.path(), &["show-gpus", "A1OO"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("did you mean"), "{}", stderr(&out));
    let table = aloft(home.path(), &["show-gpus", "H100", "--infra", "lambda"]);
    assert!(table.status.success());
    assert!(stdout(&table).contains("gpu_8x_h100_sxm5") || stdout(&table).contains("H100"));
}

#[test]
fn a_two_node_task_never_lands_on_a_cloud_without_multi_node() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("l4.yaml");
    std::fs::write(&task, "resources: {accelerators: L4:1}\nrun: nvidia-smi\n").unwrap();
    // One node: RunPod's L4 is the cheapest offer and is chosen.
    let one = aloft(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            "-o",
            "json",
            task.to_str().unwrap(),
        ],
    );
    assert!(one.status.success(), "{}", stderr(&one));
    let plan: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(plan["tasks"][0]["chosen"]["cloud"], "runpod", "{plan}");

    // Two nodes: RunPod cannot run it, the plan says so, and picks elsewhere.
    let two = aloft(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            "--num-nodes",
            "2",
            "-o",
            "json",
            task.to_str().unwrap(),
        ],
    );
    assert!(two.status.success(), "{}", stderr(&two));
    let plan: serde_json::Value = serde_json::from_slice(&two.stdout).unwrap();
    let t = &plan["tasks"][0];
    assert_ne!(t["chosen"]["cloud"], "runpod", "{plan}");
    assert!(
        t["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["cloud"] != "runpod"),
        "{plan}"
    );
    assert_eq!(t["excluded"][0]["cloud"], "runpod", "{plan}");
    assert_eq!(
        t["excluded"][0]["reason"],
        "cannot run 2-node tasks (no multi-node)"
    );
    let table = aloft(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            "--num-nodes",
            "2",
            task.to_str().unwrap(),
        ],
    );
    assert!(
        stdout(&table).contains("Left out: runpod cannot run 2-node tasks (no multi-node)."),
        "{}",
        stdout(&table)
    );
}

#[test]
fn a_container_image_task_never_lands_on_a_cloud_whose_nodes_cannot_run_it() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("l4.yaml");
    // RunPod's L4 is the cheapest offer of this task without an image (see above);
    // its pods run RunPod's own image, so with one the plan leaves it out and says why.
    std::fs::write(
        &task,
        "resources: {accelerators: L4:1, image_id: docker:vllm/vllm-openai:v0.6.0}\nrun: nvidia-smi\n",
    )
    .unwrap();
    let json = aloft(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            "-o",
            "json",
            task.to_str().unwrap(),
        ],
    );
    assert!(json.status.success(), "{}", stderr(&json));
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let t = &plan["tasks"][0];
    assert_ne!(t["chosen"]["cloud"], "runpod", "{plan}");
    let why = "cannot run a container image (image_id: docker:...): its nodes are containers of the provider's own image";
    assert!(
        t["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["cloud"] == "runpod" && e["reason"] == why),
        "{plan}"
    );
    let table = aloft(
        home.path(),
        &["launch", "--dryrun", "--all-clouds", task.to_str().unwrap()],
    );
    assert!(
        stdout(&table).contains(&format!("Left out: runpod {why}.")),
        "{}",
        stdout(&table)
    );
}

#[test]
fn a_cloud_nothing_knows_is_a_located_error_listing_the_known_ones() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("skynet.yaml");
    std::fs::write(
        &task,
        "name: x\nresources:\n  cpus: 2\n  infra: skynet/us-east-1\nrun: echo hi\n",
    )
    .unwrap();
    let path = task.to_str().unwrap();
    for args in [
        vec!["validate", path],
        vec!["launch", "--dryrun", path],
        vec!["launch", "-y", path],
    ] {
        let out = aloft(home.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{path}:4:"))
                && err.contains("resources.infra: unknown cloud `skynet`")
                && err.contains("known: aws, azure")
                && err.contains("local"),
            "{args:?}: {err}"
        );
    }
    // SkyPilot's own clouds stay valid task files even where aloft has no provider.
    std::fs::write(&task, "resources:\n  infra: azure\nrun: echo hi\n").unwrap();
    assert!(aloft(home.path(), &["validate", path]).status.success());
    // A flag naming an unknown cloud is named as the flag.
    let out = aloft(
        home.path(),
        &["launch", "--dryrun", "--infra", "skynet", "echo", "hi"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--infra: unknown cloud `skynet`"),
        "{}",
        stderr(&out)
    );
}
