#!/usr/bin/env python3
"""An SSH ProxyCommand for tests: `ssh_relay.py MAP_FILE HOST`.

The cloud emulator invents node addresses that lead nowhere; this relay gives each
address it sees the next free local sshd "machine" listed in MAP_FILE (JSON:
{"machines": [[ip, port], ...], "assigned": {host: [ip, port]}}) and pipes the SSH
connection to it. Assignments are kept in the file (under a lock), so a node keeps
its machine across connections.
"""
import fcntl
import json
import os
import socket
import sys
import threading

map_file, host = sys.argv[1], sys.argv[2]
with open(map_file, "r+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    data = json.load(f)
    target = data["assigned"].get(host)
    if target is None:
        used = [tuple(t) for t in data["assigned"].values()]
        free = [m for m in data["machines"] if tuple(m) not in used]
        if not free:
            sys.exit(f"ssh_relay: no machine left for {host}")
        target = free[0]
        data["assigned"][host] = target
        f.seek(0)
        f.truncate()
        json.dump(data, f)

sock = socket.create_connection((target[0], int(target[1])))


def upstream():
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            sock.shutdown(socket.SHUT_WR)
            return
        sock.sendall(chunk)


threading.Thread(target=upstream, daemon=True).start()
while True:
    chunk = sock.recv(65536)
    if not chunk:
        break
    os.write(1, chunk)
