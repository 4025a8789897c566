//! The database backends the contract machinery runs on, and throwaway
//! test databases on each.
//!
//! A [`TestDb`] is a fresh database made for one test run: a temp SQLite
//! file, or `CREATE DATABASE ledger_t_…` on the PostgreSQL / MySQL server
//! named by `LEDGER_TEST_PG_URL` / `LEDGER_TEST_MYSQL_URL` (admin URLs,
//! defaults below), dropped again when the `TestDb` is dropped. It knows how
//! to
//! - give ledger-server its `DATABASE_URL` and the oracle its `REF_DB_*`
//!   environment ([`TestDb::database_url`], [`TestDb::oracle_env`]);
//! - empty `ledgers`, `tokens` and `users` with their id sequences restarted,
//!   optionally so that the next user id is a given number ([`TestDb::reset`]);
//! - read the rows back the way the tests compare them ([`TestDb::snapshot`],
//!   [`TestDb::users`], [`TestDb::tokens`]), timestamps as the wall-clock
//!   text Django reads back under `USE_TZ = False` in `Asia/Seoul`.
//!
//! A database server that cannot be reached is an error naming the URL and
//! the variable that sets it: nothing here skips.

use super::oracle::{is_bcrypt_2b_12, snapshot_sqlite, DbSnapshot, TempDir, TokenRowView, UserRowView};
use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};
use diesel::sqlite::SqliteConnection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Default admin URL of the PostgreSQL server (`LEDGER_TEST_PG_URL`).
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Default admin URL of the MySQL/MariaDB server (`LEDGER_TEST_MYSQL_URL`).
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/mysql";
/// Character set and collation of the MySQL test databases: MariaDB's
/// default for utf8mb4 (case- and accent-insensitive, trailing spaces
/// ignored), named explicitly so that the recorded fixtures do not depend
/// on the server's defaults.
pub const MYSQL_CHARSET: &str = "utf8mb4";
pub const MYSQL_COLLATION: &str = "utf8mb4_general_ci";
/// Django's `TIME_ZONE` (and ledger-server's default).
pub const TIME_ZONE: &str = "Asia/Seoul";

/// The three database backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];

    /// `sqlite`, `postgres`, `mysql`: fixture directory and CLI names.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    pub fn parse(s: &str) -> Option<Backend> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" => Some(Backend::Sqlite),
            "postgres" | "postgresql" | "pg" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::Mysql),
            _ => None,
        }
    }

    /// The backend of a `DATABASE_URL` (a file path is SQLite).
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("mysql://") {
            Backend::Mysql
        } else {
            Backend::Sqlite
        }
    }

    /// `REF_DB_ENGINE` of the oracle's `run.sh`.
    pub fn ref_engine(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
            Backend::Mysql => "mysql",
        }
    }

    /// The variable holding the admin URL, and its default (`None` for SQLite).
    pub fn admin_url_var(self) -> Option<(&'static str, &'static str)> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(("LEDGER_TEST_PG_URL", DEFAULT_PG_URL)),
            Backend::Mysql => Some(("LEDGER_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)),
        }
    }

    /// The admin URL from the environment, or the default.
    pub fn admin_url(self) -> Option<String> {
        self.admin_url_var().map(|(var, default)| match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
            _ => default.to_string(),
        })
    }

    /// `tests/fixtures/<name>` of this repository.
    pub fn fixture_dir(self) -> PathBuf {
        super::fixtures::default_dir().join(self.name())
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------
// Server URLs

/// `scheme://[user[:password]@]host[:port]/database[?query]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    pub scheme: String,
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: Option<u16>,
    pub database: String,
    pub query: String,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ServerUrl {
    pub fn parse(url: &str) -> Result<ServerUrl, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} is not scheme://…"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (a, h),
            None => ("", rest),
        };
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let (hostport, database) = hostpart.split_once('/').unwrap_or((hostpart, ""));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
                (h, Some(p.parse::<u16>().map_err(|_| format!("bad port {p:?} in {url:?}"))?))
            }
            _ => (hostport, None),
        };
        if host.is_empty() {
            return Err(format!("no host in {url:?}"));
        }
        Ok(ServerUrl {
            scheme: scheme.to_string(),
            user: percent_decode(user),
            password: percent_decode(password),
            host: host.to_string(),
            port,
            database: database.to_string(),
            query: query.to_string(),
        })
    }

    /// The same server and credentials, another database (as written in the
    /// original URL: user and password are kept in their encoded form).
    pub fn with_database(original: &str, database: &str) -> Result<String, String> {
        let (scheme, rest) = original.split_once("://").ok_or_else(|| format!("{original:?} is not scheme://…"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, format!("?{q}")),
            None => (rest, String::new()),
        };
        let (before_at, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (format!("{a}@"), h),
            None => (String::new(), rest),
        };
        let hostport = hostpart.split_once('/').map(|(h, _)| h).unwrap_or(hostpart);
        Ok(format!("{scheme}://{before_at}{hostport}/{database}{query}"))
    }

    /// The URL with any password hidden, for messages.
    pub fn redacted(url: &str) -> String {
        ledger_server::db::redact_url(url)
    }
}

// ---------------------------------------------------------------------------
// Connections

/// A connection to one of the three backends.
pub enum AnyConn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    Mysql(MysqlConnection),
}

/// `sql_query(sql).load::<T>(conn)` on whichever backend.
macro_rules! load {
    ($conn:expr, $sql:expr, $t:ty) => {
        match $conn {
            AnyConn::Sqlite(c) => diesel::sql_query($sql).load::<$t>(c),
            AnyConn::Postgres(c) => diesel::sql_query($sql).load::<$t>(c),
            AnyConn::Mysql(c) => diesel::sql_query($sql).load::<$t>(c),
        }
    };
}

impl AnyConn {
    /// Opens a connection to a `DATABASE_URL`-style URL (a file path for SQLite).
    pub fn open(backend: Backend, url: &str) -> Result<AnyConn, String> {
        let shown = ServerUrl::redacted(url);
        match backend {
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(url).map_err(|e| format!("open SQLite {shown}: {e}"))?;
                c.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                    .map_err(|e| format!("SQLite {shown}: {e}"))?;
                Ok(AnyConn::Sqlite(c))
            }
            Backend::Postgres => PgConnection::establish(url)
                .map(AnyConn::Postgres)
                .map_err(|e| format!("cannot connect to PostgreSQL at {shown}: {e}")),
            Backend::Mysql => MysqlConnection::establish(url)
                .map(AnyConn::Mysql)
                .map_err(|e| format!("cannot connect to MySQL/MariaDB at {shown}: {e}")),
        }
    }

    /// Runs one or more statements (one statement per call on MySQL).
    pub fn execute(&mut self, sql: &str) -> Result<(), String> {
        let r = match self {
            AnyConn::Sqlite(c) => c.batch_execute(sql),
            AnyConn::Postgres(c) => c.batch_execute(sql),
            AnyConn::Mysql(c) => c.batch_execute(sql),
        };
        r.map_err(|e| format!("{sql}: {e}"))
    }

    /// A query whose single column is text (NULL as `None`).
    pub fn strings(&mut self, sql: &str) -> Result<Vec<Option<String>>, String> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
            v: Option<String>,
        }
        load!(self, sql, Row).map(|v| v.into_iter().map(|r| r.v).collect()).map_err(|e| format!("{sql}: {e}"))
    }

    /// A query whose single column (named `v`) is a 64-bit integer.
    pub fn ints(&mut self, sql: &str) -> Result<Vec<i64>, String> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            v: i64,
        }
        load!(self, sql, Row).map(|v| v.into_iter().map(|r| r.v).collect()).map_err(|e| format!("{sql}: {e}"))
    }

    /// A query whose single column (named `v`) is a double.
    pub fn doubles(&mut self, sql: &str) -> Result<Vec<f64>, String> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Double)]
            v: f64,
        }
        load!(self, sql, Row).map(|v| v.into_iter().map(|r| r.v).collect()).map_err(|e| format!("{sql}: {e}"))
    }
}

// ---------------------------------------------------------------------------
// Throwaway databases

static DB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A row of `users` as read back for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub password: String,
    /// The wall-clock value Django reads back (`USE_TZ = False`,
    /// `Asia/Seoul`), as `YYYY-MM-DD HH:MM:SS.ffffff`; on SQLite the stored text.
    pub created_at: String,
    pub updated_at: String,
}

/// A row of `tokens`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub token: String,
    pub user_id: i64,
}

#[derive(QueryableByName)]
struct UserQ {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    password: String,
    #[diesel(sql_type = Text)]
    created_at: String,
    #[diesel(sql_type = Text)]
    updated_at: String,
}

#[derive(QueryableByName)]
struct TokenQ {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    token: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
}

/// A fresh database for one test run, dropped (or deleted) on drop.
pub struct TestDb {
    pub backend: Backend,
    /// The database name (PostgreSQL, MySQL) or the file path (SQLite).
    pub name: String,
    /// ledger-server's `DATABASE_URL` for it.
    url: String,
    /// Admin URL the database was created from (not SQLite).
    admin_url: Option<String>,
    _dir: Option<TempDir>,
    /// Leave the database in place on drop: `LEDGER_TEST_KEEP_DB=1` (for
    /// debugging), or a database this program did not create.
    keep: bool,
    /// Created here (announce when kept).
    owned: bool,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestDb({} {})", self.backend, self.name)
    }
}

fn safe_label(label: &str) -> String {
    let s: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(24).collect();
    if s.is_empty() {
        "db".into()
    } else {
        s
    }
}

impl TestDb {
    /// Creates a fresh, empty database (no tables) on the backend's server.
    /// `label` goes into the name (`ledger_t_<label>_<pid>_<n>_<rand>`).
    pub fn create(backend: Backend, label: &str) -> Result<TestDb, String> {
        let keep = std::env::var("LEDGER_TEST_KEEP_DB").is_ok_and(|v| v == "1");
        let n = DB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let label = safe_label(label);
        match backend {
            Backend::Sqlite => {
                let dir = TempDir::new(&format!("ledger-t-{label}"))?;
                let path = dir.path().join("db.sqlite3");
                let name = path.to_str().ok_or("temp path is not UTF-8")?.to_string();
                Ok(TestDb {
                    backend,
                    name: name.clone(),
                    url: name,
                    admin_url: None,
                    _dir: Some(dir),
                    keep,
                    owned: true,
                })
            }
            Backend::Postgres | Backend::Mysql => {
                let (var, _) = backend.admin_url_var().expect("server backend");
                let admin = backend.admin_url().expect("server backend");
                let name = format!("ledger_t_{label}_{}_{n}_{:06}", std::process::id(), nanos % 1_000_000);
                let mut conn = AnyConn::open(backend, &admin).map_err(|e| {
                    format!("{e}\n(the {backend} tests need this server; set {var} to its admin URL — they never skip)")
                })?;
                let create = match backend {
                    Backend::Postgres => format!("CREATE DATABASE \"{name}\""),
                    _ => format!("CREATE DATABASE `{name}` CHARACTER SET {MYSQL_CHARSET} COLLATE {MYSQL_COLLATION}"),
                };
                conn.execute(&create)
                    .map_err(|e| format!("create database on {}: {e}", ServerUrl::redacted(&admin)))?;
                let url = ServerUrl::with_database(&admin, &name)?;
                Ok(TestDb { backend, name, url, admin_url: Some(admin), _dir: None, keep, owned: true })
            }
        }
    }

    /// An existing database (a SQLite path or a `postgres://`/`mysql://` URL
    /// of the database itself), never dropped.
    pub fn existing(database_url: &str) -> Result<TestDb, String> {
        let backend = Backend::of_url(database_url);
        let name = match backend {
            Backend::Sqlite => database_url.strip_prefix("sqlite://").unwrap_or(database_url).to_string(),
            _ => {
                let u = ServerUrl::parse(database_url)?;
                if u.database.is_empty() {
                    return Err(format!("{} names no database", ServerUrl::redacted(database_url)));
                }
                u.database
            }
        };
        let url = if backend == Backend::Sqlite { name.clone() } else { database_url.to_string() };
        Ok(TestDb { backend, name, url, admin_url: None, _dir: None, keep: true, owned: false })
    }

    /// ledger-server's `DATABASE_URL` for this database.
    pub fn database_url(&self) -> &str {
        &self.url
    }

    /// The SQLite file (SQLite only).
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self.backend {
            Backend::Sqlite => Some(Path::new(&self.name)),
            _ => None,
        }
    }

    /// The `REF_DB_*` environment of the oracle's `run.sh` for this database.
    pub fn oracle_env(&self) -> Result<Vec<(&'static str, String)>, String> {
        let mut env =
            vec![("REF_DB_ENGINE", self.backend.ref_engine().to_string()), ("REF_DB_NAME", self.name.clone())];
        if self.backend != Backend::Sqlite {
            let u = ServerUrl::parse(self.admin_url.as_deref().unwrap_or(&self.url))?;
            let default_port = if self.backend == Backend::Postgres { 5432 } else { 3306 };
            env.push(("REF_DB_HOST", u.host.clone()));
            env.push(("REF_DB_PORT", u.port.unwrap_or(default_port).to_string()));
            if !u.user.is_empty() {
                env.push(("REF_DB_USER", u.user.clone()));
            }
            env.push(("REF_DB_PASSWORD", u.password.clone()));
        }
        Ok(env)
    }

    /// A new connection to this database.
    pub fn connect(&self) -> Result<AnyConn, String> {
        AnyConn::open(self.backend, &self.url)
    }

    /// Runs SQL on this database.
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        self.connect()?.execute(sql)
    }

    /// The tables in this database (sorted).
    pub fn tables(&self) -> Result<Vec<String>, String> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT name AS v FROM sqlite_master WHERE type = 'table' ORDER BY name",
            Backend::Postgres => "SELECT tablename::text AS v FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
            Backend::Mysql => {
                "SELECT CAST(table_name AS CHAR) AS v FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name"
            }
        };
        let mut rows: Vec<String> = self.connect()?.strings(sql)?.into_iter().flatten().collect();
        rows.sort();
        Ok(rows)
    }

    /// `app.name` of every row of `django_migrations`, in id order.
    pub fn django_migrations(&self) -> Result<Vec<String>, String> {
        let sql = match self.backend {
            Backend::Mysql => "SELECT CAST(CONCAT(app, '.', name) AS CHAR) AS v FROM django_migrations ORDER BY id",
            _ => "SELECT app || '.' || name AS v FROM django_migrations ORDER BY id",
        };
        Ok(self.connect()?.strings(sql)?.into_iter().flatten().collect())
    }

    /// Empties `ledgers` (if present), `tokens` and `users` and restarts their
    /// id sequences; with `user_id_start` the next user gets that id.
    pub fn reset(&self, user_id_start: Option<i64>) -> Result<(), String> {
        let what = format!("reset {} database {}", self.backend, self.name);
        let tables = self.tables().map_err(|e| format!("{what}: {e}"))?;
        let present: Vec<&str> =
            ["ledgers", "tokens", "users"].into_iter().filter(|t| tables.iter().any(|n| n == t)).collect();
        let mut conn = self.connect()?;
        let r = match self.backend {
            Backend::Sqlite => {
                let mut sql = String::from("BEGIN IMMEDIATE;");
                for t in &present {
                    sql.push_str(&format!("DELETE FROM \"{t}\";"));
                }
                if tables.iter().any(|n| n == "sqlite_sequence") {
                    sql.push_str("DELETE FROM sqlite_sequence WHERE name IN ('ledgers', 'tokens', 'users');");
                    if let Some(start) = user_id_start {
                        sql.push_str(&format!(
                            "INSERT INTO sqlite_sequence (name, seq) VALUES ('users', {});",
                            start - 1
                        ));
                    }
                } else if user_id_start.is_some() {
                    return Err(format!("{what}: no sqlite_sequence table (is the schema there?)"));
                }
                sql.push_str("COMMIT;");
                conn.execute(&sql).inspect_err(|_| {
                    let _ = conn.execute("ROLLBACK;");
                })
            }
            Backend::Postgres => {
                let mut r = Ok(());
                if !present.is_empty() {
                    let list: Vec<String> = present.iter().map(|t| format!("\"{t}\"")).collect();
                    r = conn.execute(&format!("TRUNCATE {} RESTART IDENTITY CASCADE", list.join(", ")));
                }
                if let (Ok(()), Some(start)) = (&r, user_id_start) {
                    r = conn.execute(&format!("SELECT setval(pg_get_serial_sequence('users', 'id'), {start}, false)"));
                }
                r
            }
            Backend::Mysql => (|| {
                for t in &present {
                    conn.execute(&format!("DELETE FROM `{t}`"))?;
                }
                for t in &present {
                    let start = if *t == "users" { user_id_start.unwrap_or(1) } else { 1 };
                    conn.execute(&format!("ALTER TABLE `{t}` AUTO_INCREMENT = {start}"))?;
                }
                Ok(())
            })(),
        };
        r.map_err(|e| format!("{what}: {e}"))
    }

    /// `users` ordered by id, timestamps as Django reads them back.
    pub fn users(&self) -> Result<Vec<UserRow>, String> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT id, email, password, CAST(created_at AS TEXT) AS created_at, CAST(updated_at AS TEXT) AS updated_at \
                 FROM users ORDER BY id"
                    .to_string()
            }
            Backend::Postgres => format!(
                "SELECT id, email::text AS email, password::text AS password, \
                 to_char(created_at AT TIME ZONE '{TIME_ZONE}', 'YYYY-MM-DD HH24:MI:SS.US') AS created_at, \
                 to_char(updated_at AT TIME ZONE '{TIME_ZONE}', 'YYYY-MM-DD HH24:MI:SS.US') AS updated_at \
                 FROM users ORDER BY id"
            ),
            Backend::Mysql => "SELECT id, CAST(email AS CHAR) AS email, CAST(password AS CHAR) AS password, \
                 DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f') AS created_at, \
                 DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f') AS updated_at FROM users ORDER BY id"
                .to_string(),
        };
        let mut conn = self.connect()?;
        load!(&mut conn, &sql, UserQ)
            .map(|rows| {
                rows.into_iter()
                    .map(|u| UserRow {
                        id: u.id,
                        email: u.email,
                        password: u.password,
                        created_at: u.created_at,
                        updated_at: u.updated_at,
                    })
                    .collect()
            })
            .map_err(|e| format!("read users of {}: {e}", self.name))
    }

    /// `tokens` ordered by id.
    pub fn tokens(&self) -> Result<Vec<TokenRow>, String> {
        let sql = match self.backend {
            Backend::Mysql => "SELECT id, CAST(token AS CHAR) AS token, user_id FROM tokens ORDER BY id",
            _ => "SELECT id, token, user_id FROM tokens ORDER BY id",
        };
        let mut conn = self.connect()?;
        load!(&mut conn, sql, TokenQ)
            .map(|rows| rows.into_iter().map(|t| TokenRow { id: t.id, token: t.token, user_id: t.user_id }).collect())
            .map_err(|e| format!("read tokens of {}: {e}", self.name))
    }

    /// PostgreSQL only: for each user (by id), how many seconds before the
    /// database's `now()` its `created_at` instant lies (negative: in the future).
    pub fn pg_created_age_seconds(&self) -> Result<Vec<f64>, String> {
        if self.backend != Backend::Postgres {
            return Err("pg_created_age_seconds is for PostgreSQL".into());
        }
        self.connect()?.doubles("SELECT EXTRACT(EPOCH FROM (now() - created_at))::float8 AS v FROM users ORDER BY id")
    }

    /// The rows in the form the differential test compares.
    pub fn snapshot(&self) -> Result<DbSnapshot, String> {
        if let Some(path) = self.sqlite_path() {
            return snapshot_sqlite(path);
        }
        let email_type = match self.backend {
            Backend::Postgres => "character varying",
            _ => "varchar",
        };
        let show = |s: &str| super::model::show_bytes(s.as_bytes(), 400);
        Ok(DbSnapshot {
            users: self
                .users()?
                .into_iter()
                .map(|u| UserRowView {
                    id: u.id,
                    email: show(&u.email),
                    email_type: email_type.into(),
                    password: if is_bcrypt_2b_12(u.password.as_bytes()) {
                        "<bcrypt $2b$12$ hash>".into()
                    } else {
                        show(&u.password)
                    },
                    created_at: Some(u.created_at),
                    updated_at: Some(u.updated_at),
                })
                .collect(),
            tokens: self
                .tokens()?
                .into_iter()
                .map(|t| TokenRowView {
                    id: t.id,
                    token: show(&t.token),
                    token_type: "text".into(),
                    user_id: t.user_id,
                })
                .collect(),
        })
    }

    fn drop_database(&self) -> Result<(), String> {
        let Some(admin) = &self.admin_url else { return Ok(()) };
        let mut conn = AnyConn::open(self.backend, admin)?;
        match self.backend {
            // FORCE: a connection an aborted test left behind does not keep the database alive
            Backend::Postgres => conn.execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)),
            _ => conn.execute(&format!("DROP DATABASE IF EXISTS `{}`", self.name)),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.keep {
            if self.owned {
                eprintln!("LEDGER_TEST_KEEP_DB=1: keeping {} database {}", self.backend, self.name);
            }
            if let Some(dir) = self._dir.take() {
                std::mem::forget(dir);
            }
            return;
        }
        if let Err(e) = self.drop_database() {
            eprintln!("warning: cannot drop {} test database {}: {e}", self.backend, self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = ServerUrl::parse("postgres://postgres@127.0.0.1:5432/postgres").unwrap();
        assert_eq!(
            (u.user.as_str(), u.host.as_str(), u.port, u.database.as_str()),
            ("postgres", "127.0.0.1", Some(5432), "postgres")
        );
        let u = ServerUrl::parse("mysql://ro%40t:p%3Aw@db.local/mysql?ssl=false").unwrap();
        assert_eq!(
            (u.user.as_str(), u.password.as_str(), u.port, u.query.as_str()),
            ("ro@t", "p:w", None, "ssl=false")
        );
        assert_eq!(
            ServerUrl::with_database("mysql://u:p%40@h:3306/mysql?x=1", "t1").unwrap(),
            "mysql://u:p%40@h:3306/t1?x=1"
        );
        assert_eq!(ServerUrl::with_database("postgres://h/postgres", "t2").unwrap(), "postgres://h/t2");
        assert_eq!(ServerUrl::with_database("postgres://h", "t3").unwrap(), "postgres://h/t3");
    }

    #[test]
    fn names() {
        for b in Backend::ALL {
            assert_eq!(Backend::parse(b.name()), Some(b));
        }
        assert_eq!(Backend::of_url("/tmp/x.sqlite3"), Backend::Sqlite);
        assert_eq!(Backend::of_url("postgresql://h/db"), Backend::Postgres);
        assert_eq!(Backend::of_url("mysql://h/db"), Backend::Mysql);
        assert_eq!(safe_label("Interop Django-first"), "interop_django_first");
    }
}
