#!/usr/bin/env python3
"""A test machine's power-off handler for the Compute Engine fake:
`gcp_guest_shutdown.py MAP_FILE IP FAKE_URL`.

The fake has no guests. On Compute Engine a shutdown from inside a VM
(`shutdown`, `poweroff`) always stops it: the VM becomes TERMINATED, Compute
Engine's stopped state. This does that, through the fake's control endpoint, for
the VMs whose external IP ssh_relay.py gave the machine at IP (MAP_FILE's
"assigned"), then stops the machine's aloft agent, as the shutdown would. Each call
is logged in MAP_FILE's folder (power-off.log).
"""
import json
import os
import signal
import sys
import urllib.request

map_file, ip, url = sys.argv[1:4]
with open(map_file) as f:
    assigned = json.load(f)["assigned"]
nat_ips = {node for node, target in assigned.items() if target[0] == ip}
if not nat_ips:
    sys.exit(f"gcp_guest_shutdown: no VM runs on the machine at {ip}")


def control(what, body=None):
    request = urllib.request.Request(
        f"{url}/_fake/{what}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


with open(os.path.join(os.path.dirname(map_file), "power-off.log"), "a") as log:
    for vm in control("state")["instances"]:
        ips = {ac.get("natIP") for nic in vm.get("networkInterfaces", [])
               for ac in nic.get("accessConfigs", [])}
        if ips & nat_ips:
            zone = vm["zone"].rsplit("/", 1)[-1]
            control("guest_shutdown", {"zone": zone, "name": vm["name"]})
            log.write(f"{vm['name']} {ip} stopped\n")
try:
    with open(os.path.expanduser("~/.aloft/agent/agent.pid")) as f:
        os.kill(int(f.read().strip()), signal.SIGTERM)
except (OSError, ValueError):
    pass
