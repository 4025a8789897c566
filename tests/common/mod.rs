//! Helpers shared by the contract and differential tests.
#![allow(dead_code)]

pub mod users;

use ledger_contract::model::{Request, Response};
use ledger_contract::oracle::{free_port, ProcessGroup};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Print a summary line on the real stdout (not captured by the test harness).
pub fn summary(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A readable report of one difference.
pub fn report(
    scenario: &str,
    index: usize,
    req: &Request,
    expected: &Response,
    actual: Option<&Response>,
    diff: &str,
) -> String {
    let mut s = format!("=== scenario {scenario}, request #{index}\nrequest:\n{}", req.describe());
    s.push_str(&format!("expected:\n{}", expected.describe()));
    match actual {
        Some(a) => s.push_str(&format!("actual:\n{}", a.contract_only().describe())),
        None => s.push_str("actual: (no response)\n"),
    }
    s.push_str(&format!("difference:\n  {}\n", diff.replace('\n', "\n  ")));
    s
}

/// One line per difference, for the summary.
pub fn one_line(scenario: &str, index: usize, req: &Request, expected: &Response, actual: Option<&Response>) -> String {
    let show = |r: &Response| {
        let body = String::from_utf8_lossy(&r.body);
        let body = if body.starts_with("\n<!doctype") {
            body.split("<title>").nth(1).and_then(|t| t.split('<').next()).unwrap_or("html").to_string()
        } else {
            body.chars().take(60).collect()
        };
        format!("{} {}", r.status, body)
    };
    format!(
        "{scenario}#{index} [{}] expected {} / got {}",
        if req.note.is_empty() {
            format!("{} {}", req.method, String::from_utf8_lossy(&req.path))
        } else {
            req.note.clone()
        },
        show(expected),
        actual.map(show).unwrap_or_else(|| "no response".into())
    )
}

/// The ledger-server binary started with `serve` on a free port.
pub struct RustServer {
    pub process: ProcessGroup,
    pub addr: SocketAddr,
    /// The SQLite file (empty for PostgreSQL and MySQL: see `database_url`).
    pub db_path: PathBuf,
    pub database_url: String,
}

impl RustServer {
    /// On a SQLite file.
    pub fn start(secret_key: &str, db_path: &Path, work_dir: &Path, log_path: &Path) -> Result<RustServer, String> {
        let url = db_path.to_str().ok_or("database path is not UTF-8")?;
        let mut server = RustServer::start_url(secret_key, url, work_dir, log_path)?;
        server.db_path = db_path.to_path_buf();
        Ok(server)
    }

    /// On any `DATABASE_URL` (a SQLite path, `postgres://…`, `mysql://…`).
    pub fn start_url(
        secret_key: &str,
        database_url: &str,
        work_dir: &Path,
        log_path: &Path,
    ) -> Result<RustServer, String> {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledger-server"));
            cmd.arg("serve")
                .current_dir(work_dir)
                .env("SECRET_KEY", secret_key)
                .env("DATABASE_URL", database_url)
                .env("BIND", addr.to_string())
                .env_remove("ALGORITHM")
                .env_remove("TIME_ZONE")
                .env_remove("POOL_SIZE");
            let mut process = ProcessGroup::spawn("ledger-server", cmd, log_path)?;
            match process.wait_http(addr, Duration::from_secs(60)) {
                Ok(()) => {
                    let db_path =
                        if database_url.contains("://") { PathBuf::new() } else { PathBuf::from(database_url) };
                    return Ok(RustServer { process, addr, db_path, database_url: database_url.to_string() });
                }
                Err(e) => {
                    let retry = e.contains("in use");
                    last = e;
                    drop(process);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last)
    }
}
