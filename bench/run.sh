#!/usr/bin/env bash
# The benchmark suite: Django (the oracle) against ledger-server, same
# machine, same run, same kind of database.
#
#   bench/run.sh                    # full run, SQLite, PostgreSQL, then MySQL/MariaDB;
#                                   # writes bench/results/*.json and bench/RESULTS.md
#   bench/run.sh sqlite             # one backend (sqlite | postgres | mysql | all)
#   bench/run.sh --quick [backend]  # smoke test: tiny databases, 1 short round;
#                                   # writes only bench/results/quick/
#
# What it does: installs wrk and nginx if missing (apt-get), prepares the oracle's
# virtualenv (../shared/reference/run.sh, or $LEDGER_ORACLE_DIR), builds
# with `cargo build --release` ledger-server and the probes of bench/probes
# (package ledger-bench-probes: floor, bcrypt_cost, lookup_cost), then runs
# bench/bench.py under the oracle's Python: it seeds identical, separate
# databases for both servers directly in SQL (and one for a third server,
# ledger-server with PROFILE=hardened), starts gunicorn (2 × cores + 1
# workers) and ledger-server, and drives both with wrk, alternating them
# over several rounds. Every answer is checked; a wrong one fails the run.
# See bench/README.md.
#
# Knobs (environment): BENCH_ROUNDS, BENCH_DURATION (s per throughput run),
# BENCH_LOGIN_DURATION, BENCH_STORM_DURATION, BENCH_USERS (big database),
# BENCH_SMALL_USERS, BENCH_CONNS, BENCH_WRK_THREADS, BENCH_LOGIN_CONNS,
# BENCH_STORM_GUARD_CONNS, BENCH_STORM_GUARD_RATE, BENCH_PARALLEL_CHECKS, BENCH_BURST, BENCH_BURSTS, BENCH_DJANGO_BURSTS,
# BENCH_DJANGO_WORKERS, BENCH_PORT_BASE (ports +1..+8), BENCH_QUIET_WAIT,
# BENCH_HARDENED_SESSIONS, BENCH_TIMING_PAIRS, BENCH_SECRET_KEY, BENCH_RUST_LOG, BENCH_ACCESS_LOG, BENCH_PG_HOST/PORT/USER/PASSWORD,
# BENCH_MYSQL_HOST/PORT/USER/PASSWORD,
# BENCH_KEEP=1 (keep the temp dir and the bench_* PostgreSQL and MySQL databases),
# BENCH_NO_BUILD=1 (use the binaries already in target/release, or
# $CARGO_TARGET_DIR/release).
#
# Every process it starts is stopped on exit (also on Ctrl-C or a failure);
# the temp dir under ${TMPDIR:-/tmp} is removed.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
oracle="${LEDGER_ORACLE_DIR:-$root/../shared/reference}"
quick=()
backends=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    sqlite|postgres|mysql) backends+=("$arg") ;;
    all) backends+=(sqlite postgres mysql) ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $arg (use --quick, sqlite, postgres, mysql or all)" >&2; exit 2 ;;
  esac
done
[ ${#backends[@]} -gt 0 ] || backends=(sqlite postgres mysql)

say() { echo "[bench/run.sh] $*"; }
die() { echo "[bench/run.sh] ERROR: $*" >&2; exit 1; }

[ -x "$oracle/run.sh" ] || die "the Django oracle is missing at $oracle (set LEDGER_ORACLE_DIR)"

# install_missing COMMAND PACKAGE...: apt-get installs the first package
# that provides COMMAND (on PATH or in /usr/sbin) when it is missing.
install_missing() {
  local cmd="$1"; shift
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] && return 0
  say "installing $cmd"
  command -v apt-get >/dev/null 2>&1 || die "$cmd is missing and apt-get is not available"
  local pkg
  for pkg in "$@"; do
    apt-get install -y -q "$pkg" >/dev/null 2>&1 && break
    timeout 600 apt-get update -q >/dev/null
    timeout 600 apt-get install -y -q "$pkg" >/dev/null 2>&1 && break
  done
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || die "could not install $cmd"
  installed_now+=("$cmd")
}
installed_now=()
install_missing wrk wrk
# nginx: the front door's floor (Django behind nginx, as the product ran
# before); the driver starts its own on a port of its own. The service
# the package starts on installation is stopped again.
install_missing nginx nginx-light nginx
if [[ " ${installed_now[*]} " == *" nginx "* ]]; then
  (service nginx stop || systemctl stop nginx) >/dev/null 2>&1 || true
fi

# The oracle's virtualenv: where run.sh puts it (it builds it if missing).
venv="${REF_VENV:-${TMPDIR:-/tmp}/ledger-reference-venv}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ledger-bench.XXXXXX")"
driver=""
cleanup() {
  status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$driver" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$driver" 2>/dev/null || true
  fi
  # The process groups the driver started (servers, wrk), should it have died hard.
  if [ -f "$tmp/pgids" ]; then
    while read -r pg; do
      if kill -0 -- "-$pg" 2>/dev/null; then
        kill -TERM -- "-$pg" 2>/dev/null || true; sleep 1; kill -KILL -- "-$pg" 2>/dev/null || true
      fi
    done < "$tmp/pgids"
  fi
  if [ -n "${BENCH_KEEP:-}" ] && [ "${BENCH_KEEP}" != 0 ]; then
    say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

say "preparing the Django oracle's environment"
REF_DB_NAME="$tmp/prepare.sqlite3" timeout 900 "$oracle/run.sh" migrate
[ -x "$venv/bin/python" ] || die "no virtualenv at $venv after run.sh migrate (set REF_VENV as run.sh uses it)"

cd "$root"
# The server and the probes (bench/probes, a workspace member of its own).
# --bin selects among both packages' binaries: all four, nothing else.
build=(cargo build --release -p ledger-server -p ledger-bench-probes
  --bin ledger-server --bin floor --bin bcrypt_cost --bin lookup_cost)
# MySQL/MariaDB is an opt-in feature (it links the MariaDB/MySQL client
# library, libmariadb-dev): only a run that benches it builds it in.
for b in "${backends[@]}"; do
  if [ "$b" = mysql ]; then build+=(--features ledger-server/mysql); break; fi
done
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  say "${build[*]}"
  "${build[@]}"
fi
release="${CARGO_TARGET_DIR:-target}/release"
for b in ledger-server floor bcrypt_cost lookup_cost; do
  [ -x "$release/$b" ] || die "no $release/$b (build it: ${build[*]})"
done
# Private copies: a rebuild during the run must not change what is measured.
mkdir -p "$tmp/bin"
cp "$release/ledger-server" "$release/floor" "$release/bcrypt_cost" "$release/lookup_cost" "$tmp/bin/"

# the command as given, with the BENCH_* settings that were in effect
command_line="$( { env | grep -E '^BENCH_[A-Z_]+=' || true; } | sort | tr '\n' ' ')bench/run.sh $*"
say "running: $command_line (temp dir $tmp)"
"$venv/bin/python" -u "$root/bench/bench.py" "${quick[@]}" --tmp "$tmp" --bins "$tmp/bin" --oracle "$oracle" \
  --command "${command_line% }" "${backends[@]}" &
driver=$!
wait "$driver"
