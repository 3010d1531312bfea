//! Test components (`tests/components/<name>`), built once per test run for
//! `wasm32-wasip2` into `target/wasm` (their own workspace each), and the bundled
//! providers, built the same way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

fn build(manifest: &Path, artifact: &str) -> Vec<u8> {
    // One build at a time: parallel tests would contend for the same target dir.
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let target = repo().join("target/wasm");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building {} failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = target.join(format!("wasm32-wasip2/release/{artifact}.wasm"));
    std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()))
}

/// The component of test crate `tests/components/<name>`.
pub fn test_component(name: &str) -> Vec<u8> {
    build(
        &repo().join(format!("tests/components/{name}/Cargo.toml")),
        name,
    )
}

/// An example provider (`providers/examples/<name>`), whose artifact is the crate
/// name with `-` as `_`.
pub fn example(name: &str) -> Vec<u8> {
    build(
        &repo().join(format!("providers/examples/{name}/Cargo.toml")),
        &name.replace('-', "_"),
    )
}

/// A bundled provider (`providers/<name>`).
pub fn provider(name: &str) -> Vec<u8> {
    build(
        &repo().join(format!("providers/{name}/Cargo.toml")),
        &format!("aloft_provider_{name}"),
    )
}
