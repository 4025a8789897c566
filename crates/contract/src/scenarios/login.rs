//! Login: the lookup, the password check, body shapes and value types, token rows.

use super::builder::{creds, creds_json, js, Scenario, B, JSON_NON_STRINGS, U1, U2};

pub(super) fn login_flow(key: &str) -> Scenario {
    let mut b = B::new(key, "login_flow", "unknown user, wrong password, right password, the same token every time");
    b.login("unknown user", creds(U1.0, U1.1))
        .signup_u(U1)
        .login("wrong password", creds(U1.0, "Passw0rd?"))
        .login("password with a trailing newline", creds(U1.0, "Passw0rd!\n"))
        .login("empty password", creds(U1.0, ""))
        .login("invalid-format password is only compared", creds(U1.0, "x"))
        .login_u(U1)
        .login("second login: same token, second row", creds(U1.0, U1.1))
        .signup_u(U2)
        .login_u(U2)
        .login("upper case: unknown under an exact collation (SQLite, PostgreSQL), the same user under MySQL's case-insensitive one", creds("USER1@example.com", U1.1))
        .login("email with surrounding spaces is unknown", creds(" user1@example.com ", U1.1));
    b.done()
}

pub(super) fn login_body_garbage(key: &str) -> Scenario {
    let mut b = B::new(key, "login_body_garbage", "login bodies that are not a JSON object");
    for (note, body) in [
        ("empty", ""),
        ("whitespace", " \n"),
        ("not JSON", "hello"),
        ("trailing data", "{} x"),
        ("1", "1"),
        ("string", "\"x\""),
        ("null", "null"),
        ("list", "[]"),
        ("true", "true"),
        ("NaN", "NaN"),
        ("list of an object", "[{\"email\": \"a\"}]"),
    ] {
        b.login(note, body);
    }
    b.login("invalid UTF-8", b"\xff\xfe\xfd");
    b.login("UTF-8 BOM + {} -> KEY_ERROR", b"\xef\xbb\xbf{}");
    b.done()
}

pub(super) fn login_missing_keys(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "login_missing_keys",
        "login reads email, looks the user up, then reads password: missing keys in every combination",
    );
    b.signup_u(U1)
        .login("no keys", "{}")
        .login("password only", format!(r#"{{"password": {}}}"#, js(U1.1)))
        .login("unknown email only -> INVALID_USER (lookup before password)", r#"{"email": "nobody@example.com"}"#)
        .login("known email only -> KEY_ERROR", format!(r#"{{"email": {}}}"#, js(U1.0)))
        .login("known email, misspelt password key", format!(r#"{{"email": {}, "pasword": {}}}"#, js(U1.0), js(U1.1)))
        .login("capitalised keys", format!(r#"{{"Email": {}, "Password": {}}}"#, js(U1.0), js(U1.1)))
        .login("null email only -> INVALID_USER", r#"{"email": null}"#);
    b.done()
}

pub(super) fn login_types(key: &str) -> Scenario {
    let mut b = B::new(key, "login_types", "email and password of other JSON types");
    b.signup_u(U1);
    for v in JSON_NON_STRINGS {
        b.login(&format!("email {v}"), creds_json(v, &js(U1.1)));
    }
    b.login("email as a one-element list of the real email", creds_json(&format!("[{}]", js(U1.0)), &js(U1.1)));
    for v in JSON_NON_STRINGS {
        b.login(&format!("known email, password {v} -> 500"), creds_json(&js(U1.0), v));
    }
    b.login("unknown email, password 1 -> INVALID_USER", creds_json("\"nobody@example.com\"", "1"));
    b.login("unknown email, password null", creds_json("\"nobody@example.com\"", "null"));
    b.done()
}

pub(super) fn login_password_edges(key: &str) -> Scenario {
    let mut b = B::new(key, "login_password_edges", "NUL bytes, surrogates, long passwords at login");
    b.signup_u(U1)
        .login("NUL at the end, known user -> 500", creds(U1.0, "Passw0rd!\u{0}"))
        .login("NUL at the start, known user -> 500", creds(U1.0, "\u{0}Passw0rd!"))
        .login("NUL, unknown user -> INVALID_USER", creds("nobody@example.com", "Passw0rd!\u{0}"))
        .login("lone surrogate, known user -> 500", creds_json(&js(U1.0), "\"\\ud800\""))
        .login("lone surrogate, unknown user", creds_json("\"nobody@example.com\"", "\"\\ud800\""))
        .login("1000-byte password", creds(U1.0, &"a1!".repeat(333)))
        .login("non-ASCII password", creds(U1.0, "Pässw0rd!"))
        .login("right password after all that", creds(U1.0, U1.1));
    b.done()
}

pub(super) fn login_tokens_accumulate(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "login_tokens_accumulate",
        "every login adds an identical token row; with two rows logout is a 500 (MultipleObjectsReturned)",
    );
    let t1 = b.tok(1);
    let t2 = b.tok(2);
    b.signup_u(U1)
        .login_u(U1)
        .login_u(U1)
        .login_u(U1)
        .logout("three rows -> 500", &t1)
        .logout("still three rows -> 500", &t1)
        .signup_u(U2)
        .login_u(U2)
        .logout("user 2 with one row -> LOGOUT_SUCCESS", &t2)
        .logout("user 2 again -> INVALID_USER 200", &t2)
        .login_u(U2)
        .login_u(U2)
        .logout("user 2 with two rows -> 500", &t2);
    b.done()
}

/// A nested `email`: the lookup's `str()` of it, where Django's recursion
/// stops (measured: pycompat::pylookup), and a lone surrogate in a list.
/// Not here: 479 lists (Django's worker times out after 30 s and gunicorn
/// answers its own page) and a repr depth of exactly 952 (the oracle's
/// workers disagree).
pub(super) fn login_nested_email(key: &str) -> Scenario {
    let mut b = B::new(key, "login_nested_email", "nested emails: lists and dicts at Django's recursion limits");
    let body = |email: String| format!("{{\"email\": {email}, \"password\": \"x\"}}");
    b.signup_u(U1)
        .login("a lone surrogate in a list: repr writes \\ud800", body(r#"["\ud800"]"#.into()))
        .login("477 lists", body(format!("{}\"a\"{}", "[".repeat(477), "]".repeat(477))))
        .login(
            "478 lists: the deepest resolve_lookup_value passes",
            body(format!("{}\"a\"{}", "[".repeat(478), "]".repeat(478))),
        )
        .login("949 dicts", body(format!("{}\"a\"{}", "{\"k\": ".repeat(949), "}".repeat(949))))
        .login(
            "950 dicts: the deepest str() every worker passes",
            body(format!("{}\"a\"{}", "{\"k\": ".repeat(950), "}".repeat(950))),
        )
        .login(
            "952 dicts: RecursionError in str()",
            body(format!("{}\"a\"{}", "{\"k\": ".repeat(952), "}".repeat(952))),
        )
        .login(
            "a list of 951 dicts: RecursionError in str()",
            body(format!("[{}\"a\"{}]", "{\"k\": ".repeat(951), "}".repeat(951))),
        );
    b.done()
}
