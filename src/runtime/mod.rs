//! Where work runs, so that nothing blocks actix's async workers:
//!
//! - [`blocking`]: a synchronous database call, on the worker's blocking
//!   threads under `SCHED_BATCH`;
//! - [`BcryptPool`]: bcrypt, on threads of its own under `SCHED_IDLE`, in
//!   an idle cgroup where one may be made ([`cgroup`]), pausing while
//!   database calls are under way ([`gate`]);
//! - [`sched`]: the scheduling policies, an `unsafe` helper;
//! - [`heap`]: freed memory given back to the kernel, another;
//! - [`sigbus`]: SIGBUS from SQLite's `-shm` mapping survived, the third;
//! - [`limits`]: the open-file limit, raised at start.
//!
//! This module imports nothing of the crate but [`crate::telemetry`] (the
//! bcrypt pool's metrics): callers map its [`Stopped`] error into their own.

mod bcrypt_pool;
#[cfg(target_os = "linux")]
pub(crate) mod cgroup;
pub(crate) mod gate;
pub(crate) mod heap;
pub(crate) mod limits;
pub(crate) mod sched;
pub(crate) mod sigbus;

pub use bcrypt_pool::Idle;
pub(crate) use bcrypt_pool::{BcryptPool, Refused};

/// The pool a job was sent to is gone (only while shutting down), or the
/// job panicked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Stopped(pub &'static str);

/// Runs `f` on the current actix worker's blocking threads, under
/// `SCHED_BATCH`, and waits for it without blocking the worker.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, Stopped>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let call = move || {
        batch_policy();
        f()
    };
    // bcrypt gives way while the call (and the database server) works
    let _busy = gate::Busy::enter();
    actix_web::web::block(call).await.map_err(|_| Stopped("a blocking database call was cancelled or panicked"))
}

/// [`sched::Policy::Batch`] for the calling blocking thread, once per thread.
fn batch_policy() {
    thread_local!(static SET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    SET.with(|set| {
        if !set.replace(true) {
            sched::set_current_thread(sched::Policy::Batch);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[actix_rt::test]
    async fn blocking_calls_run_off_the_worker_under_sched_batch() {
        let caller = std::thread::current().id();
        let ((policy, _), thread) = blocking(|| (sched::current_thread(), std::thread::current().id())).await.unwrap();
        assert_ne!(thread, caller, "the call ran on the async worker");
        assert_eq!(policy, libc::SCHED_BATCH);
        // the worker itself keeps the normal policy
        assert_eq!(sched::current_thread().0, libc::SCHED_OTHER);
    }
}
