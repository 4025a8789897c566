//! The `-shm` file's writability, checked before every checkout.
//!
//! In WAL mode every connection of a process shares one `MAP_SHARED`
//! mapping of `<db>-shm` (the WAL index), read and written as memory in
//! every transaction. Once that file is made immutable (`chattr +i`) the
//! kernel refuses the next write to a mapped page that is clean (ext4
//! writes the pages back when the flag is set) with SIGBUS, which killed
//! the process without a word; Django, which connects per request, opens
//! the file read-only instead and answers 500. The same holds for an
//! append-only `-shm` (`chattr +a`).
//!
//! So no connection is handed out while the file has either attribute: the
//! request is answered with the 500 page ([`DbError::Storage`]), the fault
//! is logged once, and the connections are kept, untouched (closing the
//! last one would checkpoint, which writes to the mapping): the mapping is
//! writable again as soon as the attribute is removed, and so is the pool.
//!
//! The check is one `statx` of the path (no file is opened: closing a
//! descriptor of the `-shm` would release SQLite's POSIX locks on it),
//! made at most once per [`RECHECK`] while the file is writable (always
//! while it is not). Measured: a `statx` of a temp-dir path takes 0.3–0.5
//! µs here, about 1 % of a guard request's CPU (~35 µs at 57k requests/s
//! on 2 cores); once per millisecond it is lost in the noise.
//!
//! A write already past the check when the attribute is set (a
//! transaction underway, the background checkpoint) still meets SIGBUS:
//! `runtime::sigbus` completes it in a private copy of the page, and the
//! pool then closes every connection before opening new ones
//! (`pool::release_diverged_mapping`), so that the process never dies and
//! its view of the WAL index is the file's again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};

use crate::db::DbError;

/// A writable `-shm` is examined again after this long.
const RECHECK: Duration = Duration::from_millis(1);

#[derive(Debug)]
pub(crate) struct ShmGate {
    shm: PathBuf,
    /// The last check refused: logged once, on the change.
    refused: AtomicBool,
    /// `next_check` counts nanoseconds from here.
    since: Instant,
    next_check: AtomicU64,
}

impl ShmGate {
    /// For the database file `db`.
    pub(crate) fn new(db: &str) -> ShmGate {
        ShmGate {
            shm: PathBuf::from(format!("{db}-shm")),
            refused: AtomicBool::new(false),
            since: Instant::now(),
            next_check: AtomicU64::new(0),
        }
    }

    /// `Err` while the `-shm` file is immutable or append-only. A file that
    /// is not there (no connection yet) or cannot be examined is no reason
    /// to refuse: SQLite itself then reports what is wrong.
    pub(crate) fn check(&self) -> Result<(), DbError> {
        let now = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if now < self.next_check.load(Ordering::Relaxed) && !self.refused.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.next_check.store(now.saturating_add(RECHECK.as_nanos() as u64), Ordering::Relaxed);
        let unwritable = StatxAttributes::IMMUTABLE | StatxAttributes::APPEND;
        let flags = match statx(CWD, &self.shm, AtFlags::empty(), StatxFlags::empty()) {
            Ok(st) => st.stx_attributes & st.stx_attributes_mask & unwritable,
            Err(_) => StatxAttributes::empty(),
        };
        if flags.is_empty() {
            if self.refused.load(Ordering::Relaxed) && self.refused.swap(false, Ordering::AcqRel) {
                log::info!("{} is writable again", self.shm.display());
            }
            return Ok(());
        }
        let what = if flags.contains(StatxAttributes::IMMUTABLE) { "immutable" } else { "append-only" };
        let cause = format!("{} is {what}: SQLite cannot write its shared memory", self.shm.display());
        if !self.refused.swap(true, Ordering::AcqRel) {
            log::warn!("refusing database work until it is writable again: {cause}");
        }
        Err(DbError::Storage(cause))
    }
}
