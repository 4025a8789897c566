#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the recorded contract fixtures and
# the live differential test against the Django original.
#
# It prepares what the tests need first: system packages and the database
# servers (scripts/services.sh: PostgreSQL on 127.0.0.1:5432, MariaDB on
# 127.0.0.1:3306, installed and started if missing), the oracle's Python
# environment (../shared/reference/run.sh builds it on first use) and
# cargo-nextest. Extra arguments go to `cargo nextest run` (e.g. a test-name
# filter); .config/nextest.toml sets the parallelism and timeouts. The last
# line printed is nextest's summary line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

echo "== system packages and database servers"
bash "$root/scripts/services.sh"

oracle="${LEDGER_ORACLE_DIR:-$root/../shared/reference}"
if [ ! -x "$oracle/run.sh" ]; then
  echo "scripts/test.sh: the Django oracle is missing at $oracle (set LEDGER_ORACLE_DIR)" >&2
  exit 1
fi

# The oracle's virtualenv: run.sh installs its pinned requirements once.
echo "== preparing the Django oracle's environment"
tmpdb="$(mktemp -d)/prepare.sqlite3"
REF_DB_NAME="$tmpdb" "$oracle/run.sh" migrate
rm -rf "$(dirname "$tmpdb")"

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

echo "== cargo nextest run"
# nextest prints its summary, then lists the failed tests again; the
# summary line is moved to the end so that it closes the output.
cargo nextest run --workspace --all-targets --no-fail-fast "$@" 2>&1 |
  awk '/^ *Summary \[/ { held = $0; next } { print; fflush() } END { if (held != "") print held }'
