#!/usr/bin/env bash
# N concurrent streaming responses through one `aloft serve` balancer on the
# `local` provider: each stream sends a chunk every 50 ms for D seconds (an LLM
# server's token stream); meanwhile the serve controller's process (which runs the
# balancer) is sampled for RSS and CPU. Prints its RSS before and at the peak, its
# CPU use over the window, and how many streams got every chunk.
# Usage: scripts/bench-serve-streams.sh [N] [D] [ALOFT_BINARY]   (default 1000, 20, target/release/aloft)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
D=${2:-20}
A=${3:-$PWD/target/release/aloft}
W=$(mktemp -d /tmp/aloft-serve-streams.XXXXXX)
export ALOFT_HOME=$W/home
mkdir -p "$ALOFT_HOME"
trap '"$A" serve down -a -y >/dev/null 2>&1 || true; pkill -f "$W" || true' EXIT
cat > "$W/replica.py" <<PY
import asyncio, os
async def serve(reader, writer):
    try:
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(int(20 * $D)):
            data = b"data: token %d\n\n" % i
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(os.environ["ALOFT_SERVE_PORT"]), backlog=4096)
    await server.serve_forever()
asyncio.run(main())
PY
cat > "$W/svc.yaml" <<YAML
resources: {infra: local}
service: {readiness_probe: /, replicas: 2, ports: 8080, load_balancing_policy: least_load}
run: exec python3 $W/replica.py
YAML
"$A" serve up -y -n streams "$W/svc.yaml" >/dev/null 2>&1
until "$A" serve status streams -o json | python3 -c "import json,sys; s=json.load(sys.stdin)[0]; sys.exit(0 if sum(r['status']=='READY' for r in s['replicas'])==2 else 1)"; do sleep 0.5; done
endpoint=$("$A" serve status streams --endpoint)
pid=$(pgrep -f "serve-controller --home $ALOFT_HOME" | head -1)
python3 - "$endpoint" "$N" "$D" "$pid" <<'PY'
import asyncio, os, sys, time, urllib.parse
url, n, d, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
u = urllib.parse.urlparse(url)
tick = os.sysconf("SC_CLK_TCK")
def sample():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / tick
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024
    return cpu, rss
async def stream():
    reader, writer = await asyncio.open_connection(u.hostname, u.port, limit=1 << 20)
    writer.write(f"GET / HTTP/1.1\r\nHost: {u.hostname}\r\n\r\n".encode())
    await writer.drain()
    body = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        body += chunk
        if body.endswith(b"0\r\n\r\n"):
            break
    writer.close()
    return body.count(b"data: token")
async def main():
    cpu0, rss0 = sample()
    peak = [rss0]
    done = asyncio.Event()
    async def watch():
        while not done.is_set():
            peak[0] = max(peak[0], sample()[1])
            await asyncio.sleep(0.2)
    watcher = asyncio.create_task(watch())
    t0 = time.time()
    counts = await asyncio.gather(*(stream() for _ in range(n)), return_exceptions=True)
    wall = time.time() - t0
    done.set(); await watcher
    cpu1, _ = sample()
    whole = sum(1 for c in counts if c == 20 * d)
    print(f"{n} streams x {d} s through the balancer: {whole} got all {20 * d} chunks; wall {wall:.1f} s")
    print(f"controller (balancer) RSS: {rss0:.1f} MiB before, {peak[0]:.1f} MiB peak; CPU {cpu1 - cpu0:.2f} s over the window ({100 * (cpu1 - cpu0) / wall:.0f}% of one core)")
asyncio.run(main())
PY
