//! The log as a pipeline reads it (issue 16 §2) and SIGHUP's reload (§3):
//! `LOG_FORMAT = "json"` lines and their request fields, `LOG_LEVEL` and
//! `RUST_LOG`, the request id (a trusted proxy's, else generated; logged,
//! forwarded, never in the answer), no secret at `RUST_LOG=trace`, and the
//! settings a running server reloads. The real binary; the stub upstream.

use std::path::Path;
use std::time::{Duration, Instant};

use ledger_contract::kit::requests::{access_token, login, logout, signup, PASSWORD};
use ledger_contract::kit::{Backend, LedgerBinary, ServerProcess, ServerUrl, TestDb};
use ledger_contract::model::Request;
use serde_json::Value;

use crate::stub_upstream::{Reply, Seen, Stub};

const KEY: &str = "logs-test-signing-key-7c1d0e";

fn start(bin: LedgerBinary) -> ServerProcess {
    bin.start().unwrap_or_else(|e| panic!("server did not start: {e}"))
}

fn stop(mut server: ServerProcess) -> String {
    let (code, log) = server.terminate(Duration::from_secs(40)).unwrap();
    assert_eq!(code, Some(0), "{log}");
    log
}

/// Every line of a JSON log, parsed (a line that is not one object fails).
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            for key in ["time", "level", "target", "message"] {
                assert!(value[key].is_string(), "no {key}: {line}");
            }
            value
        })
        .collect()
}

fn access_lines(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["target"] == "ledger_server::request").collect()
}

fn is_generated(id: &str) -> bool {
    id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())
}

fn ok_stub() -> Stub {
    Stub::start(|_: &Seen| {
        Reply::Bytes(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok".to_vec())
    })
}

#[test]
fn json_lines_carry_the_request_fields_and_the_id_of_its_500() {
    let dir = tempfile::tempdir().unwrap();
    let bin = LedgerBinary::new(crate::BIN, dir.path())
        .setting("SECRET_KEY", KEY)
        .setting("LOG_FORMAT", "json")
        .setting("ACCESS_LOG", "1");
    let server = start(bin);
    let ok = server.send(&Request::new("GET", "/nothing/here?token=query-secret").header("X-Request-Id", "spoofed"));
    assert_eq!(ok.status, 404);
    let fault = server.send(&Request::new("POST", "/users/login?next=x").body("[1]"));
    assert_eq!(fault.status, 500);
    for answer in [&ok, &fault] {
        assert!(answer.header_values("x-request-id").is_empty(), "compat answers carry no request id");
    }
    let log = stop(server);
    assert!(!log.contains("query-secret") && !log.contains("next=x"), "a query string is logged:\n{log}");
    let lines = json_lines(&log);
    let time = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$").unwrap();
    assert!(lines.iter().all(|l| time.is_match(l["time"].as_str().unwrap())), "{log}");
    let access = access_lines(&lines);
    let nothing = access.iter().find(|l| l["path"] == "/nothing/here").unwrap_or_else(|| panic!("{log}"));
    assert_eq!(nothing["method"], "GET");
    assert_eq!(nothing["status"], 404);
    assert!(nothing["duration"].as_f64().is_some_and(|ms| (0.0..5000.0).contains(&ms)), "{nothing}");
    assert_eq!(nothing["client"], "127.0.0.1");
    assert_eq!(
        nothing["message"].as_str().unwrap().split(' ').take(3).collect::<Vec<_>>(),
        ["GET", "/nothing/here", "404"]
    );
    let id = nothing["request_id"].as_str().unwrap();
    assert!(is_generated(id), "an untrusted peer's X-Request-Id is not taken: {id}");
    let login_line = access.iter().find(|l| l["path"] == "/users/login").unwrap_or_else(|| panic!("{log}"));
    assert_eq!((login_line["status"].as_u64(), login_line["level"].as_str()), (Some(500), Some("WARN")));
    let faults: Vec<&Value> = lines.iter().filter(|l| l["message"].as_str().unwrap().contains(": 500: ")).collect();
    assert_eq!(faults.len(), 1, "{log}");
    assert_eq!(faults[0]["request_id"], login_line["request_id"], "the 500 line names its request's id");
    assert_ne!(login_line["request_id"], nothing["request_id"]);
}

#[test]
fn text_lines_stay_env_loggers_with_the_request_id_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let bin =
        LedgerBinary::new(crate::BIN, dir.path()).setting("ACCESS_LOG", "1").setting("TRUSTED_PROXIES", "127.0.0.1");
    let server = start(bin);
    server.send(&Request::new("GET", "/x?q=1").header("X-Request-Id", "edge-42"));
    let log = stop(server);
    let line = log
        .lines()
        .find(|l| l.contains("ledger_server::request") && l.contains("/x"))
        .unwrap_or_else(|| panic!("{log}"));
    let shape = regex::Regex::new(r"^\[\S+Z INFO  ledger_server::request\] GET /x 404 \d+\.\d\dms request_id=edge-42$")
        .unwrap();
    assert!(shape.is_match(line), "{line}");
}

#[test]
fn bad_log_settings_stop_startup_with_one_line() {
    for (key, value) in [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")] {
        let dir = tempfile::tempdir().unwrap();
        let finished =
            LedgerBinary::new(crate::BIN, dir.path()).setting(key, value).run(Duration::from_secs(30)).unwrap();
        assert_eq!(finished.status.code(), Some(2), "{key}={value}: {}", finished.log);
        let lines: Vec<&str> = finished.log.lines().collect();
        assert_eq!(lines.len(), 1, "{key}={value}: {}", finished.log);
        assert!(lines[0].starts_with("ledger-server: setting ") && lines[0].contains(key), "{}", lines[0]);
    }
}

/// `LOG_LEVEL` decides unless `RUST_LOG` is set (the kit sets `RUST_LOG=info`;
/// an empty one counts as unset).
#[test]
fn log_level_is_a_setting_and_rust_log_still_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("my_settings.toml"), "LOG_LEVEL = \"warn\"\n").unwrap();
    let quiet = stop(start(LedgerBinary::new(crate::BIN, dir.path()).setting("RUST_LOG", "")));
    assert!(!quiet.contains(" INFO "), "LOG_LEVEL = warn still logs INFO:\n{quiet}");
    assert!(quiet.contains(" WARN "), "{quiet}"); // the insecure key
    let loud = stop(start(LedgerBinary::new(crate::BIN, dir.path()).setting("RUST_LOG", "info")));
    assert!(loud.contains(" INFO ") && loud.contains("listening on"), "RUST_LOG=info lost to LOG_LEVEL:\n{loud}");
}

#[test]
fn a_trusted_proxys_request_id_is_logged_and_forwarded_and_others_are_replaced() {
    let stub = ok_stub();
    let dir = tempfile::tempdir().unwrap();
    let front = |trusted: &str| {
        start(
            LedgerBinary::new(crate::BIN, dir.path())
                .setting("UPSTREAM", stub.url())
                .setting("TRUSTED_PROXIES", trusted)
                .setting("LOG_FORMAT", "json")
                .setting("ACCESS_LOG", "1"),
        )
    };
    let with_id = |id: &str| Request::new("GET", "/ledgers/1").header("X-Request-Id", id);

    let server = front("127.0.0.1");
    let r = server.send(&with_id("proxy-id-1"));
    assert_eq!(r.status, 200);
    assert!(r.header_values("x-request-id").is_empty(), "the front door adds no X-Request-Id to the answer");
    assert_eq!(stub.last().values("x-request-id"), ["proxy-id-1"], "a trusted proxy's id goes on");
    server.send(&with_id(&"x".repeat(201)));
    let long = stub.last().values("x-request-id");
    assert!(long.len() == 1 && is_generated(&long[0]), "an over-long id is replaced: {long:?}");
    server.send(&Request::new("GET", "/ledgers/2"));
    let fresh = stub.last().values("x-request-id");
    assert!(fresh.len() == 1 && is_generated(&fresh[0]) && fresh[0] != long[0], "{fresh:?}");
    // the users views answer here: the id is logged, not echoed
    let own = server.send(&Request::new("POST", "/users/login").header("X-Request-Id", "proxy-id-2").body("{}"));
    assert_eq!(own.status, 400);
    assert!(own.header_values("x-request-id").is_empty());
    let lines = json_lines(&stop(server));
    let ids: Vec<&str> = access_lines(&lines).iter().filter_map(|l| l["request_id"].as_str()).collect();
    for id in ["proxy-id-1", long[0].as_str(), fresh[0].as_str(), "proxy-id-2"] {
        assert!(ids.contains(&id), "{id} not on an access line: {ids:?}");
    }

    // the same client, not trusted: its id is replaced before Django sees it
    let server = front("10.9.8.7");
    server.send(&with_id("spoofed-id"));
    let replaced = stub.last().values("x-request-id");
    assert!(replaced.len() == 1 && is_generated(&replaced[0]), "{replaced:?}");
    let lines = json_lines(&stop(server));
    assert!(access_lines(&lines).iter().any(|l| l["request_id"] == replaced[0].as_str()));
}

/// `DATABASE_URL` with a password in it (PostgreSQL's trust authentication
/// lets any password in).
fn postgres_url_with_password(db: &TestDb) -> (String, String) {
    let url = ServerUrl::parse(db.database_url()).unwrap();
    let password = if url.password.is_empty() { "Db-Pa55word-in-the-url".to_owned() } else { url.password.clone() };
    let port = url.port.map(|p| format!(":{p}")).unwrap_or_default();
    (format!("{}://{}:{password}@{}{port}/{}", url.scheme, url.user, url.host, url.database), password)
}

/// Every secret, at every level: signup, login, guarded requests, logout,
/// bad tokens, the front door with `Authorization`, a database password.
#[test]
fn no_secret_in_the_log_at_rust_log_trace_postgres() {
    let db = TestDb::create(Backend::Postgres, "logs_trace").unwrap();
    let (url, db_password) = postgres_url_with_password(&db);
    let stub = ok_stub();
    let dir = tempfile::tempdir().unwrap();
    let bin = LedgerBinary::serving(crate::BIN, dir.path(), KEY, &url)
        .setting("RUST_LOG", "trace")
        .setting("LOG_FORMAT", "json")
        .setting("ACCESS_LOG", "1")
        .setting("UPSTREAM", stub.url());
    let server = start(bin);
    let email = "trace@example.com";
    assert_eq!(server.send(&signup(email)).status, 201);
    let token = access_token(&server.send(&login(email))).unwrap();
    let signature = token.rsplit('.').next().unwrap().to_owned();
    assert!(signature.len() > 20, "{token}");
    let forged = format!("{}.{}", token.rsplit_once('.').unwrap().0, "A".repeat(signature.len()));
    let wrong =
        Request::new("POST", "/users/login").body(format!(r#"{{"email": "{email}", "password": "Wr0ng-Pass!"}}"#));
    assert_eq!(server.send(&wrong).status, 401); // INVALID_USER
    for bad in [forged.as_str(), "garbage.token.here", "eyJhbGciOiJIUzI1NiJ9"] {
        let r = server.send(&logout(bad));
        assert!(r.status == 400 || r.status == 200, "{bad}: {}", r.status);
    }
    for path in ["/ledgers", "/ledgers/1?auth=x"] {
        let r = server.send(
            &Request::new("GET", path).header("Authorization", &token).header("Cookie", "sessionid=Cookie-S3cret"),
        );
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        stub.last().values("authorization"),
        std::slice::from_ref(&token),
        "the front door forwards Authorization"
    );
    assert_eq!(server.send(&logout(&token)).status, 200);
    assert_eq!(server.send(&logout(&token)).status, 200, "a second logout: INVALID_USER");
    let log = stop(server);
    json_lines(&log);
    assert!(log.contains("\"level\":\"TRACE\""), "RUST_LOG=trace logged no trace line:\n{log}");
    for (secret, what) in [
        (KEY, "SECRET_KEY"),
        (PASSWORD, "the password"),
        ("Wr0ng-Pass!", "a wrong password"),
        (token.as_str(), "the token"),
        (signature.as_str(), "the token's signature"),
        (forged.as_str(), "a forged token"),
        (db_password.as_str(), "the database password"),
        ("Cookie-S3cret", "a cookie"),
    ] {
        assert!(!log.contains(secret), "the log shows {what}:\n{log}");
    }
}

// SIGHUP --------------------------------------------------------------------

fn hangup(server: &ServerProcess) {
    let status = std::process::Command::new("kill").args(["-HUP", &server.process.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Waits (at most 10 s) until the log has a line containing `needle`
/// after its first `from` bytes.
fn wait_for_line(server: &ServerProcess, from: usize, needle: &str) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log();
        if log.get(from..).is_some_and(|tail| tail.contains(needle)) {
            return log;
        }
        assert!(Instant::now() < until, "no {needle:?} in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_settings(dir: &Path, lines: &[&str]) {
    std::fs::write(dir.join("my_settings.toml"), lines.join("\n") + "\n").unwrap();
}

/// The mismatch lines of the shadow log.
fn shadow_checks(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("shadow.jsonl")).unwrap_or_default();
    text.lines().filter(|l| !l.contains("\"type\":\"tally\"")).count()
}

#[test]
fn sighup_reloads_log_level_access_log_shadow_sample_and_bcrypt_yield() {
    // Django's stand-in: /fail is a 500 (logged at WARN), the rest 200
    let stub = Stub::start(|seen: &Seen| {
        let status = if seen.line().contains(" /fail ") { "500 Internal Server Error" } else { "200 OK" };
        Reply::Bytes(
            format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok").into_bytes(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let upstream = format!("UPSTREAM = \"{}\"", stub.url());
    let base = [upstream.as_str(), "SECRET_KEY = \"sighup-key\"", "SHADOW = true"];
    let with = |more: &[&'static str]| [&base[..], more].concat();
    write_settings(dir.path(), &with(&["ACCESS_LOG = false", "LOG_LEVEL = \"warn\"", "SHADOW_SAMPLE = 0"]));
    let server = start(LedgerBinary::new(crate::BIN, dir.path()).setting("RUST_LOG", ""));
    let shadowed = || server.send(&Request::new("POST", "/users/login").body(r#"{"email": "a@b.c", "password": "x"}"#));
    let requests = || {
        assert_eq!(server.send(&Request::new("GET", "/fail")).status, 500);
        assert_eq!(server.send(&Request::new("GET", "/fine")).status, 200);
        assert_eq!(shadowed().status, 200);
    };
    requests();
    std::thread::sleep(Duration::from_millis(2500)); // a tally period
    let log = server.log();
    assert!(!log.contains("ledger_server::request"), "ACCESS_LOG = false logs requests:\n{log}");
    assert_eq!(shadow_checks(dir.path()), 0, "SHADOW_SAMPLE = 0 checked a request");

    // ACCESS_LOG on: the 500's WARN line appears; the level (warn) still hides the 200's
    write_settings(dir.path(), &with(&["ACCESS_LOG = true", "LOG_LEVEL = \"warn\"", "SHADOW_SAMPLE = 0"]));
    let from = log.len();
    hangup(&server);
    // (the change's own line is INFO: hidden at warn) until the reload is done
    let until = Instant::now() + Duration::from_secs(10);
    while !server.log()[from..].contains("GET /fail 500") {
        assert!(Instant::now() < until, "ACCESS_LOG = true logs nothing:\n{}", server.log());
        requests();
    }
    let log = server.log();
    assert!(!log[from..].contains("GET /fine"), "LOG_LEVEL = warn logs an INFO line:\n{log}");
    assert!(!log[from..].contains("ACCESS_LOG: false"), "an INFO line at warn:\n{log}");

    // LOG_LEVEL info and SHADOW_SAMPLE 1, and a change that needs a restart
    write_settings(
        dir.path(),
        &with(&[
            "ACCESS_LOG = true",
            "LOG_LEVEL = \"info\"",
            "SHADOW_SAMPLE = 1",
            "POOL_SIZE = 3",
            "BCRYPT_YIELD = false",
        ]),
    );
    let from = log.len();
    hangup(&server);
    wait_for_line(&server, from, "SHADOW_SAMPLE: 0 → 1");
    wait_for_line(&server, from, "BCRYPT_YIELD: true → false");
    wait_for_line(&server, from, "LOG_LEVEL: warn → info");
    let log = wait_for_line(&server, from, "POOL_SIZE changed: it needs a restart");
    requests();
    wait_for_line(&server, log.len(), "GET /fine 200");
    let until = Instant::now() + Duration::from_secs(10);
    while shadow_checks(dir.path()) == 0 {
        assert!(Instant::now() < until, "SHADOW_SAMPLE = 1 checked nothing");
        std::thread::sleep(Duration::from_millis(100));
    }

    // a file that no longer parses: said, and the running settings stay
    std::fs::write(dir.path().join("my_settings.toml"), "ACCESS_LOG = [unclosed\n").unwrap();
    let from = server.log().len();
    hangup(&server);
    let log = wait_for_line(&server, from, "SIGHUP: settings not reloaded, the running ones stay");
    assert_eq!(server.send(&Request::new("GET", "/still")).status, 200);
    wait_for_line(&server, log.len(), "GET /still 200");
    let mut server = server;
    server.check_running().unwrap();
    let log = stop(server);
    assert!(!log.contains("sighup-key"), "the log shows SECRET_KEY:\n{log}");
}
