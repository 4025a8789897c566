//! What the probes share: CPU clocks.

use nix::time::{clock_gettime, ClockId};

fn seconds(clock: ClockId) -> f64 {
    // These clocks exist on every Linux; a failure would be a kernel bug.
    clock_gettime(clock).map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9).unwrap_or(f64::NAN)
}

/// CPU time consumed by the calling thread, in seconds.
pub fn thread_cpu() -> f64 {
    seconds(ClockId::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time consumed by the whole process (every thread), in seconds.
pub fn process_cpu() -> f64 {
    seconds(ClockId::CLOCK_PROCESS_CPUTIME_ID)
}
