"""The new paths' table (issue 17 §2, §4, §5) of bench/results/<backend>.json:
front door, shadow mode, metrics on the hot path, idle connections and the
guard at storm rates. The columns are those of the main table (Django,
ledger-server, ratio, target, met); each row's name says what its two
columns hold where they are not simply Django and ledger-server."""

import statistics

from report import _div, _fmt, _med, _ratio, _vals

FRONT, SHADOW, DJANGO_SHADOW, ADMIN, NOYIELD, RATES, NGINX = (
    "ledger-front", "ledger-shadow", "django-shadow", "ledger-admin", "ledger-noyield", "ledger-rates", "nginx-front")
IDLE_LEDGER, IDLE_DJANGO = "ledger-idle", "django-idle"


def _lat(p):
    return lambda r: r["wrk"]["latency_us"][p] / 1000.0


def _probe_vals(result, workload, server, probe, key="rps"):
    """The values of `key` over the matching runs; runs without it (the
    closed-loop probe has no target rate) are left out."""
    vals = [key(r) if callable(key) else r.get(key) for r in result["runs"]
            if r.get("workload") == workload and r.get("server") == server and r.get("probe") == probe]
    return [v for v in vals if v is not None]


def _per_round_ratio(result, workload, num, den):
    per = []
    for rnd in sorted({r["round"] for r in result["runs"] if isinstance(r.get("round"), int)}):
        a = [r["rps"] for r in result["runs"] if r.get("round") == rnd and r.get("workload") == workload
             and r.get("server") == num and "rps" in r]
        b = [r["rps"] for r in result["runs"] if r.get("round") == rnd and r.get("workload") == workload
             and r.get("server") == den and "rps" in r]
        if a and b:
            per.append(statistics.median(a) / statistics.median(b))
    return _med(per), per


def _front_rows(result, row, get, med, us):
    """The front door's rows. Every relay to gunicorn's sync workers opens
    a connection per request (they close each after answering), and on a
    machine Django already keeps busy its CPU comes out of Django's: where
    nginx relaying the same requests misses a target too, the row reads
    "machine limit" if ledger-server is within the target of nginx."""
    ng = get[NGINX]
    r, rn, rf = _div(get[FRONT], get["django"]), _div(ng, get["django"]), _div(get[FRONT], ng)
    met = None if r is None else True if r >= 0.95 else (
        "limit" if rn is not None and rn < 0.95 and rf is not None and rf >= 0.95 else False)
    cpu = {s: med("front_get", s, key="server_cpu_us_per_req") for s in ("django", FRONT, NGINX)}
    behind = {s: med("front_get", s, key="django_cpu_us_per_req") for s in (FRONT, NGINX)}
    row("front door: GET /ledgers, Django direct → through ledger-server's front door", "req/s", get["django"],
        get[FRONT], r, "≥ 0.95×", met,
        f"through nginx {_fmt(ng, 'req/s')} req/s ({_ratio(rn)} of direct)"
        + ("; a machine limit: nginx misses the target too, and the front door is within 5 % of it"
           if met == "limit" else "")
        + f". CPU µs/req: Django direct {us(cpu['django'])}; front door {us(cpu[FRONT])} + Django "
        f"{us(behind[FRONT])}; nginx {us(cpu[NGINX])} + Django {us(behind[NGINX])}")
    row("front door: GET /ledgers, through nginx (the relay floor) → through ledger-server's front door", "req/s",
        ng, get[FRONT], rf, "≥ 0.95× nginx", None if rf is None else rf >= 0.95)
    row("front door: relay CPU µs per GET /ledgers, nginx → ledger-server's front door", "us", cpu[NGINX],
        cpu[FRONT], _div(cpu[FRONT], cpu[NGINX]))
    post = {s: med("front_post", s) for s in ("django", FRONT, NGINX)}
    row("front door: POST /ledgers (a write), Django direct → through the front door", "req/s", post["django"],
        post[FRONT], _div(post[FRONT], post["django"]), "—", None,
        f"through nginx {_fmt(post[NGINX], 'req/s')} req/s")
    p50 = {s: med("front_get_paced", s, key=_lat("p50")) for s in ("django", FRONT, NGINX)}
    p99 = {s: med("front_get_paced", s, key=_lat("p99")) for s in ("django", FRONT, NGINX)}
    rate = med("front_get_paced", FRONT, key="paced_rate")
    (added, passes), (by_nginx, _) = _added(result, FRONT), _added(result, NGINX)
    over_nginx = None if None in (added, by_nginx) else added - by_nginx
    together = any(r.get("together") for r in result["runs"] if r.get("workload") == "front_get_paced")
    met = None if added is None else True if added <= 0.2 else (
        "limit" if by_nginx is not None and by_nginx > 0.2 and over_nginx <= 0.2 else False)
    row(f"front door: GET /ledgers p50 paced at ≤ {rate or '?'}/s, Django direct → through the front door", "ms",
        p50["django"], p50[FRONT], _div(p50[FRONT], p50["django"]), "added ≤ 0.2 ms", met,
        ("the three measured at once, ≤ the rate in all; " if together else "")
        + (f"added p50 {added:+.3f} ms; nginx adds {by_nginx:+.3f} ms (p50 {_fmt(p50[NGINX], 'ms')}), "
           f"each the median over {passes} passes of that pass's p50 minus Django's"
           if added is not None and by_nginx is not None else "")
        + ("; a machine limit: nginx adds more than 0.2 ms too (a connection to gunicorn per request, which "
           "Django direct does not wait for), and the front door is within 0.2 ms of it" if met == "limit" else "")
        + f"; p99 {_fmt(p99['django'], 'ms')} → {_fmt(p99[FRONT], 'ms')} (nginx {_fmt(p99[NGINX], 'ms')}); "
        f"achieved {_fmt(med('front_get_paced', 'django'), 'req/s')}, {_fmt(med('front_get_paced', FRONT), 'req/s')} "
        f"and {_fmt(med('front_get_paced', NGINX), 'req/s')} req/s")


def _added(result, relay):
    """The median over passes (rounds × BENCH_FRONT_PACED_PASSES) of (the
    relay's paced p50 − Django direct's in the same pass), in ms, and the
    number of passes."""
    by_pass = {}
    for r in result["runs"]:
        if r.get("workload") == "front_get_paced" and isinstance(r.get("round"), int):
            by_pass.setdefault((r["round"], r.get("pass", 0)), {})[r["server"]] = r["wrk"]["latency_us"]["p50"] / 1e3
    per = [got[relay] - got["django"] for _, got in sorted(by_pass.items()) if "django" in got and relay in got]
    return _med(per), len(per)


def paths_summary(result):
    """The rows: workload, unit, django, ledger, ratio, target, met, note."""
    rows = []
    cores = result["bcrypt"]["cores"]

    def row(name, unit, dj, le, ratio, target="—", met=None, note=""):
        rows.append({"workload": name, "unit": unit, "django": dj, "ledger": le, "ratio": ratio, "target": target,
                     "met": met, "note": note})

    def med(wl, server, db="big", key="rps"):
        return _med(_vals(result, wl, server, db, key))

    def us(v):
        return _fmt(v, "us")

    # front door, and nginx in front of the same Django (the relay floor)
    get = {s: med("front_get", s) for s in ("django", FRONT, NGINX)}
    if get[FRONT] is not None:
        _front_rows(result, row, get, med, us)

    # shadow mode
    sh = {s: med("shadow_guard", s, "small") for s in (DJANGO_SHADOW, "ledger", SHADOW)}
    if sh[SHADOW] is not None:
        cpu = {s: med("shadow_guard", s, "small", "server_cpu_us_per_req") for s in (DJANGO_SHADOW, "ledger", SHADOW)}
        behind = med("shadow_guard", SHADOW, "small", DJANGO_SHADOW + "_cpu_us_per_req")
        tallies = [r for r in result["runs"] if r.get("workload") == "shadow_tally"]
        t = tallies[-1] if tallies else {}
        row("shadow: guard (POST /users/logout), Django direct → through ledger-server with SHADOW on", "req/s",
            sh[DJANGO_SHADOW], sh[SHADOW], _div(sh[SHADOW], sh[DJANGO_SHADOW]), "—", None,
            f"ledger-server answering itself (SHADOW off) {_fmt(sh['ledger'], 'req/s')} req/s: on ÷ off "
            f"{_ratio(_div(sh[SHADOW], sh['ledger']))}; shadow checks: {t.get('matched', '?')} matched, "
            f"{t.get('mismatched', '?')} mismatched, {t.get('racy', '?')} racy")
        extra = None if cpu[SHADOW] is None or cpu["ledger"] is None else cpu[SHADOW] - cpu["ledger"]
        row("shadow: ledger-server's CPU µs per guard request, SHADOW off → on", "us", cpu["ledger"], cpu[SHADOW],
            _div(cpu[SHADOW], cpu["ledger"]), "—", None,
            (f"extra {extra:+.0f} µs per request; " if extra is not None else "")
            + f"Django's CPU per request direct {us(cpu[DJANGO_SHADOW])}, behind shadow mode {us(behind)}")

    # metrics on the hot path
    ratio, per = _per_round_ratio(result, "metrics_guard", ADMIN, "ledger")
    if ratio is not None:
        scrapes = sum(r.get("scrapes", 0) for r in result["runs"] if r.get("workload") == "metrics_guard")
        n = len(_vals(result, "metrics_guard", ADMIN))
        row("metrics: guard, ledger-server without → with ADMIN_BIND (/metrics scraped every second)", "req/s",
            med("metrics_guard", "ledger"), med("metrics_guard", ADMIN), ratio, "≥ 0.95×", ratio >= 0.95,
            f"median over rounds of each round's with ÷ without ({', '.join(f'{v:.3f}' for v in per)}); {n} runs "
            f"each, alternating; {scrapes} scrapes answered")

    # hardened guard beside compat: in the hardened table (report.hardened_summary)

    # idle connections
    idle = {s: [r for r in result["runs"] if r.get("workload") == "idle_guard" and r.get("server") == s]
            for s in (IDLE_DJANGO, IDLE_LEDGER)}
    if idle[IDLE_LEDGER]:
        last = {s: (v[-1] if v else None) for s, v in idle.items()}

        def g(s, f):
            return f(last[s]) if last[s] else None

        n = result["config"].get("idle_conns")
        dj, le = g(IDLE_DJANGO, lambda r: r["rps"]), g(IDLE_LEDGER, lambda r: r["rps"])
        bdj, ble = g(IDLE_DJANGO, lambda r: r["base_rps"]), g(IDLE_LEDGER, lambda r: r["base_rps"])
        row(f"idle: guard with {n:,} idle keep-alive connections open", "req/s", dj, le, _div(le, dj), "—", None,
            f"without them: Django {_fmt(bdj, 'req/s')}, ledger-server {_fmt(ble, 'req/s')} req/s (with ÷ without: "
            f"{_ratio(_div(dj, bdj))}, {_ratio(_div(le, ble))})")
        p99 = {s: g(s, _lat("p99")) for s in last}
        row("idle: guard p99 with them open", "ms", p99[IDLE_DJANGO], p99[IDLE_LEDGER],
            _div(p99[IDLE_LEDGER], p99[IDLE_DJANGO]), "—", None,
            "guard p99 without them: Django " + _fmt(_idle_base_p99(result, IDLE_DJANGO), "ms") + ", ledger-server "
            + _fmt(_idle_base_p99(result, IDLE_LEDGER), "ms"))
        errs = {s: g(s, lambda r: r.get("socket_errors", 0)) for s in last}
        row("idle: guard socket errors and timeouts with them open", "count", errs[IDLE_DJANGO], errs[IDLE_LEDGER],
            None, "—", None, "wrk's connect, read, write errors and timeouts (10 s) during the guard run")
        kept = {s: g(s, lambda r: r["idle_kept"]) for s in last}
        keep_alive = g(IDLE_LEDGER, lambda r: r.get("keep_alive_s"))
        ready = {s: g(s, lambda r: r["idle_ready"]) for s in last}
        row("idle: connections still open at the end (a second request answered on each)", "count",
            kept[IDLE_DJANGO], kept[IDLE_LEDGER], None, f"all {n:,} (ledger-server)",
            None if kept[IDLE_LEDGER] is None else kept[IDLE_LEDGER] == n,
            f"ledger-server ran with KEEP_ALIVE_SECONDS={keep_alive} (the default 5 s would close idle connections "
            f"before the measurement ends); gunicorn's sync workers close every connection after its answer: "
            + _ready_text(ready[IDLE_DJANGO], "Django") + "; " + _ready_text(ready[IDLE_LEDGER], "ledger-server"))
        rss = {s: g(s, lambda r: r["rss_open_kb"] / 1024) for s in last}
        before = {s: g(s, lambda r: r["rss_before_kb"] / 1024) for s in last}
        row("idle: server RSS with them open", "MiB", rss[IDLE_DJANGO], rss[IDLE_LEDGER],
            _div(rss[IDLE_LEDGER], rss[IDLE_DJANGO]), "—", None,
            f"before they opened: Django {_fmt(before[IDLE_DJANGO], 'MiB')}, ledger-server "
            f"{_fmt(before[IDLE_LEDGER], 'MiB')} (VmRSS of all the server's processes)")

    # the guard at storm rates
    # the rates' own ledger-server (older runs: the main one)
    led = RATES if any(r.get("server") == RATES for r in result["runs"]) else "ledger"
    labels = []
    for r in result["runs"]:
        if r.get("workload") == "rate_storm" and r.get("probe") not in labels and r.get("server") == led:
            labels.append(r["probe"])
    for label in labels:
        p99 = {s: _med(_probe_vals(result, "rate_storm", s, label, _lat("p99"))) for s in ("django", led, NOYIELD)}
        p50 = {s: _med(_probe_vals(result, "rate_storm", s, label, _lat("p50"))) for s in ("django", led, NOYIELD)}
        rps = {s: _med(_probe_vals(result, "rate_storm", s, label)) for s in ("django", led, NOYIELD)}
        rest = {s: _med(_probe_vals(result, "rate_rest", s, label, _lat("p99"))) for s in ("django", led)}
        target_rps = _med(_probe_vals(result, "rate_storm", led, label, "target_rps"))
        errs = sum(_probe_vals(result, "rate_storm", "django", label, "socket_errors") or [0])
        closed = target_rps is None
        need = 10.0 if closed else 1.0
        conns = _med(_probe_vals(result, "rate_storm", led, label, "conns"))
        name = (f"storm: closed-loop guard ({conns:.0f} connections), p99" if closed
                else f"storm: guard paced at {target_rps:,.0f}/s, p99")
        sat = "" if closed or rps["django"] is None or rps["django"] >= 0.9 * target_rps else " (Django saturated)"
        met = None if p99[led] is None else p99[led] <= need
        if met is False and rest[led] is not None and rest[led] > need:
            # the same probe without any storm already misses: what the
            # load generator and the machine deliver, whatever bcrypt does
            met = "limit"
        row(name, "ms", p99["django"], p99[led], _div(p99[led], p99["django"]), f"≤ {need:g} ms", met,
            f"p50 {_fmt(p50['django'], 'ms')} and {_fmt(p50[led], 'ms')}; achieved {_fmt(rps['django'], 'req/s')} "
            f"and {_fmt(rps[led], 'req/s')} req/s{sat}; Django socket errors/timeouts {errs}; the same probe at rest: "
            f"p99 {_fmt(rest['django'], 'ms')} and {_fmt(rest[led], 'ms')}"
            + ("; a machine limit when the probe at rest already exceeds the target" if met == "limit" else ""))
        if p99[NOYIELD] is not None:
            row(f"{name}, ledger-server default → BCRYPT_YIELD=false BCRYPT_CGROUP=off", "ms", p99[led],
                p99[NOYIELD], _div(p99[NOYIELD], p99[led]), "—", None,
                f"p50 {_fmt(p50[led], 'ms')} → {_fmt(p50[NOYIELD], 'ms')}; {_fmt(rps[NOYIELD], 'req/s')} req/s")

    def share(s):
        return _med([r["rps"] * r["bcrypt_cpu_s"] / cores for r in result["runs"]
                     if r.get("workload") == "rate_storm_login" and r.get("server") == s and r.get("bcrypt_cpu_s")])

    led = RATES if any(r.get("server") == RATES for r in result["runs"]) else "ledger"
    if share(led) is not None:
        row("storm (rates): login / bcrypt limit during the guard probes", "share", share("django"), share(led),
            None, "—", None, f"ledger-server with BCRYPT_YIELD=false BCRYPT_CGROUP=off: {_fmt(share(NOYIELD), 'share')}; "
            "the storm's target (≥ 95 %) is the main table's row")
    return rows


def _idle_base_p99(result, server):
    v = [r["wrk"]["latency_us"]["p99"] / 1000.0 for r in result["runs"]
         if r.get("workload") == "idle_base" and r.get("server") == server]
    return v[-1] if v else None


def _ready_text(ready, who):
    if not ready:
        return f"{who}: —"
    return (f"{who}: {ready['opened']:,} connected, {ready['answered']:,} first answers within "
            f"{ready['seconds']:.1f} s, {ready['closed_by_server']:,} closed by the server, "
            f"{ready['connect_failed']:,} connects failed")


def _fmtc(v, unit):
    if unit == "count":
        return "—" if v is None else f"{v:,.0f}"
    return _fmt(v, unit)


def paths_table_text(result):
    rows = result.get("paths_summary")
    if rows is None:
        rows = paths_summary(result)
    if not rows:
        return ""
    lines = ["| workload | Django (old) | ledger-server (new) | new/old | target | met? |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        met = {None: "—", True: "**yes**", False: "**NO**", "limit": "**machine limit**"}[r["met"]]
        lines.append(f"| {r['workload']} | {_fmtc(r['django'], r['unit'])} | {_fmtc(r['ledger'], r['unit'])} | "
                     f"{_ratio(r['ratio'])} | {r['target']} | {met} |")
    return "\n".join(lines)


def paths_notes(result):
    return [f"- {r['workload']}: {r['note']}." for r in paths_summary(result) if r["note"]]


def paths_section(res):
    """The lines of RESULTS.md for one backend's new paths, or []."""
    table = paths_table_text(res)
    if not table:
        return []
    return ["", "### New paths: front door, shadow mode, metrics, idle connections, storm rates", "",
            "Same run, same rounds. Front door: ledger-server (`UPSTREAM` = the main table's Django) relaying "
            "`/ledgers` (a valid token of a user with ledgers rows, seeded through Django's ORM) against that "
            "Django directly, and against nginx relaying the same requests to it (`proxy_pass`, as the product ran "
            "before: the floor of any relay to gunicorn's sync workers, which close each connection). Shadow: `SHADOW=true`, `SHADOW_SAMPLE=1.0` in front of a Django of its own on a copy of "
            "the small database that both share. Metrics: the guard on the compat server against one with "
            "`ADMIN_BIND`, alternating. Idle: last round only, a Django and a ledger-server of their own. Storm "
            "rates: the guard paced (wrk `delay()`) and closed-loop, one probe after the other during one login "
            "storm per server.", "", table, ""] + paths_notes(res)
