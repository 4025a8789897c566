//! Times the guard's database lookup alone (`Database::guard_lookup`, the
//! query `log_in_confirm` makes), with the server's own connection settings,
//! for `bench/run.sh`'s scale workload: how much of the difference between a
//! database of 1 thousand and of 1 million users is the database's own work.
//!
//!     target/release/examples/lookup_cost DATABASE_URL IDS_FILE [SECONDS]
//!
//! `IDS_FILE` holds one user id a line; they are looked up in turn, round
//! and round, on one thread and one connection, for `SECONDS` (default 3).
//! Prints one JSON line: lookups, wall and thread-CPU microseconds per lookup.

use std::time::{Duration, Instant};

use ledger_server::db::{Database, DatabaseUrl, GuardLookup};

/// CPU time consumed by the calling thread, in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec to fill; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: lookup_cost DATABASE_URL IDS_FILE [SECONDS]");
        std::process::exit(2);
    }
    let url = DatabaseUrl::parse(&args[1]).unwrap_or_else(|e| {
        eprintln!("lookup_cost: DATABASE_URL: {e}");
        std::process::exit(2)
    });
    let ids: Vec<i64> = std::fs::read_to_string(&args[2])
        .unwrap_or_else(|e| {
            eprintln!("lookup_cost: {}: {e}", args[2]);
            std::process::exit(2)
        })
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if ids.is_empty() {
        eprintln!("lookup_cost: no ids in {}", args[2]);
        std::process::exit(2);
    }
    let seconds: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let db = Database::open(&url, 1, chrono_tz::Asia::Seoul).unwrap_or_else(|e| {
        eprintln!("lookup_cost: {e}");
        std::process::exit(1)
    });
    // One pass to open the connection, then the timed passes.
    let mut found = 0usize;
    let look = |id: i64, found: &mut usize| match db.guard_lookup(id) {
        Ok(GuardLookup::NoUser) => {}
        Ok(_) => *found += 1,
        Err(e) => {
            eprintln!("lookup_cost: {e}");
            std::process::exit(1)
        }
    };
    look(ids[0], &mut found);
    let (wall0, cpu0) = (Instant::now(), thread_cpu());
    let mut lookups = 0u64;
    let limit = Duration::from_secs_f64(seconds);
    'outer: loop {
        for &id in &ids {
            look(id, &mut found);
            lookups += 1;
            if lookups % 256 == 0 && wall0.elapsed() >= limit {
                break 'outer;
            }
        }
    }
    let (wall, cpu) = (wall0.elapsed().as_secs_f64(), thread_cpu() - cpu0);
    println!(
        "{{\"lookups\": {lookups}, \"found\": {found}, \"ids\": {}, \"wall_us\": {:.3}, \"cpu_us\": {:.3}}}",
        ids.len(),
        wall * 1e6 / lookups as f64,
        cpu * 1e6 / lookups as f64
    );
}
