//! What every scenario is made of: the [`Scenario`] type, its builder, the
//! users and the body helpers the route modules share, and the limits
//! measured on the oracle.

use crate::model::Request;
use crate::tokens::{sign, token_for, STD_HEADER};

/// Deepest `json.loads(request.body)` that parses (counting every `[`/`{`).
pub const BODY_MAX_DEPTH: usize = 962;

/// Deepest JWT header JSON that parses.
pub const JWT_HEADER_MAX_DEPTH: usize = 958;

/// Deepest JWT payload JSON that parses.
pub const JWT_PAYLOAD_MAX_DEPTH: usize = 960;

/// Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` (2.5 MiB): a longer declared body is a 400 page.
pub const MAX_BODY: usize = 2_621_440;

/// A named sequence of requests, played in order on a fresh database.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub requests: Vec<Request>,
    /// The id the first user created gets (the `users` id sequence is
    /// restarted there by the reset before the scenario); `None`: 1.
    pub user_id_start: Option<i64>,
}

/// JSON string literal (serde_json escaping: control characters escaped, non-ASCII raw).
pub fn js(s: &str) -> String {
    serde_json::to_string(s).expect("string serializes")
}

/// `{"email": E, "password": P}` from two JSON value texts, Python's separators.
pub fn creds_json(email_json: &str, password_json: &str) -> String {
    format!(r#"{{"email": {email_json}, "password": {password_json}}}"#)
}

/// `{"email": "...", "password": "..."}` from two strings.
pub fn creds(email: &str, password: &str) -> String {
    creds_json(&js(email), &js(password))
}

/// `n` times `open`, then `inner`, then `n` times `close`.
pub fn nest(open: &str, inner: &str, close: &str, n: usize) -> String {
    let mut s = open.repeat(n);
    s.push_str(inner);
    s.push_str(&close.repeat(n));
    s
}

/// A POST with `Content-Type: application/json`.
pub fn post_json(path: impl AsRef<[u8]>, body: impl AsRef<[u8]>) -> Request {
    Request::new("POST", path).header("Content-Type", "application/json").body(body)
}

/// `POST /users/logout`, with the token in `Authorization` if there is one.
pub fn logout_req(token: Option<&[u8]>) -> Request {
    let r = Request::new("POST", "/users/logout");
    match token {
        Some(t) => r.header("Authorization", t),
        None => r,
    }
}

pub(super) const U1: (&str, &str) = ("user1@example.com", "Passw0rd!");

pub(super) const U2: (&str, &str) = ("user2@example.com", "Secr3t#pass");

/// Builds one scenario, request by request, with tokens signed with its key.
pub(super) struct B {
    key: String,
    s: Scenario,
}

impl B {
    pub(super) fn new(key: &str, name: &str, description: &str) -> B {
        B {
            key: key.to_string(),
            s: Scenario {
                name: name.to_string(),
                description: description.to_string(),
                requests: Vec::new(),
                user_id_start: None,
            },
        }
    }
    pub(super) fn add(&mut self, r: Request) -> &mut Self {
        self.s.requests.push(r);
        self
    }
    pub(super) fn signup(&mut self, note: &str, body: impl AsRef<[u8]>) -> &mut Self {
        self.add(post_json("/users/signup", body).note(note))
    }
    pub(super) fn login(&mut self, note: &str, body: impl AsRef<[u8]>) -> &mut Self {
        self.add(post_json("/users/login", body).note(note))
    }
    pub(super) fn signup_u(&mut self, u: (&str, &str)) -> &mut Self {
        self.signup(&format!("signup {}", u.0), creds(u.0, u.1))
    }
    pub(super) fn login_u(&mut self, u: (&str, &str)) -> &mut Self {
        self.login(&format!("login {}", u.0), creds(u.0, u.1))
    }
    pub(super) fn logout(&mut self, note: &str, token: impl AsRef<[u8]>) -> &mut Self {
        self.add(logout_req(Some(token.as_ref())).note(note))
    }
    /// Logout with a token whose header and payload are the given JSON texts.
    pub(super) fn logout_hp(&mut self, note: &str, header: &str, payload: &str) -> &mut Self {
        let t = sign(&self.key, header, payload);
        self.logout(note, t)
    }
    /// Logout with the standard header and the given payload JSON text.
    pub(super) fn logout_p(&mut self, payload: &str) -> &mut Self {
        let t = sign(&self.key, STD_HEADER, payload);
        self.logout(&format!("payload {payload}"), t)
    }
    pub(super) fn tok(&self, id: i64) -> String {
        token_for(&self.key, id)
    }
    /// The first user created gets this id (the reset restarts the sequence there).
    pub(super) fn user_ids_from(&mut self, first: i64) -> &mut Self {
        self.s.user_id_start = Some(first);
        self
    }
    pub(super) fn done(self) -> Scenario {
        self.s
    }
}

/// A JSON value of every type but string.
pub(super) const JSON_NON_STRINGS: &[&str] =
    &["1", "0", "-1", "1.5", "1e400", "true", "false", "null", "[]", "[\"a@b.c\"]", "{}", "{\"a\": 1}", "NaN"];

/// `s` in UTF-16, big- or little-endian, with or without a BOM.
pub fn utf16(s: &str, be: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let units: Vec<u16> = (if bom { "\u{feff}" } else { "" }).encode_utf16().chain(s.encode_utf16()).collect();
    for u in units {
        if be {
            out.extend(u.to_be_bytes());
        } else {
            out.extend(u.to_le_bytes());
        }
    }
    out
}

/// `s` in UTF-32, big- or little-endian, with or without a BOM.
pub fn utf32(s: &str, be: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let chars = (if bom { "\u{feff}" } else { "" }).chars().chain(s.chars());
    for c in chars {
        let u = c as u32;
        if be {
            out.extend(u.to_be_bytes());
        } else {
            out.extend(u.to_le_bytes());
        }
    }
    out
}

/// `json` padded with spaces to `total` bytes.
pub(super) fn padded(json: &str, total: usize) -> Vec<u8> {
    let mut v = json.as_bytes().to_vec();
    assert!(v.len() <= total);
    v.resize(total, b' ');
    v
}
