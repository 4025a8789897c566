//! The hardened profile's tokens and counters, with no HTTP and no
//! database in them.
//!
//! A hardened login issues a fresh token: the original's header, claims
//! `{"id", "iat", "exp", "jti"}` with 128 random bits in `jti`, which
//! PyJWT 2.3 (Django's `log_in_confirm`) accepts unchanged while it has not
//! expired. The database never holds the token itself, only
//! [`digest`]: a copy of the `tokens` table is not a set of working logins.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::jwt::TokenKey;

/// The prefix of a stored digest; a plain (compat) token never starts with
/// it (every JWT starts with `eyJ`).
pub const DIGEST_PREFIX: &str = "sha256:";

/// A token a hardened login issued, and when it expires.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub issued_at: i64,
    /// `None`: no expiry (`TOKEN_TTL = 0`).
    pub expires_at: Option<i64>,
}

#[derive(Serialize)]
struct Claims<'a> {
    id: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    jti: &'a str,
}

/// Issues a fresh token for `user_id` at Unix time `now`, valid for `ttl`
/// seconds (0: for ever). Fails only when the system has no randomness.
pub(crate) fn issue(key: &TokenKey, user_id: i64, now: i64, ttl: u64) -> Result<Issued, getrandom::Error> {
    let mut bits = [0u8; 16];
    getrandom::fill(&mut bits)?;
    let jti = hex(&bits);
    let expires_at = (ttl > 0).then(|| now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)));
    let token = key.sign(&Claims { id: user_id, iat: now, exp: expires_at, jti: &jti });
    Ok(Issued { token, issued_at: now, expires_at })
}

/// What `tokens.token` holds for a hardened token: `sha256:` and the hex
/// SHA-256 of the token's text (71 characters, within the column's 100).
pub fn digest(token: &[u8]) -> String {
    format!("{DIGEST_PREFIX}{}", hex(&Sha256::digest(token)))
}

/// The key a failure counter is kept under: the SHA-256 hex of the scope
/// and the subject (the lower-cased email, or the client address), so that
/// the table holds neither.
pub fn counter_subject(scope: &str, subject: &str) -> String {
    hex(&Sha256::digest(format!("{scope}\0{subject}").as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::{decode, Algorithm};
    use pycompat::pybase64::urlsafe_b64decode_padded;

    #[test]
    fn tokens_are_fresh_and_carry_iat_exp_jti() {
        let key = TokenKey::new("k", Algorithm::HS256);
        let a = issue(&key, 7, 1_000, 60).unwrap();
        let b = issue(&key, 7, 1_000, 60).unwrap();
        assert_ne!(a.token, b.token, "every login gets its own token");
        assert_eq!(a.expires_at, Some(1_060));
        let payload = a.token.split('.').nth(1).unwrap();
        let json = String::from_utf8(urlsafe_b64decode_padded(payload.as_bytes()).unwrap()).unwrap();
        let jti = json.strip_prefix(r#"{"id":7,"iat":1000,"exp":1060,"jti":""#).unwrap().strip_suffix(r#""}"#).unwrap();
        assert_eq!(jti.len(), 32);
        assert!(jti.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(a.token.split('.').next(), key.issue(1).split('.').next(), "the original's header");
        assert!(decode(Some(a.token.as_bytes()), &key, 1_060).is_ok());
        assert!(decode(Some(a.token.as_bytes()), &key, 1_061).is_err(), "expired");

        let forever = issue(&key, 7, 1_000, 0).unwrap();
        assert_eq!(forever.expires_at, None);
        let payload = forever.token.split('.').nth(1).unwrap();
        let json = String::from_utf8(urlsafe_b64decode_padded(payload.as_bytes()).unwrap()).unwrap();
        assert!(json.starts_with(r#"{"id":7,"iat":1000,"jti":""#), "{json}");
    }

    #[test]
    fn digests_fit_the_column_and_differ_from_tokens() {
        let d = digest(b"eyJ.a.b");
        assert_eq!(d.len(), 71);
        assert!(d.starts_with("sha256:"));
        // sha256("abc")
        assert_eq!(digest(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_ne!(counter_subject("account", "a@b.c"), counter_subject("address", "a@b.c"));
        assert_eq!(counter_subject("account", "x").len(), 64);
    }
}
