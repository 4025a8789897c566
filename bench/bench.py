"""The benchmark driver behind bench/run.sh (which builds everything first
and runs this file with the Django oracle's Python). See bench/README.md.

For each backend it seeds four databases (Django and ledger-server each get
a copy of a big one and of a small one), then plays `rounds` rounds; every
round starts fresh servers (timing their start), checks that both servers
give identical answers to each workload's request, runs every workload on
every server with wrk (the order of Django and ledger-server alternating
between rounds), records the peak RSS of each server and stops them. The
medians over rounds and their ratios go to bench/results/<backend>.json and
bench/RESULTS.md (report.py).
"""

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import report  # noqa: E402
import seed  # noqa: E402

LUA = os.path.join(HERE, "wrk", "bench.lua")
CORES = os.cpu_count() or 1
HZ = os.sysconf("SC_CLK_TCK")

# SQLITE_MMAP_SIZE of the "ledger-mmap" servers: more than the big database
# file, so all of it is mapped.
MMAP_SIZE = 1 << 30

REJECT_BODY = b'{"message": "JWT_SIGNATURE_ERROR"}'
GUARD_BODY = b'{"message": "INVALID_USER"}'
LOGOUT_BODY = b'{"message": "LOGOUT_SUCCESS"}'


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def env_int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BenchError(f"{name}={raw!r} is not an integer")


class Config:
    def __init__(self, quick):
        q = quick
        self.quick = quick
        self.rounds = env_int("BENCH_ROUNDS", 1 if q else 3)
        self.duration = env_int("BENCH_DURATION", 2 if q else 6)
        self.login_duration = env_int("BENCH_LOGIN_DURATION", 4 if q else 20)
        self.storm_duration = env_int("BENCH_STORM_DURATION", 3 if q else 8)
        # guard runs: shorter and twice as many (big, small, small, big, and
        # again): a median of four per size and round shrugs off the one
        # run in several that this machine's neighbours slow by a third
        self.guard_duration = env_int("BENCH_GUARD_DURATION", 2 if q else 3)
        self.guard_passes = env_int("BENCH_GUARD_PASSES", 1 if q else 2)
        self.users = env_int("BENCH_USERS", 100_000 if q else 1_000_000)
        self.small_users = env_int("BENCH_SMALL_USERS", 1000)
        self.conns = env_int("BENCH_CONNS", 32)
        self.threads = env_int("BENCH_WRK_THREADS", 1)
        self.login_conns = env_int("BENCH_LOGIN_CONNS", 4 * CORES)
        self.storm_guard_conns = env_int("BENCH_STORM_GUARD_CONNS", 4)
        self.storm_guard_rate = env_int("BENCH_STORM_GUARD_RATE", 200)
        self.parallel_checks = env_int("BENCH_PARALLEL_CHECKS", 2 if q else 6)
        self.burst = env_int("BENCH_BURST", 900)
        self.bursts = env_int("BENCH_BURSTS", 1 if q else 3)
        self.django_bursts = env_int("BENCH_DJANGO_BURSTS", 1)
        self.port_base = env_int("BENCH_PORT_BASE", 18100)
        self.django_workers = env_int("BENCH_DJANGO_WORKERS", 2 * CORES + 1)
        self.quiet_wait = env_int("BENCH_QUIET_WAIT", 0 if q else 30)
        self.secret = os.environ.get("BENCH_SECRET_KEY", "ledger-bench-secret-key")
        self.keep = os.environ.get("BENCH_KEEP", "") not in ("", "0")
        self.rust_log = os.environ.get("BENCH_RUST_LOG") or None
        self.access_log = os.environ.get("BENCH_ACCESS_LOG", "") not in ("", "0")
        self.pg = seed.Postgres(
            os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            os.environ.get("BENCH_PG_PORT", "5432"),
            os.environ.get("BENCH_PG_USER", "postgres"),
            os.environ.get("BENCH_PG_PASSWORD", ""),
        )
        small_logout = sum(1 for u in range(1, self.small_users + 1) if seed.is_logout(u))
        if self.burst > small_logout:
            raise BenchError(f"BENCH_BURST={self.burst} exceeds the {small_logout} sessions of the small database")
        if self.burst % self.threads:
            raise BenchError("BENCH_BURST must be a multiple of BENCH_WRK_THREADS")
        for name in ("rounds", "duration", "login_duration", "storm_duration", "guard_duration", "guard_passes",
                     "conns", "threads", "bursts"):
            if getattr(self, name) < 1:
                raise BenchError(f"{name} must be at least 1")

    def as_dict(self):
        d = {k: v for k, v in self.__dict__.items() if k != "pg"}
        d["pg"] = f"{self.pg.user}@{self.pg.host}:{self.pg.port}"
        return d


# processes --------------------------------------------------------------------

STARTED = []  # every Popen we made, for the cleanup
PGID_FILE = None


def spawn(argv, *, env=None, cwd=None, stdout=None, stderr=None):
    p = subprocess.Popen(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True
    )
    STARTED.append(p)
    if PGID_FILE:
        with open(PGID_FILE, "a") as f:  # bench/run.sh kills these if this driver dies hard
            f.write(f"{p.pid}\n")
    return p


def stop_group(p, grace=15.0):
    """SIGTERM to the process group we created, SIGKILL after `grace`."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # leftovers of the group (workers)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def cleanup_all():
    for p in reversed(STARTED):
        stop_group(p, grace=5)
    STARTED.clear()


def read_stat(pid):
    """(comm, session id, own cpu ticks, children's cpu ticks) of a pid."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read().decode("latin-1")
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): session is field 6, utime..cstime 14..17
    return comm, int(fields[3]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def session_pids(sid):
    out = []
    for pid in all_pids():
        try:
            if read_stat(pid)[1] == sid:
                out.append(pid)
        except (OSError, ValueError, IndexError):
            pass
    return out


def read_bytes(sid):
    """Bytes the processes of session `sid` have had read from storage
    (`read_bytes` of /proc/PID/io: what the page cache did not hold)."""
    total = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/io") as f:
                for line in f:
                    if line.startswith("read_bytes:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def vm_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class CpuMeter:
    """How much CPU went to processes that are not part of the benchmark
    (other users of the machine) while a measurement ran, in cores. Ours:
    the servers, wrk and this driver (by session) and PostgreSQL (with its
    reaped backends)."""

    def __init__(self, sessions):
        self.sessions = sessions

    def snapshot(self):
        """(time, busy ticks, steal ticks, our ticks, ticks by session, postgres ticks)."""
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        busy = cpu[0] + cpu[1] + cpu[2]
        steal = cpu[7] if len(cpu) > 7 else 0
        ours = pg = 0
        by_sid = {}
        mine = os.getsid(0)
        sessions = self.sessions()
        for pid in all_pids():
            try:
                comm, sid, own, children = read_stat(pid)
            except (OSError, ValueError, IndexError):
                continue
            if comm == "postgres":
                pg += own + children
            elif sid in sessions or sid == mine:
                ours += own
                by_sid[sid] = by_sid.get(sid, 0) + own
        return time.monotonic(), busy, steal, ours + pg, by_sid, pg

    @staticmethod
    def foreign(a, b):
        dt = b[0] - a[0]
        if dt <= 0:
            return 0.0, 0.0
        return max(0.0, (b[1] - a[1]) - (b[3] - a[3])) / HZ / dt, (b[2] - a[2]) / HZ / dt


# servers ----------------------------------------------------------------------


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


def one_request(server, path, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# wrk --------------------------------------------------------------------------


def wrk_argv(cfg, server, conns, duration, args, *, latency=False, timeout=10, threads=None):
    threads = threads or cfg.threads
    argv = ["wrk", "-t", str(threads), "-c", str(max(conns, threads)), "-d", f"{duration}s", "--timeout", f"{timeout}s"]
    if latency:
        argv.append("--latency")
    argv += ["-s", LUA, server.url, "--", f"threads={threads}"]
    argv += [f"{k}={v}" for k, v in args.items()]
    return argv


def wrk_start(argv, logdir, name="wrk.out"):
    out = open(os.path.join(logdir, name), "w+b")
    return spawn(argv, stdout=out, stderr=subprocess.STDOUT), out


def wrk_finish(p, out, duration):
    try:
        p.wait(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        stop_group(p, grace=2)
        raise BenchError(f"wrk did not finish within {duration + 60}s")
    out.seek(0)
    text = out.read().decode("utf-8", "replace")
    out.close()
    STARTED.remove(p)
    if p.returncode != 0:
        raise BenchError(f"wrk failed ({p.returncode}):\n{text}")
    for line in text.splitlines():
        if line.startswith("BENCHJSON "):
            return json.loads(line[len("BENCHJSON ") :])
    raise BenchError(f"wrk printed no result:\n{text}")


# the benchmark ----------------------------------------------------------------


class Backend:
    """One database engine: its four databases, servers and token supply."""

    def __init__(self, name, cfg, tmp, bins, oracle):
        self.name, self.cfg, self.tmp, self.bins, self.oracle = name, cfg, tmp, bins, oracle
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.logdir = os.path.join(self.dir, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        self.tokens = seed.Tokens(cfg.secret)
        self.pw_hash = None
        self.pop = {"big": seed.population(cfg.users), "small": seed.population(cfg.small_users)}
        self.cursor = {}  # (server kind, "big") -> next unused logout session
        self.runs, self.servers_seen = [], []
        self.db = {}  # (kind, size) -> sqlite path or postgres db name
        self.seed_info = {}
        self.servers = {}
        self.bcrypt = []  # one bcrypt measurement before each round
        self.lookups = []  # bench/probes' lookup_cost after each round, per database size
        self.sessions = set()
        self.meter = CpuMeter(lambda: self.sessions)
        self.pg_info = None  # PostgreSQL: shared_buffers and the big database's relation sizes
        self._wal_con = None  # PostgreSQL: the connection that reads the WAL position

    # databases
    def django_migrate_env(self, db):
        env = clean_env()
        env["REF_SECRET_KEY"] = self.cfg.secret
        if self.name == "sqlite":
            env["REF_DB_ENGINE"], env["REF_DB_NAME"] = "sqlite", db
        else:
            env.update(REF_DB_ENGINE="postgresql", REF_DB_NAME=db, REF_DB_HOST=self.cfg.pg.host,
                       REF_DB_PORT=str(self.cfg.pg.port), REF_DB_USER=self.cfg.pg.user,
                       REF_DB_PASSWORD=self.cfg.pg.password)
        return env

    def prepare(self):
        self.pw_hash = seed.password_hash()
        self.tokens.self_check()
        for size, n in (("big", self.cfg.users), ("small", self.cfg.small_users)):
            t0 = time.monotonic()
            if self.name == "sqlite":
                dj = os.path.join(self.dir, f"django-{size}.sqlite3")
                le = os.path.join(self.dir, f"ledger-{size}.sqlite3")
                run_checked([os.path.join(self.oracle, "run.sh"), "migrate"], env=self.django_migrate_env(dj))
                counts = seed.seed_sqlite(dj, n, self.tokens, self.pw_hash)
                shutil.copyfile(dj, le)
            else:
                dj, le = f"bench_django_{size}", f"bench_ledger_{size}"
                self.cfg.pg.create(dj)
                run_checked([os.path.join(self.oracle, "run.sh"), "migrate"], env=self.django_migrate_env(dj))
                counts = self.cfg.pg.seed(dj, n, self.tokens, self.pw_hash)
                self.cfg.pg.create(le, template=dj)
            self.db[("django", size)], self.db[("ledger", size)] = dj, le
            self.seed_info[size] = {"users": counts[0], "tokens": counts[1], "seconds": round(time.monotonic() - t0, 1)}
            log(f"{self.name}: seeded {size}: {counts[0]} users, {counts[1]} tokens rows in {time.monotonic() - t0:.1f}s (both copies)")
        self.pg_info = self.pg_sizes()
        for kind in ("django", "ledger"):
            self.cursor[kind] = 0
        # request files that do not change
        self.files = {}
        big, small = self.pop["big"], self.pop["small"]
        self.files["reject"] = self.write_lines("reject.txt", [self.tokens.bad_signature(u) for u in big["guard"][:1000]])
        self.files["guard_big"] = self.write_lines("guard-big.txt", [self.tokens.token(u) for u in big["guard"]])
        self.files["guard_small"] = self.write_lines("guard-small.txt", [self.tokens.token(u) for u in small["guard"]])
        self.files["login"] = self.write_lines("login.txt", [seed.email(u) for u in big["login"]])
        self.small_burst = small["logout"][: self.cfg.burst]
        self.files["burst_small"] = self.write_lines("burst-small.txt", [self.tokens.token(u) for u in self.small_burst])
        self.filler = self.tokens.bad_signature(big["guard"][0])

    def drop(self):
        if self._wal_con is not None:
            self._wal_con.close()
            self._wal_con = None
        if self.name == "postgres" and not self.cfg.keep:
            for db in self.db.values():
                try:
                    self.cfg.pg.drop(db)
                except Exception as e:  # noqa: BLE001 - cleanup must go on
                    log(f"could not drop {db}: {e}")

    def write_lines(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def add_tokens(self, kind, uids):
        db = self.db[(kind, "small")]
        if self.name == "sqlite":
            seed.sqlite_add_tokens(db, uids, self.tokens)
        else:
            self.cfg.pg.add_tokens(db, uids, self.tokens)

    def token_count(self, kind, uids):
        db = self.db[(kind, "small")]
        if self.name == "sqlite":
            return seed.sqlite_token_count(db, uids)
        return self.cfg.pg.token_count(db, uids)

    # servers
    def make_servers(self):
        cfg, p = self.cfg, self.cfg.port_base
        venv_env = clean_env()
        ports = {("django", "big"): p + 1, ("ledger", "big"): p + 2, ("django", "small"): p + 3, ("ledger", "small"): p + 4}
        for (kind, size), port in ports.items():
            db = self.db[(kind, size)]
            if kind == "django":
                env = self.django_migrate_env(db)
                env["PORT"] = str(port)
                env["REF_WORKERS"] = str(cfg.django_workers)
                if cfg.access_log:
                    env["REF_ACCESS_LOG"] = "1"
                argv = [os.path.join(self.oracle, "run.sh")]
                cwd = self.dir
            else:
                env = dict(venv_env)
                env["SECRET_KEY"] = cfg.secret
                env["DATABASE_URL"] = db if self.name == "sqlite" else cfg.pg.url(db)
                env["BIND"] = f"127.0.0.1:{port}"
                if cfg.rust_log:
                    env["RUST_LOG"] = cfg.rust_log
                if cfg.access_log:
                    env["ACCESS_LOG"] = "1"
                argv = [os.path.join(self.bins, "ledger-server"), "serve"]
                cwd = os.path.join(self.dir, "ledger-cwd")  # no my_settings.toml or .env here
                os.makedirs(cwd, exist_ok=True)
            self.servers[(kind, size)] = Server(f"{kind}-{size}", kind, port, argv, env, cwd, self.logdir)
        if self.name == "sqlite":
            # The trade-off behind the SQLite scale rows: the same server,
            # on the same database files, with every connection mapping the
            # whole file (SQLITE_MMAP_SIZE); it serves only the scale runs
            # (guard, and logout bursts with ledger-server's sessions), and
            # its peak RSS is recorded apart.
            for size, port in (("big", p + 6), ("small", p + 7)):
                env = dict(venv_env)
                env["SECRET_KEY"] = cfg.secret
                env["DATABASE_URL"] = self.db[("ledger", size)]
                env["BIND"] = f"127.0.0.1:{port}"
                env["SQLITE_MMAP_SIZE"] = str(MMAP_SIZE)
                if cfg.rust_log:
                    env["RUST_LOG"] = cfg.rust_log
                self.servers[("ledger-mmap", size)] = Server(
                    f"ledger-mmap-{size}", "ledger-mmap", port, [os.path.join(self.bins, "ledger-server"), "serve"],
                    env, os.path.join(self.dir, "ledger-cwd"), self.logdir)
        env = dict(venv_env)
        env["BIND"] = f"127.0.0.1:{p + 5}"
        self.servers[("floor", "big")] = Server("floor", "floor", p + 5, [os.path.join(self.bins, "floor")], env,
                                                self.dir, self.logdir)

    def start_servers(self, rnd):
        for key, server in self.servers.items():
            startup = server.start()
            self.sessions.add(server.proc.pid)
            self.servers_seen.append({"round": rnd, "server": key[0], "db": key[1], "startup_s": round(startup, 4)})
            log(f"{self.name}: {server.name} answered {startup * 1000:.0f} ms after spawn")

    def stop_servers(self, rnd):
        for key, server in self.servers.items():
            if server.proc is None:
                continue
            server.check_alive()
            hwm, nproc = server.peak_rss_kb()
            for rec in self.servers_seen:
                if rec["round"] == rnd and rec["server"] == key[0] and rec["db"] == key[1]:
                    rec["peak_rss_kb"], rec["processes"] = hwm, nproc
            self.sessions.discard(server.proc.pid)
            server.stop()

    # measurement helpers
    def order(self, rnd, kinds=("django", "ledger")):
        return list(kinds) if rnd % 2 == 0 else list(reversed(kinds))

    def measure(self, rnd, workload, kind, size, argv, duration, check, extra=None):
        server = self.servers[(kind, size)]
        server.check_alive()
        sid = server.proc.pid
        disk_before = read_bytes(sid)
        wal_before = self.wal_stats()
        before = self.meter.snapshot()
        proc, out = wrk_start(argv, self.logdir)
        self.sessions.add(proc.pid)
        try:
            res = wrk_finish(proc, out, duration)
        finally:
            self.sessions.discard(proc.pid)
        after = self.meter.snapshot()
        wal_after = self.wal_stats()
        disk = read_bytes(sid) - disk_before
        foreign, steal = CpuMeter.foreign(before, after)
        server.check_alive()
        rec = {"round": rnd, "workload": workload, "server": kind, "db": size, "wrk": res,
               "foreign_cores": round(foreign, 3), "steal_cores": round(steal, 3),
               # CPU the server's own processes (and PostgreSQL) spent, per expected answer
               "server_cpu_us_per_req": round((after[4].get(sid, 0) - before[4].get(sid, 0)) * 1e6 / HZ
                                              / max(1, res["ok"]), 1),
               "postgres_cpu_us_per_req": round(max(0, after[5] - before[5]) * 1e6 / HZ / max(1, res["ok"]), 1),
               # what the server's processes had to read from the disk (not
               # from the page cache), per expected answer
               "server_disk_read_kib_per_req": round(max(0, disk) / 1024 / max(1, res["ok"]), 3),
               "command": " ".join(shlex_quote(a) for a in argv)}
        if wal_before is not None and wal_after is not None:
            # what the run made PostgreSQL write to its WAL (the whole
            # cluster: nothing else runs meanwhile), per expected answer
            rec["pg_wal_kib_per_req"] = round((wal_after - wal_before) / 1024 / max(1, res["ok"]), 2)
        rec.update(extra or {})
        check(rec)
        self.runs.append(rec)
        return rec

    def wal_stats(self):
        """PostgreSQL's current WAL position in bytes (exact at once, unlike
        pg_stat_wal, which backends flush up to seconds later), or None."""
        if self.name != "postgres":
            return None
        try:
            if self._wal_con is None:
                self._wal_con = self.cfg.pg.connect("postgres")
            with self._wal_con.cursor() as cur:
                cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
                return int(cur.fetchone()[0])
        except Exception as e:  # noqa: BLE001 - losing the figure must not stop the run
            log(f"{self.name}: WAL position unavailable: {e}")
            self._wal_con = None
            return None

    def pg_sizes(self):
        """shared_buffers and the big database's table and index sizes (MiB):
        what must fit in PostgreSQL's buffer pool for requests not to read
        pages from the kernel."""
        if self.name != "postgres":
            return None
        con = self.cfg.pg.connect(self.db[("ledger", "big")])
        try:
            with con.cursor() as cur:
                cur.execute("SELECT current_setting('shared_buffers')")
                out = {"shared_buffers": cur.fetchone()[0]}
                cur.execute("SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') ORDER BY 1")
                out["relations_mib"] = {name: round(size / 2**20, 1) for name, size in cur.fetchall()}
                return out
        finally:
            con.close()

    def static_check(self, rec):
        """Every answer must be the expected one."""
        w = rec["wrk"]
        if w["bad"] or w["exhausted"]:
            raise BenchError(f"{self.name} {rec['workload']} on {rec['server']}-{rec['db']}: {w['bad']} unexpected "
                             f"answers (exhausted={w['exhausted']}), first: {w['bad_sample']}")
        if w["ok"] == 0:
            raise BenchError(f"{self.name} {rec['workload']} on {rec['server']}: no answers at all")
        errs = sum(w["errors"][k] for k in ("connect", "read", "write", "timeout"))
        rec["socket_errors"] = errs
        if errs > max(5, 0.01 * w["requests"]):
            raise BenchError(f"{self.name} {rec['workload']} on {rec['server']}: {errs} socket errors/timeouts "
                             f"in {w['requests']} requests: {w['errors']}")
        rec["rps"] = w["ok"] / w["duration_s"]

    # workloads
    def preflight(self, rnd):
        """Both servers give the same bytes for each workload's request."""
        dj, le = self.servers[("django", "big")], self.servers[("ledger", "big")]
        big = self.pop["big"]
        cases = [
            ("reject", "/users/logout", {"Authorization": self.tokens.bad_signature(big["guard"][0])}, None, 400, REJECT_BODY),
            ("guard", "/users/logout", {"Authorization": self.tokens.token(big["guard"][0])}, None, 200, GUARD_BODY),
            ("login", "/users/login", {"Content-Type": "application/json"},
             json.dumps({"email": seed.email(big["login"][0]), "password": seed.PASSWORD}).encode(), 200,
             ('{"message": "SUCCESS", "access_token": "%s"}' % self.tokens.token(big["login"][0])).encode()),
        ]
        for name, path, headers, body, status, expected in cases:
            got = {s.kind: one_request(s, path, headers, body) for s in (dj, le)}
            for kind, (st, b) in got.items():
                if (st, b) != (status, expected):
                    raise BenchError(f"preflight {name}: {kind} answered {st} {b[:200]!r}, expected {status} {expected!r}")
        # one logout each, of the same session
        uid = big["logout"][max(self.cursor.values())]
        for s in (dj, le):
            st, b = one_request(s, "/users/logout", {"Authorization": self.tokens.token(uid)})
            if (st, b) != (200, LOGOUT_BODY):
                raise BenchError(f"preflight logout: {s.kind} answered {st} {b[:200]!r}")
        for kind in self.cursor:
            self.cursor[kind] = max(self.cursor.values()) + 1
        st, b = one_request(self.servers[("ledger", "small")], "/users/logout",
                            {"Authorization": self.tokens.token(self.pop["small"]["guard"][0])})
        if (st, b) != (200, GUARD_BODY):
            raise BenchError(f"preflight guard on ledger-small: {st} {b[:200]!r}")
        log(f"{self.name}: preflight: Django and ledger-server answer identically")

    def reject(self, rnd):
        cfg = self.cfg
        for kind in self.order(rnd, ("django", "ledger", "floor")):
            args = dict(path="/users/logout", file=self.files["reject"], mode="auth", cycle=1, expect_status=400,
                        expect='"JWT_SIGNATURE_ERROR"')
            argv = wrk_argv(cfg, self.servers[(kind, "big")], cfg.conns, cfg.duration, args)
            rec = self.measure(rnd, "reject", kind, "big", argv, cfg.duration, self.static_check)
            log(f"{self.name} r{rnd} reject {kind}: {rec['rps']:.0f} req/s")

    def guard(self, rnd, size):
        cfg = self.cfg
        kinds = ("django", "ledger", "ledger-mmap") if ("ledger-mmap", size) in self.servers else ("django", "ledger")
        for kind in self.order(rnd, kinds):
            args = dict(path="/users/logout", file=self.files[f"guard_{size}"], mode="auth", cycle=1,
                        expect_status=200, expect='{"message": "INVALID_USER"}')
            argv = wrk_argv(cfg, self.servers[(kind, size)], cfg.conns, cfg.guard_duration, args)
            rec = self.measure(rnd, "guard", kind, size, argv, cfg.guard_duration, self.static_check)
            log(f"{self.name} r{rnd} guard-{size} {kind}: {rec['rps']:.0f} req/s")

    def logout(self, rnd):
        cfg = self.cfg
        sessions = self.pop["big"]["logout"]
        for kind in self.order(rnd):
            start = self.cursor[kind]
            left = len(sessions) - start
            if left < 1000:
                raise BenchError(f"{self.name}: only {left} sessions left for logout on {kind}: raise BENCH_USERS")
            chunk = sessions[start : start + min(left, 400_000)]
            path = self.write_lines(f"logout-{kind}.txt", [self.tokens.token(u) for u in chunk])
            args = dict(path="/users/logout", file=path, mode="auth", cycle=0, expect_status=200,
                        expect='{"message": "LOGOUT_SUCCESS"}')
            argv = wrk_argv(cfg, self.servers[(kind, "big")], cfg.conns, cfg.duration, args)

            def check(rec, chunk=chunk):
                w = rec["wrk"]
                used = cfg.threads * max(t["sent"] for t in w["threads"])
                self.cursor[kind] += used
                rec["sessions_used"] = used
                if w["exhausted"]:
                    raise BenchError(f"{self.name} logout on {kind}: the {len(chunk)} sessions of the run ran out; "
                                     f"raise BENCH_USERS or lower BENCH_DURATION")
                self.static_check(rec)

            rec = self.measure(rnd, "logout", kind, "big", argv, cfg.duration, check)
            log(f"{self.name} r{rnd} logout {kind}: {rec['rps']:.0f} req/s ({rec['sessions_used']} sessions used)")

    def burst_duration(self, kind):
        """wrk runs for its whole -d even when the burst ends early: long
        enough for a burst at 1/1.3 of the slowest recent logout rate."""
        rates = [r["rps"] for r in self.runs if r["workload"] in ("logout", "logout_burst") and r["server"] == kind]
        rate = min(rates[-3:]) if rates else 50.0
        return max(2, math.ceil(1.3 * self.cfg.burst / rate) + 1)

    def logout_bursts(self, rnd):
        cfg = self.cfg
        sessions = self.pop["big"]["logout"]
        mapped = ("ledger-mmap", "big") in self.servers
        for kind in self.order(rnd, ("django", "ledger", "ledger-mmap") if mapped else ("django", "ledger")):
            # the mapped server works on ledger-server's files: their sessions
            own = "ledger" if kind == "ledger-mmap" else kind
            n = cfg.django_bursts if kind == "django" else cfg.bursts
            for i in range(n):
                for size in ("big", "small") if (rnd + i) % 2 == 0 else ("small", "big"):
                    if size == "big":
                        start = self.cursor[own]
                        if start + cfg.burst > len(sessions):
                            raise BenchError(f"{self.name}: sessions for bursts on {kind} ran out: raise BENCH_USERS")
                        uids = sessions[start : start + cfg.burst]
                        self.cursor[own] += cfg.burst
                        path = self.write_lines(f"burst-{kind}.txt", [self.tokens.token(u) for u in uids])
                    else:
                        uids = self.small_burst
                        path = self.files["burst_small"]
                    d = self.burst_duration(own)
                    args = dict(path="/users/logout", file=path, mode="auth", cycle=0, burst=1, filler=self.filler,
                                expect_status=200, expect='{"message": "LOGOUT_SUCCESS"}')
                    argv = wrk_argv(cfg, self.servers[(kind, size)], cfg.conns, d, args)

                    def check(rec, d=d):
                        w = rec["wrk"]
                        if w["bad"] or w["exhausted"]:
                            raise BenchError(f"{self.name} logout burst on {rec['server']}-{rec['db']}: {w['bad']} "
                                             f"unexpected answers, first: {w['bad_sample']}")
                        if w["ok"] != cfg.burst or w["burst_last"] is None or not all(t["done"] for t in w["threads"]):
                            raise BenchError(f"{self.name} logout burst on {rec['server']}-{rec['db']} did not finish "
                                             f"in {d}s ({w['ok']}/{cfg.burst}; socket errors {w['errors']})")
                        rec["seconds"] = w["burst_last"] - w["burst_first"]
                        rec["rps"] = cfg.burst / rec["seconds"]

                    rec = self.measure(rnd, "logout_burst", kind, size, argv, d, check, {"burst": cfg.burst})
                    if size == "small":
                        left = self.token_count(own, uids)
                        if left:
                            raise BenchError(f"{self.name}: {left} sessions of the small burst survived on {kind}")
                        self.add_tokens(own, uids)
                    log(f"{self.name} r{rnd} logout burst {size} {kind}: {cfg.burst} in {rec['seconds'] * 1000:.0f} ms "
                        f"= {rec['rps']:.0f} req/s")

    def login_args(self):
        return dict(path="/users/login", file=self.files["login"], mode="login", password=seed.PASSWORD, cycle=1,
                    expect_status=200, expect='"access_token"')

    def bcrypt_now(self):
        """The CPU time of one cost-12 check (ledger-server's code, median of
        3) right before a login run: the machine's speed drifts by several
        per cent within minutes, so the limit a login run is compared with
        is measured next to it."""
        out = run_checked([os.path.join(self.bins, "bcrypt_cost"), seed.password_hash(), seed.PASSWORD, "3"])
        return json.loads(out.strip().splitlines()[-1])["median_cpu_s"]

    def bcrypt_all_cores(self):
        """Checks per second of ledger-server's bare bcrypt code with one
        thread per core hashing at once (BENCH_PARALLEL_CHECKS each): what
        this machine delivers of `cores ÷ one check's CPU time` when every
        core hashes, with no server, no HTTP and no database."""
        out = run_checked([os.path.join(self.bins, "bcrypt_cost"), seed.password_hash(), seed.PASSWORD, "1",
                           str(self.cfg.parallel_checks)])
        return json.loads(out.strip().splitlines()[-1])["parallel_checks_per_s"]

    def login_ceiling(self, kind, run):
        """For ledger-server's login runs: the bare code's all-core
        throughput measured right before and right after `run()`, recorded
        with the run (`bcrypt_all_cores_rps`), so a login share below the
        limit can be told apart from a machine that cannot reach it. The
        measurement after waits until the server has finished the logins
        still in flight when wrk stopped."""
        if kind != "ledger":
            return run(), None
        before = self.bcrypt_all_cores()
        rec = run()
        self.wait_idle(self.servers[(kind, "big")])
        return rec, [before, self.bcrypt_all_cores()]

    @staticmethod
    def wait_idle(server, limit_s=15):
        """Until the server's processes use under 5 % of a core over 0.2 s."""
        tick = os.sysconf("SC_CLK_TCK")

        def ticks():
            total = 0
            for pid in server.pids():
                try:
                    total += read_stat(pid)[2]
                except (OSError, ValueError, IndexError):
                    pass
            return total

        t0 = time.monotonic()
        while time.monotonic() - t0 < limit_s:
            a = ticks()
            time.sleep(0.2)
            if (ticks() - a) / tick < 0.01:
                return

    def login(self, rnd):
        cfg = self.cfg
        for kind in self.order(rnd):
            argv = wrk_argv(cfg, self.servers[(kind, "big")], cfg.login_conns, cfg.login_duration, self.login_args(),
                            timeout=60)
            cpu_s = self.bcrypt_now()
            rec, ceiling = self.login_ceiling(kind, lambda: self.measure(
                rnd, "login", kind, "big", argv, cfg.login_duration, self.static_check, {"bcrypt_cpu_s": cpu_s}))
            if ceiling:
                rec["bcrypt_all_cores_rps"] = ceiling
            log(f"{self.name} r{rnd} login {kind}: {rec['rps']:.2f} req/s"
                + (f" (bare bcrypt on all cores: {ceiling[0]:.2f} before, {ceiling[1]:.2f} after)" if ceiling else ""))

    def probe_args(self):
        """The paced guard probe: at most BENCH_STORM_GUARD_RATE requests a second."""
        cfg = self.cfg
        delay_ms = max(1, round(1000 * cfg.storm_guard_conns / cfg.storm_guard_rate))
        return dict(path="/users/logout", file=self.files["guard_big"], mode="auth", cycle=1,
                    expect_status=200, expect='{"message": "INVALID_USER"}', delay_ms=delay_ms)

    def storm(self, rnd):
        cfg = self.cfg
        for kind in self.order(rnd):
            server = self.servers[(kind, "big")]
            # the same probe without the storm: the latency to compare with
            pargv = wrk_argv(cfg, server, cfg.storm_guard_conns, cfg.storm_duration, self.probe_args(), latency=True,
                             timeout=30, threads=1)
            prec = self.measure(rnd, "probe_rest", kind, "big", pargv, cfg.storm_duration, self.static_check)
            warm = 2
            login_d = cfg.storm_duration + warm + 2
            largv = wrk_argv(cfg, server, cfg.login_conns, login_d, self.login_args(), timeout=60)
            cpu_s = self.bcrypt_now()

            def storm_run():
                lproc, lout = wrk_start(largv, self.logdir, "wrk-storm-login.out")
                self.sessions.add(lproc.pid)
                try:
                    time.sleep(warm)
                    gargv = wrk_argv(cfg, server, cfg.storm_guard_conns, cfg.storm_duration, self.probe_args(),
                                     latency=True, timeout=30, threads=1)
                    grec = self.measure(rnd, "storm_guard", kind, "big", gargv, cfg.storm_duration, self.static_check)
                    lres = wrk_finish(lproc, lout, login_d)
                finally:
                    self.sessions.discard(lproc.pid)
                    if lproc.poll() is None:
                        stop_group(lproc, grace=2)
                return grec, lres

            (grec, lres), ceiling = self.login_ceiling(kind, storm_run)
            lrec = {"round": rnd, "workload": "storm_login", "server": kind, "db": "big", "wrk": lres,
                    "bcrypt_cpu_s": cpu_s, "command": " ".join(shlex_quote(a) for a in largv)}
            if ceiling:
                lrec["bcrypt_all_cores_rps"] = ceiling
            self.static_check(lrec)
            self.runs.append(lrec)
            lat = grec["wrk"]["latency_us"]
            rest = prec["wrk"]["latency_us"]
            log(f"{self.name} r{rnd} probe at rest {kind}: guard p50 {rest['p50'] / 1000:.2f} ms p99 {rest['p99'] / 1000:.2f} ms")
            log(f"{self.name} r{rnd} storm {kind}: guard p50 {lat['p50'] / 1000:.2f} ms p99 {lat['p99'] / 1000:.2f} ms "
                f"({grec['rps']:.0f} req/s), login {lrec['rps']:.2f} req/s")

    def wait_quiet(self, rnd):
        """Waits (up to BENCH_QUIET_WAIT s) until other programs use less
        than a quarter of a core, and records what it saw."""
        t0 = time.monotonic()
        while True:
            a = self.meter.snapshot()
            time.sleep(2)
            foreign, _ = CpuMeter.foreign(a, self.meter.snapshot())
            waited = time.monotonic() - t0
            if foreign < 0.25 or waited >= self.cfg.quiet_wait:
                self.runs.append({"round": rnd, "workload": "quiet_check", "server": "-", "db": "-",
                                  "foreign_cores": round(foreign, 3), "waited_s": round(waited, 1)})
                if foreign >= 0.25:
                    log(f"{self.name}: other programs use {foreign:.2f} cores; measuring anyway")
                return

    def lookup_probe(self, rnd):
        """The guard's database lookup alone on ledger-server's databases
        (bench/probes/src/bin/lookup_cost.rs: same query, same connection
        settings, one thread), with the servers stopped: how much of the big
        database's extra cost per guard request is the database's own work."""
        for size in ("small", "big"):
            ids = os.path.join(self.dir, f"guard-ids-{size}.txt")
            if not os.path.exists(ids):
                with open(ids, "w") as f:
                    f.write("".join(f"{u}\n" for u in self.pop[size]["guard"]))
            db = self.db[("ledger", size)]
            url = db if self.name == "sqlite" else self.cfg.pg.url(db)
            res = json.loads(run_checked([os.path.join(self.bins, "lookup_cost"), url, ids, "3"]).strip().splitlines()[-1])
            res.update(round=rnd, db=size)
            if self.name == "sqlite":
                # the same lookups with the whole file mapped and touched
                # once first: no system call, no copy, no disk; what the big
                # database still costs more is the memory itself
                mapped = json.loads(run_checked([os.path.join(self.bins, "lookup_cost"), "--mmap", str(MMAP_SIZE), url,
                                                 ids, "3"]).strip().splitlines()[-1])
                res.update(mapped_cpu_us=mapped["cpu_us"])
                if size == "big":
                    res.update(disk_read_cost(db))
                # A logout burst's database work alone, on a scratch copy
                # (it deletes rows): sessions this copy still has.
                scratch = os.path.join(self.dir, f"scratch-{size}.sqlite3")
                for suffix in ("", "-wal"):
                    if os.path.exists(db + suffix):
                        shutil.copyfile(db + suffix, scratch + suffix)
                        # on disk before the probe: the kernel writing back
                        # hundreds of MB of the copy would slow its fsyncs
                        fd = os.open(scratch + suffix, os.O_RDONLY)
                        try:
                            os.fsync(fd)
                        finally:
                            os.close(fd)
                os.sync()
                uids = (self.small_burst if size == "small"
                        else self.pop["big"]["logout"][self.cursor["ledger"]:self.cursor["ledger"] + self.cfg.burst])
                burst = os.path.join(self.dir, f"logout-ids-{size}.txt")
                with open(burst, "w") as f:
                    f.write("".join(f"{u}\n" for u in uids))
                try:
                    out = run_checked([os.path.join(self.bins, "lookup_cost"), "--logout", scratch, burst])
                    lo = json.loads(out.strip().splitlines()[-1])
                    res.update(logout_wall_us=lo["wall_us"], logout_cpu_us=lo["cpu_us"],
                               logout_read_wall_us=lo["read_wall_us"], logout_delete_wall_us=lo["delete_wall_us"],
                               # CPU of the whole probe process while deleting
                               # (its commit and checkpoint threads included)
                               logout_read_cpu_us=lo["read_cpu_us"],
                               logout_delete_cpu_us=lo["delete_process_cpu_us"])
                except Exception as e:  # a probe, not a workload: report it and go on
                    log(f"{self.name}: logout probe on the {size} database failed: {e}")
                finally:
                    for suffix in ("", "-wal", "-shm"):
                        if os.path.exists(scratch + suffix):
                            os.remove(scratch + suffix)
            self.lookups.append(res)
            parts = [f"{res['cpu_us']:.1f} µs CPU, {res['wall_us']:.1f} µs wall"]
            if "mapped_cpu_us" in res:
                parts[0] += f" ({res['mapped_cpu_us']:.1f} µs CPU mapped)"
            if "disk_read_cpu_us" in res:
                parts.append(f"a 4 KiB read from the disk: {res['disk_read_wall_us']:.0f} µs wall, "
                             f"{res['disk_read_cpu_us']:.1f} µs CPU")
            if "logout_wall_us" in res:
                parts.append(f"a logout burst's database work: {res['logout_read_wall_us']:.1f} µs reading + "
                             f"{res['logout_delete_wall_us']:.1f} µs deleting per logout")
            log(f"{self.name}: guard lookup alone on the {size} database: " + "; ".join(parts))

    def run(self):
        log(f"== {self.name}: seeding")
        self.prepare()
        self.make_servers()
        for rnd in range(self.cfg.rounds):
            log(f"== {self.name}: round {rnd + 1}/{self.cfg.rounds}")
            self.wait_quiet(rnd)
            self.bcrypt.append(bcrypt_sample(self.bins))
            try:
                self.start_servers(rnd)
                self.preflight(rnd)
                self.reject(rnd)
                # big, small, small, big (mirrored in odd rounds), repeated
                # guard_passes times: each size's runs then center on the
                # same moment, whatever the machine's drift within the round
                order = ("big", "small") if rnd % 2 == 0 else ("small", "big")
                for size in (order + order[::-1]) * self.cfg.guard_passes:
                    self.guard(rnd, size)
                self.logout(rnd)
                self.logout_bursts(rnd)
                self.login(rnd)
                self.storm(rnd)
                self.stop_servers(rnd)
                self.lookup_probe(rnd)
            finally:
                for server in self.servers.values():
                    server.stop()


def disk_read_cost(path, n=2000):
    """Random 4 KiB reads of `path` straight from the disk (O_DIRECT: the
    page cache neither helps nor keeps them), one at a time: wall time and
    CPU time of the reading thread per read. On a virtual machine the CPU
    part is mostly the exit to the hypervisor that each request costs."""
    import mmap
    import random

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError as e:
        log(f"disk read probe: cannot open {path} with O_DIRECT: {e}")
        return {}
    try:
        pages = os.fstat(fd).st_size // 4096
        buf = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT needs
        rng = random.Random(20211117)
        offsets = [rng.randrange(pages) * 4096 for _ in range(n)]
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        for off in offsets:
            os.preadv(fd, [buf], off)
        wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    finally:
        os.close(fd)
    return {"disk_read_wall_us": round(wall * 1e6 / n, 1), "disk_read_cpu_us": round(cpu * 1e6 / n, 1)}


def page_cache_reclaim():
    """The machine's proactive page-cache reclaim, if it runs one (DAMON
    schemes set up through sysfs): a short description, or ''."""
    base = "/sys/kernel/mm/damon/admin/kdamonds"

    def rd(*parts):
        try:
            with open(os.path.join(*parts)) as f:
                return f.read().strip()
        except OSError:
            return ""

    found = []
    try:
        kdamonds = sorted(d for d in os.listdir(base) if d.isdigit())
    except OSError:
        return ""
    for k in kdamonds:
        if rd(base, k, "state") != "on":
            continue
        ctxs = os.path.join(base, k, "contexts")
        for c in sorted(d for d in os.listdir(ctxs) if d.isdigit()):
            aggr_us = int(rd(ctxs, c, "monitoring_attrs", "intervals", "aggr_us") or 0)
            schemes = os.path.join(ctxs, c, "schemes")
            for sch in sorted(d for d in os.listdir(schemes) if d.isdigit()):
                action = rd(schemes, sch, "action")
                if action != "pageout":
                    continue
                age = int(rd(schemes, sch, "access_pattern", "age", "min") or 0)
                filters = []
                for kind in ("ops_filters", "filters"):
                    fdir = os.path.join(schemes, sch, kind)
                    for fl in sorted(d for d in os.listdir(fdir) if d.isdigit()) if os.path.isdir(fdir) else []:
                        filters.append(("allows " if rd(fdir, fl, "allow") == "Y" else "skips ") + rd(fdir, fl, "type")
                                       + ("" if rd(fdir, fl, "matching") == "Y" else " (not matching)"))
                quota = int(rd(schemes, sch, "quotas", "bytes") or 0)
                found.append(f"DAMON ({rd(ctxs, c, 'operations')}) pages out memory not accessed for "
                             f"≥ {age * aggr_us / 1e6:.0f} s" + (f" ({', '.join(filters)} pages)" if filters else "")
                             + (f", up to {quota / 2**20:.0f} MiB per {int(rd(schemes, sch, 'quotas', 'reset_interval_ms') or 0)} ms" if quota else ""))
    return "; ".join(found)


def shlex_quote(s):
    import shlex

    return shlex.quote(str(s))


def clean_env():
    """The environment minus settings that would change what is measured."""
    drop = {"SECRET_KEY", "ALGORITHM", "DATABASE_URL", "TIME_ZONE", "BIND", "POOL_SIZE", "ACCESS_LOG", "RUST_LOG", "PORT"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("REF_") or k == "REF_VENV"}


def run_checked(argv, env=None, cwd=None, timeout=600):
    p = spawn(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(p)
        raise BenchError(f"{argv[0]} timed out")
    finally:
        if p in STARTED:
            STARTED.remove(p)
    if p.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({p.returncode}):\n{out.decode('utf-8', 'replace')[-3000:]}")
    return out.decode("utf-8", "replace")


def capture(argv, **kw):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


# machine, versions, bcrypt -------------------------------------------------------


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = vm_kb_meminfo("MemTotal")
    osname = ""
    try:
        with open("/etc/os-release") as f:
            osname = dict(line.rstrip().split("=", 1) for line in f if "=" in line).get("PRETTY_NAME", "").strip('"')
    except OSError:
        pass
    return {"nproc": CORES, "cpu": model, "memory_gib": round(mem / 1024 / 1024, 1), "kernel": platform.release(),
            "os": osname, "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
            "page_cache_reclaim": page_cache_reclaim()}


def vm_kb_meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cargo_lock_version(name):
    try:
        text = open(os.path.join(ROOT, "Cargo.lock")).read()
    except OSError:
        return ""
    m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), text)
    return m.group(1) if m else ""


def bundled_sqlite():
    ver = cargo_lock_version("libsqlite3-sys")
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    try:
        for reg in os.listdir(os.path.join(home, "registry", "src")):
            header = os.path.join(home, "registry", "src", reg, f"libsqlite3-sys-{ver}", "sqlite3", "sqlite3.h")
            if os.path.exists(header):
                m = re.search(r'#define SQLITE_VERSION\s+"([^"]+)"', open(header).read())
                if m:
                    return f"{m.group(1)} (bundled by libsqlite3-sys {ver})"
    except OSError:
        pass
    return f"bundled by libsqlite3-sys {ver}"


def git_head():
    """The commit checked out, read from .git (no git command)."""
    try:
        head = open(os.path.join(ROOT, ".git", "HEAD")).read().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        path = os.path.join(ROOT, ".git", ref)
        if os.path.exists(path):
            return open(path).read().strip() + f" ({ref.rsplit('/', 1)[-1]})"
        for line in open(os.path.join(ROOT, ".git", "packed-refs")):
            if line.strip().endswith(ref):
                return line.split()[0] + f" ({ref.rsplit('/', 1)[-1]})"
    except OSError:
        pass
    return "unknown"


def versions(cfg, backends):
    import bcrypt
    import django
    import gunicorn
    import jwt

    v = {
        "ledger-server": f"{cargo_lock_version('ledger-server')}, the working tree as built (HEAD {git_head()})",
        "rustc": capture(["rustc", "--version"]),
        "actix-web": cargo_lock_version("actix-web"),
        "diesel": cargo_lock_version("diesel"),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "pyjwt": jwt.__version__,
        "python-bcrypt": bcrypt.__version__,
        "sqlite (Django, Python sqlite3)": __import__("sqlite3").sqlite_version,
        "sqlite (ledger-server)": bundled_sqlite(),
        "wrk": capture(["wrk", "-v"]).splitlines()[0] if capture(["wrk", "-v"]) else "",
    }
    if "postgres" in backends:
        import psycopg2

        v["postgresql"] = cfg.pg.version()
        v["psycopg2"] = psycopg2.__version__.split()[0]
        v["libpq (ledger-server)"] = capture(["sh", "-c", "ls /usr/lib/x86_64-linux-gnu/libpq.so.5.* | head -1"])
    return v


def bcrypt_sample(bins, n=3):
    """One measurement of a cost-12 check: ledger-server's own code
    (bench/probes/src/bin/bcrypt_cost.rs) and Python bcrypt (the oracle's),
    each as the CPU time of the checking thread (robust to other programs
    competing for the cores) and as wall time, plus the checks per second
    of one thread per core hashing at once."""
    stored = seed.password_hash()
    rust = json.loads(run_checked([os.path.join(bins, "bcrypt_cost"), stored, seed.PASSWORD, str(n)]).strip().splitlines()[-1])
    import bcrypt

    cpu, wall = [], []
    for _ in range(n):
        c, t = time.thread_time(), time.perf_counter()
        assert bcrypt.checkpw(seed.PASSWORD.encode(), stored.encode())
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return {"rust": rust, "python": {"cpu_s": cpu, "wall_s": wall}}


def bcrypt_summary(samples):
    """The bcrypt limit of a run: cores ÷ the median CPU time of one check
    over every measurement of the run (one before each round)."""
    rust_cpu = [x for s in samples for x in s["rust"]["cpu_s"]]
    rust_wall = [x for s in samples for x in s["rust"]["wall_s"]]
    py_cpu = [x for s in samples for x in s["python"]["cpu_s"]]
    py_wall = [x for s in samples for x in s["python"]["wall_s"]]
    t = statistics.median(rust_cpu)
    return {
        "cores": CORES,
        "limit_rps": CORES / t,
        "rust": {"implementation": "ledger_server::auth::password::check (bcrypt crate), "
                                   "bench/probes/src/bin/bcrypt_cost.rs",
                 "median_cpu_s": t, "median_wall_s": statistics.median(rust_wall), "cpu_s": rust_cpu,
                 "parallel_checks_per_s": statistics.median([s["rust"]["parallel_checks_per_s"] for s in samples])},
        "python": {"implementation": "python bcrypt 3.2.0 checkpw (the oracle's)",
                   "median_cpu_s": statistics.median(py_cpu), "median_wall_s": statistics.median(py_wall)},
        "measurements": len(samples),
    }


# main ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--bins", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("backends", nargs="+", choices=["sqlite", "postgres"])
    a = ap.parse_args()

    def on_signal(signum, _frame):
        # aborting: no graceful shutdowns, everything we started dies now
        for p in list(STARTED):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        log(f"interrupted (signal {signum}): stopped every process started; cleaning up")
        raise SystemExit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    global PGID_FILE
    PGID_FILE = os.path.join(a.tmp, "pgids")
    cfg = Config(a.quick)
    outdir = os.path.join(HERE, "results", "quick") if a.quick else os.path.join(HERE, "results")
    os.makedirs(outdir, exist_ok=True)
    status = 0
    backends = []
    try:
        meta = {"machine": machine(), "versions": versions(cfg, a.backends), "config": cfg.as_dict()}
        for name in a.backends:
            b = Backend(name, cfg, a.tmp, a.bins, a.oracle)
            backends.append(b)
            started = datetime.datetime.now(datetime.timezone.utc)
            try:
                b.run()
            finally:
                b.drop()
            bcrypt_info = bcrypt_summary(b.bcrypt)
            log(f"{name}: bcrypt cost 12, CPU time of one check: {bcrypt_info['rust']['median_cpu_s'] * 1000:.0f} ms "
                f"(ledger-server's code), {bcrypt_info['python']['median_cpu_s'] * 1000:.0f} ms (Python bcrypt); limit "
                f"{bcrypt_info['limit_rps']:.2f} logins/s; {CORES} threads at once: "
                f"{bcrypt_info['rust']['parallel_checks_per_s']:.2f} checks/s")
            result = {
                "backend": name,
                "quick": a.quick,
                "date": started.strftime("%Y-%m-%d %H:%M UTC"),
                "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "command": a.command,
                **meta,
                "bcrypt": bcrypt_info,
                "lookups": b.lookups,
                "seed": b.seed_info,
                "postgres_sizes": b.pg_info,
                "server_commands": {
                    "django": f"PORT=… REF_DB_ENGINE={'sqlite' if name == 'sqlite' else 'postgresql'} REF_DB_NAME=… "
                              f"REF_SECRET_KEY=… REF_WORKERS={cfg.django_workers} {os.path.relpath(a.oracle, ROOT)}/run.sh",
                    "ledger": "SECRET_KEY=… DATABASE_URL=… BIND=… target/release/ledger-server serve"
                              + (f" (RUST_LOG={cfg.rust_log})" if cfg.rust_log else " (RUST_LOG unset: info)")
                              + (" with ACCESS_LOG=1" if cfg.access_log else ", no access log"),
                    "floor": "BIND=… target/release/floor",
                },
                "runs": b.runs,
                "servers": b.servers_seen,
            }
            result["summary"] = report.summarize(result)
            path = os.path.join(outdir, f"{name}.json")
            with open(path, "w") as f:
                json.dump(result, f, indent=1)
            log(f"wrote {os.path.relpath(path, ROOT)}")
            print(report.table_text(result), flush=True)
        if not a.quick:
            report.write_results(os.path.join(HERE, "results"), os.path.join(HERE, "RESULTS.md"))
            log("wrote bench/RESULTS.md")
    except BenchError as e:
        log(f"FAILED: {e}")
        status = 1
    finally:
        cleanup_all()
        for b in backends:
            try:
                b.drop()
            except Exception:  # noqa: BLE001
                pass
    return status


if __name__ == "__main__":
    sys.exit(main())
