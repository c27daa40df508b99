#!/usr/bin/env python3
"""A webhook receiver that misbehaves on purpose (issue 17), for test/t/073_hostile_receivers.pl.

One process, bound to 127.0.0.1 only, one thread per connection; each path is one way of being
broken. It speaks raw bytes over TCP (not http.server) because most of these replies are ones
no HTTP library would send. One request per connection; the connection is closed after it.

Usage:
    python3 hostile_receiver.py --port-file /path/port.txt [--watch-pid PID]

Paths (the query string is ignored; every request is counted per path):
    /ok               200, a small body
    /huge             200 announcing 100 MB and sending it as fast as the client reads
    /huge-slow        the same, 64 KiB every 100 ms (100 MB would take ~3 minutes)
    /bad-bytes        200, a body with NUL bytes and bytes that are not UTF-8
    /bad-retry-after  503 with "Retry-After: 1\\xff\\xc3" (not UTF-8, not a number)
    /nul-header       503 with a NUL byte inside a header line
    /endless-headers  a status line, then header lines as fast as the client reads
    /slow-headers     a status line, then one header line every 200 ms
    /silent           reads the request and never answers
    /close-mid        200 announcing 1000 bytes of body, sends 10, closes
    /redirect/301 (302, 307)   that status with "Location: /target"
    /target           where the redirects point (must never be requested)
    /bad-status       a reply with no HTTP status line
    /_stats           JSON: {"counts": {path: n}, "streams": {path: [{"sent": bytes,
                      "seconds": s, "client_gone": bool}]}} (not counted)

Everything is bounded: a stream stops after kMaxStreamSeconds or once the client is gone, so a
client that never hangs up cannot keep a thread for ever. Exits on SIGTERM/SIGINT, or once
--watch-pid is gone.
"""

import argparse
import json
import socket
import socketserver
import threading
import time

from receiver_process import serve_until_stopped

HOST = "127.0.0.1"
HUNDRED_MB = 100 * 1024 * 1024
PIECE = b"z" * 65536
MAX_STREAM_SECONDS = 30.0  # no reply keeps its thread longer than this


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.streams = {}

    def count(self, path):
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1

    def stream_done(self, path, sent, seconds, client_gone):
        with self.lock:
            self.streams.setdefault(path, []).append(
                {"sent": sent, "seconds": round(seconds, 3), "client_gone": client_gone})

    def snapshot(self):
        with self.lock:
            return {"counts": dict(self.counts), "streams": dict(self.streams)}


def read_request(sock):
    """Returns the request path, or None if the client went away first."""
    buf = b""
    deadline = time.monotonic() + 10
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline or len(buf) > 1 << 20:
            return None
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        if time.monotonic() > deadline:
            return None
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    parts = lines[0].split(b" ")
    target = parts[1].decode("latin-1") if len(parts) > 1 else "/"
    return target.split("?", 1)[0]


def reply(status_line, headers=(), body=b""):
    out = b"HTTP/1.1 " + status_line + b"\r\n"
    for h in headers:
        out += h + b"\r\n"
    out += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    return out + body


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(MAX_STREAM_SECONDS)
        state = self.server.state
        try:
            path = read_request(sock)
        except OSError:
            return
        if path is None:
            return
        if path == "/_stats":
            body = json.dumps(state.snapshot()).encode()
            sock.sendall(reply(b"200 OK", [b"Content-Type: application/json"], body))
            return
        state.count(path)
        try:
            self.answer(sock, path)
        except OSError:
            pass  # the client hung up: expected for most of these

    def answer(self, sock, path):
        if path == "/ok":
            sock.sendall(reply(b"200 OK", body=b'{"ok":true}'))
        elif path in ("/huge", "/huge-slow"):
            self.stream(sock, path, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % HUNDRED_MB,
                        PIECE, 0.1 if path == "/huge-slow" else 0, HUNDRED_MB)
        elif path == "/bad-bytes":
            sock.sendall(reply(b"200 OK", body=b"nul\x00byte \xff\xfe bad \xc3( utf8 \xe2\x82"))
        elif path == "/bad-retry-after":
            sock.sendall(reply(b"503 Service Unavailable", [b"Retry-After: 1\xff\xc3"], b"busy"))
        elif path == "/nul-header":
            sock.sendall(reply(b"503 Service Unavailable", [b"Retry-After: 1\x002"], b"busy"))
        elif path == "/endless-headers":
            self.stream(sock, path, b"HTTP/1.1 200 OK\r\n", b"X-Filler: " + b"h" * 1000 + b"\r\n",
                        0, 64 * 1024 * 1024)
        elif path == "/slow-headers":
            self.stream(sock, path, b"HTTP/1.1 200 OK\r\n", b"X-Slow: 1\r\n", 0.2, 1 << 20)
        elif path == "/silent":
            # Holds the connection until the client gives up (or the bound).
            start = time.monotonic()
            while time.monotonic() - start < MAX_STREAM_SECONDS:
                sock.settimeout(0.5)
                try:
                    if not sock.recv(1):
                        break
                except socket.timeout:
                    continue
            self.server.state.stream_done(path, 0, time.monotonic() - start, True)
        elif path == "/close-mid":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
            sock.shutdown(socket.SHUT_RDWR)
        elif path.startswith("/redirect/"):
            code = path.rsplit("/", 1)[1].encode()
            sock.sendall(reply(code + b" Moved", [b"Location: /target"], b"go elsewhere"))
        elif path == "/bad-status":
            sock.sendall(b"HELLO THERE, NOT HTTP\r\n\r\n")
        else:
            sock.sendall(reply(b"404 Not Found", body=b"no such behaviour"))

    def stream(self, sock, path, first, piece, gap, limit):
        """Sends `first`, then `piece` every `gap` seconds, up to `limit` bytes or the bound."""
        start = time.monotonic()
        sent = 0
        client_gone = False
        try:
            sock.sendall(first)
            sent = len(first)
            while sent < limit and time.monotonic() - start < MAX_STREAM_SECONDS:
                sock.sendall(piece)
                sent += len(piece)
                if gap:
                    time.sleep(gap)
        except OSError:
            client_gone = True
        self.server.state.stream_done(path, sent, time.monotonic() - start, client_gone)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser(description="hostile webhook receiver (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--watch-pid", type=int)
    args = ap.parse_args()

    server = Server((HOST, args.port), Handler)
    server.state = State()
    serve_until_stopped(server, args.port_file, args.watch_pid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
