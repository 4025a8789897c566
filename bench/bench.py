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

The parts are in bench/driver/:
  config.py     the BENCH_* settings
  backend.py    one engine's run: databases, servers, rounds
  databases.py  SQLite, PostgreSQL and MySQL/MariaDB specifics
  workloads.py  the workloads of a round
  probes.py     bcrypt limit, the database's work alone, disk reads
  recorder.py   each wrk run, checked, with its CPU and I/O accounting
  accounting.py /proc: CPU ticks, disk reads, RSS, other programs' CPU
  servers.py    a server process; wrk.py: the load generator
  procs.py      starting and stopping processes
  machine.py    machine and versions for the results
"""

import argparse
import datetime
import json
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import report  # noqa: E402
import report_paths  # noqa: E402
from driver import procs  # noqa: E402
from driver.backend import Backend  # noqa: E402
from driver.common import CORES, HARDENED_SETTINGS, ROOT, BenchError, log  # noqa: E402
from driver.config import Config  # noqa: E402
from driver.machine import machine, versions  # noqa: E402
from driver.probes import bcrypt_summary  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--bins", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("backends", nargs="+", choices=["sqlite", "postgres", "mysql"])
    return ap.parse_args()


def on_signal(signum, _frame):
    # aborting: no graceful shutdowns, everything we started dies now
    procs.kill_all()
    log(f"interrupted (signal {signum}): stopped every process started; cleaning up")
    raise SystemExit(128 + signum)


def server_commands(cfg, name, oracle):
    """How the servers were started, for the results (secrets elided)."""
    return {
        "django": f"PORT=… REF_DB_ENGINE={ {'sqlite': 'sqlite', 'postgres': 'postgresql'}.get(name, name)} REF_DB_NAME=… "
                  f"REF_SECRET_KEY=… REF_WORKERS={cfg.django_workers} {os.path.relpath(oracle, ROOT)}/run.sh",
        "ledger": "SECRET_KEY=… DATABASE_URL=… BIND=… target/release/ledger-server serve"
                  + (f" (RUST_LOG={cfg.rust_log})" if cfg.rust_log else " (RUST_LOG unset: info)")
                  + (" with ACCESS_LOG=1" if cfg.access_log else ", no access log"),
        "hardened": "the ledger-server command with " + " ".join(f"{k}={v}" for k, v in HARDENED_SETTINGS.items()),
        "floor": "BIND=… target/release/floor",
    }


def run_backend(a, cfg, meta, b, outdir):
    """One backend's whole run; writes bench/results[/quick]/<backend>.json."""
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        b.run()
    finally:
        b.drop()
    bcrypt_info = bcrypt_summary(b.bcrypt)
    log(f"{b.name}: bcrypt cost 12, CPU time of one check: {bcrypt_info['rust']['median_cpu_s'] * 1000:.0f} ms "
        f"(ledger-server's code), {bcrypt_info['python']['median_cpu_s'] * 1000:.0f} ms (Python bcrypt); limit "
        f"{bcrypt_info['limit_rps']:.2f} logins/s; {CORES} threads at once: "
        f"{bcrypt_info['rust']['parallel_checks_per_s']:.2f} checks/s")
    result = {
        "backend": b.name,
        "quick": a.quick,
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": a.command,
        **meta,
        "bcrypt": bcrypt_info,
        "lookups": b.lookups,
        "seed": b.seed_info,
        "postgres_sizes": b.pg_info if b.name == "postgres" else None,
        "mysql_sizes": b.pg_info if b.name == "mysql" else None,
        "server_commands": server_commands(cfg, b.name, a.oracle),
        "runs": b.rec.runs,
        "servers": b.servers_seen,
    }
    path = os.path.join(outdir, f"{b.name}.json")
    # the measurements first: a fault in the summaries never loses a run
    # (`python3 bench/report.py` summarises the JSON again)
    with open(path + ".raw", "w") as f:
        json.dump(result, f, indent=1)
    result["summary"] = report.summarize(result)
    result["hardened_summary"] = report.hardened_summary(result)
    result["paths_summary"] = report_paths.paths_summary(result)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    os.remove(path + ".raw")
    log(f"wrote {os.path.relpath(path, ROOT)}")
    print(report.table_text(result), flush=True)
    hardened = report.hardened_table_text(result)
    if hardened:
        print("hardened profile:\n" + hardened + "\n" + "\n".join(report.hardened_notes(result)), flush=True)
    paths = report_paths.paths_table_text(result)
    if paths:
        print("new paths:\n" + paths + "\n" + "\n".join(report_paths.paths_notes(result)), flush=True)


def main():
    a = parse_args()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    procs.PGID_FILE = os.path.join(a.tmp, "pgids")
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
            run_backend(a, cfg, meta, b, outdir)
        if not a.quick:
            report.write_results(os.path.join(HERE, "results"), os.path.join(HERE, "RESULTS.md"))
            log("wrote bench/RESULTS.md")
    except BenchError as e:
        log(f"FAILED: {e}")
        status = 1
    finally:
        procs.cleanup_all()
        for b in backends:
            try:
                b.drop()
            except Exception:  # noqa: BLE001
                pass
    return status


if __name__ == "__main__":
    sys.exit(main())
