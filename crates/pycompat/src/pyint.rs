//! Python's `int(x)` and `bool(x)` for values produced by `json.loads`.
//!
//! `int(str)` follows CPython 3.11 (`PyLong_FromUnicodeObject`): first every
//! non-ASCII character is mapped, whitespace (`str.isspace`) to a space and
//! Unicode decimal digits (`unicodedata.decimal`, Unicode 14) to ASCII
//! digits, anything else ending the string in an error; then the ASCII text
//! is parsed in base 10 by `PyLong_FromString`, which only skips the C
//! whitespace ` \t\n\v\f\r` around the number. So `"\u3000 ٣ "` is 3, but
//! `"\x1c5"` is a `ValueError` although `"\x1c".isspace()` is true.

use super::pyjson::{PyInt, PyStr, PyValue, INT_MAX_STR_DIGITS};
use super::unicode_nd::decimal_value;
use super::unicode_props::is_py_space;
use std::fmt;

/// Which exception `int(x)` raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntError {
    /// `ValueError` (bad literal, NaN, more than 4300 digits).
    Value,
    /// `TypeError` (`None`, lists, dicts).
    Type,
    /// `OverflowError` (an infinite float).
    Overflow,
}

impl fmt::Display for IntError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IntError::Value => "ValueError",
            IntError::Type => "TypeError",
            IntError::Overflow => "OverflowError",
        })
    }
}

impl std::error::Error for IntError {}

/// Python's `int(v)`.
pub fn py_int(v: &PyValue) -> Result<PyInt, IntError> {
    match v {
        PyValue::Int(i) => Ok(i.clone()),
        PyValue::Bool(b) => Ok(PyInt::from_i64(i64::from(*b))),
        PyValue::Float(f) => int_from_float(*f),
        PyValue::Str(s) => int_from_str(s),
        PyValue::Null | PyValue::List(_) | PyValue::Dict(_) => Err(IntError::Type),
    }
}

/// Python's truth value (`bool(v)`); NaN is true.
pub fn py_truthy(v: &PyValue) -> bool {
    match v {
        PyValue::Null => false,
        PyValue::Bool(b) => *b,
        PyValue::Int(i) => !i.is_zero(),
        PyValue::Float(f) => *f != 0.0,
        PyValue::Str(s) => !s.text.is_empty(),
        PyValue::List(items) => !items.is_empty(),
        PyValue::Dict(pairs) => !pairs.is_empty(),
    }
}

/// `int(f)` for a float: truncation toward zero, exact for any magnitude.
pub fn int_from_float(f: f64) -> Result<PyInt, IntError> {
    if f.is_nan() {
        return Err(IntError::Value);
    }
    if f.is_infinite() {
        return Err(IntError::Overflow);
    }
    let bits = f.to_bits();
    let negative = bits >> 63 == 1;
    let exponent_bits = i32::try_from((bits >> 52) & 0x7FF).unwrap_or(0);
    let fraction = bits & ((1u64 << 52) - 1);
    // value = mantissa * 2^exponent
    let (mantissa, exponent) =
        if exponent_bits == 0 { (fraction, -1074) } else { (fraction | (1u64 << 52), exponent_bits - 1075) };
    let digits = if exponent >= 0 {
        shifted_decimal(mantissa, exponent.unsigned_abs())
    } else {
        let shift = exponent.unsigned_abs();
        let whole = if shift >= 64 { 0 } else { mantissa >> shift };
        whole.to_string()
    };
    Ok(PyInt::from_digits(negative, &digits).unwrap_or_else(PyInt::zero))
}

/// Decimal digits of `mantissa * 2^shift` (little bignum, base 10^9 limbs).
fn shifted_decimal(mantissa: u64, mut shift: u32) -> String {
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![mantissa % BASE, (mantissa / BASE) % BASE, mantissa / BASE / BASE];
    while shift > 0 {
        let step = shift.min(30);
        shift -= step;
        let mut carry = 0u64;
        for limb in limbs.iter_mut() {
            let v = (*limb << step) + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut out = String::new();
    for (i, limb) in limbs.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&limb.to_string());
        } else {
            out.push_str(&format!("{limb:09}"));
        }
    }
    out
}

/// `int(s)` for a string (base 10).
pub fn int_from_str(s: &PyStr) -> Result<PyInt, IntError> {
    // _PyUnicode_TransformDecimalAndSpaceToASCII. A lone surrogate (U+FFFD
    // here) is neither space nor digit, so it fails either way.
    let mut ascii: Vec<u8> = Vec::with_capacity(s.text.len());
    for c in s.text.chars() {
        if (c as u32) < 127 {
            ascii.push(c as u8);
        } else if is_py_space(c) {
            ascii.push(b' ');
        } else if let Some(d) = decimal_value(c) {
            ascii.push(b'0' + d as u8);
        } else {
            return Err(IntError::Value);
        }
    }
    parse_ascii_base10(&ascii).ok_or(IntError::Value)
}

/// C's `Py_ISSPACE`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// `PyLong_FromString(text, &end, 10)` requiring the whole text to be used.
fn parse_ascii_base10(text: &[u8]) -> Option<PyInt> {
    let mut i = 0;
    while i < text.len() && is_c_space(text[i]) {
        i += 1;
    }
    let mut negative = false;
    match text.get(i) {
        Some(b'+') => i += 1,
        Some(b'-') => {
            negative = true;
            i += 1;
        }
        _ => {}
    }
    if text.get(i) == Some(&b'_') {
        return None;
    }
    let mut digits = String::new();
    let mut prev = 0u8;
    while let Some(&b) = text.get(i) {
        if b == b'_' {
            if prev == b'_' {
                return None;
            }
        } else if b.is_ascii_digit() {
            digits.push(char::from(b));
        } else {
            break;
        }
        prev = b;
        i += 1;
    }
    if prev == b'_' || digits.is_empty() || digits.len() > INT_MAX_STR_DIGITS {
        return None;
    }
    while i < text.len() && is_c_space(text[i]) {
        i += 1;
    }
    if i != text.len() {
        return None;
    }
    PyInt::from_digits(negative, &digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_str(s: &str) -> Result<String, IntError> {
        int_from_str(&PyStr::new(s)).map(|i| i.to_string())
    }

    #[test]
    fn strings() {
        assert_eq!(int_str(" 99 "), Ok("99".into()));
        assert_eq!(int_str("9_999"), Ok("9999".into()));
        assert_eq!(int_str("\u{663}\u{664}"), Ok("34".into()));
        assert_eq!(int_str("\u{3000}-\u{FF11}\u{A0}"), Ok("-1".into()));
        assert_eq!(int_str("-0"), Ok("0".into()));
        assert_eq!(int_str("\u{1D7CE}"), Ok("0".into()));
        for bad in [
            "",
            " ",
            "_1",
            "1_",
            "1__2",
            "+ 1",
            "1.0",
            "1e3",
            "\x1c5",
            "\u{B2}",
            "\u{11F50}",
            "1\0",
            "0x10",
            "\u{FFFD}",
        ] {
            assert_eq!(int_str(bad), Err(IntError::Value), "{bad:?}");
        }
        assert!(int_str(&"0".repeat(4300)).is_ok());
        assert_eq!(int_str(&"0".repeat(4301)), Err(IntError::Value));
        assert!(int_str("1_".repeat(4300).trim_end_matches('_')).is_ok());
    }

    #[test]
    fn floats() {
        assert_eq!(int_from_float(-1.9).map(|i| i.to_string()), Ok("-1".into()));
        assert_eq!(int_from_float(-0.0), Ok(PyInt::zero()));
        assert_eq!(int_from_float(5e-324), Ok(PyInt::zero()));
        assert_eq!(int_from_float(2f64.powi(63)).map(|i| i.to_string()), Ok("9223372036854775808".into()));
        assert_eq!(
            int_from_float(1e300).map(|i| i.to_string()),
            Ok("1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160".into())
        );
        assert_eq!(int_from_float(f64::NAN), Err(IntError::Value));
        assert_eq!(int_from_float(f64::NEG_INFINITY), Err(IntError::Overflow));
        assert_eq!(int_from_float(f64::MAX).map(|i| i.digits().len()), Ok(309));
    }

    #[test]
    fn other_types_and_truth() {
        assert_eq!(py_int(&PyValue::Bool(true)), Ok(PyInt::from_i64(1)));
        assert_eq!(py_int(&PyValue::Null), Err(IntError::Type));
        assert_eq!(py_int(&PyValue::List(vec![])), Err(IntError::Type));
        assert!(py_truthy(&PyValue::Float(f64::NAN)));
        assert!(!py_truthy(&PyValue::Float(-0.0)));
        assert!(!py_truthy(&PyValue::Str(PyStr::new(""))));
        assert!(py_truthy(&PyValue::Dict(vec![(PyStr::new(""), PyValue::Null)])));
    }
}
