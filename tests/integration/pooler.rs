//! Behind PgBouncer in transaction mode (issue 16 §4), the pooler teams put
//! in front of PostgreSQL: Debian's `pgbouncer` (bookworm's 1.18, which does
//! not track prepared statements), a process of the test's own on its own
//! port, `pool_mode = transaction` with fewer server connections than
//! ledger-server's pools hold, so that every transaction may run on another
//! server connection than the one before it. Three ledger-server processes
//! share it, and concurrent users go through signup, login, the guard and
//! logout (compat; hardened also sessions, `logout-all` and throttling);
//! every answer is checked (status and body), the tables end as the
//! answers said, and no log has an error.
//!
//! diesel's named prepared statements (`__diesel_stmt_N`, prepared once per
//! connection and executed later) and session-level `SET`s on connect are
//! what transaction pooling breaks; `DATABASE_POOLER = "transaction"` turns
//! both off (see the README's "Connection poolers").

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_contract::client::Client;
use ledger_contract::kit::requests::{access_token, login, logout, show, signup};
use ledger_contract::kit::{free_addr, Backend, LedgerBinary, ProcessGroup, ServerProcess, TestDb};
use ledger_contract::model::{Request, Response};

use crate::BIN;

const KEY: &str = "pooler-test-key";
const INSTANCES: usize = 3;
const USERS: usize = 12;

/// A PgBouncer of the test's own, in front of the test PostgreSQL server.
struct PgBouncer {
    process: ProcessGroup,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Transaction pooling of `pool_size` server connections per database
    /// to the server of `admin_url` (127.0.0.1:5432 by default), which
    /// trusts its `postgres` role. As root, it runs as the `postgres` OS
    /// user (PgBouncer refuses root).
    fn start(server_port: u16, pool_size: u32) -> PgBouncer {
        let root = nix::unistd::geteuid().is_root();
        let dir = tempfile::Builder::new().prefix("ledger-pgbouncer-").tempdir_in("/tmp").unwrap();
        let port = free_addr().unwrap().port();
        let config = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={server_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {dir}/userlist.txt\n\
             pool_mode = transaction\n\
             default_pool_size = {pool_size}\n\
             max_client_conn = 200\n\
             server_reset_query =\n\
             ignore_startup_parameters = extra_float_digits\n\
             log_connections = 0\n\
             log_disconnections = 0\n",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), config).unwrap();
        std::fs::write(dir.path().join("userlist.txt"), "\"postgres\" \"\"\n").unwrap();
        let exe = which("pgbouncer");
        let mut cmd = if root {
            let status = Command::new("chown").arg("-R").arg("postgres:").arg(dir.path()).status().unwrap();
            assert!(status.success(), "chown postgres {}", dir.path().display());
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        };
        cmd.arg(dir.path().join("pgbouncer.ini"));
        let log = std::env::temp_dir().join(format!("pgbouncer-{port}.log"));
        let mut process = ProcessGroup::spawn("pgbouncer", cmd, &log).unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(process.exited().is_none(), "pgbouncer exited:\n{}", process.log());
            assert!(Instant::now() < until, "pgbouncer does not listen on {port}:\n{}", process.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        PgBouncer { process, port, _dir: dir }
    }

    /// `db`'s URL through the pooler.
    fn url(&self, db: &TestDb) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{}", self.port, db.name)
    }
}

/// The path of a program of Debian's packages (sbin included, which a
/// user's PATH may lack); the package named if it is missing.
fn which(program: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let path = Path::new(dir).join(program);
        if path.exists() {
            return path;
        }
    }
    panic!("{program} is not installed: apt-get install {program} (scripts/services.sh installs it)");
}

fn message(status: u16, text: &str) -> (u16, Vec<u8>) {
    (status, format!(r#"{{"message": "{text}"}}"#).into_bytes())
}

/// Sends `req` to `server` and checks the status and body.
fn expect_msg(server: &Client, req: &Request, (status, body): (u16, Vec<u8>), what: &str) -> Response {
    let response = server.send(req).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((response.status, &response.body), (status, &body), "{what}: {}", show(&response));
    response
}

/// Migrates through the pooler, then starts the instances on it.
fn instances(db: &TestDb, bouncer: &PgBouncer, dir: &Path, settings: &[(&str, &str)]) -> Vec<ServerProcess> {
    let binary = |name: &str| {
        let mut b = LedgerBinary::new(BIN, dir)
            .name(name)
            .setting("SECRET_KEY", KEY)
            .setting("DATABASE_URL", bouncer.url(db))
            .setting("POOL_SIZE", "4")
            .setting("DATABASE_POOLER", "transaction");
        for (k, v) in settings {
            b = b.setting(k, v);
        }
        b
    };
    let migrated = binary("migrate").arg("migrate").run(Duration::from_secs(60)).unwrap();
    assert!(migrated.status.success(), "{}", migrated.log);
    (0..INSTANCES).map(|i| binary(&format!("ledger-{i}")).arg("serve").start().unwrap()).collect()
}

/// No log line of an error or a warning about the database (the pooler's
/// log included: no prepared statement, no lost session state).
fn assert_clean_logs(servers: Vec<ServerProcess>, bouncer: &PgBouncer) {
    for mut server in servers {
        let (code, log) = server.terminate(Duration::from_secs(40)).unwrap();
        assert_eq!(code, Some(0), "{log}");
        let bad: Vec<&str> =
            log.lines().filter(|l| l.contains(" ERROR ") || (l.contains(" WARN ") && l.contains("database"))).collect();
        assert!(bad.is_empty(), "{}: {bad:#?}", server.process.name);
    }
    let log = bouncer.process.log();
    assert!(!log.contains("prepared statement"), "{log}");
}

fn postgres_server_port() -> u16 {
    let admin = Backend::Postgres.admin_url().unwrap();
    ledger_contract::kit::ServerUrl::parse(&admin).unwrap().port.unwrap_or(5432)
}

/// Each user's path through the compat profile, on the instances in turn.
fn compat_user(servers: &[Client], n: usize, guard_token: &str) {
    let at = |k: usize| &servers[(n + k) % servers.len()];
    let email = format!("user{n}@example.com");
    expect_msg(at(0), &signup(&email), message(201, "SUCCESS"), "signup");
    expect_msg(at(1), &signup(&email), message(400, "EMAIL_ALREADY_EXISTS"), "second signup");
    for round in 0..3 {
        let token = access_token(&at(round).send(&login(&email)).unwrap()).unwrap();
        for k in 0..5 {
            let guard = logout(guard_token);
            expect_msg(at(k), &guard, message(200, "INVALID_USER"), "guard of a logged-out session");
        }
        expect_msg(at(round + 1), &logout(&token), message(200, "LOGOUT_SUCCESS"), "logout");
        expect_msg(at(round + 2), &logout(&token), message(200, "INVALID_USER"), "second logout");
    }
    let wrong =
        Request::new("POST", "/users/login").body(format!(r#"{{"email": "{email}", "password": "wrong!Pass1"}}"#));
    expect_msg(at(2), &wrong, message(401, "INVALID_USER"), "wrong password");
}

fn run_users(servers: &[Client], user: impl Fn(&[Client], usize) + Send + Sync + 'static) {
    let servers: Arc<Vec<Client>> = Arc::new(servers.to_vec());
    let user = Arc::new(user);
    let threads: Vec<_> = (0..USERS)
        .map(|n| {
            let (servers, user) = (servers.clone(), user.clone());
            std::thread::spawn(move || user(&servers, n))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn postgres_compat_through_pgbouncer_in_transaction_mode() {
    let db = TestDb::create(Backend::Postgres, "pooler_compat").unwrap();
    let bouncer = PgBouncer::start(postgres_server_port(), 3);
    let dir = tempfile::tempdir().unwrap();
    let servers = instances(&db, &bouncer, dir.path(), &[]);
    let clients: Vec<Client> = servers.iter().map(|s| s.client.clone()).collect();
    // A logged-out session: its token passes the signature check and finds no row.
    expect_msg(&clients[0], &signup("guard@example.com"), message(201, "SUCCESS"), "signup");
    let guard_token = access_token(&clients[1].send(&login("guard@example.com")).unwrap()).unwrap();
    expect_msg(&clients[2], &logout(&guard_token), message(200, "LOGOUT_SUCCESS"), "logout");
    run_users(&clients, move |servers, n| compat_user(servers, n, &guard_token));
    assert_eq!(db.int("SELECT COUNT(*) AS v FROM users").unwrap(), 1 + USERS as i64);
    assert_eq!(db.int("SELECT COUNT(*) AS v FROM tokens").unwrap(), 0);
    assert_clean_logs(servers, &bouncer);
}

/// Each user's path through the hardened profile: two devices, the
/// session list, per-device logout, `logout-all`, and throttling.
fn hardened_user(servers: &[Client], n: usize) {
    let at = |k: usize| &servers[(n + k) % servers.len()];
    let email = format!("user{n}@example.com");
    expect_msg(at(0), &signup(&email), message(201, "SUCCESS"), "signup");
    let first = access_token(&at(1).send(&login(&email)).unwrap()).unwrap();
    let second = access_token(&at(2).send(&login(&email)).unwrap()).unwrap();
    assert_ne!(first, second);
    let sessions = |token: &str| Request::new("GET", "/users/sessions").header("Authorization", token);
    let list = at(0).send(&sessions(&first)).unwrap();
    assert_eq!(list.status, 200, "{}", show(&list));
    let listed: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(listed["sessions"].as_array().map(Vec::len), Some(2), "{}", show(&list));
    expect_msg(at(1), &logout(&first), message(200, "LOGOUT_SUCCESS"), "logout of one device");
    expect_msg(at(2), &logout(&first), message(401, "INVALID_USER"), "its token again");
    let other = at(0).send(&sessions(&second)).unwrap();
    assert_eq!(other.status, 200, "the other device: {}", show(&other));
    let all = Request::new("POST", "/users/logout-all").header("Authorization", &second);
    expect_msg(at(1), &all, message(200, "LOGOUT_SUCCESS"), "logout-all");
    expect_msg(at(2), &sessions(&second), message(401, "INVALID_USER"), "after logout-all");
    let wrong =
        Request::new("POST", "/users/login").body(format!(r#"{{"email": "{email}", "password": "wrong!Pass1"}}"#));
    for k in 0..3 {
        expect_msg(at(k), &wrong, message(401, "INVALID_USER"), "wrong password");
    }
    let refused = expect_msg(at(0), &login(&email), message(429, "TOO_MANY_ATTEMPTS"), "throttled");
    assert_eq!(refused.header_values("retry-after").len(), 1, "{}", refused.describe());
}

#[test]
fn postgres_hardened_through_pgbouncer_in_transaction_mode() {
    let db = TestDb::create(Backend::Postgres, "pooler_hardened").unwrap();
    let bouncer = PgBouncer::start(postgres_server_port(), 3);
    let dir = tempfile::tempdir().unwrap();
    let hardened =
        [("PROFILE", "hardened"), ("BCRYPT_COST", "4"), ("LOGIN_MAX_FAILURES", "3"), ("SESSION_SWEEP_SECONDS", "1")];
    let servers = instances(&db, &bouncer, dir.path(), &hardened);
    let clients: Vec<Client> = servers.iter().map(|s| s.client.clone()).collect();
    run_users(&clients, hardened_user);
    assert_eq!(db.int("SELECT COUNT(*) AS v FROM users").unwrap(), USERS as i64);
    assert_eq!(db.int("SELECT COUNT(*) AS v FROM tokens").unwrap(), 0);
    assert_eq!(db.int("SELECT COUNT(*) AS v FROM ledger_sessions").unwrap(), 0);
    assert_clean_logs(servers, &bouncer);
}
