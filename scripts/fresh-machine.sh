#!/usr/bin/env bash
# The README's first command as a fresh machine of this image sees it: the
# Rust toolchain, a C compiler and libpq-dev, but no MySQL/MariaDB client
# library. In a private mount namespace (unshare -m, as root) every MariaDB
# and MySQL client header, .pc file, *_config script and library is hidden;
# there, a fresh clone of HEAD runs `cargo build --release` (what
# `cargo run --release` builds), and the binary must
#   1. serve on the embedded SQLite default: a signup answers 201, a login
#      200 with a token, a logout with it 200 LOGOUT_SUCCESS;
#   2. refuse a mysql:// DATABASE_URL in one line that names the cargo
#      feature to build it with, exit status 2.
# scripts/test.sh runs it before the test suite; it exits non-zero on any
# failure. The release build goes to target/fresh-machine (kept between
# runs: only what changed is rebuilt).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
say() { echo "fresh-machine: $*"; }
die() { echo "fresh-machine: FAILED: $*" >&2; exit 1; }

if [ "${1:-}" != "--inside" ]; then
  [ "$(id -u)" = 0 ] || die "needs root (unshare -m and bind mounts)"
  exec unshare -m --propagation private "$0" --inside
fi

# --- hide the MySQL/MariaDB client -------------------------------------------
hidden=0
hide() {
  local path
  for path in "$@"; do
    [ -e "$path" ] || continue
    if [ -d "$path" ]; then mount -t tmpfs -o ro,size=4k none "$path"; else mount --bind /dev/null "$path"; fi
    hidden=$((hidden + 1))
  done
}
shopt -s nullglob
hide /usr/include/mysql /usr/include/mariadb
hide /usr/bin/mysql_config /usr/bin/mariadb_config /usr/bin/mariadb-config
for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib /usr/local/lib; do
  hide "$dir"/libmariadb* "$dir"/libmysqlclient* "$dir"/pkgconfig/mysqlclient.pc "$dir"/pkgconfig/*mariadb*.pc
done
hide /usr/share/pkgconfig/mysqlclient.pc /usr/share/pkgconfig/*mariadb*.pc
shopt -u nullglob
say "hid $hidden MySQL/MariaDB client files"
if pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null; then
  die "pkg-config still finds a MySQL/MariaDB client"
fi

# --- a fresh clone, the first command's build --------------------------------
work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
git clone -q "$root" "$work/clone"
cd "$work/clone"
say "cargo build --release (commit $(git rev-parse --short HEAD))"
CARGO_TARGET_DIR="$root/target/fresh-machine" cargo build --release --quiet --bin ledger-server \
  || die "cargo build --release fails without a MySQL/MariaDB client library"
bin="$root/target/fresh-machine/release/ledger-server"
if ldd "$bin" | grep -qiE "mysql|mariadb"; then die "the binary links a MySQL/MariaDB library"; fi

# --- it serves on SQLite ---------------------------------------------------------
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir "$work/run"
(cd "$work/run" && exec env -u DATABASE_URL SECRET_KEY=fresh-machine-key BIND="127.0.0.1:$port" "$bin") \
  >"$work/server.log" 2>&1 &
server=$!
post() { curl -s -o "$work/body" -w '%{http_code}' -X POST "http://127.0.0.1:$port$1" "${@:2}"; }
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
body='{"email": "fresh@example.com", "password": "Passw0rd!"}'
[ "$(post /users/signup -d "$body")" = 201 ] || die "signup: $(cat "$work/body"); log: $(cat "$work/server.log")"
[ "$(post /users/login -d "$body")" = 200 ] || die "login: $(cat "$work/body")"
token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$work/body")"
[ "$(post /users/logout -H "Authorization: $token")" = 200 ] || die "logout: $(cat "$work/body")"
[ "$(cat "$work/body")" = '{"message": "LOGOUT_SUCCESS"}' ] || die "logout body: $(cat "$work/body")"
[ -f "$work/run/db.sqlite3" ] || die "no db.sqlite3 in the working directory"
say "serves on SQLite (db.sqlite3): signup 201, login 200, logout 200"

# --- a backend it was built without: one line naming the feature ----------------
set +e
message="$(cd "$work/run" && DATABASE_URL=mysql://root@127.0.0.1:3306/ledger "$bin" migrate 2>&1 >/dev/null)"
status=$?
set -e
[ "$status" = 2 ] || die "mysql:// URL: exit status $status, expected 2: $message"
[ "$(printf '%s\n' "$message" | grep -c .)" = 1 ] || die "mysql:// URL: not one line: $message"
case "$message" in *"--features mysql"*) ;; *) die "mysql:// URL: the message does not name the feature: $message" ;; esac
say "a mysql:// DATABASE_URL stops it with: $message"
say "ok"
