//! JWTs exactly as PyJWT 2.3.0 issues and checks them in the original.
//!
//! Issuing uses `jsonwebtoken`, which writes the same bytes as PyJWT
//! (`{"typ":"JWT","alg":"HS256"}` and `{"id":N}`). Checking cannot use
//! `jsonwebtoken`'s decoder: PyJWT's base64 is lenient, its algorithm test
//! is a substring test, and its claim checks follow Python's `int()`. So the
//! token is taken apart here, step by step in PyJWT's order, and the HMAC
//! is checked with the `hmac` crate (the one `jsonwebtoken` uses), keyed
//! once at start.

use hmac::{Hmac, Mac};
use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;

use pycompat::pybase64::urlsafe_b64decode_padded;
use pycompat::pyint::{py_int, py_truthy, IntError};
use pycompat::pyjson::{loads, LoadError, PyValue};

/// The deepest nesting of containers in the token's header JSON that the
/// original parses; one level more raises `RecursionError` (the 500 page).
/// Measured on the oracle: Python's recursion limit minus the stack depth
/// at which PyJWT's `_load` calls `json.loads`.
pub(crate) const HEADER_JSON_MAX_DEPTH: usize = 958;
/// The same for the payload JSON, parsed two frames higher up the stack.
pub(crate) const PAYLOAD_JSON_MAX_DEPTH: usize = 960;

/// The HMAC algorithms PyJWT can use with a string `SECRET_KEY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
}

impl Algorithm {
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name {
            "HS256" => Some(Algorithm::HS256),
            "HS384" => Some(Algorithm::HS384),
            "HS512" => Some(Algorithm::HS512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
            Algorithm::HS384 => jsonwebtoken::Algorithm::HS384,
            Algorithm::HS512 => jsonwebtoken::Algorithm::HS512,
        }
    }
}

/// The signing key and algorithm, built once at start.
#[derive(Clone)]
pub(crate) struct TokenKey {
    algorithm: Algorithm,
    encoding: EncodingKey,
    verifier: Verifier,
    /// The first segment of every token [`TokenKey::issue`] writes.
    header_segment: String,
}

/// The keyed HMAC state; each check clones it instead of re-keying.
#[derive(Clone)]
enum Verifier {
    HS256(Hmac<sha2::Sha256>),
    HS384(Hmac<sha2::Sha384>),
    HS512(Hmac<sha2::Sha512>),
}

impl Verifier {
    fn new(secret: &[u8], algorithm: Algorithm) -> Verifier {
        const ANY_LENGTH: &str = "HMAC takes a key of any length";
        match algorithm {
            Algorithm::HS256 => Verifier::HS256(Hmac::new_from_slice(secret).expect(ANY_LENGTH)),
            Algorithm::HS384 => Verifier::HS384(Hmac::new_from_slice(secret).expect(ANY_LENGTH)),
            Algorithm::HS512 => Verifier::HS512(Hmac::new_from_slice(secret).expect(ANY_LENGTH)),
        }
    }

    /// `hmac.compare_digest(signature, HMAC(signing_input))`, in constant time.
    fn matches(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        fn check<M: Mac + Clone>(keyed: &M, input: &[u8], signature: &[u8]) -> bool {
            let mut mac = keyed.clone();
            mac.update(input);
            mac.verify_slice(signature).is_ok()
        }
        match self {
            Verifier::HS256(m) => check(m, signing_input, signature),
            Verifier::HS384(m) => check(m, signing_input, signature),
            Verifier::HS512(m) => check(m, signing_input, signature),
        }
    }
}

impl TokenKey {
    pub fn new(secret: &str, algorithm: Algorithm) -> TokenKey {
        let mut key = TokenKey {
            algorithm,
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            verifier: Verifier::new(secret.as_bytes(), algorithm),
            header_segment: String::new(),
        };
        let token = key.issue(0);
        key.header_segment = token.split('.').next().unwrap_or_default().to_owned();
        key
    }

    /// `jwt.encode({"id": user_id}, SECRET_KEY, algorithm=ALGORITHM)`.
    pub fn issue(&self, user_id: i64) -> String {
        #[derive(Serialize)]
        struct Claims {
            id: i64,
        }
        self.sign(&Claims { id: user_id })
    }

    /// A token of these claims, under the configured algorithm.
    pub(crate) fn sign(&self, claims: &impl Serialize) -> String {
        jsonwebtoken::encode(&Header::new(self.algorithm.jwt()), claims, &self.encoding)
            .expect("HMAC signing of a small struct cannot fail")
    }

    fn signature_matches(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        self.verifier.matches(signing_input, signature)
    }
}

/// Why `jwt.decode` refused a token, as the guard answers it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// `jwt.DecodeError`: 400 `JWT_DECODE_ERROR`.
    Decode,
    /// `jwt.InvalidSignatureError`: 400 `JWT_SIGNATURE_ERROR`.
    Signature,
    /// Any other exception (wrong `alg`, `RecursionError`, an unreadable
    /// claim, ...), named: it escapes the decorator, so the original
    /// answers with the 500 page.
    Raises(&'static str),
    /// A well-formed token that is not valid now (`exp` passed, `nbf` to
    /// come, an `aud` PyJWT was not asked to accept): it escapes the
    /// decorator too (the 500 page); the hardened profile answers 401.
    NotValidNow(&'static str),
}

/// `jwt.decode(header_value, SECRET_KEY, ALGORITHM)`: the payload object,
/// or how PyJWT would fail. `raw` is the `Authorization` header's bytes;
/// `now` is the current Unix time in seconds.
pub(crate) fn decode(raw: Option<&[u8]>, key: &TokenKey, now: i64) -> Result<Vec<(String, PyValue)>, Rejection> {
    // The header arrives as latin-1 text and PyJWT encodes it as UTF-8.
    let raw = raw.ok_or(Rejection::Decode)?;
    let token = latin1_to_utf8(raw);

    // `signing_input, crypto = rsplit(".", 1)`; `header, payload = split(".", 1)`.
    let last_dot = token.iter().rposition(|&b| b == b'.').ok_or(Rejection::Decode)?;
    let (signing_input, crypto_segment) = (&token[..last_dot], &token[last_dot + 1..]);
    let first_dot = signing_input.iter().position(|&b| b == b'.').ok_or(Rejection::Decode)?;
    let (header_segment, payload_segment) = (&signing_input[..first_dot], &signing_input[first_dot + 1..]);

    // The header every issued token carries decodes to an object whose
    // `alg` is the configured one: no need to decode it again.
    let usual_header = header_segment == key.header_segment.as_bytes();
    let header = if usual_header {
        Vec::new()
    } else {
        let header_bytes = urlsafe_b64decode_padded(header_segment).map_err(|_| Rejection::Decode)?;
        match json_object(&header_bytes, HEADER_JSON_MAX_DEPTH)? {
            Some(object) => object,
            None => return Err(Rejection::Decode),
        }
    };
    let payload_bytes = urlsafe_b64decode_padded(payload_segment).map_err(|_| Rejection::Decode)?;
    let signature = urlsafe_b64decode_padded(crypto_segment).map_err(|_| Rejection::Decode)?;

    // `alg not in ALGORITHM` is a substring test on a string (TypeError for
    // anything else), and the algorithm must then be registered: only the
    // exact configured name survives both.
    if !usual_header {
        match get(&header, "alg") {
            Some(PyValue::Str(alg)) if !alg.lone_surrogate && alg.as_str() == key.algorithm.name() => {}
            _ => return Err(Rejection::Raises("InvalidAlgorithmError or TypeError: the token's alg")),
        }
    }
    if !key.signature_matches(signing_input, &signature) {
        return Err(Rejection::Signature);
    }

    let payload = match json_object(&payload_bytes, PAYLOAD_JSON_MAX_DEPTH)? {
        Some(object) => object,
        None => return Err(Rejection::Decode),
    };
    validate_claims(&payload, now)?;
    Ok(payload.into_iter().map(|(k, v)| (k.text, v)).collect())
}

/// `json.loads` of a segment, as PyJWT wraps it: ValueError → DecodeError,
/// RecursionError escapes. `None` when the value is not an object.
fn json_object(bytes: &[u8], max_depth: usize) -> Result<Option<Vec<(pycompat::pyjson::PyStr, PyValue)>>, Rejection> {
    match loads(bytes, max_depth) {
        Ok(PyValue::Dict(items)) => Ok(Some(items)),
        Ok(_) => Ok(None),
        Err(LoadError::Recursion) => Err(Rejection::Raises("RecursionError: token JSON nested too deep")),
        Err(LoadError::Decode | LoadError::Unicode | LoadError::IntTooLong) => Err(Rejection::Decode),
    }
}

fn get<'a>(object: &'a [(pycompat::pyjson::PyStr, PyValue)], key: &str) -> Option<&'a PyValue> {
    object.iter().find(|(k, _)| !k.lone_surrogate && k.as_str() == key).map(|(_, v)| v)
}

/// PyJWT's `_validate_claims` with the default options: `iat`, `nbf`,
/// `exp`, then `aud`.
fn validate_claims(payload: &[(pycompat::pyjson::PyStr, PyValue)], now: i64) -> Result<(), Rejection> {
    if let Some(iat) = get(payload, "iat") {
        // InvalidIssuedAtError, TypeError, OverflowError: all escape.
        py_int(iat).map_err(|_| Rejection::Raises("InvalidIssuedAtError: iat"))?;
    }
    if let Some(nbf) = get(payload, "nbf") {
        let nbf = py_int(nbf).map_err(claim_error)?;
        if nbf.cmp_i64(now) == std::cmp::Ordering::Greater {
            return Err(Rejection::NotValidNow("ImmatureSignatureError: nbf"));
        }
    }
    if let Some(exp) = get(payload, "exp") {
        let exp = py_int(exp).map_err(claim_error)?;
        if exp.cmp_i64(now) == std::cmp::Ordering::Less {
            return Err(Rejection::NotValidNow("ExpiredSignatureError: exp"));
        }
    }
    if let Some(aud) = get(payload, "aud") {
        if py_truthy(aud) {
            return Err(Rejection::NotValidNow("InvalidAudienceError: aud"));
        }
    }
    Ok(())
}

/// `nbf`/`exp`: a ValueError becomes DecodeError; anything else escapes.
fn claim_error(e: IntError) -> Rejection {
    match e {
        IntError::Value => Rejection::Decode,
        IntError::Type | IntError::Overflow => Rejection::Raises("TypeError or OverflowError: nbf/exp"),
    }
}

/// WSGI hands header values over as latin-1 text; PyJWT encodes it as UTF-8.
fn latin1_to_utf8(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if raw.is_ascii() {
        return std::borrow::Cow::Borrowed(raw);
    }
    std::borrow::Cow::Owned(raw.iter().map(|&b| b as char).collect::<String>().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "django-insecure-ledger-reference-key";

    #[test]
    fn issues_pyjwt_bytes() {
        // jwt.encode({"id": 1}, KEY, algorithm="HS256") with PyJWT 2.3.0.
        let key = TokenKey::new(KEY, Algorithm::HS256);
        let token = key.issue(1);
        let mut parts = token.split('.');
        assert_eq!(parts.next(), Some("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"));
        assert_eq!(key.header_segment, "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9");
        assert_eq!(parts.next(), Some("eyJpZCI6MX0"));
        assert_eq!(token.matches('.').count(), 2);
    }

    #[test]
    fn accepts_own_tokens_and_rejects_tampering() {
        let key = TokenKey::new(KEY, Algorithm::HS256);
        let token = key.issue(42);
        let payload = decode(Some(token.as_bytes()), &key, 0).unwrap();
        assert_eq!(payload.len(), 1);
        assert_eq!(payload[0].0, "id");
        let other = TokenKey::new("another key", Algorithm::HS256);
        assert_eq!(decode(Some(token.as_bytes()), &other, 0), Err(Rejection::Signature));
        assert_eq!(decode(None, &key, 0), Err(Rejection::Decode));
        assert_eq!(decode(Some(b"abc"), &key, 0), Err(Rejection::Decode));
        assert_eq!(decode(Some(b"a.b"), &key, 0), Err(Rejection::Decode));
        let hs512 = TokenKey::new(KEY, Algorithm::HS512);
        assert_eq!(
            decode(Some(token.as_bytes()), &hs512, 0),
            Err(Rejection::Raises("InvalidAlgorithmError or TypeError: the token's alg"))
        );
    }

    #[test]
    fn every_algorithm_checks_its_own_signature_and_nothing_else() {
        for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let key = TokenKey::new(KEY, algorithm);
            let token = key.issue(7);
            assert!(decode(Some(token.as_bytes()), &key, 0).is_ok(), "{algorithm:?}");
            let (head, signature) = token.rsplit_once('.').unwrap();
            // One bit of the signature flipped, a byte cut off, a byte added.
            let mut flipped = signature.as_bytes().to_vec();
            flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
            let cut = &signature[..signature.len() - 4];
            for bad in [String::from_utf8(flipped).unwrap(), cut.to_owned(), format!("{signature}AAAA")] {
                let tampered = format!("{head}.{bad}");
                assert_eq!(
                    decode(Some(tampered.as_bytes()), &key, 0),
                    Err(Rejection::Signature),
                    "{algorithm:?} {bad}"
                );
            }
            let other = TokenKey::new("another key", algorithm);
            assert_eq!(decode(Some(token.as_bytes()), &other, 0), Err(Rejection::Signature), "{algorithm:?}");
        }
    }
}
