#!/usr/bin/env python3
"""A stateful fake of Vast.ai's REST API, for aloft's tests (needs `vastai-sdk`,
Vast.ai's official Python package, which installs `vastai`; scripts/test.sh puts it
in the repository's .venv).

    vastai_api.py --key KEY [--machines IP:PORT:AUTHKEYS,...] [--boot-seconds S]
                  [--port N]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1.

Vast.ai publishes no OpenAPI document; its schema is what its official package
sends and reads, so every request is checked against that package (not against our
own reading of the API):

- the route: the method and path must be those of a `client.get/put/post/delete`
  call in one of the package's `vastai.api.*` functions (read from their source
  with `ast`; `/api/v0` is prefixed as `VastClient._build_url` does, f-string
  parts become path parameters); anything else is answered 404;
- the JSON body: the keys the package's function builds (its `json_blob` dict,
  keys it adds later, and constants such as `{"state": "stopped"}`), with the
  types of the parameters that fill them. Renting an offer (`PUT /asks/{id}/`) is
  checked against `build_create_instance_payload` and the `InstanceConfig`
  dataclass (`image` required, as there); an offer search (`POST /bundles/`)
  against `offers_fields` / `offers_alias` of `vastai.api.query`, the operators of
  its `parse_query`, and the keys `search_offers` adds (`order`, `type`, `limit`,
  `allocated_storage`, ...);
- the query of `GET /api/v1/instances/`: the parameters `show_instances` sends,
  JSON-encoded as the client encodes them.

A request that fails these checks is answered 400 `{"success": false, "error":
"invalid_args", "msg": ...}` and recorded as `INVALID ...` in `requests`.
Answers have the fields of the package's dataclasses (`Instance`, `Offer`,
`CreateInstanceResponse`), so the package itself reads them back.

Authentication as Vast.ai takes it: `Authorization: Bearer KEY`, else 401
`{"success": false, "error": "auth_error", "msg": "Invalid user key"}`.

Offers: a fixed market (see OFFERS). Renting one takes the next free "machine" (a
real sshd on loopback the test started): the instance's `public_ipaddr` is the
machine's address and its port 22 is "mapped" to the machine's sshd port; keys
attached with `POST /instances/{id}/ssh/` are appended to the machine's authorized
keys. An offer with a live instance is rented (not searchable, not rentable). An
instance is `loading` until `--boot-seconds` after its rent, then `running`;
`{"state": "stopped"}` stops it (`exited`), `{"state": "running"}` starts it;
`DELETE` destroys it and frees its machine.

Test controls (no auth, under `/_fake/`): `POST /_fake/capacity {"gpu_name"
(optional: all), "region" (optional: all), "exhausted": bool}` (renting answers
`no_such_ask` "Instance type by id N is not available."), `POST /_fake/outbid
{"id": n}` (an interruptible instance is stopped by a higher bid), `GET
/_fake/state` (instances ever made, destroyed ones with `destroyed: true`, and
`requests`: `METHOD /path-template` of every request, `INVALID ...` or
`UNAUTHORIZED`).
"""
import argparse
import ast
import dataclasses
import inspect
import json
import pkgutil
import random
import re
import sys
import threading
import time
import typing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import vastai_sdk  # noqa: F401  (the official package; it is `vastai` underneath)
import vastai.api
from vastai.api import instances as api_instances, offers as api_offers, query as api_query
from vastai.data.instance import CreateInstanceResponse, Instance, InstanceConfig
from vastai.data.offer import Offer

ANY = object()


# ---- the package's routes and bodies -------------------------------------------

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


def _annotation_kind(annotation):
    """A checker kind from a parameter's or field's annotation (its outermost
    type, `Optional` unwrapped)."""
    if annotation is inspect.Parameter.empty or annotation is None:
        return ANY
    if typing.get_origin(annotation) is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _annotation_kind(inner[0]) if len(inner) == 1 else ANY
    base = typing.get_origin(annotation) or annotation
    return base if base in (bool, float, int, str, dict, list) else ANY


def _dict_schema(fn_node, name_or_dict, params):
    """{key: (kind or constant, required)} of the dict a function sends."""
    schema = {}

    def add(dict_node, optional):
        for k, v in zip(dict_node.keys, dict_node.values):
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                continue
            if isinstance(v, ast.Constant):
                schema[k.value] = (("const", v.value), not optional)
            elif isinstance(v, ast.Name) and v.id in params:
                schema[k.value] = (_annotation_kind(params[v.id].annotation), False)
            else:
                schema[k.value] = (ANY, False)

    if isinstance(name_or_dict, ast.Dict):
        add(name_or_dict, False)
        return schema
    if not isinstance(name_or_dict, ast.Name):
        return None
    var = name_or_dict.id
    found = False
    for node in ast.walk(fn_node):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            t = node.targets[0]
            if isinstance(t, ast.Name) and t.id == var and isinstance(node.value, ast.Dict):
                add(node.value, False)
                found = True
            elif (isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
                  and t.value.id == var and isinstance(t.slice, ast.Constant)):
                kind = ANY
                if isinstance(node.value, ast.Name) and node.value.id in params:
                    kind = _annotation_kind(params[node.value.id].annotation)
                elif isinstance(node.value, ast.Constant):
                    kind = type(node.value.value)
                schema.setdefault(t.slice.value, (kind, False))
    return schema if found else None


def load_routes():
    """[(method, regex, template, [function names], [body schemas or None])]."""
    table = {}
    for info in pkgutil.iter_modules(vastai.api.__path__):
        module = __import__(f"vastai.api.{info.name}", fromlist=["_"])
        tree = ast.parse(inspect.getsource(module))
        for fn_node in tree.body:
            if not isinstance(fn_node, ast.FunctionDef):
                continue
            fn = getattr(module, fn_node.name, None)
            params = dict(inspect.signature(fn).parameters) if callable(fn) else {}
            for call in ast.walk(fn_node):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and isinstance(call.func.value, ast.Name)
                        and call.func.value.id == "client"
                        and call.func.attr in ("get", "put", "post", "delete")
                        and call.args):
                    continue
                path = _path_template(call.args[0])
                if path is None:
                    continue
                if not re.match(r"^/api/v\d+/", path):
                    path = "/api/v0" + path
                method = call.func.attr.upper()
                body = next((k.value for k in call.keywords if k.arg == "json_data"), None)
                schema = {} if body is None else _dict_schema(fn_node, body, params)
                entry = table.setdefault((method, path), ([], []))
                entry[0].append(f"{info.name}.{fn_node.name}")
                entry[1].append(schema)
    routes = []
    for (method, path), (names, schemas) in table.items():
        pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"
        routes.append((method, re.compile(pattern), path, names, schemas))
    # Literal paths before templated ones (`/instances/reboot/{id}/` is no id).
    routes.sort(key=lambda r: r[2].count("{"))
    return routes


def create_schema():
    """The body of renting an offer: what build_create_instance_payload builds,
    with its parameters' types, and the fields of InstanceConfig (`image`
    required, as there)."""
    fn = api_instances.build_create_instance_payload
    node = ast.parse(inspect.getsource(fn)).body[0]
    schema = _dict_schema(node, ast.Name(id="json_blob"), dict(inspect.signature(fn).parameters))
    hints = typing.get_type_hints(InstanceConfig)
    for f in dataclasses.fields(InstanceConfig):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        kind = _annotation_kind(hints[f.name])
        old = schema.get(f.name)
        schema[f.name] = (kind if kind is not ANY or old is None else old[0], required)
    # `client_id` is the constant "me", never required.
    schema["client_id"] = (("const", "me"), False)
    return schema


def search_schema():
    """Filters of an offer search, its operators, and the keys search_offers adds."""
    fields = set(api_query.offers_fields) | set(api_query.offers_alias)
    src = inspect.getsource(api_query.parse_query)
    ops_node = next(n for n in ast.walk(ast.parse(src))
                    if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
                    and n.targets[0].id == "op_names")
    ops = {v.value for v in ops_node.value.values}
    fn = api_offers.search_offers
    node = ast.parse(inspect.getsource(fn)).body[0]
    extra = _dict_schema(node, ast.Name(id="q"), dict(inspect.signature(fn).parameters)) or {}
    types = set(re.findall(r'"([a-z-]+)"', re.search(r"offer_type:([^\n]+)", fn.__doc__).group(1)))
    return fields | {k for k, _ in extra.items()}, ops, extra, types


def list_query_schema():
    """The query parameters show_instances sends to GET /api/v1/instances/."""
    node = ast.parse(inspect.getsource(api_instances.show_instances)).body[0]
    keys = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Dict):
            keys |= {k.value for k in n.keys if isinstance(k, ast.Constant)}
        if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) \
                and isinstance(n.value, ast.Name) and n.value.id == "params":
            keys.add(n.slice.value)
    return keys - {"col", "dir"}


ROUTES = load_routes()
CREATE = create_schema()
SEARCH_FIELDS, SEARCH_OPS, SEARCH_EXTRA, SEARCH_TYPES = search_schema()
LIST_QUERY = list_query_schema()


def check_kind(value, kind, path):
    if kind is ANY or value is None:
        return []
    if isinstance(kind, tuple):
        return [] if value == kind[1] else [f"{path} must be {kind[1]!r}"]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    return [] if ok else [f"{path} must be {kind.__name__}"]


def check_schema(body, schema, path="body"):
    if not isinstance(body, dict):
        return [f"{path} must be an object"]
    problems = []
    for k, v in body.items():
        if k not in schema:
            problems.append(f"{path}.{k} is not a field of this request")
        else:
            problems += check_kind(v, schema[k][0], f"{path}.{k}")
    problems += [f"{path}.{k} is required" for k, (_, req) in schema.items()
                 if req and k not in body]
    return problems


def check_search(body):
    if not isinstance(body, dict):
        return ["body must be an object"]
    problems = []
    for k, v in body.items():
        if k not in SEARCH_FIELDS:
            problems.append(f"{k} is not an offer field")
        elif k in SEARCH_EXTRA and k not in api_query.offers_fields:
            if k == "order":
                if not (isinstance(v, list) and all(isinstance(o, list) and len(o) == 2
                                                    and o[0] in SEARCH_FIELDS | {"score"}
                                                    and o[1] in ("asc", "desc") for o in v)):
                    problems.append("order must be [[field, asc|desc], ...]")
            elif k == "type":
                if v not in SEARCH_TYPES:
                    problems.append(f"type must be one of {sorted(SEARCH_TYPES)}")
            else:
                problems += check_kind(v, SEARCH_EXTRA[k][0], k)
        elif not (isinstance(v, dict) and v and set(v) <= SEARCH_OPS):
            problems.append(f"{k} must be {{operator: value}} with operators {sorted(SEARCH_OPS)}")
    return problems


# ---- the cloud ----------------------------------------------------------------

# (offer id, gpu_name, num_gpus, gpu_ram MB, cpu cores, cpu_ram MB, dph_total, min_bid,
#  geolocation): a small market as Vast.ai's search shows it.
OFFERS = [
    (9101, "RTX 4090", 1, 24564, 16, 64000, 0.42, 0.21, "Texas, US"),
    (9102, "RTX 4090", 1, 24564, 12, 48000, 0.45, 0.25, "Ohio, US"),
    (9103, "RTX 4090", 1, 24564, 16, 64000, 0.40, 0.20, "Sweden, SE"),
    (9104, "RTX 4090", 1, 24564, 16, 64000, 0.48, 0.24, "Quebec, CA"),
    (9105, "RTX 4090", 1, 24564, 16, 64000, 0.47, 0.23, "Quebec, CA"),
    (9201, "H100 SXM", 8, 81559, 128, 2064000, 17.60, 9.80, "Texas, US"),
    (9202, "H100 SXM", 1, 81559, 24, 258000, 2.35, 1.20, "Oregon, US"),
    (9301, "GTX 1070", 1, 8192, 4, 16000, 0.05, 0.03, "Poland, PL"),
]


class Fail(Exception):
    def __init__(self, status, error, msg):
        super().__init__(msg)
        self.status, self.error, self.msg = status, error, msg


def region_of(geo):
    return geo.rsplit(",", 1)[-1].strip()


class State:
    def __init__(self, key, machines, boot_seconds):
        self.key = key
        self.machines = machines
        self.boot_seconds = boot_seconds
        self.lock = threading.Lock()
        self.instances = {}
        self.exhausted = set()
        self.requests = []
        self.next_id = 20000001

    def live(self):
        return [i for i in self.instances.values() if not i["destroyed"]]

    def rented(self, offer_id):
        return any(i["offer"] == offer_id for i in self.live())

    def free_machine(self):
        used = {i["machine"][:2] for i in self.live()}
        return next((m for m in self.machines if m[:2] not in used), None)

    def offer_row(self, o):
        (oid, gpu, n, gram, cores, ram, dph, bid, geo) = o
        row = {f.name: None for f in dataclasses.fields(Offer)}
        row.update({
            "id": oid, "ask_contract_id": oid, "machine_id": oid - 9000, "host_id": 77,
            "num_gpus": n, "gpu_name": gpu, "gpu_ram": gram, "gpu_total_ram": gram * n,
            "cpu_cores_effective": cores, "cpu_cores": cores * 2, "cpu_ram": ram,
            "disk_space": 512.0, "dph_base": dph - 0.02, "dph_total": dph, "min_bid": bid,
            "rentable": True, "rented": self.rented(oid), "is_bid": False, "external": False,
            "verified": True, "verification": "verified", "geolocation": geo,
            "reliability": 0.995, "score": 100.0 - dph, "inet_up": 800.0, "inet_down": 900.0,
        })
        return row

    def view(self, i):
        if i["actual_status"] == "loading" and time.time() >= i["booted_at"]:
            i["actual_status"] = "running"
        o = next(x for x in OFFERS if x[0] == i["offer"])
        ip, port, _ = i["machine"]
        running = i["actual_status"] == "running"
        ports = {}
        if running:
            ports["22/tcp"] = [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
            for p in i["mapped"]:
                ports[f"{p}/tcp"] = [{"HostIp": "0.0.0.0", "HostPort": str(30000 + p % 20000)}]
        row = {f.name: None for f in dataclasses.fields(Instance)}
        row.update({
            "id": i["id"], "machine_id": o[0] - 9000, "host_id": 77,
            "actual_status": i["actual_status"], "cur_state": i["cur_state"],
            "next_state": i["cur_state"], "intended_status": i["intended_status"],
            "image_uuid": i["image"], "image_runtype": i["runtype"], "label": i["label"],
            "num_gpus": o[2], "gpu_name": o[1], "gpu_ram": o[3], "cpu_ram": o[5],
            "cpu_cores_effective": o[4], "disk_space": i["disk"],
            "ssh_host": "ssh5.vast.ai", "ssh_port": 10000 + i["id"] % 50000, "ssh_idx": "5",
            "public_ipaddr": ip if running else None, "local_ipaddrs": ["172.17.0.2"],
            "ports": ports, "status_msg": "success, running" if running else "",
            "extra_env": [[k, v] for k, v in i["env"].items()], "onstart": None,
            "start_date": i["start_date"], "end_date": None, "dph_total": o[6],
            "is_bid": i["is_bid"], "geolocation": o[8], "template_id": None,
        })
        return row

    # -- operations --

    def list_instances(self, q, _body):
        problems = [f"query parameter {k} is not one show_instances sends ({sorted(LIST_QUERY)})"
                    for k in q if k not in LIST_QUERY]
        for k in ("select_filters", "order_by", "limit"):
            if k in q:
                try:
                    json.loads(q[k])
                except ValueError:
                    problems.append(f"{k} must be JSON, as the client encodes it")
        if problems:
            raise Fail(400, "invalid_args", "; ".join(problems))
        rows = sorted(self.live(), key=lambda i: i["id"])
        limit = int(json.loads(q.get("limit", "25")))
        after = int(q["after_token"]) if q.get("after_token") else 0
        page = [r for r in rows if r["id"] > after][:limit]
        more = len([r for r in rows if r["id"] > after]) > limit
        return 200, {"instances": [self.view(i) for i in page],
                     "next_token": str(page[-1]["id"]) if more else None,
                     "total_instances": len(rows)}

    def search(self, _q, body):
        problems = check_search(body)
        if problems:
            raise Fail(400, "invalid_args", "; ".join(problems))
        rows = [self.offer_row(o) for o in OFFERS]

        def keep(row):
            for k, cond in body.items():
                if k in SEARCH_EXTRA and k not in api_query.offers_fields:
                    continue
                v = row.get(api_query.offers_alias.get(k, k))
                for op, want in cond.items():
                    if op == "eq" and v != want or op == "neq" and v == want:
                        return False
                    if op == "in" and v not in want or op == "notin" and v in want:
                        return False
                    if op in ("gt", "gte", "lt", "lte") and v is not None:
                        if not {"gt": v > want, "gte": v >= want,
                                "lt": v < want, "lte": v <= want}[op]:
                            return False
            return True

        rows = [r for r in rows if keep(r)]
        for field, direction in body.get("order", []):
            rows.sort(key=lambda r: r.get(field) or 0, reverse=direction == "desc")
        rows = rows[: int(body.get("limit") or 64)]
        for r in rows:
            Offer.from_dict(r)  # the package reads what the fake answers
        return 200, {"offers": rows}

    def rent(self, _q, body, id):
        problems = check_schema(body, CREATE)
        if problems:
            raise Fail(400, "invalid_args", "; ".join(problems))
        o = next((x for x in OFFERS if str(x[0]) == id), None)
        if o is None or self.rented(o[0]) or any(
                g in ("*", o[1]) and r in ("*", region_of(o[8])) for g, r in self.exhausted):
            raise Fail(400, "no_such_ask", f"Instance type by id {id} is not available.")
        machine = self.free_machine()
        if machine is None:
            raise Fail(400, "no_such_ask", f"Instance type by id {id} is not available.")
        if body.get("price") is not None and body["price"] < o[7]:
            raise Fail(400, "invalid_args", f"bid {body['price']} is below the minimum {o[7]}")
        mapped = []
        for k in (body.get("env") or {}):
            m = re.fullmatch(r"-p (\d+):(\d+)", k)
            if m:
                mapped.append(int(m.group(1)))
        self.next_id += random.randint(1, 97)
        iid = self.next_id
        self.instances[iid] = {
            "id": iid, "offer": o[0], "machine": machine, "label": body.get("label"),
            "image": body["image"], "runtype": body.get("runtype"), "disk": body.get("disk"),
            "env": {k: v for k, v in (body.get("env") or {}).items()}, "mapped": mapped,
            "is_bid": body.get("price") is not None, "actual_status": "loading",
            "cur_state": "running", "intended_status": "running", "destroyed": False,
            "start_date": time.time(), "booted_at": time.time() + self.boot_seconds,
            "keys": [],
        }
        answer = {"success": True, "new_contract": iid}
        CreateInstanceResponse.from_dict(answer)
        return 200, answer

    def _instance(self, id):
        i = self.instances.get(int(id)) if str(id).isdigit() else None
        if i is None or i["destroyed"]:
            raise Fail(404, "no_such_instance", f"Instance {id} not found.")
        return i

    def change(self, _q, body, id):
        i = self._instance(id)
        if body == {"state": "stopped"}:
            i.update(intended_status="stopped", cur_state="stopped", actual_status="exited")
        elif body == {"state": "running"}:
            o = next(x for x in OFFERS if x[0] == i["offer"])
            if any(g in ("*", o[1]) and r in ("*", region_of(o[8])) for g, r in self.exhausted):
                # The GPUs are rented by someone else: it waits for them.
                i.update(intended_status="running", cur_state="stopped", actual_status="scheduling")
            else:
                i.update(intended_status="running", cur_state="running", actual_status="loading",
                         booted_at=time.time() + self.boot_seconds)
        elif set(body) == {"label"}:
            i["label"] = body["label"]
        return 200, {"success": True}

    def destroy(self, _q, _body, id):
        self._instance(id)["destroyed"] = True
        return 200, {"success": True}

    def attach(self, _q, body, instance_id):
        i = self._instance(instance_id)
        key = body["ssh_key"].strip()
        parts = key.split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise Fail(400, "invalid_args", "ssh_key is not an SSH public key")
        if key not in i["keys"]:
            i["keys"].append(key)
            with open(i["machine"][2], "a") as f:
                f.write("\n" + key + "\n")
        return 200, {"success": True, "msg": "SSH key attached"}

    def user(self, _q, _body):
        # Vast.ai's answer carries the key itself; aloft must never show it.
        return 200, {"id": 4242, "username": "sammy", "email": "sammy@example.com",
                     "credit": 25.5, "balance": 0.0, "api_key": self.key,
                     "ssh_key": None, "has_billing": True}


HANDLERS = {
    ("GET", "/api/v1/instances/"): "list_instances",
    ("POST", "/api/v0/bundles/"): "search",
    ("PUT", "/api/v0/asks/{id}/"): "rent",
    ("PUT", "/api/v0/instances/{id}/"): "change",
    ("DELETE", "/api/v0/instances/{id}/"): "destroy",
    ("POST", "/api/v0/instances/{instance_id}/ssh/"): "attach",
    ("GET", "/api/v0/users/current"): "user",
}
# Bodies these handlers check themselves (the package builds them elsewhere).
OWN_CHECKS = {"search", "rent", "list_instances"}


def route(method, path):
    for m, pattern, template, names, schemas in ROUTES:
        if m == method and pattern.match(path):
            keys = re.findall(r"\{(\w+)\}", template)
            values = re.match(pattern.pattern.replace("[^/]+", "([^/]+)"), path).groups()
            return template, names, schemas, dict(zip(keys, values))
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
                    rows = []
                    for i in state.instances.values():
                        v = {k: val for k, val in i.items() if k not in ("machine",)}
                        v["machine_ip"] = i["machine"][0]
                        rows.append(v)
                    return self.reply(200, {"instances": rows, "requests": list(state.requests)})
                if method == "POST" and url.path == "/_fake/capacity":
                    key = (body.get("gpu_name") or "*", body.get("region") or "*")
                    (state.exhausted.add if body.get("exhausted") else state.exhausted.discard)(key)
                    return self.reply(200, {"ok": True})
                if method == "POST" and url.path == "/_fake/outbid":
                    i = state.instances[int(body["id"])]
                    i.update(cur_state="stopped", actual_status="exited")
                    return self.reply(200, {"ok": True})
            return self.reply(404, {"success": False, "error": "not_found", "msg": "no such control"})

        def handle_any(self, method):
            url = urlparse(self.path)
            if url.path.startswith("/_fake/"):
                return self.fake_control(method, url)
            body, parsed = self.read_body()
            if self.headers.get("Authorization") != f"Bearer {state.key}":
                state.requests.append("UNAUTHORIZED")
                return self.reply(401, {"success": False, "error": "auth_error",
                                        "msg": "Invalid user key"})
            found = route(method, url.path)
            if found is None:
                state.requests.append(f"INVALID {method} {url.path}: no vastai.api call")
                return self.reply(404, {"success": False, "error": "not_found",
                                        "msg": "Not found."})
            template, names, schemas, args = found
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            handler = HANDLERS.get((method, template))
            problems = []
            if not parsed:
                problems.append("the body is not JSON")
            elif handler not in OWN_CHECKS:
                if method == "GET" and body is not None:
                    problems.append("a GET takes no body")
                elif method != "GET":
                    candidates = [s for s in schemas if s is not None]
                    results = [check_schema(body or {}, s) for s in candidates]
                    if candidates and all(results):
                        problems.append(" | ".join("; ".join(r) for r in results))
                if query:
                    problems.append(f"{template} takes no query ({sorted(query)})")
            if problems:
                state.requests.append(f"INVALID {method} {template}: {'; '.join(problems)}")
                return self.reply(400, {"success": False, "error": "invalid_args",
                                        "msg": "; ".join(problems)})
            if handler is None:
                state.requests.append(f"{method} {template}")
                return self.reply(501, {"success": False, "error": "not_implemented",
                                        "msg": f"the fake does not do {names}"})
            try:
                with state.lock:
                    status, answer = getattr(state, handler)(query, body or {}, **args)
            except Fail as e:
                tag = "INVALID " if e.error == "invalid_args" else ""
                state.requests.append(f"{tag}{method} {template}" + (f": {e.msg}" if tag else ""))
                return self.reply(e.status, {"success": False, "error": e.error, "msg": e.msg})
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

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--machines", default="")
    p.add_argument("--boot-seconds", type=float, default=0.5)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--check-schemas", action="store_true",
                   help="print what was read from the vastai package and exit")
    a = p.parse_args()
    if a.check_schemas:
        for m, _, template, names, schemas in ROUTES:
            if (m, template) in HANDLERS:
                print(m, template, names, [sorted(s) if s else s for s in schemas])
        print("create", sorted(CREATE))
        print("search ops", sorted(SEARCH_OPS), "types", sorted(SEARCH_TYPES),
              "extra", sorted(SEARCH_EXTRA))
        print("list query", sorted(LIST_QUERY))
        return 0
    machines = []
    for spec in filter(None, a.machines.split(",")):
        ip, port, keys = spec.split(":", 2)
        machines.append((ip, int(port), keys))
    state = State(a.key, machines, a.boot_seconds)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(state))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
