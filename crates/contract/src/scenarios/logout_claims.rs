//! Logout (the `log_in_confirm` guard), the claims: `exp`, `nbf`, `iat`,
//! `aud` and their order, the `id` as Django looks it up, JSON nesting, the
//! token rows over a session.

use super::builder::{nest, Scenario, B, JWT_HEADER_MAX_DEPTH, JWT_PAYLOAD_MAX_DEPTH, U1, U2};
use crate::tokens::{sign, STD_HEADER};

pub(super) fn logout_claims_exp(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "logout_claims_exp",
        "exp: int() of it must not be in the past; ValueError -> DECODE, other errors and expiry -> 500",
    );
    b.signup_u(U1);
    for exp in [
        "1",
        "-1",
        "0",
        "4102444800",
        "\"4102444800\"",
        "\" 4102444800 \"",
        "\"4_102_444_800\"",
        "\"٤١٠٢٤٤٤٨٠٠\"",
        "1e30",
        "1000000000000000000000000000000",
        "4102444800.9",
        "1.5",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        "\"abc\"",
        "\"\"",
        "\"1e10\"",
        "\"0x10\"",
        "\"4102444800.0\"",
        "NaN",
        "Infinity",
        "-Infinity",
        "[4102444800]",
    ] {
        b.logout_p(&format!(r#"{{"id":1,"exp":{exp}}}"#));
    }
    b.done()
}

pub(super) fn logout_claims_nbf_iat(key: &str) -> Scenario {
    let mut b = B::new(key, "logout_claims_nbf_iat", "nbf (not in the future) and iat (int-able)");
    b.signup_u(U1);
    for nbf in ["1", "4102444800", "\"abc\"", "null", "NaN", "-Infinity", "Infinity", "\"1\"", "1.5", "[]", "true"] {
        b.logout_p(&format!(r#"{{"id":1,"nbf":{nbf}}}"#));
    }
    for iat in ["1", "4102444800", "\"abc\"", "null", "1.5", "\"1\"", "NaN", "Infinity", "[]", "{}", "\" 7 \"", "true"]
    {
        b.logout_p(&format!(r#"{{"id":1,"iat":{iat}}}"#));
    }
    b.done()
}

pub(super) fn logout_claims_aud_order(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "logout_claims_aud_order",
        "aud present and truthy -> 500; iss ignored; claims are checked iat, nbf, exp, aud, before the id",
    );
    b.signup_u(U1);
    for aud in ["\"x\"", "\"\"", "[]", "[\"x\"]", "0", "1", "null", "false", "true", "{}", "{\"a\":1}", "0.0"] {
        b.logout_p(&format!(r#"{{"id":1,"aud":{aud}}}"#));
    }
    for payload in [
        r#"{"id":1,"iss":"someone"}"#,
        r#"{"id":1,"iss":5,"sub":[],"jti":null}"#,
        r#"{"id":1,"iat":"abc","nbf":"abc"}"#,
        r#"{"id":1,"nbf":"abc","exp":1}"#,
        r#"{"id":1,"nbf":4102444800,"exp":"abc"}"#,
        r#"{"id":1,"exp":"abc","aud":"x"}"#,
        r#"{"id":1,"exp":1,"aud":"x"}"#,
        r#"{"id":"abc","exp":"abc"}"#,
        r#"{"exp":"abc"}"#,
        r#"{"exp":1}"#,
        r#"{"aud":"x"}"#,
        r#"{"id":1,"exp":4102444800,"nbf":1,"iat":1,"aud":"","iss":"x"}"#,
    ] {
        b.logout_p(payload);
    }
    b.done()
}

pub(super) fn logout_id_values(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "logout_id_values",
        "the id claim as Django's integer lookup sees it (user 1 has no token row: found = 200, not found = 401)",
    );
    b.signup_u(U1);
    for id in [
        "1",
        "\"1\"",
        "1.0",
        "1.5",
        "1.9",
        "true",
        "\" 1 \"",
        "\"+1\"",
        "\"١\"",
        "\"１\"",
        "\"1\\n\"",
        "\"01\"",
        "1.0000000000000001",
        "0.9999999999999999",
        "null",
        "0",
        "-1",
        "false",
        "2",
        "-0.0",
        "1e3",
        "\"1_0\"",
        "\"٣\"",
        "\"0x1\"",
        "\"\"",
        "\" \"",
        "\"abc\"",
        "\"1.0\"",
        "[]",
        "[1]",
        "{}",
        "{\"id\":1}",
        "NaN",
        "Infinity",
        "1e400",
    ] {
        b.logout_p(&format!(r#"{{"id":{id}}}"#));
    }
    b.logout_p(r#"{}"#);
    b.logout_p(r#"{"Id":1}"#);
    b.logout_p(r#"{"user_id":1}"#);
    b.login_u(U1);
    b.logout_p(r#"{"id":"1"}"#);
    b.logout_p(r#"{"id":1.0}"#);
    b.done()
}

pub(super) fn logout_id_huge(key: &str) -> Scenario {
    let mut b = B::new(key, "logout_id_huge", "ids around the 64-bit limits");
    b.signup_u(U1);
    for id in [
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "1000000000000000000000000000000",
        "\"9223372036854775807\"",
        "\"9223372036854775808\"",
        "9.3e18",
        "1e19",
        "9223372036854775807.0",
    ] {
        b.logout_p(&format!(r#"{{"id":{id}}}"#));
    }
    b.done()
}

/// Logout with a token for `id` given as JSON text (any number).
fn id_payload(id: &str) -> String {
    format!(r#"{{"id":{id}}}"#)
}

pub(super) fn logout_id_out_of_range(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "logout_id_out_of_range",
        "ids outside bigint for a user with one token row: SQLite cannot bind them (500), PostgreSQL and MySQL compare and find nobody (401)",
    );
    b.signup_u(U1).login_u(U1);
    let d4300 = "9".repeat(4300);
    for id in [
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "-18446744073709551616",
        "\"9223372036854775808\"",
        "\" -9223372036854775809 \"",
        "9223372036854775808.0",
        "1e19",
        "-1e19",
        "1e300",
        "-1.7976931348623157e308",
        &d4300,
        &format!("-{d4300}"),
        &format!("\"{d4300}\""),
        "1e400",
        "-1e400",
    ] {
        let t = sign(key, STD_HEADER, &id_payload(id));
        let shown: String = id.chars().take(40).collect();
        b.logout(&format!("id {shown}"), t);
    }
    b.logout_p(r#"{"id":1}"#);
    b.done()
}

pub(super) fn logout_nesting(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "logout_nesting",
        "JWT header JSON parses up to JWT_HEADER_MAX_DEPTH levels, the payload up to JWT_PAYLOAD_MAX_DEPTH; one more is a 500",
    );
    b.signup_u(U1);
    let hd = JWT_HEADER_MAX_DEPTH;
    let pd = JWT_PAYLOAD_MAX_DEPTH;
    let p = r#"{"id":1}"#;
    b.logout_hp(&format!("header list depth {hd} -> DECODE"), &nest("[", "", "]", hd), p);
    b.logout_hp(&format!("header list depth {} -> 500", hd + 1), &nest("[", "", "]", hd + 1), p);
    b.logout_hp(
        &format!("header object, total depth {hd} -> 200"),
        &format!(r#"{{"alg":"HS256","n":{}}}"#, nest("[", "", "]", hd - 1)),
        p,
    );
    b.logout_hp(
        &format!("header object, total depth {} -> 500", hd + 1),
        &format!(r#"{{"alg":"HS256","n":{}}}"#, nest("[", "", "]", hd)),
        p,
    );
    b.logout_hp(&format!("header unclosed depth {hd}"), &"[".repeat(hd), p);
    b.logout_hp(&format!("header unclosed depth {}", hd + 1), &"[".repeat(hd + 1), p);
    b.logout_hp(&format!("payload list depth {pd} -> DECODE"), STD_HEADER, &nest("[", "", "]", pd));
    b.logout_hp(&format!("payload list depth {} -> 500", pd + 1), STD_HEADER, &nest("[", "", "]", pd + 1));
    b.logout_hp(
        &format!("payload object, total depth {pd} -> 200"),
        STD_HEADER,
        &format!(r#"{{"id":1,"n":{}}}"#, nest("[", "", "]", pd - 1)),
    );
    b.logout_hp(
        &format!("payload object, total depth {} -> 500", pd + 1),
        STD_HEADER,
        &format!(r#"{{"id":1,"n":{}}}"#, nest("[", "", "]", pd)),
    );
    b.logout_hp(&format!("payload unclosed depth {pd}"), STD_HEADER, &"[".repeat(pd));
    b.logout_hp(&format!("payload unclosed depth {}", pd + 1), STD_HEADER, &"[".repeat(pd + 1));
    b.logout_hp("payload lists depth 1500 -> 500", STD_HEADER, &nest("[", "", "]", 1500));
    b.done()
}

pub(super) fn logout_lifecycle(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "logout_lifecycle",
        "tokens of unknown users, of users whose rows are gone, and reuse after logout",
    );
    let t1 = b.tok(1);
    let t2 = b.tok(2);
    let t3 = b.tok(3);
    b.logout("token for user 1 before any signup -> 401", &t1)
        .signup_u(U1)
        .logout("user 1 exists, never logged in -> INVALID_USER 200", &t1)
        .logout("user 2 does not exist -> 401", &t2)
        .login_u(U1)
        .logout("logout", &t1)
        .logout("reuse after logout -> INVALID_USER 200", &t1)
        .signup_u(U2)
        .login_u(U2)
        .logout("user 2's token still works", &t2)
        .logout("user 3 -> 401", &t3);
    b.done()
}
