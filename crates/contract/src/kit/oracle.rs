//! The Django oracle: `run.sh` of the reference project, on a test database.

use super::backend::Backend;
use super::needs::{self, Need};
use super::port::free_addr;
use super::process::ProcessGroup;
use super::testdb::TestDb;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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

/// Checks that the oracle can be started at all (and that the running
/// test says it needs it), with a message saying what is missing.
pub fn check_oracle_prerequisites() -> Result<(), String> {
    needs::declare(Need::Oracle)?;
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

/// A running Django oracle on 127.0.0.1; stopped (with its workers) on drop.
#[derive(Debug)]
pub struct Oracle {
    pub process: ProcessGroup,
    pub addr: SocketAddr,
    pub backend: Backend,
    /// The database: the SQLite path or the PostgreSQL/MySQL database name.
    pub database: String,
}

impl Oracle {
    /// Starts `run.sh` on a test database of any backend (its `migrate
    /// --fake-initial` runs first, creating or adopting the schema) with
    /// the given secret key, on a free port, and waits until it answers
    /// (bounded by `$LEDGER_ORACLE_START_TIMEOUT` seconds, default 240,
    /// which leaves time for a first run to build the virtualenv). The log
    /// goes to `log_path`.
    pub fn start_on(secret_key: &str, db: &TestDb, log_path: &Path) -> Result<Oracle, String> {
        let env = db.oracle_env()?;
        let (process, addr) = start_with_env(secret_key, &env, log_path)
            .map_err(|e| format!("{e}\n(oracle on the {} database {})", db.backend, db.name))?;
        Ok(Oracle { process, addr, backend: db.backend, database: db.name.clone() })
    }
}

fn start_with_env(
    secret_key: &str,
    db_env: &[(&str, String)],
    log_path: &Path,
) -> Result<(ProcessGroup, SocketAddr), String> {
    check_oracle_prerequisites()?;
    let timeout = std::env::var("LEDGER_ORACLE_START_TIMEOUT").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(240);
    let mut last_err = String::new();
    // a port taken between free_addr() and gunicorn's bind: try again
    for _attempt in 0..3 {
        let addr = free_addr()?;
        let mut cmd = Command::new("bash");
        cmd.arg(oracle_dir().join("run.sh"))
            .env("PORT", addr.port().to_string())
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
            Ok(()) => return Ok((process, addr)),
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

/// `manage.py shell -c CODE` of the reference project on a test database
/// (the oracle's virtualenv, which [`Oracle::start_on`] builds): its stdout.
pub fn django_shell(secret_key: &str, db: &TestDb, code: &str) -> Result<String, String> {
    check_oracle_prerequisites()?;
    let mut cmd = Command::new(oracle_venv().join("bin/python"));
    cmd.arg("manage.py").arg("shell").arg("-c").arg(code).current_dir(oracle_dir());
    cmd.env("PYTHONDONTWRITEBYTECODE", "1").env("REF_SECRET_KEY", secret_key);
    for var in ["REF_DB_HOST", "REF_DB_PORT", "REF_DB_USER", "REF_DB_PASSWORD"] {
        cmd.env_remove(var);
    }
    for (k, v) in db.oracle_env()? {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("run Django's manage.py shell: {e}"))?;
    if !out.status.success() {
        return Err(format!("manage.py shell failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
