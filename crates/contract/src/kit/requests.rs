//! The requests of an ordinary client, for tests that drive a server
//! through signup, login and logout (the contract scenarios build their
//! own, byte by byte).

use crate::model::{Request, Response};
use crate::scenarios::{creds, logout_req, post_json};

/// The password [`signup`] and [`login`] use.
pub const PASSWORD: &str = "Passw0rd!";

/// `POST /users/signup` of `email` with [`PASSWORD`].
pub fn signup(email: &str) -> Request {
    post_json("/users/signup", creds(email, PASSWORD))
}

/// `POST /users/login` of `email` with [`PASSWORD`].
pub fn login(email: &str) -> Request {
    post_json("/users/login", creds(email, PASSWORD))
}

/// `POST /users/logout` with `token` in `Authorization`.
pub fn logout(token: &str) -> Request {
    logout_req(Some(token.as_bytes()))
}

/// Status and body, for messages.
pub fn show(r: &Response) -> String {
    format!("{} {}", r.status, String::from_utf8_lossy(&r.body))
}

/// The `access_token` of a successful login's answer.
pub fn access_token(r: &Response) -> Result<String, String> {
    if r.status != 200 {
        return Err(format!("login: {}", show(r)));
    }
    let body: serde_json::Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("login body {}: {e}", show(r)))?;
    body["access_token"].as_str().map(str::to_owned).ok_or_else(|| format!("no access_token in {}", show(r)))
}
