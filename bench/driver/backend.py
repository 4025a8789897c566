"""One database engine's part of a run: its four databases (Django and
ledger-server each get a seeded copy of a big and of a small one), its
servers, the token supply, and the rounds (the workloads themselves are in
workloads.py, the probes between them in probes.py)."""

import os
import time

import seed

from . import paths, probes, workloads
from .common import HARDENED_SETTINGS, MMAP_SIZE, clean_env, log
from .databases import ENGINES
from .procs import run_checked
from .recorder import Recorder
from .servers import Server


class Backend:
    def __init__(self, name, cfg, tmp, bins, oracle):
        self.name, self.cfg, self.tmp, self.bins, self.oracle = name, cfg, tmp, bins, oracle
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.logdir = os.path.join(self.dir, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        self.engine = ENGINES[name](cfg, self.dir)
        self.tokens = seed.Tokens(cfg.secret)
        # the hardened server's tokens: issued "now" (the seeding's moment)
        self.htokens = seed.HardenedTokens(cfg.secret, time.time())
        self.pw_hash = None
        self.pop = {"big": seed.population(cfg.users), "small": seed.population(cfg.small_users)}
        self.cursor = {}  # server kind -> next unused logout session of the big database
        self.servers_seen = []
        self.db = {}  # (kind, size) -> sqlite path or postgres db name
        self.seed_info = {}
        self.servers = {}
        self.rec = Recorder(name, self.servers, self.logdir, self.engine.wal_position, self.engine.counters)
        self.bcrypt = []  # one bcrypt measurement before each round
        self.lookups = []  # bench/probes' lookup_cost after each round, per database size
        self.pg_info = None  # PostgreSQL/MySQL: the buffer pool and the big database's relation sizes

    # databases
    def django_env(self, db):
        """The oracle's environment for a database (migrate and gunicorn)."""
        env = clean_env()
        env["REF_SECRET_KEY"] = self.cfg.secret
        env.update(self.engine.django_env(db))
        return env

    def prepare(self):
        self.pw_hash = seed.password_hash()
        self.tokens.self_check()
        self.htokens.self_check()
        self.seed_databases()
        self.seed_hardened()
        self.pg_info = self.engine.relation_sizes(self.db[("ledger", "big")])
        for kind in ("django", "ledger", "ledger-hardened"):
            self.cursor[kind] = 0
        self.write_request_files()

    def seed_databases(self):
        """Each size: Django's database migrated by the oracle and seeded,
        then copied for ledger-server."""
        for size, n in (("big", self.cfg.users), ("small", self.cfg.small_users)):
            t0 = time.monotonic()
            dj, le = self.engine.names(size)
            self.engine.create(dj)
            run_checked([os.path.join(self.oracle, "run.sh"), "migrate"], env=self.django_env(dj))
            counts = self.engine.seed(dj, n, self.tokens, self.pw_hash)
            self.engine.copy(dj, le)
            self.db[("django", size)], self.db[("ledger", size)] = dj, le
            self.seed_info[size] = {"users": counts[0], "tokens": counts[1], "seconds": round(time.monotonic() - t0, 1)}
            log(f"{self.name}: seeded {size}: {counts[0]} users, {counts[1]} tokens rows in {time.monotonic() - t0:.1f}s (both copies)")

    def seed_hardened(self):
        """The hardened server's database, the big size: migrated by Django
        (the oracle's migrate) and by ledger-server (`ledger-server
        migrate`: its own tables), then seeded as the others are, but each
        session as the hardened profile stores it (a digest in `tokens`, a
        `ledger_sessions` row)."""
        t0 = time.monotonic()
        db = self.engine.hardened_name()
        self.engine.create(db)
        run_checked([os.path.join(self.oracle, "run.sh"), "migrate"], env=self.django_env(db))
        env = clean_env()
        env["SECRET_KEY"] = self.cfg.secret
        env["DATABASE_URL"] = self.engine.url(db)
        run_checked([os.path.join(self.bins, "ledger-server"), "migrate"], env=env, cwd=self.ledger_cwd())
        users, tokens, sessions = self.engine.seed_hardened(db, self.cfg.users, self.htokens, self.pw_hash)
        self.db[("ledger-hardened", "big")] = db
        self.seed_info["hardened"] = {"users": users, "tokens": tokens, "sessions": sessions,
                                      "seconds": round(time.monotonic() - t0, 1)}
        log(f"{self.name}: seeded hardened big: {users} users, {tokens} tokens rows (digests), {sessions} "
            f"ledger_sessions rows in {time.monotonic() - t0:.1f}s")

    def ledger_cwd(self):
        cwd = os.path.join(self.dir, "ledger-cwd")  # no my_settings.toml or .env here
        os.makedirs(cwd, exist_ok=True)
        return cwd

    def write_request_files(self):
        """The request files that do not change (wrk reads one token, or
        e-mail, a line)."""
        self.files = {}
        big, small = self.pop["big"], self.pop["small"]
        self.files["reject"] = self.write_lines("reject.txt", [self.tokens.bad_signature(u) for u in big["guard"][:1000]])
        self.files["guard_big"] = self.write_lines("guard-big.txt", [self.tokens.token(u) for u in big["guard"]])
        self.files["guard_small"] = self.write_lines("guard-small.txt", [self.tokens.token(u) for u in small["guard"]])
        self.files["login"] = self.write_lines("login.txt", [seed.email(u) for u in big["login"]])
        self.small_burst = small["logout"][: self.cfg.burst]
        self.files["burst_small"] = self.write_lines("burst-small.txt", [self.tokens.token(u) for u in self.small_burst])
        self.filler = self.tokens.bad_signature(big["guard"][0])
        # hardened: tokens of the guard users as hardened issues them, never
        # stored (a logged-out or unknown token: 401); the accepted guard's
        # sessions, the last ones of the logout supply (the hardened logout
        # runs stop short of them)
        h = self.htokens
        self.files["hguard"] = self.write_lines("hardened-guard.txt", [h.token(u) for u in big["guard"]])
        self.hsessions = big["logout"][-self.cfg.hardened_sessions:]
        self.files["hsessions"] = self.write_lines("hardened-sessions.txt", [h.token(u) for u in self.hsessions])

    def drop(self):
        self.engine.drop(self.db.values())

    def write_lines(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def add_tokens(self, kind, uids):
        """Gives the small database of `kind` its burst's sessions back."""
        self.engine.add_tokens(self.db[(kind, "small")], uids, self.tokens)

    def token_count(self, kind, uids):
        return self.engine.token_count(self.db[(kind, "small")], uids)

    # servers
    def make_servers(self):
        p = self.cfg.port_base
        ports = {("django", "big"): p + 1, ("ledger", "big"): p + 2, ("django", "small"): p + 3, ("ledger", "small"): p + 4}
        for (kind, size), port in ports.items():
            make = self.django_server if kind == "django" else self.ledger_server
            self.servers[(kind, size)] = make(size, port)
        if self.engine.embedded:
            # The trade-off behind the SQLite scale rows: the same server,
            # on the same database files, with every connection mapping the
            # whole file (SQLITE_MMAP_SIZE); it serves only the scale runs
            # (guard, and logout bursts with ledger-server's sessions), and
            # its peak RSS is recorded apart.
            for size, port in (("big", p + 6), ("small", p + 7)):
                self.servers[("ledger-mmap", size)] = self.ledger_server(size, port, mapped=True)
        env = clean_env()
        env["BIND"] = f"127.0.0.1:{p + 5}"
        self.servers[("ledger-hardened", "big")] = self.ledger_server("big", p + 8, hardened=True)
        self.servers[("floor", "big")] = Server("floor", "floor", p + 5, [os.path.join(self.bins, "floor")], env,
                                                self.dir, self.logdir)
        paths.setup(self)  # the new paths' servers (front door, shadow, admin, no-yield)

    def django_server(self, size, port):
        """gunicorn through the oracle's run.sh (which migrates first)."""
        cfg = self.cfg
        env = self.django_env(self.db[("django", size)])
        env["PORT"] = str(port)
        env["REF_WORKERS"] = str(cfg.django_workers)
        if cfg.access_log:
            env["REF_ACCESS_LOG"] = "1"
        return Server(f"django-{size}", "django", port, [os.path.join(self.oracle, "run.sh")], env, self.dir,
                      self.logdir)

    def ledger_server(self, size, port, mapped=False, hardened=False):
        """ledger-server as shipped on its database of `size`; `mapped`:
        the "ledger-mmap" server, SQLITE_MMAP_SIZE covering the whole file
        (and no access log even with BENCH_ACCESS_LOG); `hardened`: the
        "ledger-hardened" server, PROFILE=hardened on its own database."""
        cfg = self.cfg
        kind = "ledger-mmap" if mapped else "ledger-hardened" if hardened else "ledger"
        env = clean_env()
        env["SECRET_KEY"] = cfg.secret
        env["DATABASE_URL"] = self.engine.url(self.db[("ledger-hardened" if hardened else "ledger", size)])
        if hardened:
            env.update(HARDENED_SETTINGS)
        env["BIND"] = f"127.0.0.1:{port}"
        if mapped:
            env["SQLITE_MMAP_SIZE"] = str(MMAP_SIZE)
        if cfg.rust_log:
            env["RUST_LOG"] = cfg.rust_log
        if cfg.access_log and not mapped:
            env["ACCESS_LOG"] = "1"
        return Server(f"{kind}-{size}", kind, port, [os.path.join(self.bins, "ledger-server"), "serve"], env,
                      self.ledger_cwd(), self.logdir)

    def start_servers(self, rnd):
        for key, server in self.servers.items():
            startup = server.start()
            self.rec.sessions.add(server.proc.pid)
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
            self.rec.sessions.discard(server.proc.pid)
            server.stop()

    # the rounds
    def run(self):
        log(f"== {self.name}: seeding")
        self.prepare()
        self.make_servers()
        for rnd in range(self.cfg.rounds):
            log(f"== {self.name}: round {rnd + 1}/{self.cfg.rounds}")
            self.rec.wait_quiet(rnd, self.cfg.quiet_wait)
            self.bcrypt.append(probes.bcrypt_sample(self.bins))
            try:
                self.start_servers(rnd)
                workloads.play_round(self, rnd)
                self.stop_servers(rnd)
                probes.lookup_probe(self, rnd)
            finally:
                for server in self.servers.values():
                    server.stop()
