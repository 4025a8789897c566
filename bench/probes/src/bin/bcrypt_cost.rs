//! Times ledger-server's own bcrypt check (`auth::password::check`, the
//! function `POST /users/login` runs) for `bench/run.sh`'s bcrypt limit.
//!
//!     target/release/bcrypt_cost '<stored $2b$12$ hash>' '<password>' [samples] [per_thread]
//!
//! Prints one JSON line: for each of `samples` checks (default 7) the CPU
//! time of the checking thread (`CLOCK_THREAD_CPUTIME_ID`, unaffected by
//! other programs competing for the cores) and the wall time, their
//! medians, and the throughput of one thread per available core checking
//! at once, `per_thread` checks each (default 4): how much of `cores ÷ t`
//! the machine delivers when every core hashes, other programs included.

use std::time::Instant;

use ledger_bench_probes::thread_cpu;
use ledger_server::auth::password::check;

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bcrypt_cost STORED_HASH PASSWORD [SAMPLES] [PER_THREAD]");
        std::process::exit(2);
    }
    let (stored, password) = (args[1].clone(), args[2].clone());
    let samples: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(7).max(1);
    assert_eq!(check(password.as_bytes(), stored.as_bytes()), Ok(true), "the password does not match the hash");

    let (mut cpu, mut wall) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    for _ in 0..samples {
        let (c, t) = (thread_cpu(), Instant::now());
        let ok = check(password.as_bytes(), stored.as_bytes());
        wall.push(t.elapsed().as_secs_f64());
        cpu.push(thread_cpu() - c);
        assert_eq!(ok, Ok(true));
    }

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let per_thread: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(4).max(1);
    let t = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let (stored, password) = (stored.clone(), password.clone());
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    assert_eq!(check(password.as_bytes(), stored.as_bytes()), Ok(true));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("bcrypt thread");
    }
    let parallel_rate = (cores * per_thread) as f64 / t.elapsed().as_secs_f64();
    let list = |v: &[f64]| v.iter().map(|t| format!("{t:.6}")).collect::<Vec<_>>().join(", ");
    println!(
        "{{\"implementation\": \"ledger_server::auth::password::check (bcrypt crate)\", \"cores\": {cores}, \"cpu_s\": [{}], \"wall_s\": [{}], \"median_cpu_s\": {:.6}, \"median_wall_s\": {:.6}, \"parallel_checks_per_s\": {parallel_rate:.4}}}",
        list(&cpu),
        list(&wall),
        median(&cpu),
        median(&wall)
    );
}
