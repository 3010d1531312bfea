//! Builds the bundled providers (listed in `providers/bundled.txt`) for
//! `wasm32-wasip2`, to be embedded in aloft's binaries.
//!
//! The nested cargo uses its own target folder (`target/wasm`): sharing the outer
//! build's folder would deadlock on its lock.
//!
//! Each component is also compiled ahead of time (`compiled()`), with the engine
//! settings of `aloft::plugin::host`, when the build is for the machine it runs
//! on: a machine's first `aloft` command then loads them in milliseconds instead
//! of compiling them for seconds. A cross build embeds none (they compile on
//! first use there, as an installed provider does).
//!
//! It also embeds the small node agents (`core/agent`, static musl builds) that
//! `scripts/build-agents.sh` leaves in `<target>/node-agents/<arch>/aloft-agent`
//! (or `$ALOFT_NODE_AGENTS_DIR/<arch>/aloft-agent`). A build without them still
//! works: heads of the launcher's own platform then run the launcher itself.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // This crate lives at providers/bundled: the workspace root is two levels up.
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    write_node_agents(&root);
    let list = root.join("providers/bundled.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("providers/sdk").display()
    );
    let names: Vec<String> = std::fs::read_to_string(&list)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let target_dir = root.join("target/wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut entries = Vec::new();
    for name in &names {
        let dir = root.join("providers").join(name);
        println!("cargo:rerun-if-changed={}", dir.join("src").display());
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("Cargo.toml").display()
        );
        let mut command = Command::new(&cargo);
        command
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target_dir);
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_BUILD_RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
        ] {
            command.env_remove(var);
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo to build the `{name}` provider: {e}"));
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
                panic!(
                    "building the bundled providers needs the wasm32-wasip2 target: \
                     run `rustup target add wasm32-wasip2`"
                );
            }
            panic!("building the `{name}` provider failed:\n{stderr}");
        }
        let crate_name = format!("aloft_provider_{}", name.replace('-', "_"));
        let wasm = target_dir.join(format!("wasm32-wasip2/release/{crate_name}.wasm"));
        if !wasm.is_file() {
            panic!(
                "the `{name}` provider built, but {} is missing",
                wasm.display()
            );
        }
        entries.push(format!(
            "({name:?}, include_bytes!({:?}) as &[u8])",
            wasm.display().to_string()
        ));
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let compiled = compile_ahead(&names, &target_dir, &out_dir);
    let out = out_dir.join("bundled.rs");
    let code = format!(
        "/// The providers built into this binary: (name, component bytes).\n\
         pub fn providers() -> &'static [(&'static str, &'static [u8])] {{\n    &[{}]\n}}\n\
         /// The same providers compiled ahead of time for this machine: (name, compiled bytes).\n\
         pub fn compiled() -> &'static [(&'static str, &'static [u8])] {{\n    &[{}]\n}}\n",
        entries.join(", "),
        compiled.join(", ")
    );
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}

/// Compiles each provider's component with the engine settings the host uses
/// (`aloft::plugin::host::engine_config`: the component model and epoch
/// interruption), several at once; returns the `compiled()` entries. Nothing for
/// a cross build, or where a component does not compile (the host then compiles
/// it on first use and reports why).
fn compile_ahead(names: &[String], target_dir: &Path, out_dir: &Path) -> Vec<String> {
    println!("cargo:rerun-if-env-changed=ALOFT_NO_AHEAD_OF_TIME");
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    if !native || std::env::var_os("ALOFT_NO_AHEAD_OF_TIME").is_some() {
        return Vec::new();
    }
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    let engine = match wasmtime::Engine::new(&config) {
        Ok(engine) => engine,
        Err(e) => {
            println!("cargo:warning=components not compiled ahead of time: {e}");
            return Vec::new();
        }
    };
    let results: Vec<(String, Result<PathBuf, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                let engine = &engine;
                scope.spawn(move || {
                    let crate_name = format!("aloft_provider_{}", name.replace('-', "_"));
                    let wasm = target_dir.join(format!("wasm32-wasip2/release/{crate_name}.wasm"));
                    let dest = out_dir.join(format!("{crate_name}.cwasm"));
                    let result = std::fs::read(&wasm)
                        .map_err(|e| e.to_string())
                        .and_then(|bytes| {
                            engine
                                .precompile_component(&bytes)
                                .map_err(|e| format!("{e:#}"))
                        })
                        .and_then(|compiled| {
                            std::fs::write(&dest, compiled).map_err(|e| e.to_string())
                        })
                        .map(|()| dest);
                    (name.clone(), result)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().ok())
            .collect()
    });
    results
        .into_iter()
        .filter_map(|(name, result)| match result {
            Ok(path) => Some(format!(
                "({name:?}, include_bytes!({:?}) as &[u8])",
                path.display().to_string()
            )),
            Err(e) => {
                println!("cargo:warning=`{name}` not compiled ahead of time: {e}");
                None
            }
        })
        .collect()
}

/// Writes `node_agents.rs`: `node_agents()` over the agents found.
fn write_node_agents(root: &Path) {
    println!("cargo:rerun-if-env-changed=ALOFT_NODE_AGENTS_DIR");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let dir = std::env::var_os("ALOFT_NODE_AGENTS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("node-agents"))
        })
        .unwrap_or_else(|| root.join("target/node-agents"));
    let mut entries = Vec::new();
    for arch in ["x86_64", "aarch64"] {
        let path = dir.join(arch).join("aloft-agent");
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            let path = path.canonicalize().unwrap_or(path);
            entries.push(format!(
                "({arch:?}, include_bytes!({:?}) as &[u8])",
                path.display().to_string()
            ));
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("node_agents.rs");
    let code = format!(
        "/// The node agents built into this binary: (architecture, program bytes).\n\
         pub fn node_agents() -> &'static [(&'static str, &'static [u8])] {{\n    &[{}]\n}}\n",
        entries.join(", ")
    );
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
