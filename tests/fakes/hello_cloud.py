#!/usr/bin/env python3
"""A fake of hello-cloud's toy REST API (providers/examples/hello-cloud), for the
provider guide's commands run in CI. Stateful, loopback only, one bearer token.

    GET    /v1/me                        -> {"id": "acct-1"}
    POST   /v1/instances {"cluster": C, "ssh_public_key": K, "labels": [[k, v], ...]}
                                         -> {"id", "ip", "ssh_port", "ssh_user"}
    GET    /v1/instances?cluster=C       -> [{"id", "ip", "ssh_port", "ssh_user"}, ...]
    DELETE /v1/instances/ID              -> 204

With `--ssh-node IP:PORT:USER:AUTHORIZED_KEYS`, every instance is that machine (a
real sshd the test started): it gets its address, port and user, and the key of
its create request is appended to that sshd's authorized_keys file, as a cloud's
first boot would install it. Without it, instances get 192.0.2.N, port 22, user
`hello`, and the key is only kept.

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
    ssh_node = None  # (ip, port, user, authorized_keys path)

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
                    public(i)
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
        key = body.get("ssh_public_key")
        if key is not None and (not isinstance(key, str) or not key.startswith("ssh-")):
            return self.reply(400, {"error": "ssh_public_key must be an OpenSSH public key"})
        labels = body.get("labels", [])
        if not isinstance(labels, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in labels
        ):
            return self.reply(400, {"error": "labels must be [key, value] pairs"})
        with LOCK:
            n = NEXT[0]
            NEXT[0] += 1
            node = {"id": f"hc-{n}", "ip": f"192.0.2.{n % 250 + 1}", "ssh_port": 22,
                    "ssh_user": "hello", "cluster": cluster, "n": n, "key": key,
                    "labels": labels}
            if self.ssh_node:
                ip, port, user, keys = self.ssh_node
                node.update(ip=ip, ssh_port=port, ssh_user=user)
                if key:
                    with open(keys, "a") as f:
                        f.write(key.strip() + "\n")
            INSTANCES[node["id"]] = node
        self.reply(200, public(node))

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


def public(node):
    return {k: node[k] for k in ("id", "ip", "ssh_port", "ssh_user")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    parser.add_argument("--ssh-node", default="")
    args = parser.parse_args()
    Handler.token = args.token
    if args.ssh_node:
        ip, port, user, keys = args.ssh_node.split(":", 3)
        Handler.ssh_node = (ip, int(port), user, keys)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
