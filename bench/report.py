"""Summaries of bench/results/<backend>.json, and bench/RESULTS.md.

    python3 bench/report.py        # rewrite bench/RESULTS.md from bench/results/*.json

Every figure is the median over the rounds of one run of bench/run.sh
(throughput in requests per second, latency in ms, memory in MiB).
"""

import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = (("sqlite", "SQLite"), ("postgres", "PostgreSQL"), ("mysql", "MySQL/MariaDB"))
# the JSON key of the database server's CPU per request, by backend
DB_CPU_KEY = {"postgres": "postgres_cpu_us_per_req", "mysql": "mysql_cpu_us_per_req"}


def _vals(result, workload, server, db="big", key="rps"):
    out = []
    for r in result["runs"]:
        if r.get("workload") == workload and r.get("server") == server and r.get("db") == db:
            v = key(r) if callable(key) else r.get(key)
            if v is not None:
                out.append(v)
    return out


def _med(vals):
    return statistics.median(vals) if vals else None


def _paired_ratio(result, workload, server):
    """The big database's throughput ÷ the small one's over adjacent pairs
    of runs (each round runs the sizes in the order big, small, small, big,
    …: every two consecutive runs of the server are one pair, measured
    seconds apart) and their median over all rounds' pairs, with each
    round's median pair for the notes: the machine's speed drifts by 10–20 %
    within a minute here, which a ratio of medians picks up and a ratio of
    neighbours mostly does not."""
    pairs, per_round = [], []
    for rnd in sorted({r["round"] for r in result["runs"] if isinstance(r.get("round"), int)}):
        seq = [r for r in result["runs"] if r.get("round") == rnd and r.get("workload") == workload
               and r.get("server") == server and r.get("db") in ("big", "small") and r.get("rps") is not None]
        mine = []
        for a, b in zip(seq[0::2], seq[1::2]):
            size = {a["db"]: a["rps"], b["db"]: b["rps"]}
            if len(size) == 2:
                mine.append(size["big"] / size["small"])
        if mine:
            pairs += mine
            per_round.append(statistics.median(mine))
    return _med(pairs), per_round


def _floor_pairs(result):
    """reject: ledger-server ÷ the floor over the adjacent pairs of runs
    (records with a "pair" number: ledger, floor, floor, ledger in a
    round), median over all pairs; older results (one run of each a
    round): the per-round ratio. (median, per-pair ratios)."""
    ratios = []
    for rnd in sorted({r["round"] for r in result["runs"] if isinstance(r.get("round"), int)}):
        runs = [r for r in result["runs"] if r.get("round") == rnd and r.get("workload") == "reject"
                and r.get("server") in ("ledger", "floor") and r.get("rps") is not None]
        keys = sorted({r.get("pair", -1) for r in runs})
        for k in keys:
            by = {r["server"]: r["rps"] for r in runs if r.get("pair", -1) == k}
            if len(by) == 2:
                ratios.append(by["ledger"] / by["floor"])
    return _med(ratios), ratios


def _server_vals(result, server, db, key):
    return [s[key] for s in result["servers"] if s["server"] == server and s["db"] == db and s.get(key) is not None]


def _div(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def summarize(result):
    """The rows of the results table: workload, Django, ledger-server,
    ratio new/old, target, met."""
    rows = []
    limit = result["bcrypt"]["limit_rps"]

    def row(name, unit, dj, le, ratio, target, met, note=""):
        rows.append({"workload": name, "unit": unit, "django": dj, "ledger": le, "ratio": ratio, "target": target,
                     "met": met, "note": note})

    def spread(vals):
        return f"{min(vals):.4g}–{max(vals):.4g} over {len(vals)}" if vals else ""

    rps = {}
    for wl, db in (("reject", "big"), ("guard", "big"), ("guard", "small"), ("logout", "big"), ("login", "big"),
                   ("logout_burst", "big"), ("logout_burst", "small"), ("storm_login", "big"), ("storm_guard", "big")):
        for s in ("django", "ledger", "floor"):
            rps[(wl, db, s)] = _vals(result, wl, s, db)
    m = {k: _med(v) for k, v in rps.items()}

    def ratio_row(name, wl, need, db="big"):
        dj, le = m[(wl, db, "django")], m[(wl, db, "ledger")]
        r = _div(le, dj)
        met = None if r is None else r >= need
        cap = db_server_cap(result, wl, db)
        if met is False and cap is not None and cap["cap"] < need:
            met = "limit"
        row(name, "req/s", dj, le, r, f"≥ {need}×", met,
            f"ledger-server runs: {spread(rps[(wl, db, 'ledger')])}"
            + (f"; the database server's CPU alone caps it at {cap['cap']:.1f}× (below)" if cap else ""))

    ratio_row("reject (bad signature)", "reject", 20)
    fl, le = m[("reject", "big", "floor")], m[("reject", "big", "ledger")]
    r, pairs = _floor_pairs(result)
    row("reject vs bare actix-web floor (old column: the floor)", "req/s", fl, le, r, "≥ 0.80 of floor", None if r is None else r >= 0.8,
        "the Django column holds the floor's throughput; new/old is the median over adjacent pairs of runs of "
        "ledger-server ÷ floor (" + ", ".join(f"{v:.3f}" for v in pairs) + ")")
    ratio_row("guard (no tokens row)", "guard", 40)
    ratio_row("logout (distinct sessions)", "logout", 30)

    dj, le = m[("login", "big", "django")], m[("login", "big", "ledger")]
    r = _div(le, dj)
    row("login", "req/s", dj, le, r, "≥ 1.10×", None if r is None else r >= 1.10,
        f"ledger-server runs: {spread(rps[('login', 'big', 'ledger')])}")
    cores = result["bcrypt"]["cores"]

    def share(wl, s):
        """Median over runs of throughput ÷ the bcrypt limit measured right
        before that run (older results: the run's overall limit)."""
        vals = [r["rps"] * r["bcrypt_cpu_s"] / cores if r.get("bcrypt_cpu_s") else r["rps"] / limit
                for r in result["runs"] if r["workload"] == wl and r["server"] == s and r["db"] == "big" and "rps" in r]
        return _med(vals)

    def all_cores(wl):
        """Median over ledger-server's runs of throughput ÷ what its bare
        bcrypt code reached with every core hashing (mean of the
        measurements right before and right after the run)."""
        vals = [r["rps"] / statistics.mean(r["bcrypt_all_cores_rps"]) for r in result["runs"]
                if r["workload"] == wl and r["server"] == "ledger" and r.get("bcrypt_all_cores_rps")]
        return _med(vals)

    def bare_share(wl):
        """Median of the bare code's all-core throughput ÷ the limit measured before the run."""
        vals = [statistics.mean(r["bcrypt_all_cores_rps"]) * r["bcrypt_cpu_s"] / cores for r in result["runs"]
                if r["workload"] == wl and r["server"] == "ledger" and r.get("bcrypt_all_cores_rps")
                and r.get("bcrypt_cpu_s")]
        return _med(vals)

    def share_rows(wl, name, note):
        sd, sl = share(wl, "django"), share(wl, "ledger")
        ac, bare = all_cores(wl), bare_share(wl)
        met = None if sl is None else sl >= 0.95
        if met is False and ac is not None and ac >= 0.95:
            # The server delivers ≥ 95 % of what the bare code does on all
            # cores; the machine itself falls short of cores ÷ t.
            met = "limit"
        row(name, "share", sd, sl, None, "≥ 0.95", met, note)
        if ac is not None:
            row(f"{name.replace(' / bcrypt limit', '')} / bare bcrypt on all cores", "share", None, ac, None, "—", None,
                f"the bare code itself reached {bare * 100:.1f} % of the limit on all cores (median over runs)")

    basis = "python" if result["bcrypt"].get("limit_basis") == "python" else "rust"
    share_rows("login", "login / bcrypt limit",
               f"each run against cores ÷ one check's CPU time ({'Python bcrypt 3.2.0' if basis == 'python' else 'ledger-server'}) "
               f"measured just before it; overall limit = {cores} cores ÷ "
               f"{result['bcrypt'][basis]['median_cpu_s'] * 1000:.0f} ms = {limit:.2f}/s; {cores} threads hashing one "
               f"check at a time measured {result['bcrypt']['rust']['parallel_checks_per_s']:.2f}/s")

    def lat(p):
        return lambda r: r["wrk"]["latency_us"][p] / 1000.0

    p99 = {s: _med(_vals(result, "storm_guard", s, "big", lat("p99"))) for s in ("django", "ledger")}
    p50 = {s: _med(_vals(result, "storm_guard", s, "big", lat("p50"))) for s in ("django", "ledger")}
    rp99 = {s: _med(_vals(result, "probe_rest", s, "big", lat("p99"))) for s in ("django", "ledger")}
    if any(v is not None for v in rp99.values()):
        row("same guard probe at rest: p99", "ms", rp99["django"], rp99["ledger"], _div(rp99["ledger"], rp99["django"]),
            "—", None, "the storm's guard probe without the storm")
    row("storm: guard p50 latency", "ms", p50["django"], p50["ledger"], _div(p50["ledger"], p50["django"]), "—", None)
    met = None if p99["ledger"] is None else p99["ledger"] <= 1.0
    if met is False and rp99["ledger"] is not None and rp99["ledger"] > 1.0:
        # the same probe without the storm already misses: the load
        # generator's and the machine's floor, whatever bcrypt does
        met = "limit"
    row("storm: guard p99 latency", "ms", p99["django"], p99["ledger"], _div(p99["ledger"], p99["django"]), "≤ 1 ms",
        met, f"the same probe at rest: p99 {rp99['ledger']:.2f} ms" + (
            " (a machine limit when the probe at rest already exceeds the target)" if met == "limit" else "")
        if rp99["ledger"] is not None else "")
    dj, le = m[("storm_guard", "big", "django")], m[("storm_guard", "big", "ledger")]
    row("storm: guard throughput", "req/s", dj, le, _div(le, dj), "—", None)
    share_rows("storm_login", "storm: login / bcrypt limit",
               "login throughput while the guard load runs, against the limit measured just before it")

    rss = {s: _med(_server_vals(result, s, "big", "peak_rss_kb")) for s in ("django", "ledger")}
    mib = {s: (v / 1024 if v is not None else None) for s, v in rss.items()}
    r = _div(rss["ledger"], rss["django"])
    nproc = _med(_server_vals(result, "django", "big", "processes"))
    row("peak RSS", "MiB", mib["django"], mib["ledger"], r, "≤ 0.10 of Django", None if r is None else r <= 0.10,
        f"VmHWM after all workloads; Django: {nproc} gunicorn processes summed")
    st = {s: _med(_server_vals(result, s, "big", "startup_s")) for s in ("django", "ledger")}
    row("start to first answer", "s", st["django"], st["ledger"], _div(st["ledger"], st["django"]), "—", None,
        "spawn (Django: run.sh, i.e. migrate + gunicorn) to the first HTTP answer")

    users = {size: result["seed"].get(size, {}).get("users") for size in ("big", "small")}
    label = {"big": _count_label(users["big"]), "small": _count_label(users["small"])}
    for wl, name in (("guard", "guard"), ("logout_burst", f"logout (bursts of {_burst(result)})")):
        for size in ("small", "big"):
            dj, le = m[(wl, size, "django")], m[(wl, size, "ledger")]
            row(f"scale: {name}, {label[size]} users", "req/s", dj, le, _div(le, dj), "—", None)
        dj, _ = _paired_ratio(result, wl, "django")
        le, rounds = _paired_ratio(result, wl, "ledger")
        met = None if le is None else le >= 0.90
        if met is False and wl == "logout_burst" and logout_scale_limited(result):
            met = "limit"
        if met is False and wl == "guard" and guard_scale_limit(result) is not None \
                and guard_scale_limit(result)["limited"]:
            met = "limit"
        dl = disk_limit(result, wl)
        if met is False and dl is not None and dl["disk_cpu_us"] > dl["budget_us"]:
            met = "disk"
        mm = _mmap_tradeoff(result, wl)
        if met is False and mm is not None and mm["ratio"] >= 0.90 and mm["rss_ratio"] > 0.10:
            met = "trade-off"
        row(f"scale: {name}, {label['big']} ÷ {label['small']}", "ratio", dj, le, None, "≥ 0.90", met,
            "median over adjacent pairs of runs (big and small seconds apart) of big ÷ small; each round's "
            "median pair, ledger-server: "
            + ", ".join(f"{v:.3f}" for v in rounds) + ")"
            + (f"; ledger-server read {dl['big_kib']:.2f} KiB per request from the disk on the big database, "
               f"{dl['small_kib']:.2f} on the small one" if dl is not None else ""))
        if mm is not None:
            row(f"scale: {name}, {label['big']} ÷ {label['small']}, ledger-server with `SQLITE_MMAP_SIZE`", "ratio",
                None, mm["ratio"], None, "—", None,
                "the same server on the same files, every connection mapping the whole database (median pair per round: "
                + ", ".join(f"{v:.3f}" for v in mm["rounds"]) + ")")
            if wl == "logout_burst" or _mmap_tradeoff(result, "logout_burst") is None:
                row("peak RSS, ledger-server with `SQLITE_MMAP_SIZE`", "MiB", mm["django_mib"], mm["mib"],
                    mm["rss_ratio"], "—", None, "VmHWM of the mapped server after its scale runs")
    return rows


HARDENED = "ledger-hardened"
# the timing-equalisation target: unknown e-mail ÷ wrong password within 5 %
TIMING_TOLERANCE = 0.05


def hardened_summary(result):
    """The hardened server's rows (ledger-server with PROFILE=hardened on
    its own, identically seeded big database, in the same rounds): workload,
    Django, compat (the ledger-server of the main table), hardened, the
    ratios, target, met; [] for runs made without it."""
    if not any(r.get("server") == HARDENED for r in result["runs"]):
        return []
    rows = []
    cores = result["bcrypt"]["cores"]

    def med(wl, server, key="rps"):
        return _med(_vals(result, wl, server, "big", key))

    def row(name, unit, dj, co, ha, target="—", met=None, note=""):
        rows.append({"workload": name, "unit": unit, "django": dj, "compat": co, "hardened": ha,
                     "vs_compat": _div(ha, co), "vs_django": _div(ha, dj), "target": target, "met": met,
                     "note": note})

    def cpu(wl, server):
        return med(wl, server, "server_cpu_us_per_req")

    for wl, name, note in (
            ("guard", "guard, token without a session",
             "the same lookups; Django and compat answer 200 INVALID_USER (no tokens row of the user), hardened "
             "401 INVALID_USER (no row of this token)"),
            ("logout", "logout (distinct sessions)",
             "hardened deletes the presented token's row, found by its digest, and its ledger_sessions row"),
            ("login", "login", "hardened also writes a ledger_sessions row and reads the failure counts")):
        vs = _div(med(wl, HARDENED), med(wl, "ledger"))
        # issue 17 §4: the hardened guard within 0.8× of compat's
        target, met = ("≥ 0.8× compat", None if vs is None else vs >= 0.8) if wl == "guard" else ("—", None)
        row(name, "req/s", med(wl, "django"), med(wl, "ledger"), med(wl, HARDENED), target, met,
            note=note + f"; CPU µs/req: Django {_fmt(cpu(wl, 'django'), 'us')}, compat {_fmt(cpu(wl, 'ledger'), 'us')}, "
                        f"hardened {_fmt(cpu(wl, HARDENED), 'us')}")
    sess = med("sessions", HARDENED)
    row("guard, accepted: GET /users/sessions (hardened only)", "req/s", None, None, sess,
        note="the seeded sessions of the hardened database, cycled; the answer lists the one session; the guard "
             "records a session as seen (a write) when its last-seen time is a minute old or more, so each "
             "session costs one write a minute "
             f"(CPU µs/req {_fmt(cpu('sessions', HARDENED), 'us')})")

    def share(s):
        vals = [r["rps"] * r["bcrypt_cpu_s"] / cores for r in result["runs"]
                if r["workload"] == "login" and r["server"] == s and r["db"] == "big" and r.get("bcrypt_cpu_s")
                and "rps" in r]
        return _med(vals)

    sh = share(HARDENED)
    logins = [r for r in result["runs"]
              if r["workload"] == "login" and r["server"] == HARDENED and r.get("bcrypt_all_cores_rps") and "rps" in r]

    def db_cores(r):
        # the database server's CPU per login (PostgreSQL or MySQL, a
        # process of its own on the same cores), as a share of the cores
        per = (r.get("postgres_cpu_us_per_req") or 0) + (r.get("mysql_cpu_us_per_req") or 0)
        return min(0.5, r["rps"] * per / 1e6 / cores)

    # the bare bcrypt code on all cores, on the cores the database server left
    ceiling = _med([r["rps"] / (statistics.mean(r["bcrypt_all_cores_rps"]) * (1 - db_cores(r))) for r in logins])
    db = _med([db_cores(r) for r in logins])
    met = None if sh is None else sh >= 0.95
    if met is False and ceiling is not None and ceiling >= 0.95:
        met = "limit"
    row("login / bcrypt limit", "share", share("django"), share("ledger"), sh, "≥ 0.95", met,
        "each run against cores ÷ one check's CPU time measured just before it"
        + (f"; hardened reached {ceiling * 100:.1f} % of the bare bcrypt code on all cores, measured right before "
           f"and after its runs" + (f", on the cores less the database server's CPU for the logins "
                                    f"({db * 100:.1f} % of them)" if db and db >= 0.001 else "") if ceiling is not None else ""))
    rss = {s: _med(_server_vals(result, s, "big", "peak_rss_kb")) for s in ("django", "ledger", HARDENED)}
    mib = {s: (v / 1024 if v is not None else None) for s, v in rss.items()}
    r = _div(rss[HARDENED], rss["django"])
    row("peak RSS", "MiB", mib["django"], mib["ledger"], mib[HARDENED], "≤ 0.10 of Django",
        None if r is None else r <= 0.10, "VmHWM after all workloads")
    t = hardened_timing(result)
    if t is not None:
        rows.append({"workload": "refused login: unknown e-mail ÷ wrong password (median wall time)", "unit": "ratio",
                     "django": None, "compat": None, "hardened": t["ratio"], "vs_compat": None, "vs_django": None,
                     "target": "within 5 %", "met": abs(t["ratio"] - 1) <= TIMING_TOLERANCE,
                     "note": f"unknown e-mail {t['unknown_ms']:.1f} ms, wrong password {t['wrong_ms']:.1f} ms"})
    return rows


def hardened_timing(result):
    """The timing equalisation over the login_timing records: medians of
    each kind's wall times (all pairs of all records) and their ratio."""
    recs = [r for r in result["runs"] if r.get("workload") == "login_timing" and r.get("server") == HARDENED]
    if not recs:
        return None
    unknown = [v for r in recs for v in r["unknown_ms"]]
    wrong = [v for r in recs for v in r["wrong_ms"]]
    u, w = statistics.median(unknown), statistics.median(wrong)
    q = lambda v, k: statistics.quantiles(v, n=10)[k] if len(v) >= 2 else v[0]  # noqa: E731
    return {"unknown_ms": u, "wrong_ms": w, "ratio": u / w, "pairs": len(unknown),
            "unknown_p10_p90": (q(unknown, 0), q(unknown, 8)), "wrong_p10_p90": (q(wrong, 0), q(wrong, 8)),
            "foreign_cores": max(r.get("foreign_cores", 0) for r in recs)}


def hardened_table_text(result):
    rows = result.get("hardened_summary")
    if rows is None:
        rows = hardened_summary(result)
    if not rows:
        return ""
    lines = ["| workload | Django | ledger-server compat | ledger-server hardened | hardened ÷ compat | "
             "hardened ÷ Django | target | met? |", "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        met = {None: "—", True: "**yes**", False: "**NO**", "limit": "**machine limit**"}[r["met"]]
        lines.append(f"| {r['workload']} | {_fmt(r['django'], r['unit'])} | {_fmt(r['compat'], r['unit'])} | "
                     f"{_fmt(r['hardened'], r['unit'])} | {_ratio(r['vs_compat'])} | {_ratio(r['vs_django'])} | "
                     f"{r['target']} | {met} |")
    return "\n".join(lines)


def hardened_notes(result):
    """The paragraph under the hardened table."""
    rows = hardened_summary(result)
    if not rows:
        return []
    out = [f"- {r['workload']}: {r['note']}." for r in rows if r["note"] and r["unit"] in ("req/s", "share")]
    t = hardened_timing(result)
    if t is not None:
        out.append(
            f"- Timing equalisation: {t['pairs']} logins with an unknown e-mail and {t['pairs']} with a known "
            f"e-mail and a wrong password, interleaved, one after the other on one keep-alive connection (each "
            f"with an `X-Forwarded-For` address of its own, the server trusting 127.0.0.1, so no throttle "
            f"answers): medians {t['unknown_ms']:.1f} ms and {t['wrong_ms']:.1f} ms (p10–p90 "
            f"{t['unknown_p10_p90'][0]:.1f}–{t['unknown_p10_p90'][1]:.1f} and {t['wrong_p10_p90'][0]:.1f}–"
            f"{t['wrong_p10_p90'][1]:.1f} ms), ratio {t['ratio']:.3f}; each runs one bcrypt check of cost 12. "
            f"Other programs used up to {t['foreign_cores']:.2f} cores meanwhile.")
    return out


def _scale_budget(small_us):
    """The most a big-database request may cost more than a small-database
    one that costs `small_us`, for 1M ÷ 1k ≥ 0.90."""
    return small_us * (1 / 0.90 - 1)


def disk_limit(result, workload):
    """What the big database's reads from the disk alone cost ledger-server,
    against what 1M ÷ 1k ≥ 0.90 allows, or None without the measurements.

    Per round: the server's CPU per request on the small database (its
    runs' median) gives the budget, small × (1 ÷ 0.90 − 1): the most a
    big-database request may cost more. The big runs' pages read from the
    disk per request, beyond the small runs', times the CPU one 4 KiB read
    from the disk takes on this machine (`disk_read_cost`, measured after
    each round), is a floor under what they do cost more. Medians over
    rounds."""
    cost = [r["disk_read_cpu_us"] for r in result.get("lookups") or [] if "disk_read_cpu_us" in r]
    rounds = sorted({r["round"] for r in result["runs"] if isinstance(r.get("round"), int)})
    budget, disk, kib = [], [], {"big": [], "small": []}
    for rnd in rounds:
        def of(db, key):
            return [r[key] for r in result["runs"] if r.get("round") == rnd and r.get("workload") == workload
                    and r.get("server") == "ledger" and r.get("db") == db and r.get(key) is not None]
        small_cpu = of("small", "server_cpu_us_per_req")
        reads = {db: of(db, "server_disk_read_kib_per_req") for db in ("big", "small")}
        if not (small_cpu and reads["big"] and reads["small"]):
            continue
        budget.append(_scale_budget(statistics.median(small_cpu)))
        extra_pages = max(0.0, statistics.median(reads["big"]) - statistics.median(reads["small"])) / 4
        disk.append(extra_pages)
        for db in kib:
            kib[db].append(statistics.median(reads[db]))
    if not (cost and budget):
        return None
    per_read = statistics.median(cost)
    return {"budget_us": statistics.median(budget), "pages": statistics.median(disk), "cpu_per_read_us": per_read,
            "disk_cpu_us": statistics.median(disk) * per_read, "big_kib": statistics.median(kib["big"]),
            "small_kib": statistics.median(kib["small"]),
            "read_wall_us": statistics.median(r["disk_read_wall_us"] for r in result["lookups"]
                                              if "disk_read_wall_us" in r)}


def _mmap_tradeoff(result, workload="guard"):
    """SQLite: the scale ratio of `workload` and the peak RSS of the
    "ledger-mmap" servers (ledger-server with SQLITE_MMAP_SIZE covering the
    whole file), or None when the run has none."""
    ratio, rounds = _paired_ratio(result, workload, "ledger-mmap")
    mmap_kb = _med(_server_vals(result, "ledger-mmap", "big", "peak_rss_kb"))
    django_kb = _med(_server_vals(result, "django", "big", "peak_rss_kb"))
    if ratio is None or mmap_kb is None or not django_kb:
        return None
    return {"ratio": ratio, "rounds": rounds, "mib": mmap_kb / 1024, "django_mib": django_kb / 1024,
            "rss_ratio": mmap_kb / django_kb}


def _burst(result):
    return result.get("config", {}).get("burst", "?")


def _count_label(n):
    if n is None:
        return "?"
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def _fmt(v, unit):
    if v is None:
        return "—"
    if unit == "share":
        return f"{v * 100:.1f} %"
    if unit == "ratio":
        return f"{v:.3f}"
    if unit == "ms":
        return f"{v:.2f} ms" if v < 1000 else f"{v / 1000:.2f} s"
    if unit == "MiB":
        return f"{v:.1f} MiB"
    if unit == "s":
        return f"{v:.3f} s"
    if unit == "us":
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"


def _ratio(v):
    if v is None:
        return "—"
    return f"{v:.1f}×" if v >= 10 else f"{v:.2f}×"


def table_text(result, with_notes=False):
    head = "| workload | Django (old) | ledger-server (new) | new/old | target | met? |"
    lines = [head, "| --- | ---: | ---: | ---: | --- | --- |"]
    for r in result["summary"]:
        met = {None: "—", True: "**yes**", False: "**NO**", "limit": "**machine limit**",
               "disk": "**machine limit (disk)**",
               "trade-off": "**trade-off with RSS**"}[r["met"]]
        lines.append(f"| {r['workload']} | {_fmt(r['django'], r['unit'])} | {_fmt(r['ledger'], r['unit'])} | "
                     f"{_ratio(r['ratio'])} | {r['target']} | {met} |")
    return "\n".join(lines)


def cost_table(result):
    """CPU time the servers spent per expected answer: robust to outside load."""
    dbkey = DB_CPU_KEY.get(result["backend"])
    pg = dbkey is not None
    head = "| workload | Django µs/req | ledger-server µs/req | Django ÷ ledger-server |"
    sep = "| --- | ---: | ---: | ---: |"
    if pg:
        head += (" PostgreSQL" if result["backend"] == "postgres" else " MySQL server (mariadbd, all threads)") \
            + " µs/req (Django / ledger-server) |"
        sep += " ---: |"
    lines = [head, sep]
    for wl, db, name in (("reject", "big", "reject"), ("guard", "big", "guard"), ("guard", "small", "guard, small db"),
                         ("logout", "big", "logout"), ("login", "big", "login")):
        dj = _med(_vals(result, wl, "django", db, "server_cpu_us_per_req"))
        le = _med(_vals(result, wl, "ledger", db, "server_cpu_us_per_req"))
        if dj is None and le is None:
            continue
        r = _div(dj, le)
        line = f"| {name} | {_fmt(dj, 'us')} | {_fmt(le, 'us')} | {_ratio(r)} |"
        if pg:
            pd = _med(_vals(result, wl, "django", db, dbkey))
            pl = _med(_vals(result, wl, "ledger", db, dbkey))
            line += f" {_fmt(pd, 'us')} / {_fmt(pl, 'us')} |"
        lines.append(line)
    fl = _med(_vals(result, "reject", "floor", "big", "server_cpu_us_per_req"))
    if fl is not None:
        lines.append(f"| reject on the floor | — | {_fmt(fl, 'us')} | — |" + (" — |" if pg else ""))
    return "\n".join(lines) if len(lines) > 2 else ""


def _probe_source(res, name):
    """The source of the run's probe `name` (floor, bcrypt_cost,
    lookup_cost): bench/probes/src/bin/, or examples/ in runs made before
    the probes moved into their own workspace member (their bcrypt record
    names examples/bcrypt_cost.rs)."""
    impl = res.get("bcrypt", {}).get("rust", {}).get("implementation", "")
    return f"examples/{name}.rs" if "examples/bcrypt_cost.rs" in impl else f"bench/probes/src/bin/{name}.rs"


def _lookups(res):
    """The guard's database lookup alone (lookup_cost) beside the server's
    CPU per guard request, on both database sizes."""
    lookups = res.get("lookups") or []
    if not lookups:
        return None
    med = {size: statistics.median(r["cpu_us"] for r in lookups if r["db"] == size) for size in ("small", "big")}
    cost = {size: [r["server_cpu_us_per_req"] for r in res["runs"]
                   if r["workload"] == "guard" and r["server"] == "ledger" and r["db"] == size]
            for size in ("small", "big")}
    if not (cost["small"] and cost["big"]):
        return None
    srv = {size: statistics.median(v) for size, v in cost.items()}
    return (f"scale, where the time goes: the guard's database lookup alone (`{_probe_source(res, 'lookup_cost')}`: "
            f"the same query with the same connection settings, one thread, servers stopped) takes "
            f"{med['small']:.1f} µs of CPU on the small database and {med['big']:.1f} µs on the big one "
            f"({med['big'] - med['small']:+.1f} µs); "
            f"ledger-server's CPU per guard request is {srv['small']:.1f} µs and {srv['big']:.1f} µs "
            f"({srv['big'] - srv['small']:+.1f} µs)."
            + _mapped_lookup(lookups)
            + (" The difference is SQLite reading index and table pages that a million-row database cannot keep in "
               "the process (they come from the kernel's page cache); holding them in the process would add their "
               "size to the RSS, whose target is ≤ 1/10 of Django's." if res["backend"] == "sqlite" else "")
            + _logout_probe(res))


def _mapped_lookup(lookups):
    mapped = {size: [r["mapped_cpu_us"] for r in lookups if r["db"] == size and "mapped_cpu_us" in r]
              for size in ("small", "big")}
    if not (mapped["small"] and mapped["big"]):
        return ""
    med = {size: statistics.median(v) for size, v in mapped.items()}
    return (f" With the whole file mapped and every page touched once first (`lookup_cost --mmap`: no system call, "
            f"no copy, no disk) the lookup takes {med['small']:.1f} µs and {med['big']:.1f} µs "
            f"(+{med['big'] - med['small']:.1f} µs): what a million rows cost in memory alone, the B-tree pages a "
            f"lookup touches being spread over tens of MB instead of fitting in the CPU's caches.")


def _probe_rows(res):
    return [r for r in res.get("lookups") or [] if "logout_delete_wall_us" in r]


def _logout_ceiling(res):
    """(per-logout deletion wall time by size, the server's small-database
    burst rate, the big database's ceiling) or None. SQLite has one writer,
    and 32 connections make groups of at most 32: a burst on the big
    database can go no faster than its deletions alone."""
    rows = _probe_rows(res)
    small = _med(_vals(res, "logout_burst", "ledger", "small"))
    if not rows or not small:
        return None
    dele = {size: statistics.median(r["logout_delete_wall_us"] for r in rows if r["db"] == size)
            for size in ("small", "big")}
    return dele, small, 1e6 / dele["big"]


def _logout_probe(res):
    """The logout bursts' database work alone (lookup_cost --logout) beside
    what the server's 1M ÷ 1k target asks."""
    rows = _probe_rows(res)
    c = _logout_ceiling(res)
    if not rows or not c:
        return ""
    read = {size: statistics.median(r["logout_read_wall_us"] for r in rows if r["db"] == size) for size in ("small", "big")}
    dele, small, ceiling = c
    per = 1e6 / small
    extra = dele["big"] - dele["small"]
    return (f" A logout burst's database work alone (`lookup_cost --logout` on a synced scratch copy: the guard's "
            f"reads, then the deletions, 32 at a time through the group commit, one transaction and one `fsync` "
            f"each, as 32 connections make them): reading takes {read['small']:.1f} µs per logout on the small "
            f"database and {read['big']:.1f} µs on the big one, deleting {dele['small']:.1f} µs and "
            f"{dele['big']:.1f} µs (+{extra:.1f} µs). Each deletion in a million-row table changes its own table "
            f"and index pages, which the commit must write to the WAL and sync (and a checkpoint later copies into "
            f"the database file), where the thousand-row table's deletions share a few pages. ledger-server takes "
            f"{per:.1f} µs per logout in a small-database burst; 1M ÷ 1k ≥ 0.90 leaves {_scale_budget(per):.1f} µs "
            f"more per logout on the big one, against +{extra:.1f} µs of deleting and "
            f"+{read['big'] - read['small']:.1f} µs of reading there (the commit thread's deletions overlap with "
            f"the other requests' work on the other cores, so the two do not simply add up). Every acknowledged "
            f"logout is on disk (`synchronous = FULL`, as Django has it). SQLite's one writer alone caps the big "
            f"database's bursts at {ceiling:,.0f}/s.")


def logout_scale_limited(res):
    """True when the big database's deletions alone cap its bursts below
    0.90 of the server's small-database burst rate, or when they alone cost
    more CPU per logout than 0.90 allows (`_logout_cpu`), or (PostgreSQL)
    when the database server's own extra CPU does (`_pg_logout_cpu`)."""
    c = _logout_ceiling(res)
    cpu = _logout_cpu(res)
    pg = _pg_logout_cpu(res)
    return ((c is not None and c[2] < 0.9 * c[1]) or (cpu is not None and cpu["extra_us"] > cpu["budget_us"])
            or (pg is not None and pg["extra_us"] > pg["budget_us"]))


def _pg_logout_cpu(res):
    """PostgreSQL: its backends' CPU per logout in ledger-server's bursts on
    each size (medians over all bursts) and the budget 1M ÷ 1k ≥ 0.90
    leaves: (ledger-server's + PostgreSQL's CPU per small-database logout)
    × (1 ÷ 0.90 − 1), both sharing the machine's cores. None on SQLite."""
    key = DB_CPU_KEY.get(res.get("backend"))
    if key is None:
        return None
    pg = {size: _med(_vals(res, "logout_burst", "ledger", size, key=key)) for size in ("small", "big")}
    srv = _med(_vals(res, "logout_burst", "ledger", "small", key="server_cpu_us_per_req"))
    if pg["small"] is None or pg["big"] is None or srv is None:
        return None
    return {"small_us": pg["small"], "big_us": pg["big"], "extra_us": pg["big"] - pg["small"],
            "server_small_us": srv, "budget_us": _scale_budget(srv + pg["small"])}


def _logout_cpu(res):
    """The CPU a logout burst's deletions take in the probe (the whole
    process: caller, commit thread and the checkpoint after it) on each
    database size, and the budget 1M ÷ 1k ≥ 0.90 leaves: ledger-server's CPU
    per logout in its small-database bursts × (1 ÷ 0.90 − 1). Medians over
    rounds; None without the measurements."""
    rows = [r for r in _probe_rows(res) if "logout_delete_cpu_us" in r]
    small_cpu = _vals(res, "logout_burst", "ledger", "small", key="server_cpu_us_per_req")
    if not rows or not small_cpu:
        return None
    dele = {size: [r["logout_delete_cpu_us"] for r in rows if r["db"] == size] for size in ("small", "big")}
    if not (dele["small"] and dele["big"]):
        return None
    med = {size: statistics.median(v) for size, v in dele.items()}
    budget = _scale_budget(statistics.median(small_cpu))
    return {"small_us": med["small"], "big_us": med["big"], "extra_us": med["big"] - med["small"],
            "budget_us": budget, "server_small_us": statistics.median(small_cpu)}


def _wal_note(res):
    """PostgreSQL: what ledger-server's logout bursts made the database
    write to its WAL, the CPU on each side per logout and size, and what
    the big database must fit into PostgreSQL's buffer pool."""
    wl = "logout_burst"
    med = {(key, size): _med(_vals(res, wl, "ledger", size, key=key))
           for key in ("pg_wal_kib_per_req", "postgres_cpu_us_per_req", "server_cpu_us_per_req")
           for size in ("small", "big")}
    if any(v is None for v in med.values()):
        return ""
    text = (f"scale, PostgreSQL's side of a logout in ledger-server's bursts (medians over all bursts): it wrote "
            f"{med[('pg_wal_kib_per_req', 'big')]:.2f} KiB to its WAL per logout on the big database and "
            f"{med[('pg_wal_kib_per_req', 'small')]:.2f} KiB on the small one (`pg_current_wal_lsn()` before and "
            f"after), and spent {med[('postgres_cpu_us_per_req', 'big')]:.0f} µs and "
            f"{med[('postgres_cpu_us_per_req', 'small')]:.0f} µs of CPU per logout; ledger-server "
            f"{med[('server_cpu_us_per_req', 'big')]:.0f} µs and {med[('server_cpu_us_per_req', 'small')]:.0f} µs.")
    sizes = res.get("postgres_sizes")
    if sizes:
        rel = sizes["relations_mib"]
        tokens = {k: v for k, v in rel.items() if k.startswith("tokens") or k == "users_pkey"}
        text += (f" A logout reads and changes the tokens table and its indexes (and the users primary key): "
                 + ", ".join(f"`{k}` {v:,.1f} MiB" for k, v in sorted(tokens.items()))
                 + f" on the big database, {sum(tokens.values()):,.0f} MiB in all, against `shared_buffers` = "
                 f"{sizes['shared_buffers']}; the small database's fit many times over.")
    return text


def _db_name(res):
    return {"postgres": "PostgreSQL's own processes", "mysql": "the MySQL/MariaDB server (mariadbd, all threads)"}.get(
        res.get("backend"), "the database")


def guard_scale_limit(res):
    """What the guard's database work alone costs more on the big database,
    against what 1M ÷ 1k ≥ 0.90 allows, or None without the measurements.

    SQLite (in the server's process): the lookup probe's CPU per lookup
    (`lookup_cost`, the same query and connection settings, one thread,
    servers stopped; medians over rounds) on each size; the budget is
    ledger-server's CPU per guard request on the small database × (1 ÷ 0.90
    − 1). PostgreSQL and MySQL (a server of their own): the database
    server's CPU per guard request in ledger-server's runs on each size
    (medians over all runs); the budget is (ledger-server's + the database
    server's CPU per small-database request) × (1 ÷ 0.90 − 1), both sharing
    the machine's cores. `limited`: the extra alone exceeds the budget."""
    srv = _med(_vals(res, "guard", "ledger", "small", key="server_cpu_us_per_req"))
    if srv is None:
        return None
    key = DB_CPU_KEY.get(res.get("backend"))
    if key is None:
        lookups = res.get("lookups") or []
        med = {size: _med([r["cpu_us"] for r in lookups if r["db"] == size]) for size in ("small", "big")}
        if None in med.values():
            return None
        out = {"kind": "lookup", "small_us": med["small"], "big_us": med["big"], "budget_us": _scale_budget(srv),
               "server_small_us": srv}
    else:
        db = {size: _med(_vals(res, "guard", "ledger", size, key=key)) for size in ("small", "big")}
        if None in db.values():
            return None
        out = {"kind": "server", "small_us": db["small"], "big_us": db["big"],
               "budget_us": _scale_budget(srv + db["small"]), "server_small_us": srv}
    out["extra_us"] = out["big_us"] - out["small_us"]
    out["limited"] = out["extra_us"] > out["budget_us"]
    return out


def db_server_cap(res, workload, db="big"):
    """PostgreSQL/MySQL: the ratio a server that cost no CPU at all could
    reach against Django, given the database server's CPU per request: the
    machine's cores run Django and its database server's work (Django's CPU
    per request + the database server's in Django's runs), and at least the
    database server's work for ledger-server's requests (its CPU per
    request in ledger-server's runs): cap = the first ÷ the second. Medians
    over runs; None on SQLite or without the figures."""
    key = DB_CPU_KEY.get(res.get("backend"))
    if key is None:
        return None
    dj = _med(_vals(res, workload, "django", db, key="server_cpu_us_per_req"))
    djdb = _med(_vals(res, workload, "django", db, key=key))
    ledb = _med(_vals(res, workload, "ledger", db, key=key))
    le = _med(_vals(res, workload, "ledger", db, key="server_cpu_us_per_req"))
    if None in (dj, djdb, ledb, le) or ledb <= 0:
        return None
    return {"django_us": dj, "django_db_us": djdb, "ledger_db_us": ledb, "ledger_us": le,
            "cap": (dj + djdb) / ledb}


def _db_cap_text(res, rows):
    """The paragraph under a table whose ratio rows the database server caps."""
    out = []
    for wl, name in (("guard", "guard (no tokens row)"), ("logout", "logout (distinct sessions)"),
                     ("reject", "reject (bad signature)")):
        c = db_server_cap(res, wl)
        row = next((r for r in rows if r["workload"] == name), None)
        if c is None or row is None or row["met"] != "limit":
            continue
        out.append(f"{name.split(' (')[0].capitalize()}: Django spends {c['django_us']:,.0f} µs of CPU per request and "
                   f"the database server {c['django_db_us']:,.0f} µs for it; for ledger-server's requests the "
                   f"database server alone spends {c['ledger_db_us']:,.0f} µs (ledger-server itself "
                   f"{c['ledger_us']:,.0f} µs): on the same cores even a server costing nothing would reach at most "
                   f"({c['django_us']:,.0f} + {c['django_db_us']:,.0f}) ÷ {c['ledger_db_us']:,.0f} = {c['cap']:.1f}× "
                   f"Django's throughput, below the target {row['target']}.")
    return " ".join(out)


def _guard_limit_text(res):
    g = guard_scale_limit(res)
    if g is None:
        return ""
    if g["kind"] == "lookup":
        return (f"Guard scale: the guard's database lookup alone (`lookup_cost`: the same query, the same connection "
                f"settings, one thread, servers stopped; medians over rounds) takes {g['small_us']:.1f} µs of CPU on "
                f"the small database and {g['big_us']:.1f} µs on the big one: +{g['extra_us']:.1f} µs, where "
                f"1M ÷ 1k ≥ 0.90 allows +{g['budget_us']:.1f} µs in all (ledger-server's {g['server_small_us']:.1f} µs "
                f"of CPU per small-database guard request × (1 ÷ 0.90 − 1)). That difference is SQLite's own: its "
                f"B-tree pages of a million rows are copied in from the kernel's page cache (or, mapped, miss the "
                f"CPU's caches: the lookup probe above) where the thousand-row database's stay in the process; no "
                f"HTTP or server code runs in the probe.")
    return (f"Guard scale: {_db_name(res)} spent {g['small_us']:.1f} µs of CPU per guard request in ledger-server's "
            f"small-database runs and {g['big_us']:.1f} µs in its big-database ones (medians over all runs): "
            f"+{g['extra_us']:.1f} µs, where 1M ÷ 1k ≥ 0.90 allows +{g['budget_us']:.1f} µs in all ((ledger-server's "
            f"{g['server_small_us']:.1f} µs + the database server's {g['small_us']:.1f} µs per small-database request) "
            f"× (1 ÷ 0.90 − 1)). ledger-server sends the one query (the user's id and its tokens rows' ids, by the "
            f"two indexes) for both sizes; the extra is the database server's.")


def _guard_scale_note(res):
    """The guard's scale row, where the time goes (every backend): the
    database's extra work per request against the budget."""
    g = guard_scale_limit(res)
    if g is None:
        return ""
    what = ("the guard's lookup alone (`lookup_cost`, CPU)" if g["kind"] == "lookup"
            else f"{_db_name(res)}, CPU per guard request in ledger-server's runs")
    return (f"scale, guard: {what}: {g['small_us']:.1f} µs on the small database, {g['big_us']:.1f} µs on the big one "
            f"({g['extra_us']:+.1f} µs), against a budget of {g['budget_us']:.1f} µs for 1M ÷ 1k ≥ 0.90 "
            f"({'exceeded: a measured limit' if g['limited'] else 'within it'}).")


def _mysql_note(res):
    """MySQL: the InnoDB buffer pool against the big database's tables,
    and what the scale runs read from the disk (pages not in the pool)."""
    if res.get("backend") != "mysql":
        return ""
    parts = []
    for wl, name in (("guard", "guard"), ("logout_burst", "logout bursts")):
        per = {}
        for size in ("small", "big"):
            per[size] = _med(_vals(res, wl, "ledger", size,
                                   key=lambda r: (r.get("mysql_status_per_req") or {}).get("Innodb_buffer_pool_reads")))
        if None not in per.values():
            parts.append(f"{name} {per['big']:.3f} InnoDB pages (16 KiB) read from the disk per request on the big "
                         f"database, {per['small']:.3f} on the small one")
    text = ("scale, MySQL's side (`SHOW GLOBAL STATUS` deltas around each run, the whole server; ledger-server's "
            "runs, medians): " + "; ".join(parts) + "." if parts else "")
    sizes = res.get("mysql_sizes")
    if sizes:
        rel = sizes["relations_mib"]
        text += (f" The big database's tables: " + ", ".join(f"`{k}` {v:,.1f} MiB" for k, v in sorted(rel.items()))
                 + f", against `innodb_buffer_pool_size` = {sizes['innodb_buffer_pool_size']} (shared by every "
                   f"database of the server: Django's, ledger-server's and the hardened one), "
                   f"`innodb_flush_method` = {sizes['innodb_flush_method']} (a page not in the pool is read from the "
                   f"disk, not from the kernel's page cache).")
    g = _guard_scale_note(res)
    return (text + " " + g).strip()


def _disk_note(res):
    """What the scale runs read from the disk rather than the page cache."""
    dl = {wl: disk_limit(res, wl) for wl in ("guard", "logout_burst")}
    known = {wl: d for wl, d in dl.items() if d is not None}
    if not known:
        return ""
    any_d = next(iter(known.values()))
    reclaim = res.get("machine", {}).get("page_cache_reclaim")
    return ("scale, reads from the disk (not from the page cache) per request, ledger-server's medians over rounds: "
            + "; ".join(f"{'guard' if wl == 'guard' else 'logout bursts'} {d['big_kib']:.3f} KiB on the big database, "
                        f"{d['small_kib']:.3f} KiB on the small one (× {d['cpu_per_read_us']:.1f} µs of CPU per 4 KiB "
                        f"read: {d['disk_cpu_us']:.2f} µs per request more, against a budget of {d['budget_us']:.1f} µs)"
                        for wl, d in known.items())
            + f". One random 4 KiB read from this machine's disk takes {any_d['read_wall_us']:.0f} µs"
            + (f"; the machine reclaims its page cache on its own ({reclaim}), so a database left alone for minutes "
               f"is read from the disk again" if reclaim else "") + ".")


def _foreign(result):
    vals = [r["foreign_cores"] for r in result["runs"] if "foreign_cores" in r and r.get("workload") != "quiet_check"]
    if not vals:
        return ""
    busy = sum(1 for v in vals if v >= 0.25)
    return (f"CPU used by other programs during the measurements: median {statistics.median(vals):.2f} cores, "
            f"max {max(vals):.2f}; {busy} of {len(vals)} runs saw ≥ 0.25 cores of outside load.")


def _hardened_section(res):
    table = hardened_table_text(res)
    if not table:
        return []
    hs = res["seed"].get("hardened", {})
    return ["", "### Hardened profile", "",
            f"ledger-server with `PROFILE=hardened` (`BCRYPT_COST` 12, the other hardened settings at their "
            f"defaults but `TRUSTED_PROXIES=127.0.0.1`, for the timing probe) in the same rounds, on a database of "
            f"its own seeded like the big one ({hs.get('users', 0):,} users, {hs.get('tokens', 0):,} tokens rows "
            f"holding `sha256:` digests of hardened tokens, {hs.get('sessions', 0):,} `ledger_sessions` rows). "
            f"Django and compat: the main table's servers and runs.", "", table, ""] + hardened_notes(res)


def _bcrypt_note(res, b):
    """The bcrypt limit's line: against Python bcrypt 3.2.0's single check
    (runs made before it was the basis: ledger-server's own check)."""
    py, rs = b["python"]["median_cpu_s"], b["rust"]["median_cpu_s"]
    pair, triple = b["rust"].get("pair_median_cpu_s"), b["rust"].get("triple_median_cpu_s")
    grouped = ""
    if pair == pair and pair and triple == triple and triple:  # not NaN
        grouped = (f"; two checks interleaved on one thread take {pair * 1000:.1f} ms each, three "
                   f"{triple * 1000:.1f} ms each (`pybcrypt::eks2`/`eks3`, which the server uses when several "
                   f"logins wait), and {b['cores']} threads running triples reached "
                   f"{b['rust'].get('parallel_triple_checks_per_s', float('nan')):.2f} checks/s")
    if b.get("limit_basis") == "python":
        return (f"- bcrypt limit: {b['cores']} cores ÷ {py * 1000:.1f} ms = {b['limit_rps']:.2f} logins/s: the median "
                f"CPU time of {len(b['python'].get('cpu_s') or b['rust']['cpu_s'])} cost-12 checks with Python bcrypt 3.2.0 (Django's, "
                f"OpenBSD's C code; measured before each round, and right before every login run for that run's "
                f"share). ledger-server's own single check (`{_probe_source(res, 'bcrypt_cost')}`) takes "
                f"{rs * 1000:.1f} ms ({rs / py:.3f}× Python's){grouped}. {b['cores']} threads checking one at a "
                f"time reached {b['rust']['parallel_checks_per_s']:.2f} checks/s.")
    return (f"- bcrypt limit: {b['cores']} cores ÷ {rs * 1000:.1f} ms = {b['limit_rps']:.2f} logins/s: the median CPU "
            f"time of {len(b['rust']['cpu_s'])} cost-12 checks with ledger-server's own `auth::password::check` "
            f"(`{_probe_source(res, 'bcrypt_cost')}`, measured before each round; wall time "
            f"{b['rust']['median_wall_s'] * 1000:.1f} ms). Python bcrypt 3.2.0 (Django's) takes {py * 1000:.1f} ms of "
            f"CPU. {b['cores']} threads checking at once reached {b['rust']['parallel_checks_per_s']:.2f} checks/s.")


def write_results(results_dir, md_path):
    import report_paths  # the new paths' section (it imports this module's helpers)

    results = []
    for key, title in BACKENDS:
        path = os.path.join(results_dir, f"{key}.json")
        if os.path.exists(path):
            with open(path) as f:
                res = json.load(f)
            # the table from the raw runs, by this version of the rules
            res["summary"] = summarize(res)
            results.append((title, res))
    if not results:
        raise SystemExit("no results in " + results_dir)
    out = ["# Benchmark results", ""]
    out.append("Generated by `bench/run.sh` (see `bench/README.md`); do not edit by hand. Raw numbers, every "
               "wrk command line and per-round values: `bench/results/<backend>.json`. Each figure is the median "
               "over rounds; Django and ledger-server ran alternately on the same machine in the same run, each on "
               "its own identically seeded copy of the database.")
    out.append("")
    out.append("Re-run everything (all three backends, rewrites this file): `bench/run.sh`; one backend: "
               "`bench/run.sh sqlite`, `bench/run.sh postgres` or `bench/run.sh mysql` (the other backends' sections "
               "are kept); "
               "smoke test: `bench/run.sh --quick` (writes only `bench/results/quick/`).")
    first = results[0][1]
    out += ["", "## Machine", "", "| | |", "| --- | --- |"]
    mach = first["machine"]
    out.append(f"| CPU | {mach['nproc']} × {mach['cpu']} (`nproc` = {mach['nproc']}) |")
    out.append(f"| memory | {mach['memory_gib']} GiB |")
    out.append(f"| kernel | {mach['kernel']} |")
    if mach.get("page_cache_reclaim"):
        out.append(f"| page-cache reclaim | {mach['page_cache_reclaim']} |")
    out.append(f"| OS | {mach['os']} |")
    for title, res in results:
        out.append(f"| {title} run | {res['date']} – {res['finished']} |")
    out += ["", "## Versions", "", "| component | version |", "| --- | --- |"]
    keys = []
    for _, res in results:
        keys += [k for k in res["versions"] if k not in keys]
    for k in keys:
        seen = [(title, res["versions"][k]) for title, res in results if k in res["versions"]]
        if len({v for _, v in seen}) == 1:
            out.append(f"| {k} | {seen[0][1]} |")
        else:  # e.g. the commit: each backend's run built the tree as it was then
            out.append(f"| {k} | " + "; ".join(f"{title} run: {v}" for title, v in seen) + " |")
    out += ["", "## Commands", ""]
    for title, res in results:
        out.append(f"- {title}: `{res['command']}`")
    sc = first["server_commands"]
    out.append(f"- Django: `{sc['django']}` (gunicorn with 2 × cores + 1 workers)")
    out.append(f"- ledger-server: `{sc['ledger']}` (`POOL_SIZE` default), built with `cargo build --release`")
    out.append(f"- floor: `{sc['floor']}` (`{_probe_source(first, 'floor')}`, actix default workers)")
    cfg = first["config"]
    guard = (f"guard {cfg['guard_duration']} s per run, {2 * cfg['guard_passes']} runs per database size and round; "
             if "guard_duration" in cfg else "")
    out.append(f"- load: wrk {cfg['threads']} thread(s), {cfg['conns']} connections, {cfg['duration']} s per run "
               f"({guard}login {cfg['login_conns']} connections for {cfg['login_duration']} s; storm: login "
               f"{cfg['login_conns']} connections plus guard requests paced at ≤ {cfg.get('storm_guard_rate', '?')}/s on "
               f"{cfg['storm_guard_conns']} connections with `--latency` for {cfg['storm_duration']} s); {cfg['rounds']} rounds; every answer checked by "
               f"`bench/wrk/bench.lua`. The exact wrk command of every run is in the JSON (`runs[].command`).")
    for title, res in results:
        out += ["", f"## {title}", ""]
        seeds = res["seed"]
        out.append(f"Run {res['date']}. Databases: {seeds['big']['users']:,} users / {seeds['big']['tokens']:,} tokens "
                   f"rows (every workload but `scale … small`), and {seeds['small']['users']:,} users / "
                   f"{seeds['small']['tokens']:,} tokens rows.")
        out.append("")
        out.append(table_text(res))
        out.append("")
        cost = cost_table(res)
        if cost:
            out += ["", "CPU time per expected answer (utime + stime of the server's processes, gunicorn master and "
                    "workers included; the database server's separately: PostgreSQL's backends, or the MySQL "
                    "server's one process, all its threads, during the run), medians over rounds:", "", cost, ""]
        b = res["bcrypt"]
        out.append(_bcrypt_note(res, b))
        lk = _lookups(res)
        if lk:
            out.append(f"- {lk}")
        wn = _wal_note(res)
        if wn:
            out.append(f"- {wn}")
        mn = _mysql_note(res)
        if mn:
            out.append(f"- {mn}")
        dk = _disk_note(res)
        if dk:
            out.append(f"- {dk}")
        fg = _foreign(res)
        if fg:
            out.append(f"- {fg}")
        missed = [r["workload"] for r in res["summary"] if r["met"] is False]
        out.append(f"- Targets missed: {', '.join(missed) if missed else 'none'}.")
        limited = [r["workload"] for r in res["summary"] if r["met"] == "limit"]
        if limited:
            why = []
            if any("login" in w for w in limited):
                why.append("Login rows: ledger-server reached ≥ 95 % of what its bare bcrypt code "
                           f"(`{_probe_source(res, 'bcrypt_cost')}`, no server) delivers with one thread per core "
                           "hashing, measured right before and right after each of its login runs; the machine itself "
                           "delivers less than 95 % of cores ÷ one check's CPU time (the row below each shows both).")
            if any("logout" in w for w in limited):
                c, cpu, pg = _logout_ceiling(res), _logout_cpu(res), _pg_logout_cpu(res)
                if pg is not None and pg["extra_us"] > pg["budget_us"]:
                    why.append(
                        f"Logout scale: {_db_name(res)} spent {pg['small_us']:.0f} µs of CPU per logout in "
                        f"ledger-server's small-database bursts and {pg['big_us']:.0f} µs in its big-database ones "
                        f"(medians over all bursts): +{pg['extra_us']:.0f} µs, where 1M ÷ 1k ≥ 0.90 allows "
                        f"+{pg['budget_us']:.0f} µs in all ((ledger-server's {pg['server_small_us']:.0f} µs + "
                        f"the database server's {pg['small_us']:.0f} µs per small-database logout) × (1 ÷ 0.90 − 1)). "
                        f"ledger-server sends one read of the two ids and the `DELETE … WHERE id = …` by primary "
                        f"key that Django's logout ends with; no HTTP or server code runs in those processes."
                        + (" The tables and indexes a logout touches are larger than PostgreSQL's buffer pool on "
                           "the big database (the note above)." if res.get("postgres_sizes") or res.get("mysql_sizes")
                           else ""))
            if any(w.startswith("scale: guard") for w in limited):
                why.append(_guard_limit_text(res))
                if c is not None and c[2] < 0.9 * c[1]:
                    why.append("Logout scale: SQLite's single writer deleting the big database's rows, 32 to a commit "
                               "and with nothing else running, is already slower than 0.90 of ledger-server's whole "
                               "small-database burst (the probe above).")
                if cpu is not None and cpu["extra_us"] > cpu["budget_us"]:
                    why.append(
                        f"Logout scale: SQLite's own work for the deletions, measured alone (`lookup_cost --logout`, "
                        f"the CPU of the whole process: the commits, 32 deletions each, and the checkpoints that copy "
                        f"their pages into the database file), takes {cpu['small_us']:.1f} µs per logout on the small "
                        f"database and {cpu['big_us']:.1f} µs on the big one: +{cpu['extra_us']:.1f} µs, where "
                        f"1M ÷ 1k ≥ 0.90 allows ledger-server +{cpu['budget_us']:.1f} µs in all "
                        f"({cpu['server_small_us']:.1f} µs of CPU per logout in its small-database bursts × "
                        f"(1 ÷ 0.90 − 1)). Each deleted row of the million-row table sits on table and index pages "
                        f"of its own, which the WAL must take in full (two writes per page) and a checkpoint must "
                        f"read back and write into the database file; the thousand-row table's deletions share a "
                        f"few pages. No HTTP or server code runs in that probe: it is SQLite writing every changed "
                        f"page to the WAL and later to the database file, which is how it makes each change "
                        f"durable (`synchronous = FULL`, as Django has it).")
            cap_text = _db_cap_text(res, res["summary"])
            if cap_text:
                why.append(cap_text)
            out.append(f"- At a measured machine limit: {', '.join(limited)}. " + " ".join(why))
        disk = [r["workload"] for r in res["summary"] if r["met"] == "disk"]
        dl = {wl: disk_limit(res, wl) for wl in ("guard", "logout_burst")}
        reclaim = res.get("machine", {}).get("page_cache_reclaim")
        if disk:
            parts = []
            for wl, name in (("guard", "guard"), ("logout_burst", "logout bursts")):
                d = dl[wl]
                if d is None or not any(w.startswith(f"scale: {name.split()[0]}") for w in disk):
                    continue
                parts.append(f"{name}: {d['pages']:.2f} pages (4 KiB) read from the disk per request beyond the "
                             f"small database's × {d['cpu_per_read_us']:.1f} µs of CPU per read = "
                             f"{d['disk_cpu_us']:.1f} µs per request, against a budget of {d['budget_us']:.1f} µs "
                             f"(ledger-server's CPU per request on the small database × (1 ÷ 0.90 − 1))")
            out.append(
                f"- At a measured machine limit (disk): {', '.join(disk)}. The big database's requests read pages "
                f"from the disk, not from the page cache, and those reads alone cost more CPU than the whole "
                f"difference 1M ÷ 1k ≥ 0.90 allows: " + "; ".join(parts) + ". One random 4 KiB read from this "
                f"machine's disk takes {next(d for d in dl.values() if d)['read_wall_us']:.0f} µs and its CPU "
                f"(`disk_read_cost` in bench/driver/probes.py, O_DIRECT, after each round)."
                + (f" The pages are not cached because this machine reclaims its page cache on its own: {reclaim}. "
                   f"A million-row database's rows that no request touched in the last minute are on the disk "
                   f"again, for Django and ledger-server alike; a logout's session is such a row, and so is every "
                   f"guard user's page at the start of a round." if reclaim else ""))
        traded = [r["workload"] for r in res["summary"] if r["met"] == "trade-off"]
        mm = _mmap_tradeoff(res)
        if traded and mm is not None:
            out.append(
                f"- Traded against peak RSS: {', '.join(traded)}. SQLite runs inside the server, so the pages a lookup "
                f"reads are either mapped into the server's memory or copied in from the kernel's page cache on "
                f"every lookup. With every connection mapping the database (`SQLITE_MMAP_SIZE`) the same server "
                f"reaches ≥ 0.90 there (the rows below each) at {mm['mib']:.0f} MiB peak RSS, "
                f"{mm['rss_ratio']:.2f}× Django's; without mapping it keeps ≤ 0.10× Django's RSS and pays the "
                f"copies (the lookup probe above). Both targets at once would need the pages the requests touch "
                f"(about 50 MB for the guard users on the 1M database) inside a process allowed "
                f"{0.10 * mm['django_mib']:.1f} MiB in all.")
        out += _hardened_section(res)
        out += report_paths.paths_section(res)
    out += ["", "## Method", ""]
    out += [
        "- Seeding (`bench/seed.py`) writes straight into the databases: users with Django-shaped timestamps and one "
        "real bcrypt cost-12 hash shared by all; every user except ids ≡ 0 and ≡ 50 (mod 100) has one tokens row "
        "with its exact token. Ids ≡ 0 are the guard users (no tokens row: `INVALID_USER` with 200), ids ≡ 50 the "
        "login users. Schema by Django's `migrate`; the seeded database is copied (SQLite file copy, PostgreSQL "
        "`CREATE DATABASE … TEMPLATE`), so both servers start from identical but separate databases.",
        "- reject: a token with a bad signature; guard: valid tokens of the guard users, cycled; logout: each "
        "request a different pre-seeded session, never reused (the run fails if the supply runs out or any answer "
        "is not `LOGOUT_SUCCESS`); login: the login users with the right password.",
        "- storm: a login storm (enough connections to keep every core in bcrypt) and, started 2 s later, a paced "
        "guard load (wrk `delay()`: a fixed pause before each request on each connection); the guard latency "
        "percentiles are wrk's, the login throughput is the storm's over its whole run.",
        "- scale: guard throughput and logout bursts on the small and the big database; a burst is a fixed number "
        "of distinct logouts timed from the first request to the last expected answer (the small database gets "
        "its sessions back between bursts).",
        "- peak RSS: VmHWM of each server's processes (gunicorn master and workers summed) after all workloads; "
        "start: spawn to the first answered HTTP request (Django's includes `run.sh`'s `migrate`, ledger-server's "
        "its own migration check).",
        "- Before each round the driver waits (bounded) for the machine to be quiet, and it records the CPU used "
        "by other programs during every run (`foreign_cores` in the JSON).",
        "- hardened: a third ledger-server, `PROFILE=hardened`, on its own big database (Django's `migrate`, then "
        "`ledger-server migrate`, then the same users; each session's tokens row holds `sha256:` + hex of a "
        "hardened token `{\"id\",\"iat\",\"exp\",\"jti\"}` and has its `ledger_sessions` row). guard: hardened "
        "tokens of the guard users, never stored (401); sessions: `GET /users/sessions` with "
        "`BENCH_HARDENED_SESSIONS` seeded sessions, cycled; logout and login as for the others. The timing probe "
        "(last round): `BENCH_TIMING_PAIRS` pairs of refused logins, interleaved, on one connection.",
    ]
    with open(md_path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    d = os.path.join(HERE, "results")
    write_results(d, os.path.join(HERE, "RESULTS.md"))
    for key, _ in BACKENDS:
        p = os.path.join(d, f"{key}.json")
        if os.path.exists(p):
            with open(p) as f:
                res = json.load(f)
            res["summary"] = summarize(res)
            res["hardened_summary"] = hardened_summary(res)
            with open(p, "w") as f:
                json.dump(res, f, indent=1)
            print(f"## {key}\n" + table_text(res) + "\n" + hardened_table_text(res))
    sys.exit(0)
