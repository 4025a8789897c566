//! Decoding: `json.detect_encoding` + `bytes.decode(encoding, 'surrogatepass')`,
//! as Python code points (lone surrogates included).

use super::value::LoadError;

/// The codec `json.detect_encoding` picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// `utf-8-sig`: a leading UTF-8 BOM is dropped.
    Utf8Sig,
    /// `utf-16` with a BOM (consumed; it gives the byte order).
    Utf16,
    Utf16Le,
    Utf16Be,
    /// `utf-32` with a BOM (consumed; it gives the byte order).
    Utf32,
    Utf32Le,
    Utf32Be,
}

/// Python's `json.detect_encoding(b)`.
pub fn detect_encoding(b: &[u8]) -> Encoding {
    if b.starts_with(&[0, 0, 0xFE, 0xFF]) || b.starts_with(&[0xFF, 0xFE, 0, 0]) {
        return Encoding::Utf32;
    }
    if b.starts_with(&[0xFE, 0xFF]) || b.starts_with(&[0xFF, 0xFE]) {
        return Encoding::Utf16;
    }
    if b.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Encoding::Utf8Sig;
    }
    if b.len() >= 4 {
        if b[0] == 0 {
            return if b[1] != 0 { Encoding::Utf16Be } else { Encoding::Utf32Be };
        }
        if b[1] == 0 {
            return if b[2] != 0 || b[3] != 0 { Encoding::Utf16Le } else { Encoding::Utf32Le };
        }
    } else if b.len() == 2 {
        if b[0] == 0 {
            return Encoding::Utf16Be;
        }
        if b[1] == 0 {
            return Encoding::Utf16Le;
        }
    }
    Encoding::Utf8
}

/// `body.decode(json.detect_encoding(body), 'surrogatepass')` as Python code
/// points (lone surrogates included).
pub fn decode_body(body: &[u8]) -> Result<Vec<u32>, LoadError> {
    match detect_encoding(body) {
        Encoding::Utf8 => decode_utf8(body),
        Encoding::Utf8Sig => decode_utf8(body.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(body)),
        Encoding::Utf16 => match body {
            [0xFF, 0xFE, rest @ ..] => decode_utf16(rest, false),
            [0xFE, 0xFF, rest @ ..] => decode_utf16(rest, true),
            _ => decode_utf16(body, false),
        },
        Encoding::Utf16Le => decode_utf16(body, false),
        Encoding::Utf16Be => decode_utf16(body, true),
        Encoding::Utf32 => match body {
            [0xFF, 0xFE, 0, 0, rest @ ..] => decode_utf32(rest, false),
            [0, 0, 0xFE, 0xFF, rest @ ..] => decode_utf32(rest, true),
            _ => decode_utf32(body, false),
        },
        Encoding::Utf32Le => decode_utf32(body, false),
        Encoding::Utf32Be => decode_utf32(body, true),
    }
}

/// Strict UTF-8, plus what `surrogatepass` lets through: the three-byte
/// encodings of U+D800..U+DFFF (`ED A0..BF 80..BF`). Overlong forms, code
/// points above U+10FFFF and truncated sequences fail.
fn decode_utf8(b: &[u8]) -> Result<Vec<u32>, LoadError> {
    let cont = |i: usize| -> Result<u32, LoadError> {
        match b.get(i) {
            Some(&x) if (0x80..=0xBF).contains(&x) => Ok(u32::from(x & 0x3F)),
            _ => Err(LoadError::Unicode),
        }
    };
    let in_range = |i: usize, lo: u8, hi: u8| -> Result<u32, LoadError> {
        match b.get(i) {
            Some(&x) if (lo..=hi).contains(&x) => Ok(u32::from(x & 0x3F)),
            _ => Err(LoadError::Unicode),
        }
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let lead = b[i];
        let lead_bits = u32::from(lead);
        match lead {
            0x00..=0x7F => {
                out.push(lead_bits);
                i += 1;
            }
            0xC2..=0xDF => {
                out.push(((lead_bits & 0x1F) << 6) | cont(i + 1)?);
                i += 2;
            }
            0xE0..=0xEF => {
                // E0 needs A0..BF (no overlong); ED accepts A0..BF too, which
                // yields a surrogate: exactly what surrogatepass restores.
                let second = if lead == 0xE0 { in_range(i + 1, 0xA0, 0xBF)? } else { cont(i + 1)? };
                out.push(((lead_bits & 0x0F) << 12) | (second << 6) | cont(i + 2)?);
                i += 3;
            }
            0xF0..=0xF4 => {
                let second = match lead {
                    0xF0 => in_range(i + 1, 0x90, 0xBF)?,
                    0xF4 => in_range(i + 1, 0x80, 0x8F)?,
                    _ => cont(i + 1)?,
                };
                out.push(((lead_bits & 0x07) << 18) | (second << 12) | (cont(i + 2)? << 6) | cont(i + 3)?);
                i += 4;
            }
            _ => return Err(LoadError::Unicode),
        }
    }
    Ok(out)
}

/// UTF-16 with `surrogatepass`: valid pairs combine, lone surrogates pass
/// through; only an odd byte count fails.
fn decode_utf16(b: &[u8], big_endian: bool) -> Result<Vec<u32>, LoadError> {
    if b.len() % 2 != 0 {
        return Err(LoadError::Unicode);
    }
    let units: Vec<u32> = b
        .chunks_exact(2)
        .map(|c| {
            let pair = [c[0], c[1]];
            u32::from(if big_endian { u16::from_be_bytes(pair) } else { u16::from_le_bytes(pair) })
        })
        .collect();
    let mut out = Vec::with_capacity(units.len());
    let mut i = 0;
    while i < units.len() {
        let unit = units[i];
        match units.get(i + 1) {
            Some(&low) if is_high_surrogate(unit) && is_low_surrogate(low) => {
                out.push(join_surrogates(unit, low));
                i += 2;
            }
            _ => {
                out.push(unit);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// UTF-32 with `surrogatepass`: surrogates pass through; a byte count that
/// is not a multiple of 4 or a unit above U+10FFFF fails.
fn decode_utf32(b: &[u8], big_endian: bool) -> Result<Vec<u32>, LoadError> {
    if b.len() % 4 != 0 {
        return Err(LoadError::Unicode);
    }
    b.chunks_exact(4)
        .map(|c| {
            let quad = [c[0], c[1], c[2], c[3]];
            let cp = if big_endian { u32::from_be_bytes(quad) } else { u32::from_le_bytes(quad) };
            if cp > 0x10FFFF {
                Err(LoadError::Unicode)
            } else {
                Ok(cp)
            }
        })
        .collect()
}

pub(super) fn is_high_surrogate(cp: u32) -> bool {
    (0xD800..=0xDBFF).contains(&cp)
}

pub(super) fn is_low_surrogate(cp: u32) -> bool {
    (0xDC00..=0xDFFF).contains(&cp)
}

pub(super) fn join_surrogates(high: u32, low: u32) -> u32 {
    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
}
