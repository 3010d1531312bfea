#!/usr/bin/env python3
"""A stateful fake of Nebius AI Cloud's gRPC API, for aloft's tests (needs
`nebius`, Nebius's official Python SDK, and `grpcio`; scripts/test.sh puts them in
the repository's .venv).

    nebius_api.py --project ID --subnet ID --sa-id ID --sa-kid ID --sa-key PEMFILE
                  --ssh-user USER [--machines IP:PORT:AUTHKEYS,...]
                  [--boot-seconds S] [--network ID]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1. That one
port speaks both h2c (gRPC, served by `grpcio`) and HTTP/1.1 (the test controls
under `/_fake/`): each connection is handed on by its first bytes (HTTP/2's
preface starts `PRI `).

The messages are the package's own: every request and answer is a message class
made (`google.protobuf.message_factory`) from the file descriptors `nebius`
registers for its generated code (`nebius.api._registry.REGISTRY`), and every
method served is looked up in the package's service descriptors
(`nebius.compute.v1.InstanceService` and `PlatformService`,
`nebius.iam.v1.TokenExchangeService`, `nebius.vpc.v1.SubnetService`,
`SecurityGroupService` and `SecurityRuleService`,
`nebius.billing.v1.CalculatorService`) for its request and response types. A request is refused with `INVALID_ARGUMENT` and
recorded as `INVALID <method>: why` when it does not parse as the method's
request type, carries fields the type does not have (unknown field numbers,
anywhere in the message), or misses what the API requires (below).

- `TokenExchangeService/Exchange`: the token-exchange grant and token types the
  SDK sends; `subject_token` a JWT signed RS256 by the service account's key
  (`--sa-key`), `kid` its key id, `iss` = `sub` = the service account, audience
  `token-service.iam.new.nebiuscloud.net` (checked with PyJWT, as the SDK signs
  it); answers a fresh access token (listed in the state's `tokens`).
- `InstanceService/*` need `authorization: Bearer <a minted token>`, else
  `UNAUTHENTICATED`; `parent_id` must be `--project` (else `PERMISSION_DENIED`).
  `Create` needs a name unique among the project's instances (else
  `ALREADY_EXISTS`), a platform and preset of PLATFORMS, one network interface on
  one of the project's subnets (each security group it names live, in the
  project and in the subnet's network), a managed boot disk with a size and an
  image, and cloud-init user
  data (at most 32768 characters, the descriptor's rule) naming the user; its
  `ssh_authorized_keys` are appended to the next free "machine" (a real sshd on
  loopback the test started), whose address becomes the instance's private and
  public address (`IP/32`), and its `ssh_keys` host key, if any, is what the
  machine's sshd then answers with (`first_boot.py`, as cloud-init's first boot). It answers an
  `Operation` naming the new instance. The instance is `CREATING` until
  `--boot-seconds` after its creation (or start), then `RUNNING`; `Stop` makes it
  `STOPPED`, `Delete` removes it and frees its machine.
- `PlatformService/List` (the project's): PLATFORMS, each preset with its
  vCPUs, memory and GPUs; `allowed_for_preemptibles` where PRICES has a spot
  price.
- `CalculatorService/EstimateBatch` (`nebius.billing.v1`): needs currency `usd`
  (or none) and the HOUR aggregation filter; each resource spec an `Any` of
  `type.googleapis.com/nebius.compute.v1.CreateInstanceRequest` whose value parses
  (no unknown fields) with the project as parent and a platform and preset the
  fake has (preemptible only where it has a spot price); answers one cost per
  spec, in order, per hour, from PRICES (changed by `/_fake/price`).
- `SubnetService/List|Get`: the project's subnets (`--subnet`, in network
  `--network`; `/_fake/subnets` replaces them).
- `SecurityGroupService/Create|Get|List|Delete`: a group's name is unique in
  the project, its network one of the subnets'; `Delete` refuses
  (`FAILED_PRECONDITION`) a group a live instance uses or that still has rules.
- `SecurityRuleService/Create|Get|List|Delete`: under a live group, names unique
  in it, an access, a protocol, exactly one of ingress and egress, at most 8
  ports (1-65535) and 8 IPv4 CIDRs, a priority up to 1000, a peer group that
  exists.

Test controls: `POST /_fake/capacity {"platform", "exhausted": bool}`: a create
on that platform is refused with `RESOURCE_EXHAUSTED` ("Not enough resources").
`POST /_fake/price {"platform", "preset", "price", "spot_price"}` (decimal
strings; `spot_price` null: no preemptibles). `POST /_fake/subnets {"subnets":
[ID, ...]}`. `POST /_fake/calculator {"refuse": bool}`: the calculator answers
`PERMISSION_DENIED`. `GET /_fake/state`: `instances` (deleted ones too, `deleted: true`,
with their `security_groups`), `security_groups` and `security_rules` (deleted
ones too), `subnets`, `requests` (`<Service>/<Method>` of every call, `INVALID
...`, `UNAUTHENTICATED ...`) and `tokens` minted.
"""
import argparse
import json
import re
import secrets
import socket
import sys
import threading
import time
import warnings
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.unknown_fields import UnknownFieldSet

import ipaddress

import nebius.api.nebius.billing.v1  # noqa: F401
import nebius.api.nebius.compute.v1  # noqa: F401  (registers its descriptors)
import nebius.api.nebius.iam.v1  # noqa: F401
import nebius.api.nebius.vpc.v1  # noqa: F401
from nebius.api._registry import REGISTRY

from first_boot import install_host_key

# The tests' service-account key is short (1024 bits): PyJWT only warns.
warnings.simplefilter("ignore")

AUDIENCE = "token-service.iam.new.nebiuscloud.net"
# platform -> preset -> (gpus, vcpus, memory GiB) (a few of the catalog's).
PLATFORMS = {
    "cpu-d3": {"4vcpu-16gb": (0, 4, 16), "8vcpu-32gb": (0, 8, 32)},
    "gpu-h100-sxm": {"1gpu-16vcpu-200gb": (1, 16, 200), "8gpu-128vcpu-1600gb": (8, 128, 1600)},
    "gpu-h200-sxm": {"1gpu-16vcpu-200gb": (1, 16, 200), "8gpu-128vcpu-1600gb": (8, 128, 1600)},
}
GPU_MEMORY_GB = {"gpu-h100-sxm": 80, "gpu-h200-sxm": 141}
# (platform, preset) -> [hourly price, spot price or None], decimal strings. Not
# the catalog's (H100:8 there: 23.60, spot 10.00), so a test can tell them apart.
PRICES = {
    ("cpu-d3", "4vcpu-16gb"): ["0.1010", None],
    ("cpu-d3", "8vcpu-32gb"): ["0.2020", None],
    ("gpu-h100-sxm", "1gpu-16vcpu-200gb"): ["2.71", "1.17"],
    ("gpu-h100-sxm", "8gpu-128vcpu-1600gb"): ["21.37", "9.11"],
    ("gpu-h200-sxm", "1gpu-16vcpu-200gb"): ["3.31", "1.43"],
    ("gpu-h200-sxm", "8gpu-128vcpu-1600gb"): ["26.48", "11.02"],
}
CREATE_INSTANCE_URL = "type.googleapis.com/nebius.compute.v1.CreateInstanceRequest"
STATE = {"CREATING": 1, "RUNNING": 4, "STOPPED": 6}


# The files of the services served; they and their imports go in the pool.
SERVED_FILES = (
    "nebius/compute/v1/instance_service.proto",
    "nebius/compute/v1/platform_service.proto",
    "nebius/iam/v1/token_exchange_service.proto",
    "nebius/vpc/v1/subnet_service.proto",
    "nebius/vpc/v1/security_group_service.proto",
    "nebius/vpc/v1/security_rule_service.proto",
    "nebius/billing/v1/calculator_service.proto",
)


def build_pool():
    """The package's registered file descriptors (those of the served services and
    what they import) in a protobuf pool."""
    protos = {}
    for data in REGISTRY._serialized_files.values():
        fd = descriptor_pb2.FileDescriptorProto.FromString(data)
        protos[fd.name] = fd
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name):
        if name in added or name not in protos:
            return
        for dep in protos[name].dependency:
            add(dep)
        pool.Add(protos[name])
        added.add(name)

    for name in SERVED_FILES:
        if name not in protos:
            sys.exit(f"nebius registers no {name}: not the package this fake was written for")
        add(name)
    return pool


POOL = build_pool()


def cls(full_name):
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(full_name))


def unknown_fields(msg, path=""):
    """Paths of fields `msg` carries that its type does not declare."""
    found = []
    if len(UnknownFieldSet(msg)):
        found.append(path or "<top>")
    for field, value in msg.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            continue
        items = value if field.is_repeated else [value]
        for item in items:
            found.extend(unknown_fields(item, f"{path}.{field.name}".lstrip(".")))
    return found


class Invalid(Exception):
    pass


class State:
    def __init__(self, a, machines):
        self.lock = threading.Lock()
        self.project = a.project
        self.network = a.network
        self.subnets = [a.subnet]
        self.groups = {}
        self.rules = {}
        self.calculator_refuses = False
        self.sa_id = a.sa_id
        self.sa_kid = a.sa_kid
        with open(a.sa_key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        self.public_key = key.public_key()
        self.user = a.ssh_user
        self.machines = machines
        self.boot = a.boot_seconds
        self.instances = {}
        self.requests = []
        self.tokens = []
        self.exhausted = set()
        self.grpc_port = 0

    def free_machine(self):
        used = {i["machine"] for i in self.instances.values() if not i["deleted"] and i["machine"]}
        return next((m for m in self.machines if m[0] not in used), None)

    def state_of(self, inst):
        if inst["state"] == "CREATING" and time.time() >= inst["ready_at"]:
            inst["state"] = "RUNNING"
        return inst["state"]


def instance_message(state, inst):
    Instance = cls("nebius.compute.v1.Instance")
    msg = Instance()
    msg.metadata.id = inst["id"]
    msg.metadata.parent_id = inst["parent_id"]
    msg.metadata.name = inst["name"]
    msg.metadata.resource_version = inst["version"]
    for k, v in inst["labels"].items():
        msg.metadata.labels[k] = v
    msg.spec.CopyFrom(cls("nebius.compute.v1.InstanceSpec").FromString(inst["spec"]))
    msg.status.state = STATE[state.state_of(inst)]
    nic = msg.status.network_interfaces.add()
    nic.index = 0
    nic.name = "eth0"
    if inst["machine"]:
        nic.ip_address.address = inst["machine"] + "/32"
        nic.public_ip_address.address = inst["machine"] + "/32"
    return msg


def operation(resource_id, code=0, message=""):
    op = cls("nebius.common.v1.Operation")()
    op.id = "computeoperation-" + secrets.token_hex(8)
    op.description = "aloft fake"
    op.resource_id = resource_id
    op.status.code = code
    op.status.message = message
    return op


def make_servicer(state):
    def authorized(context):
        md = dict(context.invocation_metadata())
        auth = md.get("authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        return token is not None and token in state.tokens

    def exchange(req, context):
        if req.grant_type != "urn:ietf:params:oauth:grant-type:token-exchange":
            raise Invalid(f"grant_type {req.grant_type!r}")
        if req.requested_token_type != "urn:ietf:params:oauth:token-type:access_token":
            raise Invalid(f"requested_token_type {req.requested_token_type!r}")
        if req.subject_token_type != "urn:ietf:params:oauth:token-type:jwt":
            raise Invalid(f"subject_token_type {req.subject_token_type!r}")
        try:
            header = jwt.get_unverified_header(req.subject_token)
            claims = jwt.decode(
                req.subject_token,
                state.public_key,
                algorithms=["RS256"],
                audience=AUDIENCE,
                options={"require": ["exp", "iat", "iss", "sub"]},
            )
        except jwt.PyJWTError as e:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"invalid subject token: {e}")
        if header.get("kid") != state.sa_kid or claims["iss"] != state.sa_id or claims["sub"] != state.sa_id:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown service account or key")
        token = "nbt-" + secrets.token_hex(24)
        with state.lock:
            state.tokens.append(token)
        resp = cls("nebius.iam.v1.CreateTokenResponse")()
        resp.access_token = token
        resp.issued_token_type = "urn:ietf:params:oauth:token-type:access_token"
        resp.token_type = "Bearer"
        resp.expires_in = 3600
        return resp

    def check_project(parent, context):
        if parent != state.project:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"no access to {parent or 'an empty parent'}")

    def find(id_, context):
        inst = state.instances.get(id_)
        if inst is None or inst["deleted"]:
            context.abort(grpc.StatusCode.NOT_FOUND, f"instance {id_} not found")
        return inst

    def get(req, context):
        with state.lock:
            return instance_message(state, find(req.id, context))

    def list_(req, context):
        check_project(req.parent_id, context)
        with state.lock:
            live = [i for i in state.instances.values() if not i["deleted"] and i["parent_id"] == req.parent_id]
            start = int(req.page_token or 0)
            size = req.page_size or 100
            page = live[start : start + size]
            resp = cls("nebius.compute.v1.ListInstancesResponse")()
            for inst in page:
                resp.items.append(instance_message(state, inst))
            if start + size < len(live):
                resp.next_page_token = str(start + size)
            return resp

    def create(req, context):
        m, spec = req.metadata, req.spec
        check_project(m.parent_id, context)
        if not m.name:
            raise Invalid("metadata.name is empty")
        platform, preset = spec.resources.platform, spec.resources.preset
        if platform not in PLATFORMS or preset not in PLATFORMS[platform]:
            raise Invalid(f"no platform {platform!r} with preset {preset!r}")
        if spec.HasField("preemptible") and PRICES[(platform, preset)][1] is None:
            raise Invalid(f"platform {platform} takes no preemptible instances")
        if len(spec.network_interfaces) != 1 or spec.network_interfaces[0].subnet_id not in state.subnets:
            raise Invalid("one network interface on one of the project's subnets is required")
        if not spec.network_interfaces[0].name:
            raise Invalid("network_interfaces[0].name is empty")
        groups = [g.id for g in spec.network_interfaces[0].security_groups]
        with state.lock:
            for g in groups:
                group = state.groups.get(g)
                if group is None or group["deleted"] or group["parent_id"] != m.parent_id:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"security group {g} not found")
                if group["network_id"] != state.network:
                    raise Invalid(f"security group {g} is not in the subnet's network")
        disk = spec.boot_disk
        if disk.WhichOneof("type") != "managed_disk":
            raise Invalid("boot_disk must be a managed disk")
        if disk.managed_disk.spec.WhichOneof("size") is None or disk.managed_disk.spec.WhichOneof("source") is None:
            raise Invalid("the boot disk needs a size and a source image")
        user_data = spec.cloud_init_user_data
        if not user_data.startswith("#cloud-config") or f"- name: {state.user}" not in user_data:
            raise Invalid(f"cloud-init user data must create user {state.user}")
        if len(user_data) > 32768:
            raise Invalid("cloud_init_user_data is longer than 32768 characters")
        keys = re.findall(r"^\s+- (ssh-\S+ \S+.*)$", user_data, re.M)
        with state.lock:
            if platform in state.exhausted:
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"Not enough resources to create an instance of platform {platform}",
                )
            for inst in state.instances.values():
                if not inst["deleted"] and inst["parent_id"] == m.parent_id and inst["name"] == m.name:
                    context.abort(grpc.StatusCode.ALREADY_EXISTS, f"instance {m.name} already exists")
            machine = state.free_machine()
            if machine is not None:
                with open(machine[2], "a") as f:
                    for key in keys:
                        f.write(key.strip() + "\n")
                install_host_key(machine, user_data)
            id_ = "computeinstance-" + secrets.token_hex(8)
            state.instances[id_] = {
                "id": id_,
                "parent_id": m.parent_id,
                "name": m.name,
                "labels": dict(m.labels),
                "version": 1,
                "spec": spec.SerializeToString(),
                "platform": platform,
                "preset": preset,
                "preemptible": spec.HasField("preemptible"),
                "security_groups": groups,
                "keys": keys,
                "machine": machine[0] if machine else None,
                "state": "CREATING",
                "ready_at": time.time() + state.boot,
                "deleted": False,
            }
            return operation(id_)

    def start(req, context):
        with state.lock:
            inst = find(req.id, context)
            inst["state"] = "CREATING"
            inst["ready_at"] = time.time() + state.boot
            return operation(req.id)

    def stop(req, context):
        with state.lock:
            inst = find(req.id, context)
            inst["state"] = "STOPPED"
            return operation(req.id)

    def delete(req, context):
        with state.lock:
            inst = find(req.id, context)
            inst["deleted"] = True
            inst["machine_was"] = inst["machine"]
            inst["machine"] = None
            return operation(req.id)

    def list_platforms(req, context):
        check_project(req.parent_id, context)
        resp = cls("nebius.compute.v1.ListPlatformsResponse")()
        with state.lock:
            for name, presets in PLATFORMS.items():
                p = resp.items.add()
                p.metadata.id = "computeplatform-" + name
                p.metadata.parent_id = req.parent_id
                p.metadata.name = name
                if name in GPU_MEMORY_GB:
                    p.spec.gpu_memory_gigabytes = GPU_MEMORY_GB[name]
                spot = False
                for preset, (gpus, vcpus, mem) in presets.items():
                    entry = p.spec.presets.add()
                    entry.name = preset
                    entry.resources.vcpu_count = vcpus
                    entry.resources.memory_gibibytes = mem
                    entry.resources.gpu_count = gpus
                    spot = spot or PRICES[(name, preset)][1] is not None
                p.status.allowed_for_preemptibles = spot
        return resp

    def estimate_batch(req, context):
        if state.calculator_refuses:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "no access to the billing calculator")
        if req.currency not in ("", "usd"):
            raise Invalid(f"currency {req.currency!r}")
        hour = cls("nebius.billing.v1.FilterAggregationUnit").FILTER_AGGREGATION_UNIT_HOUR
        if hour not in req.filter_aggregation_unit.filter_aggregation_unit_values:
            raise Invalid("only hourly costs are served: filter_aggregation_unit must have HOUR")
        if not req.resource_specs:
            raise Invalid("resource_specs is empty")
        Create = cls("nebius.compute.v1.CreateInstanceRequest")
        resp = cls("nebius.billing.v1.EstimateBatchResponse")()
        resp.currency = "usd"
        total = 0.0
        for i, rs in enumerate(req.resource_specs):
            if rs.spec.type_url != CREATE_INSTANCE_URL:
                raise Invalid(f"resource_specs[{i}]: type {rs.spec.type_url!r} is not priced here")
            try:
                inner = Create.FromString(rs.spec.value)
            except Exception as e:  # noqa: BLE001
                raise Invalid(f"resource_specs[{i}]: undecodable CreateInstanceRequest: {e}")
            extra = unknown_fields(inner)
            if extra:
                raise Invalid(f"resource_specs[{i}]: unknown fields in {extra}")
            check_project(inner.metadata.parent_id, context)
            key = (inner.spec.resources.platform, inner.spec.resources.preset)
            with state.lock:
                prices = PRICES.get(key)
            if prices is None:
                raise Invalid(f"resource_specs[{i}]: no platform {key[0]!r} with preset {key[1]!r}")
            spot = inner.spec.HasField("preemptible")
            price = prices[1] if spot else prices[0]
            if price is None:
                raise Invalid(f"resource_specs[{i}]: platform {key[0]} takes no preemptible instances")
            cost = resp.resource_costs.add()
            cost.metadata.parent_id = inner.metadata.parent_id
            cost.aggregation_unit.unit = "hour"
            cost.aggregation_unit.unit_type = 1
            cost.general.total.cost = price
            cost.general.total.cost_rounded = f"{float(price):.2f}"
            total += float(price)
        t = resp.total_costs.add()
        t.aggregation_unit.unit = "hour"
        t.aggregation_unit.unit_type = 1
        t.general.total.cost = repr(total)
        return resp

    def page_of(items, req, response_type):
        start = int(req.page_token or 0)
        size = req.page_size or 100
        resp = cls(response_type)()
        for item in items[start : start + size]:
            resp.items.append(item)
        if start + size < len(items):
            resp.next_page_token = str(start + size)
        return resp

    def subnet_message(id_):
        msg = cls("nebius.vpc.v1.Subnet")()
        msg.metadata.id = id_
        msg.metadata.parent_id = state.project
        msg.metadata.name = id_
        msg.spec.network_id = state.network
        msg.status.state = 2
        return msg

    def list_subnets(req, context):
        check_project(req.parent_id, context)
        with state.lock:
            items = [subnet_message(s) for s in state.subnets]
        return page_of(items, req, "nebius.vpc.v1.ListSubnetsResponse")

    def get_subnet(req, context):
        with state.lock:
            if req.id not in state.subnets:
                context.abort(grpc.StatusCode.NOT_FOUND, f"subnet {req.id} not found")
            return subnet_message(req.id)

    def group_message(g):
        msg = cls("nebius.vpc.v1.SecurityGroup")()
        msg.metadata.id = g["id"]
        msg.metadata.parent_id = g["parent_id"]
        msg.metadata.name = g["name"]
        for k, v in g["labels"].items():
            msg.metadata.labels[k] = v
        msg.spec.network_id = g["network_id"]
        msg.status.state = 2
        return msg

    def live_group(id_, context):
        g = state.groups.get(id_)
        if g is None or g["deleted"]:
            context.abort(grpc.StatusCode.NOT_FOUND, f"security group {id_} not found")
        return g

    def create_group(req, context):
        m = req.metadata
        check_project(m.parent_id, context)
        if not m.name:
            raise Invalid("metadata.name is empty")
        if req.spec.network_id != state.network:
            raise Invalid(f"network {req.spec.network_id!r} is not one of the project's")
        with state.lock:
            for g in state.groups.values():
                if not g["deleted"] and g["parent_id"] == m.parent_id and g["name"] == m.name:
                    context.abort(grpc.StatusCode.ALREADY_EXISTS, f"security group {m.name} already exists")
            id_ = "vpcsecuritygroup-" + secrets.token_hex(8)
            state.groups[id_] = {
                "id": id_, "parent_id": m.parent_id, "name": m.name, "labels": dict(m.labels),
                "network_id": req.spec.network_id, "deleted": False,
            }
        return operation(id_)

    def get_group(req, context):
        with state.lock:
            return group_message(live_group(req.id, context))

    def list_groups(req, context):
        check_project(req.parent_id, context)
        with state.lock:
            items = [group_message(g) for g in state.groups.values()
                     if not g["deleted"] and g["parent_id"] == req.parent_id]
        return page_of(items, req, "nebius.vpc.v1.ListSecurityGroupsResponse")

    def delete_group(req, context):
        with state.lock:
            g = live_group(req.id, context)
            for inst in state.instances.values():
                if not inst["deleted"] and req.id in inst["security_groups"]:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                  f"security group {req.id} is used by instance {inst['id']}")
            if any(not r["deleted"] and r["parent_id"] == req.id for r in state.rules.values()):
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"security group {req.id} still has rules")
            g["deleted"] = True
        return operation(req.id)

    def rule_message(r):
        msg = cls("nebius.vpc.v1.SecurityRule")()
        msg.metadata.id = r["id"]
        msg.metadata.parent_id = r["parent_id"]
        msg.metadata.name = r["name"]
        msg.spec.CopyFrom(cls("nebius.vpc.v1.SecurityRuleSpec").FromString(r["spec"]))
        msg.status.state = 2
        return msg

    def check_rule(spec, context):
        if spec.access == 0:
            raise Invalid("spec.access is unset")
        if spec.protocol == 0:
            raise Invalid("spec.protocol is unset")
        if not 0 <= spec.priority <= 1000:
            raise Invalid(f"spec.priority {spec.priority} is not from 0 to 1000")
        which = spec.WhichOneof("match")
        if which is None:
            raise Invalid("one of spec.ingress and spec.egress is required")
        match = getattr(spec, which)
        peer = match.source_security_group_id if which == "ingress" else match.destination_security_group_id
        cidrs = match.source_cidrs if which == "ingress" else match.destination_cidrs
        if len(match.destination_ports) > 8 or any(not 1 <= p <= 65535 for p in match.destination_ports):
            raise Invalid(f"{which}.destination_ports: at most 8 ports from 1 to 65535")
        if len(cidrs) > 8:
            raise Invalid(f"{which}: at most 8 CIDRs")
        for c in cidrs:
            try:
                ipaddress.IPv4Network(c)
            except ValueError:
                raise Invalid(f"{which}: {c!r} is not an IPv4 CIDR")
        if peer:
            live_group(peer, context)

    def create_rule(req, context):
        m = req.metadata
        if not m.name:
            raise Invalid("metadata.name is empty")
        with state.lock:
            live_group(m.parent_id, context)
        check_rule(req.spec, context)
        with state.lock:
            for r in state.rules.values():
                if not r["deleted"] and r["parent_id"] == m.parent_id and r["name"] == m.name:
                    context.abort(grpc.StatusCode.ALREADY_EXISTS, f"security rule {m.name} already exists")
            id_ = "vpcsecurityrule-" + secrets.token_hex(8)
            state.rules[id_] = {
                "id": id_, "parent_id": m.parent_id, "name": m.name,
                "spec": req.spec.SerializeToString(), "deleted": False,
            }
        return operation(id_)

    def live_rule(id_, context):
        r = state.rules.get(id_)
        if r is None or r["deleted"]:
            context.abort(grpc.StatusCode.NOT_FOUND, f"security rule {id_} not found")
        return r

    def get_rule(req, context):
        with state.lock:
            return rule_message(live_rule(req.id, context))

    def list_rules(req, context):
        with state.lock:
            live_group(req.parent_id, context)
            items = [rule_message(r) for r in state.rules.values()
                     if not r["deleted"] and r["parent_id"] == req.parent_id]
        return page_of(items, req, "nebius.vpc.v1.ListSecurityRulesResponse")

    def delete_rule(req, context):
        with state.lock:
            live_rule(req.id, context)["deleted"] = True
        return operation(req.id)

    return {
        "nebius.compute.v1.PlatformService": {"List": (list_platforms, True)},
        "nebius.billing.v1.CalculatorService": {"EstimateBatch": (estimate_batch, True)},
        "nebius.vpc.v1.SubnetService": {"List": (list_subnets, True), "Get": (get_subnet, True)},
        "nebius.vpc.v1.SecurityGroupService": {
            "Create": (create_group, True),
            "Get": (get_group, True),
            "List": (list_groups, True),
            "Delete": (delete_group, True),
        },
        "nebius.vpc.v1.SecurityRuleService": {
            "Create": (create_rule, True),
            "Get": (get_rule, True),
            "List": (list_rules, True),
            "Delete": (delete_rule, True),
        },
        "nebius.iam.v1.TokenExchangeService": {"Exchange": (exchange, False)},
        "nebius.compute.v1.InstanceService": {
            "Get": (get, True),
            "List": (list_, True),
            "Create": (create, True),
            "Start": (start, True),
            "Stop": (stop, True),
            "Delete": (delete, True),
        },
    }, authorized


def handlers(state):
    table, authorized = make_servicer(state)
    out = []
    for service_name, methods in table.items():
        service = POOL.FindServiceByName(service_name)
        rpc = {}
        for name, (fn, needs_auth) in methods.items():
            method = service.methods_by_name[name]
            req_cls = message_factory.GetMessageClass(method.input_type)

            def behaviour(raw, context, fn=fn, needs_auth=needs_auth, req_cls=req_cls, label=f"{service.name}/{name}"):
                try:
                    req = req_cls.FromString(raw)
                except Exception as e:  # noqa: BLE001
                    with state.lock:
                        state.requests.append(f"INVALID {label}: undecodable: {e}")
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"undecodable request: {e}")
                extra = unknown_fields(req)
                if extra:
                    with state.lock:
                        state.requests.append(f"INVALID {label}: unknown fields in {extra}")
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown fields in {extra}")
                if needs_auth and not authorized(context):
                    with state.lock:
                        state.requests.append(f"UNAUTHENTICATED {label}")
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid token")
                with state.lock:
                    state.requests.append(label)
                try:
                    return fn(req, context).SerializeToString()
                except Invalid as e:
                    with state.lock:
                        state.requests.append(f"INVALID {label}: {e}")
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))

            rpc[name] = grpc.unary_unary_rpc_method_handler(behaviour)
        out.append(grpc.method_handlers_generic_handler(service_name, rpc))
    return out


def control_server(state):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != "/_fake/state":
                return self.answer(404, {"message": "not found"})
            with state.lock:
                instances = []
                for i in state.instances.values():
                    instances.append({
                        "id": i["id"], "name": i["name"], "labels": i["labels"],
                        "platform": i["platform"], "preset": i["preset"],
                        "preemptible": i["preemptible"], "keys": i["keys"],
                        "security_groups": i["security_groups"],
                        "state": state.state_of(i), "deleted": i["deleted"],
                        "machine": i["machine"] or i.get("machine_was"),
                    })
                groups = [dict(g) for g in state.groups.values()]
                rules = []
                for r in state.rules.values():
                    spec = cls("nebius.vpc.v1.SecurityRuleSpec").FromString(r["spec"])
                    which = spec.WhichOneof("match")
                    match = getattr(spec, which)
                    rules.append({
                        "id": r["id"], "group": r["parent_id"], "name": r["name"],
                        "deleted": r["deleted"], "direction": which,
                        "protocol": spec.protocol, "ports": list(match.destination_ports),
                    })
                self.answer(200, {
                    "security_groups": groups,
                    "security_rules": rules,
                    "subnets": list(state.subnets),
                    "instances": instances,
                    "requests": list(state.requests),
                    "tokens": list(state.tokens),
                })

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/_fake/price":
                key = (body["platform"], body["preset"])
                with state.lock:
                    PRICES[key] = [body["price"], body.get("spot_price")]
                return self.answer(200, {"price": PRICES[key]})
            if self.path == "/_fake/calculator":
                with state.lock:
                    state.calculator_refuses = bool(body.get("refuse", True))
                return self.answer(200, {"refuse": state.calculator_refuses})
            if self.path == "/_fake/subnets":
                with state.lock:
                    state.subnets = list(body["subnets"])
                return self.answer(200, {"subnets": state.subnets})
            if self.path == "/_fake/capacity":
                with state.lock:
                    if body.get("exhausted", True):
                        state.exhausted.add(body["platform"])
                    else:
                        state.exhausted.discard(body["platform"])
                return self.answer(200, {"exhausted": sorted(state.exhausted)})
            self.answer(404, {"message": "not found"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def front(listener, grpc_port, control_port):
    """Hands each connection to the gRPC server (HTTP/2 preface) or the controls."""
    while True:
        conn, _ = listener.accept()

        def route(conn=conn):
            try:
                first = conn.recv(3, socket.MSG_PEEK)
                target = grpc_port if first == b"PRI" else control_port
                back = socket.create_connection(("127.0.0.1", target))
            except OSError:
                conn.close()
                return
            threading.Thread(target=pump, args=(conn, back), daemon=True).start()
            pump(back, conn)

        threading.Thread(target=route, daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    for name in ("--project", "--subnet", "--sa-id", "--sa-kid", "--sa-key", "--ssh-user"):
        p.add_argument(name, required=True)
    p.add_argument("--machines", default="")
    p.add_argument("--boot-seconds", type=float, default=0.5)
    p.add_argument("--network", default="vpcnetwork-e00aloftfake")
    a = p.parse_args()
    machines = []
    for spec in filter(None, a.machines.split(",")):
        ip, port, keys = spec.split(":", 2)
        machines.append((ip, int(port), keys))
    state = State(a, machines)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers(handlers(state))
    state.grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    control_port = control_server(state)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    front(listener, state.grpc_port, control_port)


if __name__ == "__main__":
    sys.exit(main())
