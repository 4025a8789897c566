//! JWT construction for scenarios: well-formed tokens, tokens with any
//! header and payload text, tokens with junk in their segments.
//!
//! Django reads the `Authorization` header as latin-1 and PyJWT re-encodes
//! it as UTF-8 before splitting and verifying, so the HMAC of a token with
//! bytes >= 0x80 covers the UTF-8 re-encoding of those bytes:
//! [`sign_wire`] does the same.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};

/// The header every login token has (PyJWT 2.3, compact).
pub const STD_HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

/// base64url without padding.
pub fn b64url(data: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// base64url (padding optional) decoded.
pub fn b64url_decode(data: impl AsRef<[u8]>) -> Result<Vec<u8>, String> {
    let data = data.as_ref();
    let trimmed = data.strip_suffix(b"==").or_else(|| data.strip_suffix(b"=")).unwrap_or(data);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .map_err(|e| format!("not base64url ({e}): {}", String::from_utf8_lossy(data)))
}

/// The base64url (unpadded) HMAC of `message` with `alg` (HS256/HS384/HS512).
pub fn mac(key: &str, alg: Algorithm, message: &[u8]) -> String {
    jsonwebtoken::crypto::sign(message, &EncodingKey::from_secret(key.as_bytes()), alg)
        .expect("HMAC signing cannot fail")
}

/// `b64(header).b64(payload).sig` with HS256 over exactly those segments.
pub fn sign(key: &str, header_json: &str, payload_json: &str) -> String {
    sign_bytes(key, header_json.as_bytes(), payload_json.as_bytes())
}

/// Like [`sign`] with header and payload given as bytes (any encoding).
pub fn sign_bytes(key: &str, header: &[u8], payload: &[u8]) -> String {
    sign_segments(key, &b64url(header), &b64url(payload))
}

/// `header_seg.payload_seg.sig`, HS256 over `header_seg.payload_seg` as given.
pub fn sign_segments(key: &str, header_seg: &str, payload_seg: &str) -> String {
    let input = format!("{header_seg}.{payload_seg}");
    let sig = mac(key, Algorithm::HS256, input.as_bytes());
    format!("{input}.{sig}")
}

/// A token signed with another HMAC algorithm.
pub fn sign_alg(key: &str, alg: Algorithm, header_json: &str, payload_json: &str) -> String {
    let input = format!("{}.{}", b64url(header_json), b64url(payload_json));
    let sig = mac(key, alg, input.as_bytes());
    format!("{input}.{sig}")
}

/// The token Django's login issues for user `id`.
pub fn token_for(key: &str, id: i64) -> String {
    sign(key, STD_HEADER, &format!(r#"{{"id":{id}}}"#))
}

/// How the original sees header bytes: latin-1 decoded, then UTF-8 encoded.
pub fn latin1_to_utf8(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|&b| b as char).collect::<String>().into_bytes()
}

/// Wire bytes `signing_input.sig` where `signing_input` is sent as is and
/// the HS256 signature covers its latin-1 → UTF-8 re-encoding.
pub fn sign_wire(key: &str, signing_input: &[u8]) -> Vec<u8> {
    let sig = mac(key, Algorithm::HS256, &latin1_to_utf8(signing_input));
    let mut out = signing_input.to_vec();
    out.push(b'.');
    out.extend_from_slice(sig.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_token_shape() {
        // PyJWT 2.3: jwt.encode({"id": 1}, "secret", algorithm="HS256")
        let t = token_for("secret", 1);
        assert_eq!(t, "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6MX0.-xXA0iKB4mVNvWLYFtt2xNiYkFpObF54J9lj2RwduAI");
    }

    #[test]
    fn b64url_round_trip() {
        for data in [&b""[..], b"a", b"ab", b"abc", b"\xff\xfe\x00"] {
            let text = b64url(data);
            assert_eq!(b64url_decode(&text).unwrap(), data);
            assert_eq!(b64url_decode(format!("{text}==")).unwrap(), data, "padding is optional");
        }
        assert!(b64url_decode("!!").is_err());
    }

    #[test]
    fn latin1() {
        assert_eq!(latin1_to_utf8(&[b'a', 0xe9]), "aé".as_bytes());
    }
}
