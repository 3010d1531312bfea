//! `aloft providers` and `aloft check` with the real binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn aloft(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .env_remove("HELLO_CLOUD_TOKEN")
        .output()
        .expect("run aloft")
}

#[test]
fn install_validates_then_lists_and_checks() {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("hello_cloud.wasm");
    std::fs::write(&wasm, aloft_tests::components::example("hello-cloud")).unwrap();
    let junk = home.path().join("junk.wasm");
    std::fs::write(&junk, b"not a component").unwrap();

    let out = aloft(
        home.path(),
        &["providers", "install", junk.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        !home.path().join("providers/junk.wasm").exists(),
        "junk was copied"
    );

    let out = aloft(
        home.path(),
        &["providers", "install", "-y", wasm.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(home.path().join("providers/hello-cloud.wasm").is_file());

    let out = aloft(home.path(), &["providers", "list", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "aws",
            "azure",
            "cudo",
            "digitalocean",
            "fluidstack",
            "gcp",
            "hello-cloud",
            "kubernetes",
            "lambda",
            "local",
            "nebius",
            "oci",
            "primeintellect",
            "runpod",
            "ssh",
            "vastai"
        ]
    );
    let local = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "local")
        .unwrap();
    let vast = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "vastai")
        .unwrap();
    assert_eq!(vast["source"], "bundled");
    assert_eq!(vast["capabilities"]["multi_node"], false);
    assert_eq!(vast["capabilities"]["spot"], true);
    let prime = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "primeintellect")
        .unwrap();
    assert_eq!(prime["source"], "bundled");
    assert_eq!(prime["capabilities"]["multi_node"], false);
    assert_eq!(prime["capabilities"]["stop_start"], false);
    let cudo = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cudo")
        .unwrap();
    assert_eq!(cudo["source"], "bundled");
    assert_eq!(cudo["capabilities"]["multi_node"], true);
    assert_eq!(cudo["capabilities"]["spot"], false);
    assert_eq!(cudo["capabilities"]["stop_start"], true);
    let fluidstack = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "fluidstack")
        .unwrap();
    assert_eq!(fluidstack["source"], "bundled");
    assert_eq!(fluidstack["capabilities"]["multi_node"], true);
    assert_eq!(fluidstack["capabilities"]["spot"], false);
    assert_eq!(fluidstack["capabilities"]["stop_start"], true);
    assert_eq!(fluidstack["capabilities"]["open_ports"], false);
    assert_eq!(local["source"], "bundled");
    assert_eq!(local["api_version"], "0.1.0");
    assert_eq!(local["capabilities"]["multi_node"], true);

    let out = aloft(home.path(), &["check", "-o", "json"]);
    assert!(out.status.success());
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hello = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "hello-cloud")
        .unwrap();
    assert_eq!(hello["enabled"], false);
    assert!(
        hello["reason"]
            .as_str()
            .unwrap()
            .contains("HELLO_CLOUD_TOKEN"),
        "{hello}"
    );
    let local = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "local")
        .unwrap();
    assert_eq!(local["enabled"], true);

    let out = aloft(home.path(), &["providers", "info", "hello-cloud"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("hosts:        api.hello-cloud.example"),
        "{text}"
    );
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `hostile` component's description (which holds a title-setting and a
/// screen-clearing escape) as aloft shows it.
const ESCAPED_DESCRIPTION: &str = r"misbehaves on purpose\u{1b}]0;pwned\u{7}\u{1b}[2J";

#[test]
fn install_shows_the_requests_and_without_consent_installs_nothing() {
    let base = tempfile::tempdir().unwrap();
    let home = base.path().join("home");
    let tmp = base.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let wasm = base.path().join("hostile.wasm");
    std::fs::write(&wasm, aloft_tests::components::test_component("hostile")).unwrap();
    let install = |extra: &[&str]| {
        let mut args = vec!["providers", "install"];
        args.extend_from_slice(extra);
        args.push(wasm.to_str().unwrap());
        Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(&args)
            .env("ALOFT_HOME", &home)
            .env("TMPDIR", &tmp)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run aloft")
    };

    let out = install(&[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("hostile 0.0.1 asks for"), "{stdout}");
    assert!(
        stdout.contains("hosts:        allowed.example, *.hostile.example"),
        "{stdout}"
    );
    assert!(stdout.contains("HOSTILE_TOKEN"), "{stdout}");
    assert!(
        stdout.contains("AWS_SECRET_ACCESS_KEY  (also used by the bundled provider aws"),
        "{stdout}"
    );
    assert!(stdout.contains("capabilities:"), "{stdout}");
    // Its description's terminal escapes are shown escaped, never sent.
    assert!(
        stdout.contains(ESCAPED_DESCRIPTION) && !stdout.contains('\x1b'),
        "{stdout:?}"
    );
    assert!(
        stderr.contains("no terminal") && stderr.contains("-y"),
        "{stderr}"
    );
    assert!(!home.join("providers/hostile.wasm").exists());
    assert!(!home.join("providers/grants.json").exists());
    // The scratch folder was in TMPDIR, and is gone.
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "scratch left behind"
    );

    // Granted: installed with its grant, and listed.
    let out = install(&["-y"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(home.join("providers/hostile.wasm").is_file());
    let grants: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("providers/grants.json")).unwrap())
            .unwrap();
    assert_eq!(grants["hostile"]["hosts"][1], "*.hostile.example");
    assert_eq!(grants["hostile"]["credentials"][1], "AWS_SECRET_ACCESS_KEY");
    // `info` and `list` show the description escaped too.
    let out = aloft(&home, &["providers", "info", "hostile"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(ESCAPED_DESCRIPTION) && !stdout.contains('\x1b'),
        "{stdout:?}"
    );
    let out = aloft(&home, &["providers", "list", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hostile = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hostile")
        .unwrap();
    assert!(
        hostile["description"]
            .as_str()
            .unwrap()
            .ends_with(ESCAPED_DESCRIPTION),
        "{hostile}"
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700, "ALOFT_HOME");
    assert_eq!(mode(&home.join("state.db")), 0o600, "state.db");
    // Compiled components are kept once per user, beside no home in particular.
    assert_eq!(
        mode(&aloft::client::default_component_cache(&home)),
        0o700,
        "cache"
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "scratch left behind"
    );

    // A later version that asks for more than granted (here: the grant narrowed)
    // is not loaded, and `providers list` says why.
    let mut narrowed = grants.clone();
    narrowed["hostile"]["hosts"] = serde_json::json!(["allowed.example"]);
    std::fs::write(
        home.join("providers/grants.json"),
        serde_json::to_vec(&narrowed).unwrap(),
    )
    .unwrap();
    let out = aloft(&home, &["providers", "list", "-o", "json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"hostile"), "{names:?}");
    let broken = list["broken"][0]["error"].as_str().unwrap();
    assert!(
        broken.contains("asks for more than was granted")
            && broken.contains("*.hostile.example")
            && broken.contains("aloft providers install"),
        "{broken}"
    );
}

#[test]
fn installing_over_a_bundled_provider_needs_replace() {
    let base = tempfile::tempdir().unwrap();
    let home = base.path().join("home");
    let wasm = base.path().join("aws.wasm");
    std::fs::write(&wasm, aloft_tests::components::provider("aws")).unwrap();
    let out = aloft(
        &home,
        &["providers", "install", "-y", wasm.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("`aws` is a bundled provider") && stderr.contains("--replace"),
        "{stderr}"
    );
    assert!(!home.join("providers/aws.wasm").exists());

    let out = aloft(
        &home,
        &[
            "providers",
            "install",
            "-y",
            "--replace",
            wasm.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let grants: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("providers/grants.json")).unwrap())
            .unwrap();
    assert_eq!(grants["aws"]["replaces_bundled"], true);
    let out = aloft(&home, &["providers", "list", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["broken"].as_array().unwrap().len(), 0, "{list}");
}

/// A machine's first command loads the bundled providers compiled ahead of time by
/// the build: nothing is compiled, so the component cache stays empty (before,
/// every bundled component was compiled there, seconds in all).
#[test]
fn a_machines_first_command_compiles_no_bundled_provider() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let xdg = dir.path().join("xdg-cache");
    let out = Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["check", "-o", "json"])
        .env("ALOFT_HOME", &home)
        .env("XDG_CACHE_HOME", &xdg)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    let said = format!("{stdout}{stderr}");
    let checked: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check -o json: {e}\n{said}"));
    assert!(
        checked.to_string().contains("\"local\""),
        "the bundled providers were not loaded:\n{said}"
    );
    assert!(!said.contains("Compiling provider component"), "{said}");
    let cache = xdg.join("aloft/components");
    let compiled: Vec<_> = std::fs::read_dir(&cache)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(compiled.is_empty(), "compiled on first use: {compiled:?}");
}
