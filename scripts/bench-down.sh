#!/usr/bin/env bash
# `aloft down -a` of N clusters on aws-over-moto whose heads never came up: each
# record names a head at a loopback port that accepts TCP and never answers (a
# black hole, as an unbooted VM looks to ssh), and moto holds each cluster's
# instance. Measures the whole command; checks moto afterwards.
# Usage: scripts/bench-down.sh [N] [ALOFT_BINARY]   (default 20, target/release/aloft)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
A=${2:-$PWD/target/release/aloft}
PY=$PWD/.venv/bin/python
W=$(mktemp -d)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
MOTO_PORT=$($PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$PWD/.venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$W/moto.log" 2>&1 & echo $! > "$W/moto.pid"
HOLE_PORT=$($PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$PY -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $HOLE_PORT)); s.listen(512)
held = []
while True:
    c, _ = s.accept(); held.append(c)   # accept, never answer
" & echo $! > "$W/hole.pid"
for _ in $(seq 50); do curl -s "http://127.0.0.1:$MOTO_PORT/" >/dev/null && break; sleep 0.1; done
export ALOFT_HOME=$W/home AWS_ACCESS_KEY_ID=AKIABENCH AWS_SECRET_ACCESS_KEY=bench AWS_SHARED_CREDENTIALS_FILE=/nonexistent
mkdir -p "$ALOFT_HOME"
printf 'providers:\n  aws:\n    endpoint: http://127.0.0.1:%s\n' "$MOTO_PORT" > "$ALOFT_HOME/config.yaml"
"$A" status >/dev/null
$PY - "$N" "$MOTO_PORT" "$HOLE_PORT" "$ALOFT_HOME/state.db" "$ALOFT_HOME/keys" <<'PYEOF'
import json, sqlite3, sys, time, boto3
n, moto, hole, db, keys = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{moto}",
                   aws_access_key_id="AKIABENCH", aws_secret_access_key="bench")
ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
conn = sqlite3.connect(db)
now = int(time.time())
for i in range(n):
    name = f"never-up-{i}"
    ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m6i.large",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "aloft-cluster", "Value": name}, {"Key": "aloft-role", "Value": "head"}]}])
    head = {"kind": "ssh", "host": "127.0.0.1", "port": hole, "user": "ubuntu",
            "identity_file": f"{keys}/aloft-key", "proxy_command": None,
            "root": ".aloft/agent", "binary": ".aloft/bin/aloft"}
    node = {"kind": "ssh", "id": f"i-{i}", "host": "127.0.0.1", "port": hole, "user": "ubuntu",
            "identity_file": f"{keys}/aloft-key", "proxy_command": None, "ip": "10.0.0.1"}
    conn.execute("INSERT INTO clusters (name, provider, region, zone, instance_type, num_nodes, use_spot,"
                 " resources_json, status, hourly_price, launched_at, status_updated_at, nodes_json)"
                 " VALUES (?, 'aws', 'us-east-1', NULL, 'm6i.large', 1, 0, '{}', 'INIT', 0.096, ?, ?, ?)",
                 (name, now, now, json.dumps({"head": head, "ips": ["10.0.0.1"], "nodes": [node]})))
conn.commit()
print(f"{n} clusters recorded; their heads are a black hole at 127.0.0.1:{hole}")
PYEOF
START=$(date +%s.%N)
"$A" down -a -y >/dev/null 2>"$W/down.log" || { cat "$W/down.log"; exit 1; }
END=$(date +%s.%N)
echo "aloft down -a of $N clusters: $(python3 -c "print(f'{$END - $START:.2f}')") s"
$PY - "$MOTO_PORT" <<'PYEOF'
import sys, boto3
ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}",
                   aws_access_key_id="AKIABENCH", aws_secret_access_key="bench")
states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
print("moto instance states after:", {s: states.count(s) for s in set(states)})
PYEOF
