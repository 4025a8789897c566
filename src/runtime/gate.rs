//! bcrypt gives way to cheap work: the cooperative half of keeping a login
//! storm from delaying cheap requests.
//!
//! `SCHED_IDLE` ranks the bcrypt threads below the server's other threads,
//! but only inside the server's own scheduling group; against other
//! processes (the database, a proxy, the load generator) they take a full
//! share. So every request counts itself here while it runs ([`Busy`]),
//! a request waiting for bcrypt steps out of the count while it waits
//! ([`Waiting`]), and the bcrypt key schedule calls [`pause_point`] between
//! its rounds (about every 65 µs at cost 12): while any request is being
//! served, the bcrypt thread parks, so the cores go to the cheap work and
//! to whatever it waits for.
//!
//! A pause is bounded ([`MAX_PAUSE`]): under unbroken cheap load bcrypt
//! still advances by one round per pause, so logins slow down but never
//! stop. While nothing else runs, a pause point costs one relaxed load.

use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// Requests being served, less those waiting for bcrypt. Signed: a bcrypt
/// job submitted outside any request (tests, tools) makes it dip below 0.
static BUSY: AtomicIsize = AtomicIsize::new(0);

/// Whether bcrypt yields at all (`BCRYPT_YIELD`, on by default).
static ENABLED: AtomicBool = AtomicBool::new(true);

#[allow(dead_code)]
/// The longest one pause lasts before bcrypt runs one more round.
pub(crate) const MAX_PAUSE: Duration = Duration::from_millis(4);

#[allow(dead_code)]
/// How long a parked bcrypt thread sleeps between looks at the count.
const NAP: Duration = Duration::from_micros(40);

/// Turns yielding on or off (`BCRYPT_YIELD`; also on SIGHUP).
pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether bcrypt yields now.
#[allow(dead_code)]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Held while a request is served.
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

/// Held while a request waits for the bcrypt pool: it is not cheap work
/// that bcrypt should make way for (it would wait for itself).
#[must_use]
pub(crate) struct Waiting(());

impl Waiting {
    pub(crate) fn start() -> Waiting {
        BUSY.fetch_sub(1, Ordering::Relaxed);
        Waiting(())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        BUSY.fetch_add(1, Ordering::Relaxed);
    }
}

// The key schedule's rounds call it once the bcrypt code has a hook for it.
#[allow(dead_code)]
/// Called by the bcrypt key schedule between rounds: parks the calling
/// thread while requests are being served, for at most [`MAX_PAUSE`].
pub(crate) fn pause_point() {
    pause_for(MAX_PAUSE);
}

#[allow(dead_code)]
fn pause_for(longest: Duration) {
    if BUSY.load(Ordering::Relaxed) <= 0 || !enabled() {
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
    fn a_pause_lasts_while_requests_are_served_and_is_bounded() {
        let quick = Instant::now();
        pause_for(Duration::from_secs(2));
        assert!(quick.elapsed() < Duration::from_secs(1), "paused with nothing served");

        let busy = Busy::enter();
        let started = Instant::now();
        pause_for(Duration::from_millis(30));
        let paused = started.elapsed();
        assert!(paused >= Duration::from_millis(30), "a served request did not pause bcrypt: {paused:?}");
        assert!(paused < Duration::from_secs(5), "the pause was not bounded: {paused:?}");

        // a request waiting for bcrypt does not count
        let waiting = Waiting::start();
        let started = Instant::now();
        pause_for(Duration::from_secs(2));
        assert!(started.elapsed() < Duration::from_secs(1), "paused for a request waiting on bcrypt");
        drop(waiting);

        // the pause ends soon after the last request is answered
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            drop(busy);
        });
        let started = Instant::now();
        pause_for(Duration::from_secs(30));
        release.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "the pause outlived the request");

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
