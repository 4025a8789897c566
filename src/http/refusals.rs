//! Every refusal and failure of the layers below, as the original answers
//! it — in one place, so that a view only says `?`:
//!
//! | from | becomes |
//! | --- | --- |
//! | [`Rejection::Decode`] / [`Rejection::Signature`] | 400 `JWT_DECODE_ERROR` / `JWT_SIGNATURE_ERROR` |
//! | [`Rejection::Raises`], [`Rejection::NotValidNow`], [`PasswordError`] | the 500 page, [`Fault::AsOriginal`] |
//! | [`DbError`], [`Stopped`] | the 500 page, [`Fault::Internal`] |
//! | [`Refused::Busy`] (the bcrypt queue is full) | 503 `SERVER_BUSY` with `Retry-After` |
//! | [`GuardLookup::NoUser`] / [`GuardLookup::NoToken`] | `INVALID_USER` with 401 / with 200 |

use super::response::message;
use super::response::{Answer, Fault};
use crate::auth::jwt::Rejection;
use crate::auth::password::PasswordError;
use crate::db::{DbError, GuardLookup, TokenRows};
use crate::runtime::{Refused, Stopped};

impl From<Rejection> for Answer {
    fn from(rejection: Rejection) -> Answer {
        match rejection {
            Rejection::Decode => message!(400, "JWT_DECODE_ERROR"),
            Rejection::Signature => message!(400, "JWT_SIGNATURE_ERROR"),
            Rejection::Raises(exception) | Rejection::NotValidNow(exception) => Answer::raises(exception),
        }
    }
}

impl From<PasswordError> for Answer {
    /// Python bcrypt raised `ValueError` (a NUL byte, an invalid salt).
    fn from(error: PasswordError) -> Answer {
        Answer::raises(error.0)
    }
}

impl From<DbError> for Answer {
    fn from(error: DbError) -> Answer {
        Answer::ServerError(Fault::internal(error))
    }
}

impl From<Refused> for Answer {
    /// A full bcrypt queue is `SERVER_BUSY` at once; a closed pool the 500 page.
    fn from(refused: Refused) -> Answer {
        match refused {
            Refused::Busy { retry_after, .. } => Answer::Busy { retry_after: retry_after.as_secs_f64().ceil() as u64 },
            Refused::Stopped(stopped) => stopped.into(),
        }
    }
}

impl From<Stopped> for Answer {
    fn from(error: Stopped) -> Answer {
        Answer::ServerError(Fault::internal(error))
    }
}

/// What `log_in_confirm` finds for a user id: the user and its token rows,
/// or the decorator's answer.
pub fn logged_in(lookup: GuardLookup) -> Result<(i64, TokenRows), Answer> {
    match lookup {
        GuardLookup::NoUser => Err(invalid_user_status(401)),
        GuardLookup::NoToken => Err(invalid_user_status(200)),
        GuardLookup::User(user_id, tokens) => Ok((user_id, tokens)),
    }
}

/// `JsonResponse({"message": "INVALID_USER"}, status=status)`.
pub fn invalid_user_status(status: u16) -> Answer {
    message!(status, "INVALID_USER")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_refusal_has_the_original_answer() {
        assert_eq!(Answer::from(Rejection::Decode), message!(400, "JWT_DECODE_ERROR"));
        assert_eq!(Answer::from(Rejection::Signature), message!(400, "JWT_SIGNATURE_ERROR"));
        assert_eq!(Answer::from(Rejection::Raises("X")), Answer::ServerError(Fault::AsOriginal("X")));
        assert_eq!(logged_in(GuardLookup::NoUser), Err(message!(401, "INVALID_USER")));
        assert_eq!(logged_in(GuardLookup::NoToken), Err(message!(200, "INVALID_USER")));
        assert_eq!(logged_in(GuardLookup::User(1, TokenRows::One(2))), Ok((1, TokenRows::One(2))));
    }

    /// A full bcrypt queue is answered at once: 503, `Retry-After` in whole
    /// seconds (rounded up), `{"message": "SERVER_BUSY"}`.
    #[actix_rt::test]
    async fn a_full_bcrypt_queue_is_server_busy() {
        let refused = Refused::Busy { limit: Duration::from_secs(10), retry_after: Duration::from_millis(1500) };
        let answer = Answer::from(refused);
        assert_eq!(answer, Answer::Busy { retry_after: 2 });
        let response = answer.into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers().get("retry-after").unwrap(), "2");
        assert_eq!(response.headers().get("content-type").unwrap(), "application/json");
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        assert_eq!(&body[..], br#"{"message": "SERVER_BUSY"}"#);
    }

    /// A database failure is the 500 page and keeps its cause for the log.
    #[test]
    fn a_database_failure_keeps_its_cause() {
        let answer = Answer::from(DbError::Unreachable("connection refused".into()));
        assert_eq!(answer.status(), 500);
        let Answer::ServerError(Fault::Internal(cause)) = answer else { panic!("not an internal fault") };
        assert_eq!(cause.to_string(), "database unreachable: connection refused");
    }
}
