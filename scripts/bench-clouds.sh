#!/usr/bin/env bash
# Benchmarks (not timed tests) against the cloud fakes on loopback:
# `aloft check` with gcp, lambda and runpod configured (one concurrent call per
# provider; target < 100 ms), and a launch to the job's end on the GCP, Lambda and RunPod
# fakes. Prints `BENCH ...` lines; record them in docs/benchmarks.md.
#
#   scripts/bench-clouds.sh [RUNS]        (default 10; launches: at most 5)
#   PROFILE=release scripts/bench-clouds.sh   (the figures that count)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
profile=()
if [ "${PROFILE:-debug}" = release ]; then profile=(--release); fi
ALOFT_BENCH_RUNS="$runs" cargo test "${profile[@]}" -p aloft-cli --test cloud_failover \
  bench_check_and_launch_against_each_fake -- --ignored --nocapture 2>&1 | grep '^BENCH'
