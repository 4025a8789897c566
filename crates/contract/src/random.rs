//! Randomized scenarios from a fixed seed.
//!
//! Only `ChaCha8Rng::next_u64` is used (its stream is fixed by the
//! algorithm), with our own range and choice helpers, so a seed gives the
//! same requests on every platform and every version of `rand`.
//!
//! Each random scenario starts with two signups and one login (users 1 and
//! 2, user 1 holding one token row), then plays random requests: mutated
//! valid tokens, tokens re-signed with random headers and payloads, random
//! JSON and random bytes as signup/login bodies, random methods and paths.
//! Signup and login cases that reach bcrypt are kept rare.

use super::model::Request;
use super::scenarios::{creds, js, logout_req, post_json, utf16, utf32, Scenario};
use super::tokens::{b64url, sign, sign_bytes, sign_wire, token_for, STD_HEADER};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Rng(ChaCha8Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// [`Rng::pick`] for byte strings (where inference needs help).
    pub fn pick_bytes(&mut self, items: &[&'static [u8]]) -> &'static [u8] {
        items[self.below(items.len())]
    }
}

const EMAILS: &[(&str, &str)] = &[("user1@example.com", "Passw0rd!"), ("user2@example.com", "Secr3t#pass")];

/// JSON string literals (already escaped) used as random strings.
const STRINGS: &[&str] = &[
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

const NUMBERS: &[&str] = &[
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

fn json_value(rng: &mut Rng, depth: usize) -> String {
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
fn object(rng: &mut Rng, pairs: &[(String, String)]) -> String {
    let (comma, colon) = *rng.pick(&[(", ", ": "), (",", ":"), (" , ", " : "), (",\n", ":\t")]);
    let items: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}{colon}{v}")).collect();
    format!("{{{}}}", items.join(comma))
}

fn random_body(rng: &mut Rng, login: bool, counter: &mut usize) -> Vec<u8> {
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

/// Characters a mutation inserts into a token (bytes, header-safe).
const TOKEN_JUNK: &[&[u8]] = &[
    b"A", b"Q", b"R", b"z", b"0", b"9", b"-", b"_", b"+", b"/", b".", b"=", b"==", b"!", b"~", b" ", b"*", b"%",
    b"\xe9", b"\xff",
];

fn mutate_token(rng: &mut Rng, token: &[u8]) -> Vec<u8> {
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

const HEADERS: &[&str] = &[
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

const CLAIMS: &[&str] = &["exp", "nbf", "iat", "aud", "iss"];

fn random_payload(rng: &mut Rng) -> String {
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

const METHODS: &[&str] =
    &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "FOO", "PURGE", "M-SEARCH"];

const PATHS: &[&str] = &[
    "/users/signup",
    "/users/login",
    "/users/logout",
    "/users/signup/",
    "/users/Login",
    "/users/%6cogin",
    "/users/logout?x=1",
    "/users",
    "/",
    "//users/login",
    "/nope",
    "/users/signup%20",
];

fn random_method_path(rng: &mut Rng, key: &str) -> Request {
    let method = if rng.chance(85) {
        rng.pick(METHODS).to_string()
    } else {
        let n = 3 + rng.below(6);
        (0..n).map(|_| (b'A' + rng.below(26) as u8) as char).collect()
    };
    let path = rng.pick(PATHS).to_string();
    let mut r = Request::new(&method, path);
    if rng.chance(30) {
        r = r.header("Origin", *rng.pick(&["http://example.com", "null", "https://x.y:1"]));
    }
    if method == "OPTIONS" && rng.chance(50) {
        r = r.header("Access-Control-Request-Method", *rng.pick(&["POST", "GET", "DELETE", ""]));
    }
    if rng.chance(20) {
        r = r.header("Authorization", token_for(key, 1 + rng.below(2) as i64));
    }
    if rng.chance(20) {
        r = r.header("Content-Type", "application/json").body("{}");
    }
    r
}

/// `cases` random requests from `seed`, split into scenarios of at most
/// `per_scenario` requests (each with its own prologue).
pub fn scenarios(key: &str, seed: u64, cases: usize, per_scenario: usize) -> Vec<Scenario> {
    let mut rng = Rng::new(seed);
    let per = per_scenario.max(1);
    let mut out = Vec::new();
    let mut counter = 0usize;
    let mut left = cases;
    let mut index = 0;
    while left > 0 {
        let n = left.min(per);
        left -= n;
        let mut reqs = vec![
            post_json("/users/signup", creds(EMAILS[0].0, EMAILS[0].1)).note("prologue"),
            post_json("/users/signup", creds(EMAILS[1].0, EMAILS[1].1)).note("prologue"),
            post_json("/users/login", creds(EMAILS[0].0, EMAILS[0].1)).note("prologue"),
        ];
        for _ in 0..n {
            reqs.push(random_request(&mut rng, key, &mut counter));
        }
        out.push(Scenario {
            name: format!("random_{seed}_{index:03}"),
            description: format!("random requests from seed {seed}, part {index}"),
            requests: reqs,
            user_id_start: None,
        });
        index += 1;
    }
    out
}

/// Junk (and maybe padding) inserted into base64url segments that are
/// then signed the way the original verifies (latin-1 → UTF-8).
fn junk_resigned(rng: &mut Rng, key: &str) -> (Vec<u8>, String) {
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

/// The body re-encoded in UTF-16 or UTF-32 (with or without BOM) when it is UTF-8.
fn reencode(rng: &mut Rng, body: Vec<u8>) -> Vec<u8> {
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

fn random_request(rng: &mut Rng, key: &str, counter: &mut usize) -> Request {
    let roll = rng.below(100);
    let mut r = if roll < 25 {
        let base = if rng.chance(70) { token_for(key, 1) } else { token_for(key, 1 + rng.below(3) as i64) };
        let t = mutate_token(rng, base.as_bytes());
        logout_req(Some(&t)).note("mutated token")
    } else if roll < 33 {
        let header = match rng.below(10) {
            0..=4 => STD_HEADER.to_string(),
            5..=8 => rng.pick(HEADERS).to_string(),
            _ => json_value(rng, 0),
        };
        let payload = random_payload(rng);
        let signer = if rng.chance(90) { key.to_string() } else { "wrong-key".to_string() };
        let t = if rng.chance(10) {
            let mut p = vec![0xefu8, 0xbb, 0xbf];
            p.extend_from_slice(payload.as_bytes());
            sign_bytes(&signer, header.as_bytes(), &p)
        } else {
            sign(&signer, &header, &payload)
        };
        logout_req(Some(t.as_bytes())).note(format!("re-signed token: header {header} payload {payload}"))
    } else if roll < 45 {
        let (t, note) = junk_resigned(rng, key);
        logout_req(Some(&t)).note(note)
    } else if roll < 58 {
        let mut body = random_body(rng, false, counter);
        if rng.chance(10) {
            body = reencode(rng, body);
        }
        post_json("/users/signup", body).note("random signup body")
    } else if roll < 72 {
        let mut body = random_body(rng, true, counter);
        if rng.chance(10) {
            body = reencode(rng, body);
        }
        post_json("/users/login", body).note("random login body")
    } else if roll < 74 {
        post_json("/users/login", creds(EMAILS[0].0, EMAILS[0].1)).note("login user 1 again")
    } else {
        random_method_path(rng, key).note("random method and path")
    };
    if rng.chance(10) && r.get_header("Origin").is_none() {
        r = r.header("Origin", "http://example.com");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_stable() {
        let a = scenarios("k", 7, 120, 50);
        let b = scenarios("k", 7, 120, 50);
        assert_eq!(a.len(), 3);
        assert_eq!(a[2].requests.len(), 3 + 20);
        for (x, y) in a.iter().zip(b.iter()) {
            assert_eq!(x.requests, y.requests);
        }
        let mut r = Rng::new(1);
        // ChaCha8 stream for seed_from_u64(1): fixed forever
        let first = r.next_u64();
        let mut r2 = Rng::new(1);
        assert_eq!(first, r2.next_u64());
    }
}
