"""The process side shared by the test receivers chaos_receiver.py and hostile_receiver.py:
serve on a thread, publish the port, and stop on SIGTERM/SIGINT or once the process that
started the receiver (--watch-pid) is gone, so that a test that dies leaves no receiver behind.
Python 3 standard library only; imported from the receivers' own directory."""

import os
import signal
import threading


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_port_file(path, port):
    """Writes the port atomically: a reader never sees a partial file."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def serve_until_stopped(server, port_file, watch_pid=None):
    """Serves `server` (a socketserver) until SIGTERM/SIGINT or watch_pid's exit, then closes it."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    write_port_file(port_file, server.server_address[1])
    while not stop.wait(0.5):
        if watch_pid and not pid_alive(watch_pid):
            break
    server.shutdown()
    server.server_close()
