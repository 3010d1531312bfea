#!/usr/bin/env bash
# Builds the small static node agent (core/agent) for x86_64 and aarch64 Linux
# (musl), with cargo-zigbuild and zig from PyPI for the C parts (SQLite), and puts
# them where providers/bundled/build.rs embeds them: <target>/node-agents/<arch>/aloft-agent.
# Then rebuild aloft (cargo build) to ship them. Prints each agent's size.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target/zig-venv"
# zig and cargo-zigbuild both come as wheels from PyPI (installing cargo-zigbuild
# with `cargo install` compiled it for over a minute).
if [ ! -x "$venv/bin/cargo-zigbuild" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'ziglang==0.17.1' 'cargo-zigbuild==0.24.1'
fi
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null
export PATH="$venv/bin:$PATH"
# Both targets in one cargo run, so the two builds share the cores.
cargo zigbuild -q --profile agent -p aloft-agent \
    --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl
for arch in x86_64 aarch64; do
    triple="$arch-unknown-linux-musl"
    built="$target/$triple/agent/aloft-agent"
    dest="$target/node-agents/$arch/aloft-agent"
    mkdir -p "$(dirname "$dest")"
    # Unchanged agents keep their time, so aloft is not rebuilt for nothing.
    if ! cmp -s "$built" "$dest"; then
        cp "$built" "$dest.new" && mv "$dest.new" "$dest"
    fi
    echo "node agent $arch: $(stat -c %s "$target/node-agents/$arch/aloft-agent") bytes"
done
