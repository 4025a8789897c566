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
        return self.measure_together(rnd, workload, [(kind, size, argv, extra)], duration, check)[0]

    def measure_together(self, rnd, workload, runs, duration, check):
        """wrk runs started at the same moment, one per (kind, size, argv,
        extra) of `runs`, each against its own server: the servers meet the
        same conditions (e.g. one upstream Django at one moment), so their
        latencies can be compared without the drift between runs one after
        another. The records, in the order of `runs`; with more than one
        run, each record's "together" names the servers measured with it,
        and the database counters (WAL, MySQL status, shared by all) are
        left out."""
        servers = [self.servers[(kind, size)] for kind, size, _, _ in runs]
        for server in servers:
            server.check_alive()
        disk_before = [read_bytes(s.proc.pid) for s in servers]
        wal_before, counters_before = self.wal_position(), self.counters()
        before = self.meter.snapshot()
        started = []
        try:
            for i, (_, _, argv, _) in enumerate(runs):
                proc, out = wrk_start(argv, self.logdir, "wrk.out" if i == 0 else f"wrk{i}.out")
                self.sessions.add(proc.pid)
                started.append((proc, out))
            results = [wrk_finish(proc, out, duration) for proc, out in started]
        finally:
            for proc, _ in started:
                self.sessions.discard(proc.pid)
        after = self.meter.snapshot()
        wal_after, counters_after = self.wal_position(), self.counters()
        foreign, steal = CpuMeter.foreign(before, after)
        recs = []
        for (kind, size, argv, extra), server, res, disk0 in zip(runs, servers, results, disk_before):
            server.check_alive()
            sid, ok = server.proc.pid, max(1, res["ok"])
            rec = {"round": rnd, "workload": workload, "server": kind, "db": size, "wrk": res,
                   "foreign_cores": round(foreign, 3), "steal_cores": round(steal, 3),
                   # CPU the server's own processes (and PostgreSQL) spent, per expected answer
                   "server_cpu_us_per_req": round((after[4].get(sid, 0) - before[4].get(sid, 0)) * 1e6 / HZ / ok, 1),
                   "postgres_cpu_us_per_req": round(max(0, after[5] - before[5]) * 1e6 / HZ / ok, 1),
                   # the MySQL/MariaDB server process (all its threads)
                   "mysql_cpu_us_per_req": round(max(0, after[6] - before[6]) * 1e6 / HZ / ok, 1),
                   # what the server's processes had to read from the disk (not
                   # from the page cache), per expected answer
                   "server_disk_read_kib_per_req": round(max(0, read_bytes(sid) - disk0) / 1024 / ok, 3),
                   "command": command_text(argv)}
            if len(runs) > 1:
                rec["together"] = [k for k, _, _, _ in runs]
            elif wal_before is not None and wal_after is not None:
                # what the run made PostgreSQL write to its WAL (the whole
                # cluster: nothing else runs meanwhile), per expected answer
                rec["pg_wal_kib_per_req"] = round((wal_after - wal_before) / 1024 / ok, 2)
            if len(runs) == 1 and counters_before and counters_after:
                # MySQL: its status counters' deltas (the whole server), per expected answer
                rec["mysql_status_per_req"] = {k: round((counters_after[k] - counters_before[k]) / ok, 3)
                                               for k in counters_before if k in counters_after}
            rec.update(extra or {})
            check(rec)
            recs.append(rec)
        self.runs.extend(recs)
        return recs

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
