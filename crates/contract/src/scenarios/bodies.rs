//! Request bodies as `json.loads(request.body)` reads them: encodings,
//! invalid UTF-8, Python's JSON extensions, numbers, strings, nesting, size
//! limits, transfer encodings.

use super::builder::{
    creds, creds_json, js, logout_req, nest, padded, post_json, utf16, utf32, Scenario, B, BODY_MAX_DEPTH, MAX_BODY, U1,
};
use crate::model::Request;

pub(super) fn body_encodings(key: &str) -> Scenario {
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

pub(super) fn body_invalid_utf8(key: &str) -> Scenario {
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

pub(super) fn body_python_json(key: &str) -> Scenario {
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

pub(super) fn body_numbers(key: &str) -> Scenario {
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

pub(super) fn body_strings(key: &str) -> Scenario {
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

pub(super) fn body_nesting(key: &str) -> Scenario {
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

pub(super) fn body_size_limits(key: &str) -> Scenario {
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

pub(super) fn body_transfer_and_content_type(key: &str) -> Scenario {
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
