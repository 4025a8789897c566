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

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::Stopped;

const CLOSED: Stopped = Stopped("the bcrypt pool is closed");

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Handle to the pool; cheap to clone.
#[derive(Clone)]
pub(crate) struct BcryptPool {
    queue: SyncSender<Job>,
}

impl BcryptPool {
    /// Starts `threads` workers (at least one); fails only if the system
    /// refuses a thread.
    pub(crate) fn start(threads: usize) -> std::io::Result<BcryptPool> {
        // Plenty of room: a full queue only delays the caller's task.
        let (queue, jobs) = sync_channel::<Job>(4096);
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new().name(format!("bcrypt-{i}")).spawn(move || worker(jobs))?;
        }
        Ok(BcryptPool { queue })
    }

    /// One thread per available core.
    pub(crate) fn per_core() -> std::io::Result<BcryptPool> {
        BcryptPool::start(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }

    /// Runs `f` on the pool and waits for it without blocking the caller's thread.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, Stopped>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        let queue = self.queue.clone();
        // `send` blocks only when 4096 jobs are waiting; keep even that off
        // the async worker.
        match queue.try_send(job) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(job)) => {
                actix_web::web::block(move || queue.send(job)).await.map_err(|_| CLOSED)?.map_err(|_| CLOSED)?
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Err(CLOSED),
        }
        rx.await.map_err(|_| CLOSED)
    }
}

fn worker(jobs: Arc<Mutex<Receiver<Job>>>) {
    super::sched::set_current_thread(super::sched::Policy::Idle);
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn runs_jobs_off_the_caller_thread() {
        let hasher = BcryptPool::start(2).unwrap();
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
        let hasher = BcryptPool::start(1).unwrap();
        let (policy, nice) = hasher.run(super::super::sched::current_thread).await.unwrap();
        assert!(policy == libc::SCHED_IDLE || nice == 19, "policy {policy}, nice {nice}");
    }
}
