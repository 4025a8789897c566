//! Socket activation (issue 16 §3): ledger-server serves on the listening
//! socket a supervisor passes (systemd's `LISTEN_FDS` protocol), so that
//! restarting the process drops no request; a passed descriptor that is not
//! a listening TCP socket stops it in one line.
//!
//! The restart test runs `systemd-socket-activate` (Debian's `systemd`
//! package), which binds the socket and execs a supervisor with it as fd 3,
//! `LISTEN_FDS=1` and `LISTEN_PID` = its own pid. The supervisor
//! ([`SUPERVISOR`], a few lines of `sh`) does what systemd does for a
//! `.socket`/`.service` pair on `systemctl restart`: it keeps fd 3 open
//! (systemd holds the socket; the kernel queues connections in its backlog
//! while no process accepts), and starts each server process only after
//! the previous one has exited, with `LISTEN_PID` set to the new process's
//! own pid. systemd sets it in the forked child before `exec`; the `sh -c
//! '… LISTEN_PID=$$ … exec ledger-server'` per child does the same (the
//! pid of that shell is the pid ledger-server runs as). The test plays
//! `systemctl restart`: SIGTERM to the running process (`KillSignal`), and
//! the supervisor starts the next once it has exited.
//!
//! What "zero failed" covers: client threads on keep-alive connections (as
//! browsers and proxies keep them) send guard requests, logins, logouts and
//! signups back to back; every request must get its full expected answer
//! (status and body) on its first try, with no retry at all, not even the
//! one a client may make for a reused connection closed before any byte of
//! its answer (see `KeepAlive`). That holds because the draining server
//! answers every request it has received, with `Connection: close` after
//! the shutdown began, and closes an idle connection only at its
//! keep-alive deadline, never while a request may be on its way; clients
//! that leave a connection idle for longer than `KEEP_ALIVE_SECONDS` meet
//! the same race at any time, restart or not, and are not what this test
//! models.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ledger_contract::client::{KeepAlive, KeepAliveError};
use ledger_contract::kit::requests::{access_token, login, logout, show, signup};
use ledger_contract::kit::{free_addr, LedgerBinary, ProcessGroup, TestDb};
use ledger_contract::model::{Request, Response};

use crate::BIN;

/// systemd's part in a restart, for `systemd-socket-activate` to exec:
/// `$1` is the test's directory, the rest the server's command line.
const SUPERVISOR: &str = r#"dir=$1; shift
while [ ! -e "$dir/stop" ]; do
    /bin/sh -c 'echo $$ >> "$0/pids"; LISTEN_PID=$$; export LISTEN_PID; exec "$@" > "$0/server.$$.log" 2>&1' "$dir" "$@"
    echo $? >> "$dir/exits"
done
"#;

const KEY: &str = "socket-activation-test-key";
const RESTARTS: usize = 4;

fn pids(dir: &Path) -> Vec<i32> {
    let text = std::fs::read_to_string(dir.join("pids")).unwrap_or_default();
    text.lines().map(|l| l.trim().parse().unwrap()).collect()
}

fn server_log(dir: &Path, pid: i32) -> String {
    std::fs::read_to_string(dir.join(format!("server.{pid}.log"))).unwrap_or_default()
}

/// Waits until process number `n` (0-based) has started serving on the
/// passed socket; its pid.
fn wait_serving(dir: &Path, n: usize, supervisor: &mut ProcessGroup) -> i32 {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(&pid) = pids(dir).get(n) {
            let log = server_log(dir, pid);
            if log.contains("starting service") {
                assert!(log.contains("the socket passed as fd 3 `http` (LISTEN_FDS; BIND is not used)"), "{log}");
                return pid;
            }
        }
        assert!(Instant::now() < until, "server {n} did not start:\n{}", supervisor.log());
        if let Some(exit) = supervisor.exited() {
            panic!("the supervisor exited ({exit}):\n{}", supervisor.log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What went wrong in the load, by kind, with one example each.
#[derive(Default)]
struct Failures(Mutex<BTreeMap<String, (usize, String)>>);

impl Failures {
    fn add(&self, kind: &str, example: String) {
        let mut map = self.0.lock().unwrap();
        let entry = map.entry(kind.to_string()).or_insert((0, example));
        entry.0 += 1;
    }
}

/// One request and its check; `Ok` is the answer that was expected.
fn exchange(
    client: &mut KeepAlive,
    req: &Request,
    expect: impl Fn(&Response) -> bool,
    failures: &Failures,
    closes: &AtomicUsize,
) -> Option<Response> {
    match client.send(req) {
        Ok(response) if expect(&response) => {
            if response.header_values("connection").iter().any(|v| v.eq_ignore_ascii_case(b"close")) {
                closes.fetch_add(1, Ordering::Relaxed);
            }
            Some(response)
        }
        Ok(response) => {
            failures.add(&format!("{}: unexpected answer", req.describe()), show(&response));
            None
        }
        Err(KeepAliveError::ClosedUnanswered(e)) => {
            failures.add(&format!("{}: reused connection closed unanswered", req.describe()), e);
            None
        }
        Err(KeepAliveError::Failed(e)) => {
            failures.add(&format!("{}: failed", req.describe()), e);
            None
        }
    }
}

#[test]
fn restarts_on_the_passed_socket_fail_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let addr = free_addr().unwrap();
    std::fs::write(dir.join("supervise.sh"), SUPERVISOR).unwrap();
    let db = dir.join("db.sqlite3");
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("--listen").arg(addr.to_string()).arg("--fdname=http");
    for (k, v) in [
        ("SECRET_KEY", KEY),
        ("DATABASE_URL", db.to_str().unwrap()),
        ("ACCESS_LOG", "1"),
        ("RUST_LOG", "info"),
        ("KEEP_ALIVE_SECONDS", "5"),
    ] {
        cmd.arg(format!("--setenv={k}={v}"));
    }
    cmd.arg("/bin/sh").arg(dir.join("supervise.sh")).arg(dir).arg(BIN).arg("serve").current_dir(dir);
    let mut supervisor = ProcessGroup::spawn("systemd-socket-activate", cmd, &dir.join("activate.log"))
        .unwrap_or_else(|e| panic!("{e} (systemd-socket-activate is in Debian's systemd package)"));
    // systemd-socket-activate execs the supervisor on the first connection.
    supervisor.wait_http(addr, Duration::from_secs(60)).unwrap();
    let first = wait_serving(dir, 0, &mut supervisor);

    // The guard's token: a logged-out session (200 INVALID_USER, one lookup).
    let mut setup = KeepAlive::new(addr);
    let ok = |r: &Response, status: u16, body: &[u8]| r.status == status && r.body == body;
    assert!(ok(&setup.send(&signup("guard@example.com")).unwrap(), 201, br#"{"message": "SUCCESS"}"#));
    for who in 0..2 {
        assert_eq!(setup.send(&signup(&format!("login{who}@example.com"))).unwrap().status, 201);
    }
    let guard_token = access_token(&setup.send(&login("guard@example.com")).unwrap()).unwrap();
    assert!(ok(&setup.send(&logout(&guard_token)).unwrap(), 200, br#"{"message": "LOGOUT_SUCCESS"}"#));

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Failures::default());
    let (sent, closes, signups) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut threads = Vec::new();
    for _ in 0..3 {
        let (stop, failures, sent, closes, token) =
            (stop.clone(), failures.clone(), sent.clone(), closes.clone(), guard_token.clone());
        threads.push(std::thread::spawn(move || {
            let mut client = KeepAlive::new(addr);
            let guard = logout(&token);
            while !stop.load(Ordering::Relaxed) {
                exchange(&mut client, &guard, |r| ok(r, 200, br#"{"message": "INVALID_USER"}"#), &failures, &closes);
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for who in 0..2 {
        let (stop, failures, sent, closes) = (stop.clone(), failures.clone(), sent.clone(), closes.clone());
        threads.push(std::thread::spawn(move || {
            let mut client = KeepAlive::new(addr);
            let email = format!("login{who}@example.com");
            while !stop.load(Ordering::Relaxed) {
                let answer = exchange(&mut client, &login(&email), |r| access_token(r).is_ok(), &failures, &closes);
                sent.fetch_add(1, Ordering::Relaxed);
                if let Some(token) = answer.and_then(|r| access_token(&r).ok()) {
                    let out = logout(&token);
                    exchange(
                        &mut client,
                        &out,
                        |r| ok(r, 200, br#"{"message": "LOGOUT_SUCCESS"}"#),
                        &failures,
                        &closes,
                    );
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    {
        let (stop, failures, sent, closes, signups) =
            (stop.clone(), failures.clone(), sent.clone(), closes.clone(), signups.clone());
        threads.push(std::thread::spawn(move || {
            let mut client = KeepAlive::new(addr);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let req = signup(&format!("new{n}@example.com"));
                if exchange(&mut client, &req, |r| ok(r, 201, br#"{"message": "SUCCESS"}"#), &failures, &closes)
                    .is_some()
                {
                    signups.fetch_add(1, Ordering::Relaxed);
                }
                sent.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }

    let mut served = vec![first];
    for n in 1..=RESTARTS {
        std::thread::sleep(Duration::from_millis(1500));
        let old = *served.last().unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(old), nix::sys::signal::Signal::SIGTERM).unwrap();
        served.push(wait_serving(dir, n, &mut supervisor));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    std::fs::write(dir.join("stop"), "").unwrap();
    let last = *served.last().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(last), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = supervisor.wait_exit(Duration::from_secs(60)).unwrap();
    assert!(status.success(), "{status}: {}", supervisor.log());

    eprintln!(
        "{} requests over {} processes {served:?}, {} answers with Connection: close, {} signups",
        sent.load(Ordering::Relaxed),
        served.len(),
        closes.load(Ordering::Relaxed),
        signups.load(Ordering::Relaxed)
    );
    let failures = failures.0.lock().unwrap();
    assert!(failures.is_empty(), "of {} requests, these failed: {failures:#?}", sent.load(Ordering::Relaxed));
    // Every process started on the passed socket, served requests and exited 0.
    assert_eq!(pids(dir), served);
    let exits = std::fs::read_to_string(dir.join("exits")).unwrap();
    assert_eq!(exits.lines().collect::<Vec<_>>(), vec!["0"; RESTARTS + 1], "exit statuses");
    for pid in &served {
        let log = server_log(dir, *pid);
        let answered = log.lines().filter(|l| l.contains("ledger_server::request")).count();
        assert!(answered > 10, "process {pid} answered {answered} requests:\n{log}");
        assert!(!log.contains("ERROR"), "{log}");
    }
    // The old processes told their clients to reconnect.
    assert!(
        closes.load(Ordering::Relaxed) >= RESTARTS,
        "{} answers with Connection: close",
        closes.load(Ordering::Relaxed)
    );
    // The rows: every signup answered 201 is there, and nothing else.
    let users = TestDb::existing(db.to_str().unwrap()).unwrap();
    let expected = 3 + signups.load(Ordering::Relaxed) as i64;
    assert_eq!(users.int("SELECT COUNT(*) AS v FROM users").unwrap(), expected);
    assert_eq!(users.int("SELECT COUNT(*) AS v FROM tokens").unwrap(), 0, "every login was logged out");
}

/// A passed descriptor that is not a listening TCP socket stops startup
/// with one line naming it and exit status 1: a file, a connected TCP
/// socket (bash's `/dev/tcp`).
#[test]
fn a_passed_fd_that_is_not_a_listening_socket_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let cases = [
        ("exec 3</etc/hostname".to_string(), "fd 3 is not a socket (a listening TCP socket is needed)"),
        (
            format!("exec 3<>/dev/tcp/127.0.0.1/{}", peer_addr.port()),
            "fd 3 is a TCP socket that is not listening (ListenStream= is needed)",
        ),
    ];
    for (open_fd3, expected) in cases {
        let script = format!("{open_fd3}; LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; exec \"$0\" serve");
        let mut bash = Command::new("bash");
        bash.arg("-c").arg(&script).arg(BIN).current_dir(dir.path());
        for var in ledger_server::settings::KEYS {
            bash.env_remove(var);
        }
        bash.env("SECRET_KEY", KEY)
            .env("DATABASE_URL", "db.sqlite3")
            .env("BIND", "127.0.0.1:1")
            .env("RUST_LOG", "info");
        let mut process = ProcessGroup::spawn("ledger-server", bash, &dir.path().join("fd3.log")).unwrap();
        let status = process.wait_exit(Duration::from_secs(60)).unwrap();
        let log = process.log();
        assert_eq!(status.code(), Some(1), "{log}");
        let last = log.lines().last().unwrap_or_default();
        assert_eq!(last, format!("ledger-server: socket activation: {expected}"), "{log}");
        assert!(!log.contains("listening on"), "{log}");
    }
    drop(peer);
}

/// `LISTEN_FDS` for another process (`LISTEN_PID` not ours) is ignored, as
/// `sd_listen_fds` ignores it: the server binds `BIND` and says why.
#[test]
fn listen_fds_of_another_process_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        LedgerBinary::serving(BIN, dir.path(), KEY, "db.sqlite3").setting("LISTEN_FDS", "1").setting("LISTEN_PID", "1");
    let running = server.start().unwrap();
    let answer = running.send(&Request::new("POST", "/users/login").body("{}"));
    assert_eq!((answer.status, answer.body.as_slice()), (400, br#"{"message": "KEY_ERROR"}"#.as_slice()));
    let log = running.log();
    assert!(log.contains("LISTEN_FDS is meant for process 1, not this one"), "{log}");
    assert!(log.contains(&format!("listening on http://{}, BIND", running.addr)), "{log}");
}

/// `deploy/ledger-server.{socket,service}` pass `systemd-analyze verify`
/// (no warning either: an unknown or misspelt key is one) with `ExecStart`
/// pointed at the built binary, and hold what the README promises.
#[test]
fn the_deploy_units_verify_and_sandbox_the_server() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let dir = tempfile::tempdir().unwrap();
    let socket = std::fs::read_to_string(deploy.join("ledger-server.socket")).unwrap();
    let service = std::fs::read_to_string(deploy.join("ledger-server.service")).unwrap();
    for line in ["ListenStream=8000", "Backlog=2048", "FileDescriptorName=http"] {
        assert!(socket.lines().any(|l| l == line), "ledger-server.socket lacks {line}");
    }
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=ledger-server",
        "Environment=DATABASE_URL=/var/lib/ledger-server/db.sqlite3",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=45",
        "EnvironmentFile=/etc/ledger-server/ledger-server.env",
    ] {
        assert!(service.lines().any(|l| l == line), "ledger-server.service lacks {line}");
    }
    std::fs::write(dir.path().join("ledger-server.socket"), &socket).unwrap();
    let service = service.replace("ExecStart=/usr/local/bin/ledger-server", &format!("ExecStart={BIN}"));
    std::fs::write(dir.path().join("ledger-server.service"), service).unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "./ledger-server.socket", "./ledger-server.service"])
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze (Debian's systemd package): {e}"));
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && said.trim().is_empty(), "{}: {said}", output.status);
}

/// A second socket named `admin` (`LISTEN_FDNAMES=http:admin`, as a
/// `.socket` unit with two `ListenStream=` and `FileDescriptorName=` gives)
/// is the admin listener's: `/health/alive` answers on it, `ADMIN_BIND`
/// unused, and the main port still answers as Django.
#[test]
fn a_passed_socket_named_admin_is_the_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, admin) = (free_addr().unwrap(), free_addr().unwrap());
    let db = dir.join("db.sqlite3");
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("--listen").arg(addr.to_string()).arg("--listen").arg(admin.to_string()).arg("--fdname=http:admin");
    for (k, v) in [("SECRET_KEY", KEY), ("DATABASE_URL", db.to_str().unwrap()), ("RUST_LOG", "info")] {
        cmd.arg(format!("--setenv={k}={v}"));
    }
    cmd.arg(BIN).arg("serve").current_dir(dir);
    let mut server = ProcessGroup::spawn("systemd-socket-activate", cmd, &dir.join("activate.log"))
        .unwrap_or_else(|e| panic!("{e} (systemd-socket-activate is in Debian's systemd package)"));
    // It execs the server on the first connection to either socket.
    server.wait_http(addr, Duration::from_secs(60)).unwrap();
    let main = ledger_contract::client::Client::new(addr);
    let answer = main.send(&Request::new("POST", "/users/login").body("{}")).unwrap();
    assert_eq!((answer.status, answer.body.as_slice()), (400, br#"{"message": "KEY_ERROR"}"#.as_slice()));
    let alive = ledger_contract::client::Client::new(admin).send(&Request::new("GET", "/health/alive")).unwrap();
    assert_eq!((alive.status, alive.body.as_slice()), (200, br#"{"status": "alive"}"#.as_slice()));
    let log = server.log();
    assert!(log.contains(&format!("admin listener on http://{admin}, the socket passed as fd 4 `admin`")), "{log}");
    assert!(log.contains(&format!("listening on http://{addr}, the socket passed as fd 3 `http`")), "{log}");
    server.terminate(Duration::from_secs(40)).unwrap();
}
