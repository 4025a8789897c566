//! `log_in_confirm` as an actix extractor: a handler that takes a
//! [`LoggedIn`] argument only runs for a request the original decorator
//! would let through, and every other request gets the decorator's answer.
//!
//! The order of checks is the original's:
//! 1. `jwt.decode` of the raw `Authorization` header ([`super::jwt::decode`]);
//! 2. `User.objects.filter(id=payload["id"]).exists()`, else 401 `INVALID_USER`;
//! 3. `Token.objects.filter(user_id=...).exists()`, else `INVALID_USER` with 200;
//! 4. `User.objects.get(id=...)` (only the id is read: nothing behind the
//!    guard uses another column).
//!
//! Steps 2–4 are one database query ([`crate::db::Database::guard_lookup`]),
//! which also reads the token rows the logout view then gets.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::{ready, Either, LocalBoxFuture, Ready};

use super::jwt::{decode, Rejection};
use crate::db::{GuardLookup, TokenRows};
use crate::http::response::Answer;
use crate::http::AppState;
use pycompat::pyint::py_int;
use pycompat::pyjson::PyValue;

/// A request that passed `log_in_confirm`; `user_id` is `request.user.id`.
#[derive(Debug)]
pub struct LoggedIn {
    pub user_id: i64,
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

/// The token part of the check, for a header value (no database work):
/// the user id whose rows are to be looked up, or the decorator's answer.
pub fn token_user_id(state: &AppState, authorization: Option<&[u8]>) -> Result<i64, Answer> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let payload = decode(authorization, &state.key, now).map_err(|r| match r {
        Rejection::Decode => crate::message!(400, "JWT_DECODE_ERROR"),
        Rejection::Signature => crate::message!(400, "JWT_SIGNATURE_ERROR"),
        Rejection::ServerError => Answer::ServerError,
    })?;
    match user_ref(&payload)? {
        UserRef::Nobody => Err(invalid_user(401)),
        UserRef::Id(id) => Ok(id),
        UserRef::OutOfRange if state.db.rejects_out_of_range_ids() => Err(Answer::ServerError),
        UserRef::OutOfRange => Err(invalid_user(401)),
    }
}

/// The database part: the user and its token rows, on the blocking pool.
pub async fn lookup(state: web::Data<AppState>, id: i64) -> Result<LoggedIn, Answer> {
    let db = state.db.clone();
    match crate::http::blocking(move || db.guard_lookup(id)).await? {
        GuardLookup::NoUser => Err(invalid_user(401)),
        GuardLookup::NoToken => Err(invalid_user(200)),
        GuardLookup::User(user_id, tokens) => Ok(LoggedIn { user_id, tokens }),
    }
}

fn invalid_user(status: u16) -> Answer {
    crate::message!(status, "INVALID_USER")
}

impl FromRequest for LoggedIn {
    type Error = Answer;
    type Future = Either<Ready<Result<Self, Answer>>, LocalBoxFuture<'static, Result<Self, Answer>>>;

    /// The token is checked right here, on the header as it arrived (a
    /// refused token never waits); only the lookup is deferred.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return Either::Left(ready(Err(Answer::ServerError)));
        };
        // The `Authorization` header as WSGI hands it to Django: absent, or
        // all values joined with "," (gunicorn's handling of repeated headers).
        let authorization = crate::http::joined_header(req, AUTHORIZATION.as_str());
        match token_user_id(state, authorization.as_deref()) {
            Err(answer) => Either::Left(ready(Err(answer))),
            Ok(id) => Either::Right(Box::pin(lookup(state.clone(), id))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pycompat::pyjson::loads;

    fn id_of(json: &str) -> Result<UserRef, Answer> {
        let PyValue::Dict(items) = loads(json.as_bytes(), 100).unwrap() else { panic!("not an object") };
        let items: Vec<(String, PyValue)> = items.into_iter().map(|(k, v)| (k.text, v)).collect();
        user_ref(&items)
    }

    #[test]
    fn id_claim_follows_django_int_field() {
        for ok in [
            r#"{"id": 1}"#,
            r#"{"id": "1"}"#,
            r#"{"id": 1.0}"#,
            r#"{"id": 1.5}"#,
            r#"{"id": true}"#,
            r#"{"id": " 1 "}"#,
        ] {
            assert_eq!(id_of(ok).unwrap(), UserRef::Id(1), "{ok}");
        }
        assert_eq!(id_of(r#"{"id": null}"#).unwrap(), UserRef::Nobody);
        assert_eq!(id_of(r#"{"id": -7}"#).unwrap(), UserRef::Id(-7));
        assert_eq!(id_of(r#"{"id": 9223372036854775808}"#).unwrap(), UserRef::OutOfRange);
        assert_eq!(id_of(r#"{"id": -9223372036854775809}"#).unwrap(), UserRef::OutOfRange);
        assert_eq!(id_of(r#"{"id": 1e300}"#).unwrap(), UserRef::OutOfRange);
        for bad in [
            r#"{}"#,
            r#"{"id": "abc"}"#,
            r#"{"id": "1.0"}"#,
            r#"{"id": []}"#,
            r#"{"id": {}}"#,
            r#"{"id": NaN}"#,
            r#"{"id": Infinity}"#,
        ] {
            assert!(matches!(id_of(bad), Err(Answer::ServerError)), "{bad}");
        }
    }
}
