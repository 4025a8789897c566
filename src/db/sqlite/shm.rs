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
//! descriptor of the `-shm` would release SQLite's POSIX locks on it);
//! measured on the guard path it costs nothing the load tool can tell
//! from noise (see the README).
//!
//! Residual race: a file made immutable between the check and a write to
//! the mapping in the transaction that follows (microseconds; connections
//! in use at that moment) still raises SIGBUS. Only handling the signal
//! could close it, and that cannot be done safely around SQLite's code.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};

use crate::db::DbError;

#[derive(Debug)]
pub(crate) struct ShmGate {
    shm: PathBuf,
    /// The last check refused: logged once, on the change.
    refused: AtomicBool,
}

impl ShmGate {
    /// For the database file `db`.
    pub(crate) fn new(db: &str) -> ShmGate {
        ShmGate { shm: PathBuf::from(format!("{db}-shm")), refused: AtomicBool::new(false) }
    }

    /// `Err` while the `-shm` file is immutable or append-only. A file that
    /// is not there (no connection yet) or cannot be examined is no reason
    /// to refuse: SQLite itself then reports what is wrong.
    pub(crate) fn check(&self) -> Result<(), DbError> {
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
