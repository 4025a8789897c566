#!/usr/bin/env bash
# Runs the whole test suite: style and lints, the fresh-machine check of
# the README's first command, then every test (unit tests, the recorded
# contract fixtures, the live differential and interop tests against the
# Django original, resilience, cli) on SQLite, PostgreSQL and MariaDB.
#
# It prepares what the tests need first: system packages and the database
# servers (scripts/services.sh: PostgreSQL on 127.0.0.1:5432, MariaDB on
# 127.0.0.1:3306, installed and started if missing; Chromium), the oracle's
# Python environment (../shared/reference/run.sh builds it on first use),
# the browser test's node modules (npm ci in tests/browser) and
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

# The browser test's playwright-core, as package-lock.json pins it (it
# downloads no browser: the test drives the system's Chromium).
echo "== tests/browser: npm ci"
npm ci --prefix "$root/tests/browser" --no-audit --no-fund --loglevel=error

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy (all features; then the product's default and SQLite-only builds)"
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings
cargo clippy -p ledger-server --lib --bins --quiet -- -D warnings
cargo clippy -p ledger-server --lib --bins --no-default-features --quiet -- -D warnings

echo "== the first command on a fresh machine (no MySQL/MariaDB client library)"
bash "$root/scripts/fresh-machine.sh"

echo "== cargo nextest run"
# nextest prints its summary, then lists the failed tests again; the
# summary line is moved to the end so that it closes the output.
cargo nextest run --workspace --all-targets --all-features --no-fail-fast "$@" 2>&1 |
  awk '/^ *Summary \[/ { held = $0; next } { print; fflush() } END { if (held != "") print held }'
