#!/usr/bin/env python3
"""Chaos webhook receiver of test/t/080_faults_under_load.pl (Python 3 standard library only).

On 127.0.0.1, HTTP/1.1 with keep-alive. Every POST outside /_control draws its fate from
random.Random(--seed) under a lock, in arrival order:
    --p-fail (0.20)  500 at once
    --p-late (0.05)  200, but only after --late-sec (3 s): past the trigger's timeout_sec, so
                     the worker has given up on it (it counts as a failure, never as received)
    --p-drop (0.05)  connection closed without any response
    the rest         200 at once

Each request, once answered (or dropped), is appended to --log as one JSON line, flushed at
once (the test reads the file while the receiver runs):
    {"id": <body "id">, "retry": <delivery_info.current_retry>, "outcome": "ok|fail|late|drop",
     "ok": <true only if a 2xx was written within the timeout>, "received_at": <unix s>,
     "answered_at": <unix s>}
"ok" is false for "ok" answers whose write failed (the worker was gone).

GET /_control/health answers {"ok": true}; GET /_control/count the number of lines logged.

Usage: chaos_receiver.py --port-file F --log F [--seed N] [--p-fail P] [--p-late P]
           [--p-drop P] [--late-sec S] [--watch-pid PID]
Exits on SIGTERM/SIGINT, or by itself once --watch-pid's process is gone.
"""

import argparse
import json
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from receiver_process import serve_until_stopped

HOST = "127.0.0.1"
OK_BODY = b'{"ok":true}'


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.rng = random.Random(args.seed)
        self.p_fail, self.p_late, self.p_drop = args.p_fail, args.p_late, args.p_drop
        self.log = open(args.log, "a", encoding="utf-8")
        self.count = 0

    def draw(self):
        with self.lock:
            u = self.rng.random()
        if u < self.p_fail:
            return "fail"
        if u < self.p_fail + self.p_late:
            return "late"
        if u < self.p_fail + self.p_late + self.p_drop:
            return "drop"
        return "ok"

    def record(self, rec):
        line = json.dumps(rec) + "\n"
        with self.lock:
            self.log.write(line)
            self.log.flush()
            self.count += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 600

    def log_message(self, fmt, *args):
        pass

    def _answer(self, status, body=OK_BODY):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        state = self.server.state
        if self.path == "/_control/health":
            self._answer(200)
        elif self.path == "/_control/count":
            with state.lock:
                n = state.count
            self._answer(200, b'{"count": %d}' % n)
        else:
            self._answer(404, b'{"error": "unknown"}')

    def do_POST(self):
        received_at = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            doc = json.loads(body)
            event_id = doc.get("id")
            retry = doc.get("delivery_info", {}).get("current_retry")
        except (ValueError, AttributeError):
            event_id, retry = None, None
        outcome = self.server.state.draw()
        ok = False
        try:
            if outcome == "ok":
                self._answer(200)
                ok = True
            elif outcome == "fail":
                self._answer(500, b'{"ok":false}')
            elif outcome == "late":
                time.sleep(self.server.late_sec)
                self._answer(200)
            else:  # drop: close without writing anything
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        except OSError:  # the client is gone (worker killed, timed out)
            self.close_connection = True
        self.server.state.record({
            "id": event_id, "retry": retry, "outcome": outcome, "ok": ok,
            "received_at": received_at, "answered_at": time.time()})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="chaos webhook receiver (127.0.0.1 only)")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--p-fail", type=float, default=0.20)
    ap.add_argument("--p-late", type=float, default=0.05)
    ap.add_argument("--p-drop", type=float, default=0.05)
    ap.add_argument("--late-sec", type=float, default=3.0)
    ap.add_argument("--watch-pid", type=int)
    args = ap.parse_args()

    server = Server((HOST, 0), Handler)
    server.state = State(args)
    server.late_sec = args.late_sec

    serve_until_stopped(server, args.port_file, args.watch_pid)
    server.state.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
