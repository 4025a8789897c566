//! Eksblowfish jobs on the pool: paired when two wait, results unchanged.

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
    assert_eq!(pool.handle.0.lock().running, 0);
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
    let queue = pool.handle.0.lock();
    assert!(queue.tasks.is_empty() && queue.running == 0);
}

/// A pair's time counts half for each of its jobs: the waiting work is
/// estimated per job.
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
    let after_blocker = pool.handle.0.lock().cost;
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    while pool.handle.0.lock().running > 0 {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    // two updates of the mean with a cost-4 job's share (about a
    // millisecond), from about 7/8 s: about 49/64 of it
    let cost = pool.handle.0.lock().cost;
    let expected = after_blocker * 49 / 64;
    assert!(cost <= expected + Duration::from_millis(20) && cost + Duration::from_millis(20) >= expected, "{cost:?}");
}
