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

mod decode;
mod parse;
mod value;

pub use decode::{decode_body, detect_encoding, Encoding};
pub use value::{LoadError, PyInt, PyStr, PyValue, INT_MAX_STR_DIGITS};

use parse::Parser;

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
        assert_eq!(
            lone,
            PyValue::Str(PyStr { text: "\u{FFFD}x".into(), lone_surrogate: true, surrogates: vec![(0, 0xD800)] })
        );
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
}
