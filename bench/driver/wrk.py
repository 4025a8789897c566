"""wrk, the load generator: its command line (always bench/wrk/bench.lua,
which checks every answer) and the result it prints as a BENCHJSON line."""

import json
import os
import subprocess

from .common import LUA, BenchError
from .procs import STARTED, spawn, stop_group


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
