#!/usr/bin/env bash
# Bucket COPY onto a 2-node `local` cluster: 1,000 objects of 200,000 bytes (200 MB)
# in moto, `aloft launch` of a task mounting them at ~/data; prints the launch's wall
# time and who read the objects' bytes, from moto's request log: GETs of an object
# without a pre-signed query are the launcher's, those with one the nodes'.
#
# usage: scripts/bench-bucket-copy.sh [ALOFT_BINARY] [LABEL]   (moto from .venv, as
# scripts/test.sh installs it)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/debug/aloft}
LABEL=${2:-run}
VENV=${ALOFT_MOTO_VENV:-$ROOT/.venv}
W=$(mktemp -d "/tmp/bench-bucket-copy-$LABEL.XXXX")
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" 2> "$W/moto.log" > /dev/null &
MOTO=$!
trap 'kill $MOTO 2>/dev/null' EXIT
sleep 3
"$VENV/bin/python" - <<PY
import boto3, os
s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:$PORT', region_name='us-east-1',
                  aws_access_key_id='AKIABENCH', aws_secret_access_key='bench')
s3.create_bucket(Bucket='bench')
for i in range(1000):
    s3.put_object(Bucket='bench', Key='data/d%02d/f%04d.bin' % (i % 10, i), Body=os.urandom(200_000))
PY
mkdir -p "$W/home" "$W/user"
printf 'providers:\n  aws:\n    endpoint: http://127.0.0.1:%s\n' "$PORT" > "$W/home/config.yaml"
printf 'resources: {infra: local}\nnum_nodes: 2\nfile_mounts:\n  ~/data: s3://bench/data\nrun: echo files=$(find ~/data -type f | wc -l) bytes=$(find ~/data -type f -printf "%%s\\n" | paste -sd+ | bc)\n' > "$W/task.yaml"
SKIP=$(wc -l < "$W/moto.log")
START=$(date +%s.%N)
ALOFT_HOME=$W/home HOME=$W/user AWS_ACCESS_KEY_ID=AKIABENCH AWS_SECRET_ACCESS_KEY=bench \
  "$BIN" launch -y -c bench "$W/task.yaml" > "$W/out.txt" 2> "$W/err.txt"
RC=$?
END=$(date +%s.%N)
tail -n +"$((SKIP + 1))" "$W/moto.log" > "$W/launch-requests.log"
echo "$LABEL: exit $RC, launch $(echo "$END - $START" | bc) s"
grep -E "files=" "$W/out.txt"
LAUNCHER=$(grep -cE '"GET /bench/data/[^ ?]+ HTTP' "$W/launch-requests.log")
NODES=$(grep -cE '"GET /bench/data/[^ ]+\?[^ ]*X-Amz-Signature' "$W/launch-requests.log")
echo "object GETs by the launcher: $LAUNCHER ($((LAUNCHER * 200000)) bytes); by the nodes (pre-signed): $NODES ($((NODES * 200000)) bytes)"
STAGED=$(du -sb "$W/home/cache/storage" 2>/dev/null | cut -f1)
echo "staged under ALOFT_HOME/cache/storage: ${STAGED:-0} bytes"
ALOFT_HOME=$W/home HOME=$W/user "$BIN" down -y bench > /dev/null 2>&1
rm -rf "$W"
