//! Failover across clouds through the CLI, each cloud a fake of its API on
//! loopback: with no capacity on GCP (the Compute Engine fake answers
//! `ZONE_RESOURCE_POOL_EXHAUSTED`) the launch lands on Lambda Cloud, and with
//! Lambda's key refused the launch skips Lambda, says why, and lands on RunPod.
//! The nodes are real `sshd` machines on loopback; no secret may show in output,
//! logs or files.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aloft_tests::fakes::{LambdaCloud, LambdaOptions};
use aloft_tests::gcp_fake::{FakeOptions, GcpFake};
use aloft_tests::runpod_fake::RunpodFake;
use aloft_tests::sshd::Sshd;
use common::text;

const LAMBDA_KEY: &str = "secret_failover_0c7e1d.LAMBDA-NEVER-PRINTED";
const RUNPOD_KEY: &str = "rpa_FAILOVER9Z8Y7X6W5V4U3T2S1.NEVER-PRINTED";

fn run(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let log = home.join(format!("aloft-{}.log", args[0]));
    let stderr = std::fs::File::create(&log).unwrap();
    let mut out = Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .stderr(stderr)
        .env("ALOFT_HOME", home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("GCP_CREDENTIALS_JSON")
        .env_remove("RUNPOD_API_KEY")
        .env_remove("LAMBDA_API_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("CLOUDSDK_CONFIG", "/nonexistent")
        .env("ALOFT_LOG", "trace")
        .envs(env.iter().copied())
        .output()
        .expect("run aloft");
    out.stderr = std::fs::read(&log).unwrap_or_default();
    out
}

fn task(home: &Path, body: &str) -> PathBuf {
    let path = home.join("task.yaml");
    std::fs::write(&path, body).unwrap();
    path
}

fn assert_ok(out: &Output, secrets: &[String]) -> String {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for s in secrets {
        assert!(
            !stdout.contains(s.as_str()) && !stderr.contains(s.as_str()),
            "a secret leaked"
        );
    }
    stdout
}

/// Every file under `dir` (aloft's home, the machines' files), each read once and
/// searched for every secret.
fn assert_no_secret_in_files(dir: &Path, secrets: &[String]) {
    for file in common::files_under(dir) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for s in secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret is in {}",
                file.display()
            );
        }
    }
}

#[test]
fn without_capacity_on_gcp_the_launch_lands_on_lambda() {
    let home = tempfile::tempdir().unwrap();
    let gcp = GcpFake::start(FakeOptions {
        op_polls: 1,
        exhausted_zones: vec!["us-central1-a".into()],
        ..FakeOptions::default()
    });
    // The machine opens to the keys its instance was launched with (the relay
    // installs them from the fake).
    let machine = Sshd::start_machine(&home.path().join("m0"), "127.0.5.10");
    let lambda = LambdaCloud::start(
        LAMBDA_KEY,
        std::slice::from_ref(&machine.ip),
        &LambdaOptions::default(),
    );
    // Lambda's nodes listen on port 22: the relay sends `<ip>:22` to the machine.
    let map = home.path().join("relay-map.json");
    std::fs::write(
        &map,
        serde_json::json!({"machines": [],
            "assigned": {machine.ip.clone(): [machine.ip, machine.port, machine.authorized_keys_path()]}})
        .to_string(),
    )
    .unwrap();
    let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ssh_relay.py");
    std::fs::write(
        home.path().join("config.yaml"),
        format!(
            "providers:\n  gcp:\n    endpoint: {gcp}\n    ssh_user: {user}\n  \
             lambda:\n    endpoint: {lambda}\n    ssh_user: {user}\n    \
             ssh_proxy_command: python3 {relay} --keys lambda={lambda} {map} %h\n",
            gcp = gcp.endpoint(),
            lambda = lambda.endpoint(),
            user = machine.user,
            relay = relay.display(),
            map = map.display(),
        ),
    )
    .unwrap();
    let t = task(
        home.path(),
        "resources:\n  ordered:\n    - {infra: gcp/us-central1/us-central1-a, instance_type: e2-standard-2}\n    \
         - {infra: lambda/us-east-1, instance_type: gpu_1x_a10}\nrun: echo landed on $(hostname -I 2>/dev/null | wc -w) \n",
    );
    let sa = gcp.service_account_path();
    let env = [
        ("GOOGLE_APPLICATION_CREDENTIALS", sa.to_str().unwrap()),
        ("LAMBDA_API_KEY", LAMBDA_KEY),
    ];
    let mut secrets = gcp.secrets();
    secrets.push(LAMBDA_KEY.into());
    let out = run(
        home.path(),
        &["launch", "-y", "-c", "fo", t.to_str().unwrap()],
        &env,
    );
    let stdout = assert_ok(&out, &secrets);
    assert!(stdout.contains("landed"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("ZONE_RESOURCE_POOL_EXHAUSTED"), "{stderr}");
    // GCP was really asked (and refused), and kept nothing.
    let inserts = gcp.requests();
    assert!(
        inserts
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.to_string().contains("compute.instances.insert")),
        "{inserts}"
    );
    let left = gcp.google(
        "print(json.dumps([i.name for i in instances.list(project=PROJECT, zone='us-central1-a')]))",
    );
    assert_eq!(left, serde_json::json!([]));
    // The cluster is on Lambda.
    let rows: serde_json::Value = serde_json::from_str(&assert_ok(
        &run(home.path(), &["status", "-o", "json"], &env),
        &secrets,
    ))
    .unwrap();
    assert_eq!(rows[0]["provider"], "lambda", "{rows}");
    let state = lambda.state();
    assert_eq!(state["instances"][0]["name"], "fo-head");
    assert_ok(&run(home.path(), &["down", "-y", "fo"], &env), &secrets);
    let (_, live) = lambda.request("GET", "/api/v1/instances", None);
    assert_eq!(live["data"], serde_json::json!([]));
    assert_no_secret_in_files(home.path(), &secrets);
}

#[test]
fn with_lambdas_key_refused_the_launch_skips_lambda_says_why_and_lands_on_runpod() {
    let home = tempfile::tempdir().unwrap();
    let lambda = LambdaCloud::start(LAMBDA_KEY, &[], &LambdaOptions::default());
    let machine = Sshd::start_machine(&home.path().join("m0"), "127.0.5.20");
    let runpod = RunpodFake::start(RUNPOD_KEY, &[&machine], 0.5);
    std::fs::write(
        home.path().join("config.yaml"),
        format!(
            "providers:\n  lambda:\n    endpoint: {lambda}\n  \
             runpod:\n    endpoint: {runpod}\n    ssh_user: {user}\n",
            lambda = lambda.endpoint(),
            runpod = runpod.endpoint(),
            user = machine.user,
        ),
    )
    .unwrap();
    let t = task(
        home.path(),
        "resources:\n  ordered:\n    - {infra: lambda/us-east-1, instance_type: gpu_1x_a10}\n    \
         - {infra: runpod/US, accelerators: A40:1}\nrun: echo landed\n",
    );
    let wrong = "secret_wrong_key.REFUSED-NEVER-PRINTED";
    let env = [("LAMBDA_API_KEY", wrong), ("RUNPOD_API_KEY", RUNPOD_KEY)];
    let secrets = vec![wrong.to_string(), RUNPOD_KEY.to_string()];
    let out = run(
        home.path(),
        &["launch", "-y", "-c", "sk", t.to_str().unwrap()],
        &env,
    );
    let stdout = assert_ok(&out, &secrets);
    assert!(stdout.contains("landed"), "{stdout}");
    let said = format!("{stdout}{}", text(&out.stderr));
    assert!(said.contains("lambda is skipped"), "{said}");
    assert!(said.contains("API key was invalid"), "{said}");
    // Lambda launched nothing; RunPod has the pod.
    let state = lambda.state();
    assert_eq!(state["instances"], serde_json::json!([]), "{state}");
    assert_eq!(runpod.live_pods().len(), 1);
    assert_ok(&run(home.path(), &["down", "-y", "sk"], &env), &secrets);
    assert!(runpod.live_pods().is_empty());
    assert_no_secret_in_files(home.path(), &secrets);
}

/// Milliseconds of `runs` runs of `aloft ARGS`: (median, min, max).
fn time_ms(home: &Path, args: &[&str], env: &[(&str, &str)], runs: usize) -> (f64, f64, f64) {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = std::time::Instant::now();
            let out = run(home, args, env);
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            assert!(out.status.success(), "{}", text(&out.stderr));
            ms
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

/// Not a timed test: figures for docs/benchmarks.md, printed. Run it with
/// `scripts/bench-clouds.sh` (it is ignored otherwise).
#[test]
#[ignore = "a benchmark: run by scripts/bench-clouds.sh"]
fn bench_check_and_launch_against_each_fake() {
    let home = tempfile::tempdir().unwrap();
    let runs: usize = std::env::var("ALOFT_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let gcp = GcpFake::start(FakeOptions::default());
    // Each machine opens to the keys its instance was launched with (the relay
    // and the RunPod fake install them).
    let lambda_machine = Sshd::start_machine(&home.path().join("m0"), "127.0.5.30");
    let runpod_machine = Sshd::start_machine(&home.path().join("m1"), "127.0.5.31");
    let gcp_machine = Sshd::start_machine(&home.path().join("m2"), "127.0.5.32");
    let lambda = LambdaCloud::start(
        LAMBDA_KEY,
        std::slice::from_ref(&lambda_machine.ip),
        &LambdaOptions::default(),
    );
    let runpod = RunpodFake::start(RUNPOD_KEY, &[&runpod_machine], 0.0);
    let map = home.path().join("relay-map.json");
    // Each GCP instance gets a new made-up address: the relay hands it the one GCP
    // machine, so the map is written afresh before each launch.
    let reset_map = || {
        std::fs::write(
            &map,
            serde_json::json!({"machines": [[gcp_machine.ip, gcp_machine.port, gcp_machine.authorized_keys_path()]],
                "assigned": {lambda_machine.ip.clone(): [lambda_machine.ip, lambda_machine.port, lambda_machine.authorized_keys_path()]}})
            .to_string(),
        )
        .unwrap();
    };
    reset_map();
    let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ssh_relay.py");
    std::fs::write(
        home.path().join("config.yaml"),
        format!(
            "providers:\n  gcp:\n    endpoint: {gcp}\n    ssh_user: {user}\n    \
             ssh_proxy_command: python3 {relay} --keys gcp={gcp} {map} %h\n  \
             lambda:\n    endpoint: {lambda}\n    ssh_user: {user}\n    \
             ssh_proxy_command: python3 {relay} --keys lambda={lambda} {map} %h\n  \
             runpod:\n    endpoint: {runpod}\n    ssh_user: {user}\n",
            gcp = gcp.endpoint(),
            lambda = lambda.endpoint(),
            runpod = runpod.endpoint(),
            user = lambda_machine.user,
            relay = relay.display(),
            map = map.display(),
        ),
    )
    .unwrap();
    let sa = gcp.service_account_path();
    let env = [
        ("GOOGLE_APPLICATION_CREDENTIALS", sa.to_str().unwrap()),
        ("LAMBDA_API_KEY", LAMBDA_KEY),
        ("RUNPOD_API_KEY", RUNPOD_KEY),
    ];
    // Warm the compiled-component cache first (a first run compiles them).
    let _ = run(home.path(), &["check"], &env);
    let check = time_ms(home.path(), &["check"], &env, runs);
    println!(
        "BENCH aloft check (gcp, lambda, runpod + local, ssh, aws without keys): median {:.1} ms (min {:.1}, max {:.1}) over {runs} runs",
        check.0, check.1, check.2
    );
    for (cloud, resources) in [
        (
            "gcp",
            "{infra: gcp/us-central1, instance_type: e2-standard-2}",
        ),
        (
            "lambda",
            "{infra: lambda/us-east-1, instance_type: gpu_1x_a10}",
        ),
        ("runpod", "{infra: runpod/US, accelerators: A40:1}"),
    ] {
        let t = task(
            home.path(),
            &format!("resources: {resources}\nrun: echo done\n"),
        );
        let mut times = Vec::new();
        for i in 0..runs.clamp(1, 5) {
            let name = format!("b{cloud}{i}");
            reset_map();
            let start = std::time::Instant::now();
            let out = run(
                home.path(),
                &["launch", "-y", "-c", &name, t.to_str().unwrap()],
                &env,
            );
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(text(&out.stdout).contains("done"));
            let down = run(home.path(), &["down", "-y", &name], &env);
            assert!(down.status.success(), "{}", text(&down.stderr));
        }
        times.sort_by(f64::total_cmp);
        println!(
            "BENCH launch on the {cloud} fake to the job's end: median {:.0} ms (min {:.0}, max {:.0}) over {} runs",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            times.len()
        );
    }
}
