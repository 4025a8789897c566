//! The live differential test, one per backend: the Django original
//! (`run.sh` of the reference project, `../shared/reference` or
//! `$LEDGER_ORACLE_DIR`) and the ledger-server binary, each on its own
//! fresh database of that backend (SQLite files; `CREATE DATABASE` on the
//! servers of `LEDGER_TEST_PG_URL` / `LEDGER_TEST_MYSQL_URL`) with the same
//! secret key, receive the same requests: every named scenario, the
//! clock-relative ones, and `LEDGER_DIFF_CASES` random requests from
//! `LEDGER_DIFF_SEED` (default 300 on SQLite, 150 on PostgreSQL and
//! MySQL). Both databases are reset between scenarios (rows emptied, id
//! sequences restarted). Every response is compared (status, body bytes,
//! contract headers), and after each scenario the `users` and `tokens` rows
//! (timestamps as the wall-clock values Django reads back).
//!
//! It fails on the first difference (`LEDGER_DIFF_KEEP_GOING=1` lists them
//! all; `LEDGER_DIFF_ONLY=name,...`, `named` or `random` plays a subset).
//! Without Python, the reference project or a database server it fails: it
//! never skips.

use chrono::NaiveDateTime;
use ledger_contract::client::Client;
use ledger_contract::kit::oracle::check_oracle_prerequisites;
use ledger_contract::kit::rows::timestamp_shape;
use ledger_contract::kit::{Backend, DbSnapshot, LedgerBinary, Oracle, TestDb};
use ledger_contract::model::compare_exact;
use ledger_contract::report::{one_line, report, summary};
use ledger_contract::{random, scenarios};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const SECRET_KEY: &str = "differential-secret-key-9f3c1a";
const DEFAULT_SEED: u64 = 20261127;
/// Random requests on SQLite, and on PostgreSQL and MySQL (slower resets).
const DEFAULT_CASES_SQLITE: usize = 300;
const DEFAULT_CASES_SERVER: usize = 150;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not valid")),
        _ => default,
    }
}

fn parse_ts(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.get(..19)?, "%Y-%m-%d %H:%M:%S").ok()
}

/// Differences between the two databases (timestamps: same shape, within 2 minutes).
pub(crate) fn compare_db(oracle: &DbSnapshot, rust: &DbSnapshot) -> Result<(), String> {
    let mut diffs = Vec::new();
    if oracle.tokens != rust.tokens {
        diffs.push(format!("tokens rows:\n  django: {:?}\n  rust:   {:?}", oracle.tokens, rust.tokens));
    }
    let strip = |s: &DbSnapshot| {
        s.users.iter().map(|u| (u.id, u.email.clone(), u.email_type.clone(), u.password.clone())).collect::<Vec<_>>()
    };
    if strip(oracle) != strip(rust) {
        diffs.push(format!(
            "users rows (id, email, typeof(email), password):\n  django: {:?}\n  rust:   {:?}",
            strip(oracle),
            strip(rust)
        ));
    }
    for (o, r) in oracle.users.iter().zip(rust.users.iter()) {
        for (what, ov, rv) in
            [("created_at", &o.created_at, &r.created_at), ("updated_at", &o.updated_at, &r.updated_at)]
        {
            let (Some(ov), Some(rv)) = (ov, rv) else {
                if ov.is_some() != rv.is_some() {
                    diffs.push(format!("user {} {what}: django {ov:?}, rust {rv:?}", o.id));
                }
                continue;
            };
            // Django drops the fraction when the microseconds are 0: compare shapes without it
            let shape = |s: &str| timestamp_shape(s.split('.').next().unwrap_or(s));
            if shape(ov) != shape(rv) {
                diffs.push(format!("user {} {what} format: django {ov:?}, rust {rv:?}", o.id));
            } else if let (Some(a), Some(b)) = (parse_ts(ov), parse_ts(rv)) {
                if (a - b).num_seconds().abs() > 120 {
                    diffs.push(format!("user {} {what} time: django {ov:?}, rust {rv:?} (time zone?)", o.id));
                }
            }
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

fn differential(backend: Backend) {
    if let Err(e) = check_oracle_prerequisites() {
        panic!("differential[{backend}] cannot run (it never skips): {e}");
    }
    let seed: u64 = env_or("LEDGER_DIFF_SEED", DEFAULT_SEED);
    let default_cases = if backend == Backend::Sqlite { DEFAULT_CASES_SQLITE } else { DEFAULT_CASES_SERVER };
    let cases: usize = env_or("LEDGER_DIFF_CASES", default_cases);
    let keep_going = std::env::var("LEDGER_DIFF_KEEP_GOING").is_ok_and(|v| v == "1");
    let tmp = tempfile::Builder::new().prefix(&format!("differential-{backend}-")).tempdir().expect("temp dir");
    // the databases outlive both servers (dropped last)
    let oracle_db = TestDb::create(backend, "diff_django").unwrap_or_else(|e| panic!("differential[{backend}]: {e}"));
    let rust_db = TestDb::create(backend, "diff_rust").unwrap_or_else(|e| panic!("differential[{backend}]: {e}"));
    let started = Instant::now();
    let oracle = Oracle::start_on(SECRET_KEY, &oracle_db, &tmp.path().join("oracle.log"))
        .unwrap_or_else(|e| panic!("differential[{backend}]: {e}"));
    let rust = LedgerBinary::serving(crate::BIN, tmp.path(), SECRET_KEY, rust_db.database_url())
        .log(tmp.path().join("rust.log"))
        .start()
        .unwrap_or_else(|e| panic!("differential[{backend}]: cannot start ledger-server: {e}"));
    eprintln!(
        "differential[{backend}]: django on {} ({}), ledger-server on {} ({}), started in {:.1}s; seed {seed}, {cases} random cases",
        oracle.addr,
        oracle_db.name,
        rust.addr,
        rust_db.name,
        started.elapsed().as_secs_f64()
    );
    let django = Client::new(oracle.addr);
    let ours = Client::new(rust.addr);

    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
    let mut list = scenarios::all(SECRET_KEY);
    list.extend(scenarios::live(SECRET_KEY, now));
    list.extend(random::scenarios(SECRET_KEY, seed, cases, 50));
    // LEDGER_DIFF_ONLY=name,name (or "named" / "random") plays a subset
    let only: Vec<String> = std::env::var("LEDGER_DIFF_ONLY")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if !only.is_empty() {
        list.retain(|s| {
            let random = s.name.starts_with("random_");
            only.iter().any(|o| o == &s.name || (o == "random" && random) || (o == "named" && !random))
        });
        assert!(!list.is_empty(), "LEDGER_DIFF_ONLY={only:?} selects no scenario");
    }

    let mut total = 0usize;
    let mut identical = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    'scenarios: for s in &list {
        oracle_db.reset(s.user_id_start).unwrap_or_else(|e| panic!("differential[{backend}]: oracle database: {e}"));
        rust_db
            .reset(s.user_id_start)
            .unwrap_or_else(|e| panic!("differential[{backend}]: ledger-server database: {e}"));
        for (i, req) in s.requests.iter().enumerate() {
            total += 1;
            let expected = django
                .send(req)
                .unwrap_or_else(|e| {
                    panic!("differential[{backend}]: django failed on {} #{i}: {e}\n{}", s.name, req.describe())
                })
                .contract_only();
            let (actual, diff) = match ours.send(req) {
                Ok(a) => match compare_exact(&expected, &a) {
                    Ok(()) => {
                        identical += 1;
                        continue;
                    }
                    Err(d) => (Some(a), d),
                },
                Err(e) => (None, format!("request failed: {e}")),
            };
            let report = report(&s.name, i, req, &expected, actual.as_ref(), &diff);
            lines.push(one_line(&s.name, i, req, &expected, actual.as_ref()));
            if !keep_going {
                summary(&format!("differential[{backend}]: {identical}/{total} identical"));
                panic!("differential[{backend}]: first difference\n{report}");
            }
            if failures.len() < 40 {
                failures.push(report);
            }
            if failures.len() > 400 {
                break 'scenarios;
            }
        }
        let o = oracle_db.snapshot().unwrap_or_else(|e| panic!("differential[{backend}]: {e}"));
        let r = rust_db.snapshot().unwrap_or_else(|e| panic!("differential[{backend}]: {e}"));
        if let Err(d) = compare_db(&o, &r) {
            let report = format!("=== scenario {}: database rows differ after the scenario\n{d}\n", s.name);
            lines.push(format!("{}: database rows differ", s.name));
            if !keep_going {
                summary(&format!("differential[{backend}]: {identical}/{total} identical"));
                panic!("differential[{backend}]: first difference\n{report}");
            }
            failures.push(report);
        }
    }
    drop(rust);
    drop(oracle);
    summary(&format!(
        "differential[{backend}]: {identical}/{total} identical ({} scenarios, {:.1}s)",
        list.len(),
        started.elapsed().as_secs_f64()
    ));
    if identical != total || !lines.is_empty() {
        panic!(
            "differential[{backend}]: {identical}/{total} identical\n\n{}\nall differences:\n{}",
            failures.join("\n"),
            lines.join("\n")
        );
    }
}

#[test]
fn oracle_sqlite() {
    differential(Backend::Sqlite);
}

#[test]
fn oracle_postgres() {
    differential(Backend::Postgres);
}

#[test]
fn oracle_mysql() {
    differential(Backend::Mysql);
}
