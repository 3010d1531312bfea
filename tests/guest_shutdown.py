#!/usr/bin/env python3
"""A test machine's power-off handler for the moto tests:
`guest_shutdown.py MAP_FILE IP MOTO_URL`.

moto has no guests. On EC2 a shutdown from inside an instance (`shutdown`,
`poweroff`) stops or terminates it, as its InstanceInitiatedShutdownBehavior
attribute says; this does that, through moto's API, for the instance that
ssh_relay.py gave the machine at IP (MAP_FILE's "assigned"), then stops the
machine's aloft agent, as the shutdown would. Each call is logged in MAP_FILE's
folder (power-off.log).
"""
import json
import os
import signal
import sys

import boto3

map_file, ip, url = sys.argv[1:4]
with open(map_file) as f:
    assigned = json.load(f)["assigned"]
ids = [node for node, target in assigned.items() if target[0] == ip]
if not ids:
    sys.exit(f"guest_shutdown: no instance runs on the machine at {ip}")
ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="AKIAGUEST", aws_secret_access_key="guest")
with open(os.path.join(os.path.dirname(map_file), "power-off.log"), "a") as log:
    for instance in ids:
        attribute = ec2.describe_instance_attribute(
            InstanceId=instance, Attribute="instanceInitiatedShutdownBehavior")
        behavior = attribute["InstanceInitiatedShutdownBehavior"]["Value"]
        if behavior == "terminate":
            ec2.terminate_instances(InstanceIds=[instance])
        else:
            ec2.stop_instances(InstanceIds=[instance])
        log.write(f"{instance} {ip} {behavior}\n")
try:
    with open(os.path.expanduser("~/.aloft/agent/agent.pid")) as f:
        os.kill(int(f.read().strip()), signal.SIGTERM)
except (OSError, ValueError):
    pass
