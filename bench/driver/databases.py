"""What differs between the database engines (SQLite, PostgreSQL,
MySQL/MariaDB): where the four databases live, how each is made and
seeded, how the servers are pointed at one, how logout sessions are given
back, and what only a database server can report (PostgreSQL's WAL
position, MySQL's status counters, the buffer pool against the big
database's size)."""

import os
import shutil

import seed

from .common import log


class Databases:
    """One engine's databases; `Backend` holds the four names it makes."""

    name = None
    # SQLite: the database is a file that ledger-server opens itself. The
    # run adds a ledger-server mapping the whole file (SQLITE_MMAP_SIZE) for
    # the scale runs, and the lookup probe also times the lookups mapped, a
    # read straight from the disk and a logout burst on a copy of the file.
    embedded = False

    def __init__(self, cfg, workdir):
        self.cfg, self.dir = cfg, workdir

    def names(self, size):
        """(Django's database, ledger-server's database) of a size."""
        raise NotImplementedError

    def hardened_name(self):
        """The hardened ledger-server's database (the big size only)."""
        raise NotImplementedError

    def create(self, db):
        """An empty database for Django's migrate, where it needs one."""

    def seed(self, db, n, tokens, pw_hash):
        """Seeds a migrated database; (users, tokens rows)."""
        raise NotImplementedError

    def seed_hardened(self, db, n, tokens, pw_hash):
        """Seeds a database migrated by Django and by ledger-server as the
        hardened profile stores its sessions; (users, tokens, sessions rows)."""
        raise NotImplementedError

    def stored_count(self, db, token_text):
        """How many tokens rows hold exactly `token_text`."""
        raise NotImplementedError

    def copy(self, src, dst):
        """ledger-server's copy of Django's seeded database."""
        raise NotImplementedError

    def django_env(self, db):
        """The oracle's REF_DB_* settings for a database."""
        raise NotImplementedError

    def url(self, db):
        """ledger-server's DATABASE_URL for a database."""
        raise NotImplementedError

    def add_tokens(self, db, uids, tokens):
        raise NotImplementedError

    def token_count(self, db, uids):
        raise NotImplementedError

    def wal_position(self):
        """The database server's WAL position in bytes, or None."""
        return None

    def relation_sizes(self, db):
        """The buffer pool and a database's table and index sizes, or None."""
        return None

    def counters(self):
        """The database server's status counters (MySQL), or None."""
        return None

    def drop(self, dbs):
        """Closes what is open and removes the databases (unless kept)."""


class SqliteDatabases(Databases):
    name = "sqlite"
    embedded = True

    def names(self, size):
        return os.path.join(self.dir, f"django-{size}.sqlite3"), os.path.join(self.dir, f"ledger-{size}.sqlite3")

    def hardened_name(self):
        return os.path.join(self.dir, "hardened-big.sqlite3")

    def seed(self, db, n, tokens, pw_hash):
        return seed.seed_sqlite(db, n, tokens, pw_hash)

    def seed_hardened(self, db, n, tokens, pw_hash):
        return seed.seed_hardened_sqlite(db, n, tokens, pw_hash)

    def stored_count(self, db, token_text):
        return seed.sqlite_stored_count(db, token_text)

    def copy(self, src, dst):
        shutil.copyfile(src, dst)

    def django_env(self, db):
        return {"REF_DB_ENGINE": "sqlite", "REF_DB_NAME": db}

    def url(self, db):
        return db

    def add_tokens(self, db, uids, tokens):
        seed.sqlite_add_tokens(db, uids, tokens)

    def token_count(self, db, uids):
        return seed.sqlite_token_count(db, uids)


class PostgresDatabases(Databases):
    name = "postgres"

    def __init__(self, cfg, workdir):
        super().__init__(cfg, workdir)
        self.pg = cfg.pg
        self._wal_con = None  # the connection that reads the WAL position

    def names(self, size):
        return f"bench_django_{size}", f"bench_ledger_{size}"

    def create(self, db):
        self.pg.create(db)

    def hardened_name(self):
        return "bench_hardened_big"

    def seed(self, db, n, tokens, pw_hash):
        return self.pg.seed(db, n, tokens, pw_hash)

    def seed_hardened(self, db, n, tokens, pw_hash):
        return self.pg.seed_hardened(db, n, tokens, pw_hash)

    def stored_count(self, db, token_text):
        return self.pg.stored_count(db, token_text)

    def copy(self, src, dst):
        self.pg.create(dst, template=src)

    def django_env(self, db):
        return dict(REF_DB_ENGINE="postgresql", REF_DB_NAME=db, REF_DB_HOST=self.pg.host, REF_DB_PORT=str(self.pg.port),
                    REF_DB_USER=self.pg.user, REF_DB_PASSWORD=self.pg.password)

    def url(self, db):
        return self.pg.url(db)

    def add_tokens(self, db, uids, tokens):
        self.pg.add_tokens(db, uids, tokens)

    def token_count(self, db, uids):
        return self.pg.token_count(db, uids)

    def wal_position(self):
        """PostgreSQL's current WAL position in bytes (exact at once, unlike
        pg_stat_wal, which backends flush up to seconds later), or None."""
        try:
            if self._wal_con is None:
                self._wal_con = self.pg.connect("postgres")
            with self._wal_con.cursor() as cur:
                cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
                return int(cur.fetchone()[0])
        except Exception as e:  # noqa: BLE001 - losing the figure must not stop the run
            log(f"{self.name}: WAL position unavailable: {e}")
            self._wal_con = None
            return None

    def relation_sizes(self, db):
        """shared_buffers and the database's table and index sizes (MiB):
        what must fit in PostgreSQL's buffer pool for requests not to read
        pages from the kernel."""
        con = self.pg.connect(db)
        try:
            with con.cursor() as cur:
                cur.execute("SELECT current_setting('shared_buffers')")
                out = {"shared_buffers": cur.fetchone()[0]}
                cur.execute("SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') ORDER BY 1")
                out["relations_mib"] = {name: round(size / 2**20, 1) for name, size in cur.fetchall()}
                return out
        finally:
            con.close()

    def drop(self, dbs):
        if self._wal_con is not None:
            self._wal_con.close()
            self._wal_con = None
        if not self.cfg.keep:
            for db in dbs:
                try:
                    self.pg.drop(db)
                except Exception as e:  # noqa: BLE001 - cleanup must go on
                    log(f"could not drop {db}: {e}")


class MysqlDatabases(Databases):
    """MariaDB/MySQL: one server process (mysqld/mariadbd, threads inside),
    InnoDB tables, the databases copied server-side (`Mysql.copy`)."""

    name = "mysql"
    # status counters recorded around every run (SHOW GLOBAL STATUS, the
    # whole server): InnoDB pages read from the disk (not found in the
    # buffer pool), page requests, and the redo log's bytes
    COUNTERS = ("Innodb_buffer_pool_reads", "Innodb_buffer_pool_read_requests", "Innodb_os_log_written",
                "Innodb_data_read")

    def __init__(self, cfg, workdir):
        super().__init__(cfg, workdir)
        self.my = cfg.mysql
        self._con = None

    def names(self, size):
        return f"bench_django_{size}", f"bench_ledger_{size}"

    def hardened_name(self):
        return "bench_hardened_big"

    def create(self, db):
        self.my.create(db)

    def seed(self, db, n, tokens, pw_hash):
        return self.my.seed(db, n, tokens, pw_hash, self.dir)

    def seed_hardened(self, db, n, tokens, pw_hash):
        return self.my.seed_hardened(db, n, tokens, pw_hash, self.dir)

    def stored_count(self, db, token_text):
        return self.my.stored_count(db, token_text)

    def copy(self, src, dst):
        self.my.copy(src, dst)

    def django_env(self, db):
        return dict(REF_DB_ENGINE="mysql", REF_DB_NAME=db, REF_DB_HOST=self.my.host, REF_DB_PORT=str(self.my.port),
                    REF_DB_USER=self.my.user, REF_DB_PASSWORD=self.my.password)

    def url(self, db):
        return self.my.url(db)

    def add_tokens(self, db, uids, tokens):
        self.my.add_tokens(db, uids, tokens)

    def token_count(self, db, uids):
        return self.my.token_count(db, uids)

    def counters(self):
        """The server's COUNTERS now, or None (losing them must not stop the run)."""
        try:
            if self._con is None:
                self._con = self.my.connect()
            cur = self._con.cursor()
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN (" + ", ".join(["%s"] * len(self.COUNTERS)) + ")",
                        list(self.COUNTERS))
            return {k: int(v) for k, v in cur.fetchall()}
        except Exception as e:  # noqa: BLE001
            log(f"{self.name}: status counters unavailable: {e}")
            self._con = None
            return None

    def relation_sizes(self, db):
        """innodb_buffer_pool_size and the database's table and index sizes
        (MiB, information_schema's estimates after ANALYZE TABLE)."""
        con = self.my.connect(db)
        try:
            cur = con.cursor()
            cur.execute("SELECT @@innodb_buffer_pool_size, @@innodb_flush_method")
            pool, flush = cur.fetchone()
            out = {"innodb_buffer_pool_size": f"{int(pool) // 2**20} MiB", "innodb_flush_method": flush}
            cur.execute("SELECT table_name, data_length, index_length FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_name IN ('users', 'tokens')", (db,))
            out["relations_mib"] = {}
            for name, data, index in cur.fetchall():
                out["relations_mib"][name] = round(int(data) / 2**20, 1)
                out["relations_mib"][name + " (secondary indexes)"] = round(int(index) / 2**20, 1)
            return out
        finally:
            con.close()

    def drop(self, dbs):
        if self._con is not None:
            self._con.close()
            self._con = None
        if not self.cfg.keep:
            for db in dbs:
                try:
                    self.my.drop(db)
                except Exception as e:  # noqa: BLE001 - cleanup must go on
                    log(f"could not drop {db}: {e}")


ENGINES = {"sqlite": SqliteDatabases, "postgres": PostgresDatabases, "mysql": MysqlDatabases}
