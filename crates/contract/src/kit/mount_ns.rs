//! A small file system of a test's own: a tmpfs mounted in a mount
//! namespace that belongs to the calling thread alone (and to the
//! processes it spawns afterwards, which inherit it), never to the rest of
//! the machine. Nothing needs unmounting: the namespace, and the tmpfs with
//! it, goes when the thread and its children are gone, however the test
//! ends. Needs root (CAP_SYS_ADMIN); without it this is an error, not a skip.

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::path::Path;

/// Moves the calling thread into a new mount namespace (private: nothing
/// mounted there propagates back) and mounts a tmpfs of `size_bytes` on
/// `dir`, an existing directory. Other threads of the process, and the
/// rest of the machine, still see `dir` as it was.
pub fn private_tmpfs(dir: &Path, size_bytes: u64) -> Result<(), String> {
    // CLONE_NEWNS implies CLONE_FS: the thread gets its own root and
    // working directory, so this is allowed in a multithreaded process.
    unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(CLONE_NEWNS): {e} (a private tmpfs needs root: CAP_SYS_ADMIN)"))?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| format!("make the new mount namespace private: {e}"))?;
    let options = format!("size={size_bytes},mode=0755");
    mount(Some("ledger-test-tmpfs"), dir, Some("tmpfs"), MsFlags::empty(), Some(options.as_str()))
        .map_err(|e| format!("mount a {size_bytes}-byte tmpfs on {}: {e}", dir.display()))
}
