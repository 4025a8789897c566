//! Random tokens: mutated valid ones, and ones re-signed around random
//! headers, payloads and junk in their segments.

use super::json::json_value;
use super::rng::Rng;
use crate::tokens::{b64url, sign_wire, STD_HEADER};

/// Characters a mutation inserts into a token (bytes, header-safe).
pub const TOKEN_JUNK: &[&[u8]] = &[
    b"A", b"Q", b"R", b"z", b"0", b"9", b"-", b"_", b"+", b"/", b".", b"=", b"==", b"!", b"~", b" ", b"*", b"%",
    b"\xe9", b"\xff",
];

pub fn mutate_token(rng: &mut Rng, token: &[u8]) -> Vec<u8> {
    let mut t = token.to_vec();
    let n = *rng.pick(&[1, 1, 1, 1, 1, 1, 2, 2, 2, 3]);
    for _ in 0..n {
        match rng.below(7) {
            0 if !t.is_empty() => {
                let i = rng.below(t.len());
                let j = rng.pick_bytes(TOKEN_JUNK);
                t.splice(i..i + 1, j.iter().copied());
            }
            1 => {
                let i = rng.below(t.len() + 1);
                let j = rng.pick_bytes(TOKEN_JUNK);
                t.splice(i..i, j.iter().copied());
            }
            2 if !t.is_empty() => {
                let i = rng.below(t.len());
                t.remove(i);
            }
            3 if t.len() > 1 => {
                let i = rng.below(t.len() - 1);
                t.swap(i, i + 1);
            }
            4 => {
                // drop or duplicate a segment
                let mut segs: Vec<Vec<u8>> = t.split(|&c| c == b'.').map(|s| s.to_vec()).collect();
                let i = rng.below(segs.len());
                if rng.chance(50) {
                    segs.remove(i);
                } else {
                    let s = segs[i].clone();
                    segs.insert(i, s);
                }
                t = segs.join(&b'.');
            }
            5 => {
                // bump the last character's low bits
                if let Some(last) = t.last_mut() {
                    *last ^= 1;
                }
            }
            _ => {
                let cut = rng.below(t.len() + 1);
                t.truncate(cut);
            }
        }
    }
    // keep it a valid header value: no CR, LF or NUL, no leading/trailing space
    t.retain(|&c| c != b'\r' && c != b'\n' && c != 0);
    while t.first() == Some(&b' ') {
        t.remove(0);
    }
    while t.last() == Some(&b' ') {
        t.pop();
    }
    t
}

pub const HEADERS: &[&str] = &[
    STD_HEADER,
    r#"{"alg":"HS256"}"#,
    r#"{"typ":"JWT","alg":"HS512"}"#,
    r#"{"typ":"JWT","alg":"none"}"#,
    r#"{"typ":"JWT"}"#,
    r#"{"alg":null}"#,
    r#"{"alg":"HS"}"#,
    r#"{"alg":256}"#,
    r#"[]"#,
    r#"{"alg":"HS256","kid":[]}"#,
    r#"{"alg": "HS256", "typ": "JWT"}"#,
    "",
];

pub const CLAIMS: &[&str] = &["exp", "nbf", "iat", "aud", "iss"];

pub fn random_payload(rng: &mut Rng) -> String {
    let mut pairs = Vec::new();
    if rng.chance(85) {
        let id = if rng.chance(50) {
            rng.pick(&["1", "2", "3", "\"1\"", "1.0", "true"]).to_string()
        } else {
            json_value(rng, 1)
        };
        pairs.push(("\"id\"".to_string(), id));
    }
    let extra = rng.below(3);
    for _ in 0..extra {
        let claim = rng.pick(CLAIMS);
        let v = if rng.chance(40) {
            rng.pick(&["1", "4102444800", "\"abc\"", "null", "\"4102444800\"", "NaN", "\"\"", "[]"]).to_string()
        } else {
            json_value(rng, 1)
        };
        pairs.push((format!("\"{claim}\""), v));
    }
    if rng.chance(10) {
        return json_value(rng, 0);
    }
    let (comma, colon) = *rng.pick(&[(",", ":"), (", ", ": ")]);
    let items: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}{colon}{v}")).collect();
    format!("{{{}}}", items.join(comma))
}

/// Junk (and maybe padding) inserted into base64url segments that are
/// then signed the way the original verifies (latin-1 → UTF-8).
pub fn junk_resigned(rng: &mut Rng, key: &str) -> (Vec<u8>, String) {
    let header = if rng.chance(75) { STD_HEADER.to_string() } else { rng.pick(HEADERS).to_string() };
    let payload = if rng.chance(60) {
        rng.pick(&[r#"{"id":1}"#, r#"{"id":2}"#, r#"{"id":3}"#, r#"{"id": 1}"#, r#"{"id":1,"x":"??>>"}"#]).to_string()
    } else {
        random_payload(rng)
    };
    let mut segs = [b64url(&header).into_bytes(), b64url(&payload).into_bytes()];
    // the padding PyJWT adds counts junk characters (after the latin-1 →
    // UTF-8 re-encoding): four insertions into one segment keep its length
    // class, fewer change it
    let four = rng.chance(50);
    let n = if four { 4 } else { 1 + rng.below(3) };
    let target = rng.below(2);
    for _ in 0..n {
        let which = if four { target } else { rng.below(2) };
        let seg = &mut segs[which];
        let at = rng.below(seg.len() + 1);
        let junk: &[u8] = if which == 1 && rng.chance(10) {
            b"."
        } else if rng.chance(75) {
            rng.pick_bytes(&[b"!", b"*", b" ", b"~", b"$", b"%", b"\\", b"@", b"#", b"^", b"="])
        } else {
            rng.pick_bytes(TOKEN_JUNK)
        };
        seg.splice(at..at, junk.iter().copied());
    }
    if rng.chance(25) {
        let which = rng.below(2);
        let pad = rng.pick_bytes(&[b"=", b"==", b"==="]);
        segs[which].extend_from_slice(pad);
    }
    let mut input = segs[0].clone();
    input.push(b'.');
    input.extend_from_slice(&segs[1]);
    let mut t = sign_wire(key, &input);
    if rng.chance(20) {
        let sig_start = t.iter().rposition(|&c| c == b'.').map_or(0, |p| p + 1);
        let at = sig_start + rng.below(t.len() - sig_start + 1);
        let junk = rng.pick_bytes(TOKEN_JUNK);
        if junk != b"." {
            t.splice(at..at, junk.iter().copied());
        }
    }
    (t, format!("junk in the segments, re-signed: header {header} payload {payload}"))
}
