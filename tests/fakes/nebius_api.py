#!/usr/bin/env python3
"""A stateful fake of Nebius AI Cloud's gRPC API, for aloft's tests (needs
`nebius`, Nebius's official Python SDK, and `grpcio`; scripts/test.sh puts them in
the repository's .venv).

    nebius_api.py --project ID --subnet ID --sa-id ID --sa-kid ID --sa-key PEMFILE
                  --ssh-user USER [--machines IP:PORT:AUTHKEYS,...]
                  [--boot-seconds S]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1. That one
port speaks both h2c (gRPC, served by `grpcio`) and HTTP/1.1 (the test controls
under `/_fake/`): each connection is handed on by its first bytes (HTTP/2's
preface starts `PRI `).

The messages are the package's own: every request and answer is a message class
made (`google.protobuf.message_factory`) from the file descriptors `nebius`
registers for its generated code (`nebius.api._registry.REGISTRY`), and every
method served is looked up in the package's service descriptors
(`nebius.compute.v1.InstanceService`, `nebius.iam.v1.TokenExchangeService`) for
its request and response types. A request is refused with `INVALID_ARGUMENT` and
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
  `--subnet`, a managed boot disk with a size and an image, and cloud-init user
  data naming the user; its `ssh_authorized_keys` are appended to the next free
  "machine" (a real sshd on loopback the test started), whose address becomes
  the instance's private and public address (`IP/32`). It answers an
  `Operation` naming the new instance. The instance is `CREATING` until
  `--boot-seconds` after its creation (or start), then `RUNNING`; `Stop` makes it
  `STOPPED`, `Delete` removes it and frees its machine.

Test controls: `POST /_fake/capacity {"platform", "exhausted": bool}`: a create
on that platform is refused with `RESOURCE_EXHAUSTED` ("Not enough resources").
`GET /_fake/state`: `instances` (deleted ones too, `deleted: true`), `requests`
(`<Service>/<Method>` of every call, `INVALID ...`, `UNAUTHENTICATED ...`) and
`tokens` minted.
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

import nebius.api.nebius.compute.v1  # noqa: F401  (registers its descriptors)
import nebius.api.nebius.iam.v1  # noqa: F401
from nebius.api._registry import REGISTRY

# The tests' service-account key is short (1024 bits): PyJWT only warns.
warnings.simplefilter("ignore")

AUDIENCE = "token-service.iam.new.nebiuscloud.net"
# platform -> presets (a few of the catalog's).
PLATFORMS = {
    "cpu-d3": ["4vcpu-16gb", "8vcpu-32gb"],
    "gpu-h100-sxm": ["1gpu-16vcpu-200gb", "8gpu-128vcpu-1600gb"],
    "gpu-h200-sxm": ["1gpu-16vcpu-200gb", "8gpu-128vcpu-1600gb"],
}
STATE = {"CREATING": 1, "RUNNING": 4, "STOPPED": 6}


# The files of the services served; they and their imports go in the pool.
SERVED_FILES = ("nebius/compute/v1/instance_service.proto", "nebius/iam/v1/token_exchange_service.proto")


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
        self.subnet = a.subnet
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
        if len(spec.network_interfaces) != 1 or spec.network_interfaces[0].subnet_id != state.subnet:
            raise Invalid("one network interface on the project's subnet is required")
        if not spec.network_interfaces[0].name:
            raise Invalid("network_interfaces[0].name is empty")
        disk = spec.boot_disk
        if disk.WhichOneof("type") != "managed_disk":
            raise Invalid("boot_disk must be a managed disk")
        if disk.managed_disk.spec.WhichOneof("size") is None or disk.managed_disk.spec.WhichOneof("source") is None:
            raise Invalid("the boot disk needs a size and a source image")
        user_data = spec.cloud_init_user_data
        if not user_data.startswith("#cloud-config") or f"- name: {state.user}" not in user_data:
            raise Invalid(f"cloud-init user data must create user {state.user}")
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

    return {
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
                        "state": state.state_of(i), "deleted": i["deleted"],
                        "machine": i["machine"] or i.get("machine_was"),
                    })
                self.answer(200, {
                    "instances": instances,
                    "requests": list(state.requests),
                    "tokens": list(state.tokens),
                })

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
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
