#!/usr/bin/env python3
"""Webhook receiver of bench/fairness.sh (Python 3 standard library only): one flaky webhook
next to a healthy one, on 127.0.0.1, HTTP/1.1 with keep-alive.

    /flaky    seeded random draw per request, in arrival order:
                  20%  500 at once
                   5%  answered 200 only after --delay-sec (4 s), past the trigger's 3 s
                       timeout, so the worker has given up on it before the answer
                   3%  connection dropped (closed without any response)
                  72%  200 at once
    /healthy  200 at once
    anything else: 404 at once

The draws come from random.Random(--seed) under a lock, in the order requests arrive, so two
runs answer the same sequence of outcomes (which event gets which outcome depends on timing).

Each request is kept in memory as one record; GET /_control/dump writes them all to --log as
tab-separated lines and answers the count:
    path  webhook-id  current_retry  outcome  received_at  answered_at
outcome: ok | 500 | late (200 after the delay) | drop | 404; times are unix seconds (this
machine's clock). answered_at is when the answer was written (or the connection closed).
GET /_control/count answers the number of requests so far. Never records /_control.

Usage: flaky_receiver.py --port-file F --log F [--seed N] [--delay-sec S] [--watch-pid PID]
Exits on SIGTERM/SIGINT, or by itself once --watch-pid's process is gone.
"""

import argparse
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
OK_BODY = b'{"ok":true}'
RETRY_RE = re.compile(rb'"current_retry"\s*:\s*(\d+)')


class State:
    def __init__(self, seed, p500, plate, pdrop):
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.p500, self.plate, self.pdrop = p500, plate, pdrop
        self.records = []

    def draw(self):
        with self.lock:
            u = self.rng.random()
        if u < self.p500:
            return "500"
        if u < self.p500 + self.plate:
            return "late"
        if u < self.p500 + self.plate + self.pdrop:
            return "drop"
        return "ok"

    def record(self, rec):
        with self.lock:
            self.records.append(rec)


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
        if self.path == "/_control/count":
            with state.lock:
                n = len(state.records)
            self._answer(200, b'{"count": %d}' % n)
        elif self.path == "/_control/dump":
            with state.lock:
                recs = list(state.records)
            with open(self.server.log_path, "w", encoding="utf-8") as f:
                for r in recs:
                    f.write("\t".join(str(x) for x in r) + "\n")
            self._answer(200, b'{"count": %d}' % len(recs))
        else:
            self._answer(404, b'{"error": "unknown"}')

    def do_POST(self):
        received_at = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        m = RETRY_RE.search(body)
        retry = int(m.group(1)) if m else -1
        hook_id = self.headers.get("webhook-id", "-")
        path = self.path
        state = self.server.state
        if path == "/flaky":
            outcome = state.draw()
        elif path == "/healthy":
            outcome = "ok"
        else:
            outcome = "404"
        try:
            if outcome == "ok":
                self._answer(200)
            elif outcome == "500":
                self._answer(500, b'{"ok":false}')
            elif outcome == "404":
                self._answer(404, b'{"ok":false}')
            elif outcome == "late":
                time.sleep(self.server.delay_sec)
                self._answer(200)
            else:  # drop: close without writing anything
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        state.record((path, hook_id, retry, outcome, "%.6f" % received_at, "%.6f" % time.time()))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--delay-sec", type=float, default=4.0)
    ap.add_argument("--p500", type=float, default=0.20)
    ap.add_argument("--plate", type=float, default=0.05)
    ap.add_argument("--pdrop", type=float, default=0.03)
    ap.add_argument("--watch-pid", type=int)
    args = ap.parse_args()

    server = Server((HOST, 0), Handler)
    server.state = State(args.seed, args.p500, args.plate, args.pdrop)
    server.log_path = args.log
    server.delay_sec = args.delay_sec

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    tmp = "%s.tmp" % args.port_file
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.port_file)

    while not stop.wait(0.5):
        if args.watch_pid and not pid_alive(args.watch_pid):
            break
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
