//! Methods other than POST, and paths: unknown, trailing slashes, case,
//! query strings, percent-encoding.

use super::builder::{creds, post_json, Scenario, B, U1};
use crate::model::Request;

const ODD_METHODS: &[&str] =
    &["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "FOO", "PROPFIND", "M-SEARCH", "LOGIN"];

pub(super) fn methods_users(key: &str) -> Scenario {
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

pub(super) fn paths(key: &str) -> Scenario {
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

pub(super) fn paths_encoded(key: &str) -> Scenario {
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
