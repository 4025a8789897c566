//! Python's `str()`/`repr()` of `json.loads` values and `json.dumps` of a
//! string-to-string dict, as CPython 3.11 writes them.
//!
//! A [`PyStr`] shows lone surrogates as U+FFFD in its text; its repr
//! writes each as Python does (`\ud800`), from the code units it keeps.

use super::pyjson::{PyStr, PyValue};
use super::unicode_props::is_py_printable;
use std::fmt::Write;

/// Python's `str(v)`: the text itself for a string, `repr(v)` otherwise.
pub fn py_str(v: &PyValue) -> String {
    match v {
        PyValue::Str(s) => s.text.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr(v)`: `None`, `True`, `1`, `1e-05`, `'a'`, `[1, 2]`,
/// `{'a': 1}`. Iterative, so any depth is fine.
pub fn py_repr(v: &PyValue) -> String {
    enum Work<'a> {
        Value(&'a PyValue),
        Key(&'a PyStr),
        Text(&'static str),
    }
    let mut out = String::new();
    let mut work = vec![Work::Value(v)];
    while let Some(item) = work.pop() {
        match item {
            Work::Text(t) => out.push_str(t),
            Work::Key(k) => out.push_str(&repr_pystr(k)),
            Work::Value(value) => match value {
                PyValue::Null => out.push_str("None"),
                PyValue::Bool(true) => out.push_str("True"),
                PyValue::Bool(false) => out.push_str("False"),
                PyValue::Int(i) => out.push_str(&i.to_string()),
                PyValue::Float(f) => out.push_str(&float_repr(*f)),
                PyValue::Str(s) => out.push_str(&repr_pystr(s)),
                PyValue::List(items) => {
                    out.push('[');
                    work.push(Work::Text("]"));
                    for (i, item) in items.iter().enumerate().rev() {
                        work.push(Work::Value(item));
                        if i > 0 {
                            work.push(Work::Text(", "));
                        }
                    }
                }
                PyValue::Dict(pairs) => {
                    out.push('{');
                    work.push(Work::Text("}"));
                    for (i, (k, item)) in pairs.iter().enumerate().rev() {
                        work.push(Work::Value(item));
                        work.push(Work::Text(": "));
                        work.push(Work::Key(k));
                        if i > 0 {
                            work.push(Work::Text(", "));
                        }
                    }
                }
            },
        }
    }
    out
}

/// Python's `repr(s)` of a string that may hold lone surrogates: each is
/// not printable, so it is written `\udXXX`.
pub fn repr_pystr(s: &PyStr) -> String {
    if s.surrogates.is_empty() {
        return repr_str(&s.text);
    }
    let quote = quote_of(&s.text);
    let mut out = String::with_capacity(s.text.len() + 8);
    out.push(quote);
    let mut next = s.surrogates.iter().peekable();
    for (at, c) in s.text.char_indices() {
        match next.peek() {
            Some(&&(offset, unit)) if offset == at => {
                next.next();
                let _ = write!(out, "\\u{unit:04x}");
            }
            _ => push_escaped(&mut out, c, quote),
        }
    }
    out.push(quote);
    out
}

fn quote_of(s: &str) -> char {
    if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    }
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`;
/// `\\`, `\t`, `\n`, `\r` and the quote escaped; other non-printable
/// characters (per `str.isprintable`, Unicode 14) as `\xNN`, `\uNNNN` or
/// `\UNNNNNNNN`.
pub fn repr_str(s: &str) -> String {
    let quote = quote_of(s);
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        push_escaped(&mut out, c, quote);
    }
    out.push(quote);
    out
}

/// One character of a repr quoted with `quote`.
fn push_escaped(out: &mut String, c: char, quote: char) {
    let cp = c as u32;
    match c {
        _ if c == quote || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        _ if cp < 0x20 || cp == 0x7F => {
            let _ = write!(out, "\\x{cp:02x}");
        }
        _ if cp < 0x7F || is_py_printable(c) => out.push(c),
        _ if cp <= 0xFF => {
            let _ = write!(out, "\\x{cp:02x}");
        }
        _ if cp <= 0xFFFF => {
            let _ = write!(out, "\\u{cp:04x}");
        }
        _ => {
            let _ = write!(out, "\\U{cp:08x}");
        }
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, fixed
/// notation when the decimal exponent is in -4..16 (`0.0001`,
/// `1000000000000000.0`), else `1e-05`, `1.5e+16`; `inf`, `-inf`, `nan`,
/// `-0.0`.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, exp10) = shortest_digits(f.abs());
    let decpt = exp10 + 1; // value = 0.DIGITS * 10^decpt
    let n = digits.len() as i64;
    let body = if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp10 < 0 { '-' } else { '+' };
        format!("{first}{frac}e{esign}{:02}", exp10.unsigned_abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat(decpt.unsigned_abs() as usize))
    } else if decpt < n {
        let (int_part, frac) = digits.split_at(decpt as usize);
        format!("{int_part}.{frac}")
    } else {
        format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
    };
    format!("{sign}{body}")
}

/// The shortest digits that round-trip to `x` (finite, ≥ 0) and the decimal
/// exponent of the first one, as CPython's dtoa mode 0 picks them: Rust's
/// `{:e}` finds the same length, but when `x` lies exactly halfway between
/// two candidates of that length, Python takes the one with an even last
/// digit.
fn shortest_digits(x: f64) -> (String, i64) {
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp10: i64 = exponent.parse().unwrap_or(0);
    // At most 17 digits, so these fit; an odd `d` is at least 1.
    let Some(d10) = digits.parse::<u64>().ok().filter(|d| d % 2 == 1).and_then(|d| d.checked_mul(10)) else {
        return (digits, exp10);
    };
    let d = d10 / 10;
    // x ≈ digits * 10^unit.
    let unit = exp10 - (digits.len() as i64 - 1);
    for (midpoint, partner) in [(d10 - 5, d - 1), (d10 + 5, d + 1)] {
        let partner_digits = partner.to_string();
        if partner_digits.len() != digits.len() || !equals_decimal(x, midpoint, unit - 1) {
            continue;
        }
        if format!("{partner_digits}e{unit}").parse::<f64>() == Ok(x) {
            return (partner_digits, exp10);
        }
    }
    (digits, exp10)
}

/// Whether `x` (finite, > 0) is exactly `n * 10^k`, by comparing the
/// factorizations `m1 * 2^e1` and `n1 * 2^(b+k) * 5^(c+k)`.
fn equals_decimal(x: f64, n: u64, k: i64) -> bool {
    if n == 0 || x <= 0.0 {
        return false;
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7FF) as i64;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 { (fraction, -1074) } else { (fraction | (1u64 << 52), biased - 1075) };
    while m % 2 == 0 {
        m /= 2;
        e += 1;
    }
    let (mut n1, mut twos, mut fives) = (n, 0i64, 0i64);
    while n1 % 2 == 0 {
        n1 /= 2;
        twos += 1;
    }
    while n1 % 5 == 0 {
        n1 /= 5;
        fives += 1;
    }
    if e != twos + k || fives + k < 0 {
        return false;
    }
    let mut rhs = u128::from(n1);
    for _ in 0..fives + k {
        match rhs.checked_mul(5) {
            Some(v) if v <= u128::from(u64::MAX) => rhs = v,
            _ => return false,
        }
    }
    rhs == u128::from(m)
}

/// `json.dumps(s)` for a string with `ensure_ascii=True`: `\"`, `\\`, `\n`,
/// `\r`, `\t`, `\b`, `\f`; every other character outside ` `..`~` as
/// `\uXXXX` (lowercase hex; astral characters as a surrogate pair; DEL and
/// C1 controls included); `/` is not escaped.
pub fn dumps_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{C}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

/// `json.dumps(dict(pairs))` with the default `", "` and `": "` separators
/// and `ensure_ascii=True`, keys in insertion order. As with a Python dict, a
/// repeated key keeps its first position and takes the last value.
pub fn dumps_object(pairs: &[(&str, &str)]) -> String {
    let mut unique: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
    for &(k, v) in pairs {
        match unique.iter_mut().find(|(seen, _)| *seen == k) {
            Some(slot) => slot.1 = v,
            None => unique.push((k, v)),
        }
    }
    let body: Vec<String> = unique.iter().map(|(k, v)| format!("{}: {}", dumps_str(k), dumps_str(v))).collect();
    format!("{{{}}}", body.join(", "))
}

#[cfg(test)]
mod tests {
    use super::super::pyjson::PyInt;
    use super::*;

    #[test]
    fn floats() {
        let cases = [
            (1e-5, "1e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.0, "1.0"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (123456789.125, "123456789.125"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (1e22, "1e+22"),
            (9007199254740993.0, "9007199254740992.0"),
            (2106393240390185.0 + 0.25, "2106393240390185.2"),
            (985361583661912.0 + 0.25, "985361583661912.2"),
            (1125899906842624.0 + 0.75, "1125899906842624.8"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want);
        }
    }

    #[test]
    fn strings() {
        assert_eq!(repr_str("a'b"), r#""a'b""#);
        assert_eq!(repr_str("a'\"b"), r#"'a\'"b'"#);
        assert_eq!(repr_str("\t\n\r\\\u{7}\u{7f}"), r"'\t\n\r\\\x07\x7f'");
        assert_eq!(
            repr_str("\u{85}\u{a0}\u{ad}é\u{2028}\u{e000}😀\u{e0001}"),
            "'\\x85\\xa0\\xadé\\u2028\\ue000😀\\U000e0001'"
        );
    }

    #[test]
    fn containers() {
        let v = PyValue::Dict(vec![
            (
                PyStr::new("a"),
                PyValue::List(vec![PyValue::Int(PyInt::from_i64(1)), PyValue::Null, PyValue::Bool(true)]),
            ),
            (PyStr::new("b'"), PyValue::Dict(vec![])),
        ]);
        assert_eq!(py_str(&v), r#"{'a': [1, None, True], "b'": {}}"#);
        assert_eq!(py_str(&PyValue::Str(PyStr::new("x'y"))), "x'y");
        let mut deep = PyValue::List(vec![]);
        for _ in 0..10_000 {
            deep = PyValue::List(vec![deep]);
        }
        assert_eq!(py_repr(&deep).len(), 20_002);
        // Dropping a deep value recurses; keep it out of this thread's stack.
        let mut v = deep;
        while let PyValue::List(mut items) = v {
            v = items.pop().unwrap_or(PyValue::Null);
        }
    }

    #[test]
    fn dumps() {
        assert_eq!(dumps_object(&[]), "{}");
        assert_eq!(dumps_object(&[("message", "SUCCESS"), ("t", "a/b")]), r#"{"message": "SUCCESS", "t": "a/b"}"#);
        assert_eq!(dumps_str("\"\\\u{8}\u{c}\u{1f}\u{7f}é😀"), r#""\"\\\b\f\u001f\u007f\u00e9\ud83d\ude00""#);
        assert_eq!(dumps_object(&[("a", "1"), ("b", "2"), ("a", "3")]), r#"{"a": "3", "b": "2"}"#);
    }
}
