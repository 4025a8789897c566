//! A dedicated, low-priority thread pool for bcrypt.
//!
//! A cost-12 bcrypt check takes a quarter of a second of CPU. Run on the
//! async workers it would stall every other request on that worker; run on
//! the general blocking pool it would compete on equal terms with the
//! cheap database work of guarded requests. So bcrypt gets its own threads,
//! one per core (more would only queue inside the kernel), and those threads
//! run under `SCHED_IDLE` (falling back to the lowest nice value): the
//! kernel gives them every cycle nothing else wants, so a login storm keeps
//! all cores busy while a guard request still finds a core at once.
//!
//! The queue never blocks anyone: a job is queued at once or refused at
//! once. It is refused ([`Refused::Busy`]) when the work already waiting
//! would make it wait longer than the pool's `max_wait` (each check's cost
//! is measured as the pool runs), so the waiting work is bounded. A job
//! whose caller has gone (the client hung up, the request was dropped) is
//! skipped when its turn comes instead of being computed for nobody.
//!
//! Besides closures ([`BcryptPool::run`]) the pool takes eksblowfish
//! computations ([`BcryptPool::eks`]): a thread that takes one while
//! others are queued takes up to three and runs them interleaved
//! ([`pycompat::pybcrypt::eks2`], `eks3`), several checks for little more
//! than the time of one, so a login storm is served faster than one check
//! at a time.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pycompat::pybcrypt::Eks;
use tokio::sync::oneshot;

use super::Stopped;
use crate::telemetry::metrics;

mod jobs;
#[cfg(test)]
mod pair_tests;

use jobs::{Call, EksTask, Job};

/// Why the pool did not run a job.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// The waiting work would keep this job waiting longer than the pool's
    /// limit; the caller may try again after `retry_after`.
    #[error("the bcrypt queue is full: a new check would wait over {limit:?}")]
    Busy { limit: Duration, retry_after: Duration },
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

const CLOSED: Stopped = Stopped("the bcrypt pool is closed");

struct Queue {
    tasks: VecDeque<Job>,
    /// Jobs on a thread now.
    running: u32,
    /// The running mean of one job's time on a thread (a pair's time
    /// counts half for each of its two jobs, a triple's a third).
    cost: Duration,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    threads: u32,
    max_wait: Duration,
    /// The idle cgroup the threads join, where one was made.
    #[cfg(target_os = "linux")]
    group: Option<super::cgroup::IdleGroup>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Stops the threads when the last handle is dropped.
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

/// Handle to the pool; cheap to clone.
#[derive(Clone)]
pub(crate) struct BcryptPool {
    handle: Arc<Handle>,
}

impl BcryptPool {
    /// Starts `threads` workers (at least one). A job is refused when the
    /// work queued before it would take the threads longer than `max_wait`,
    /// counting `first_cost` per job until the first one has been timed.
    /// Fails only if the system refuses a thread.
    #[cfg(test)]
    pub(crate) fn start(threads: usize, max_wait: Duration, first_cost: Duration) -> std::io::Result<BcryptPool> {
        BcryptPool::start_in(threads, max_wait, first_cost, Idle::Off)
    }

    fn start_in(threads: usize, max_wait: Duration, first_cost: Duration, idle: Idle) -> std::io::Result<BcryptPool> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { tasks: VecDeque::new(), running: 0, cost: first_cost, closed: false }),
            ready: Condvar::new(),
            threads: u32::try_from(threads).unwrap_or(u32::MAX),
            max_wait,
            #[cfg(target_os = "linux")]
            group: idle_group(idle),
        });
        #[cfg(not(target_os = "linux"))]
        let _ = idle;
        let pool = BcryptPool { handle: Arc::new(Handle(shared.clone())) };
        for i in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new().name(format!("bcrypt-{i}")).spawn(move || worker(&shared))?;
        }
        Ok(pool)
    }

    /// One thread per available core, in an idle cgroup when `idle` says
    /// so and one can be made; a cost-12 check is counted as 0.3 s until
    /// the first one has been timed.
    pub(crate) fn per_core(max_wait: Duration, idle: Idle) -> std::io::Result<BcryptPool> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        BcryptPool::start_in(cores, max_wait, Duration::from_millis(300), idle)
    }

    /// Runs `f` on the pool and waits for it without blocking the caller's
    /// thread; refused at once when the pool is too busy. Dropping the
    /// returned future before the job starts means it never runs.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, Refused>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Closure(Box::new(Call { f, reply, queued: Instant::now() })))?;
        answer.await.map_err(|_| CLOSED.into())
    }

    /// Runs the eksblowfish computation `eks` on the pool, interleaved
    /// with others when some are waiting: its raw hash. Refused, and abandoned
    /// when dropped, as [`BcryptPool::run`].
    pub(crate) async fn eks(&self, eks: Eks) -> Result<[u8; 24], Refused> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Eks(EksTask { eks, reply, queued: Instant::now() }))?;
        answer.await.map_err(|_| CLOSED.into())
    }

    /// Queues `job` at once, or refuses it at once.
    fn submit(&self, job: Job) -> Result<(), Refused> {
        let shared = &self.handle.0;
        {
            let mut queue = shared.lock();
            if queue.closed {
                return Err(CLOSED.into());
            }
            // Every job running or queued ahead of this one, and this one,
            // spread over the threads.
            let ahead = u32::try_from(queue.tasks.len()).unwrap_or(u32::MAX).saturating_add(queue.running);
            let wait = queue.cost.saturating_mul(ahead.saturating_add(1)) / shared.threads;
            if wait > shared.max_wait {
                let retry_after = (wait - shared.max_wait).max(Duration::from_secs(1));
                metrics::bcrypt_refused();
                return Err(Refused::Busy { limit: shared.max_wait, retry_after });
            }
            queue.tasks.push_back(job);
            metrics::bcrypt_queued(queue.tasks.len());
        }
        shared.ready.notify_one();
        Ok(())
    }
}

/// Whether the pool's threads try an idle cgroup (`BCRYPT_CGROUP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idle {
    /// Where one can be made; one line says what happened.
    Auto,
    Off,
}

#[cfg(target_os = "linux")]
fn idle_group(idle: Idle) -> Option<super::cgroup::IdleGroup> {
    if idle == Idle::Off {
        return None;
    }
    match super::cgroup::IdleGroup::create() {
        Ok(group) => {
            log::info!("bcrypt threads run in the idle cgroup {}", group.describe());
            Some(group)
        }
        Err(why) => {
            log::info!("bcrypt threads stay in the server's cgroup (no idle cgroup: {why}); they run under SCHED_IDLE and pause for cheap requests");
            None
        }
    }
}

fn worker(shared: &Shared) {
    super::sched::set_current_thread(super::sched::Policy::Idle);
    #[cfg(target_os = "linux")]
    if let Some(group) = &shared.group {
        if let Err(why) = group.join_current_thread() {
            log::warn!("a bcrypt thread could not join the idle cgroup: {why}");
        }
    }
    loop {
        let work = {
            let mut queue = shared.lock();
            loop {
                if queue.closed {
                    return;
                }
                match jobs::take(&mut queue.tasks) {
                    Some(work) => {
                        queue.running += work.jobs();
                        break work;
                    }
                    None => queue = shared.ready.wait(queue).unwrap_or_else(|e| e.into_inner()),
                }
            }
        };
        let jobs = work.jobs();
        let started = Instant::now();
        // eksblowfish gives way to cheap requests between its rounds
        work.run(&mut super::gate::pause_point);
        let per_job = started.elapsed() / jobs.max(1);
        let mut queue = shared.lock();
        queue.running -= jobs;
        // A running mean that follows the machine's speed within ~8 jobs.
        for _ in 0..jobs {
            queue.cost = (queue.cost * 7 + per_job) / 8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn runs_jobs_off_the_caller_thread() {
        let hasher = BcryptPool::start(2, Duration::from_secs(10), Duration::from_millis(1)).unwrap();
        let caller = std::thread::current().id();
        let (value, thread) = hasher.run(|| (6 * 7, std::thread::current().id())).await.unwrap();
        assert_eq!(value, 42);
        assert_ne!(thread, caller);
        let name = hasher.run(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert!(name.unwrap().starts_with("bcrypt-"));
    }

    #[cfg(target_os = "linux")]
    #[actix_rt::test]
    async fn workers_run_at_idle_priority() {
        let hasher = BcryptPool::start(1, Duration::from_secs(10), Duration::from_millis(1)).unwrap();
        let (policy, nice) = hasher.run(super::super::sched::current_thread).await.unwrap();
        assert!(policy == libc::SCHED_IDLE || nice == 19, "policy {policy}, nice {nice}");
    }

    /// A job whose caller went away before its turn is skipped.
    #[actix_rt::test]
    async fn an_abandoned_job_is_skipped() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let pool = BcryptPool::start(1, Duration::from_secs(10), Duration::from_millis(1)).unwrap();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let p = pool.clone();
        let blocker = actix_rt::spawn(async move { p.run(move || hold.recv().is_ok()).await });
        // wait until the one thread is busy with the blocker
        while pool.handle.0.lock().running == 0 {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let p = pool.clone();
        let abandoned = actix_rt::spawn(async move { p.run(move || flag.store(true, Ordering::SeqCst)).await });
        actix_rt::time::sleep(Duration::from_millis(20)).await;
        abandoned.abort();
        let _ = abandoned.await;
        release.send(()).unwrap();
        assert!(blocker.await.unwrap().unwrap());
        // the next job runs, the abandoned one did not
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job was computed");
    }

    /// The waiting work is bounded: a job that would wait longer than the
    /// limit is refused at once, without blocking the caller.
    #[actix_rt::test]
    async fn a_job_that_would_wait_too_long_is_refused_at_once() {
        // one thread, 100 ms a job, at most 350 ms of waiting: three fit
        let pool = BcryptPool::start(1, Duration::from_millis(350), Duration::from_millis(100)).unwrap();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        let mut queued = Vec::new();
        for _ in 0..3 {
            let (hold, p) = (hold.clone(), pool.clone());
            queued.push(actix_rt::spawn(async move {
                p.run(move || {
                    let _ = hold.lock().unwrap().recv();
                })
                .await
            }));
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let refused = pool.run(|| ()).await;
        assert!(started.elapsed() < Duration::from_millis(50), "the refusal waited");
        assert!(matches!(refused, Err(Refused::Busy { .. })), "{refused:?}");
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for job in queued {
            job.await.unwrap().unwrap();
        }
        // once the queue has drained, jobs are taken again
        pool.run(|| ()).await.unwrap();
    }
}
