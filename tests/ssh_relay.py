#!/usr/bin/env python3
"""An SSH ProxyCommand for tests: `ssh_relay.py MAP_FILE HOST [MOTO_URL [REGIONS]]`.

The cloud emulator invents node addresses that lead nowhere; this relay gives each
node the next free local sshd "machine" listed in MAP_FILE (JSON:
{"machines": [[ip, port], ...], "assigned": {node: [ip, port]}}) and pipes the SSH
connection to it. Assignments are kept in the file (under a lock), so a node keeps
its machine across connections. With MOTO_URL the node is the EC2 instance that
owns HOST as its public address right now (asked of moto with boto3), so an
instance keeps its machine when a stop/start gives it a new address, and an
address no instance owns any more leads nowhere, as on AWS. REGIONS (comma-separated,
default us-east-1) are the regions whose instances are looked at, in order.
"""
import fcntl
import json
import os
import socket
import sys
import threading

map_file, host = sys.argv[1], sys.argv[2]
node = host
if len(sys.argv) > 3:
    import boto3

    regions = sys.argv[4].split(",") if len(sys.argv) > 4 else ["us-east-1"]
    found = []
    for region in regions:
        ec2 = boto3.client("ec2", endpoint_url=sys.argv[3], region_name=region,
                           aws_access_key_id="AKIARELAY", aws_secret_access_key="relay")
        found = [i["InstanceId"]
                 for r in ec2.describe_instances(Filters=[{"Name": "ip-address", "Values": [host]}])["Reservations"]
                 for i in r["Instances"] if i["State"]["Name"] == "running"]
        if found:
            break
    if not found:
        sys.exit(f"ssh_relay: no running instance has the address {host}")
    node = found[0]
with open(map_file, "r+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    data = json.load(f)
    target = data["assigned"].get(node)
    if target is None:
        used = [tuple(t) for t in data["assigned"].values()]
        free = [m for m in data["machines"] if tuple(m) not in used]
        if not free:
            sys.exit(f"ssh_relay: no machine left for {node}")
        target = free[0]
        data["assigned"][node] = target
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
