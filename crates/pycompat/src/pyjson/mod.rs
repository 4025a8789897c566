//! `json.loads(bytes)` exactly as CPython 3.11's C-accelerated `json`
//! module does it, including the order in which its errors surface.
//!
//! Steps, as in `json/__init__.py` and `Modules/_json.c`:
//!
//! 1. `bytes.decode(json.detect_encoding(b), 'surrogatepass')`; any failure
//!    is a [`LoadError::Unicode`] (Python's `UnicodeDecodeError`).
//! 2. Skip `[ \t\n\r]*`, scan one value, skip `[ \t\n\r]*`, and require the
//!    end of the text (`"Extra data"` otherwise).
//!
//! Python accepts `NaN`, `Infinity`, `-Infinity`, floats that overflow to
//! `inf` (`1e400`), duplicate keys (the last value wins, in the position of
//! the first key), and escaped lone surrogates (`"\ud800"`). Integer
//! literals of more than 4300 digits raise `ValueError`
//! ([`LoadError::IntTooLong`]).
//!
//! # The recursion limit (`max_depth`)
//!
//! CPython's scanner recurses for every `[` and `{`, and each level uses one
//! unit of the interpreter's recursion budget. `max_depth` is that budget as
//! seen from inside `json.loads`: the largest number of simultaneously open
//! containers that still parses (measure it on the live server with
//! `{"a":[[…]]}` bodies: the deepest one answering `KEY_ERROR` rather than a
//! 500). With `d` the number of containers open at the moment an event
//! happens, CPython 3.11 behaves as follows (measured, see the vectors):
//!
//! | event                                               | `RecursionError` when |
//! |-----------------------------------------------------|-----------------------|
//! | opening a container (`[`, `{`)                       | `d + 1 > max_depth`   |
//! | `NaN`, `Infinity`, `-Infinity` (calls `parse_constant`) | `d + 1 > max_depth` |
//! | a `JSONDecodeError` raised by the C scanner (bad delimiter, bad key, bad string) | `d + 3 > max_depth` |
//! | "Expecting value" (a `StopIteration` inside the scanner) | never             |
//! | an integer over 4300 digits (`ValueError`)          | never                 |
//!
//! The scan is strictly left to right, so the first event that fails decides
//! the error. The C scanner builds a `JSONDecodeError` by calling the Python
//! class, which needs three more levels of budget; when they are not there,
//! the would-be decode error becomes a `RecursionError`. Errors Python code
//! raises after the scan ("Extra data", a top-level "Expecting value") are
//! always [`LoadError::Decode`] here, which holds for any realistic budget
//! (`max_depth` is in the hundreds; the vectors were measured at 991).
//!
//! The budget depends on the Python stack at the call site: the view's
//! `json.loads(request.body)` and PyJWT's `json.loads` of the header and
//! payload each need their own measured value.
//!
//! The parser here is iterative: it never recurses on the Rust stack, and the
//! values it returns are at most `max_depth` containers deep (their derived
//! `Drop`, `Clone`, `Debug` and `PartialEq` do recurse, so keep `max_depth`
//! at the measured value, not `usize::MAX`).

use std::cmp::Ordering;
use std::collections::HashMap;
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
}

impl PyStr {
    /// A string without lone surrogates.
    pub fn new(text: impl Into<String>) -> PyStr {
        PyStr { text: text.into(), lone_surrogate: false }
    }

    /// The text (lone surrogates shown as U+FFFD).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Builds a string from Python code points; surrogates become U+FFFD.
    pub fn from_code_points(code_points: &[u32]) -> PyStr {
        let mut text = String::with_capacity(code_points.len());
        let mut lone_surrogate = false;
        for &cp in code_points {
            match char::from_u32(cp) {
                Some(c) => text.push(c),
                None => {
                    lone_surrogate = true;
                    text.push('\u{FFFD}');
                }
            }
        }
        PyStr { text, lone_surrogate }
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

/// Python's `json.loads(body)` for a `bytes` body; see the module docs for
/// `max_depth`.
pub fn loads(body: &[u8], max_depth: usize) -> Result<PyValue, LoadError> {
    let text = decode_body(body)?;
    let parser = Parser { s: &text, max_depth };
    let start = parser.skip_ws(0);
    let (value, end) = parser.parse(start)?;
    if parser.skip_ws(end) != text.len() {
        return Err(LoadError::Decode); // "Extra data"
    }
    Ok(value)
}

// ---------------------------------------------------------------------------
// Decoding: json.detect_encoding + bytes.decode(encoding, 'surrogatepass')
// ---------------------------------------------------------------------------

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

fn is_high_surrogate(cp: u32) -> bool {
    (0xD800..=0xDBFF).contains(&cp)
}

fn is_low_surrogate(cp: u32) -> bool {
    (0xDC00..=0xDFFF).contains(&cp)
}

fn join_surrogates(high: u32, low: u32) -> u32 {
    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
}

// ---------------------------------------------------------------------------
// Scanning: Modules/_json.c (scan_once_unicode and friends), iteratively
// ---------------------------------------------------------------------------

/// An open container while scanning.
enum Frame {
    List(Vec<PyValue>),
    Dict {
        pairs: Vec<(PyStr, PyValue)>,
        /// Python key (code points) → index in `pairs`.
        index: HashMap<Vec<u32>, usize>,
        /// The key whose value is being scanned.
        key: Vec<u32>,
    },
}

impl Frame {
    /// Stores a finished value in this container.
    fn store(&mut self, value: PyValue) {
        match self {
            Frame::List(items) => items.push(value),
            Frame::Dict { pairs, index, key } => {
                let key = std::mem::take(key);
                match index.get(&key) {
                    Some(&i) => pairs[i].1 = value,
                    None => {
                        index.insert(key.clone(), pairs.len());
                        pairs.push((PyStr::from_code_points(&key), value));
                    }
                }
            }
        }
    }

    fn close_char(&self) -> u32 {
        match self {
            Frame::List(_) => u32::from(']'),
            Frame::Dict { .. } => u32::from('}'),
        }
    }

    fn into_value(self) -> PyValue {
        match self {
            Frame::List(items) => PyValue::List(items),
            Frame::Dict { pairs, .. } => PyValue::Dict(pairs),
        }
    }
}

struct Parser<'a> {
    s: &'a [u32],
    max_depth: usize,
}

impl Parser<'_> {
    fn at(&self, i: usize) -> Option<u32> {
        self.s.get(i).copied()
    }

    fn is(&self, i: usize, c: char) -> bool {
        self.at(i) == Some(u32::from(c))
    }

    /// Skips `[ \t\n\r]*`.
    fn skip_ws(&self, mut i: usize) -> usize {
        while matches!(self.at(i), Some(0x20 | 0x09 | 0x0A | 0x0D)) {
            i += 1;
        }
        i
    }

    /// A `JSONDecodeError` raised by the C scanner with `depth` containers
    /// open: building it needs three more levels of recursion budget.
    fn errmsg(&self, depth: usize) -> LoadError {
        if depth.saturating_add(3) > self.max_depth {
            LoadError::Recursion
        } else {
            LoadError::Decode
        }
    }

    /// A C-level call (entering a container, `parse_constant`) at `depth`.
    fn call(&self, depth: usize) -> Result<(), LoadError> {
        if depth.saturating_add(1) > self.max_depth {
            Err(LoadError::Recursion)
        } else {
            Ok(())
        }
    }

    /// Scans the value at `idx` with no container open; returns it and the
    /// index after it.
    fn parse(&self, mut idx: usize) -> Result<(PyValue, usize), LoadError> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            // scan_once_unicode at `idx`, with stack.len() containers open.
            let depth = stack.len();
            let mut value = match self.at(idx) {
                None => return Err(LoadError::Decode), // StopIteration
                Some(0x7B) => {
                    // '{'
                    self.call(depth)?;
                    idx = self.skip_ws(idx + 1);
                    if self.is(idx, '}') {
                        idx += 1;
                        PyValue::Dict(Vec::new())
                    } else {
                        let (key, next) = self.scan_key(idx, depth + 1)?;
                        idx = next;
                        stack.push(Frame::Dict { pairs: Vec::new(), index: HashMap::new(), key });
                        continue;
                    }
                }
                Some(0x5B) => {
                    // '['
                    self.call(depth)?;
                    idx = self.skip_ws(idx + 1);
                    if self.is(idx, ']') {
                        idx += 1;
                        PyValue::List(Vec::new())
                    } else {
                        stack.push(Frame::List(Vec::new()));
                        continue;
                    }
                }
                Some(0x22) => {
                    // '"'
                    let (cps, next) = self.scan_string(idx + 1, depth)?;
                    idx = next;
                    PyValue::Str(PyStr::from_code_points(&cps))
                }
                Some(_) => {
                    let (v, next) = self.scan_scalar(idx, depth)?;
                    idx = next;
                    v
                }
            };
            // Store the finished value, closing every container the text
            // closes, until one expects another item.
            loop {
                let depth = stack.len();
                let Some(frame) = stack.last_mut() else {
                    return Ok((value, idx));
                };
                frame.store(value);
                idx = self.skip_ws(idx);
                let closing = frame.close_char();
                if self.at(idx) == Some(closing) {
                    idx += 1;
                    match stack.pop() {
                        Some(done) => value = done.into_value(),
                        None => return Err(LoadError::Decode), // unreachable
                    }
                    continue;
                }
                if !self.is(idx, ',') {
                    return Err(self.errmsg(depth)); // "Expecting ',' delimiter"
                }
                idx = self.skip_ws(idx + 1);
                if let Frame::Dict { key, .. } = frame {
                    let (next_key, next) = self.scan_key(idx, depth)?;
                    *key = next_key;
                    idx = next;
                }
                break;
            }
        }
    }

    /// `"key" :` followed by whitespace, inside an object at `depth`.
    fn scan_key(&self, idx: usize, depth: usize) -> Result<(Vec<u32>, usize), LoadError> {
        if !self.is(idx, '"') {
            // "Expecting property name enclosed in double quotes"
            return Err(self.errmsg(depth));
        }
        let (key, next) = self.scan_string(idx + 1, depth)?;
        let next = self.skip_ws(next);
        if !self.is(next, ':') {
            return Err(self.errmsg(depth)); // "Expecting ':' delimiter"
        }
        Ok((key, self.skip_ws(next + 1)))
    }

    /// `scanstring_unicode` (strict): `idx` is just after the opening quote.
    fn scan_string(&self, mut idx: usize, depth: usize) -> Result<(Vec<u32>, usize), LoadError> {
        let len = self.s.len();
        let mut out = Vec::new();
        loop {
            let Some(c) = self.at(idx) else {
                return Err(self.errmsg(depth)); // "Unterminated string"
            };
            if c == 0x22 {
                return Ok((out, idx + 1));
            }
            if c != 0x5C {
                if c <= 0x1F {
                    return Err(self.errmsg(depth)); // "Invalid control character"
                }
                out.push(c);
                idx += 1;
                continue;
            }
            // A backslash escape.
            let Some(kind) = self.at(idx + 1) else {
                return Err(self.errmsg(depth));
            };
            if kind != u32::from('u') {
                let decoded = match char::from_u32(kind) {
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('/') => '/',
                    Some('b') => '\u{8}',
                    Some('f') => '\u{C}',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    _ => return Err(self.errmsg(depth)), // "Invalid \\escape"
                };
                out.push(u32::from(decoded));
                idx += 2;
                continue;
            }
            // \uXXXX: CPython wants at least one character after the digits.
            let digits = idx + 2;
            let end = digits + 4;
            if end >= len {
                return Err(self.errmsg(depth));
            }
            let mut cp = self.hex4(digits).ok_or_else(|| self.errmsg(depth))?;
            idx = end;
            if is_high_surrogate(cp) && end + 6 < len && self.is(end, '\\') && self.is(end + 1, 'u') {
                let low = self.hex4(end + 2).ok_or_else(|| self.errmsg(depth))?;
                if is_low_surrogate(low) {
                    cp = join_surrogates(cp, low);
                    idx = end + 6;
                }
            }
            out.push(cp);
        }
    }

    fn hex4(&self, idx: usize) -> Option<u32> {
        let mut v = 0u32;
        for i in idx..idx + 4 {
            let d = char::from_u32(self.at(i)?)?.to_digit(16)?;
            v = (v << 4) | d;
        }
        Some(v)
    }

    fn matches_word(&self, idx: usize, word: &str) -> bool {
        word.chars().enumerate().all(|(k, c)| self.is(idx + k, c))
    }

    /// Constants and numbers (`scan_once_unicode`'s tail and
    /// `_match_number_unicode`).
    fn scan_scalar(&self, idx: usize, depth: usize) -> Result<(PyValue, usize), LoadError> {
        let words: [(&str, Option<PyValue>); 6] = [
            ("null", Some(PyValue::Null)),
            ("true", Some(PyValue::Bool(true))),
            ("false", Some(PyValue::Bool(false))),
            ("NaN", None),
            ("Infinity", None),
            ("-Infinity", None),
        ];
        for (word, plain) in words {
            if self.matches_word(idx, word) {
                let value = match plain {
                    Some(v) => v,
                    None => {
                        self.call(depth)?; // parse_constant(word)
                        PyValue::Float(match word {
                            "NaN" => f64::NAN,
                            "Infinity" => f64::INFINITY,
                            _ => f64::NEG_INFINITY,
                        })
                    }
                };
                return Ok((value, idx + word.len()));
            }
        }
        self.scan_number(idx)
    }

    fn digit_at(&self, i: usize) -> bool {
        matches!(self.at(i), Some(0x30..=0x39))
    }

    /// `_match_number_unicode`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`
    /// with CPython's backtracking; anything else is a `StopIteration`.
    fn scan_number(&self, start: usize) -> Result<(PyValue, usize), LoadError> {
        let len = self.s.len();
        let mut idx = start;
        if self.is(idx, '-') {
            idx += 1;
        }
        match self.at(idx) {
            Some(0x31..=0x39) => {
                idx += 1;
                while self.digit_at(idx) {
                    idx += 1;
                }
            }
            Some(0x30) => idx += 1,
            _ => return Err(LoadError::Decode), // StopIteration
        }
        let mut is_float = false;
        if idx + 1 < len && self.is(idx, '.') && self.digit_at(idx + 1) {
            is_float = true;
            idx += 2;
            while self.digit_at(idx) {
                idx += 1;
            }
        }
        if idx + 1 < len && (self.is(idx, 'e') || self.is(idx, 'E')) {
            let e_start = idx;
            idx += 1;
            if idx + 1 < len && (self.is(idx, '-') || self.is(idx, '+')) {
                idx += 1;
            }
            while self.digit_at(idx) {
                idx += 1;
            }
            if self.digit_at(idx - 1) {
                is_float = true;
            } else {
                idx = e_start;
            }
        }
        // Every code point in start..idx is ASCII.
        let text: String = self.s[start..idx].iter().filter_map(|&c| char::from_u32(c)).collect();
        if is_float {
            let value: f64 = text.parse().map_err(|_| LoadError::Decode)?;
            return Ok((PyValue::Float(value), idx));
        }
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        if digits.len() > INT_MAX_STR_DIGITS {
            return Err(LoadError::IntTooLong);
        }
        let int = PyInt::from_digits(negative, digits).ok_or(LoadError::Decode)?;
        Ok((PyValue::Int(int), idx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> PyValue {
        loads(body.as_bytes(), 100).expect(body)
    }

    fn err(body: &[u8]) -> LoadError {
        loads(body, 100).expect_err(&String::from_utf8_lossy(body))
    }

    fn int(v: i64) -> PyValue {
        PyValue::Int(PyInt::from_i64(v))
    }

    #[test]
    fn scalars_and_python_extensions() {
        assert_eq!(ok(" null "), PyValue::Null);
        assert_eq!(ok("true"), PyValue::Bool(true));
        assert_eq!(ok("-0"), int(0));
        assert_eq!(ok("1e400"), PyValue::Float(f64::INFINITY));
        assert_eq!(ok("-Infinity"), PyValue::Float(f64::NEG_INFINITY));
        assert!(matches!(ok("NaN"), PyValue::Float(f) if f.is_nan()));
        assert_eq!(ok("-0.0"), PyValue::Float(-0.0));
        assert_eq!(ok("1E+2"), PyValue::Float(100.0));
    }

    #[test]
    fn rejects_what_python_rejects() {
        for body in [
            "",
            " ",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "[1,]",
            "{\"a\":1,}",
            "[1] x",
            "nul",
            "'a'",
            "[1 2]",
            "\"\t\"",
            "\"\\x\"",
            "\"\\u12\"",
        ] {
            assert_eq!(err(body.as_bytes()), LoadError::Decode, "{body:?}");
        }
    }

    #[test]
    fn duplicate_keys_keep_first_position() {
        let v = ok(r#"{"a": 1, "b": 2, "a": 3}"#);
        assert_eq!(v, PyValue::Dict(vec![(PyStr::new("a"), int(3)), (PyStr::new("b"), int(2))]));
        assert_eq!(v.get("a"), Some(&int(3)));
    }

    #[test]
    fn surrogates() {
        assert_eq!(ok(r#""\ud83d\ude00""#), PyValue::Str(PyStr::new("😀")));
        let lone = ok(r#""\ud800x""#);
        assert_eq!(lone, PyValue::Str(PyStr { text: "\u{FFFD}x".into(), lone_surrogate: true }));
        // Raw surrogates via surrogatepass.
        assert!(matches!(loads(b"\"\xed\xa0\x80\"", 10), Ok(PyValue::Str(s)) if s.lone_surrogate));
        assert_eq!(err(b"\"\xc0\x80\""), LoadError::Unicode);
        assert_eq!(err(b"\"\xed\xa0\""), LoadError::Unicode);
        assert_eq!(err(b"\"\xf4\x90\x80\x80\""), LoadError::Unicode);
    }

    #[test]
    fn encodings() {
        assert_eq!(detect_encoding(b"\xff\xfe\x00\x00"), Encoding::Utf32);
        assert_eq!(detect_encoding(b"1\x00"), Encoding::Utf16Le);
        assert_eq!(detect_encoding(b"\x001"), Encoding::Utf16Be);
        assert_eq!(detect_encoding(b"1\x00\x00\x00"), Encoding::Utf32Le);
        assert_eq!(loads(b"1\x00", 5), Ok(int(1)));
        assert_eq!(loads(b"\xef\xbb\xbf 2", 5), Ok(int(2)));
        assert_eq!(loads(b"\xfe\xff\x00\x33", 5), Ok(int(3)));
        assert_eq!(loads(b"\xff\xfe\x00\x00\x34\x00\x00\x00", 5), Ok(int(4)));
        assert_eq!(err(b"\xff\xfe\x00\x00\x00\x00\x11\x00"), LoadError::Unicode);
        assert_eq!(err(b"\xff\xfe\x31"), LoadError::Unicode);
        assert_eq!(err(b"\xef\xbb\xbf"), LoadError::Decode);
    }

    #[test]
    fn int_digit_limit() {
        let ok_body = "7".repeat(4300);
        assert!(matches!(loads(ok_body.as_bytes(), 5), Ok(PyValue::Int(_))));
        assert_eq!(loads(format!("-{ok_body}").as_bytes(), 5).map(|_| ()), Ok(()));
        assert_eq!(err(format!("{ok_body}7").as_bytes()), LoadError::IntTooLong);
        // Floats have no limit.
        assert!(matches!(loads(format!("{ok_body}7.0").as_bytes(), 5), Ok(PyValue::Float(_))));
    }

    #[test]
    fn depth_model() {
        let nest = |n: usize, inner: &str| format!("{}{}{}", "[".repeat(n), inner, "]".repeat(n));
        let l = 50;
        assert!(loads(nest(l, "").as_bytes(), l).is_ok());
        assert_eq!(loads(nest(l + 1, "").as_bytes(), l), Err(LoadError::Recursion));
        assert_eq!(loads(nest(l, "NaN").as_bytes(), l), Err(LoadError::Recursion));
        assert!(loads(nest(l - 1, "NaN").as_bytes(), l).is_ok());
        assert_eq!(loads(nest(l, "x").as_bytes(), l), Err(LoadError::Decode));
        assert_eq!(loads(nest(l - 2, "1 2").as_bytes(), l), Err(LoadError::Recursion));
        assert_eq!(loads(nest(l - 3, "1 2").as_bytes(), l), Err(LoadError::Decode));
        // An error before the limit is reached wins.
        assert_eq!(loads(format!("[x{}", "[".repeat(200)).as_bytes(), l), Err(LoadError::Decode));
        // Deep input never touches the Rust stack.
        assert_eq!(loads("[".repeat(1_000_000).as_bytes(), usize::MAX), Err(LoadError::Decode));
    }

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
