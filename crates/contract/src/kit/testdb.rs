//! Throwaway test databases on each backend.
//!
//! A [`TestDb`] is a fresh database made for one test run: a SQLite file in
//! a temp directory, or `CREATE DATABASE ledger_t_…` on the PostgreSQL /
//! MySQL server named by `LEDGER_TEST_PG_URL` / `LEDGER_TEST_MYSQL_URL`
//! (admin URLs, defaults in the `backend` module), dropped again when the
//! `TestDb` is dropped. It gives ledger-server its `DATABASE_URL` and the
//! oracle its `REF_DB_*` environment, and empties `ledgers`, `tokens`,
//! `users` and ledger-server's own `ledger_sessions` and
//! `ledger_login_attempts` with their id sequences restarted ([`TestDb::reset`]); reading
//! rows back is in the `rows` module.
//!
//! A database server that cannot be reached is an error naming the URL and
//! the variable that sets it: nothing here skips. Creating a PostgreSQL or
//! MySQL database from a test whose name does not say so is an error too
//! (see `needs`).

use super::backend::{Backend, MYSQL_CHARSET, MYSQL_COLLATION};
use super::conn::AnyConn;
use super::needs;
use super::url::ServerUrl;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

static DB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The tables [`TestDb::reset`] empties when present, children first.
const RESET_TABLES: [&str; 5] = ["ledgers", "ledger_sessions", "ledger_login_attempts", "tokens", "users"];

/// A fresh database for one test run, dropped (or deleted) on drop.
pub struct TestDb {
    pub backend: Backend,
    /// The database name (PostgreSQL, MySQL) or the file path (SQLite).
    pub name: String,
    /// ledger-server's `DATABASE_URL` for it.
    url: String,
    /// Admin URL the database was created from (not SQLite).
    admin_url: Option<String>,
    dir: Option<tempfile::TempDir>,
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
        needs::backend(backend)?;
        let keep = std::env::var("LEDGER_TEST_KEEP_DB").is_ok_and(|v| v == "1");
        let n = DB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let label = safe_label(label);
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix(&format!("ledger-t-{label}-"))
                    .tempdir()
                    .map_err(|e| format!("create a temp dir: {e}"))?;
                let path = dir.path().join("db.sqlite3");
                let name = path.to_str().ok_or("temp path is not UTF-8")?.to_string();
                Ok(TestDb {
                    backend,
                    name: name.clone(),
                    url: name,
                    admin_url: None,
                    dir: Some(dir),
                    keep,
                    owned: true,
                })
            }
            Backend::Postgres | Backend::Mysql => {
                let (var, _) = backend.admin_url_var().ok_or("a server backend has an admin URL")?;
                let admin = backend.admin_url().ok_or("a server backend has an admin URL")?;
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
                Ok(TestDb { backend, name, url, admin_url: Some(admin), dir: None, keep, owned: true })
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
        Ok(TestDb { backend, name, url, admin_url: None, dir: None, keep: true, owned: false })
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

    /// The one 64-bit integer a query selects as `v` (`SELECT COUNT(*) AS v …`).
    pub fn int(&self, sql: &str) -> Result<i64, String> {
        self.connect()?.int(sql)
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

    /// Empties `ledgers` (if present), ledger-server's own `ledger_sessions`
    /// and `ledger_login_attempts` (if present), `tokens` and `users` and
    /// restarts their id sequences; with `user_id_start` the next user gets
    /// that id.
    pub fn reset(&self, user_id_start: Option<i64>) -> Result<(), String> {
        let what = format!("reset {} database {}", self.backend, self.name);
        let tables = self.tables().map_err(|e| format!("{what}: {e}"))?;
        // children before parents: ledger_sessions and ledgers refer to
        // tokens and users
        let present: Vec<&str> = RESET_TABLES.into_iter().filter(|t| tables.iter().any(|n| n == t)).collect();
        let mut conn = self.connect()?;
        let r = match self.backend {
            Backend::Sqlite => {
                let mut sql = String::from("BEGIN IMMEDIATE;");
                for t in &present {
                    sql.push_str(&format!("DELETE FROM \"{t}\";"));
                }
                if tables.iter().any(|n| n == "sqlite_sequence") {
                    sql.push_str(
                        "DELETE FROM sqlite_sequence WHERE name IN \
                         ('ledgers', 'ledger_login_attempts', 'ledger_sessions', 'tokens', 'users');",
                    );
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
                // ledger_sessions' key is tokens.id: no AUTO_INCREMENT of its own
                for t in present.iter().filter(|t| **t != "ledger_sessions") {
                    let start = if *t == "users" { user_id_start.unwrap_or(1) } else { 1 };
                    conn.execute(&format!("ALTER TABLE `{t}` AUTO_INCREMENT = {start}"))?;
                }
                Ok(())
            })(),
        };
        r.map_err(|e| format!("{what}: {e}"))
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
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
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
    fn labels() {
        assert_eq!(safe_label("Interop Django-first"), "interop_django_first");
        assert_eq!(safe_label(""), "db");
    }
}
