#!/usr/bin/env python3
"""A stateful fake of Cudo Compute's REST API, for aloft's tests (needs
`cudo-compute`, Cudo's official Python package, generated from its OpenAPI
document; scripts/test.sh puts it in the repository's .venv).

    cudo_api.py --key KEY --project ID [--machines IP:PORT:AUTHKEYS,...]
                [--boot-seconds S] [--port N]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1.

Every request is checked against the package's own operations and models, not
against our reading of the API:

- the route: the method and path template of one of the package's operations
  (read from the `*_with_http_info` methods of every `cudo_compute.api` class:
  the `call_api(path, method, ...)`, its path, query and body parameters);
  anything else is answered 404 and recorded `INVALID`;
- the query: only the parameters that operation sends;
- the body: an operation without a body takes none (or `{}`, what the
  package's REST client sends for a POST without one); one with a body (its type
  from the operation's docstring, e.g. `CreateVMBody`) must be a JSON object with
  only the model's JSON keys (`attribute_map`), each of the model's type
  (`swagger_types`: strings, integers, booleans, lists, maps, nested models, and
  enum models such as `SshKeySource` with one of their values), and the model's
  required fields (those its generated setters refuse as None), checked by
  deserializing the body with the package's `ApiClient`.

A request that fails is answered 400 `{"code": 3, "message": ..., "details": []}`
(gRPC INVALID_ARGUMENT, as Cudo's gateway answers) and recorded `INVALID ...`.
Answers are checked against the operation's response model the same way, so the
package itself reads them back.

Authentication: `Authorization: Bearer KEY`, else 401 `{"code": 16, "message":
"invalid api key"}` (recorded `UNAUTHORIZED`); another project than `--project`
is 403 `{"code": 7, ...}`.

Machine types: a fixed table (MACHINE_TYPES) in three data centers. Creating a VM
checks the size against the machine type's ratios, takes the next free "machine"
(a real sshd on loopback the test started): its external address is the
machine's, its `customSshKeys` are appended to the machine's authorized keys.
A VM is PENDING until `--boot-seconds` after its creation, then ACTIVE; stop makes
it STOPPED, start STARTING then ACTIVE; terminate deletes it (it leaves the
listing) and frees its machine. A VM id taken is 409 `{"code": 6}`. Security
groups (ids chosen by the caller, in one data center) are created, read, updated,
attached to VMs (at create with `securityGroupIds`, or later) and deleted; one in
use by a live VM is not deleted (400 `{"code": 9}`, FAILED_PRECONDITION).

Test controls (no auth, under `/_fake/`): `POST /_fake/capacity {"data_center"
(optional: all), "exhausted": bool, "reported": bool}`: creating a VM there is
answered 429 `{"code": 8, "message": "... resource exhausted ..."}` (gRPC
RESOURCE_EXHAUSTED); with `reported`, machine types also show no free GPU there
(else they still do, as when another customer takes the last host between a
listing and a create). `GET /_fake/state`: `vms` (every VM ever made, deleted
ones too), `security_groups` (deleted ones with `deleted: true`) and `requests` (`METHOD /path-template` of every request, `INVALID
...` or `UNAUTHORIZED`).
"""
import argparse
import inspect
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import cudo_compute
import cudo_compute.api
from cudo_compute import models
from cudo_compute.api_client import ApiClient


# ---- the package's operations and models ---------------------------------------

def load_operations():
    """[(method, template, regex, name, query names, body type, response type)]."""
    ops = []
    for cls_name in dir(cudo_compute.api):
        cls = getattr(cudo_compute.api, cls_name)
        if not (inspect.isclass(cls) and cls_name.endswith("Api")):
            continue
        for name, fn in inspect.getmembers(cls, inspect.isfunction):
            if not name.endswith("_with_http_info"):
                continue
            src = inspect.getsource(fn)
            call = re.search(r"call_api\(\s*'([^']+)',\s*'([A-Z]+)'", src)
            if not call:
                continue
            template, method = call.groups()
            query = re.findall(r"query_params\.append\(\('([^']+)'", src)
            body_param = re.search(r"body_params = params\['(\w+)'\]", src)
            body_type = None
            if body_param:
                doc = re.search(r":param (\w+) %s:" % body_param.group(1), src)
                body_type = doc.group(1) if doc else "object"
            response = re.search(r"response_type='([^']+)'", src)
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            ops.append((method, template, regex, name[: -len("_with_http_info")], set(query),
                        body_type, response.group(1) if response else None, literal))
    # The most literal template first (`.../networks/security-groups` before
    # `.../networks/{id}`).
    ops.sort(key=lambda o: -o[7])
    return ops


OPERATIONS = load_operations()
PRIMITIVES = {"str": str, "bool": bool, "float": (int, float), "object": object,
              "datetime": str, "date": str}


def enum_values(cls):
    return {v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)}


def check_type(value, typ, path):
    """Problems of `value` as the package's type `typ` (none when it fits)."""
    if value is None:
        return []
    if typ in PRIMITIVES:
        ok = PRIMITIVES[typ] is object or (isinstance(value, PRIMITIVES[typ])
                                           and not (typ == "float" and isinstance(value, bool)))
        return [] if ok else [f"{path}: {value!r} is not {typ}"]
    if typ == "int":
        return [] if isinstance(value, int) and not isinstance(value, bool) \
            else [f"{path}: {value!r} is not int"]
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [p for i, v in enumerate(value) for p in check_type(v, m.group(1), f"{path}[{i}]")]
    m = re.fullmatch(r"dict\(([^,]+), (.+)\)", typ)
    if m:
        if not isinstance(value, dict):
            return [f"{path}: not a map"]
        return [p for k, v in value.items() for p in check_type(v, m.group(2), f"{path}.{k}")]
    cls = getattr(models, typ, None)
    if cls is None:
        return [f"{path}: the package has no type {typ}"]
    if not cls.swagger_types and enum_values(cls):
        values = enum_values(cls)
        if not isinstance(value, str):
            return [f"{path}: {value!r} is not a {typ}"]
        return [] if value in values else [f"{path}: {value!r} is not a {typ} ({sorted(values)})"]
    if not isinstance(value, dict):
        return [f"{path}: not a {typ} object"]
    by_json = {j: a for a, j in cls.attribute_map.items()}
    problems = [f"{path}.{k}: not a field of {typ}" for k in value if k not in by_json]
    for k, v in value.items():
        if k in by_json:
            problems += check_type(v, cls.swagger_types[by_json[k]], f"{path}.{k}")
    return problems


class _Raw:
    def __init__(self, data):
        self.data = json.dumps(data)


def check_model(value, typ, path="body"):
    problems = check_type(value, typ, path)
    if not problems and getattr(models, typ, None) is not None:
        try:
            ApiClient().deserialize(_Raw(value), typ)  # the generated setters' checks
        except (ValueError, TypeError) as e:
            problems.append(f"{path}: {e}")
    return problems


# ---- the cloud -------------------------------------------------------------------

DATA_CENTERS = [("se-smedjebacken-1", "se-stockholm"), ("gb-bournemouth-1", "gb-south"),
                ("us-newyork-1", "us-east")]
# (data center, machine type, GPU model, vCPU $/h, GiB $/h, GPU $/h, max free on a
# host, free in the data center)
MACHINE_TYPES = [
    ("se-smedjebacken-1", "epyc-milan-rtx-a4000", "RTX A4000", "0.0022", "0.0011", "0.1500", 4, 8),
    ("gb-bournemouth-1", "epyc-milan-rtx-a4000", "RTX A4000", "0.0025", "0.0012", "0.1700", 4, 8),
    ("us-newyork-1", "sapphire-rapids-h100", "H100 SXM", "0.0040", "0.0020", "2.4500", 8, 16),
    ("se-smedjebacken-1", "epyc-genoa-a40", "A40", "0.0022", "0.0011", "0.3900", 8, 8),
]


class Fail(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def dec(v):
    return {"value": str(v)}


class State:
    def __init__(self, key, project, machines, boot_seconds):
        self.key, self.project = key, project
        self.machines = machines
        self.boot_seconds = boot_seconds
        self.lock = threading.Lock()
        self.vms = {}
        self.groups = {}  # security groups by id
        self.exhausted = {}  # data center or "*" -> reported
        self.requests = []

    def live(self):
        return [v for v in self.vms.values() if v["state"] != "DELETED"]

    def used_gpus(self, dc, mt):
        return sum(v["gpus"] for v in self.live()
                   if v["dc"] == dc and v["machine_type"] == mt and v["state"] != "STOPPED")

    def exhausted_in(self, dc):
        for k in (dc, "*"):
            if k in self.exhausted:
                return True, self.exhausted[k]
        return False, False

    def machine_type_row(self, row):
        dc, mt, gpu, vcpu, mem, gpu_price, max_free, total = row
        gone, reported = self.exhausted_in(dc)
        free = 0 if gone and reported else max(0, total - self.used_gpus(dc, mt))
        return {
            "dataCenterId": dc, "machineType": mt, "cpuModel": "EPYC", "gpuModel": gpu,
            "gpuModelId": gpu.lower().replace(" ", "-"),
            "minVcpuPerMemoryGib": 0.25, "maxVcpuPerMemoryGib": 1.0,
            "minVcpuPerGpu": 1.0, "maxVcpuPerGpu": 16.0,
            "vcpuPriceHr": dec(vcpu), "memoryGibPriceHr": dec(mem), "gpuPriceHr": dec(gpu_price),
            "minStorageGibPriceHr": dec("0.0001"), "ipv4PriceHr": dec("0.0050"),
            "renewableEnergy": True, "maxVcpuFree": 128, "totalVcpuFree": 512,
            "maxMemoryGibFree": 512, "totalMemoryGibFree": 2048,
            "maxGpuFree": min(max_free, free), "totalGpuFree": free,
            "maxStorageGibFree": 4096, "totalStorageGibFree": 16384,
            "minVcpu": 1.0, "minMemoryGib": 1.0,
        }

    def view(self, v):
        now = time.time()
        if v["state"] in ("PENDING", "STARTING") and now >= v["ready_at"]:
            v["state"] = "ACTIVE"
        short = {"ACTIVE": "runn", "PENDING": "pend", "STARTING": "boot", "STOPPED": "poff",
                 "DELETED": "done"}[v["state"]]
        ip = v["machine"][0]
        return {
            "datacenterId": v["dc"], "machineType": v["machine_type"], "regionId": "r-" + v["dc"],
            "regionName": v["dc"], "id": v["id"], "externalIpAddress": ip,
            "internalIpAddress": v["private_ip"], "publicIpAddress": ip,
            "memory": v["memory_gib"], "cpuModel": "EPYC", "vcpus": v["vcpus"],
            "gpuModel": v["gpu_model"], "gpuModelId": v["gpu_model"].lower().replace(" ", "-"),
            "gpuQuantity": v["gpus"], "bootDiskSizeGib": v["disk_gib"], "renewableEnergy": True,
            "imageId": v["image"], "publicImageId": v["image"], "publicImageName": v["image"],
            "createBy": "fake@example.com",
            "nics": [{"networkId": "default", "externalIpAddress": ip,
                      "internalIpAddress": v["private_ip"], "networkAddress": "10.0.0.0/24",
                      "securityGroupIds": list(v["groups"])}],
            "rules": [], "securityGroupIds": list(v["groups"]), "shortState": short,
            "bootDisk": {"id": v["id"] + "-boot", "sizeGib": v["disk_gib"],
                         "storageClass": "STORAGE_CLASS_NETWORK"},
            "storageDisks": [], "metadata": v["metadata"], "state": v["state"],
            "createTime": v["created"],
        }

    def _project(self, project):
        if project != self.project:
            raise Fail(403, 7, f"permission denied on project {project}")

    def _vm(self, project, id):
        self._project(project)
        v = self.vms.get(id)
        if v is None or v["state"] == "DELETED":
            raise Fail(404, 5, f"vm {id} not found")
        return v

    # -- operations --

    def get_project(self, _q, _b, id):
        self._project(id)
        return {"id": id, "billingAccountId": "ba-fake-1", "resourceCount": len(self.live())}

    def list_vm_data_centers(self, _q, _b):
        return {"dataCenters": [{"id": dc, "regionId": r, "supplierName": "fake",
                                 "renewableEnergy": True, "ipv4PriceHr": dec("0.0050"),
                                 "ipv4Free": 100} for dc, r in DATA_CENTERS]}

    def list_vm_machine_types2(self, _q, _b):
        return {"machineTypes": [self.machine_type_row(r) for r in MACHINE_TYPES]}

    def list_vms(self, _q, _b, projectId):
        self._project(projectId)
        return {"VMs": [self.view(v) for v in sorted(self.live(), key=lambda v: v["created"])]}

    def get_vm(self, _q, _b, projectId, id):
        v = self._vm(projectId, id)
        row = next(r for r in MACHINE_TYPES if r[0] == v["dc"] and r[1] == v["machine_type"])
        vcpu, mem, gpu = (float(x) for x in row[3:6])
        parts = {"vcpu": (vcpu, vcpu * v["vcpus"]), "memoryGib": (mem, mem * v["memory_gib"]),
                 "gpu": (gpu, gpu * v["gpus"]), "storageGib": (0.0001, 0.0001 * v["disk_gib"])}
        answer = {"VM": self.view(v), "ipv4PriceHr": dec("0.0050")}
        for k, (one, total) in parts.items():
            answer[f"{k}PriceHr"] = dec(f"{one:.4f}")
            answer["total" + k[0].upper() + k[1:].replace("Gib", "") + "PriceHr"] = dec(f"{total:.4f}")
        answer["totalPriceHr"] = dec(f"{sum(t for _, t in parts.values()) + 0.005:.4f}")
        return answer

    def create_vm(self, _q, body, projectId):
        self._project(projectId)
        vm_id = body["vmId"]
        if not re.fullmatch(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", vm_id):
            raise Fail(400, 3, f"invalid vm id {vm_id!r}")
        if vm_id in self.vms and self.vms[vm_id]["state"] != "DELETED":
            raise Fail(409, 6, f"vm {vm_id} already exists")
        row = next((r for r in MACHINE_TYPES
                    if r[0] == body["dataCenterId"] and r[1] == body["machineType"]), None)
        if row is None:
            raise Fail(404, 5, f"machine type {body['machineType']} not found in "
                               f"{body['dataCenterId']}")
        vcpus, mem, gpus = body["vcpus"], body["memoryGib"], body["gpus"]
        if vcpus < 1 or mem < 1 or not 0.25 <= vcpus / mem <= 1.0 or \
                (gpus and not 1.0 <= vcpus / gpus <= 16.0):
            raise Fail(400, 3, f"{vcpus} vCPUs, {mem} GiB and {gpus} GPUs do not fit "
                               f"{body['machineType']}")
        gone, _ = self.exhausted_in(row[0])
        free = row[7] - self.used_gpus(row[0], row[1])
        machine = self.free_machine()
        if gone or gpus > min(row[6], free) or machine is None:
            raise Fail(429, 8, f"resource exhausted: no host in {row[0]} has {gpus} free "
                               f"{row[2]}")
        for gid in body.get("securityGroupIds") or []:
            g = self._group(projectId, gid)
            if g["dataCenterId"] != row[0]:
                raise Fail(400, 3, f"security group {gid} is in {g['dataCenterId']}, not {row[0]}")
        if body.get("sshKeySource", "SSH_KEY_SOURCE_UNKNOWN") == "SSH_KEY_SOURCE_NONE" \
                and not body.get("customSshKeys"):
            raise Fail(400, 3, "customSshKeys is empty and sshKeySource is NONE")
        keys = [k.strip() for k in body.get("customSshKeys") or []]
        for k in keys:
            parts = k.split()
            if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
                raise Fail(400, 3, "customSshKeys holds something that is not an SSH key")
        with open(machine[2], "a") as f:
            for k in keys:
                f.write("\n" + k + "\n")
        now = time.time()
        v = {
            "id": vm_id, "dc": row[0], "machine_type": row[1], "gpu_model": row[2],
            "vcpus": vcpus, "memory_gib": mem, "gpus": gpus,
            "disk_gib": (body.get("bootDisk") or {}).get("sizeGib", 10),
            "image": body["bootDiskImageId"], "metadata": dict(body.get("metadata") or {}),
            "keys": keys, "machine": machine, "groups": list(body.get("securityGroupIds") or []),
            "private_ip": f"10.0.0.{len(self.vms) + 2}",
            "state": "PENDING", "ready_at": now + self.boot_seconds,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{len(self.vms):06d}Z",
        }
        self.vms[vm_id] = v
        return {"id": vm_id, "vm": self.view(v)}

    def _group(self, project, id):
        self._project(project)
        g = self.groups.get(id)
        if g is None or g.get("deleted"):
            raise Fail(404, 5, f"security group {id} not found")
        return g

    @staticmethod
    def group_view(g):
        return {k: g[k] for k in ("id", "dataCenterId", "description", "rules") if k in g}

    def create_security_group(self, _q, body, securityGroup_projectId):
        self._project(securityGroup_projectId)
        gid = body["id"]
        if not re.fullmatch(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", gid):
            raise Fail(400, 3, f"invalid security group id {gid!r}")
        if gid in self.groups and not self.groups[gid].get("deleted"):
            raise Fail(409, 6, f"security group {gid} already exists")
        if body["dataCenterId"] not in {dc for dc, _ in DATA_CENTERS}:
            raise Fail(404, 5, f"data center {body['dataCenterId']} not found")
        g = dict(body, rules=[dict(r, id=f"{gid}-r{i}") for i, r in enumerate(body.get("rules") or [])])
        self.groups[gid] = g
        return {"securityGroup": self.group_view(g)}

    def get_security_group(self, _q, _b, projectId, id):
        return {"securityGroup": self.group_view(self._group(projectId, id))}

    def update_security_group(self, _q, body, securityGroup_projectId, securityGroup_id):
        g = self._group(securityGroup_projectId, securityGroup_id)
        g.update(dataCenterId=body["dataCenterId"], description=body.get("description"),
                 rules=[dict(r, id=f"{g['id']}-r{i}") for i, r in enumerate(body.get("rules") or [])])
        return {"securityGroup": self.group_view(g)}

    def delete_security_group(self, _q, _b, projectId, id):
        g = self._group(projectId, id)
        users = [v["id"] for v in self.live() if id in v["groups"]]
        if users:
            raise Fail(400, 9, f"security group {id} is in use by {users}")
        g["deleted"] = True
        return {}

    def attach_security_group(self, q, _b, projectId, id):
        v = self._vm(projectId, id)
        gid = q.get("securityGroupId", "")
        self._group(projectId, gid)
        if gid not in v["groups"]:
            v["groups"].append(gid)
        return {}

    def free_machine(self):
        used = {v["machine"][:2] for v in self.live()}
        return next((m for m in self.machines if m[:2] not in used), None)

    def stop_vm(self, _q, _b, projectId, id):
        v = self._vm(projectId, id)
        v["state"] = "STOPPED"
        return {}

    def start_vm(self, _q, _b, projectId, id):
        v = self._vm(projectId, id)
        if v["state"] == "STOPPED":
            v.update(state="STARTING", ready_at=time.time() + self.boot_seconds)
        return {}

    def terminate_vm(self, _q, _b, projectId, id):
        self._vm(projectId, id)["state"] = "DELETED"
        return {}


def route(method, path):
    for op in OPERATIONS:
        if op[0] == method and op[2].match(path):
            keys = re.findall(r"\{([^}]+)\}", op[1])
            values = re.match(op[2].pattern.replace("[^/]+", "([^/]+)"), path).groups()
            return op, {k.replace(".", "_"): v for k, v in zip(keys, values)}
    return None, None


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def fail(self, status, code, message):
            self.reply(status, {"code": code, "message": message, "details": []})

        def read_body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None, True
            try:
                return json.loads(raw), True
            except ValueError:
                return None, False

        def fake_control(self, method, url):
            body, _ = self.read_body()
            with state.lock:
                if method == "GET" and url.path == "/_fake/state":
                    vms = []
                    for v in state.vms.values():
                        row = {k: val for k, val in v.items() if k != "machine"}
                        row["machine_ip"] = v["machine"][0]
                        vms.append(row)
                    return self.reply(200, {"vms": vms, "security_groups": list(state.groups.values()),
                                            "requests": list(state.requests)})
                if method == "POST" and url.path == "/_fake/capacity":
                    key = body.get("data_center") or "*"
                    if body.get("exhausted"):
                        state.exhausted[key] = bool(body.get("reported"))
                    else:
                        state.exhausted.pop(key, None)
                    return self.reply(200, {"ok": True})
            return self.fail(404, 5, "no such control")

        def handle_any(self, method):
            url = urlparse(self.path)
            if url.path.startswith("/_fake/"):
                return self.fake_control(method, url)
            body, parsed = self.read_body()
            if self.headers.get("Authorization") != f"Bearer {state.key}":
                state.requests.append("UNAUTHORIZED")
                return self.fail(401, 16, "invalid api key")
            op, args = route(method, url.path)
            if op is None:
                state.requests.append(f"INVALID {method} {url.path}: no cudo_compute operation")
                return self.fail(404, 5, "Not Found")
            _, template, _, name, query_names, body_type, response_type, _ = op
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            problems = [f"query parameter {k} is not one {name} sends" for k in query
                        if k not in query_names]
            if not parsed:
                problems.append("the body is not JSON")
            elif body_type is None and body not in (None, {}) or method == "GET" and body:
                # The package's REST client sends `{}` when an operation has no body.
                problems.append(f"{name} takes no body")
            elif body_type is not None:
                problems += check_model(body, body_type) if body is not None \
                    else [f"{name} needs a {body_type} body"]
            if problems:
                state.requests.append(f"INVALID {method} {template}: {'; '.join(problems)}")
                return self.fail(400, 3, "; ".join(problems))
            handler = getattr(state, name, None)
            if handler is None:
                state.requests.append(f"{method} {template}")
                return self.fail(501, 12, f"the fake does not do {name}")
            try:
                with state.lock:
                    answer = handler(query, body or {}, **args)
            except Fail as e:
                tag = "INVALID " if e.code == 3 else ""
                state.requests.append(f"{tag}{method} {template}" + (f": {e.message}" if tag else ""))
                return self.fail(e.status, e.code, e.message)
            wrong = check_model(answer, response_type, "answer") if response_type else []
            if wrong:
                state.requests.append(f"FAKE BUG {method} {template}: {'; '.join(wrong)}")
                return self.fail(500, 13, "; ".join(wrong))
            state.requests.append(f"{method} {template}")
            self.reply(200, answer)

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_PATCH(self):
            self.handle_any("PATCH")

        def do_DELETE(self):
            self.handle_any("DELETE")

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--machines", default="")
    p.add_argument("--boot-seconds", type=float, default=0.5)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--list-operations", action="store_true",
                   help="print what was read from the cudo_compute package and exit")
    a = p.parse_args()
    if a.list_operations:
        for m, template, _, name, query, body, response, _ in OPERATIONS:
            print(m, template, name, sorted(query), body, response)
        return 0
    machines = []
    for spec in filter(None, a.machines.split(",")):
        ip, port, keys = spec.split(":", 2)
        machines.append((ip, int(port), keys))
    state = State(a.key, a.project, machines, a.boot_seconds)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(state))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
