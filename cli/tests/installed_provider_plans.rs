//! An installed (third-party) provider plans like a built-in cloud: listed under
//! `clouds:` with no `infra:` in the task, it is chosen when its live offer is the
//! cheapest, left out with its own reason when its credential is missing, and its
//! offers are cached for a while so repeated dry runs do not ask it again.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::text;

/// A home with the `faulty` test component installed and `clouds: [faulty, aws]`.
fn home_with_faulty(extra_config: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("faulty.wasm");
    std::fs::write(&wasm, aloft_tests::components::test_component("faulty")).unwrap();
    let out = common::aloft(
        home.path(),
        &["providers", "install", "-y", wasm.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(
        home.path().join("config.yaml"),
        format!("clouds: [faulty, aws]\n{extra_config}"),
    )
    .unwrap();
    std::fs::write(
        home.path().join("task.yaml"),
        "resources:\n  cpus: 2\nrun: echo hi\n",
    )
    .unwrap();
    home
}

/// A dry run over every cloud aloft ships prices for (aws among them, with no
/// credentials here) and the providers `clouds:` names.
fn dry_run(home: &Path, token: Option<&str>, extra: &[&str]) -> Output {
    let task = home.join("task.yaml");
    let mut args = vec!["launch", "--dryrun", "--all-clouds", "-o", "json"];
    args.extend_from_slice(extra);
    args.push(task.to_str().unwrap());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_aloft"));
    cmd.args(&args)
        .env("ALOFT_HOME", home)
        .env_remove("ALOFT_OFFERS_TTL_SECS")
        .env_remove("FAULTY_TOKEN");
    if let Some(token) = token {
        cmd.env("FAULTY_TOKEN", token);
    }
    cmd.output().unwrap()
}

/// How many times the component's `offers` ran, as it counted in its kv store.
fn offers_calls(home: &Path) -> u64 {
    let db = rusqlite::Connection::open(home.join("state.db")).unwrap();
    db.query_row(
        "SELECT value FROM provider_kv WHERE key = 'calls.offers'",
        [],
        |row| row.get::<_, String>(0),
    )
    .map(|v| v.parse().unwrap())
    .unwrap_or(0)
}

#[test]
fn the_cheapest_installed_provider_is_chosen_without_infra() {
    let home = home_with_faulty("");
    let out = dry_run(home.path(), Some("faulty-token-value"), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let task = &plan["tasks"][0];
    assert_eq!(task["chosen"]["cloud"], "faulty", "{plan}");
    assert_eq!(task["chosen"]["instance_type"], "faulty-2cpu");
    assert_eq!(task["chosen"]["hourly_price"], 0.001);
    // The shipped clouds were considered too: the choice is a comparison.
    assert!(
        task["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["cloud"] == "aws"),
        "{plan}"
    );
    assert!(
        text(&out.stderr).contains("faulty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(offers_calls(home.path()), 1);

    // Dearer than the cheapest shipped 2-vCPU offer, it is not chosen.
    let home = home_with_faulty("providers:\n  faulty:\n    price: 50\n");
    let out = dry_run(home.path(), Some("faulty-token-value"), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(plan["tasks"][0]["chosen"]["cloud"], "faulty", "{plan}");
}

#[test]
fn an_offer_priced_below_zero_or_nan_is_refused_naming_the_provider() {
    for price in ["-1", "nan"] {
        let home = home_with_faulty(&format!("providers:\n  faulty:\n    price: {price}\n"));
        let out = dry_run(home.path(), Some("faulty-token-value"), &[]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{price}: {stderr}");
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let task = &plan["tasks"][0];
        assert_ne!(task["chosen"]["cloud"], "faulty", "{price}: {plan}");
        assert!(
            task["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["cloud"] != "faulty"),
            "{price}: {plan}"
        );
        assert!(
            stderr.contains("provider faulty: refused 1 of its 1 offers")
                && stderr.contains(&format!(
                    "price {}",
                    if price == "nan" { "NaN" } else { price }
                )),
            "{price}: {stderr}"
        );
    }
}

#[test]
fn without_its_credential_it_is_left_out_with_its_reason() {
    let home = home_with_faulty("");
    let out = dry_run(home.path(), None, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let task = &plan["tasks"][0];
    assert_ne!(task["chosen"]["cloud"], "faulty", "{plan}");
    assert!(
        task["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["cloud"] != "faulty"),
        "{plan}"
    );
    let excluded = task["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["cloud"] == "faulty")
        .unwrap_or_else(|| panic!("faulty is not listed as left out: {plan}"));
    assert!(
        excluded["reason"]
            .as_str()
            .unwrap()
            .contains("FAULTY_TOKEN is not set"),
        "{excluded}"
    );
    assert_eq!(
        offers_calls(home.path()),
        0,
        "offers asked without credentials"
    );

    // The table says it too.
    let task_file = home.path().join("task.yaml");
    let out = common::aloft(
        home.path(),
        &[
            "launch",
            "--dryrun",
            "--all-clouds",
            task_file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Left out: faulty is not usable: FAULTY_TOKEN is not set"),
        "{}",
        text(&out.stdout)
    );

    // Without --all-clouds, the plan is the launch's: only usable providers, and
    // with none the error names the provider's own reason.
    std::fs::write(home.path().join("config.yaml"), "clouds: [faulty]\n").unwrap();
    let out = common::aloft(
        home.path(),
        &["launch", "--dryrun", task_file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("FAULTY_TOKEN is not set"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn repeated_plans_reuse_the_cached_offers_until_they_are_stale() {
    let home = home_with_faulty("offers_cache_secs: 3\n");
    let chosen = |out: &Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["tasks"][0]["chosen"].clone()
    };
    let out = dry_run(home.path(), Some("faulty-token-value"), &[]);
    assert_eq!(chosen(&out)["cloud"], "faulty");
    assert!(
        text(&out.stderr).contains("asked provider for live offers: faulty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(offers_calls(home.path()), 1);

    // Within the TTL: the same plan, and the provider is not asked again.
    let out = dry_run(home.path(), Some("faulty-token-value"), &[]);
    assert_eq!(chosen(&out)["cloud"], "faulty");
    assert_eq!(offers_calls(home.path()), 1);
    assert!(
        text(&out.stderr).contains("live offers from the cache, no provider asked: faulty"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("(asked"),
        "{}",
        text(&out.stderr)
    );

    // --refresh-offers asks anyway.
    let out = dry_run(
        home.path(),
        Some("faulty-token-value"),
        &["--refresh-offers"],
    );
    assert_eq!(chosen(&out)["cloud"], "faulty");
    assert_eq!(offers_calls(home.path()), 2);

    // Once stale, it is asked again.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let out = dry_run(home.path(), Some("faulty-token-value"), &[]);
    assert_eq!(chosen(&out)["cloud"], "faulty");
    assert_eq!(offers_calls(home.path()), 3);

    // A changed setting is not answered from the cache: the new price shows.
    std::fs::write(
        home.path().join("config.yaml"),
        "clouds: [faulty, aws]\noffers_cache_secs: 600\nproviders:\n  faulty:\n    price: 0.002\n",
    )
    .unwrap();
    let out = dry_run(home.path(), Some("faulty-token-value"), &[]);
    assert_eq!(chosen(&out)["hourly_price"], 0.002);
    assert_eq!(offers_calls(home.path()), 4);

    // Nor is a provider whose credential was unset since: it is left out at once.
    let out = dry_run(home.path(), None, &[]);
    assert_ne!(chosen(&out)["cloud"], "faulty");
    assert_eq!(offers_calls(home.path()), 4);

    // The cache holds no credential.
    common::assert_secret_in_no_file(home.path(), "faulty-token-value");

    // 0 turns the cache off: every plan asks.
    std::fs::write(
        home.path().join("config.yaml"),
        "clouds: [faulty, aws]\noffers_cache_secs: 0\n",
    )
    .unwrap();
    for expected in [5, 6] {
        let out = dry_run(home.path(), Some("faulty-token-value"), &[]);
        assert_eq!(chosen(&out)["cloud"], "faulty");
        assert_eq!(offers_calls(home.path()), expected);
    }
}

/// Where a plan and a launch put the same task: `(cloud, region, instance type)`.
fn choice(value: &serde_json::Value) -> (String, String, String) {
    let field = |k: &str| value[k].as_str().unwrap_or_default().to_string();
    (field("cloud"), field("region"), field("instance_type"))
}

/// One planner: the dry run shows what the launch then does, with an installed
/// provider and `clouds:` set or unset. The launch's choice is the first offer its
/// provisioner tried (a `faulty` node never answers SSH, through a proxy command
/// that fails: that launch fails there, after the provider created its node).
#[test]
fn a_dry_run_and_the_launch_choose_the_same_place() {
    let cases = [
        // No `clouds:`: every provider is asked; `local` is free here.
        ("", "resources:\n  cpus: 2\nrun: echo hi\n", "local"),
        // `clouds:` names the installed provider and aws (no credentials here).
        (
            "clouds: [faulty, aws]\n",
            "resources:\n  cpus: 2\nrun: echo hi\n",
            "faulty",
        ),
        // The task names its cloud.
        (
            "",
            "resources:\n  infra: faulty\n  cpus: 2\nrun: echo hi\n",
            "faulty",
        ),
    ];
    for (config, task, expected) in cases {
        let home = home_with_faulty("");
        std::fs::write(
            home.path().join("config.yaml"),
            format!("{config}providers:\n  faulty:\n    ssh_proxy_command: 'false'\n"),
        )
        .unwrap();
        std::fs::write(home.path().join("task.yaml"), task).unwrap();
        let task_file = home.path().join("task.yaml");
        let env = [
            ("FAULTY_TOKEN", "faulty-token-value"),
            ("ALOFT_NODE_READY_TIMEOUT_SECS", "1"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ];
        let plan = common::aloft_env(
            home.path(),
            &[
                "launch",
                "--dryrun",
                "-o",
                "json",
                task_file.to_str().unwrap(),
            ],
            &env,
        );
        assert!(
            plan.status.success(),
            "{config}{task}: {}",
            text(&plan.stderr)
        );
        let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
        let planned = choice(&plan["tasks"][0]["chosen"]);
        assert_eq!(planned.0, expected, "{config}{task}: {plan}");

        let launch = common::aloft_env(
            home.path(),
            &[
                "launch",
                "-y",
                "-d",
                "-c",
                "same",
                task_file.to_str().unwrap(),
            ],
            &env,
        );
        // The provisioner reports each offer it tried: `  CLOUD REGION/ZONE TYPE: outcome`.
        let stderr = text(&launch.stderr);
        let tried = stderr
            .lines()
            .find_map(|line| {
                let attempt = line.split_once("]   ")?.1;
                let (offer, _) = attempt.split_once(": ")?;
                let words: Vec<&str> = offer.split(' ').collect();
                let [cloud, place, instance_type] = words[..] else {
                    return None;
                };
                let region = place.split('/').next()?;
                Some((
                    cloud.to_string(),
                    region.to_string(),
                    instance_type.to_string(),
                ))
            })
            .unwrap_or_else(|| panic!("{config}{task}: the launch tried nothing: {stderr}"));
        assert_eq!(
            tried, planned,
            "{config}{task}: the launch went elsewhere: {stderr}"
        );
        // A launch that got its cluster up leaves it to tear down (`local`'s agent).
        if launch.status.success() {
            let down = common::aloft_env(home.path(), &["down", "-y", "same"], &env);
            assert!(down.status.success(), "{}", text(&down.stderr));
        }
    }
}

/// A provider whose key is refused is the whole story of an empty plan: the error
/// leads with the provider's own reason, does not call it "not enabled", and does
/// not send the user off to enable more clouds.
#[test]
fn a_refused_key_leads_the_no_plan_error() {
    let home = home_with_faulty("");
    std::fs::write(home.path().join("config.yaml"), "clouds: [faulty]\n").unwrap();
    for task in [
        "resources:\n  infra: faulty\n  cpus: 2\nrun: echo hi\n",
        "resources:\n  cpus: 2\nrun: echo hi\n",
    ] {
        let file = home.path().join("task.yaml");
        std::fs::write(&file, task).unwrap();
        let out = common::aloft(home.path(), &["launch", "--dryrun", file.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        let reason = stderr
            .find("provider faulty is not usable: FAULTY_TOKEN is not set")
            .unwrap_or_else(|| panic!("no reason: {stderr}"));
        let summary = stderr
            .find("no resources satisfy")
            .unwrap_or_else(|| panic!("no summary: {stderr}"));
        assert!(reason < summary, "the reason comes last: {stderr}");
        assert!(!stderr.contains("not enabled"), "{stderr}");
        assert!(!stderr.contains("enable more clouds"), "{stderr}");
    }
}

/// An installed provider's key can live in a file the user names in config.yaml
/// (`providers.<name>.credential_files`), as the bundled clouds read theirs: with
/// no environment variable set, the provider is lent the file's content and plans.
#[test]
fn an_installed_providers_key_is_read_from_the_file_config_names() {
    let home = home_with_faulty("");
    let key_file = home.path().join("faulty-key");
    std::fs::write(&key_file, "faulty-key-from-a-file\n").unwrap();
    std::fs::write(
        home.path().join("config.yaml"),
        format!(
            "clouds: [faulty]\nproviders:\n  faulty:\n    credential_files:\n      FAULTY_TOKEN: {}\n",
            key_file.display()
        ),
    )
    .unwrap();
    let task = home.path().join("task.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["launch", "--dryrun", "-o", "json", task.to_str().unwrap()])
        .env("ALOFT_HOME", home.path())
        .env_remove("FAULTY_TOKEN")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["tasks"][0]["chosen"]["cloud"], "faulty", "{plan}");
    assert!(!stderr.contains("faulty-key-from-a-file"), "{stderr}");
    // `providers list` counts it as set.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["providers", "list"])
        .env("ALOFT_HOME", home.path())
        .env_remove("FAULTY_TOKEN")
        .output()
        .unwrap();
    let listed = text(&out.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("faulty") && l.contains("1/1 set")),
        "{listed}"
    );

    // A name that cannot be a credential is refused, naming where it is.
    std::fs::write(
        home.path().join("config.yaml"),
        "providers:\n  faulty:\n    credential_files:\n      faulty-token: /nonexistent\n",
    )
    .unwrap();
    let out = common::aloft(home.path(), &["launch", "--dryrun", task.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("providers.faulty.credential_files: `faulty-token` is not a credential name"),
        "{stderr}"
    );
}

/// A node whose SSH session ends before aloft has written to it (here an `ssh`
/// that closes its input and exits) fails that candidate with the reason, and the
/// launch ends with its error: before, the write's SIGPIPE killed aloft without a
/// word (exit 141), leaving the candidate's instances to nobody.
#[test]
fn an_ssh_session_closed_early_fails_the_candidate_not_the_launcher() {
    let home = home_with_faulty("");
    std::fs::write(
        home.path().join("config.yaml"),
        "providers:\n  faulty:\n    ssh_proxy_command: 'false'\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join("task.yaml"),
        "resources:\n  infra: faulty\n  cpus: 2\nrun: echo hi\n",
    )
    .unwrap();
    let shims = home.path().join("shims");
    std::fs::create_dir(&shims).unwrap();
    let ssh = shims.join("ssh");
    std::fs::write(&ssh, "#!/bin/sh\nexec 0<&-\nexit 255\n").unwrap();
    std::fs::set_permissions(&ssh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        shims.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let task = home.path().join("task.yaml");
    for attempt in 0..3 {
        let out = common::aloft_env(
            home.path(),
            &[
                "launch",
                "-y",
                "-d",
                "-c",
                &format!("early{attempt}"),
                task.to_str().unwrap(),
            ],
            &[
                ("PATH", path.as_str()),
                ("FAULTY_TOKEN", "faulty-token-value"),
                ("ALOFT_NODE_READY_TIMEOUT_SECS", "1"),
                ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ],
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{:?}: {stderr}", out.status);
        assert!(
            stderr.contains("faulty f-1/f-1-a faulty-2cpu: other (NodesUnreachable"),
            "{stderr}"
        );
        assert!(stderr.contains("error: could not provision"), "{stderr}");
    }
}

/// `aloft ... | head`: once the reader is gone, aloft ends by SIGPIPE, quietly
/// (no panic about printing to standard output).
#[test]
fn a_reader_that_goes_away_ends_aloft_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let home = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["gpus", "list", "--all-regions"])
        .env("ALOFT_HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.signal(), Some(13), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
