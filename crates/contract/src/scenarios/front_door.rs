//! The front door's scenarios (issue 15 §1): the whole product through
//! ledger-server in front of Django, played against Django alone. Not in
//! [`super::all`]: they need the `ledgers` app, which only Django serves.
//! Tokens are the compat ones (`{"id": N}`), the same from either server.

use super::builder::{creds, js, post_json, Scenario, B, U1, U2};
use crate::model::Request;
use crate::tokens::token_for;

fn get(path: &str, token: &str) -> Request {
    Request::new("GET", path).header("Authorization", token)
}

fn with_body(method: &str, path: &str, token: &str, body: &str) -> Request {
    Request::new(method, path).header("Authorization", token).header("Content-Type", "application/json").body(body)
}

fn ledger(amount: &str, memo: &str) -> String {
    format!(r#"{{"amount": {amount}, "memo": {}}}"#, js(memo))
}

/// A user signed up and logged in, its token.
fn user(b: &mut B, u: (&str, &str), id: i64) -> String {
    b.signup_u(u).login_u(u);
    b.tok(id)
}

fn crud(key: &str) -> Scenario {
    let mut b = B::new(key, "fd_ledgers_crud", "list, create, detail, edit, delete, restore");
    let t = user(&mut b, U1, 1);
    b.add(get("/ledgers", &t).note("empty list"));
    b.add(with_body("POST", "/ledgers", &t, &ledger("1000", "lunch")));
    b.add(with_body("POST", "/ledgers", &t, &ledger("-5", "점심 ☕ \u{1F600} \"q\" \\")).note("unicode memo"));
    b.add(get("/ledgers", &t));
    for path in ["/ledgers/1", "/ledgers/2", "/ledgers/999", "/ledgers/0", "/ledgers/-1", "/ledgers/abc", "/ledgers/1/"]
    {
        b.add(get(path, &t));
    }
    b.add(get("/ledgers/99999999999999999999", &t).note("beyond bigint"));
    b.add(with_body("PATCH", "/ledgers/1", &t, r#"{"memo": "dinner"}"#));
    b.add(with_body("PATCH", "/ledgers/1", &t, r#"{"amount": 7}"#));
    b.add(with_body("PATCH", "/ledgers/1", &t, "{bad"));
    b.add(with_body("PATCH", "/ledgers/1", &t, "[1]").note("a list: .get raises"));
    b.add(with_body("PATCH", "/ledgers/999", &t, "{}"));
    b.add(get("/ledgers/1", &t));
    b.add(Request::new("DELETE", "/ledgers/1").header("Authorization", &t));
    b.add(get("/ledgers/1", &t).note("deleted"));
    b.add(Request::new("DELETE", "/ledgers/1").header("Authorization", &t).note("again"));
    b.add(with_body("POST", "/ledgers/1/restore", &t, ""));
    b.add(with_body("POST", "/ledgers/1/restore", &t, "").note("again"));
    b.add(with_body("POST", "/ledgers/2/restore", &t, "").note("never deleted"));
    b.add(get("/ledgers", &t));
    b.done()
}

fn bodies(key: &str) -> Scenario {
    let mut b = B::new(key, "fd_ledgers_bodies", "bad, non-dict, wrongly typed and huge bodies");
    let t = user(&mut b, U1, 1);
    for body in [
        "{}",
        r#"{"amount": 1}"#,
        r#"{"memo": "x"}"#,
        "{",
        "",
        "[1, 2]",
        "\"text\"",
        "5",
        "null",
        r#"{"amount": "12", "memo": "str amount"}"#,
        r#"{"amount": 1.5, "memo": "float"}"#,
        r#"{"amount": true, "memo": "bool"}"#,
        r#"{"amount": 3, "memo": 5}"#,
        r#"{"amount": 2147483647, "memo": "int max"}"#,
        r#"{"amount": 2147483648, "memo": "int max + 1"}"#,
        r#"{"amount": 99999999999999999999, "memo": "huge"}"#,
        r#"{"amount": 1e400, "memo": "inf"}"#,
        r#"{"amount": null, "memo": "null"}"#,
    ] {
        b.add(with_body("POST", "/ledgers", &t, body));
    }
    b.add(with_body("POST", "/ledgers", &t, &ledger("1", &"m".repeat(201))).note("memo over 200"));
    b.add(Request::new("POST", "/ledgers").header("Authorization", &t).body("\u{FFFE}\x00").note("not JSON bytes"));
    b.add(get("/ledgers", &t));
    b.done()
}

fn other_user(key: &str) -> Scenario {
    let mut b = B::new(key, "fd_ledgers_other_user", "another user's ledger is not found");
    let t1 = user(&mut b, U1, 1);
    let t2 = user(&mut b, U2, 2);
    b.add(with_body("POST", "/ledgers", &t1, &ledger("10", "mine")));
    b.add(get("/ledgers/1", &t2));
    b.add(with_body("PATCH", "/ledgers/1", &t2, r#"{"memo": "theirs"}"#));
    b.add(Request::new("DELETE", "/ledgers/1").header("Authorization", &t2));
    b.add(Request::new("DELETE", "/ledgers/1").header("Authorization", &t1));
    b.add(with_body("POST", "/ledgers/1/restore", &t2, ""));
    b.add(get("/ledgers", &t2));
    b.add(get("/ledgers", &t1));
    b.done()
}

fn tokens(key: &str) -> Scenario {
    let mut b = B::new(key, "fd_ledgers_tokens", "no, garbage, foreign, unknown and logged-out tokens");
    let t = user(&mut b, U1, 1);
    b.add(Request::new("GET", "/ledgers").note("no Authorization"));
    for bad in ["", "garbage", "a.b.c", &format!("Bearer {t}")] {
        b.add(get("/ledgers", bad));
    }
    b.add(get("/ledgers", &token_for("another-key", 1)).note("wrong signature"));
    b.add(get("/ledgers", &token_for(key, 99)).note("no such user: 401"));
    b.logout("logout", &t);
    b.add(get("/ledgers", &t).note("logged out: INVALID_USER with status 200"));
    b.add(with_body("POST", "/ledgers", &t, &ledger("1", "x")));
    b.login_u(U1);
    b.add(get("/ledgers", &t).note("logged in again"));
    b.done()
}

fn methods(key: &str) -> Scenario {
    let mut b = B::new(key, "fd_ledgers_methods", "every method on every path");
    let t = user(&mut b, U1, 1);
    b.add(with_body("POST", "/ledgers", &t, &ledger("1", "x")));
    for path in ["/ledgers", "/ledgers/1", "/ledgers/1/restore"] {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "BREW"] {
            b.add(with_body(method, path, &t, "{}"));
        }
    }
    b.done()
}

fn cors(key: &str) -> Scenario {
    let mut b = B::new(key, "fd_cors", "Origin on simple requests, preflights, Origin: null");
    let t = user(&mut b, U1, 1);
    for path in ["/ledgers", "/ledgers/1", "/users/login", "/nothing"] {
        for origin in ["http://front.example", "null"] {
            b.add(get(path, &t).header("Origin", origin));
            b.add(
                Request::new("OPTIONS", path)
                    .header("Origin", origin)
                    .header("Access-Control-Request-Method", "PATCH")
                    .header("Access-Control-Request-Headers", "authorization, content-type"),
            );
        }
        b.add(Request::new("OPTIONS", path).header("Origin", "http://front.example").note("no request method"));
    }
    b.done()
}

fn paths(key: &str) -> Scenario {
    let mut b = B::new(key, "fd_paths", "percent escapes, queries, trailing slashes, unknown paths");
    let t = user(&mut b, U1, 1);
    b.add(with_body("POST", "/ledger%73", &t, &ledger("3", "escaped path")));
    for path in [
        "/ledger%73",
        "/%6Cedgers/1",
        "/ledgers/%31",
        "/ledgers%2F1",
        "/ledgers?x=%2F",
        "/ledgers/1?a=1&b",
        "/ledgers/",
        "/ledgers//1",
        "/",
        "/admin",
        "/admin/",
        "/nothing",
        "/users",
        "/users/",
        "/users/login/",
        "/%FF",
    ] {
        b.add(get(path, &t));
    }
    b.add(post_json("/users/%6Cogin", creds(U1.0, U1.1)).note("escaped users path"));
    b.add(post_json("/users/login?next=%2F", creds(U1.0, U1.1)));
    b.add(post_json("/users/signup/", creds("x@example.com", "Passw0rd!")).note("trailing slash: Django's 404"));
    b.done()
}

fn users(key: &str) -> Scenario {
    let mut b = B::new(key, "fd_users", "the /users API through the front door");
    let t = b.tok(1);
    b.signup_u(U1).signup_u(U1).signup("bad JSON", "{").signup("not a dict", "[]");
    b.login("wrong password", creds(U1.0, "Wr0ng!pass")).login_u(U1).login("no such user", creds(U2.0, U2.1));
    b.add(Request::new("GET", "/users/login")).add(Request::new("PUT", "/users/signup"));
    b.logout("logout", &t).logout("logout again", &t).logout("garbage", "x");
    b.done()
}

/// Every front-door scenario, in a stable order.
pub fn front_door(key: &str) -> Vec<Scenario> {
    vec![crud(key), bodies(key), other_user(key), tokens(key), methods(key), cors(key), paths(key), users(key)]
}
