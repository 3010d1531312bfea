#!/usr/bin/env bash
# Serving on the `local` provider with default controller settings (poll 4 s,
# SkyServe's probe interval of 10 s): how long from a replica's death to its
# removal from the balancer's set (under a light load of ~20 requests/s), and from a
# spot replica's preemption to its replacement's launch; then, with S services of 2
# replicas each, the controller's RSS.
# Usage: scripts/bench-serve-local.sh [S] [ALOFT_BINARY]   (default 100, target/release/aloft)
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-100}
A=${2:-$PWD/target/release/aloft}
W=$(mktemp -d /tmp/aloft-serve-bench.XXXXXX)
export ALOFT_HOME=$W/home
mkdir -p "$ALOFT_HOME"
trap '"$A" serve down -a -y >/dev/null 2>&1 || true; pkill -f "$W" || true' EXIT
LOG=$ALOFT_HOME/serve-controller.log
ms() { python3 -c 'import time; print(int(time.time()*1000))'; }
# The log's first field is Unix time with milliseconds.
first_after() { # first log line matching $2 stamped after $1 (ms); prints its stamp in ms
    python3 - "$1" "$2" "$LOG" <<'PY'
import re, sys, time
after, pattern, log = int(sys.argv[1]), re.compile(sys.argv[2]), sys.argv[3]
deadline = time.time() + 120
while time.time() < deadline:
    for line in open(log):
        stamp = line.split(" ", 1)[0]
        if "." in stamp and pattern.search(line):
            t = int(float(stamp) * 1000)
            if t >= after:
                print(t); sys.exit(0)
    time.sleep(0.05)
sys.exit("not seen: " + sys.argv[2])
PY
}
wait_ready() { # service $1 has $2 READY replicas
    until "$A" serve status "$1" -o json | python3 -c "import json,sys; s=json.load(sys.stdin)[0]; sys.exit(0 if sum(r['status']=='READY' for r in s['replicas'])==$2 and len(s['replicas'])==$2 else 1)"; do sleep 0.5; done
}
cat > "$W/svc.yaml" <<YAML
resources: {infra: local}
service: {readiness_probe: /, replicas: 2, ports: 8080}
run: exec python3 -m http.server \$ALOFT_SERVE_PORT --bind 127.0.0.1 --directory $W
YAML
"$A" serve up -y -n web "$W/svc.yaml" >/dev/null 2>&1
wait_ready web 2
endpoint=$("$A" serve status web --endpoint)
( while :; do curl -s -o /dev/null "$endpoint/" || true; sleep 0.05; done ) &
LOAD=$!
port=$("$A" serve status web -o json | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['replicas'][0]['port'])")
t0=$(ms); pkill -f "http.server $port"
t1=$(first_after "$t0" "\[lb web\] replicas")
echo "replica death -> out of the balancer's set: $((t1 - t0)) ms"
kill $LOAD
"$A" serve down -y web >/dev/null 2>&1

sed 's/resources: {infra: local}/resources: {infra: local, use_spot: true}/; s/replicas: 2/replicas: 1/' "$W/svc.yaml" > "$W/spot.yaml"
"$A" serve up -y -n spot "$W/spot.yaml" >/dev/null 2>&1
wait_ready spot 1
cluster=$("$A" serve status spot -o json | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['replicas'][0]['cluster'])")
t0=$(ms); printf 'providers:\n  local:\n    preempt: [%s]\n' "$cluster" > "$ALOFT_HOME/config.yaml"
t1=$(first_after "$t0" "service spot: launching replica")
echo "spot preemption -> replacement launch requested: $((t1 - t0)) ms"
: > "$ALOFT_HOME/config.yaml"
"$A" serve down -y spot >/dev/null 2>&1

for i in $(seq "$S"); do "$A" serve up -y -n "s$i" "$W/svc.yaml" >/dev/null 2>&1; done
until [ "$("$A" serve status -o json | python3 -c "import json,sys; print(sum(r['status']=='READY' for s in json.load(sys.stdin) for r in s['replicas']))")" = $((2 * S)) ]; do sleep 2; done
pid=$(pgrep -f "serve-controller --home $ALOFT_HOME" | head -1)
echo "controller with $S services, $((2 * S)) replicas ready: RSS $(awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$pid/status), peak $(awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$pid/status)"
t0=$(ms); "$A" serve down -a -y >/dev/null 2>&1; echo "serve down -a of $S services: $(( $(ms) - t0 )) ms"
