//! The public task API: builder, overrides, YAML output and secret hygiene.

use aloft::task::{
    AcceleratorSpec, FileMount, Infra, Overrides, Quantity, ResourceSet, Resources, SecretValue,
    Task, TaskChain, TaskError,
};

#[test]
fn builder_builds_a_task_that_round_trips() {
    let task = Task::builder()
        .name("train")
        .run("python train.py")
        .num_nodes(2)
        .resources(
            Resources::with_accelerator("A100", 8.0)
                .with_infra(Infra::parse("aws/us-east-1").expect("infra"))
                .with_cpus(Quantity::AtLeast(32.0)),
        )
        .env("EPOCHS", "3")
        .file_mount("/data", FileMount::Path("s3://bucket/data".into()))
        .build()
        .expect("valid task");
    assert_eq!(task.num_nodes, 2);
    assert_eq!(task.resources.candidates().len(), 1);
    let text = task.to_yaml_string();
    let back = Task::from_yaml_str(&text, "built.yaml", &Overrides::default()).expect("parses");
    assert_eq!(back, vec![task]);
}

#[test]
fn builder_rejects_what_the_parser_rejects() {
    let err = Task::builder()
        .num_nodes(0)
        .build()
        .expect_err("zero nodes");
    assert_eq!(err.to_string(), "num_nodes: must be at least 1");
    let err = Task::builder()
        .env("1BAD", "x")
        .build()
        .expect_err("bad env");
    assert!(err.to_string().contains("1BAD"), "{err}");
    let err = Task::builder()
        .resources(ResourceSet::AnyOf(vec![]))
        .build()
        .expect_err("no candidates");
    assert!(err.to_string().starts_with("resources:"), "{err}");
}

#[test]
fn accelerator_spec_parses_and_displays() {
    let spec = AcceleratorSpec::parse("nvidia:24GB+:2").expect("valid");
    assert_eq!(spec.to_string(), "nvidia:24GB+:2");
    assert!(AcceleratorSpec::parse("A100:").is_err());
}

#[test]
fn overrides_replace_resources_in_every_candidate() {
    let src = "resources:\n  ordered:\n    - infra: aws\n      cpus: 4\n    - infra: gcp\n      cpus: 8\n";
    let overrides = Overrides {
        gpus: Some("A100:8".into()),
        memory: Some("64+".into()),
        ..Overrides::default()
    };
    let chain = TaskChain::from_yaml_str(src, "t.yaml", &overrides).expect("valid");
    let ResourceSet::Ordered(c) = &chain.tasks()[0].resources else {
        panic!("ordered expected");
    };
    assert_eq!(c.len(), 2);
    for r in c {
        assert_eq!(r.accelerators, AcceleratorSpec::parse("A100:8").ok());
        assert_eq!(r.memory, Some(Quantity::AtLeast(64.0)));
    }
    assert_eq!(c[1].cpus, Some(Quantity::Exact(8.0)));
}

#[test]
fn bad_override_names_the_flag() {
    let overrides = Overrides {
        infra: Some("awz/x".into()),
        ..Overrides::default()
    };
    let err = TaskChain::from_yaml_str("run: x", "t.yaml", &overrides).expect_err("bad infra");
    assert!(matches!(err, TaskError::Override { .. }));
    assert_eq!(err.to_string(), "--infra: unknown cloud `awz`");
}

const SECRET: &str = "s3cr3t-value-do-not-print";

#[test]
fn secrets_never_show_in_debug_yaml_json_or_errors() {
    let src = "secrets:\n  TOKEN: null\nservice:\n  readiness_probe:\n    path: /\n    headers:\n      Authorization: Bearer ${TOKEN}\n  replicas: 1\n";
    let overrides = Overrides {
        secret: vec![("TOKEN".into(), SECRET.into())],
        ..Overrides::default()
    };
    let chain = TaskChain::from_yaml_str(src, "t.yaml", &overrides).expect("valid");
    let task = &chain.tasks()[0];
    // The value is there for whoever needs it ...
    let Some(SecretValue::Inline(s)) = task.secrets.get("TOKEN") else {
        panic!("inline secret expected");
    };
    assert_eq!(s.expose(), SECRET);
    let headers = &task
        .service
        .as_ref()
        .expect("service")
        .readiness_probe
        .as_ref()
        .expect("probe")
        .headers;
    assert_eq!(headers["Authorization"], format!("Bearer {SECRET}"));
    // ... and nowhere it could be printed.
    for shown in [
        format!("{chain:?}"),
        format!("{chain:#?}"),
        format!("{overrides:?}"),
        chain.to_yaml_string(),
        serde_json::to_string(&chain).expect("json"),
    ] {
        assert!(!shown.contains(SECRET), "secret leaked: {shown}");
        assert!(shown.contains("TOKEN"), "{shown}");
    }
    assert!(chain.to_yaml_string_with_secrets().contains(SECRET));

    let bad = "secrets:\n  TOKEN: null\nfile_mounts:\n  /x:\n    name: b\n    mode: ${TOKEN}\n";
    let err = TaskChain::from_yaml_str(bad, "t.yaml", &overrides).expect_err("bad mode");
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert!(err.to_string().contains("<redacted>"), "{err}");
}

#[test]
fn file_api_reports_missing_files() {
    let err = TaskChain::from_yaml_file("/nonexistent/task.yaml", &Overrides::default())
        .expect_err("missing");
    assert!(matches!(err, TaskError::Io { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/task.yaml: cannot read task file")
    );
}

#[test]
fn file_api_reads_a_real_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("task.yaml");
    std::fs::write(
        &path,
        "name: t\nresources:\n  accelerators: {A100:1, V100:1}\nrun: echo\n",
    )
    .expect("write");
    let tasks = Task::from_yaml_file(&path, &Overrides::default()).expect("valid");
    assert_eq!(tasks[0].name.as_deref(), Some("t"));
    assert_eq!(tasks[0].resources.candidates().len(), 2);
}
