//! Records the contract fixtures (`tests/fixtures/<backend>/*.json`) from
//! the Django original, on SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! By default it creates a throwaway database on each backend (`--backend
//! sqlite|postgres|mysql|all`, default all; the servers come from
//! `LEDGER_TEST_PG_URL` and `LEDGER_TEST_MYSQL_URL`), starts the oracle
//! itself (`../shared/reference/run.sh`, or `$LEDGER_ORACLE_DIR/run.sh`) on
//! it with the fixture secret key, plays every named scenario plus the
//! seeded random ones (resetting the database between scenarios) and
//! writes one fixture file per scenario. `--target URL --db DATABASE`
//! records against a Django that is already running: DATABASE is its
//! SQLite file or the `postgres://…/db` / `mysql://…/db` URL of its
//! database (needed for the resets; `--secret-key` must be that server's key).

use clap::Parser;
use ledger_contract::client::Client;
use ledger_contract::kit::{Backend, Oracle, TestDb};
use ledger_contract::scenarios::{self, Scenario, FIXTURE_SECRET_KEY};
use ledger_contract::{fixtures, random, record_scenario, tokens};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(name = "ledger-record", about = "Record contract fixtures from the Django original")]
struct Args {
    /// Backend(s) to record on: sqlite, postgres, mysql or all (repeat or separate with commas)
    #[arg(long, value_delimiter = ',', default_value = "all")]
    backend: Vec<String>,
    /// Record against a running Django at this URL (e.g. http://127.0.0.1:8011) instead of starting the oracle
    #[arg(long, requires = "db")]
    target: Option<String>,
    /// The database of the --target server (emptied between scenarios): a SQLite path, or postgres://…/DB or mysql://…/DB
    #[arg(long, requires = "target")]
    db: Option<String>,
    /// Secret key the tokens are signed with (with --target: that server's REF_SECRET_KEY)
    #[arg(long, default_value = FIXTURE_SECRET_KEY)]
    secret_key: String,
    /// Record only these scenarios (repeat the flag or separate names with commas)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Fixture root directory; files go to OUT/<backend>/ (default: tests/fixtures of this repository)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of the recorded random scenarios
    #[arg(long, default_value_t = 1)]
    random_seed: u64,
    /// Number of recorded random requests (0: none)
    #[arg(long, default_value_t = 150)]
    random_cases: usize,
    /// Random requests per random scenario
    #[arg(long, default_value_t = 50)]
    random_per_scenario: usize,
    /// List the scenario names and exit
    #[arg(long)]
    list: bool,
}

fn parse_target(url: &str) -> Result<SocketAddr, String> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let hostport = rest.split('/').next().unwrap_or(rest);
    hostport
        .to_socket_addrs()
        .map_err(|e| format!("bad --target {url:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--target {url:?} resolves to nothing"))
}

/// Login tokens in the responses must verify with our key, or the key is wrong.
fn check_tokens(fx: &fixtures::Fixture, key: &str) -> Result<(), String> {
    for ex in &fx.exchanges {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&ex.response.body) else { continue };
        if let Some(t) = v.get("access_token").and_then(|t| t.as_str()) {
            let Some((input, sig)) = t.rsplit_once('.') else { continue };
            if tokens::mac(key, jsonwebtoken::Algorithm::HS256, input.as_bytes()) != sig {
                return Err(format!(
                    "scenario {}: the server's token {t} is not signed with --secret-key {key:?}",
                    fx.scenario
                ));
            }
        }
    }
    Ok(())
}

fn backends(args: &Args) -> Result<Vec<Backend>, String> {
    let mut out = Vec::new();
    for b in &args.backend {
        if b.trim() == "all" {
            out.extend(Backend::ALL);
        } else {
            out.push(
                Backend::parse(b).ok_or_else(|| format!("unknown --backend {b:?} (sqlite, postgres, mysql, all)"))?,
            );
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn run(args: Args) -> Result<(), String> {
    let key = args.secret_key.clone();
    let mut list: Vec<Scenario> = scenarios::all(&key);
    if args.random_cases > 0 {
        list.extend(random::scenarios(&key, args.random_seed, args.random_cases, args.random_per_scenario));
    }
    if args.list {
        for s in &list {
            println!("{} ({} requests): {}", s.name, s.requests.len(), s.description);
        }
        return Ok(());
    }
    if !args.only.is_empty() {
        for name in &args.only {
            if !list.iter().any(|s| &s.name == name) {
                return Err(format!("unknown scenario {name:?} (see --list)"));
            }
        }
        list.retain(|s| args.only.contains(&s.name));
    }
    let root = args.out.clone().unwrap_or_else(fixtures::default_dir);
    let started = Instant::now();
    let mut summaries = Vec::new();
    match (&args.target, &args.db) {
        (Some(t), Some(db)) => {
            let db = TestDb::existing(db)?;
            let wanted = backends(&args)?;
            if args.backend != ["all"] && wanted != [db.backend] {
                return Err(format!("--db is a {} database but --backend says {:?}", db.backend, args.backend));
            }
            let addr = parse_target(t)?;
            summaries.push(record_backend(&args, &list, &key, &root, &db, addr)?);
        }
        _ => {
            for backend in backends(&args)? {
                let db = TestDb::create(backend, "record")?;
                let tmp = tempfile::Builder::new()
                    .prefix("ledger-record-")
                    .tempdir()
                    .map_err(|e| format!("create a temp dir: {e}"))?;
                let log = tmp.path().join("oracle.log");
                eprintln!("{backend}: starting the Django oracle on {} (log {})", db.name, log.display());
                let oracle = Oracle::start_on(&key, &db, &log)?;
                eprintln!("{backend}: oracle on {}", oracle.addr);
                let summary = record_backend(&args, &list, &key, &root, &db, oracle.addr);
                drop(oracle);
                drop(db);
                summaries.push(summary?);
            }
        }
    }
    for line in summaries {
        println!("{line}");
    }
    println!("done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Records every scenario of `list` on one backend; returns a summary line.
fn record_backend(
    args: &Args,
    list: &[Scenario],
    key: &str,
    root: &Path,
    db: &TestDb,
    addr: SocketAddr,
) -> Result<String, String> {
    let backend = db.backend;
    let out = root.join(backend.name());
    let client = Client::new(addr);
    let started = Instant::now();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut total = 0;
    eprintln!("{backend}: recording {} scenarios", list.len());
    for (done, s) in list.iter().enumerate() {
        db.reset(s.user_id_start)?;
        let t = Instant::now();
        let fx = record_scenario(&client, key, backend, s)?;
        check_tokens(&fx, key)?;
        for ex in &fx.exchanges {
            *statuses.entry(ex.response.status).or_default() += 1;
        }
        total += fx.exchanges.len();
        let path = fixtures::write(&out, &fx)?;
        // One progress line per scenario, as it ends.
        println!(
            "{:<8} [{}/{}] {:<36} {:>4} exchanges  {:>6.1}s  ({:.1}s in all)  {}",
            backend.name(),
            done + 1,
            list.len(),
            s.name,
            fx.exchanges.len(),
            t.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64(),
            path.display()
        );
        std::io::Write::flush(&mut std::io::stdout()).map_err(|e| format!("stdout: {e}"))?;
    }
    db.reset(None)?;
    if args.only.is_empty() {
        let known: Vec<String> = list.iter().map(|s| format!("{}.json", s.name)).collect();
        if let Ok(rd) = std::fs::read_dir(&out) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.ends_with(".json") && !known.contains(&name) {
                    println!("warning: stale fixture {} (no such scenario now)", e.path().display());
                }
            }
        }
    }
    let hist: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    Ok(format!(
        "{backend}: recorded {} scenarios, {} exchanges in {:.1}s ({})",
        list.len(),
        total,
        started.elapsed().as_secs_f64(),
        hist.join(", ")
    ))
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-record: {e}");
            ExitCode::FAILURE
        }
    }
}
