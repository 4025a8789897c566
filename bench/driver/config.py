"""The run's settings: the BENCH_* environment variables (bench/README.md)."""

import os

import seed

from .common import CORES, BenchError, env_int
from .paths_config import add_settings as add_paths_settings


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
        # hardened: the sessions the accepted-guard workload cycles through
        # (kept apart from the logout supply), and the timing probe's pairs
        # of refused logins (one unknown e-mail, one wrong password each)
        self.hardened_sessions = env_int("BENCH_HARDENED_SESSIONS", 500)
        self.timing_pairs = env_int("BENCH_TIMING_PAIRS", 25 if q else 200)
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
        self.mysql = seed.Mysql(
            os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1"),
            os.environ.get("BENCH_MYSQL_PORT", "3306"),
            os.environ.get("BENCH_MYSQL_USER", "root"),
            os.environ.get("BENCH_MYSQL_PASSWORD", ""),
        )
        add_paths_settings(self, q)  # the new paths' workloads (paths_config.py)
        small_logout = sum(1 for u in range(1, self.small_users + 1) if seed.is_logout(u))
        if self.burst > small_logout:
            raise BenchError(f"BENCH_BURST={self.burst} exceeds the {small_logout} sessions of the small database")
        if self.burst % self.threads:
            raise BenchError("BENCH_BURST must be a multiple of BENCH_WRK_THREADS")
        for name in ("rounds", "duration", "login_duration", "storm_duration", "guard_duration", "guard_passes",
                     "conns", "threads", "bursts", "hardened_sessions", "timing_pairs"):
            if getattr(self, name) < 1:
                raise BenchError(f"{name} must be at least 1")

    def as_dict(self):
        d = {k: v for k, v in self.__dict__.items() if k not in ("pg", "mysql")}
        d["pg"] = f"{self.pg.user}@{self.pg.host}:{self.pg.port}"
        d["mysql"] = f"{self.mysql.user}@{self.mysql.host}:{self.mysql.port}"
        return d
