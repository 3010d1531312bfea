#!/usr/bin/env python3
"""A stateful fake of Azure Resource Manager (with Microsoft Entra ID's token
endpoint and Azure's Retail Prices API), for aloft's tests. Needs the official
SDK packages `azure-mgmt-compute`, `azure-mgmt-network` and `azure-mgmt-resource`
in the repository's .venv (scripts/test.sh installs them).

    azure_api.py --tenant T --client-id C --client-secret S --subscription SUB
                 [--machines IP:PORT:AUTHKEYS,...] [--op-polls N] [--port N]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1. Requests
arrive with the host they were meant for in `Host` (aloft's endpoint override
keeps it): `login.microsoftonline.com`, `prices.azure.com` or
`management.azure.com`.

Every ARM request is checked against the official SDKs, not our reading of the
API:

- the route: the method and path must be those of one of the SDKs' generated
  `build_<group>_<operation>_request` functions (their `_url` template and
  `method`), else 404 `InvalidResourceType`, as ARM answers a route it does not
  know;
- the query: `api-version` must be the one that SDK function sends, and every
  other parameter one it sets (`$expand`, `$filter`, `$top`, ...);
- the JSON body: checked against the model the operation takes in that SDK
  (`VirtualMachine`, `NetworkInterface`, ...: the generated models' REST field
  names and type hints, walked recursively): no field the model lacks, every
  field the model types as required present, values of the model's types and
  enum values among the enum's (case-insensitively, as ARM takes them).

A request that fails these checks is answered 400 `InvalidRequestContent` with
the problems, and recorded as `INVALID ...` in `requests`.

Tokens: `POST /{tenant}/oauth2/v2.0/token` with the client-credentials grant of
the one known service principal and scope `https://management.azure.com/.default`
mints a bearer token; anything else is answered as Entra ID does (`invalid_client`
with `AADSTS7000215`, ...). ARM requests need a token minted here.

Long-running operations: PUTs of network resources and VMs answer 201 with
`Azure-AsyncOperation` (a status document, `InProgress` for `--op-polls` polls,
then `Succeeded` or `Failed` with the error); VM `start`/`deallocate` answer 202
with it; deleting a resource group answers 202 with `Location` (202 until done,
then 200). The resource changes when its operation ends.

VMs take "machines" (real sshd's on loopback the test started): a public IP takes
the next free machine's address when it is made (in turn, so a freed address is
not handed out again at once); the VM's
`osProfile.linuxConfiguration.ssh.publicKeys` are appended to the authorized keys
of the machine behind its NIC's public IP (as the Azure Linux agent does), and
a `#cloud-config` in `osProfile.customData` (base64, at most 87380 characters,
as ARM takes it) that gives `ssh_keys` makes that machine's sshd answer with
that host key (`first_boot.py`, as cloud-init's first boot would). ARM never
answers `customData` back (the state's `groups` keep it); tag values are at most
256 characters.
Deleting a resource group deletes everything in it and frees its machines.

Test controls (no auth, under `/_fake/`): `POST /_fake/capacity {"size"
(optional: all), "region" (optional: all), "code": "SkuNotAvailable" (the PUT is
refused 409) | "ZonalAllocationFailed" (the create operation fails) | null
(clears)}`, `POST /_fake/throttle {"count": n}` (the next n ARM requests are
answered 429 with `Retry-After: 1`), `POST /_fake/evict {"vm": name}` (a spot VM
is evicted: deallocated), `GET /_fake/state` (`groups` with their resources,
`machines_used`, `user_data`: each VM's `customData` decoded, `requests`: `METHOD
/path-template` of every request, `INVALID ...`, `THROTTLED`, `UNAUTHORIZED`,
`TOKEN`), `GET /_fake/secrets`.
"""
import argparse
import base64
import enum
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

import azure.mgmt.compute.models as compute_models
import azure.mgmt.compute.operations._operations as compute_ops
import azure.mgmt.network.models as network_models
import azure.mgmt.network.operations._operations as network_ops
import azure.mgmt.resource.resources.models as resource_models
import azure.mgmt.resource.resources.operations._operations as resource_ops

from first_boot import install_host_key

ARM_HOST = "management.azure.com"
LOGIN_HOST = "login.microsoftonline.com"
PRICES_HOST = "prices.azure.com"


# ---- the SDKs' operations and models -----------------------------------------

def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def load_operations():
    """[(method, regex, url template, op name, api-version, query params, model)]."""
    table = []
    for ops, models in ((compute_ops, compute_models), (network_ops, network_models),
                        (resource_ops, resource_models)):
        source = inspect.getsource(ops)
        bodies = {}
        # The classes' sources by position in the module's text (inspect.getsource
        # on each class would parse the whole, very large, module every time).
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"\nclass (\w+)Operations\b", source)]
        for i, (at, cname) in enumerate(starts):
            group = _snake(cname)
            csrc = source[at: starts[i + 1][0] if i + 1 < len(starts) else len(source)]
            for m in re.finditer(r"\n    def (begin_)?(\w+)\(\s*self,(.*?)\)\s*->", csrc, re.S):
                op = m.group(2)
                if op.startswith("_"):
                    continue
                model = re.search(r":\s*(?:Union\[)?_models\.(\w+)", m.group(3))
                if model and f"{group}_{op}" not in bodies:
                    bodies[f"{group}_{op}"] = getattr(models, model.group(1), None)
        for m in re.finditer(r"\ndef build_(\w+?)_request\(", source):
            end = source.find("\ndef ", m.end())
            body = source[m.end():end if end > 0 else len(source)]
            url = re.search(r'_url = \(?\s*"([^"]+)"', body)
            method = re.search(r'method="([A-Z]+)"', body)
            api = re.search(r'"api-version", "([^"]+)"', body)
            if not url or not method:
                continue
            params = set(re.findall(r'_params\["([^"]+)"\]', body))
            name = m.group(1)
            pattern = "^" + re.sub(r"\\\{[A-Za-z]+\\\}", "([^/]+)", re.escape(url.group(1))) + "$"
            table.append((method.group(1), re.compile(pattern, re.I), url.group(1), name,
                          api.group(1) if api else None, params, bodies.get(name)))
    # Literal paths before templated ones.
    table.sort(key=lambda t: t[2].count("{"))
    return table


def _hints(cls):
    module = sys.modules[cls.__module__]
    g = dict(vars(module))
    g["_models"] = sys.modules[module.__name__.rsplit(".", 1)[0]]
    return typing.get_type_hints(cls, globalns=g)


_FIELDS = {}

# Extensible enums whose known values the SDK itself calls incomplete: VM sizes
# ("the available VM sizes ... use the List all available virtual machine sizes
# API", the enum stops at older families). Any string is taken; the fake's own
# size list decides what exists. Every other enum's values are enforced.
OPEN_ENUMS = {"VirtualMachineSizeTypes"}


def fields(cls):
    """{rest name: (type hint, required, writable)} of a generated model."""
    if cls not in _FIELDS:
        cls()  # the generated base computes `_attr_to_rest_field` on first use
        hints = _hints(cls)
        out = {}
        for attr, rf in cls._attr_to_rest_field.items():
            hint = hints.get(attr, typing.Any)
            optional = type(None) in typing.get_args(hint)
            out[rf._rest_name] = (hint, not optional, rf._visibility != ["read"])
        _FIELDS[cls] = out
    return _FIELDS[cls]


def check(value, hint, path="body"):
    """Problems of `value` against the type hint `hint`."""
    if value is None:
        return []
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        options = [a for a in args if a is not type(None)]
        enums = [a for a in options if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and str in options:
            if not isinstance(value, str):
                return [f"{path} must be a string"]
            if any(en.__name__ in OPEN_ENUMS for en in enums):
                return []
            allowed = {str(e.value).lower() for en in enums for e in en}
            return [] if value.lower() in allowed else \
                [f"{path} {value!r} is not one of {sorted(allowed)}"]
        if len(options) == 1:
            return check(value, options[0], path)
        for o in options:
            if not check(value, o, path):
                return []
        return [f"{path} matches none of {options}"]
    if origin in (list, typing.List):
        if not isinstance(value, list):
            return [f"{path} must be an array"]
        return [p for i, v in enumerate(value) for p in check(v, args[0] if args else typing.Any, f"{path}[{i}]")]
    if origin in (dict, typing.Dict):
        if not isinstance(value, dict):
            return [f"{path} must be an object"]
        return [p for k, v in value.items() for p in check(v, args[1] if len(args) > 1 else typing.Any, f"{path}.{k}")]
    if isinstance(hint, type) and hasattr(hint, "_attr_to_rest_field") or \
            isinstance(hint, type) and getattr(hint, "_is_model", False):
        if not isinstance(value, dict):
            return [f"{path} must be an object"]
        model = fields(hint)
        problems = []
        for k, v in value.items():
            if k not in model:
                problems.append(f"{path}.{k} is not a field of {hint.__name__}")
            else:
                problems += check(v, model[k][0], f"{path}.{k}")
        for k, (_, required, writable) in model.items():
            if required and writable and k not in value:
                problems.append(f"{path}.{k} is required")
        return problems
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = {str(e.value).lower() for e in hint}
        return [] if isinstance(value, str) and value.lower() in allowed else \
            [f"{path} {value!r} is not one of {sorted(allowed)}"]
    if hint is bool:
        return [] if isinstance(value, bool) else [f"{path} must be a boolean"]
    if hint is int:
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path} must be an integer"]
    if hint is float:
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path} must be a number"]
    if hint is str:
        return [] if isinstance(value, str) else [f"{path} must be a string"]
    return []


OPERATIONS = load_operations()


def route(method, path):
    """(name, template, path args, api-version, params, model) or None."""
    for m, pattern, url, name, api, params, model in OPERATIONS:
        if m != method:
            continue
        found = pattern.match(path)
        if found:
            names = re.findall(r"\{([A-Za-z]+)\}", url)
            return name, url, dict(zip(names, found.groups())), api, params, model
    return None


# ---- the cloud ----------------------------------------------------------------

class Fail(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# Retail prices (Linux pay-as-you-go and Spot meters, USD per hour) the fake
# answers with: (armSkuName, skuName, region, on-demand, spot).
PRICES = [
    ("Standard_D2s_v5", "D2s v5", "eastus", 0.096, 0.0096),
    ("Standard_D2s_v5", "D2s v5", "westus2", 0.096, 0.0106),
    ("Standard_D2s_v5", "D2s v5", "westus3", 0.096, 0.0101),
    ("Standard_NC4as_T4_v3", "NC4as T4 v3", "eastus", 0.526, 0.0526),
    ("Standard_NC4as_T4_v3", "NC4as T4 v3", "westus2", 0.526, 0.0631),
    ("Standard_NC24ads_A100_v4", "NC24ads A100 v4", "eastus", 3.673, 0.3673),
    ("Standard_NC24ads_A100_v4", "NC24ads A100 v4", "westus2", 3.673, 0.4408),
    ("Standard_ND96isr_H100_v5", "ND96isr H100 v5", "eastus", 98.32, None),
]


class State:
    def __init__(self, a, machines):
        self.tenant, self.client_id, self.client_secret = a.tenant, a.client_id, a.client_secret
        self.subscription = a.subscription
        self.machines = machines
        self.op_polls = a.op_polls
        self.lock = threading.Lock()
        self.tokens = set()
        self.groups = {}        # lower name -> {"name", "location", "tags", "resources": {lower id: res}, "deleting"}
        self.operations = {}    # id -> {"polls", "done": callable, "error"}
        self.capacity = {}      # (size, region) -> code
        self.throttle = 0
        self.requests = []
        self.machines_used = {}  # machine ip -> public ip resource id
        self.user_data = {}  # VM name -> its customData, decoded (every VM ever made)
        self.next_machine = 0

    # -- helpers --

    def group(self, name, must=True):
        g = self.groups.get(name.lower())
        if g is None and must:
            raise Fail(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return g

    def rid(self, rg, provider, kind, name):
        return f"/subscriptions/{self.subscription}/resourceGroups/{rg}/providers/{provider}/{kind}/{name}"

    def get_res(self, rid):
        for g in self.groups.values():
            r = g["resources"].get(rid.lower())
            if r is not None:
                return r
        return None

    def new_operation(self, location, done, error=None):
        oid = str(uuid.uuid4())
        self.operations[oid] = {"polls": 0, "done": done, "error": error, "status": "InProgress"}
        return oid

    def async_headers(self, provider, location, oid, api):
        url = (f"https://{ARM_HOST}/subscriptions/{self.subscription}/providers/{provider}"
               f"/locations/{location}/operations/{oid}?api-version={api}")
        return {"Azure-AsyncOperation": url, "Retry-After": "0"}

    def poll_operation(self, oid):
        op = self.operations.get(oid)
        if op is None:
            raise Fail(404, "NotFound", "The operation was not found.")
        if op["status"] == "InProgress":
            op["polls"] += 1
            if op["polls"] >= self.op_polls:
                if op["error"]:
                    op["status"] = "Failed"
                else:
                    op["done"]()
                    op["status"] = "Succeeded"
        doc = {"name": oid, "status": op["status"], "startTime": now()}
        if op["status"] == "Failed":
            doc["error"] = op["error"]
        return doc

    def put_resource(self, rg, provider, kind, name, body, api, extra):
        g = self.group(rg)
        rid = self.rid(g["name"], provider, kind, name)
        existing = self.get_res(rid)
        res = {"id": rid, "name": name, "type": f"{provider}/{kind}", "location": body.get("location"),
               "tags": body.get("tags") or {}, "properties": dict(body.get("properties") or {})}
        if "sku" in body:
            res["sku"] = body["sku"]
        res["properties"]["provisioningState"] = "Updating" if existing else "Creating"
        extra(res, existing)
        g["resources"][rid.lower()] = res

        def done():
            res["properties"]["provisioningState"] = "Succeeded"
        oid = self.new_operation(body.get("location"), done)
        return (200 if existing else 201), res, self.async_headers(provider, body.get("location") or "eastus", oid, api)

    # -- resource groups --

    def resource_groups_create_or_update(self, q, body, subscriptionId, resourceGroupName):
        g = self.group(resourceGroupName, must=False)
        if g is not None and g["deleting"]:
            raise Fail(409, "ResourceGroupBeingDeleted",
                       f"The resource group '{resourceGroupName}' is in deprovisioning state and cannot perform this operation.")
        if g is not None and g["location"] != body["location"]:
            raise Fail(409, "InvalidResourceGroupLocation",
                       f"Invalid resource group location '{body['location']}'. The Resource group already exists in location '{g['location']}'.")
        status = 200 if g else 201
        if g is None:
            g = {"name": resourceGroupName, "location": body["location"], "resources": {}, "deleting": False}
            self.groups[resourceGroupName.lower()] = g
        g["tags"] = body.get("tags") or {}
        return status, self.rg_view(g), {}

    def rg_view(self, g):
        return {"id": f"/subscriptions/{self.subscription}/resourceGroups/{g['name']}", "name": g["name"],
                "type": "Microsoft.Resources/resourceGroups", "location": g["location"], "tags": g["tags"],
                "properties": {"provisioningState": "Deleting" if g["deleting"] else "Succeeded"}}

    def resource_groups_get(self, q, body, subscriptionId, resourceGroupName):
        return 200, self.rg_view(self.group(resourceGroupName)), {}

    def resource_groups_list(self, q, body, subscriptionId):
        groups = [self.rg_view(g) for g in self.groups.values()]
        top = int(q.get("$top", 1000))
        return 200, {"value": groups[:top]}, {}

    def resource_groups_delete(self, q, body, subscriptionId, resourceGroupName):
        g = self.group(resourceGroupName)
        g["deleting"] = True

        def done():
            for r in g["resources"].values():
                if r["type"].endswith("publicIPAddresses"):
                    ip = r["properties"].get("ipAddress")
                    self.machines_used.pop(ip, None)
            self.groups.pop(resourceGroupName.lower(), None)
        oid = self.new_operation(g["location"], done)
        url = (f"https://{ARM_HOST}/subscriptions/{self.subscription}/operationresults/{oid}"
               f"?api-version=2025-04-01")
        return 202, None, {"Location": url, "Retry-After": "0"}

    # -- network --

    def network_security_groups_create_or_update(self, q, body, subscriptionId, resourceGroupName,
                                                 networkSecurityGroupName):
        def extra(res, existing):
            for rule in res["properties"].get("securityRules") or []:
                rule["id"] = res["id"] + "/securityRules/" + rule["name"]
        return self.put_resource(resourceGroupName, "Microsoft.Network", "networkSecurityGroups",
                                 networkSecurityGroupName, body, "2026-03-01", extra)

    def security_rules_create_or_update(self, q, body, subscriptionId, resourceGroupName,
                                        networkSecurityGroupName, securityRuleName):
        nsg = self.get_res(self.rid(resourceGroupName, "Microsoft.Network", "networkSecurityGroups",
                                    networkSecurityGroupName))
        if nsg is None:
            raise Fail(404, "ResourceNotFound", f"The Resource '{networkSecurityGroupName}' was not found.")
        rules = [r for r in nsg["properties"].setdefault("securityRules", []) if r["name"] != securityRuleName]
        rule = {"name": securityRuleName, "id": nsg["id"] + "/securityRules/" + securityRuleName,
                "properties": dict(body.get("properties") or {})}
        rules.append(rule)
        nsg["properties"]["securityRules"] = rules
        oid = self.new_operation("", lambda: None)
        return 201, rule, self.async_headers("Microsoft.Network", nsg["location"], oid, "2026-03-01")

    def network_security_groups_get(self, q, body, subscriptionId, resourceGroupName, networkSecurityGroupName):
        self.group(resourceGroupName)
        r = self.get_res(self.rid(resourceGroupName, "Microsoft.Network", "networkSecurityGroups",
                                  networkSecurityGroupName))
        if r is None:
            raise Fail(404, "ResourceNotFound", f"The Resource '{networkSecurityGroupName}' was not found.")
        return 200, r, {}

    def virtual_networks_create_or_update(self, q, body, subscriptionId, resourceGroupName, virtualNetworkName):
        def extra(res, existing):
            for s in res["properties"].get("subnets") or []:
                s["id"] = res["id"] + "/subnets/" + s["name"]
                nsg = ((s.get("properties") or {}).get("networkSecurityGroup") or {}).get("id")
                if nsg and self.get_res(nsg) is None:
                    raise Fail(400, "InvalidResourceReference", f"Resource {nsg} referenced by resource {res['id']} was not found.")
        return self.put_resource(resourceGroupName, "Microsoft.Network", "virtualNetworks",
                                 virtualNetworkName, body, "2026-03-01", extra)

    def public_ip_addresses_create_or_update(self, q, body, subscriptionId, resourceGroupName,
                                             publicIpAddressName):
        def extra(res, existing):
            if existing and existing["properties"].get("ipAddress"):
                res["properties"]["ipAddress"] = existing["properties"]["ipAddress"]
                return
            # Round the machines, as Azure seldom hands a freed address out again.
            order = self.machines[self.next_machine:] + self.machines[:self.next_machine]
            free = next((m for m in order if m[0] not in self.machines_used), None)
            if free is not None:
                self.next_machine = (self.machines.index(free) + 1) % len(self.machines)
            if free is None:
                raise Fail(409, "PublicIPCountLimitReached", "the fake has no machine left for this public IP")
            self.machines_used[free[0]] = res["id"]
            res["properties"]["ipAddress"] = free[0]
        return self.put_resource(resourceGroupName, "Microsoft.Network", "publicIPAddresses",
                                 publicIpAddressName, body, "2026-03-01", extra)

    def network_interfaces_create_or_update(self, q, body, subscriptionId, resourceGroupName,
                                            networkInterfaceName):
        def extra(res, existing):
            for i, c in enumerate(res["properties"].get("ipConfigurations") or []):
                props = c.setdefault("properties", {})
                c["id"] = res["id"] + "/ipConfigurations/" + c["name"]
                subnet = (props.get("subnet") or {}).get("id", "")
                vnet_id = subnet.rsplit("/subnets/", 1)[0]
                if self.get_res(vnet_id) is None:
                    raise Fail(400, "InvalidResourceReference", f"Resource {subnet} referenced by resource {res['id']} was not found.")
                ip = (props.get("publicIPAddress") or {}).get("id")
                if ip and self.get_res(ip) is None:
                    raise Fail(400, "InvalidResourceReference", f"Resource {ip} referenced by resource {res['id']} was not found.")
                props["privateIPAddress"] = f"10.0.0.{4 + sum(1 for g in self.groups.values() for r in g['resources'].values() if r['type'].endswith('networkInterfaces'))}"
        return self.put_resource(resourceGroupName, "Microsoft.Network", "networkInterfaces",
                                 networkInterfaceName, body, "2026-03-01", extra)

    def _list(self, rg, kind):
        g = self.group(rg)
        return 200, {"value": [r for r in g["resources"].values() if r["type"].endswith("/" + kind)]}, {}

    def network_interfaces_list(self, q, body, subscriptionId, resourceGroupName):
        return self._list(resourceGroupName, "networkInterfaces")

    def public_ip_addresses_list(self, q, body, subscriptionId, resourceGroupName):
        return self._list(resourceGroupName, "publicIPAddresses")

    # -- compute --

    def machine_of(self, vm):
        nic = self.get_res(vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"])
        ip_id = nic["properties"]["ipConfigurations"][0]["properties"].get("publicIPAddress", {}).get("id")
        ip = self.get_res(ip_id) if ip_id else None
        addr = ip and ip["properties"].get("ipAddress")
        return next((m for m in self.machines if m[0] == addr), None)

    def virtual_machines_create_or_update(self, q, body, subscriptionId, resourceGroupName, vmName):
        g = self.group(resourceGroupName)
        props = body.get("properties") or {}
        size = (props.get("hardwareProfile") or {}).get("vmSize")
        region = body["location"]
        code = self.capacity.get((size, region)) or self.capacity.get((size, "*")) or \
            self.capacity.get(("*", region)) or self.capacity.get(("*", "*"))
        if code == "SkuNotAvailable":
            raise Fail(409, "SkuNotAvailable",
                       f"The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: {size}' "
                       f"is currently not available in location '{region}'. Please try another size or deploy to a "
                       "different location or zones. See https://aka.ms/azureskunotavailable for details.")
        custom = (props.get("osProfile") or {}).get("customData")
        user_data = None
        if custom is not None:
            try:
                if len(custom) > 87380:
                    raise ValueError("too long")
                user_data = base64.b64decode(custom, validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                raise Fail(400, "InvalidParameter",
                           "Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters.")
        for k, v in (body.get("tags") or {}).items():
            if len(str(v)) > 256:
                raise Fail(400, "InvalidTagNameOrValue", f"The tag value of '{k}' exceeds 256 characters.")
        nics = (props.get("networkProfile") or {}).get("networkInterfaces") or []
        if not nics or self.get_res(nics[0]["id"]) is None:
            raise Fail(400, "InvalidParameter", "networkProfile.networkInterfaces must name an existing NIC")
        rid = self.rid(g["name"], "Microsoft.Compute", "virtualMachines", vmName)
        existing = self.get_res(rid)
        vm = {"id": rid, "name": vmName, "type": "Microsoft.Compute/virtualMachines", "location": region,
              "tags": body.get("tags") or {}, "properties": dict(props)}
        vm["properties"]["provisioningState"] = "Creating"
        vm["properties"]["vmId"] = str(uuid.uuid4())
        vm["power"] = "starting"
        g["resources"][rid.lower()] = vm
        if user_data is not None:
            self.user_data[vmName] = user_data
        error = None
        if code == "ZonalAllocationFailed":
            error = {"code": "ZonalAllocationFailed",
                     "message": "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone. Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance"}
            vm["properties"]["provisioningState"] = "Failed"
            vm["power"] = None

        def done():
            machine = self.machine_of(vm)
            keys = (((props.get("osProfile") or {}).get("linuxConfiguration") or {}).get("ssh") or {}).get("publicKeys") or []
            if machine is not None:
                with open(machine[2], "a") as f:
                    for k in keys:
                        f.write("\n" + k["keyData"].strip() + "\n")
                install_host_key(machine, user_data)
            vm["properties"]["provisioningState"] = "Succeeded"
            vm["power"] = "running"
        oid = self.new_operation(region, done, error)
        return (200 if existing else 201), self.vm_view(vm), self.async_headers("Microsoft.Compute", region, oid, "2026-04-01")

    def vm_view(self, vm, expand=False):
        v = {k: val for k, val in vm.items() if k != "power"}
        v["properties"] = dict(vm["properties"])
        if "osProfile" in v["properties"]:
            # ARM never answers customData back.
            v["properties"]["osProfile"] = {k: val for k, val in v["properties"]["osProfile"].items()
                                            if k != "customData"}
        if expand:
            statuses = [{"code": f"ProvisioningState/{vm['properties']['provisioningState'].lower()}",
                         "level": "Info", "displayStatus": vm["properties"]["provisioningState"]}]
            if vm["power"]:
                statuses.append({"code": f"PowerState/{vm['power']}", "level": "Info",
                                 "displayStatus": f"VM {vm['power']}"})
            v["properties"]["instanceView"] = {"statuses": statuses}
        return v

    def _vm(self, rg, name):
        self.group(rg)
        vm = self.get_res(self.rid(rg, "Microsoft.Compute", "virtualMachines", name))
        if vm is None:
            raise Fail(404, "ResourceNotFound",
                       f"The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource group '{rg}' was not found.")
        return vm

    def virtual_machines_get(self, q, body, subscriptionId, resourceGroupName, vmName):
        return 200, self.vm_view(self._vm(resourceGroupName, vmName), q.get("$expand") == "instanceView"), {}

    def virtual_machines_instance_view(self, q, body, subscriptionId, resourceGroupName, vmName):
        return 200, self.vm_view(self._vm(resourceGroupName, vmName), True)["properties"]["instanceView"], {}

    def virtual_machines_list(self, q, body, subscriptionId, resourceGroupName):
        g = self.group(resourceGroupName)
        expand = q.get("$expand") == "instanceView"
        return 200, {"value": [self.vm_view(r, expand) for r in g["resources"].values()
                               if r["type"] == "Microsoft.Compute/virtualMachines"]}, {}

    def virtual_machines_deallocate(self, q, body, subscriptionId, resourceGroupName, vmName):
        vm = self._vm(resourceGroupName, vmName)
        vm["power"] = "deallocating"

        def done():
            vm["power"] = "deallocated"
        oid = self.new_operation(vm["location"], done)
        return 202, None, self.async_headers("Microsoft.Compute", vm["location"], oid, "2026-04-01")

    def virtual_machines_start(self, q, body, subscriptionId, resourceGroupName, vmName):
        vm = self._vm(resourceGroupName, vmName)
        size = vm["properties"]["hardwareProfile"]["vmSize"]
        error = None
        if self.capacity.get((size, vm["location"])) or self.capacity.get(("*", "*")):
            error = {"code": "AllocationFailed", "message": "Allocation failed. Please try again later."}
        else:
            vm["power"] = "starting"

        def done():
            vm["power"] = "running"
        oid = self.new_operation(vm["location"], done, error)
        return 202, None, self.async_headers("Microsoft.Compute", vm["location"], oid, "2026-04-01")

    def virtual_machines_delete(self, q, body, subscriptionId, resourceGroupName, vmName):
        vm = self._vm(resourceGroupName, vmName)
        g = self.group(resourceGroupName)

        def done():
            g["resources"].pop(vm["id"].lower(), None)
        oid = self.new_operation(vm["location"], done)
        return 202, None, self.async_headers("Microsoft.Compute", vm["location"], oid, "2026-04-01")

    # -- prices (not ARM: public, no token) --

    def prices(self, q):
        f = q.get("$filter", "")
        regions = set(re.findall(r"armRegionName eq '([^']+)'", f))
        skus = set(re.findall(r"armSkuName eq '([^']+)'", f))
        items = []
        for arm_sku, sku, region, price, spot in PRICES:
            if (regions and region not in regions) or (skus and arm_sku not in skus):
                continue
            row = {"currencyCode": "USD", "retailPrice": price, "unitPrice": price, "armRegionName": region,
                   "location": region, "meterName": sku, "productName": "Virtual Machines Series",
                   "skuName": sku, "serviceName": "Virtual Machines", "armSkuName": arm_sku,
                   "unitOfMeasure": "1 Hour", "type": "Consumption", "isPrimaryMeterRegion": True}
            items.append(row)
            items.append(dict(row, productName="Virtual Machines Series Windows", retailPrice=price * 1.4))
            if spot is not None:
                items.append(dict(row, skuName=sku + " Spot", meterName=sku + " Spot", retailPrice=spot))
        return {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                "Items": items, "NextPageLink": None, "Count": len(items)}


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body, headers=None):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def raw_body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def fake_control(self, method, url):
            raw = self.raw_body()
            body = json.loads(raw) if raw else {}
            with state.lock:
                if method == "GET" and url.path == "/_fake/state":
                    groups = {g["name"]: {"location": g["location"], "tags": g["tags"], "deleting": g["deleting"],
                                          "resources": sorted(r["type"].split("/")[-1] + "/" + r["name"]
                                                              for r in g["resources"].values())}
                              for g in state.groups.values()}
                    return self.reply(200, {"groups": groups, "requests": list(state.requests),
                                            "machines_used": sorted(state.machines_used),
                                            "user_data": state.user_data})
                if method == "GET" and url.path == "/_fake/secrets":
                    return self.reply(200, {"secrets": [state.client_secret] + sorted(state.tokens)})
                if method == "POST" and url.path == "/_fake/capacity":
                    key = (body.get("size") or "*", body.get("region") or "*")
                    if body.get("code"):
                        state.capacity[key] = body["code"]
                    else:
                        state.capacity.pop(key, None)
                    return self.reply(200, {"ok": True})
                if method == "POST" and url.path == "/_fake/throttle":
                    state.throttle = int(body.get("count") or 0)
                    return self.reply(200, {"ok": True})
                if method == "POST" and url.path == "/_fake/evict":
                    for g in state.groups.values():
                        for r in g["resources"].values():
                            if r["type"].endswith("virtualMachines") and r["name"] == body.get("vm"):
                                r["power"] = "deallocated"
                                return self.reply(200, {"ok": True})
                    return self.reply(404, {"error": "no such vm"})
            return self.reply(404, {"error": "no such control"})

        def token(self, url):
            form = {k: v[-1] for k, v in parse_qs(self.raw_body().decode(errors="replace")).items()}
            tenant = url.path.split("/")[1]
            if url.path != f"/{tenant}/oauth2/v2.0/token":
                return self.reply(404, {"error": "not_found"})
            if tenant != state.tenant:
                state.requests.append("TOKEN REFUSED")
                return self.reply(400, {"error": "invalid_request", "error_description":
                                        f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."})
            if form.get("grant_type") != "client_credentials" or \
                    form.get("scope") != "https://management.azure.com/.default":
                state.requests.append("TOKEN REFUSED")
                return self.reply(400, {"error": "invalid_request", "error_description":
                                        "AADSTS900144: The request body must contain grant_type=client_credentials and a scope."})
            if form.get("client_id") != state.client_id:
                state.requests.append("TOKEN REFUSED")
                return self.reply(400, {"error": "unauthorized_client", "error_description":
                                        f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found in the directory."})
            if form.get("client_secret") != state.client_secret:
                state.requests.append("TOKEN REFUSED")
                return self.reply(401, {"error": "invalid_client", "error_description":
                                        f"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{state.client_id}'."})
            token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake-" + uuid.uuid4().hex
            with state.lock:
                state.tokens.add(token)
            state.requests.append("TOKEN")
            return self.reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                    "access_token": token})

        def handle_any(self, method):
            url = urlparse(self.path)
            host = (self.headers.get("Host") or "").split(":")[0]
            if url.path.startswith("/_fake/"):
                return self.fake_control(method, url)
            if host == LOGIN_HOST or url.path.endswith("/oauth2/v2.0/token"):
                return self.token(url)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if host == PRICES_HOST or url.path == "/api/retail/prices":
                state.requests.append("GET /api/retail/prices")
                return self.reply(200, state.prices(query))
            raw = self.raw_body()
            auth = self.headers.get("Authorization") or ""
            if not auth.startswith("Bearer ") or auth[7:] not in state.tokens:
                state.requests.append("UNAUTHORIZED")
                return self.reply(401, {"error": {"code": "InvalidAuthenticationToken",
                                                  "message": "The access token is invalid."}},
                                  {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common"'})
            with state.lock:
                throttled = state.throttle > 0
                state.throttle -= 1 if throttled else 0
            if throttled:
                state.requests.append("THROTTLED")
                return self.reply(429, {"error": {"code": "TooManyRequests",
                                                  "message": "The request is being throttled."}}, {"Retry-After": "1"})
            # Operation status documents and results ARM handed out.
            m = re.match(r"^/subscriptions/[^/]+/providers/[^/]+/locations/[^/]+/operations/([^/]+)$", url.path)
            r = re.match(r"^/subscriptions/[^/]+/operationresults/([^/]+)$", url.path)
            if method == "GET" and (m or r):
                with state.lock:
                    try:
                        doc = state.poll_operation((m or r).group(1))
                    except Fail as e:
                        return self.reply(e.status, {"error": {"code": e.code, "message": e.message}})
                state.requests.append("GET operation")
                if r:
                    return self.reply(202, None, {"Location": f"https://{ARM_HOST}{self.path}", "Retry-After": "0"}) \
                        if doc["status"] == "InProgress" else self.reply(200, None)
                return self.reply(200, doc, {"Retry-After": "0"} if doc["status"] == "InProgress" else {})
            found = route(method, url.path)
            if found is None:
                state.requests.append(f"INVALID {method} {url.path}: no SDK operation")
                return self.reply(404, {"error": {"code": "InvalidResourceType",
                                                  "message": f"no operation {method} {url.path}"}})
            name, template, args, api, params, model = found
            problems = []
            if query.get("api-version") != api:
                problems.append(f"api-version {query.get('api-version')!r} is not the SDK's {api!r}")
            problems += [f"query parameter {k} is not one of {sorted(params)}" for k in query if k not in params]
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    problems.append("the body is not JSON")
            if body is not None and model is None:
                problems.append(f"{name} takes no body")
            elif model is not None:
                if body is None:
                    problems.append("a JSON body is required")
                else:
                    problems += check(body, model)
            if problems:
                state.requests.append(f"INVALID {method} {template}: {'; '.join(problems)}")
                return self.reply(400, {"error": {"code": "InvalidRequestContent", "message": "; ".join(problems)}})
            state.requests.append(f"{method} {template}")
            handler = getattr(state, name, None)
            if handler is None:
                return self.reply(501, {"error": {"code": "NotImplemented", "message": f"the fake does not do {name}"}})
            try:
                with state.lock:
                    status, answer, headers = handler(query, body or {}, **args)
            except Fail as e:
                return self.reply(e.status, {"error": {"code": e.code, "message": e.message}})
            self.reply(status, answer, headers)

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_DELETE(self):
            self.handle_any("DELETE")

        def do_HEAD(self):
            self.handle_any("HEAD")

        def do_PATCH(self):
            self.handle_any("PATCH")

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tenant", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--subscription", required=True)
    p.add_argument("--machines", default="")
    p.add_argument("--op-polls", type=int, default=1)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--check-schemas", action="store_true", help="print what was read from the SDKs and exit")
    a = p.parse_args()
    if a.check_schemas:
        for t in OPERATIONS:
            if t[3].startswith(("virtual_machines_", "resource_groups_", "network_interfaces_",
                                "public_ip_addresses_", "network_security_groups_", "virtual_networks_",
                                "security_rules_")):
                print(t[0], t[2], t[3], t[4], sorted(t[5]), t[6].__name__ if t[6] else None)
        return 0
    machines = []
    for spec in filter(None, a.machines.split(",")):
        ip, port, keys = spec.split(":", 2)
        machines.append((ip, int(port), keys))
    state = State(a, machines)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(state))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
