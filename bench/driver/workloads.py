"""The workloads of one round (bench/README.md, "What is measured"): each
a function of the backend `b` and the round `rnd`, run on every server in
an order that alternates between rounds; play_round runs them all."""

import base64
import datetime
import http.client
import json
import math
import re
import statistics
import time

import seed

from . import paths, probes
from .accounting import CpuMeter, wait_idle
from .common import GUARD_BODY, LOGOUT_BODY, REJECT_BODY, BenchError, command_text, log
from .procs import stop_group
from .servers import one_request
from .wrk import wrk_argv, wrk_finish, wrk_start

HARDENED = "ledger-hardened"


def play_round(b, rnd):
    """Every workload once, on servers already started, each announced by
    a progress line (round, step, elapsed time of the round)."""
    steps = [("preflight", lambda: preflight(b, rnd)), ("reject", lambda: reject(b, rnd))]
    # big, small, small, big (mirrored in odd rounds), repeated
    # guard_passes times: each size's runs then center on the
    # same moment, whatever the machine's drift within the round
    sizes = ("big", "small") if rnd % 2 == 0 else ("small", "big")
    for size in (sizes + sizes[::-1]) * b.cfg.guard_passes:
        steps.append((f"guard-{size}", lambda size=size: guard(b, rnd, size)))
    steps += [("logout", lambda: logout(b, rnd)), ("logout bursts", lambda: logout_bursts(b, rnd)),
              ("login", lambda: login(b, rnd))]
    if rnd == b.cfg.rounds - 1:
        steps.append(("login timing", lambda: login_timing(b, rnd)))
    steps.append(("storm", lambda: storm(b, rnd)))
    steps += paths.steps(b, rnd)  # the new paths: paths.py, storm_rates.py, idle.py
    started = time.monotonic()
    for i, (name, step) in enumerate(steps, 1):
        took = int(time.monotonic() - started)
        log(f"{b.name}: round {rnd + 1}/{b.cfg.rounds}, workload {i}/{len(steps)}: {name} "
            f"(round running {took // 60}:{took % 60:02d})")
        step()


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
    preflight_hardened(b, uid)


def _iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _claims(token):
    seg = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def preflight_hardened(b, logout_uid):
    """The hardened server answers each of its workloads' requests as the
    spec says, and takes the seeded sessions as its own: a refused token
    401, a seeded session listed by GET /users/sessions, a login's token
    fresh and stored as its digest, a logout that revokes exactly that token."""
    h, hs = b.htokens, b.servers[(HARDENED, "big")]
    big = b.pop["big"]
    st, answer = one_request(hs, "/users/logout", {"Authorization": h.token(big["guard"][0])})
    if (st, answer) != (401, GUARD_BODY):
        raise BenchError(f"preflight hardened guard: {st} {answer[:200]!r}, expected 401 {GUARD_BODY!r}")
    uid = b.hsessions[0]
    st, answer = one_request(hs, "/users/sessions", {"Authorization": h.token(uid)}, method="GET")
    expected = re.escape(
        f'{{"sessions": [{{"id": {seed.token_id(uid)}, "current": true, "created_at": "{_iso(h.iat)}", '
        f'"expires_at": "{_iso(h.exp)}", "last_seen_at": "').encode() + rb'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ' + re.escape(
        f'", "client_ip": "{h.CLIENT_IP}", "user_agent": "{h.USER_AGENT}"}}]}}').encode()
    if st != 200 or not re.fullmatch(expected, answer):
        raise BenchError(f"preflight hardened sessions: {st} {answer[:300]!r}")
    body = json.dumps({"email": seed.email(big["login"][0]), "password": seed.PASSWORD}).encode()
    tokens = []
    for _ in range(2):
        st, answer = one_request(hs, "/users/login", {"Content-Type": "application/json"}, body)
        m = re.fullmatch(rb'\{"message": "SUCCESS", "access_token": "([A-Za-z0-9_.-]+)"\}', answer)
        if st != 200 or not m:
            raise BenchError(f"preflight hardened login: {st} {answer[:200]!r}")
        tokens.append(m.group(1).decode())
    c = _claims(tokens[0])
    if (list(c) != ["id", "iat", "exp", "jti"] or c["id"] != big["login"][0] or c["exp"] - c["iat"] != h.TTL
            or not re.fullmatch(r"[0-9a-f]{32}", c["jti"]) or tokens[0] == tokens[1]):
        raise BenchError(f"preflight hardened login: unexpected tokens {tokens}")
    db = b.db[(HARDENED, "big")]
    for t in tokens:
        if (b.engine.stored_count(db, h.digest(t)), b.engine.stored_count(db, t)) != (1, 0):
            raise BenchError(f"preflight hardened login: {t} is not stored as its digest exactly once")
    # the seeded session of the logout user both compat servers just logged out
    for expect in ((200, LOGOUT_BODY), (401, GUARD_BODY)):
        st, answer = one_request(hs, "/users/logout", {"Authorization": h.token(logout_uid)})
        if (st, answer) != expect:
            raise BenchError(f"preflight hardened logout: {st} {answer[:200]!r}, expected {expect}")
    log(f"{b.name}: preflight: the hardened server takes its seeded sessions and answers as specified")


def reject(b, rnd):
    """Django once, then ledger-server and the floor in adjacent pairs
    (ledger, floor, floor, ledger, mirrored in odd rounds, BENCH_GUARD_PASSES
    times, guard-length runs): the floor comparison is the median of each
    pair's ratio, so that the machine's drift between runs (10-20 % within a
    minute here) does not decide it."""
    cfg = b.cfg
    args = dict(path="/users/logout", file=b.files["reject"], mode="auth", cycle=1, expect_status=400,
                expect='"JWT_SIGNATURE_ERROR"')
    argv = wrk_argv(cfg, b.servers[("django", "big")], cfg.conns, cfg.duration, args)
    rec = b.rec.measure(rnd, "reject", "django", "big", argv, cfg.duration, b.rec.static_check)
    log(f"{b.name} r{rnd} reject django: {rec['rps']:.0f} req/s")
    pair = ("ledger", "floor") if rnd % 2 == 0 else ("floor", "ledger")
    for i, kind in enumerate((pair + pair[::-1]) * cfg.guard_passes):
        argv = wrk_argv(cfg, b.servers[(kind, "big")], cfg.conns, cfg.guard_duration, args)
        rec = b.rec.measure(rnd, "reject", kind, "big", argv, cfg.guard_duration, b.rec.static_check,
                            {"pair": i // 2})
        log(f"{b.name} r{rnd} reject {kind}: {rec['rps']:.0f} req/s")


def guard(b, rnd, size):
    """Valid tokens of users without a session (compat and Django: 200
    INVALID_USER; hardened: 401), and on the hardened server also a guard
    that lets the request in: GET /users/sessions with seeded sessions."""
    cfg = b.cfg
    kinds = ["django", "ledger"] + [k for k in ("ledger-mmap", HARDENED) if (k, size) in b.servers]
    for kind in order(rnd, kinds):
        if kind == HARDENED:
            hardened_guards(b, rnd, size)
            continue
        args = dict(path="/users/logout", file=b.files[f"guard_{size}"], mode="auth", cycle=1,
                    expect_status=200, expect='{"message": "INVALID_USER"}')
        argv = wrk_argv(cfg, b.servers[(kind, size)], cfg.conns, cfg.guard_duration, args)
        rec = b.rec.measure(rnd, "guard", kind, size, argv, cfg.guard_duration, b.rec.static_check)
        log(f"{b.name} r{rnd} guard-{size} {kind}: {rec['rps']:.0f} req/s")


def hardened_guards(b, rnd, size):
    cfg = b.cfg
    server = b.servers[(HARDENED, size)]
    runs = [("guard", dict(path="/users/logout", file=b.files["hguard"], mode="auth", cycle=1, expect_status=401,
                           expect='{"message": "INVALID_USER"}')),
            ("sessions", dict(path="/users/sessions", method="GET", file=b.files["hsessions"], mode="auth", cycle=1,
                              expect_status=200, expect='"current": true'))]
    for workload, args in runs if rnd % 2 == 0 else runs[::-1]:
        argv = wrk_argv(cfg, server, cfg.conns, cfg.guard_duration, args)
        rec = b.rec.measure(rnd, workload, HARDENED, size, argv, cfg.guard_duration, b.rec.static_check)
        log(f"{b.name} r{rnd} {workload}-{size} {HARDENED}: {rec['rps']:.0f} req/s")


def logout(b, rnd):
    cfg = b.cfg
    for kind in order(rnd, ("django", "ledger", HARDENED)):
        # the hardened server's last sessions serve its accepted-guard runs
        sessions = b.pop["big"]["logout"][: -cfg.hardened_sessions] if kind == HARDENED else b.pop["big"]["logout"]
        tokens = b.htokens if kind == HARDENED else b.tokens
        start = b.cursor[kind]
        left = len(sessions) - start
        if left < 1000:
            raise BenchError(f"{b.name}: only {left} sessions left for logout on {kind}: raise BENCH_USERS")
        chunk = sessions[start : start + min(left, 400_000)]
        path = b.write_lines(f"logout-{kind}.txt", [tokens.token(u) for u in chunk])
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
    if kind not in ("ledger", HARDENED):
        return run(), None
    before = probes.bcrypt_all_cores(b.bins, b.cfg.parallel_checks)
    rec = run()
    wait_idle(b.servers[(kind, "big")])
    return rec, [before, probes.bcrypt_all_cores(b.bins, b.cfg.parallel_checks)]


def login(b, rnd):
    cfg = b.cfg
    for kind in order(rnd, ("django", "ledger", HARDENED)):
        argv = wrk_argv(cfg, b.servers[(kind, "big")], cfg.login_conns, cfg.login_duration, login_args(b),
                        timeout=60)
        cpu_s = probes.bcrypt_now(b.bins)
        rec, ceiling = login_ceiling(b, kind, lambda: b.rec.measure(
            rnd, "login", kind, "big", argv, cfg.login_duration, b.rec.static_check, {"bcrypt_cpu_s": cpu_s}))
        if ceiling:
            rec["bcrypt_all_cores_rps"] = ceiling
        log(f"{b.name} r{rnd} login {kind}: {rec['rps']:.2f} req/s"
            + (f" (bare bcrypt on all cores: {ceiling[0]:.2f} before, {ceiling[1]:.2f} after)" if ceiling else ""))


def login_timing(b, rnd):
    """The hardened server's timing equalisation: BENCH_TIMING_PAIRS pairs
    of refused logins, one with an unknown e-mail and one with a known
    e-mail and a wrong password, interleaved (which one goes first
    alternates), sent one after the other on one keep-alive connection;
    the wall time of each from sending to the last byte of the answer.
    Every request has a client address of its own (X-Forwarded-For from
    127.0.0.1, a TRUSTED_PROXIES of this server), so the throttle counts
    stay below their limits and every answer is the 401."""
    cfg = b.cfg
    server = b.servers[(HARDENED, "big")]
    known = b.pop["big"]["login"]
    n = min(cfg.timing_pairs, len(known))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    times = {"unknown": [], "wrong": []}
    before = b.rec.meter.snapshot()
    try:
        for i in range(-1, n):  # pair -1 warms the connection up, unrecorded
            kinds = ("unknown", "wrong") if i % 2 == 0 else ("wrong", "unknown")
            for kind in kinds:
                j = 2 * (i + 1) + (kind == "wrong")
                # e-mails of the same length; the password is wrong for both
                email = (f"user{known[max(i, 0)]:07d}@bench.example" if kind == "wrong"
                         else f"user{max(i, 0):07d}@bench.invalid")
                body = json.dumps({"email": email, "password": "Wrong-pass-1!"}).encode()
                headers = {"Content-Type": "application/json",
                           "X-Forwarded-For": f"10.{(j >> 16) & 255}.{(j >> 8) & 255}.{j & 255}"}
                t0 = time.perf_counter()
                conn.request("POST", "/users/login", body=body, headers=headers)
                resp = conn.getresponse()
                answer = resp.read()
                dt = time.perf_counter() - t0
                if (resp.status, answer) != (401, GUARD_BODY):
                    raise BenchError(f"login timing ({kind} e-mail {email}): {resp.status} {answer[:200]!r}")
                if i >= 0:
                    times[kind].append(dt * 1000.0)
    finally:
        conn.close()
    foreign, steal = CpuMeter.foreign(before, b.rec.meter.snapshot())
    med = {k: statistics.median(v) for k, v in times.items()}
    rec = {"round": rnd, "workload": "login_timing", "server": HARDENED, "db": "big", "pairs": n,
           "unknown_ms": [round(v, 3) for v in times["unknown"]], "wrong_ms": [round(v, 3) for v in times["wrong"]],
           "median_unknown_ms": round(med["unknown"], 3), "median_wrong_ms": round(med["wrong"], 3),
           "ratio": med["unknown"] / med["wrong"], "foreign_cores": round(foreign, 3), "steal_cores": round(steal, 3)}
    b.rec.runs.append(rec)
    log(f"{b.name} r{rnd} login timing {HARDENED}: unknown e-mail {med['unknown']:.1f} ms, wrong password "
        f"{med['wrong']:.1f} ms (medians of {n} each): ratio {rec['ratio']:.3f}")


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
