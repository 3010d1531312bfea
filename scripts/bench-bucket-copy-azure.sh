#!/usr/bin/env bash
# Azure Blob COPY onto a 2-node `local` cluster: 1,000 blobs of 200,000 bytes (200 MB)
# in Azurite, `aloft launch` of a task mounting them at ~/data; prints the launch's
# wall time and who read the blobs' bytes, from Azurite's access log: GETs of a blob
# without a SAS (`sig=`) are account-key requests (the launcher's), those with one
# the nodes'.
#
# usage: scripts/bench-bucket-copy-azure.sh [ALOFT_BINARY] [LABEL]   (Azurite from
# .npm-tools and azure-storage-blob from .venv, as scripts/test.sh installs them)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/debug/aloft}
LABEL=${2:-run}
W=$(mktemp -d "/tmp/bench-bucket-copy-azure-$LABEL.XXXX")
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
AZURITE_ACCOUNTS="bench:$KEY" "$ROOT/.npm-tools/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
  --blobPort "$PORT" --location "$W/azurite" --skipApiVersionCheck --loose --disableTelemetry > "$W/access.log" 2>&1 &
AZURITE=$!
trap 'kill $AZURITE 2>/dev/null' EXIT
sleep 3
CS="DefaultEndpointsProtocol=http;AccountName=bench;AccountKey=$KEY;BlobEndpoint=http://127.0.0.1:$PORT/bench;"
"$ROOT/.venv/bin/python" - "$CS" <<'PY'
import os, sys
from concurrent.futures import ThreadPoolExecutor
from azure.storage.blob import BlobServiceClient
c = BlobServiceClient.from_connection_string(sys.argv[1]).create_container('bench')
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda i: c.upload_blob('data/d%02d/f%04d.bin' % (i % 10, i), os.urandom(200_000)), range(1000)))
PY
mkdir -p "$W/home" "$W/user"
printf 'resources: {infra: local}\nnum_nodes: 2\nfile_mounts:\n  ~/data: https://bench.blob.core.windows.net/bench/data\nrun: echo files=$(find ~/data -type f | wc -l) bytes=$(find ~/data -type f -printf "%%s\\n" | paste -sd+ | bc)\n' > "$W/task.yaml"
SKIP=$(wc -l < "$W/access.log")
START=$(date +%s.%N)
ALOFT_HOME=$W/home HOME=$W/user AZURE_STORAGE_CONNECTION_STRING=$CS \
  "$BIN" launch -y -c bench "$W/task.yaml" > "$W/out.txt" 2> "$W/err.txt"
RC=$?
END=$(date +%s.%N)
tail -n +"$((SKIP + 1))" "$W/access.log" > "$W/launch-requests.log"
echo "$LABEL: exit $RC, launch $(echo "$END - $START" | bc) s"
grep -E "files=" "$W/out.txt"
LAUNCHER=$(grep -cE '"GET /bench/bench/data/[^ ?]+ HTTP' "$W/launch-requests.log")
NODES=$(grep -cE '"GET /bench/bench/data/[^ ]+\?[^ ]*sig=' "$W/launch-requests.log")
echo "blob GETs with the account key (the launcher): $LAUNCHER ($((LAUNCHER * 200000)) bytes); with a SAS (the nodes): $NODES ($((NODES * 200000)) bytes)"
ALOFT_HOME=$W/home HOME=$W/user "$BIN" down -y bench > /dev/null 2>&1
rm -rf "$W"
