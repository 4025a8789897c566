//! Process limits the server raises at start.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The open-file limit before and after [`raise_open_files`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft open-file limit to the hard one: every connection is a
/// descriptor, and the usual soft default (1,024) would let about a
/// thousand clients deny service to the rest.
pub fn raise_open_files() -> nix::Result<OpenFiles> {
    let (soft_before, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft_before < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(OpenFiles { soft_before, soft, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
        let hard_before = getrlimit(Resource::RLIMIT_NOFILE).unwrap().1;
        // start below the hard limit, as a fresh process usually does
        setrlimit(Resource::RLIMIT_NOFILE, hard_before.min(512), hard_before).unwrap();
        let limits = raise_open_files().unwrap();
        assert_eq!(limits.soft_before, hard_before.min(512));
        assert_eq!((limits.soft, limits.hard), (hard_before, hard_before));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard_before, hard_before));
    }
}
