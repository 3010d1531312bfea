"""The `pods/portforward` subresource of a fake Kubernetes API server (stdlib only).

`serve(handler, target_ip, target_port)` takes over an `http.server`
`BaseHTTPRequestHandler` that received `GET .../pods/NAME/portforward?ports=PORT`
(after the caller authenticated it and found the pod) and speaks what the API
server speaks there: a WebSocket (RFC 6455) with the `v4.channel.k8s.io`
subprotocol, relayed to a TCP connection to (target_ip, target_port):

- the upgrade headers are checked (`Upgrade: websocket`, `Connection: Upgrade`,
  `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`, `Sec-WebSocket-Protocol`
  offering `v4.channel.k8s.io`); a bad upgrade is answered 400 with a Kubernetes
  `Status` body, as a real server does;
- after `101 Switching Protocols` the server sends on channel 0 (data) and channel
  1 (error) one frame each carrying the port number (2 bytes, little-endian);
- client frames must be masked (an unmasked one closes the connection with 1002);
  fragmented messages are reassembled; pings are answered; a close is echoed;
- every message is binary, its first byte the channel: channel 0 from the client is
  written to the TCP connection, what the TCP connection sends goes back on
  channel 0; if the target cannot be reached, the error goes on channel 1 (as the
  kubelet reports `connection refused`) and the WebSocket closes.

Returns when the session is over (either side closed).
"""

import base64
import hashlib
import json
import socket
import struct
import threading
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

PROTOCOL = "v4.channel.k8s.io"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 32 << 20
CHUNK = 32 * 1024

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def status_response(handler, code, reason, message, close=False):
    """Answers a Kubernetes `Status` body, head and body in one write (as Go's
    net/http does for a small answer: a client reading the refused upgrade sees
    the whole of it)."""
    body = json.dumps({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    }).encode()
    head = (
        f"{handler.protocol_version} {code} {HTTPStatus(code).phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    )
    handler.wfile.write(head.encode() + body)
    handler.wfile.flush()
    if close:
        handler.close_connection = True


def _status(handler, code, reason, message):
    status_response(handler, code, reason, message, close=True)


def _tokens(value):
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


def _check_upgrade(handler):
    """The reason the upgrade request is bad, or None."""
    h = handler.headers
    if handler.command != "GET":
        return "the upgrade must be a GET"
    if "websocket" not in _tokens(h.get("Upgrade")):
        return "missing `Upgrade: websocket`"
    if "upgrade" not in _tokens(h.get("Connection")):
        return "missing `Connection: Upgrade`"
    key = h.get("Sec-WebSocket-Key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return "Sec-WebSocket-Key is not 16 bytes in base64"
    except (ValueError, TypeError):
        return "Sec-WebSocket-Key is not base64"
    if h.get("Sec-WebSocket-Version", "").strip() != "13":
        return "Sec-WebSocket-Version must be 13"
    if PROTOCOL not in [p.strip() for p in (h.get("Sec-WebSocket-Protocol") or "").split(",")]:
        return f"Sec-WebSocket-Protocol must offer {PROTOCOL}"
    return None


def requested_port(handler):
    """The single port of `?ports=`, or None when it is missing or not one port."""
    query = parse_qs(urlsplit(handler.path).query)
    ports = query.get("ports", [])
    if len(ports) != 1 or "," in ports[0]:
        return None
    try:
        port = int(ports[0])
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


class _Closed(Exception):
    pass


class _Session:
    def __init__(self, handler, target_ip, target_port, port):
        self.rfile = handler.rfile  # buffered: may hold bytes after the request
        self.sock = handler.connection
        self.lock = threading.Lock()
        self.closed_sent = False
        self.target_ip = target_ip
        self.target_port = target_port
        self.port = port
        self.tcp = None

    # Frames out (server to client: never masked).
    def send_frame(self, opcode, payload=b""):
        header = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header.append(n)
        elif n < 65536:
            header.append(126)
            header += struct.pack(">H", n)
        else:
            header.append(127)
            header += struct.pack(">Q", n)
        with self.lock:
            if self.closed_sent:
                return
            if opcode == OP_CLOSE:
                self.closed_sent = True
            try:
                self.sock.sendall(bytes(header) + payload)
            except OSError:
                self.closed_sent = True

    def send_close(self, code=1000, reason=""):
        self.send_frame(OP_CLOSE, struct.pack(">H", code) + reason.encode()[:120])

    def send_channel(self, channel, data):
        self.send_frame(OP_BINARY, bytes([channel]) + data)

    # Frames in (client to server: always masked).
    def read_exact(self, n):
        data = self.rfile.read(n)
        if data is None or len(data) < n:
            raise _Closed()
        return data

    def read_frame(self):
        b0, b1 = self.read_exact(2)
        fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
        masked, n = b1 & 0x80, b1 & 0x7F
        if rsv:
            self.send_close(1002, "reserved bits set")
            raise _Closed()
        if not masked:
            self.send_close(1002, "client frames must be masked")
            raise _Closed()
        if n == 126:
            (n,) = struct.unpack(">H", self.read_exact(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", self.read_exact(8))
        if opcode >= 0x8 and (not fin or n > 125):
            self.send_close(1002, "bad control frame")
            raise _Closed()
        if n > MAX_MESSAGE:
            self.send_close(1009, "message too big")
            raise _Closed()
        mask = self.read_exact(4)
        payload = self.read_exact(n)
        if n:
            # XOR with the repeated mask, fast: as big integers.
            full = (mask * (n // 4 + 1))[:n]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(full, "big")).to_bytes(n, "big")
        return bool(fin), opcode, payload

    def read_message(self):
        """The next data message (opcode, payload), answering control frames."""
        message_op, parts, size = None, [], 0
        while True:
            fin, opcode, payload = self.read_frame()
            if opcode == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1000
                self.send_close(code if code in (1000, 1001) else 1000)
                raise _Closed()
            if opcode in (OP_TEXT, OP_BINARY):
                if message_op is not None:
                    self.send_close(1002, "new message inside a fragmented one")
                    raise _Closed()
                message_op = opcode
            elif opcode == OP_CONT:
                if message_op is None:
                    self.send_close(1002, "continuation without a message")
                    raise _Closed()
            else:
                self.send_close(1002, "unknown opcode")
                raise _Closed()
            parts.append(payload)
            size += len(payload)
            if size > MAX_MESSAGE:
                self.send_close(1009, "message too big")
                raise _Closed()
            if fin:
                return message_op, b"".join(parts)

    def client_to_target(self):
        try:
            while True:
                opcode, data = self.read_message()
                if opcode != OP_BINARY:
                    self.send_close(1003, "the v4 protocol is binary")
                    break
                if not data:
                    continue
                channel, payload = data[0], data[1:]
                if channel == 0 and payload:
                    self.tcp.sendall(payload)
                # Anything on the error channel from a client is ignored.
        except (_Closed, OSError):
            pass
        finally:
            try:
                self.tcp.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def target_to_client(self):
        try:
            while True:
                data = self.tcp.recv(CHUNK)
                if not data:
                    break
                self.send_channel(0, data)
        except OSError:
            pass
        finally:
            self.send_close(1000)

    def run(self):
        prefix = struct.pack("<H", self.port)
        self.send_channel(0, prefix)
        self.send_channel(1, prefix)
        try:
            self.tcp = socket.create_connection((self.target_ip, self.target_port), timeout=10)
            self.tcp.settimeout(None)
            self.tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            self.send_channel(1, (
                f"error forwarding port {self.port} to pod: dial tcp4 "
                f"{self.target_ip}:{self.target_port}: {e.strerror or e}").encode())
            self.send_close(1000)
            return
        out = threading.Thread(target=self.target_to_client, daemon=True)
        out.start()
        self.client_to_target()
        out.join(timeout=30)
        try:
            self.tcp.close()
        except OSError:
            pass


def serve(handler, target_ip, target_port):
    """Speaks the port-forward WebSocket on `handler`'s connection, relayed to
    (target_ip, target_port); returns when the session ends."""
    problem = _check_upgrade(handler)
    if problem is not None:
        _status(handler, 400, "BadRequest", f"unable to upgrade connection: {problem}")
        return
    port = requested_port(handler)
    if port is None:
        _status(handler, 400, "BadRequest", "query parameter `ports` must be one port (1-65535)")
        return
    accept = base64.b64encode(
        hashlib.sha1((handler.headers["Sec-WebSocket-Key"].strip() + GUID).encode()).digest()
    ).decode()
    # Always HTTP/1.1 (a WebSocket upgrade is an HTTP/1.1 thing), whatever the
    # handler's `protocol_version` (http.server's default is HTTP/1.0).
    handler.wfile.write((
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n"
        f"Sec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n"
    ).encode())
    handler.wfile.flush()
    handler.close_connection = True
    try:
        handler.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    _Session(handler, target_ip, target_port, port).run()
