//! Scheduling policy for the server's own threads: one of the places that
//! calls into the kernel with `unsafe`.
//!
//! - Database calls run on [`Policy::Batch`] threads: a woken batch thread
//!   does not preempt the async worker that handed it a call; it runs when
//!   that worker waits, by which time the worker has usually queued more
//!   calls, so one wake-up serves several requests (measured on the guard:
//!   half the context switches, 5–15 % less CPU per request). It still
//!   preempts the idle bcrypt threads at once.
//! - bcrypt runs on [`Policy::Idle`] threads: the kernel gives them every
//!   cycle nothing else wants, so a login storm keeps all cores busy while
//!   a cheap request still finds a core at once. Where `SCHED_IDLE` is
//!   refused, the thread gets the lowest nice value instead.

/// A policy for the calling thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// `SCHED_BATCH`: normal share, but no wake-up preemption.
    Batch,
    /// `SCHED_IDLE` (else nice 19): only what nothing else wants.
    Idle,
}

/// Puts the calling thread under `policy`. Best effort: a kernel that
/// refuses leaves the thread as it was (the server works, only less
/// politely), so nothing is returned.
#[allow(unsafe_code)]
pub(crate) fn set_current_thread(policy: Policy) {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        let which = match policy {
            Policy::Batch => libc::SCHED_BATCH,
            Policy::Idle => libc::SCHED_IDLE,
        };
        // SAFETY: `param` is a valid sched_param that outlives the call;
        // pid 0 is the calling thread.
        let refused = unsafe { libc::sched_setscheduler(0, which, &param) } != 0;
        if refused && policy == Policy::Idle {
            // SAFETY: plain system calls on the calling thread's own id.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, 19);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = policy;
}

/// The calling thread's policy and nice value, as the kernel reports them
/// (`sched_getscheduler`, `getpriority`): for the tests.
#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code)]
pub(crate) fn current_thread() -> (libc::c_int, libc::c_int) {
    // SAFETY: plain queries about the calling thread.
    unsafe { (libc::sched_getscheduler(0), libc::getpriority(libc::PRIO_PROCESS, 0)) }
}
