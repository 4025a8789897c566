//! Times ledger-server's own bcrypt check (`auth::password::check`, the
//! function `POST /users/login` runs) for `bench/run.sh`'s bcrypt limit.
//!
//!     target/release/examples/bcrypt_cost '<stored $2b$12$ hash>' '<password>' [samples]
//!
//! Prints one JSON line: the single-thread time of each check (seconds, on
//! an otherwise idle machine), their median, and the throughput of one
//! thread per available core checking at once (how much of `cores ÷ t` the
//! machine really delivers when every core hashes).

use std::time::Instant;

use ledger_server::auth::password::check;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bcrypt_cost STORED_HASH PASSWORD [SAMPLES]");
        std::process::exit(2);
    }
    let (stored, password) = (args[1].clone(), args[2].clone());
    let samples: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(7);
    assert_eq!(check(password.as_bytes(), stored.as_bytes()), Ok(true), "the password does not match the hash");

    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let ok = check(password.as_bytes(), stored.as_bytes());
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(ok, Ok(true));
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = sorted[sorted.len() / 2];

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let per_thread = 4usize;
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
    let list: Vec<String> = times.iter().map(|t| format!("{t:.6}")).collect();
    println!(
        "{{\"implementation\": \"ledger_server::auth::password::check (bcrypt crate)\", \"cores\": {cores}, \"samples_s\": [{}], \"median_s\": {median:.6}, \"parallel_checks_per_s\": {parallel_rate:.4}}}",
        list.join(", ")
    );
}
