//! Python semantics the original Django app depends on, reproduced exactly
//! (CPython 3.11.7, Unicode 14, PyJWT 2.3.0):
//!
//! - [`pyjson`]: `json.loads(bytes)` with its encodings, extensions and
//!   error order, into [`pyjson::PyValue`];
//! - [`pybase64`]: PyJWT's `base64url_decode`;
//! - [`pyint`]: `int(x)` and truthiness;
//! - [`pyrepr`]: `str(x)`/`repr(x)` and `json.dumps` of a flat dict;
//! - [`pyregex`]: the signup email and password regexes;
//! - [`unicode_nd`], [`unicode_props`]: Unicode 14 tables generated from
//!   Python 3.11 by `scripts/gen_compat_vectors.py`.
//!
//! Everything here is self-contained (no other crate module is used) and
//! never panics or recurses on the Rust stack.

pub mod pybase64;
pub mod pyint;
pub mod pyjson;
pub mod pyregex;
pub mod pyrepr;
pub mod unicode_nd;
pub mod unicode_props;

pub use pybase64::urlsafe_b64decode_padded;
pub use pyint::{py_int, py_truthy, IntError};
pub use pyjson::{loads, LoadError, PyInt, PyStr, PyValue};
pub use pyregex::{email_ok, password_ok};
pub use pyrepr::{dumps_object, py_str};
