//! Giving freed memory back to the kernel. glibc's allocator keeps what a
//! burst of connections freed inside its per-thread arenas (only the top
//! of each heap is returned by itself), so after a flood of 10,000
//! connections the server stayed at several times its idle RSS for good.
//! `malloc_trim` returns every free page of every arena; it costs well
//! under a millisecond on the server's small heap, so the server calls it
//! every [`PERIOD`] from a thread of its own.

use std::time::Duration;

/// How often [`spawn_trimmer`]'s thread trims.
pub(crate) const PERIOD: Duration = Duration::from_secs(5);

/// Returns free heap memory to the kernel; whether any was returned.
#[allow(unsafe_code)]
pub(crate) fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` has no preconditions: it walks glibc's
        // arenas under their own locks and releases only free pages.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Starts the thread that trims the heap every [`PERIOD`], for the life
/// of the process.
pub(crate) fn spawn_trimmer() -> std::io::Result<()> {
    std::thread::Builder::new().name("heap-trim".into()).spawn(|| loop {
        std::thread::sleep(PERIOD);
        trim();
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_goes_back_to_the_kernel() {
        fn rss_kib() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
        // many small blocks (below the mmap threshold), all touched, then
        // all freed but the last, which pins the top of the heap
        let blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 4000]).collect();
        let pin = vec![1u8; 4000];
        let full = rss_kib();
        drop(blocks);
        let freed = rss_kib();
        assert!(super::trim(), "nothing was returned");
        let trimmed = rss_kib();
        assert!(pin[0] == 1);
        assert!(
            freed - trimmed > 40_000,
            "RSS {full} KiB full, {freed} KiB freed, {trimmed} KiB trimmed: under 40 MiB returned"
        );
    }
}
