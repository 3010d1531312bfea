#!/usr/bin/env python3
"""A stateful fake of OCI's Core Services and Identity REST APIs (version 20160918),
for aloft's tests (needs the official `oci` Python SDK, installed in the
repository's .venv by scripts/test.sh).

    oci_api.py --key-id TENANCY/USER/FINGERPRINT --public-key PEM
               [--machines IP:PORT:AUTHKEYS,...] [--boot-seconds S] [--port N]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1.

Every request is checked against the operations of the `oci` SDK, not against our
own reading of the API:

- the route: the method and path must be those of one of the operations of
  `oci.core.ComputeClient` / `oci.core.VirtualNetworkClient` (requests whose Host
  is `iaas.*`) or `oci.identity.IdentityClient` (`identity.*`, or any host for the
  SDK's own read-backs), read from each operation's `resource_path` and `method`;
  anything else is answered 404 `NotAuthorizedOrNotFound`;
- the query: every parameter must be one of the operation's `query_params`, its
  required ones present, enum values among the operation's allowed values;
- the JSON body: checked against the operation's body model (the docstring's
  `:param oci.core.models.X name:`): no key outside the model's `attribute_map`,
  every property the SDK marks **[Required]** present, values of the model's
  `swagger_types` (nested models and polymorphic subtypes through the model's
  `get_subtype`), enum values among each setter's `allowed_values`.

A request that fails is answered 400 `InvalidParameter` naming the problem and
recorded as `INVALID ...` in `requests`.

Authentication as OCI does it: every request must carry an `Authorization:
Signature ...` whose keyId is the test's and whose rsa-sha256 signature verifies
with the test key's public half over `date (request-target) host` (plus
`content-length content-type x-content-sha256` for POST/PUT, which must match the
body), `date` within 5 minutes; else 401 `NotAuthenticated` (recorded
`UNAUTHENTICATED`).

Instances take the next free "machine" (a real sshd on loopback the test started):
the public IP of the instance's VNIC is the machine's address, metadata
`ssh_authorized_keys` is appended to its authorized keys, and a `#cloud-config`
in metadata `user_data` (base64) that gives `ssh_keys` makes the machine's sshd
answer with that host key (`first_boot.py`, as cloud-init's first boot would).
As OCI takes them: the metadata at most 32,000 bytes in all, freeform tag keys
at most 100 characters and values at most 256. PROVISIONING, then
RUNNING after --boot-seconds; STOP / START actions; DELETE terminates (TERMINATING,
then TERMINATED) and frees the machine. Networking refuses (409 Conflict) to
delete what is still referenced, as OCI does: a subnet with instances, a route
table or security list a subnet uses, a gateway a route table targets, a VCN with
anything but its defaults.

Oracle's public price list (the Cost Estimator's API, Host `apexapps.oracle.com`,
`GET /pls/apex/cetools/api/v1/products/?partNumber=P&currencyCode=C`, no
authentication) answers the parts of PRICE_LIST, in its published shape (`items`
of `partNumber`, `displayName`, `metricName`, `serviceCategory`,
`currencyCodeLocalizations` of `currencyCode` and `prices` of `model`, `value`).
A price-list request that carries an `Authorization` header (a signature meant for
OCI sent to another host), another method, or a query parameter the API does not
take is refused and recorded as `INVALID ...`; valid ones as `PRICES <part>`.

Test controls (no auth, under `/_fake/`): `POST /_fake/capacity {"shape"
(optional: all), "ad" (optional: all), "exhausted": bool}` (launches answer 500
`InternalError` "Out of host capacity."), `POST /_fake/throttle {"count": n, "method"
(optional: any)}` (the next n signed requests, of that method, are answered 429
`TooManyRequests`), `POST /_fake/preempt {"name"}` (OCI reclaims the instance of
that display name: TERMINATED at once), `GET /_fake/state`
(everything, `requests`: `METHOD /path-template` of every request, `INVALID ...`,
`THROTTLED` or `UNAUTHENTICATED`).
"""
import argparse
import base64
import email.utils
import hashlib
import inspect
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import oci
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from first_boot import install_host_key

VERSION = "/20160918"

PRICE_HOST = "apexapps.oracle.com"
PRICE_PATH = "/pls/apex/cetools/api/v1/products/"
# The fake's own list prices (USD per GPU hour) for the parts aloft asks about:
# test data in the price list's shape, not Oracle's current prices.
PRICE_LIST = {
    "B92740": ("Compute - GPU - E3", 2.95),
    "B93544": ("OCI - Compute - GPU - E4", 3.05),
    "B95907": ("Compute - GPU - A100 - v2", 4.0),
    "B95909": ("Compute - GPU - A10", 2.0),
    "B98415": ("OCI - Compute - GPU - H100", 10.5),
    "B109479": ("Compute - GPU - L40S", 3.5),
}

# ---- the SDK's operations and models ---------------------------------------------


def load_operations(client_cls, models):
    """[(method, regex, template, name, query {camel: allowed or None},
    required query, body model name or None, body required)]."""
    ops = []
    for name, fn in inspect.getmembers(client_cls, inspect.isfunction):
        if name.startswith("_"):
            continue
        src = inspect.getsource(fn)
        path = re.search(r'resource_path = "([^"]+)"', src)
        method = re.search(r'method = "([A-Z]+)"', src)
        if not path or not method:
            continue
        required = set(re.findall(r"'(\w+)'", (re.search(r"required_arguments = \[(.*?)\]", src) or [None, ""])[1]))
        query = {}
        block = re.search(r"query_params = \{(.*?)\n        \}", src, re.S)
        if block:
            for camel, snake in re.findall(r'"(\w+)": (?:kwargs\.get\("(\w+)"|\w+)', block.group(1)):
                allowed = re.search(snake + r"_allowed_values = \[(.*?)\]", src) if snake else None
                query[camel] = set(re.findall(r'"([^"]+)"', allowed.group(1))) if allowed else None
            for camel in re.findall(r'"(\w+)": (\w+)\b(?!\.)', block.group(1)):
                pass
        body = re.search(r"body=(?:kwargs\.get\('(\w+)'\)|(\w+))", src)
        body_model, body_required = None, False
        if body:
            param = body.group(1) or body.group(2)
            body_required = body.group(2) is not None
            doc = re.search(r":param oci\.\w+\.models\.(\w+) " + param + ":", src)
            body_model = doc.group(1) if doc else None
        template = path.group(1)
        pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
        required_query = {r for r in required if r in query}
        ops.append((method.group(1), re.compile(pattern), template, name, query, required_query,
                    body_model, body_required, models))
    ops.sort(key=lambda o: o[2].count("{"))
    return ops


IAAS_OPS = load_operations(oci.core.ComputeClient, oci.core.models) + \
    load_operations(oci.core.VirtualNetworkClient, oci.core.models)
IDENTITY_OPS = load_operations(oci.identity.IdentityClient, oci.identity.models)


def model_class(models, name):
    return getattr(models, name, None)


def model_facts(cls):
    """(json key -> (attr, swagger type), required json keys, {json key: allowed})."""
    inst = cls.__new__(cls)
    try:
        cls.__init__(inst)
    except TypeError:
        pass
    swagger = getattr(inst, "swagger_types", {})
    amap = getattr(inst, "attribute_map", {})
    fields, required, enums = {}, set(), {}
    for attr, typ in swagger.items():
        key = amap.get(attr, attr)
        fields[key] = (attr, typ)
        prop = getattr(cls, attr, None)
        if isinstance(prop, property):
            if "**[Required]**" in (inspect.getdoc(prop.fget) or ""):
                required.add(key)
            if prop.fset is not None:
                src = inspect.getsource(prop.fset)
                allowed = re.search(r"allowed_values = \[(.*?)\]", src, re.S)
                if allowed:
                    enums[key] = set(re.findall(r'"([^"]+)"', allowed.group(1)))
    return fields, required, enums


def check(value, typ, models, path="body"):
    """Problems of `value` against the SDK type `typ`."""
    if value is None:
        return []
    if typ == "str" or typ == "datetime":
        return [] if isinstance(value, str) else [f"{path} must be a string"]
    if typ == "int":
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path} must be an integer"]
    if typ == "float":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path} must be a number"]
    if typ == "bool":
        return [] if isinstance(value, bool) else [f"{path} must be a boolean"]
    if typ == "object":
        return []
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            return [f"{path} must be an array"]
        return [p for i, v in enumerate(value) for p in check(v, m.group(1), models, f"{path}[{i}]")]
    m = re.fullmatch(r"dict\(str, (.+)\)", typ)
    if m:
        if not isinstance(value, dict):
            return [f"{path} must be an object"]
        return [p for k, v in value.items() for p in check(v, m.group(1), models, f"{path}.{k}")]
    cls = model_class(models, typ)
    if cls is None:
        return [f"{path}: the SDK has no model {typ}"]
    if not isinstance(value, dict):
        return [f"{path} must be an object ({typ})"]
    sub = getattr(cls, "get_subtype", None)
    if sub is not None:
        name = sub(value)
        if name != typ:
            sub_cls = model_class(models, name)
            if sub_cls is None:
                return [f"{path}: {typ} has no subtype {name}"]
            cls, typ = sub_cls, name
    fields, required, enums = model_facts(cls)
    problems = []
    for k, v in value.items():
        if k not in fields:
            problems.append(f"{path}.{k} is not a field of {typ}")
            continue
        problems += check(v, fields[k][1], models, f"{path}.{k}")
        if k in enums and v is not None and v not in enums[k]:
            problems.append(f"{path}.{k} must be one of {sorted(enums[k])}")
    for k in sorted(required - set(value)):
        problems.append(f"{path}.{k} is required ({typ})")
    return problems


# ---- the cloud ---------------------------------------------------------------------


class Fail(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def ocid(kind, region="us-ashburn-1"):
    return f"ocid1.{kind}.oc1.{region.split('-')[1][:3]}.aaaa{uuid.uuid4().hex}"


class State:
    def __init__(self, key_id, public_key, machines, boot_seconds):
        self.key_id = key_id
        self.tenancy, self.user, _ = key_id.split("/", 2)
        self.public_key = public_key
        self.machines = machines
        self.boot_seconds = boot_seconds
        self.lock = threading.Lock()
        self.instances = {}
        self.net = {}  # id -> {"kind": ..., fields}
        self.vnics = {}
        self.exhausted = set()
        self.throttle = 0
        self.throttle_method = None
        self.requests = []

    # -- helpers --

    def ads(self, region):
        return [f"Uocm:{region.rsplit('-', 1)[0].upper()}-AD-{n}" for n in (1, 2, 3)]

    def free_machine(self):
        used = {i["machine"][:2] for i in self.instances.values()
                if i["lifecycleState"] not in ("TERMINATED",)}
        return next((m for m in self.machines if m[:2] not in used), None)

    def tick(self, i):
        t = time.time()
        s = i["lifecycleState"]
        if s in ("PROVISIONING", "STARTING") and t >= i["ready_at"]:
            i["lifecycleState"] = "RUNNING"
        elif s == "STOPPING" and t >= i["ready_at"]:
            i["lifecycleState"] = "STOPPED"
        elif s == "TERMINATING" and t >= i["ready_at"]:
            i["lifecycleState"] = "TERMINATED"
        return i

    def view(self, i):
        self.tick(i)
        v = {k: val for k, val in i.items() if k not in ("machine", "ready_at", "vnic", "privateIp")}
        return v

    def compartment_of(self, q):
        c = q.get("compartmentId")
        if c != self.tenancy:
            raise Fail(404, "NotAuthorizedOrNotFound",
                       "Authorization failed or requested resource not found.")
        return c

    def live_net(self, kind, q):
        self.compartment_of(q)
        return [r for r in self.net.values() if r["kind"] == kind
                and (q.get("vcnId") is None or r.get("vcnId") == q["vcnId"])
                and (q.get("displayName") is None or r["displayName"] == q["displayName"])]

    def net_view(self, r):
        return {k: v for k, v in r.items() if k not in ("kind", "default")}

    def get_net(self, kind, rid):
        r = self.net.get(rid)
        if r is None or r["kind"] != kind or r["lifecycleState"] == "TERMINATED":
            raise Fail(404, "NotAuthorizedOrNotFound",
                       "Authorization failed or requested resource not found.")
        return r

    def create_net(self, kind, region, body, **extra):
        self.compartment_of({"compartmentId": body["compartmentId"]})
        rid = ocid(kind.lower(), region)
        r = {"kind": kind, "id": rid, "compartmentId": body["compartmentId"],
             "displayName": body.get("displayName") or rid, "lifecycleState": "AVAILABLE",
             "timeCreated": now_iso(), "freeformTags": body.get("freeformTags") or {},
             "definedTags": {}}
        r.update(extra)
        self.net[rid] = r
        return r

    def delete_net(self, kind, rid, refs):
        r = self.get_net(kind, rid)
        if refs:
            raise Fail(409, "Conflict", f"The {kind} {rid} has references: {', '.join(refs)}")
        r["lifecycleState"] = "TERMINATED"
        return 204, None

    def live(self, kind):
        return [r for r in self.net.values() if r["kind"] == kind and r["lifecycleState"] != "TERMINATED"]

    # -- Identity --

    def list_availability_domains(self, region, q, _b):
        self.compartment_of(q)
        return 200, [{"name": n, "id": ocid("availabilitydomain", region), "compartmentId": self.tenancy}
                     for n in self.ads(region)]

    def get_user(self, _region, _q, _b, userId):
        if userId != self.user:
            raise Fail(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
        return 200, {"id": self.user, "compartmentId": self.tenancy, "name": "alice@example.com",
                     "description": "test user", "email": "alice@example.com",
                     "timeCreated": now_iso(), "lifecycleState": "ACTIVE", "isMfaActivated": False}

    # -- Compute --

    def list_images(self, region, q, _b):
        self.compartment_of(q)
        return 200, [{"id": f"ocid1.image.oc1.{region}.ubuntu2204", "compartmentId": None,
                      "displayName": "Canonical-Ubuntu-22.04-2026.11.01-0",
                      "operatingSystem": "Canonical Ubuntu", "operatingSystemVersion": "22.04",
                      "lifecycleState": "AVAILABLE", "createImageAllowed": True,
                      "timeCreated": now_iso(), "launchMode": "NATIVE"}]

    def list_instances(self, _region, q, _b):
        self.compartment_of(q)
        found = [self.view(i) for i in self.instances.values()]
        if q.get("lifecycleState"):
            found = [i for i in found if i["lifecycleState"] == q["lifecycleState"]]
        return 200, found

    def launch_instance(self, region, _q, body):
        self.compartment_of(body)
        ad = body["availabilityDomain"]
        if ad not in self.ads(region):
            raise Fail(400, "InvalidParameter", f"Invalid availabilityDomain {ad}")
        shape = body["shape"]
        if any(s in ("*", shape) and a in ("*", ad) for s, a in self.exhausted):
            raise Fail(500, "InternalError", "Out of host capacity.")
        subnet = body.get("createVnicDetails", {}).get("subnetId") or body.get("subnetId")
        self.get_net("Subnet", subnet)
        src = body.get("sourceDetails") or {}
        if not str(src.get("imageId", "")).startswith("ocid1.image."):
            raise Fail(400, "InvalidParameter", "sourceDetails.imageId is not an image")
        machine = self.free_machine()
        if machine is None:
            raise Fail(500, "InternalError", "Out of host capacity.")
        metadata = body.get("metadata") or {}
        if sum(len(k.encode()) + len(str(v).encode()) for k, v in metadata.items()) > 32000:
            raise Fail(400, "InvalidParameter", "metadata exceeds the 32,000 byte limit")
        for k, v in (body.get("freeformTags") or {}).items():
            if len(k) > 100 or len(str(v)) > 256:
                raise Fail(400, "InvalidParameter", f"freeformTags: {k} is too long")
        user_data = None
        if "user_data" in metadata:
            try:
                user_data = base64.b64decode(metadata["user_data"], validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                raise Fail(400, "InvalidParameter", "metadata user_data must be base64 encoded")
        key = metadata.get("ssh_authorized_keys")
        if key:
            with open(machine[2], "a") as f:
                f.write("\n" + key.strip() + "\n")
        install_host_key(machine, user_data)
        iid = ocid("instance", region)
        n = len(self.instances) + 2
        i = {"id": iid, "compartmentId": body["compartmentId"], "availabilityDomain": ad,
             "displayName": body.get("displayName") or iid, "shape": shape, "region": region,
             "lifecycleState": "PROVISIONING", "timeCreated": now_iso(),
             "freeformTags": body.get("freeformTags") or {}, "definedTags": {},
             "metadata": body.get("metadata") or {}, "imageId": src.get("imageId"),
             "sourceDetails": src, "faultDomain": "FAULT-DOMAIN-1",
             "preemptibleInstanceConfig": body.get("preemptibleInstanceConfig"),
             "machine": machine, "ready_at": time.time() + self.boot_seconds,
             "privateIp": f"10.0.0.{n}", "subnetId": subnet}
        vnic = ocid("vnic", region)
        self.vnics[vnic] = {"id": vnic, "instance": iid}
        i["vnic"] = vnic
        self.instances[iid] = i
        return 200, self.view(i)

    def _instance(self, iid):
        i = self.instances.get(iid)
        if i is None:
            raise Fail(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
        return self.tick(i)

    def get_instance(self, _region, _q, _b, instanceId):
        return 200, self.view(self._instance(instanceId))

    def instance_action(self, _region, q, _b, instanceId):
        i = self._instance(instanceId)
        a, s = q["action"], i["lifecycleState"]
        if s in ("TERMINATING", "TERMINATED"):
            raise Fail(409, "IncorrectState", f"instance is {s}")
        if a == "STOP":
            if s != "STOPPED":
                i["lifecycleState"], i["ready_at"] = "STOPPING", time.time() + 0.3
        elif a == "START":
            if s == "STOPPED":
                if any(x in ("*", i["shape"]) and ad in ("*", i["availabilityDomain"])
                       for x, ad in self.exhausted):
                    raise Fail(500, "InternalError", "Out of host capacity.")
                i["lifecycleState"], i["ready_at"] = "STARTING", time.time() + self.boot_seconds
            elif s not in ("RUNNING", "STARTING", "PROVISIONING"):
                raise Fail(409, "IncorrectState", f"instance is {s}")
        else:
            raise Fail(400, "InvalidParameter", f"the fake does not do {a}")
        return 200, self.view(i)

    def terminate_instance(self, _region, _q, _b, instanceId):
        i = self._instance(instanceId)
        if i["lifecycleState"] not in ("TERMINATING", "TERMINATED"):
            i["lifecycleState"], i["ready_at"] = "TERMINATING", time.time() + 0.4
        return 204, None

    def list_vnic_attachments(self, region, q, _b):
        self.compartment_of(q)
        out = []
        for i in self.instances.values():
            self.tick(i)
            if q.get("instanceId") not in (None, i["id"]) or i["lifecycleState"] in ("PROVISIONING", "TERMINATED"):
                continue
            out.append({"id": ocid("vnicattachment", region), "instanceId": i["id"],
                        "vnicId": i["vnic"], "availabilityDomain": i["availabilityDomain"],
                        "compartmentId": i["compartmentId"], "lifecycleState": "ATTACHED",
                        "subnetId": i["subnetId"], "timeCreated": i["timeCreated"], "nicIndex": 0})
        return 200, out

    def get_vnic(self, _region, _q, _b, vnicId):
        v = self.vnics.get(vnicId)
        i = self.instances.get(v["instance"]) if v else None
        if i is None or self.tick(i)["lifecycleState"] == "TERMINATED":
            raise Fail(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
        running = i["lifecycleState"] == "RUNNING"
        return 200, {"id": vnicId, "availabilityDomain": i["availabilityDomain"],
                     "compartmentId": i["compartmentId"], "lifecycleState": "AVAILABLE",
                     "subnetId": i["subnetId"], "timeCreated": i["timeCreated"], "isPrimary": True,
                     "privateIp": i["privateIp"],
                     "publicIp": i["machine"][0] if running else None}

    # -- Virtual network --

    def list_vcns(self, _r, q, _b):
        return 200, [self.net_view(r) for r in self.live_net("Vcn", q)]

    def create_vcn(self, region, _q, body):
        cidrs = body.get("cidrBlocks") or ([body["cidrBlock"]] if body.get("cidrBlock") else [])
        if not cidrs:
            raise Fail(400, "InvalidParameter", "cidrBlocks is required")
        vcn = self.create_net("Vcn", region, body, cidrBlocks=cidrs, cidrBlock=cidrs[0])
        rt = self.create_net("RouteTable", region, {"compartmentId": body["compartmentId"],
                                                     "displayName": "Default Route Table"},
                             vcnId=vcn["id"], routeRules=[], default=True)
        sl = self.create_net("SecurityList", region, {"compartmentId": body["compartmentId"],
                                                       "displayName": "Default Security List"},
                             vcnId=vcn["id"], ingressSecurityRules=[], egressSecurityRules=[],
                             default=True)
        vcn["defaultRouteTableId"], vcn["defaultSecurityListId"] = rt["id"], sl["id"]
        return 200, self.net_view(vcn)

    def delete_vcn(self, _r, _q, _b, vcnId):
        refs = [r["id"] for r in self.net.values() if r.get("vcnId") == vcnId
                and r["lifecycleState"] != "TERMINATED" and not r.get("default")]
        result = self.delete_net("Vcn", vcnId, refs)
        for r in self.net.values():
            if r.get("vcnId") == vcnId:
                r["lifecycleState"] = "TERMINATED"
        return result

    def list_internet_gateways(self, _r, q, _b):
        return 200, [self.net_view(r) for r in self.live_net("InternetGateway", q)]

    def create_internet_gateway(self, region, _q, body):
        self.get_net("Vcn", body["vcnId"])
        return 200, self.net_view(self.create_net("InternetGateway", region, body, vcnId=body["vcnId"],
                                                  isEnabled=body.get("isEnabled", True)))

    def delete_internet_gateway(self, _r, _q, _b, igId):
        refs = [r["id"] for r in self.live("RouteTable")
                if any(rule.get("networkEntityId") == igId for rule in r.get("routeRules") or [])]
        return self.delete_net("InternetGateway", igId, refs)

    def list_route_tables(self, _r, q, _b):
        return 200, [self.net_view(r) for r in self.live_net("RouteTable", q)]

    def create_route_table(self, region, _q, body):
        self.get_net("Vcn", body["vcnId"])
        for rule in body.get("routeRules") or []:
            self.get_net("InternetGateway", rule.get("networkEntityId"))
        return 200, self.net_view(self.create_net("RouteTable", region, body, vcnId=body["vcnId"],
                                                  routeRules=body.get("routeRules") or []))

    def delete_route_table(self, _r, _q, _b, rtId):
        refs = [s["id"] for s in self.live("Subnet") if s.get("routeTableId") == rtId]
        return self.delete_net("RouteTable", rtId, refs)

    def list_security_lists(self, _r, q, _b):
        return 200, [self.net_view(r) for r in self.live_net("SecurityList", q)]

    def create_security_list(self, region, _q, body):
        self.get_net("Vcn", body["vcnId"])
        return 200, self.net_view(self.create_net(
            "SecurityList", region, body, vcnId=body["vcnId"],
            ingressSecurityRules=body["ingressSecurityRules"],
            egressSecurityRules=body["egressSecurityRules"]))

    def get_security_list(self, _r, _q, _b, securityListId):
        return 200, self.net_view(self.get_net("SecurityList", securityListId))

    def update_security_list(self, _r, _q, body, securityListId):
        sl = self.get_net("SecurityList", securityListId)
        for k in ("ingressSecurityRules", "egressSecurityRules", "displayName", "freeformTags"):
            if k in body:
                sl[k] = body[k]
        return 200, self.net_view(sl)

    def delete_security_list(self, _r, _q, _b, securityListId):
        refs = [s["id"] for s in self.live("Subnet") if securityListId in (s.get("securityListIds") or [])]
        return self.delete_net("SecurityList", securityListId, refs)

    def list_subnets(self, _r, q, _b):
        return 200, [self.net_view(r) for r in self.live_net("Subnet", q)]

    def create_subnet(self, region, _q, body):
        vcn = self.get_net("Vcn", body["vcnId"])
        rt = body.get("routeTableId") or vcn["defaultRouteTableId"]
        self.get_net("RouteTable", rt)
        sls = body.get("securityListIds") or [vcn["defaultSecurityListId"]]
        for s in sls:
            self.get_net("SecurityList", s)
        return 200, self.net_view(self.create_net(
            "Subnet", region, body, vcnId=body["vcnId"], cidrBlock=body["cidrBlock"],
            routeTableId=rt, securityListIds=sls, virtualRouterIp="10.0.0.1",
            virtualRouterMac="00:00:17:00:00:01",
            prohibitPublicIpOnVnic=body.get("prohibitPublicIpOnVnic", False)))

    def delete_subnet(self, _r, _q, _b, subnetId):
        refs = [i["id"] for i in self.instances.values()
                if i["subnetId"] == subnetId and self.tick(i)["lifecycleState"] != "TERMINATED"]
        return self.delete_net("Subnet", subnetId, refs)


def route(ops, method, path):
    for m, pattern, template, name, query, required, body_model, body_required, models in ops:
        if m == method and pattern.match(path):
            names = re.findall(r"\{(\w+)\}", template)
            values = re.match(pattern.pattern.replace("[^/]+", "([^/]+)"), path).groups()
            return name, template, dict(zip(names, values)), query, required, body_model, body_required, models
    return None


def verify_signature(state, method, target, headers, body):
    """None when the request is signed as OCI requires, else why not."""
    auth = headers.get("Authorization") or ""
    if not auth.startswith("Signature "):
        return "no Signature authorization"
    fields = dict(re.findall(r'(\w+)="([^"]*)"', auth))
    if fields.get("version") != "1" or fields.get("algorithm") != "rsa-sha256":
        return "not a version 1 rsa-sha256 signature"
    if fields.get("keyId") != state.key_id:
        return "unknown keyId"
    signed = fields.get("headers", "").split(" ")
    need = ["date", "(request-target)", "host"]
    if method in ("POST", "PUT", "PATCH"):
        need += ["content-length", "content-type", "x-content-sha256"]
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("x-content-sha256") != digest:
            return "x-content-sha256 does not match the body"
        if headers.get("content-length") != str(len(body)):
            return "content-length does not match the body"
    if any(h not in signed for h in need):
        return f"the signature must cover {need}"
    try:
        when = email.utils.parsedate_to_datetime(headers.get("date") or "").timestamp()
    except (TypeError, ValueError):
        return "no valid date"
    if abs(when - time.time()) > 300:
        return "date is more than 5 minutes off"
    lines = []
    for h in signed:
        if h == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        else:
            v = headers.get(h)
            if v is None:
                return f"signed header {h} is missing"
            lines.append(f"{h}: {v}")
    try:
        state.public_key.verify(base64.b64decode(fields.get("signature", "")),
                                "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # noqa: BLE001 - any failure is a bad signature
        return "the signature does not verify"
    return None


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body, extra=None):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("opc-request-id", uuid.uuid4().hex.upper())
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def fail(self, status, code, message):
            self.reply(status, {"code": code, "message": message})

        def fake_control(self, method, url, raw):
            body = json.loads(raw or b"{}")
            if method == "GET" and url.path == "/_fake/state":
                with state.lock:
                    insts = []
                    for i in state.instances.values():
                        v = state.view(i)
                        v["machine_ip"] = i["machine"][0]
                        insts.append(v)
                    return self.reply(200, {"instances": insts,
                                            "network": [state.net_view(r) | {"kind": r["kind"]}
                                                        for r in state.net.values()],
                                            "requests": list(state.requests)})
            if method == "POST" and url.path == "/_fake/throttle":
                with state.lock:
                    state.throttle = int(body.get("count") or 0)
                    state.throttle_method = body.get("method")
                return self.reply(200, {"ok": True})
            if method == "POST" and url.path == "/_fake/preempt":
                with state.lock:
                    for i in state.instances.values():
                        if i["displayName"] == body.get("name") and i["lifecycleState"] != "TERMINATED":
                            i["lifecycleState"] = "TERMINATED"
                return self.reply(200, {"ok": True})
            if method == "POST" and url.path == "/_fake/capacity":
                key = (body.get("shape") or "*", body.get("ad") or "*")
                with state.lock:
                    (state.exhausted.add if body.get("exhausted") else state.exhausted.discard)(key)
                return self.reply(200, {"ok": True})
            return self.fail(404, "NotAuthorizedOrNotFound", "no such control")

        def handle_any(self, method):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if url.path.startswith("/_fake/"):
                return self.fake_control(method, url, raw)
            if (self.headers.get("Host") or "").split(":")[0] == PRICE_HOST or url.path == PRICE_PATH:
                return self.price_list(method, url)
            headers = {k.lower(): v for k, v in self.headers.items()}
            headers["Authorization"] = self.headers.get("Authorization")
            why = verify_signature(state, method, self.path, headers, raw)
            if why is not None:
                state.requests.append(f"UNAUTHENTICATED {method} {url.path}: {why}")
                return self.fail(401, "NotAuthenticated",
                                 "The required information to complete authentication was not provided or was incorrect.")
            with state.lock:
                throttled = state.throttle > 0 and state.throttle_method in (None, method)
                state.throttle -= 1 if throttled else 0
            if throttled:
                state.requests.append("THROTTLED")
                return self.fail(429, "TooManyRequests", "Too many requests for the user")
            host = (headers.get("host") or "").split(":")[0]
            if not url.path.startswith(VERSION + "/"):
                state.requests.append(f"INVALID {method} {url.path}: not under {VERSION}")
                return self.fail(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
            path = url.path[len(VERSION):]
            if host.startswith("iaas."):
                ops, region = IAAS_OPS, host.split(".")[1]
            elif host.startswith("identity."):
                ops, region = IDENTITY_OPS, host.split(".")[1]
            else:  # the SDK's read-backs, on 127.0.0.1: every operation
                ops, region = IAAS_OPS + IDENTITY_OPS, "us-ashburn-1"
            found = route(ops, method, path)
            if found is None:
                state.requests.append(f"INVALID {method} {path}: no SDK operation")
                return self.fail(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
            name, template, args, query_spec, required, body_model, body_required, models = found
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            problems = [f"query parameter {k} is not one of {sorted(query_spec)}"
                        for k in query if k not in query_spec]
            problems += [f"query parameter {k} is required" for k in sorted(required) if k not in query]
            problems += [f"query parameter {k}={v} is not one of {sorted(query_spec[k])}"
                         for k, v in query.items() if query_spec.get(k) and v not in query_spec[k]]
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    problems.append("the body is not JSON")
            if body is not None and body_model is None:
                problems.append(f"{name} takes no body")
            elif body_model is not None:
                if body is None:
                    if body_required:
                        problems.append(f"{name} needs a {body_model} body")
                else:
                    problems += check(body, body_model, models)
            if problems:
                state.requests.append(f"INVALID {method} {template}: {'; '.join(problems)}")
                return self.fail(400, "InvalidParameter", "; ".join(problems))
            state.requests.append(f"{method} {template}")
            handler = getattr(state, name, None)
            if handler is None:
                return self.fail(501, "NotImplemented", f"the fake does not implement {name}")
            try:
                with state.lock:
                    status, answer = handler(region, query, body or {}, **args)
            except Fail as e:
                return self.fail(e.status, e.code, e.message)
            extra = {}
            if isinstance(answer, list):
                limit = int(query.get("limit") or 1000)
                start = int(query.get("page") or 0)
                if start + limit < len(answer):
                    extra["opc-next-page"] = str(start + limit)
                answer = answer[start:start + limit]
            self.reply(status, answer, extra)

        def price_list(self, method, url):
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            problems = [f"query parameter {k} is not one the price list takes"
                        for k in query if k not in ("partNumber", "currencyCode")]
            if method != "GET" or url.path != PRICE_PATH:
                problems.append(f"{method} {url.path} is not the price list")
            if self.headers.get("Authorization"):
                problems.append("a signed request sent to the public price list")
            if problems:
                state.requests.append(f"INVALID {method} {url.path}: {'; '.join(problems)}")
                return self.fail(400, "InvalidParameter", "; ".join(problems))
            part = query.get("partNumber")
            currency = query.get("currencyCode", "USD")
            state.requests.append(f"PRICES {part}")
            items = [{"partNumber": p, "displayName": name, "metricName": "GPU Per Hour",
                      "serviceCategory": "Compute - GPU",
                      "currencyCodeLocalizations": [{"currencyCode": currency, "prices": [
                          {"model": "PAY_AS_YOU_GO", "value": price}]}]}
                     for p, (name, price) in PRICE_LIST.items() if part in (None, p)]
            self.reply(200, {"lastUpdated": "2026-12-01T00:00:00.000Z", "items": items})

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_DELETE(self):
            self.handle_any("DELETE")

    return Handler


class QuietServer(ThreadingHTTPServer):
    """Says nothing when a client (a launch the test killed) hangs up."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key-id", required=True)
    p.add_argument("--public-key", required=True)
    p.add_argument("--machines", default="")
    p.add_argument("--boot-seconds", type=float, default=0.5)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    with open(a.public_key, "rb") as f:
        public_key = serialization.load_pem_public_key(f.read())
    machines = []
    for spec in filter(None, a.machines.split(",")):
        ip, port, keys = spec.split(":", 2)
        machines.append((ip, int(port), keys))
    state = State(a.key_id, public_key, machines, a.boot_seconds)
    server = QuietServer(("127.0.0.1", a.port), make_handler(state))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
