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

mod json;
mod rng;
mod tokens;

pub use rng::Rng;

/// The generators the scenarios are made of, for other generators (the
/// hardened profile's fuzz property): random JSON values and signup/login
/// bodies (with the users `EMAILS`), mutated and re-signed tokens.
pub mod parts {
    pub use super::json::{json_value, object, random_body, reencode, EMAILS, NUMBERS, STRINGS};
    pub use super::tokens::{junk_resigned, mutate_token, random_payload, CLAIMS, HEADERS, TOKEN_JUNK};
}

use crate::model::Request;
use crate::scenarios::{creds, logout_req, post_json, Scenario};
use crate::tokens::{sign, sign_bytes, token_for, STD_HEADER};
use json::{json_value, random_body, reencode, EMAILS};
use tokens::{junk_resigned, mutate_token, random_payload, HEADERS};

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
