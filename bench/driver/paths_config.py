"""The settings of the new paths' workloads (bench/driver/paths.py, idle.py,
storm_rates.py): BENCH_* environment variables, set on the run's Config."""

import os

from .common import BenchError, env_int


def add_settings(cfg, quick):
    q = quick
    # front door, shadow and metrics: each run BENCH_PATHS_DURATION s
    cfg.paths_duration = env_int("BENCH_PATHS_DURATION", 2 if q else 3)
    # the paced front-door runs (p50): Django direct, the front door and
    # nginx at once, BENCH_FRONT_RATE requests a second in all (a third
    # each, on 4 connections each), a rate Django sustains with room to
    # spare, for BENCH_FRONT_PACED_DURATION s
    cfg.front_rate = env_int("BENCH_FRONT_RATE", 100)
    cfg.front_paced_duration = env_int("BENCH_FRONT_PACED_DURATION", 5 if q else 15)
    # ... BENCH_FRONT_PACED_PASSES times a round (the p50 of one pass of
    # ~500 requests each moves by ±0.25 ms)
    cfg.front_paced_passes = env_int("BENCH_FRONT_PACED_PASSES", 1 if q else 4)
    cfg.front_users = env_int("BENCH_FRONT_USERS", 100)
    cfg.front_ledgers = env_int("BENCH_FRONT_LEDGERS", 5)
    # metrics: runs of each server (with and without ADMIN_BIND) per round
    cfg.metrics_passes = env_int("BENCH_METRICS_PASSES", 1 if q else 3)
    # idle connections (last round only)
    cfg.idle_conns = env_int("BENCH_IDLE_CONNS", 2000 if q else 10_000)
    cfg.idle_settle = env_int("BENCH_IDLE_SETTLE", 8 if q else 20)
    cfg.idle_keep_alive = env_int("BENCH_IDLE_KEEP_ALIVE", 120)
    # storm rates: paced guard probes during one login storm per server
    raw = [r.strip() for r in os.environ.get("BENCH_STORM_RATES", "1700,5800,15000").split(",") if r.strip()]
    try:
        cfg.storm_rates = [int(r) for r in raw]
    except ValueError:
        raise BenchError(f"BENCH_STORM_RATES={raw!r}: integers, comma-separated")
    cfg.storm_rate_delay_ms = env_int("BENCH_STORM_RATE_DELAY_MS", 10)
    cfg.storm_rate_duration = env_int("BENCH_STORM_RATE_DURATION", 2 if q else 4)
    cfg.storm_closed_conns = env_int("BENCH_STORM_CLOSED_CONNS", 4)
    for name in ("paths_duration", "front_rate", "front_paced_duration", "front_paced_passes", "front_users", "front_ledgers", "metrics_passes", "idle_conns",
                 "idle_settle", "storm_rate_delay_ms", "storm_rate_duration", "storm_closed_conns"):
        if getattr(cfg, name) < 1:
            raise BenchError(f"{name} must be at least 1")
