//! Several `ledger-server` processes on one database behave as one server
//! (PostgreSQL, MySQL/MariaDB and SQLite):
//! a logout through one process is refused by the very next request through
//! any other, and concurrent signups of one email through different
//! processes create exactly one user while every other attempt gets
//! `EMAIL_ALREADY_EXISTS` (never a 500, never a second row).
//!
//! Each test creates a uniquely named throwaway database (`TestDb`) on the
//! server named by `LEDGER_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) or `LEDGER_TEST_MYSQL_URL`
//! (default `mysql://root@127.0.0.1:3306/mysql`), starts three real
//! `ledger-server serve` processes on it at the same time (so they also race
//! to migrate it), and drops the database at the end. SQLite runs on a file
//! in a temp directory. An unreachable database server fails the test:
//! nothing is skipped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ledger_contract::client::Client;
use ledger_contract::kit::requests::{self, login, logout, show, signup};
use ledger_contract::kit::{free_addr, Backend, LedgerBinary, ServerProcess, TestDb};
use ledger_contract::model::Response;

const KEY: &str = "multi-process-test-key";
const PROCESSES: usize = 3;
const RACERS: usize = 24;
const INVALID_USER: &[u8] = br#"{"message": "INVALID_USER"}"#;
const EMAIL_ALREADY_EXISTS: &[u8] = br#"{"message": "EMAIL_ALREADY_EXISTS"}"#;

fn create_db(backend: Backend, label: &str) -> TestDb {
    TestDb::create(backend, label).unwrap_or_else(|e| panic!("{e}"))
}

/// `sql` must select one BIGINT column named `v`.
fn count(db: &TestDb, sql: &str) -> i64 {
    db.int(sql).unwrap_or_else(|e| panic!("{e}"))
}

fn access_token(r: &Response) -> String {
    requests::access_token(r).unwrap_or_else(|e| panic!("{e}"))
}

/// One `ledger-server serve` process named `name` (its log: `<dir>/<name>.log`), not yet answering.
fn spawn(name: &str, db: &TestDb, dir: &Path) -> ServerProcess {
    LedgerBinary::serving(crate::BIN, dir, KEY, db.database_url())
        .name(name)
        .setting("POOL_SIZE", "4")
        .spawn(free_addr().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("spawn ledger-server {name}: {e}"))
}

/// Starts the processes at the same time (they race to migrate the fresh
/// database) and waits until each answers HTTP.
fn start_servers(db: &TestDb, dir: &Path) -> Vec<ServerProcess> {
    let names = ["A", "B", "C"];
    let mut servers: Vec<ServerProcess> = names[..PROCESSES].iter().map(|n| spawn(n, db, dir)).collect();
    for (server, name) in servers.iter_mut().zip(names) {
        // a port another listener took between the probe and the bind: another port
        let mut tries = 0;
        while let Err(e) = server.wait_ready(Duration::from_secs(60)) {
            tries += 1;
            assert!(e.contains("in use") && tries < 3, "ledger-server did not start: {e}");
            *server = spawn(name, db, dir);
        }
    }
    servers
}

fn name(server: &ServerProcess) -> &str {
    &server.process.name
}

fn logout_through_one_is_seen_by_the_next_request_through_any_other(backend: Backend, label: &str) {
    let db = create_db(backend, label);
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
            name(issuer),
            name(guard),
            show(&out)
        );
        for offset in 2..=PROCESSES + 1 {
            let next = &servers[(round + offset) % PROCESSES];
            let again = next.send(&logout(&token));
            assert_eq!(
                (again.status, again.body.as_slice()),
                (200, INVALID_USER),
                "round {round}: the token {} logged out was still accepted by {}: {}",
                name(guard),
                name(next),
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

    assert_eq!(count(&db, "SELECT COUNT(*) AS v FROM users"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) AS v FROM tokens"), 2);
}

fn concurrent_signups_of_one_email_create_one_user(backend: Backend, label: &str) {
    let db = create_db(backend, label);
    let dir = tempfile::tempdir().unwrap();
    let servers = start_servers(&db, dir.path());
    let addrs: Vec<(String, SocketAddr)> = servers.iter().map(|s| (name(s).to_owned(), s.addr)).collect();

    for (round, email) in ["race@example.com", "race-again@example.com"].into_iter().enumerate() {
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|i| {
                let barrier = barrier.clone();
                let (name, addr) = addrs[(i + round) % PROCESSES].clone();
                let request = signup(email);
                std::thread::spawn(move || {
                    barrier.wait();
                    (name, Client::new(addr).send(&request))
                })
            })
            .collect();
        let results: Vec<(String, Result<Response, String>)> = racers.into_iter().map(|t| t.join().unwrap()).collect();

        let mut created = Vec::new();
        let mut refused = 0;
        let mut other = Vec::new();
        for (name, result) in &results {
            match result {
                Ok(r) if r.status == 201 && r.body == br#"{"message": "SUCCESS"}"# => created.push(name.as_str()),
                Ok(r) if r.status == 400 && r.body == EMAIL_ALREADY_EXISTS => refused += 1,
                Ok(r) => other.push(format!("via {name}: {}", show(r))),
                Err(e) => other.push(format!("via {name}: {e}")),
            }
        }
        let logs = || servers.iter().map(|s| format!("--- {}\n{}", name(s), s.log())).collect::<String>();
        assert!(other.is_empty(), "{email}: unexpected answers {other:#?}\n{}", logs());
        assert_eq!(
            created.len(),
            1,
            "{email}: {} signups succeeded ({created:?}), expected exactly one",
            created.len()
        );
        assert_eq!(refused, RACERS - 1);

        assert_eq!(count(&db, &format!("SELECT COUNT(*) AS v FROM users WHERE email = '{email}'")), 1, "{email}");
        assert_eq!(count(&db, "SELECT COUNT(*) AS v FROM users"), round as i64 + 1);

        // The one user can log in through every process.
        for server in &servers {
            assert_eq!(server.send(&login(email)).status, 200, "login via {}", name(server));
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
fn processes_starting_at_once_on_a_fresh_database_migrate_in_turn(backend: Backend) {
    for round in 0..3 {
        let db = create_db(backend, &format!("migrate{round}"));
        let dir = tempfile::tempdir().unwrap();
        let children: Vec<_> = (0..4)
            .map(|i| {
                let name = format!("migrate-{i}");
                LedgerBinary::new(crate::BIN, dir.path())
                    .name(&name)
                    .arg("migrate")
                    .setting("DATABASE_URL", db.database_url())
                    .setting("SECRET_KEY", KEY)
                    .launch()
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        for mut child in children {
            let status = child.wait_exit(Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
            assert!(status.success(), "{backend:?} round {round}: migrate failed:\n{}", child.log());
        }
        // Each migration recorded once: users/tokens, then ledger-server's own tables.
        let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count();
        assert_eq!(migrations, 2);
        assert_eq!(
            count(&db, "SELECT COUNT(*) AS v FROM __diesel_schema_migrations"),
            migrations as i64,
            "{backend:?}"
        );
        assert_eq!(count(&db, "SELECT COUNT(*) AS v FROM users"), 0, "{backend:?}");
    }
}

#[test]
fn postgres_processes_starting_at_once_on_a_fresh_database_migrate_in_turn() {
    processes_starting_at_once_on_a_fresh_database_migrate_in_turn(Backend::Postgres);
}

#[test]
fn mysql_processes_starting_at_once_on_a_fresh_database_migrate_in_turn() {
    processes_starting_at_once_on_a_fresh_database_migrate_in_turn(Backend::Mysql);
}

#[test]
fn sqlite_processes_starting_at_once_on_a_fresh_database_migrate_in_turn() {
    processes_starting_at_once_on_a_fresh_database_migrate_in_turn(Backend::Sqlite);
}
