"""The runs of one backend: each wrk run against a server, with what it
cost (the server's CPU and disk reads per answer, PostgreSQL's CPU and
WAL, the CPU other programs took meanwhile), checked and recorded."""

import time

from .accounting import CpuMeter, read_bytes
from .common import HZ, BenchError, command_text, log
from .wrk import wrk_finish, wrk_start


class Recorder:
    """`runs` is what bench/results/<backend>.json keeps as "runs";
    `sessions` the sessions of our own processes (servers and wrk), which
    the meter counts as the benchmark's CPU."""

    def __init__(self, name, servers, logdir, wal_position, counters=lambda: None):
        self.name, self.servers, self.logdir = name, servers, logdir
        self.wal_position = wal_position
        self.counters = counters
        self.runs = []
        self.sessions = set()
        self.meter = CpuMeter(lambda: self.sessions)

    def measure(self, rnd, workload, kind, size, argv, duration, check, extra=None):
        """One wrk run (`argv`) against the (kind, size) server; `check`
        validates the record (and may add to it) before it is kept."""
        server = self.servers[(kind, size)]
        server.check_alive()
        sid = server.proc.pid
        disk_before = read_bytes(sid)
        wal_before = self.wal_position()
        counters_before = self.counters()
        before = self.meter.snapshot()
        proc, out = wrk_start(argv, self.logdir)
        self.sessions.add(proc.pid)
        try:
            res = wrk_finish(proc, out, duration)
        finally:
            self.sessions.discard(proc.pid)
        after = self.meter.snapshot()
        wal_after = self.wal_position()
        counters_after = self.counters()
        disk = read_bytes(sid) - disk_before
        foreign, steal = CpuMeter.foreign(before, after)
        server.check_alive()
        rec = {"round": rnd, "workload": workload, "server": kind, "db": size, "wrk": res,
               "foreign_cores": round(foreign, 3), "steal_cores": round(steal, 3),
               # CPU the server's own processes (and PostgreSQL) spent, per expected answer
               "server_cpu_us_per_req": round((after[4].get(sid, 0) - before[4].get(sid, 0)) * 1e6 / HZ
                                              / max(1, res["ok"]), 1),
               "postgres_cpu_us_per_req": round(max(0, after[5] - before[5]) * 1e6 / HZ / max(1, res["ok"]), 1),
               # the MySQL/MariaDB server process (all its threads)
               "mysql_cpu_us_per_req": round(max(0, after[6] - before[6]) * 1e6 / HZ / max(1, res["ok"]), 1),
               # what the server's processes had to read from the disk (not
               # from the page cache), per expected answer
               "server_disk_read_kib_per_req": round(max(0, disk) / 1024 / max(1, res["ok"]), 3),
               "command": command_text(argv)}
        if wal_before is not None and wal_after is not None:
            # what the run made PostgreSQL write to its WAL (the whole
            # cluster: nothing else runs meanwhile), per expected answer
            rec["pg_wal_kib_per_req"] = round((wal_after - wal_before) / 1024 / max(1, res["ok"]), 2)
        if counters_before and counters_after:
            # MySQL: its status counters' deltas (the whole server), per expected answer
            rec["mysql_status_per_req"] = {k: round((counters_after[k] - counters_before[k]) / max(1, res["ok"]), 3)
                                           for k in counters_before if k in counters_after}
        rec.update(extra or {})
        check(rec)
        self.runs.append(rec)
        return rec

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

    def wait_quiet(self, rnd, limit_s):
        """Waits (up to BENCH_QUIET_WAIT s, `limit_s`) until other programs
        use less than a quarter of a core, and records what it saw."""
        t0 = time.monotonic()
        while True:
            a = self.meter.snapshot()
            time.sleep(2)
            foreign, _ = CpuMeter.foreign(a, self.meter.snapshot())
            waited = time.monotonic() - t0
            if foreign < 0.25 or waited >= limit_s:
                self.runs.append({"round": rnd, "workload": "quiet_check", "server": "-", "db": "-",
                                  "foreign_cores": round(foreign, 3), "waited_s": round(waited, 1)})
                if foreign >= 0.25:
                    log(f"{self.name}: other programs use {foreign:.2f} cores; measuring anyway")
                return
