//! The named contract scenarios.
//!
//! A scenario is a sequence of requests played in order on a fresh database
//! (no users, no tokens, id sequences reset). Tokens are built here from the
//! secret key, so a fixture is replayed with the key it was recorded with.
//! Nothing depends on the clock: time-relative claims are in [`live`], which
//! only the live differential test plays.
//!
//! Measured on the oracle (Python 3.11): a request body parses up to a
//! nesting depth of [`BODY_MAX_DEPTH`] (one more is a `RecursionError`, the
//! 500 page); a JWT header up to [`JWT_HEADER_MAX_DEPTH`], a JWT payload up
//! to [`JWT_PAYLOAD_MAX_DEPTH`] (one more: 500).

use super::model::Request;
use super::tokens::{self, b64url, sign, sign_alg, sign_bytes, sign_segments, sign_wire, token_for, STD_HEADER};
use jsonwebtoken::Algorithm;

/// Deepest `json.loads(request.body)` that parses (counting every `[`/`{`).
pub const BODY_MAX_DEPTH: usize = 962;
/// Deepest JWT header JSON that parses.
pub const JWT_HEADER_MAX_DEPTH: usize = 958;
/// Deepest JWT payload JSON that parses.
pub const JWT_PAYLOAD_MAX_DEPTH: usize = 960;

/// Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` (2.5 MiB): a longer declared body is a 400 page.
pub const MAX_BODY: usize = 2_621_440;

/// The secret key fixtures are recorded with.
pub const FIXTURE_SECRET_KEY: &str = "contract-fixture-secret-key-0123456789";

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

pub fn post_json(path: impl AsRef<[u8]>, body: impl AsRef<[u8]>) -> Request {
    Request::new("POST", path).header("Content-Type", "application/json").body(body)
}

pub fn logout_req(token: Option<&[u8]>) -> Request {
    let r = Request::new("POST", "/users/logout");
    match token {
        Some(t) => r.header("Authorization", t),
        None => r,
    }
}

const U1: (&str, &str) = ("user1@example.com", "Passw0rd!");
const U2: (&str, &str) = ("user2@example.com", "Secr3t#pass");

struct B {
    key: String,
    s: Scenario,
}

impl B {
    fn new(key: &str, name: &str, description: &str) -> B {
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
    fn add(&mut self, r: Request) -> &mut Self {
        self.s.requests.push(r);
        self
    }
    fn signup(&mut self, note: &str, body: impl AsRef<[u8]>) -> &mut Self {
        self.add(post_json("/users/signup", body).note(note))
    }
    fn login(&mut self, note: &str, body: impl AsRef<[u8]>) -> &mut Self {
        self.add(post_json("/users/login", body).note(note))
    }
    fn signup_u(&mut self, u: (&str, &str)) -> &mut Self {
        self.signup(&format!("signup {}", u.0), creds(u.0, u.1))
    }
    fn login_u(&mut self, u: (&str, &str)) -> &mut Self {
        self.login(&format!("login {}", u.0), creds(u.0, u.1))
    }
    fn logout(&mut self, note: &str, token: impl AsRef<[u8]>) -> &mut Self {
        self.add(logout_req(Some(token.as_ref())).note(note))
    }
    /// Logout with a token whose header and payload are the given JSON texts.
    fn logout_hp(&mut self, note: &str, header: &str, payload: &str) -> &mut Self {
        let t = sign(&self.key, header, payload);
        self.logout(note, t)
    }
    /// Logout with the standard header and the given payload JSON text.
    fn logout_p(&mut self, payload: &str) -> &mut Self {
        let t = sign(&self.key, STD_HEADER, payload);
        self.logout(&format!("payload {payload}"), t)
    }
    fn tok(&self, id: i64) -> String {
        token_for(&self.key, id)
    }
    /// The first user created gets this id (the reset restarts the sequence there).
    fn user_ids_from(&mut self, first: i64) -> &mut Self {
        self.s.user_id_start = Some(first);
        self
    }
    fn done(self) -> Scenario {
        self.s
    }
}

/// Every named scenario, in a stable order.
pub fn all(key: &str) -> Vec<Scenario> {
    vec![
        happy_path(key),
        signup_body_garbage(key),
        signup_body_not_object(key),
        signup_missing_keys(key),
        signup_email_types(key),
        signup_password_types(key),
        signup_email_regex_valid(key),
        signup_email_regex_invalid(key),
        signup_password_regex(key),
        signup_password_digits(key),
        signup_duplicates(key),
        body_encodings(key),
        body_invalid_utf8(key),
        body_python_json(key),
        body_numbers(key),
        body_strings(key),
        body_nesting(key),
        body_size_limits(key),
        body_transfer_and_content_type(key),
        login_flow(key),
        login_body_garbage(key),
        login_missing_keys(key),
        login_types(key),
        login_password_edges(key),
        login_tokens_accumulate(key),
        logout_header_forms(key),
        logout_segments(key),
        logout_base64_header_payload(key),
        logout_base64_signature(key),
        logout_latin1_bytes(key),
        logout_signature_and_key(key),
        logout_alg(key),
        logout_jose_header(key),
        logout_payload_shapes(key),
        logout_claims_exp(key),
        logout_claims_nbf_iat(key),
        logout_claims_aud_order(key),
        logout_id_values(key),
        logout_id_huge(key),
        logout_id_out_of_range(key),
        logout_nesting(key),
        logout_lifecycle(key),
        methods_users(key),
        paths(key),
        paths_encoded(key),
        cors_simple(key),
        cors_preflight(key),
        cors_error_pages(key),
        email_case_and_space(key),
        email_length_limits(key),
        token_long_ids(key),
    ]
}

/// Names of [`all`], in order.
pub fn names() -> Vec<String> {
    all(FIXTURE_SECRET_KEY).into_iter().map(|s| s.name).collect()
}

fn happy_path(key: &str) -> Scenario {
    let mut b = B::new(key, "happy_path", "signup, login, logout, logout again, login again");
    let t1 = b.tok(1);
    let t2 = b.tok(2);
    b.signup_u(U1)
        .login_u(U1)
        .logout("logout user 1", &t1)
        .logout("logout again: no token row left -> INVALID_USER with status 200", &t1)
        .login_u(U1)
        .logout("logout after a new login", &t1)
        .signup_u(U2)
        .login_u(U2)
        .logout("user 2 logs out", &t2)
        .logout("user 1 token after its logout", &t1);
    b.done()
}

fn signup_body_garbage(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_body_garbage", "signup bodies that are not one JSON document");
    let valid = creds(U1.0, U1.1);
    for (note, body) in [
        ("empty body", String::new()),
        ("one space", " ".into()),
        ("whitespace only", " \t\r\n ".into()),
        ("not JSON", "not json".into()),
        ("open brace", "{".into()),
        ("close brace", "}".into()),
        ("unterminated string", r#"{"email": "a@b.c"#.into()),
        ("single quotes", "{'email': 'a@b.c', 'password': 'Passw0rd!'}".into()),
        ("trailing comma", r#"{"email": "a@b.c", "password": "Passw0rd!",}"#.into()),
        ("missing colon", r#"{"email" "a@b.c"}"#.into()),
        ("bare word tru", "tru".into()),
        ("form encoding", "email=a%40b.c&password=Passw0rd%21".into()),
        ("trailing data", format!("{valid} x")),
        ("two objects", "{} {}".into()),
        ("trailing comma after object", "{},".into()),
        ("leading and trailing whitespace around {} -> KEY_ERROR", " \n{}\r\n\t ".into()),
        ("NUL byte", "\u{0}".into()),
        ("object then NUL", "{}\u{0}".into()),
        ("form feed is not JSON whitespace", "\u{c}{}".into()),
        ("vertical tab is not JSON whitespace", "{}\u{b}".into()),
        ("no-break space is not JSON whitespace", "{}\u{a0}".into()),
        ("raw tab inside a string", "{\"email\": \"a\tb@c.d\", \"password\": \"Passw0rd!\"}".into()),
        ("raw newline inside a string", "{\"email\": \"a@b.c\n\", \"password\": \"Passw0rd!\"}".into()),
        ("comment", "{/* c */}".into()),
        ("unquoted key", "{email: 1}".into()),
    ] {
        b.signup(note, body);
    }
    b.done()
}

fn signup_body_not_object(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_body_not_object", "valid JSON that is not an object: 500 (TypeError)");
    for body in [
        "1",
        "-1",
        "0",
        "1.5",
        "\"x\"",
        "\"email\"",
        "null",
        "true",
        "false",
        "[]",
        "[\"email\", \"password\"]",
        "[{\"email\": \"a@b.c\", \"password\": \"Passw0rd!\"}]",
        "\"{\\\"email\\\": \\\"a@b.c\\\", \\\"password\\\": \\\"Passw0rd!\\\"}\"",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "\"\"",
    ] {
        b.signup(&format!("body {body}"), body);
    }
    b.done()
}

fn signup_missing_keys(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_missing_keys", "KEY_ERROR for every combination of missing keys");
    for (note, body) in [
        ("no keys", "{}".to_string()),
        ("email only (valid)", format!(r#"{{"email": {}}}"#, js(U1.0))),
        ("email only (invalid)", r#"{"email": "bad"}"#.into()),
        ("email only (not a string)", r#"{"email": 1}"#.into()),
        ("email null only", r#"{"email": null}"#.into()),
        ("password only (valid)", format!(r#"{{"password": {}}}"#, js(U1.1))),
        ("password only (invalid)", r#"{"password": "x"}"#.into()),
        ("password only (not a string)", r#"{"password": 1}"#.into()),
        ("capitalised keys", format!(r#"{{"Email": {}, "Password": {}}}"#, js(U1.0), js(U1.1))),
        ("key with a trailing space", format!(r#"{{"email ": {}, "password": {}}}"#, js(U1.0), js(U1.1))),
        ("other keys", r#"{"username": "a", "pw": "b"}"#.into()),
        ("email key present, password key misspelt", format!(r#"{{"email": {}, "passwd": {}}}"#, js(U1.0), js(U1.1))),
    ] {
        b.signup(note, body);
    }
    b.signup(
        "keys written with escapes are the same keys -> SUCCESS",
        format!(r#"{{"e\u006dail": {}, "pass\u0077ord": {}}}"#, js(U1.0), js(U1.1)),
    );
    b.login("that user can log in", creds(U1.0, U1.1));
    b.done()
}

const JSON_NON_STRINGS: &[&str] =
    &["1", "0", "-1", "1.5", "1e400", "true", "false", "null", "[]", "[\"a@b.c\"]", "{}", "{\"a\": 1}", "NaN"];

fn signup_email_types(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_email_types", "email of every non-string JSON type: 500 (regex on a non-string)");
    for v in JSON_NON_STRINGS {
        b.signup(&format!("email {v}, valid password"), creds_json(v, &js(U1.1)));
    }
    b.signup("email 1, invalid password", creds_json("1", "\"x\""));
    b.signup("email [], password missing -> KEY_ERROR", r#"{"email": []}"#);
    b.signup("email null, password null", r#"{"email": null, "password": null}"#);
    b.done()
}

fn signup_password_types(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_password_types", "password of every non-string JSON type");
    for v in JSON_NON_STRINGS {
        b.signup(&format!("valid email, password {v}"), creds_json(&js(U1.0), v));
    }
    for v in ["1", "null", "[]"] {
        b.signup(&format!("invalid email wins over password {v}"), creds_json("\"bad\"", v));
    }
    b.done()
}

fn signup_email_regex_valid(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "signup_email_regex_valid",
        "emails EMAIL_REGEX accepts, including the +.._ range, @ in the local part and a final newline",
    );
    for email in [
        "a+b@example.com",
        "a,b@example.com",
        "a/b@example.com",
        "a:b@example.com",
        "a;b@example.com",
        "a<b>@example.com",
        "a=b?@example.com",
        "a@b@example.com",
        "a@@example.com",
        "a[b]@example.com",
        "a\\b@example.com",
        "a^b_c@example.com",
        "A.B-C@EXAMPLE.COM",
        "+,-./0123456789:;<=>?@AZ[\\]^_@example.com",
        "x@y.z.",
        "x@y..z",
        "x@y.-",
        "x@-.-",
        "newline@example.com\n",
        &format!("{}@example.com", "l".repeat(300)),
    ] {
        b.signup(&format!("email {email:?}"), creds(email, U1.1));
    }
    b.login("the newline email logs in only with the newline", creds("newline@example.com\n", U1.1));
    b.login("without the newline it is another (unknown) email", creds("newline@example.com", U1.1));
    b.login(
        "emails are case-sensitive (not under MySQL's case-insensitive collation)",
        creds("a.b-c@example.com", U1.1),
    );
    b.done()
}

fn signup_email_regex_invalid(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_email_regex_invalid", "emails EMAIL_REGEX rejects: INVALID_EMAIL");
    for email in [
        "",
        "plain",
        "a@b",
        "@example.com",
        "a@.com",
        "a@example.",
        "a@example",
        "a`b@example.com",
        "a{b@example.com",
        "a|b@example.com",
        "a}b@example.com",
        "a~b@example.com",
        "a!b@example.com",
        "a\"b@example.com",
        "a#b@example.com",
        "a$b@example.com",
        "a%b@example.com",
        "a&b@example.com",
        "a'b@example.com",
        "a(b)@example.com",
        "a*b@example.com",
        "a b@example.com",
        " a@example.com",
        "a@example.com ",
        "a@exa_mple.com",
        "a@exam.ple_com",
        "a@example.com\r\n",
        "a@example.com\n\n",
        "a@example.com\r",
        "\na@example.com",
        "a@example.com\t",
        "a@example.com\u{0}",
        "é@example.com",
        "a@exämple.com",
        "a@example.cöm",
        "Ａ@example.com",
        "a@ｅxample.com",
        "a@example.com\u{2028}",
        "a@example.com\u{85}",
        "a\u{7f}@example.com",
        "😀@example.com",
    ] {
        b.signup(&format!("email {email:?}"), creds(email, U1.1));
    }
    b.signup("escaped lone surrogate in the email", creds_json("\"a\\ud800@example.com\"", &js(U1.1)));
    b.done()
}

fn signup_password_regex(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_password_regex", "PASSWORD_REGEX: lengths, classes, newline, 72-byte truncation");
    let mut n = 0;
    let mut su = |b: &mut B, pw: &str| {
        n += 1;
        b.signup(&format!("password {pw:?}"), creds(&format!("pw{n}@example.com"), pw));
    };
    for pw in [
        "Passw0rd!",
        "Abcdef1!",
        "Abcde1!",
        "abcdefg1@",
        "ABCDEFG1$",
        "a1!a1!a1",
        "1111111a%",
        "********a1",
        "Password!",
        "Passw0rd",
        "12345678!",
        "!@#$%^&*",
        "Passw0rd^",
        "Passw0rd~",
        "Pass w0rd!",
        "Passw0rd!\n",
        "Passw0rd!\r\n",
        "Passw0rd!\n\n",
        "\nPassw0rd!",
        "Passw0rd!\t",
        "Passw0rd!\u{0}",
        "Pass\u{0}w0rd!",
        "Pässw0rd!",
        "",
    ] {
        su(&mut b, pw);
    }
    let p72 = "A1!".repeat(24);
    let p75 = "A1!".repeat(25);
    let p100 = format!("{}B", "9a#".repeat(33));
    su(&mut b, &p72);
    su(&mut b, &p75);
    su(&mut b, &p100);
    b.signup("escaped lone surrogate in the password", creds_json("\"pwsur@example.com\"", "\"Passw0rd!\\ud800\""));
    // pw1 = Passw0rd!, pw16 = "Passw0rd!\n", pw26 = 75 bytes, pw27 = 100 bytes
    b.login("pw16 with the newline", creds("pw16@example.com", "Passw0rd!\n"));
    b.login("pw16 without the newline", creds("pw16@example.com", "Passw0rd!"));
    b.login("pw26: the first 72 bytes are enough (bcrypt truncates)", creds("pw26@example.com", &p72));
    b.login("pw26: any suffix after 72 bytes", creds("pw26@example.com", &format!("{p72}zzzz")));
    b.login("pw27 with 71 bytes -> INVALID_USER", creds("pw27@example.com", &p100[..71]));
    b.login("pw27 with 72 bytes", creds("pw27@example.com", &p100[..72]));
    b.done()
}

fn signup_password_digits(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "signup_password_digits",
        "\\d is Unicode 14 Nd in Python 3.11: other scripts' digits count, Unicode 15 digits and No/Nl do not",
    );
    let mut n = 0;
    for (what, pw) in [
        ("Arabic-Indic ٣", "Passw٣rd!"),
        ("Extended Arabic-Indic ۵", "Passw۵rd!"),
        ("fullwidth １", "Passw１rd!"),
        ("Devanagari ३", "Passw३rd!"),
        ("Thai ๕", "Passw๕rd!"),
        ("NKo ߀", "Passw߀rd!"),
        ("Mongolian ᠐", "Passw᠐rd!"),
        ("mathematical 𝟘 (astral Nd)", "Passw𝟘rd!"),
        ("Kawi U+11F50 (Unicode 15)", "Passw\u{11F50}rd!"),
        ("Nag Mundari U+1E4F0 (Unicode 15)", "Passw\u{1E4F0}rd!"),
        ("superscript two (No)", "Passw²rd!"),
        ("roman numeral four (Nl)", "PasswⅣrd!"),
        ("circled one (No)", "Passw①rd!"),
        ("only a Unicode digit and ASCII letters/specials", "Abcdefg٣!"),
    ] {
        n += 1;
        b.signup(&format!("password with {what}"), creds(&format!("digit{n}@example.com"), pw));
    }
    b.login("Arabic-Indic password logs in", creds("digit1@example.com", "Passw٣rd!"));
    b.login("astral digit password logs in", creds("digit8@example.com", "Passw𝟘rd!"));
    b.login("the ASCII digit is another password", creds("digit1@example.com", "Passw3rd!"));
    b.done()
}

fn signup_duplicates(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_duplicates", "EMAIL_ALREADY_EXISTS and what counts as the same email");
    b.signup_u(U1)
        .signup("same email and password", creds(U1.0, U1.1))
        .signup("same email, other password", creds(U1.0, "0ther#Pass"))
        .signup("same email, invalid password: password is checked first", creds(U1.0, "x"))
        .signup(
            "upper-case variant: another email, except under MySQL's case-insensitive collation",
            creds("USER1@example.com", U1.1),
        )
        .signup("newline variant is another email", creds("user1@example.com\n", U1.1))
        .signup("duplicate of the newline variant", creds("user1@example.com\n", U1.1))
        .signup(
            "duplicate key: the last email wins (a duplicate)",
            format!(r#"{{"email": "new@example.com", "email": {}, "password": {}}}"#, js(U1.0), js(U1.1)),
        )
        .login("login still works with the first password", creds(U1.0, U1.1))
        .login("not with the second", creds(U1.0, "0ther#Pass"));
    b.done()
}

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

fn body_encodings(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "body_encodings",
        "json.loads(bytes) detects UTF-8 with BOM, UTF-16 and UTF-32 with or without BOM",
    );
    type Encoder = fn(&str) -> Vec<u8>;
    let cases: Vec<(&str, Encoder)> = vec![
        ("UTF-8 with BOM", |s| {
            let mut v = b"\xef\xbb\xbf".to_vec();
            v.extend(s.as_bytes());
            v
        }),
        ("UTF-16-LE with BOM", |s| utf16(s, false, true)),
        ("UTF-16-BE with BOM", |s| utf16(s, true, true)),
        ("UTF-16-LE without BOM", |s| utf16(s, false, false)),
        ("UTF-16-BE without BOM", |s| utf16(s, true, false)),
        ("UTF-32-LE with BOM", |s| utf32(s, false, true)),
        ("UTF-32-BE with BOM", |s| utf32(s, true, true)),
        ("UTF-32-LE without BOM", |s| utf32(s, false, false)),
        ("UTF-32-BE without BOM", |s| utf32(s, true, false)),
    ];
    for (i, (what, enc)) in cases.iter().enumerate() {
        b.signup(&format!("signup in {what}"), enc(&creds(&format!("enc{i}@example.com"), U1.1)));
    }
    b.login("login in UTF-16-LE with BOM", utf16(&creds("enc0@example.com", U1.1), false, true));
    b.login("login in UTF-32-BE without BOM", utf32(&creds("enc1@example.com", U1.1), true, false));
    b.signup("UTF-16 {} -> KEY_ERROR", utf16("{}", false, false));
    b.signup("UTF-32-LE {} without BOM", utf32("{}", false, false));
    b.signup("UTF-16-LE with an odd byte count -> 500", {
        let mut v = utf16("{}", false, true);
        v.push(b' ');
        v
    });
    b.signup("UTF-16 non-ASCII email -> INVALID_EMAIL", utf16(&creds("é@example.com", U1.1), false, true));
    b.signup("UTF-16-LE lone surrogate (surrogatepass)", {
        let mut v = utf16(r#"{"email": "a"#, false, false);
        v.extend([0x00, 0xd8]);
        v.extend(utf16(r#"", "password": "x"}"#, false, false));
        v
    });
    b.signup("UTF-8 BOM only -> JSON_DECODE_ERROR", b"\xef\xbb\xbf");
    b.signup("two UTF-8 BOMs -> JSON_DECODE_ERROR", b"\xef\xbb\xbf\xef\xbb\xbf{}");
    b.signup("UTF-8 BOM then 1 -> 500", b"\xef\xbb\xbf1");
    b.signup("UTF-16-LE BOM only", b"\xff\xfe");
    b.signup("UTF-32-LE BOM only", b"\xff\xfe\x00\x00");
    b.signup("two bytes NUL 1: UTF-16-BE \"1\" -> 500", b"\x001");
    b.signup("two bytes 1 NUL: UTF-16-LE \"1\" -> 500", b"1\x00");
    b.signup("three bytes: UTF-8 with a NUL -> JSON_DECODE_ERROR", b"\x001\x00");
    b.signup("UTF-16-BE BOM followed by UTF-8 text", {
        let mut v = b"\xfe\xff".to_vec();
        v.extend(b"{}");
        v
    });
    b.signup("UTF-32-BE without BOM, truncated", &utf32("{}", true, false)[..7]);
    b.done()
}

fn body_invalid_utf8(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "body_invalid_utf8",
        "invalid UTF-8 bodies are a 500 (UnicodeDecodeError), except UTF-8-encoded surrogates (surrogatepass)",
    );
    let wrap = |inner: &[u8]| {
        let mut v = br#"{"email": ""#.to_vec();
        v.extend_from_slice(inner);
        v.extend_from_slice(br#"@example.com", "password": "Passw0rd!"}"#);
        v
    };
    for (note, body) in [
        ("lone 0xff", b"\xff".to_vec()),
        ("lone 0x80", b"\x80".to_vec()),
        ("latin-1 e-acute in the email", wrap(b"\xe9")),
        ("invalid continuation 0xc3 0x28", wrap(b"\xc3\x28")),
        ("overlong slash 0xc0 0xaf", wrap(b"\xc0\xaf")),
        ("truncated 3-byte sequence", wrap(b"\xe2\x82")),
        ("above U+10FFFF", wrap(b"\xf4\x90\x80\x80")),
        ("5-byte form", wrap(b"\xf8\x88\x80\x80\x80")),
        ("UTF-8-encoded lone surrogate -> accepted, INVALID_EMAIL", wrap(b"\xed\xa0\x80")),
        ("UTF-8-encoded surrogate pair (CESU-8) -> accepted", wrap(b"\xed\xa0\xbd\xed\xb8\x80")),
        ("invalid UTF-8 after the JSON document", b"{}\xff".to_vec()),
        ("invalid UTF-8 in an ignored key", b"{\"email\": \"x\", \"password\": \"y\", \"z\": \"\xff\"}".to_vec()),
        ("invalid UTF-8 before a syntax error", b"\xff{".to_vec()),
    ] {
        b.signup(note, body);
    }
    b.signup_u(U1);
    let mut sur_pw = br#"{"email": "user1@example.com", "password": "Passw0rd!"#.to_vec();
    sur_pw.extend_from_slice(b"\xed\xa0\x80\"}");
    b.login("login: UTF-8-encoded surrogate in the password -> 500 at .encode", sur_pw);
    b.login("login: invalid UTF-8 -> 500", b"{\"email\": \"user1@example.com\", \"password\": \"\xff\"}");
    b.done()
}

fn body_python_json(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "body_python_json",
        "what Python's json accepts beyond strict JSON: NaN, Infinity, duplicate keys, escapes",
    );
    let with = |extra: &str| format!(r#"{{"email": "x", "password": "y", "n": {extra}}}"#);
    for v in ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1E400", "1e-400", "-0", "0.0e0", "[NaN, Infinity]"] {
        b.signup(&format!("accepted in an ignored key: {v} -> INVALID_EMAIL"), with(v));
    }
    for v in [
        "nan",
        "inf",
        "+Infinity",
        "Inf",
        "-NaN",
        "+1",
        "01",
        "1.",
        ".5",
        "0x10",
        "1e",
        "--1",
        "undefined",
        "None",
        "True",
    ] {
        b.signup(&format!("rejected: {v} -> JSON_DECODE_ERROR"), with(v));
    }
    b.signup("email NaN -> 500", creds_json("NaN", &js(U1.1)));
    b.signup("duplicate keys: last wins -> INVALID_EMAIL", r#"{"email": 1, "email": "x", "password": "y"}"#);
    b.signup(
        "duplicate keys: last wins -> 500",
        format!(r#"{{"email": {}, "email": 1, "password": {}}}"#, js(U1.0), js(U1.1)),
    );
    b.signup(
        "duplicate password keys: the last one is stored",
        format!(r#"{{"email": {}, "password": "bad", "password": {}}}"#, js(U1.0), js(U1.1)),
    );
    b.login("logs in with the last password", creds(U1.0, U1.1));
    b.done()
}

fn body_numbers(key: &str) -> Scenario {
    let mut b = B::new(key, "body_numbers", "huge numbers: ints up to 4300 digits parse, 4301 digits is a 500");
    let with = |extra: &str| format!(r#"{{"email": "x", "password": "y", "n": {extra}}}"#);
    let d4300 = "9".repeat(4300);
    let d4301 = "9".repeat(4301);
    b.signup("4300-digit int", with(&d4300));
    b.signup("4301-digit int -> 500 (ValueError, not a JSON error)", with(&d4301));
    b.signup("-4300-digit int", with(&format!("-{d4300}")));
    b.signup("-4301-digit int", with(&format!("-{d4301}")));
    b.signup("4301 digits with a fraction is a float: fine", with(&format!("{d4301}.5")));
    b.signup("4301 digits with an exponent is a float: fine", with(&format!("{d4301}e0")));
    b.signup("float with 5000 fraction digits", with(&format!("0.{}", "1".repeat(5000))));
    b.signup("2**64", with("18446744073709551616"));
    b.signup("email 2**64 -> 500", creds_json("18446744073709551616", "\"y\""));
    b.signup("password 4301 digits -> 500", creds_json("\"x\"", &d4301));
    b.done()
}

fn body_strings(key: &str) -> Scenario {
    let mut b = B::new(key, "body_strings", "string escapes and lone surrogates in bodies");
    b.signup(
        "\\u escapes decode to a valid email",
        r#"{"email": "\u0075ser1@example.com", "password": "Passw0rd\u0021"}"#,
    );
    b.signup("escaped slash", r#"{"email": "a\/b@example.com", "password": "Passw0rd!"}"#);
    b.signup("invalid escape \\x41", r#"{"email": "\x41@example.com", "password": "Passw0rd!"}"#);
    b.signup("short \\u escape", r#"{"email": "\u12@example.com", "password": "Passw0rd!"}"#);
    b.signup("upper-case \\U escape", r#"{"email": "\U0041@example.com", "password": "Passw0rd!"}"#);
    b.signup("escaped lone high surrogate", r#"{"email": "\ud800", "password": "Passw0rd!"}"#);
    b.signup("escaped lone low surrogate", r#"{"email": "\udc00", "password": "Passw0rd!"}"#);
    b.signup("escaped surrogate pair", r#"{"email": "\ud83d\ude00@example.com", "password": "Passw0rd!"}"#);
    b.signup("reversed surrogate pair", r#"{"email": "\ude00\ud83d", "password": "Passw0rd!"}"#);
    b.signup("escaped NUL in the email", r#"{"email": "a\u0000@example.com", "password": "Passw0rd!"}"#);
    b.signup("raw DEL is allowed in strings", "{\"email\": \"a\u{7f}\", \"password\": \"Passw0rd!\"}");
    b.signup("raw U+2028 is allowed in strings", "{\"email\": \"a\u{2028}\", \"password\": \"Passw0rd!\"}");
    b.signup("\\u0000 escape in a key", r#"{"email\u0000": "x", "password": "y"}"#);
    b.login("login: escaped lone surrogate in the email", r#"{"email": "\ud800", "password": "Passw0rd!"}"#);
    b.login("login: escaped NUL in the email", r#"{"email": "user1@example.com\u0000", "password": "Passw0rd!"}"#);
    b.login("login: \\u escapes", r#"{"email": "\u0075ser1@example.com", "password": "Passw0rd\u0021"}"#);
    b.login(
        "login: escaped lone surrogate in the password -> 500",
        r#"{"email": "user1@example.com", "password": "\udfff"}"#,
    );
    b.login(
        "login: escaped NUL in the password -> 500 (bcrypt)",
        r#"{"email": "user1@example.com", "password": "Passw0rd!\u0000"}"#,
    );
    b.done()
}

fn body_nesting(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "body_nesting",
        "nesting depth: json.loads parses up to BODY_MAX_DEPTH levels, one more is a RecursionError (500)",
    );
    let d = BODY_MAX_DEPTH;
    let with = |extra: &str| format!(r#"{{"email": "x", "password": "y", "n": {extra}}}"#);
    b.signup(&format!("lists, total depth {d} -> INVALID_EMAIL"), with(&nest("[", "", "]", d - 1)));
    b.signup(&format!("lists, total depth {} -> 500", d + 1), with(&nest("[", "", "]", d)));
    b.signup(&format!("objects, total depth {d}"), with(&nest(r#"{"a": "#, "1", "}", d - 1)));
    b.signup(&format!("objects, total depth {}", d + 1), with(&nest(r#"{"a": "#, "1", "}", d)));
    b.signup(&format!("mixed, total depth {d}"), with(&nest(r#"[{"a": "#, "1", "}]", (d - 1) / 2)));
    b.signup(&format!("unclosed lists, depth {d} -> JSON_DECODE_ERROR"), "[".repeat(d));
    b.signup(&format!("unclosed lists, depth {} -> 500", d + 1), "[".repeat(d + 1));
    b.signup("unclosed, then garbage, depth 10", format!("{}x", "[".repeat(10)));
    b.signup("top-level list depth 10 -> 500 (not an object)", nest("[", "", "]", 10));
    b.signup("depth 100000 -> 500", nest("[", "", "]", 100_000));
    b.signup("email nested list depth 5 -> 500", creds_json(&nest("[", "", "]", 5), "\"y\""));
    b.login(&format!("login: total depth {d} -> INVALID_USER"), with(&nest("[", "", "]", d - 1)));
    b.login(&format!("login: total depth {} -> 500", d + 1), with(&nest("[", "", "]", d)));
    b.login(&format!("login: unclosed depth {d}"), "[".repeat(d));
    b.login(&format!("login: unclosed depth {}", d + 1), "[".repeat(d + 1));
    b.done()
}

fn padded(json: &str, total: usize) -> Vec<u8> {
    let mut v = json.as_bytes().to_vec();
    assert!(v.len() <= total);
    v.resize(total, b' ');
    v
}

fn body_size_limits(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "body_size_limits",
        "DATA_UPLOAD_MAX_MEMORY_SIZE: a body over 2.5 MiB read by a view is the 400 page",
    );
    let small = r#"{"email": "x", "password": "y"}"#;
    b.signup("exactly 2621440 bytes -> INVALID_EMAIL", padded(small, MAX_BODY));
    b.signup("2621441 bytes -> 400 page", padded(small, MAX_BODY + 1));
    b.signup("3 MiB email -> 400 page", format!(r#"{{"email": "{}", "password": "y"}}"#, "a".repeat(3 << 20)));
    b.login("login: exactly 2621440 bytes -> INVALID_USER", padded(small, MAX_BODY));
    b.login("login: 2621441 bytes -> 400 page", padded(small, MAX_BODY + 1));
    b.add(logout_req(None).body(vec![b'x'; MAX_BODY + 1]).note("logout does not read the body: JWT_DECODE_ERROR"));
    b.add(
        Request::new("GET", "/users/signup")
            .body(vec![b'x'; MAX_BODY + 1])
            .note("GET with a big body: 405, the body is not read"),
    );
    b.add(Request::new("POST", "/nope").body(vec![b'x'; MAX_BODY + 1]).note("unknown path with a big body: 404"));
    b.add(
        post_json("/users/signup", "{}")
            .header("Content-Length", (MAX_BODY + 1).to_string())
            .raw()
            .header("Host", "localhost")
            .header("Connection", "close")
            .note("Content-Length 2621441 declared, 2 bytes sent: the 400 page without reading the body"),
    );
    b.done()
}

fn body_transfer_and_content_type(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "body_transfer_and_content_type",
        "Content-Type is ignored; a chunked body is not seen by Django (no CONTENT_LENGTH)",
    );
    let valid = creds(U1.0, U1.1);
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/json; charset=utf-16",
    ] {
        b.add(
            Request::new("POST", "/users/signup")
                .header("Content-Type", ct)
                .body(r#"{"email": "x", "password": "y"}"#)
                .note(format!("Content-Type {ct}")),
        );
    }
    b.add(Request::new("POST", "/users/signup").body(valid.as_str()).note("no Content-Type: SUCCESS"));
    b.add(Request::new("POST", "/users/signup").header("Content-Length", "0").note("explicit Content-Length 0"));
    let chunked = format!("{:x}\r\n{}\r\n0\r\n\r\n", valid.len(), valid);
    b.add(
        Request::new("POST", "/users/login")
            .header("Content-Type", "application/json")
            .header("Transfer-Encoding", "chunked")
            .body(chunked.as_str())
            .note("chunked login: Django reads an empty body -> JSON_DECODE_ERROR"),
    );
    let tok = b.tok(1);
    b.add(
        Request::new("POST", "/users/logout")
            .header("Authorization", tok.as_str())
            .header("Transfer-Encoding", "chunked")
            .body("0\r\n\r\n")
            .note("chunked logout"),
    );
    b.done()
}

fn login_flow(key: &str) -> Scenario {
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

fn login_body_garbage(key: &str) -> Scenario {
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

fn login_missing_keys(key: &str) -> Scenario {
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

fn login_types(key: &str) -> Scenario {
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

fn login_password_edges(key: &str) -> Scenario {
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

fn login_tokens_accumulate(key: &str) -> Scenario {
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

fn logout_header_forms(key: &str) -> Scenario {
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

fn logout_segments(key: &str) -> Scenario {
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

fn logout_base64_header_payload(key: &str) -> Scenario {
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

fn logout_base64_signature(key: &str) -> Scenario {
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

fn logout_latin1_bytes(key: &str) -> Scenario {
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

fn logout_signature_and_key(key: &str) -> Scenario {
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

fn logout_alg(key: &str) -> Scenario {
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

fn logout_jose_header(key: &str) -> Scenario {
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

fn logout_payload_shapes(key: &str) -> Scenario {
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

fn logout_claims_exp(key: &str) -> Scenario {
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

fn logout_claims_nbf_iat(key: &str) -> Scenario {
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

fn logout_claims_aud_order(key: &str) -> Scenario {
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

fn logout_id_values(key: &str) -> Scenario {
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

fn logout_id_huge(key: &str) -> Scenario {
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

fn logout_nesting(key: &str) -> Scenario {
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

fn logout_lifecycle(key: &str) -> Scenario {
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

const ODD_METHODS: &[&str] =
    &["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "FOO", "PROPFIND", "M-SEARCH", "LOGIN"];

fn methods_users(key: &str) -> Scenario {
    let mut b =
        B::new(key, "methods_users", "methods other than POST on the users endpoints: 405 with Allow, OPTIONS 200");
    for path in ["/users/signup", "/users/login", "/users/logout"] {
        for m in ODD_METHODS {
            b.add(Request::new(m, path).note(format!("{m} {path}")));
        }
    }
    b.add(
        Request::new("GET", "/users/signup")
            .header("Content-Type", "application/json")
            .body(creds(U1.0, U1.1))
            .note("GET with a JSON body"),
    );
    b.add(Request::new("OPTIONS", "/users/login").body("{}").note("OPTIONS with a body"));
    b.add(Request::new("POST", "/users/logout").note("POST logout without a body or token"));
    b.done()
}

fn paths(key: &str) -> Scenario {
    let mut b = B::new(key, "paths", "unknown paths, trailing slashes, case, query strings, double slashes");
    let body = r#"{"email": "x", "password": "y"}"#;
    for path in [
        "/",
        "/users",
        "/users/",
        "/users/signup/",
        "/users/signup//",
        "/Users/signup",
        "/USERS/SIGNUP",
        "/users/Signup",
        "/users/signup?x=1",
        "/users/signup?",
        "/users/signup?email=a@b.c&password=Passw0rd!",
        "/users/signup#frag",
        "//users/signup",
        "/users//signup",
        "/users/./signup",
        "/users/../users/signup",
        "/users/signup/.",
        "/users/signup.json",
        "/users/signupx",
        "/users/sign",
        "/user/signup",
        "/favicon.ico",
        "/admin/",
        "/static/x.css",
        "/users/login/",
        "/users/logout/",
        "/users/logout?next=/",
        "http://localhost/users/signup",
    ] {
        b.add(post_json(path, body).note(format!("POST {path}")));
    }
    b.add(Request::new("GET", "/").note("GET /"));
    b.add(Request::new("GET", "/nope").note("GET unknown"));
    b.add(Request::new("HEAD", "/nope").note("HEAD unknown"));
    b.add(Request::new("OPTIONS", "/nope").note("OPTIONS unknown (no Origin)"));
    b.add(Request::new("DELETE", "/users").note("DELETE /users"));
    b.done()
}

fn paths_encoded(key: &str) -> Scenario {
    let mut b = B::new(key, "paths_encoded", "percent-encoding and raw bytes in paths");
    let body = r#"{"email": "x", "password": "y"}"#;
    for path in [
        "/users/%73ignup",
        "/users%2Fsignup",
        "/%75sers/signup",
        "/users/signup%2F",
        "/users/signup%20",
        "/users/signup%00",
        "/users/%73%69%67%6e%75%70",
        "/users/%53ignup",
        "/users/signup%3Fx=1",
        "/users/sign%ffup",
        "/users/%C3%A9",
        "/users/%",
        "/users/%zz",
        "/users/signup;x=1",
        "/users/login%0a",
    ] {
        b.add(post_json(path, body).note(format!("POST {path}")));
    }
    b.done()
}

fn cors_simple(key: &str) -> Scenario {
    let mut b = B::new(key, "cors_simple", "Origin on ordinary requests: echoed with credentials allowed");
    let t1 = b.tok(1);
    let o = "http://example.com";
    b.add(post_json("/users/signup", creds(U1.0, U1.1)).header("Origin", o).note("signup 201 with Origin"));
    b.add(post_json("/users/login", creds(U1.0, U1.1)).header("Origin", o).note("login 200 with Origin"));
    b.add(logout_req(Some(t1.as_bytes())).header("Origin", o).note("logout 200 with Origin"));
    b.add(post_json("/users/signup", "{}").header("Origin", o).note("KEY_ERROR with Origin"));
    b.add(logout_req(None).header("Origin", o).note("JWT_DECODE_ERROR with Origin"));
    for origin in [
        "null",
        "https://a.example:8443",
        "http://localhost:3000",
        "*",
        "HTTP://EXAMPLE.COM",
        "file://",
        "http://example.com/path?q=1",
        "not an origin",
        "http://a.com, http://b.com",
    ] {
        b.add(post_json("/users/signup", "{}").header("Origin", origin).note(format!("Origin {origin:?}")));
    }
    b.add(post_json("/users/signup", "{}").header("Origin", "").note("empty Origin: no CORS headers"));
    b.add(post_json("/users/signup", "{}").header("Origin", b"http://\xe9.example").note("latin-1 byte in Origin"));
    b.add(
        post_json("/users/signup", "{}")
            .header("Origin", "http://a.com")
            .header("Origin", "http://b.com")
            .note("two Origin headers"),
    );
    b.add(post_json("/users/signup", "{}").header("origin", o).note("lower-case header name"));
    b.add(
        Request::new("OPTIONS", "/users/signup")
            .header("Origin", o)
            .note("OPTIONS with Origin but no Access-Control-Request-Method: not a preflight"),
    );
    b.done()
}

fn cors_preflight(key: &str) -> Scenario {
    let mut b = B::new(key, "cors_preflight", "preflights are answered for any path and origin");
    let o = "http://example.com";
    let pre =
        |path: &str| Request::new("OPTIONS", path).header("Origin", o).header("Access-Control-Request-Method", "POST");
    for path in
        ["/users/signup", "/users/login", "/users/logout", "/ledgers", "/ledgers/1", "/nope", "/users/signup/", "/"]
    {
        b.add(pre(path).note(format!("preflight {path}")));
    }
    b.add(
        pre("/users/logout")
            .header("Access-Control-Request-Headers", "authorization, content-type, x-custom")
            .note("preflight asking for headers"),
    );
    b.add(
        Request::new("OPTIONS", "/users/signup")
            .header("Origin", o)
            .header("Access-Control-Request-Method", "DELETE")
            .note("preflight for DELETE"),
    );
    b.add(
        Request::new("OPTIONS", "/users/signup")
            .header("Origin", o)
            .header("Access-Control-Request-Method", "")
            .note("empty Access-Control-Request-Method still makes a preflight"),
    );
    b.add(
        Request::new("OPTIONS", "/users/signup")
            .header("Origin", "null")
            .header("Access-Control-Request-Method", "POST")
            .note("preflight from Origin null"),
    );
    b.add(
        Request::new("OPTIONS", "/users/signup")
            .header("Access-Control-Request-Method", "POST")
            .note("Access-Control-Request-Method without Origin: still answered by the CORS middleware (no Allow, no X-Frame-Options)"),
    );
    b.add(
        Request::new("OPTIONS", "/nope")
            .header("Access-Control-Request-Method", "POST")
            .note("Access-Control-Request-Method without Origin on an unknown path: answered, not 404"),
    );
    b.add(
        Request::new("OPTIONS", "/users/signup")
            .header("Origin", "")
            .header("Access-Control-Request-Method", "POST")
            .note("preflight with an empty Origin"),
    );
    b.add(
        Request::new("POST", "/users/signup")
            .header("Origin", o)
            .header("Access-Control-Request-Method", "POST")
            .header("Content-Type", "application/json")
            .body("{}")
            .note("Access-Control-Request-Method on a POST: not a preflight"),
    );
    b.add(
        Request::new("GET", "/users/signup")
            .header("Origin", o)
            .header("Access-Control-Request-Method", "POST")
            .note("GET with preflight headers: 405 with CORS headers"),
    );
    b.add(
        Request::new("OPTIONS", "/users/signup")
            .header("Origin", o)
            .header("Access-Control-Request-Method", "POST")
            .body("{}")
            .note("preflight with a body"),
    );
    b.done()
}

fn cors_error_pages(key: &str) -> Scenario {
    let mut b = B::new(key, "cors_error_pages", "CORS headers on 404, 405, 500 and 400 pages");
    let o = "http://example.com";
    b.add(Request::new("GET", "/nope").header("Origin", o).note("404 page with Origin"));
    b.add(Request::new("GET", "/users/signup").header("Origin", o).note("405 with Origin"));
    b.add(Request::new("HEAD", "/users/signup").header("Origin", o).note("HEAD 405 with Origin"));
    b.add(post_json("/users/signup", "1").header("Origin", o).note("500 page with Origin"));
    b.add(
        post_json("/users/signup", padded("{}", MAX_BODY + 1))
            .header("Origin", o)
            .note("400 page (body too big) with Origin"),
    );
    b.add(post_json("/nope", "{}").header("Origin", "null").note("404 with Origin null"));
    b.done()
}

/// Logout with a token for `id` given as JSON text (any number).
fn id_payload(id: &str) -> String {
    format!(r#"{{"id":{id}}}"#)
}

fn logout_id_out_of_range(key: &str) -> Scenario {
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

/// Signup and login lookups compare emails in the database, with its
/// collation: exact on SQLite and PostgreSQL; case- and accent-insensitive
/// with trailing spaces ignored on MySQL's utf8mb4_general_ci.
fn email_case_and_space(key: &str) -> Scenario {
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

fn email_length_limits(key: &str) -> Scenario {
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

fn token_long_ids(key: &str) -> Scenario {
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

/// Time-relative claims (the differential test only: a recording would go stale).
pub fn live(key: &str, now: i64) -> Vec<Scenario> {
    let mut b = B::new(key, "live_clock", "exp and nbf around the current time");
    b.signup_u(U1);
    for (claim, v) in [
        ("exp", now - 3600),
        ("exp", now - 5),
        ("exp", now + 60),
        ("exp", now + 3600),
        ("nbf", now - 5),
        ("nbf", now + 60),
        ("nbf", now + 3600),
        ("iat", now + 3600),
    ] {
        b.logout_p(&format!(r#"{{"id":1,"{claim}":{v}}}"#));
    }
    b.logout_p(&format!(r#"{{"id":1,"exp":"{}"}}"#, now + 3600));
    b.logout_p(&format!(r#"{{"id":1,"exp":{}.5}}"#, now - 30));
    vec![b.done()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_are_unique_and_safe() {
        let names = names();
        let set: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(set.len(), names.len());
        for n in &names {
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{n}");
        }
    }

    #[test]
    fn deterministic() {
        let a = all("k");
        let b = all("k");
        for (x, y) in a.iter().zip(b.iter()) {
            assert_eq!(x.requests, y.requests);
        }
    }
}
