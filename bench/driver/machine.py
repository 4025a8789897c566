"""What the results record about the machine and the software: CPU,
memory, kernel, the host's page-cache reclaim, and the versions of
everything measured."""

import os
import platform
import re

from .common import CORES, ROOT
from .procs import capture


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = vm_kb_meminfo("MemTotal")
    osname = ""
    try:
        with open("/etc/os-release") as f:
            osname = dict(line.rstrip().split("=", 1) for line in f if "=" in line).get("PRETTY_NAME", "").strip('"')
    except OSError:
        pass
    return {"nproc": CORES, "cpu": model, "memory_gib": round(mem / 1024 / 1024, 1), "kernel": platform.release(),
            "os": osname, "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
            "page_cache_reclaim": page_cache_reclaim()}


def vm_kb_meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


DAMON = "/sys/kernel/mm/damon/admin/kdamonds"


def _rd(*parts):
    try:
        with open(os.path.join(*parts)) as f:
            return f.read().strip()
    except OSError:
        return ""


def _numbered(path):
    return sorted(d for d in os.listdir(path) if d.isdigit())


def page_cache_reclaim():
    """The machine's proactive page-cache reclaim, if it runs one (DAMON
    schemes set up through sysfs): a short description, or ''."""
    found = []
    try:
        kdamonds = _numbered(DAMON)
    except OSError:
        return ""
    for k in kdamonds:
        if _rd(DAMON, k, "state") != "on":
            continue
        ctxs = os.path.join(DAMON, k, "contexts")
        for c in _numbered(ctxs):
            aggr_us = int(_rd(ctxs, c, "monitoring_attrs", "intervals", "aggr_us") or 0)
            schemes = os.path.join(ctxs, c, "schemes")
            for sch in _numbered(schemes):
                if _rd(schemes, sch, "action") == "pageout":
                    found.append(_pageout_scheme(_rd(ctxs, c, "operations"), aggr_us, os.path.join(schemes, sch)))
    return "; ".join(found)


def _pageout_scheme(operations, aggr_us, scheme):
    """One DAMON `pageout` scheme: the age it pages out at, its filters, its quota."""
    age = int(_rd(scheme, "access_pattern", "age", "min") or 0)
    filters = []
    for kind in ("ops_filters", "filters"):
        fdir = os.path.join(scheme, kind)
        for fl in _numbered(fdir) if os.path.isdir(fdir) else []:
            filters.append(("allows " if _rd(fdir, fl, "allow") == "Y" else "skips ") + _rd(fdir, fl, "type")
                           + ("" if _rd(fdir, fl, "matching") == "Y" else " (not matching)"))
    quota = int(_rd(scheme, "quotas", "bytes") or 0)
    return (f"DAMON ({operations}) pages out memory not accessed for "
            f"≥ {age * aggr_us / 1e6:.0f} s" + (f" ({', '.join(filters)} pages)" if filters else "")
            + (f", up to {quota / 2**20:.0f} MiB per {int(_rd(scheme, 'quotas', 'reset_interval_ms') or 0)} ms"
               if quota else ""))


def cargo_lock_version(name):
    try:
        text = open(os.path.join(ROOT, "Cargo.lock")).read()
    except OSError:
        return ""
    m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), text)
    return m.group(1) if m else ""


def bundled_sqlite():
    ver = cargo_lock_version("libsqlite3-sys")
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    try:
        for reg in os.listdir(os.path.join(home, "registry", "src")):
            header = os.path.join(home, "registry", "src", reg, f"libsqlite3-sys-{ver}", "sqlite3", "sqlite3.h")
            if os.path.exists(header):
                m = re.search(r'#define SQLITE_VERSION\s+"([^"]+)"', open(header).read())
                if m:
                    return f"{m.group(1)} (bundled by libsqlite3-sys {ver})"
    except OSError:
        pass
    return f"bundled by libsqlite3-sys {ver}"


def _git_dir():
    """.git, or in a worktree the directory its .git file names."""
    dot = os.path.join(ROOT, ".git")
    if os.path.isfile(dot):
        line = open(dot).read().strip()
        if line.startswith("gitdir: "):
            return os.path.join(ROOT, line[8:])
    return dot


def _git_common_dir():
    """Where refs live: a worktree's commondir, else the git dir itself."""
    gd = _git_dir()
    common = os.path.join(gd, "commondir")
    return os.path.normpath(os.path.join(gd, open(common).read().strip())) if os.path.exists(common) else gd


def git_head():
    """The commit checked out, read from .git (no git command)."""
    try:
        head = open(os.path.join(_git_dir(), "HEAD")).read().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        common = _git_common_dir()
        path = os.path.join(common, ref)
        if os.path.exists(path):
            return open(path).read().strip() + f" ({ref.rsplit('/', 1)[-1]})"
        for line in open(os.path.join(common, "packed-refs")):
            if line.strip().endswith(ref):
                return line.split()[0] + f" ({ref.rsplit('/', 1)[-1]})"
    except OSError:
        pass
    return "unknown"


def versions(cfg, backends):
    import bcrypt
    import django
    import gunicorn
    import jwt

    v = {
        "ledger-server": f"{cargo_lock_version('ledger-server')}, the working tree as built (HEAD {git_head()})",
        "rustc": capture(["rustc", "--version"]),
        "actix-web": cargo_lock_version("actix-web"),
        "diesel": cargo_lock_version("diesel"),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "pyjwt": jwt.__version__,
        "python-bcrypt": bcrypt.__version__,
        "sqlite (Django, Python sqlite3)": __import__("sqlite3").sqlite_version,
        "sqlite (ledger-server)": bundled_sqlite(),
        "wrk": capture(["wrk", "-v"]).splitlines()[0] if capture(["wrk", "-v"]) else "",
    }
    if "postgres" in backends:
        import psycopg2

        v["postgresql"] = cfg.pg.version()
        v["psycopg2"] = psycopg2.__version__.split()[0]
        v["libpq (ledger-server)"] = capture(["sh", "-c", "ls /usr/lib/x86_64-linux-gnu/libpq.so.5.* | head -1"])
    if "mysql" in backends:
        v.update(mysql_versions(cfg))
    return v


def mysql_versions(cfg):
    """The MySQL/MariaDB server, Django's driver (PyMySQL standing in for
    mysqlclient, as the oracle's my_settings.py installs it) and the client
    library ledger-server links (diesel's mysqlclient-sys)."""
    import importlib.metadata

    lib = capture(["sh", "-c", "ls /usr/lib/x86_64-linux-gnu/libmariadb.so.3 /usr/lib/x86_64-linux-gnu/libmysqlclient.so.* "
                               "2>/dev/null | head -1"])
    pkg = capture(["sh", "-c", "dpkg-query -W -f '${Version}' libmariadb3 2>/dev/null"])
    return {
        "mariadb/mysql server": cfg.mysql.version(),
        # its version_info is set to mysqlclient's 1.4.6 for Django's check: the distribution's own
        "pymysql (Django's MySQLdb, in place of mysqlclient)": importlib.metadata.version("PyMySQL"),
        "libmariadb (ledger-server)": f"{lib} ({'libmariadb3 ' + pkg if pkg else 'version unknown'}), "
                                      f"mysqlclient-sys {cargo_lock_version('mysqlclient-sys')}",
    }
