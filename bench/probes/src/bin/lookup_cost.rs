//! Times the database work of the guard and of logout alone, with the
//! server's own code and connection settings, for `bench/run.sh`'s scale
//! workload: how much of the difference between a database of 1 thousand
//! and of 1 million users is the database's own work.
//!
//!     target/release/lookup_cost DATABASE_URL IDS_FILE [SECONDS]
//!     target/release/lookup_cost --logout DATABASE_URL IDS_FILE
//!     target/release/lookup_cost --mmap BYTES DATABASE_URL IDS_FILE [SECONDS]
//!
//! Guard: `IDS_FILE` holds one user id a line; `Database::guard_lookup` (the
//! query `log_in_confirm` makes) looks them up in turn, round and round, on
//! one thread and one connection, for `SECONDS` (default 3). `--mmap` sets
//! `SQLITE_MMAP_SIZE` (SQLite only): with the whole file mapped and one
//! untimed pass over the ids first, no lookup makes a system call or copies
//! a page, and what the big database still costs more is the memory itself.
//!
//! `--logout` (it deletes rows: give it a copy): each user's logout as the
//! server does it, `guard_lookup` for every id, then `delete_token`, 32 at
//! a time as 32 connections would (on SQLite through the group commit).
//!
//! Prints one JSON line: operations, wall and thread-CPU microseconds per
//! operation (the CPU of the calling thread only: the group commit's thread
//! is not in it; wall time is); `--logout` adds the reads' and the
//! deletions' wall time per logout apart (`read_wall_us`, `delete_wall_us`),
//! the reads' thread CPU (`read_cpu_us`) and the deletions' CPU in the whole
//! process, the commit thread and the checkpoint after the last commit
//! included (`delete_process_cpu_us`).

use std::time::{Duration, Instant};

use ledger_bench_probes::{process_cpu, thread_cpu};
use ledger_server::db::{DatabaseUrl, GuardLookup, Store, TokenRows};

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let logout = args.get(1).is_some_and(|a| a == "--logout");
    if logout {
        args.remove(1);
    }
    let mut mmap = 0u64;
    if args.get(1).is_some_and(|a| a == "--mmap") && args.len() > 2 {
        mmap = args[2].parse().unwrap_or_else(|_| {
            eprintln!("lookup_cost: --mmap takes a number of bytes");
            std::process::exit(2)
        });
        args.drain(1..3);
    }
    if args.len() < 3 {
        eprintln!("usage: lookup_cost [--logout | --mmap BYTES] DATABASE_URL IDS_FILE [SECONDS]");
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
    let db = Store::open(&url, 2, chrono_tz::Asia::Seoul, mmap).unwrap_or_else(|e| {
        eprintln!("lookup_cost: {e}");
        std::process::exit(1)
    });
    // As the server starts: pending migrations (none on a served database)
    // and, on SQLite, WAL mode, which a database Django made is not in yet.
    if let Err(e) = db.migrate() {
        eprintln!("lookup_cost: {e}");
        std::process::exit(1)
    }
    if logout {
        logouts(&db, &ids);
        return;
    }
    // One pass to open the connection (a whole pass when mapping, so that
    // every page is mapped), then the timed passes.
    let mut found = 0usize;
    let look = |id: i64, found: &mut usize| match db.guard_lookup(id) {
        Ok(GuardLookup::NoUser) => {}
        Ok(_) => *found += 1,
        Err(e) => {
            eprintln!("lookup_cost: {e}");
            std::process::exit(1)
        }
    };
    for &id in if mmap > 0 { &ids[..] } else { &ids[..1] } {
        look(id, &mut found);
    }
    found = 0;
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

/// Each id's logout, as the server makes it: the guard's read of every
/// session first, then the deletions, 32 at a time (as 32 connections make
/// them; on SQLite through the group commit, one transaction each). The two
/// phases are timed apart: SQLite has one writer at a time, so the
/// deletions' wall time is a floor under any server's burst time.
fn logouts(db: &Store, ids: &[i64]) {
    let fail = |e: &dyn std::fmt::Display| -> ! {
        eprintln!("lookup_cost: {e}");
        std::process::exit(1)
    };
    let (wall0, cpu0) = (Instant::now(), thread_cpu());
    let tokens: Vec<i64> = ids
        .iter()
        .map(|&id| match db.guard_lookup(id) {
            Ok(GuardLookup::User(_, TokenRows::One(token))) => token,
            Ok(other) => fail(&format!("user {id} has no single session: {other:?}")),
            Err(e) => fail(&e),
        })
        .collect();
    let (read_wall, read_cpu) = (wall0.elapsed().as_secs_f64(), thread_cpu() - cpu0);
    let (wall1, cpu1, all1) = (Instant::now(), thread_cpu(), process_cpu());
    for chunk in tokens.chunks(32) {
        // SQLite: queued together, committed together, as concurrent requests are.
        db.delete_tokens(chunk).unwrap_or_else(|e| fail(&e));
    }
    let (delete_wall, delete_cpu) = (wall1.elapsed().as_secs_f64(), thread_cpu() - cpu1);
    // The background checkpoint of the last commits runs a few ms later:
    // wait for it, idle, so that the deletions' CPU includes copying their
    // pages into the database file.
    std::thread::sleep(Duration::from_millis(200));
    let delete_all_cpu = process_cpu() - all1;
    let n = tokens.len() as f64;
    println!(
        "{{\"logouts\": {}, \"wall_us\": {:.3}, \"cpu_us\": {:.3}, \"read_wall_us\": {:.3}, \"delete_wall_us\": {:.3}, \
         \"read_cpu_us\": {:.3}, \"delete_process_cpu_us\": {:.3}}}",
        tokens.len(),
        (read_wall + delete_wall) * 1e6 / n,
        (read_cpu + delete_cpu) * 1e6 / n,
        read_wall * 1e6 / n,
        delete_wall * 1e6 / n,
        read_cpu * 1e6 / n,
        delete_all_cpu * 1e6 / n
    );
}
