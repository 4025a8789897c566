"""The processes the driver starts: each in a session (and process group)
of its own, recorded so that they all die with the run, and, should the
driver itself die hard, listed in a file for bench/run.sh to kill."""

import json
import os
import signal
import subprocess

from .common import BenchError

STARTED = []  # every Popen we made, for the cleanup
PGID_FILE = None  # set by main(): bench/run.sh kills these groups if this driver dies hard


def spawn(argv, *, env=None, cwd=None, stdout=None, stderr=None):
    p = subprocess.Popen(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True
    )
    STARTED.append(p)
    if PGID_FILE:
        with open(PGID_FILE, "a") as f:  # bench/run.sh kills these if this driver dies hard
            f.write(f"{p.pid}\n")
    return p


def stop_group(p, grace=15.0):
    """SIGTERM to the process group we created, SIGKILL after `grace`."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # leftovers of the group (workers)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def cleanup_all():
    for p in reversed(STARTED):
        stop_group(p, grace=5)
    STARTED.clear()


def kill_all():
    """Aborting: no graceful shutdowns, everything we started dies now."""
    for p in list(STARTED):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def run_checked(argv, env=None, cwd=None, timeout=600):
    p = spawn(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(p)
        raise BenchError(f"{argv[0]} timed out")
    finally:
        if p in STARTED:
            STARTED.remove(p)
    if p.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({p.returncode}):\n{out.decode('utf-8', 'replace')[-3000:]}")
    return out.decode("utf-8", "replace")


def run_json(argv):
    """run_checked, and the JSON line a probe prints last."""
    return json.loads(run_checked(argv).strip().splitlines()[-1])


def capture(argv, **kw):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
