//! A real `ledger-server` against a database server that comes and goes.
//!
//! When the database is unreachable at start, the server retries with
//! backoff and says so in its log; when the database goes away while it
//! serves, requests that need it fail the way Django's do (the 500 page,
//! quickly: no hang), requests that do not need it are still answered,
//! nothing is half-written, and service resumes by itself once the database
//! is back.
//!
//! The test runs its own throwaway PostgreSQL instance (`kit::PgInstance`:
//! initdb into a temp directory, a free port, trust auth), never the shared
//! server that other tests use: it stops and starts that instance at will.
//! The instance is stopped and its directory removed even if the test fails.
//! One test instead drops the pool's connections from under it on a
//! throwaway database of the shared server (its own backends only).

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use ledger_contract::client::Client;
use ledger_contract::kit::requests::{self, login, logout, show, signup};
use ledger_contract::kit::{free_addr, LedgerBinary, PgInstance, ServerProcess};
use ledger_contract::model::{compare, Request, Response};

const KEY: &str = "resilience-test-key";
/// Django's 500 page, byte for byte.
const SERVER_ERROR_PAGE: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";
/// How long a request may take to fail while the database is down: it
/// takes about 0.1 s; waiting for the pool's whole 5 s checkout timeout (as
/// r2d2 alone does) is a hang this catches, with room for a loaded machine.
const FAIL_WITHIN: Duration = Duration::from_secs(4);
/// How long the server may take to notice that the database is back.
const RESUME_WITHIN: Duration = Duration::from_secs(30);

/// The ledger-server process (not waited for: the database may be down),
/// with its working directory; stopped when dropped, its log printed if
/// the test fails.
struct Server {
    process: ServerProcess,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    fn spawn(database_url: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut process = LedgerBinary::serving(crate::BIN, dir.path(), KEY, database_url)
            .setting("POOL_SIZE", "4")
            .spawn(free_addr().unwrap())
            .unwrap_or_else(|e| panic!("{e}"));
        process.client.total_timeout = Duration::from_secs(30);
        Server { addr: process.addr, process, _dir: dir }
    }

    fn log(&self) -> String {
        self.process.log()
    }

    fn assert_running(&mut self) {
        self.process.check_running().unwrap_or_else(|e| panic!("{e}"));
    }

    fn send(&self, req: &Request) -> Response {
        self.process.send(req)
    }

    /// Sends `req` and checks that it took less than `bound`.
    fn send_within(&self, req: &Request, bound: Duration) -> Response {
        let started = Instant::now();
        let response = self.send(req);
        let took = started.elapsed();
        assert!(
            took < bound,
            "{} {} took {took:?} (more than {bound:?}) while the database was down",
            req.method,
            String::from_utf8_lossy(&req.path)
        );
        response
    }
}

fn access_token(r: &Response) -> String {
    requests::access_token(r).unwrap_or_else(|e| panic!("{e}"))
}

/// The 500 page with the headers of the one Django sends (`reference`).
fn assert_server_error(what: &str, reference: &Response, r: &Response) {
    assert_eq!(r.status, 500, "{what}: {}", show(r));
    assert_eq!(String::from_utf8_lossy(&r.body), SERVER_ERROR_PAGE, "{what}");
    let content_type: Vec<&[u8]> = r.header_values("content-type");
    assert_eq!(content_type, vec![&b"text/html"[..]], "{what}");
    if let Err(diff) = compare(&reference.contract_only(), r) {
        panic!("{what}: differs from the 500 page of a healthy server: {diff}");
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap_or_else(|e| panic!("{sql}: {e}")).n
}

/// What the database must hold, from the answers the clients got.
#[derive(Default)]
struct Expected {
    users: Vec<String>,
    logins: i64,
}

impl Expected {
    fn check(&self, pg: &PgInstance, when: &str) {
        let mut conn = pg.connect().unwrap_or_else(|e| panic!("{e}"));
        let emails: Vec<String> = {
            use ledger_server::db::schema::postgres::users;
            users::table.select(users::email).order(users::id).load(&mut conn).unwrap()
        };
        assert_eq!(emails, self.users, "{when}: the users table does not match the 201 answers");
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) AS n FROM tokens"),
            self.logins,
            "{when}: tokens rows vs 200 logins"
        );
        assert_eq!(
            count(
                &mut conn,
                "SELECT COUNT(*) AS n FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE u.id IS NULL"
            ),
            0,
            "{when}: a token without its user"
        );
    }
}

#[test]
fn postgres_survives_the_database_going_away_and_coming_back() {
    let pg = PgInstance::init().unwrap_or_else(|e| panic!("{e}"));

    // 1. The database is not up yet: the server retries and says so.
    let mut server = Server::spawn(&pg.url());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(server.log().contains("unreachable") && server.log().contains("retrying")) {
        server.assert_running();
        assert!(Instant::now() < deadline, "no retry line in the log within 30 s:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let retry_line = server.log().lines().find(|l| l.contains("retrying")).unwrap().to_owned();
    assert!(retry_line.contains("database postgresql unreachable"), "{retry_line}");
    assert!(
        std::net::TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)).is_err(),
        "serving before the database answered"
    );

    // 2. The database comes up: the server migrates and serves, by itself.
    pg.start().unwrap();
    let client = Client::new(server.addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.wait_ready(Duration::from_millis(500)).is_err() {
        server.assert_running();
        assert!(Instant::now() < deadline, "not serving 60 s after the database came up:\n{}", server.log());
    }
    assert!(server.log().contains("applied migrations"), "{}", server.log());

    let mut expected = Expected::default();
    let created = server.send(&signup("first@example.com"));
    assert_eq!(created.status, 201, "{}", show(&created));
    expected.users.push("first@example.com".into());
    let token = access_token(&server.send(&login("first@example.com")));
    expected.logins += 1;

    // The 500 page of a healthy server, for its headers: a user with two
    // token rows cannot log out (Django's MultipleObjectsReturned).
    assert_eq!(server.send(&signup("twice@example.com")).status, 201);
    expected.users.push("twice@example.com".into());
    let twice = access_token(&server.send(&login("twice@example.com")));
    access_token(&server.send(&login("twice@example.com")));
    expected.logins += 2;
    let reference = server.send(&logout(&twice));
    assert_eq!(reference.status, 500, "{}", show(&reference));
    assert_eq!(String::from_utf8_lossy(&reference.body), SERVER_ERROR_PAGE);
    expected.check(&pg, "before the outage");

    for (outage, mode) in ["immediate", "fast"].into_iter().enumerate() {
        let doomed = format!("during-outage-{outage}@example.com");
        let in_flight_email = format!("in-flight-{outage}@example.com");

        // 3. Requests in flight when the database goes away: bcrypt keeps
        // them busy between their reads and their writes.
        let in_flight: Vec<_> = [signup(&in_flight_email), login("first@example.com")]
            .into_iter()
            .map(|req| {
                let addr = server.addr;
                std::thread::spawn(move || Client::new(addr).send(&req))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        pg.stop(mode).unwrap();
        let in_flight: Vec<Response> =
            in_flight.into_iter().map(|t| t.join().unwrap().expect("an in-flight request got no answer")).collect();
        match in_flight[0].status {
            201 => expected.users.push(in_flight_email.clone()),
            500 => assert_server_error("in-flight signup", &reference, &in_flight[0]),
            _ => panic!("in-flight signup: {}", show(&in_flight[0])),
        }
        match in_flight[1].status {
            200 => expected.logins += 1,
            500 => assert_server_error("in-flight login", &reference, &in_flight[1]),
            _ => panic!("in-flight login: {}", show(&in_flight[1])),
        }
        eprintln!(
            "outage {outage} ({mode}): in-flight signup {}, in-flight login {}",
            in_flight[0].status, in_flight[1].status
        );

        // 4. While it is down: every request that needs it gets the 500
        // page, quickly, one at a time and many at once.
        for round in 0..3 {
            let started = Instant::now();
            let r = server.send_within(&signup(&doomed), FAIL_WITHIN);
            assert_server_error(&format!("signup while down #{round}"), &reference, &r);
            let r = server.send_within(&login("first@example.com"), FAIL_WITHIN);
            assert_server_error(&format!("login while down #{round}"), &reference, &r);
            let r = server.send_within(&logout(&token), FAIL_WITHIN);
            assert_server_error(&format!("logout while down #{round}"), &reference, &r);
            eprintln!("outage {outage}: three failed requests took {:?}", started.elapsed());
        }
        let started = Instant::now();
        let burst: Vec<_> = (0..12)
            .map(|i| {
                let addr = server.addr;
                let req = if i % 2 == 0 { login("first@example.com") } else { signup(&doomed) };
                std::thread::spawn(move || Client::new(addr).send(&req))
            })
            .collect();
        for (i, t) in burst.into_iter().enumerate() {
            let r = t.join().unwrap().expect("a request got no answer while the database was down");
            assert_server_error(&format!("burst request {i}"), &reference, &r);
        }
        assert!(started.elapsed() < FAIL_WITHIN * 2, "12 concurrent requests took {:?}", started.elapsed());
        // Requests that do not touch the database are answered as usual.
        let invalid = server.send_within(&signup("not-an-email"), FAIL_WITHIN);
        assert_eq!((invalid.status, invalid.body.as_slice()), (400, &br#"{"message": "INVALID_EMAIL"}"#[..]));
        let missing = server.send_within(&Request::new("GET", "/users/nowhere"), FAIL_WITHIN);
        assert_eq!(missing.status, 404);
        let bad_token = server.send_within(&logout("not-a-jwt"), FAIL_WITHIN);
        assert_eq!((bad_token.status, bad_token.body.as_slice()), (400, &br#"{"message": "JWT_DECODE_ERROR"}"#[..]));
        server.assert_running();

        // 5. The database comes back: the same process serves again.
        pg.start().unwrap();
        let started = Instant::now();
        let resumed = loop {
            let r = server.send(&login("first@example.com"));
            match r.status {
                200 => break r,
                500 => assert_server_error("login while resuming", &reference, &r),
                _ => panic!("login while resuming: {}", show(&r)),
            }
            server.assert_running();
            assert!(
                started.elapsed() < RESUME_WITHIN,
                "no successful login {RESUME_WITHIN:?} after the database came back"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        expected.logins += 1;
        eprintln!("outage {outage}: service resumed {:?} after the database did", started.elapsed());
        assert_eq!(access_token(&resumed), token);

        // 6. Nothing was half-written: the signups that got the 500 page left
        // no row (the email is free), and the tables match the answers.
        expected.check(&pg, &format!("after outage {outage}"));
        let created = server.send(&signup(&doomed));
        assert_eq!(created.status, 201, "{}", show(&created));
        expected.users.push(doomed.clone());
        if in_flight[0].status == 500 {
            let created = server.send(&signup(&in_flight_email));
            assert_eq!(created.status, 201, "the in-flight signup that failed left a row: {}", show(&created));
            expected.users.push(in_flight_email.clone());
        }
        expected.check(&pg, &format!("after signing up again after outage {outage}"));
        server.assert_running();
    }

    // The guard works again too: log one user out for good (one token row
    // added, then deleted: `expected.logins` is unchanged).
    assert_eq!(server.send(&signup("last@example.com")).status, 201);
    expected.users.push("last@example.com".into());
    let last = access_token(&server.send(&login("last@example.com")));
    let out = server.send(&logout(&last));
    assert_eq!((out.status, out.body.as_slice()), (200, &br#"{"message": "LOGOUT_SUCCESS"}"#[..]), "{}", show(&out));
    let again = server.send(&logout(&last));
    assert_eq!((again.status, again.body.as_slice()), (200, &br#"{"message": "INVALID_USER"}"#[..]));
    expected.check(&pg, "at the end");

    // A restart while the server is idle drops every pooled connection; the
    // server only finds out when it uses one. Django connects per request,
    // so its first request after the restart succeeds: so must ours (the
    // read that meets a dropped connection is retried on a fresh one, and
    // the write after it gets a checked connection).
    pg.stop("fast").unwrap();
    pg.start().unwrap();
    let first = server.send(&login("last@example.com"));
    assert_eq!(first.status, 200, "the first request after a restart: {}", show(&first));
    expected.logins += 1;
    let first_signup = server.send(&signup("after-restart@example.com"));
    assert_eq!(first_signup.status, 201, "{}", show(&first_signup));
    expected.users.push("after-restart@example.com".into());
    expected.check(&pg, "after a restart while idle");
    server.assert_running();
}

/// A pooled PostgreSQL connection that the server dropped is replaced even
/// when a request's first use of it is a statement not yet prepared on it:
/// libpq then fails while preparing, where diesel does not mark the
/// connection broken, and the pool used to hand the dead connection out
/// again and again (a whole restart's worth of 500s in a CI run).
/// Uses a throwaway database on the shared server: only its own backends
/// are terminated.
#[test]
fn postgres_a_dropped_connection_is_replaced_before_its_first_prepared_statement() {
    use ledger_contract::kit::{AnyConn, Backend, TestDb};
    use ledger_server::db::{Database, DatabaseUrl};

    let test_db = TestDb::create(Backend::Postgres, "dropped").unwrap_or_else(|e| panic!("{e}"));
    let url = DatabaseUrl::parse(test_db.database_url()).unwrap();
    let db = Database::open(&url, 1, chrono_tz::UTC, 0).unwrap();
    let runtime = actix_rt::System::new();
    runtime.block_on(db.migrate()).unwrap();
    // The pool's one connection has run the migrations, never this query.
    let admin = Backend::Postgres.admin_url().unwrap();
    let mut conn = AnyConn::open(Backend::Postgres, &admin).unwrap();
    let killed = conn
        .ints(&format!(
            "SELECT COUNT(pg_terminate_backend(pid)) AS v FROM pg_stat_activity WHERE datname = '{}'",
            test_db.name
        ))
        .unwrap();
    assert_eq!(killed, vec![1], "the pool's connection should be the database's only backend");
    std::thread::sleep(Duration::from_millis(200));

    // A read is retried once on a fresh connection; later calls work too.
    runtime.block_on(async {
        let read = db.email_exists("nobody@example.com".into()).await;
        assert!(!read.expect("the read after the server dropped the connection"));
        assert!(db.find_by_email("nobody@example.com".into()).await.unwrap().is_none());
        assert!(!db.email_exists("other@example.com".into()).await.unwrap());
    });
}
