#!/usr/bin/env python3
"""A stateful fake of DigitalOcean's REST API v2, for aloft's tests (needs `pydo`,
DigitalOcean's official OpenAPI-generated client, installed in the repository's
.venv by scripts/test.sh).

    digitalocean_api.py --token TOKEN [--machines IP:PORT:AUTHKEYS,...]
                        [--boot-seconds S] [--port N]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1.

Every request is checked against the operations pydo ships
(`pydo.operations._operations`), not against our own reading of the API:

- the route: the method and path must be those of one of pydo's generated
  `build_<group>_<operation>_request` functions (their `_url` template and
  `method`); anything else is answered 404 `not_found`, as DigitalOcean does;
- the query: every query parameter must be a parameter of that function
  (`tag_name`, `per_page`, `page`, ...);
- the JSON body: checked against the "JSON input template" of the operation's
  docstring (the OpenAPI request schema pydo's generator wrote out): no key the
  template lacks, every key it marks `Required.` present, and values of the
  template's types. Two operations take a `oneOf` body that pydo renders as
  `body = {}` (`droplets.create`, `droplet_actions.post`); for those the schema
  below is written from the same OpenAPI document
  (`droplet_single_create` / `droplet_action` in DigitalOcean's
  openapi/resources/droplets/models) and checked the same way.

A request that fails these checks is answered as DigitalOcean answers a bad
request (422 `unprocessable_entity` with a message naming the problem) and
recorded as `INVALID ...` in `requests`.

Authentication as DigitalOcean takes it: `Authorization: Bearer TOKEN`, else 401
`{"id": "unauthorized", "message": "Unable to authenticate you"}`.

Droplets: `POST /v2/droplets` takes the next free "machine" (a real sshd on
loopback the test started): the droplet's public IPv4 is the machine's address,
and the public keys of the droplet's `ssh_keys` are appended to the machine's
authorized keys (as DigitalOcean's cloud-init does for root), and a
`#cloud-config` `user_data` (at most 64 KiB) that gives `ssh_keys` makes the
machine's sshd answer with that host key (`first_boot.py`, as cloud-init's first
boot would). It is `new` at
first and `active` with its addresses after `--boot-seconds`. `power_off` makes it
`off` (machine kept), `power_on` `active` again; `DELETE /v2/droplets?tag_name=`
destroys every droplet with the tag and frees their machines. Firewalls and
account SSH keys are kept as DigitalOcean keeps them; so are tags: made by the
first droplet that carries one (names matched case-insensitively, the first
spelling kept), outliving their droplets until `DELETE /v2/tags/{tag_id}`.

Test controls (no auth, under `/_fake/`): `POST /_fake/capacity {"size" (optional:
all), "region" (optional: all), "exhausted": bool}` (creates answer DigitalOcean's
422 "Size is not available in this region."), `POST /_fake/throttle {"count": n, "method"
(optional: any)}` (the next n authenticated requests, of that method, are answered
429 `too_many_requests`, as DigitalOcean's rate limit does), `GET /_fake/state` (droplets ever
made, destroyed ones included with `status: archive`, firewalls, ssh_keys, and
`requests`: `METHOD /path-template` of every request, `INVALID ...`,
`THROTTLED` or `UNAUTHORIZED`; `user_data` of each droplet as given; `tags`).
"""
import argparse
import ast
import inspect
import json
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import pydo.operations._operations as ops

from first_boot import install_host_key

REQUIRED = "\x00required"


# ---- pydo's operations: routes, query parameters and body templates ----------

def _camel_to_snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _template_text(doc):
    """The `body = {...}` JSON input template of a docstring, or None."""
    i = doc.find("JSON input template")
    if i < 0:
        return None
    j = doc.find("body = ", i)
    if j < 0:
        return None
    lines = doc[j + len("body = "):].splitlines()
    out, depth = [], 0
    for line in lines:
        out.append(line)
        code = _code_part(line)
        depth += code.count("{") + code.count("[") - code.count("}") - code.count("]")
        if depth <= 0:
            break
    return out


def _code_part(line):
    """`line` without its `# comment` (outside string literals)."""
    in_str = False
    for k, ch in enumerate(line):
        if ch == '"':
            in_str = not in_str
        elif ch == "#" and not in_str:
            return line[:k]
    return line


def parse_template(lines):
    """The template as a Python value whose dict keys carry REQUIRED when the
    template's comment says `Required.`; `{}` ("Any object") means anything."""
    code_lines, comment_indent, prev = [], None, None
    for raw in lines:
        indent = len(raw) - len(raw.lstrip())
        if comment_indent is not None and indent == comment_indent + 2 and prev is not None:
            # A wrapped comment line of the previous key.
            if "Required." in raw:
                code_lines[prev] = code_lines[prev].replace('":', REQUIRED + '":', 1)
            continue
        code = _code_part(raw)
        comment = raw[len(code):]
        comment_indent = indent if comment.strip() else None
        line = code.rstrip()
        if "Required." in comment:
            line = re.sub(r'^(\s*"[^"]+)":', lambda m: m.group(1) + REQUIRED + '":', line, count=1)
        code_lines.append(line)
        prev = len(code_lines) - 1
    text = "\n".join(code_lines)
    text = re.sub(r"\bbool\b", "True", text)
    return ast.literal_eval(text.replace(REQUIRED, "\\x00required"))


def load_operations():
    """[(method, regex, group_op, query params, body template or None)]."""
    source = inspect.getsource(ops)
    builders = {}
    for m in re.finditer(r"\ndef (build_(\w+?)_request)\(", source):
        end = source.find("\ndef ", m.end())
        body = source[m.end():end if end > 0 else len(source)]
        url = re.search(r'_url = "([^"]+)"', body)
        method = re.search(r'method="([A-Z]+)"', body)
        if not url or not method:
            continue
        fn = getattr(ops, m.group(1), None)
        params = set()
        if fn is not None:
            params = {p.name for p in inspect.signature(fn).parameters.values()
                      if p.kind == p.KEYWORD_ONLY}
        builders[m.group(2)] = (method.group(1), url.group(1), params)
    templates = {}
    for cname, cls in inspect.getmembers(ops, inspect.isclass):
        if not cname.endswith("Operations"):
            continue
        group = _camel_to_snake(cname[: -len("Operations")])
        for oname, fn in inspect.getmembers(cls, inspect.isfunction):
            doc = inspect.getdoc(fn) or ""
            lines = _template_text(doc)
            if lines is not None:
                try:
                    templates[f"{group}_{oname}"] = parse_template(lines)
                except (ValueError, SyntaxError):
                    pass
    table = []
    for name, (method, url, params) in builders.items():
        pattern = "^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(url)) + "$"
        table.append((method, re.compile(pattern), url, name, params, templates.get(name)))
    # Literal paths before templated ones (`/v2/droplets/actions` is not a droplet id).
    table.sort(key=lambda t: t[2].count("{"))
    return table


# The `oneOf` bodies pydo renders as `{}` (see the docstring).
DROPLET_SINGLE_CREATE = {
    "name" + REQUIRED: "str", "region": "str", "size" + REQUIRED: "str",
    "image" + REQUIRED: "str|int", "ssh_keys": ["str|int"], "backups": True,
    "backup_policy": {}, "ipv6": True, "monitoring": True, "tags": ["str"],
    "user_data": "str", "private_networking": True, "volumes": ["str"],
    "vpc_uuid": "str", "with_droplet_agent": True,
}
DROPLET_ACTION = {"type" + REQUIRED: "str"}
DROPLET_ACTION_TYPES = {"enable_backups", "disable_backups", "reboot", "power_cycle",
                        "shutdown", "power_off", "power_on", "restore", "password_reset",
                        "resize", "rebuild", "rename", "change_kernel", "enable_ipv6",
                        "snapshot", "change_backup_policy"}


def check(value, template, path="body"):
    """Problems of `value` against `template`."""
    if isinstance(template, dict):
        if not template:
            return []  # any object
        if not isinstance(value, dict):
            return [f"{path} must be an object"]
        problems = []
        keys = {k.replace(REQUIRED, ""): k for k in template}
        for k, v in value.items():
            if k not in keys:
                problems.append(f"{path}.{k} is not a field of this request")
            else:
                problems += check(v, template[keys[k]], f"{path}.{k}")
        for bare, k in keys.items():
            if k.endswith(REQUIRED) and bare not in value:
                problems.append(f"{path}.{bare} is required")
        return problems
    if isinstance(template, list):
        if not isinstance(value, list):
            return [f"{path} must be an array"]
        return [p for i, v in enumerate(value) for p in check(v, template[0], f"{path}[{i}]")] \
            if template else []
    if value is None:
        return []
    kinds = {"str": str, "int": int}
    if isinstance(template, str) and "|" in template:
        ok = tuple(kinds[t] for t in template.split("|"))
        return [] if isinstance(value, ok) and not isinstance(value, bool) else \
            [f"{path} must be {template}"]
    if isinstance(template, bool):
        return [] if isinstance(value, bool) else [f"{path} must be a boolean"]
    if isinstance(template, int) and not isinstance(template, bool):
        return [] if isinstance(value, int) and not isinstance(value, bool) else \
            [f"{path} must be an integer"]
    if isinstance(template, float):
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else \
            [f"{path} must be a number"]
    if isinstance(template, str):
        return [] if isinstance(value, str) else [f"{path} must be a string"]
    return []


# ---- the cloud ----------------------------------------------------------------

REGIONS = ["nyc2", "tor1", "atl1", "ams3"]
# (slug, price_hourly, vcpus, memory MB, disk GB, regions, gpu_info or None); GPU
# facts as DigitalOcean's size list shows them.
SIZES = [
    ("s-2vcpu-4gb", 0.03571, 2, 4096, 80, REGIONS, None),
    ("gpu-h100x1-80gb", 3.39, 20, 245760, 720, ["nyc2", "tor1", "atl1"],
     {"count": 1, "model": "nvidia_h100", "vram": {"amount": 80, "unit": "gib"}}),
    ("gpu-h100x8-640gb", 23.92, 160, 1966080, 2046, ["nyc2", "tor1"],
     {"count": 8, "model": "nvidia_h100", "vram": {"amount": 640, "unit": "gib"}}),
    ("gpu-l40sx1-48gb", 1.57, 8, 65536, 500, ["tor1", "atl1"],
     {"count": 1, "model": "nvidia_l40s", "vram": {"amount": 48, "unit": "gib"}}),
]


class Fail(Exception):
    def __init__(self, status, id_, message):
        super().__init__(message)
        self.status, self.id, self.message = status, id_, message


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class State:
    def __init__(self, token, machines, boot_seconds):
        self.token = token
        self.machines = machines
        self.boot_seconds = boot_seconds
        self.lock = threading.Lock()
        self.droplets = {}
        self.firewalls = {}
        self.keys = {}
        self.tags = []  # every tag of the account, as first spelled
        self.exhausted = set()
        self.throttle = 0
        self.throttle_method = None
        self.requests = []
        self.next_id = 300000001

    def new_id(self):
        self.next_id += random.randint(1, 97)
        return self.next_id

    def free_machine(self):
        used = {d["machine"][:2] for d in self.droplets.values() if d["status"] != "archive"}
        return next((m for m in self.machines if m[:2] not in used), None)

    def view(self, d):
        booted = d["status"] == "active" or (d["status"] == "new" and time.time() >= d["booted_at"])
        if d["status"] == "new" and booted:
            d["status"] = "active"
        v4 = []
        if d["status"] in ("active", "off"):
            v4 = [{"ip_address": d["machine"][0], "netmask": "255.255.240.0",
                   "gateway": "127.0.0.1", "type": "public"},
                  {"ip_address": d["private_ip"], "netmask": "255.255.240.0",
                   "gateway": "", "type": "private"}]
        size = next(s for s in SIZES if s[0] == d["size_slug"])
        return {
            "id": d["id"], "name": d["name"], "memory": size[3], "vcpus": size[2],
            "disk": size[4], "locked": False, "status": d["status"],
            "created_at": d["created_at"], "features": ["private_networking"],
            "backup_ids": [], "snapshot_ids": [], "next_backup_window": None,
            "image": {"id": 1, "slug": d["image"], "name": str(d["image"])},
            "volume_ids": [], "size": {"slug": size[0]}, "size_slug": size[0],
            "networks": {"v4": v4, "v6": []},
            "region": {"slug": d["region"], "name": d["region"], "available": True,
                       "features": [], "sizes": []},
            "tags": list(d["tags"]), "vpc_uuid": "5a4981aa-0000-4000-8000-000000000001",
        }

    def sizes(self):
        return [{"slug": s[0], "memory": s[3], "vcpus": s[2], "disk": s[4],
                 "transfer": 4.0, "price_monthly": round(s[1] * 672, 2),
                 "price_hourly": s[1], "regions": s[5], "available": True,
                 "description": "GPU" if s[6] else "Basic",
                 **({"gpu_info": s[6]} if s[6] else {})} for s in SIZES]

    # -- operations, by pydo's names --

    def droplets_list(self, q, _body):
        tag = q.get("tag_name")
        found = [self.view(d) for d in self.droplets.values()
                 if d["status"] != "archive" and (tag is None or tag in d["tags"])]
        return 200, page(q, "droplets", found)

    def droplets_create(self, _q, body):
        if "names" in body:
            raise Fail(422, "unprocessable_entity", "the fake creates one droplet per request")
        size = next((s for s in SIZES if s[0] == body["size"]), None)
        if size is None:
            raise Fail(422, "unprocessable_entity",
                       "You specified an invalid size for Droplet creation.")
        region = body.get("region")
        if region not in REGIONS:
            raise Fail(422, "unprocessable_entity", "You specified an invalid region for Droplet creation.")
        if region not in size[5] or any(
                (s in ("*", size[0])) and (r in ("*", region)) for s, r in self.exhausted):
            raise Fail(422, "unprocessable_entity", "Size is not available in this region.")
        machine = self.free_machine()
        if machine is None:
            raise Fail(422, "unprocessable_entity", "Size is not available in this region.")
        keys = []
        for k in body.get("ssh_keys") or []:
            key = self.keys.get(int(k)) if str(k).isdigit() else next(
                (x for x in self.keys.values() if x["fingerprint"] == k), None)
            if key is None:
                raise Fail(422, "unprocessable_entity", f"ssh_keys: {k} is not a key of this account")
            keys.append(key["public_key"])
        for tag in body.get("tags") or []:
            if not re.fullmatch(r"[A-Za-z0-9_:\-]{1,255}", tag):
                raise Fail(422, "unprocessable_entity", f"tag {tag!r} is invalid")
        if not re.fullmatch(r"[A-Za-z0-9.\-]{1,255}", body["name"]):
            raise Fail(422, "unprocessable_entity", "Name Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
        user_data = body.get("user_data")
        if user_data is not None and len(user_data.encode()) > 64 * 1024:
            raise Fail(422, "unprocessable_entity", "user_data must be 64 KiB or less")
        with open(machine[2], "a") as f:
            for k in keys:
                f.write("\n" + k.strip() + "\n")
        install_host_key(machine, user_data)
        tags = [self.tag(t) for t in body.get("tags") or []]
        did = self.new_id()
        d = {"id": did, "name": body["name"], "status": "new", "size_slug": size[0],
             "region": region, "image": body["image"], "tags": tags, "user_data": user_data,
             "machine": machine, "created_at": now(),
             "private_ip": f"10.116.0.{len(self.droplets) + 2}",
             "booted_at": time.time() + self.boot_seconds}
        self.droplets[did] = d
        return 202, {"droplet": self.view(d), "links": {"actions": [
            {"id": self.new_id(), "rel": "create", "href": f"https://api.digitalocean.com/v2/actions/{did}"}]}}

    def tag(self, name):
        """The account's tag named `name` (case-insensitively), made if missing."""
        found = next((t for t in self.tags if t.lower() == name.lower()), None)
        if found is None:
            self.tags.append(name)
            found = name
        return found

    def tags_list(self, q, _body):
        live = [d for d in self.droplets.values() if d["status"] != "archive"]
        return 200, page(q, "tags", [
            {"name": t, "resources": {"count": n, "droplets": {"count": n}}}
            for t in self.tags for n in [sum(t in d["tags"] for d in live)]])

    def tags_delete(self, _q, _body, tag_id):
        name = unquote(tag_id)
        found = next((t for t in self.tags if t.lower() == name.lower()), None)
        if found is None:
            raise Fail(404, "not_found", "The resource you were accessing could not be found.")
        self.tags.remove(found)
        # Deleting a tag untags every resource that had it.
        for d in self.droplets.values():
            d["tags"] = [t for t in d["tags"] if t != found]
        return 204, None

    def droplets_destroy_by_tag(self, q, _body):
        for d in self.droplets.values():
            if q["tag_name"] in d["tags"] and d["status"] != "archive":
                d["status"] = "archive"
        return 204, None

    def _droplet(self, did):
        d = self.droplets.get(int(did)) if str(did).isdigit() else None
        if d is None or d["status"] == "archive":
            raise Fail(404, "not_found", "The resource you were accessing could not be found.")
        return d

    def droplets_get(self, _q, _body, droplet_id):
        return 200, {"droplet": self.view(self._droplet(droplet_id))}

    def droplets_destroy(self, _q, _body, droplet_id):
        self._droplet(droplet_id)["status"] = "archive"
        return 204, None

    def droplet_actions_post(self, _q, body, droplet_id):
        d = self._droplet(droplet_id)
        kind = body["type"]
        if kind not in DROPLET_ACTION_TYPES:
            raise Fail(422, "unprocessable_entity", f"type {kind!r} is not a droplet action")
        if kind == "power_off":
            if d["status"] == "off":
                raise Fail(422, "unprocessable_entity", "Droplet is already powered off.")
            d["status"] = "off"
        elif kind == "power_on":
            if d["status"] in ("active", "new"):
                raise Fail(422, "unprocessable_entity", "Droplet is already powered on.")
            if any((s in ("*", d["size_slug"])) and (r in ("*", d["region"]))
                   for s, r in self.exhausted):
                raise Fail(422, "unprocessable_entity", "Size is not available in this region.")
            d["status"], d["booted_at"] = "new", time.time() + self.boot_seconds
        else:
            raise Fail(422, "unprocessable_entity", f"the fake does not do {kind}")
        return 201, {"action": {"id": self.new_id(), "status": "in-progress", "type": kind,
                                "started_at": now(), "completed_at": None,
                                "resource_id": d["id"], "resource_type": "droplet",
                                "region_slug": d["region"]}}

    def ssh_keys_list(self, q, _body):
        return 200, page(q, "ssh_keys", list(self.keys.values()))

    def ssh_keys_create(self, _q, body):
        parts = body["public_key"].split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise Fail(422, "unprocessable_entity", "Key invalid, key should be of the format `type key [comment]`")
        if any(k["public_key"].split()[:2] == parts[:2] for k in self.keys.values()):
            raise Fail(422, "unprocessable_entity", "SSH Key is already in use on your account")
        kid = self.new_id()
        key = {"id": kid, "name": body["name"], "public_key": body["public_key"],
               "fingerprint": ":".join(f"{random.randint(0, 255):02x}" for _ in range(16))}
        self.keys[kid] = key
        return 201, {"ssh_key": key}

    def ssh_keys_delete(self, _q, _body, ssh_key_identifier):
        key = self.keys.get(int(ssh_key_identifier)) if ssh_key_identifier.isdigit() else None
        if key is None:
            raise Fail(404, "not_found", "The resource you were accessing could not be found.")
        del self.keys[key["id"]]
        return 204, None

    def firewalls_list(self, q, _body):
        return 200, page(q, "firewalls", list(self.firewalls.values()))

    def firewalls_create(self, _q, body):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]*", body.get("name") or ""):
            raise Fail(422, "unprocessable_entity", "name is invalid")
        fid = "fb6045f1-cf1d-4ca3-bfac-{:012x}".format(self.new_id())
        fw = {"id": fid, "status": "succeeded", "created_at": now(), "pending_changes": [],
              "name": body["name"], "droplet_ids": list(body.get("droplet_ids") or []),
              "tags": list(body.get("tags") or []),
              "inbound_rules": body.get("inbound_rules") or [],
              "outbound_rules": body.get("outbound_rules") or []}
        self.firewalls[fid] = fw
        return 202, {"firewall": fw}

    def _firewall(self, fid):
        if fid not in self.firewalls:
            raise Fail(404, "not_found", "The resource you were accessing could not be found.")
        return self.firewalls[fid]

    def firewalls_get(self, _q, _body, firewall_id):
        return 200, {"firewall": self._firewall(firewall_id)}

    def firewalls_delete(self, _q, _body, firewall_id):
        self._firewall(firewall_id)
        del self.firewalls[firewall_id]
        return 204, None

    def firewalls_add_rules(self, _q, body, firewall_id):
        fw = self._firewall(firewall_id)
        fw["inbound_rules"] += body.get("inbound_rules") or []
        fw["outbound_rules"] += body.get("outbound_rules") or []
        return 204, None

    def sizes_list(self, q, _body):
        return 200, page(q, "sizes", self.sizes())

    def account_get(self, _q, _body):
        return 200, {"account": {"droplet_limit": 25, "floating_ip_limit": 5,
                                 "email": "sammy@example.com", "name": "Sammy",
                                 "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
                                 "email_verified": True, "status": "active",
                                 "status_message": "", "team": {"uuid": "t1", "name": "My Team"}}}


def page(q, key, items):
    per_page = int(q.get("per_page", 20))
    number = int(q.get("page", 1))
    chunk = items[(number - 1) * per_page: number * per_page]
    return {key: chunk, "links": {}, "meta": {"total": len(items)}}


OPERATIONS = load_operations()
SCHEMA_OVERRIDES = {"droplets_create": DROPLET_SINGLE_CREATE,
                    "droplet_actions_post": DROPLET_ACTION}


def route(method, path):
    """(operation name, path arguments, query params, body template) or None."""
    for m, pattern, url, name, params, template in OPERATIONS:
        if m == method and pattern.match(path):
            names = re.findall(r"\{([a-z_]+)\}", url)
            values = re.match(pattern.pattern.replace("[^/]+", "([^/]+)"), path).groups()
            return name, url, dict(zip(names, values)), params, SCHEMA_OVERRIDES.get(name, template)
    return None


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
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
            if method == "GET" and url.path == "/_fake/state":
                with state.lock:
                    droplets = []
                    for d in state.droplets.values():
                        v = {k: val for k, val in d.items() if k not in ("machine", "booted_at")}
                        v["machine_ip"], v["machine_port"] = d["machine"][0], d["machine"][1]
                        droplets.append(v)
                    return self.reply(200, {"droplets": droplets,
                                            "firewalls": list(state.firewalls.values()),
                                            "ssh_keys": list(state.keys.values()),
                                            "tags": list(state.tags),
                                            "requests": list(state.requests)})
            if method == "POST" and url.path == "/_fake/throttle":
                body, _ = self.read_body()
                with state.lock:
                    state.throttle = int(body.get("count") or 0)
                    state.throttle_method = body.get("method")
                return self.reply(200, {"ok": True})
            if method == "POST" and url.path == "/_fake/capacity":
                body, _ = self.read_body()
                key = (body.get("size") or "*", body.get("region") or "*")
                with state.lock:
                    (state.exhausted.add if body.get("exhausted") else state.exhausted.discard)(key)
                return self.reply(200, {"ok": True})
            return self.reply(404, {"id": "not_found", "message": "no such control"})

        def handle_any(self, method):
            url = urlparse(self.path)
            if url.path.startswith("/_fake/"):
                return self.fake_control(method, url)
            body, parsed = self.read_body()
            auth = self.headers.get("Authorization") or ""
            if auth != f"Bearer {state.token}":
                state.requests.append("UNAUTHORIZED")
                return self.reply(401, {"id": "unauthorized", "message": "Unable to authenticate you"})
            with state.lock:
                throttled = state.throttle > 0 and state.throttle_method in (None, method)
                state.throttle -= 1 if throttled else 0
            if throttled:
                state.requests.append("THROTTLED")
                return self.reply(429, {"id": "too_many_requests", "message": "API Rate limit exceeded."})
            found = route(method, url.path)
            if found is None:
                state.requests.append(f"INVALID {method} {url.path}: no pydo operation")
                return self.reply(404, {"id": "not_found",
                                        "message": "The resource you were accessing could not be found."})
            name, template_path, args, params, template = found
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            problems = [f"query parameter {k} is not one of {sorted(params)}"
                        for k in query if k not in params]
            if not parsed:
                problems.append("the body is not JSON")
            elif body is not None and template is None:
                problems.append(f"{name} takes no body")
            elif template is not None:
                if body is None:
                    problems.append("a JSON body is required")
                else:
                    problems += check(body, template)
            if problems:
                state.requests.append(f"INVALID {method} {template_path}: {'; '.join(problems)}")
                return self.reply(422, {"id": "unprocessable_entity", "message": "; ".join(problems)})
            state.requests.append(f"{method} {template_path}")
            handler = getattr(state, name, None)
            if handler is None:
                return self.reply(501, {"id": "not_implemented",
                                        "message": f"the fake does not implement {name}"})
            try:
                with state.lock:
                    status, answer = handler(query, body or {}, **args)
            except Fail as e:
                return self.reply(e.status, {"id": e.id, "message": e.message,
                                             "request_id": "4d9d8375-3c56-4925-a3e7-eb137fed17e9"})
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
    p.add_argument("--token", required=True)
    p.add_argument("--machines", default="")
    p.add_argument("--boot-seconds", type=float, default=0.5)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--check-schemas", action="store_true",
                   help="print what was read from pydo and exit")
    a = p.parse_args()
    if a.check_schemas:
        names = {t[3]: t for t in OPERATIONS}
        for n in ["droplets_list", "droplets_create", "droplets_destroy_by_tag",
                  "droplet_actions_post", "ssh_keys_list", "ssh_keys_create", "ssh_keys_delete",
                  "firewalls_list", "firewalls_create", "firewalls_delete",
                  "firewalls_add_rules", "sizes_list", "account_get"]:
            t = names[n]
            print(n, t[0], t[2], sorted(t[4]), json.dumps(t[5])[:300])
        return 0
    machines = []
    for spec in filter(None, a.machines.split(",")):
        ip, port, keys = spec.split(":", 2)
        machines.append((ip, int(port), keys))
    state = State(a.token, machines, a.boot_seconds)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(state))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
