//! A PostgreSQL instance of a test's own (initdb into a temp directory, a
//! free port, trust auth), for tests that stop and start the database
//! server at will, which they must never do to the shared one.
//!
//! As root, the PostgreSQL tools run as the `postgres` OS user (initdb
//! refuses root). The instance is stopped and its directory removed on
//! drop; instances left behind by test processes that were killed are
//! removed by the next [`PgInstance::init`].

use super::needs::{self, Need};
use super::port::free_addr;
use diesel::pg::PgConnection;
use diesel::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const INSTANCE_PREFIX: &str = "ledger-resilience-pg.";
/// The pid of the test process that made an instance, in its directory.
const OWNER_FILE: &str = "owner.pid";

/// `…/postgresql/<newest version>/bin`, where Debian puts initdb and pg_ctl
/// (`$LEDGER_TEST_PG_BIN` if set).
pub fn postgres_bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("LEDGER_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let root = Path::new("/usr/lib/postgresql");
    let entries = std::fs::read_dir(root).map_err(|e| {
        format!("{}: {e}; install postgresql (scripts/services.sh does) or set LEDGER_TEST_PG_BIN", root.display())
    })?;
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| format!("no PostgreSQL server binaries under {}", root.display()))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Stops and removes instances left behind by test processes that were
/// killed (a timeout's SIGKILL runs no destructor; pg_ctl's server outlives
/// the test in a session of its own).
fn remove_abandoned_instances(parent: &Path, bin: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(INSTANCE_PREFIX) {
            continue;
        }
        let Some(owner) = std::fs::read_to_string(dir.join(OWNER_FILE)).ok().and_then(|s| s.trim().parse::<i32>().ok())
        else {
            continue;
        };
        let alive = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(owner), None),
            Ok(()) | Err(nix::errno::Errno::EPERM)
        );
        if alive {
            continue;
        }
        eprintln!("removing the abandoned PostgreSQL instance {}", dir.display());
        let stale = PgInstance { dir, bin: bin.to_path_buf(), port: 0 };
        drop(stale); // pg_ctl stop, then the directory goes
    }
}

/// A PostgreSQL instance in a temp directory; stopped and removed on drop.
pub struct PgInstance {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl PgInstance {
    /// initdb only: the instance is not running yet.
    pub fn init() -> Result<PgInstance, String> {
        needs::declare(Need::Postgres)?;
        // The postgres user must be able to reach the directory: /tmp, not
        // a private TMPDIR.
        let parent = if is_root() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
        let bin = postgres_bin_dir()?;
        remove_abandoned_instances(&parent, &bin);
        let dir = tempfile::Builder::new()
            .prefix(INSTANCE_PREFIX)
            .tempdir_in(&parent)
            .map_err(|e| format!("create a temp dir in {}: {e}", parent.display()))?
            .keep();
        let port = free_addr()?.port();
        // from here on, drop removes the directory
        let pg = PgInstance { dir, bin, port };
        std::fs::write(pg.dir.join(OWNER_FILE), std::process::id().to_string())
            .map_err(|e| format!("write {}: {e}", pg.dir.join(OWNER_FILE).display()))?;
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(&pg.dir)
                .status()
                .map_err(|e| format!("chown postgres {}: {e}", pg.dir.display()))?;
            if !status.success() {
                return Err(format!("chown postgres {}: {status}", pg.dir.display()));
            }
        }
        let data = pg.data_str()?;
        pg.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn data_str(&self) -> Result<String, String> {
        self.data().to_str().map(str::to_owned).ok_or_else(|| format!("{} is not UTF-8", self.data().display()))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        };
        cmd.current_dir(&self.dir).env_remove("PGDATA").env_remove("PGPORT").env_remove("PGHOST");
        cmd
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let output = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {tool}: {e}"))?;
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "{tool} {args:?} failed ({}):\n{}{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.server_log()
        ))
    }

    /// The server's log so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        let log = log.to_str().ok_or_else(|| format!("{} is not UTF-8", log.display()))?;
        let data = self.data_str()?;
        self.run("pg_ctl", &["-D", &data, "-l", log, "-o", &options, "-w", "-t", "60", "start"])
    }

    /// `mode`: `immediate` (as if it crashed) or `fast`.
    pub fn stop(&self, mode: &str) -> Result<(), String> {
        let data = self.data_str()?;
        self.run("pg_ctl", &["-D", &data, "-m", mode, "-w", "-t", "60", "stop"])
    }

    /// A connection to its `postgres` database.
    pub fn connect(&self) -> Result<PgConnection, String> {
        PgConnection::establish(&self.url()).map_err(|e| format!("connect to the private instance: {e}"))
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        // Stopped whatever happened, then the files go.
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
