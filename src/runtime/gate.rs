//! bcrypt gives way to the database: the cooperative half of keeping a
//! login storm from delaying cheap requests.
//!
//! `SCHED_IDLE` ranks the bcrypt threads below the server's other threads,
//! so an async worker or a database thread of the server that wakes takes
//! the core at once. But it ranks them only inside the server's own
//! scheduling group: against other processes, above all the database
//! server a query waits for (PostgreSQL's backend, MariaDB's thread), the
//! bcrypt threads take a full share, and a guard request waits for a slice.
//! So every database call counts itself here while it is under way
//! ([`Busy`], in [`super::blocking`]), and the bcrypt key schedule calls
//! [`pause_point`] between its rounds (about every 65 µs at cost 12):
//! while any call is under way, the bcrypt thread parks and the cores go to
//! the calls and to the database server.
//!
//! Only database calls count, not whole requests: a request also waits for
//! its client (a slow upload, an unread answer) and for the front door's
//! upstream, and one slow client must not slow every login down.
//! A pause is bounded ([`MAX_PAUSE`]): under unbroken database load bcrypt
//! still advances by one round per pause, so logins slow down but never
//! stop. While nothing else runs, a pause point costs one relaxed load.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Database calls under way.
static BUSY: AtomicUsize = AtomicUsize::new(0);

/// Whether bcrypt yields at all (`BCRYPT_YIELD`, on by default).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// The longest one pause lasts before bcrypt runs one more round.
pub(crate) const MAX_PAUSE: Duration = Duration::from_millis(4);

/// How long a parked bcrypt thread sleeps between looks at the count.
const NAP: Duration = Duration::from_micros(40);

/// Turns yielding on or off (`BCRYPT_YIELD`; also on SIGHUP).
pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether bcrypt yields now.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Held while a database call is under way.
#[must_use]
pub(crate) struct Busy(());

impl Busy {
    pub(crate) fn enter() -> Busy {
        BUSY.fetch_add(1, Ordering::Relaxed);
        Busy(())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Called by the bcrypt key schedule between rounds: parks the calling
/// thread while database calls are under way, for at most [`MAX_PAUSE`].
pub(crate) fn pause_point() {
    pause_for(MAX_PAUSE);
}

fn pause_for(longest: Duration) {
    if BUSY.load(Ordering::Relaxed) == 0 || !enabled() {
        return;
    }
    let until = Instant::now() + longest;
    while BUSY.load(Ordering::Relaxed) > 0 && Instant::now() < until {
        std::thread::sleep(NAP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: BUSY and ENABLED are process-wide (nextest runs each test
    // in a process of its own).
    #[test]
    fn a_pause_lasts_while_database_calls_run_and_is_bounded() {
        let quick = Instant::now();
        pause_for(Duration::from_secs(2));
        assert!(quick.elapsed() < Duration::from_secs(1), "paused with no call under way");

        let busy = Busy::enter();
        let started = Instant::now();
        pause_for(Duration::from_millis(30));
        let paused = started.elapsed();
        assert!(paused >= Duration::from_millis(30), "a database call did not pause bcrypt: {paused:?}");
        assert!(paused < Duration::from_secs(5), "the pause was not bounded: {paused:?}");

        // the pause ends soon after the last call
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            drop(busy);
        });
        let started = Instant::now();
        pause_for(Duration::from_secs(30));
        release.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "the pause outlived the call");

        // switched off, bcrypt never pauses
        let busy = Busy::enter();
        set_enabled(false);
        let started = Instant::now();
        pause_for(Duration::from_secs(2));
        assert!(started.elapsed() < Duration::from_secs(1), "paused while switched off");
        set_enabled(true);
        drop(busy);
    }
}
