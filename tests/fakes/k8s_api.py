"""A stateful Kubernetes API server for tests (core/v1 only), stdlib http.server.

It keeps objects as Kubernetes does (namespaces, resourceVersion, metadata.uid,
creationTimestamp, label and field selectors on lists, 404/409/422 `Status`
bodies), validates every object it receives against the official schema of
`kubernetes-validate` in strict mode (unknown fields rejected), and schedules pods:
a pod goes to a node whose free cpu / memory / nvidia.com/gpu hold its requests and
whose labels match its nodeSelector and required node affinity, and is backed by one
of the test's sshd machines (its podIP; the machine's port in the annotation
`aloft.dev/ssh-port`). A pod that fits nowhere stays Pending with the
`PodScheduled=False reason=Unschedulable` condition, and is scheduled later when
room frees up. PersistentVolumeClaims are kept (Bound at once); a pod that mounts a
claim that does not exist stays Pending, as it would on a real cluster.

Authentication: client certificates over TLS (signed by the configured client CA),
else `Authorization: Bearer TOKEN`: a known token is a user, a token listed as
forbidden gets 403 on everything, a token this server issued through the
TokenRequest API is its service account (while the account, the object the token
is bound to and its expiry allow), anything else 401. Users may do anything; a
service account only what the Roles bound to it in the request's namespace allow
(rbac.authorization.k8s.io/v1 semantics: apiGroups, resources with
`resource/subresource`, verbs, resourceNames; a list is named only by a
`metadata.name=` field selector): anything else is 403, with the API server's
message.

RBAC and service accounts: ServiceAccounts (core/v1), Roles and RoleBindings
(rbac.authorization.k8s.io/v1, validated against the official schema like the rest),
and `POST .../serviceaccounts/NAME/token` (authentication.k8s.io/v1 TokenRequest:
`expirationSeconds` at least 600, default 3600; a `boundObjectRef` to a Pod must name
an existing pod, and its uid when given). Objects with `ownerReferences` are deleted
when none of their owners is left (the garbage collector, at once here).

For the tests to read back: every request is appended to `requests.jsonl` beside
the config (method, path, the authenticated user, the answer's status), and the
tokens issued to service accounts, in order, to `issued-tokens.json`.

`GET .../pods/NAME/portforward` hands the connection to the module
`k8s_portforward` (its `serve(handler, pod_ip, pod_ssh_port)`), 501 without it.

Usage: k8s_api.py CONFIG.json   (see tests/src/k8s_fake.rs); prints "ready PORT".
"""

import base64
import copy
import datetime
import http.server
import json
import os
import re
import ssl
import sys
import threading
import urllib.parse
import uuid

import kubernetes_validate

from first_boot import install_key_pair

SCHEMA_VERSION = "1.33"
GPU = "nvidia.com/gpu"
SSH_PORT_ANNOTATION = "aloft.dev/ssh-port"
RESOURCES = {"pods": "Pod", "services": "Service", "secrets": "Secret", "configmaps": "ConfigMap",
             "persistentvolumeclaims": "PersistentVolumeClaim", "serviceaccounts": "ServiceAccount"}
CORE = "|".join(RESOURCES)
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC = {"roles": "Role", "rolebindings": "RoleBinding"}
# The shortest and longest lifetimes TokenRequest accepts (10 minutes; 2^32 s).
MIN_TOKEN_SECONDS = 600
MAX_TOKEN_SECONDS = 2**32


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def quantity(text):
    text = str(text).strip()
    for suffix, factor in (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40),
                           ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def status(code, reason, message, name=None, kind=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if name is not None:
        body["details"] = {"name": name, "kind": kind}
    return code, body


class Fail(Exception):
    def __init__(self, code, reason, message, name=None, kind=None):
        super().__init__(message)
        self.answer = status(code, reason, message, name, kind)


def parse_selector(text):
    """Label selector terms: (key, op, values)."""
    terms = []
    for part in re.findall(r"[^,(]+(?:\([^)]*\))?", text or ""):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if m:
            terms.append((m[1], m[2], [v.strip() for v in m[3].split(",") if v.strip()]))
            continue
        m = re.fullmatch(r"([^!=\s]+)\s*(==|!=|=)\s*(\S*)", part)
        if m:
            terms.append((m[1], "!=" if m[2] == "!=" else "=", [m[3]]))
        elif part.startswith("!"):
            terms.append((part[1:], "!", []))
        else:
            terms.append((part, "exists", []))
    return terms


def selector_matches(terms, labels):
    for key, op, values in terms:
        have = labels.get(key)
        if op == "=" and have != values[0]:
            return False
        if op == "!=" and have == values[0]:
            return False
        if op == "in" and have not in values:
            return False
        if op == "notin" and have in values:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!" and key in labels:
            return False
    return True


def field_of(obj, path):
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def field_matches(text, obj):
    for part in filter(None, (text or "").split(",")):
        m = re.fullmatch(r"([^!=]+)(==|!=|=)(.*)", part)
        if not m:
            raise Fail(400, "BadRequest", f"invalid field selector: {part}")
        have = field_of(obj, m[1]) or ""
        if (m[2] == "!=") == (have == m[3]):
            return False
    return True


def node_term_matches(term, labels):
    for e in term.get("matchExpressions", []):
        have, op, values = labels.get(e["key"]), e["operator"], e.get("values", [])
        ok = {"In": have in values, "NotIn": have not in values,
              "Exists": e["key"] in labels, "DoesNotExist": e["key"] not in labels}.get(op, False)
        if not ok:
            return False
    return True


class Cluster:
    def __init__(self, config):
        self.lock = threading.Lock()
        self.rv = 1
        self.namespaces = {ns: self.stamp({"metadata": {"name": ns}}) for ns in config.get("namespaces", ["default"])}
        self.nodes = {}
        for n in config.get("nodes", []):
            alloc = {k: str(v) for k, v in n.get("allocatable", {}).items()}
            self.nodes[n["name"]] = self.stamp({
                "metadata": {"name": n["name"], "labels": dict(n.get("labels", {}))},
                "spec": {},
                "status": {"allocatable": alloc, "capacity": dict(alloc),
                           "conditions": [{"type": "Ready", "status": "True"}]},
            })
        self.machines = [tuple(m) for m in config.get("machines", [])]
        # "ip:port" -> the machine's authorized_keys: a pod's ALOFT_SSH_PUBLIC_KEY is
        # added there when it is placed, as the pod's start command would.
        self.authorized_keys = config.get("authorized_keys", {})
        # Pages served after a list's first (tests read the count back from a file
        # beside the config: `continued-lists`).
        self.continued_lists = 0
        self.stats_dir = config.get("stats_dir")
        self.objects = {}  # (resource, ns, name) -> object
        # token -> what it was issued for: the service account (namespace, name,
        # uid), the object it is bound to (kind, name, uid) or None, expiry (epoch s).
        self.sa_tokens = {}

    def stamp(self, obj):
        self.rv += 1
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now())
        meta["resourceVersion"] = str(self.rv)
        return obj

    # -- service accounts, RBAC, garbage collection --------------------------------
    def token_owner(self, token):
        """The service account (namespace, name) a token issued here stands for, while
        it is valid: its account and bound object still exist (same uids), unexpired."""
        t = self.sa_tokens.get(token)
        if not t:
            return None
        sa = self.objects.get(("serviceaccounts", t["namespace"], t["name"]))
        if not sa or sa["metadata"]["uid"] != t["uid"]:
            return None
        bound = t.get("bound")
        if bound:
            obj = self.objects.get((bound["resource"], t["namespace"], bound["name"]))
            if not obj or obj["metadata"]["uid"] != bound["uid"]:
                return None
        if datetime.datetime.now(datetime.timezone.utc).timestamp() >= t["expires"]:
            return None
        return t["namespace"], t["name"]

    def rbac_allows(self, sa, verb, group, resource, namespace, name):
        """Whether a Role bound to service account `sa` in `namespace` allows the
        request (RoleBindings grant only in their own namespace)."""
        if namespace is None:
            return False
        for (r, n, _), binding in self.objects.items():
            if r != "rolebindings" or n != namespace:
                continue
            if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa[1]
                       and s.get("namespace") == sa[0] for s in binding.get("subjects") or []):
                continue
            ref = binding["roleRef"]
            role = self.objects.get(("roles", n, ref["name"])) if ref.get("kind") == "Role" else None
            for rule in (role or {}).get("rules") or []:
                groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
                verbs, names = rule.get("verbs") or [], rule.get("resourceNames") or []
                top = resource.split("/")[0]
                if not ("*" in groups or group in groups):
                    continue
                if not ("*" in resources or resource in resources or f"{top}/*" in resources):
                    continue
                if not ("*" in verbs or verb in verbs):
                    continue
                if names and name not in names:
                    continue
                return True
        return False

    def delete(self, key):
        """Deletes an object, then (as the garbage collector does) every object left
        with no owner among its ownerReferences."""
        obj = self.objects.pop(key, None)
        if obj is None:
            return None
        self.stamp(obj)
        while True:
            uids = {o["metadata"]["uid"] for o in self.objects.values()}
            orphans = [k for k, o in self.objects.items()
                       if o["metadata"].get("ownerReferences")
                       and not any(ref.get("uid") in uids for ref in o["metadata"]["ownerReferences"])]
            if not orphans:
                return obj
            for k in orphans:
                self.stamp(self.objects.pop(k))

    # -- scheduling --------------------------------------------------------------
    def requests(self, pod):
        total = {"cpu": 0.0, "memory": 0.0, GPU: 0.0}
        for c in pod["spec"].get("containers", []):
            res = c.get("resources", {})
            req = dict(res.get("limits", {}))
            req.update(res.get("requests", {}))
            for k in total:
                if k in req:
                    total[k] += quantity(req[k])
        return total

    def placed(self):
        return [o for (r, _, _), o in self.objects.items()
                if r == "pods" and o["spec"].get("nodeName")
                and o["status"].get("phase") not in ("Succeeded", "Failed")]

    def free(self, node):
        alloc = node["status"]["allocatable"]
        free = {k: quantity(alloc.get(k, "0")) for k in ("cpu", "memory", GPU)}
        for pod in self.placed():
            if pod["spec"]["nodeName"] == node["metadata"]["name"]:
                for k, v in self.requests(pod).items():
                    free[k] -= v
        return free

    def fits(self, pod, node):
        labels = node["metadata"].get("labels", {})
        for k, v in (pod["spec"].get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                return False
        req = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
               .get("requiredDuringSchedulingIgnoredDuringExecution"))
        if req and not any(node_term_matches(t, labels) for t in req.get("nodeSelectorTerms", [])):
            return False
        free = self.free(node)
        return all(free[k] >= v - 1e-9 for k, v in self.requests(pod).items())

    def authorize(self, pod, machine):
        path = self.authorized_keys.get(f"{machine[0]}:{machine[1]}")
        keys = [e.get("value", "") for c in pod["spec"]["containers"] for e in c.get("env", [])
                if e.get("name") == "ALOFT_SSH_PUBLIC_KEY" and e.get("value")]
        if path and keys:
            with open(path, "a") as f:
                f.write("".join(k.strip() + "\n" for k in keys))
        # The start command's host key: from the Secret its env names, written where
        # the machine's sshd reads its key, which is then reloaded (SIGHUP).
        refs = [e["valueFrom"]["secretKeyRef"] for c in pod["spec"]["containers"] for e in c.get("env", [])
                if e.get("name") == "ALOFT_SSH_HOST_KEY" and "valueFrom" in e]
        if path and refs:
            secret = self.objects.get(("secrets", pod["metadata"]["namespace"], refs[0]["name"]))
            data = (secret or {}).get("data") or {}
            string_data = (secret or {}).get("stringData") or {}
            key = refs[0]["key"]
            private = base64.b64decode(data[key]).decode() if key in data else string_data.get(key)
            public = pod["metadata"].get("annotations", {}).get("aloft.dev/host-key")
            if private and public:
                install_key_pair((machine[0], machine[1], path), private, public)

    def schedule(self, pod):
        if pod["spec"].get("nodeName"):
            return
        used = {(o["status"].get("podIP"), o["metadata"].get("annotations", {}).get(SSH_PORT_ANNOTATION))
                for o in self.placed()}
        machine = next((m for m in self.machines if (m[0], str(m[1])) not in used), None)
        fitting = [n for n in self.nodes.values() if self.fits(pod, n)]
        ns = pod["metadata"].get("namespace")
        missing = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes") or []
                   if "persistentVolumeClaim" in v
                   and ("persistentvolumeclaims", ns, v["persistentVolumeClaim"]["claimName"]) not in self.objects]
        if fitting and machine and not missing:
            node = fitting[0]
            self.authorize(pod, machine)
            pod["spec"]["nodeName"] = node["metadata"]["name"]
            pod["metadata"].setdefault("annotations", {})[SSH_PORT_ANNOTATION] = str(machine[1])
            t = now()
            pod["status"] = {
                "phase": "Running", "podIP": machine[0], "podIPs": [{"ip": machine[0]}],
                "hostIP": machine[0], "startTime": t, "qosClass": "Burstable",
                "conditions": [{"type": c, "status": "True", "lastTransitionTime": t}
                               for c in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                "containerStatuses": [{"name": c["name"], "image": c.get("image", ""), "imageID": "",
                                       "ready": True, "restartCount": 0, "started": True,
                                       "state": {"running": {"startedAt": t}}}
                                      for c in pod["spec"]["containers"]],
            }
            self.stamp(pod)
        else:
            n = len(self.nodes)
            why = f'persistentvolumeclaim "{missing[0]}" not found' if missing else \
                "no sshd machine is free" if fitting else \
                f"0/{n} nodes are available: {n} Insufficient resources or node affinity did not match."
            pod["status"] = {"phase": "Pending", "qosClass": "Burstable", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": why, "lastTransitionTime": now()}]}

    def reschedule(self):
        for (r, _, _), o in sorted(self.objects.items(), key=lambda kv: kv[1]["metadata"]["creationTimestamp"]):
            if r == "pods" and not o["spec"].get("nodeName"):
                self.schedule(o)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster = None
    config = None

    def log_message(self, *args):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def user(self):
        cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if token and token in self.config.get("tokens", {}):
            return self.config["tokens"][token]
        if token and token in self.cluster.sa_tokens:
            with self.cluster.lock:
                sa = self.cluster.token_owner(token)
            if sa:
                self.service_account = sa
                return f"system:serviceaccount:{sa[0]}:{sa[1]}"
        if token and token in self.config.get("forbidden_tokens", []):
            raise Fail(403, "Forbidden", 'pods is forbidden: User "system:serviceaccount:default:nobody" '
                       f'cannot {self.command.lower()} resource "pods" in API group ""')
        raise Fail(401, "Unauthorized", "Unauthorized")

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError as e:
            raise Fail(400, "BadRequest", f"the body is not JSON: {e}")

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        self.service_account = None
        who = None
        try:
            who = self.user()
            m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/portforward", url.path)
            if self.service_account:
                self.authorize(who, url.path, q)
            if m and self.command == "GET":
                self.record(who, 101)
                return self.portforward(m[1], m[2])
            with self.cluster.lock:
                self.cluster.reschedule()
                code, body = self.route(url.path, q)
        except Fail as f:
            code, body = f.answer
        self.record(who, code)
        self.answer(code, body)

    def record(self, who, code):
        """One line per request in `requests.jsonl`, for the tests to read back."""
        if not self.cluster.stats_dir:
            return
        line = json.dumps({"method": self.command, "path": self.path, "user": who, "status": code})
        with self.cluster.lock, open(os.path.join(self.cluster.stats_dir, "requests.jsonl"), "a") as f:
            f.write(line + "\n")

    def authorize(self, who, path, q):
        """A service account's request must be allowed by a Role bound to it: else
        403 as the API server words it."""
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/([a-z]+)(?:/([^/]+)(?:/([a-z]+))?)?", path) or \
            re.fullmatch(r"/apis/(rbac\.authorization\.k8s\.io)/v1/namespaces/([^/]+)/([a-z]+)(?:/([^/]+)(?:/([a-z]+))?)?", path)
        if m is None:
            if path in ("/version", "/api", "/apis") or path.startswith("/openapi"):
                return  # discovery, open to every authenticated user
            other = re.fullmatch(r"/api/v1/([a-z]+)(?:/([^/]+))?", path)
            resource = other[1] if other else path
            raise Fail(403, "Forbidden", f'{resource} is forbidden: User "{who}" cannot '
                       f'{self.command.lower()} resource "{resource}" in API group "" at the cluster scope')
        if path.startswith("/apis/"):
            group, ns, resource, name, sub = m[1], m[2], m[3], m[4], m[5]
        else:
            group, ns, resource, name, sub = "", m[1], m[2], m[3], m[4]
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}.get(self.command, "")
        if verb == "list":
            # A list is named only by a metadata.name field selector.
            fs = re.fullmatch(r"metadata\.name=([^,]+)", q.get("fieldSelector", ""))
            name = fs[1] if fs else None
        full = f"{resource}/{sub}" if sub else resource
        with self.cluster.lock:
            ok = self.cluster.rbac_allows(self.service_account, verb, group, full, ns, name)
        if not ok:
            what = f'{resource} "{name}"' if name else resource
            raise Fail(403, "Forbidden", f'{what} is forbidden: User "{who}" cannot {verb} resource '
                       f'"{full}" in API group "{group}" in the namespace "{ns}"', name, resource)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any

    def portforward(self, ns, name):
        with self.cluster.lock:
            pod = self.cluster.objects.get(("pods", ns, name))
        if not pod or not pod["status"].get("podIP"):
            raise Fail(404, "NotFound", f'pods "{name}" not found', name, "pods")
        try:
            import k8s_portforward
        except ImportError:
            raise Fail(501, "NotImplemented", "port-forward is not available in this test server")
        port = int(pod["metadata"]["annotations"][SSH_PORT_ANNOTATION])
        k8s_portforward.serve(self, pod["status"]["podIP"], port)
        self.close_connection = True

    def route(self, path, q):
        c = self.cluster
        if path == "/version":
            return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0-aloft-fake", "platform": "linux/amd64"}
        if path == "/api/v1/namespaces" and self.command == "GET":
            return 200, self.listing("NamespaceList", list(c.namespaces.values()), q, "Namespace")
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)", path)
        if m and self.command == "GET":
            ns = c.namespaces.get(m[1])
            if not ns:
                raise Fail(404, "NotFound", f'namespaces "{m[1]}" not found', m[1], "namespaces")
            return 200, dict(ns, kind="Namespace", apiVersion="v1")
        if path == "/api/v1/nodes" and self.command == "GET":
            return 200, self.listing("NodeList", list(c.nodes.values()), q, "Node")
        m = re.fullmatch(r"/api/v1/nodes/([^/]+)", path)
        if m and self.command == "GET":
            node = c.nodes.get(m[1])
            if not node:
                raise Fail(404, "NotFound", f'nodes "{m[1]}" not found', m[1], "nodes")
            return 200, dict(node, kind="Node", apiVersion="v1")
        m = re.fullmatch(rf"/api/v1/({CORE})", path)
        if m and self.command == "GET":
            items = [o for (r, _, _), o in c.objects.items() if r == m[1]]
            return 200, self.listing(RESOURCES[m[1]] + "List", items, q, RESOURCES[m[1]])
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token", path)
        if m and self.command == "POST":
            return self.token_request(m[1], m[2], self.body())
        api_version = "v1"
        m = re.fullmatch(rf"/api/v1/namespaces/([^/]+)/({CORE})(?:/([^/]+))?", path)
        if m:
            kind = RESOURCES[m[2]]
        else:
            m = re.fullmatch(r"/apis/rbac\.authorization\.k8s\.io/v1/namespaces/([^/]+)/(roles|rolebindings)(?:/([^/]+))?", path)
            if not m:
                raise Fail(404, "NotFound", "the server could not find the requested resource")
            kind, api_version = RBAC[m[2]], f"{RBAC_GROUP}/v1"
        ns, res, name = m[1], m[2], m[3]
        if ns not in c.namespaces:
            raise Fail(404, "NotFound", f'namespaces "{ns}" not found', ns, "namespaces")
        if name is None and self.command == "GET":
            items = [o for (r, n, _), o in c.objects.items() if r == res and n == ns]
            return 200, self.listing(kind + "List", items, q, kind, api_version)
        if name is None and self.command == "POST":
            return self.create(ns, res, kind, self.body(), api_version)
        obj = c.objects.get((res, ns, name))
        if obj is None:
            raise Fail(404, "NotFound", f'{res} "{name}" not found', name, res)
        if self.command == "GET":
            return 200, dict(obj, kind=kind, apiVersion=api_version)
        if self.command == "DELETE":
            c.delete((res, ns, name))
            return 200, dict(obj, kind=kind, apiVersion=api_version)
        if self.command == "PATCH" and res == "secrets":
            return self.merge_patch(obj, kind, api_version)
        raise Fail(405, "MethodNotAllowed", f"{self.command} is not supported by this test server")

    def merge_patch(self, obj, kind, api_version):
        """A JSON merge patch (RFC 7386) of an object's `metadata.ownerReferences`
        and `metadata.labels`, checked against the schema as a create is."""
        if self.headers.get("content-type", "").split(";")[0].strip() != "application/merge-patch+json":
            raise Fail(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml')
        patch = self.body()
        meta = (patch or {}).get("metadata") or {}
        if set(patch) - {"metadata"} or set(meta) - {"ownerReferences", "labels"}:
            raise Fail(422, "Invalid", "this test server patches only metadata.ownerReferences and metadata.labels")
        patched = copy.deepcopy(obj)
        for key, value in meta.items():
            patched["metadata"][key] = value
        try:
            kubernetes_validate.validate(dict(patched, kind=kind, apiVersion=api_version), SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            raise Fail(422, "Invalid", f'{kind} is invalid: {".".join(str(p) for p in e.path)}: {e.message}')
        obj["metadata"].update(patched["metadata"])
        self.cluster.stamp(obj)
        return 200, dict(obj, kind=kind, apiVersion=api_version)

    def token_request(self, ns, name, req):
        """authentication.k8s.io/v1 TokenRequest for service account `name`."""
        c = self.cluster
        if not isinstance(req, dict) or req.get("kind") != "TokenRequest" \
                or req.get("apiVersion") != "authentication.k8s.io/v1":
            raise Fail(400, "BadRequest", "expected kind TokenRequest apiVersion authentication.k8s.io/v1")
        try:
            kubernetes_validate.validate(req, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            raise Fail(422, "Invalid", f'TokenRequest.authentication.k8s.io "{name}" is invalid: {path}: {e.message}')
        sa = c.objects.get(("serviceaccounts", ns, name))
        if sa is None:
            raise Fail(404, "NotFound", f'serviceaccounts "{name}" not found', name, "serviceaccounts")
        spec = req["spec"]
        seconds = spec.get("expirationSeconds") or 3600
        if seconds < MIN_TOKEN_SECONDS:
            raise Fail(422, "Invalid", f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: '
                       f'Invalid value: {seconds}: may not specify a duration less than 10 minutes')
        if seconds > MAX_TOKEN_SECONDS:
            raise Fail(422, "Invalid", f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: '
                       f'Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds')
        seconds = min(seconds, self.config.get("max_token_seconds") or seconds)
        bound = None
        ref = spec.get("boundObjectRef")
        if ref:
            resource = {"Pod": "pods", "Secret": "secrets"}.get(ref.get("kind"))
            if resource is None or ref.get("apiVersion", "v1") != "v1":
                raise Fail(422, "Invalid", f'TokenRequest.authentication.k8s.io "{name}" is invalid: '
                           f'spec.boundObjectRef.kind: Unsupported value: "{ref.get("kind")}"')
            obj = c.objects.get((resource, ns, ref.get("name")))
            if obj is None:
                raise Fail(404, "NotFound", f'{resource} "{ref.get("name")}" not found', ref.get("name"), resource)
            if ref.get("uid") and ref["uid"] != obj["metadata"]["uid"]:
                raise Fail(409, "Conflict", f'the UID in the bound object reference ({ref["uid"]}) does not '
                           f'match the UID in record ({obj["metadata"]["uid"]}). The object might have been deleted and then recreated')
            bound = {"resource": resource, "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}
        token = "k8s-sa-" + base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
        c.sa_tokens[token] = {"namespace": ns, "name": name, "uid": sa["metadata"]["uid"],
                              "bound": bound, "expires": expires.timestamp()}
        if c.stats_dir:
            with open(os.path.join(c.stats_dir, "issued-tokens.json"), "w") as f:
                json.dump([{"token": t, "account": f'{v["namespace"]}/{v["name"]}'}
                           for t, v in c.sa_tokens.items()], f)
        spec = dict(spec, expirationSeconds=seconds, audiences=spec.get("audiences") or ["https://kubernetes.default.svc"])
        return 201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
                     "spec": spec,
                     "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}

    def listing(self, kind, items, q, item_kind, api_version="v1"):
        terms = parse_selector(q.get("labelSelector"))
        out = [dict(o, kind=item_kind, apiVersion=api_version) for o in items
               if selector_matches(terms, o["metadata"].get("labels", {}))
               and field_matches(q.get("fieldSelector"), o)]
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        meta = {"resourceVersion": str(self.cluster.rv)}
        # Chunked lists as the API server serves them: at most `limit` items (the
        # server may send fewer: `page_cap` in the config), and an opaque `continue`
        # token naming the list and the position, until the last page.
        start = 0
        if q.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(q["continue"].encode()))
                assert token["list"] == [self.path.split("?")[0], q.get("labelSelector"), q.get("fieldSelector")]
                start = int(token["start"])
            except Exception:
                raise Fail(400, "BadRequest", "continue key is not valid")
            self.cluster.continued_lists += 1
            if self.cluster.stats_dir:
                with open(os.path.join(self.cluster.stats_dir, "continued-lists"), "w") as f:
                    f.write(str(self.cluster.continued_lists))
        if q.get("limit", "").isdigit() and int(q["limit"]) > 0:
            page = min(int(q["limit"]), self.config.get("page_cap") or int(q["limit"]))
            if start + page < len(out):
                meta["continue"] = base64.urlsafe_b64encode(json.dumps({
                    "list": [self.path.split("?")[0], q.get("labelSelector"), q.get("fieldSelector")],
                    "start": start + page}).encode()).decode()
                meta["remainingItemCount"] = len(out) - start - page
            out = out[start: start + page]
        elif start:
            raise Fail(400, "BadRequest", "continue needs limit")
        return {"kind": kind, "apiVersion": api_version, "metadata": meta, "items": out}

    def create(self, ns, res, kind, obj, api_version="v1"):
        c = self.cluster
        if not isinstance(obj, dict):
            raise Fail(400, "BadRequest", "the body must be a JSON object")
        if obj.get("kind") != kind or obj.get("apiVersion") != api_version:
            raise Fail(400, "BadRequest", f"expected kind {kind} apiVersion {api_version}, got {obj.get('kind')} {obj.get('apiVersion')}")
        try:
            kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            raise Fail(422, "Invalid", f'{kind} "{obj.get("metadata", {}).get("name")}" is invalid: {path}: {e.message}')
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 63:
            raise Fail(422, "Invalid", f'{kind} "{name}" is invalid: metadata.name: Invalid value: a lowercase RFC 1123 label is required')
        if meta.get("namespace", ns) != ns:
            raise Fail(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
        for k, v in (meta.get("labels") or {}).items():
            if len(v) > 63 or not re.fullmatch(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", v):
                raise Fail(422, "Invalid", f'{kind} "{name}" is invalid: metadata.labels: Invalid value: "{v}"')
        if (res, ns, name) in c.objects:
            raise Fail(409, "AlreadyExists", f'{res} "{name}" already exists', name, res)
        limit = self.config.get("pod_quota", {}).get(ns)
        if res == "pods" and limit is not None:
            used = sum(1 for (r, n, _) in c.objects if r == "pods" and n == ns)
            if used >= limit:
                raise Fail(403, "Forbidden", f'pods "{name}" is forbidden: exceeded quota: aloft-quota, '
                           f'requested: pods=1, used: pods={used}, limited: pods={limit}', name, "pods")
        for key in ("uid", "resourceVersion", "creationTimestamp"):
            meta.pop(key, None)
        meta["namespace"] = ns
        obj.pop("status", None)
        if res == "pods":
            for ctr in obj["spec"]["containers"]:
                # Defaulting, as the API server does: requests default to limits.
                resources = ctr.setdefault("resources", {})
                for k, v in (resources.get("limits") or {}).items():
                    resources.setdefault("requests", {}).setdefault(k, v)
                lim = ctr.get("resources", {}).get("limits", {})
                req = ctr.get("resources", {}).get("requests", {})
                if GPU in req and lim.get(GPU) != req[GPU]:
                    raise Fail(422, "Invalid", f'Pod "{name}" is invalid: spec.containers.resources.requests: Invalid value: "{req[GPU]}": must be equal to {GPU} limit')
            c.stamp(obj)
            c.schedule(obj)
        elif res == "persistentvolumeclaims":
            # Bound at once, as a dynamically provisioned claim soon is.
            size = obj["spec"].get("resources", {}).get("requests", {}).get("storage")
            obj["spec"].setdefault("volumeMode", "Filesystem")
            obj["status"] = {"phase": "Bound", "accessModes": obj["spec"].get("accessModes", []),
                             "capacity": {"storage": size} if size else {}}
            c.stamp(obj)
        elif res == "rolebindings":
            ref = obj["roleRef"]
            if ref.get("apiGroup") != RBAC_GROUP or ref.get("kind") not in ("Role", "ClusterRole"):
                raise Fail(422, "Invalid", f'RoleBinding.{RBAC_GROUP} "{name}" is invalid: roleRef: Unsupported value')
            for i, sub in enumerate(obj.get("subjects") or []):
                if sub.get("kind") == "ServiceAccount" and (sub.get("apiGroup") or not sub.get("namespace")):
                    raise Fail(422, "Invalid", f'RoleBinding.{RBAC_GROUP} "{name}" is invalid: subjects[{i}]: '
                               'a ServiceAccount subject needs a namespace and no apiGroup')
            c.stamp(obj)
        elif res == "roles":
            for i, rule in enumerate(obj.get("rules") or []):
                if not rule.get("verbs"):
                    raise Fail(422, "Invalid", f'Role.{RBAC_GROUP} "{name}" is invalid: rules[{i}].verbs: Required value')
            c.stamp(obj)
        elif res == "services":
            obj["spec"].setdefault("type", "ClusterIP")
            obj["spec"]["clusterIP"] = f"10.96.0.{len(c.objects) % 250 + 2}"
            for i, p in enumerate(obj["spec"].get("ports", [])):
                if obj["spec"]["type"] in ("NodePort", "LoadBalancer"):
                    p.setdefault("nodePort", 30000 + (self.cluster.rv + i) % 2000)
            obj["status"] = {"loadBalancer": {}}
            c.stamp(obj)
        elif res == "secrets":
            # `stringData` is write-only: merged into `data`, base64, as the API server does.
            data = obj.setdefault("data", {})
            for k, v in (obj.pop("stringData", None) or {}).items():
                data[k] = base64.b64encode(v.encode()).decode()
            c.stamp(obj)
        else:
            c.stamp(obj)
        c.objects[(res, ns, name)] = obj
        return 201, dict(obj, kind=kind, apiVersion=api_version)


def main():
    config = json.load(open(sys.argv[1]))
    config.setdefault("stats_dir", os.path.dirname(os.path.abspath(sys.argv[1])))
    Handler.cluster = Cluster(config)
    Handler.config = config
    server = http.server.ThreadingHTTPServer((config.get("host", "127.0.0.1"), config.get("port", 0)), Handler)
    server.daemon_threads = True
    tls = config.get("tls")
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls["cert"], tls["key"])
        if tls.get("client_ca"):
            ctx.load_verify_locations(tls["client_ca"])
            ctx.verify_mode = ssl.CERT_OPTIONAL
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
