//! The signup validators of `users/views.py`, exactly as Python 3.11's
//! `re.match` evaluates them on a `str`:
//!
//! ```text
//! EMAIL_REGEX    = r"^[a-zA-Z0-9+-_.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$"
//! PASSWORD_REGEX = r"^(?=.*[A-Za-z])(?=.*\d)(?=.*[@$!%*#?&])[A-Za-z\d@$!%*#?&]{8,}$"
//! ```
//!
//! - `$` (no MULTILINE) matches at the end or before one final `"\n"`; no
//!   character class holds `"\n"`, so both checks strip one trailing `"\n"`
//!   and then require the whole rest to match.
//! - `[a-zA-Z0-9+-_.]` holds the range `+`..`_` (``+,-./0-9:;<=>?@A-Z[\]^_``),
//!   `@` included.
//! - `\d` is Python's `str.isdecimal()` set (Unicode 14 `Nd`).
//! - Lone surrogates (U+FFFD in a [`PyStr`]) are in no class either way.

use super::pyjson::PyStr;
use super::unicode_nd::is_py_decimal;

/// `re.match(EMAIL_REGEX, s)` is truthy.
pub fn email_ok(s: &PyStr) -> bool {
    let body = strip_final_newline(s.as_str());
    // The classes after '@' exclude '@', so the literal '@' is the last one;
    // the middle class excludes '.', so '\.' is the first '.' after it.
    let Some((local, domain)) = body.rsplit_once('@') else {
        return false;
    };
    let Some((host, tail)) = domain.split_once('.') else {
        return false;
    };
    nonempty_all(local, is_local_char) && nonempty_all(host, is_host_char) && nonempty_all(tail, is_tail_char)
}

/// `re.match(PASSWORD_REGEX, s)` is truthy. The three look-aheads run
/// `.*`, which stops at `"\n"`: with the body free of newlines they reduce
/// to "contains a letter / a digit / a special".
pub fn password_ok(s: &PyStr) -> bool {
    let body = strip_final_newline(s.as_str());
    let mut count = 0usize;
    let (mut letter, mut digit, mut special) = (false, false, false);
    for c in body.chars() {
        if c.is_ascii_alphabetic() {
            letter = true;
        } else if is_py_decimal(c) {
            digit = true;
        } else if is_password_special(c) {
            special = true;
        } else {
            return false;
        }
        count += 1;
    }
    count >= 8 && letter && digit && special
}

fn strip_final_newline(s: &str) -> &str {
    s.strip_suffix('\n').unwrap_or(s)
}

fn nonempty_all(s: &str, pred: fn(char) -> bool) -> bool {
    !s.is_empty() && s.chars().all(pred)
}

/// `[a-zA-Z0-9+-_.]`
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ('+'..='_').contains(&c) || c == '.'
}

/// `[a-zA-Z0-9-]`
fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// `[a-zA-Z0-9-.]`
fn is_tail_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

/// `[@$!%*#?&]`
fn is_password_special(c: char) -> bool {
    matches!(c, '@' | '$' | '!' | '%' | '*' | '#' | '?' | '&')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> bool {
        email_ok(&PyStr::new(s))
    }

    fn password(s: &str) -> bool {
        password_ok(&PyStr::new(s))
    }

    #[test]
    fn emails() {
        for good in ["a@b.c", "a@b.c\n", "a@x@b.c", "[^]?=@b-.c.", "a.b+c@d-e.f-g.h", "@@b.c", "a@b.."] {
            assert!(email(good), "{good:?}");
        }
        for bad in [
            "",
            "a@b",
            "a@.c",
            "@b.c",
            "a@b.c\n\n",
            "a@b.c\r\n",
            "a b@c.d",
            "é@b.c",
            "a@b_c.d",
            "a@b.c@",
            "a@b.c!",
            "a'@b.c",
            "a@b.\u{FFFD}",
        ] {
            assert!(!email(bad), "{bad:?}");
        }
    }

    #[test]
    fn passwords() {
        for good in ["Passw0rd!", "Passw0rd!\n", "abcdefg\u{663}!", "aaaaaa\u{FF11}&", "a1@a1@a1"] {
            assert!(password(good), "{good:?}");
        }
        for bad in [
            "Passw0!",
            "Password!",
            "Passw0rdd",
            "Passw0rd!\n\n",
            "Passw0rd!\r\n",
            "Passw0rd !",
            "aaaaaa\u{11F50}&",
            "Pässw0rd!",
            "\nPassw0rd!",
        ] {
            assert!(!password(bad), "{bad:?}");
        }
        assert!(!password_ok(&PyStr {
            text: "Passw0rd!\u{FFFD}".into(),
            lone_surrogate: true,
            surrogates: vec![(9, 0xDC00)]
        }));
    }
}
