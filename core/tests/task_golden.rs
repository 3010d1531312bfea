//! Golden tests for the task parser.
//!
//! - `tests/golden/valid/X.yaml` must parse; the parsed chain, as JSON, must equal
//!   `X.expected.json`, and its YAML output must read back to the same chain.
//! - `tests/golden/invalid/X.yaml` must fail with exactly the text of `X.expected.txt`.
//!
//! A file may set CLI overrides with comment lines `# aloft-override: --flag value`
//! (`--env K=V`, `--secret K=V`, `--gpus`, `--infra`, `--cpus`, `--memory`,
//! `--num-nodes`, `--use-spot`, `--name`, `--disk-size`, `--ports`, `--image-id`).
//!
//! `UPDATE_GOLDEN=1 cargo test --test task_golden` rewrites the expectations; read
//! every changed one before committing it.

use std::path::{Path, PathBuf};

use aloft::task::{Overrides, TaskChain};

fn golden_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(kind)
}

fn yaml_files(kind: &str) -> Vec<PathBuf> {
    let dir = golden_dir(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn overrides_from(src: &str) -> Overrides {
    let mut o = Overrides::default();
    for line in src.lines() {
        let Some(rest) = line.strip_prefix("# aloft-override: ") else {
            continue;
        };
        let (flag, value) = rest.split_once(' ').unwrap_or((rest, ""));
        let value = value.to_string();
        let pair = |v: &str| {
            let (k, v) = v.split_once('=').unwrap_or((v, ""));
            (k.to_string(), v.to_string())
        };
        match flag {
            "--env" => o.env.push(pair(&value)),
            "--secret" => o.secret.push(pair(&value)),
            "--gpus" => o.gpus = Some(value),
            "--infra" => o.infra = Some(value),
            "--cpus" => o.cpus = Some(value),
            "--memory" => o.memory = Some(value),
            "--num-nodes" => o.num_nodes = Some(value.parse().expect("--num-nodes")),
            "--use-spot" => o.use_spot = Some(value == "true"),
            "--name" => o.name = Some(value),
            "--disk-size" => o.disk_size = Some(value),
            "--ports" => o.ports.push(value),
            "--image-id" => o.image_id = Some(value),
            other => panic!("unknown override directive {other}"),
        }
    }
    o
}

fn origin(path: &Path) -> String {
    // Relative, so expectations do not depend on where the repository lives.
    let parent = path.parent().and_then(Path::file_name).unwrap_or_default();
    format!(
        "{}/{}",
        parent.to_string_lossy(),
        path.file_name().unwrap_or_default().to_string_lossy()
    )
}

fn check_or_update(expected_path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected_path, actual).expect("write golden");
        return;
    }
    match std::fs::read_to_string(expected_path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        )),
        Err(_) => failures.push(format!(
            "{} is missing (run with UPDATE_GOLDEN=1)",
            expected_path.display()
        )),
    }
}

#[test]
fn valid_files_match_their_expected_model() {
    let files = yaml_files("valid");
    assert!(files.len() >= 35, "only {} valid golden files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let src = std::fs::read_to_string(path).expect("read");
        let overrides = overrides_from(&src);
        let chain = match TaskChain::from_yaml_str(&src, &origin(path), &overrides) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}: unexpected error: {e}", path.display()));
                continue;
            }
        };
        let json = serde_json::to_string_pretty(&chain).expect("json") + "\n";
        check_or_update(&path.with_extension("expected.json"), &json, &mut failures);

        let text = chain.to_yaml_string_with_secrets();
        match TaskChain::from_yaml_str(&text, "roundtrip", &Overrides::default()) {
            Ok(again) if again == chain => {}
            Ok(again) => failures.push(format!(
                "{}: output does not round-trip:\n{text}\n{again:#?}",
                path.display()
            )),
            Err(e) => failures.push(format!(
                "{}: output unreadable: {e}\n{text}",
                path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid_files_fail_with_their_expected_message() {
    let files = yaml_files("invalid");
    assert!(
        files.len() >= 25,
        "only {} invalid golden files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let src = std::fs::read(path).expect("read");
        let overrides = overrides_from(&String::from_utf8_lossy(&src));
        // Through the file API, so reading (and UTF-8 checking) is covered too.
        let rel = Path::new("tests/golden/invalid").join(path.file_name().unwrap_or_default());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let result = TaskChain::from_yaml_file(manifest.join(&rel), &overrides);
        let actual = match result {
            Ok(chain) => format!("unexpectedly valid: {chain:?}"),
            Err(e) => e
                .to_string()
                .replace(&format!("{}/", manifest.display()), ""),
        } + "\n";
        check_or_update(&path.with_extension("expected.txt"), &actual, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
