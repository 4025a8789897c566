"""The new paths of issue 17 §4 (bench/README.md, "The new paths"): the
front door relaying `/ledgers` to Django, shadow mode's cost per `/users`
request, and the metrics on the hot path. Their servers (made once by
`setup`, started and stopped with the round's others) and their workloads
(`steps`, appended to each round by workloads.play_round).

Servers (ports BENCH_PORT_BASE + 11 … + 16, + 19 and + 20):
  ledger-front    compat, UPSTREAM = django-big, on ledger-server's big db
  ledger-shadow   SHADOW = true, UPSTREAM = django-shadow, on the shadow db
  django-shadow   Django on the shadow db (a copy of Django's small db that
                  the shadow server shares with it, as shadow mode runs)
  ledger-admin    ADMIN_BIND set (+15), on ledger-server's big db
  ledger-noyield  BCRYPT_YIELD=false BCRYPT_CGROUP=off (storm_rates.py)
  ledger-rates    default settings, port +19: the storm rates' ledger-server (storm_rates.py)
  nginx-front     nginx relaying everything to django-big (+20): the front
                  door's floor, Django behind nginx as the product ran before
"""

import json
import os
import shutil
import sys
import threading
import time
import urllib.request

from .common import GUARD_BODY, HZ, BenchError, log
from .procs import run_checked
from .wrk import wrk_argv

FRONT, SHADOW, DJANGO_SHADOW, ADMIN, NOYIELD, RATES, NGINX = (
    "ledger-front", "ledger-shadow", "django-shadow", "ledger-admin", "ledger-noyield", "ledger-rates", "nginx-front")
LEDGERS_PATH = "/ledgers"
WRITE_BODY = '{"amount": 1250, "memo": "bench write"}'


def _ledger(b, kind, port, db, extra):
    """A ledger-server as b.ledger_server makes it, renamed `kind`, on the
    database `db` (a key of b.db), with the settings `extra`."""
    s = b.ledger_server("big", port)
    s.env["DATABASE_URL"] = b.engine.url(b.db[db])
    s.env.update(extra)
    s.name, s.kind = f"{kind}-{db[1]}", kind
    s.log_path = os.path.join(b.logdir, f"{s.name}.log")
    return s


NGINX_CONF = """# the front door's floor (bench/driver/paths.py): nginx in front of Django
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream django {{ server {upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://django;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def nginx_binary():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        raise BenchError("nginx is missing (bench/run.sh installs it): the front door's floor")
    return found


def _nginx(b, port, upstream):
    """nginx relaying everything to `upstream` (a Server), with as many
    worker processes as ledger-server has workers, pooled upstream
    connections and the forwarding headers the front door sends."""
    from .servers import Server

    home = os.path.join(b.dir, "nginx")
    os.makedirs(home, exist_ok=True)
    conf = os.path.join(home, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(workers=os.cpu_count() or 1, dir=home, upstream=f"127.0.0.1:{upstream.port}",
                                  port=port))
    return Server(f"{NGINX}-big", NGINX, port, [nginx_binary(), "-p", home, "-c", conf], {"PATH": "/usr/bin:/bin"},
                  home, b.logdir)


def front_users(b):
    """(users whose ledgers GET /ledgers lists, users who POST ledgers):
    logout users near the end of the supply, which the compat logout runs
    never reach (the hardened server's last sessions are after them)."""
    cfg = b.cfg
    logout = b.pop["big"]["logout"]
    end = len(logout) - cfg.hardened_sessions
    users = logout[end - 2 * cfg.front_users : end]
    return users[: cfg.front_users], users[cfg.front_users :]


SEED_LEDGERS = """
import os, sys
sys.path.insert(0, os.getcwd())
os.environ["DJANGO_SETTINGS_MODULE"] = "ledger_project.settings"
import django
django.setup()
from ledgers.models import Ledger
uids = [int(u) for u in sys.argv[1].split(",")]
per = int(sys.argv[2])
Ledger.objects.bulk_create([Ledger(user_id=u, amount=1000 * (i + 1), memo="bench ledger %d" % i)
                            for u in uids for i in range(per)], batch_size=500)
print(Ledger.objects.filter(user_id__in=uids).count())
"""


def setup(b):
    """The new paths' database and servers: ledgers rows in Django's big
    database (through Django's own ORM: the same rows on every engine), the
    shadow database (a copy of Django's small one), the servers above."""
    cfg, p = b.cfg, b.cfg.port_base
    readers, _ = front_users(b)
    env = b.django_env(b.db[("django", "big")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    out = run_checked([sys.executable, "-c", SEED_LEDGERS, ",".join(map(str, readers)), str(cfg.front_ledgers)],
                      env=env, cwd=b.oracle)
    log(f"{b.name}: seeded {out.strip().splitlines()[-1]} ledgers rows for {len(readers)} users (front door)")
    dj_small = b.db[("django", "small")]
    shadow_db = (os.path.join(b.dir, "shadow-small.sqlite3") if b.engine.embedded
                 else "bench_shadow_small")
    b.engine.copy(dj_small, shadow_db)
    b.db[("shadow", "small")] = shadow_db
    b.files["front_get"] = b.write_lines("front-get.txt", [b.tokens.token(u) for u in readers])
    b.files["front_post"] = b.write_lines("front-post.txt", [b.tokens.token(u) for u in front_users(b)[1]])

    dj_big = b.servers[("django", "big")]
    b.servers[(FRONT, "big")] = _ledger(b, FRONT, p + 11, ("ledger", "big"), {"UPSTREAM": dj_big.url})
    b.servers[(NGINX, "big")] = _nginx(b, p + 20, dj_big)
    dsh = b.django_server("small", p + 13)
    dsh.env.update(b.django_env(shadow_db))
    dsh.name, dsh.kind = "django-shadow-small", DJANGO_SHADOW
    dsh.log_path = os.path.join(b.logdir, f"{dsh.name}.log")
    b.servers[(DJANGO_SHADOW, "small")] = dsh
    b.servers[(SHADOW, "small")] = _ledger(b, SHADOW, p + 12, ("shadow", "small"), {
        "UPSTREAM": dsh.url, "SHADOW": "true", "SHADOW_SAMPLE": "1.0",
        "SHADOW_LOG": os.path.join(b.logdir, "shadow.jsonl")})
    b.admin_port = p + 15
    b.servers[(ADMIN, "big")] = _ledger(b, ADMIN, p + 14, ("ledger", "big"),
                                        {"ADMIN_BIND": f"127.0.0.1:{b.admin_port}"})
    b.servers[(NOYIELD, "big")] = _ledger(b, NOYIELD, p + 16, ("ledger", "big"),
                                          {"BCRYPT_YIELD": "false", "BCRYPT_CGROUP": "off"})
    # default settings, a process of its own: the rate probes' hundreds of
    # connections stay out of the main server's peak RSS row
    b.servers[(RATES, "big")] = _ledger(b, RATES, p + 19, ("ledger", "big"), {})


def steps(b, rnd):
    """The new paths' workloads of round `rnd`, as (name, step) pairs."""
    from . import idle, storm_rates

    out = [("front door", lambda: front_door(b, rnd)), ("shadow", lambda: shadow(b, rnd)),
           ("metrics", lambda: metrics(b, rnd)), ("storm rates", lambda: storm_rates.storm_rates(b, rnd))]
    if rnd == b.cfg.rounds - 1:
        out.append(("idle connections", lambda: idle.idle(b, rnd)))
    return out


def _order(rnd, kinds):
    return list(kinds) if rnd % 2 == 0 else list(reversed(kinds))


def _measure(b, rnd, workload, kind, argv, d, check, also=(), extra=None, size="big"):
    """b.rec.measure, and the CPU per expected answer of the servers
    `also` (e.g. the upstream Django behind a relaying ledger-server):
    `<kind>_cpu_us_per_req` in the record."""
    before = b.rec.meter.snapshot()
    rec = b.rec.measure(rnd, workload, kind, size, argv, d, check, extra)
    after = b.rec.meter.snapshot()
    for other in also:
        sid = b.servers[(other, size)].proc.pid
        ticks = after[4].get(sid, 0) - before[4].get(sid, 0)
        rec[f"{other}_cpu_us_per_req"] = round(ticks * 1e6 / HZ / max(1, rec["wrk"]["ok"]), 1)
    return rec


def _same(b, path, headers, servers, method="GET", status=200):
    from .servers import one_request

    got = {s.name: one_request(s, path, headers, method=method) for s in servers}
    answers = set(got.values())
    if len(answers) != 1 or next(iter(answers))[0] != status:
        raise BenchError(f"{b.name}: {method} {path}: answers differ or are not {status}: "
                         + "; ".join(f"{k}: {v[0]} {v[1][:200]!r}" for k, v in got.items()))
    return next(iter(answers))[1]


# front door -------------------------------------------------------------------------


def front_door(b, rnd):
    """GET /ledgers (and POST /ledgers, a write) on Django directly,
    through ledger-server's front door and through nginx (the floor of
    any relay) to the same Django: throughput at BENCH_CONNS connections,
    and latency paced at BENCH_FRONT_RATE/s."""
    cfg = b.cfg
    dj, fr, ng = b.servers[("django", "big")], b.servers[(FRONT, "big")], b.servers[(NGINX, "big")]
    readers, writers = front_users(b)
    body = _same(b, LEDGERS_PATH, {"Authorization": b.tokens.token(readers[0])}, (dj, fr, ng))
    listed = body.count(b'"id": ')
    if listed != cfg.front_ledgers:
        raise BenchError(f"{b.name}: GET /ledgers lists {listed} ledgers, not {cfg.front_ledgers}")
    get = dict(path=LEDGERS_PATH, method="GET", file=b.files["front_get"], mode="auth", cycle=1,
               expect_status=200, expect='{"results": [{"id": ')
    post = dict(path=LEDGERS_PATH, method="POST", file=b.files["front_post"], mode="auth", cycle=1,
                body=WRITE_BODY, expect_status=201, expect='{"message": "SUCCESS", "id": ')
    # GET there and back (A B C, then C B A): Django's own speed drifts
    # between runs, and each server's two runs straddle the same moment
    kinds = _order(rnd, ("django", FRONT, NGINX))
    passes = [(k, "front_get", get) for k in kinds] + [(k, "front_get", get) for k in reversed(kinds)]
    for kind, wl, args in passes + [(k, "front_post", post) for k in kinds]:
        also = ("django",) if kind != "django" else ()
        argv = wrk_argv(cfg, b.servers[(kind, "big")], cfg.conns, cfg.paths_duration, args, timeout=30)
        rec = _measure(b, rnd, wl, kind, argv, cfg.paths_duration, b.rec.static_check, also)
        lat = rec["wrk"]["latency_us"]
        log(f"{b.name} r{rnd} {wl} {kind}: {rec['rps']:.0f} req/s, p50 {lat['p50'] / 1000:.2f} ms, "
            f"p99 {lat['p99'] / 1000:.2f} ms")
    front_paced(b, rnd, get)


def front_paced(b, rnd, get):
    """GET /ledgers paced, on Django directly, through the front door and
    through nginx at the same time: Django's time per request drifts by
    more than the 0.2 ms at stake between runs one after another (its CPU
    per request varied by 10-20 % between runs), and at once all three
    meet the same Django. BENCH_FRONT_RATE requests a second in all,
    BENCH_FRONT_PACED_PASSES times."""
    cfg = b.cfg
    kinds = _order(rnd, ("django", FRONT, NGINX))
    conns = 4
    delay_ms = max(1, round(1000 * conns * len(kinds) / cfg.front_rate))
    paced = dict(get, delay_ms=delay_ms)
    for n in range(cfg.front_paced_passes):
        runs = [(kind, "big", wrk_argv(cfg, b.servers[(kind, "big")], conns, cfg.front_paced_duration, paced,
                                       latency=True, timeout=30, threads=1),
                 {"paced_rate": cfg.front_rate, "paced_delay_ms": delay_ms, "pass": n}) for kind in kinds]
        recs = b.rec.measure_together(rnd, "front_get_paced", runs, cfg.front_paced_duration, b.rec.static_check)
        log(f"{b.name} r{rnd} front_get_paced pass {n}, at once: " + "; ".join(
            f"{r['server']} {r['rps']:.0f} req/s, p50 {r['wrk']['latency_us']['p50'] / 1000:.2f} ms, "
            f"p99 {r['wrk']['latency_us']['p99'] / 1000:.2f} ms" for r in recs))


# shadow mode ------------------------------------------------------------------------


def shadow(b, rnd):
    """The guard (POST /users/logout, a valid token without a session:
    200 INVALID_USER) on Django directly, on ledger-server answering
    itself (shadow off) and on ledger-server with SHADOW on (SHADOW_SAMPLE
    1.0: Django answers, ledger-server checks its dry run against it)."""
    cfg = b.cfg
    token = b.tokens.token(b.pop["small"]["guard"][0])
    if _same(b, "/users/logout", {"Authorization": token},
             (b.servers[(DJANGO_SHADOW, "small")], b.servers[(SHADOW, "small")]), method="POST") != GUARD_BODY:
        raise BenchError(f"{b.name}: shadow preflight: not {GUARD_BODY!r}")
    args = dict(path="/users/logout", file=b.files["guard_small"], mode="auth", cycle=1, expect_status=200,
                expect='{"message": "INVALID_USER"}')
    for kind in _order(rnd, (DJANGO_SHADOW, "ledger", SHADOW)):
        # shadow off: the compat server on its small database (a copy of the same rows)
        argv = wrk_argv(cfg, b.servers[(kind, "small")], cfg.conns, cfg.paths_duration, args)
        rec = _measure(b, rnd, "shadow_guard", kind, argv, cfg.paths_duration, b.rec.static_check,
                       (DJANGO_SHADOW,) if kind == SHADOW else (), size="small")
        log(f"{b.name} r{rnd} shadow guard {kind}: {rec['rps']:.0f} req/s, {rec['server_cpu_us_per_req']:.0f} µs "
            f"CPU/req" + (f" (Django behind it {rec[DJANGO_SHADOW + '_cpu_us_per_req']:.0f})" if kind == SHADOW else ""))
    time.sleep(2.5)  # shadow mode writes its tallies after 2 s without checks
    tallies = shadow_tallies(os.path.join(b.logdir, "shadow.jsonl"))
    b.rec.runs.append({"round": rnd, "workload": "shadow_tally", "server": SHADOW, "db": "small", **tallies})
    if tallies["mismatched"]:
        raise BenchError(f"{b.name}: shadow mode found {tallies['mismatched']} mismatches: {tallies}")
    log(f"{b.name} r{rnd} shadow log so far: {tallies}")


def shadow_tallies(path):
    """The verdicts of shadow mode's tally lines so far: matched, mismatched, racy."""
    out = {"matched": 0, "mismatched": 0, "racy": 0}
    try:
        with open(path) as f:
            for line in f:
                try:
                    v = json.loads(line)
                except ValueError:
                    continue
                if v.get("type") == "tally" and v.get("verdict") in out:
                    out[v["verdict"]] += int(v.get("count", 0))
    except OSError:
        pass
    return out


# metrics on the hot path ------------------------------------------------------------


class Scraper(threading.Thread):
    """GET /metrics on the admin listener once a second until stopped;
    every answer must be 200 with ledger-server's metrics."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.stop_event = threading.Event()
        self.ok, self.bad = 0, []

    def run(self):
        while not self.stop_event.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    body = r.read()
                    if r.status == 200 and b"ledger_" in body:
                        self.ok += 1
                    else:
                        self.bad.append(f"{r.status} {body[:100]!r}")
            except OSError as e:
                self.bad.append(str(e))
            self.stop_event.wait(1.0)


def metrics(b, rnd):
    """The guard on ledger-server without ADMIN_BIND and on one with it
    (its /metrics scraped every second meanwhile), alternating run by run,
    BENCH_METRICS_PASSES times each."""
    cfg = b.cfg
    args = dict(path="/users/logout", file=b.files["guard_big"], mode="auth", cycle=1, expect_status=200,
                expect='{"message": "INVALID_USER"}')
    for i in range(cfg.metrics_passes):
        for kind in _order(rnd + i, ("ledger", ADMIN)):
            argv = wrk_argv(cfg, b.servers[(kind, "big")], cfg.conns, cfg.paths_duration, args)
            scraper = Scraper(b.admin_port) if kind == ADMIN else None
            if scraper:
                scraper.start()
            try:
                rec = b.rec.measure(rnd, "metrics_guard", kind, "big", argv, cfg.paths_duration, b.rec.static_check)
            finally:
                if scraper:
                    scraper.stop_event.set()
                    scraper.join(timeout=10)
            if scraper:
                rec["scrapes"] = scraper.ok
                if scraper.bad or not scraper.ok:
                    raise BenchError(f"{b.name}: /metrics scrapes failed: {scraper.bad[:3]} ({scraper.ok} ok)")
            log(f"{b.name} r{rnd} metrics guard {kind}: {rec['rps']:.0f} req/s"
                + (f" ({rec['scrapes']} scrapes)" if scraper else ""))

