//! The Django-compatible HTTP layer: routes, views, Django's middleware
//! stack and its error pages.

pub mod cors;
pub mod middleware;
pub mod response;
pub mod routes;
pub mod views;

use std::borrow::Cow;

use actix_web::{web, HttpRequest};

use crate::auth::jwt::TokenKey;
use crate::db::{Database, DbError, Pending};
use crate::runtime::BcryptPool;
use response::Answer;

/// What every handler shares: the database pool, the signing key and the
/// bcrypt threads.
pub struct AppState {
    pub db: Database,
    pub key: TokenKey,
    pub hasher: BcryptPool,
    /// `ACCESS_LOG`: one log line per request.
    pub access_log: bool,
}

/// Every request goes to [`middleware::django_stack`], which routes it as
/// Django's URL resolver does (by `path_info`) to [`views::dispatch`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.default_service(web::to(middleware::django_stack));
}

/// Runs a database call on the blocking pool; a failure is the 500 page.
pub async fn blocking<T, F>(f: F) -> Result<T, Answer>
where
    F: FnOnce() -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    answer_of(crate::runtime::blocking(f).await.map_err(|e| e.to_string()))
}

/// Waits for a logout's group commit (SQLite); a failure is the 500 page.
pub async fn committed(pending: Pending) -> Result<(), Answer> {
    answer_of(pending.await.map_err(|_| "the SQLite commit thread has stopped".to_owned()))
}

/// A database call's result as the views take it: any failure is logged
/// and becomes Django's 500 page.
fn answer_of<T>(result: Result<Result<T, DbError>, String>) -> Result<T, Answer> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            log::error!("{e}");
            Err(Answer::ServerError)
        }
        Err(why) => {
            log::error!("{why}");
            Err(Answer::ServerError)
        }
    }
}

/// Runs bcrypt on the dedicated low-priority pool.
pub async fn cpu<T, F>(state: &AppState, f: F) -> Result<T, Answer>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    state.hasher.run(f).await.map_err(|_| {
        log::error!("the bcrypt pool is closed");
        Answer::ServerError
    })
}

/// A request header as WSGI presents it: absent, or every value joined
/// with "," (how gunicorn folds repeated headers). One value is borrowed.
pub fn joined_header<'a>(req: &'a HttpRequest, name: &str) -> Option<Cow<'a, [u8]>> {
    let mut values = req.headers().get_all(name);
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first.as_bytes()));
    };
    let mut joined = first.as_bytes().to_vec();
    for value in std::iter::once(second).chain(values) {
        joined.push(b',');
        joined.extend_from_slice(value.as_bytes());
    }
    Some(Cow::Owned(joined))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_failed_database_call_is_the_500_page() {
        let answer = blocking::<(), _>(|| Err(DbError::Pool("no connection".into()))).await;
        assert!(matches!(answer, Err(Answer::ServerError)));
    }
}
