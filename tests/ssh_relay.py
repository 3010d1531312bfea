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

Like a cloud's first boot, the relay authorizes the keys the cloud was given for
the node on the node's machine, when its MAP_FILE entry names that machine's
authorized_keys file as a third element ([ip, port, path]): with MOTO_URL the
instance's EC2 key pair, and the SSH host key its user data gives cloud-init
(`ssh_keys`), which the machine's sshd then answers with (it is reloaded), unless
MAP_FILE says `"host_keys": false` (then the machine keeps its own key: another
machine answering at the node's address); with `--keys lambda=URL` or `--keys gcp=URL` (given
first) the keys the fake Lambda Cloud or GCP at URL holds for the instance at
HOST (its `/_fake/state`). A machine then opens only to the keys its cloud
installed.
"""
import fcntl
import json
import os
import socket
import sys
import threading

# The first boot's host key, as the fakes of other clouds play it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakes"))
from first_boot import host_key_of, install_key_pair  # noqa: E402

args = sys.argv[1:]
keys_from = None
if args[:1] == ["--keys"]:
    keys_from, args = args[1].split("=", 1), args[2:]
map_file, host = args[0], args[1]
node = host
installed = []  # public keys the cloud put on the node
host_key = None  # (private, public) the cloud's first boot installs as the host key
if len(args) > 2:
    import boto3

    regions = args[3].split(",") if len(args) > 3 else ["us-east-1"]
    found = []
    for region in regions:
        ec2 = boto3.client("ec2", endpoint_url=args[2], region_name=region,
                           aws_access_key_id="AKIARELAY", aws_secret_access_key="relay")
        found = [i
                 for r in ec2.describe_instances(Filters=[{"Name": "ip-address", "Values": [host]}])["Reservations"]
                 for i in r["Instances"] if i["State"]["Name"] == "running"]
        if found:
            break
    if not found:
        sys.exit(f"ssh_relay: no running instance has the address {host}")
    node = found[0]["InstanceId"]
    import base64

    user_data = ec2.describe_instance_attribute(InstanceId=node, Attribute="userData")
    encoded = user_data.get("UserData", {}).get("Value")
    if encoded:
        host_key = host_key_of(base64.b64decode(encoded).decode())
    if found[0].get("KeyName"):
        pairs = ec2.describe_key_pairs(KeyNames=[found[0]["KeyName"]], IncludePublicKey=True)
        installed = [k["PublicKey"] for k in pairs["KeyPairs"]]
elif keys_from:
    import urllib.request

    kind, url = keys_from
    state = json.load(urllib.request.urlopen(f"{url.rstrip('/')}/_fake/state"))
    for i in state["instances"]:
        if kind == "lambda" and i.get("ip") == host and i["status"] != "terminated":
            names = set(i["ssh_key_names"])
            installed += [k["public_key"] for k in state["ssh_keys"] if k["name"] in names]
        nats = [a.get("natIP") for n in i.get("networkInterfaces", []) for a in n.get("accessConfigs", [])]
        if kind == "gcp" and host in nats and i.get("status") != "TERMINATED":
            items = i.get("metadata", {}).get("items", [])
            for m in items:
                if m.get("key") == "user-data":
                    host_key = host_key_of(m.get("value", ""))
            lines = [l for m in items if m.get("key") == "ssh-keys" for l in m["value"].splitlines()]
            installed += [l.split(":", 1)[1] for l in lines if ":" in l]
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
    if target is not None and data["assigned"].get(node) == target and host_key \
            and len(target) > 2 and data.get("host_keys", True) \
            and node not in data.setdefault("host_keyed", []):
        # First boot: the machine's sshd answers with the cloud-given host key.
        install_key_pair(target, *host_key)
        data["host_keyed"].append(node)
        f.seek(0)
        f.truncate()
        json.dump(data, f)
    if len(target) > 2 and installed:
        with open(target[2], "a+") as keys:
            keys.seek(0)
            have = keys.read()
            for key in installed:
                if key.strip() not in have:
                    keys.write(("" if have.endswith("\n") or not have else "\n") + key.strip() + "\n")
                    have += key.strip() + "\n"

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
