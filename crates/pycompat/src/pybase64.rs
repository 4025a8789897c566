//! PyJWT 2.3.0's `base64url_decode`: pad with `=` to a multiple of 4 (of
//! the raw length, junk included), then `base64.urlsafe_b64decode`, i.e.
//! CPython 3.11's `binascii.a2b_base64` in non-strict mode after mapping
//! `-`→`+` and `_`→`/`:
//!
//! - `A-Za-z0-9` are data, `+`/`-` mean 62 and `/`/`_` mean 63; every other
//!   byte (spaces, `.`, `!`, bytes ≥ 0x80, …) is skipped;
//! - a `=` counts only once at least two data characters of the current
//!   group are in; when the group is complete (`AB==`, `ABC=`, or with junk
//!   between the pads) decoding stops and the rest is ignored; a data
//!   character resets the pad count;
//! - at the end, one leftover data character ("cannot be 1 more than a
//!   multiple of 4") or two or three ("Incorrect padding") is an error;
//! - unused trailing bits are never checked.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// `jwt.utils.base64url_decode(seg)`; `Err(())` is `binascii.Error`.
#[allow(clippy::result_unit_err)]
pub fn urlsafe_b64decode_padded(seg: &[u8]) -> Result<Vec<u8>, ()> {
    // Nearly every segment is plain unpadded base64url, which the base64
    // crate decodes the same way (unused trailing bits ignored); anything
    // it refuses takes the byte-by-byte path below.
    if let Ok(plain) = URL_SAFE_LENIENT.decode(seg) {
        return Ok(plain);
    }
    lenient(seg)
}

/// Unpadded base64url that, like `binascii`, ignores unused trailing bits.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// `binascii.a2b_base64` in non-strict mode, byte by byte.
fn lenient(seg: &[u8]) -> Result<Vec<u8>, ()> {
    let pad = (4 - seg.len() % 4) % 4;
    let input = seg.iter().copied().chain(std::iter::repeat_n(b'=', pad));

    let mut out = Vec::with_capacity(seg.len() / 4 * 3 + 3);
    let mut quad_pos = 0u8;
    let mut left = 0u8;
    let mut pads = 0u8;
    for byte in input {
        if byte == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Ok(out);
                }
            }
            continue;
        }
        let Some(v) = sextet(byte) else {
            continue;
        };
        pads = 0;
        match quad_pos {
            0 => {
                left = v;
                quad_pos = 1;
            }
            1 => {
                out.push((left << 2) | (v >> 4));
                left = v & 0x0F;
                quad_pos = 2;
            }
            2 => {
                out.push((left << 4) | (v >> 2));
                left = v & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push((left << 6) | v);
                left = 0;
                quad_pos = 0;
            }
        }
    }
    if quad_pos == 0 {
        Ok(out)
    } else {
        Err(())
    }
}

/// The 6-bit value of a base64 character (both alphabets), if it is one.
fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> Result<Vec<u8>, ()> {
        urlsafe_b64decode_padded(s)
    }

    #[test]
    fn plain() {
        assert_eq!(dec(b"eyJhbGciOiJIUzI1NiJ9"), Ok(br#"{"alg":"HS256"}"#.to_vec()));
        assert_eq!(dec(b""), Ok(vec![]));
        assert_eq!(dec(b"QQ"), Ok(b"A".to_vec()));
        assert_eq!(dec(b"QUI"), Ok(b"AB".to_vec()));
        // Unused bits are not checked.
        assert_eq!(dec(b"QR"), Ok(b"A".to_vec()));
    }

    #[test]
    fn junk_and_padding() {
        assert_eq!(dec(b"Q!Q"), Err(())); // "Q!Q=": two data + one pad
        assert_eq!(dec(b"Q"), Err(()));
        assert_eq!(dec(b"QUJD\xffQ"), Err(()));
        assert_eq!(dec(b"QQ==QUJD"), Ok(b"A".to_vec()));
        assert_eq!(dec(b"QQ=!=xyz"), Ok(b"A".to_vec()));
        assert_eq!(dec(b"=QQ="), Err(())); // the first '=' does not count
        assert_eq!(dec(b"QQ=Q"), Err(())); // 'Q' resets the pad count
        assert_eq!(dec(b"QUJD="), Ok(b"ABC".to_vec())); // "QUJD====": pads after a full group
        assert_eq!(dec(b"-_+/"), dec(b"+/+/"));
    }

    /// The fast path gives what the byte-by-byte decoder gives, wherever it
    /// accepts the input.
    #[test]
    fn fast_path_agrees_with_the_lenient_decoder() {
        let alphabet = b"AQgw_-Z9az=+/.";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..40 {
            for _ in 0..200 {
                let seg: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize]
                    })
                    .collect();
                assert_eq!(dec(&seg), lenient(&seg), "{}", String::from_utf8_lossy(&seg));
            }
        }
    }
}
