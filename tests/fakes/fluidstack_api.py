#!/usr/bin/env python3
"""A stateful fake of Fluidstack's REST API, for aloft's tests (needs `fluidstack`,
Fluidstack's official Python package, module `FluidStack`, Fern-generated from
Fluidstack's API definition; scripts/test.sh puts it in the repository's .venv).

    fluidstack_api.py --key KEY --ssh-user USER [--machines IP:PORT:AUTHKEYS,...]
                      [--boot-seconds S] [--port N]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1.

Every request is checked against the package's own clients and types (not against
our reading of the API), read with `ast` and `typing` from its sync clients
(`InstancesClient`, `SshKeysClient`, `ConfigurationsClient`, `TemplatesClient`):

- the route: the path and `method=` of each `httpx_client.request(...)` call, under
  the base URL (f-string parts become path parameters); anything else is 404;
- the query: the keys of its `params={...}`;
- the body: the keys of its `json={...}`; each value is checked against the
  annotation of the method's parameter it comes from (pydantic, strictly; for
  Fern's open enums `Union[Literal[...], Any]` the value must be one of the
  literals: `GpuType`, `Region`, `SupportedOperatingSystem`), and the method's
  parameters without a default are required;
- authentication as the package sends it: the `api-key` header, else 401 with the
  package's `Message` (`{"message": ...}`).

A request that fails the checks is answered 422 with the package's
`HttpValidationError` (`{"detail": [{"loc", "msg", "type"}]}`) and recorded as
`INVALID ...` in `requests`. Every answer of a route that returns a type is
validated with that type (`parse_obj_as(List[ListInstanceResponse], ...)` etc.)
before it is sent; the create answers `{"id": ...}` (the package reads nothing
from it; SkyPilot's client reads `id`).

The market: CONFIGURATIONS (as `list_available_configurations` lists them).
Creating an instance checks that its configuration is offered (gpu type, count,
region) and that `ssh_key` names an account key, then takes the next free
"machine" (a real sshd on loopback the test started): its `ip_address` and
`ssh_port` are the machine's, its `username` the machine's user, and the named
key is appended to the machine's authorized keys. An instance is `pending` until
`--boot-seconds` after its creation (or start), then `running`; stop makes it
`stopped`; delete removes it from the listing and frees its machine.

Test controls (no auth, under `/_fake/`): `POST /_fake/capacity {"gpu_type"
(optional: all), "region" (optional: all), "exhausted": bool, "listed": bool
(default true)}`: a create of those is refused with 400 `{"error": "... out of
stock ..."}` (Fluidstack documents no capacity answer: the package raises
`ApiError` with the body, SkyPilot's client reads `error`); with `"listed":
false` they also leave the configurations listing. `GET /_fake/state`: instances
ever made (deleted ones too, `deleted: true`), the account's `ssh_keys`, and
`requests` (`METHOD /path-template` of every request, `INVALID ...` or
`UNAUTHORIZED`).
"""
import argparse
import ast
import inspect
import json
import re
import sys
import threading
import time
import typing
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pydantic
from FluidStack.configurations import client as configurations_client
from FluidStack.core.pydantic_utilities import pydantic_v1
from FluidStack.instances import client as instances_client
from FluidStack.ssh_keys import client as ssh_keys_client
from FluidStack.templates import client as templates_client
from FluidStack.types import ConfigurationResponse, ListInstanceResponse, Message

# ---- what the package sends -----------------------------------------------------

CLIENTS = [
    instances_client.InstancesClient,
    ssh_keys_client.SshKeysClient,
    configurations_client.ConfigurationsClient,
    templates_client.TemplatesClient,
]


def _path_template(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = ""
        for part in node.values:
            if isinstance(part, ast.Constant):
                out += str(part.value)
            else:
                # jsonable_encoder(instance_id) -> {instance_id}
                inner = part.value
                if isinstance(inner, ast.Call) and inner.args:
                    inner = inner.args[0]
                out += "{" + ast.unparse(inner) + "}"
        return out
    return None


def _dict_keys(node):
    if isinstance(node, ast.Dict):
        return {k.value: v for k, v in zip(node.keys, node.values)
                if isinstance(k, ast.Constant)}
    return None


def load_routes():
    """{(METHOD, template): route} of every call the package's sync clients make:
    the regex of the path, the query names, the body's fields (name -> annotation),
    the required body fields, and the type of the answer (None: not read)."""
    routes = {}
    for cls in CLIENTS:
        module = sys.modules[cls.__module__]
        tree = ast.parse(inspect.getsource(cls))
        for fn_node in tree.body[0].body:
            if not isinstance(fn_node, ast.FunctionDef) or fn_node.name.startswith("_"):
                continue
            fn = getattr(cls, fn_node.name)
            hints = typing.get_type_hints(fn, vars(module))
            sig = inspect.signature(fn)
            for call in ast.walk(fn_node):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "request" and call.args):
                    continue
                path = _path_template(call.args[0])
                kw = {k.arg: k.value for k in call.keywords}
                method = kw["method"].value
                query = set(_dict_keys(kw.get("params")) or {})
                body = {}
                required = set()
                for key, value in (_dict_keys(kw.get("json")) or {}).items():
                    param = value.id if isinstance(value, ast.Name) else key
                    body[key] = hints.get(param, typing.Any)
                    p = sig.parameters.get(param)
                    if p is not None and p.default is inspect.Parameter.empty:
                        required.add(key)
                template = "/" + path
                pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
                answer = hints.get("return")
                routes[(method, template)] = {
                    "regex": re.compile(pattern), "query": query, "body": body,
                    "required": required,
                    "answer": None if answer is type(None) else answer,
                }
    return routes


ROUTES = load_routes()


def _strip_optional(t):
    args = typing.get_args(t)
    if typing.get_origin(t) is typing.Union and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]
    return t


def check_value(t, v):
    """A problem with `v` as a value of the annotation `t`, or None."""
    t = _strip_optional(t)
    args = typing.get_args(t)
    if typing.get_origin(t) is typing.Union and typing.Any in args:
        # Fern's open enum: the request must carry one of the literals.
        allowed = [x for a in args if typing.get_origin(a) is typing.Literal
                   for x in typing.get_args(a)]
        if v not in allowed:
            return f"{v!r} is not one of {allowed}"
        return None
    if t is typing.Any:
        return None
    try:
        pydantic.TypeAdapter(t).validate_python(v, strict=True)
    except pydantic.ValidationError as e:
        return e.errors()[0]["msg"]
    except Exception as e:  # a type pydantic v2 cannot take (a v1 model)
        return f"cannot be checked against {t}: {e}"
    return None


def check_body(route, body):
    problems = []
    if route["body"] and not isinstance(body, dict):
        return [(["body"], "must be an object")]
    if not route["body"]:
        return [] if body is None else [(["body"], "the package sends no body here")]
    for k, v in body.items():
        if k not in route["body"]:
            problems.append((["body", k], f"is not a field the package sends "
                                          f"({sorted(route['body'])})"))
        elif v is not None:
            p = check_value(route["body"][k], v)
            if p:
                problems.append((["body", k], p))
    for k in sorted(route["required"]):
        if body.get(k) is None:
            problems.append((["body", k], "field required"))
    return problems


# ---- the cloud --------------------------------------------------------------------

# (gpu_type, gpu_counts, price_per_gpu_hr, regions, provisioning minutes)
CONFIGURATIONS = [
    ("RTX_A4000_16GB", [1, 2, 4], "0.35", ["NORWAY", "CANADA"], 5),
    ("A100_PCIE_80GB", [1, 2, 4, 8], "1.65", ["TEXAS_USA"], 10),
    ("H100_SXM5_80GB", [8], "2.89", ["NORWAY"], 15),
    ("H100_PCIE_80GB", [1, 2], "2.45", ["CANADA"], 10),
]
CPUS, MEMORY = 8, 32.0


class Fail(Exception):
    def __init__(self, status, body):
        super().__init__(json.dumps(body))
        self.status, self.body = status, body


def invalid(problems):
    return Fail(422, {"detail": [{"loc": loc, "msg": msg, "type": "value_error"}
                                 for loc, msg in problems]})


class State:
    def __init__(self, key, user, machines, boot_seconds):
        self.key = key
        self.user = user
        self.machines = machines
        self.boot_seconds = boot_seconds
        self.lock = threading.Lock()
        self.instances = {}
        self.keys = {}
        self.exhausted = {}
        self.requests = []

    def sold_out(self, gpu, region):
        """None, or whether the configuration is still listed."""
        for (g, r), listed in self.exhausted.items():
            if g in ("*", gpu) and r in ("*", region):
                return listed
        return None

    def live(self):
        return [i for i in self.instances.values() if not i["deleted"]]

    def free_machine(self):
        used = {i["machine"][:2] for i in self.live()}
        return next((m for m in self.machines if m[:2] not in used), None)

    def tick(self):
        now = time.time()
        for i in self.instances.values():
            if i["status"] == "pending" and now >= i["ready_at"]:
                i["status"] = "running"

    def view(self, i):
        ip, port, _ = i["machine"]
        conf = next(c for c in CONFIGURATIONS if c[0] == i["gpu_type"])
        up = i["status"] in ("running", "stopped", "stopping")
        row = {
            "id": i["id"], "status": i["status"], "username": self.user,
            "ssh_port": str(port) if up else None, "ssh_keys": [i["ssh_key"]],
            "ip_address": ip if up else None, "name": i["name"],
            "current_gpu_hr_cost": float(conf[2]) * i["gpu_count"],
            "configuration": {
                "id": i["configuration_id"],
                "gpu_model": {"name": i["gpu_type"],
                              "memory_size_gb": int(i["gpu_type"].rsplit("_", 1)[1][:-2])},
                "cpu_model": "AMD EPYC 7413", "gpu_count": i["gpu_count"],
                "cpu_count": CPUS, "nvme_storage_size_gb": 500,
                "memory_size_gb": MEMORY, "estimated_provisioning_time_minutes": conf[4],
                "region": i["region"],
            },
            "created_at": i["created_at"], "volumes": [],
        }
        pydantic_v1.parse_obj_as(ListInstanceResponse, row)  # the package reads it
        return row

    # -- operations --

    def list_instances(self, _q, _body):
        self.tick()
        return 200, [self.view(i) for i in sorted(self.live(), key=lambda i: i["created_at"])]

    def get_instance(self, _q, _body, instance_id):
        self.tick()
        i = self.instances.get(instance_id)
        if i is None or i["deleted"]:
            raise Fail(404, {"error": "Instance not found"})
        return 200, self.view(i)

    def create_instance(self, _q, body):
        gpu, n, region = body["gpu_type"], body.get("gpu_count") or 1, body.get("region")
        conf = next((c for c in CONFIGURATIONS if c[0] == gpu and n in c[1]
                     and (region is None or region in c[3])), None)
        if conf is None:
            raise Fail(400, {"error": f"No configuration of {n} x {gpu} in {region}"})
        if body["ssh_key"] not in self.keys:
            raise Fail(404, {"error": f"SSH key {body['ssh_key']} not found"})
        machine = self.free_machine()
        if self.sold_out(gpu, region or conf[3][0]) is not None or machine is None:
            raise Fail(400, {"error": f"{n} x {gpu} is out of stock in "
                                      f"{region or conf[3][0]}"})
        iid = uuid.uuid4().hex
        with open(machine[2], "a") as f:
            f.write("\n" + self.keys[body["ssh_key"]]["public_key"] + "\n")
        self.instances[iid] = {
            "id": iid, "name": body.get("name"), "gpu_type": gpu, "gpu_count": n,
            "region": region or conf[3][0], "ssh_key": body["ssh_key"],
            "os": body.get("operating_system_label"), "machine": machine,
            "status": "pending", "ready_at": time.time() + self.boot_seconds,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            + f".{int(time.time() * 1e6) % 1000000:06d}+00:00",
            "configuration_id": uuid.uuid4().hex, "deleted": False, "body": body,
        }
        return 200, {"id": iid}

    def delete_instance(self, _q, _body, instance_id):
        i = self.instances.get(instance_id)
        if i is None or i["deleted"]:
            raise Fail(404, {"error": "Instance not found"})
        i["deleted"] = True
        return 200, {"message": "Instance deleted"}

    def stop_instance(self, _q, _body, instance_id):
        self.tick()
        i = self.instances.get(instance_id)
        if i is None or i["deleted"]:
            raise Fail(404, {"error": "Instance not found"})
        # A booting instance can be stopped too (the package documents no
        # refusal of a stop; the fake refuses only what is not there).
        if i["status"] not in ("running", "pending", "stopped"):
            raise Fail(400, {"error": f"Instance is {i['status']}"})
        i["status"] = "stopped"
        return 200, self.view(i)

    def start_instance(self, _q, _body, instance_id):
        self.tick()
        i = self.instances.get(instance_id)
        if i is None or i["deleted"]:
            raise Fail(404, {"error": "Instance not found"})
        if i["status"] == "stopped":
            i["status"], i["ready_at"] = "pending", time.time() + self.boot_seconds
        return 200, self.view(i)

    def configurations(self, _q, _body):
        rows = []
        for gpu, counts, price, regions, minutes in CONFIGURATIONS:
            regions = [r for r in regions if self.sold_out(gpu, r) is not False]
            if regions:
                rows.append({"gpu_type": gpu, "gpu_counts": counts, "price_per_gpu_hr": price,
                             "estimated_provisioning_time_minutes": minutes,
                             "regions": regions})
        return 200, rows

    def list_keys(self, _q, _body):
        return 200, list(self.keys.values())

    def add_key(self, _q, body):
        parts = body["public_key"].split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise Fail(400, {"error": "Invalid SSH public key"})
        if body["name"] in self.keys:
            raise Fail(409, {"error": f"SSH key {body['name']} already exists"})
        self.keys[body["name"]] = {"name": body["name"], "public_key": body["public_key"]}
        return 200, self.keys[body["name"]]

    def delete_key(self, _q, _body, ssh_key_name):
        if self.keys.pop(ssh_key_name, None) is None:
            raise Fail(404, {"error": "SSH key not found"})
        return 200, {"message": "SSH key deleted"}


HANDLERS = {
    ("GET", "/instances"): "list_instances",
    ("POST", "/instances"): "create_instance",
    ("GET", "/instances/{instance_id}"): "get_instance",
    ("DELETE", "/instances/{instance_id}"): "delete_instance",
    ("PUT", "/instances/{instance_id}/stop"): "stop_instance",
    ("PUT", "/instances/{instance_id}/start"): "start_instance",
    ("GET", "/list_available_configurations"): "configurations",
    ("GET", "/ssh_keys"): "list_keys",
    ("POST", "/ssh_keys"): "add_key",
    ("DELETE", "/ssh_keys/{ssh_key_name}"): "delete_key",
}


def route(method, path):
    for (m, template), r in sorted(ROUTES.items(), key=lambda r: r[0][1].count("{")):
        if m == method and r["regex"].match(path):
            keys = re.findall(r"\{(\w+)\}", template)
            values = re.match(r["regex"].pattern.replace("[^/]+", "([^/]+)"), path).groups()
            return template, r, dict(zip(keys, values))
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
                    instances = []
                    for i in state.instances.values():
                        v = {k: val for k, val in i.items() if k != "machine"}
                        v["machine_ip"] = i["machine"][0]
                        instances.append(v)
                    return self.reply(200, {"instances": instances,
                                            "ssh_keys": list(state.keys.values()),
                                            "requests": list(state.requests)})
                if method == "POST" and url.path == "/_fake/capacity":
                    key = (body.get("gpu_type") or "*", body.get("region") or "*")
                    if body.get("exhausted"):
                        state.exhausted[key] = body.get("listed", True)
                    else:
                        state.exhausted.pop(key, None)
                    return self.reply(200, {"ok": True})
            return self.reply(404, {"error": "no such control"})

        def handle_any(self, method):
            url = urlparse(self.path)
            if url.path.startswith("/_fake/"):
                return self.fake_control(method, url)
            body, parsed = self.read_body()
            if self.headers.get("api-key") != state.key:
                state.requests.append("UNAUTHORIZED")
                answer = {"message": "Invalid API key"}
                pydantic_v1.parse_obj_as(Message, answer)
                return self.reply(401, answer)
            found = route(method, url.path)
            if found is None:
                state.requests.append(f"INVALID {method} {url.path}: no call of the package")
                return self.reply(404, {"detail": "Not Found"})
            template, r, args = found
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            problems = []
            if not parsed:
                problems.append((["body"], "the body is not JSON"))
            unknown = sorted(set(query) - r["query"])
            if unknown:
                problems.append((["query"], f"{unknown} is not what the package sends "
                                            f"({sorted(r['query'])})"))
            problems += check_body(r, body)
            if problems:
                e = invalid(problems)
                state.requests.append(f"INVALID {method} {template}: {json.dumps(e.body)}")
                return self.reply(e.status, e.body)
            handler = HANDLERS.get((method, template))
            if handler is None:
                state.requests.append(f"{method} {template}")
                return self.reply(501, {"error": f"the fake does not do {method} {template}"})
            try:
                with state.lock:
                    status, answer = getattr(state, handler)(query, body or {}, **args)
                if r["answer"] is not None:
                    pydantic_v1.parse_obj_as(r["answer"], answer)
            except Fail as e:
                state.requests.append(f"{method} {template}")
                return self.reply(e.status, e.body)
            state.requests.append(f"{method} {template}")
            self.reply(status, answer)

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_DELETE(self):
            self.handle_any("DELETE")

        def do_PATCH(self):
            self.handle_any("PATCH")

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--ssh-user", default="ubuntu")
    p.add_argument("--machines", default="")
    p.add_argument("--boot-seconds", type=float, default=0.5)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--check-schemas", action="store_true",
                   help="print what was read from the package and exit")
    a = p.parse_args()
    for gpu, counts, price, regions, minutes in CONFIGURATIONS:
        pydantic_v1.parse_obj_as(ConfigurationResponse, {
            "gpu_type": gpu, "gpu_counts": counts, "price_per_gpu_hr": price,
            "regions": regions, "estimated_provisioning_time_minutes": minutes})
    if a.check_schemas:
        for (m, template), r in sorted(ROUTES.items()):
            print(m, template, sorted(r["query"]), {k: str(v) for k, v in r["body"].items()},
                  "required", sorted(r["required"]), "answer", r["answer"],
                  HANDLERS.get((m, template)))
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
