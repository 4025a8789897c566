"""Guard latency during a login storm at the rates of issue 17 §2
(bench/README.md, "storm rates"): the guard paced at each of
BENCH_STORM_RATES requests a second (wrk `delay()`, BENCH_STORM_RATE_DELAY_MS
per request and connection, rate × delay ÷ 1000 connections) and closed-loop
(BENCH_STORM_CLOSED_CONNS connections, no delay), first at rest and then one
after the other during one login storm per server; on Django, ledger-server
and ledger-server with BCRYPT_YIELD=false BCRYPT_CGROUP=off (the latter
closed-loop and at the highest rate only, storm only). The probes at rest
run half as long (at least 2 s)."""

import time

from . import probes
from .common import CORES, BenchError, command_text, log
from .paths import NOYIELD, RATES
from .procs import stop_group
from .wrk import wrk_argv, wrk_finish, wrk_start


def probes_of(cfg, kind):
    """(label, connections, delay_ms or None) of the guard probes on `kind`."""
    paced = [(f"paced {r}/s", max(1, round(r * cfg.storm_rate_delay_ms / 1000)), cfg.storm_rate_delay_ms, r)
             for r in cfg.storm_rates]
    closed = ("closed", cfg.storm_closed_conns, None, None)
    if kind == NOYIELD:
        return [closed] + paced[-1:]
    return paced + [closed]


def guard_args(b, delay_ms):
    args = dict(path="/users/logout", file=b.files["guard_big"], mode="auth", cycle=1,
                expect_status=200, expect='{"message": "INVALID_USER"}')
    if delay_ms:
        args["delay_ms"] = delay_ms
    return args


def lenient_check(b):
    """Django at rates it cannot sustain: wrong answers still fail the run;
    socket errors and timeouts are recorded (they are the measure)."""

    def check(rec):
        w = rec["wrk"]
        if w["bad"]:
            raise BenchError(f"{b.name} {rec['workload']} on {rec['server']}: {w['bad']} unexpected answers, "
                             f"first: {w['bad_sample']}")
        rec["socket_errors"] = sum(w["errors"][k] for k in ("connect", "read", "write", "timeout"))
        rec["rps"] = w["ok"] / w["duration_s"]

    return check


def storm_rates(b, rnd):
    cfg = b.cfg
    kinds = ["django", RATES, NOYIELD]
    for kind in kinds if rnd % 2 == 0 else kinds[::-1]:
        server = b.servers[(kind, "big")]
        check = lenient_check(b) if kind == "django" else b.rec.static_check
        plan = probes_of(cfg, kind)
        # the same probes at rest, shorter (NOYIELD differs only in bcrypt: none)
        rest_d = max(2, cfg.storm_rate_duration // 2)
        if kind != NOYIELD:
            for label, conns, delay, rate in plan:
                argv = wrk_argv(cfg, server, conns, rest_d, guard_args(b, delay), latency=True, timeout=30,
                                threads=1)
                rec = b.rec.measure(rnd, "rate_rest", kind, "big", argv, rest_d, check,
                                    {"probe": label, "target_rps": rate, "conns": conns})
                log(f"{b.name} r{rnd} at rest {kind} {label}: {_lat(rec)}")
        warm = 2
        login_d = warm + len(plan) * (cfg.storm_rate_duration + 1) + 2
        largv = wrk_argv(cfg, server, cfg.login_conns, login_d, _login_args(b), timeout=60)
        cpu_s = probes.bcrypt_now(b.bins)
        lproc, lout = wrk_start(largv, b.logdir, "wrk-rates-login.out")
        b.rec.sessions.add(lproc.pid)
        try:
            time.sleep(warm)
            for label, conns, delay, rate in plan:
                argv = wrk_argv(cfg, server, conns, cfg.storm_rate_duration, guard_args(b, delay), latency=True,
                                timeout=30, threads=1)
                rec = b.rec.measure(rnd, "rate_storm", kind, "big", argv, cfg.storm_rate_duration, check,
                                    {"probe": label, "target_rps": rate, "conns": conns})
                log(f"{b.name} r{rnd} storm {kind} {label}: {_lat(rec)}")
            lres = wrk_finish(lproc, lout, login_d)
        finally:
            b.rec.sessions.discard(lproc.pid)
            if lproc.poll() is None:
                stop_group(lproc, grace=2)
        lrec = {"round": rnd, "workload": "rate_storm_login", "server": kind, "db": "big", "wrk": lres,
                "bcrypt_cpu_s": cpu_s, "command": command_text(largv)}
        b.rec.static_check(lrec)
        b.rec.runs.append(lrec)
        log(f"{b.name} r{rnd} storm {kind}: login {lrec['rps']:.2f} req/s "
            f"({lrec['rps'] * cpu_s / CORES * 100:.0f} % of the bcrypt limit)")


def _login_args(b):
    from .workloads import login_args

    return login_args(b)


def _lat(rec):
    lat = rec["wrk"]["latency_us"]
    return (f"{rec['rps']:.0f} req/s, p50 {lat['p50'] / 1000:.2f} ms, p99 {lat['p99'] / 1000:.2f} ms"
            + (f", {rec['socket_errors']} socket errors" if rec.get("socket_errors") else ""))
