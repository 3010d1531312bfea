#!/usr/bin/env python3
"""A stateful fake of Prime Intellect's REST API, for aloft's tests (needs `prime`,
Prime Intellect's official Python package, module `prime_cli`; scripts/test.sh puts
it in the repository's .venv).

    primeintellect_api.py --key KEY --ssh-user USER [--machines IP:PORT:AUTHKEYS,...]
                          [--boot-seconds S] [--port N]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1.

Every request is checked against what the package sends and reads (not against our
own reading of the API):

- the route: the method and path of a call `prime_cli` makes (read from the source
  of `prime_cli.api.pods`, `prime_cli.api.availability` and the `whoami` command
  with `ast`: `client.get/delete(path)`, `client.request(METHOD, path)`, paths
  handed to `_fetch_paginaged`), under `/api/v1` as `APIClient.request` prefixes
  them; f-string parts become path parameters; anything else is answered 404;
- the query: the parameter names the package's function sends (`PodsClient.list`:
  `offset`, `limit`; `AvailabilityClient.get` and `_fetch_paginaged`: `regions`,
  `gpu_count`, `gpu_type`, `disks`, `page`, `page_size`; whoami: `teamId`);
- the body of `POST /pods`: the keys of the `pod_config` dict the `prime pods
  create` command builds (top level and under `pod`), with the types of
  `PodConfig`'s fields of the same alias (checked by pydantic, strictly) and its
  required non-null fields (`cloudId`, `gpuType`, `socket`, `gpuCount`).

The package has no client for account SSH keys: those three routes (`GET` and
`POST /api/v1/ssh_keys/`, `DELETE /api/v1/ssh_keys/{key_id}`) and the upload body
(`name` and `publicKey`, both required strings) are taken from Prime Intellect's
published OpenAPI document (docs.primeintellect.ai, "Upload Ssh Key").

A request that fails these checks is answered 422 `{"detail": [...]}` (FastAPI's
shape, which the package's `ValidationError` reads) and recorded as `INVALID ...`
in `requests`. Answers are validated with the package's own models (`Pod`,
`PodList`, `GPUAvailability`) before they are sent.

Authentication as the package sends it: `Authorization: Bearer KEY`, else 401
`{"detail": "Invalid API key"}`.

Offers: a fixed market (see OFFERS). Creating a pod takes the next free "machine"
(a real sshd on loopback the test started): its `sshConnection` is
`USER@IP -p PORT`, and the account's SSH keys at that moment are appended to the
machine's authorized keys (pods get the account's keys). A pod is `PROVISIONING`
until `--boot-seconds` after its creation, then `ACTIVE` (installation
`FINISHED`); `DELETE` terminates it (gone from the listing) and frees its
machine.

Test controls (no auth, under `/_fake/`): `POST /_fake/capacity {"gpu_type"
(optional: all), "country" (optional: all), "exhausted": bool}` (those offers are
sold out since the listing: still listed, but creating a pod of them answers 400
"The requested ... configuration is not available"), `GET /_fake/state` (pods ever made, terminated ones too,
the account's `ssh_keys`, and `requests`: `METHOD /path-template` of every
request, `INVALID ...` or `UNAUTHORIZED`).
"""
import argparse
import ast
import inspect
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pydantic
from prime_cli.api import availability as api_availability
from prime_cli.api import pods as api_pods
from prime_cli.commands import pods as cmd_pods
from prime_cli.commands import whoami as cmd_whoami

# ---- what the package sends -----------------------------------------------------


def _path_template(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = ""
        for part in node.values:
            if isinstance(part, ast.Constant):
                out += str(part.value)
            else:
                out += "{" + re.sub(r"\W", "_", ast.unparse(part.value)) + "}"
        return out
    return None


def _keys_in(fn_node):
    """String keys of dicts and subscripts assigned in a function."""
    keys = set()
    for n in ast.walk(fn_node):
        if isinstance(n, ast.Dict):
            keys |= {k.value for k in n.keys if isinstance(k, ast.Constant)
                     and isinstance(k.value, str)}
        if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) \
                and isinstance(n.slice.value, str) and isinstance(n.ctx, ast.Store):
            keys.add(n.slice.value)
    return keys


def load_routes():
    """{(METHOD, template): (regex, query names)} of the calls the package makes."""
    routes = {}
    for module in (api_pods, api_availability, cmd_whoami):
        tree = ast.parse(inspect.getsource(module))
        for fn_node in ast.walk(tree):
            if not isinstance(fn_node, ast.FunctionDef):
                continue
            query = _keys_in(fn_node)
            for call in ast.walk(fn_node):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.args):
                    continue
                attr, args = call.func.attr, call.args
                if attr in ("get", "delete"):
                    method, path = attr.upper(), _path_template(args[0])
                elif attr == "request" and len(args) >= 2 and isinstance(args[0], ast.Constant):
                    method, path = args[0].value, _path_template(args[1])
                elif attr == "_fetch_paginaged":
                    method, path = "GET", _path_template(args[0])
                else:
                    continue
                if not path or not path.startswith("/"):
                    continue
                # Only reads take a query (`params=`); bodies are checked apart.
                wanted = query if method == "GET" else set()
                if attr == "_fetch_paginaged":
                    wanted = wanted | {"page", "page_size"}
                template = "/api/v1" + path
                pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
                old = routes.get((method, template), (None, set()))[1]
                routes[(method, template)] = (re.compile(pattern), old | wanted)
    # Paths handed to `_fetch_paginaged` as a variable: the literal strings given
    # to it at its call sites in AvailabilityClient.
    src = ast.parse(inspect.getsource(api_availability.AvailabilityClient))
    get_fn = next(n for n in ast.walk(src) if isinstance(n, ast.FunctionDef) and n.name == "get")
    get_query = _keys_in(get_fn) | {"page", "page_size"}
    for call in ast.walk(get_fn):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                and call.func.attr == "_fetch_paginaged":
            template = "/api/v1" + call.args[0].value
            routes[("GET", template)] = (re.compile("^" + re.escape(template) + "$"), get_query)
    # Account SSH keys: from Prime Intellect's published OpenAPI (the package has
    # no client for them).
    routes[("GET", "/api/v1/ssh_keys/")] = (re.compile(r"^/api/v1/ssh_keys/$"),
                                            {"offset", "limit"})
    routes[("POST", "/api/v1/ssh_keys/")] = (re.compile(r"^/api/v1/ssh_keys/$"), set())
    routes[("DELETE", "/api/v1/ssh_keys/{key_id}")] = (
        re.compile(r"^/api/v1/ssh_keys/[^/]+$"), set())
    return routes


def create_schema():
    """(top-level keys, pod keys, {alias: field}, required aliases) of the body of
    `POST /pods`, from the `pod_config` dict `prime pods create` builds and the
    `PodConfig` model."""
    node = ast.parse(inspect.getsource(cmd_pods.create)).body[0]
    top, pod = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) \
                and n.targets[0].id == "pod_config" and isinstance(n.value, ast.Dict):
            for k, v in zip(n.value.keys, n.value.values):
                top.add(k.value)
                if k.value == "pod" and isinstance(v, ast.Dict):
                    pod |= {pk.value for pk in v.keys}
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Subscript) \
                and isinstance(n.targets[0].value, ast.Name) \
                and n.targets[0].value.id == "pod_config":
            top.add(n.targets[0].slice.value)
    fields = {}
    required = set()
    for name, f in api_pods.PodConfig.model_fields.items():
        alias = f.alias or name
        fields[alias] = f
        nullable = type(None) in getattr(f.annotation, "__args__", ())
        if f.is_required() and not nullable:
            required.add(alias)
    return top, pod, fields, required


ROUTES = load_routes()
TOP_KEYS, POD_KEYS, POD_FIELDS, POD_REQUIRED = create_schema()


def check_create(body):
    problems = []
    if not isinstance(body, dict):
        return [(["body"], "must be an object")]
    for k in body:
        if k not in TOP_KEYS:
            problems.append((["body", k], f"is not a key `prime pods create` sends "
                                          f"({sorted(TOP_KEYS)})"))
    pod = body.get("pod")
    if not isinstance(pod, dict):
        return problems + [(["body", "pod"], "field required (an object)")]
    for k, v in pod.items():
        if k not in POD_KEYS:
            problems.append((["body", "pod", k], "is not a pod field the package sends"))
        elif k in POD_FIELDS and v is not None:
            try:
                pydantic.TypeAdapter(POD_FIELDS[k].annotation).validate_python(v, strict=True)
            except pydantic.ValidationError as e:
                problems.append((["body", "pod", k], e.errors()[0]["msg"]))
    for k in sorted(POD_REQUIRED & POD_KEYS):
        if pod.get(k) is None:
            problems.append((["body", "pod", k], "field required"))
    if "provider" in body and not isinstance(body["provider"], dict):
        problems.append((["body", "provider"], "must be an object"))
    return problems


# ---- the cloud --------------------------------------------------------------------

# (cloudId, gpuType, socket, provider, dataCenter, country, gpuCount, gpuMemory GB,
#  vcpus, memory GB, price, isSpot): a small market as the availability API lists it.
OFFERS = [
    ("rp-4090-us", "RTX4090_24GB", "PCIe", "runpod", "US-TX-1", "US", 1, 24, 16, 62, 0.49, False),
    ("hs-4090-us", "RTX4090_24GB", "PCIe", "hyperstack", "US-OR-2", "US", 1, 24, 12, 48, 0.55, False),
    ("dc-4090-ca", "RTX4090_24GB", "PCIe", "datacrunch", "CA-QC-1", "CA", 1, 24, 16, 62, 0.52, False),
    ("rp-4090-us-spot", "RTX4090_24GB", "PCIe", "runpod", "US-TX-1", "US", 1, 24, 16, 62, 0.29, True),
    ("lm-h100x8-us", "H100_80GB", "SXM5", "lambdalabs", "US-TX-3", "US", 8, 80, 208, 1800, 23.92, False),
    ("dc-h100x8-fi", "H100_80GB", "SXM5", "datacrunch", "FIN-01", "FI", 8, 80, 176, 1480, 21.60, False),
    ("rp-h100x8-us-spot", "H100_80GB", "SXM5", "runpod", "US-KS-2", "US", 8, 80, 128, 1000, 12.00, True),
    ("cpu-us", "CPU_NODE", "PCIe", "hyperstack", "US-OR-2", "US", 1, 0, 8, 32, 0.10, False),
]


class Fail(Exception):
    def __init__(self, status, detail):
        super().__init__(str(detail))
        self.status, self.detail = status, detail


class State:
    def __init__(self, key, user, machines, boot_seconds):
        self.key = key
        self.user = user
        self.machines = machines
        self.boot_seconds = boot_seconds
        self.lock = threading.Lock()
        self.pods = {}
        self.keys = {}
        self.exhausted = set()
        self.requests = []

    def out_of_stock(self, o):
        return any(g in ("*", o[1]) and c in ("*", o[5]) for g, c in self.exhausted)

    def live(self):
        return [p for p in self.pods.values() if p["status"] != "TERMINATED"]

    def free_machine(self):
        used = {p["machine"][:2] for p in self.live()}
        return next((m for m in self.machines if m[:2] not in used), None)

    def offer_row(self, o):
        (cid, gpu, socket, provider, dc, country, n, gmem, cpus, mem, price, spot) = o
        row = {
            "cloudId": cid, "gpuType": gpu, "socket": socket, "provider": provider,
            "dataCenter": dc, "country": country, "gpuCount": n, "gpuMemory": gmem,
            "disk": {"minCount": 20, "defaultCount": 50, "maxCount": 1000,
                     "pricePerUnit": 0.0001, "step": 10, "defaultIncludedInPrice": True,
                     "additionalInfo": None},
            "vcpu": {"minCount": None, "defaultCount": cpus, "maxCount": None,
                     "pricePerUnit": None, "step": None, "defaultIncludedInPrice": True,
                     "additionalInfo": None},
            "memory": {"minCount": None, "defaultCount": mem, "maxCount": None,
                       "pricePerUnit": None, "step": None, "defaultIncludedInPrice": True,
                       "additionalInfo": None},
            "internetSpeed": 1000, "interconnect": None, "interconnectType": None,
            "provisioningTime": 3, "stockStatus": "Medium", "security": "secure_cloud",
            "prices": {"onDemand": price, "communityPrice": None, "isVariable": False,
                       "currency": "USD"},
            "images": ["ubuntu_22_cuda_12", "cuda_12_4_pytorch_2_5"],
            "isSpot": spot, "prepaidTime": None,
        }
        api_availability.GPUAvailability.model_validate(row)  # the package reads it
        return row

    def view(self, p):
        o = p["offer"]
        active = p["status"] == "ACTIVE"
        ip, port, _ = p["machine"]
        row = {
            "id": p["id"], "name": p["name"], "gpuName": o[1], "gpuCount": o[6],
            "status": p["status"], "createdAt": p["createdAt"], "providerType": o[3],
            "installationStatus": "FINISHED" if active else "PENDING",
            "installationFailure": None, "installationProgress": 100 if active else 0,
            "teamId": None, "resources": {"vcpus": p["vcpus"], "memory": p["memory"]},
            "attachedResources": [], "primePortMapping": [],
            "sshConnection": f"{self.user}@{ip} -p {port}" if active else None,
            "ip": ip if active else None, "priceHr": o[10],
            "environmentType": p["image"], "socket": o[2], "type": "HOSTED",
            "userId": "user-4242", "walletId": "wallet-1", "updatedAt": p["createdAt"],
            "jupyterPassword": None, "stoppedPriceHr": None, "provisioningPriceHr": None,
            "basePriceHr": o[10], "baseCurrency": "USD", "customTemplateId": None,
            "isSpot": o[11], "autoRestart": False,
        }
        api_pods.Pod.model_validate(row)
        return row

    def tick(self):
        now = time.time()
        for p in self.pods.values():
            if p["status"] == "PROVISIONING" and now >= p["booted_at"]:
                p["status"] = "ACTIVE"

    # -- operations --

    def list_pods(self, q, _body):
        self.tick()
        rows = sorted(self.live(), key=lambda p: p["createdAt"])
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
        answer = {"total_count": len(rows), "offset": offset, "limit": limit,
                  "data": [self.view(p) for p in rows[offset:offset + limit]]}
        api_pods.PodList.model_validate(answer)
        return 200, answer

    def get_pod(self, _q, _body, pod_id):
        self.tick()
        p = self.pods.get(pod_id)
        if p is None or p["status"] == "TERMINATED":
            raise Fail(404, "Pod not found")
        return 200, self.view(p)

    def availability(self, q, _body):
        # Out-of-stock offers stay listed: the listing lags, the create refuses.
        rows = [self.offer_row(o) for o in OFFERS]
        if q.get("gpu_type"):
            rows = [r for r in rows if r["gpuType"] == q["gpu_type"]]
        if q.get("gpu_count"):
            rows = [r for r in rows if str(r["gpuCount"]) == q["gpu_count"]]
        page, size = int(q.get("page", 1)), int(q.get("page_size", 100))
        return 200, {"items": rows[(page - 1) * size: page * size], "totalCount": len(rows)}

    def multi_node(self, _q, _body):
        return 200, {"items": [], "totalCount": 0}

    def create(self, _q, body):
        problems = check_create(body)
        if problems:
            raise Fail(422, [{"loc": loc, "msg": msg, "type": "value_error"}
                             for loc, msg in problems])
        pod = body["pod"]
        o = next((x for x in OFFERS if x[0] == pod["cloudId"]), None)
        if o is None:
            raise Fail(404, f"Cloud id {pod['cloudId']} not found")
        if (pod["gpuType"], pod["socket"], pod["gpuCount"]) != (o[1], o[2], o[6]):
            raise Fail(400, "gpuType, socket and gpuCount do not match the cloud id")
        machine = self.free_machine()
        if self.out_of_stock(o) or machine is None:
            raise Fail(400, f"The requested {o[1]} configuration is not available")
        pid = uuid.uuid4().hex
        keys = [k["publicKey"] for k in self.keys.values()]
        with open(machine[2], "a") as f:
            for k in keys:
                f.write("\n" + k + "\n")
        created = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime()) + \
            f"{int(time.time() * 1e6) % 1000000:06d}Z"
        self.pods[pid] = {
            "id": pid, "name": pod.get("name"), "offer": o, "machine": machine,
            "status": "PROVISIONING", "createdAt": created,
            "booted_at": time.time() + self.boot_seconds, "image": pod.get("image"),
            "vcpus": pod.get("vcpus"), "memory": pod.get("memory"),
            "diskSize": pod.get("diskSize"), "keys": keys, "body": body,
        }
        return 200, self.view(self.pods[pid])

    def delete_pod(self, _q, _body, pod_id):
        p = self.pods.get(pod_id)
        if p is None or p["status"] == "TERMINATED":
            raise Fail(404, "Pod not found")
        p["status"] = "TERMINATED"
        return 200, {}

    def list_keys(self, q, _body):
        rows = list(self.keys.values())
        return 200, {"total_count": len(rows), "offset": 0, "limit": 100, "data": rows}

    def add_key(self, _q, body):
        problems = [(["body", k], "field required (a string)") for k in ("name", "publicKey")
                    if not isinstance(body.get(k), str)]
        problems += [(["body", k], "is not a field of APISSHKeyUploadRequestConfig")
                     for k in body if k not in ("name", "publicKey")]
        if problems:
            raise Fail(422, [{"loc": loc, "msg": msg, "type": "value_error"}
                             for loc, msg in problems])
        parts = body["publicKey"].split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise Fail(400, "Invalid SSH public key")
        kid = uuid.uuid4().hex[:16]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.keys[kid] = {"id": kid, "userId": "user-4242", "name": body["name"],
                          "publicKey": body["publicKey"], "isPrimary": not self.keys,
                          "isUserKey": True, "createdAt": now, "updatedAt": now}
        return 200, self.keys[kid]

    def delete_key(self, _q, _body, key_id):
        if self.keys.pop(key_id, None) is None:
            raise Fail(404, "SSH key not found")
        return 200, {}

    def whoami(self, _q, _body):
        return 200, {"data": {"id": "user-4242", "email": "sam@example.com", "name": "Sam",
                              "slug": "sam", "scope": {}}}


HANDLERS = {
    ("GET", "/api/v1/pods"): "list_pods",
    ("GET", "/api/v1/pods/{pod_id}"): "get_pod",
    ("POST", "/api/v1/pods"): "create",
    ("DELETE", "/api/v1/pods/{pod_id}"): "delete_pod",
    ("GET", "/api/v1/availability/gpus"): "availability",
    ("GET", "/api/v1/availability/multi-node"): "multi_node",
    ("GET", "/api/v1/ssh_keys/"): "list_keys",
    ("POST", "/api/v1/ssh_keys/"): "add_key",
    ("DELETE", "/api/v1/ssh_keys/{key_id}"): "delete_key",
    ("GET", "/api/v1/user/whoami"): "whoami",
}


def route(method, path):
    # Literal paths before templated ones (`/pods/status` is no pod id).
    for (m, template), (pattern, query) in sorted(ROUTES.items(),
                                                  key=lambda r: r[0][1].count("{")):
        if m == method and pattern.match(path):
            keys = re.findall(r"\{(\w+)\}", template)
            values = re.match(pattern.pattern.replace("[^/]+", "([^/]+)"), path).groups()
            return template, query, dict(zip(keys, values))
    return None


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
                    state.tick()
                    pods = []
                    for p in state.pods.values():
                        v = {k: val for k, val in p.items() if k not in ("machine", "offer")}
                        v["machine_ip"] = p["machine"][0]
                        v["cloudId"] = p["offer"][0]
                        pods.append(v)
                    return self.reply(200, {"pods": pods, "ssh_keys": list(state.keys.values()),
                                            "requests": list(state.requests)})
                if method == "POST" and url.path == "/_fake/capacity":
                    key = (body.get("gpu_type") or "*", body.get("country") or "*")
                    (state.exhausted.add if body.get("exhausted") else state.exhausted.discard)(key)
                    return self.reply(200, {"ok": True})
            return self.reply(404, {"detail": "no such control"})

        def handle_any(self, method):
            url = urlparse(self.path)
            if url.path.startswith("/_fake/"):
                return self.fake_control(method, url)
            body, parsed = self.read_body()
            if self.headers.get("Authorization") != f"Bearer {state.key}":
                state.requests.append("UNAUTHORIZED")
                return self.reply(401, {"detail": "Invalid API key"})
            found = route(method, url.path)
            if found is None:
                state.requests.append(f"INVALID {method} {url.path}: no prime_cli call")
                return self.reply(404, {"detail": "Not Found"})
            template, allowed, args = found
            raw_query = parse_qs(url.query)
            query = {k: v[-1] for k, v in raw_query.items()}
            problems = []
            if not parsed:
                problems.append("the body is not JSON")
            unknown = sorted(set(query) - allowed)
            if unknown:
                problems.append(f"query {unknown} is not what prime_cli sends ({sorted(allowed)})")
            if method in ("GET", "DELETE") and body is not None:
                problems.append(f"a {method} takes no body")
            handler = HANDLERS.get((method, template))
            if problems:
                state.requests.append(f"INVALID {method} {template}: {'; '.join(problems)}")
                return self.reply(422, {"detail": [{"loc": ["query"], "msg": p,
                                                    "type": "value_error"} for p in problems]})
            if handler is None:
                state.requests.append(f"{method} {template}")
                return self.reply(501, {"detail": f"the fake does not do {method} {template}"})
            try:
                with state.lock:
                    status, answer = getattr(state, handler)(query, body or {}, **args)
            except Fail as e:
                tag = "INVALID " if e.status == 422 else ""
                state.requests.append(f"{tag}{method} {template}" +
                                      (f": {json.dumps(e.detail)}" if tag else ""))
                return self.reply(e.status, {"detail": e.detail})
            state.requests.append(f"{method} {template}")
            self.reply(status, answer)

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_DELETE(self):
            self.handle_any("DELETE")

        def do_PATCH(self):
            self.handle_any("PATCH")

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--ssh-user", default="root")
    p.add_argument("--machines", default="")
    p.add_argument("--boot-seconds", type=float, default=0.5)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--check-schemas", action="store_true",
                   help="print what was read from the prime package and exit")
    a = p.parse_args()
    if a.check_schemas:
        for (m, template), (_, query) in sorted(ROUTES.items()):
            print(m, template, sorted(query), HANDLERS.get((m, template)))
        print("create top", sorted(TOP_KEYS))
        print("create pod", sorted(POD_KEYS), "required", sorted(POD_REQUIRED))
        return 0
    machines = []
    for spec in filter(None, a.machines.split(",")):
        ip, port, keys = spec.split(":", 2)
        machines.append((ip, int(port), keys))
    state = State(a.key, a.ssh_user, machines, a.boot_seconds)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(state))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
