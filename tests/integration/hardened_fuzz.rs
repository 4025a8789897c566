//! The hardened profile's property (issue 14, item 7): whatever a client
//! sends, the answer is never the 500 page, the server never panics, and
//! every connection is answered; every JSON body is a message of the
//! original's vocabulary (plus hardened's own `TOO_MANY_ATTEMPTS`,
//! `SESSION_NOT_FOUND`, `SERVER_BUSY`), a login's success or a sessions list.
//!
//! Requests are generated from a seed (`HARDENED_FUZZ_SEED`, default
//! [`DEFAULT_SEED`]; printed) against a hardened server (SQLite, and
//! PostgreSQL and MySQL, which refuse values SQLite stores) with
//! real users and real sessions: random methods, the real paths and
//! mutations of them, `Authorization` with real tokens (valid, logged out,
//! mutated, re-signed with random claims, junk), odd `Content-Length`,
//! `Origin`, `X-Forwarded-For` and `User-Agent` values, random JSON and
//! non-JSON bodies (invalid UTF-8, deep nesting, huge integers, wrong
//! types). `HARDENED_FUZZ_CASES` sets how many (default
//! [`DEFAULT_CASES`], well under a minute), `HARDENED_FUZZ_THREADS` in how
//! many concurrent streams (default [`DEFAULT_THREADS`]; stream `t` has
//! the seed `seed ^ t << 32`, so stream 0 of any run replays a
//! single-stream run). A failure prints the stream, its seed, the case
//! number, the request and the answer.
//!
//! The positive control: the same check does see the 500 page once a fault
//! is injected (the tables dropped under the server).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ledger_contract::kit::{Backend, TestDb};
use ledger_contract::model::{show_bytes, Request, Response};
use ledger_contract::random::parts::{
    json_value, junk_resigned, mutate_token, random_body, random_payload, reencode, EMAILS, HEADERS,
};
use ledger_contract::random::Rng;
use ledger_contract::scenarios::{creds, creds_json, js, nest, post_json, BODY_MAX_DEPTH, MAX_BODY};
use ledger_contract::tokens::{sign, sign_bytes, token_for, STD_HEADER};
use serde_json::Value;

use crate::hardened::{hardened, header, Server, KEY, NOT_FOUND_PAGE, SERVER_ERROR_PAGE};

/// Cases when `HARDENED_FUZZ_CASES` is not set: CI's budget.
pub const DEFAULT_CASES: usize = 5000;
/// The seed when `HARDENED_FUZZ_SEED` is not set.
pub const DEFAULT_SEED: u64 = 14;
/// Concurrent request streams when `HARDENED_FUZZ_THREADS` is not set.
pub const DEFAULT_THREADS: usize = 2;

/// Every message a JSON answer may carry.
const VOCABULARY: &[&str] = &[
    "SUCCESS",
    "LOGOUT_SUCCESS",
    "JSON_DECODE_ERROR",
    "KEY_ERROR",
    "INVALID_EMAIL",
    "INVALID_PASSWORD",
    "JWT_DECODE_ERROR",
    "JWT_SIGNATURE_ERROR",
    "INVALID_USER",
    "EMAIL_ALREADY_EXISTS",
    "TOO_MANY_ATTEMPTS",
    "SESSION_NOT_FOUND",
    "SERVER_BUSY",
];

const SESSION_KEYS: [&str; 7] =
    ["id", "current", "created_at", "expires_at", "last_seen_at", "client_ip", "user_agent"];

/// The bad-request page Django's middleware answers with (a bad `Host`).
fn bad_request_page() -> String {
    "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Bad Request (400)</title>\n</head>\n<body>\n  <h1>Bad Request (400)</h1><p></p>\n</body>\n</html>\n".to_string()
}

/// Panics anywhere in this process (the server's threads included).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        _ => default,
    }
}

/// The property for one answer: `Ok(label)` (status and message, for the
/// tally) or `Err(why)`.
pub(crate) fn check(req: &Request, answer: &Result<Response, String>) -> Result<String, String> {
    let r = match answer {
        Ok(r) => r,
        Err(e) => return Err(format!("no answer: {e}")),
    };
    if r.body == SERVER_ERROR_PAGE.as_bytes() || r.status == 500 {
        return Err(format!("status {}: the 500 page", r.status));
    }
    if r.status >= 500 && r.status != 503 {
        return Err(format!("status {}", r.status));
    }
    let head = req.method.eq_ignore_ascii_case("HEAD");
    let content_type = header(r, "content-type").unwrap_or_default();
    if r.body.is_empty() {
        if r.status == 503 {
            return Err("503 without SERVER_BUSY".into());
        }
        return Ok(format!("{} {}", r.status, if head { "(HEAD)" } else { "(empty)" }));
    }
    if content_type != "application/json" {
        let body = String::from_utf8_lossy(&r.body);
        return match (r.status, body.as_ref()) {
            (404, b) if b == NOT_FOUND_PAGE => Ok("404 page".into()),
            (400, b) if b == bad_request_page() => Ok("400 page".into()),
            _ => Err(format!("a {content_type:?} body that is neither the 404 nor the 400 page")),
        };
    }
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| format!("a JSON answer that is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("a JSON answer that is not an object")?;
    if let Some(m) = obj.get("message") {
        let m = m.as_str().ok_or("a message that is not a string")?;
        if !VOCABULARY.contains(&m) {
            return Err(format!("message {m:?} is not in the vocabulary"));
        }
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let fine = match keys.len() {
            1 => true,
            2 => m == "SUCCESS" && obj.get("access_token").is_some_and(Value::is_string),
            _ => false,
        };
        if !fine {
            return Err(format!("unexpected keys {keys:?}"));
        }
        if (r.status == 503) != (m == "SERVER_BUSY") {
            return Err(format!("{m} with status {}", r.status));
        }
        return Ok(format!("{} {m}", r.status));
    }
    match obj.get("sessions") {
        Some(Value::Array(list)) if obj.len() == 1 && r.status == 200 => {
            for s in list {
                let keys: Vec<&str> = s.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
                let mut want = SESSION_KEYS.to_vec();
                want.sort();
                let mut got = keys.clone();
                got.sort();
                if got != want {
                    return Err(format!("a session with keys {keys:?}"));
                }
            }
            Ok("200 sessions".into())
        }
        _ => Err("a JSON object that is neither a message nor a sessions list".into()),
    }
}

// ---------------------------------------------------------------------------
// The generator

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "FOO", "post", "Get"];

const PATHS: &[&str] =
    &["/users/signup", "/users/login", "/users/logout", "/users/logout-all", "/users/sessions", "/users/sessions/"];

const ORIGINS: &[&[u8]] = &[
    b"http://front.example",
    b"http://[",
    b"http://[::1",
    b"http://[::1]:8000",
    b"http://]",
    b"https://[1.2.3.4]",
    b"http://[v1.x]",
    b"http://[vz.x]",
    b"null",
    b"",
    b"http://caf\xe9.example",
    b"//[",
    b"x:[",
    b"http://a@[::1",
];

const FORWARDED: &[&[u8]] = &[
    b"203.0.113.5",
    b"203.0.113.5, 198.51.100.7",
    b"127.0.0.1",
    b"::1",
    b"2001:db8::1",
    b"[2001:db8::1]:443",
    b"1.2.3.4:5678",
    b"999.1.1.1",
    b"garbage",
    b"unknown",
    b"",
    b",,,",
    b" , 203.0.113.5 ,",
    b"203.0.113.5, 127.0.0.1",
    b"\xff\xfe",
    b"::ffff:203.0.113.9",
    b"fe80::1%eth0",
];

const CONTENT_TYPES: &[&str] =
    &["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""];

/// Content-Length values that do not make the server wait for more bytes.
const CONTENT_LENGTHS: &[&str] = &["abc", "-1", "+2", "0x2", "2, 2", " ", "99999999999999999999999", "2621441", "0"];

/// JSON values for `email` that are not strings.
const ODD_EMAILS: &[&str] = &["1e400", "-0", "NaN", "Infinity", "1.5", "true", "[]", "{}", "null"];
/// JSON values for `password` that are not usable strings.
const ODD_PASSWORDS: &[&str] = &["1", "null", "[]", "{}", r#""\ud800""#, r#""Passw0rd!\u0000""#, r#""\udfff\ud800""#];
/// Emails with lone surrogates or NUL.
const SURROGATE_EMAILS: &[&str] = &[r#""\ud800@example.com""#, r#""user1@example.com\udc00""#, r#""\u0000""#];
/// Passwords of new signups.
const NEW_PASSWORDS: &[&str] = &["Passw0rd!", "short", "Passw0rd!\u{e9}"];

/// What the generator knows of the server: tokens it was given, session ids.
struct World {
    /// Tokens of real logins (some of them logged out or expired by now).
    tokens: Vec<String>,
    /// Session ids (tokens rows) seen.
    ids: Vec<i64>,
    counter: usize,
}

fn token_of(world: &mut World, rng: &mut Rng) -> Vec<u8> {
    let valid = if world.tokens.is_empty() {
        token_for(KEY, 1)
    } else {
        world.tokens[world.tokens.len() - 1 - rng.below(world.tokens.len().min(8))].clone()
    };
    match rng.below(20) {
        0..=6 => valid.into_bytes(),
        7..=9 => mutate_token(rng, valid.as_bytes()),
        10 => format!("Bearer {valid}").into_bytes(),
        11 | 12 => {
            let header = if rng.chance(70) { STD_HEADER.to_string() } else { rng.pick(HEADERS).to_string() };
            let payload = random_payload(rng);
            let key = if rng.chance(85) { KEY } else { "another-key" };
            sign(key, &header, &payload).into_bytes()
        }
        13 => junk_resigned(rng, KEY).0,
        14 => token_for(KEY, 1 + rng.below(4) as i64).into_bytes(),
        15 => {
            // hardened-shaped claims with random values
            let id =
                *rng.pick(&["1", "2", "3", "0", "-1", "null", "\"1\"", "1.0", "99999999999999999999", "true", "[]"]);
            let iat = *rng.pick(&["1700000000", "\"x\"", "null", "1e400", "4102444800"]);
            let exp = *rng.pick(&["4102444800", "1", "\"soon\"", "null", "-1", "1e400", "NaN"]);
            let jti = *rng.pick(&["\"0123456789abcdef0123456789abcdef\"", "1", "null", "\"\""]);
            sign(KEY, STD_HEADER, &format!(r#"{{"id":{id},"iat":{iat},"exp":{exp},"jti":{jti}}}"#)).into_bytes()
        }
        16 => {
            let mut p = vec![0xefu8, 0xbb, 0xbf];
            p.extend_from_slice(random_payload(rng).as_bytes());
            sign_bytes(KEY, STD_HEADER.as_bytes(), &p).into_bytes()
        }
        17 => sign(KEY, &json_value(rng, 0), &format!(r#"{{"id":{}}}"#, nest("[", "1", "]", 2000))).into_bytes(),
        18 => (0..rng.below(40)).map(|_| 0x20 + (rng.next_u64() % 0xdf) as u8).filter(|&b| b != 0x7f).collect(),
        _ => b"x".repeat(1 + rng.below(9000)),
    }
}

fn mutate_path(rng: &mut Rng, path: &mut Vec<u8>) {
    match rng.below(14) {
        0 => path.push(b'/'),
        1 => path.extend_from_slice(b"?x=1&y=%ff"),
        2 => {
            if let Some(c) = path.iter_mut().rev().find(|c| c.is_ascii_lowercase()) {
                c.make_ascii_uppercase();
            }
        }
        3 => {
            let i = 1 + rng.below(path.len().saturating_sub(1).max(1));
            let c = path.get(i).copied().unwrap_or(b'x');
            path.splice(i..(i + 1).min(path.len()), format!("%{c:02X}").into_bytes());
        }
        4 => path.insert(0, b'/'),
        5 => path.extend_from_slice(b"/.."),
        6 => path.extend_from_slice(b"%00"),
        7 => path.extend_from_slice(b"%FF%FE"),
        8 => {
            let cut = 1 + rng.below(path.len());
            path.truncate(cut);
        }
        9 => path.extend_from_slice(b"#frag"),
        10 => path.extend_from_slice(rng.pick_bytes(&[b"\xff", b"\xe9", b" ", b"\t"])),
        11 => path.extend_from_slice(b";p=1"),
        12 => {
            let i = rng.below(path.len() + 1);
            let c = b"a-_.~0!*'"[rng.below(9)];
            path.insert(i, c);
        }
        _ => path.extend_from_slice(b"//"),
    }
}

fn random_path(rng: &mut Rng, world: &World) -> Vec<u8> {
    let mut path = rng.pick(PATHS).as_bytes().to_vec();
    if path.ends_with(b"sessions/") || rng.chance(15) && path.ends_with(b"sessions") {
        if !path.ends_with(b"/") {
            path.push(b'/');
        }
        let id = match rng.below(10) {
            0..=4 if !world.ids.is_empty() => world.ids[rng.below(world.ids.len())].to_string(),
            5 => rng.next_u64().to_string(),
            6 => "9".repeat(1 + rng.below(40)),
            7 => rng.pick(&["abc", "-1", "1.0", "0", "00", "+1", "1e3", "%31", "", "0x1"]).to_string(),
            _ => (1 + rng.below(30)).to_string(),
        };
        path.extend_from_slice(id.as_bytes());
    }
    if rng.chance(25) {
        for _ in 0..1 + rng.below(2) {
            mutate_path(rng, &mut path);
        }
    }
    if path.is_empty() || path[0] != b'/' {
        path.insert(0, b'/');
    }
    path
}

fn random_login_body(rng: &mut Rng, world: &mut World, login: bool) -> Vec<u8> {
    let (email, password) = *rng.pick(EMAILS);
    match rng.below(30) {
        0..=11 => {
            let mut b = random_body(rng, login, &mut world.counter);
            if rng.chance(8) {
                b = reencode(rng, b);
            }
            b
        }
        12 | 13 => creds(email, password).into_bytes(),
        14 => creds_json(&json_value(rng, 0), &json_value(rng, 0)).into_bytes(),
        15 => {
            let mut b = creds(email, password).into_bytes();
            let i = rng.below(b.len());
            b[i] = *rng.pick(&[0xff, 0x80, 0xc3, 0xed, 0x00]);
            b
        }
        16 => nest("[", "", "]", *rng.pick(&[BODY_MAX_DEPTH - 1, BODY_MAX_DEPTH, BODY_MAX_DEPTH + 1, 100_000]))
            .into_bytes(),
        17 => {
            format!(r#"{{"email": {}, "password": "x"}}"#, nest("{\"a\": ", "1", "}", *rng.pick(&[10, 961, 962, 5000])))
                .into_bytes()
        }
        18 => creds_json(&"7".repeat(*rng.pick(&[4300, 4301, 10_000])), &js(password)).into_bytes(),
        19 => creds_json(rng.pick::<&str>(ODD_EMAILS), &js(password)).into_bytes(),
        20 => creds_json(&js(email), rng.pick::<&str>(ODD_PASSWORDS)).into_bytes(),
        21 => creds_json(rng.pick::<&str>(SURROGATE_EMAILS), &js(password)).into_bytes(),
        22 => (*rng.pick(&["[]", "1", "\"x\"", "null", "true", "{}", "[{}]", "{\"email\"}", "\u{feff}{}", ""]))
            .as_bytes()
            .to_vec(),
        23 => {
            world.counter += 1;
            creds(&format!("fuzz{}@example.com", world.counter), rng.pick::<&str>(NEW_PASSWORDS)).into_bytes()
        }
        24 => creds(&format!("{}@example.com", "a".repeat(*rng.pick(&[88, 89, 200]))), password).into_bytes(),
        25 => (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
        26 => creds(&email.to_ascii_uppercase(), password).into_bytes(),
        27 if rng.chance(10) => {
            let mut v = creds("big@example.com", password).into_bytes();
            v.resize(MAX_BODY + *rng.pick(&[0, 1]), b' ');
            v
        }
        _ => format!(r#"{{"email": {}, "password": {}, "extra": {}}}"#, js(email), js(password), json_value(rng, 0))
            .into_bytes(),
    }
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if !body.is_empty() {
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// The method a path's view serves (before any mutation of the path).
fn right_method(rng: &mut Rng, path: &[u8]) -> &'static str {
    if path.starts_with(b"/users/sessions/") {
        "DELETE"
    } else if path.starts_with(b"/users/sessions") {
        if rng.chance(85) {
            "GET"
        } else {
            "HEAD"
        }
    } else {
        "POST"
    }
}

fn random_request(rng: &mut Rng, world: &mut World) -> Request {
    let path = random_path(rng, world);
    let method = match rng.below(10) {
        0..=5 => right_method(rng, &path).to_string(),
        6..=8 => rng.pick(METHODS).to_string(),
        _ => (0..3 + rng.below(6)).map(|_| (b'A' + rng.below(26) as u8) as char).collect(),
    };
    let mut req = Request::new(&method, &path);
    if rng.chance(60) {
        let t = token_of(world, rng);
        req = req.header("Authorization", t);
    }
    if rng.chance(25) {
        req = req.header("Origin", *rng.pick(ORIGINS));
    }
    if method == "OPTIONS" && rng.chance(50) {
        req = req.header("Access-Control-Request-Method", *rng.pick(&["POST", "GET", "DELETE", "", "X"]));
    }
    if rng.chance(35) {
        let xff: Vec<u8> = if rng.chance(85) {
            rng.pick(FORWARDED).to_vec()
        } else {
            (0..1 + rng.below(30)).map(|_| b"1., :f["[rng.below(7)]).collect()
        };
        req = req.header("X-Forwarded-For", xff);
    }
    if rng.chance(30) {
        let ua: Vec<u8> = match rng.below(4) {
            0 => b"Caf\xe9 \"q\" \\ \t x".to_vec(),
            1 => vec![0xe9; 1 + rng.below(600)],
            2 => (0..rng.below(80)).map(|_| 0x20 + (rng.next_u64() % 0xe0) as u8).filter(|&b| b != 0x7f).collect(),
            _ => "Mozilla/5.0".into(),
        };
        req = req.header("User-Agent", ua);
    }
    if rng.chance(30) {
        req = req.header("Content-Type", *rng.pick(CONTENT_TYPES));
    }
    if rng.chance(3) {
        req = req.header("Host", *rng.pick(&["evil.example", "", "[::1", "localhost:99999", "a b", "127.0.0.1:8000"]));
    }
    let bodied = path.starts_with(b"/users/signup") || path.starts_with(b"/users/login");
    let body = if bodied && rng.chance(90) {
        random_login_body(rng, world, path.starts_with(b"/users/login"))
    } else if rng.chance(15) {
        json_value(rng, 0).into_bytes()
    } else {
        Vec::new()
    };
    match rng.below(40) {
        0 | 1 => req.header("Content-Length", *rng.pick(CONTENT_LENGTHS)).body(body),
        2 if !body.is_empty() => req.header("Content-Length", (body.len() - 1).to_string()).body(body),
        3 => req.header("Transfer-Encoding", "chunked").body(chunked(&body)),
        _ => req.body(body),
    }
}

/// Logs in the fuzz's own user (which the generated bodies never name, so
/// its account is never locked) from an address of its own, for fresh tokens.
fn refill(srv: &Server, world: &mut World, n: usize) {
    world.counter += 1;
    let xff = format!("198.18.{}.{}", (world.counter / 250) % 250, world.counter % 250);
    let r = srv.send(
        &post_json("/users/login", creds("pool@example.com", "Passw0rd!"))
            .header("X-Forwarded-For", xff)
            .header("User-Agent", format!("refill {n}")),
    );
    if let Ok(t) = ledger_contract::kit::requests::access_token(&r) {
        world.tokens.push(t);
    }
}

/// What the answer teaches the generator: tokens and session ids.
fn learn(world: &mut World, r: &Response) {
    let Ok(v) = serde_json::from_slice::<Value>(&r.body) else { return };
    if let Some(t) = v.get("access_token").and_then(Value::as_str) {
        world.tokens.push(t.to_string());
    }
    if let Some(list) = v.get("sessions").and_then(Value::as_array) {
        for s in list {
            if let Some(id) = s.get("id").and_then(Value::as_i64) {
                if !world.ids.contains(&id) {
                    world.ids.push(id);
                }
            }
        }
    }
    if world.tokens.len() > 64 {
        world.tokens.drain(..32);
    }
}

fn fuzz_server(db: &TestDb) -> Server {
    let mut srv = hardened(
        db,
        &[
            ("TOKEN_TTL", "20"),
            ("LOGIN_WINDOW", "3"),
            ("LOGIN_MAX_FAILURES", "5"),
            ("LOGIN_MAX_FAILURES_PER_IP", "20"),
            ("SIGNUP_MAX_PER_IP", "20"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("SESSION_SWEEP_SECONDS", "1"),
            ("REQUEST_TIMEOUT_SECONDS", "5"),
        ],
    );
    srv.client.io_timeout = Duration::from_secs(20);
    srv.client.total_timeout = Duration::from_secs(30);
    srv
}

#[test]
fn hardened_fuzz_sqlite_never_a_500_nor_a_panic() {
    fuzz(Backend::Sqlite);
}

/// PostgreSQL and MySQL refuse some values SQLite stores (NUL in text):
/// the property holds on them too.
#[test]
fn hardened_fuzz_postgres_never_a_500_nor_a_panic() {
    fuzz(Backend::Postgres);
}

#[test]
fn hardened_fuzz_mysql_never_a_500_nor_a_panic() {
    fuzz(Backend::Mysql);
}

/// One stream of generated requests (its own seed and world): the tally of
/// answers and the failures (at most 5).
fn stream(srv: &Server, seed: u64, cases: usize, index: usize) -> (BTreeMap<String, usize>, Vec<String>) {
    let mut world = World { tokens: Vec::new(), ids: Vec::new(), counter: index * 1_000_000 };
    for n in 0..4 {
        refill(srv, &mut world, n);
    }
    assert!(!world.tokens.is_empty(), "stream {index}: no token to start with");
    let mut rng = Rng::new(seed);
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for case in 0..cases {
        if case % 40 == 0 {
            refill(srv, &mut world, case);
        }
        let req = random_request(&mut rng, &mut world);
        let answer = srv.client.send(&req);
        match check(&req, &answer) {
            Ok(label) => *tally.entry(label).or_default() += 1,
            Err(why) => {
                let shown = match &answer {
                    Ok(r) => r.describe(),
                    Err(e) => e.clone(),
                };
                failures.push(format!(
                    "stream {index} case {case} (stream seed {seed}): {why}\n request:\n{}\n answer:\n{shown}",
                    req.describe()
                ));
                if failures.len() >= 5 {
                    break;
                }
            }
        }
        if let Ok(r) = &answer {
            learn(&mut world, r);
        }
    }
    (tally, failures)
}

fn fuzz(backend: Backend) {
    count_panics();
    // the server's own account of a 500 (its cause), shown with a failure
    // (not actix's: it logs every request its parser refuses as an error)
    let _ = env_logger::builder()
        .is_test(true)
        .filter_level(log::LevelFilter::Off)
        .filter_module("ledger_server", log::LevelFilter::Warn)
        .try_init();
    let cases = env_number("HARDENED_FUZZ_CASES", DEFAULT_CASES as u64) as usize;
    let seed = env_number("HARDENED_FUZZ_SEED", DEFAULT_SEED);
    let threads = env_number("HARDENED_FUZZ_THREADS", DEFAULT_THREADS as u64).max(1) as usize;
    eprintln!(
        "hardened fuzz [{backend}]: seed {seed} (HARDENED_FUZZ_SEED), {cases} cases (HARDENED_FUZZ_CASES) \
         in {threads} concurrent streams (HARDENED_FUZZ_THREADS)"
    );
    let db = TestDb::create(backend, "h_fuzz").unwrap();
    let srv = fuzz_server(&db);
    for (email, password) in EMAILS.iter().copied().chain([("pool@example.com", "Passw0rd!")]) {
        let r = srv.send(&post_json("/users/signup", creds(email, password)));
        assert_eq!(r.status, 201, "signup of {email}: {}", String::from_utf8_lossy(&r.body));
    }
    // a row as Django or compat writes it: user 1's plain {"id": 1} token
    db.execute(&format!("INSERT INTO tokens (token, user_id) VALUES ('{}', 1)", token_for(KEY, 1))).unwrap();

    let started = Instant::now();
    let results: Vec<(BTreeMap<String, usize>, Vec<String>)> = std::thread::scope(|scope| {
        let srv = &srv;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                // stream 0 has the seed itself: one stream replays a single-threaded run
                let stream_seed = seed ^ ((t as u64) << 32);
                let n = cases / threads + usize::from(t < cases % threads);
                scope.spawn(move || stream(srv, stream_seed, n, t))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for (t, f) in results {
        for (label, n) in t {
            *tally.entry(label).or_default() += n;
        }
        failures.extend(f);
    }
    let elapsed = started.elapsed();
    eprintln!("hardened fuzz [{backend}]: {cases} cases in {elapsed:.1?}; answers:");
    for (label, n) in &tally {
        eprintln!("  {n:>7}  {label}");
    }
    assert!(failures.is_empty(), "the property failed on {backend} (seed {seed}):\n\n{}", failures.join("\n\n"));
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "the server panicked (seed {seed}): see the output above");
    // the generator reached the interesting answers (not only 404s)
    if cases >= 2000 {
        for label in [
            "200 SUCCESS",
            "201 SUCCESS",
            "200 LOGOUT_SUCCESS",
            "200 sessions",
            "400 JSON_DECODE_ERROR",
            "400 KEY_ERROR",
            "400 INVALID_EMAIL",
            "400 INVALID_PASSWORD",
            "400 JWT_DECODE_ERROR",
            "400 JWT_SIGNATURE_ERROR",
            "401 INVALID_USER",
            "404 SESSION_NOT_FOUND",
            "429 TOO_MANY_ATTEMPTS",
            "404 page",
            "405 (empty)",
        ] {
            assert!(
                tally.contains_key(label),
                "no {label:?} answer in {cases} cases: the generator misses it: {tally:?}"
            );
        }
    }
}

/// The check itself rejects what it must.
#[test]
fn hardened_fuzz_check_rejects_what_it_must() {
    let req = Request::new("POST", "/users/login");
    let json = |status: u16, body: &str| {
        Ok(Response {
            status,
            headers: vec![("Content-Type".into(), b"application/json".to_vec())],
            body: body.as_bytes().to_vec(),
        })
    };
    assert!(check(&req, &json(400, r#"{"message": "KEY_ERROR"}"#)).is_ok());
    assert!(check(&req, &json(400, r#"{"message": "NOPE"}"#)).is_err());
    assert!(check(&req, &json(200, r#"{"sessions": [{"id": 1}]}"#)).is_err());
    assert!(check(&req, &json(200, r#"{"message": "SUCCESS", "x": 1}"#)).is_err());
    assert!(check(&req, &json(503, r#"{"message": "KEY_ERROR"}"#)).is_err());
    assert!(check(&req, &Err("reset".into())).is_err());
}

/// The positive control: with the tables dropped under a running server,
/// requests that need the database get the 500 page, and the property's
/// check reports them.
#[test]
fn hardened_fuzz_check_sees_the_500_page_of_an_injected_fault() {
    let db = TestDb::create(Backend::Sqlite, "h_fuzz_fault").unwrap();
    let srv = fuzz_server(&db);
    let r = srv.send(&post_json("/users/signup", creds("fault@example.com", "Passw0rd!")));
    assert_eq!(r.status, 201);
    let token = ledger_contract::kit::requests::access_token(
        &srv.send(&post_json("/users/login", creds("fault@example.com", "Passw0rd!"))),
    )
    .unwrap();
    db.execute("DROP TABLE ledger_sessions; DROP TABLE ledger_login_attempts; DROP TABLE tokens; DROP TABLE users;")
        .unwrap();
    for req in [
        post_json("/users/login", creds("fault@example.com", "Passw0rd!")),
        post_json("/users/signup", creds("fault2@example.com", "Passw0rd!")),
        Request::new("GET", "/users/sessions").header("Authorization", &token),
        Request::new("POST", "/users/logout").header("Authorization", &token),
    ] {
        let answer = srv.client.send(&req);
        let r = answer.as_ref().unwrap_or_else(|e| panic!("no answer: {e}"));
        assert_eq!(
            (r.status, show_bytes(&r.body, 400)),
            (500, show_bytes(SERVER_ERROR_PAGE.as_bytes(), 400)),
            "{}",
            req.describe()
        );
        let verdict = check(&req, &answer);
        assert!(verdict.as_ref().is_err_and(|e| e.contains("500")), "the check missed a 500: {verdict:?}");
    }
    // and a request that needs no database still passes
    let req = Request::new("POST", "/users/login").body("[]");
    assert_eq!(check(&req, &srv.client.send(&req)), Ok("400 KEY_ERROR".to_string()));
}
