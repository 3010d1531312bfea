//! Embeds the small node agents (`core/agent`, static musl builds) that
//! `scripts/build-agents.sh` leaves in `<target>/node-agents/<arch>/aloft-agent`
//! (or `$ALOFT_NODE_AGENTS_DIR/<arch>/aloft-agent`). A build without them still
//! works: heads of this machine's own architecture then run this program itself.

use std::path::PathBuf;

const ARCHES: [&str; 2] = ["x86_64", "aarch64"];

fn main() {
    println!("cargo:rerun-if-env-changed=ALOFT_NODE_AGENTS_DIR");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = std::env::var_os("ALOFT_NODE_AGENTS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("node-agents"))
        })
        .unwrap_or_else(|| manifest.join("../target/node-agents"));
    let mut entries = String::new();
    for arch in ARCHES {
        let path = dir.join(arch).join("aloft-agent");
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            let path = path.canonicalize().unwrap_or(path);
            entries.push_str(&format!(
                "    ({arch:?}, include_bytes!({:?})),\n",
                path.display().to_string()
            ));
        }
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("node_agents.rs");
    let code = format!(
        "/// The node agents embedded at build time, as `(architecture, program)`.\n\
         pub const NODE_AGENTS: &[(&str, &[u8])] = &[\n{entries}];\n"
    );
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
