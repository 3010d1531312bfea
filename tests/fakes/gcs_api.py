#!/usr/bin/env python3
"""A stateful fake of Google Cloud Storage's JSON API (storage/v1) and Google's OAuth2
token endpoint, for aloft's tests. Loopback only.

Every request is checked against the storage.v1 discovery document shipped in
google-api-python-client (googleapiclient/discovery_cache/documents/storage.v1.json):
the route and HTTP method (the API's paths, the media upload path of objects.insert,
and the `/download/` path Google's clients fetch media from), query parameters (known
names, types, enums, the required ones), `alt=media` only where the method supports
media download, and JSON bodies (known fields and JSON types at every depth). A
violation is a 400 in Google's error shape and is recorded as `INVALID ...` in the
requests.

The token endpoint accepts the JWT-bearer grant (RS256 signature verified with the
public key given in the config, `aud` Google's token URL) and the refresh-token grant
(one known client and refresh token). Storage calls need a bearer token it issued (or
the config's reader token, for the test's own client). A GET with `X-Goog-Signature`
is a V4 signed URL (path style, /BUCKET/OBJECT): its signature (RSA-SHA256 over the
canonical request, as Google documents the V4 signing process), credential scope and
expiry are checked with the same public key, then the media is served and
`signed GET` recorded (`INVALID signed GET: ...` and a 403 when they do not hold).

Usage: gcs_api.py CONFIG.json PORT (0: a free one). It prints `PORT <n>` on its first
line once it listens on 127.0.0.1.
CONFIG: {"project", "public_key_pem", "client_email", "client_id", "client_secret",
         "refresh_token", "reader_token": optional, "page_size": optional (listing)}
Control (no auth): GET /_fake/state -> {"requests": [...], "buckets": {name: {"project",
"location", "objects": {name: size}}}, "tokens": [issued tokens], "grants": [...]}.
"""

import base64
import calendar
import hashlib
import itertools
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

TOKEN_AUD = "https://oauth2.googleapis.com/token"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",
          "https://www.googleapis.com/auth/devstorage.full_control",
          "https://www.googleapis.com/auth/devstorage.read_write")
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")


def discovery():
    import googleapiclient
    root = os.path.dirname(googleapiclient.__file__)
    with open(os.path.join(root, "discovery_cache/documents/storage.v1.json")) as f:
        return json.load(f)


DOC = discovery()
SCHEMAS = DOC["schemas"]
GLOBAL_PARAMS = DOC["parameters"]
SERVICE = "/" + DOC["servicePath"]  # /storage/v1/


class ApiError(Exception):
    def __init__(self, code, message, reason, status):
        super().__init__(message)
        self.code, self.message, self.reason, self.status = code, message, reason, status

    def body(self):
        return {"error": {"code": self.code, "message": self.message,
                          "errors": [{"message": self.message, "domain": "global",
                                      "reason": self.reason}]}}


class Invalid(ApiError):
    def __init__(self, message, reason="invalid"):
        super().__init__(400, message, reason, "INVALID_ARGUMENT")


def not_found(message):
    return ApiError(404, message, "notFound", "NOT_FOUND")


def routes():
    """(http method, regex over the full path, literal length, method id, method, kind)."""
    out = []

    def add(verb, path, mid, m, kind):
        regex = re.sub(r"\{\+?(\w+)\}", lambda g: f"(?P<{g.group(1)}>[^/]+)", path)
        literal = len(re.sub(r"\{[^}]*\}", "", path))
        out.append((verb, re.compile("^" + regex + "$"), literal, mid, m, kind))

    def walk(resources):
        for res in resources.values():
            for m in res.get("methods", {}).values():
                add(m["httpMethod"], SERVICE + m["path"], m["id"], m, "json")
                simple = m.get("mediaUpload", {}).get("protocols", {}).get("simple")
                if simple:
                    add(m["httpMethod"], simple["path"], m["id"], m, "upload")
                if m.get("supportsMediaDownload"):
                    add(m["httpMethod"], "/download" + SERVICE + m["path"], m["id"], m, "download")
            walk(res.get("resources", {}))

    walk(DOC["resources"])
    out.sort(key=lambda r: -r[2])
    return out


ROUTES = routes()


def check_scalar(where, spec, value):
    kind, fmt = spec.get("type"), spec.get("format", "")
    if kind == "string":
        if fmt in ("int64", "uint64"):
            if isinstance(value, bool) or not (isinstance(value, int) or
                                               (isinstance(value, str) and re.fullmatch(r"-?\d+", value))):
                raise Invalid(f"Invalid value at '{where}' ({fmt}), {json.dumps(value)}")
        elif not isinstance(value, str):
            raise Invalid(f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)}")
        if "enum" in spec and value not in spec["enum"]:
            raise Invalid(f"Invalid value at '{where}' (enum), \"{value}\"")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"Invalid value at '{where}' (TYPE_INT32), {json.dumps(value)}")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(f"Invalid value at '{where}' (TYPE_DOUBLE), {json.dumps(value)}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise Invalid(f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value)}")
    elif kind != "any":
        raise Invalid(f"Invalid value at '{where}'")


def check(where, spec, value):
    """Validates `value` against a discovery schema fragment, at every depth."""
    if "$ref" in spec:
        spec = SCHEMAS[spec["$ref"]]
    kind = spec.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise Invalid(f"Invalid value at '{where}', expected an object")
        props, extra = spec.get("properties"), spec.get("additionalProperties")
        for k, v in value.items():
            if props is not None and k in props:
                check(f"{where}.{k}", props[k], v)
            elif extra is not None:
                check(f"{where}[{k}]", extra, v)
            else:
                raise Invalid(f"Invalid JSON payload received. Unknown name \"{k}\" at '{where}': Cannot find field.")
    elif kind == "array":
        if not isinstance(value, list):
            raise Invalid(f"Invalid value at '{where}', expected a list")
        for i, v in enumerate(value):
            check(f"{where}[{i}]", spec.get("items", {}), v)
    else:
        check_scalar(where, spec, value)


def check_query(m, query, kind):
    params = m.get("parameters", {})
    for name, values in query.items():
        spec = params.get(name) if params.get(name, {}).get("location") == "query" else GLOBAL_PARAMS.get(name)
        if spec is None:
            raise Invalid(f"Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter.")
        for v in values:
            if spec.get("type") == "boolean" and v not in ("true", "false", "True", "False"):
                raise Invalid(f"Invalid value at '{name}' (TYPE_BOOL), \"{v}\"")
            if spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", v):
                raise Invalid(f"Invalid value at '{name}' (TYPE_UINT32), \"{v}\"")
            if spec.get("format") in ("int64", "uint64") and not re.fullmatch(r"-?\d+", v):
                raise Invalid(f"Invalid value at '{name}' ({spec['format']}), \"{v}\"")
            if "enum" in spec and v not in spec["enum"]:
                raise Invalid(f"Invalid value at '{name}', \"{v}\"")
    for name, spec in params.items():
        if spec.get("location") == "query" and spec.get("required") and name not in query:
            raise Invalid(f"Required parameter '{name}' is missing", "required")
    alt = query.get("alt", ["json"])[0]
    if alt == "media" and not m.get("supportsMediaDownload"):
        raise Invalid(f"{m['id']} does not support alt=media")
    if kind == "download" and alt != "media":
        raise Invalid("the download path serves alt=media only")
    if kind == "upload":
        upload = query.get("uploadType", [""])[0]
        if upload not in ("media", "multipart"):
            raise Invalid(f"Invalid upload type \"{upload}\" (media and multipart are served)", "invalidParameter")
        if upload == "media" and not query.get("name", [""])[0]:
            raise Invalid("Required parameter 'name' is missing for uploadType=media", "required")
    elif "uploadType" in query:
        raise Invalid(f"{m['id']} at its JSON path takes no upload")


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def crc32c_b64(data):
    import google_crc32c
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


class Fake:
    def __init__(self, config):
        self.cfg = config
        self.lock = threading.RLock()
        self.project = config["project"]
        self.page_size = int(config.get("page_size", 1000))
        self.public_key = serialization.load_pem_public_key(config["public_key_pem"].encode())
        self.issued = []
        self.tokens = set()
        if config.get("reader_token"):
            self.tokens.add(config["reader_token"])
        self.buckets = {}    # name -> {"meta": dict, "objects": {name: (bytes, meta)}}
        self.grants = []
        self.requests = []   # "storage.objects.insert" or "INVALID ..."
        self.generations = itertools.count(1700000000000001)

    # ---- token endpoint -------------------------------------------------
    def token(self, form, host=None):
        grant = form.get("grant_type", [""])[0]
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            # The audience is the token URL the assertion is posted to: Google's,
            # or this fake's for a client whose key's token_uri names it (rclone).
            auds = {TOKEN_AUD} | ({f"http://{host}/token"} if host else set())
            if not self.jwt_ok(form.get("assertion", [""])[0], auds):
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
            self.issued.append(token)
            self.grants.append(grant)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def jwt_ok(self, assertion, auds=(TOKEN_AUD,)):
        try:
            head, claims, sig = assertion.split(".")
            pad = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
            if json.loads(pad(head)).get("alg") != "RS256":
                return False
            self.public_key.verify(pad(sig), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
            c = json.loads(pad(claims))
            now = time.time()
            return (c.get("iss") == self.cfg.get("client_email") and c.get("aud") in auds
                    and any(s in c.get("scope", "").split() for s in SCOPES)
                    and c.get("iat", 0) <= now + 60 and c.get("exp", 0) > now)
        except Exception:
            return False

    # ---- storage ------------------------------------------------------------
    def bucket(self, name):
        if name not in self.buckets:
            raise not_found("The specified bucket does not exist.")
        return self.buckets[name]

    def object_meta(self, bucket, name, data, content_type, extra=None):
        gen = str(next(self.generations))
        meta = {"kind": "storage#object", "id": f"{bucket}/{name}/{gen}", "name": name,
                "bucket": bucket, "generation": gen, "metageneration": "1",
                "contentType": content_type or "application/octet-stream",
                "storageClass": "STANDARD", "size": str(len(data)),
                "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
                "crc32c": crc32c_b64(data), "etag": "CAE=",
                "timeCreated": now_rfc3339(), "updated": now_rfc3339(),
                "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}",
                "mediaLink": f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?generation={gen}&alt=media"}
        for k, v in (extra or {}).items():
            if k not in meta and k != "name":
                meta[k] = v
        return meta

    def buckets_insert(self, p, q, body, raw, ctype):
        project = q.get("project", [""])[0]
        if project != self.project:
            raise ApiError(403, f"The caller does not have storage.buckets.create access to the Google Cloud project '{project}'.", "forbidden", "PERMISSION_DENIED")
        name = body.get("name", "")
        if not BUCKET_NAME.fullmatch(name) or ".." in name or name.startswith("goog"):
            raise Invalid(f"Invalid bucket name: '{name}'")
        if name in self.buckets:
            raise ApiError(409, "Your previous request to create the named bucket succeeded and you already own it.", "conflict", "ALREADY_EXISTS")
        meta = {"kind": "storage#bucket", "id": name, "name": name, "projectNumber": "424242424242",
                "location": body.get("location", "US").upper(), "storageClass": body.get("storageClass", "STANDARD"),
                "locationType": "multi-region", "metageneration": "1", "etag": "CAE=",
                "timeCreated": now_rfc3339(), "updated": now_rfc3339(),
                "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}"}
        self.buckets[name] = {"meta": meta, "objects": {}, "project": project}
        return 200, meta

    def buckets_get(self, p, q, body, raw, ctype):
        return 200, self.bucket(p["bucket"])["meta"]

    def buckets_list(self, p, q, body, raw, ctype):
        project = q.get("project", [""])[0]
        items = [b["meta"] for _, b in sorted(self.buckets.items()) if b["project"] == project]
        return 200, {"kind": "storage#buckets", "items": items}

    def buckets_delete(self, p, q, body, raw, ctype):
        b = self.bucket(p["bucket"])
        if b["objects"]:
            raise ApiError(409, "The bucket you tried to delete is not empty.", "conflict", "FAILED_PRECONDITION")
        del self.buckets[p["bucket"]]
        return 204, None

    def objects_insert(self, p, q, body, raw, ctype):
        b = self.bucket(p["bucket"])
        upload = q.get("uploadType", [""])[0]
        extra = {}
        if upload == "media":
            name, data, content_type = q["name"][0], raw, ctype
        elif upload == "multipart":
            if not ctype.startswith("multipart/related"):
                raise Invalid("uploadType=multipart needs a multipart/related body")
            msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
            parts = list(msg.iter_parts())
            if len(parts) != 2:
                raise Invalid("a multipart upload has two parts: metadata, then media")
            try:
                extra = json.loads(parts[0].get_payload(decode=True) or b"{}")
            except ValueError:
                raise Invalid("Invalid JSON payload received. Unexpected token.")
            check("object", {"$ref": "Object"}, extra)
            name = q.get("name", [extra.get("name", "")])[0]
            data, content_type = parts[1].get_payload(decode=True) or b"", parts[1].get_content_type()
        else:
            raise Invalid("objects.insert at its JSON path takes no media")
        if not name:
            raise Invalid("Required parameter 'name' is missing", "required")
        meta = self.object_meta(p["bucket"], name, data, content_type, extra)
        b["objects"][name] = (data, meta)
        return 200, meta

    def objects_get(self, p, q, body, raw, ctype):
        b = self.bucket(p["bucket"])
        if p["object"] not in b["objects"]:
            raise not_found(f"No such object: {p['bucket']}/{p['object']}")
        data, meta = b["objects"][p["object"]]
        if q.get("alt", ["json"])[0] == "media":
            return 200, data, meta
        return 200, meta

    def objects_delete(self, p, q, body, raw, ctype):
        b = self.bucket(p["bucket"])
        if b["objects"].pop(p["object"], None) is None:
            raise not_found(f"No such object: {p['bucket']}/{p['object']}")
        return 204, None

    def objects_list(self, p, q, body, raw, ctype):
        b = self.bucket(p["bucket"])
        prefix = q.get("prefix", [""])[0]
        size = min(int(q.get("maxResults", [self.page_size])[0]), self.page_size)
        names = sorted(n for n in b["objects"] if n.startswith(prefix))
        # With a delimiter, names with it past the prefix are folded into
        # `prefixes` (on the first page), as Google's listing does.
        delimiter = q.get("delimiter", [""])[0]
        prefixes = []
        if delimiter:
            prefixes = sorted({prefix + n[len(prefix):].split(delimiter)[0] + delimiter
                               for n in names if delimiter in n[len(prefix):]})
            names = [n for n in names if delimiter not in n[len(prefix):]]
        start = int(q.get("pageToken", ["0"])[0] or 0)
        page = names[start:start + size]
        out = {"kind": "storage#objects", "items": [b["objects"][n][1] for n in page]}
        if prefixes and start == 0:
            out["prefixes"] = prefixes
        if start + size < len(names):
            out["nextPageToken"] = str(start + size)
        return 200, out


class Handler(BaseHTTPRequestHandler):
    fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, doc, media=None):
        if media is not None:
            data, meta = media
            self.send_response(status)
            self.send_header("content-type", meta["contentType"])
            self.send_header("x-goog-hash", f"crc32c={meta['crc32c']},md5={meta['md5Hash']}")
            self.send_header("x-goog-generation", meta["generation"])
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        data = b"" if doc is None else json.dumps(doc).encode()
        # Objects' mediaLink is where they download from: this fake, not Google.
        data = data.replace(b"https://storage.googleapis.com/download/",
                            f"http://{self.headers.get('host')}/download/".encode())
        self.send_response(status)
        if doc is not None:
            self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do(self, method):
        fake = self.fake
        url = urllib.parse.urlsplit(self.path)
        # A mediaLink (`/download/storage/v1/...?alt=media`) is objects.get's media.
        if url.path.startswith("/download/storage/v1/"):
            url = url._replace(path=url.path[len("/download"):])
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            # Go's clients (rclone's GCS backend) stream uploads in chunks, as
            # Google's front end accepts.
            raw = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                raw += self.rfile.read(size)
                self.rfile.readline()
        else:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("content-type", "")
        what = f"{method} {url.path}"
        try:
            if url.path == "/token" and method == "POST":
                status, doc = fake.token(urllib.parse.parse_qs(raw.decode()), self.headers.get("host"))
                return self.reply(status, doc)
            if url.path.startswith("/_fake/"):
                return self.control(method, url.path[len("/_fake/"):])
            if method == "GET" and "X-Goog-Signature" in query:
                return self.signed_get(url, query)
            for verb, regex, _, mid, m, kind in ROUTES:
                match = regex.match(url.path)
                if match and verb == method:
                    break
            else:
                raise not_found(f"no storage.v1 method at {method} {url.path}")
            what = mid
            auth = self.headers.get("authorization", "")
            with fake.lock:
                ok = auth.startswith("Bearer ") and auth[len("Bearer "):] in fake.tokens
            if not ok:
                raise ApiError(401, "Anonymous caller does not have storage access, or the token is invalid.",
                               "required", "UNAUTHENTICATED")
            check_query(m, query, kind)
            body = {}
            if kind == "json" and "request" in m:
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    raise Invalid("Invalid JSON payload received. Unexpected token.")
                check(m["request"]["$ref"].lower(), m["request"], body)
            elif kind == "json" and raw.strip():
                raise Invalid(f"{mid} takes no request body")
            groups = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
            handler = getattr(fake, mid.replace("storage.", "").replace(".", "_"), None)
            if handler is None:
                raise ApiError(501, f"{mid} is not implemented by aloft's fake", "notImplemented", "UNIMPLEMENTED")
            with fake.lock:
                fake.requests.append(mid + (f" {kind}" if kind != "json" else ""))
                answer = handler(groups, query, body, raw, ctype)
            if len(answer) == 3:
                return self.reply(answer[0], None, media=(answer[1], answer[2]))
            return self.reply(answer[0], answer[1])
        except ApiError as e:
            if isinstance(e, Invalid) or e.code == 401 or e.code == 404 and what.startswith(("GET /", "POST /", "PUT /", "DELETE /", "PATCH /")):
                with fake.lock:
                    fake.requests.append(f"INVALID {what}: {e.message}")
            return self.reply(e.code, e.body())

    def signed_get(self, url, query):
        """A V4 signed URL's GET (path style, /BUCKET/OBJECT): the signature is
        checked as Google documents the V4 signing process (canonical request,
        string to sign, RSA-SHA256 with the service account's key), and the
        expiry; the object's media is served, and "signed GET" recorded."""
        fake = self.fake
        one = lambda k: query.get(k, [""])[0]
        try:
            stamp = one("X-Goog-Date")
            expires = int(one("X-Goog-Expires") or 0)
            email, _, scope = one("X-Goog-Credential").partition("/")
            if one("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" or one("X-Goog-SignedHeaders") != "host":
                raise ValueError("algorithm or signed headers")
            if email != self.fake.cfg.get("client_email") or scope != f"{stamp[:8]}/auto/storage/goog4_request":
                raise ValueError("credential")
            signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
            if not 0 < expires <= 604800 or time.time() > signed_at + expires or signed_at > time.time() + 300:
                raise ValueError("expired")
            enc = lambda v: urllib.parse.quote(v, safe="-_.~")
            pairs = sorted((enc(k), enc(v)) for k, vs in query.items() for v in vs if k != "X-Goog-Signature")
            canonical = "\n".join(["GET", url.path, "&".join(f"{k}={v}" for k, v in pairs),
                                   f"host:{self.headers.get('host', '')}", "", "host", "UNSIGNED-PAYLOAD"])
            to_sign = "\n".join(["GOOG4-RSA-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
            fake.public_key.verify(bytes.fromhex(one("X-Goog-Signature")), to_sign.encode(),
                                   padding.PKCS1v15(), hashes.SHA256())
        except Exception as e:
            with fake.lock:
                fake.requests.append(f"INVALID signed GET: {type(e).__name__}")
            return self.reply(403, {"error": {"code": 403, "message": "SignatureDoesNotMatch"}})
        bucket, _, name = url.path[1:].partition("/")
        bucket, name = urllib.parse.unquote(bucket), urllib.parse.unquote(name)
        with fake.lock:
            fake.requests.append("signed GET")
            objects = fake.buckets.get(bucket, {}).get("objects", {})
            found = objects.get(name)
        if found is None:
            return self.reply(404, {"error": {"code": 404, "message": "NoSuchKey"}})
        return self.reply(200, None, media=found)

    def control(self, method, what):
        fake = self.fake
        with fake.lock:
            if what == "state" and method == "GET":
                return self.reply(200, {
                    "requests": fake.requests, "tokens": fake.issued, "grants": fake.grants,
                    "buckets": {n: {"project": b["project"], "location": b["meta"]["location"],
                                    "objects": {k: len(v[0]) for k, v in b["objects"].items()}}
                                for n, b in fake.buckets.items()}})
        raise not_found(what)

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
