//! Replays every recorded fixture (`tests/fixtures/*.json`, recorded from
//! the Django original by `cargo run --bin ledger-record`) against
//! ledger-server in-process: a fresh SQLite database and a fresh server per
//! fixture, the recorded requests sent in order with the raw client, every
//! response compared (status, body bytes, contract headers).
//!
//! `LEDGER_CONTRACT_ONLY=name1,name2` replays a subset.

mod common;

use ledger_server::contract::client::Client;
use ledger_server::contract::fixtures::{self, Fixture};
use ledger_server::contract::model::compare;
use ledger_server::contract::scenarios;
use ledger_server::server::spawn_background;
use ledger_server::settings::Settings;
use std::collections::BTreeSet;

/// How many differences are printed in full (all are listed in one line each).
const DETAILED: usize = 25;

fn load() -> Vec<Fixture> {
    let dir = fixtures::default_dir();
    fixtures::read_all(&dir).unwrap_or_else(|e| panic!("cannot read the fixtures: {e}"))
}

#[test]
fn fixtures_are_complete_and_current() {
    let all = load();
    let names = scenarios::names();
    let have: BTreeSet<&str> = all.iter().map(|f| f.scenario.as_str()).collect();
    let missing: Vec<&String> = names.iter().filter(|n| !have.contains(n.as_str())).collect();
    assert!(
        all.len() >= names.len() && missing.is_empty(),
        "stale fixtures: {} fixture files for {} scenarios, missing {:?}; re-record with `cargo run --bin ledger-record`",
        all.len(),
        names.len(),
        missing
    );
    // the recorded requests are the ones the scenario code builds today
    let mut stale = Vec::new();
    for fx in &all {
        if let Some(s) = scenarios::all(&fx.secret_key).into_iter().find(|s| s.name == fx.scenario) {
            let recorded: Vec<_> = fx.exchanges.iter().map(|e| &e.request).collect();
            let current: Vec<_> = s.requests.iter().collect();
            if recorded != current {
                stale.push(fx.scenario.clone());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "fixtures recorded from older scenario code: {stale:?}; re-record with `cargo run --bin ledger-record -- --only NAME`"
    );
}

#[test]
fn contract_fixtures_replay_identically() {
    let only: Vec<String> = std::env::var("LEDGER_CONTRACT_ONLY")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let all = load();
    assert!(!all.is_empty(), "no fixtures in {}", fixtures::default_dir().display());
    let mut total = 0usize;
    let mut identical = 0usize;
    let mut details = Vec::new();
    let mut lines = Vec::new();
    for fx in all.iter().filter(|f| only.is_empty() || only.contains(&f.scenario)) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let db = tmp.path().join("ledger.sqlite3");
        let settings = Settings::for_tests(&fx.secret_key, db.to_str().expect("utf-8 temp path"));
        let server = spawn_background(settings)
            .unwrap_or_else(|e| panic!("scenario {}: cannot start ledger-server: {e}", fx.scenario));
        let client = Client::new(server.addr);
        let mut failed_here = 0;
        for (i, ex) in fx.exchanges.iter().enumerate() {
            total += 1;
            let (actual, diff) = match client.send(&ex.request) {
                Ok(actual) => match compare(&ex.response, &actual) {
                    Ok(()) => {
                        identical += 1;
                        continue;
                    }
                    Err(d) => (Some(actual), d),
                },
                Err(e) => (None, format!("request failed: {e}")),
            };
            failed_here += 1;
            lines.push(common::one_line(&fx.scenario, i, &ex.request, &ex.response, actual.as_ref()));
            if details.len() < DETAILED {
                details.push(common::report(&fx.scenario, i, &ex.request, &ex.response, actual.as_ref(), &diff));
            }
        }
        if failed_here > 0 {
            eprintln!("contract: {} has {failed_here} difference(s)", fx.scenario);
        }
        drop(server);
    }
    common::summary(&format!("contract: {identical}/{total} exchanges identical"));
    if identical != total {
        panic!(
            "contract: {identical}/{total} exchanges identical; {} differences\n\n{}\nall differences:\n{}",
            total - identical,
            details.join("\n"),
            lines.join("\n")
        );
    }
}
