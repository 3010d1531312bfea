//! Every field of SkyPilot 0.14's task schema (`sky/utils/schemas.py`:
//! `get_task_schema`, `_get_single_resources_schema`, `_AUTOSTOP_SCHEMA`) either
//! works — it parses and shows up in the task aloft launches — or is refused before
//! anything is created, with an error naming the field. Nothing is silently dropped.

use aloft::task::support::check_launchable;
use aloft::task::{FileMount, Overrides, Task, TaskChain, Workdir};

enum Expect {
    /// Launchable, and the predicate sees the field's effect on the task.
    Works(fn(&Task) -> bool),
    /// Refused (by the parser or by `check_launchable`); the error names this.
    Refused(&'static str),
}
use Expect::{Refused, Works};

/// (schema field, task YAML using it, expectation).
fn rows() -> Vec<(&'static str, &'static str, Expect)> {
    vec![
        // Top-level task fields.
        (
            "name",
            "name: train\nrun: echo",
            Works(|t| t.name.as_deref() == Some("train")),
        ),
        (
            "workdir",
            "workdir: .\nrun: ls",
            Works(|t| matches!(t.workdir, Some(Workdir::Local(_)))),
        ),
        (
            "workdir",
            "workdir: {url: 'https://github.com/x/y', ref: main}\nrun: ls",
            Refused("workdir"),
        ),
        (
            "event_callback",
            "event_callback: echo done\nrun: echo",
            Refused("event_callback"),
        ),
        (
            "num_nodes",
            "num_nodes: 2\nrun: echo",
            Works(|t| t.num_nodes == 2),
        ),
        (
            "resources",
            "resources: {cpus: 2}\nrun: echo",
            Works(|t| t.resources.candidates()[0].cpus.is_some()),
        ),
        (
            "file_mounts",
            "file_mounts: {~/d: ./data}\nrun: ls",
            Works(|t| matches!(t.file_mounts.get("~/d"), Some(FileMount::Path(_)))),
        ),
        (
            "file_mounts",
            "file_mounts: {/data: s3://bucket/train}\nrun: ls",
            Works(|t| t.file_mounts.contains_key("/data")),
        ),
        (
            "file_mounts",
            "file_mounts: {/data: gs://bucket/train}\nrun: ls",
            Works(|t| t.file_mounts.contains_key("/data")),
        ),
        (
            "file_mounts",
            "file_mounts: {/data: https://acct.blob.core.windows.net/c/train}\nrun: ls",
            Works(|t| t.file_mounts.contains_key("/data")),
        ),
        (
            "service",
            "service: {readiness_probe: /, replicas: 1}\nrun: serve",
            Refused("service"),
        ),
        (
            "pool",
            "pool: {workers: 2}\nsetup: pip install x",
            Refused("pool"),
        ),
        (
            "setup",
            "setup: pip install x\nrun: echo",
            Works(|t| t.setup.as_deref() == Some("pip install x")),
        ),
        (
            "run",
            "run: python train.py",
            Works(|t| t.run.as_deref() == Some("python train.py")),
        ),
        (
            "envs",
            "envs: {LR: 0.1}\nrun: echo",
            Works(|t| t.envs.get("LR").map(String::as_str) == Some("0.1")),
        ),
        ("envs", "envs: {LR: null}\nrun: echo", Refused("envs.LR")),
        (
            "secrets",
            "secrets: {HF_TOKEN: hf_x}\nrun: echo",
            Works(|t| t.secrets.contains_key("HF_TOKEN")),
        ),
        (
            "secrets",
            "secrets: {HF_TOKEN: null}\nrun: echo",
            Refused("secrets.HF_TOKEN"),
        ),
        (
            "managed_secrets",
            "managed_secrets: [HF_TOKEN]\nrun: echo",
            Refused("managed_secrets"),
        ),
        (
            "inputs",
            "inputs: {'s3://b/in': 10}\nrun: echo",
            Refused("inputs"),
        ),
        (
            "outputs",
            "outputs: {'s3://b/out': 10}\nrun: echo",
            Refused("outputs"),
        ),
        (
            "file_mounts_mapping",
            "file_mounts_mapping: {}\nrun: echo",
            Refused("file_mounts_mapping"),
        ),
        (
            "config",
            "config: {aws: {vpc_name: x}}\nrun: echo",
            Refused("config.aws"),
        ),
        (
            "config",
            "config: {hooks: [{run: echo hi}]}\nrun: echo",
            Refused("config.hooks"),
        ),
        (
            "volumes",
            "volumes: {/mnt/vol: my-vol}\nrun: echo",
            Works(|t| t.volumes.contains_key("/mnt/vol")),
        ),
        (
            "volume_mounts",
            "volume_mounts: []\nrun: echo",
            Refused("volume_mounts"),
        ),
        (
            "api_server_access",
            "api_server_access: true\nrun: echo",
            Works(|t| t.api_server_access == Some(true)),
        ),
        (
            "api_server_access",
            "api_server_access: false\nrun: echo",
            Refused("api_server_access"),
        ),
        (
            "_metadata",
            "_metadata: {}\nrun: echo",
            Refused("_metadata"),
        ),
        // `resources` fields.
        (
            "infra",
            "resources: {infra: aws/us-east-1}",
            Works(|t| res(t).infra.region.as_deref() == Some("us-east-1")),
        ),
        (
            "cloud",
            "resources: {cloud: gcp}",
            Works(|t| res(t).infra.cloud.as_deref() == Some("gcp")),
        ),
        (
            "region",
            "resources: {cloud: aws, region: eu-west-1}",
            Works(|t| res(t).infra.region.as_deref() == Some("eu-west-1")),
        ),
        (
            "zone",
            "resources: {cloud: aws, zone: us-east-1a}",
            Works(|t| res(t).infra.zone.as_deref() == Some("us-east-1a")),
        ),
        (
            "cpus",
            "resources: {cpus: 4+}",
            Works(|t| res(t).cpus.is_some()),
        ),
        (
            "memory",
            "resources: {memory: 32+}",
            Works(|t| res(t).memory.is_some()),
        ),
        (
            "accelerators",
            "resources: {accelerators: A100:8}",
            Works(|t| res(t).accelerators.is_some()),
        ),
        (
            "gpus",
            "resources: {gpus: H100:1}",
            Works(|t| res(t).accelerators.is_some()),
        ),
        (
            "instance_type",
            "resources: {instance_type: p4d.24xlarge}",
            Works(|t| res(t).instance_type.as_deref() == Some("p4d.24xlarge")),
        ),
        (
            "use_spot",
            "resources: {use_spot: true}",
            Works(|t| res(t).use_spot),
        ),
        (
            "job_recovery",
            "resources: {job_recovery: FAILOVER}",
            Works(|t| {
                res(t)
                    .job_recovery
                    .as_ref()
                    .and_then(|j| j.strategy.as_deref())
                    == Some("FAILOVER")
            }),
        ),
        (
            "spot_recovery",
            "resources: {spot_recovery: FAILOVER}",
            Works(|t| res(t).job_recovery.is_some()),
        ),
        (
            "disk_size",
            "resources: {disk_size: 512}",
            Works(|t| res(t).disk_size_gib == Some(512)),
        ),
        (
            "ephemeral_storage",
            "resources: {ephemeral_storage: 10}",
            Refused("ephemeral_storage"),
        ),
        (
            "disk_tier",
            "resources: {disk_tier: best}",
            Works(|t| res(t).disk_tier.as_deref() == Some("best")),
        ),
        (
            "disk_tier",
            "resources: {disk_tier: high}",
            Refused("resources.disk_tier"),
        ),
        (
            "network_tier",
            "resources: {network_tier: standard}",
            Works(|t| res(t).network_tier.as_deref() == Some("standard")),
        ),
        (
            "network_tier",
            "resources: {network_tier: best}",
            Refused("resources.network_tier"),
        ),
        (
            "local_disk",
            "resources: {local_disk: 'nvme:500'}",
            Refused("resources.local_disk"),
        ),
        (
            "max_hourly_cost",
            "resources: {max_hourly_cost: 3.5}",
            Works(|t| res(t).max_hourly_cost == Some(3.5)),
        ),
        (
            "ports",
            "resources: {ports: [8080, '9000-9010']}",
            Works(|t| res(t).ports.len() == 2),
        ),
        (
            "labels",
            "resources: {labels: {team: ml}}",
            Works(|t| res(t).labels.get("team").map(String::as_str) == Some("ml")),
        ),
        (
            "accelerator_args",
            "resources: {accelerator_args: {tpu_vm: true}}",
            Refused("resources.accelerator_args"),
        ),
        (
            "image_id",
            "resources: {image_id: ami-0123456789abcdef0}",
            Works(|t| res(t).image_id.is_some()),
        ),
        (
            "image_id",
            "resources: {image_id: 'docker:ubuntu:22.04'}",
            Works(
                |t| matches!(&res(t).image_id, Some(aloft::task::ImageId::Docker(i)) if i == "ubuntu:22.04"),
            ),
        ),
        (
            "autostop",
            "resources: {autostop: 30m}",
            Works(|t| res(t).autostop.as_ref().and_then(|a| a.idle_minutes) == Some(30)),
        ),
        (
            "autostop",
            "resources: {autostop: {idle_minutes: 10, down: true, wait_for: jobs}}",
            Works(|t| res(t).autostop.as_ref().is_some_and(|a| a.down)),
        ),
        (
            "autostop",
            "resources: {autostop: {idle_minutes: 10, wait_for: none}}",
            Refused("resources.autostop.wait_for"),
        ),
        (
            "autostop",
            "resources: {autostop: {idle_minutes: 10, hook: 'echo bye'}}",
            Refused("resources.autostop.hook"),
        ),
        (
            "priority",
            "resources: {priority: 10}",
            Refused("resources.priority"),
        ),
        (
            "priority_class",
            "resources: {priority_class: high}",
            Refused("resources.priority_class"),
        ),
        (
            "volumes",
            "resources: {volumes: [{path: /mnt/disk, disk_size: 100}]}",
            Refused("resources.volumes"),
        ),
        (
            "_docker_login_config",
            "resources: {_docker_login_config: {}}",
            Refused("_docker_login_config"),
        ),
        (
            "_is_image_managed",
            "resources: {_is_image_managed: true}",
            Refused("_is_image_managed"),
        ),
        (
            "_requires_fuse",
            "resources: {_requires_fuse: true}",
            Refused("_requires_fuse"),
        ),
        (
            "_cluster_config_overrides",
            "resources: {_cluster_config_overrides: {}}",
            Refused("_cluster_config_overrides"),
        ),
        (
            "_no_missing_accel_warnings",
            "resources: {_no_missing_accel_warnings: true}",
            Refused("_no_missing_accel_warnings"),
        ),
        (
            "any_of",
            "resources: {any_of: [{infra: aws}, {infra: gcp}]}",
            Works(|t| t.resources.candidates().len() == 2),
        ),
        (
            "ordered",
            "resources: {ordered: [{infra: gcp}, {infra: aws}]}",
            Works(|t| t.resources.candidates().len() == 2),
        ),
    ]
}

fn res(task: &Task) -> &aloft::task::Resources {
    &task.resources.candidates()[0]
}

/// Every property of SkyPilot 0.14's task and resources schemas (public and
/// internal), so that a field missing from the table fails the test.
const SCHEMA_FIELDS: &[&str] = &[
    "name",
    "workdir",
    "event_callback",
    "num_nodes",
    "resources",
    "file_mounts",
    "service",
    "pool",
    "setup",
    "run",
    "envs",
    "secrets",
    "managed_secrets",
    "inputs",
    "outputs",
    "file_mounts_mapping",
    "config",
    "volumes",
    "volume_mounts",
    "api_server_access",
    "_metadata",
    "infra",
    "cloud",
    "region",
    "zone",
    "cpus",
    "memory",
    "accelerators",
    "gpus",
    "instance_type",
    "use_spot",
    "job_recovery",
    "spot_recovery",
    "disk_size",
    "ephemeral_storage",
    "disk_tier",
    "network_tier",
    "local_disk",
    "max_hourly_cost",
    "ports",
    "labels",
    "accelerator_args",
    "image_id",
    "autostop",
    "priority",
    "priority_class",
    "_docker_login_config",
    "_is_image_managed",
    "_requires_fuse",
    "_cluster_config_overrides",
    "_no_missing_accel_warnings",
    "any_of",
    "ordered",
];

#[test]
fn every_schema_field_works_or_is_refused_by_name() {
    let rows = rows();
    for field in SCHEMA_FIELDS {
        assert!(
            rows.iter().any(|(f, _, _)| f == field),
            "schema field `{field}` has no row"
        );
    }
    let mut failures = Vec::new();
    for (field, yaml, expect) in &rows {
        let parsed = TaskChain::from_yaml_str(yaml, "t.yaml", &Overrides::default());
        let outcome: Result<Task, String> = match parsed {
            Err(err) => Err(err.to_string()),
            Ok(chain) => {
                let task = chain.tasks()[0].clone();
                check_launchable(&task).map(|()| task)
            }
        };
        match (expect, outcome) {
            (Works(seen), Ok(task)) if seen(&task) => {}
            (Works(_), Ok(_)) => failures.push(format!(
                "{field}: parsed, but its effect is missing: {yaml:?}"
            )),
            (Works(_), Err(err)) => failures.push(format!("{field}: refused: {err} ({yaml:?})")),
            (Refused(name), Err(err)) if err.contains(name) => {}
            (Refused(name), Err(err)) => {
                failures.push(format!("{field}: refused without naming `{name}`: {err}"))
            }
            (Refused(_), Ok(_)) => failures.push(format!("{field}: silently accepted: {yaml:?}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
