//! Surviving SIGBUS from SQLite's shared-memory file, the other `unsafe`
//! helper besides [`super::sched`] and [`super::heap`].
//!
//! In WAL mode SQLite maps `<db>-shm` with `MAP_SHARED` and writes to it
//! as memory. Once the file is made immutable or append-only, the kernel
//! answers the next write to a clean page with SIGBUS, whose default
//! action killed the process. The database layer checks the file before
//! handing out a connection, but a write already past that check (a
//! transaction underway, the background checkpoint) can still meet it.
//!
//! The handler, for a fault inside a mapping of a file whose name ends in
//! `-shm` (looked up in `/proc/self/maps` with `open`/`read`, which may be
//! called in a signal handler), moves a private anonymous copy of the page
//! over it (`mremap`, in one step: no thread ever sees it empty), so that
//! the write completes, and sets a flag. One thread at a time handles a
//! fault; one that faulted on a page another thread has just replaced only
//! runs its access again. A SIGBUS sent with `kill`, or any other fault,
//! gets the default action. From then on the process's view of that page is its own: the
//! database layer ([`shm_diverged`]) refuses work and closes every
//! connection, so that SQLite unmaps the file, and clears the flag
//! ([`clear`]) once none is left and the file is writable again; the next
//! connection maps the real file.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static DIVERGED: AtomicBool = AtomicBool::new(false);
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);
/// One thread at a time in the handler (SIGBUS is blocked only on the
/// thread that handles it; readers and writers fault on the same page).
static BUSY: AtomicBool = AtomicBool::new(false);
/// The pages already replaced since [`clear`]: a thread that faulted on
/// one while another replaced it only has to run its access again.
static REPLACED: [AtomicUsize; 64] = [const { AtomicUsize::new(0) }; 64];

/// Whether a write to a `-shm` mapping met SIGBUS and was completed in a
/// private page since [`clear`].
pub(crate) fn shm_diverged() -> bool {
    DIVERGED.load(Ordering::Acquire)
}

/// The diverged mapping is gone (no connection is left).
pub(crate) fn clear() {
    for slot in &REPLACED {
        slot.store(0, Ordering::Relaxed);
    }
    DIVERGED.store(false, Ordering::Release);
}

/// Installs the handler (once per process is enough; again is harmless).
#[allow(unsafe_code)]
pub(crate) fn install() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: sysconf and sigaction are called with valid arguments; the
    // handler only calls async-signal-safe functions (open, read, close,
    // mmap, signal) and touches no lock, allocation or panic path.
    unsafe {
        let page = libc::sysconf(libc::_SC_PAGESIZE);
        if page > 0 {
            PAGE_SIZE.store(page as usize, Ordering::Relaxed);
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SAFETY: `info` is the kernel's siginfo for this signal.
    let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    // a fault (si_code > 0), not a SIGBUS sent with kill
    let handled = code > 0 && {
        while BUSY.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        let handled = replace_page(addr);
        BUSY.store(false, Ordering::Release);
        handled
    };
    if !handled {
        // SAFETY: restoring the default action and raising the signal again
        // is what an unhandled SIGBUS does.
        unsafe {
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
}

/// Replaces the page holding `addr`, in a `-shm` mapping, by a private
/// copy; whether the faulting access can now run again.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn replace_page(addr: usize) -> bool {
    let size = PAGE_SIZE.load(Ordering::Relaxed);
    if size == 0 || !size.is_power_of_two() {
        return false;
    }
    let page = addr & !(size - 1);
    if REPLACED.iter().any(|slot| slot.load(Ordering::Relaxed) == page) {
        return true; // another thread replaced it meanwhile
    }
    let Some(slot) = REPLACED.iter().find(|slot| slot.load(Ordering::Relaxed) == 0) else { return false };
    if !in_shm_mapping(addr) {
        return false;
    }
    // SAFETY: the page is mapped and readable (the fault is a write to it).
    // The copy is made in a fresh anonymous page, which `mremap` then moves
    // over the faulting one in a single step, so that no other thread ever
    // reads anything but the page's content.
    unsafe {
        let fresh = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if fresh == libc::MAP_FAILED {
            return false;
        }
        std::ptr::copy_nonoverlapping(page as *const u8, fresh.cast::<u8>(), size);
        let moved =
            libc::mremap(fresh, size, size, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, page as *mut libc::c_void);
        if moved == libc::MAP_FAILED {
            libc::munmap(fresh, size);
            return false;
        }
    }
    slot.store(page, Ordering::Relaxed);
    DIVERGED.store(true, Ordering::Release);
    true
}

/// Whether `addr` lies in a mapping of a file whose name ends in `-shm`,
/// by `/proc/self/maps`, read without allocating.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn in_shm_mapping(addr: usize) -> bool {
    // SAFETY: a NUL-terminated path; `buf` outlives each read into it.
    let fd = unsafe { libc::open(c"/proc/self/maps".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    let mut maps = MapsScan::new(addr);
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: as above
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        if buf.get(..n as usize).is_some_and(|chunk| maps.feed(chunk)) {
            break;
        }
    }
    // SAFETY: the descriptor opened above
    unsafe { libc::close(fd) };
    maps.found
}

/// `/proc/self/maps`, scanned a chunk at a time: each line's first bytes
/// (`start-end`) and last bytes (the path's end) are kept.
struct MapsScan {
    addr: usize,
    head: [u8; 40],
    head_len: usize,
    tail: [u8; 8],
    tail_len: usize,
    found: bool,
}

impl MapsScan {
    fn new(addr: usize) -> Self {
        MapsScan { addr, head: [0; 40], head_len: 0, tail: [0; 8], tail_len: 0, found: false }
    }

    /// Feeds bytes; true once a line matched.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        for &byte in chunk {
            if byte == b'\n' {
                self.found |= self.line_matches();
                self.head_len = 0;
                self.tail_len = 0;
                if self.found {
                    return true;
                }
                continue;
            }
            if let Some(slot) = self.head.get_mut(self.head_len) {
                *slot = byte;
                self.head_len += 1;
            }
            if self.tail_len < self.tail.len() {
                self.tail[self.tail_len] = byte;
                self.tail_len += 1;
            } else {
                self.tail.rotate_left(1);
                self.tail[self.tail.len() - 1] = byte;
            }
        }
        false
    }

    fn line_matches(&self) -> bool {
        let tail = &self.tail[..self.tail_len];
        if !tail.ends_with(b"-shm") {
            return false;
        }
        let head = &self.head[..self.head_len];
        let mut range = head.split(|&b| b == b' ').next().unwrap_or(&[]).split(|&b| b == b'-');
        match (range.next().and_then(hex), range.next().and_then(hex)) {
            (Some(start), Some(end)) => start <= self.addr && self.addr < end,
            _ => false,
        }
    }
}

fn hex(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0usize, |n, &d| Some(n * 16 + (d as char).to_digit(16)? as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_are_matched_by_range_and_name() {
        let maps = b"55d0c0a00000-55d0c0a08000 r--p 00000000 fe:00 123 /usr/bin/x\n\
7f00000000-7f00008000 rw-s 00000000 fe:00 456 /var/lib/ledger/db.sqlite3-shm\n\
7f00010000-7f00018000 rw-p 00000000 00:00 0 \n";
        let scan = |addr: usize, chunk: usize| {
            let mut s = MapsScan::new(addr);
            maps.chunks(chunk).any(|c| s.feed(c))
        };
        for chunk in [1, 7, 4096] {
            assert!(scan(0x7f00000010, chunk), "inside the -shm mapping (chunks of {chunk})");
            assert!(!scan(0x7f00008000, chunk), "just past it");
            assert!(!scan(0x55d0c0a00010, chunk), "another file");
            assert!(!scan(0x7f00010010, chunk), "anonymous memory");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_mapping_of_this_process_is_found_by_its_name() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe-shm");
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        file.set_len(4096).unwrap();
        // SAFETY: a fresh shared mapping of a 4 KiB file, unmapped below
        #[allow(unsafe_code)]
        let mapped =
            unsafe { libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0) };
        assert_ne!(mapped, libc::MAP_FAILED);
        let found = in_shm_mapping(mapped as usize + 100);
        let elsewhere = in_shm_mapping(&found as *const bool as usize);
        // SAFETY: the mapping made above
        #[allow(unsafe_code)]
        unsafe {
            libc::munmap(mapped, 4096)
        };
        assert!(found, "the -shm mapping was not found in /proc/self/maps");
        assert!(!elsewhere, "a stack address was taken for a -shm mapping");
    }
}
