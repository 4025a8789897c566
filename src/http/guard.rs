//! `log_in_confirm` as an actix extractor: a handler that takes a
//! [`LoggedIn`] argument only runs for a request the original decorator
//! would let through, and every other request gets the decorator's answer.
//!
//! The order of checks is the original's:
//! 1. `jwt.decode` of the raw `Authorization` header ([`crate::auth::jwt::decode`]);
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

use super::headers::joined_header;
use super::refusals::{invalid_user_status, logged_in};
use super::response::{Answer, Fault};
use super::state::AppState;
use crate::auth::claims::{token_user, UserRef};
use crate::db::TokenRows;

/// A request that passed `log_in_confirm`: the user's token rows, as read
/// with the user (nothing behind the guard reads `request.user` further).
#[derive(Debug)]
pub struct LoggedIn {
    pub tokens: TokenRows,
}

/// The token part of the check, for a header value (no database work):
/// the user id whose rows are to be looked up, or the decorator's answer.
fn token_user_id(state: &AppState, authorization: Option<&[u8]>) -> Result<i64, Answer> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    match token_user(authorization, &state.key, now)? {
        UserRef::Nobody => Err(invalid_user_status(401)),
        UserRef::Id(id) => Ok(id),
        UserRef::OutOfRange if state.db.rejects_out_of_range_ids() => {
            Err(Answer::raises("OverflowError: Python int too large to convert to SQLite INTEGER"))
        }
        UserRef::OutOfRange => Err(invalid_user_status(401)),
    }
}

/// The user id a request's token names, if it verifies (shadow mode: whose
/// rows a logout reads).
pub fn claimed_user(req: &HttpRequest, state: &AppState) -> Option<i64> {
    token_user_id(state, joined_header(req, AUTHORIZATION.as_str()).as_deref()).ok()
}

/// The database part: the user and its token rows.
async fn lookup(state: web::Data<AppState>, id: i64) -> Result<LoggedIn, Answer> {
    let (_user_id, tokens) = logged_in(state.db.guard_lookup(id).await?)?;
    Ok(LoggedIn { tokens })
}

impl FromRequest for LoggedIn {
    type Error = Answer;
    type Future = Either<Ready<Result<Self, Answer>>, LocalBoxFuture<'static, Result<Self, Answer>>>;

    /// The token is checked right here, on the header as it arrived (a
    /// refused token never waits); only the lookup is deferred.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            let missing = std::io::Error::other("the application state is missing");
            return Either::Left(ready(Err(Answer::ServerError(Fault::internal(missing)))));
        };
        // The `Authorization` header as WSGI hands it to Django: absent, or
        // all values joined with "," (gunicorn's handling of repeated headers).
        let authorization = joined_header(req, AUTHORIZATION.as_str());
        match token_user_id(state, authorization.as_deref()) {
            Err(answer) => Either::Left(ready(Err(answer))),
            Ok(id) => Either::Right(Box::pin(lookup(state.clone(), id))),
        }
    }
}
