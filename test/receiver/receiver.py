#!/usr/bin/env python3
"""Test webhook receiver for pg_eventhooks (Python 3.11 standard library only).

A real HTTP/1.1 server, bound to 127.0.0.1 only, that records every request it
gets and answers according to per-path rules.  Used by the TAP tests, the demo
and functional benchmarks (it is not the benchmark target; nginx is).

Usage:
    python3 receiver.py --port 0 --port-file /path/port.txt \
        [--log /path/requests.jsonl] [--quiet] [--watch-pid PID]
        [--tls-cert cert.pem --tls-key key.pem]

    --port 0 picks a free port; the chosen port is written to --port-file
    (atomically: temp file + rename) once the socket is listening.  Serves
    until SIGTERM/SIGINT, then exits 0.  --watch-pid PID also makes it exit
    (0) once process PID is gone, so a killed test leaves no receiver behind.
    --tls-cert/--tls-key also serve HTTPS on the same port: a connection whose
    first byte starts a TLS handshake is served over TLS with that certificate,
    others (the control API of the test helpers) stay plain HTTP.

Recording: every request whose path does not start with /_control (any
method) is recorded as
    {"seq": n, "method": ..., "path": ... (as sent, query string included),
     "headers": {lowercased name: value, repeated headers joined by ", "},
     "body": text (UTF-8, invalid bytes replaced), "received_at": unix float,
     "status": status answered (null if dropped), "dropped": bool}
in memory and, with --log, as one JSON line per request (flushed each line).
A request is recorded when it has been read, before any delay_ms sleep, so
in-flight (delayed) requests are already visible.

Rules (per path; the path is matched exactly, then without its query string).
Default answer: 200, body {"ok":true}.
    {"path": "/hook", "status": 200, "delay_ms": 0, "retry_after": null,
     "fail_first": 0, "fail_status": 500, "body": "...", "drop": false}
    - the first fail_first requests to the path (counted since the rule was
      set) fail: with fail_status, or by dropping the connection if drop is
      true; later requests get status.
    - with fail_first 0, drop: true drops every request.
    - delay_ms sleeps before answering (or dropping).
    - retry_after (a string) is sent as Retry-After on failing answers, and
      on status answers too when status is not 2xx.
    - "drop" closes the connection without writing any response.

Control API (JSON in and out; never recorded):
    POST   /_control/rules        body: a rule (with "path"); replaces that
                                  path's rule and resets its fail_first count
    GET    /_control/rules        {path: rule + "hits"}
    DELETE /_control/rules        clear all rules
    GET    /_control/requests[?path=/hook]   array of recorded requests
    GET    /_control/count[?path=/hook]      {"count": n}
    DELETE /_control/requests     clear the record (seq keeps increasing)
    GET    /_control/health       {"ok": true}
"""

import argparse
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
DEFAULT_BODY = b'{"ok":true}'
RULE_KEYS = {"path", "status", "delay_ms", "retry_after", "fail_first",
             "fail_status", "body", "drop"}


class State:
    def __init__(self, log_path):
        self.lock = threading.Lock()
        self.rules = {}      # path -> rule dict
        self.hits = {}       # path -> requests seen since the rule was set
        self.records = []
        self.seq = 0
        self.log = open(log_path, "a", encoding="utf-8") if log_path else None

    def record(self, rec):
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.records.append(rec)
            if self.log is not None:
                self.log.write(json.dumps(rec, ensure_ascii=False) + "\n")
                self.log.flush()

    def decide(self, path):
        """Return (rule, failing) for one request to path."""
        with self.lock:
            key = path
            if key not in self.rules:
                key = urlsplit(path).path
            rule = self.rules.get(key)
            if rule is None:
                return None, False
            n = self.hits[key]
            self.hits[key] = n + 1
            return rule, n < rule["fail_first"]


def path_matches(rec_path, wanted):
    return rec_path == wanted or urlsplit(rec_path).path == wanted


def normalize_rule(raw):
    if not isinstance(raw, dict):
        raise ValueError("rule must be a JSON object")
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise ValueError("unknown rule keys: %s" % ", ".join(sorted(unknown)))
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError('"path" must be a string starting with "/"')
    if path.startswith("/_control"):
        raise ValueError("cannot set a rule for a control path")
    retry_after = raw.get("retry_after")
    if retry_after is not None:
        retry_after = str(retry_after)
    body = raw.get("body")
    if body is None:
        body = DEFAULT_BODY.decode()
    elif not isinstance(body, str):
        body = json.dumps(body)
    rule = {
        "status": int(raw.get("status", 200)),
        "delay_ms": int(raw.get("delay_ms", 0) or 0),
        "retry_after": retry_after,
        "fail_first": int(raw.get("fail_first", 0) or 0),
        "fail_status": int(raw.get("fail_status", 500) or 500),
        "body": body,
        "drop": bool(raw.get("drop", False)),
    }
    for k in ("status", "fail_status"):
        if not 100 <= rule[k] <= 999:
            raise ValueError("%s out of range" % k)
    return path, rule


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "eventhooks-test-receiver/1"

    def version_string(self):
        return self.server_version
    disable_nagle_algorithm = True
    timeout = 600  # idle keep-alive connections are closed after this

    # Any method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ...) lands here.
    def __getattr__(self, name):
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def setup(self):
        # Peek (in this connection's thread) whether the client starts a TLS handshake
        # (a record of type 22); plain HTTP starts with a method name.
        ctx = self.server.tls_context
        if ctx is not None and self.request.recv(1, socket.MSG_PEEK) == b"\x16":
            self.request = ctx.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("receiver: %s %s\n" % (self.address_string(), fmt % args))

    # --- request body -------------------------------------------------
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after chunk
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        return b""

    # --- responses ----------------------------------------------------
    def _send(self, status, body, content_type="application/json", extra=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, status, obj):
        self._send(status, json.dumps(obj, ensure_ascii=False))

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- dispatch -----------------------------------------------------
    def _dispatch(self):
        received_at = time.time()
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send_json(400, {"error": "bad request body"})
            return
        try:
            if self.path.startswith("/_control"):
                self._control(body)
            else:
                self._hook(body, received_at)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _hook(self, body, received_at):
        rule, failing = self.server.state.decide(self.path)
        extra = []
        if rule is None:
            status, resp, drop, delay = 200, DEFAULT_BODY, False, 0
        else:
            delay = rule["delay_ms"]
            if failing:
                drop = rule["drop"]
                status = rule["fail_status"]
                resp = json.dumps({"ok": False, "status": status})
                if rule["retry_after"] is not None:
                    extra.append(("Retry-After", rule["retry_after"]))
            else:
                drop = rule["drop"] and rule["fail_first"] == 0
                status = rule["status"]
                resp = rule["body"]
                if rule["retry_after"] is not None and not 200 <= status < 300:
                    extra.append(("Retry-After", rule["retry_after"]))

        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers else value

        self.server.state.record({
            "seq": 0,
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "body": body.decode("utf-8", errors="replace"),
            "received_at": received_at,
            "status": None if drop else status,
            "dropped": drop,
        })

        if delay > 0:
            time.sleep(delay / 1000.0)
        if drop:
            self._drop()
            return
        self._send(status, resp, extra=extra)

    def _control(self, body):
        state = self.server.state
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        want = query.get("path", [None])[0]
        route = url.path.rstrip("/")
        method = self.command

        if route == "/_control/health" and method in ("GET", "HEAD"):
            self._send_json(200, {"ok": True})
        elif route == "/_control/rules" and method in ("POST", "PUT"):
            try:
                path, rule = normalize_rule(json.loads(body.decode("utf-8") or "null"))
            except (ValueError, TypeError) as e:
                self._send_json(400, {"error": str(e)})
                return
            with state.lock:
                state.rules[path] = rule
                state.hits[path] = 0
            self._send_json(200, {"ok": True, "path": path, "rule": rule})
        elif route == "/_control/rules" and method == "GET":
            with state.lock:
                out = {p: dict(r, hits=state.hits[p]) for p, r in state.rules.items()}
            self._send_json(200, out)
        elif route == "/_control/rules" and method == "DELETE":
            with state.lock:
                state.rules.clear()
                state.hits.clear()
            self._send_json(200, {"ok": True})
        elif route == "/_control/requests" and method == "GET":
            with state.lock:
                recs = list(state.records)
            if want is not None:
                recs = [r for r in recs if path_matches(r["path"], want)]
            self._send_json(200, recs)
        elif route == "/_control/requests" and method == "DELETE":
            with state.lock:
                state.records.clear()
            self._send_json(200, {"ok": True})
        elif route == "/_control/count" and method == "GET":
            with state.lock:
                if want is None:
                    n = len(state.records)
                else:
                    n = sum(1 for r in state.records if path_matches(r["path"], want))
            self._send_json(200, {"count": n})
        else:
            self._send_json(404, {"error": "no such control endpoint: %s %s" % (method, url.path)})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True
    tls_context = None

    def handle_error(self, request, client_address):
        # A client that rejects our certificate ends the handshake: expected in TLS tests.
        if isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            if not self.quiet:
                sys.stderr.write("receiver: %s: %s\n" % (client_address, sys.exc_info()[1]))
            return
        super().handle_error(request, client_address)


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description="pg_eventhooks test webhook receiver (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--port-file", help="write the listening port here (atomically)")
    ap.add_argument("--log", help="append one JSON line per recorded request")
    ap.add_argument("--quiet", action="store_true", help="no per-request log on stderr")
    ap.add_argument("--watch-pid", type=int, help="exit when this process no longer exists")
    ap.add_argument("--tls-cert", help="PEM certificate (chain) for HTTPS on the same port")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")

    server = Server((HOST, args.port), Handler)
    server.state = State(args.log)
    server.quiet = args.quiet
    if args.tls_cert:
        server.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.tls_context.load_cert_chain(args.tls_cert, args.tls_key)
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    if args.port_file:
        write_port_file(args.port_file, port)
    if not args.quiet:
        sys.stderr.write("receiver: listening on http://%s:%d\n" % (HOST, port))
        sys.stderr.flush()

    ticks = 0
    while not stop.wait(0.1):
        ticks += 1
        if args.watch_pid and ticks % 5 == 0 and not pid_alive(args.watch_pid):
            break
    server.shutdown()
    server.server_close()
    if server.state.log is not None:
        server.state.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
