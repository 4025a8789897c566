"""The measurements beside the workloads, with the probes of bench/probes
(package ledger-bench-probes) and from Python: the bcrypt limit
(bcrypt_cost), the guard's and a logout burst's database work alone
(lookup_cost), and a random read straight from the disk."""

import os
import shutil
import statistics
import time

import seed

from .common import CORES, MMAP_SIZE, log
from .procs import run_json


# bcrypt ---------------------------------------------------------------------------


def bcrypt_now(bins):
    """The CPU time of one cost-12 check right before a login run, with
    Python bcrypt 3.2.0 (the original's: OpenBSD's C code), median of 3:
    the bcrypt limit is cores ÷ the fastest single check on the machine,
    not ledger-server's own (whose single check is as fast, and which
    runs waiting checks two or three interleaved). The machine's speed
    drifts by several per cent within minutes, so the limit a login run
    is compared with is measured next to it. `bins` is kept for callers."""
    del bins
    import bcrypt

    stored = seed.password_hash().encode()
    cpu = []
    for _ in range(3):
        c = time.thread_time()
        assert bcrypt.checkpw(seed.PASSWORD.encode(), stored)
        cpu.append(time.thread_time() - c)
    return statistics.median(cpu)


def bcrypt_all_cores(bins, parallel_checks):
    """Checks per second of ledger-server's bare bcrypt code with one
    thread per core hashing at once (BENCH_PARALLEL_CHECKS each): what
    this machine delivers of `cores ÷ one check's CPU time` when every
    core hashes, with no server, no HTTP and no database."""
    return run_json([os.path.join(bins, "bcrypt_cost"), seed.password_hash(), seed.PASSWORD, "1",
                     str(parallel_checks)])["parallel_checks_per_s"]


def bcrypt_sample(bins, n=3):
    """One measurement of a cost-12 check: ledger-server's own code
    (bench/probes/src/bin/bcrypt_cost.rs) and Python bcrypt (the oracle's),
    each as the CPU time of the checking thread (robust to other programs
    competing for the cores) and as wall time, plus the checks per second
    of one thread per core hashing at once."""
    stored = seed.password_hash()
    rust = run_json([os.path.join(bins, "bcrypt_cost"), stored, seed.PASSWORD, str(n)])
    import bcrypt

    cpu, wall = [], []
    for _ in range(n):
        c, t = time.thread_time(), time.perf_counter()
        assert bcrypt.checkpw(seed.PASSWORD.encode(), stored.encode())
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return {"rust": rust, "python": {"cpu_s": cpu, "wall_s": wall}}


def bcrypt_summary(samples):
    """The bcrypt limit of a run: cores ÷ the median CPU time of one
    Python bcrypt 3.2.0 check over every measurement of the run (one
    before each round); ledger-server's own check timed beside it."""
    rust_cpu = [x for s in samples for x in s["rust"]["cpu_s"]]
    rust_wall = [x for s in samples for x in s["rust"]["wall_s"]]
    py_cpu = [x for s in samples for x in s["python"]["cpu_s"]]
    py_wall = [x for s in samples for x in s["python"]["wall_s"]]
    t = statistics.median(rust_cpu)
    return {
        "cores": CORES,
        "limit_rps": CORES / statistics.median(py_cpu),
        "limit_basis": "python",
        "rust": {"implementation": "ledger_server::auth::password::check (pycompat::pybcrypt; waiting "
                                   "checks run two or three interleaved, pybcrypt::eks2/eks3), "
                                   "bench/probes/src/bin/bcrypt_cost.rs",
                 "median_cpu_s": t, "median_wall_s": statistics.median(rust_wall), "cpu_s": rust_cpu,
                 "parallel_checks_per_s": statistics.median([s["rust"]["parallel_checks_per_s"] for s in samples]),
                 "pair_median_cpu_s": statistics.median([x for s in samples for x in s["rust"].get("pair_cpu_s", [])]
                                                        or [float("nan")]),
                 "parallel_pair_checks_per_s": statistics.median(
                     [s["rust"].get("parallel_pair_checks_per_s", float("nan")) for s in samples]),
                 "triple_median_cpu_s": statistics.median(
                     [x for s in samples for x in s["rust"].get("triple_cpu_s", [])] or [float("nan")]),
                 "parallel_triple_checks_per_s": statistics.median(
                     [s["rust"].get("parallel_triple_checks_per_s", float("nan")) for s in samples])},
        "python": {"implementation": "python bcrypt 3.2.0 checkpw (the oracle's)",
                   "median_cpu_s": statistics.median(py_cpu), "median_wall_s": statistics.median(py_wall)},
        "measurements": len(samples),
    }


# the database's work alone ----------------------------------------------------------


def lookup_probe(b, rnd):
    """The guard's database lookup alone on ledger-server's databases
    (bench/probes/src/bin/lookup_cost.rs: same query, same connection
    settings, one thread), with the servers stopped: how much of the big
    database's extra cost per guard request is the database's own work.
    On SQLite also mapped, a read from the disk, and a logout burst."""
    lookup_cost = os.path.join(b.bins, "lookup_cost")
    for size in ("small", "big"):
        ids = os.path.join(b.dir, f"guard-ids-{size}.txt")
        if not os.path.exists(ids):
            with open(ids, "w") as f:
                f.write("".join(f"{u}\n" for u in b.pop[size]["guard"]))
        db = b.db[("ledger", size)]
        url = b.engine.url(db)
        res = run_json([lookup_cost, url, ids, "3"])
        res.update(round=rnd, db=size)
        if b.engine.embedded:
            # the same lookups with the whole file mapped and touched
            # once first: no system call, no copy, no disk; what the big
            # database still costs more is the memory itself
            mapped = run_json([lookup_cost, "--mmap", str(MMAP_SIZE), url, ids, "3"])
            res.update(mapped_cpu_us=mapped["cpu_us"])
            if size == "big":
                res.update(disk_read_cost(db))
            res.update(logout_probe(b, size, db))
        b.lookups.append(res)
        log(f"{b.name}: guard lookup alone on the {size} database: " + lookup_text(res))


def logout_probe(b, size, db):
    """A logout burst's database work alone (`lookup_cost --logout`), on a
    synced scratch copy of the SQLite file `db` (it deletes rows), with
    sessions this copy still has: the `logout_*` figures, or none if the
    probe failed (a probe, not a workload: reported, and the run goes on)."""
    scratch = os.path.join(b.dir, f"scratch-{size}.sqlite3")
    synced_copy(db, scratch)
    uids = (b.small_burst if size == "small"
            else b.pop["big"]["logout"][b.cursor["ledger"]:b.cursor["ledger"] + b.cfg.burst])
    burst = os.path.join(b.dir, f"logout-ids-{size}.txt")
    with open(burst, "w") as f:
        f.write("".join(f"{u}\n" for u in uids))
    try:
        lo = run_json([os.path.join(b.bins, "lookup_cost"), "--logout", scratch, burst])
        return dict(logout_wall_us=lo["wall_us"], logout_cpu_us=lo["cpu_us"],
                    logout_read_wall_us=lo["read_wall_us"], logout_delete_wall_us=lo["delete_wall_us"],
                    # CPU of the whole probe process while deleting
                    # (its commit and checkpoint threads included)
                    logout_read_cpu_us=lo["read_cpu_us"],
                    logout_delete_cpu_us=lo["delete_process_cpu_us"])
    except Exception as e:  # a probe, not a workload: report it and go on
        log(f"{b.name}: logout probe on the {size} database failed: {e}")
        return {}
    finally:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(scratch + suffix):
                os.remove(scratch + suffix)


def synced_copy(db, scratch):
    """A copy of a SQLite database (and its WAL) that is on disk before the
    probe: the kernel writing back hundreds of MB of it would slow the
    probe's fsyncs."""
    for suffix in ("", "-wal"):
        if os.path.exists(db + suffix):
            shutil.copyfile(db + suffix, scratch + suffix)
            fd = os.open(scratch + suffix, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    os.sync()


def lookup_text(res):
    """The log line's account of one lookup probe."""
    parts = [f"{res['cpu_us']:.1f} µs CPU, {res['wall_us']:.1f} µs wall"]
    if "mapped_cpu_us" in res:
        parts[0] += f" ({res['mapped_cpu_us']:.1f} µs CPU mapped)"
    if "disk_read_cpu_us" in res:
        parts.append(f"a 4 KiB read from the disk: {res['disk_read_wall_us']:.0f} µs wall, "
                     f"{res['disk_read_cpu_us']:.1f} µs CPU")
    if "logout_wall_us" in res:
        parts.append(f"a logout burst's database work: {res['logout_read_wall_us']:.1f} µs reading + "
                     f"{res['logout_delete_wall_us']:.1f} µs deleting per logout")
    return "; ".join(parts)


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
