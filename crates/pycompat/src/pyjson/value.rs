//! The values [`json.loads`](super::loads) produces and the errors it
//! raises: Python's `int` ([`PyInt`]) and `str` ([`PyStr`]), the loaded
//! value ([`PyValue`]) and [`LoadError`].

use std::cmp::Ordering;
use std::fmt;

/// Python's default `sys.get_int_max_str_digits()`: integer literals with
/// more digits raise `ValueError`.
pub const INT_MAX_STR_DIGITS: usize = 4300;

/// An arbitrary-size Python `int`, stored as a sign and normalized decimal
/// digits (no leading zeros; zero is `"0"` and never negative).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PyInt {
    negative: bool,
    digits: String,
}

impl PyInt {
    /// The integer 0.
    pub fn zero() -> PyInt {
        PyInt { negative: false, digits: "0".to_string() }
    }

    /// Builds an integer from ASCII decimal digits (leading zeros allowed);
    /// `None` if `digits` is empty or holds anything but `0-9`.
    pub fn from_digits(negative: bool, digits: &str) -> Option<PyInt> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        if trimmed.is_empty() {
            return Some(PyInt::zero());
        }
        Some(PyInt { negative, digits: trimmed.to_string() })
    }

    /// Builds an integer from a machine integer.
    pub fn from_i64(value: i64) -> PyInt {
        PyInt { negative: value < 0, digits: value.unsigned_abs().to_string() }
    }

    /// True for negative numbers (zero is not negative).
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The decimal digits of the absolute value, without leading zeros.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// True for 0.
    pub fn is_zero(&self) -> bool {
        self.digits == "0"
    }

    /// The value as an `i64`, or `None` when it does not fit.
    pub fn to_i64(&self) -> Option<i64> {
        if self.digits.len() > 19 {
            return None;
        }
        let magnitude: u64 = self.digits.parse().ok()?;
        if self.negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        }
    }

    /// Compares with a machine integer, exactly.
    pub fn cmp_i64(&self, other: i64) -> Ordering {
        self.cmp(&PyInt::from_i64(other))
    }
}

impl From<i64> for PyInt {
    fn from(value: i64) -> PyInt {
        PyInt::from_i64(value)
    }
}

impl Ord for PyInt {
    fn cmp(&self, other: &PyInt) -> Ordering {
        let magnitude = self.digits.len().cmp(&other.digits.len()).then_with(|| self.digits.cmp(&other.digits));
        match (self.negative, other.negative) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
        }
    }
}

impl PartialOrd for PyInt {
    fn partial_cmp(&self, other: &PyInt) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PyInt {
    /// Python's `str(int)` (the 4300-digit output limit is not modelled:
    /// no integer built by this module comes near it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        f.write_str(&self.digits)
    }
}

/// A Python `str`. Rust strings cannot hold lone surrogates, so each one is
/// replaced by U+FFFD in `text` and `lone_surrogate` records that the Python
/// string had at least one (encoding it as UTF-8 would raise).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PyStr {
    pub text: String,
    pub lone_surrogate: bool,
    /// Each lone surrogate: the byte offset in `text` of the U+FFFD that
    /// stands for it, and its code unit (for `repr`, which writes `\ud800`).
    pub surrogates: Vec<(usize, u16)>,
}

impl PyStr {
    /// A string without lone surrogates.
    pub fn new(text: impl Into<String>) -> PyStr {
        PyStr { text: text.into(), lone_surrogate: false, surrogates: Vec::new() }
    }

    /// The text (lone surrogates shown as U+FFFD).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Builds a string from Python code points; surrogates become U+FFFD.
    pub fn from_code_points(code_points: &[u32]) -> PyStr {
        let mut text = String::with_capacity(code_points.len());
        let mut surrogates = Vec::new();
        for &cp in code_points {
            match char::from_u32(cp) {
                Some(c) => text.push(c),
                None => {
                    surrogates.push((text.len(), cp as u16));
                    text.push('\u{FFFD}');
                }
            }
        }
        PyStr { text, lone_surrogate: !surrogates.is_empty(), surrogates }
    }
}

impl From<&str> for PyStr {
    fn from(text: &str) -> PyStr {
        PyStr::new(text)
    }
}

impl From<String> for PyStr {
    fn from(text: String) -> PyStr {
        PyStr::new(text)
    }
}

/// A value produced by Python's `json.loads`.
#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    Null,
    Bool(bool),
    Int(PyInt),
    Float(f64),
    Str(PyStr),
    List(Vec<PyValue>),
    /// Keys in first-insertion order, unique as Python strings (two keys
    /// with different lone surrogates are distinct in Python and stay
    /// distinct here, though both read as U+FFFD).
    Dict(Vec<(PyStr, PyValue)>),
}

impl PyValue {
    /// Python's `type(v).__name__`.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::Null => "NoneType",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::List(_) => "list",
            PyValue::Dict(_) => "dict",
        }
    }

    /// `d[key]` for a dict (a key with a lone surrogate never equals a Rust
    /// string); `None` for a missing key or a value that is not a dict.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(pairs) => pairs.iter().find(|(k, _)| !k.lone_surrogate && k.text == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why `json.loads` raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadError {
    /// `json.JSONDecodeError`.
    Decode,
    /// `UnicodeDecodeError` while decoding the bytes.
    Unicode,
    /// `ValueError`: an integer literal longer than 4300 digits.
    IntTooLong,
    /// `RecursionError`: nesting beyond the interpreter's budget.
    Recursion,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoadError::Decode => "json.JSONDecodeError",
            LoadError::Unicode => "UnicodeDecodeError",
            LoadError::IntTooLong => "ValueError: integer string too long",
            LoadError::Recursion => "RecursionError",
        })
    }
}

impl std::error::Error for LoadError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyint_basics() {
        let big = PyInt::from_digits(false, "00012345678901234567890").unwrap();
        assert_eq!(big.to_string(), "12345678901234567890");
        assert_eq!(big.to_i64(), None);
        assert_eq!(big.cmp_i64(i64::MAX), Ordering::Greater);
        assert_eq!(PyInt::from_i64(i64::MIN).to_i64(), Some(i64::MIN));
        assert_eq!(PyInt::from_digits(true, "9223372036854775809").unwrap().cmp_i64(i64::MIN), Ordering::Less);
        assert_eq!(PyInt::from_digits(true, "000").unwrap(), PyInt::zero());
        assert!(PyInt::zero().is_zero());
        assert_eq!(PyInt::from_digits(false, "1a"), None);
    }
}
