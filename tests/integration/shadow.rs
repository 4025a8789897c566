//! Shadow mode against the Django oracle, per backend: Django alone on one
//! database, and ledger-server (`SHADOW = true`, `UPSTREAM` = a second
//! Django) on a copy of it, receive every named scenario of the
//! differential test.
//!
//! - With matching servers the shadow reports 0 mismatches (and 0 racy:
//!   the requests are sequential), every `/users/*` request is checked,
//!   the client gets Django's bytes, and the database ends each scenario
//!   exactly as Django alone leaves it (the dry run writes nothing).
//! - With another `SECRET_KEY` every affected request (each successful
//!   login, each logout with a token Django signed) is reported as a
//!   mismatch, the client still gets Django's bytes, and the log holds no
//!   password or token.

use std::path::Path;
use std::time::Duration;

use ledger_contract::client::Client;
use ledger_contract::kit::oracle::check_oracle_prerequisites;
use ledger_contract::kit::url::percent_decode;
use ledger_contract::kit::{Backend, LedgerBinary, Oracle, ServerProcess, TestDb};
use ledger_contract::model::compare;
use ledger_contract::scenarios;
use ledger_server::upstream::report::{summarise, Summary};

const KEY: &str = "shadow-secret-key-71d2";

struct Run {
    summary: Summary,
    log: String,
    /// `/users/*` requests sent.
    users_requests: u64,
    /// `/users/*` requests with a chunked body (forwarded unchecked).
    chunked: u64,
    /// The passwords the requests carried.
    passwords: Vec<String>,
}

fn shadow_server(dir: &Path, key: &str, db: &TestDb, upstream: &Oracle, log: &Path) -> ServerProcess {
    LedgerBinary::serving(crate::BIN, dir, key, db.database_url())
        .log(dir.join("rust.log"))
        .setting("UPSTREAM", format!("http://{}", upstream.addr))
        .setting("SHADOW", "true")
        .setting("SHADOW_LOG", log)
        .start()
        .unwrap_or_else(|e| panic!("shadow: cannot start ledger-server: {e}"))
}

/// Every named scenario to Django alone and through the shadow; panics on
/// any difference of answers or rows.
fn run(backend: Backend, ledger_key: &str) -> Run {
    if let Err(e) = check_oracle_prerequisites() {
        panic!("shadow[{backend}] cannot run (it never skips): {e}");
    }
    let tmp = tempfile::Builder::new().prefix(&format!("shadow-{backend}-")).tempdir().unwrap();
    let alone_db = TestDb::create(backend, "shadow_alone").unwrap_or_else(|e| panic!("shadow[{backend}]: {e}"));
    let pair_db = TestDb::create(backend, "shadow_pair").unwrap_or_else(|e| panic!("shadow[{backend}]: {e}"));
    let alone = Oracle::start_on(KEY, &alone_db, &tmp.path().join("alone.log")).unwrap_or_else(|e| panic!("{e}"));
    let behind = Oracle::start_on(KEY, &pair_db, &tmp.path().join("behind.log")).unwrap_or_else(|e| panic!("{e}"));
    let log = tmp.path().join("shadow.jsonl");
    let rust = shadow_server(tmp.path(), ledger_key, &pair_db, &behind, &log);
    let django = Client::new(alone.addr);
    let through = Client::new(rust.addr);

    let (mut users_requests, mut chunked) = (0u64, 0u64);
    let mut passwords = Vec::new();
    for s in scenarios::all(KEY) {
        alone_db.reset(s.user_id_start).unwrap_or_else(|e| panic!("shadow[{backend}]: {e}"));
        pair_db.reset(s.user_id_start).unwrap_or_else(|e| panic!("shadow[{backend}]: {e}"));
        for (i, req) in s.requests.iter().enumerate() {
            if stalls(req) {
                continue;
            }
            let expected =
                django.send(req).unwrap_or_else(|e| panic!("django alone, {} #{i}: {e}", s.name)).contract_only();
            let got = through
                .send(req)
                .unwrap_or_else(|e| panic!("through the shadow, {} #{i}: {e}\n{}", s.name, rust.log()));
            if let Err(diff) = compare(&expected, &got) {
                panic!(
                    "shadow[{backend}] {} #{i}: the client did not get Django's answer: {diff}\n{}",
                    s.name,
                    req.describe()
                );
            }
            let path = String::from_utf8_lossy(&req.path).into_owned();
            // CONNECT is answered by ledger-server itself (not forwardable)
            if path_info(&path).starts_with("/users/") && req.method != "CONNECT" {
                users_requests += 1;
                if req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding")) {
                    chunked += 1;
                }
            }
            if let Some(password) = password_of(&req.body) {
                passwords.push(password);
            }
        }
        let (a, b) = (alone_db.snapshot().unwrap(), pair_db.snapshot().unwrap());
        if let Err(d) = crate::differential::compare_db(&a, &b) {
            panic!("shadow[{backend}] {}: the rows differ from Django alone's: {d}", s.name);
        }
    }
    // the tallies are written every 2 s, and when the server stops
    std::thread::sleep(Duration::from_millis(2500));
    drop(rust);
    let summary = summarise(&[log.as_path()]).unwrap_or_else(|e| panic!("shadow[{backend}]: {e}"));
    let log = std::fs::read_to_string(&log).unwrap();
    Run { summary, log, users_requests, chunked, passwords }
}

/// A request that declares a longer body than it sends and waits: Django
/// answers it without reading the body, ledger-server's front door waits
/// for the body (README, "Known differences").
fn stalls(req: &ledger_contract::model::Request) -> bool {
    let declared = req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    declared
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok())
        .is_some_and(|n| n > req.body.len())
}

/// The path as Django's resolver sees it (percent-decoded, no query).
fn path_info(path: &str) -> String {
    percent_decode(path.split('?').next().unwrap_or(path))
}

/// A string `password` of a JSON body, at least 8 characters (to grep for).
fn password_of(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let password = value.get("password")?.as_str()?;
    (password.len() >= 8).then(|| password.to_owned())
}

fn checked(summary: &Summary) -> [u64; 3] {
    summary.checks.values().fold([0; 3], |a, c| [a[0] + c[0], a[1] + c[1], a[2] + c[2]])
}

fn matching_servers_report_nothing(backend: Backend) {
    let run = run(backend, KEY);
    let [matched, mismatched, racy] = checked(&run.summary);
    assert!(
        mismatched == 0 && racy == 0,
        "shadow[{backend}]: differences with matching servers:\n{}",
        run.summary.render(&["shadow.jsonl".into()])
    );
    // every /users/* request is checked, but for chunked ones (forwarded unchecked)
    let checks = matched + racy;
    assert!(
        (run.users_requests - run.chunked..=run.users_requests).contains(&checks),
        "shadow[{backend}]: {checks} checks of {} /users/* requests ({} chunked)",
        run.users_requests,
        run.chunked
    );
    assert!(matched > 100, "shadow[{backend}]: only {matched} checks");
}

#[test]
fn oracle_shadow_with_matching_servers_reports_no_mismatch_sqlite() {
    matching_servers_report_nothing(Backend::Sqlite);
}

#[test]
fn oracle_shadow_with_matching_servers_reports_no_mismatch_postgres() {
    matching_servers_report_nothing(Backend::Postgres);
}

#[test]
fn oracle_shadow_with_matching_servers_reports_no_mismatch_mysql() {
    matching_servers_report_nothing(Backend::Mysql);
}

#[test]
fn oracle_shadow_reports_every_request_another_key_answers_differently() {
    let run = run(Backend::Sqlite, "another-secret-key");
    let shown = run.summary.render(&["shadow.jsonl".into()]);
    let count = |route: &str, answer: &str| {
        run.summary.checks.get(&(route.to_owned(), answer.to_owned())).copied().unwrap_or_default()
    };
    let logins = count("POST /users/login", "200 SUCCESS");
    assert!(logins[1] > 10, "successful logins are reported: {shown}");
    assert_eq!(logins[0], 0, "a login signed with another key never matches: {shown}");
    let logouts = count("POST /users/logout", "200 LOGOUT_SUCCESS");
    assert!(logouts[1] > 0 && logouts[0] == 0, "logouts with Django's tokens are reported: {shown}");
    let kinds: Vec<&str> = run.summary.differences.keys().map(|(_, _, kinds)| kinds.as_str()).collect();
    assert!(kinds.iter().any(|k| k.contains("body") && k.contains("writes")), "{kinds:?}");
    for password in &run.passwords {
        assert!(!run.log.contains(password.as_str()), "the log holds a password");
    }
    assert!(!run.log.contains("eyJpZCI6"), "the log holds a token's claims");
    assert_eq!(checked(&run.summary)[2], 0, "nothing is racy: {shown}");
}
