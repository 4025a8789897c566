//! Child processes the tests start: each in a process group of its own,
//! its output in a log file, stopped with its whole group (SIGTERM, then
//! SIGKILL) when dropped, and killed by the kernel if the thread that
//! started it dies first.

use crate::client::Client;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long [`ProcessGroup::stop`] waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Makes the kernel send SIGKILL to the child when the thread that spawned
/// it exits, so that a test process killed by a timeout (no destructor
/// runs then) leaves no server behind.
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed: it makes two system calls
    // (prctl, getppid) through nix's thin wrappers, which neither allocate
    // nor take locks, and touches no state shared with the parent.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // the parent died before prctl took effect: nobody will stop us
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("the parent exited before the child started"));
            }
            Ok(())
        });
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
    /// Spawns `cmd` in a new process group (stdin from /dev/null, stdout
    /// and stderr into `log_path`), to die with the calling thread.
    pub fn spawn(name: &str, mut cmd: Command, log_path: &Path) -> Result<ProcessGroup, String> {
        let log = File::create(log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| format!("{}: {e}", log_path.display()))?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2).process_group(0);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(ProcessGroup { child, name: name.to_string(), log_path: log_path.to_path_buf() })
    }

    /// The process id (also the process group id).
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

    /// `Err` (with its log) if the process has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.exited() {
            None => Ok(()),
            Some(status) => {
                Err(format!("{} exited ({status}); log {}:\n{}", self.name, self.log_path.display(), self.log()))
            }
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// The last `max` bytes of the log.
    pub fn log_tail(&self, max: usize) -> String {
        let data = std::fs::read(&self.log_path).unwrap_or_default();
        let start = data.len().saturating_sub(max);
        String::from_utf8_lossy(&data[start..]).into_owned()
    }

    /// Waits until the process answers HTTP at `addr`; fails early if it exits.
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

    /// Waits (at most `timeout`) for the process to exit by itself; after
    /// that the group is stopped and the wait is an error.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let until = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => {}
                Err(e) => return Err(format!("wait for {}: {e}", self.name)),
            }
            if Instant::now() > until {
                self.stop();
                return Err(format!("{} did not exit within {timeout:?}; log:\n{}", self.name, self.log_tail(4000)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM to the group and waits (at most `timeout`) for the
    /// process to exit: a graceful shutdown.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        self.signal_group(Signal::SIGTERM);
        self.wait_exit(timeout).map_err(|e| format!("after SIGTERM: {e}"))
    }

    fn signal_group(&self, sig: Signal) {
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // The child leads its own process group (spawned with process_group(0)).
            let _ = killpg(Pid::from_raw(pgid), sig);
        }
    }

    /// Stops the whole group: SIGTERM, then SIGKILL after [`STOP_GRACE`].
    pub fn stop(&mut self) {
        if self.exited().is_none() {
            self.signal_group(Signal::SIGTERM);
            let until = Instant::now() + STOP_GRACE;
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
