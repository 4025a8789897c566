"""Seeding for bench/bench.py: users and tokens rows written straight into
the databases (never through the HTTP API), identical for both servers.

The population of a database of N users (ids 1..N):
  - id % 100 == 0   guard users: no tokens row (the guard answers
                    INVALID_USER with 200 and a logout does nothing);
  - id % 100 == 50  login users: no tokens row at first; logins add rows;
  - every other id  logout users: exactly one tokens row holding the token
                    the server would issue (HS256 of {"id":N}).
Every user has the same real bcrypt cost-12 hash (of PASSWORD, made once by
Python bcrypt 3.2.0 with a fixed salt), Django-shaped timestamps and the
e-mail user<id, 7 digits>@bench.example.

The hardened profile's database (`seed_hardened_*`, after ledger-server's
`migrate` has added its tables) holds the same users and tokens ids; each
logout user's row holds the digest of a hardened token instead (`sha256:`
+ hex of the JWT, see `HardenedTokens`) and has its `ledger_sessions` row,
as a hardened login writes them.

Runs under the oracle's virtualenv (psycopg2, PyMySQL, bcrypt, PyJWT) or any Python
with those modules; SQLite needs only the standard library.
"""

import base64
import datetime
import hashlib
import hmac
import io
import random
import sqlite3

PASSWORD = "Bench-pass-1!"
# bcrypt.hashpw(PASSWORD, b"$2b$12$" + SALT): a fixed salt keeps runs identical.
SALT = b"$2b$12$benchbenchbenchbenchbe"
BASE_TIME = datetime.datetime(2021, 11, 17, 21, 0, 0, 123456)


def password_hash():
    import bcrypt  # the oracle's bcrypt 3.2.0

    return bcrypt.hashpw(PASSWORD.encode(), SALT).decode()


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_HEADER = _b64(b'{"typ":"JWT","alg":"HS256"}')


class Tokens:
    """The tokens ledger-server and Django issue: HS256 JWTs of {"id":N}
    (compact JSON, header {"typ":"JWT","alg":"HS256"}, base64url unpadded)."""

    def __init__(self, secret_key):
        self.key = secret_key.encode()

    def token(self, uid):
        signing = _HEADER + b"." + _b64(b'{"id":%d}' % uid)
        return (signing + b"." + _b64(hmac.new(self.key, signing, hashlib.sha256).digest())).decode()

    def bad_signature(self, uid):
        """A well-formed token of `uid` whose signature is wrong (its first
        character changed: every bit of it is used, unlike the last one)."""
        tok = self.token(uid)
        head, sig = tok.rsplit(".", 1)
        return head + "." + ("B" if sig[0] != "B" else "C") + sig[1:]

    def self_check(self):
        """The generator must match PyJWT byte for byte."""
        try:
            import jwt
        except ImportError:
            return
        for uid in (1, 50, 999_999):
            theirs = jwt.encode({"id": uid}, self.key.decode(), algorithm="HS256")
            if isinstance(theirs, bytes):
                theirs = theirs.decode()
            if theirs != self.token(uid):
                raise SystemExit(f"seed.py: token generator differs from PyJWT for id {uid}: {theirs}")


class HardenedTokens:
    """The tokens hardened ledger-server issues (PROFILE=hardened): header
    {"typ":"JWT","alg":"HS256"}, claims {"id":N,"iat":T,"exp":T+TTL,
    "jti":"<32 hex>"} (compact JSON, base64url unpadded), stored in
    `tokens.token` as "sha256:" + hex(sha256(jwt)). Deterministic for the
    bench: one `iat` for the whole run (the seeding's moment) and a `jti`
    derived from the user id, so every request file can be written again
    from the ids alone."""

    TTL = 30 * 24 * 3600  # TOKEN_TTL's default
    CLIENT_IP = "127.0.0.1"
    USER_AGENT = "ledger-bench-seed"

    def __init__(self, secret_key, iat):
        self.key = secret_key.encode()
        self.iat = int(iat)
        self.exp = self.iat + self.TTL

    def token(self, uid):
        jti = hashlib.sha256(b"ledger-bench-jti-%d" % uid).hexdigest()[:32]
        claims = b'{"id":%d,"iat":%d,"exp":%d,"jti":"%s"}' % (uid, self.iat, self.exp, jti.encode())
        signing = _HEADER + b"." + _b64(claims)
        return (signing + b"." + _b64(hmac.new(self.key, signing, hashlib.sha256).digest())).decode()

    @staticmethod
    def digest(token):
        return "sha256:" + hashlib.sha256(token.encode()).hexdigest()

    def stored(self, uid):
        return self.digest(self.token(uid))

    def session(self, tid, uid):
        """The `ledger_sessions` row of tokens row `tid` (unix seconds)."""
        return (tid, uid, self.iat, self.exp, self.iat, self.CLIENT_IP, self.USER_AGENT)

    def self_check(self):
        """PyJWT must accept the tokens and read back the claims."""
        try:
            import jwt
        except ImportError:
            return
        for uid in (1, 50, 999_999):
            claims = jwt.decode(self.token(uid), self.key.decode(), algorithms=["HS256"])
            if claims["id"] != uid or claims["exp"] != self.exp or len(claims["jti"]) != 32:
                raise SystemExit(f"seed.py: hardened token of {uid} reads back as {claims}")


SESSION_COLUMNS = "token_id, user_id, created_at, expires_at, last_seen_at, client_ip, user_agent"


def is_guard(uid):
    return uid % 100 == 0


def is_login(uid):
    return uid % 100 == 50


def is_logout(uid):
    return uid % 100 not in (0, 50)


def token_id(uid):
    """The id of the tokens row seeded for logout user `uid` (rows are
    numbered in user id order, skipping ids ≡ 0 and ≡ 50 mod 100)."""
    return uid - uid // 100 - (uid + 50) // 100


def email(uid):
    return f"user{uid:07d}@bench.example"


def population(n, seed=20211117):
    """The user ids of each class, each list shuffled (requests then touch
    the whole table, not one hot corner of it); the same for every server."""
    rng = random.Random(seed)
    classes = {"guard": [], "login": [], "logout": []}
    for uid in range(1, n + 1):
        if is_guard(uid):
            classes["guard"].append(uid)
        elif is_login(uid):
            classes["login"].append(uid)
        else:
            classes["logout"].append(uid)
    for ids in classes.values():
        rng.shuffle(ids)
    return classes


def _stamp(uid):
    # Django's str(datetime) under USE_TZ = False (no fraction when it is 0).
    return str(BASE_TIME + datetime.timedelta(milliseconds=uid))


def _token_rows(n, tokens):
    """(id, token, user_id) of the tokens rows; `tokens` is `Tokens` (the
    token text itself) or `HardenedTokens` (its digest)."""
    stored = tokens.stored if isinstance(tokens, HardenedTokens) else tokens.token
    tid = 0
    for uid in range(1, n + 1):
        if is_logout(uid):
            tid += 1
            yield tid, stored(uid), uid


def _session_rows(n, tokens):
    """The `ledger_sessions` rows of the tokens rows `_token_rows` makes."""
    tid = 0
    for uid in range(1, n + 1):
        if is_logout(uid):
            tid += 1
            yield tokens.session(tid, uid)


# SQLite ------------------------------------------------------------------------


def seed_sqlite(path, n, tokens, pw_hash):
    """Fills the (empty, Django-migrated) `users` and `tokens` tables."""
    con = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        con.execute("PRAGMA synchronous = OFF")
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO users (id, created_at, updated_at, email, password) VALUES (?, ?, ?, ?, ?)",
            ((uid, _stamp(uid), _stamp(uid), email(uid), pw_hash) for uid in range(1, n + 1)),
        )
        con.executemany("INSERT INTO tokens (id, token, user_id) VALUES (?, ?, ?)", _token_rows(n, tokens))
        con.execute("COMMIT")
        # no ANALYZE: Django never runs it, so a real database has no sqlite_stat1
        return _counts(con)
    finally:
        con.close()


def seed_hardened_sqlite(path, n, tokens, pw_hash):
    """The hardened profile's database: migrated by Django and by
    ledger-server, then the same users, tokens rows holding digests, and
    each one's `ledger_sessions` row."""
    counts = seed_sqlite(path, n, tokens, pw_hash)
    con = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        con.execute("PRAGMA synchronous = OFF")
        con.execute("BEGIN")
        con.executemany(f"INSERT INTO ledger_sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        _session_rows(n, tokens))
        con.execute("COMMIT")
        return counts + (con.execute("SELECT COUNT(*) FROM ledger_sessions").fetchone()[0],)
    finally:
        con.close()


def sqlite_stored_count(path, token_text):
    """How many tokens rows hold `token_text` (a digest or a plain token)."""
    con = sqlite3.connect(path, timeout=30)
    try:
        return con.execute("SELECT COUNT(*) FROM tokens WHERE token = ?", (token_text,)).fetchone()[0]
    finally:
        con.close()


def _counts(con):
    cur = con.cursor()
    cur.execute("SELECT COUNT(*) FROM users")
    users = cur.fetchone()[0]
    cur.execute("SELECT COUNT(*) FROM tokens")
    return users, cur.fetchone()[0]


def sqlite_add_tokens(path, uids, tokens):
    """Gives each of `uids` its tokens row back (after a burst of logouts)."""
    con = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO tokens (token, user_id) VALUES (?, ?)", ((tokens.token(u), u) for u in uids))
        con.execute("COMMIT")
    finally:
        con.close()


def sqlite_token_count(path, uids):
    con = sqlite3.connect(path, timeout=30)
    try:
        return _count_in(con, "?", uids)
    finally:
        con.close()


def _count_in(con, mark, uids):
    total = 0
    uids = list(uids)
    cur = con.cursor()
    for i in range(0, len(uids), 500):
        chunk = uids[i : i + 500]
        cur.execute(f"SELECT COUNT(*) FROM tokens WHERE user_id IN ({', '.join([mark] * len(chunk))})", chunk)
        total += cur.fetchone()[0]
    return total


# PostgreSQL --------------------------------------------------------------------


class Postgres:
    def __init__(self, host, port, user, password=""):
        self.host, self.port, self.user, self.password = host, port, user, password

    def connect(self, dbname, autocommit=True):
        import psycopg2

        con = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname)
        con.autocommit = autocommit
        return con

    def url(self, dbname):
        auth = self.user + (":" + self.password if self.password else "")
        return f"postgres://{auth}@{self.host}:{self.port}/{dbname}"

    def drop(self, dbname):
        con = self.connect("postgres")
        try:
            con.cursor().execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        finally:
            con.close()

    def create(self, dbname, template=None):
        self.drop(dbname)
        con = self.connect("postgres")
        try:
            sql = f'CREATE DATABASE "{dbname}"' + (f' TEMPLATE "{template}"' if template else "")
            con.cursor().execute(sql)
        finally:
            con.close()

    def version(self):
        con = self.connect("postgres")
        try:
            cur = con.cursor()
            cur.execute("SHOW server_version")
            return cur.fetchone()[0]
        finally:
            con.close()

    def seed(self, dbname, n, tokens, pw_hash):
        """COPY into the (empty, Django-migrated) tables in one transaction,
        move the id sequences past the seeded ids, then VACUUM ANALYZE."""
        con = self.connect(dbname, autocommit=False)
        try:
            cur = con.cursor()
            chunk = 200_000
            for start in range(1, n + 1, chunk):
                buf = io.StringIO()
                for uid in range(start, min(n, start + chunk - 1) + 1):
                    stamp = _stamp(uid) + "+09"
                    buf.write(f"{uid}\t{stamp}\t{stamp}\t{email(uid)}\t{pw_hash}\n")
                buf.seek(0)
                cur.copy_expert("COPY users (id, created_at, updated_at, email, password) FROM STDIN", buf)
            buf = io.StringIO()
            rows = 0
            for tid, tok, uid in _token_rows(n, tokens):
                buf.write(f"{tid}\t{tok}\t{uid}\n")
                rows += 1
                if rows % chunk == 0:
                    buf.seek(0)
                    cur.copy_expert("COPY tokens (id, token, user_id) FROM STDIN", buf)
                    buf = io.StringIO()
            buf.seek(0)
            cur.copy_expert("COPY tokens (id, token, user_id) FROM STDIN", buf)
            cur.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))")
            cur.execute("SELECT setval(pg_get_serial_sequence('tokens', 'id'), GREATEST((SELECT MAX(id) FROM tokens), 1))")
            con.commit()
            con.autocommit = True
            cur.execute("VACUUM ANALYZE users")
            cur.execute("VACUUM ANALYZE tokens")
            return _counts(con)
        finally:
            con.close()

    def seed_hardened(self, dbname, n, tokens, pw_hash):
        """`seed` with digests, then each tokens row's `ledger_sessions` row."""
        counts = self.seed(dbname, n, tokens, pw_hash)
        con = self.connect(dbname, autocommit=False)
        try:
            cur = con.cursor()
            buf = io.StringIO()
            for row in _session_rows(n, tokens):
                buf.write("\t".join(str(v) for v in row) + "\n")
            buf.seek(0)
            cur.copy_expert(f"COPY ledger_sessions ({SESSION_COLUMNS}) FROM STDIN", buf)
            con.commit()
            con.autocommit = True
            cur.execute("VACUUM ANALYZE ledger_sessions")
            cur.execute("SELECT COUNT(*) FROM ledger_sessions")
            return counts + (cur.fetchone()[0],)
        finally:
            con.close()

    def stored_count(self, dbname, token_text):
        con = self.connect(dbname)
        try:
            cur = con.cursor()
            cur.execute("SELECT COUNT(*) FROM tokens WHERE token = %s", (token_text,))
            return cur.fetchone()[0]
        finally:
            con.close()

    def add_tokens(self, dbname, uids, tokens):
        con = self.connect(dbname, autocommit=False)
        try:
            cur = con.cursor()
            cur.executemany("INSERT INTO tokens (token, user_id) VALUES (%s, %s)", [(tokens.token(u), u) for u in uids])
            con.commit()
        finally:
            con.close()

    def token_count(self, dbname, uids):
        con = self.connect(dbname)
        try:
            return _count_in(con, "%s", uids)
        finally:
            con.close()


# MySQL/MariaDB -----------------------------------------------------------------


class Mysql:
    """MariaDB (or MySQL) through PyMySQL, the driver the oracle's Django
    uses (`pymysql.install_as_MySQLdb()` in its my_settings.py)."""

    def __init__(self, host, port, user, password=""):
        self.host, self.port, self.user, self.password = host, int(port), user, password

    def connect(self, dbname=None, autocommit=True):
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=dbname, autocommit=autocommit, local_infile=True, charset="utf8mb4")

    def url(self, dbname):
        auth = self.user + (":" + self.password if self.password else "")
        return f"mysql://{auth}@{self.host}:{self.port}/{dbname}"

    def drop(self, dbname):
        con = self.connect()
        try:
            con.cursor().execute(f"DROP DATABASE IF EXISTS `{dbname}`")
        finally:
            con.close()

    def create(self, dbname):
        self.drop(dbname)
        con = self.connect()
        try:
            con.cursor().execute(f"CREATE DATABASE `{dbname}` CHARACTER SET utf8mb4")
        finally:
            con.close()

    def copy(self, src, dst):
        """`dst` as a copy of `src`: every table's `SHOW CREATE TABLE`
        (foreign keys included, which `CREATE TABLE … LIKE` drops), then
        `INSERT … SELECT` of its rows, server-side."""
        self.create(dst)
        con = self.connect(dst, autocommit=False)
        try:
            cur = con.cursor()
            cur.execute("SET foreign_key_checks = 0, unique_checks = 0")
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                        "AND table_type = 'BASE TABLE' ORDER BY table_name", (src,))
            tables = [r[0] for r in cur.fetchall()]
            for t in tables:
                cur.execute(f"SHOW CREATE TABLE `{src}`.`{t}`")
                cur.execute(cur.fetchone()[1])
            for t in tables:
                cur.execute(f"INSERT INTO `{dst}`.`{t}` SELECT * FROM `{src}`.`{t}`")
            con.commit()
            cur.execute("SET foreign_key_checks = 1, unique_checks = 1")
            for t in ("users", "tokens"):
                cur.execute(f"ANALYZE TABLE `{t}`")
                cur.fetchall()
        finally:
            con.close()

    def version(self):
        con = self.connect()
        try:
            cur = con.cursor()
            cur.execute("SELECT VERSION()")
            return cur.fetchone()[0]
        finally:
            con.close()

    def _load(self, cur, path, table, columns):
        cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 "
                    f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({columns})", (path,))

    def seed(self, dbname, n, tokens, pw_hash, workdir=None):
        """LOAD DATA LOCAL INFILE into the (empty, Django-migrated) tables in
        one transaction (the rows written to temp files first); the
        AUTO_INCREMENT counters follow the ids loaded. Then ANALYZE TABLE
        (InnoDB's persistent statistics would sample them by themselves)."""
        import os
        import tempfile

        con = self.connect(dbname, autocommit=False)
        fd, path = tempfile.mkstemp(prefix="ledger-seed-", suffix=".tsv", dir=workdir)
        try:
            cur = con.cursor()
            cur.execute("SET foreign_key_checks = 0, unique_checks = 0")
            with os.fdopen(fd, "w") as f:
                for uid in range(1, n + 1):
                    stamp = _stamp(uid)
                    f.write(f"{uid}\t{stamp}\t{stamp}\t{email(uid)}\t{pw_hash}\n")
            self._load(cur, path, "users", "id, created_at, updated_at, email, password")
            with open(path, "w") as f:
                for tid, tok, uid in _token_rows(n, tokens):
                    f.write(f"{tid}\t{tok}\t{uid}\n")
            self._load(cur, path, "tokens", "id, token, user_id")
            con.commit()
            cur.execute("SET foreign_key_checks = 1, unique_checks = 1")
            for t in ("users", "tokens"):
                cur.execute(f"ANALYZE TABLE `{t}`")
                cur.fetchall()
            return _counts(con)
        finally:
            con.close()
            if os.path.exists(path):
                os.remove(path)

    def seed_hardened(self, dbname, n, tokens, pw_hash, workdir=None):
        """`seed` with digests, then each tokens row's `ledger_sessions` row."""
        import os
        import tempfile

        counts = self.seed(dbname, n, tokens, pw_hash, workdir)
        con = self.connect(dbname, autocommit=False)
        fd, path = tempfile.mkstemp(prefix="ledger-seed-", suffix=".tsv", dir=workdir)
        try:
            cur = con.cursor()
            cur.execute("SET foreign_key_checks = 0, unique_checks = 0")
            with os.fdopen(fd, "w") as f:
                for row in _session_rows(n, tokens):
                    f.write("\t".join(str(v) for v in row) + "\n")
            self._load(cur, path, "ledger_sessions", SESSION_COLUMNS)
            con.commit()
            cur.execute("ANALYZE TABLE ledger_sessions")
            cur.fetchall()
            cur.execute("SELECT COUNT(*) FROM ledger_sessions")
            return counts + (cur.fetchone()[0],)
        finally:
            con.close()
            if os.path.exists(path):
                os.remove(path)

    def stored_count(self, dbname, token_text):
        con = self.connect(dbname)
        try:
            cur = con.cursor()
            cur.execute("SELECT COUNT(*) FROM tokens WHERE token = %s", (token_text,))
            return cur.fetchone()[0]
        finally:
            con.close()

    def add_tokens(self, dbname, uids, tokens):
        con = self.connect(dbname, autocommit=False)
        try:
            cur = con.cursor()
            cur.executemany("INSERT INTO tokens (token, user_id) VALUES (%s, %s)", [(tokens.token(u), u) for u in uids])
            con.commit()
        finally:
            con.close()

    def token_count(self, dbname, uids):
        con = self.connect(dbname)
        try:
            return _count_in(con, "%s", uids)
        finally:
            con.close()

    def status(self, names):
        """Global status counters (SHOW GLOBAL STATUS) by name, as ints."""
        con = self.connect()
        try:
            cur = con.cursor()
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN (" + ", ".join(["%s"] * len(names)) + ")",
                        list(names))
            return {k: int(v) for k, v in cur.fetchall()}
        finally:
            con.close()
