#!/usr/bin/env python3
"""A stateful fake of Google Compute Engine (v1) and Google's OAuth2 token endpoint,
for aloft's tests. Loopback only.

Every request is checked against Compute Engine's own discovery document (shipped in
google-api-python-client at googleapiclient/discovery_cache/documents/compute.v1.json):
the route and HTTP method, path parameter patterns, query parameters (known names,
types, enums, required ones) and the JSON body (known fields, JSON types, enums, at
every depth). A violation is a 400 in Google's error shape.

The token endpoint accepts the JWT-bearer grant (RS256 signature verified with the
public key given in the config) and the refresh-token grant (one known client and
refresh token). Compute calls need a bearer token it issued.

Usage: gcp_compute.py CONFIG.json PORT (0: a free one). It prints `PORT <n>` on its
first line once it listens on 127.0.0.1.
CONFIG: {"project", "public_key_pem", "client_email", "client_id", "client_secret",
         "refresh_token", "zones": [...], "exhausted_zones": [...], "op_polls": 0,
         "reader_token": optional, "nat_ips": optional list}
Control (no auth): POST /_fake/exhaust {"zone"}, POST /_fake/preempt {"zone","name"},
POST /_fake/op_polls {"n"}, GET /_fake/state, GET /_fake/requests.
"""

import base64
import copy
import glob
import itertools
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

TOKEN_AUD = "https://oauth2.googleapis.com/token"
BASE = "https://www.googleapis.com/compute/v1"
MACHINE_TYPES = {
    "e2-small": (2, 2048), "e2-medium": (2, 4096), "e2-standard-2": (2, 8192),
    "e2-standard-4": (4, 16384), "e2-standard-8": (8, 32768), "n1-standard-4": (4, 15360),
    "n1-standard-8": (8, 30720), "n2-standard-8": (8, 32768), "a2-highgpu-1g": (12, 87040),
    "g2-standard-4": (4, 16384),
}
ACCELERATORS = {"nvidia-tesla-t4", "nvidia-tesla-v100", "nvidia-l4", "nvidia-tesla-a100"}


def discovery():
    import googleapiclient
    root = os.path.dirname(googleapiclient.__file__)
    with open(os.path.join(root, "discovery_cache/documents/compute.v1.json")) as f:
        return json.load(f)


DOC = discovery()
SCHEMAS = DOC["schemas"]
GLOBAL_PARAMS = DOC["parameters"]


class ApiError(Exception):
    def __init__(self, code, message, reason, status):
        super().__init__(message)
        self.code, self.message, self.reason, self.status = code, message, reason, status

    def body(self):
        return {"error": {"code": self.code, "message": self.message,
                          "errors": [{"message": self.message, "domain": "global",
                                      "reason": self.reason}],
                          "status": self.status}}


def bad(message, reason="badRequest"):
    return ApiError(400, message, reason, "INVALID_ARGUMENT")


def not_found(what):
    return ApiError(404, f"The resource '{what}' was not found", "notFound", "NOT_FOUND")


def routes():
    out = []

    def walk(resources):
        for rname, res in resources.items():
            for mname, m in res.get("methods", {}).items():
                path = m.get("flatPath", m["path"])
                regex = re.sub(r"\{\+?(\w+)\}", lambda g: f"(?P<{g.group(1)}>[^/]+)", path)
                literal = len(re.sub(r"\{[^}]*\}", "", path))
                out.append((m["httpMethod"], re.compile("^" + regex + "$"), literal, m["id"], m))
            walk(res.get("resources", {}))

    walk(DOC["resources"])
    out.sort(key=lambda r: -r[2])
    return out


ROUTES = routes()


def check_scalar(where, spec, value):
    kind = spec.get("type")
    fmt = spec.get("format", "")
    if kind == "string":
        if fmt in ("int64", "uint64"):
            if isinstance(value, bool) or not (isinstance(value, int) or
                                               (isinstance(value, str) and re.fullmatch(r"-?\d+", value))):
                raise bad(f"Invalid value at '{where}' ({fmt}), {json.dumps(value)}")
        elif not isinstance(value, str):
            raise bad(f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)}")
        if "enum" in spec and value not in spec["enum"]:
            raise bad(f"Invalid value at '{where}' (enum), \"{value}\"")
    elif kind == "integer":
        if isinstance(value, bool) or not (isinstance(value, int) or
                                           (isinstance(value, str) and re.fullmatch(r"-?\d+", value))):
            raise bad(f"Invalid value at '{where}' (TYPE_INT32), {json.dumps(value)}")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"Invalid value at '{where}' (TYPE_DOUBLE), {json.dumps(value)}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise bad(f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value)}")
    elif kind == "any":
        pass
    else:
        raise bad(f"Invalid value at '{where}'")


def check(where, spec, value):
    """Validates `value` against a discovery schema fragment."""
    if "$ref" in spec:
        spec = SCHEMAS[spec["$ref"]]
    kind = spec.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise bad(f"Invalid value at '{where}', expected an object: {json.dumps(value)[:80]}")
        props = spec.get("properties")
        extra = spec.get("additionalProperties")
        for k, v in value.items():
            if props is not None and k in props:
                check(f"{where}.{k}", props[k], v)
            elif extra is not None:
                check(f"{where}[{k}]", extra, v)
            else:
                raise bad(f"Invalid JSON payload received. Unknown name \"{k}\" at '{where}': Cannot find field.")
    elif kind == "array":
        if not isinstance(value, list):
            raise bad(f"Invalid value at '{where}', expected a list")
        for i, v in enumerate(value):
            check(f"{where}[{i}]", spec.get("items", {}), v)
    else:
        check_scalar(where, spec, value)


def check_query(method, query):
    params = method.get("parameters", {})
    for name, values in query.items():
        key = name[1:] if name.startswith("$") and name[1:] in GLOBAL_PARAMS else name
        spec = params.get(key) if params.get(key, {}).get("location") == "query" else GLOBAL_PARAMS.get(key)
        if spec is None:
            raise bad(f"Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter.")
        for v in values:
            if key == "alt" and name == "$alt":
                v = v.split(";")[0]
            if spec.get("type") == "boolean" and v not in ("true", "false", "True", "False"):
                raise bad(f"Invalid value at '{name}' (TYPE_BOOL), \"{v}\"")
            if spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", v):
                raise bad(f"Invalid value at '{name}' (TYPE_UINT32), \"{v}\"")
            if "enum" in spec and v not in spec["enum"]:
                raise bad(f"Invalid value at '{name}', \"{v}\"")
    for name, spec in params.items():
        if spec.get("location") == "query" and spec.get("required") and name not in query:
            raise bad(f"Required parameter '{name}' is missing", "required")


def check_path(method, groups):
    params = method.get("parameters", {})
    for name, value in groups.items():
        value = urllib.parse.unquote(value)
        pattern = params.get(name, {}).get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            raise bad(f"Invalid value for field '{name}': '{value}'. Must be a match of regex '{pattern}'", "invalid")


class Fake:
    def __init__(self, config):
        self.cfg = config
        self.lock = threading.RLock()
        self.project = config["project"]
        self.zones = config.get("zones", ["us-central1-a", "us-central1-b", "us-central1-c", "us-east1-b"])
        self.exhausted = set(config.get("exhausted_zones", []))
        self.op_polls = int(config.get("op_polls", 0))
        self.public_key = serialization.load_pem_public_key(config["public_key_pem"].encode())
        self.tokens = set()
        if config.get("reader_token"):
            self.tokens.add(config["reader_token"])
        self.instances = {}   # (zone, name) -> dict
        self.firewalls = {}   # name -> dict
        self.ops = {}         # name -> [op dict, polls left, finish callback]
        self.grants = []      # grant types accepted
        self.requests = []    # (method, path, query, body) seen
        self.ids = itertools.count(1000000000000000001)
        self.ips = itertools.count(2)
        self.nat_ips = list(config.get("nat_ips", []))

    # ---- token endpoint -------------------------------------------------
    def token(self, form):
        grant = form.get("grant_type", [""])[0]
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            if not self.jwt_ok(form.get("assertion", [""])[0]):
                return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        elif grant == "refresh_token":
            if (form.get("client_id", [""])[0] != self.cfg.get("client_id")
                    or form.get("client_secret", [""])[0] != self.cfg.get("client_secret")):
                return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
            if form.get("refresh_token", [""])[0] != self.cfg.get("refresh_token"):
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        else:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: " + grant}
        token = "ya29.fake-" + base64.urlsafe_b64encode(os.urandom(18)).decode().rstrip("=")
        with self.lock:
            self.tokens.add(token)
            self.grants.append(grant)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def jwt_ok(self, assertion):
        try:
            head, claims, sig = assertion.split(".")
            pad = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
            if json.loads(pad(head)).get("alg") != "RS256":
                return False
            self.public_key.verify(pad(sig), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
            c = json.loads(pad(claims))
            now = time.time()
            return (c.get("iss") == self.cfg.get("client_email") and c.get("aud") == TOKEN_AUD
                    and "cloud-platform" in c.get("scope", "") and c.get("iat", 0) <= now + 60
                    and c.get("exp", 0) > now)
        except Exception:
            return False

    # ---- operations ---------------------------------------------------------
    def operation(self, kind, target, zone=None, error=None, finish=None):
        name = "operation-%d-%s" % (int(time.time() * 1000), base64.b16encode(os.urandom(4)).decode().lower())
        scope = f"{BASE}/projects/{self.project}/" + (f"zones/{zone}" if zone else "global")
        op = {"kind": "compute#operation", "id": str(next(self.ids)), "name": name,
              "operationType": kind, "targetLink": target, "status": "RUNNING", "progress": 0,
              "insertTime": time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime()),
              "selfLink": f"{scope}/operations/{name}"}
        if zone:
            op["zone"] = f"{BASE}/projects/{self.project}/zones/{zone}"
        self.ops[name] = [op, self.op_polls, finish, error]
        if self.op_polls == 0:
            self.poll(name)
        return copy.deepcopy(op)

    def poll(self, name):
        entry = self.ops.get(name)
        if entry is None:
            raise not_found(f"projects/{self.project}/operations/{name}")
        op, left, finish, error = entry
        if op["status"] != "DONE":
            if left > 0:
                entry[1] = left - 1
            else:
                op["status"], op["progress"] = "DONE", 100
                op["endTime"] = op["insertTime"]
                if error:
                    op["error"] = {"errors": [{"code": error[0], "message": error[1]}]}
                    op["httpErrorStatusCode"], op["httpErrorMessage"] = 503, "SERVICE UNAVAILABLE"
                elif finish:
                    finish()
        return copy.deepcopy(op)

    # ---- compute ------------------------------------------------------------
    def handle(self, mid, p, query, body):
        if p.get("project") != self.project:
            raise ApiError(403, f"Required permission for 'projects/{p.get('project')}'", "forbidden", "PERMISSION_DENIED")
        zone = p.get("zone")
        if zone is not None and zone not in self.zones:
            raise not_found(f"projects/{self.project}/zones/{zone}")
        handler = getattr(self, mid.replace("compute.", "").replace(".", "_"), None)
        if handler is None:
            raise ApiError(501, f"{mid} is not implemented by aloft's fake", "notImplemented", "UNIMPLEMENTED")
        return handler(p, query, body)

    def projects_get(self, p, q, b):
        return {"kind": "compute#project", "name": self.project, "id": "424242424242",
                "selfLink": f"{BASE}/projects/{self.project}"}

    def regions_list(self, p, q, b):
        regions = {}
        for z in self.zones:
            regions.setdefault(z.rsplit("-", 1)[0], []).append(f"{BASE}/projects/{self.project}/zones/{z}")
        return {"kind": "compute#regionList",
                "items": [{"name": r, "zones": zs, "status": "UP"} for r, zs in sorted(regions.items())]}

    def zones_list(self, p, q, b):
        return {"kind": "compute#zoneList",
                "items": [{"name": z, "status": "UP",
                           "region": f"{BASE}/projects/{self.project}/regions/{z.rsplit('-', 1)[0]}"}
                          for z in self.zones]}

    def machineTypes_list(self, p, q, b):
        items = []
        for name, (cpus, mem) in sorted(MACHINE_TYPES.items()):
            mt = {"kind": "compute#machineType", "name": name, "guestCpus": cpus, "memoryMb": mem,
                  "zone": p["zone"], "selfLink": f"{BASE}/projects/{self.project}/zones/{p['zone']}/machineTypes/{name}"}
            if name.startswith("a2-"):
                mt["accelerators"] = [{"guestAcceleratorType": "nvidia-tesla-a100", "guestAcceleratorCount": 1}]
            if name.startswith("g2-"):
                mt["accelerators"] = [{"guestAcceleratorType": "nvidia-l4", "guestAcceleratorCount": 1}]
            items.append(mt)
        return {"kind": "compute#machineTypeList", "items": items}

    def acceleratorTypes_list(self, p, q, b):
        return {"kind": "compute#acceleratorTypeList",
                "items": [{"kind": "compute#acceleratorType", "name": a, "zone": p["zone"],
                           "maximumCardsPerInstance": 4} for a in sorted(ACCELERATORS)]}

    def instances_insert(self, p, q, b):
        zone, name = p["zone"], b.get("name", "")
        if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name):
            raise bad(f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'", "invalid")
        if (zone, name) in self.instances:
            raise ApiError(409, f"The resource 'projects/{self.project}/zones/{zone}/instances/{name}' already exists", "alreadyExists", "ALREADY_EXISTS")
        mt = b.get("machineType", "")
        m = re.fullmatch(r"(?:.*/)?zones/([^/]+)/machineTypes/([^/]+)", mt)
        if not m or m.group(1) != zone or m.group(2) not in MACHINE_TYPES:
            raise bad(f"Invalid value for field 'resource.machineType': '{mt}'. Machine type with name '{mt.rsplit('/', 1)[-1]}' does not exist in zone '{zone}'.", "invalid")
        for k, v in b.get("labels", {}).items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", k) or not re.fullmatch(r"[a-z0-9_-]{0,63}", v):
                raise bad(f"Invalid value for field 'resource.labels': '{k}={v}'", "invalid")
        sched = b.get("scheduling", {})
        for acc in b.get("guestAccelerators", []):
            m = re.fullmatch(r"(?:.*/)?zones/([^/]+)/acceleratorTypes/([^/]+)", acc.get("acceleratorType", ""))
            if not m or m.group(1) != zone or m.group(2) not in ACCELERATORS:
                raise bad(f"Invalid value for field 'resource.guestAccelerators[0].acceleratorType': '{acc.get('acceleratorType')}'.", "invalid")
        needs_terminate = b.get("guestAccelerators") or sched.get("provisioningModel") == "SPOT" \
            or mt.rsplit("/", 1)[-1].startswith(("a2-", "g2-"))
        if needs_terminate and sched.get("onHostMaintenance") != "TERMINATE":
            raise bad("Instances with guest accelerators do not support live migration.", "invalid")
        if sched.get("provisioningModel") == "SPOT" and sched.get("automaticRestart", True):
            raise bad("Invalid value for field 'resource.scheduling.automaticRestart': 'true'. Spot VMs cannot be restarted automatically.", "invalid")
        disks = b.get("disks", [])
        if not any(d.get("boot") for d in disks):
            raise bad("Invalid value for field 'resource.disks': ''. Boot disk must be specified.", "invalid")
        for d in disks:
            init = d.get("initializeParams", {})
            if d.get("boot") and not init.get("sourceImage") and not d.get("source"):
                raise bad("Invalid value for field 'resource.disks[0].initializeParams.sourceImage': ''.", "invalid")
        for item in b.get("metadata", {}).get("items", []):
            if item.get("key") == "ssh-keys" and not re.fullmatch(r"([a-z_][a-z0-9_.-]*:\S+ \S+.*\n?)+", item.get("value", "")):
                raise bad("Invalid value for field 'resource.metadata.items[ssh-keys]'", "invalid")
        for tag in b.get("tags", {}).get("items", []):
            if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", tag):
                raise bad(f"Invalid value for field 'resource.tags.items[0]': '{tag}'", "invalid")
        target = f"{BASE}/projects/{self.project}/zones/{zone}/instances/{name}"
        if zone in self.exhausted:
            return self.operation("insert", target, zone, error=(
                "ZONE_RESOURCE_POOL_EXHAUSTED",
                f"The zone 'projects/{self.project}/zones/{zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later."))
        inst = copy.deepcopy(b)
        n = next(self.ips)
        nat = self.nat_ips.pop(0) if self.nat_ips else f"35.200.{n // 250}.{n % 250}"
        inst.update({
            "kind": "compute#instance", "id": str(next(self.ids)), "status": "PROVISIONING",
            "zone": f"{BASE}/projects/{self.project}/zones/{zone}",
            "machineType": f"{BASE}/projects/{self.project}/{mt[mt.index('zones/'):]}",
            "selfLink": target, "labelFingerprint": "42WmSpB8rSM=",
            "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000-07:00"),
            "cpuPlatform": "Intel Cascade Lake",
        })
        for i, nic in enumerate(inst.get("networkInterfaces", [])):
            nic["name"] = f"nic{i}"
            nic["networkIP"] = f"10.128.{n // 250}.{n % 250}"
            nic["network"] = f"{BASE}/projects/{self.project}/{nic.get('network', 'global/networks/default')}"
            for ac in nic.get("accessConfigs", []):
                ac["natIP"] = nat
                ac["kind"] = "compute#accessConfig"
        for d in inst.get("disks", []):
            d.pop("initializeParams", None)
            d["source"] = f"{BASE}/projects/{self.project}/zones/{zone}/disks/{name}"
        inst.setdefault("scheduling", {})
        self.instances[(zone, name)] = inst

        def finish():
            if (zone, name) in self.instances:
                self.instances[(zone, name)]["status"] = "RUNNING"
        return self.operation("insert", target, zone, finish=finish)

    def instance(self, p):
        key = (p["zone"], urllib.parse.unquote(p["instance"]))
        if key not in self.instances:
            raise not_found(f"projects/{self.project}/zones/{key[0]}/instances/{key[1]}")
        return key, self.instances[key]

    def instances_get(self, p, q, b):
        return copy.deepcopy(self.instance(p)[1])

    def instances_stop(self, p, q, b):
        key, inst = self.instance(p)
        if inst["status"] in ("RUNNING", "PROVISIONING", "STAGING"):
            inst["status"] = "STOPPING"

        def finish():
            if key in self.instances:
                self.instances[key]["status"] = "TERMINATED"
        return self.operation("stop", inst["selfLink"], key[0], finish=finish)

    def instances_start(self, p, q, b):
        key, inst = self.instance(p)
        if key[0] in self.exhausted:
            return self.operation("start", inst["selfLink"], key[0], error=(
                "ZONE_RESOURCE_POOL_EXHAUSTED", f"The zone 'projects/{self.project}/zones/{key[0]}' does not have enough resources available to fulfill the request."))
        if inst["status"] == "TERMINATED":
            inst["status"] = "STAGING"

        def finish():
            if key in self.instances:
                self.instances[key]["status"] = "RUNNING"
        return self.operation("start", inst["selfLink"], key[0], finish=finish)

    def instances_delete(self, p, q, b):
        key, inst = self.instance(p)
        inst["status"] = "STOPPING"
        return self.operation("delete", inst["selfLink"], key[0], finish=lambda: self.instances.pop(key, None))

    def matches(self, inst, flt):
        if not flt:
            return True
        terms = re.findall(r"labels\.([\w-]+)\s*(?:=|eq)\s*\"?([^\"\s)]*)\"?", flt)
        if not terms:
            raise bad(f"Invalid list filter expression '{flt}'.", "invalid")
        hits = [inst.get("labels", {}).get(k) == v for k, v in terms]
        return all(hits) if re.search(r"\bAND\b", flt) else any(hits)

    def instances_list(self, p, q, b):
        flt = q.get("filter", [""])[0]
        items = [copy.deepcopy(i) for (z, _), i in sorted(self.instances.items())
                 if z == p["zone"] and self.matches(i, flt)]
        return {"kind": "compute#instanceList", "items": items} if items else {"kind": "compute#instanceList"}

    def instances_aggregatedList(self, p, q, b):
        flt = q.get("filter", [""])[0]
        out = {}
        for zone in self.zones:
            items = [copy.deepcopy(i) for (z, _), i in sorted(self.instances.items())
                     if z == zone and self.matches(i, flt)]
            out[f"zones/{zone}"] = {"instances": items} if items else {
                "warning": {"code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope 'zones/%s' on this page." % zone}}
        return {"kind": "compute#instanceAggregatedList", "items": out}

    def firewalls_insert(self, p, q, b):
        name = b.get("name", "")
        if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name):
            raise bad(f"Invalid value for field 'resource.name': '{name}'", "invalid")
        if name in self.firewalls:
            raise ApiError(409, f"The resource 'projects/{self.project}/global/firewalls/{name}' already exists", "alreadyExists", "ALREADY_EXISTS")
        for rule in b.get("allowed", []):
            for port in rule.get("ports", []):
                if not re.fullmatch(r"\d{1,5}(-\d{1,5})?", port):
                    raise bad(f"Invalid value for field 'resource.allowed[0].ports[0]': '{port}'", "invalid")
        fw = copy.deepcopy(b)
        target = f"{BASE}/projects/{self.project}/global/firewalls/{name}"
        fw.update({"kind": "compute#firewall", "id": str(next(self.ids)), "selfLink": target})
        return self.operation("insert", target, finish=lambda: self.firewalls.__setitem__(name, fw))

    def firewall(self, p):
        name = urllib.parse.unquote(p["firewall"])
        if name not in self.firewalls:
            raise not_found(f"projects/{self.project}/global/firewalls/{name}")
        return name, self.firewalls[name]

    def firewalls_get(self, p, q, b):
        return copy.deepcopy(self.firewall(p)[1])

    def firewalls_patch(self, p, q, b):
        name, fw = self.firewall(p)
        return self.operation("patch", fw["selfLink"], finish=lambda: fw.update(copy.deepcopy(b)))

    def firewalls_delete(self, p, q, b):
        name, fw = self.firewall(p)
        return self.operation("delete", fw["selfLink"], finish=lambda: self.firewalls.pop(name, None))

    def firewalls_list(self, p, q, b):
        return {"kind": "compute#firewallList", "items": [copy.deepcopy(f) for f in self.firewalls.values()]}

    def zoneOperations_get(self, p, q, b):
        return self.poll(urllib.parse.unquote(p["operation"]))

    zoneOperations_wait = zoneOperations_get
    globalOperations_get = zoneOperations_get
    globalOperations_wait = zoneOperations_get


class Handler(BaseHTTPRequestHandler):
    fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do(self, method):
        fake = self.fake
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            if url.path == "/token" and method == "POST":
                status, doc = fake.token(urllib.parse.parse_qs(raw.decode()))
                return self.reply(status, doc)
            if url.path.startswith("/_fake/"):
                return self.control(method, url.path[len("/_fake/"):], raw)
            if not url.path.startswith("/compute/v1/"):
                raise not_found(url.path)
            rel = url.path[len("/compute/v1/"):]
            for verb, regex, _, mid, m in ROUTES:
                match = regex.match(rel)
                if match and verb == method:
                    break
            else:
                raise not_found(url.path)
            auth = self.headers.get("authorization", "")
            with fake.lock:
                ok = auth.startswith("Bearer ") and auth[len("Bearer "):] in fake.tokens
            if not ok:
                raise ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                               "authError", "UNAUTHENTICATED")
            check_path(m, match.groupdict())
            check_query(m, query)
            body = None
            if "request" in m:
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    raise bad("Invalid JSON payload received. Unexpected token.")
                check(m["request"]["$ref"].lower(), m["request"], body)
            elif raw.strip():
                raise bad(f"{mid} takes no request body")
            groups = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
            with fake.lock:
                fake.requests.append({"method": method, "id": mid, "path": url.path, "query": query, "body": body})
                doc = fake.handle(mid, groups, query, body or {})
            return self.reply(200, doc)
        except ApiError as e:
            return self.reply(e.code, e.body())

    def control(self, method, what, raw):
        fake = self.fake
        arg = json.loads(raw or b"{}")
        with fake.lock:
            if what == "exhaust":
                fake.exhausted.add(arg["zone"])
            elif what == "restore":
                fake.exhausted.discard(arg["zone"])
            elif what in ("preempt", "guest_shutdown"):
                # Both end as Compute Engine shows them: the VM is TERMINATED.
                fake.instances[(arg["zone"], arg["name"])]["status"] = "TERMINATED"
            elif what == "op_polls":
                fake.op_polls = int(arg["n"])
            elif what == "state":
                return self.reply(200, {"instances": [i for i in fake.instances.values()],
                                        "firewalls": list(fake.firewalls.values()),
                                        "grants": fake.grants})
            elif what == "requests":
                return self.reply(200, fake.requests)
            else:
                raise not_found(what)
        return self.reply(200, {})

    def do_GET(self):
        self.do("GET")

    def do_POST(self):
        self.do("POST")

    def do_PATCH(self):
        self.do("PATCH")

    def do_DELETE(self):
        self.do("DELETE")

    def do_PUT(self):
        self.do("PUT")


def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    Handler.fake = Fake(config)
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
