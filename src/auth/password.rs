//! Passwords exactly as Python bcrypt 3.2.0 hashes and checks them, on
//! [`pycompat::pybcrypt`] (an eksblowfish that can also run two checks
//! interleaved on one thread).
//!
//! `bcrypt.hashpw(pw, bcrypt.gensalt())` gives `$2b$12$…`; `bcrypt.checkpw`
//! parses the stored hash the way OpenBSD's C code does: `$2a$`, `$2b$` and
//! `$2y$` are accepted, only the first 22 salt characters are read, and a
//! hash of the wrong length is simply "no match" while a malformed salt
//! raises (the 500 page). Passwords are cut to 72 bytes.
//!
//! A check can be split ([`CheckJob`]) so that its expensive part runs on
//! the bcrypt pool, alone or paired with another.

use pycompat::pybcrypt::{self, Eks, Setting};

/// The cost `bcrypt.gensalt()` uses.
pub const COST: u32 = 12;

/// Python raised: `ValueError` (NUL bytes, invalid salt). The original
/// answers with the 500 page.
#[derive(Debug, PartialEq, Eq)]
pub struct PasswordError(pub &'static str);

impl From<pybcrypt::Error> for PasswordError {
    fn from(error: pybcrypt::Error) -> PasswordError {
        PasswordError(error.0)
    }
}

/// Called between the expensive rounds of a check or hash run here: it
/// gives way to cheap requests (`runtime::gate`).
fn pause() {
    crate::runtime::gate::pause_point();
}

/// `bcrypt.hashpw(password, bcrypt.gensalt())` as text.
pub fn hash(password: &[u8]) -> Result<String, PasswordError> {
    hash_with_cost(password, COST)
}

/// Like [`hash`] with another cost (tests and benchmarks seed cheaper hashes).
pub fn hash_with_cost(password: &[u8], cost: u32) -> Result<String, PasswordError> {
    if password.contains(&0) {
        return Err(PasswordError("password may not contain NUL bytes"));
    }
    if !(4..=31).contains(&cost) {
        return Err(PasswordError("invalid cost"));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| PasswordError("no random bytes for a salt"))?;
    let setting = Setting { prefix: *b"$2b$", cost, salt };
    let raw = setting.eks(password).run(&mut pause);
    Ok(setting.text(&raw).iter().copied().map(char::from).collect())
}

/// `bcrypt.checkpw(password, stored)`: `Ok(false)` for a mismatch, `Err`
/// where Python raises.
pub fn check(password: &[u8], stored: &[u8]) -> Result<bool, PasswordError> {
    let job = CheckJob::new(password, stored)?;
    Ok(job.finish(&job.eks().run(&mut pause)))
}

/// `bcrypt.checkpw(password, stored)` in three steps: [`CheckJob::new`]
/// (parsing, cheap, where Python would raise), the expensive part
/// ([`CheckJob::eks`], to run anywhere), [`CheckJob::finish`] (the
/// constant-time comparison of the whole text).
#[derive(Debug, Clone)]
pub struct CheckJob(pybcrypt::Check);

impl CheckJob {
    /// Fails where `checkpw` raises: a NUL byte, an invalid salt.
    pub fn new(password: &[u8], stored: &[u8]) -> Result<CheckJob, PasswordError> {
        Ok(CheckJob(pybcrypt::Check::new(password, stored)?))
    }

    /// The expensive part: its result goes to [`CheckJob::finish`].
    pub fn eks(&self) -> &Eks {
        self.0.eks()
    }

    /// Whether the password matches, given the raw hash of [`CheckJob::eks`].
    pub fn finish(&self, raw: &[u8; 24]) -> bool {
        self.0.finish(raw)
    }
}

/// The cost a stored hash was made with, when `check` can read it.
pub fn cost_of(stored: &[u8]) -> Option<u32> {
    Setting::parse(stored).map(|setting| setting.cost)
}

/// The hardened login's check: whether `password` matches `stored`, at the
/// same cost whatever `stored` is. With no stored hash (an unknown email),
/// or one that cannot be checked (malformed, or a NUL byte on either side),
/// the password is checked against a hash of cost `cost` that nothing
/// matches, so that every refused login costs one check of that cost.
///
/// A mismatch against a stored hash of a lower cost (made before
/// `BCRYPT_COST` was raised, and not yet re-hashed by a login) is padded
/// with further checks up to the work of one check of `cost`, so that it
/// does not answer faster than an unknown email.
pub fn check_equalised(password: &[u8], stored: Option<&[u8]>, cost: u32) -> bool {
    if let Some(stored) = stored {
        if let Ok(matches) = check(password, stored) {
            if !matches {
                for pad in padding(cost_of(stored), cost) {
                    unmatchable_check(password, pad);
                }
            }
            return matches;
        }
    }
    unmatchable_check(password, cost);
    false
}

/// The costs of the checks that bring one check of `stored` up to the
/// work of one of `cost` (a check of cost c is 2^c rounds): 2^(cost −
/// stored) − 1 more of `stored`, or beyond a factor of 256 simply one of
/// `cost` (then at most 0.4 % more than an unknown email's).
fn padding(stored: Option<u32>, cost: u32) -> Vec<u32> {
    match stored {
        Some(stored) if stored < cost && cost - stored < 8 => vec![stored; (1 << (cost - stored)) - 1],
        Some(stored) if stored < cost => vec![cost],
        _ => Vec::new(),
    }
}

/// One check of `cost` against a well-formed hash that nothing matches
/// (its checksum part is 184 bits chosen here, not computed).
fn unmatchable_check(password: &[u8], cost: u32) {
    let unmatchable = format!("$2b${:02}$ledgerserverequalisingtOkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", cost.clamp(4, 31));
    let password: Vec<u8> = password.iter().copied().filter(|&b| b != 0).collect();
    let _ = check(&password, unmatchable.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by Python bcrypt 3.2.0: hashpw(b"Passw0rd!", b"$2b$04$" + 22 salt chars).
    const HASH_2B: &str = "$2b$04$abcdefghijklmnopqrstuuchGdllX0O2ZthG6oyaPSbmBrCIbnHlu";

    #[test]
    fn hashes_in_python_format() {
        let h = hash_with_cost(b"Passw0rd!", 4).unwrap();
        assert!(h.starts_with("$2b$04$"));
        assert_eq!(h.len(), 60);
        assert_eq!(check(b"Passw0rd!", h.as_bytes()), Ok(true));
        assert_eq!(check(b"Passw0rd?", h.as_bytes()), Ok(false));
    }

    #[test]
    fn checks_python_hashes_and_prefixes() {
        assert_eq!(check(b"Passw0rd!", HASH_2B.as_bytes()), Ok(true));
        let a = HASH_2B.replacen("$2b$", "$2a$", 1);
        let y = HASH_2B.replacen("$2b$", "$2y$", 1);
        let x = HASH_2B.replacen("$2b$", "$2x$", 1);
        assert_eq!(check(b"Passw0rd!", a.as_bytes()), Ok(true));
        assert_eq!(check(b"Passw0rd!", y.as_bytes()), Ok(true));
        assert!(check(b"Passw0rd!", x.as_bytes()).is_err());
        // Truncated or junk-suffixed hashes are a mismatch, not an error.
        assert_eq!(check(b"Passw0rd!", &HASH_2B.as_bytes()[..40]), Ok(false));
        assert_eq!(check(b"Passw0rd!", format!("{HASH_2B}x").as_bytes()), Ok(false));
        // Too short a salt, or a bad salt character, raises.
        assert!(check(b"Passw0rd!", &HASH_2B.as_bytes()[..28]).is_err());
        assert!(check(b"Passw0rd!", b"$2b$04$abcdefghij!lmnopqrstuuchGdllX0O2ZthG6oyaPSbmBrCIbnHlu").is_err());
        assert!(check(b"Passw0rd!", b"$2b$03$abcdefghijklmnopqrstuuchGdllX0O2ZthG6oyaPSbmBrCIbnHlu").is_err());
        assert!(check(b"pass\0word", HASH_2B.as_bytes()).is_err());
        assert!(hash(b"pass\0word").is_err());
    }

    #[test]
    fn equalised_checks_refuse_what_cannot_match() {
        assert!(check_equalised(b"Passw0rd!", Some(HASH_2B.as_bytes()), 12));
        assert!(!check_equalised(b"Passw0rd?", Some(HASH_2B.as_bytes()), 4));
        assert!(!check_equalised(b"Passw0rd!", None, 4));
        assert!(!check_equalised(b"Passw0rd!", Some(b"not a hash"), 4));
        assert!(!check_equalised(b"pass\0word", Some(HASH_2B.as_bytes()), 4));
        assert_eq!(cost_of(HASH_2B.as_bytes()), Some(4));
        // a mismatch of a cheaper hash is padded to the configured cost
        assert_eq!(padding(Some(12), 12), Vec::<u32>::new());
        assert_eq!(padding(Some(13), 12), Vec::<u32>::new());
        assert_eq!(padding(Some(12), 13), vec![12]);
        assert_eq!(padding(Some(10), 12), vec![10, 10, 10]);
        assert_eq!(padding(Some(4), 12), vec![12], "beyond 256x: one check of the cost");
        assert_eq!(padding(None, 12), Vec::<u32>::new(), "a hash of the wrong length was checked at its cost");
        assert_eq!(cost_of(b"$2b$12$"), None);
        // the unmatchable hash is well formed: it really runs a check
        let unmatchable = "$2b$04$ledgerserverequalisingtOkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
        assert_eq!(unmatchable.len(), 60);
        assert_eq!(check(b"x", unmatchable.as_bytes()), Ok(false));
    }

    #[test]
    fn long_passwords_are_cut_at_72_bytes() {
        let long = [b'a'; 100];
        let h = hash_with_cost(&long, 4).unwrap();
        assert_eq!(check(&long[..72], h.as_bytes()), Ok(true));
        assert_eq!(check(&long[..71], h.as_bytes()), Ok(false));
    }
}
