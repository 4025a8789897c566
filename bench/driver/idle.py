"""BENCH_IDLE_CONNS (10,000) idle keep-alive connections open while the
guard is measured (bench/README.md, "idle"), in the last round, on a
Django and a ledger-server of their own (started here, stopped after):

1. the guard (BENCH_CONNS connections, `--latency`) without them;
2. bench/driver/idle_client.py opens the connections and sends one guard
   request on each (for at most BENCH_IDLE_SETTLE s), then holds them;
3. the server's RSS (VmRSS, all its processes) with them open;
4. the guard again, while they stay open;
5. one more request on every connection still open: the answers prove the
   connections stayed open (or count those the server closed).

ledger-server's idle connections close after KEEP_ALIVE_SECONDS (5 s by
default); its server here runs with KEEP_ALIVE_SECONDS =
BENCH_IDLE_KEEP_ALIVE (120) so that they stay open without any traffic of
their own. Django's gunicorn sync workers do not keep connections alive:
each answers one request and closes it (its counts say so)."""

import json
import os
import subprocess
import sys
import time

from .accounting import vm_kb
from .common import BenchError, log
from . import procs
from .procs import STARTED, stop_group
from .storm_rates import lenient_check
from .wrk import wrk_argv

IDLE_LEDGER, IDLE_DJANGO = "ledger-idle", "django-idle"
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "idle_client.py")


def make(b, kind):
    p = b.cfg.port_base
    if kind == IDLE_DJANGO:
        s = b.django_server("big", p + 18)
    else:
        s = b.ledger_server("big", p + 17)
        s.env["KEEP_ALIVE_SECONDS"] = str(b.cfg.idle_keep_alive)
    s.name, s.kind = f"{kind}-big", kind
    s.log_path = os.path.join(b.logdir, f"{s.name}.log")
    return s


def rss_kb(server):
    return sum(vm_kb(p, "VmRSS") for p in server.pids())


def idle(b, rnd):
    for kind in (IDLE_DJANGO, IDLE_LEDGER) if rnd % 2 == 0 else (IDLE_LEDGER, IDLE_DJANGO):
        server = make(b, kind)
        b.servers[(kind, "big")] = server
        try:
            server.start()
            b.rec.sessions.add(server.proc.pid)
            one_server(b, rnd, kind, server)
        finally:
            if server.proc is not None:
                b.rec.sessions.discard(server.proc.pid)
            server.stop()
            del b.servers[(kind, "big")]


def _read_line(proc, prefix, timeout):
    """The client's next line starting with `prefix`, parsed."""
    import select

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        line = proc.stdout.readline().decode()
        if not line:
            break
        if line.startswith(prefix + " "):
            return json.loads(line[len(prefix) + 1 :])
    raise BenchError(f"the idle client printed no {prefix!r} line within {timeout:.0f}s (exit {proc.poll()}); "
                     f"stderr: {proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ''}")


def one_server(b, rnd, kind, server):
    cfg = b.cfg
    ledger = kind == IDLE_LEDGER
    check = b.rec.static_check if ledger else lenient_check(b)
    args = dict(path="/users/logout", file=b.files["guard_big"], mode="auth", cycle=1, expect_status=200,
                expect='{"message": "INVALID_USER"}')
    argv = wrk_argv(cfg, server, cfg.conns, cfg.guard_duration, args, latency=True, timeout=10)
    base = b.rec.measure(rnd, "idle_base", kind, "big", argv, cfg.guard_duration, check)
    rss_before = rss_kb(server)
    token = b.tokens.token(b.pop["big"]["guard"][0])
    req = os.path.join(b.dir, "idle-request.http")
    with open(req, "wb") as f:
        f.write(f"POST /users/logout HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: {token}\r\n"
                f"Content-Length: 0\r\n\r\n".encode())
    client = spawn_client([sys.executable, CLIENT, str(server.port), str(cfg.idle_conns), req, "200",
                           '{"message": "INVALID_USER"}', str(cfg.idle_settle)])
    b.rec.sessions.add(client.pid)
    try:
        ready = _read_line(client, "ready", cfg.idle_settle + 60)
        log(f"{b.name} r{rnd} idle {kind}: {ready['opened']} connections opened, {ready['answered']} answered in "
            f"{ready['seconds']:.1f}s; states {ready['states']}")
        rss_open = rss_kb(server)
        rec = b.rec.measure(rnd, "idle_guard", kind, "big", argv, cfg.guard_duration, check)
        rss_after = rss_kb(server)
        client.stdin.write(b"verify\n")
        client.stdin.flush()
        done = _read_line(client, "done", cfg.idle_settle + 30)
    finally:
        b.rec.sessions.discard(client.pid)
        if client.poll() is None:
            stop_group(client, grace=5)
        if client in STARTED:
            STARTED.remove(client)
    bad = ready["bad"] + done["verify"]["bad"]
    if bad:
        raise BenchError(f"{b.name} idle {kind}: {bad} unexpected answers on the idle connections: "
                         f"{done['bad_sample']}")
    kept = done["verify"]["answered"]
    if ledger and kept != cfg.idle_conns:
        raise BenchError(f"{b.name} idle {kind}: only {kept} of {cfg.idle_conns} connections answered on the same "
                         f"connection at the end: {done}")
    hwm, nproc = server.peak_rss_kb()
    rec.update(idle_ready=ready, idle_done=done, idle_kept=kept, rss_before_kb=rss_before, rss_open_kb=rss_open,
               rss_after_guard_kb=rss_after, peak_rss_kb=hwm, processes=nproc,
               keep_alive_s=cfg.idle_keep_alive if ledger else None, base_rps=base["rps"])
    lat, blat = rec["wrk"]["latency_us"], base["wrk"]["latency_us"]
    log(f"{b.name} r{rnd} idle {kind}: guard {base['rps']:.0f} → {rec['rps']:.0f} req/s with them open, p99 "
        f"{blat['p99'] / 1000:.2f} → {lat['p99'] / 1000:.2f} ms, socket errors {rec.get('socket_errors', 0)}; RSS "
        f"{rss_before / 1024:.1f} → {rss_open / 1024:.1f} MiB; {kept} still open and answering at the end")


def spawn_client(argv):
    """The idle client, as procs.spawn starts processes (a session of its
    own, recorded for the cleanup) but with pipes: its command comes on
    stdin, its counts on stdout."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    STARTED.append(p)
    if procs.PGID_FILE:
        with open(procs.PGID_FILE, "a") as f:
            f.write(f"{p.pid}\n")
    return p
