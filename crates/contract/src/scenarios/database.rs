//! What the database decides, and so differs per backend: collation of
//! email lookups, varchar limits, ids past 10**7.

use super::builder::{creds, Scenario, B, U1, U2};

/// Signup and login lookups compare emails in the database, with its
/// collation: exact on SQLite and PostgreSQL; case- and accent-insensitive
/// with trailing spaces ignored on MySQL's utf8mb4_general_ci.
pub(super) fn email_case_and_space(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "email_case_and_space",
        "email lookups follow the database collation: case, accents, trailing spaces, a final newline",
    );
    let base = "Mixed.Case@Example.com";
    let pw = "Passw0rd!";
    b.signup("signup Mixed.Case@Example.com", creds(base, pw))
        .signup(
            "lower-case variant: another email, or the same one under a case-insensitive collation",
            creds("mixed.case@example.com", pw),
        )
        .signup("upper-case variant", creds("MIXED.CASE@EXAMPLE.COM", pw))
        .signup(
            "with the final newline EMAIL_REGEX allows: not padding, another email",
            creds(&format!("{base}\n"), pw),
        )
        .signup("a trailing space is refused by EMAIL_REGEX before any lookup", creds(&format!("{base} "), pw))
        .signup("lower-case variant again, another password", creds("mixed.case@example.com", "0ther#Pass"));
    for (note, email) in [
        ("exact", base.to_string()),
        ("lower case", "mixed.case@example.com".into()),
        ("upper case", "MIXED.CASE@EXAMPLE.COM".into()),
        ("alternating case", "mIxEd.cAsE@eXaMpLe.cOm".into()),
        ("one trailing space", format!("{base} ")),
        ("three trailing spaces", format!("{base}   ")),
        ("lower case and a trailing space", "mixed.case@example.com ".into()),
        ("leading space", format!(" {base}")),
        ("trailing tab", format!("{base}\t")),
        ("trailing no-break space", format!("{base}\u{a0}")),
        ("final newline", format!("{base}\n")),
        ("final newline then a space", format!("{base}\n ")),
        ("accented i", "M\u{ef}xed.Case@Example.com".into()),
        ("fullwidth M", "\u{ff2d}ixed.Case@Example.com".into()),
    ] {
        b.login(&format!("login, {note}: {email:?}"), creds(&email, pw));
    }
    b.login("case variant with a wrong password", creds("MIXED.case@example.com", "Wr0ng!pass"));
    let t1 = b.tok(1);
    b.logout("user 1 logs out: one token row (exact collation) or many (case-insensitive) -> 500", &t1);
    b.done()
}

pub(super) fn email_length_limits(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "email_length_limits",
        "users.email is varchar(100): enforced by PostgreSQL and MySQL (500 at the INSERT), not by SQLite",
    );
    let pw = "Passw0rd!";
    let e100 = format!("{}@example.com", "l".repeat(88));
    let e101 = format!("{}@example.com", "m".repeat(89));
    let e255 = format!("{}@example.com", "n".repeat(243));
    assert_eq!((e100.len(), e101.len(), e255.len()), (100, 101, 255));
    b.signup("100 characters: fits", creds(&e100, pw))
        .signup("101 characters", creds(&e101, pw))
        .signup("101 characters, invalid password: INVALID_PASSWORD comes first", creds(&e101, "x"))
        .signup("100 characters plus the final newline EMAIL_REGEX allows (101)", creds(&format!("{e100}\n"), pw))
        .signup("255 characters", creds(&e255, pw))
        .signup("the 100-character email again", creds(&e100, pw))
        .login("login, 100 characters", creds(&e100, pw))
        .login("login, 101 characters", creds(&e101, pw))
        .login("login, 100 characters upper-cased", creds(&e100.to_uppercase(), pw))
        .login("login, 100 characters and a trailing space", creds(&format!("{e100} "), pw))
        .login("login, 1000 characters", creds(&format!("{}@example.com", "o".repeat(988)), pw));
    // MySQL cuts trailing whitespace (the final newline included) that does
    // not fit, even in strict mode, with only a note: the stored email has
    // no newline.
    let f100 = format!("{}@example.com", "f".repeat(88));
    b.signup("a new 100-character email plus the final newline (101)", creds(&format!("{f100}\n"), pw))
        .login("login without the newline", creds(&f100, pw))
        .login("login with the newline", creds(&format!("{f100}\n"), pw))
        .signup("the same email without the newline", creds(&f100, pw))
        .login("it logs in: its token shows whether the failed INSERTs used up ids", creds(&f100, pw));
    b.done()
}

pub(super) fn token_long_ids(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "token_long_ids",
        "tokens.token is varchar(100): the token of user 10**7 is 101 characters, too long for PostgreSQL and MySQL (500 at login)",
    );
    let (first, second) = (9_999_999, 10_000_000);
    b.user_ids_from(first);
    let (t1, t2, t3) = (b.tok(first), b.tok(second), b.tok(second + 1));
    assert_eq!((t1.len(), t2.len()), (100, 101));
    b.signup_u(U1)
        .signup_u(U2)
        .login("user 9999999: a 100-character token", creds(U1.0, U1.1))
        .login("user 10000000: a 101-character token", creds(U2.0, U2.1))
        .logout("logout user 9999999", &t1)
        .logout("logout user 10000000: logged out if its token row was stored", &t2)
        .logout("user 10000001 does not exist -> 401", &t3)
        .login("user 10000000 again", creds(U2.0, U2.1))
        .logout("and logout again", &t2);
    b.done()
}
