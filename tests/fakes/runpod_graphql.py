#!/usr/bin/env python3
"""A stateful fake of RunPod's GraphQL API, for aloft's tests (needs graphql-core,
installed in the repository's .venv by scripts/test.sh).

    runpod_graphql.py --api-key KEY [--machines IP:PORT:AUTHKEYS,...]
                      [--boot-seconds S] [--port N]

It prints `PORT <n>` on its first line once it listens on 127.0.0.1.

Every request is parsed and validated by graphql-core against SCHEMA below, an SDL
of the part of RunPod's published API aloft uses, written from RunPod's GraphQL
spec (https://graphql-spec.runpod.io, version 1.1.0) and its "Manage Pods" guide
(https://docs.runpod.io/sdks/graphql/manage-pods). A query that names a field or
argument the schema lacks, or passes a value of the wrong type, is answered as
RunPod's GraphQL server answers it: HTTP 400 with
`{"errors": [{"message", "locations", "extensions": {"code":
"GRAPHQL_VALIDATION_FAILED"}}]}` (variables of the wrong type: `BAD_USER_INPUT`).
Errors while resolving (no capacity, unknown pod) are HTTP 200 with `errors` and
`data` (the field null), with RunPod's messages.

Authentication as RunPod takes it: `Authorization: Bearer KEY` or `?api_key=KEY`;
otherwise HTTP 401.

Pods: `podFindAndDeployOnDemand` / `podRentInterruptable` take the next free
"machine" (a real sshd on loopback the test started) and answer at once with
`desiredStatus: RUNNING` and no `runtime`; after `--boot-seconds` the runtime
publishes port 22 (tcp) mapped to the machine's address and sshd port, as RunPod
maps a pod's port 22 to a public port. The `PUBLIC_KEY` env is appended to the
machine's authorized keys, as RunPod's images' start script does. `podStop` makes
a pod EXITED (runtime gone, machine kept), `podResume` / `podBidResume` (for
interruptible pods only) boot it again, `podTerminate` frees the machine and the
pod leaves `myself { pods }`.

Network volumes, as RunPod's REST API (`rest.runpod.io/v1`) has them: `POST
/v1/networkvolumes {name, size, dataCenterId}` (nothing else accepted), `GET
/v1/networkvolumes`, `DELETE /v1/networkvolumes/ID` (204). A pod deployed with
`networkVolumeId` must name an existing volume and its data center.

Test controls (no auth, under `/_fake/`): `POST /_fake/capacity {"gpu_type_id"
(optional: all), "exhausted": bool}`, `POST /_fake/preempt {"pod_id"}` (an
interruptible pod is stopped by RunPod), `GET /_fake/state` (every pod ever made,
terminated ones included with `desiredStatus: TERMINATED`, and `requests`: the
root fields of every GraphQL operation, or `INVALID` / `UNAUTHORIZED`;
`network_volumes`).
"""
import argparse
import json
import random
import re
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from graphql import (
    GraphQLError,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.execution import ExecutionResult

# The subset of RunPod's schema aloft uses. Types, fields, arguments and input
# fields are RunPod's (graphql-spec.runpod.io 1.1.0): `Query.myself`,
# `Query.gpuTypes(input: GpuTypeFilter)`, `Query.pod(input: PodFilter)`; the pod
# mutations with their inputs; `User`, `Pod`, `PodRuntime`, `PodRuntimePorts`,
# `PodMachineInfo`'s `podHostId`/`gpuDisplayName`, `GpuType`, `LowestPrice` and
# `GpuLowestPriceInput` (with fewer fields than RunPod has: those aloft does not
# use are left out, so asking for one of them fails here, never silently).
SCHEMA_SDL = """
"Represents NULL values (RunPod: the result of podTerminate)."
scalar Void

enum CloudTypeEnum { ALL SECURE COMMUNITY }

enum PodStatus { CREATED RUNNING RESTARTING EXITED PAUSED DEAD TERMINATED }

enum PodType { INTERRUPTABLE RESERVED }

input EnvironmentVariableInput { key: String! value: String! }

input PodFindAndDeployOnDemandInput {
  aiApiId: String
  cloudType: CloudTypeEnum
  containerDiskInGb: Int
  countryCode: String
  dataCenterId: String
  deployCost: Float
  dockerArgs: String
  env: [EnvironmentVariableInput]
  gpuCount: Int
  gpuTypeId: String
  gpuTypeIdList: [String]
  imageName: String
  minDisk: Int
  minDownload: Int
  minMemoryInGb: Int
  minUpload: Int
  minVcpuCount: Int
  name: String
  networkVolumeId: String
  port: Int
  ports: String
  startJupyter: Boolean
  startSsh: Boolean
  supportPublicIp: Boolean
  templateId: String
  volumeInGb: Int
  volumeKey: String
  volumeMountPath: String
  allowedCudaVersions: [String]
  cudaVersion: String
}

input PodRentInterruptableInput {
  bidPerGpu: Float!
  cloudType: CloudTypeEnum
  containerDiskInGb: Int
  countryCode: String
  dataCenterId: String
  dockerArgs: String
  env: [EnvironmentVariableInput]
  gpuCount: Int
  gpuTypeId: String
  imageName: String
  minDisk: Int
  minDownload: Int
  minMemoryInGb: Int
  minUpload: Int
  minVcpuCount: Int
  name: String
  networkVolumeId: String
  port: Int
  ports: String
  startJupyter: Boolean
  startSsh: Boolean
  supportPublicIp: Boolean
  templateId: String
  volumeInGb: Int
  volumeKey: String
  volumeMountPath: String
  allowedCudaVersions: [String]
  cudaVersion: String
}

input PodStopInput { podId: String! incrementVersion: Boolean }
input PodResumeInput { podId: String! gpuCount: Int! syncMachine: Boolean }
input PodBidResumeInput { podId: String! bidPerGpu: Float! gpuCount: Int! }
input PodTerminateInput { podId: String! }
input PodFilter { podId: String! }
input GpuTypeFilter { id: String ids: [String] }
input GpuLowestPriceInput {
  gpuCount: Int
  minDisk: Int
  minMemoryInGb: Int
  minVcpuCount: Int
  secureCloud: Boolean
  dataCenterId: String
  countryCode: String
  supportPublicIp: Boolean
}

type Query {
  myself: User
  gpuTypes(input: GpuTypeFilter): [GpuType]
  pod(input: PodFilter): Pod
}

type Mutation {
  podFindAndDeployOnDemand(input: PodFindAndDeployOnDemandInput): Pod
  podRentInterruptable(input: PodRentInterruptableInput!): Pod
  podStop(input: PodStopInput!): Pod
  podResume(input: PodResumeInput!): Pod
  podBidResume(input: PodBidResumeInput!): Pod
  podTerminate(input: PodTerminateInput): Void
}

type User {
  id: String
  email: String
  pubKey: String
  currentSpendPerHr: Float
  clientBalance: Float
  pods: [Pod]
}

type Pod {
  id: String
  name: String
  desiredStatus: PodStatus
  podType: PodType
  gpuCount: Int
  vcpuCount: Float
  memoryInGb: Float
  costPerHr: Float
  imageName: String
  env: [String]
  ports: String
  containerDiskInGb: Int
  volumeInGb: Float
  volumeMountPath: String
  machineId: String
  machine: PodMachineInfo
  runtime: PodRuntime
  lastStatusChange: String
  uptimeSeconds: Int
}

type PodMachineInfo { podHostId: String gpuDisplayName: String }

type PodRuntime { uptimeInSeconds: Int ports: [PodRuntimePorts] }

type PodRuntimePorts {
  ip: String
  isIpPublic: Boolean
  privatePort: Int
  publicPort: Int
  type: String
}

type GpuType {
  lowestPrice(input: GpuLowestPriceInput): LowestPrice
  maxGpuCount: Int
  id: String
  displayName: String
  manufacturer: String
  memoryInGb: Int
  cudaCores: Int
  secureCloud: Boolean
  communityCloud: Boolean
  securePrice: Float
  communityPrice: Float
  oneMonthPrice: Float
  threeMonthPrice: Float
  oneWeekPrice: Float
  communitySpotPrice: Float
  secureSpotPrice: Float
}

type LowestPrice {
  gpuName: String
  gpuTypeId: String
  minimumBidPrice: Float
  uninterruptablePrice: Float
  minMemory: Int
  minVcpu: Int
  stockStatus: String
}
"""

SCHEMA = build_schema(SCHEMA_SDL)

NO_CAPACITY = ("There are no longer any instances available with the requested "
               "specifications. Please refresh and try again.")

# (id, displayName, memoryInGb, maxGpuCount, securePrice, communityPrice,
#  secureSpotPrice, communitySpotPrice, vCPUs and memory per GPU), prices as
# RunPod listed them.
GPU_TYPES = [
    ("NVIDIA A40", "A40", 48, 10, 0.44, 0.35, 0.20, 0.17, 9, 48),
    ("NVIDIA GeForce RTX 4090", "RTX 4090", 24, 8, 0.69, 0.34, 0.35, 0.20, 6, 41),
    ("NVIDIA A100 80GB PCIe", "A100 PCIe", 80, 8, 1.64, 1.19, 0.82, 0.60, 8, 117),
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 80, 8, 2.99, 2.69, 1.75, 1.50, 16, 125),
]
DATA_CENTERS = {
    "CA": ["CA-MTL-1", "CA-MTL-2", "CA-MTL-3"], "CZ": ["EU-CZ-1"],
    "IS": ["EUR-IS-1", "EUR-IS-2", "EUR-IS-3"], "NL": ["EU-NL-1"], "NO": ["EU-SE-1"],
    "RO": ["EU-RO-1"], "SE": ["EU-SE-1"],
    "US": ["US-CA-1", "US-CA-2", "US-DE-1", "US-GA-1", "US-GA-2", "US-IL-1", "US-KS-1",
           "US-KS-2", "US-NC-1", "US-TX-1", "US-TX-2", "US-TX-3", "US-TX-4", "US-WA-1"],
}


def gpu_type(gpu_id):
    return next((t for t in GPU_TYPES if t[0] == gpu_id), None)


class Fail(Exception):
    """An error RunPod answers while resolving a field (HTTP 200, `errors`)."""


class State:
    def __init__(self, api_key, machines, boot_seconds):
        self.lock = threading.Lock()
        self.api_key = api_key
        self.machines = machines  # [(ip, port, authorized_keys)]
        self.boot_seconds = boot_seconds
        self.pods = {}  # id -> record, terminated ones kept
        self.exhausted = set()  # gpu type ids without capacity; "*" for all
        self.requests = []
        self.volumes = {}  # network volume id -> {id, name, size, dataCenterId}

    def machine_in_use(self, m):
        return any(p["machine"] == m and p["desiredStatus"] != "TERMINATED"
                   for p in self.pods.values())

    # ---- the API, as resolvers ----

    def view(self, pod):
        out = {k: v for k, v in pod.items() if k not in ("machine", "booted_at", "bid")}
        out["machine"] = {"podHostId": f"{pod['id']}-64410065",
                          "gpuDisplayName": gpu_type(pod["gpuTypeId"])[1]}
        ip, port, _ = pod["machine"]
        booted = (pod["desiredStatus"] == "RUNNING" and pod["booted_at"] is not None
                  and time.time() >= pod["booted_at"])
        if booted:
            ports = [{"ip": ip, "isIpPublic": True, "privatePort": 22, "publicPort": port,
                      "type": "tcp"}]
            for spec in (pod.get("ports") or "").split(","):
                number, _, kind = spec.partition("/")
                if number.isdigit() and number != "22":
                    ports.append({"ip": "100.65.0.2", "isIpPublic": False,
                                  "privatePort": int(number), "publicPort": 40000 + int(number) % 20000,
                                  "type": kind or "tcp"})
            out["runtime"] = {"uptimeInSeconds": int(time.time() - pod["booted_at"]),
                              "ports": ports}
        else:
            out["runtime"] = None
        return out

    def myself(self, _info):
        with self.lock:
            pods = [self.view(p) for p in self.pods.values()
                    if p["desiredStatus"] != "TERMINATED"]
        return {"id": "user_fake0001", "email": "dev@example.invalid", "pubKey": "",
                "currentSpendPerHr": sum(p["costPerHr"] for p in pods
                                         if p["desiredStatus"] == "RUNNING"),
                "clientBalance": 100.0, "pods": pods}

    def gpuTypes(self, _info, input=None):
        wanted = None
        if input:
            wanted = set(input.get("ids") or []) | ({input["id"]} if input.get("id") else set())
        out = []
        for (gid, name, mem, max_count, sp, cp, ssp, csp, vcpu, ram) in GPU_TYPES:
            if wanted and gid not in wanted:
                continue

            def lowest(_info, input=None, sp=sp, ssp=ssp, vcpu=vcpu, ram=ram, gid=gid):
                count = (input or {}).get("gpuCount") or 1
                return {"gpuName": gid, "gpuTypeId": gid, "minimumBidPrice": ssp,
                        "uninterruptablePrice": sp, "minVcpu": vcpu * count,
                        "minMemory": ram * count,
                        "stockStatus": "None" if gid in self.exhausted or "*" in self.exhausted else "High"}
            out.append({"id": gid, "displayName": name, "manufacturer": "Nvidia",
                        "memoryInGb": mem, "maxGpuCount": max_count, "cudaCores": 0,
                        "secureCloud": True, "communityCloud": True, "securePrice": sp,
                        "communityPrice": cp, "secureSpotPrice": ssp,
                        "communitySpotPrice": csp, "oneMonthPrice": None,
                        "threeMonthPrice": None, "oneWeekPrice": None, "lowestPrice": lowest})
        return out

    def pod(self, _info, input=None):
        with self.lock:
            p = self.pods.get((input or {}).get("podId"))
            return self.view(p) if p and p["desiredStatus"] != "TERMINATED" else None

    def _deploy(self, input, interruptible):
        gid = input.get("gpuTypeId")
        t = gpu_type(gid)
        if t is None:
            raise Fail(f"GPU type {gid!r} is not available")
        count = input.get("gpuCount") or 1
        if count < 1 or count > t[3]:
            raise Fail(f"gpuCount must be between 1 and {t[3]} for {gid}")
        cloud = input.get("cloudType") or "ALL"
        dc, country = input.get("dataCenterId"), input.get("countryCode")
        if dc is not None and not any(dc in v for v in DATA_CENTERS.values()):
            raise Fail(f"Data center {dc} does not exist")
        if country is not None and country not in DATA_CENTERS:
            raise Fail(NO_CAPACITY)
        price = t[4] if cloud == "SECURE" else t[5]
        bid = None
        if interruptible:
            bid = input["bidPerGpu"]
            floor = t[6] if cloud == "SECURE" else t[7]
            if bid < floor:
                raise Fail(f"Your bid price ${bid}/hr is below the minimum bid price ${floor}/hr for this GPU.")
            price = bid
        env = input.get("env") or []
        volume_id = input.get("networkVolumeId")
        with self.lock:
            if volume_id is not None:
                v = self.volumes.get(volume_id)
                if v is None:
                    raise Fail(f"Network volume {volume_id} not found")
                if dc != v["dataCenterId"]:
                    raise Fail(f"Network volume {volume_id} is in {v['dataCenterId']}; "
                               f"the pod must be deployed there (dataCenterId {dc!r})")
            if gid in self.exhausted or "*" in self.exhausted:
                raise Fail(NO_CAPACITY)
            machine = next((m for m in self.machines if not self.machine_in_use(m)), None)
            if machine is None:
                raise Fail(NO_CAPACITY)
            pod_id = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(14))
            for e in env:
                if e["key"] == "PUBLIC_KEY":
                    # RunPod's start script: echo "$PUBLIC_KEY" >> ~/.ssh/authorized_keys
                    with open(machine[2], "a") as f:
                        f.write("\n" + e["value"].strip() + "\n")
            pod = {
                "id": pod_id, "name": input.get("name") or pod_id,
                "desiredStatus": "RUNNING",
                "podType": "INTERRUPTABLE" if interruptible else "RESERVED",
                "gpuCount": count, "gpuTypeId": gid, "vcpuCount": float(t[8] * count),
                "memoryInGb": float(t[9] * count), "costPerHr": round(price * count, 4),
                "imageName": input.get("imageName"),
                "env": [f"{e['key']}={e['value']}" for e in env],
                "ports": input.get("ports"),
                "containerDiskInGb": input.get("containerDiskInGb"),
                "volumeInGb": float(input.get("volumeInGb") or 0),
                "volumeMountPath": input.get("volumeMountPath"),
                "networkVolumeId": volume_id,
                "cloudType": cloud, "dataCenterId": dc, "countryCode": country,
                "machineId": f"m{machine[1]}", "machine": machine,
                "lastStatusChange": time.strftime("Rented by User: %a %b %d %Y"),
                "uptimeSeconds": 0, "booted_at": time.time() + self.boot_seconds,
                "bid": bid,
            }
            self.pods[pod_id] = pod
            return self.view(pod)

    def podFindAndDeployOnDemand(self, _info, input=None):
        return self._deploy(input or {}, False)

    def podRentInterruptable(self, _info, input):
        return self._deploy(input, True)

    def _live(self, pod_id):
        p = self.pods.get(pod_id)
        if p is None or p["desiredStatus"] == "TERMINATED":
            raise Fail("Pod not found")
        return p

    def podStop(self, _info, input):
        with self.lock:
            p = self._live(input["podId"])
            p["desiredStatus"], p["booted_at"] = "EXITED", None
            return self.view(p)

    def _resume(self, input, interruptible):
        with self.lock:
            p = self._live(input["podId"])
            if (p["podType"] == "INTERRUPTABLE") != interruptible:
                raise Fail("Use podBidResume to resume an interruptible pod"
                           if not interruptible else "This pod is not interruptible")
            if input["gpuCount"] != p["gpuCount"]:
                raise Fail("Not enough free GPUs on the host machine to start this pod.")
            if p["gpuTypeId"] in self.exhausted or "*" in self.exhausted:
                raise Fail("Not enough free GPUs on the host machine to start this pod.")
            if p["desiredStatus"] != "RUNNING":
                p["desiredStatus"] = "RUNNING"
                p["booted_at"] = time.time() + self.boot_seconds
            return self.view(p)

    def podResume(self, _info, input):
        return self._resume(input, False)

    def podBidResume(self, _info, input):
        return self._resume(input, True)

    def podTerminate(self, _info, input=None):
        with self.lock:
            p = self._live((input or {}).get("podId"))
            p["desiredStatus"], p["booted_at"] = "TERMINATED", None
        return None


def answer_for(state, body):
    """(status, JSON) for one GraphQL request body."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return 400, {"errors": [{"message": "Must provide query string.",
                                 "extensions": {"code": "BAD_REQUEST"}}]}
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return 400, {"errors": [{"message": "Variables must be an object.",
                                 "extensions": {"code": "BAD_REQUEST"}}]}
    try:
        document = parse(body["query"])
    except GraphQLError as e:
        state.requests.append("INVALID")
        return 400, {"errors": [dict(e.formatted, extensions={"code": "GRAPHQL_PARSE_FAILED"})]}
    errors = validate(SCHEMA, document)
    if errors:
        state.requests.append("INVALID")
        return 400, {"errors": [dict(e.formatted, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
                                for e in errors]}
    fields = [sel.name.value for op in document.definitions
              for sel in getattr(getattr(op, "selection_set", None), "selections", []) or []]
    result = execute(SCHEMA, document, root_value=state, variable_values=variables,
                     operation_name=body.get("operationName"))
    if not isinstance(result, ExecutionResult):
        return 500, {"errors": [{"message": "internal error"}]}
    if result.errors and result.data is None:
        # Variables that do not coerce to their declared types.
        state.requests.append("INVALID")
        return 400, {"errors": [dict(e.formatted, extensions={"code": "BAD_USER_INPUT"})
                                for e in result.errors]}
    state.requests.extend(fields)
    out = {"data": result.data}
    if result.errors:
        out["errors"] = [e.formatted for e in result.errors]
    return 200, out


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body):
            if status == 204:
                self.send_response(204)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw or b"null")
            except ValueError:
                return None

        def authorized(self, url):
            auth = self.headers.get("Authorization") or ""
            if auth.startswith("Bearer ") and auth[len("Bearer "):].strip() == state.api_key:
                return True
            return parse_qs(url.query).get("api_key", [None])[0] == state.api_key

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/_fake/state":
                with state.lock:
                    pods = []
                    for p in state.pods.values():
                        v = {k: val for k, val in p.items() if k not in ("machine", "booted_at")}
                        v["machine_ip"], v["machine_port"] = p["machine"][0], p["machine"][1]
                        pods.append(v)
                    return self.reply(200, {"pods": pods, "requests": list(state.requests),
                                            "network_volumes": list(state.volumes.values())})
            if url.path == "/v1/networkvolumes":
                if not self.authorized(url):
                    return self.reply(401, {"error": "Unauthorized"})
                with state.lock:
                    return self.reply(200, list(state.volumes.values()))
            self.reply(404, {"errors": [{"message": "Not found"}]})

        def do_DELETE(self):
            # RunPod's REST API (rest.runpod.io/v1): DELETE /networkvolumes/{id}.
            url = urlparse(self.path)
            m = re.fullmatch(r"/v1/networkvolumes/([A-Za-z0-9]+)", url.path)
            if not m:
                return self.reply(404, {"error": "Not found"})
            if not self.authorized(url):
                return self.reply(401, {"error": "Unauthorized"})
            with state.lock:
                if state.volumes.pop(m[1], None) is None:
                    return self.reply(404, {"error": "network volume not found"})
                state.requests.append("DELETE networkvolumes")
            self.reply(204, None)

        def do_POST(self):
            url = urlparse(self.path)
            body = self.body()
            if url.path == "/_fake/capacity":
                key = body.get("gpu_type_id") or "*"
                with state.lock:
                    (state.exhausted.add if body.get("exhausted") else state.exhausted.discard)(key)
                return self.reply(200, {"ok": True})
            if url.path == "/_fake/preempt":
                with state.lock:
                    p = state.pods.get(body.get("pod_id"))
                    if p is None or p["podType"] != "INTERRUPTABLE":
                        return self.reply(400, {"error": "no such interruptible pod"})
                    p["desiredStatus"], p["booted_at"] = "EXITED", None
                return self.reply(200, {"ok": True})
            if url.path == "/v1/networkvolumes":
                # RunPod's REST API: {name, size (GB, 1..4000), dataCenterId}.
                if not self.authorized(url):
                    return self.reply(401, {"error": "Unauthorized"})
                b = body if isinstance(body, dict) else {}
                extra = set(b) - {"name", "size", "dataCenterId"}
                size, dc = b.get("size"), b.get("dataCenterId")
                if extra or not isinstance(b.get("name"), str) or not isinstance(size, int) \
                        or not 0 < size <= 4000 or not any(dc in v for v in DATA_CENTERS.values()):
                    state.requests.append(f"INVALID networkvolumes {b}")
                    return self.reply(400, {"error": f"invalid network volume request: {b}"})
                with state.lock:
                    vid = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(10))
                    state.volumes[vid] = {"id": vid, "name": b["name"], "size": size, "dataCenterId": dc}
                    state.requests.append("POST networkvolumes")
                    return self.reply(200, state.volumes[vid])
            if url.path != "/graphql":
                return self.reply(404, {"errors": [{"message": "Not found"}]})
            if not self.authorized(url):
                state.requests.append("UNAUTHORIZED")
                return self.reply(401, {"errors": [{"message": "Unauthorized"}]})
            status, answer = answer_for(state, body)
            self.reply(status, answer)

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--api-key", required=True)
    p.add_argument("--machines", default="")
    p.add_argument("--boot-seconds", type=float, default=0.5)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    machines = []
    for spec in filter(None, a.machines.split(",")):
        ip, port, keys = spec.split(":", 2)
        machines.append((ip, int(port), keys))
    state = State(a.api_key, machines, a.boot_seconds)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(state))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
