//! What the bcrypt pool queues: closures, and eksblowfish computations
//! that a thread runs two or three at a time when several are waiting
//! ([`pybcrypt::eks2`], [`pybcrypt::eks3`]: independent dependency chains
//! in flight on one core cost little more than one).

use std::collections::VecDeque;
use std::time::Instant;

use pycompat::pybcrypt::{self, Eks};
use tokio::sync::oneshot;

use crate::telemetry::metrics;

/// The most eksblowfish jobs one thread runs interleaved. Measured at
/// cost 12 on a 2-core AMD EPYC VM: one check 0.185 s of CPU, a pair
/// 0.094 s per check, a triple 0.065 s per check.
pub(super) const WIDTH: usize = 3;

/// A queued closure, with a way to tell that nobody waits for it any more.
pub(super) trait Task: Send {
    fn abandoned(&self) -> bool;
    fn queued_at(&self) -> Instant;
    fn run(self: Box<Self>);
}

pub(super) struct Call<F, T> {
    pub(super) f: F,
    pub(super) reply: oneshot::Sender<T>,
    pub(super) queued: Instant,
}

impl<F: FnOnce() -> T + Send, T: Send> Task for Call<F, T> {
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn queued_at(&self) -> Instant {
        self.queued
    }

    fn run(self: Box<Self>) {
        let result = (self.f)();
        // counted before the caller can see the result (and read the metric)
        metrics::bcrypt_done();
        let _ = self.reply.send(result);
    }
}

/// A queued eksblowfish computation; the caller gets the raw hash.
pub(super) struct EksTask {
    pub(super) eks: Eks,
    pub(super) reply: oneshot::Sender<[u8; 24]>,
    pub(super) queued: Instant,
}

/// One entry of the queue.
pub(super) enum Job {
    Closure(Box<dyn Task>),
    Eks(EksTask),
}

impl Job {
    fn abandoned(&self) -> bool {
        match self {
            Job::Closure(task) => task.abandoned(),
            Job::Eks(task) => task.reply.is_closed(),
        }
    }

    fn queued_at(&self) -> Instant {
        match self {
            Job::Closure(task) => task.queued_at(),
            Job::Eks(task) => task.queued,
        }
    }
}

/// What a thread takes from the queue at once.
pub(super) enum Work {
    Closure(Box<dyn Task>),
    /// One to [`WIDTH`] eksblowfish jobs, run interleaved.
    Eks(Vec<EksTask>),
}

impl Work {
    /// How many jobs this is.
    pub(super) fn jobs(&self) -> u32 {
        match self {
            Work::Closure(_) => 1,
            Work::Eks(tasks) => u32::try_from(tasks.len()).unwrap_or(u32::MAX),
        }
    }

    /// Runs it, `pause()` between the expensive rounds of eksblowfish.
    pub(super) fn run(self, pause: &mut dyn FnMut()) {
        match self {
            Work::Closure(task) => task.run(),
            Work::Eks(tasks) => {
                let raws: Vec<[u8; 24]> = match tasks.as_slice() {
                    [a, b] => {
                        let (ra, rb) = pybcrypt::eks2(&a.eks, &b.eks, pause);
                        vec![ra, rb]
                    }
                    [a, b, c] => pybcrypt::eks3(&a.eks, &b.eks, &c.eks, pause).to_vec(),
                    _ => tasks.iter().map(|task| task.eks.run(pause)).collect(),
                };
                for (task, raw) in tasks.into_iter().zip(raws) {
                    metrics::bcrypt_done();
                    let _ = task.reply.send(raw);
                }
            }
        }
    }
}

/// The next work in `tasks`, skipping jobs nobody waits for: the first
/// job, and when it is an eksblowfish job, up to [`WIDTH`] − 1 more of
/// the eksblowfish jobs queued behind it.
pub(super) fn take(tasks: &mut VecDeque<Job>) -> Option<Work> {
    loop {
        let job = tasks.pop_front()?;
        metrics::bcrypt_queued(tasks.len());
        if job.abandoned() {
            continue;
        }
        metrics::bcrypt_started(job.queued_at().elapsed());
        let first = match job {
            Job::Closure(task) => return Some(Work::Closure(task)),
            Job::Eks(task) => task,
        };
        let mut group = vec![first];
        while group.len() < WIDTH {
            let Some(at) = tasks.iter().position(|job| matches!(job, Job::Eks(_))) else { break };
            let Some(Job::Eks(task)) = tasks.remove(at) else { break };
            metrics::bcrypt_queued(tasks.len());
            if !task.reply.is_closed() {
                metrics::bcrypt_started(task.queued.elapsed());
                group.push(task);
            }
        }
        return Some(Work::Eks(group));
    }
}
