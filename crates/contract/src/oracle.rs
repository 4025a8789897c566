//! The Django oracle (`run.sh` of the reference project), child processes
//! in their own process group, temp dirs, and the SQLite helpers that make
//! one running server play many scenarios on a "fresh" database (the
//! backend-independent versions are in [`super::backend`]).

use super::backend::{Backend, TestDb};
use super::client::Client;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The reference project: `$LEDGER_ORACLE_DIR`, else `../shared/reference`
/// relative to the repository root.
pub fn oracle_dir() -> PathBuf {
    match std::env::var_os("LEDGER_ORACLE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference"),
    }
}

/// Where `run.sh` keeps its virtualenv (`$REF_VENV`, else `${TMPDIR:-/tmp}/ledger-reference-venv`).
pub fn oracle_venv() -> PathBuf {
    if let Some(v) = std::env::var_os("REF_VENV").filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    let tmp = std::env::var_os("TMPDIR").filter(|v| !v.is_empty()).unwrap_or_else(|| "/tmp".into());
    Path::new(&tmp).join("ledger-reference-venv")
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file())).unwrap_or(false)
}

/// Checks that the oracle can be started at all, with a message saying what is missing.
pub fn check_oracle_prerequisites() -> Result<(), String> {
    let dir = oracle_dir();
    if !dir.join("run.sh").is_file() {
        return Err(format!(
            "the Django oracle is missing: no run.sh in {} (set LEDGER_ORACLE_DIR to the reference project)",
            dir.display()
        ));
    }
    if !in_path("bash") {
        return Err("the Django oracle needs bash, which is not in PATH".into());
    }
    let venv = oracle_venv();
    let has_venv = venv.join("bin/gunicorn").is_file() && venv.join("bin/python").exists();
    if !has_venv && !in_path("python3") {
        return Err(format!(
            "the Django oracle cannot run: its virtualenv {} is missing and python3 is not in PATH to build it",
            venv.display()
        ));
    }
    Ok(())
}

/// A free TCP port on 127.0.0.1 (free when asked; another process may take it).
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

static TEMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temp directory removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir, String> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let n = TEMP_COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child process in its own process group; the whole group is stopped on drop.
#[derive(Debug)]
pub struct ProcessGroup {
    child: Child,
    pub name: String,
    pub log_path: PathBuf,
}

impl ProcessGroup {
    /// Spawn `cmd` in a new process group, stdout and stderr into `log_path`.
    pub fn spawn(name: &str, mut cmd: Command, log_path: &Path) -> Result<ProcessGroup, String> {
        let log = File::create(log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2).process_group(0);
        let child = cmd.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(ProcessGroup { child, name: name.to_string(), log_path: log_path.to_path_buf() })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// `Some(description)` if the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown state: {e}")),
        }
    }

    /// The last `max` bytes of the log.
    pub fn log_tail(&self, max: usize) -> String {
        let data = std::fs::read(&self.log_path).unwrap_or_default();
        let start = data.len().saturating_sub(max);
        String::from_utf8_lossy(&data[start..]).into_owned()
    }

    /// Wait until the process answers HTTP at `addr`; fail early if it exits.
    pub fn wait_http(&mut self, addr: SocketAddr, timeout: Duration) -> Result<(), String> {
        let until = Instant::now() + timeout;
        let client = Client::new(addr);
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited ({status}) before answering on {addr}; log {}:\n{}",
                    self.name,
                    self.log_path.display(),
                    self.log_tail(4000)
                ));
            }
            if client.wait_ready(Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(format!(
                    "{} did not answer on {addr} within {timeout:?}; log {}:\n{}",
                    self.name,
                    self.log_path.display(),
                    self.log_tail(4000)
                ));
            }
        }
    }

    fn signal_group(&self, sig: Signal) {
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // The child leads its own process group (spawned with process_group(0)).
            let _ = killpg(Pid::from_raw(pgid), sig);
        }
    }

    /// Stop the whole group: SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        if self.exited().is_none() {
            self.signal_group(Signal::SIGTERM);
            let until = Instant::now() + Duration::from_secs(5);
            while self.exited().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // workers may outlive their master: make sure nothing of the group stays
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running Django oracle on 127.0.0.1.
#[derive(Debug)]
pub struct Oracle {
    pub process: ProcessGroup,
    pub addr: SocketAddr,
    /// The SQLite file (empty for PostgreSQL and MySQL: see `database`).
    pub db_path: PathBuf,
    pub backend: Backend,
    /// The database: the SQLite path or the PostgreSQL/MySQL database name.
    pub database: String,
}

impl Oracle {
    /// Start `run.sh` with SQLite at `db_path`, the given secret key, on a
    /// free port; wait until it answers (bounded by
    /// `$LEDGER_ORACLE_START_TIMEOUT` seconds, default 240, which leaves
    /// time for a first run to build the virtualenv). The log goes to
    /// `log_path`.
    pub fn start(secret_key: &str, db_path: &Path, log_path: &Path) -> Result<Oracle, String> {
        let name = db_path.to_str().ok_or("database path is not UTF-8")?.to_string();
        let env = vec![("REF_DB_ENGINE", "sqlite".to_string()), ("REF_DB_NAME", name.clone())];
        let mut oracle = Oracle::start_with_env(secret_key, &env, log_path)?;
        oracle.db_path = db_path.to_path_buf();
        oracle.database = name;
        Ok(oracle)
    }

    /// Start `run.sh` on a test database of any backend (its `migrate
    /// --fake-initial` runs first, creating or adopting the schema).
    pub fn start_on(secret_key: &str, db: &TestDb, log_path: &Path) -> Result<Oracle, String> {
        let env = db.oracle_env()?;
        let mut oracle = Oracle::start_with_env(secret_key, &env, log_path)
            .map_err(|e| format!("{e}\n(oracle on the {} database {})", db.backend, db.name))?;
        oracle.backend = db.backend;
        oracle.database = db.name.clone();
        if let Some(p) = db.sqlite_path() {
            oracle.db_path = p.to_path_buf();
        }
        Ok(oracle)
    }

    fn start_with_env(secret_key: &str, db_env: &[(&str, String)], log_path: &Path) -> Result<Oracle, String> {
        check_oracle_prerequisites()?;
        let timeout =
            std::env::var("LEDGER_ORACLE_START_TIMEOUT").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(240);
        let mut last_err = String::new();
        // a port taken between free_port() and gunicorn's bind: try again
        for _attempt in 0..3 {
            let port = free_port()?;
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("socket address");
            let mut cmd = Command::new("bash");
            cmd.arg(oracle_dir().join("run.sh"))
                .env("PORT", port.to_string())
                .env("REF_SECRET_KEY", secret_key)
                .env("REF_ALGORITHM", "HS256")
                .env_remove("REF_ACCESS_LOG");
            for var in ["REF_DB_HOST", "REF_DB_PORT", "REF_DB_USER", "REF_DB_PASSWORD"] {
                cmd.env_remove(var);
            }
            for (k, v) in db_env {
                cmd.env(k, v);
            }
            let mut process = ProcessGroup::spawn("the Django oracle (run.sh)", cmd, log_path)?;
            match process.wait_http(addr, Duration::from_secs(timeout)) {
                Ok(()) => {
                    return Ok(Oracle {
                        process,
                        addr,
                        db_path: PathBuf::new(),
                        backend: Backend::Sqlite,
                        database: String::new(),
                    });
                }
                Err(e) => {
                    let in_use = e.contains("Address already in use") || e.contains("Connection in use");
                    last_err = e;
                    drop(process);
                    if !in_use {
                        break;
                    }
                }
            }
        }
        Err(format!("cannot start the Django oracle from {}: {last_err}", oracle_dir().display()))
    }
}

// ---------------------------------------------------------------------------
// SQLite helpers

fn connect(db_path: &Path) -> Result<SqliteConnection, String> {
    let url = db_path.to_str().ok_or("database path is not UTF-8")?;
    let mut conn = SqliteConnection::establish(url).map_err(|e| format!("open {url}: {e}"))?;
    conn.batch_execute("PRAGMA busy_timeout = 10000;").map_err(|e| format!("busy_timeout: {e}"))?;
    Ok(conn)
}

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

fn table_names(conn: &mut SqliteConnection) -> Result<Vec<String>, String> {
    diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'")
        .load::<NameRow>(conn)
        .map(|v| v.into_iter().map(|r| r.name).collect())
        .map_err(|e| format!("list tables: {e}"))
}

/// Empty `ledgers` (if present), `tokens` and `users` and reset their id
/// sequences, so the next scenario sees a fresh database.
pub fn reset_sqlite(db_path: &Path) -> Result<(), String> {
    let mut conn = connect(db_path)?;
    let tables = table_names(&mut conn)?;
    let mut sql = String::from("BEGIN IMMEDIATE;");
    for t in ["ledgers", "tokens", "users"] {
        if tables.iter().any(|n| n == t) {
            sql.push_str(&format!("DELETE FROM \"{t}\";"));
        }
    }
    if tables.iter().any(|n| n == "sqlite_sequence") {
        sql.push_str("DELETE FROM sqlite_sequence WHERE name IN ('ledgers', 'tokens', 'users');");
    }
    sql.push_str("COMMIT;");
    conn.batch_execute(&sql).map_err(|e| {
        let _ = conn.batch_execute("ROLLBACK;");
        format!("reset {}: {e}", db_path.display())
    })
}

/// The rows of `users` and `tokens` in the form the differential test compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbSnapshot {
    /// id, email, password (a bcrypt `$2b$12$` hash is shown as its shape), typeof(email)
    pub users: Vec<UserRowView>,
    pub tokens: Vec<TokenRowView>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRowView {
    pub id: i64,
    pub email: String,
    pub email_type: String,
    pub password: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRowView {
    pub id: i64,
    pub token: String,
    pub token_type: String,
    pub user_id: i64,
}

#[derive(QueryableByName)]
struct UserQ {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Binary>)]
    email: Option<Vec<u8>>,
    #[diesel(sql_type = Text)]
    email_type: String,
    #[diesel(sql_type = Nullable<Binary>)]
    password: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    created_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    updated_at: Option<String>,
}

#[derive(QueryableByName)]
struct TokenQ {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Binary>)]
    token: Option<Vec<u8>>,
    #[diesel(sql_type = Text)]
    token_type: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
}

/// `$2b$12$` + 53 characters of bcrypt's alphabet.
pub fn is_bcrypt_2b_12(h: &[u8]) -> bool {
    h.len() == 60
        && h.starts_with(b"$2b$12$")
        && h[7..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/')
}

fn show(v: Option<Vec<u8>>) -> String {
    match v {
        None => "NULL".into(),
        Some(b) => super::model::show_bytes(&b, 400),
    }
}

/// Read the users and tokens rows (ordered by id).
pub fn snapshot_sqlite(db_path: &Path) -> Result<DbSnapshot, String> {
    let mut conn = connect(db_path)?;
    let users = diesel::sql_query(
        "SELECT id, CAST(email AS BLOB) AS email, typeof(email) AS email_type, \
         CAST(password AS BLOB) AS password, CAST(created_at AS TEXT) AS created_at, \
         CAST(updated_at AS TEXT) AS updated_at FROM users ORDER BY id",
    )
    .load::<UserQ>(&mut conn)
    .map_err(|e| format!("read users of {}: {e}", db_path.display()))?;
    let tokens = diesel::sql_query(
        "SELECT id, CAST(token AS BLOB) AS token, typeof(token) AS token_type, user_id FROM tokens ORDER BY id",
    )
    .load::<TokenQ>(&mut conn)
    .map_err(|e| format!("read tokens of {}: {e}", db_path.display()))?;
    Ok(DbSnapshot {
        users: users
            .into_iter()
            .map(|u| UserRowView {
                id: u.id,
                email: show(u.email),
                email_type: u.email_type,
                password: match u.password {
                    Some(p) if is_bcrypt_2b_12(&p) => "<bcrypt $2b$12$ hash>".into(),
                    other => show(other),
                },
                created_at: u.created_at,
                updated_at: u.updated_at,
            })
            .collect(),
        tokens: tokens
            .into_iter()
            .map(|t| TokenRowView { id: t.id, token: show(t.token), token_type: t.token_type, user_id: t.user_id })
            .collect(),
    })
}

/// The shape of a timestamp text: digits replaced by `9`.
pub fn timestamp_shape(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect()
}
