//! Every SkyPilot example task file that SkyPilot 0.14 accepts must parse; the
//! `outdated/` ones (rejected by SkyPilot 0.14) must fail with a located error.
//!
//! Deliberate exceptions: none.

use std::path::{Path, PathBuf};

use aloft::task::{Overrides, TaskChain, TaskError};

/// `<repo>/../shared/reference/skypilot-examples`, found by walking up from this
/// crate (so a worktree nested deeper finds it too); `ALOFT_SKYPILOT_EXAMPLES`
/// overrides.
fn corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ALOFT_SKYPILOT_EXAMPLES") {
        return Some(PathBuf::from(dir));
    }
    let rel = Path::new("shared/reference/skypilot-examples");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = manifest
        .ancestors()
        .map(|a| a.join(rel))
        .find(|p| p.is_dir());
    if found.is_none() {
        println!(
            "SKIPPED: the SkyPilot example corpus (../shared/reference/skypilot-examples) is not beside this checkout; set ALOFT_SKYPILOT_EXAMPLES to run these checks"
        );
    }
    found
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

fn files() -> Option<(Vec<PathBuf>, Vec<PathBuf>)> {
    let root = corpus()?;
    assert!(
        root.is_dir(),
        "SkyPilot example corpus not found at {} (expected <repo>/../shared/reference/skypilot-examples \
         or ALOFT_SKYPILOT_EXAMPLES)",
        root.display()
    );
    let mut all = Vec::new();
    yaml_files(&root, &mut all);
    all.sort();
    Some(all.into_iter().partition(|p| {
        !p.strip_prefix(&root)
            .is_ok_and(|r| r.starts_with("outdated"))
    }))
}

#[test]
fn every_current_example_parses() {
    let Some((valid, _)) = files() else { return };
    assert!(
        valid.len() >= 15,
        "only {} example files found",
        valid.len()
    );
    let mut failures = Vec::new();
    for path in &valid {
        match TaskChain::from_yaml_file(path, &Overrides::default()) {
            Ok(chain) => {
                assert!(!chain.tasks().is_empty(), "{}", path.display());
                // What we write back must read back the same.
                let text = chain.to_yaml_string_with_secrets();
                let again = TaskChain::from_yaml_str(&text, "roundtrip", &Overrides::default())
                    .unwrap_or_else(|e| {
                        panic!("{}: re-reading output failed: {e}\n{text}", path.display())
                    });
                assert_eq!(
                    again,
                    chain,
                    "{} does not round-trip:\n{text}",
                    path.display()
                );
            }
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "examples rejected:\n{}",
        failures.join("\n")
    );
}

#[test]
fn outdated_examples_fail_with_a_located_error() {
    let Some((_, outdated)) = files() else { return };
    assert!(!outdated.is_empty(), "no outdated examples found");
    for path in &outdated {
        let err = TaskChain::from_yaml_file(path, &Overrides::default())
            .expect_err(&format!("{} should be rejected", path.display()));
        let TaskError::Invalid(loc) = &err else {
            panic!("{}: expected a located error, got {err}", path.display());
        };
        assert!(loc.line > 0 && loc.col > 0, "{err}");
        assert!(loc.path.starts_with("service.replica_policy."), "{err}");
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn the_spot_mixer_example_names_the_field() {
    let Some(corpus) = corpus() else { return };
    let path = corpus.join("outdated/examples/serve/spot-dynamic-failover-on-demand-fallback.yaml");
    let err = TaskChain::from_yaml_file(&path, &Overrides::default()).expect_err("outdated");
    let text = err.to_string();
    assert!(
        text.ends_with(
            "spot-dynamic-failover-on-demand-fallback.yaml:10:5: \
             service.replica_policy.spot_mixer: unknown field"
        ),
        "{text}"
    );
}
