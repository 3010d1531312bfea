#!/usr/bin/env bash
# N managed jobs in flight on one controller, through the real controller and its
# real backend (ClientBackend) on the `local` provider: each job is a cluster of
# its own running `sleep 3600`. Measures the submission rate of `aloft jobs
# launch -d`, the time until all N run, then the controller's peak RSS and CPU
# over 60 s of watching them (default settings: poll 5 s), then `jobs cancel -a`
# until every cluster is gone.
# Usage: scripts/bench-jobs-local.sh [N] [ALOFT_BINARY]   (default 1000, target/release/aloft)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
A=${2:-$PWD/target/release/aloft}
W=$(mktemp -d /tmp/aloft-jobs-bench.XXXXXX)
export ALOFT_HOME=$W/home
mkdir -p "$ALOFT_HOME"
trap '"$A" jobs cancel -a -y >/dev/null 2>&1 || true' EXIT
printf 'name: sleeper\nresources: {infra: local}\nrun: sleep 3600\n' > "$W/job.yaml"
now() { date +%s.%N; }
count() { # jobs in status $1
    "$A" jobs queue -a -o json | python3 -c "import json,sys; print(sum(j['status']=='$1' for j in json.load(sys.stdin)))"
}

t0=$(now)
for _ in $(seq "$N"); do "$A" jobs launch -d -y "$W/job.yaml" >/dev/null; done
t1=$(now)
echo "submitted $N jobs in $(echo "$t1 - $t0" | bc) s ($(echo "scale=1; $N / ($t1 - $t0)" | bc) jobs/s)"

while :; do
    running=$(count RUNNING)
    echo "  [$(echo "$(now) - $t0" | bc | cut -c1-6) s] $running of $N running"
    [ "$running" -ge "$N" ] && break
    sleep 10
done
t2=$(now)
echo "all $N running $(echo "$t2 - $t0" | bc) s after the first submission"

pid=""
for p in $(pgrep -f "jobs controller"); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "ALOFT_HOME=$ALOFT_HOME"; then pid=$p; fi
done
[ -n "$pid" ] || { echo "no controller found" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
c0=$(ticks)
sleep "${WATCH_SECS:-60}"
c1=$(ticks)
echo "controller pid $pid: $(grep -E 'VmHWM|VmRSS' "/proc/$pid/status" | tr -s ' \n' ' ')"
echo "controller CPU over ${WATCH_SECS:-60} s watching $N jobs: $(echo "scale=2; ($c1 - $c0) / $hz" | bc) s = $(echo "scale=3; ($c1 - $c0) * 1000 * 60 / ${WATCH_SECS:-60} / $hz / $N" | bc) ms per job per minute"
echo "processes of the local clusters: $(pgrep -fc "$ALOFT_HOME" || true)"

t3=$(now)
"$A" jobs cancel -a -y >/dev/null 2>&1
while :; do
    left=$("$A" jobs queue -o json | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
    [ "$left" -eq 0 ] && break
    sleep 5
done
t4=$(now)
echo "cancel -a until all $N ended: $(echo "$t4 - $t3" | bc) s; clusters left: $("$A" status -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
