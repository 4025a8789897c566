//! ledger-server's contract tooling and test kit.
//!
//! Contract machinery:
//! - [`model`]: requests, responses, the contract headers and [`model::compare`];
//! - [`client`]: a raw HTTP/1.1 client over `TcpStream`;
//! - [`tokens`]: JWT construction for scenarios;
//! - [`scenarios`]: the named scenarios, by route and input family;
//!   [`random`]: seeded random ones;
//! - [`fixtures`]: the fixture files under `tests/fixtures/`, and
//!   [`record_scenario`], which makes one;
//! - [`report`]: how differences are reported.
//!
//! The test kit, [`kit`]: throwaway databases per backend, ledger-server
//! in-process or as a process, the Django oracle, a private PostgreSQL
//! instance, process groups, free ports, and the naming convention of the
//! tests that need a database server or the oracle.

pub mod client;
pub mod fixtures;
pub mod kit;
pub mod model;
pub mod random;
pub mod report;
pub mod scenarios;
pub mod tokens;

use client::Client;
use fixtures::{Exchange, Fixture};
use kit::Backend;
use scenarios::Scenario;

/// Play a scenario against a server (whose database the caller has reset,
/// with `scenario.user_id_start` applied) and record every response
/// (contract headers only).
pub fn record_scenario(
    client: &Client,
    secret_key: &str,
    backend: Backend,
    scenario: &Scenario,
) -> Result<Fixture, String> {
    let mut exchanges = Vec::with_capacity(scenario.requests.len());
    for (i, req) in scenario.requests.iter().enumerate() {
        let resp = client
            .send(req)
            .map_err(|e| format!("scenario {} request #{i}: {e}\n{}", scenario.name, req.describe()))?;
        exchanges.push(Exchange { request: req.clone(), response: resp.contract_only() });
    }
    Ok(Fixture {
        secret_key: secret_key.to_string(),
        backend: backend.name().to_string(),
        scenario: scenario.name.clone(),
        user_id_start: scenario.user_id_start,
        description: scenario.description.clone(),
        exchanges,
    })
}
