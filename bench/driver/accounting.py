"""CPU and I/O accounting from /proc: the CPU ticks and disk reads of a
server's processes (by session), peak RSS, and the CPU that programs
outside the benchmark use meanwhile."""

import os
import time

from .common import HZ


def read_stat(pid):
    """(comm, session id, own cpu ticks, children's cpu ticks) of a pid."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read().decode("latin-1")
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): session is field 6, utime..cstime 14..17
    return comm, int(fields[3]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def session_pids(sid):
    out = []
    for pid in all_pids():
        try:
            if read_stat(pid)[1] == sid:
                out.append(pid)
        except (OSError, ValueError, IndexError):
            pass
    return out


def read_bytes(sid):
    """Bytes the processes of session `sid` have had read from storage
    (`read_bytes` of /proc/PID/io: what the page cache did not hold)."""
    total = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/io") as f:
                for line in f:
                    if line.startswith("read_bytes:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def vm_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# The MySQL/MariaDB server's process names (one process, a thread per connection).
MYSQL_COMMS = ("mariadbd", "mysqld")


class CpuMeter:
    """How much CPU went to processes that are not part of the benchmark
    (other users of the machine) while a measurement ran, in cores. Ours:
    the servers, wrk and this driver (by session), PostgreSQL (with its
    reaped backends) and the MySQL/MariaDB server."""

    def __init__(self, sessions):
        self.sessions = sessions

    def snapshot(self):
        """(time, busy ticks, steal ticks, our ticks, ticks by session, postgres ticks, mysql ticks)."""
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        busy = cpu[0] + cpu[1] + cpu[2]
        steal = cpu[7] if len(cpu) > 7 else 0
        ours = pg = my = 0
        by_sid = {}
        mine = os.getsid(0)
        sessions = self.sessions()
        for pid in all_pids():
            try:
                comm, sid, own, children = read_stat(pid)
            except (OSError, ValueError, IndexError):
                continue
            if comm == "postgres":
                pg += own + children
            elif comm in MYSQL_COMMS:
                # one process: its ticks are every thread's
                my += own
            elif sid in sessions or sid == mine:
                ours += own
                by_sid[sid] = by_sid.get(sid, 0) + own
        return time.monotonic(), busy, steal, ours + pg + my, by_sid, pg, my

    @staticmethod
    def foreign(a, b):
        dt = b[0] - a[0]
        if dt <= 0:
            return 0.0, 0.0
        return max(0.0, (b[1] - a[1]) - (b[3] - a[3])) / HZ / dt, (b[2] - a[2]) / HZ / dt


def wait_idle(server, limit_s=15):
    """Until the server's processes use under 5 % of a core over 0.2 s."""
    tick = HZ

    def ticks():
        total = 0
        for pid in server.pids():
            try:
                total += read_stat(pid)[2]
            except (OSError, ValueError, IndexError):
                pass
        return total

    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        a = ticks()
        time.sleep(0.2)
        if (ticks() - a) / tick < 0.01:
            return
