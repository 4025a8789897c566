"""Many idle keep-alive connections to one server (bench/driver/idle.py runs
this as a process of its own):

    python idle_client.py PORT CONNS REQUEST_FILE EXPECT_STATUS EXPECT SETTLE_S

opens CONNS connections (at most 500 connecting at once), sends one
request on each (REQUEST_FILE: the raw request bytes, HTTP/1.1 keep-alive)
and reads its answer, for at most SETTLE_S seconds; then prints one JSON
line (`ready`) and keeps the connections open, noticing any the server
closes. A line `verify` on stdin sends one more request on every
connection still open and reads the answers (at most SETTLE_S seconds),
prints the final JSON line (`done`) and exits. Every answer is checked
(status and a text its body contains); the counts say what happened."""

import json
import resource
import selectors
import socket
import sys
import time

MAX_CONNECTING = 500


class Conn:
    __slots__ = ("sock", "state", "buf", "sent")

    def __init__(self, sock):
        self.sock, self.state, self.buf, self.sent = sock, "connecting", b"", 0


def parse(buf):
    """(status, body, rest) of one complete answer at the start of buf, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    length = 0
    for line in head[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    if len(buf) < end + 4 + length:
        return None
    return int(head[0].split()[1]), buf[end + 4 : end + 4 + length], buf[end + 4 + length :]


class Client:
    def __init__(self, port, request, expect_status, expect):
        self.addr = ("127.0.0.1", port)
        self.request, self.expect_status, self.expect = request, expect_status, expect
        self.sel = selectors.EpollSelector()
        self.conns = []
        self.npending = 0  # connections connecting or waiting for an answer
        self.nconnecting = 0
        self.c = {"opened": 0, "connect_failed": 0, "answered": 0, "bad": 0, "bad_sample": None,
                  "closed_by_server": 0, "closed_while_waiting": 0, "reset": 0}

    def open_one(self):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(self.addr)
        c = Conn(s)
        self.conns.append(c)
        self.npending += 1
        self.nconnecting += 1
        self.sel.register(s, selectors.EVENT_WRITE, c)

    def close(self, c, why):
        if c.state in ("connecting", "connected", "waiting"):
            self.npending -= 1
        if c.state == "connecting":
            self.nconnecting -= 1
        self.sel.unregister(c.sock)
        c.sock.close()
        c.state = "closed"
        self.c[why] += 1

    def send(self, c):
        """Sends the request on a connection that is connected (state
        connecting: still counted pending) or idle."""
        if c.state == "idle":
            self.npending += 1
        try:
            c.sock.send(self.request)
            c.state, c.buf = "waiting", b""
            self.sel.modify(c.sock, selectors.EVENT_READ, c)
        except OSError:
            self.close(c, "reset")

    def on_event(self, c, mask):
        if c.state == "connecting":
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.close(c, "connect_failed")
                return
            self.c["opened"] += 1
            self.nconnecting -= 1
            c.state = "connected"
            self.send(c)
            return
        try:
            data = c.sock.recv(65536)
        except OSError:
            self.close(c, "reset")
            return
        if not data:
            self.close(c, "closed_while_waiting" if c.state == "waiting" else "closed_by_server")
            return
        if c.state != "waiting":
            return  # nothing is expected on an idle connection
        c.buf += data
        got = parse(c.buf)
        if got is None:
            return
        status, body, _ = got
        if status == self.expect_status and self.expect in body:
            self.c["answered"] += 1
        else:
            self.c["bad"] += 1
            self.c["bad_sample"] = self.c["bad_sample"] or f"{status} {body[:200]!r}"
        c.state, c.buf = "idle", b""
        self.npending -= 1

    def loop(self, until, stop_when_settled=True, stdin=False):
        while time.monotonic() < until:
            if stop_when_settled and not self.npending:
                return None
            for key, mask in self.sel.select(timeout=0.2):
                if key.data == "stdin":
                    line = sys.stdin.readline()
                    return line.strip() or "eof"
                self.on_event(key.data, mask)
        return None

    def open_all(self, n, settle):
        t0 = time.monotonic()
        deadline = t0 + settle
        while len(self.conns) < n and time.monotonic() < deadline:
            while len(self.conns) < n and self.nconnecting < MAX_CONNECTING:
                self.open_one()
            self.loop(min(deadline, time.monotonic() + 0.05), stop_when_settled=False)
        self.loop(deadline)
        return time.monotonic() - t0

    def counts(self, **extra):
        states = {}
        for c in self.conns:
            states[c.state] = states.get(c.state, 0) + 1
        return dict(self.c, states=states, **extra)


def main():
    port, n, req_file, expect_status, expect, settle = sys.argv[1:7]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(req_file, "rb") as f:
        request = f.read()
    cl = Client(int(port), request, int(expect_status), expect.encode())
    took = cl.open_all(int(n), float(settle))
    print("ready " + json.dumps(cl.counts(seconds=round(took, 3), nofile=hard)), flush=True)
    cl.sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    held0 = time.monotonic()
    cmd = cl.loop(float("inf"), stop_when_settled=False, stdin=True)
    held = time.monotonic() - held0
    cl.sel.unregister(sys.stdin)
    idle = [c for c in cl.conns if c.state == "idle"]
    before = dict(cl.c)
    t0 = time.monotonic()
    if cmd == "verify":
        for c in idle:
            cl.send(c)
        cl.loop(t0 + float(settle))
    second = {k: cl.c[k] - before[k] for k in ("answered", "bad", "closed_while_waiting", "reset")}
    print("done " + json.dumps(cl.counts(held_s=round(held, 1), open_before_verify=len(idle), verify=second,
                                         verify_s=round(time.monotonic() - t0, 3))), flush=True)


if __name__ == "__main__":
    main()
