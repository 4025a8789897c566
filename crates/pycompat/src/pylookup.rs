//! The value Django 3.2's `CharField` exact lookup
//! (`User.objects.get(email=value)`) makes of a `json.loads` value, and
//! where it raises `RecursionError` instead (measured on the oracle,
//! CPython 3.11, the login view under gunicorn):
//!
//! 1. `Query.resolve_lookup_value` recurses into lists (two Python frames
//!    a level): a call depth (a list is one more than its deepest item,
//!    anything else 1) of [`RESOLVE_MAX_DEPTH`] passes, one more raises.
//!    The original then spends its 30 s worker timeout formatting the
//!    traceback's locals for the admin e-mail handler, and gunicorn kills
//!    the worker and answers its own 500 page ([`LookupError::Resolve`]).
//! 2. `str(value)` (`CharField.to_python`) recurses through every
//!    container and item (C calls, `Py_EnterRecursiveCall`): a repr depth
//!    of [`STR_MAX_DEPTH`] passes; beyond it Django's 500 page
//!    ([`LookupError::Str`]). At exactly one more the oracle's workers
//!    disagree (their stacks differ by a frame): some pass, some raise;
//!    this side raises.

use super::pyjson::PyValue;
use super::pyrepr::py_str;

/// The deepest `resolve_lookup_value` call depth that passes (478 lists
/// around a scalar, or 479 lists in all, the innermost `[]`).
pub const RESOLVE_MAX_DEPTH: usize = 479;
/// The deepest repr depth (containers and the item inside the deepest)
/// that `str()` passes in every worker.
pub const STR_MAX_DEPTH: usize = 951;

/// Why the lookup raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// `RecursionError` in `resolve_lookup_value` (lists too deep).
    Resolve,
    /// `RecursionError` in `str()` (containers too deep).
    Str,
}

/// `str(value)` as the lookup binds it, or where it raises.
pub fn lookup_str(v: &PyValue) -> Result<String, LookupError> {
    if depth(v, true) > RESOLVE_MAX_DEPTH {
        return Err(LookupError::Resolve);
    }
    if depth(v, false) > STR_MAX_DEPTH {
        return Err(LookupError::Str);
    }
    Ok(py_str(v))
}

/// The call depth of a recursion over lists only (`lists_only`) or over
/// every container (dict keys and values alike); iterative.
fn depth(v: &PyValue, lists_only: bool) -> usize {
    let mut deepest = 0;
    let mut work = vec![(v, 1usize)];
    while let Some((value, d)) = work.pop() {
        deepest = deepest.max(d);
        match value {
            PyValue::List(items) => work.extend(items.iter().map(|i| (i, d + 1))),
            // a key is a str: one call deeper, as its value at least
            PyValue::Dict(pairs) if !lists_only => {
                work.extend(pairs.iter().map(|(_, i)| (i, d + 1)));
                if !pairs.is_empty() {
                    deepest = deepest.max(d + 1);
                }
            }
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyjson::loads;

    fn nest(open: &str, close: &str, n: usize, inner: &str) -> PyValue {
        loads(format!("{}{inner}{}", open.repeat(n), close.repeat(n)).as_bytes(), 2000).unwrap()
    }

    #[test]
    fn thresholds_measured_on_the_oracle() {
        // lists: 478 around a scalar pass, 479 raise; 479 lists in all (478 around []) pass
        assert!(lookup_str(&nest("[", "]", 478, "\"a\"")).is_ok());
        assert_eq!(lookup_str(&nest("[", "]", 479, "\"a\"")), Err(LookupError::Resolve));
        assert!(lookup_str(&nest("[", "]", 478, "[]")).is_ok());
        assert_eq!(lookup_str(&nest("[", "]", 479, "[]")), Err(LookupError::Resolve));
        // dicts: 950 around a scalar pass in every worker; 952 raise in every worker
        assert!(lookup_str(&nest("{\"k\": ", "}", 950, "\"a\"")).is_ok());
        assert_eq!(lookup_str(&nest("{\"k\": ", "}", 951, "\"a\"")), Err(LookupError::Str));
        assert!(lookup_str(&nest("{\"k\": ", "}", 950, "{}")).is_ok());
        assert_eq!(lookup_str(&nest("{\"k\": ", "}", 951, "{}")), Err(LookupError::Str));
        // a list of dicts: resolve stops at the dict, str() counts both
        let v = loads(format!("[{}\"a\"{}]", "{\"k\": ".repeat(949), "}".repeat(949)).as_bytes(), 2000).unwrap();
        assert!(lookup_str(&v).is_ok());
        let v = loads(format!("[{}\"a\"{}]", "{\"k\": ".repeat(951), "}".repeat(951)).as_bytes(), 2000).unwrap();
        assert_eq!(lookup_str(&v), Err(LookupError::Str));
    }

    #[test]
    fn lone_surrogates_are_written_as_python_does() {
        let v = loads(br#"["\ud800", "x\udfffy", {"\udc00": 1}]"#, 10).unwrap();
        assert_eq!(lookup_str(&v).unwrap(), r"['\ud800', 'x\udfffy', {'\udc00': 1}]");
        let v = loads("[\"\u{FFFD}\\ud800'\"]".as_bytes(), 10).unwrap();
        assert_eq!(lookup_str(&v).unwrap(), "[\"\u{FFFD}\\ud800'\"]");
    }
}
