//! The front door with the real Django (issue 15 §1), per backend:
//!
//! - compat: the whole product through ledger-server is byte-identical to
//!   Django alone. Database A has Django alone (an oracle); database B has
//!   a second oracle and the ledger-server binary in front of it
//!   (`UPSTREAM`, the same `SECRET_KEY`). Both are reset before each of
//!   [`scenarios::front_door`] (the `/ledgers` API: list, create, detail,
//!   edit, delete, restore, bad ids, bodies and tokens, methods, CORS,
//!   escaped paths and queries; and `/users/*`, which ledger-server answers
//!   itself). Every answer is compared (status, body, contract headers;
//!   the ledgers' timestamps in bodies by shape), and after each scenario
//!   the `users`, `tokens` and `ledgers` rows;
//! - hardened: a logged-out, expired or garbage token on Django's guarded
//!   `/ledgers` is refused by ledger-server before it reaches Django (which
//!   would have let the logged-out one in), preflights and unguarded paths
//!   go on unchecked.
//!
//! Needs the oracle and, for PostgreSQL and MySQL, their servers; never skips.

use std::time::{Duration, Instant};

use ledger_contract::client::Client;
use ledger_contract::kit::requests::{access_token, login, logout, signup};
use ledger_contract::kit::rows::timestamp_shape;
use ledger_contract::kit::{in_process_with, Backend, DbSnapshot, LedgerBinary, Oracle, TestDb};
use ledger_contract::model::{compare, Request, Response};
use ledger_contract::report::report;
use ledger_contract::scenarios;

const KEY: &str = "front-door-secret-key-40d2";

/// The digits of every `YYYY-MM-DDTHH:MM:SS` (Django's JSON of a datetime)
/// replaced by `9`: the two databases' rows were written at other moments.
fn shape_times(body: &[u8]) -> Vec<u8> {
    const T: &[u8] = b"9999-99-99T99:99:99";
    let mut out = body.to_vec();
    let mut i = 0;
    while i + T.len() <= out.len() {
        let fits = T.iter().zip(&out[i..]).all(|(t, b)| if *t == b'9' { b.is_ascii_digit() } else { t == b });
        if !fits {
            i += 1;
            continue;
        }
        let mut end = i + T.len();
        if out.get(end) == Some(&b'.') {
            end += 1;
            while out.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
        }
        for b in &mut out[i..end] {
            if b.is_ascii_digit() {
                *b = b'9';
            }
        }
        i = end;
    }
    out
}

fn shaped(r: Response) -> Response {
    Response { body: shape_times(&r.body), ..r.contract_only() }
}

/// Users (timestamps by shape), tokens and ledgers (by shape) of one database.
fn rows(db: &TestDb) -> (DbSnapshot, Vec<ledger_contract::kit::LedgerRow>) {
    let mut snap = db.snapshot().unwrap_or_else(|e| panic!("front-door[{}]: {e}", db.backend));
    for u in &mut snap.users {
        for t in [&mut u.created_at, &mut u.updated_at].into_iter().flatten() {
            *t = timestamp_shape(t.split('.').next().unwrap_or(t));
        }
    }
    let ledgers = db.ledgers().unwrap_or_else(|e| panic!("front-door[{}]: {e}", db.backend));
    (snap, ledgers.iter().map(|l| l.shaped()).collect())
}

fn differential(backend: Backend) {
    let ctx = |e: String| format!("front-door[{backend}]: {e}");
    let dir = tempfile::Builder::new().prefix(&format!("front-door-{backend}-")).tempdir().unwrap();
    // the databases outlive the servers (dropped last)
    let db_a = TestDb::create(backend, "fd_alone").map_err(ctx).unwrap();
    let db_b = TestDb::create(backend, "fd_behind").map_err(ctx).unwrap();
    let started = Instant::now();
    let django_a = Oracle::start_on(KEY, &db_a, &dir.path().join("django-a.log")).map_err(ctx).unwrap();
    let django_b = Oracle::start_on(KEY, &db_b, &dir.path().join("django-b.log")).map_err(ctx).unwrap();
    let front = LedgerBinary::serving(crate::BIN, dir.path(), KEY, db_b.database_url())
        .setting("UPSTREAM", format!("http://{}", django_b.addr))
        .start()
        .map_err(ctx)
        .unwrap();
    let alone = Client::new(django_a.addr);
    let mut through = Client::new(front.addr);
    through.total_timeout = Duration::from_secs(30);
    let (mut total, mut scenario_count) = (0, 0);
    for s in scenarios::front_door(KEY) {
        scenario_count += 1;
        db_a.reset(s.user_id_start).map_err(ctx).unwrap();
        db_b.reset(s.user_id_start).map_err(ctx).unwrap();
        for (i, req) in s.requests.iter().enumerate() {
            total += 1;
            let expected = alone.send(req).map_err(|e| ctx(format!("django alone: {e}\n{}", req.describe()))).unwrap();
            let actual = through.send(req).map_err(|e| ctx(format!("through ledger-server: {e}"))).unwrap();
            let (expected, actual) = (shaped(expected), shaped(actual));
            if let Err(diff) = compare(&expected, &actual) {
                panic!(
                    "front-door[{backend}]: a difference\n{}",
                    report(&s.name, i, req, &expected, Some(&actual), &diff)
                );
            }
        }
        let (a, b) = (rows(&db_a), rows(&db_b));
        assert_eq!(a.0.users, b.0.users, "front-door[{backend}] {}: users rows", s.name);
        assert_eq!(a.0.tokens, b.0.tokens, "front-door[{backend}] {}: tokens rows", s.name);
        assert_eq!(a.1, b.1, "front-door[{backend}] {}: ledgers rows", s.name);
    }
    // the scenarios made ledgers rows, and ledger-server answered /users itself
    assert!(total > 150, "{total} requests");
    let log = front.log();
    assert!(log.contains("front door: every request"), "{log}");
    eprintln!(
        "front-door[{backend}]: {total}/{total} identical ({scenario_count} scenarios, {:.1}s)",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn oracle_front_door_matches_django_alone_sqlite() {
    differential(Backend::Sqlite);
}

#[test]
fn oracle_front_door_matches_django_alone_postgres() {
    differential(Backend::Postgres);
}

#[test]
fn oracle_front_door_matches_django_alone_mysql() {
    differential(Backend::Mysql);
}

fn answer(r: &Response) -> (u16, String) {
    let body = String::from_utf8_lossy(&r.body).into_owned();
    if body.contains("<title>Server Error (500)</title>") {
        return (r.status, "<500 page>".into());
    }
    (r.status, body)
}

fn msg(status: u16, message: &str) -> (u16, String) {
    (status, format!(r#"{{"message": "{message}"}}"#))
}

fn send(c: &Client, req: &Request) -> Response {
    c.send(req).unwrap_or_else(|e| panic!("{e}\n{}", req.describe()))
}

fn hardened(backend: Backend) {
    let ctx = |e: String| format!("front-door-hardened[{backend}]: {e}");
    let dir = tempfile::Builder::new().prefix(&format!("front-door-hardened-{backend}-")).tempdir().unwrap();
    let db = TestDb::create(backend, "fd_hardened").map_err(ctx).unwrap();
    let oracle = Oracle::start_on(KEY, &db, &dir.path().join("django.log")).map_err(ctx).unwrap();
    let upstream = format!("http://{}", oracle.addr);
    let settings = [("PROFILE", "hardened"), ("BCRYPT_COST", "5"), ("UPSTREAM", upstream.as_str())];
    let server = in_process_with(KEY, &db, &settings).map_err(ctx).unwrap();
    let mut expiring = settings.to_vec();
    expiring.push(("TOKEN_TTL", "1"));
    let short = in_process_with(KEY, &db, &expiring).map_err(ctx).unwrap();
    let (django, front, short) = (Client::new(oracle.addr), Client::new(server.addr), Client::new(short.addr));
    let ledgers = |t: &str| Request::new("GET", "/ledgers").header("Authorization", t);
    let email = "front@example.com";

    assert_eq!(answer(&send(&front, &signup(email))), msg(201, "SUCCESS"));
    let phone = access_token(&send(&front, &login(email))).unwrap();
    let laptop = access_token(&send(&front, &login(email))).unwrap();
    assert_ne!(phone, laptop, "hardened: a token per login");
    let empty = (200, r#"{"results": []}"#.to_owned());
    assert_eq!(answer(&send(&front, &ledgers(&phone))), empty, "a valid token: Django's answer");
    assert_eq!(answer(&send(&front, &logout(&phone))), msg(200, "LOGOUT_SUCCESS"));
    assert_eq!(answer(&send(&front, &ledgers(&phone))), msg(401, "INVALID_USER"), "refused by ledger-server");
    // Django alone would have let it in (the laptop's session keeps the user's row)
    assert_eq!(answer(&send(&django, &ledgers(&phone))), empty, "Django's per-user guard");
    assert_eq!(answer(&send(&front, &ledgers(&laptop))), empty, "the other device still gets through");
    assert_eq!(answer(&send(&front, &ledgers("garbage"))), msg(400, "JWT_DECODE_ERROR"));
    let guarded_write = Request::new("POST", "/ledgers/1/restore").header("Authorization", &phone);
    assert_eq!(answer(&send(&front, &guarded_write)), msg(401, "INVALID_USER"), "every guarded path and method");

    // expired (TOKEN_TTL = 1): refused here; Django would raise (its 500 page)
    let brief = access_token(&send(&short, &login(email))).unwrap();
    assert_eq!(answer(&send(&short, &ledgers(&brief))), empty);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(answer(&send(&short, &ledgers(&brief))), msg(401, "INVALID_USER"), "expired: refused here");
    assert_eq!(answer(&send(&django, &ledgers(&brief))), (500, "<500 page>".into()), "Django alone: 500");

    // a preflight and an unguarded path go on unchecked: Django's answers
    let preflight = Request::new("OPTIONS", "/ledgers/1")
        .header("Origin", "http://front.example")
        .header("Access-Control-Request-Method", "DELETE");
    let nothing = Request::new("GET", "/nothing").header("Authorization", "garbage");
    for req in [preflight, nothing, Request::new("OPTIONS", "/ledgers")] {
        let (d, f) = (send(&django, &req).contract_only(), send(&front, &req).contract_only());
        if let Err(diff) = compare(&d, &f) {
            panic!("front-door-hardened[{backend}]: {}\n{diff}\n{}", req.describe(), f.describe());
        }
    }
}

#[test]
fn oracle_front_door_hardened_guard_sqlite() {
    hardened(Backend::Sqlite);
}

#[test]
fn oracle_front_door_hardened_guard_postgres() {
    hardened(Backend::Postgres);
}
