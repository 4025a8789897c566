//! Scanning: `Modules/_json.c` (`scan_once_unicode` and friends), iteratively.

use std::collections::HashMap;

use super::decode::{is_high_surrogate, is_low_surrogate, join_surrogates};
use super::value::{LoadError, PyInt, PyStr, PyValue, INT_MAX_STR_DIGITS};

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

pub(super) struct Parser<'a> {
    pub(super) s: &'a [u32],
    pub(super) max_depth: usize,
}

impl Parser<'_> {
    fn at(&self, i: usize) -> Option<u32> {
        self.s.get(i).copied()
    }

    fn is(&self, i: usize, c: char) -> bool {
        self.at(i) == Some(u32::from(c))
    }

    /// Skips `[ \t\n\r]*`.
    pub(super) fn skip_ws(&self, mut i: usize) -> usize {
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
    pub(super) fn parse(&self, mut idx: usize) -> Result<(PyValue, usize), LoadError> {
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
