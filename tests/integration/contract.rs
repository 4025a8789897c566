//! Replays every recorded fixture (`tests/fixtures/<backend>/*.json`,
//! recorded from the Django original on that database by `cargo run -p
//! ledger-contract --bin ledger-record`) against ledger-server in-process
//! on the same backend: one throwaway database and one server per backend,
//! the database reset before each fixture (users, tokens and ledgers
//! emptied, id sequences restarted, at the fixture's `user_id_start` if it
//! has one), the recorded requests sent in order with the raw client, every
//! response compared (status, body bytes, contract headers).
//!
//! One test per backend, so a failure names the backend. PostgreSQL and
//! MySQL come from `LEDGER_TEST_PG_URL` / `LEDGER_TEST_MYSQL_URL` (admin
//! URLs; defaults in `ledger_contract::kit::backend`); a server that
//! cannot be reached fails the test: nothing skips.
//!
//! `LEDGER_CONTRACT_ONLY=name1,name2` replays a subset.

use ledger_contract::client::Client;
use ledger_contract::fixtures::{self, Fixture};
use ledger_contract::kit::{in_process, Backend, TestDb};
use ledger_contract::model::compare_exact;
use ledger_contract::report::{one_line, report, summary};
use ledger_contract::scenarios;
use ledger_server::server::BackgroundServer;
use std::collections::BTreeSet;

/// How many differences are printed in full (all are listed in one line each).
const DETAILED: usize = 25;

fn load(backend: Backend) -> Vec<Fixture> {
    let dir = fixtures::backend_dir(backend);
    fixtures::read_all(&dir).unwrap_or_else(|e| panic!("cannot read the {backend} fixtures: {e}"))
}

/// What is wrong with one backend's fixture set (empty: nothing).
fn fixture_problems(backend: Backend) -> Vec<String> {
    let all = load(backend);
    let mut problems = Vec::new();
    let names = scenarios::names();
    let have: BTreeSet<&str> = all.iter().map(|f| f.scenario.as_str()).collect();
    let missing: Vec<&String> = names.iter().filter(|n| !have.contains(n.as_str())).collect();
    if all.len() < names.len() || !missing.is_empty() {
        problems.push(format!(
            "{backend}: {} fixture files for {} scenarios, missing {missing:?}; re-record with `cargo run -p ledger-contract --bin ledger-record -- --backend {backend}`",
            all.len(),
            names.len(),
        ));
    }
    let wrong_backend: Vec<&str> =
        all.iter().filter(|f| f.backend != backend.name()).map(|f| f.scenario.as_str()).collect();
    if !wrong_backend.is_empty() {
        problems.push(format!("{backend}: fixtures recorded on another backend (or unmarked): {wrong_backend:?}"));
    }
    // the recorded requests are the ones the scenario code builds today
    let mut stale = Vec::new();
    for fx in &all {
        if let Some(s) = scenarios::all(&fx.secret_key).into_iter().find(|s| s.name == fx.scenario) {
            let recorded: Vec<_> = fx.exchanges.iter().map(|e| &e.request).collect();
            let current: Vec<_> = s.requests.iter().collect();
            if recorded != current || fx.user_id_start != s.user_id_start {
                stale.push(fx.scenario.clone());
            }
        }
    }
    if !stale.is_empty() {
        problems.push(format!(
            "{backend}: fixtures recorded from older scenario code: {stale:?}; re-record with `cargo run -p ledger-contract --bin ledger-record -- --backend {backend} --only NAME`"
        ));
    }
    problems
}

/// Reads the fixture files only: no database server needed.
#[test]
fn fixtures_are_complete_and_current() {
    let mut problems: Vec<String> = Backend::ALL.into_iter().flat_map(fixture_problems).collect();
    // the flat layout of old: every fixture now lives under its backend's directory
    let root = fixtures::default_dir();
    let flat: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    if !flat.is_empty() {
        problems.push(format!("fixtures outside a backend directory in {}: {flat:?}", root.display()));
    }
    assert!(problems.is_empty(), "stale fixtures:\n{}", problems.join("\n"));
}

fn replay(backend: Backend) {
    let only: Vec<String> = std::env::var("LEDGER_CONTRACT_ONLY")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let all = load(backend);
    assert!(!all.is_empty(), "no fixtures in {}", fixtures::backend_dir(backend).display());
    let started = std::time::Instant::now();
    let db = TestDb::create(backend, "contract").unwrap_or_else(|e| panic!("contract[{backend}]: {e}"));
    let mut server: Option<(String, BackgroundServer)> = None;
    let mut total = 0usize;
    let mut identical = 0usize;
    let mut details = Vec::new();
    let mut lines = Vec::new();
    for fx in all.iter().filter(|f| only.is_empty() || only.contains(&f.scenario)) {
        // one server per secret key (all fixtures share one today)
        if server.as_ref().is_none_or(|(k, _)| k != &fx.secret_key) {
            drop(server.take()); // stop the old one first
            let started = in_process(&fx.secret_key, &db).unwrap_or_else(|e| panic!("contract[{backend}]: {e}"));
            server = Some((fx.secret_key.clone(), started));
        }
        let (_, running) = server.as_ref().expect("server");
        db.reset(fx.user_id_start).unwrap_or_else(|e| panic!("contract[{backend}] {}: {e}", fx.scenario));
        let client = Client::new(running.addr);
        let mut failed_here = 0;
        for (i, ex) in fx.exchanges.iter().enumerate() {
            total += 1;
            let (actual, diff) = match client.send(&ex.request) {
                Ok(actual) => match compare_exact(&ex.response, &actual) {
                    Ok(()) => {
                        identical += 1;
                        continue;
                    }
                    Err(d) => (Some(actual), d),
                },
                Err(e) => (None, format!("request failed: {e}")),
            };
            failed_here += 1;
            lines.push(one_line(&fx.scenario, i, &ex.request, &ex.response, actual.as_ref()));
            if details.len() < DETAILED {
                details.push(report(&fx.scenario, i, &ex.request, &ex.response, actual.as_ref(), &diff));
            }
        }
        if failed_here > 0 {
            eprintln!("contract[{backend}]: {} has {failed_here} difference(s)", fx.scenario);
        }
    }
    drop(server);
    drop(db);
    summary(&format!(
        "contract[{backend}]: {identical}/{total} exchanges identical ({:.1}s)",
        started.elapsed().as_secs_f64()
    ));
    if identical != total {
        panic!(
            "contract[{backend}]: {identical}/{total} exchanges identical; {} differences\n\n{}\nall differences:\n{}",
            total - identical,
            details.join("\n"),
            lines.join("\n")
        );
    }
}

#[test]
fn replay_sqlite() {
    replay(Backend::Sqlite);
}

#[test]
fn replay_postgres() {
    replay(Backend::Postgres);
}

#[test]
fn replay_mysql() {
    replay(Backend::Mysql);
}
