#!/usr/bin/env python3
"""A fake of hello-cloud's toy REST API (providers/examples/hello-cloud), for the
provider guide's commands run in CI. Stateful, loopback only, one bearer token.

    GET    /v1/me                        -> {"id": "acct-1"}
    POST   /v1/instances {"cluster": C}  -> {"id": ..., "ip": ...}
    GET    /v1/instances?cluster=C       -> [{"id": ..., "ip": ...}, ...]
    DELETE /v1/instances/ID              -> 204

Prints `PORT <n>` on its first line once listening.
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
INSTANCES = {}  # id -> {"id", "ip", "cluster"}
NEXT = [1]


class Handler(BaseHTTPRequestHandler):
    token = ""

    def log_message(self, *args):
        pass

    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if self.headers.get("authorization") != f"Bearer {self.token}":
            self.reply(401, {"error": "bad token"})
            return False
        return True

    def do_GET(self):
        if not self.authorized():
            return
        url = urlparse(self.path)
        if url.path == "/v1/me":
            return self.reply(200, {"id": "acct-1"})
        if url.path == "/v1/instances":
            cluster = parse_qs(url.query).get("cluster", [""])[0]
            with LOCK:
                nodes = [
                    {"id": i["id"], "ip": i["ip"]}
                    for i in sorted(INSTANCES.values(), key=lambda i: i["n"])
                    if i["cluster"] == cluster
                ]
            return self.reply(200, nodes)
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if not self.authorized():
            return
        if urlparse(self.path).path != "/v1/instances":
            return self.reply(404, {"error": "not found"})
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        cluster = body.get("cluster")
        if not isinstance(cluster, str) or not cluster:
            return self.reply(400, {"error": "cluster is required"})
        with LOCK:
            n = NEXT[0]
            NEXT[0] += 1
            node = {"id": f"hc-{n}", "ip": f"192.0.2.{n % 250 + 1}", "cluster": cluster, "n": n}
            INSTANCES[node["id"]] = node
        self.reply(200, {"id": node["id"], "ip": node["ip"]})

    def do_DELETE(self):
        if not self.authorized():
            return
        path = urlparse(self.path).path
        prefix = "/v1/instances/"
        if not path.startswith(prefix):
            return self.reply(404, {"error": "not found"})
        with LOCK:
            found = INSTANCES.pop(path[len(prefix):], None)
        self.reply(204 if found else 404)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    Handler.token = args.token
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
