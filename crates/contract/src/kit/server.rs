//! ledger-server under test: in-process ([`in_process`], the product's
//! `spawn_background`) or as the real binary ([`LedgerBinary`], whose path
//! an integration test has from `env!("CARGO_BIN_EXE_ledger-server")`).

use super::port::free_addr;
use super::process::ProcessGroup;
use super::testdb::TestDb;
use crate::client::Client;
use crate::model::{Request, Response};
use ledger_server::server::{spawn_background, BackgroundServer};
use ledger_server::settings::{Settings, KEYS};
use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// How long [`LedgerBinary::start`] waits for the first HTTP answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// ledger-server in this process (`Settings::for_tests`) on a test database.
pub fn in_process(secret_key: &str, db: &TestDb) -> Result<BackgroundServer, String> {
    spawn_background(Settings::for_tests(secret_key, db.database_url()))
        .map_err(|e| format!("cannot start ledger-server in-process on the {} database {}: {e}", db.backend, db.name))
}

/// ledger-server in this process with more settings (`Settings::for_tests_with`),
/// e.g. `&[("PROFILE", "hardened")]`.
pub fn in_process_with(secret_key: &str, db: &TestDb, settings: &[(&str, &str)]) -> Result<BackgroundServer, String> {
    spawn_background(Settings::for_tests_with(secret_key, db.database_url(), settings))
        .map_err(|e| format!("cannot start ledger-server in-process on the {} database {}: {e}", db.backend, db.name))
}

/// The `ledger-server` binary as a test runs it: in a working directory of
/// the test's, with none of the settings of the environment (each one the
/// test wants is given with [`LedgerBinary::setting`]), `RUST_LOG=info`.
#[derive(Clone, Debug)]
pub struct LedgerBinary {
    bin: PathBuf,
    work_dir: PathBuf,
    name: String,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    log_path: Option<PathBuf>,
}

/// A process run to its end: its exit status and its output (stdout and stderr).
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub log: String,
}

impl LedgerBinary {
    /// No arguments (ledger-server then serves) and no settings.
    pub fn new(bin: impl AsRef<Path>, work_dir: impl AsRef<Path>) -> LedgerBinary {
        LedgerBinary {
            bin: bin.as_ref().to_path_buf(),
            work_dir: work_dir.as_ref().to_path_buf(),
            name: "ledger-server".into(),
            args: Vec::new(),
            env: Vec::new(),
            log_path: None,
        }
    }

    /// `serve` with a `SECRET_KEY` and a `DATABASE_URL`.
    pub fn serving(bin: impl AsRef<Path>, work_dir: impl AsRef<Path>, secret_key: &str, database_url: &str) -> Self {
        LedgerBinary::new(bin, work_dir)
            .arg("serve")
            .setting("SECRET_KEY", secret_key)
            .setting("DATABASE_URL", database_url)
    }

    /// The name in messages, and of the default log file (`<work dir>/<name>.log`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// A setting (or any other environment variable) of the process.
    pub fn setting(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Where the process's output goes (default `<work dir>/<name>.log`).
    pub fn log(mut self, path: impl AsRef<Path>) -> Self {
        self.log_path = Some(path.as_ref().to_path_buf());
        self
    }

    pub fn log_path(&self) -> PathBuf {
        self.log_path.clone().unwrap_or_else(|| self.work_dir.join(format!("{}.log", self.name)))
    }

    /// The command (not yet spawned). `BCRYPT_CGROUP` is `off` unless a
    /// test sets it: on a machine running the suite the other tests are
    /// the "other work", and bcrypt in the idle cgroup would wait for them
    /// (a test of the cgroup sets `auto`).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args).current_dir(&self.work_dir).env("RUST_LOG", "info");
        for var in KEYS {
            cmd.env_remove(var);
        }
        cmd.env("BCRYPT_CGROUP", "off");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Spawns the process (for a command that exits by itself, e.g.
    /// `migrate`), without waiting for it.
    pub fn launch(&self) -> Result<ProcessGroup, String> {
        ProcessGroup::spawn(&self.name, self.command(), &self.log_path())
    }

    /// Runs the process to its end (at most `timeout`, then it is killed
    /// and this is an error).
    pub fn run(&self, timeout: Duration) -> Result<Finished, String> {
        let mut process = self.launch()?;
        let status = process.wait_exit(timeout)?;
        Ok(Finished { status, log: process.log() })
    }

    /// Spawns the process listening on `addr` (`BIND`), without waiting for it.
    pub fn spawn(&self, addr: SocketAddr) -> Result<ServerProcess, String> {
        let mut cmd = self.command();
        cmd.env("BIND", addr.to_string());
        let process = ProcessGroup::spawn(&self.name, cmd, &self.log_path())?;
        Ok(ServerProcess { process, addr, client: Client::new(addr) })
    }

    /// Spawns the process on a free port and waits until it answers HTTP
    /// ([`START_TIMEOUT`]); tries another port if the one it got was taken.
    pub fn start(&self) -> Result<ServerProcess, String> {
        let mut last = String::new();
        for _ in 0..3 {
            let mut server = self.spawn(free_addr()?)?;
            match server.wait_ready(START_TIMEOUT) {
                Ok(()) => return Ok(server),
                Err(e) => {
                    let retry = e.contains("in use");
                    last = e;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last)
    }
}

/// A running `ledger-server` process; its group is stopped on drop, and
/// its log is printed if the test is failing.
#[derive(Debug)]
pub struct ServerProcess {
    pub process: ProcessGroup,
    pub addr: SocketAddr,
    /// The client [`ServerProcess::send`] uses (its timeouts may be changed).
    pub client: Client,
}

impl ServerProcess {
    /// Waits until it answers HTTP; an error (with its log) if it exits first.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        self.process.wait_http(self.addr, timeout)
    }

    /// `Err` (with its log) if the process has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        self.process.check_running()
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// One request; an error names the request and shows the log.
    pub fn try_send(&self, req: &Request) -> Result<Response, String> {
        self.client.send(req).map_err(|e| {
            format!(
                "{} {:?} via {}: {e}\n{}",
                req.method,
                String::from_utf8_lossy(&req.path),
                self.process.name,
                self.process.log_tail(8000)
            )
        })
    }

    /// One request; panics (with the log) when there is no answer.
    pub fn send(&self, req: &Request) -> Response {
        self.try_send(req).unwrap_or_else(|e| panic!("{e}"))
    }

    /// SIGTERM and wait (at most `timeout`) for the exit: its exit code and log.
    pub fn terminate(&mut self, timeout: Duration) -> Result<(Option<i32>, String), String> {
        let status = self.process.terminate(timeout)?;
        Ok((status.code(), self.log()))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {} log ({})\n{}",
                self.process.name,
                self.process.log_path.display(),
                self.process.log_tail(20_000)
            );
        }
    }
}
