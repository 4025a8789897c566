//! Django and ledger-server with `PROFILE = "hardened"` on ONE database at
//! the same time, on each backend and in either order of creating the
//! schema (issue 14, "Side by side with Django in hardened";
//! /work/hardened-spec.md's last section). Every answer is checked byte
//! for byte (status and body):
//!
//! - a user that signed up on Django logs in on hardened ledger-server
//!   (its cost-12 hash left as it is: BCRYPT_COST is lower), and a user
//!   that signed up on hardened ledger-server (hash at BCRYPT_COST) logs in
//!   on Django;
//! - hardened tokens (`{"id","iat","exp","jti"}`, a fresh one per login,
//!   stored as `sha256:` + hex with a `ledger_sessions` row) pass Django's
//!   guarded `/ledgers` while a session of the user exists; after
//!   ledger-server's `logout-all` Django answers `INVALID_USER` (status
//!   200, its own bug);
//! - ledger-server's per-device logout never breaks Django's guard for the
//!   user's other devices, and the documented limit is pinned: Django
//!   still lets the logged-out device's token into `/ledgers` while
//!   another device of the user is logged in;
//! - a Django-issued token (`{"id": N}`, a plain row) passes hardened
//!   ledger-server's guard (its session listed without metadata) until it
//!   is logged out; Django's logout of a hardened token removes its
//!   session row too (the foreign key cascades);
//! - an expired hardened token (TOKEN_TTL=1) is Django's 500 page on
//!   `/ledgers` (PyJWT's ExpiredSignatureError is not caught there) and
//!   `401 INVALID_USER` on ledger-server.
//!
//! Needs the oracle (../shared/reference) and, for PostgreSQL and MySQL,
//! the servers of `LEDGER_TEST_PG_URL` / `LEDGER_TEST_MYSQL_URL`.

use std::time::Duration;

use ledger_contract::client::Client;
use ledger_contract::kit::requests::{access_token, login, logout, signup};
use ledger_contract::kit::{in_process_with, Backend, Oracle, TestDb};
use ledger_contract::model::{Request, Response};
use ledger_contract::scenarios::post_json;
use ledger_contract::tokens::token_for;
use ledger_server::server::BackgroundServer;
use sha2::{Digest, Sha256};

const KEY: &str = "interop-hardened-key-7c2e";
/// The cost of the hashes hardened ledger-server writes here: not
/// Django's 12, so that the rows show which server hashed, and fast.
const COST: &str = "5";
/// TOKEN_TTL's default: 30 days.
const DEFAULT_TTL: i64 = 30 * 24 * 3600;

/// Django and hardened ledger-server on one database. Fields drop in
/// order: the servers stop before the database is dropped.
struct Pair {
    backend: Backend,
    django: Client,
    rust: Client,
    _oracle: Oracle,
    _server: BackgroundServer,
    db: TestDb,
    _dir: tempfile::TempDir,
}

fn hardened(db: &TestDb, extra: &[(&str, &str)]) -> BackgroundServer {
    let mut settings = vec![("PROFILE", "hardened"), ("BCRYPT_COST", COST)];
    settings.extend_from_slice(extra);
    in_process_with(KEY, db, &settings).unwrap_or_else(|e| panic!("interop-hardened[{}]: {e}", db.backend))
}

fn client(addr: std::net::SocketAddr) -> Client {
    let mut c = Client::new(addr);
    c.total_timeout = Duration::from_secs(30);
    c
}

/// The tables ledger-server adds to Django's: its migration bookkeeping,
/// the session metadata and the failed-login counts.
const OWN_TABLES: [&str; 3] = ["__diesel_schema_migrations", "ledger_login_attempts", "ledger_sessions"];

fn start_pair(backend: Backend, rust_first: bool) -> Pair {
    let order = if rust_first { "rust_first" } else { "django_first" };
    let ctx = |e: String| format!("interop-hardened[{backend}] {order}: {e}");
    let dir =
        tempfile::Builder::new().prefix(&format!("interop-hardened-{backend}-{order}-")).tempdir().expect("temp dir");
    let db = TestDb::create(backend, &format!("ih_{order}")).map_err(ctx).unwrap();
    let start_oracle = |db: &TestDb| Oracle::start_on(KEY, db, &dir.path().join("oracle.log")).map_err(ctx).unwrap();
    let (server, oracle) = if rust_first {
        let server = hardened(&db, &[]);
        let mut expected: Vec<String> = OWN_TABLES.iter().chain(&["tokens", "users"]).map(|t| t.to_string()).collect();
        if backend == Backend::Sqlite {
            expected.push("sqlite_sequence".into());
        }
        expected.sort();
        assert_eq!(db.tables().map_err(ctx).unwrap(), expected, "interop-hardened[{backend}]: hardened's schema");
        // Django's migrate --fake-initial adopts users/tokens beside ledger-server's own tables
        let oracle = start_oracle(&db);
        let migrations = db.django_migrations().map_err(ctx).unwrap();
        assert!(migrations.iter().any(|m| m == "users.0001_initial"), "{migrations:?}");
        (server, oracle)
    } else {
        let oracle = start_oracle(&db);
        let before = db.tables().map_err(ctx).unwrap();
        let server = hardened(&db, &[]);
        let mut expected = before;
        expected.extend(OWN_TABLES.iter().map(|t| t.to_string()));
        expected.sort();
        assert_eq!(
            db.tables().map_err(ctx).unwrap(),
            expected,
            "interop-hardened[{backend}]: hardened ledger-server adds only its own tables to Django's"
        );
        (server, oracle)
    };
    let (django, rust) = (client(oracle.addr), client(server.addr));
    Pair { backend, django, rust, _oracle: oracle, _server: server, db, _dir: dir }
}

fn send(p: &Pair, c: &Client, req: &Request) -> Response {
    let who = if c.addr == p.django.addr { "django" } else { "ledger-server" };
    c.send(req).unwrap_or_else(|e| panic!("interop-hardened[{}]: {who}: {e}\n{}", p.backend, req.describe()))
}

/// Status and body; Django's HTML 500 page as `<500 page>`.
fn answer(r: &Response) -> (u16, String) {
    let b = String::from_utf8_lossy(&r.body).into_owned();
    if b.contains("<title>Server Error (500)</title>") {
        (r.status, "<500 page>".into())
    } else {
        (r.status, b)
    }
}

fn msg(status: u16, message: &str) -> (u16, String) {
    (status, format!(r#"{{"message": "{message}"}}"#))
}

fn guarded(method: &str, path: &str, token: &str) -> Request {
    Request::new(method, path).header("Authorization", token)
}

/// Django's `GET /ledgers` with `token`.
fn ledgers(p: &Pair, token: &str) -> (u16, String) {
    answer(&send(p, &p.django, &guarded("GET", "/ledgers", token)))
}

/// hardened's `GET /users/sessions` with `token`.
fn sessions(p: &Pair, c: &Client, token: &str) -> (u16, String) {
    answer(&send(p, c, &guarded("GET", "/users/sessions", token)))
}

fn login_token(p: &Pair, c: &Client, email: &str) -> String {
    access_token(&send(p, c, &login(email))).unwrap_or_else(|e| panic!("interop-hardened[{}]: {e}", p.backend))
}

fn digest(token: &str) -> String {
    let hex: String = Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The claims of a JWT, as text (the segment decoded, not re-serialized).
fn claims_text(token: &str) -> String {
    let seg = token.split('.').nth(1).unwrap_or_else(|| panic!("not a JWT: {token}"));
    let raw = pycompat::pybase64::urlsafe_b64decode_padded(seg.as_bytes()).expect("base64url claims");
    String::from_utf8(raw).expect("UTF-8 claims")
}

/// A hardened token of user `id`: `{"id":N,"iat":T,"exp":T+ttl,"jti":"<32 hex>"}`,
/// header `{"typ":"JWT","alg":"HS256"}`. Returns `exp`.
fn check_hardened_token(backend: Backend, token: &str, id: i64, ttl: i64) -> i64 {
    let header = token.split('.').next().unwrap_or_default();
    assert_eq!(header, "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9", "interop-hardened[{backend}]: header of {token}");
    let claims = claims_text(token);
    let v: serde_json::Value = serde_json::from_str(&claims).unwrap_or_else(|e| panic!("{claims}: {e}"));
    let (iat, exp) = (v["iat"].as_i64().expect("iat"), v["exp"].as_i64().expect("exp"));
    let jti = v["jti"].as_str().expect("jti");
    assert_eq!(
        claims,
        format!(r#"{{"id":{id},"iat":{iat},"exp":{exp},"jti":"{jti}"}}"#),
        "interop-hardened[{backend}]: claims and their order"
    );
    assert_eq!(exp - iat, ttl, "interop-hardened[{backend}]: exp = iat + TOKEN_TTL in {claims}");
    assert!(
        jti.len() == 32 && jti.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
        "interop-hardened[{backend}]: jti {jti:?}"
    );
    let now = chrono::Utc::now().timestamp();
    assert!((now - 5..=now + 1).contains(&iat), "interop-hardened[{backend}]: iat {iat}, now {now}");
    exp
}

fn count(p: &Pair, sql: &str) -> i64 {
    p.db.int(sql).unwrap_or_else(|e| panic!("interop-hardened[{}]: {e}", p.backend))
}

/// (user_id, token) of every tokens row, in id order.
fn token_rows(p: &Pair) -> Vec<(i64, String)> {
    p.db.tokens()
        .unwrap_or_else(|e| panic!("interop-hardened[{}]: {e}", p.backend))
        .into_iter()
        .map(|t| (t.user_id, t.token))
        .collect()
}

/// The one tokens row holding `digest(token)`, with its session row.
fn check_stored(p: &Pair, token: &str, user_id: i64) -> i64 {
    let d = digest(token);
    assert_eq!(d.len(), 71);
    let ids = p
        .db
        .connect()
        .and_then(|mut c| c.ints(&format!("SELECT id AS v FROM tokens WHERE token = '{d}' AND user_id = {user_id}")))
        .unwrap_or_else(|e| panic!("interop-hardened[{}]: {e}", p.backend));
    assert_eq!(ids.len(), 1, "interop-hardened[{}]: tokens rows holding {d}: {:?}", p.backend, token_rows(p));
    let sessions = count(
        p,
        &format!("SELECT COUNT(*) AS v FROM ledger_sessions WHERE token_id = {} AND user_id = {user_id}", ids[0]),
    );
    assert_eq!(sessions, 1, "interop-hardened[{}]: the ledger_sessions row of tokens row {}", p.backend, ids[0]);
    ids[0]
}

fn user_rows(p: &Pair, user_id: i64) -> (i64, i64) {
    (
        count(p, &format!("SELECT COUNT(*) AS v FROM tokens WHERE user_id = {user_id}")),
        count(p, &format!("SELECT COUNT(*) AS v FROM ledger_sessions WHERE user_id = {user_id}")),
    )
}

fn password_of(p: &Pair, id: i64) -> String {
    let users = p.db.users().unwrap_or_else(|e| panic!("interop-hardened[{}]: {e}", p.backend));
    users.into_iter().find(|u| u.id == id).unwrap_or_else(|| panic!("no user {id}")).password
}

fn exercise(p: &Pair) {
    let backend = p.backend;
    let (dj, rs) = (&p.django, &p.rust);
    let invalid_401 = msg(401, "INVALID_USER");
    let invalid_200 = msg(200, "INVALID_USER");
    let logged_out = msg(200, "LOGOUT_SUCCESS");
    let empty = (200, r#"{"results": []}"#.to_owned());

    // Signup on each server; each refuses the other's email.
    assert_eq!(answer(&send(p, dj, &signup("django@example.com"))), msg(201, "SUCCESS"));
    assert_eq!(answer(&send(p, rs, &signup("rust@example.com"))), msg(201, "SUCCESS"));
    assert_eq!(answer(&send(p, rs, &signup("django@example.com"))), msg(400, "EMAIL_ALREADY_EXISTS"));
    assert_eq!(answer(&send(p, dj, &signup("rust@example.com"))), msg(400, "EMAIL_ALREADY_EXISTS"));
    let django_hash = password_of(p, 1);
    assert!(django_hash.starts_with("$2b$12$") && django_hash.len() == 60, "{django_hash}");
    let rust_hash = password_of(p, 2);
    assert!(
        rust_hash.starts_with(&format!("$2b$0{COST}$")) && rust_hash.len() == 60,
        "interop-hardened[{backend}]: hardened hashes at BCRYPT_COST: {rust_hash}"
    );

    // The Django user logs in on hardened ledger-server: a hardened token, stored as its digest.
    let a1 = login_token(p, rs, "django@example.com");
    check_hardened_token(backend, &a1, 1, DEFAULT_TTL);
    check_stored(p, &a1, 1);
    assert_eq!(password_of(p, 1), django_hash, "a cost-12 hash is not re-hashed at the lower BCRYPT_COST");
    // The hardened user logs in on Django: Django's own deterministic token.
    let t2 = login_token(p, dj, "rust@example.com");
    assert_eq!(t2, token_for(KEY, 2), "interop-hardened[{backend}]: Django's token of the hardened user");
    assert_eq!(token_rows(p), [(1, digest(&a1)), (2, t2.clone())], "interop-hardened[{backend}]: rows");

    // Django's guarded views take the hardened token while its session exists.
    assert_eq!(ledgers(p, &a1), empty, "interop-hardened[{backend}]: Django's /ledgers with a hardened token");
    let created =
        send(p, dj, &post_json("/ledgers", r#"{"amount": 4500, "memo": "coffee"}"#).header("Authorization", &a1));
    assert_eq!(answer(&created), (201, r#"{"message": "SUCCESS", "id": 1}"#.to_owned()));
    let (status, list) = ledgers(p, &a1);
    assert_eq!(status, 200, "{list}");
    assert!(list.starts_with(r#"{"results": [{"id": 1, "amount": 4500, "memo": "coffee", "created_at": "#), "{list}");
    let detail = answer(&send(p, dj, &guarded("GET", "/ledgers/1", &a1)));
    assert_eq!(detail.0, 200, "{detail:?}");
    assert_eq!(ledgers(p, &t2), empty, "user 2 sees none of user 1's ledgers");

    // A second device of user 1: another token, another session; Django takes both.
    let a2 = login_token(p, rs, "django@example.com");
    assert_ne!(a1, a2, "interop-hardened[{backend}]: every login returns a different token");
    check_hardened_token(backend, &a2, 1, DEFAULT_TTL);
    let a2_id = check_stored(p, &a2, 1);
    assert_eq!(ledgers(p, &a2), (200, list.clone()));
    assert_eq!(user_rows(p, 1), (2, 2));

    // Per-device logout on ledger-server: exactly that session goes.
    assert_eq!(answer(&send(p, rs, &logout(&a1))), logged_out);
    assert_eq!(user_rows(p, 1), (1, 1));
    check_stored(p, &a2, 1);
    assert_eq!(answer(&send(p, rs, &logout(&a1))), invalid_401, "ledger-server refuses the logged-out token");
    assert_eq!(sessions(p, rs, &a1), invalid_401);
    let (status, listing) = sessions(p, rs, &a2);
    assert_eq!(status, 200, "{listing}");
    assert!(listing.starts_with(&format!(r#"{{"sessions": [{{"id": {a2_id}, "current": true, "#)), "{listing}");
    assert_eq!(listing.matches(r#""id": "#).count(), 1, "one session left: {listing}");
    // ...Django's guard keeps working for the user's other device,
    assert_eq!(ledgers(p, &a2), (200, list.clone()), "interop-hardened[{backend}]: the other device on Django");
    // ...and the documented limit: Django only checks that *a* row of the
    // user exists, so the logged-out device's token still gets in.
    assert_eq!(ledgers(p, &a1), (200, list.clone()), "interop-hardened[{backend}]: the documented limit");

    // logout-all on ledger-server: every session of the user goes, and Django refuses both tokens.
    assert_eq!(answer(&send(p, rs, &guarded("POST", "/users/logout-all", &a2))), logged_out);
    assert_eq!(user_rows(p, 1), (0, 0));
    assert_eq!(ledgers(p, &a2), invalid_200, "interop-hardened[{backend}]: Django after logout-all");
    assert_eq!(ledgers(p, &a1), invalid_200);
    assert_eq!(sessions(p, rs, &a2), invalid_401);
    assert_eq!(answer(&send(p, dj, &logout(&a2))), invalid_200, "Django's own logout refuses it too");

    // A Django-issued token (plain row) passes hardened's guard until logged out.
    let t2_id = p.db.tokens().unwrap_or_default().iter().find(|t| t.token == t2).map(|t| t.id).expect("t2's row");
    assert_eq!(
        sessions(p, rs, &t2),
        (
            200,
            format!(
                r#"{{"sessions": [{{"id": {t2_id}, "current": true, "created_at": null, "expires_at": null, "last_seen_at": null, "client_ip": null, "user_agent": null}}]}}"#
            )
        ),
        "interop-hardened[{backend}]: a Django-written row, listed without metadata"
    );
    // a second device of user 2, through hardened: the plain row's logout leaves it alone
    let b1 = login_token(p, rs, "rust@example.com");
    check_hardened_token(backend, &b1, 2, DEFAULT_TTL);
    check_stored(p, &b1, 2);
    assert_eq!(answer(&send(p, rs, &logout(&t2))), logged_out, "hardened logs out a Django-issued token");
    assert_eq!(token_rows(p), [(2, digest(&b1))], "interop-hardened[{backend}]: only the plain row went");
    assert_eq!(answer(&send(p, rs, &logout(&t2))), invalid_401, "a logged-out Django token stays out");
    assert_eq!(ledgers(p, &b1), empty);
    assert_eq!(ledgers(p, &t2), empty, "the documented limit, with Django's own token");

    // Django's logout of a hardened token (the user's only row): the session row cascades away.
    assert_eq!(answer(&send(p, dj, &logout(&b1))), logged_out);
    assert_eq!(user_rows(p, 2), (0, 0), "interop-hardened[{backend}]: Django's delete cascades to ledger_sessions");
    assert_eq!(sessions(p, rs, &b1), invalid_401, "ledger-server after Django's logout");
    assert_eq!(ledgers(p, &b1), invalid_200);

    // An expired hardened token: Django's 500 page, ledger-server's 401.
    let short = hardened(&p.db, &[("TOKEN_TTL", "1")]);
    let short_client = client(short.addr);
    let e = login_token(p, &short_client, "rust@example.com");
    let exp = check_hardened_token(backend, &e, 2, 1);
    check_stored(p, &e, 2);
    // PyJWT refuses once now > exp (whole seconds); ledger-server once exp < now
    while chrono::Utc::now().timestamp() <= exp + 1 {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ledgers(p, &e), (500, "<500 page>".into()), "interop-hardened[{backend}]: Django, expired token");
    for c in [rs, &short_client] {
        assert_eq!(sessions(p, c, &e), invalid_401, "interop-hardened[{backend}]: ledger-server, expired token");
        assert_eq!(answer(&send(p, c, &logout(&e))), invalid_401);
    }
    // the hardened user still logs in on Django, its hash unchanged
    assert_eq!(login_token(p, dj, "rust@example.com"), token_for(KEY, 2));
    assert_eq!(password_of(p, 2), rust_hash);
}

fn interop(backend: Backend, rust_first: bool) {
    let started = std::time::Instant::now();
    let pair = start_pair(backend, rust_first);
    exercise(&pair);
    eprintln!(
        "interop-hardened[{backend}] {}: passed in {:.1}s",
        if rust_first { "ledger-server first" } else { "Django first" },
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn oracle_sqlite_django_first() {
    interop(Backend::Sqlite, false);
}

#[test]
fn oracle_sqlite_rust_first() {
    interop(Backend::Sqlite, true);
}

#[test]
fn oracle_postgres_django_first() {
    interop(Backend::Postgres, false);
}

#[test]
fn oracle_postgres_rust_first() {
    interop(Backend::Postgres, true);
}

#[test]
fn oracle_mysql_django_first() {
    interop(Backend::Mysql, false);
}

#[test]
fn oracle_mysql_rust_first() {
    interop(Backend::Mysql, true);
}
