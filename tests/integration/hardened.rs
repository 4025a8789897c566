//! The hardened profile (issue 14, `PROFILE = "hardened"`), per backend:
//! every numbered item of the issue, each answer checked byte for byte
//! (status, body, the headers that matter) against the wire spec
//! (README, "The hardened profile"):
//!
//! 1. a fresh token per login, claims `id`, `iat`, `exp`, `jti` in that
//!    order, `exp = iat + TOKEN_TTL` (none with `TOKEN_TTL = 0`), 128-bit
//!    `jti`; a logged-out token stays dead after later logins;
//! 2. `tokens.token` holds `sha256:` + the hex digest of the JWT; a row the
//!    compat profile wrote (the plain token) works until it is logged out;
//! 3. the guard checks this token's row: logged out, expired, unknown →
//!    `401 INVALID_USER`; bad signature and undecodable keep their 400s;
//! 4. logout deletes exactly its row; `logout-all`, `GET /users/sessions`,
//!    `DELETE /users/sessions/<id>`, their 405/OPTIONS answers, and the
//!    compat profile's 404 page on those paths;
//! 5. failed logins throttled per account and per client address (in the
//!    database: shared by instances, kept across restarts), `429` with
//!    `Retry-After`, no bcrypt run when throttled, a correct password
//!    after the window; signups per address;
//! 6. unknown email, wrong password and unusable stored hash: one answer;
//! 7. malformed input: the documented 4xx JSON, never the 500 page (the
//!    fuzz property is in `hardened_fuzz`);
//! 8. expired sessions removed at login and by the sweep, session rows
//!    removed with their token rows (by plain SQL too, as Django deletes);
//! 9. `BCRYPT_COST`: new hashes at it, lower-cost hashes re-hashed at
//!    login, hashes of any cost still accepted;
//!
//! and hardened-only settings under compat: ignored (compat's answers)
//! with a warning.
//!
//! Each test has a fresh database and its own server(s); bcrypt runs at
//! cost 4 or 5, windows and lifetimes are a few seconds, and waiting for
//! the sweep polls against a deadline. No assertion is about timing.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ledger_contract::client::Client;
use ledger_contract::kit::requests::{show, PASSWORD};
use ledger_contract::kit::{in_process_with, Backend, LedgerBinary, ServerProcess, TestDb, TokenRow};
use ledger_contract::model::{compare, show_bytes, Request, Response};
use ledger_contract::scenarios::{creds, creds_json, nest, post_json, BODY_MAX_DEPTH, MAX_BODY};
use ledger_contract::tokens::{b64url, b64url_decode, sign, sign_alg, sign_segments, token_for, STD_HEADER};
use ledger_server::server::BackgroundServer;
use sha2::{Digest, Sha256};

pub(crate) const KEY: &str = "hardened-suite-key-7c41";

/// Django's 404 page, byte for byte.
pub(crate) const NOT_FOUND_PAGE: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n";
/// Django's 500 page, byte for byte.
pub(crate) const SERVER_ERROR_PAGE: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";

/// How long a poll for the background sweep may take.
const SWEEP_DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Servers

/// ledger-server in this process; `what` names it in messages.
pub(crate) struct Server {
    pub(crate) client: Client,
    what: String,
    _server: BackgroundServer,
}

impl Server {
    pub(crate) fn send(&self, req: &Request) -> Response {
        self.client.send(req).unwrap_or_else(|e| panic!("{}: no answer: {e}\n{}", self.what, req.describe()))
    }
}

/// The hardened profile at bcrypt cost 4 on `db`, with `extra` settings
/// (which win over those defaults).
pub(crate) fn hardened(db: &TestDb, extra: &[(&str, &str)]) -> Server {
    let mut settings: Vec<(&str, &str)> = extra.to_vec();
    for default in [("PROFILE", "hardened"), ("BCRYPT_COST", "4")] {
        if !settings.iter().any(|(k, _)| *k == default.0) {
            settings.push(default);
        }
    }
    let server = in_process_with(KEY, db, &settings).unwrap_or_else(|e| panic!("{e}"));
    let mut client = Client::new(server.addr);
    client.total_timeout = Duration::from_secs(30);
    Server { client, what: format!("hardened[{}] {settings:?}", db.backend), _server: server }
}

/// The compat profile (the default) on `db`.
fn compat(db: &TestDb) -> Server {
    let server = in_process_with(KEY, db, &[]).unwrap_or_else(|e| panic!("{e}"));
    let mut client = Client::new(server.addr);
    client.total_timeout = Duration::from_secs(30);
    Server { client, what: format!("compat[{}]", db.backend), _server: server }
}

fn create_db(backend: Backend, label: &str) -> TestDb {
    TestDb::create(backend, label).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------
// Requests

fn login_req(email: &str, password: &str) -> Request {
    post_json("/users/login", creds(email, password))
}

fn signup_req(email: &str, password: &str) -> Request {
    post_json("/users/signup", creds(email, password))
}

fn authorized(method: &str, path: &str, token: &str) -> Request {
    Request::new(method, path).header("Authorization", token)
}

fn sessions_req(token: &str) -> Request {
    authorized("GET", "/users/sessions", token)
}

fn logout_req(token: &str) -> Request {
    authorized("POST", "/users/logout", token)
}

fn logout_all_req(token: &str) -> Request {
    authorized("POST", "/users/logout-all", token)
}

fn delete_session_req(token: &str, id: impl std::fmt::Display) -> Request {
    authorized("DELETE", &format!("/users/sessions/{id}"), token)
}

fn forwarded(req: Request, xff: &str) -> Request {
    req.header("X-Forwarded-For", xff)
}

// ---------------------------------------------------------------------------
// Answers

pub(crate) fn msg(message: &str) -> String {
    format!(r#"{{"message": "{message}"}}"#)
}

/// The one value of a header (any case); `None` when absent.
pub(crate) fn header(r: &Response, name: &str) -> Option<String> {
    let values = r.header_values(name);
    assert!(values.len() <= 1, "more than one {name} header: {}", r.describe());
    values.first().map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The headers Django's middleware puts on every answer.
#[track_caller]
fn assert_middleware_headers(what: &str, r: &Response) {
    for (name, value) in
        [("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"), ("referrer-policy", "same-origin")]
    {
        assert_eq!(header(r, name).as_deref(), Some(value), "{what}: {name}\n{}", r.describe());
    }
    assert_eq!(header(r, "vary").as_deref(), Some("Origin"), "{what}: Vary\n{}", r.describe());
}

/// A JSON answer: status, body bytes, `Content-Type`, `Content-Length`, middleware headers.
#[track_caller]
fn assert_json(what: &str, r: &Response, status: u16, body: &str) {
    assert_eq!(
        (r.status, show_bytes(&r.body, 2000)),
        (status, show_bytes(body.as_bytes(), 2000)),
        "{what}\n{}",
        r.describe()
    );
    assert_eq!(header(r, "content-type").as_deref(), Some("application/json"), "{what}: Content-Type");
    assert_eq!(header(r, "content-length"), Some(body.len().to_string()), "{what}: Content-Length");
    assert_middleware_headers(what, r);
}

#[track_caller]
fn assert_msg(what: &str, r: &Response, status: u16, message: &str) {
    assert_json(what, r, status, &msg(message));
}

#[track_caller]
fn assert_invalid_user(what: &str, r: &Response) {
    assert_msg(what, r, 401, "INVALID_USER");
}

#[track_caller]
fn assert_not_found_page(what: &str, r: &Response, head: bool) {
    assert_eq!(r.status, 404, "{what}: {}", show(r));
    let body = if head { "" } else { NOT_FOUND_PAGE };
    assert_eq!(show_bytes(&r.body, 2000), show_bytes(body.as_bytes(), 2000), "{what}");
    assert_eq!(header(r, "content-type").as_deref(), Some("text/html"), "{what}: Content-Type");
    assert_eq!(header(r, "content-length"), Some(NOT_FOUND_PAGE.len().to_string()), "{what}: Content-Length");
    assert_middleware_headers(what, r);
}

/// A `429 TOO_MANY_ATTEMPTS`; its `Retry-After` (whole seconds, at least 1).
#[track_caller]
fn assert_throttled(what: &str, r: &Response) -> u64 {
    assert_msg(what, r, 429, "TOO_MANY_ATTEMPTS");
    let value = header(r, "retry-after").unwrap_or_else(|| panic!("{what}: no Retry-After\n{}", r.describe()));
    assert!(!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()), "{what}: Retry-After {value:?}");
    let seconds: u64 = value.parse().unwrap();
    assert!(seconds >= 1, "{what}: Retry-After {seconds}");
    seconds
}

/// A successful login's answer, byte for byte; its token.
#[track_caller]
fn assert_login_ok(what: &str, r: &Response) -> String {
    let token = ledger_contract::kit::requests::access_token(r).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_json(what, r, 200, &format!(r#"{{"message": "SUCCESS", "access_token": "{token}"}}"#));
    token
}

fn login_ok(srv: &Server, email: &str, password: &str) -> String {
    assert_login_ok(&format!("login of {email}"), &srv.send(&login_req(email, password)))
}

fn signup_ok(srv: &Server, email: &str, password: &str) {
    assert_msg(&format!("signup of {email}"), &srv.send(&signup_req(email, password)), 201, "SUCCESS");
}

/// The token's session is alive (`GET /users/sessions` answers 200).
#[track_caller]
fn assert_alive(what: &str, srv: &Server, token: &str) {
    let r = srv.send(&sessions_req(token));
    assert_eq!(r.status, 200, "{what}: the token should be alive: {}", show(&r));
}

/// Every guarded endpoint refuses the token with `401 INVALID_USER`.
#[track_caller]
fn assert_dead(what: &str, srv: &Server, token: &str, some_session_id: i64) {
    for req in [
        sessions_req(token),
        authorized("HEAD", "/users/sessions", token),
        logout_req(token),
        logout_all_req(token),
        delete_session_req(token, some_session_id),
    ] {
        let r = srv.send(&req);
        if req.method == "HEAD" {
            assert_eq!(r.status, 401, "{what}: HEAD /users/sessions: {}", show(&r));
        } else {
            assert_invalid_user(&format!("{what}: {} {}", req.method, String::from_utf8_lossy(&req.path)), &r);
        }
    }
}

// ---------------------------------------------------------------------------
// Tokens and rows

/// The claims of a hardened token, checked for shape: the standard header,
/// HS256 over the segments with [`KEY`], claims `id`, `iat`, `exp`
/// (unless `TOKEN_TTL = 0`), `jti` in that order, compact, `jti` 32
/// lowercase hex digits.
#[derive(Debug)]
pub(crate) struct Claims {
    pub(crate) id: i64,
    pub(crate) iat: i64,
    pub(crate) exp: Option<i64>,
    pub(crate) jti: String,
}

pub(crate) fn claims(token: &str) -> Claims {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: {token}");
    let header = b64url_decode(parts[0]).unwrap();
    assert_eq!(String::from_utf8_lossy(&header), STD_HEADER, "the header of {token}");
    assert_eq!(sign_segments(KEY, parts[0], parts[1]), token, "HS256 with SECRET_KEY over {token}");
    let payload = String::from_utf8(b64url_decode(parts[1]).unwrap()).unwrap();
    let re = regex::Regex::new(r#"\A\{"id":(\d+),"iat":(\d+),(?:"exp":(\d+),)?"jti":"([0-9a-f]{32})"\}\z"#).unwrap();
    let c = re.captures(&payload).unwrap_or_else(|| panic!("claims {payload:?} are not id, iat, exp, jti"));
    Claims {
        id: c[1].parse().unwrap(),
        iat: c[2].parse().unwrap(),
        exp: c.get(3).map(|m| m.as_str().parse().unwrap()),
        jti: c[4].to_string(),
    }
}

pub(crate) fn digest(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    format!("sha256:{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Sleeps until the clock reads at least `t` (unix seconds).
fn wait_until(t: i64) {
    while now() < t {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn user_id(db: &TestDb, email: &str) -> i64 {
    let users = db.users().unwrap_or_else(|e| panic!("{e}"));
    users.iter().find(|u| u.email == email).unwrap_or_else(|| panic!("no user {email}: {users:?}")).id
}

fn password_of(db: &TestDb, email: &str) -> String {
    let users = db.users().unwrap_or_else(|e| panic!("{e}"));
    users.into_iter().find(|u| u.email == email).unwrap_or_else(|| panic!("no user {email}")).password
}

fn token_rows(db: &TestDb, user: i64) -> Vec<TokenRow> {
    db.tokens().unwrap_or_else(|e| panic!("{e}")).into_iter().filter(|t| t.user_id == user).collect()
}

/// The `tokens` row of a hardened token (by its digest).
fn row_of(db: &TestDb, token: &str) -> TokenRow {
    let d = digest(token);
    let rows = db.tokens().unwrap_or_else(|e| panic!("{e}"));
    rows.iter().find(|t| t.token == d).cloned().unwrap_or_else(|| panic!("no tokens row {d}: {rows:?}"))
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.int(sql).unwrap_or_else(|e| panic!("{e}"))
}

fn sessions_rows_of_token(db: &TestDb, token_id: i64) -> i64 {
    count(db, &format!("SELECT COUNT(*) AS v FROM ledger_sessions WHERE token_id = {token_id}"))
}

fn sessions_rows_of_user(db: &TestDb, user: i64) -> i64 {
    count(db, &format!("SELECT COUNT(*) AS v FROM ledger_sessions WHERE user_id = {user}"))
}

/// A user row written as Django writes one, with the given password hash.
fn insert_user(db: &TestDb, email: &str, hash: &str) -> i64 {
    db.execute(&format!(
        "INSERT INTO users (created_at, updated_at, email, password) \
         VALUES ('2024-01-01 00:00:00', '2024-01-01 00:00:00', '{email}', '{hash}')"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    user_id(db, email)
}

fn bcrypt_hash(password: &str, cost: u32) -> String {
    ledger_server::auth::password::hash_with_cost(password.as_bytes(), cost).unwrap()
}

// ---------------------------------------------------------------------------
// The sessions list as Python's json.dumps writes it

/// A JSON string as Python's `json.dumps` (ensure_ascii) writes it: the
/// product's own, which crates/pycompat tests against CPython's vectors.
pub(crate) fn py_str(s: &str) -> String {
    pycompat::pyrepr::dumps_str(s)
}

/// A time of the sessions list: UTC, whole seconds.
fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse_utc(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
        .unwrap_or_else(|e| panic!("not a UTC time {s:?}: {e}"))
        .and_utc()
        .timestamp()
}

/// One entry of `GET /users/sessions` as expected.
#[derive(Clone, Debug)]
struct Session {
    id: i64,
    current: bool,
    /// `None`: a row without metadata (Django's, compat's): all null.
    meta: Option<Meta>,
}

#[derive(Clone, Debug)]
struct Meta {
    created: i64,
    expires: Option<i64>,
    last_seen: i64,
    ip: String,
    ua: String,
}

fn sessions_body(list: &[Session]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|s| {
            let (created, expires, last_seen, ip, ua) = match &s.meta {
                None => ("null".into(), "null".into(), "null".into(), "null".into(), "null".into()),
                Some(m) => (
                    py_str(&utc(m.created)),
                    m.expires.map_or("null".into(), |e| py_str(&utc(e))),
                    py_str(&utc(m.last_seen)),
                    py_str(&m.ip),
                    py_str(&m.ua),
                ),
            };
            format!(
                r#"{{"id": {}, "current": {}, "created_at": {created}, "expires_at": {expires}, "last_seen_at": {last_seen}, "client_ip": {ip}, "user_agent": {ua}}}"#,
                s.id, s.current
            )
        })
        .collect();
    format!(r#"{{"sessions": [{}]}}"#, items.join(", "))
}

/// The `created_at` and `last_seen_at` (unix seconds, `None` for null) of
/// each entry of a sessions answer, by id.
fn listed_times(r: &Response) -> Vec<(i64, Option<i64>, Option<i64>)> {
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("sessions body {}: {e}", show(r)));
    let list = v["sessions"].as_array().unwrap_or_else(|| panic!("no sessions list: {}", show(r)));
    list.iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap_or_else(|| panic!("id in {s}")),
                s["created_at"].as_str().map(parse_utc),
                s["last_seen_at"].as_str().map(parse_utc),
            )
        })
        .collect()
}

fn created_of(r: &Response, id: i64) -> i64 {
    listed_times(r)
        .into_iter()
        .find(|(i, _, _)| *i == id)
        .and_then(|(_, c, _)| c)
        .unwrap_or_else(|| panic!("no created_at of session {id} in {}", show(r)))
}

// ---------------------------------------------------------------------------
// The tests, one body per item, run on each backend

macro_rules! per_backend {
    ($body:ident: $sqlite:ident, $postgres:ident, $mysql:ident) => {
        #[test]
        fn $sqlite() {
            $body(Backend::Sqlite)
        }
        #[test]
        fn $postgres() {
            $body(Backend::Postgres)
        }
        #[test]
        fn $mysql() {
            $body(Backend::Mysql)
        }
    };
}

// 1. A fresh token per login -----------------------------------------------

per_backend!(fresh_token_per_login:
    hardened_sqlite_fresh_token_per_login,
    hardened_postgres_fresh_token_per_login,
    hardened_mysql_fresh_token_per_login);

fn fresh_token_per_login(backend: Backend) {
    let db = create_db(backend, "h_fresh");
    let email = "fresh@example.com";
    {
        let srv = hardened(&db, &[("TOKEN_TTL", "3600")]);
        signup_ok(&srv, email, PASSWORD);
        let id = user_id(&db, email);
        let mut tokens = Vec::new();
        for i in 0..5 {
            let before = now();
            let token = login_ok(&srv, email, PASSWORD);
            let after = now();
            let c = claims(&token);
            assert_eq!(c.id, id, "login {i}: id claim");
            assert!((before..=after).contains(&c.iat), "login {i}: iat {} not in {before}..={after}", c.iat);
            assert_eq!(c.exp, Some(c.iat + 3600), "login {i}: exp = iat + TOKEN_TTL");
            tokens.push((token, c));
        }
        for (i, (a, ca)) in tokens.iter().enumerate() {
            for (b, cb) in &tokens[i + 1..] {
                assert_ne!(a, b, "two logins gave one token");
                assert_ne!(ca.jti, cb.jti, "two logins gave one jti");
            }
        }
        assert_eq!(token_rows(&db, id).len(), 5, "one row per login");

        // a logged-out token stays dead, whatever logins come after
        let (dead, _) = &tokens[0];
        assert_msg("logout", &srv.send(&logout_req(dead)), 200, "LOGOUT_SUCCESS");
        assert_invalid_user("the same logout again", &srv.send(&logout_req(dead)));
        let other_row = row_of(&db, &tokens[1].0).id;
        for i in 0..3 {
            let fresh = login_ok(&srv, email, PASSWORD);
            assert_ne!(&fresh, dead, "a later login revived the token");
            assert_dead(&format!("logged-out token after {} more logins", i + 1), &srv, dead, other_row);
        }
        assert_alive("a token never logged out", &srv, &tokens[1].0);
    }

    // TOKEN_TTL = 0: no exp claim, a session that never expires
    let srv = hardened(&db, &[("TOKEN_TTL", "0")]);
    let before = now();
    let token = login_ok(&srv, email, PASSWORD);
    let after = now();
    let c = claims(&token);
    assert_eq!(c.exp, None, "TOKEN_TTL=0: no exp claim in {token}");
    assert!((before..=after).contains(&c.iat), "iat {}", c.iat);
    let row = row_of(&db, &token).id;
    let r = srv.send(&sessions_req(&token));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", show(&r)));
    let mine = v["sessions"].as_array().unwrap().iter().find(|s| s["id"] == row).cloned().unwrap();
    assert_eq!(mine["expires_at"], serde_json::Value::Null, "TOKEN_TTL=0: expires_at null: {mine}");
    assert_eq!(mine["current"], serde_json::Value::Bool(true), "{mine}");
}

// 2. Digests in tokens.token; compat-written rows ----------------------------

per_backend!(compat_token_of_two_logins:
    hardened_sqlite_a_compat_token_of_two_logins_is_logged_out_whole,
    hardened_postgres_a_compat_token_of_two_logins_is_logged_out_whole,
    hardened_mysql_a_compat_token_of_two_logins_is_logged_out_whole);

/// Compat writes the same token once per login: two logins, two identical
/// rows. A hardened logout of that token ends it on every row (it is one
/// token), and the user's hardened sessions are untouched.
fn compat_token_of_two_logins(backend: Backend) {
    let db = create_db(backend, "h_compat2");
    let email = "twice@example.com";
    let plain = {
        let srv = compat(&db);
        assert_msg("compat signup", &srv.send(&signup_req(email, PASSWORD)), 201, "SUCCESS");
        let first = login_ok(&srv, email, PASSWORD);
        assert_eq!(login_ok(&srv, email, PASSWORD), first, "compat's token is the same every time");
        first
    };
    let id = user_id(&db, email);
    assert_eq!(token_rows(&db, id).len(), 2, "one row per compat login");
    let srv = hardened(&db, &[]);
    let fresh = login_ok(&srv, email, PASSWORD);
    assert_alive("the compat token in hardened", &srv, &plain);
    assert_msg("logout of the compat token", &srv.send(&logout_req(&plain)), 200, "LOGOUT_SUCCESS");
    let rows = token_rows(&db, id);
    assert_eq!(rows.len(), 1, "both compat rows went with the token: {rows:?}");
    assert_eq!(rows[0].token, digest(&fresh));
    assert_dead("the compat token after its logout", &srv, &plain, rows[0].id);
    assert_alive("the hardened session", &srv, &fresh);
}

per_backend!(digests_and_compat_rows:
    hardened_sqlite_stores_digests_and_honours_compat_rows,
    hardened_postgres_stores_digests_and_honours_compat_rows,
    hardened_mysql_stores_digests_and_honours_compat_rows);

fn digests_and_compat_rows(backend: Backend) {
    let db = create_db(backend, "h_digest");
    let email = "digest@example.com";
    // compat first: its signup (cost 12) and its plain, deterministic token
    let plain = {
        let srv = compat(&db);
        assert_msg("compat signup", &srv.send(&signup_req(email, PASSWORD)), 201, "SUCCESS");
        let t = login_ok(&srv, email, PASSWORD);
        assert_eq!(t, token_for(KEY, user_id(&db, email)), "compat's token is {{\"id\": N}}");
        t
    };
    let id = user_id(&db, email);
    let hash12 = password_of(&db, email);
    assert!(hash12.starts_with("$2b$12$"), "compat hashes at cost 12: {hash12}");
    let rows = token_rows(&db, id);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].token, plain, "compat stores the token itself");
    let plain_row = rows[0].id;

    // then hardened on the same database: the compat row still works
    let srv = hardened(&db, &[("TOKEN_TTL", "3600")]);
    let r = srv.send(&sessions_req(&plain));
    assert_json(
        "sessions with the compat-era token",
        &r,
        200,
        &sessions_body(&[Session { id: plain_row, current: true, meta: None }]),
    );

    // hardened logins store the digest, never the token
    let h1 = login_ok(&srv, email, PASSWORD);
    let h2 = login_ok(&srv, email, PASSWORD);
    assert_eq!(password_of(&db, email), hash12, "a cost-12 hash is not re-hashed at BCRYPT_COST 4");
    let rows = token_rows(&db, id);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (row, token) in rows[1..].iter().zip([&h1, &h2]) {
        assert_eq!(row.token, digest(token), "tokens.token of a hardened login");
        assert_eq!(row.token.len(), 71);
        assert!(row.token.len() <= 100, "fits tokens.token");
        assert_eq!(sessions_rows_of_token(&db, row.id), 1, "one ledger_sessions row per hardened token row");
    }
    let all = db.tokens().unwrap();
    assert!(!all.iter().any(|t| t.token == h1 || t.token == h2), "a plain hardened token is stored: {all:?}");
    assert_eq!(sessions_rows_of_token(&db, plain_row), 0, "compat rows have no metadata");

    // the compat row is listed without metadata beside the hardened ones
    let r = srv.send(&sessions_req(&h1));
    let times = listed_times(&r);
    assert_eq!(times.iter().map(|t| t.0).collect::<Vec<_>>(), vec![rows[2].id, rows[1].id, plain_row], "newest first");
    assert_eq!(times[2], (plain_row, None, None));

    // logged out, the compat token is dead for good: nothing revives it
    assert_msg("logout of the compat token", &srv.send(&logout_req(&plain)), 200, "LOGOUT_SUCCESS");
    assert!(!db.tokens().unwrap().iter().any(|t| t.id == plain_row), "the compat row survived its logout");
    assert_dead("the compat token after its logout", &srv, &plain, rows[1].id);
    let h3 = login_ok(&srv, email, PASSWORD);
    assert_dead("the compat token after another login", &srv, &plain, rows[1].id);
    for t in [&h1, &h2, &h3] {
        assert_alive("the other sessions", &srv, t);
    }
    let all = db.tokens().unwrap();
    assert!(all.iter().all(|t| t.token.starts_with("sha256:") && t.token.len() == 71), "{all:?}");
}

// 3. The guard checks this token --------------------------------------------

per_backend!(guard_checks_the_token:
    hardened_sqlite_guard_checks_the_token,
    hardened_postgres_guard_checks_the_token,
    hardened_mysql_guard_checks_the_token);

/// A token signed with `key` over the standard header and these claims.
fn signed(key: &str, claims: &str) -> String {
    sign(key, STD_HEADER, claims)
}

fn guard_checks_the_token(backend: Backend) {
    let db = create_db(backend, "h_guard");
    let (a_email, b_email) = ("guard-a@example.com", "guard-b@example.com");
    {
        let srv = hardened(&db, &[("TOKEN_TTL", "3600")]);
        signup_ok(&srv, a_email, PASSWORD);
        signup_ok(&srv, b_email, PASSWORD);
        let a = user_id(&db, a_email);
        let b = user_id(&db, b_email);
        let dead = login_ok(&srv, a_email, PASSWORD);
        let alive = login_ok(&srv, a_email, PASSWORD);
        let other = login_ok(&srv, b_email, PASSWORD);
        let alive_row = row_of(&db, &alive).id;
        let other_row = row_of(&db, &other).id;
        assert_msg("logout", &srv.send(&logout_req(&dead)), 200, "LOGOUT_SUCCESS");

        // another row of the same user does not let a dead token in, on
        // any guarded endpoint; the dead token deletes nothing
        assert_dead("a logged-out token while another session lives", &srv, &dead, alive_row);
        assert_eq!(token_rows(&db, a).len(), 1, "a dead token's request deleted a row");
        assert_alive("the other session", &srv, &alive);

        let t = now();
        let c = claims(&alive);
        let jti = "0123456789abcdef0123456789abcdef";
        // (what, token, expected status, message)
        let cases: Vec<(&str, String, u16, &str)> = vec![
            (
                "never issued",
                signed(KEY, &format!(r#"{{"id":{a},"iat":{t},"exp":{},"jti":"{jti}"}}"#, t + 600)),
                401,
                "INVALID_USER",
            ),
            ("compat-style token of a user with a hardened row", token_for(KEY, a), 401, "INVALID_USER"),
            (
                "another user's id with this token's claims",
                signed(KEY, &format!(r#"{{"id":{b},"iat":{},"exp":{},"jti":"{}"}}"#, c.iat, c.exp.unwrap(), c.jti)),
                401,
                "INVALID_USER",
            ),
            (
                "no such user",
                signed(KEY, &format!(r#"{{"id":999999,"iat":{t},"exp":{},"jti":"{jti}"}}"#, t + 600)),
                401,
                "INVALID_USER",
            ),
            (
                "expired",
                signed(KEY, &format!(r#"{{"id":{a},"iat":{},"exp":{},"jti":"{jti}"}}"#, t - 100, t - 50)),
                401,
                "INVALID_USER",
            ),
            (
                "nbf in the future",
                signed(KEY, &format!(r#"{{"id":{a},"iat":{t},"exp":{},"nbf":{},"jti":"{jti}"}}"#, t + 600, t + 300)),
                401,
                "INVALID_USER",
            ),
            ("aud present", signed(KEY, &format!(r#"{{"id":{a},"aud":"x"}}"#)), 401, "INVALID_USER"),
            ("id null", signed(KEY, r#"{"id":null}"#), 401, "INVALID_USER"),
            (
                "id a string of digits (int-like, not stored)",
                signed(KEY, &format!(r#"{{"id":"{a}"}}"#)),
                401,
                "INVALID_USER",
            ),
            ("id out of range", signed(KEY, r#"{"id":99999999999999999999999}"#), 401, "INVALID_USER"),
            (
                "bad signature",
                signed(
                    "another-key",
                    &format!(r#"{{"id":{a},"iat":{},"exp":{},"jti":"{}"}}"#, c.iat, c.exp.unwrap(), c.jti),
                ),
                400,
                "JWT_SIGNATURE_ERROR",
            ),
            (
                "bad signature, expired",
                signed("another-key", &format!(r#"{{"id":{a},"exp":{}}}"#, t - 50)),
                400,
                "JWT_SIGNATURE_ERROR",
            ),
            (
                "the alive token re-signed with another key",
                {
                    let parts: Vec<&str> = alive.split('.').collect();
                    sign_segments("another-key", parts[0], parts[1])
                },
                400,
                "JWT_SIGNATURE_ERROR",
            ),
            ("garbage", "garbage".into(), 400, "JWT_DECODE_ERROR"),
            ("three garbage segments", "a.b.c".into(), 400, "JWT_DECODE_ERROR"),
            ("Bearer prefix", format!("Bearer {alive}"), 400, "JWT_DECODE_ERROR"),
            ("bad base64 payload", format!("{}.!!!!.{}", b64url(STD_HEADER), "x"), 400, "JWT_DECODE_ERROR"),
            ("payload not JSON", sign(KEY, STD_HEADER, "not json"), 400, "JWT_DECODE_ERROR"),
            ("payload not an object", sign(KEY, STD_HEADER, "[1]"), 400, "JWT_DECODE_ERROR"),
            (
                "other alg",
                sign_alg(
                    KEY,
                    jsonwebtoken::Algorithm::HS512,
                    r#"{"typ":"JWT","alg":"HS512"}"#,
                    &format!(r#"{{"id":{a}}}"#),
                ),
                400,
                "JWT_DECODE_ERROR",
            ),
            (
                "alg none",
                format!("{}.{}.", b64url(r#"{"typ":"JWT","alg":"none"}"#), b64url(format!(r#"{{"id":{a}}}"#))),
                400,
                "JWT_DECODE_ERROR",
            ),
            ("id missing", signed(KEY, &format!(r#"{{"iat":{t},"jti":"{jti}"}}"#)), 400, "JWT_DECODE_ERROR"),
            ("id not int-like", signed(KEY, r#"{"id":"abc"}"#), 400, "JWT_DECODE_ERROR"),
            ("id a list", signed(KEY, r#"{"id":[1]}"#), 400, "JWT_DECODE_ERROR"),
            ("iat not a number", signed(KEY, &format!(r#"{{"id":{a},"iat":"x"}}"#)), 400, "JWT_DECODE_ERROR"),
            ("exp not a number", signed(KEY, &format!(r#"{{"id":{a},"exp":"soon"}}"#)), 400, "JWT_DECODE_ERROR"),
            ("nbf not a number", signed(KEY, &format!(r#"{{"id":{a},"nbf":[]}}"#)), 400, "JWT_DECODE_ERROR"),
            (
                "claims nested too deep",
                signed(KEY, &format!(r#"{{"id":{a},"x":{}}}"#, nest("[", "", "]", 5000))),
                400,
                "JWT_DECODE_ERROR",
            ),
        ];
        for (what, token, status, message) in &cases {
            for req in
                [sessions_req(token), logout_req(token), logout_all_req(token), delete_session_req(token, alive_row)]
            {
                let r = srv.send(&req);
                assert_msg(
                    &format!("{what}: {} {}", req.method, String::from_utf8_lossy(&req.path)),
                    &r,
                    *status,
                    message,
                );
            }
        }
        for req in [
            Request::new("GET", "/users/sessions"),
            Request::new("POST", "/users/logout"),
            Request::new("POST", "/users/logout-all"),
            Request::new("DELETE", format!("/users/sessions/{alive_row}")),
        ] {
            assert_msg(
                &format!("no Authorization: {} {}", req.method, String::from_utf8_lossy(&req.path)),
                &srv.send(&req),
                400,
                "JWT_DECODE_ERROR",
            );
        }
        // none of it deleted a row
        assert_eq!(token_rows(&db, a).len(), 1);
        assert_alive("after all the refusals", &srv, &alive);
        assert_alive("the other user's session", &srv, &other);
        assert!(db.tokens().unwrap().iter().any(|t| t.id == other_row), "the other user's row");
    }

    // an expired token whose row still exists (no sweep in this server's lifetime)
    let srv = hardened(&db, &[("TOKEN_TTL", "1"), ("SESSION_SWEEP_SECONDS", "3600")]);
    let short = login_ok(&srv, b_email, PASSWORD);
    let exp = claims(&short).exp.unwrap();
    wait_until(exp + 1);
    let row = row_of(&db, &short).id;
    assert_eq!(sessions_rows_of_token(&db, row), 1, "the expired session's rows are still there");
    assert_invalid_user("an expired token whose row exists", &srv.send(&sessions_req(&short)));
    assert_invalid_user("an expired token whose row exists: logout", &srv.send(&logout_req(&short)));
}

// 4. Logout, logout-all, the sessions endpoints ------------------------------

per_backend!(sessions_and_logouts:
    hardened_sqlite_sessions_and_logouts,
    hardened_postgres_sessions_and_logouts,
    hardened_mysql_sessions_and_logouts);

fn sessions_and_logouts(backend: Backend) {
    let db = create_db(backend, "h_sessions");
    let srv = hardened(&db, &[("TOKEN_TTL", "3600"), ("TRUSTED_PROXIES", "127.0.0.1")]);
    let (email, other_email) = ("sessions@example.com", "other-sessions@example.com");
    signup_ok(&srv, email, PASSWORD);
    signup_ok(&srv, other_email, PASSWORD);
    let user = user_id(&db, email);

    // three devices: a latin-1 user agent with quotes, backslash and tab
    // behind a proxy; no user agent, no proxy; a 300-character agent
    // behind two proxies
    let ua1: &[u8] = b"Caf\xe9 \"quoted\" \\ /1.0\tx";
    let ua1_text = "Caf\u{e9} \"quoted\" \\ /1.0\tx";
    let ua3 = vec![0xe9u8; 300];
    let ua3_text: String = "\u{e9}".repeat(256);
    let t0 = now();
    let s1 = assert_login_ok(
        "login 1",
        &srv.send(&forwarded(login_req(email, PASSWORD).header("User-Agent", ua1), "203.0.113.7")),
    );
    let s2 = login_ok(&srv, email, PASSWORD);
    let s3 = assert_login_ok(
        "login 3",
        &srv.send(&forwarded(login_req(email, PASSWORD).header("User-Agent", &ua3), "198.51.100.1, 203.0.113.9")),
    );
    let t1 = now();
    let u2 = login_ok(&srv, other_email, PASSWORD);
    let (id1, id2, id3, id_other) =
        (row_of(&db, &s1).id, row_of(&db, &s2).id, row_of(&db, &s3).id, row_of(&db, &u2).id);
    assert!(id1 < id2 && id2 < id3, "ids in login order");

    let listing = srv.send(&sessions_req(&s2));
    let meta = |id: i64, token: &str, ip: &str, ua: &str| {
        let created = created_of(&listing, id);
        assert!((t0..=t1).contains(&created), "created_at {created} of session {id} not in {t0}..={t1}");
        Meta { created, expires: claims(token).exp, last_seen: created, ip: ip.into(), ua: ua.into() }
    };
    let mut m1 = meta(id1, &s1, "203.0.113.7", ua1_text);
    let m2 = meta(id2, &s2, "127.0.0.1", "");
    let mut m3 = meta(id3, &s3, "203.0.113.9", &ua3_text);
    let expected = |cur: i64, m1: &Meta, m3: &Meta| {
        sessions_body(&[
            Session { id: id3, current: cur == id3, meta: Some(m3.clone()) },
            Session { id: id2, current: cur == id2, meta: Some(m2.clone()) },
            Session { id: id1, current: cur == id1, meta: Some(m1.clone()) },
        ])
    };
    assert_json("GET /users/sessions", &listing, 200, &expected(id2, &m1, &m3));
    let body = expected(id2, &m1, &m3);
    let head = srv.send(&authorized("HEAD", "/users/sessions", &s2));
    assert_eq!((head.status, head.body.len()), (200, 0), "HEAD /users/sessions: {}", show(&head));
    assert_eq!(header(&head, "content-length"), Some(body.len().to_string()), "HEAD: the GET's length");
    assert_eq!(header(&head, "content-type").as_deref(), Some("application/json"));
    let other_listing = srv.send(&sessions_req(&u2));
    assert_eq!(
        listed_times(&other_listing).iter().map(|t| t.0).collect::<Vec<_>>(),
        vec![id_other],
        "only the user's own"
    );

    // last_seen_at: refreshed by a guarded request once it is 60 s old, not before
    db.execute(&format!("UPDATE ledger_sessions SET last_seen_at = last_seen_at - 120 WHERE token_id = {id1}"))
        .unwrap();
    db.execute(&format!("UPDATE ledger_sessions SET last_seen_at = last_seen_at - 30 WHERE token_id = {id3}")).unwrap();
    let before = now();
    assert_eq!(srv.send(&sessions_req(&s1)).status, 200);
    assert_eq!(srv.send(&sessions_req(&s3)).status, 200);
    let after = now();
    let listing = srv.send(&sessions_req(&s2));
    let seen1 = listed_times(&listing).iter().find(|t| t.0 == id1).and_then(|t| t.2).unwrap();
    assert!(
        (before..=after).contains(&seen1),
        "a 120 s old last_seen_at was not refreshed: {seen1} not in {before}..={after}"
    );
    m1.last_seen = seen1;
    m3.last_seen -= 30;
    assert_json("sessions after the refresh", &listing, 200, &expected(id2, &m1, &m3));
    assert_json("as seen by session 3", &srv.send(&sessions_req(&s3)), 200, &expected(id3, &m1, &m3));

    // DELETE /users/sessions/<id>: the user's own only
    assert_msg(
        "DELETE another user's session",
        &srv.send(&delete_session_req(&s2, id_other)),
        404,
        "SESSION_NOT_FOUND",
    );
    assert_alive("the other user's session after the refused DELETE", &srv, &u2);
    for id in [
        "999999",
        "0",
        "00",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551616",
        "99999999999999999999999999",
    ] {
        assert_msg(&format!("DELETE session {id}"), &srv.send(&delete_session_req(&s2, id)), 404, "SESSION_NOT_FOUND");
    }
    // (Django matches the percent-decoded path: /users/sessions/%31 is session 1)
    for id in ["abc", "-1", "1.0", "1a", "+1", "%2B1", "1%20", "%EF%BC%91"] {
        let path = format!("/users/sessions/{id}");
        assert_not_found_page(&format!("DELETE {path}"), &srv.send(&authorized("DELETE", &path, &s2)), false);
    }
    assert_msg("DELETE session 1 through session 2", &srv.send(&delete_session_req(&s2, id1)), 200, "LOGOUT_SUCCESS");
    assert_dead("a session deleted through another", &srv, &s1, id2);
    assert_eq!(sessions_rows_of_token(&db, id1), 0, "its ledger_sessions row");
    assert!(!db.tokens().unwrap().iter().any(|t| t.id == id1), "its tokens row");
    assert_msg("DELETE it again", &srv.send(&delete_session_req(&s2, id1)), 404, "SESSION_NOT_FOUND");
    assert_msg("DELETE the current session", &srv.send(&delete_session_req(&s3, id3)), 200, "LOGOUT_SUCCESS");
    assert_dead("the deleted current session", &srv, &s3, id2);
    assert_json(
        "sessions after the deletes",
        &srv.send(&sessions_req(&s2)),
        200,
        &sessions_body(&[Session { id: id2, current: true, meta: Some(m2.clone()) }]),
    );

    // logout deletes exactly the presented token's row
    let s4 = login_ok(&srv, email, PASSWORD);
    let s5 = login_ok(&srv, email, PASSWORD);
    let (id4, id5) = (row_of(&db, &s4).id, row_of(&db, &s5).id);
    assert_msg("logout of session 4", &srv.send(&logout_req(&s4)), 200, "LOGOUT_SUCCESS");
    assert_dead("session 4 after its logout", &srv, &s4, id2);
    assert_eq!(token_rows(&db, user).iter().map(|t| t.id).collect::<Vec<_>>(), vec![id2, id5], "rows after logout");
    assert_eq!(sessions_rows_of_token(&db, id4), 0);
    assert_alive("session 2 after 4's logout", &srv, &s2);
    assert_alive("session 5 after 4's logout", &srv, &s5);

    // logout-all: every row of the user, no other user's
    assert_msg("logout-all", &srv.send(&logout_all_req(&s5)), 200, "LOGOUT_SUCCESS");
    assert_dead("session 2 after logout-all", &srv, &s2, id_other);
    assert_dead("session 5 after logout-all", &srv, &s5, id_other);
    assert_eq!(token_rows(&db, user).len(), 0, "logout-all leaves no tokens row");
    assert_eq!(sessions_rows_of_user(&db, user), 0, "logout-all leaves no ledger_sessions row");
    assert_alive("the other user after logout-all", &srv, &u2);
    let s6 = login_ok(&srv, email, PASSWORD);
    let r = srv.send(&sessions_req(&s6));
    assert_eq!(listed_times(&r).iter().map(|t| t.0).collect::<Vec<_>>(), vec![row_of(&db, &s6).id]);
}

// 4. Methods of the new paths; the compat profile does not have them ---------

per_backend!(new_paths_methods:
    hardened_sqlite_new_paths_methods_and_compat_404,
    hardened_postgres_new_paths_methods_and_compat_404,
    hardened_mysql_new_paths_methods_and_compat_404);

fn new_paths_methods(backend: Backend) {
    let db = create_db(backend, "h_methods");
    let email = "methods@example.com";
    let paths: [(&str, &str, &[&str]); 3] = [
        ("/users/logout-all", "POST, OPTIONS", &["GET", "PUT", "PATCH", "DELETE", "HEAD", "TRACE", "FOO"]),
        ("/users/sessions", "GET, HEAD, OPTIONS", &["POST", "PUT", "PATCH", "DELETE", "TRACE", "FOO"]),
        ("/users/sessions/1", "DELETE, OPTIONS", &["GET", "POST", "PUT", "PATCH", "HEAD", "TRACE", "FOO"]),
    ];
    {
        let srv = hardened(&db, &[]);
        signup_ok(&srv, email, PASSWORD);
        let token = login_ok(&srv, email, PASSWORD);
        let reference_405 = srv.send(&Request::new("GET", "/users/logout"));
        assert_eq!(reference_405.status, 405);
        for (path, allow, wrong) in paths {
            for method in wrong {
                for auth in [None, Some(token.as_str())] {
                    let mut req = Request::new(method, path);
                    if let Some(t) = auth {
                        req = req.header("Authorization", t);
                    }
                    let what = format!("{method} {path} (token: {})", auth.is_some());
                    let r = srv.send(&req);
                    assert_eq!((r.status, r.body.len()), (405, 0), "{what}: {}", show(&r));
                    assert_eq!(header(&r, "allow").as_deref(), Some(allow), "{what}: Allow");
                    assert_eq!(header(&r, "content-length").as_deref(), Some("0"), "{what}");
                    assert_eq!(
                        header(&r, "content-type"),
                        header(&reference_405, "content-type"),
                        "{what}: as Django's 405"
                    );
                    assert_middleware_headers(&what, &r);
                }
            }
            let r = srv.send(&Request::new("OPTIONS", path));
            assert_eq!((r.status, r.body.len()), (200, 0), "OPTIONS {path}: {}", show(&r));
            assert_eq!(header(&r, "allow").as_deref(), Some(allow), "OPTIONS {path}: Allow");
            assert_eq!(header(&r, "content-length").as_deref(), Some("0"), "OPTIONS {path}");
            assert_middleware_headers(&format!("OPTIONS {path}"), &r);

            // CORS as compat: a preflight is answered as for /users/logout,
            // a plain OPTIONS with an Origin carries the same CORS headers
            let preflight = |p: &str| {
                srv.send(
                    &Request::new("OPTIONS", p)
                        .header("Origin", "http://front.example")
                        .header("Access-Control-Request-Method", "DELETE"),
                )
                .contract_only()
            };
            compare(&preflight("/users/logout"), &preflight(path)).unwrap_or_else(|e| panic!("preflight {path}: {e}"));
            let with_origin = srv.send(&Request::new("OPTIONS", path).header("Origin", "http://front.example"));
            let reference =
                srv.send(&Request::new("OPTIONS", "/users/logout").header("Origin", "http://front.example"));
            let cors = |r: &Response| {
                let mut h: Vec<(String, Vec<u8>)> = r
                    .headers
                    .iter()
                    .filter(|(n, _)| n.to_ascii_lowercase().starts_with("access-control-"))
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                    .collect();
                h.sort();
                h
            };
            assert!(!cors(&reference).is_empty(), "compat's OPTIONS with an Origin has CORS headers");
            assert_eq!(cors(&with_origin), cors(&reference), "OPTIONS {path} with an Origin: CORS headers");
        }
    }

    // compat: the new paths are Django's 404 page, whatever the method
    let srv = compat(&db);
    let token = login_ok(&srv, email, PASSWORD);
    for path in ["/users/logout-all", "/users/sessions", "/users/sessions/1", "/users/sessions/abc"] {
        for method in ["GET", "HEAD", "POST", "DELETE", "OPTIONS", "PUT"] {
            let r = srv.send(&authorized(method, path, &token));
            assert_not_found_page(&format!("compat: {method} {path}"), &r, method == "HEAD");
        }
    }
}

// 5. Throttling ---------------------------------------------------------------

per_backend!(throttle_per_account:
    hardened_sqlite_throttle_per_account,
    hardened_postgres_throttle_per_account,
    hardened_mysql_throttle_per_account);

fn throttle_per_account(backend: Backend) {
    let db = create_db(backend, "h_thr_account");
    let srv = hardened(&db, &[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_WINDOW", "900")]);
    let (victim, bystander, clearer) = ("victim@example.com", "bystander@example.com", "clearer@example.com");
    for e in [victim, bystander, clearer] {
        signup_ok(&srv, e, PASSWORD);
    }
    // malformed logins are refused before the throttle and do not count
    for _ in 0..5 {
        let r = srv.send(&post_json("/users/login", creds_json(&format!("\"{victim}\""), "1")));
        assert_msg("a malformed login", &r, 400, "INVALID_PASSWORD");
    }
    assert_login_ok("after malformed logins", &srv.send(&login_req(victim, PASSWORD)));

    // three failures (the account is the lower-cased email)
    let first = Instant::now();
    for email in [victim, "VICTIM@example.com", victim] {
        assert_invalid_user(&format!("failure for {email}"), &srv.send(&login_req(email, "Wrong-passw0rd!")));
    }
    // the fourth login is refused without looking at the password
    for (what, req) in [
        ("the correct password", login_req(victim, PASSWORD)),
        ("a wrong password", login_req(victim, "Wrong-passw0rd!")),
        ("the email in upper case", login_req("Victim@Example.COM", PASSWORD)),
        ("the correct password again", login_req(victim, PASSWORD)),
    ] {
        let retry = assert_throttled(&format!("locked account: {what}"), &srv.send(&req));
        let elapsed = first.elapsed().as_secs() + 2;
        assert!(
            retry <= 900 && retry + elapsed >= 900,
            "Retry-After {retry} for a 900 s window {elapsed} s after the first failure"
        );
    }
    assert_eq!(db.tokens().unwrap().len(), 1, "no token issued while locked");
    // validation still comes first
    let r = srv.send(&post_json("/users/login", creds_json(&format!("\"{victim}\""), "1")));
    assert_msg("a malformed login while locked", &r, 400, "INVALID_PASSWORD");
    assert_msg(
        "a body that is not an object while locked",
        &srv.send(&post_json("/users/login", "[]")),
        400,
        "KEY_ERROR",
    );
    // other accounts from the same address are not affected
    assert_login_ok("another account", &srv.send(&login_req(bystander, PASSWORD)));

    // a success clears the account's count
    for round in 0..3 {
        for _ in 0..2 {
            assert_invalid_user("clearer: failure", &srv.send(&login_req(clearer, "Wrong-passw0rd!")));
        }
        assert_login_ok(
            &format!("clearer: success after 2 failures, round {round}"),
            &srv.send(&login_req(clearer, PASSWORD)),
        );
    }
}

per_backend!(throttle_window:
    hardened_sqlite_throttle_window_expiry,
    hardened_postgres_throttle_window_expiry,
    hardened_mysql_throttle_window_expiry);

fn throttle_window(backend: Backend) {
    let db = create_db(backend, "h_thr_window");
    let srv = hardened(&db, &[("LOGIN_MAX_FAILURES", "2"), ("LOGIN_WINDOW", "2"), ("SESSION_SWEEP_SECONDS", "3600")]);
    let email = "window@example.com";
    signup_ok(&srv, email, PASSWORD);
    for _ in 0..2 {
        assert_invalid_user("failure", &srv.send(&login_req(email, "Wrong-passw0rd!")));
    }
    let retry = assert_throttled("locked", &srv.send(&login_req(email, PASSWORD)));
    assert!(retry <= 2, "Retry-After {retry} for a 2 s window");
    // the 429s do not count: retrying the correct password throughout the
    // window gets in once it has passed
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut refused = 0;
    let token = loop {
        let r = srv.send(&login_req(email, PASSWORD));
        if r.status == 200 {
            break assert_login_ok("after the window", &r);
        }
        assert_throttled("within the window", &r);
        refused += 1;
        assert!(Instant::now() < deadline, "still locked 20 s after a 2 s window ({refused} refusals)");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(refused >= 1 || retry >= 1, "was locked");
    assert_alive("the token after the window", &srv, &token);
    // the success cleared the count: one failure is a plain 401 again
    assert_invalid_user("a failure after the success", &srv.send(&login_req(email, "Wrong-passw0rd!")));
    assert_login_ok("and a success", &srv.send(&login_req(email, PASSWORD)));
}

per_backend!(throttle_per_address:
    hardened_sqlite_throttle_per_address,
    hardened_postgres_throttle_per_address,
    hardened_mysql_throttle_per_address);

fn throttle_per_address(backend: Backend) {
    let db = create_db(backend, "h_thr_ip");
    let email = "address@example.com";
    {
        let srv = hardened(
            &db,
            &[
                ("LOGIN_MAX_FAILURES", "100"),
                ("LOGIN_MAX_FAILURES_PER_IP", "4"),
                ("TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8"),
            ],
        );
        signup_ok(&srv, email, PASSWORD);
        // four failures from one client, each on another (unknown) account
        for i in 0..4 {
            let r = srv.send(&forwarded(login_req(&format!("nobody{i}@example.com"), PASSWORD), "198.51.100.9"));
            assert_invalid_user(&format!("failure {i} from 198.51.100.9"), &r);
        }
        for xff in ["198.51.100.9", "10.0.0.1, 198.51.100.9", "192.0.2.1, 198.51.100.9, 10.2.3.4"] {
            let r = srv.send(&forwarded(login_req(email, PASSWORD), xff));
            let retry = assert_throttled(&format!("the correct password from X-Forwarded-For {xff}"), &r);
            assert!(retry <= 900, "Retry-After {retry}");
        }
        for xff in ["198.51.100.10", "198.51.100.9, 198.51.100.10"] {
            assert_login_ok(&format!("from {xff}"), &srv.send(&forwarded(login_req(email, PASSWORD), xff)));
        }
        assert_login_ok("from the proxy itself (no X-Forwarded-For)", &srv.send(&login_req(email, PASSWORD)));
    }
    // X-Forwarded-For is ignored when the peer is not a trusted proxy: every
    // failure counts for 127.0.0.1, whatever the header claims
    let db = create_db(backend, "h_thr_ip_untrusted");
    let srv = hardened(&db, &[("LOGIN_MAX_FAILURES", "100"), ("LOGIN_MAX_FAILURES_PER_IP", "3")]);
    signup_ok(&srv, email, PASSWORD);
    for i in 0..3 {
        let r =
            srv.send(&forwarded(login_req(&format!("nobody{i}@example.com"), PASSWORD), &format!("192.0.2.{}", i + 1)));
        assert_invalid_user("failure with a forged X-Forwarded-For", &r);
    }
    assert_throttled(
        "a forged X-Forwarded-For does not escape",
        &srv.send(&forwarded(login_req(email, PASSWORD), "192.0.2.99")),
    );
    assert_throttled("nor does none", &srv.send(&login_req(email, PASSWORD)));
}

per_backend!(throttle_shared_and_persistent:
    hardened_sqlite_throttle_shared_by_instances_and_kept_across_restarts,
    hardened_postgres_throttle_shared_by_instances_and_kept_across_restarts,
    hardened_mysql_throttle_shared_by_instances_and_kept_across_restarts);

fn throttle_shared_and_persistent(backend: Backend) {
    let db = create_db(backend, "h_thr_shared");
    let settings = [("LOGIN_MAX_FAILURES", "3"), ("LOGIN_WINDOW", "900")];
    let email = "shared@example.com";
    {
        let a = hardened(&db, &settings);
        let b = hardened(&db, &settings);
        signup_ok(&a, email, PASSWORD);
        assert_invalid_user("failure via A", &a.send(&login_req(email, "Wrong-passw0rd!")));
        assert_invalid_user("failure via B", &b.send(&login_req(email, "Wrong-passw0rd!")));
        assert_invalid_user("failure via A", &a.send(&login_req(email, "Wrong-passw0rd!")));
        assert_throttled("via B after 2 + 1 failures elsewhere", &b.send(&login_req(email, PASSWORD)));
        assert_throttled("via A", &a.send(&login_req(email, PASSWORD)));
    }
    let c = hardened(&db, &settings);
    assert_throttled("after a restart", &c.send(&login_req(email, PASSWORD)));
    assert_eq!(db.tokens().unwrap().len(), 0, "no token issued while locked");
}

per_backend!(throttle_signups:
    hardened_sqlite_throttle_signups_per_address,
    hardened_postgres_throttle_signups_per_address,
    hardened_mysql_throttle_signups_per_address);

fn throttle_signups(backend: Backend) {
    let db = create_db(backend, "h_thr_signup");
    let srv = hardened(&db, &[("SIGNUP_MAX_PER_IP", "2"), ("TRUSTED_PROXIES", "127.0.0.1")]);
    let x = "203.0.113.50";
    let via_x = |req: Request| srv.send(&forwarded(req, x));
    // attempts that fail validation do not count
    for _ in 0..3 {
        assert_msg("bad email", &via_x(signup_req("not-an-email", PASSWORD)), 400, "INVALID_EMAIL");
        assert_msg("bad password", &via_x(signup_req("s0@example.com", "short")), 400, "INVALID_PASSWORD");
        assert_msg(
            "no password",
            &via_x(post_json("/users/signup", r#"{"email": "s0@example.com"}"#)),
            400,
            "KEY_ERROR",
        );
    }
    assert_msg("first signup", &via_x(signup_req("s1@example.com", PASSWORD)), 201, "SUCCESS");
    assert_msg("a duplicate (counts)", &via_x(signup_req("s1@example.com", PASSWORD)), 400, "EMAIL_ALREADY_EXISTS");
    assert_throttled("the third signup from one address", &via_x(signup_req("s2@example.com", PASSWORD)));
    assert_throttled("and the fourth", &via_x(signup_req("s3@example.com", PASSWORD)));
    assert_msg("validation still first", &via_x(signup_req("not-an-email", PASSWORD)), 400, "INVALID_EMAIL");
    let emails: Vec<String> = db.users().unwrap().into_iter().map(|u| u.email).collect();
    assert_eq!(emails, vec!["s1@example.com"], "a throttled signup creates nobody");
    assert_msg(
        "from another address",
        &srv.send(&forwarded(signup_req("s2@example.com", PASSWORD), "203.0.113.51")),
        201,
        "SUCCESS",
    );
    assert_login_ok("logins from the throttled address", &via_x(login_req("s1@example.com", PASSWORD)));
}

per_backend!(throttle_burst:
    hardened_sqlite_throttle_holds_against_a_burst_of_concurrent_guesses,
    hardened_postgres_throttle_holds_against_a_burst_of_concurrent_guesses,
    hardened_mysql_throttle_holds_against_a_burst_of_concurrent_guesses);

/// The limit holds against a burst: guesses sent at once must not all pass
/// the count before any of them is recorded. With `LOGIN_MAX_FAILURES = 3`
/// at most three wrong passwords of 24 sent together may be checked (401);
/// the others are 429.
fn throttle_burst(backend: Backend) {
    let db = create_db(backend, "h_thr_burst");
    // cost 10: each check takes long enough for the burst to overlap it
    let srv = hardened(&db, &[("LOGIN_MAX_FAILURES", "3"), ("BCRYPT_COST", "10")]);
    let email = "burst@example.com";
    signup_ok(&srv, email, PASSWORD);
    let answers: Vec<Response> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..24)
            .map(|_| {
                let client = srv.client.clone();
                scope.spawn(move || client.send(&login_req(email, "Wrong-passw0rd!")).unwrap())
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let checked = answers.iter().filter(|r| r.status == 401).count();
    for r in &answers {
        if r.status == 401 {
            assert_invalid_user("a checked guess", r);
        } else {
            assert_throttled("a refused guess", r);
        }
    }
    assert!(checked <= 3, "{checked} of 24 concurrent guesses were checked with LOGIN_MAX_FAILURES = 3");
    // Each guess counts while it is decided, so a burst may leave fewer
    // than the limit checked (never more), and two concurrent take-backs of
    // one row leave a row more (never one less): with the limit checked the
    // account is locked; with fewer, it may be (until the window ends) or not.
    let after = srv.send(&login_req(email, PASSWORD));
    if checked == 3 || after.status != 200 {
        assert_throttled("after the burst", &after);
    }

    // signups likewise: 24 at once from one address, SIGNUP_MAX_PER_IP = 3
    let db = create_db(backend, "h_thr_burst_signup");
    let srv = hardened(&db, &[("SIGNUP_MAX_PER_IP", "3"), ("BCRYPT_COST", "10")]);
    let answers: Vec<Response> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..24)
            .map(|i| {
                let client = srv.client.clone();
                scope.spawn(move || client.send(&signup_req(&format!("burst{i}@example.com"), PASSWORD)).unwrap())
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let created = answers.iter().filter(|r| r.status == 201).count();
    for r in &answers {
        if r.status == 201 {
            assert_msg("a signup", r, 201, "SUCCESS");
        } else {
            assert_throttled("a refused signup", r);
        }
    }
    assert!(created <= 3, "{created} of 24 concurrent signups from one address with SIGNUP_MAX_PER_IP = 3");
    assert_eq!(db.users().unwrap().len(), created);
}

/// A bcrypt hash of cost 31 (2^31 rounds: days of CPU); checking a password
/// against it never finishes within a test.
fn cost_31_hash() -> String {
    format!("$2b$31${}{}", "abcdefghijklmnopqrstuu", "0123456789ABCDEFGHIJKLMNOPQRSTU")
}

/// Throttled logins run no bcrypt: a login of an account whose stored hash
/// costs days to check is answered at once when the account or the address
/// is locked. The real binary, so that a failure kills the hashing with
/// the process.
#[test]
fn hardened_sqlite_throttled_login_runs_no_bcrypt() {
    let dir = tempfile::tempdir().unwrap();
    let db = create_db(Backend::Sqlite, "h_no_bcrypt");
    let mut server = start_binary(
        LedgerBinary::serving(crate::BIN, dir.path(), KEY, db.database_url())
            .setting("PROFILE", "hardened")
            .setting("BCRYPT_COST", "4")
            .setting("LOGIN_MAX_FAILURES", "2")
            .setting("LOGIN_MAX_FAILURES_PER_IP", "2"),
    );
    insert_user(&db, "slow@example.com", &cost_31_hash());
    insert_user(&db, "slower@example.com", &cost_31_hash());
    server.client.total_timeout = Duration::from_secs(30);
    // SQLite compares emails exactly: the upper-case email is an unknown
    // user (a cost-4 check), which counts for the lower-cased account and
    // for the address
    for _ in 0..2 {
        assert_invalid_user("unknown (upper-case) email", &server.send(&login_req("SLOW@example.com", PASSWORD)));
    }
    assert_throttled("the locked account", &server.send(&login_req("slow@example.com", PASSWORD)));
    assert_throttled(
        "another account from the locked address",
        &server.send(&login_req("slower@example.com", PASSWORD)),
    );
    server.check_running().unwrap();
    let log = server.log();
    assert!(
        log.lines().any(|l| l.contains("WARN") && l.contains("BCRYPT_COST")),
        "no warning about BCRYPT_COST 4 (below the original's 12):\n{log}"
    );
}

fn start_binary(bin: LedgerBinary) -> ServerProcess {
    bin.start().unwrap_or_else(|e| panic!("ledger-server did not start: {e}"))
}

// 6. One answer for every refused login ----------------------------------------

per_backend!(refused_logins_look_alike:
    hardened_sqlite_refused_logins_look_alike,
    hardened_postgres_refused_logins_look_alike,
    hardened_mysql_refused_logins_look_alike);

fn refused_logins_look_alike(backend: Backend) {
    let db = create_db(backend, "h_alike");
    let srv = hardened(&db, &[]);
    signup_ok(&srv, "known@example.com", PASSWORD);
    insert_user(&db, "plain@example.com", "not-a-bcrypt-hash");
    insert_user(&db, "short@example.com", "$2b$12$tooshort");
    insert_user(&db, "badsalt@example.com", "$2b$12$!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    insert_user(&db, "badcost@example.com", "$2b$99$abcdefghijklmnopqrstuu0123456789ABCDEFGHIJKLMNOPQRSTU");
    insert_user(&db, "empty@example.com", "");
    let unknown = srv.send(&login_req("unknown@example.com", PASSWORD));
    assert_invalid_user("unknown email", &unknown);
    for (what, req) in [
        ("wrong password", login_req("known@example.com", "Wrong-passw0rd!")),
        ("wrong password, empty", login_req("known@example.com", "")),
        ("stored hash not bcrypt", login_req("plain@example.com", "not-a-bcrypt-hash")),
        ("stored hash too short", login_req("short@example.com", PASSWORD)),
        ("stored hash with a bad salt", login_req("badsalt@example.com", PASSWORD)),
        ("stored hash with a bad cost", login_req("badcost@example.com", PASSWORD)),
        ("stored hash empty", login_req("empty@example.com", "")),
    ] {
        let r = srv.send(&req);
        assert_invalid_user(what, &r);
        compare(&unknown.contract_only(), &r.contract_only())
            .unwrap_or_else(|e| panic!("{what} vs unknown email: {e}"));
    }
    assert_eq!(db.tokens().unwrap().len(), 0);
}

// 7. Malformed input: the documented 4xx, never the 500 page --------------------

per_backend!(malformed_inputs:
    hardened_sqlite_malformed_inputs,
    hardened_postgres_malformed_inputs,
    hardened_mysql_malformed_inputs);

fn malformed_inputs(backend: Backend) {
    let db = create_db(backend, "h_malformed");
    let srv = hardened(&db, &[]);
    signup_ok(&srv, "exists@example.com", PASSWORD);
    let d = BODY_MAX_DEPTH;
    let digits = |n: usize| "1".repeat(n);
    let padded = |json: &str, total: usize| {
        let mut v = json.as_bytes().to_vec();
        v.resize(total, b' ');
        v
    };
    let small = r#"{"email": "x", "password": "y"}"#;
    // (what, body, message for signup, message for login)
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "invalid UTF-8",
            b"{\"email\": \"\xff@example.com\", \"password\": \"Passw0rd!\"}".to_vec(),
            "JSON_DECODE_ERROR",
            "JSON_DECODE_ERROR",
        ),
        ("a lone continuation byte", b"{\"email\": \"a\x80\"}".to_vec(), "JSON_DECODE_ERROR", "JSON_DECODE_ERROR"),
        ("not JSON", b"nope".to_vec(), "JSON_DECODE_ERROR", "JSON_DECODE_ERROR"),
        ("empty", Vec::new(), "JSON_DECODE_ERROR", "JSON_DECODE_ERROR"),
        ("unclosed", b"{\"email\": ".to_vec(), "JSON_DECODE_ERROR", "JSON_DECODE_ERROR"),
        ("nested too deep", nest("[", "", "]", 100_000).into_bytes(), "JSON_DECODE_ERROR", "JSON_DECODE_ERROR"),
        (
            "nested too deep inside the object",
            format!(r#"{{"email": "x", "password": "y", "n": {}}}"#, nest("[", "", "]", d)).into_bytes(),
            "JSON_DECODE_ERROR",
            "JSON_DECODE_ERROR",
        ),
        (
            "nested as deep as Python parses",
            format!(r#"{{"email": "x", "password": "y", "n": {}}}"#, nest("[", "", "]", d - 1)).into_bytes(),
            "INVALID_EMAIL",
            "INVALID_USER",
        ),
        (
            "an integer of 4301 digits",
            creds_json(&digits(4301), "\"Passw0rd!\"").into_bytes(),
            "JSON_DECODE_ERROR",
            "JSON_DECODE_ERROR",
        ),
        (
            "an integer of 4300 digits",
            creds_json(&digits(4300), "\"Passw0rd!\"").into_bytes(),
            "INVALID_EMAIL",
            "INVALID_EMAIL",
        ),
        (
            "an integer of 5000 digits elsewhere",
            format!(r#"{{"email": "x", "password": "y", "n": {}}}"#, digits(5000)).into_bytes(),
            "JSON_DECODE_ERROR",
            "JSON_DECODE_ERROR",
        ),
        ("a body of 2.5 MiB + 1", padded(small, MAX_BODY + 1), "JSON_DECODE_ERROR", "JSON_DECODE_ERROR"),
        ("a body of exactly 2.5 MiB", padded(small, MAX_BODY), "INVALID_EMAIL", "INVALID_USER"),
        ("a list", b"[]".to_vec(), "KEY_ERROR", "KEY_ERROR"),
        (
            "a list of the object",
            format!("[{}]", creds("exists@example.com", PASSWORD)).into_bytes(),
            "KEY_ERROR",
            "KEY_ERROR",
        ),
        ("a number", b"1".to_vec(), "KEY_ERROR", "KEY_ERROR"),
        ("a string", b"\"x\"".to_vec(), "KEY_ERROR", "KEY_ERROR"),
        ("null", b"null".to_vec(), "KEY_ERROR", "KEY_ERROR"),
        ("no keys", b"{}".to_vec(), "KEY_ERROR", "KEY_ERROR"),
        ("no password", br#"{"email": "exists@example.com"}"#.to_vec(), "KEY_ERROR", "KEY_ERROR"),
        ("no email", br#"{"password": "Passw0rd!"}"#.to_vec(), "KEY_ERROR", "KEY_ERROR"),
        ("no password, email not a string", br#"{"email": 1}"#.to_vec(), "KEY_ERROR", "KEY_ERROR"),
        ("email a number", creds_json("1", "\"Passw0rd!\"").into_bytes(), "INVALID_EMAIL", "INVALID_EMAIL"),
        ("email null", creds_json("null", "\"Passw0rd!\"").into_bytes(), "INVALID_EMAIL", "INVALID_EMAIL"),
        (
            "email a list",
            creds_json("[\"exists@example.com\"]", "\"Passw0rd!\"").into_bytes(),
            "INVALID_EMAIL",
            "INVALID_EMAIL",
        ),
        ("email an object", creds_json("{}", "\"Passw0rd!\"").into_bytes(), "INVALID_EMAIL", "INVALID_EMAIL"),
        ("email true", creds_json("true", "\"Passw0rd!\"").into_bytes(), "INVALID_EMAIL", "INVALID_EMAIL"),
        ("email 1.5", creds_json("1.5", "\"Passw0rd!\"").into_bytes(), "INVALID_EMAIL", "INVALID_EMAIL"),
        ("email and password not strings", creds_json("1", "1").into_bytes(), "INVALID_EMAIL", "INVALID_EMAIL"),
        (
            "email with a lone surrogate",
            creds_json(r#""\ud800@example.com""#, "\"Passw0rd!\"").into_bytes(),
            "INVALID_EMAIL",
            "INVALID_EMAIL",
        ),
        (
            "email with a lone low surrogate",
            creds_json(r#""exists\udfff@example.com""#, "\"Passw0rd!\"").into_bytes(),
            "INVALID_EMAIL",
            "INVALID_EMAIL",
        ),
        ("email failing the regex", creds("not-an-email", PASSWORD).into_bytes(), "INVALID_EMAIL", "INVALID_USER"),
        (
            "email with NUL",
            creds_json(r#""exists\u0000@example.com""#, "\"Passw0rd!\"").into_bytes(),
            "INVALID_EMAIL",
            "INVALID_USER",
        ),
        (
            "email of NUL alone",
            creds_json(r#""\u0000""#, "\"Passw0rd!\"").into_bytes(),
            "INVALID_EMAIL",
            "INVALID_USER",
        ),
        (
            "email of 5000 characters",
            creds(&format!("{}@example.com", "a".repeat(5000)), PASSWORD).into_bytes(),
            "INVALID_EMAIL",
            "INVALID_USER",
        ),
        ("email with an emoji", creds("\u{1f600}@example.com", PASSWORD).into_bytes(), "INVALID_EMAIL", "INVALID_USER"),
        (
            "email with a newline at the end",
            creds("exists@example.com\n", "Wrong-passw0rd!").into_bytes(),
            "INVALID_PASSWORD",
            "INVALID_USER",
        ),
        (
            "email of 101 characters",
            creds(&format!("{}@example.com", "a".repeat(89)), PASSWORD).into_bytes(),
            "INVALID_EMAIL",
            "INVALID_USER",
        ),
        (
            "password a number",
            creds_json("\"exists@example.com\"", "1").into_bytes(),
            "INVALID_PASSWORD",
            "INVALID_PASSWORD",
        ),
        (
            "password null",
            creds_json("\"exists@example.com\"", "null").into_bytes(),
            "INVALID_PASSWORD",
            "INVALID_PASSWORD",
        ),
        (
            "password a list",
            creds_json("\"exists@example.com\"", "[\"Passw0rd!\"]").into_bytes(),
            "INVALID_PASSWORD",
            "INVALID_PASSWORD",
        ),
        (
            "password with a lone surrogate",
            creds_json("\"exists@example.com\"", r#""Passw0rd!\ud800""#).into_bytes(),
            "INVALID_PASSWORD",
            "INVALID_PASSWORD",
        ),
        (
            "password with NUL",
            creds_json("\"exists@example.com\"", r#""Passw0rd!\u0000""#).into_bytes(),
            "INVALID_PASSWORD",
            "INVALID_PASSWORD",
        ),
        (
            "password failing the regex",
            creds("new@example.com", "short").into_bytes(),
            "INVALID_PASSWORD",
            "INVALID_USER",
        ),
    ];
    for (what, body, signup_message, login_message) in &cases {
        for (path, message) in [("/users/signup", signup_message), ("/users/login", login_message)] {
            let r = srv.send(&post_json(path, body));
            let status = if *message == "INVALID_USER" { 401 } else { 400 };
            assert_msg(&format!("{path}: {what}"), &r, status, message);
        }
    }
    // a 2.5 MiB + 1 body declared, two bytes sent: refused without reading it
    for path in ["/users/signup", "/users/login"] {
        let r = srv.send(
            &post_json(path, "{}")
                .raw()
                .header("Host", "localhost")
                .header("Content-Length", (MAX_BODY + 1).to_string())
                .header("Connection", "close"),
        );
        assert_msg(&format!("{path}: a declared body over 2.5 MiB"), &r, 400, "JSON_DECODE_ERROR");
    }
    // an email of exactly 100 characters is fine
    let hundred = format!("{}@example.com", "a".repeat(88));
    assert_eq!(hundred.len(), 100);
    signup_ok(&srv, &hundred, PASSWORD);
    login_ok(&srv, &hundred, PASSWORD);
    // an Origin that makes Python's urlparse raise is answered as any other
    let reference = srv.send(&login_req("nobody@example.com", PASSWORD).header("Origin", "http://front.example"));
    for origin in ["http://[", "http://[::1", "http://]x", "https://[1.2.3.4]", "http://[v1.x"] {
        let r = srv.send(&login_req("nobody@example.com", PASSWORD).header("Origin", origin));
        assert_invalid_user(&format!("Origin {origin}"), &r);
        assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(origin), "Origin {origin}");
        assert_eq!(
            header(&r, "access-control-allow-credentials"),
            header(&reference, "access-control-allow-credentials"),
            "Origin {origin}"
        );
        let r = srv.send(&Request::new("GET", "/users/nope").header("Origin", origin));
        assert_not_found_page(&format!("404 with Origin {origin}"), &r, false);
        let r = srv.send(&sessions_req("garbage").header("Origin", origin));
        assert_msg(&format!("guard with Origin {origin}"), &r, 400, "JWT_DECODE_ERROR");
    }
    let users = db.users().unwrap();
    assert_eq!(users.len(), 2, "only the two valid signups created users: {users:?}");
}

/// The spec's "bad `Content-Length` → JSON_DECODE_ERROR" cannot happen:
/// every value that is not a plain length (letters, a sign, a list, one
/// beyond 64 bits) is refused by the HTTP parser before any view runs, in
/// both profiles, with its own empty 400 (a documented parser-level
/// difference, as for compat). Pinned here: a 4xx, never the 500 page,
/// and the same in both profiles.
#[test]
fn hardened_sqlite_unparsable_content_length_is_the_parsers_400() {
    let db = create_db(Backend::Sqlite, "h_content_length");
    let raw = |path: &str, value: &str| {
        Request::new("POST", path)
            .raw()
            .header("Host", "localhost")
            .header("Content-Type", "application/json")
            .header("Content-Length", value)
            .header("Connection", "close")
            .body("{}")
    };
    let values = ["abc", "-1", "+2", "0x2", "2, 2", "99999999999999999999999"];
    let mut answers = Vec::new();
    {
        let srv = hardened(&db, &[]);
        for value in values {
            for path in ["/users/signup", "/users/login"] {
                let r = srv.send(&raw(path, value));
                assert_eq!((r.status, r.body.len()), (400, 0), "{path} with Content-Length {value:?}: {}", show(&r));
                answers.push(r.contract_only());
            }
        }
        // a Content-Length with blanks around the digits is a length
        let r = srv.send(&raw("/users/login", " 2 "));
        assert_msg("Content-Length \" 2 \"", &r, 400, "KEY_ERROR");
    }
    let srv = compat(&db);
    let mut i = 0;
    for value in values {
        for path in ["/users/signup", "/users/login"] {
            let r = srv.send(&raw(path, value)).contract_only();
            compare(&answers[i], &r).unwrap_or_else(|e| panic!("{path} with Content-Length {value:?}: {e}"));
            i += 1;
        }
    }
}

// 8. Expired sessions are removed; session rows go with their token rows -------

per_backend!(expired_removed_at_login:
    hardened_sqlite_expired_sessions_removed_at_login,
    hardened_postgres_expired_sessions_removed_at_login,
    hardened_mysql_expired_sessions_removed_at_login);

fn expired_removed_at_login(backend: Backend) {
    let db = create_db(backend, "h_expire_login");
    let srv = hardened(&db, &[("TOKEN_TTL", "1"), ("SESSION_SWEEP_SECONDS", "3600")]);
    let email = "expire@example.com";
    signup_ok(&srv, email, PASSWORD);
    let user = user_id(&db, email);
    let old: Vec<String> = (0..3).map(|_| login_ok(&srv, email, PASSWORD)).collect();
    let last_exp = old.iter().map(|t| claims(t).exp.unwrap()).max().unwrap();
    wait_until(last_exp + 1);
    assert_eq!(token_rows(&db, user).len(), 3, "nothing removed them before the login");
    assert_eq!(sessions_rows_of_user(&db, user), 3);
    let fresh = login_ok(&srv, email, PASSWORD);
    let rows = token_rows(&db, user);
    assert_eq!(
        rows.iter().map(|t| t.token.clone()).collect::<Vec<_>>(),
        vec![digest(&fresh)],
        "expired rows left after login"
    );
    assert_eq!(sessions_rows_of_user(&db, user), 1, "expired ledger_sessions rows left after login");
    assert_eq!(sessions_rows_of_token(&db, rows[0].id), 1);
}

per_backend!(sweep:
    hardened_sqlite_sweep_removes_expired_sessions_and_old_failures,
    hardened_postgres_sweep_removes_expired_sessions_and_old_failures,
    hardened_mysql_sweep_removes_expired_sessions_and_old_failures);

fn sweep(backend: Backend) {
    let db = create_db(backend, "h_sweep");
    let email = "sweep@example.com";
    // a session of TOKEN_TTL = 0: it never expires, the sweep leaves it
    let forever = {
        let srv = hardened(&db, &[("TOKEN_TTL", "0"), ("SESSION_SWEEP_SECONDS", "3600")]);
        signup_ok(&srv, email, PASSWORD);
        login_ok(&srv, email, PASSWORD)
    };
    let srv = hardened(&db, &[("TOKEN_TTL", "1"), ("SESSION_SWEEP_SECONDS", "1"), ("LOGIN_WINDOW", "1")]);
    let user = user_id(&db, email);
    // a row as Django (or compat) writes it: no expiry known, never swept
    let plain = token_for(KEY, user);
    db.execute(&format!("INSERT INTO tokens (token, user_id) VALUES ('{plain}', {user})")).unwrap();
    for _ in 0..3 {
        login_ok(&srv, email, PASSWORD);
    }
    assert_invalid_user("a failure", &srv.send(&login_req(email, "Wrong-passw0rd!")));
    assert_invalid_user("another", &srv.send(&login_req("nobody@example.com", PASSWORD)));
    assert!(count(&db, "SELECT COUNT(*) AS v FROM ledger_login_attempts") >= 2, "failures are recorded");
    let deadline = Instant::now() + SWEEP_DEADLINE;
    loop {
        let hardened_rows =
            token_rows(&db, user).iter().filter(|t| t.token != plain && t.token != digest(&forever)).count();
        let sessions = sessions_rows_of_user(&db, user) - 1;
        let attempts = count(&db, "SELECT COUNT(*) AS v FROM ledger_login_attempts");
        if hardened_rows == 0 && sessions == 0 && attempts == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {SWEEP_DEADLINE:?}: {hardened_rows} expired tokens rows, {sessions} ledger_sessions rows, \
             {attempts} failure rows older than the window"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let rows = token_rows(&db, user);
    assert_eq!(
        rows.iter().map(|t| t.token.clone()).collect::<Vec<_>>(),
        vec![digest(&forever), plain.clone()],
        "the never-expiring session and the plain row stay"
    );
    assert_eq!(sessions_rows_of_token(&db, rows[0].id), 1);
    assert_alive("the plain row's token", &srv, &plain);
    assert_alive("the TOKEN_TTL = 0 token", &srv, &forever);
}

per_backend!(session_rows_go_with_token_rows:
    hardened_sqlite_session_rows_go_with_their_token_rows,
    hardened_postgres_session_rows_go_with_their_token_rows,
    hardened_mysql_session_rows_go_with_their_token_rows);

fn session_rows_go_with_token_rows(backend: Backend) {
    let db = create_db(backend, "h_cascade");
    let srv = hardened(&db, &[("TOKEN_TTL", "3600")]);
    let email = "cascade@example.com";
    signup_ok(&srv, email, PASSWORD);
    let user = user_id(&db, email);
    let tokens: Vec<String> = (0..3).map(|_| login_ok(&srv, email, PASSWORD)).collect();
    let ids: Vec<i64> = tokens.iter().map(|t| row_of(&db, t).id).collect();
    assert_eq!(sessions_rows_of_user(&db, user), 3);
    assert_msg("logout", &srv.send(&logout_req(&tokens[0])), 200, "LOGOUT_SUCCESS");
    assert_eq!(sessions_rows_of_token(&db, ids[0]), 0, "logout left its ledger_sessions row");
    // Django deletes a token row with plain SQL, knowing nothing of ledger_sessions
    db.execute(&format!("DELETE FROM tokens WHERE id = {}", ids[1])).unwrap();
    assert_eq!(sessions_rows_of_token(&db, ids[1]), 0, "a plain DELETE FROM tokens left its ledger_sessions row");
    assert_dead("a token whose row Django deleted", &srv, &tokens[1], ids[2]);
    assert_eq!(sessions_rows_of_token(&db, ids[2]), 1);
    assert_alive("the third", &srv, &tokens[2]);
    let r = srv.send(&sessions_req(&tokens[2]));
    assert_eq!(listed_times(&r).iter().map(|t| t.0).collect::<Vec<_>>(), vec![ids[2]]);
}

// 9. BCRYPT_COST -------------------------------------------------------------------

per_backend!(bcrypt_cost:
    hardened_sqlite_bcrypt_cost_and_rehash,
    hardened_postgres_bcrypt_cost_and_rehash,
    hardened_mysql_bcrypt_cost_and_rehash);

fn bcrypt_cost(backend: Backend) {
    let db = create_db(backend, "h_cost");
    let srv = hardened(&db, &[("BCRYPT_COST", "5")]);
    let hash_shape = regex::Regex::new(r"\A\$2b\$05\$[./A-Za-z0-9]{53}\z").unwrap();

    signup_ok(&srv, "new@example.com", PASSWORD);
    let h = password_of(&db, "new@example.com");
    assert!(hash_shape.is_match(&h), "a new hash at BCRYPT_COST 5: {h}");
    login_ok(&srv, "new@example.com", PASSWORD);
    assert_eq!(password_of(&db, "new@example.com"), h, "a hash at the configured cost is not re-hashed");

    // lower costs, in every prefix bcrypt accepts: re-hashed at cost 5 by a
    // successful login (and only by one)
    let low = bcrypt_hash(PASSWORD, 4);
    for (email, stored) in [
        ("low2b@example.com", low.clone()),
        ("low2a@example.com", low.replacen("$2b$", "$2a$", 1)),
        ("low2y@example.com", low.replacen("$2b$", "$2y$", 1)),
    ] {
        insert_user(&db, email, &stored);
        assert_invalid_user(&format!("{email}: wrong password"), &srv.send(&login_req(email, "Wrong-passw0rd!")));
        assert_eq!(password_of(&db, email), stored, "{email}: a failed login re-hashed");
        login_ok(&srv, email, PASSWORD);
        let rehashed = password_of(&db, email);
        assert!(hash_shape.is_match(&rehashed), "{email}: {stored} not re-hashed at cost 5: {rehashed}");
        login_ok(&srv, email, PASSWORD);
        assert_eq!(password_of(&db, email), rehashed, "{email}: re-hashed twice");
    }
    // higher costs log in and stay as they are
    for (email, cost) in [("six@example.com", 6), ("ten@example.com", 10)] {
        let stored = bcrypt_hash(PASSWORD, cost);
        insert_user(&db, email, &stored);
        login_ok(&srv, email, PASSWORD);
        assert_eq!(password_of(&db, email), stored, "{email}: a cost-{cost} hash was changed");
    }
}

// Hardened-only settings under compat ------------------------------------------

#[test]
fn hardened_sqlite_settings_under_compat_are_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let db = create_db(Backend::Sqlite, "h_compat_ignores");
    let ignored = [
        ("TOKEN_TTL", "5"),
        ("LOGIN_MAX_FAILURES", "1"),
        ("LOGIN_WINDOW", "60"),
        ("LOGIN_MAX_FAILURES_PER_IP", "1"),
        ("SIGNUP_MAX_PER_IP", "1"),
        ("BCRYPT_COST", "5"),
        ("SESSION_SWEEP_SECONDS", "1"),
    ];
    let mut bin = LedgerBinary::serving(crate::BIN, dir.path(), KEY, db.database_url());
    for (k, v) in ignored {
        bin = bin.setting(k, v);
    }
    let mut server = start_binary(bin);
    let email = "compat@example.com";
    let send = |req: &Request| server.send(req);
    assert_msg("signup", &send(&signup_req(email, PASSWORD)), 201, "SUCCESS");
    assert_msg("a second signup from the address", &send(&signup_req("two@example.com", PASSWORD)), 201, "SUCCESS");
    let hash = password_of(&db, email);
    assert!(hash.starts_with("$2b$12$"), "BCRYPT_COST applied under compat: {hash}");
    for _ in 0..3 {
        assert_invalid_user("wrong password", &send(&login_req(email, "Wrong-passw0rd!")));
    }
    let r = send(&login_req(email, PASSWORD));
    let t1 =
        ledger_contract::kit::requests::access_token(&r).unwrap_or_else(|e| panic!("not throttled under compat: {e}"));
    assert_json("login", &r, 200, &format!(r#"{{"message": "SUCCESS", "access_token": "{t1}"}}"#));
    let t2 = ledger_contract::kit::requests::access_token(&send(&login_req(email, PASSWORD))).unwrap();
    let user = user_id(&db, email);
    assert_eq!(
        (t1.as_str(), t2.as_str()),
        (token_for(KEY, user).as_str(), token_for(KEY, user).as_str()),
        "compat's token"
    );
    assert!(db.tokens().unwrap().iter().all(|t| t.token == t1), "compat stores the token itself");
    assert_not_found_page("GET /users/sessions", &send(&sessions_req(&t1)), false);
    // compat's own bug: logout after two logins is the 500 page
    let r = send(&logout_req(&t1));
    assert_eq!((r.status, show_bytes(&r.body, 400)), (500, show_bytes(SERVER_ERROR_PAGE.as_bytes(), 400)));
    // compat does not sweep (SESSION_SWEEP_SECONDS = 1 is ignored): an
    // expired session a hardened server left stays for three sweep periods
    let other = user_id(&db, "two@example.com");
    db.execute(&format!("INSERT INTO tokens (token, user_id) VALUES ('sha256:{}', {other})", "0".repeat(64))).unwrap();
    let expired = db.tokens().unwrap().iter().map(|t| t.id).max().unwrap();
    db.execute(&format!(
        "INSERT INTO ledger_sessions (token_id, user_id, created_at, expires_at, last_seen_at, client_ip, user_agent) \
         VALUES ({expired}, {other}, 1000, 2000, 1000, '127.0.0.1', '')"
    ))
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sessions_rows_of_token(&db, expired), 1, "compat swept an expired session");
    assert!(db.tokens().unwrap().iter().any(|t| t.id == expired), "compat swept an expired session's token row");
    server.check_running().unwrap();
    let (code, log) = server.terminate(Duration::from_secs(40)).unwrap();
    assert_eq!(code, Some(0), "{log}");
    for (key, _) in ignored {
        assert!(
            log.lines().any(|l| l.contains("WARN") && l.contains(key)),
            "no warning that {key} is ignored under compat:\n{log}"
        );
    }
}

// 8. The lookups a request makes use an index ---------------------------------

/// Every query of the hardened profile's shape is a `SEARCH` through an
/// index on SQLite (`EXPLAIN QUERY PLAN`), never a `SCAN` of a table: the
/// guard's `(user_id, token)`, the session list, the failure counts, the
/// sweeps of expired sessions and of old failures.
#[test]
fn hardened_sqlite_lookups_use_an_index() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    let db = create_db(Backend::Sqlite, "h_indexes");
    let srv = hardened(&db, &[]);
    signup_ok(&srv, "index@example.com", PASSWORD);
    login_ok(&srv, "index@example.com", PASSWORD);
    let mut conn = diesel::sqlite::SqliteConnection::establish(db.database_url()).unwrap();
    // no ANALYZE: with the statistics of a table of one row any plan is a scan
    conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
    let queries = [
        "SELECT tokens.id, ledger_sessions.last_seen_at, ledger_sessions.expires_at FROM tokens \
         LEFT JOIN ledger_sessions ON ledger_sessions.token_id = tokens.id \
         WHERE tokens.user_id = 1 AND tokens.token IN ('sha256:00', 'plain') ORDER BY tokens.id",
        "SELECT tokens.id, ledger_sessions.created_at FROM tokens \
         LEFT JOIN ledger_sessions ON ledger_sessions.token_id = tokens.id WHERE tokens.user_id = 1 ORDER BY tokens.id DESC",
        "SELECT COUNT(*), MIN(at) FROM ledger_login_attempts WHERE scope = 'account' AND subject = 'ab' AND at > 5",
        "DELETE FROM ledger_login_attempts WHERE scope = 'account' AND subject = 'ab'",
        "DELETE FROM ledger_login_attempts WHERE at <= 5",
        "SELECT token_id FROM ledger_sessions WHERE expires_at < 5 LIMIT 1000",
        "SELECT token_id FROM ledger_sessions WHERE expires_at < 5 AND user_id = 1 LIMIT 1000",
        "DELETE FROM tokens WHERE user_id = 1",
        "DELETE FROM tokens WHERE id IN (1, 2)",
        "DELETE FROM tokens WHERE id = 1 AND user_id = 1",
        "UPDATE ledger_sessions SET last_seen_at = 9 WHERE token_id = 1 AND last_seen_at < 5",
    ];
    for q in queries {
        let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {q}")).load(&mut conn).unwrap();
        let details: Vec<&str> = plan.iter().map(|p| p.detail.as_str()).collect();
        assert!(!details.is_empty(), "{q}: no plan");
        for d in &details {
            assert!(!d.starts_with("SCAN"), "{q}: {d} (plan: {details:?})");
        }
    }
}

// 1. Django's PyJWT and log_in_confirm accept hardened tokens ------------------

/// Against the oracle (Django first on the database, then hardened
/// ledger-server on it): a hardened token passes Django's guard on
/// `/ledgers` while a session of its user exists, and gets Django's own
/// `INVALID_USER` (status 200) after `logout-all`; an expired one makes
/// Django raise (its 500 page) where hardened answers 401.
#[test]
fn hardened_oracle_sqlite_django_accepts_hardened_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = create_db(Backend::Sqlite, "h_oracle");
    let oracle = ledger_contract::kit::Oracle::start_on(KEY, &db, &dir.path().join("oracle.log"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut django = Client::new(oracle.addr);
    django.total_timeout = Duration::from_secs(30);
    let dj = |req: &Request| django.send(req).unwrap_or_else(|e| panic!("django: {e}\n{}", req.describe()));
    let email = "both@example.com";
    {
        let srv = hardened(&db, &[("TOKEN_TTL", "3600")]);
        signup_ok(&srv, email, PASSWORD);
        let a = login_ok(&srv, email, PASSWORD);
        let b = login_ok(&srv, email, PASSWORD);
        for t in [&a, &b] {
            let r = dj(&authorized("GET", "/ledgers", t));
            assert_eq!(
                (r.status, show_bytes(&r.body, 400)),
                (200, show_bytes(br#"{"results": []}"#, 400)),
                "Django's /ledgers"
            );
        }
        let r = dj(&post_json("/ledgers", r#"{"amount": 4500, "memo": "coffee"}"#).header("Authorization", &a));
        assert_eq!(r.status, 201, "Django's POST /ledgers with a hardened token: {}", show(&r));
        assert_msg("logout-all", &srv.send(&logout_all_req(&b)), 200, "LOGOUT_SUCCESS");
        for t in [&a, &b] {
            let r = dj(&authorized("GET", "/ledgers", t));
            assert_eq!(
                (r.status, show_bytes(&r.body, 400)),
                (200, show_bytes(msg("INVALID_USER").as_bytes(), 400)),
                "Django after logout-all (its INVALID_USER with status 200)"
            );
        }
    }
    let srv = hardened(&db, &[("TOKEN_TTL", "1"), ("SESSION_SWEEP_SECONDS", "3600")]);
    let short = login_ok(&srv, email, PASSWORD);
    let ok = dj(&authorized("GET", "/ledgers", &short));
    assert_eq!(ok.status, 200, "Django with a fresh short-lived token: {}", show(&ok));
    wait_until(claims(&short).exp.unwrap() + 2);
    let r = dj(&authorized("GET", "/ledgers", &short));
    assert_eq!(r.status, 500, "Django's log_in_confirm does not catch ExpiredSignatureError: {}", show(&r));
    assert_invalid_user("hardened with the expired token", &srv.send(&sessions_req(&short)));
}

// The kit: TestDb::reset empties ledger-server's own tables too -----------------

per_backend!(testdb_reset:
    hardened_sqlite_testdb_reset_empties_the_new_tables,
    hardened_postgres_testdb_reset_empties_the_new_tables,
    hardened_mysql_testdb_reset_empties_the_new_tables);

fn testdb_reset(backend: Backend) {
    let db = create_db(backend, "h_reset");
    let srv = hardened(&db, &[]);
    for round in 0..2 {
        signup_ok(&srv, "reset@example.com", PASSWORD);
        let token = login_ok(&srv, "reset@example.com", PASSWORD);
        assert_invalid_user("a failure", &srv.send(&login_req("reset@example.com", "Wrong-passw0rd!")));
        let row = row_of(&db, &token);
        assert_eq!((row.id, row.user_id), (1, 1), "round {round}: ids start again after a reset");
        assert_eq!(count(&db, "SELECT COUNT(*) AS v FROM ledger_sessions"), 1);
        assert!(count(&db, "SELECT COUNT(*) AS v FROM ledger_login_attempts") >= 1);
        db.reset(None).unwrap_or_else(|e| panic!("{e}"));
        for table in ["users", "tokens", "ledger_sessions", "ledger_login_attempts"] {
            assert_eq!(
                count(&db, &format!("SELECT COUNT(*) AS v FROM {table}")),
                0,
                "round {round}: {table} after reset"
            );
        }
    }
}

// Concurrency: one user's devices at once -----------------------------------------

per_backend!(concurrent_devices:
    hardened_sqlite_concurrent_logins_and_logout_all_never_500,
    hardened_postgres_concurrent_logins_and_logout_all_never_500,
    hardened_mysql_concurrent_logins_and_logout_all_never_500);

/// One user logging in on some devices while logging out everywhere from
/// another, and listing and deleting sessions: every answer is one of the
/// documented ones, never the 500 page (a deadlock between a login's two
/// inserts and logout-all's cascading delete was one on MySQL).
fn concurrent_devices(backend: Backend) {
    for ttl in ["3600", "1"] {
        // TOKEN_TTL = 1: logins delete the expired sessions of the same
        // user while other devices add theirs, and the sweep runs every second
        concurrent_devices_with(backend, &[("TOKEN_TTL", ttl), ("SESSION_SWEEP_SECONDS", "1")]);
    }
}

fn concurrent_devices_with(backend: Backend, settings: &[(&str, &str)]) {
    let db = create_db(backend, "h_devices");
    let srv = hardened(&db, settings);
    let email = "devices@example.com";
    signup_ok(&srv, email, PASSWORD);
    let rounds = 60;
    let answers: Vec<(String, Response)> = std::thread::scope(|scope| {
        let mut threads = Vec::new();
        for t in 0..4 {
            let srv = &srv;
            threads.push(scope.spawn(move || {
                let mut out = Vec::new();
                for i in 0..rounds {
                    let r = srv.send(&login_req(email, PASSWORD).header("User-Agent", format!("device {t}")));
                    let Ok(token) = ledger_contract::kit::requests::access_token(&r) else {
                        out.push((format!("device {t} login {i}"), r));
                        continue;
                    };
                    out.push((format!("device {t} login {i}"), r));
                    let req = match (t + i) % 4 {
                        0 => logout_all_req(&token),
                        1 => logout_req(&token),
                        2 => sessions_req(&token),
                        _ => delete_session_req(&token, row_id_guess(i)),
                    };
                    let what = format!("device {t} round {i}: {} {}", req.method, String::from_utf8_lossy(&req.path));
                    out.push((what, srv.send(&req)));
                }
                out
            }));
        }
        threads.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut seen = std::collections::BTreeMap::new();
    for (what, r) in &answers {
        assert_ne!(r.status, 500, "{what}: the 500 page under concurrency");
        *seen
            .entry(format!("{} {}", r.status, String::from_utf8_lossy(&r.body).chars().take(40).collect::<String>()))
            .or_insert(0) += 1;
        let fine = matches!(r.status, 200 | 401 | 404);
        assert!(fine, "{what}: {}", show(r));
    }
    eprintln!("{backend} {settings:?}: {seen:?}");
}

/// Some session id that may or may not be the user's.
fn row_id_guess(i: usize) -> usize {
    1 + i * 3
}

// The defaults ------------------------------------------------------------------

/// With no hardened setting but `PROFILE` (and a cheap `BCRYPT_COST`): tokens
/// live 30 days, the 11th login after 10 failures of an account is refused
/// for at most the 15-minute window.
#[test]
fn hardened_sqlite_defaults() {
    let db = create_db(Backend::Sqlite, "h_defaults");
    let srv = hardened(&db, &[]);
    let email = "defaults@example.com";
    signup_ok(&srv, email, PASSWORD);
    let c = claims(&login_ok(&srv, email, PASSWORD));
    assert_eq!(c.exp, Some(c.iat + 30 * 24 * 3600), "TOKEN_TTL defaults to 30 days");
    let first = Instant::now();
    for i in 0..10 {
        assert_invalid_user(&format!("failure {}", i + 1), &srv.send(&login_req(email, "Wrong-passw0rd!")));
    }
    let retry = assert_throttled("after 10 failures", &srv.send(&login_req(email, PASSWORD)));
    let elapsed = first.elapsed().as_secs() + 2;
    assert!(retry <= 900 && retry + elapsed >= 900, "Retry-After {retry} of the 900 s default window");
}
