//! Several `ledger-server` processes on one database behave as one server
//! (PostgreSQL, MySQL/MariaDB and SQLite):
//! a logout through one process is refused by the very next request through
//! any other, and concurrent signups of one email through different
//! processes create exactly one user while every other attempt gets
//! `EMAIL_ALREADY_EXISTS` (never a 500, never a second row).
//!
//! Each test creates a uniquely named throwaway database on the server named
//! by `LEDGER_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! or `LEDGER_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/mysql`),
//! starts three real `ledger-server serve` processes on it at the same time
//! (so they also race to migrate it), and drops the database at the end.
//! SQLite runs on a file in a temp directory. An unreachable database
//! server fails the test: nothing is skipped.

mod common;

use common::users::{access_token, login, logout, show, signup, DieWithParent};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use ledger_contract::client::Client;
use ledger_contract::model::{Request, Response};

const BIN: &str = env!("CARGO_BIN_EXE_ledger-server");
const KEY: &str = "multi-process-test-key";
const PROCESSES: usize = 3;
const RACERS: usize = 24;
const INVALID_USER: &[u8] = br#"{"message": "INVALID_USER"}"#;
const EMAIL_ALREADY_EXISTS: &[u8] = br#"{"message": "EMAIL_ALREADY_EXISTS"}"#;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Postgres,
    Mysql,
    Sqlite,
}

/// An administrative connection to the database server.
enum Admin {
    Pg(PgConnection),
    My(MysqlConnection),
    Lite(SqliteConnection),
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Admin {
    fn connect(backend: Backend, url: &str) -> Admin {
        let result = match backend {
            Backend::Postgres => PgConnection::establish(url).map(Admin::Pg),
            Backend::Mysql => MysqlConnection::establish(url).map(Admin::My),
            Backend::Sqlite => SqliteConnection::establish(url).map(Admin::Lite),
        };
        result.unwrap_or_else(|e| {
            panic!(
                "cannot reach the {backend:?} test server at {}: {e} (start it, e.g. scripts/services.sh)",
                redact(url)
            )
        })
    }

    fn execute(&mut self, sql: &str) -> QueryResult<usize> {
        match self {
            Admin::Pg(c) => diesel::sql_query(sql).execute(c),
            Admin::My(c) => diesel::sql_query(sql).execute(c),
            Admin::Lite(c) => diesel::sql_query(sql).execute(c),
        }
    }

    /// `sql` must select one BIGINT column named `n`.
    fn count(&mut self, sql: &str) -> i64 {
        let row: QueryResult<Count> = match self {
            Admin::Pg(c) => diesel::sql_query(sql).get_result(c),
            Admin::My(c) => diesel::sql_query(sql).get_result(c),
            Admin::Lite(c) => diesel::sql_query(sql).get_result(c),
        };
        row.unwrap_or_else(|e| panic!("{sql}: {e}")).n
    }
}

fn redact(url: &str) -> String {
    ledger_server::db::redact_url(url)
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..path_start])
}

/// A uniquely named database, dropped (with any connection still open to
/// it) when this goes out of scope; for SQLite a file in a temp directory.
struct ThrowawayDb {
    backend: Backend,
    admin_url: String,
    name: String,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl ThrowawayDb {
    fn create(backend: Backend, label: &str) -> ThrowawayDb {
        if let Backend::Sqlite = backend {
            let dir = tempfile::tempdir().unwrap();
            let url = dir.path().join(format!("{label}.sqlite3")).to_str().unwrap().to_owned();
            return ThrowawayDb { backend, admin_url: String::new(), name: label.into(), url, _dir: Some(dir) };
        }
        let admin_url = match backend {
            Backend::Sqlite => unreachable!(),
            Backend::Postgres => std::env::var("LEDGER_TEST_PG_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            Backend::Mysql => {
                std::env::var("LEDGER_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
            }
        };
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("ledger_mp_{label}_{}_{nanos}", std::process::id());
        let create = match backend {
            Backend::Postgres => format!("CREATE DATABASE \"{name}\" ENCODING 'UTF8'"),
            // Django's MySQL databases are utf8mb4.
            Backend::Mysql => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
            Backend::Sqlite => unreachable!(),
        };
        Admin::connect(backend, &admin_url).execute(&create).unwrap_or_else(|e| panic!("{create}: {e}"));
        let url = with_database(&admin_url, &name);
        ThrowawayDb { backend, admin_url, name, url, _dir: None }
    }

    fn connect(&self) -> Admin {
        Admin::connect(self.backend, &self.url)
    }
}

impl Drop for ThrowawayDb {
    fn drop(&mut self) {
        let drop = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            Backend::Mysql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
            Backend::Sqlite => return, // the TempDir goes with it
        };
        let result = match self.backend {
            Backend::Postgres => PgConnection::establish(&self.admin_url).map(Admin::Pg),
            Backend::Mysql => MysqlConnection::establish(&self.admin_url).map(Admin::My),
            Backend::Sqlite => unreachable!(),
        };
        match result {
            Ok(mut admin) => {
                if let Err(e) = admin.execute(&drop) {
                    eprintln!("could not drop the test database {}: {e}", self.name);
                }
            }
            Err(e) => eprintln!("could not drop the test database {}: {e}", self.name),
        }
    }
}

fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// One `ledger-server serve` process; killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn spawn(name: &'static str, database_url: &str, dir: &std::path::Path) -> Server {
        let addr = free_addr();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir)
            .env("DATABASE_URL", database_url)
            .env("SECRET_KEY", KEY)
            .env("BIND", addr.to_string())
            .env("POOL_SIZE", "4")
            .env("RUST_LOG", "info")
            .env_remove("ALGORITHM")
            .env_remove("TIME_ZONE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .die_with_parent()
            .spawn()
            .expect("spawn ledger-server");
        Server { name, child, addr, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let client = Client::new(self.addr);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("ledger-server {} exited at start ({status}):\n{}", self.name, self.log());
            }
            if client.wait_ready(Duration::from_millis(300)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ledger-server {} did not start within {timeout:?}:\n{}",
                self.name,
                self.log()
            );
        }
    }

    fn send(&self, req: &Request) -> Response {
        Client::new(self.addr).send(req).unwrap_or_else(|e| {
            panic!("{} {:?} via {}: {e}\n{}", req.method, String::from_utf8_lossy(&req.path), self.name, self.log())
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the processes at the same time (they race to migrate the fresh
/// database) and waits until each answers HTTP.
fn start_servers(db: &ThrowawayDb, dir: &std::path::Path) -> Vec<Server> {
    let names = ["A", "B", "C"];
    let mut servers: Vec<Server> = names[..PROCESSES].iter().map(|n| Server::spawn(n, &db.url, dir)).collect();
    for server in &mut servers {
        server.wait_ready(Duration::from_secs(60));
    }
    servers
}

fn logout_through_one_is_seen_by_the_next_request_through_any_other(backend: Backend, label: &str) {
    let db = ThrowawayDb::create(backend, label);
    let dir = tempfile::tempdir().unwrap();
    let servers = start_servers(&db, dir.path());
    let email = "shared-session@example.com";

    let created = servers[0].send(&signup(email));
    assert_eq!(
        (created.status, created.body.as_slice()),
        (201, &br#"{"message": "SUCCESS"}"#[..]),
        "{}",
        show(&created)
    );

    // Round by round every process logs out a token another issued; the
    // other two refuse it on their very next request.
    for round in 0..PROCESSES {
        let issuer = &servers[round];
        let guard = &servers[(round + 1) % PROCESSES];
        let token = access_token(&issuer.send(&login(email)));

        let out = guard.send(&logout(&token));
        assert_eq!(
            (out.status, out.body.as_slice()),
            (200, &br#"{"message": "LOGOUT_SUCCESS"}"#[..]),
            "round {round}: logout of {}'s token via {}: {}",
            issuer.name,
            guard.name,
            show(&out)
        );
        for offset in 2..=PROCESSES + 1 {
            let next = &servers[(round + offset) % PROCESSES];
            let again = next.send(&logout(&token));
            assert_eq!(
                (again.status, again.body.as_slice()),
                (200, INVALID_USER),
                "round {round}: the token {} logged out was still accepted by {}: {}",
                guard.name,
                next.name,
                show(&again)
            );
        }
    }

    // Two logins through two processes leave two token rows; a third
    // process sees both at once (Django's MultipleObjectsReturned: the 500 page).
    let token = access_token(&servers[0].send(&login(email)));
    assert_eq!(access_token(&servers[2].send(&login(email))), token, "the JWT is deterministic");
    let multiple = servers[1].send(&logout(&token));
    assert_eq!(multiple.status, 500, "{}", show(&multiple));
    assert!(String::from_utf8_lossy(&multiple.body).contains("<h1>Server Error (500)</h1>"), "{}", show(&multiple));

    let mut conn = db.connect();
    assert_eq!(conn.count("SELECT COUNT(*) AS n FROM users"), 1);
    assert_eq!(conn.count("SELECT COUNT(*) AS n FROM tokens"), 2);
}

fn concurrent_signups_of_one_email_create_one_user(backend: Backend, label: &str) {
    let db = ThrowawayDb::create(backend, label);
    let dir = tempfile::tempdir().unwrap();
    let servers = start_servers(&db, dir.path());
    let addrs: Vec<(&'static str, SocketAddr)> = servers.iter().map(|s| (s.name, s.addr)).collect();

    for (round, email) in ["race@example.com", "race-again@example.com"].into_iter().enumerate() {
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|i| {
                let barrier = barrier.clone();
                let (name, addr) = addrs[(i + round) % PROCESSES];
                let request = signup(email);
                std::thread::spawn(move || {
                    barrier.wait();
                    (name, Client::new(addr).send(&request))
                })
            })
            .collect();
        let results: Vec<(&str, Result<Response, String>)> = racers.into_iter().map(|t| t.join().unwrap()).collect();

        let mut created = Vec::new();
        let mut refused = 0;
        let mut other = Vec::new();
        for (name, result) in &results {
            match result {
                Ok(r) if r.status == 201 && r.body == br#"{"message": "SUCCESS"}"# => created.push(*name),
                Ok(r) if r.status == 400 && r.body == EMAIL_ALREADY_EXISTS => refused += 1,
                Ok(r) => other.push(format!("via {name}: {}", show(r))),
                Err(e) => other.push(format!("via {name}: {e}")),
            }
        }
        let logs = || servers.iter().map(|s| format!("--- {}\n{}", s.name, s.log())).collect::<String>();
        assert!(other.is_empty(), "{email}: unexpected answers {other:#?}\n{}", logs());
        assert_eq!(
            created.len(),
            1,
            "{email}: {} signups succeeded ({created:?}), expected exactly one",
            created.len()
        );
        assert_eq!(refused, RACERS - 1);

        let mut conn = db.connect();
        assert_eq!(conn.count(&format!("SELECT COUNT(*) AS n FROM users WHERE email = '{email}'")), 1, "{email}");
        assert_eq!(conn.count("SELECT COUNT(*) AS n FROM users"), round as i64 + 1);

        // The one user can log in through every process.
        for server in &servers {
            assert_eq!(server.send(&login(email)).status, 200, "login via {}", server.name);
        }
    }
}

#[test]
fn postgres_logout_through_one_process_is_refused_by_the_others() {
    logout_through_one_is_seen_by_the_next_request_through_any_other(Backend::Postgres, "pg_logout");
}

#[test]
fn postgres_concurrent_signups_through_several_processes_create_one_user() {
    concurrent_signups_of_one_email_create_one_user(Backend::Postgres, "pg_signup");
}

#[test]
fn mysql_logout_through_one_process_is_refused_by_the_others() {
    logout_through_one_is_seen_by_the_next_request_through_any_other(Backend::Mysql, "my_logout");
}

#[test]
fn mysql_concurrent_signups_through_several_processes_create_one_user() {
    concurrent_signups_of_one_email_create_one_user(Backend::Mysql, "my_signup");
}

#[test]
fn sqlite_logout_through_one_process_is_refused_by_the_others() {
    logout_through_one_is_seen_by_the_next_request_through_any_other(Backend::Sqlite, "lite_logout");
}

#[test]
fn sqlite_concurrent_signups_through_several_processes_create_one_user() {
    concurrent_signups_of_one_email_create_one_user(Backend::Sqlite, "lite_signup");
}

/// `migrate` processes started at once on one fresh database all succeed
/// (they take turns; without that they raced to create the same tables).
#[test]
fn processes_starting_at_once_on_a_fresh_database_migrate_in_turn() {
    for backend in [Backend::Postgres, Backend::Mysql, Backend::Sqlite] {
        for round in 0..3 {
            let db = ThrowawayDb::create(backend, &format!("migrate{round}"));
            let dir = tempfile::tempdir().unwrap();
            let children: Vec<_> = (0..4)
                .map(|_| {
                    Command::new(BIN)
                        .arg("migrate")
                        .current_dir(dir.path())
                        .env("DATABASE_URL", &db.url)
                        .env("SECRET_KEY", KEY)
                        .env_remove("POOL_SIZE")
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for child in children {
                let output = child.wait_with_output().unwrap();
                assert!(
                    output.status.success(),
                    "{backend:?} round {round}: migrate failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let mut conn = db.connect();
            assert_eq!(conn.count("SELECT COUNT(*) AS n FROM __diesel_schema_migrations"), 1, "{backend:?}");
            assert_eq!(conn.count("SELECT COUNT(*) AS n FROM users"), 0, "{backend:?}");
        }
    }
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306/mysql?ssl_mode=DISABLED", "y"),
        "mysql://root@127.0.0.1:3306/y?ssl_mode=DISABLED"
    );
    assert_eq!(with_database("postgres://u:p@h", "z"), "postgres://u:p@h/z");
}
