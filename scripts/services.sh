#!/usr/bin/env bash
# Makes sure that everything the test suite needs from the system is
# installed and running; scripts/test.sh calls it first.
#
#   - Debian packages: the client libraries that the Rust build links
#     (libpq-dev, default-libmysqlclient-dev, pkg-config), PostgreSQL's
#     server binaries (tests/integration/resilience.rs runs an instance of its own with
#     initdb/pg_ctl), python3-venv when python3 cannot make a virtualenv
#     (the Django oracle's run.sh builds one), and Chromium with its driver
#     for tests/integration/browser.rs (Node.js and npm too when missing);
#   - a PostgreSQL server on 127.0.0.1:5432 where the role postgres logs in
#     without a password (trust), as LEDGER_TEST_PG_URL's default expects;
#   - a MariaDB server on 127.0.0.1:3306 where root logs in with an empty
#     password, as LEDGER_TEST_MYSQL_URL's default expects.
#
# Only what is missing is installed, started or configured: when everything
# is up it only checks, in about a second. Installing and starting need root
# (or password-less sudo). A server that cannot be brought up fails the
# script, and with it the test run: no test is skipped for want of one.
set -euo pipefail

PG_PORT=5432
MY_PORT=3306
WAIT_SECONDS=60

say() { echo "services: $*"; }
die() {
  echo "services: error: $*" >&2
  exit 1
}

if [ "$(id -u)" = 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root() { sudo -n "$@"; }
else
  as_root() { die "needs root to run: $*"; }
fi

# Whether something accepts TCP connections on 127.0.0.1:$1.
answers() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]; }

have_pg_server_binaries() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

# --- packages ---------------------------------------------------------------
missing=()
want() {
  local pkg
  for pkg in "$@"; do
    if ! installed "$pkg" && [[ " ${missing[*]} " != *" $pkg "* ]]; then
      missing+=("$pkg")
    fi
  done
}
want libpq-dev default-libmysqlclient-dev pkg-config
# The server packages also bring the clients (psql, mariadb) used below.
if ! answers "$PG_PORT" || ! have_pg_server_binaries || ! command -v psql >/dev/null; then
  want postgresql
fi
if ! answers "$MY_PORT"; then
  want mariadb-server
fi
if ! command -v mariadb >/dev/null && ! command -v mysql >/dev/null; then
  want mariadb-client
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  want python3-venv
fi
# tests/integration/browser.rs: headless Chromium (/usr/bin/chromium) driven
# by playwright-core (tests/browser, `npm ci` in scripts/test.sh), which
# needs Node.js 20 or later.
want chromium chromium-driver
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  want nodejs npm
fi
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
have_pg_server_binaries || die "no PostgreSQL server binaries under /usr/lib/postgresql after installing postgresql"
[ -x /usr/bin/chromium ] || die "no /usr/bin/chromium after installing chromium"
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
  say "warning: Node.js $(node --version 2>/dev/null || echo missing) is older than 20: tests/integration/browser.rs will fail"
fi

# MariaDB Connector/C 3.3.19, in Debian's libmariadb3 10.11.17 and 10.11.18,
# returns no rows for diesel's read of __diesel_schema_migrations (CONC-812):
# ledger-server then re-applies its migration on every start and fails.
broken_connector() {
  case "$(dpkg-query -W -f='${Version}' libmariadb3 2>/dev/null)" in
    1:10.11.17-* | 1:10.11.18-*) return 0 ;;
    *) return 1 ;;
  esac
}
if broken_connector; then
  say "libmariadb3 $(dpkg-query -W -f='${Version}' libmariadb3) has a known bug (CONC-812): upgrading it"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --only-upgrade libmariadb3 libmariadb-dev libmariadb-dev-compat >/dev/null
  if broken_connector; then
    say "warning: no fixed libmariadb3 is available; MySQL tests will fail at migration"
  fi
fi

wait_for() { # $1 what, $2 command…
  local what="$1" deadline=$((SECONDS + WAIT_SECONDS))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within ${WAIT_SECONDS}s"
    sleep 0.5
  done
}

# --- PostgreSQL -------------------------------------------------------------
pg_tcp() { PGCONNECT_TIMEOUT=5 psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -w -tAc "$1"; }
pg_socket() { as_root runuser -u postgres -- psql -X -p "$PG_PORT" -d postgres -tAc "$1"; }

if ! answers "$PG_PORT"; then
  # The cluster on port 5432, else a new one of the newest version.
  cluster="$(pg_lsclusters -h 2>/dev/null | awk -v port="$PG_PORT" '$3 == port { print $1, $2; exit }')"
  if [ -z "$cluster" ]; then
    version="$(basename "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 | xargs dirname | xargs dirname)")"
    say "creating PostgreSQL $version cluster main on port $PG_PORT"
    as_root pg_createcluster -p "$PG_PORT" "$version" main >/dev/null
    cluster="$version main"
  fi
  say "starting PostgreSQL cluster $cluster"
  # shellcheck disable=SC2086 # "$version $name"
  as_root pg_ctlcluster --skip-systemctl-redirect $cluster start
  wait_for "PostgreSQL on 127.0.0.1:$PG_PORT" answers "$PG_PORT"
fi
wait_for "PostgreSQL accepting connections" pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
if ! pg_tcp 'SELECT 1' >/dev/null 2>&1; then
  # Debian asks for a password over TCP: let the postgres role in from
  # 127.0.0.1 without one (the first matching line of pg_hba.conf wins).
  hba="$(pg_socket 'SHOW hba_file')" || die "cannot reach PostgreSQL as the postgres OS user to configure it"
  say "allowing role postgres from 127.0.0.1 without a password ($hba)"
  as_root sed -i '1i # added by ledger-server scripts/services.sh (tests)\nhost all postgres 127.0.0.1/32 trust' "$hba"
  pg_socket 'SELECT pg_reload_conf()' >/dev/null
  wait_for "PostgreSQL trust access for postgres on 127.0.0.1" pg_tcp 'SELECT 1'
fi

# --- MariaDB ----------------------------------------------------------------
if command -v mariadb >/dev/null; then my_client=mariadb; else my_client=mysql; fi
my_tcp() { "$my_client" --no-defaults --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -uroot --connect-timeout=5 -Nse "$1"; }
my_socket() { as_root "$my_client" --no-defaults -uroot -S /run/mysqld/mysqld.sock --connect-timeout=5 -Nse "$1"; }

if ! answers "$MY_PORT"; then
  mariadbd="$(command -v mariadbd || command -v mysqld || echo /usr/sbin/mariadbd)"
  say "starting MariaDB ($mariadbd)"
  as_root install -d -o mysql -g mysql -m 0755 /run/mysqld
  # --pidfile: only a mariadbd that wrote this pid file counts as running.
  as_root start-stop-daemon --start --oknodo --background --pidfile /run/mysqld/mysqld.pid --exec "$mariadbd" -- \
    --user=mysql --pid-file=/run/mysqld/mysqld.pid
  wait_for "MariaDB on 127.0.0.1:$MY_PORT" answers "$MY_PORT"
fi
if ! my_tcp 'SELECT 1' >/dev/null 2>&1; then
  # A fresh Debian install lets root in through the socket only
  # (unix_socket): keep that, and add an empty password for TCP.
  wait_for "MariaDB's socket" my_socket 'SELECT 1'
  say "allowing MariaDB root from 127.0.0.1 with an empty password"
  my_socket "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
    FLUSH PRIVILEGES;"
  wait_for "MariaDB root over TCP with an empty password" my_tcp 'SELECT 1'
fi

say "PostgreSQL $(pg_tcp 'SHOW server_version') on 127.0.0.1:$PG_PORT (role postgres, trust); server binaries: $(compgen -G '/usr/lib/postgresql/*/bin' | tr '\n' ' ')"
say "MariaDB $(my_tcp 'SELECT VERSION()') on 127.0.0.1:$MY_PORT (root, empty password)"
say "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n 1), node $(node --version)"
say "pkg-config: libpq $(pkg-config --modversion libpq), mysqlclient $(pkg-config --modversion mysqlclient 2>/dev/null || pkg-config --modversion libmariadb)"
