//! The frontend's flow in a real browser (issue 16 §5): headless Chromium
//! (Debian's `chromium`, driven by Playwright's `playwright-core`,
//! `tests/browser/flow.mjs`) runs a page on another origin
//! (`http://127.0.0.2:PORT`) that does what the frontend does with
//! `fetch()`: signup, login, logout with `Authorization` (a CORS
//! preflight), a second logout, two logins then logouts, bad tokens,
//! `credentials: 'include'`, other methods on the users routes, a header
//! the CORS policy refuses (the browser blocks it: fetch rejects), and an
//! `Origin: null` frame (a sandboxed srcdoc iframe). Each step's
//! observation: resolved or blocked, status, body text, the headers JS can
//! see, and what the server saw meanwhile (its requests, the preflights
//! among them, the `Origin` sent), counted by a proxy in front of each
//! server (the API's origin, `http://127.0.0.1:PORT`).
//!
//! - [`compat_oracle_sqlite`]: Django alone, ledger-server alone and
//!   ledger-server in front of a second Django (`UPSTREAM`), each on a
//!   fresh database, give the same observations (and leave the same rows);
//!   the front door also relays Django's `/ledgers` to the browser as Django
//!   does. Django's own observations are checked against [`FLOW`]'s compat
//!   column, so that the flow keeps testing what it says.
//! - [`hardened_sqlite`]: ledger-server hardened, against [`FLOW`]'s
//!   hardened column: the documented answers of README "Hardened profile".
//!
//! Chromium (`/usr/bin/chromium`, `$CHROMIUM`) and `tests/browser/node_modules`
//! (`npm ci` there; scripts/test.sh runs it) missing fail the tests: nothing skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ledger_contract::kit::{Backend, LedgerBinary, Oracle, ProcessGroup, ServerProcess, TestDb};
use ledger_contract::tokens::{b64url_decode, token_for};
use serde_json::Value;

const KEY: &str = "browser-flow-secret-key-5c1e";
/// The whole page flow against every target, Chromium's start included
/// (about 30 s for three targets; the margin is for a loaded CI machine).
const FLOW_TIMEOUT: Duration = Duration::from_secs(180);

/// A step's answer as the page sees it.
#[derive(Clone, Copy, Debug)]
enum Seen {
    /// fetch resolved: the status, the body (`None`: a successful login's
    /// `{"message": "SUCCESS", "access_token": …}`) and the `Content-Type`.
    Answer(u16, Option<&'static str>, &'static str),
    /// fetch rejected with a TypeError: the browser refused the answer of the preflight.
    Blocked,
}

const JSON: &str = "application/json";
const EMPTY_HTML: &str = "text/html; charset=utf-8";
const PAGE_404: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n";
const PAGE_500: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";
const TOKEN: Option<&str> = None;

const fn ok(body: &'static str) -> Seen {
    Seen::Answer(200, Some(body), JSON)
}

/// The users flow of `flow.mjs`, step by step: its name, the preflights the
/// server sees for it (Chromium caches a preflight's answer per URL, origin
/// and credentials mode, for `Access-Control-Max-Age` up to its own 2-hour
/// cap: the first request of a kind to a URL preflights, the next ones do
/// not), what the page sees under compat (Django's answers, bugs included)
/// and under hardened (README "Hardened profile", item by item).
const FLOW: &[(&str, usize, Seen, Seen)] = {
    use Seen::*;
    const SUCCESS: &str = r#"{"message": "SUCCESS"}"#;
    const LOGOUT: &str = r#"{"message": "LOGOUT_SUCCESS"}"#;
    const INVALID_USER: &str = r#"{"message": "INVALID_USER"}"#;
    const DECODE: &str = r#"{"message": "JWT_DECODE_ERROR"}"#;
    const SIGNATURE: &str = r#"{"message": "JWT_SIGNATURE_ERROR"}"#;
    const LOGIN: Seen = Answer(200, TOKEN, JSON);
    &[
        ("signup", 1, Answer(201, Some(SUCCESS), JSON), Answer(201, Some(SUCCESS), JSON)),
        (
            "signup again",
            0,
            Answer(400, Some(r#"{"message": "EMAIL_ALREADY_EXISTS"}"#), JSON),
            Answer(400, Some(r#"{"message": "EMAIL_ALREADY_EXISTS"}"#), JSON),
        ),
        ("login", 0, LOGIN, LOGIN),
        ("login, wrong password", 0, Answer(401, Some(INVALID_USER), JSON), Answer(401, Some(INVALID_USER), JSON)),
        ("logout", 1, ok(LOGOUT), ok(LOGOUT)),
        // hardened 3: a logged-out token is 401 (Django: 200 with the message)
        ("second logout", 0, ok(INVALID_USER), Answer(401, Some(INVALID_USER), JSON)),
        ("login 1 of 2", 1, LOGIN, LOGIN),
        ("login 2 of 2", 0, LOGIN, LOGIN),
        // hardened 4: logout logs out one device (Django: `get` finds two rows, 500)
        ("logout after two logins", 0, Answer(500, Some(PAGE_500), "text/html"), ok(LOGOUT)),
        ("logout of the other login", 0, Answer(500, Some(PAGE_500), "text/html"), ok(LOGOUT)),
        ("logout, garbage token", 0, Answer(400, Some(DECODE), JSON), Answer(400, Some(DECODE), JSON)),
        ("logout, forged token", 0, Answer(400, Some(SIGNATURE), JSON), Answer(400, Some(SIGNATURE), JSON)),
        ("logout, no token", 0, Answer(400, Some(DECODE), JSON), Answer(400, Some(DECODE), JSON)),
        ("login, credentials include", 1, LOGIN, LOGIN),
        ("logout, credentials include", 1, Answer(500, Some(PAGE_500), "text/html"), ok(LOGOUT)),
        ("PUT signup", 0, Answer(405, Some(""), EMPTY_HTML), Answer(405, Some(""), EMPTY_HTML)),
        ("DELETE logout", 0, Answer(405, Some(""), EMPTY_HTML), Answer(405, Some(""), EMPTY_HTML)),
        ("PATCH login", 0, Answer(405, Some(""), EMPTY_HTML), Answer(405, Some(""), EMPTY_HTML)),
        ("GET login", 0, Answer(405, Some(""), EMPTY_HTML), Answer(405, Some(""), EMPTY_HTML)),
        ("GET unknown path", 0, Answer(404, Some(PAGE_404), "text/html"), Answer(404, Some(PAGE_404), "text/html")),
        ("login, refused header", 1, Blocked, Blocked),
        ("null origin: login", 1, LOGIN, LOGIN),
        ("null origin: logout", 1, Answer(500, Some(PAGE_500), "text/html"), ok(LOGOUT)),
        ("null origin: simple login", 0, LOGIN, LOGIN),
    ]
};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").filter(|v| !v.is_empty()).map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from)
}

/// Chromium, node and playwright-core, or a message saying what is missing
/// and how to get it.
fn check_prerequisites() -> Result<(), String> {
    let chromium = chromium();
    if !chromium.is_file() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium chromium-driver; scripts/services.sh does it)",
            chromium.display()
        ));
    }
    let module = browser_dir().join("node_modules/playwright-core/package.json");
    if !module.is_file() {
        return Err(format!(
            "{} is missing: run `npm ci` in tests/browser (scripts/test.sh does it)",
            module.display()
        ));
    }
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!("node --version failed: {}", String::from_utf8_lossy(&out.stderr))),
        Err(e) => Err(format!("no node (Node.js 20 or later) in PATH: {e}")),
    }
}

/// One API the page talks to: its name in the observations, the server, and
/// whether the flow goes on to Django's `/ledgers`.
struct Target<'a> {
    name: &'static str,
    server: &'a std::net::SocketAddr,
    ledgers: bool,
}

/// Runs `flow.mjs` against every target in one Chromium: the observations of each, by name.
fn run_flow(work: &Path, targets: &[Target]) -> serde_json::Map<String, Value> {
    check_prerequisites().unwrap_or_else(|e| panic!("browser: {e}"));
    let config = serde_json::json!({
        "targets": targets.iter().map(|t| serde_json::json!({
            "name": t.name, "api": format!("http://{}", t.server), "ledgers": t.ledgers,
        })).collect::<Vec<_>>(),
    });
    let out_path = work.join("observations.json");
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join("flow.mjs")).arg(&out_path).arg(config.to_string()).env("CHROMIUM", chromium());
    let started = Instant::now();
    let mut node = ProcessGroup::spawn("node flow.mjs", cmd, &work.join("flow.log")).unwrap();
    let status = node.wait_exit(FLOW_TIMEOUT).unwrap_or_else(|e| panic!("browser: {e}"));
    assert!(status.success(), "browser: flow.mjs failed ({status}):\n{}", node.log());
    eprintln!("browser: the page flow took {:?}\n{}", started.elapsed(), node.log().trim_end());
    let text = std::fs::read_to_string(&out_path).unwrap_or_else(|e| panic!("{}: {e}", out_path.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        other => panic!("browser: {} is not an object: {other:?}", out_path.display()),
    }
}

fn observations<'a>(all: &'a serde_json::Map<String, Value>, name: &str) -> &'a [Value] {
    all.get(name).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_else(|| panic!("no observations of {name}"))
}

fn field<'a>(o: &'a Value, key: &str) -> &'a str {
    o.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Checks one target's users flow against a column of [`FLOW`]; returns
/// the tokens of the successful logins, in order.
fn check_against_flow(name: &str, obs: &[Value], hardened: bool) -> Vec<String> {
    assert!(obs.len() >= FLOW.len(), "{name}: {} observations, the flow has {} steps", obs.len(), FLOW.len());
    let mut tokens = Vec::new();
    for (o, &(step, preflights, compat, hard)) in obs.iter().zip(FLOW) {
        let ctx = format!("{name}, step {step:?}: {}", serde_json::to_string_pretty(o).unwrap_or_default());
        assert_eq!(field(o, "step"), step, "{ctx}");
        let saw: Vec<&str> = o["server_saw"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(o["preflights"], preflights, "{ctx}");
        // what the server saw: the preflights, then the request itself (unless the browser blocked it)
        let (pre, rest) = saw.split_at(preflights.min(saw.len()));
        let path = field(o, "request").split(' ').nth(1).unwrap_or("");
        assert!(pre.iter().all(|r| *r == format!("OPTIONS {path}")), "{ctx}");
        let origin = if step.starts_with("null origin") { "null" } else { "PAGE" };
        assert_eq!(o["origins_sent"], serde_json::json!([origin]), "{ctx}");
        match if hardened { hard } else { compat } {
            Seen::Blocked => {
                assert_eq!(field(o, "outcome"), "blocked", "{ctx}");
                assert_eq!(field(o, "error"), "TypeError", "{ctx}");
                assert!(rest.is_empty(), "the browser sent the refused request: {ctx}");
            }
            Seen::Answer(status, body, content_type) => {
                assert_eq!(field(o, "outcome"), "resolved", "{ctx}");
                assert_eq!(rest, [field(o, "request")], "{ctx}");
                assert_eq!(o["status"], status, "{ctx}");
                let text = field(o, "body");
                match body {
                    Some(b) => assert_eq!(text, b, "{ctx}"),
                    None => {
                        let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {ctx}"));
                        assert_eq!(v["message"], "SUCCESS", "{ctx}");
                        let token = v["access_token"].as_str().unwrap_or_else(|| panic!("no token: {ctx}"));
                        let expected = format!(r#"{{"message": "SUCCESS", "access_token": "{token}"}}"#);
                        assert_eq!(text, expected, "{ctx}");
                        tokens.push(token.to_string());
                    }
                }
                // only the CORS-safelisted answer headers are visible to the page
                let headers =
                    serde_json::json!([["content-length", text.len().to_string()], ["content-type", content_type]]);
                assert_eq!(o["headers"], headers, "{ctx}");
            }
        }
    }
    tokens
}

/// The timestamps Django writes in a ledger's JSON (`2026-12-02T08:27:50.874`,
/// or `2026-12-02T08:27:50` on a whole second) replaced by `<time>`: two
/// databases' rows were written at other moments. Nothing else is
/// normalised (but the length of a body that held times): with one
/// `SECRET_KEY` and a fresh database each, every server signs the same
/// `{"id": 1}` token.
fn shape_times(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_time = |w: &[char]| {
        w.iter().zip("9999-99-99T99:99:99".chars()).all(|(c, t)| if t == '9' { c.is_ascii_digit() } else { *c == t })
    };
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if i + 19 <= chars.len() && is_time(&chars[i..i + 19]) {
            let mut end = i + 19;
            if chars.get(end) == Some(&'.') {
                end += 1;
                while chars.get(end).is_some_and(char::is_ascii_digit) {
                    end += 1;
                }
            }
            out.push_str("<time>");
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn shaped(o: &Value) -> Value {
    let mut o = o.clone();
    let mut timed = false;
    if let Some(Value::String(body)) = o.get_mut("body") {
        let shaped = shape_times(body);
        timed = shaped != *body;
        *body = shaped;
    }
    if timed {
        // the length of a body with times depends on their digits
        if let Some(Value::Array(headers)) = o.get_mut("headers") {
            for pair in headers.iter_mut() {
                if pair.get(0).and_then(Value::as_str) == Some("content-length") {
                    pair[1] = Value::String("<length>".into());
                }
            }
        }
    }
    o
}

/// `expected` and `actual` step by step, each difference shown with both observations.
fn assert_same(what: &str, expected: &[Value], actual: &[Value]) {
    for (e, a) in expected.iter().zip(actual) {
        let (e, a) = (shaped(e), shaped(a));
        assert!(
            e == a,
            "browser: {what} differs from Django at step {:?}\nDjango: {}\n{what}: {}",
            field(&e, "step"),
            serde_json::to_string_pretty(&e).unwrap_or_default(),
            serde_json::to_string_pretty(&a).unwrap_or_default()
        );
    }
    assert_eq!(expected.len(), actual.len(), "browser: {what}: the number of steps");
}

fn binary(work: &Path, name: &str, db: &TestDb) -> LedgerBinary {
    LedgerBinary::serving(crate::BIN, work, KEY, db.database_url()).name(name)
}

/// `(id, email)` of the users and `(id, token, user_id)` of the tokens.
type Rows = (Vec<(i64, String)>, Vec<(i64, String, i64)>);

fn rows(db: &TestDb) -> Rows {
    let users = db.users().unwrap().into_iter().map(|u| (u.id, u.email)).collect();
    let tokens = db.tokens().unwrap().into_iter().map(|t| (t.id, t.token, t.user_id)).collect();
    (users, tokens)
}

#[test]
fn compat_oracle_sqlite() {
    check_prerequisites().unwrap_or_else(|e| panic!("browser: {e}"));
    let work = tempfile::Builder::new().prefix("browser-compat-").tempdir().unwrap();
    let (db_django, db_alone, db_front) = (
        TestDb::create(Backend::Sqlite, "br_django").unwrap(),
        TestDb::create(Backend::Sqlite, "br_alone").unwrap(),
        TestDb::create(Backend::Sqlite, "br_front").unwrap(),
    );
    let django = Oracle::start_on(KEY, &db_django, &work.path().join("django.log")).unwrap();
    let upstream = Oracle::start_on(KEY, &db_front, &work.path().join("upstream.log")).unwrap();
    let alone: ServerProcess = binary(work.path(), "ledger-alone", &db_alone).start().unwrap();
    let front: ServerProcess = binary(work.path(), "ledger-front", &db_front)
        .setting("UPSTREAM", format!("http://{}", upstream.addr))
        .start()
        .unwrap();

    let all = run_flow(
        work.path(),
        &[
            Target { name: "django", server: &django.addr, ledgers: true },
            Target { name: "alone", server: &alone.addr, ledgers: false },
            Target { name: "front", server: &front.addr, ledgers: true },
        ],
    );
    let (d, a, f) = (observations(&all, "django"), observations(&all, "alone"), observations(&all, "front"));

    // Django's observations are what FLOW says (the flow tests what it claims)...
    let tokens = check_against_flow("django", d, false);
    assert!(tokens.iter().all(|t| *t == token_for(KEY, 1)), "{tokens:?}");
    assert_eq!(tokens.len(), 6, "{tokens:?}");
    // ...and its /ledgers, through the same page (the preflight of a
    // request with Authorization and Content-Type to /ledgers covers the
    // later GETs there; PATCH's to /ledgers/1 covers DELETE)
    let ledgers: Vec<(&str, u64, u64)> = d[FLOW.len()..]
        .iter()
        .map(|o| (field(o, "step"), o["status"].as_u64().unwrap_or(0), o["preflights"].as_u64().unwrap_or(u64::MAX)))
        .collect();
    assert_eq!(
        ledgers,
        [
            ("ledgers: login", 200, 0),
            ("ledgers: create", 201, 1),
            ("ledgers: list", 200, 0),
            ("ledgers: edit", 200, 1),
            ("ledgers: delete", 200, 0),
            ("ledgers: bad token", 400, 0),
        ]
    );
    assert!(field(&d[FLOW.len() + 2], "body").contains(r#""memo": "\ucee4\ud53c""#), "{:?}", d[FLOW.len() + 2]);

    // ledger-server alone: Django's users flow, observation for observation
    assert_same("ledger-server alone", &d[..FLOW.len()], a);
    // behind the front door: the users flow and Django's /ledgers, relayed
    assert_same("ledger-server in front of Django", d, f);

    // and the same rows were left behind
    let django_rows = rows(&db_django);
    assert_eq!(django_rows.0, [(1, "browser@example.com".to_string())]);
    assert_eq!(rows(&db_front), django_rows, "ledger-server in front of Django: rows");
    let ledger_rows = |db: &TestDb| db.ledgers().unwrap().iter().map(|l| l.shaped()).collect::<Vec<_>>();
    assert_eq!(ledger_rows(&db_front), ledger_rows(&db_django), "ledgers rows");
    assert_eq!(ledger_rows(&db_django).len(), 1);
    // ledger-server alone ran the users flow only: Django's rows but the
    // token of the `ledgers: login`
    let mut users_flow_rows = django_rows;
    users_flow_rows.1.pop();
    assert_eq!(rows(&db_alone), users_flow_rows, "ledger-server alone: rows");
    drop((alone, front, django, upstream));
}

#[test]
fn hardened_sqlite() {
    check_prerequisites().unwrap_or_else(|e| panic!("browser: {e}"));
    let work = tempfile::Builder::new().prefix("browser-hardened-").tempdir().unwrap();
    let db = TestDb::create(Backend::Sqlite, "br_hardened").unwrap();
    let server = binary(work.path(), "ledger-hardened", &db).setting("PROFILE", "hardened").start().unwrap();
    let all = run_flow(work.path(), &[Target { name: "hardened", server: &server.addr, ledgers: false }]);
    let obs = observations(&all, "hardened");
    assert_eq!(obs.len(), FLOW.len());
    let tokens = check_against_flow("hardened", obs, true);

    // hardened 1: a fresh token per login, {"id", "iat", "exp" = iat + TOKEN_TTL, "jti"}
    assert_eq!(tokens.len(), 6, "{tokens:?}");
    let mut distinct = tokens.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), tokens.len(), "a token came back twice: {tokens:?}");
    for token in &tokens {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{token}");
        assert_eq!(b64url_decode(parts[0]).unwrap(), br#"{"typ":"JWT","alg":"HS256"}"#, "{token}");
        let claims: Value = serde_json::from_slice(&b64url_decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["id"], 1, "{claims}");
        let iat = claims["iat"].as_i64().unwrap_or_else(|| panic!("{claims}"));
        assert_eq!(claims["exp"].as_i64(), Some(iat + 2_592_000), "{claims}");
        let jti = claims["jti"].as_str().unwrap_or("");
        assert!(jti.len() == 32 && jti.bytes().all(|b| b.is_ascii_hexdigit()), "{claims}");
    }
    // hardened 2 and 4: every logout above deleted its own token's row; the
    // last login's is left, as a digest
    let left = db.tokens().unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].token.starts_with("sha256:") && left[0].token.len() == 71, "{left:?}");
    drop(server);
}

#[test]
fn times_are_shaped_whatever_their_fraction() {
    let a = shape_times(r#"[{"created_at": "2026-12-02T08:27:50.874", "id": 1}]"#);
    let b = shape_times(r#"[{"created_at": "2026-12-02T08:27:50", "id": 1}]"#);
    assert_eq!(a, r#"[{"created_at": "<time>", "id": 1}]"#);
    assert_eq!(a, b);
    assert_eq!(shape_times("2026-12-02 08:27:50"), "2026-12-02 08:27:50", "not Django's JSON form");
}
