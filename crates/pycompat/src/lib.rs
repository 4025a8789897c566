//! `pycompat`: the Python semantics the original Django users app depends
//! on, reproduced exactly in Rust (CPython 3.11.7, Unicode 14, PyJWT 2.3.0)
//! for `ledger-server`, its drop-in replacement:
//!
//! - [`pyjson`]: `json.loads(bytes)` with its encodings, extensions and
//!   error order, into [`pyjson::PyValue`];
//! - [`pybase64`]: PyJWT's `base64url_decode`;
//! - [`pyint`]: `int(x)` and truthiness;
//! - [`pyrepr`]: `str(x)`/`repr(x)` and `json.dumps` of a flat dict;
//! - [`pyregex`]: the signup email and password regexes;
//! - [`pybcrypt`]: pyca bcrypt 3.2.0's `hashpw` and `checkpw`, on a fast
//!   eksblowfish that can interleave two checks on one thread;
//! - [`unicode_nd`], [`unicode_props`]: Unicode 14 tables generated from
//!   Python 3.11 by `crates/pycompat/scripts/gen_vectors.py`.
//!
//! Everything here is self-contained (it depends on no other crate of the
//! workspace) and never panics or recurses on the Rust stack.
//!
//! # Tests and regenerating the vectors
//!
//! Besides the unit tests in `src`, `tests/vectors.rs` checks every entry
//! point against `tests/data/compat_vectors.json`: Python's real answers,
//! recorded by `crates/pycompat/scripts/gen_vectors.py` (its docstring
//! describes the format). The same script writes the Unicode tables
//! `src/unicode_nd.rs` and `src/unicode_props.rs`. It must run under
//! CPython 3.11 (it refuses any other version); from the repository root:
//!
//! ```text
//! ${TMPDIR:-/tmp}/ledger-reference-venv/bin/python crates/pycompat/scripts/gen_vectors.py
//! ```
//!
//! That interpreter is the virtualenv of the reference Django app (the
//! oracle), a Python 3.11; it may not exist yet, and
//! `REF_DB_NAME=/tmp/x.sqlite3 ../shared/reference/run.sh migrate` (from the
//! repository root) builds it with the `python3` on the `PATH`.
//! The script reads the signup regexes from the reference's `users/views.py`
//! (`--reference`, default `/work/shared/reference`; built-in copies when
//! that is missing), and `--only tables` or `--only vectors` limits what it
//! writes. Its output is deterministic: on an unchanged tree, `git status`
//! shows no change afterwards.

pub mod pybase64;
pub mod pybcrypt;
pub mod pyint;
pub mod pyjson;
pub mod pylookup;
pub mod pyregex;
pub mod pyrepr;
pub mod pysource;
pub mod unicode_nd;
pub mod unicode_props;

pub use pybase64::urlsafe_b64decode_padded;
pub use pyint::{py_int, py_truthy, IntError};
pub use pyjson::{loads, LoadError, PyInt, PyStr, PyValue};
pub use pyregex::{email_ok, password_ok};
pub use pyrepr::{dumps_object, py_str};

#[cfg(test)]
mod no_panic_tests {
    //! Random inputs through every entry point: nothing may panic.

    use super::*;

    /// xorshift64*, deterministic.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        let pieces: &[&[u8]] = &[
            b"[",
            b"]",
            b"{",
            b"}",
            b",",
            b":",
            b"\"",
            b"\\u",
            b"d800",
            b"\\",
            b"1",
            b"-",
            b".",
            b"e",
            b"NaN",
            b"Infinity",
            b"null",
            b" ",
            b"\x00",
            b"\xff",
            b"\xfe",
            b"\xed\xa0\x80",
            b"\xef\xbb\xbf",
            b"x",
            b"0",
            b"E+",
            b"\"a\"",
            b"_",
            b"=",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..20_000 {
            let mut body = Vec::new();
            for _ in 0..rng.below(24) {
                if rng.below(4) == 0 {
                    body.push(rng.next() as u8);
                } else {
                    body.extend_from_slice(pieces[rng.below(pieces.len())]);
                }
            }
            let _ = urlsafe_b64decode_padded(&body);
            let text = PyStr::new(String::from_utf8_lossy(&body));
            let _ = (email_ok(&text), password_ok(&text), pyint::int_from_str(&text));
            if let Ok(v) = loads(&body, round % 7) {
                let _ = (py_int(&v), py_truthy(&v), py_str(&v));
            }
        }
        for _ in 0..20_000 {
            let f = f64::from_bits(rng.next());
            let _ = (pyrepr::float_repr(f), pyint::int_from_float(f));
        }
    }
}
