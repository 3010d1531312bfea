"""A minimal API server with only the `pods/portforward` route (stdlib only).

    python3 k8s_portforward_server.py --token TOKEN \
        --pod NAMESPACE/NAME=IP:PORT [--pod ...] [--tls-cert F --tls-key F
        [--client-ca F]]

Listens on a free 127.0.0.1 port and prints `PORT <n>` on its first stdout line.
`GET /api/v1/namespaces/NS/pods/NAME/portforward?ports=P` with
`Authorization: Bearer TOKEN` is handed to `k8s_portforward.serve`, relayed to
the pod's address (a real sshd "machine" in the tests); the pod's own port P is
taken to be the one given on the command line (a pod has one address). A wrong or
missing token is 401 (unless, with `--client-ca`, the client presented a
certificate that CA signed: client-certificate authentication), an unknown pod 404, any other path 404, all with Kubernetes
`Status` bodies. Each connection is served on a thread of its own.
"""

import argparse
import hmac
import os
import re
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s_portforward  # noqa: E402

ROUTE = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/portforward$")


def make_handler(token, pods):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: tests read their own output
            pass

        def status(self, code, reason, message):
            k8s_portforward.status_response(self, code, reason, message)

        def do_GET(self):
            auth = self.headers.get("Authorization", "")
            given = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else ""
            has_cert = hasattr(self.connection, "getpeercert") and bool(self.connection.getpeercert())
            token_ok = bool(given) and hmac.compare_digest(given.encode(), token.encode())
            if not (token_ok or has_cert):
                self.status(401, "Unauthorized", "Unauthorized")
                return
            match = ROUTE.match(urlsplit(self.path).path)
            if not match:
                self.status(404, "NotFound", "the server could not find the requested resource")
                return
            namespace, name = match.groups()
            target = pods.get((namespace, name))
            if target is None:
                self.status(404, "NotFound", f'pods "{name}" not found')
                return
            k8s_portforward.serve(self, target[0], target[1])

        def do_POST(self):
            self.status(405, "MethodNotAllowed", "only GET")

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    parser.add_argument("--pod", action="append", default=[])
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--client-ca")
    args = parser.parse_args()
    pods = {}
    for spec in args.pod:
        ref, addr = spec.split("=", 1)
        namespace, name = ref.split("/", 1)
        ip, port = addr.rsplit(":", 1)
        pods[(namespace, name)] = (ip, int(port))
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args.token, pods))
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            # Verified when presented; the token is the other way in.
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(args.client_ca)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
