//! Random JSON values and signup/login bodies.

use super::rng::Rng;
use crate::scenarios::{js, utf16, utf32};

pub const EMAILS: &[(&str, &str)] = &[("user1@example.com", "Passw0rd!"), ("user2@example.com", "Secr3t#pass")];

/// JSON string literals (already escaped) used as random strings.
pub const STRINGS: &[&str] = &[
    r#""""#,
    r#""x""#,
    r#""user1@example.com""#,
    r#""user2@example.com""#,
    r#""USER1@example.com""#,
    r#""user1@example.com\n""#,
    r#""Passw0rd!""#,
    r#""Secr3t#pass""#,
    r#""Passw0rd!\n""#,
    r#""Passw0rd!\u0000""#,
    r#""\ud800""#,
    r#""a\udfffb""#,
    r#""\u00e9@example.com""#,
    r#""é""#,
    r#""1""#,
    r#""abc""#,
    r#"" 1 ""#,
    r#""١""#,
    r#""a@b.c""#,
    r#""a@b""#,
    r#""Passw١rd!""#,
    r#""😀""#,
    r#""\\""#,
    r#""\"""#,
    r#""\/""#,
    r#""4102444800""#,
];

pub const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "1.0",
    "1.5",
    "-0.0",
    "1e3",
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "9223372036854775807",
    "9223372036854775808",
    "4102444800",
    "1e-7",
    "100000000000000000000",
];

pub fn json_value(rng: &mut Rng, depth: usize) -> String {
    let k = rng.below(if depth >= 2 { 8 } else { 10 });
    match k {
        0 => "null".into(),
        1 => rng.pick(&["true", "false"]).to_string(),
        2 | 3 => rng.pick(NUMBERS).to_string(),
        4..=7 => rng.pick(STRINGS).to_string(),
        8 => {
            let n = rng.below(3);
            let items: Vec<String> = (0..n).map(|_| json_value(rng, depth + 1)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let n = rng.below(3);
            let items: Vec<String> = (0..n)
                .map(|_| {
                    format!("{}: {}", rng.pick(&["\"id\"", "\"a\"", "\"email\"", "\"\""]), json_value(rng, depth + 1))
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// A random JSON object text with the given key/value pairs and random separators.
pub fn object(rng: &mut Rng, pairs: &[(String, String)]) -> String {
    let (comma, colon) = *rng.pick(&[(", ", ": "), (",", ":"), (" , ", " : "), (",\n", ":\t")]);
    let items: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}{colon}{v}")).collect();
    format!("{{{}}}", items.join(comma))
}

pub fn random_body(rng: &mut Rng, login: bool, counter: &mut usize) -> Vec<u8> {
    match rng.below(20) {
        // random bytes and near-JSON
        0 => {
            let n = rng.below(12);
            (0..n).map(|_| rng.next_u64() as u8).collect()
        }
        1 => rng
            .pick(&["", " ", "{", "}", "[]", "null", "1", "\"x\"", "{} x", "\u{feff}{}", "NaN", "{\"email\"}"])
            .as_bytes()
            .to_vec(),
        2 => json_value(rng, 0).into_bytes(),
        _ => {
            let mut pairs = Vec::new();
            // email
            if rng.chance(85) {
                let v = if rng.chance(70) {
                    if login {
                        if rng.chance(45) {
                            js(rng.pick(EMAILS).0)
                        } else {
                            rng.pick(STRINGS).to_string()
                        }
                    } else if rng.chance(8) {
                        *counter += 1;
                        js(&format!("rand{}@example.com", *counter))
                    } else {
                        rng.pick(STRINGS).to_string()
                    }
                } else {
                    json_value(rng, 1)
                };
                pairs.push(("\"email\"".to_string(), v));
            }
            // password
            if rng.chance(85) {
                let v = if rng.chance(65) {
                    if rng.chance(40) {
                        js(rng.pick(EMAILS).1)
                    } else {
                        rng.pick(STRINGS).to_string()
                    }
                } else {
                    json_value(rng, 1)
                };
                pairs.push(("\"password\"".to_string(), v));
            }
            if rng.chance(20) {
                pairs.push((rng.pick(&["\"x\"", "\"email\"", "\"Email\"", "\"id\""]).to_string(), json_value(rng, 1)));
            }
            if rng.chance(30) {
                let i = rng.below(pairs.len() + 1);
                let j = rng.below(pairs.len() + 1);
                if i < pairs.len() && j < pairs.len() {
                    pairs.swap(i, j);
                }
            }
            // in login, a known email with a string password runs bcrypt: keep that rare
            let costly = login
                && pairs.iter().any(|(k, v)| k == "\"email\"" && EMAILS.iter().any(|(e, _)| js(e) == *v))
                && pairs.iter().any(|(k, v)| k == "\"password\"" && v.starts_with('"'));
            if costly && !rng.chance(25) {
                pairs.retain(|(k, _)| k != "\"password\"");
                pairs.push(("\"password\"".into(), json_value(rng, 2)));
            }
            let mut text = object(rng, &pairs).into_bytes();
            if rng.chance(5) {
                text.extend_from_slice(rng.pick_bytes(&[b" x", b"\xff", b"\n", b"}"]));
            }
            text
        }
    }
}

/// The body re-encoded in UTF-16 or UTF-32 (with or without BOM) when it is UTF-8.
pub fn reencode(rng: &mut Rng, body: Vec<u8>) -> Vec<u8> {
    match String::from_utf8(body) {
        Ok(text) => {
            let be = rng.chance(50);
            let bom = rng.chance(50);
            if rng.chance(60) {
                utf16(&text, be, bom)
            } else {
                utf32(&text, be, bom)
            }
        }
        Err(e) => e.into_bytes(),
    }
}
