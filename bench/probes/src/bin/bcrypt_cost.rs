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
//!
//! The same for the paired path the bcrypt pool takes when two logins
//! wait (two checks interleaved on one thread, `pybcrypt::eks2`):
//! `pair_cpu_s` is each pair's CPU time ÷ 2 (per check), and
//! `parallel_pair_checks_per_s` the checks per second with every core
//! running pairs (`per_thread` pairs each). `triple_cpu_s`,
//! `triple_median_cpu_s` and `parallel_triple_checks_per_s` are the same
//! for three checks at once (`pybcrypt::eks3`, the most the pool takes).

use std::time::Instant;

use ledger_bench_probes::thread_cpu;
use ledger_server::auth::password::{check, CheckJob};
use pycompat::pybcrypt::{eks2, eks3};

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Two checks of `password` against `stored` interleaved on this thread.
fn pair(stored: &str, password: &str) -> bool {
    let job = CheckJob::new(password.as_bytes(), stored.as_bytes()).expect("a valid hash");
    let (a, b) = eks2(job.eks(), job.eks(), &mut || ());
    job.finish(&a) && job.finish(&b)
}

/// Three checks of `password` against `stored` interleaved on this thread.
fn triple(stored: &str, password: &str) -> bool {
    let job = CheckJob::new(password.as_bytes(), stored.as_bytes()).expect("a valid hash");
    eks3(job.eks(), job.eks(), job.eks(), &mut || ()).iter().all(|raw| job.finish(raw))
}

/// Checks per second with one thread per core, each running `run`
/// `per_thread` times (`checks_per_run` checks each).
fn parallel(
    cores: usize,
    per_thread: usize,
    checks_per_run: usize,
    run: fn(&str, &str) -> bool,
    stored: &str,
    password: &str,
) -> f64 {
    let t = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let (stored, password) = (stored.to_owned(), password.to_owned());
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    assert!(run(&stored, &password));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("bcrypt thread");
    }
    (cores * per_thread * checks_per_run) as f64 / t.elapsed().as_secs_f64()
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

    let mut pair_cpu = Vec::with_capacity(samples);
    for _ in 0..samples {
        let c = thread_cpu();
        assert!(pair(&stored, &password));
        pair_cpu.push((thread_cpu() - c) / 2.0);
    }

    let mut triple_cpu = Vec::with_capacity(samples);
    for _ in 0..samples {
        let c = thread_cpu();
        assert!(triple(&stored, &password));
        triple_cpu.push((thread_cpu() - c) / 3.0);
    }

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let per_thread: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(4).max(1);
    let single = |stored: &str, password: &str| check(password.as_bytes(), stored.as_bytes()) == Ok(true);
    let parallel_rate = parallel(cores, per_thread, 1, single, &stored, &password);
    let parallel_pair_rate = parallel(cores, per_thread, 2, pair, &stored, &password);
    let parallel_triple_rate = parallel(cores, per_thread, 3, triple, &stored, &password);
    let list = |v: &[f64]| v.iter().map(|t| format!("{t:.6}")).collect::<Vec<_>>().join(", ");
    println!(
        "{{\"implementation\": \"ledger_server::auth::password::check (pycompat::pybcrypt); pairs and triples: pybcrypt::eks2, eks3\", \"cores\": {cores}, \"cpu_s\": [{}], \"wall_s\": [{}], \"median_cpu_s\": {:.6}, \"median_wall_s\": {:.6}, \"parallel_checks_per_s\": {parallel_rate:.4}, \"pair_cpu_s\": [{}], \"pair_median_cpu_s\": {:.6}, \"parallel_pair_checks_per_s\": {parallel_pair_rate:.4}, \"triple_cpu_s\": [{}], \"triple_median_cpu_s\": {:.6}, \"parallel_triple_checks_per_s\": {parallel_triple_rate:.4}}}",
        list(&cpu),
        list(&wall),
        median(&cpu),
        median(&wall),
        list(&pair_cpu),
        median(&pair_cpu),
        list(&triple_cpu),
        median(&triple_cpu)
    );
}
