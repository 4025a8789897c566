"""The workloads of one round (bench/README.md, "What is measured"): each
a function of the backend `b` and the round `rnd`, run on every server in
an order that alternates between rounds; play_round runs them all."""

import json
import math
import time

import seed

from . import probes
from .accounting import wait_idle
from .common import GUARD_BODY, LOGOUT_BODY, REJECT_BODY, BenchError, command_text, log
from .procs import stop_group
from .servers import one_request
from .wrk import wrk_argv, wrk_finish, wrk_start


def play_round(b, rnd):
    """Every workload once, on servers already started."""
    preflight(b, rnd)
    reject(b, rnd)
    # big, small, small, big (mirrored in odd rounds), repeated
    # guard_passes times: each size's runs then center on the
    # same moment, whatever the machine's drift within the round
    sizes = ("big", "small") if rnd % 2 == 0 else ("small", "big")
    for size in (sizes + sizes[::-1]) * b.cfg.guard_passes:
        guard(b, rnd, size)
    logout(b, rnd)
    logout_bursts(b, rnd)
    login(b, rnd)
    storm(b, rnd)


def order(rnd, kinds=("django", "ledger")):
    """The servers in the round's order: as given in even rounds, reversed in odd ones."""
    return list(kinds) if rnd % 2 == 0 else list(reversed(kinds))


def preflight(b, rnd):
    """Both servers give the same bytes for each workload's request."""
    dj, le = b.servers[("django", "big")], b.servers[("ledger", "big")]
    big = b.pop["big"]
    cases = [
        ("reject", "/users/logout", {"Authorization": b.tokens.bad_signature(big["guard"][0])}, None, 400, REJECT_BODY),
        ("guard", "/users/logout", {"Authorization": b.tokens.token(big["guard"][0])}, None, 200, GUARD_BODY),
        ("login", "/users/login", {"Content-Type": "application/json"},
         json.dumps({"email": seed.email(big["login"][0]), "password": seed.PASSWORD}).encode(), 200,
         ('{"message": "SUCCESS", "access_token": "%s"}' % b.tokens.token(big["login"][0])).encode()),
    ]
    for name, path, headers, body, status, expected in cases:
        got = {s.kind: one_request(s, path, headers, body) for s in (dj, le)}
        for kind, (st, answer) in got.items():
            if (st, answer) != (status, expected):
                raise BenchError(f"preflight {name}: {kind} answered {st} {answer[:200]!r}, expected {status} {expected!r}")
    # one logout each, of the same session
    uid = big["logout"][max(b.cursor.values())]
    for s in (dj, le):
        st, answer = one_request(s, "/users/logout", {"Authorization": b.tokens.token(uid)})
        if (st, answer) != (200, LOGOUT_BODY):
            raise BenchError(f"preflight logout: {s.kind} answered {st} {answer[:200]!r}")
    for kind in b.cursor:
        b.cursor[kind] = max(b.cursor.values()) + 1
    st, answer = one_request(b.servers[("ledger", "small")], "/users/logout",
                             {"Authorization": b.tokens.token(b.pop["small"]["guard"][0])})
    if (st, answer) != (200, GUARD_BODY):
        raise BenchError(f"preflight guard on ledger-small: {st} {answer[:200]!r}")
    log(f"{b.name}: preflight: Django and ledger-server answer identically")


def reject(b, rnd):
    cfg = b.cfg
    for kind in order(rnd, ("django", "ledger", "floor")):
        args = dict(path="/users/logout", file=b.files["reject"], mode="auth", cycle=1, expect_status=400,
                    expect='"JWT_SIGNATURE_ERROR"')
        argv = wrk_argv(cfg, b.servers[(kind, "big")], cfg.conns, cfg.duration, args)
        rec = b.rec.measure(rnd, "reject", kind, "big", argv, cfg.duration, b.rec.static_check)
        log(f"{b.name} r{rnd} reject {kind}: {rec['rps']:.0f} req/s")


def guard(b, rnd, size):
    cfg = b.cfg
    kinds = ("django", "ledger", "ledger-mmap") if ("ledger-mmap", size) in b.servers else ("django", "ledger")
    for kind in order(rnd, kinds):
        args = dict(path="/users/logout", file=b.files[f"guard_{size}"], mode="auth", cycle=1,
                    expect_status=200, expect='{"message": "INVALID_USER"}')
        argv = wrk_argv(cfg, b.servers[(kind, size)], cfg.conns, cfg.guard_duration, args)
        rec = b.rec.measure(rnd, "guard", kind, size, argv, cfg.guard_duration, b.rec.static_check)
        log(f"{b.name} r{rnd} guard-{size} {kind}: {rec['rps']:.0f} req/s")


def logout(b, rnd):
    cfg = b.cfg
    sessions = b.pop["big"]["logout"]
    for kind in order(rnd):
        start = b.cursor[kind]
        left = len(sessions) - start
        if left < 1000:
            raise BenchError(f"{b.name}: only {left} sessions left for logout on {kind}: raise BENCH_USERS")
        chunk = sessions[start : start + min(left, 400_000)]
        path = b.write_lines(f"logout-{kind}.txt", [b.tokens.token(u) for u in chunk])
        args = dict(path="/users/logout", file=path, mode="auth", cycle=0, expect_status=200,
                    expect='{"message": "LOGOUT_SUCCESS"}')
        argv = wrk_argv(cfg, b.servers[(kind, "big")], cfg.conns, cfg.duration, args)

        def check(rec, kind=kind, chunk=chunk):
            w = rec["wrk"]
            used = cfg.threads * max(t["sent"] for t in w["threads"])
            b.cursor[kind] += used
            rec["sessions_used"] = used
            if w["exhausted"]:
                raise BenchError(f"{b.name} logout on {kind}: the {len(chunk)} sessions of the run ran out; "
                                 f"raise BENCH_USERS or lower BENCH_DURATION")
            b.rec.static_check(rec)

        rec = b.rec.measure(rnd, "logout", kind, "big", argv, cfg.duration, check)
        log(f"{b.name} r{rnd} logout {kind}: {rec['rps']:.0f} req/s ({rec['sessions_used']} sessions used)")


# logout bursts (scale) --------------------------------------------------------


def logout_bursts(b, rnd):
    cfg = b.cfg
    mapped = ("ledger-mmap", "big") in b.servers
    for kind in order(rnd, ("django", "ledger", "ledger-mmap") if mapped else ("django", "ledger")):
        n = cfg.django_bursts if kind == "django" else cfg.bursts
        for i in range(n):
            for size in ("big", "small") if (rnd + i) % 2 == 0 else ("small", "big"):
                logout_burst(b, rnd, kind, size)


def logout_burst(b, rnd, kind, size):
    """BENCH_BURST distinct logouts on one server, timed from the first
    request to the last expected answer."""
    cfg = b.cfg
    # the mapped server works on ledger-server's files: their sessions
    own = "ledger" if kind == "ledger-mmap" else kind
    uids, path = burst_sessions(b, kind, own, size)
    d = burst_duration(b, own)
    args = dict(path="/users/logout", file=path, mode="auth", cycle=0, burst=1, filler=b.filler,
                expect_status=200, expect='{"message": "LOGOUT_SUCCESS"}')
    argv = wrk_argv(cfg, b.servers[(kind, size)], cfg.conns, d, args)
    rec = b.rec.measure(rnd, "logout_burst", kind, size, argv, d, burst_check(b, d), {"burst": cfg.burst})
    if size == "small":
        left = b.token_count(own, uids)
        if left:
            raise BenchError(f"{b.name}: {left} sessions of the small burst survived on {kind}")
        b.add_tokens(own, uids)
    log(f"{b.name} r{rnd} logout burst {size} {kind}: {cfg.burst} in {rec['seconds'] * 1000:.0f} ms "
        f"= {rec['rps']:.0f} req/s")


def burst_sessions(b, kind, own, size):
    """(user ids, token file) of a burst: on the big database sessions not
    used before (the cursor of `own` moves on), on the small one always the
    same, given back after each burst."""
    cfg = b.cfg
    if size != "big":
        return b.small_burst, b.files["burst_small"]
    sessions = b.pop["big"]["logout"]
    start = b.cursor[own]
    if start + cfg.burst > len(sessions):
        raise BenchError(f"{b.name}: sessions for bursts on {kind} ran out: raise BENCH_USERS")
    uids = sessions[start : start + cfg.burst]
    b.cursor[own] += cfg.burst
    return uids, b.write_lines(f"burst-{kind}.txt", [b.tokens.token(u) for u in uids])


def burst_duration(b, kind):
    """wrk runs for its whole -d even when the burst ends early: long
    enough for a burst at 1/1.3 of the slowest recent logout rate."""
    rates = [r["rps"] for r in b.rec.runs if r["workload"] in ("logout", "logout_burst") and r["server"] == kind]
    rate = min(rates[-3:]) if rates else 50.0
    return max(2, math.ceil(1.3 * b.cfg.burst / rate) + 1)


def burst_check(b, d):
    """The check of a burst's record: every logout answered as expected
    within wrk's `d` seconds; sets the burst's time and rate."""
    cfg = b.cfg

    def check(rec):
        w = rec["wrk"]
        if w["bad"] or w["exhausted"]:
            raise BenchError(f"{b.name} logout burst on {rec['server']}-{rec['db']}: {w['bad']} "
                             f"unexpected answers, first: {w['bad_sample']}")
        if w["ok"] != cfg.burst or w["burst_last"] is None or not all(t["done"] for t in w["threads"]):
            raise BenchError(f"{b.name} logout burst on {rec['server']}-{rec['db']} did not finish "
                             f"in {d}s ({w['ok']}/{cfg.burst}; socket errors {w['errors']})")
        rec["seconds"] = w["burst_last"] - w["burst_first"]
        rec["rps"] = cfg.burst / rec["seconds"]

    return check


# login and the storm --------------------------------------------------------------


def login_args(b):
    return dict(path="/users/login", file=b.files["login"], mode="login", password=seed.PASSWORD, cycle=1,
                expect_status=200, expect='"access_token"')


def login_ceiling(b, kind, run):
    """For ledger-server's login runs: the bare code's all-core
    throughput measured right before and right after `run()`, recorded
    with the run (`bcrypt_all_cores_rps`), so a login share below the
    limit can be told apart from a machine that cannot reach it. The
    measurement after waits until the server has finished the logins
    still in flight when wrk stopped."""
    if kind != "ledger":
        return run(), None
    before = probes.bcrypt_all_cores(b.bins, b.cfg.parallel_checks)
    rec = run()
    wait_idle(b.servers[(kind, "big")])
    return rec, [before, probes.bcrypt_all_cores(b.bins, b.cfg.parallel_checks)]


def login(b, rnd):
    cfg = b.cfg
    for kind in order(rnd):
        argv = wrk_argv(cfg, b.servers[(kind, "big")], cfg.login_conns, cfg.login_duration, login_args(b),
                        timeout=60)
        cpu_s = probes.bcrypt_now(b.bins)
        rec, ceiling = login_ceiling(b, kind, lambda: b.rec.measure(
            rnd, "login", kind, "big", argv, cfg.login_duration, b.rec.static_check, {"bcrypt_cpu_s": cpu_s}))
        if ceiling:
            rec["bcrypt_all_cores_rps"] = ceiling
        log(f"{b.name} r{rnd} login {kind}: {rec['rps']:.2f} req/s"
            + (f" (bare bcrypt on all cores: {ceiling[0]:.2f} before, {ceiling[1]:.2f} after)" if ceiling else ""))


def probe_args(b):
    """The paced guard probe: at most BENCH_STORM_GUARD_RATE requests a second."""
    cfg = b.cfg
    delay_ms = max(1, round(1000 * cfg.storm_guard_conns / cfg.storm_guard_rate))
    return dict(path="/users/logout", file=b.files["guard_big"], mode="auth", cycle=1,
                expect_status=200, expect='{"message": "INVALID_USER"}', delay_ms=delay_ms)


def storm(b, rnd):
    cfg = b.cfg
    for kind in order(rnd):
        server = b.servers[(kind, "big")]
        # the same probe without the storm: the latency to compare with
        pargv = wrk_argv(cfg, server, cfg.storm_guard_conns, cfg.storm_duration, probe_args(b), latency=True,
                         timeout=30, threads=1)
        prec = b.rec.measure(rnd, "probe_rest", kind, "big", pargv, cfg.storm_duration, b.rec.static_check)
        warm = 2
        login_d = cfg.storm_duration + warm + 2
        largv = wrk_argv(cfg, server, cfg.login_conns, login_d, login_args(b), timeout=60)
        cpu_s = probes.bcrypt_now(b.bins)
        (grec, lres), ceiling = login_ceiling(
            b, kind, lambda: storm_run(b, rnd, kind, server, largv, login_d, warm))
        lrec = {"round": rnd, "workload": "storm_login", "server": kind, "db": "big", "wrk": lres,
                "bcrypt_cpu_s": cpu_s, "command": command_text(largv)}
        if ceiling:
            lrec["bcrypt_all_cores_rps"] = ceiling
        b.rec.static_check(lrec)
        b.rec.runs.append(lrec)
        lat = grec["wrk"]["latency_us"]
        rest = prec["wrk"]["latency_us"]
        log(f"{b.name} r{rnd} probe at rest {kind}: guard p50 {rest['p50'] / 1000:.2f} ms p99 {rest['p99'] / 1000:.2f} ms")
        log(f"{b.name} r{rnd} storm {kind}: guard p50 {lat['p50'] / 1000:.2f} ms p99 {lat['p99'] / 1000:.2f} ms "
            f"({grec['rps']:.0f} req/s), login {lrec['rps']:.2f} req/s")


def storm_run(b, rnd, kind, server, largv, login_d, warm):
    """The login storm (`largv`, `login_d` s) and, `warm` s into it, the
    paced guard probe, measured: (the probe's record, the storm's wrk result)."""
    cfg = b.cfg
    lproc, lout = wrk_start(largv, b.logdir, "wrk-storm-login.out")
    b.rec.sessions.add(lproc.pid)
    try:
        time.sleep(warm)
        gargv = wrk_argv(cfg, server, cfg.storm_guard_conns, cfg.storm_duration, probe_args(b),
                         latency=True, timeout=30, threads=1)
        grec = b.rec.measure(rnd, "storm_guard", kind, "big", gargv, cfg.storm_duration, b.rec.static_check)
        lres = wrk_finish(lproc, lout, login_d)
    finally:
        b.rec.sessions.discard(lproc.pid)
        if lproc.poll() is None:
            stop_group(lproc, grace=2)
    return grec, lres
