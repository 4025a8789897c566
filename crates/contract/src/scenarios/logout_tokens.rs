//! Logout (the `log_in_confirm` guard), the token itself: the Authorization
//! header, segments, PyJWT's lenient base64, latin-1 bytes, signatures and
//! keys, `alg`, the JOSE header and payload JSON.

use super::builder::{logout_req, utf16, utf32, Scenario, B, U1};
use crate::model::Request;
use crate::tokens::{self, b64url, sign, sign_alg, sign_bytes, sign_segments, sign_wire, token_for, STD_HEADER};
use jsonwebtoken::Algorithm;

pub(super) fn logout_header_forms(key: &str) -> Scenario {
    let mut b =
        B::new(key, "logout_header_forms", "the Authorization header: absent, empty, prefixed, repeated, padded");
    let t1 = b.tok(1);
    b.signup_u(U1).login_u(U1);
    b.add(logout_req(None).note("no Authorization header -> JWT_DECODE_ERROR"));
    b.logout("empty value", "");
    b.logout("one space", " ");
    b.logout("junk", "junk");
    b.logout("null", "null");
    b.logout("Bearer prefix", format!("Bearer {t1}"));
    b.logout("bearer prefix", format!("bearer {t1}"));
    b.logout("JWT prefix", format!("JWT {t1}"));
    b.logout("token, space, junk", format!("{t1} x"));
    b.logout("token, tab, junk", format!("{t1}\tx"));
    b.add(Request::new("POST", "/users/logout").header("Authorisation", t1.as_str()).note("misspelt header name"));
    b.add(
        Request::new("POST", "/users/logout")
            .header("Authorization", t1.as_str())
            .header("Authorization", t1.as_str())
            .note("the header twice (the original sees them joined)"),
    );
    b.add(
        Request::new("POST", "/users/logout")
            .header("X-Authorization", "x")
            .header("authorization", t1.as_str())
            .note("lower-case header name -> LOGOUT_SUCCESS"),
    );
    b.logout("after the logout -> INVALID_USER 200", &t1);
    b.login_u(U1);
    b.logout("token followed by spaces (trimmed) -> LOGOUT_SUCCESS", format!("{t1}   "));
    b.login_u(U1);
    b.logout("tab before the token (trimmed) -> LOGOUT_SUCCESS", format!("\t{t1}"));
    b.done()
}

pub(super) fn logout_segments(key: &str) -> Scenario {
    let mut b = B::new(key, "logout_segments", "tokens with 1 to 5 dot-separated segments");
    let h = b64url(STD_HEADER);
    let p = b64url(r#"{"id":1}"#);
    b.signup_u(U1);
    let k = key.to_string();
    b.logout("1 segment", &h);
    b.logout("2 segments", format!("{h}.{p}"));
    b.logout("a dot", ".");
    b.logout("two dots", "..");
    b.logout("three dots", "...");
    b.logout("a.b.c", "a.b.c");
    b.logout(
        "header. .sig: empty payload",
        format!("{h}..{}", tokens::mac(&k, Algorithm::HS256, format!("{h}.").as_bytes())),
    );
    b.logout("3 segments, right -> INVALID_USER 200 (no token row)", sign_segments(&k, &h, &p));
    b.logout("4 segments: trailing dot (empty signature)", format!("{}.", sign_segments(&k, &h, &p)));
    b.logout(
        "4 segments: payload with a dot inside, signed",
        sign_segments(&k, &h, &format!("{}.{}", &p[..4], &p[4..])),
    );
    b.logout("4 segments: payload with a dot at its end, signed", sign_segments(&k, &h, &format!("{p}.")));
    b.logout(
        "5 segments: payload with two dots, signed",
        sign_segments(&k, &h, &format!("{}.{}.{}", &p[..2], &p[2..6], &p[6..])),
    );
    b.logout("5 segments: extra segment of junk, signed", sign_segments(&k, &h, &format!("{p}.AAAA.BBBB")));
    b.logout("leading dot", format!(".{}", sign_segments(&k, &h, &p)));
    b.logout("empty header segment, signed", sign_segments(&k, "", &p));
    b.done()
}

fn insert_at(s: &str, at: usize, junk: &str) -> String {
    format!("{}{}{}", &s[..at], junk, &s[at..])
}

pub(super) fn logout_base64_header_payload(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "logout_base64_header_payload",
        "PyJWT's lenient base64 in the header and payload segments (re-signed, user 1 has no token row: accepted = 200)",
    );
    let k = key.to_string();
    let h = b64url(STD_HEADER); // 36 chars
    let p = b64url(r#"{"id":1}"#); // 11 chars
    b.signup_u(U1);
    let mut cases: Vec<(String, String, String)> = vec![
        ("payload with its = padding".into(), h.clone(), format!("{p}=")),
        ("payload with == (one too many)".into(), h.clone(), format!("{p}==")),
        ("payload with ===".into(), h.clone(), format!("{p}===")),
        ("header with = appended".into(), format!("{h}="), p.clone()),
        ("header with == appended".into(), format!("{h}=="), p.clone()),
        ("header with a leftover character".into(), format!("{h}A"), p.clone()),
        ("header with two leftover characters".into(), format!("{h}AA"), p.clone()),
        ("payload missing its last character".into(), h.clone(), p[..10].to_string()),
        ("payload missing two characters".into(), h.clone(), p[..9].to_string()),
        ("padding in the middle of the payload".into(), h.clone(), format!("{}=={}", &p[..6], &p[6..])),
        ("padding after 4 characters ends the payload".into(), h.clone(), format!("{}=={}", &p[..4], &p[4..])),
    ];
    for junk in ["!", "*", " ", "~", "$", "\t", "%", "==", "\\"] {
        cases.push((format!("junk {junk:?} inside the header"), insert_at(&h, 10, junk), p.clone()));
        cases.push((format!("junk {junk:?} inside the payload"), h.clone(), insert_at(&p, 5, junk)));
    }
    cases.push(("junk . is a separator: payload a.b".into(), h.clone(), insert_at(&p, 5, ".")));
    cases.push((
        "+ and / instead of - and _ in the header".into(),
        b64url(r#"{"typ":"JWT","alg":"HS256","x":"?>?>"}"#).replace('-', "+").replace('_', "/"),
        p.clone(),
    ));
    cases.push(("standard base64 with padding (= and +/)".into(), h.clone(), base64_std(r#"{"id":1,"x":"?>?>"}"#)));
    cases.push(("unused bits set in the payload's last character".into(), h.clone(), bump_last(&p)));
    for (note, hs, ps) in cases {
        b.logout(&note, sign_segments(&k, &hs, &ps));
    }
    b.done()
}

fn base64_std(s: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s)
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Change the last base64 character's unused low bits (same decoded bytes
/// for 43- or 11-character segments: 2 or 4 unused bits).
fn bump_last(s: &str) -> String {
    let mut v = s.as_bytes().to_vec();
    let last = *v.last().expect("non-empty");
    let i = B64.iter().position(|&c| c == last).expect("base64url character");
    v.pop();
    v.push(B64[i ^ 1]);
    String::from_utf8(v).expect("ascii")
}

/// Change the last character so that its used bits change.
fn break_last(s: &str) -> String {
    let mut v = s.as_bytes().to_vec();
    let last = *v.last().expect("non-empty");
    let i = B64.iter().position(|&c| c == last).expect("base64url character");
    v.pop();
    v.push(B64[i ^ 16]);
    String::from_utf8(v).expect("ascii")
}

/// A payload whose HS256 signature contains both `-` and `_`.
fn token_with_dash_underscore(key: &str) -> String {
    for n in 0.. {
        let t = sign(key, STD_HEADER, &format!(r#"{{"id":1,"n":{n}}}"#));
        let sig = t.rsplit('.').next().unwrap_or("");
        if sig.contains('-') && sig.contains('_') {
            return t;
        }
    }
    unreachable!()
}

fn split_sig(t: &str) -> (String, String) {
    let (a, b) = t.rsplit_once('.').expect("a dot");
    (a.to_string(), b.to_string())
}

pub(super) fn logout_base64_signature(key: &str) -> Scenario {
    let mut b =
        B::new(key, "logout_base64_signature", "PyJWT's lenient base64 in the signature segment (not re-signed)");
    b.signup_u(U1);
    let t = b.tok(1);
    let (si, sig) = split_sig(&t);
    let td = token_with_dash_underscore(key);
    let (sid, sigd) = split_sig(&td);
    let cases: Vec<(&str, String)> = vec![
        ("the token itself -> 200", t.clone()),
        ("signature with = appended (still verifies)", format!("{si}.{sig}=")),
        ("signature with == appended", format!("{si}.{sig}==")),
        ("signature with =AAAA appended", format!("{si}.{sig}=AAAA")),
        ("signature with AAAA appended", format!("{si}.{sig}AAAA")),
        ("signature with A appended", format!("{si}.{sig}A")),
        ("signature missing its last character", format!("{si}.{}", &sig[..sig.len() - 1])),
        ("signature missing two characters", format!("{si}.{}", &sig[..sig.len() - 2])),
        ("signature missing four characters", format!("{si}.{}", &sig[..sig.len() - 4])),
        ("unused bits of the last character changed (still verifies)", format!("{si}.{}", bump_last(&sig))),
        ("used bits of the last character changed -> SIGNATURE", format!("{si}.{}", break_last(&sig))),
        ("signature with + and / instead of - and _", format!("{sid}.{}", sigd.replace('-', "+").replace('_', "/"))),
        ("signature with - and _ as sent", td.clone()),
        ("junk ! inside the signature", format!("{si}.{}", insert_at(&sig, 20, "!"))),
        ("junk space inside the signature", format!("{si}.{}", insert_at(&sig, 20, " "))),
        ("junk ! ! inside the signature", format!("{si}.{}", insert_at(&insert_at(&sig, 20, "!"), 5, "!"))),
        ("padding in the middle of the signature", format!("{si}.{}", insert_at(&sig, 20, "=="))),
        ("empty signature -> SIGNATURE", format!("{si}.")),
        ("signature of one character", format!("{si}.A")),
        ("lower-cased signature", format!("{si}.{}", sig.to_lowercase())),
    ];
    for (note, tok) in cases {
        b.logout(note, tok);
    }
    b.done()
}

pub(super) fn logout_latin1_bytes(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "logout_latin1_bytes",
        "header bytes >= 0x80: read as latin-1, re-encoded as UTF-8 for the HMAC, skipped by base64",
    );
    b.signup_u(U1);
    let h = b64url(STD_HEADER);
    let p = b64url(r#"{"id":1}"#);
    let t = b.tok(1);
    let (si, sig) = split_sig(&t);
    let mut junk_payload = format!("{h}.").into_bytes();
    junk_payload.extend_from_slice(&p.as_bytes()[..5]);
    junk_payload.push(0xe9);
    junk_payload.extend_from_slice(&p.as_bytes()[5..]);
    b.logout("byte 0xe9 in the payload, HMAC over its UTF-8 re-encoding -> 200", sign_wire(key, &junk_payload));
    let mut utf8_junk = format!("{h}.").into_bytes();
    utf8_junk.extend_from_slice(p.as_bytes());
    utf8_junk.extend_from_slice("é".as_bytes());
    b.logout("UTF-8 é after the payload, HMAC over the double encoding", sign_wire(key, &utf8_junk));
    let mut naive = junk_payload.clone();
    naive.push(b'.');
    naive.extend_from_slice(tokens::mac(key, Algorithm::HS256, &junk_payload).as_bytes());
    b.logout("byte 0xe9 in the payload, HMAC over the raw bytes -> SIGNATURE", naive);
    let mut sig_junk = si.clone().into_bytes();
    sig_junk.push(b'.');
    sig_junk.extend_from_slice(&sig.as_bytes()[..10]);
    sig_junk.push(0xff);
    sig_junk.extend_from_slice(&sig.as_bytes()[10..]);
    b.logout("byte 0xff inside the signature (skipped)", sig_junk);
    let mut header_junk = vec![0xa0];
    header_junk.extend_from_slice(format!("{h}.{p}").as_bytes());
    b.logout("byte 0xa0 before the header", sign_wire(key, &header_junk));
    b.logout("a header value that is all high bytes", vec![0xe9, 0x2e, 0xe9, 0x2e, 0xe9]);
    b.done()
}

pub(super) fn logout_signature_and_key(key: &str) -> Scenario {
    let mut b = B::new(key, "logout_signature_and_key", "wrong key, wrong signature; the order of the checks");
    b.signup_u(U1);
    let h = b64url(STD_HEADER);
    let p = b64url(r#"{"id":1}"#);
    let t = b.tok(1);
    let (si, _) = split_sig(&t);
    b.logout("signed with another key -> SIGNATURE", token_for("another-key", 1));
    b.logout("signed with an empty key", token_for("", 1));
    b.logout("signed with the key plus a space", token_for(&format!("{key} "), 1));
    b.logout("signature of another token", format!("{si}.{}", split_sig(&b.tok(2)).1));
    b.logout("header not an object and a wrong signature -> DECODE first", format!("{}.{p}.AAAA", b64url("[]")));
    b.logout("payload not JSON and a wrong signature -> SIGNATURE first", format!("{h}.{}.AAAA", b64url("nope")));
    b.logout("payload not JSON, signed -> DECODE", sign(key, STD_HEADER, "nope"));
    b.logout("payload base64 broken (one leftover character), signed", sign_segments(key, &h, "A"));
    b.logout("signature base64 broken and alg none", format!("{}.{p}.A", b64url(r#"{"alg":"none"}"#)));
    b.logout("bad alg and a wrong signature -> 500 (alg first)", format!("{}.{p}.AAAA", b64url(r#"{"alg":"HS512"}"#)));
    b.logout("signature over the header only", format!("{h}.{p}.{}", tokens::mac(key, Algorithm::HS256, h.as_bytes())));
    b.done()
}

pub(super) fn logout_alg(key: &str) -> Scenario {
    let mut b =
        B::new(key, "logout_alg", "alg: `alg not in \"HS256\"` is a substring test; anything but HS256 is a 500");
    b.signup_u(U1);
    let p = r#"{"id":1}"#;
    b.logout("HS384, properly signed -> 500", sign_alg(key, Algorithm::HS384, r#"{"typ":"JWT","alg":"HS384"}"#, p));
    b.logout("HS512, properly signed -> 500", sign_alg(key, Algorithm::HS512, r#"{"typ":"JWT","alg":"HS512"}"#, p));
    b.logout("alg none, empty signature", format!("{}.{}.", b64url(r#"{"typ":"JWT","alg":"none"}"#), b64url(p)));
    b.logout("alg none, HS256-signed", sign(key, r#"{"typ":"JWT","alg":"none"}"#, p));
    for alg in [
        r#""HS""#,
        r#""""#,
        r#""S2""#,
        r#""256""#,
        r#""hs256""#,
        r#""HS256 ""#,
        r#"" HS256""#,
        r#""HS2566""#,
        r#""RS256""#,
        r#""ES256""#,
        "null",
        "256",
        "true",
        r#"["HS256"]"#,
        "{}",
        "1.5",
    ] {
        b.logout_hp(&format!("alg {alg}"), &format!(r#"{{"typ":"JWT","alg":{alg}}}"#), p);
    }
    b.logout_hp("no alg", r#"{"typ":"JWT"}"#, p);
    b.logout_hp("alg only -> 200", r#"{"alg":"HS256"}"#, p);
    b.logout_hp("duplicate alg: none then HS256 (last wins) -> 200", r#"{"alg":"none","alg":"HS256"}"#, p);
    b.logout_hp("duplicate alg: HS256 then none -> 500", r#"{"alg":"HS256","alg":"none"}"#, p);
    b.logout_hp("alg written with an escape", r#"{"alg":"HS\u0032\u00356"}"#, p);
    b.done()
}

pub(super) fn logout_jose_header(key: &str) -> Scenario {
    let mut b = B::new(key, "logout_jose_header", "the JOSE header JSON: shapes, encodings, other fields");
    b.signup_u(U1);
    let p = r#"{"id":1}"#;
    for (note, header) in [
        ("typ JWS", r#"{"typ":"JWS","alg":"HS256"}"#),
        ("Python separators", r#"{"typ": "JWT", "alg": "HS256"}"#),
        ("kid is a number", r#"{"alg":"HS256","kid":1}"#),
        ("crit present", r#"{"alg":"HS256","crit":["exp"]}"#),
        ("NaN in the header", r#"{"alg":"HS256","x":NaN}"#),
        ("non-ASCII in the header", r#"{"alg":"HS256","x":"é\u00e9"}"#),
        ("header is []", "[]"),
        ("header is 1", "1"),
        ("header is null", "null"),
        ("header is a string", r#""HS256""#),
        ("header is empty", ""),
        ("header is {", "{"),
        ("header with trailing data", r#"{"alg":"HS256"} x"#),
        ("header {} (no alg)", "{}"),
        (
            "4301-digit int in the header -> DECODE (ValueError)",
            &format!(r#"{{"alg":"HS256","n":{}}}"#, "9".repeat(4301)),
        ),
        ("4300-digit int in the header", &format!(r#"{{"alg":"HS256","n":{}}}"#, "9".repeat(4300))),
    ] {
        b.logout_hp(note, header, p);
    }
    let std = STD_HEADER;
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(std.as_bytes());
    b.logout("header with a UTF-8 BOM", sign_bytes(key, &bom, p.as_bytes()));
    b.logout("header in UTF-16-LE", sign_bytes(key, &utf16(std, false, false), p.as_bytes()));
    b.logout("header in UTF-32-BE with BOM", sign_bytes(key, &utf32(std, true, true), p.as_bytes()));
    b.logout("header invalid UTF-8 -> DECODE", sign_bytes(key, b"{\"alg\":\"HS256\",\"x\":\"\xff\"}", p.as_bytes()));
    b.logout(
        "header with a UTF-8-encoded surrogate",
        sign_bytes(key, b"{\"alg\":\"HS256\",\"x\":\"\xed\xa0\x80\"}", p.as_bytes()),
    );
    b.done()
}

pub(super) fn logout_payload_shapes(key: &str) -> Scenario {
    let mut b = B::new(key, "logout_payload_shapes", "the payload JSON: shapes and encodings");
    b.signup_u(U1);
    for payload in [
        "[]",
        "1",
        "\"x\"",
        "null",
        "",
        "{",
        r#"{"id":1} x"#,
        "NaN",
        "[1]",
        r#"{"id":1,}"#,
        r#"{ "id" : 1 }"#,
        r#"{"id":1,"id":2}"#,
        r#"{"id":2,"id":1}"#,
        r#"{"id":NaN}"#,
        r#"{"id":Infinity}"#,
    ] {
        b.logout_p(payload);
    }
    b.logout_p(&format!(r#"{{"id":1,"n":{}}}"#, "9".repeat(4301)));
    b.logout_p(&format!(r#"{{"id":1,"n":{}}}"#, "9".repeat(4300)));
    let p = r#"{"id":1}"#;
    b.logout("payload in UTF-16-BE", sign_bytes(key, STD_HEADER.as_bytes(), &utf16(p, true, false)));
    b.logout("payload in UTF-32-LE with BOM", sign_bytes(key, STD_HEADER.as_bytes(), &utf32(p, false, true)));
    b.logout("payload with a UTF-8 BOM", sign_bytes(key, STD_HEADER.as_bytes(), b"\xef\xbb\xbf{\"id\":1}"));
    b.logout("payload invalid UTF-8 -> DECODE", sign_bytes(key, STD_HEADER.as_bytes(), b"{\"id\":1,\"x\":\"\xff\"}"));
    b.logout(
        "payload UTF-8-encoded surrogate",
        sign_bytes(key, STD_HEADER.as_bytes(), b"{\"id\":1,\"x\":\"\xed\xa0\x80\"}"),
    );
    b.done()
}
