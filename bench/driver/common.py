"""What every part of the driver shares: paths, constants, the error that
fails a run, the log line, and the environment the servers start from."""

import os
import shlex
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
ROOT = os.path.dirname(HERE)

LUA = os.path.join(HERE, "wrk", "bench.lua")
CORES = os.cpu_count() or 1
HZ = os.sysconf("SC_CLK_TCK")

# SQLITE_MMAP_SIZE of the "ledger-mmap" servers: more than the big database
# file, so all of it is mapped.
MMAP_SIZE = 1 << 30

REJECT_BODY = b'{"message": "JWT_SIGNATURE_ERROR"}'
GUARD_BODY = b'{"message": "INVALID_USER"}'
LOGOUT_BODY = b'{"message": "LOGOUT_SUCCESS"}'

# The hardened server ("ledger-hardened"): ledger-server with these settings
# (the profile's defaults otherwise: BCRYPT_COST 12, TOKEN_TTL 30 days, the
# throttles' limits). TRUSTED_PROXIES lets the timing probe give every
# refused login a client address of its own (X-Forwarded-For), so that the
# per-address limit (100 failures in 15 minutes) does not turn its 401s into
# 429s; the throughput workloads send no X-Forwarded-For.
HARDENED_SETTINGS = {"PROFILE": "hardened", "BCRYPT_COST": "12", "TRUSTED_PROXIES": "127.0.0.1"}
HARDENED_KEYS = ("PROFILE", "TOKEN_TTL", "LOGIN_MAX_FAILURES", "LOGIN_WINDOW", "LOGIN_MAX_FAILURES_PER_IP",
                 "SIGNUP_MAX_PER_IP", "TRUSTED_PROXIES", "BCRYPT_COST", "SESSION_SWEEP_SECONDS")


# Settings the new paths' servers set one by one (bench/driver/paths.py,
# idle.py): none may come from the caller's environment.
PATHS_KEYS = ("UPSTREAM", "UPSTREAM_TIMEOUT", "SHADOW", "SHADOW_LOG", "SHADOW_SAMPLE", "ADMIN_BIND",
              "KEEP_ALIVE_SECONDS", "BCRYPT_YIELD", "BCRYPT_CGROUP", "MAX_CONNECTIONS")


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def env_int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BenchError(f"{name}={raw!r} is not an integer")


def shlex_quote(s):
    return shlex.quote(str(s))


def command_text(argv):
    """A command line as the results record it."""
    return " ".join(shlex_quote(a) for a in argv)


def clean_env():
    """The environment minus settings that would change what is measured."""
    drop = {"SECRET_KEY", "ALGORITHM", "DATABASE_URL", "TIME_ZONE", "BIND", "POOL_SIZE", "ACCESS_LOG", "RUST_LOG", "PORT",
            *HARDENED_KEYS, *PATHS_KEYS}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("REF_") or k == "REF_VENV"}
