#!/usr/bin/env python3
"""A stateful fake of Lambda Cloud's REST API v1, for aloft's tests (stdlib only).

    lambda_cloud.py --api-key KEY [--machines IP,IP,...] [--launch-interval S]
                    [--boot-seconds S] [--port N]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1.

What it follows from Lambda's API reference (OpenAPI 1.5.x):
- every call needs the API key: `Authorization: Basic base64(KEY:)`, `Basic KEY`
  or `Bearer KEY`; otherwise 401 `global/invalid-api-key`;
- errors are `{"error": {"code", "message", "suggestion"}}` (plus
  `field_errors` for bad parameters), answers are `{"data": ...}`;
- request bodies are checked against the documented shapes: a missing or
  ill-typed field, or one the API does not know, is a 400
  `global/invalid-parameters`;
- `GET /instance-types`, `GET /instances`, `GET /instances/<id>`,
  `POST /instance-operations/launch` (quantity is 1, one SSH key),
  `POST /instance-operations/terminate`, `GET/POST /ssh-keys`,
  `DELETE /ssh-keys/<id>`;
- instances boot (`booting`, no IP) then are `active`; terminated ones leave
  `GET /instances`.

Each launched instance takes the next free "machine" address (a real sshd on
loopback that the test started) as its `ip` and `private_ip`; termination frees
it. Test controls (no auth, under `/_fake/`): `POST /_fake/capacity`
`{"region", "instance_type" (optional), "exhausted": bool, "advertised": bool}`
(advertised: whether `instance-types` still lists the region as having capacity,
so the launch itself is refused), `POST /_fake/machines {"machines": [...]}`,
`POST /_fake/launch-interval {"seconds": S}` (launches closer than that are
answered 429, as Lambda rate-limits launches), `GET /_fake/state` (every
instance ever launched, every key, every request path seen, how many launches
were rate-limited).
"""
import argparse
import base64
import json
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REGIONS = {
    "asia-northeast-1": "Tokyo, Japan",
    "asia-northeast-2": "Seoul, South Korea",
    "asia-south-1": "Bangalore, India",
    "australia-east-1": "Sydney, Australia",
    "europe-central-1": "Frankfurt, Germany",
    "europe-south-1": "Milan, Italy",
    "me-west-1": "Tel Aviv, Israel",
    "us-east-1": "Virginia, USA",
    "us-east-2": "Washington DC, USA",
    "us-east-3": "Washington DC, USA",
    "us-midwest-1": "Illinois, USA",
    "us-south-1": "Texas, USA",
    "us-south-2": "North Texas, USA",
    "us-south-3": "Central Texas, USA",
    "us-west-1": "California, USA",
    "us-west-2": "Arizona, USA",
    "us-west-3": "Utah, USA",
}


def _type(name, description, gpu_description, cents, vcpus, mem, storage, gpus):
    return {
        "name": name,
        "description": description,
        "gpu_description": gpu_description,
        "price_cents_per_hour": cents,
        "specs": {"vcpus": vcpus, "memory_gib": mem, "storage_gib": storage, "gpus": gpus},
    }


TYPES = {
    t["name"]: t
    for t in [
        _type("gpu_1x_a10", "1x A10 (24 GB PCIe)", "A10 (24 GB PCIe)", 75, 30, 200, 1400, 1),
        _type("gpu_1x_a100_sxm4", "1x A100 (40 GB SXM4)", "A100 (40 GB SXM4)", 129, 30, 200, 512, 1),
        _type("gpu_8x_h100_sxm5", "8x H100 (80 GB SXM5)", "H100 (80 GB SXM5)", 2392, 208, 1800, 24780, 8),
        _type("cpu_4x_general", "4x CPU General", "", 20, 4, 16, 100, 0),
    ]
}


class ApiError(Exception):
    def __init__(self, status, code, message, suggestion=None, field_errors=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.suggestion, self.field_errors = suggestion, field_errors

    def body(self):
        error = {"code": self.code, "message": self.message}
        if self.suggestion:
            error["suggestion"] = self.suggestion
        out = {"error": error}
        if self.field_errors:
            out["field_errors"] = {
                k: {"code": "global/invalid-parameters", "message": v}
                for k, v in self.field_errors.items()
            }
        return out


def invalid(message, field=None):
    return ApiError(400, "global/invalid-parameters", message,
                    field_errors={field: message} if field else None)


# Field validators: each returns an error message or None.
def is_str(max_len=None, min_len=0):
    def check(v):
        if not isinstance(v, str):
            return "must be a string"
        if len(v) < min_len or (max_len is not None and len(v) > max_len):
            return f"length must be between {min_len} and {max_len}"
        return None
    return check


def is_list(item, min_items=0, max_items=None):
    def check(v):
        if not isinstance(v, list):
            return "must be a list"
        if len(v) < min_items or (max_items is not None and len(v) > max_items):
            return f"must have between {min_items} and {max_items} items"
        for x in v:
            err = item(x)
            if err:
                return f"item: {err}"
        return None
    return check


def is_int(lo, hi):
    def check(v):
        if not isinstance(v, int) or isinstance(v, bool):
            return "must be an integer"
        if not lo <= v <= hi:
            return f"must be between {lo} and {hi}"
        return None
    return check


def nullable(check):
    return lambda v: None if v is None else check(v)


def validate(body, required, optional):
    """Checks a JSON object against the documented fields: all required present,
    nothing undocumented, every value of the right shape."""
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    for name in body:
        if name not in required and name not in optional:
            raise invalid(f"Unknown field: {name}", name)
    for name in required:
        if name not in body:
            raise invalid(f"Missing required field: {name}", name)
    for name, check in {**required, **optional}.items():
        if name in body:
            err = check(body[name])
            if err:
                raise invalid(f"Invalid {name}: {err}", name)


LAUNCH = (
    {
        "region_name": is_str(),
        "instance_type_name": is_str(),
        "ssh_key_names": is_list(is_str(64), 1, 1),
    },
    {
        "file_system_names": is_list(is_str(), 0, 1),
        "quantity": is_int(1, 1),
        "name": nullable(is_str(64, 1)),
    },
)
TERMINATE = ({"instance_ids": is_list(is_str(), 1)}, {})
ADD_KEY = ({"name": is_str(64, 1)}, {"public_key": is_str(4096)})


class State:
    def __init__(self, api_key, machines, launch_interval, boot_seconds):
        self.lock = threading.Lock()
        self.api_key = api_key
        self.machines = list(machines)
        self.launch_interval = launch_interval
        self.boot_seconds = boot_seconds
        self.last_launch = None
        self.instances = {}  # id -> record (terminated ones kept for /_fake/state)
        self.keys = []
        self.exhausted = {}  # (region, type or None) -> advertised
        self.requests = []
        self.rate_limited = 0  # launches answered 429

    def capacity(self, region, type_name):
        """(has capacity, still advertised)."""
        for key in ((region, type_name), (region, None)):
            if key in self.exhausted:
                return False, self.exhausted[key]
        return True, True

    def view(self, rec):
        status = rec["status"]
        if status == "booting" and time.time() >= rec["ready_at"]:
            status = rec["status"] = "active"
        booted = status not in ("booting",)
        return {
            "id": rec["id"],
            "name": rec["name"],
            "ip": rec["ip"] if booted else None,
            "private_ip": rec["ip"] if booted else None,
            "status": status,
            "ssh_key_names": rec["ssh_key_names"],
            "file_system_names": rec["file_system_names"],
            "region": {"name": rec["region"], "description": REGIONS[rec["region"]]},
            "instance_type": TYPES[rec["instance_type"]],
            "hostname": rec["ip"].replace(".", "-") + ".cloud.lambdalabs.com" if booted else None,
            "jupyter_token": rec["jupyter_token"],
            "jupyter_url": f"https://jupyter-{rec['id']}.lambdaspaces.com/?token={rec['jupyter_token']}",
        }


def authorized(header, key):
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value == key
    if scheme.lower() == "basic":
        if value == key:
            return True
        try:
            user, _, _ = base64.b64decode(value, validate=True).decode().partition(":")
        except Exception:
            return False
        return user == key
    return False


class Handler(BaseHTTPRequestHandler):
    state: State = None
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

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise invalid("Request body is not valid JSON")

    def handle_any(self, method):
        s = self.state
        path = self.path.split("?")[0]
        try:
            body = self.body()
            with s.lock:
                s.requests.append(f"{method} {path}")
                if path.startswith("/_fake/"):
                    return self.reply(200, self.control(method, path, body))
                if not path.startswith("/api/v1/"):
                    raise ApiError(404, "global/object-does-not-exist", "Not found")
                if not authorized(self.headers.get("Authorization"), s.api_key):
                    raise ApiError(401, "global/invalid-api-key",
                                   "API key was invalid, expired, or deleted.",
                                   "Check your API key or create a new one, then try again.")
                data = self.api(method, path[len("/api/v1/"):], body)
            self.reply(200, {"data": data})
        except ApiError as e:
            self.reply(e.status, e.body())

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def control(self, method, path, body):
        s = self.state
        body = body or {}
        if path == "/_fake/state":
            return {
                "instances": [s.view(r) for r in s.instances.values()],
                "ssh_keys": s.keys,
                "requests": s.requests,
                "rate_limited": s.rate_limited,
            }
        if path == "/_fake/capacity":
            key = (body["region"], body.get("instance_type"))
            if body.get("exhausted", True):
                s.exhausted[key] = bool(body.get("advertised", False))
            else:
                s.exhausted.pop(key, None)
            return {}
        if path == "/_fake/machines":
            s.machines = list(body["machines"])
            return {}
        if path == "/_fake/launch-interval":
            s.launch_interval = float(body["seconds"])
            return {}
        raise ApiError(404, "global/object-does-not-exist", "no such control")

    def api(self, method, path, body):
        s = self.state
        if (method, path) == ("GET", "instance-types"):
            out = {}
            for name, t in TYPES.items():
                regions = [
                    {"name": r, "description": d}
                    for r, d in REGIONS.items()
                    if s.capacity(r, name)[1]
                ]
                out[name] = {"instance_type": t, "regions_with_capacity_available": regions}
            return out
        if (method, path) == ("GET", "instances"):
            return [s.view(r) for r in s.instances.values() if r["status"] != "terminated"]
        m = re.fullmatch(r"instances/([0-9a-f]+)", path)
        if method == "GET" and m:
            rec = s.instances.get(m.group(1))
            if rec is None or rec["status"] == "terminated":
                raise ApiError(404, "global/object-does-not-exist", "Specified instance does not exist.")
            return s.view(rec)
        if (method, path) == ("POST", "instance-operations/launch"):
            return self.launch(body)
        if (method, path) == ("POST", "instance-operations/terminate"):
            validate(body, *TERMINATE)
            ids = body["instance_ids"]
            for i in ids:
                rec = s.instances.get(i)
                if rec is None or rec["status"] == "terminated":
                    raise ApiError(404, "global/object-does-not-exist",
                                   f"Specified instance does not exist: {i}")
            done = []
            for i in ids:
                rec = s.instances[i]
                rec["status"] = "terminated"
                s.machines.append(rec["ip"])
                done.append(s.view(rec))
            return {"terminated_instances": done}
        if (method, path) == ("GET", "ssh-keys"):
            return [{k: v for k, v in key.items() if k != "private_key"} for key in s.keys]
        if (method, path) == ("POST", "ssh-keys"):
            validate(body, *ADD_KEY)
            if any(k["name"] == body["name"] for k in s.keys):
                raise invalid("An SSH key with this name already exists", "name")
            key = {"id": secrets.token_hex(16), "name": body["name"]}
            if "public_key" in body:
                key["public_key"] = body["public_key"].strip()
                s.keys.append(key)
                return dict(key)
            with tempfile.TemporaryDirectory() as d:
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/k"],
                               check=True)
                key["public_key"] = open(f"{d}/k.pub").read().strip()
                private = open(f"{d}/k").read()
            s.keys.append(key)
            return {**key, "private_key": private}
        m = re.fullmatch(r"ssh-keys/([0-9a-f]+)", path)
        if method == "DELETE" and m:
            before = len(s.keys)
            s.keys = [k for k in s.keys if k["id"] != m.group(1)]
            if len(s.keys) == before:
                raise ApiError(404, "global/object-does-not-exist", "Specified SSH key does not exist.")
            return {}
        raise ApiError(404, "global/object-does-not-exist", f"Unknown endpoint: {method} /api/v1/{path}")

    def launch(self, body):
        s = self.state
        validate(body, *LAUNCH)
        region, type_name = body["region_name"], body["instance_type_name"]
        if region not in REGIONS:
            raise invalid(f"Invalid region: {region}", "region_name")
        if type_name not in TYPES:
            raise invalid(f"Invalid instance type: {type_name}", "instance_type_name")
        names = {k["name"] for k in s.keys}
        for key in body["ssh_key_names"]:
            if key not in names:
                raise invalid(f"SSH key not found: {key}", "ssh_key_names")
        if body.get("file_system_names"):
            raise ApiError(400, "global/object-does-not-exist", "File system does not exist.")
        now = time.time()
        if s.launch_interval and s.last_launch and now - s.last_launch < s.launch_interval:
            s.rate_limited += 1
            raise ApiError(429, "global/unknown", "Too many requests")
        s.last_launch = now
        if not s.capacity(region, type_name)[0]:
            raise ApiError(400, "instance-operations/launch/insufficient-capacity",
                           "Not enough capacity to fulfill launch request.",
                           "Choose an instance type with more availability, or try again later.")
        if not s.machines:
            raise ApiError(500, "global/unknown", "fake: no machine left to back the instance")
        ip = s.machines.pop(0)
        iid = secrets.token_hex(16)
        s.instances[iid] = {
            "id": iid,
            "name": body.get("name"),
            "ip": ip,
            "status": "booting",
            "ready_at": now + s.boot_seconds,
            "ssh_key_names": body["ssh_key_names"],
            "file_system_names": body.get("file_system_names", []),
            "region": region,
            "instance_type": type_name,
            "jupyter_token": secrets.token_hex(16),
        }
        return {"instance_ids": [iid]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--api-key", required=True)
    p.add_argument("--machines", default="")
    p.add_argument("--launch-interval", type=float, default=0.0)
    p.add_argument("--boot-seconds", type=float, default=0.0)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    Handler.state = State(a.api_key, [m for m in a.machines.split(",") if m],
                          a.launch_interval, a.boot_seconds)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
