//! django-cors-headers: Origin on ordinary requests, preflights, CORS headers on error pages.

use super::builder::{creds, logout_req, padded, post_json, Scenario, B, MAX_BODY, U1};
use crate::model::Request;

pub(super) fn cors_simple(key: &str) -> Scenario {
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

pub(super) fn cors_preflight(key: &str) -> Scenario {
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

pub(super) fn cors_error_pages(key: &str) -> Scenario {
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
