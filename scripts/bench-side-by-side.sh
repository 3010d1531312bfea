#!/usr/bin/env bash
# Side by side: `status` over 100 clusters, `exec` and `launch` on local to the
# job's end, for two release binaries (e.g. a worktree of an older commit built with
# CARGO_TARGET_DIR=/tmp/before cargo build --release -p aloft-cli). Needs hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:?usage: scripts/bench-side-by-side.sh BEFORE_BINARY [AFTER_BINARY]}
A=${2:-$PWD/target/release/aloft}
for which in before after; do
  bin=$B; [ $which = after ] && bin=$A
  H=$(mktemp -d); export ALOFT_HOME=$H
  $bin status >/dev/null
  python3 - "$H/state.db" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); now = int(time.time())
for i in range(100):
    c.execute("INSERT INTO clusters (name, provider, region, zone, instance_type, num_nodes, use_spot, resources_json, status, hourly_price, launched_at, status_updated_at, nodes_json) VALUES (?, 'aws', 'us-east-1', NULL, 'm6i.large', 1, 0, '{}', 'UP', 0.1, ?, ?, 'null')", (f"c{i}", now, now))
c.commit()
PY
  echo "== $which"
  hyperfine -N --warmup 3 --runs 30 --export-json /tmp/status-$which.json "$bin status" 2>&1 | grep -E "Time|Range"
  H2=$(mktemp -d); export ALOFT_HOME=$H2
  $bin launch -y -c bench examples/hello.yaml >/dev/null 2>&1
  hyperfine -N --warmup 2 --runs 20 --export-json /tmp/exec-$which.json "$bin exec bench 'echo hi'" 2>&1 | grep -E "Time|Range"
  hyperfine --warmup 1 --runs 10 --export-json /tmp/launch-$which.json -p "$bin down -y bench-l >/dev/null 2>&1 || true" "$bin launch -y -c bench-l examples/hello.yaml" 2>&1 | grep -E "Time|Range"
  $bin down -y bench bench-l >/dev/null 2>&1 || true
done
