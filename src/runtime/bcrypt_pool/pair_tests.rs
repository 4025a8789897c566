//! Eksblowfish jobs on the pool: paired (or three together) when several
//! wait, results unchanged.

use super::*;

fn job(cost: u32, seed: u8) -> Eks {
    Eks::new(cost, &[seed; 16], &[b'p', seed, b'w'])
}

/// Blocks the pool's one thread until the returned sender sends.
async fn block(pool: &BcryptPool) -> (std::sync::mpsc::Sender<()>, actix_rt::task::JoinHandle<Result<bool, Refused>>) {
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let p = pool.clone();
    let blocker = actix_rt::spawn(async move { p.run(move || hold.recv().is_ok()).await });
    while pool.handle.0.lock().running == 0 {
        actix_rt::time::sleep(Duration::from_millis(2)).await;
    }
    (release, blocker)
}

/// Jobs running and queued.
fn load(pool: &BcryptPool) -> (u32, usize) {
    let queue = pool.handle.0.lock();
    (queue.running, queue.tasks.len())
}

/// Waits until the pool's threads are done (the answers come first).
async fn settle(pool: &BcryptPool) {
    for _ in 0..1_000 {
        if load(pool) == (0, 0) {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the pool did not settle");
}

#[actix_rt::test]
async fn two_waiting_checks_run_as_a_pair_with_the_same_results() {
    let pool = BcryptPool::start(1, Duration::from_secs(60), Duration::from_millis(1)).unwrap();
    let (release, blocker) = block(&pool).await;
    let (a, b) = (job(9, 1), job(7, 2));
    let (pa, pb) = (pool.clone(), pool.clone());
    let first = actix_rt::spawn(async move { pa.eks(a).await });
    let second = actix_rt::spawn(async move { pb.eks(b).await });
    while pool.handle.0.lock().tasks.len() < 2 {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    release.send(()).unwrap();
    assert!(blocker.await.unwrap().unwrap());
    // one thread, two jobs running: a pair
    let mut paired = false;
    for _ in 0..2_000 {
        if pool.handle.0.lock().running == 2 {
            paired = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_micros(500)).await;
    }
    assert!(paired, "the two checks were not taken together");
    assert_eq!(first.await.unwrap().unwrap(), a.run(&mut || ()));
    assert_eq!(second.await.unwrap().unwrap(), b.run(&mut || ()));
    settle(&pool).await;
    // alone, a check runs alone
    assert_eq!(pool.eks(job(4, 3)).await.unwrap(), job(4, 3).run(&mut || ()));
}

#[actix_rt::test]
async fn an_abandoned_check_is_not_paired() {
    let pool = BcryptPool::start(1, Duration::from_secs(60), Duration::from_millis(1)).unwrap();
    let (release, blocker) = block(&pool).await;
    let spawn = |eks: Eks| {
        let p = pool.clone();
        actix_rt::spawn(async move { p.eks(eks).await })
    };
    let (first, gone) = (spawn(job(8, 1)), spawn(job(8, 2)));
    // a closure between them does not stop the pairing
    let p = pool.clone();
    let closure = actix_rt::spawn(async move { p.run(|| 7).await });
    let third = spawn(job(8, 3));
    while pool.handle.0.lock().tasks.len() < 4 {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    gone.abort();
    let _ = gone.await;
    release.send(()).unwrap();
    assert!(blocker.await.unwrap().unwrap());
    assert_eq!(first.await.unwrap().unwrap(), job(8, 1).run(&mut || ()));
    assert_eq!(third.await.unwrap().unwrap(), job(8, 3).run(&mut || ()));
    assert_eq!(closure.await.unwrap().unwrap(), 7);
    settle(&pool).await;
}

/// A pair counts as two jobs in the running mean of a job's cost (each
/// with half the pair's time).
#[actix_rt::test]
async fn a_pair_is_accounted_per_job() {
    let pool = BcryptPool::start(1, Duration::from_secs(60), Duration::from_secs(1)).unwrap();
    let (release, blocker) = block(&pool).await;
    let spawn = |eks: Eks| {
        let p = pool.clone();
        actix_rt::spawn(async move { p.eks(eks).await })
    };
    let (a, b) = (spawn(job(4, 1)), spawn(job(4, 2)));
    while pool.handle.0.lock().tasks.len() < 2 {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    settle(&pool).await;
    // three updates of the mean, from 1 s, with jobs of a few
    // milliseconds: about (7/8)^3 s = 670 ms (two updates would be 766)
    let cost = pool.handle.0.lock().cost;
    assert!(cost > Duration::from_millis(660) && cost < Duration::from_millis(720), "{cost:?}");
}

#[actix_rt::test]
async fn three_waiting_checks_run_together_a_fourth_waits() {
    let pool = BcryptPool::start(1, Duration::from_secs(60), Duration::from_millis(1)).unwrap();
    let (release, blocker) = block(&pool).await;
    let spawn = |eks: Eks| {
        let p = pool.clone();
        actix_rt::spawn(async move { p.eks(eks).await })
    };
    let jobs: Vec<Eks> = (1..=4).map(|i| job(8 + u32::from(i % 2), i)).collect();
    let waiting: Vec<_> = jobs.iter().map(|&eks| spawn(eks)).collect();
    while pool.handle.0.lock().tasks.len() < 4 {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    let mut seen = (0, 0);
    for _ in 0..4_000 {
        let (running, queued) = load(&pool);
        if running == 3 {
            seen = (running, queued);
            break;
        }
        actix_rt::time::sleep(Duration::from_micros(250)).await;
    }
    assert_eq!(seen, (3, 1), "three taken together, the fourth left queued");
    for (eks, answer) in jobs.iter().zip(waiting) {
        assert_eq!(answer.await.unwrap().unwrap(), eks.run(&mut || ()));
    }
}
