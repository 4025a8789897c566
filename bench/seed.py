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

Runs under the oracle's virtualenv (psycopg2, bcrypt, PyJWT) or any Python
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


def is_guard(uid):
    return uid % 100 == 0


def is_login(uid):
    return uid % 100 == 50


def is_logout(uid):
    return uid % 100 not in (0, 50)


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
    tid = 0
    for uid in range(1, n + 1):
        if is_logout(uid):
            tid += 1
            yield tid, tokens.token(uid), uid


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
