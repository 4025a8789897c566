"""One server under test (Django's gunicorn, ledger-server, the floor):
started in a session of its own, timed to its first answer, its peak RSS
read before it stops; and one plain HTTP request to it."""

import http.client
import os
import socket
import subprocess
import time

from .accounting import session_pids, vm_kb
from .common import BenchError
from .procs import spawn, stop_group


def answered(port):
    """True once something answers an HTTP request on the port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(2)
            s.sendall(b"POST /users/logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False


def port_free(port):
    with socket.socket() as s:
        # SO_REUSEADDR as the servers bind: only a listener makes it busy, not TIME_WAIT
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Server:
    def __init__(self, name, kind, port, argv, env, cwd, logdir):
        self.name, self.kind, self.port = name, kind, port
        self.argv, self.env, self.cwd = argv, env, cwd
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=120):
        if not port_free(self.port):
            raise BenchError(f"port {self.port} for {self.name} is in use (set BENCH_PORT_BASE)")
        logf = open(self.log_path, "ab")
        t0 = time.monotonic()
        self.proc = spawn(self.argv, env=self.env, cwd=self.cwd, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        while True:
            if answered(self.port):
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            if time.monotonic() - t0 > timeout:
                raise BenchError(f"{self.name} did not answer within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.005)

    def check_alive(self):
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"{self.name} is not running:\n{self.log_tail()}")

    def pids(self):
        return session_pids(self.proc.pid) if self.proc else []

    def peak_rss_kb(self):
        """VmHWM summed over the server's processes (gunicorn: the master
        and every worker)."""
        pids = self.pids()
        return sum(vm_kb(p, "VmHWM") for p in pids), len(pids)

    def stop(self):
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return "(no log)"


def one_request(server, path, headers=None, body=None, method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
