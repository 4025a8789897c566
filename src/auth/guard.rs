//! `log_in_confirm` as an actix extractor: a handler that takes a
//! [`LoggedIn`] argument only runs for a request the original decorator
//! would let through, and every other request gets the decorator's answer.
//!
//! The order of checks is the original's:
//! 1. `jwt.decode` of the raw `Authorization` header ([`super::jwt::decode`]);
//! 2. `User.objects.filter(id=payload["id"]).exists()`, else 401 `INVALID_USER`;
//! 3. `Token.objects.filter(user_id=...).exists()`, else `INVALID_USER` with 200;
//! 4. `User.objects.get(id=...)`.
//!
//! Steps 2–4 are one database query ([`crate::db::Database::guard_lookup`]),
//! which also reads the token rows the logout view then gets.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::jwt::{decode, Rejection};
use crate::compat::pyint::py_int;
use crate::compat::pyjson::PyValue;
use crate::db::{GuardLookup, TokenRows, User};
use crate::http::response::Answer;
use crate::http::AppState;

/// A request that passed `log_in_confirm`; `user` is `request.user`.
#[derive(Debug)]
pub struct LoggedIn {
    pub user: User,
    /// The user's token rows, as read with the user.
    pub tokens: TokenRows,
}

/// How Django's field lookup would treat the token's `id` claim.
#[derive(Debug, PartialEq, Eq)]
pub enum UserRef {
    /// `id` is null: `filter(id=None)` is `IS NULL` and finds nobody.
    Nobody,
    Id(i64),
    /// An integer outside the 64-bit range: SQLite's driver cannot bind it
    /// (500); PostgreSQL and MySQL compare it and find nobody (401).
    OutOfRange,
}

/// `payload["id"]` as `User.objects.filter(id=...)` takes it: Python
/// `int()`. A missing key or a value `int()` refuses raise in the original (500).
pub fn user_ref(payload: &[(String, PyValue)]) -> Result<UserRef, Answer> {
    let value = payload.iter().find(|(k, _)| k == "id").map(|(_, v)| v).ok_or(Answer::ServerError)?;
    if matches!(value, PyValue::Null) {
        return Ok(UserRef::Nobody);
    }
    let id = py_int(value).map_err(|_| Answer::ServerError)?;
    Ok(id.to_i64().map(UserRef::Id).unwrap_or(UserRef::OutOfRange))
}

/// The whole check, for a header value; database work runs on the blocking pool.
pub async fn confirm(state: web::Data<AppState>, authorization: Option<Vec<u8>>) -> Result<LoggedIn, Answer> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let payload = decode(authorization.as_deref(), &state.key, now).map_err(|r| match r {
        Rejection::Decode => Answer::json(400, &[("message", "JWT_DECODE_ERROR")]),
        Rejection::Signature => Answer::json(400, &[("message", "JWT_SIGNATURE_ERROR")]),
        Rejection::ServerError => Answer::ServerError,
    })?;
    let id = match user_ref(&payload)? {
        UserRef::Nobody => return Err(invalid_user(401)),
        UserRef::Id(id) => id,
        UserRef::OutOfRange if state.db.rejects_out_of_range_ids() => return Err(Answer::ServerError),
        UserRef::OutOfRange => return Err(invalid_user(401)),
    };
    let db = state.db.clone();
    match crate::http::blocking(move || db.guard_lookup(id)).await? {
        GuardLookup::NoUser => Err(invalid_user(401)),
        GuardLookup::NoToken => Err(invalid_user(200)),
        GuardLookup::User(user, tokens) => Ok(LoggedIn { user, tokens }),
    }
}

fn invalid_user(status: u16) -> Answer {
    Answer::json(status, &[("message", "INVALID_USER")])
}

/// The `Authorization` header as WSGI hands it to Django: absent, or all
/// values joined with "," (gunicorn's handling of repeated headers).
pub fn authorization_header(req: &HttpRequest) -> Option<Vec<u8>> {
    crate::http::joined_header(req, AUTHORIZATION.as_str()).map(Cow::into_owned)
}

impl FromRequest for LoggedIn {
    type Error = Answer;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let authorization = authorization_header(req);
        Box::pin(async move {
            let state = state.ok_or(Answer::ServerError)?;
            confirm(state, authorization).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::pyjson::loads;

    fn id_of(json: &str) -> Result<UserRef, Answer> {
        let PyValue::Dict(items) = loads(json.as_bytes(), 100).unwrap() else { panic!("not an object") };
        let items: Vec<(String, PyValue)> = items.into_iter().map(|(k, v)| (k.text, v)).collect();
        user_ref(&items)
    }

    #[test]
    fn id_claim_follows_django_int_field() {
        for ok in [r#"{"id": 1}"#, r#"{"id": "1"}"#, r#"{"id": 1.0}"#, r#"{"id": 1.5}"#, r#"{"id": true}"#, r#"{"id": " 1 "}"#] {
            assert_eq!(id_of(ok).unwrap(), UserRef::Id(1), "{ok}");
        }
        assert_eq!(id_of(r#"{"id": null}"#).unwrap(), UserRef::Nobody);
        assert_eq!(id_of(r#"{"id": -7}"#).unwrap(), UserRef::Id(-7));
        assert_eq!(id_of(r#"{"id": 9223372036854775808}"#).unwrap(), UserRef::OutOfRange);
        assert_eq!(id_of(r#"{"id": -9223372036854775809}"#).unwrap(), UserRef::OutOfRange);
        assert_eq!(id_of(r#"{"id": 1e300}"#).unwrap(), UserRef::OutOfRange);
        for bad in [r#"{}"#, r#"{"id": "abc"}"#, r#"{"id": "1.0"}"#, r#"{"id": []}"#, r#"{"id": {}}"#, r#"{"id": NaN}"#, r#"{"id": Infinity}"#] {
            assert!(matches!(id_of(bad), Err(Answer::ServerError)), "{bad}");
        }
    }
}
