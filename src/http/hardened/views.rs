//! The hardened views: signup, login and logout of the original with its
//! flaws fixed, and `logout-all` and the session list and deletion.

use std::future::Future;

use actix_web::{web, HttpRequest};

use super::client::{client_ip, user_agent};
use super::guard::{self, Session};
use super::json;
use super::unix_now;
use crate::auth::password;
use crate::auth::session::{self, counter_subject};
use crate::db::{Count, Counter, Created, NewSession};
use crate::http::response::{message, Answer, Fault};
use crate::http::state::{AppState, Hardened};
use crate::http::views::{request_body, Incoming, BODY_JSON_MAX_DEPTH};
use crate::telemetry::metrics;
use pycompat::pyjson::{loads, PyStr, PyValue};
use pycompat::pyregex::{email_ok, password_ok};

/// The `users.email` column's length: a longer email cannot be stored.
const EMAIL_COLUMN: usize = 100;

fn config(state: &AppState) -> Result<&Hardened, Answer> {
    state
        .hardened
        .as_ref()
        .ok_or_else(|| Answer::ServerError(Fault::internal(std::io::Error::other("the hardened settings are missing"))))
}

/// The body's `email` and `password`, or the message for what is wrong
/// with them (in the order the spec gives: decoding, keys, email, password).
async fn credentials(req: &HttpRequest, payload: Incoming) -> Result<(PyStr, PyStr), Answer> {
    let body = request_body(req, payload).await.map_err(|_| message!(400, "JSON_DECODE_ERROR"))?;
    let data = loads(&body, BODY_JSON_MAX_DEPTH).map_err(|_| message!(400, "JSON_DECODE_ERROR"))?;
    let PyValue::Dict(mut items) = data else {
        return Err(message!(400, "KEY_ERROR"));
    };
    let mut take = |key: &str| {
        let at = items.iter().position(|(k, _)| !k.lone_surrogate && k.as_str() == key);
        at.map(|i| items.swap_remove(i).1).ok_or(message!(400, "KEY_ERROR"))
    };
    let (email, password) = (take("email")?, take("password")?);
    let email = match email {
        PyValue::Str(s) if !s.lone_surrogate => s,
        _ => return Err(message!(400, "INVALID_EMAIL")),
    };
    let password = match password {
        PyValue::Str(s) if !s.lone_surrogate && !s.as_str().contains('\0') => s,
        _ => return Err(message!(400, "INVALID_PASSWORD")),
    };
    Ok((email, password))
}

/// 429 when any counter held `limit` attempts or more within the window
/// before this one (its count includes this one), with `Retry-After` until
/// its oldest attempt leaves the window.
fn throttle(counts: &[(Count, u32)], window: i64, now: i64) -> Result<(), Answer> {
    let wait = counts
        .iter()
        .filter(|(count, limit)| count.count > i64::from(*limit))
        .map(|(count, _)| count.oldest.map_or(window, |oldest| oldest + window - now))
        .max();
    match wait {
        Some(wait) => Err(Answer::Throttled { retry_after: wait.max(1) as u64 }),
        None => Ok(()),
    }
}

/// `POST /users/signup`.
pub async fn signup(req: &HttpRequest, payload: Incoming, state: web::Data<AppState>) -> Answer {
    signup_inner(req, payload, &state).await.unwrap_or_else(|answer| answer)
}

async fn signup_inner(req: &HttpRequest, payload: Incoming, state: &web::Data<AppState>) -> Result<Answer, Answer> {
    let cfg = config(state)?;
    let (email, password) = credentials(req, payload).await?;
    if !email_ok(&email) || email.as_str().chars().count() > EMAIL_COLUMN {
        return Ok(message!(400, "INVALID_EMAIL"));
    }
    if !password_ok(&password) {
        return Ok(message!(400, "INVALID_PASSWORD"));
    }
    let now = unix_now();
    let window = i64::from(cfg.login_window);
    let address =
        Counter { scope: "signup", subject: counter_subject("signup", &client_ip(req, &cfg.trusted_proxies)) };
    // Every signup that passes validation counts, whatever its outcome;
    // a refused one is taken back (it must not extend the refusal).
    let counts = state.db.reserve_attempts(vec![address.clone()], now, now - window).await?;
    if let Err(refused) = throttle(&[(counts[0], cfg.signup_max_per_ip)], window, now) {
        metrics::throttled(metrics::Route::Signup);
        state.db.release_attempts(vec![address], now).await?;
        return Err(refused);
    }

    let email = email.as_str().to_owned();
    if state.db.email_exists(email.clone()).await? {
        return Ok(message!(400, "EMAIL_ALREADY_EXISTS"));
    }
    let cost = cfg.bcrypt_cost;
    let password = password.as_str().to_owned();
    let hash = state.bcrypt.run(move || password::hash_with_cost(password.as_bytes(), cost)).await??;
    match state.db.create_user(email, hash).await? {
        Created::Created => Ok(message!(201, "SUCCESS")),
        Created::Duplicate => Ok(message!(400, "EMAIL_ALREADY_EXISTS")),
    }
}

/// `POST /users/login`.
pub async fn login(req: &HttpRequest, payload: Incoming, state: web::Data<AppState>) -> Answer {
    login_inner(req, payload, &state).await.unwrap_or_else(|answer| answer)
}

async fn login_inner(req: &HttpRequest, payload: Incoming, state: &web::Data<AppState>) -> Result<Answer, Answer> {
    let cfg = config(state)?;
    let (email, password) = credentials(req, payload).await?;
    let now = unix_now();
    let window = i64::from(cfg.login_window);
    let ip = client_ip(req, &cfg.trusted_proxies);
    let account = Counter { scope: "account", subject: counter_subject("account", &email.as_str().to_lowercase()) };
    let address = Counter { scope: "address", subject: counter_subject("address", &ip) };
    // The attempt is recorded as a failure before the check and taken back
    // if it is refused or succeeds, so that concurrent guesses count each
    // other: of a burst, at most the limit get a bcrypt check.
    let both = vec![account.clone(), address.clone()];
    let counts = state.db.reserve_attempts(both.clone(), now, now - window).await?;
    let limits = [(counts[0], cfg.login_max_failures), (counts[1], cfg.login_max_failures_per_ip)];
    if let Err(refused) = throttle(&limits, window, now) {
        metrics::throttled(metrics::Route::Login);
        state.db.release_attempts(both, now).await?;
        return Err(refused);
    }

    // An unknown email, a wrong password and a hash that cannot be checked
    // all cost one check of `BCRYPT_COST` and get the same answer.
    // No account can have an email with a NUL (signup's pattern refuses
    // it), and PostgreSQL refuses one in a query: nobody to look up.
    let user = match email.as_str().contains('\0') {
        true => None,
        false => state.db.find_by_email(email.as_str().to_owned()).await?,
    };
    let stored = user.as_ref().map(|u| u.password.clone());
    let (candidate, cost) = (password.as_str().to_owned(), cfg.bcrypt_cost);
    let check_stored = stored.clone();
    let matches = state
        .bcrypt
        .run(move || password::check_equalised(candidate.as_bytes(), check_stored.as_deref().map(str::as_bytes), cost))
        .await?;
    let (Some(user), true) = (user, matches) else {
        return Ok(message!(401, "INVALID_USER"));
    };

    state.db.clear_attempts(account).await?;
    state.db.release_attempts(vec![address], now).await?;
    state.db.delete_expired_sessions(user.id, now).await?;
    if password::cost_of(user.password.as_bytes()).is_some_and(|old| old < cost) {
        let candidate = password.as_str().to_owned();
        let rehashed = state.bcrypt.run(move || password::hash_with_cost(candidate.as_bytes(), cost)).await??;
        state.db.replace_password(user.id, user.password.clone(), rehashed).await?;
    }
    let issued = session::issue(&state.key, user.id, now, cfg.token_ttl)
        .map_err(|e| Answer::ServerError(Fault::internal(std::io::Error::other(format!("no randomness: {e}")))))?;
    state
        .db
        .add_session(NewSession {
            user_id: user.id,
            digest: session::digest(issued.token.as_bytes()),
            created_at: issued.issued_at,
            expires_at: issued.expires_at,
            client_ip: ip,
            user_agent: user_agent(req),
        })
        .await?;
    Ok(Answer::json(200, &[("message", "SUCCESS"), ("access_token", &issued.token)]))
}

/// Runs a guarded view: the hardened guard's answer, or the view's.
/// `refresh`: whether the guard records the session as seen now (not for
/// views that delete the presented session).
pub async fn guarded<F, Fut>(req: &HttpRequest, state: web::Data<AppState>, refresh: bool, view: F) -> Answer
where
    F: FnOnce(Session, web::Data<AppState>) -> Fut,
    Fut: Future<Output = Result<Answer, Answer>>,
{
    match guard::check(req, &state, refresh).await {
        Ok(session) => view(session, state).await.unwrap_or_else(|answer| answer),
        Err(answer) => answer,
    }
}

/// `POST /users/logout`: exactly the presented token's row (for a plain
/// token of the compat era, every row holding it: the token is logged out).
pub async fn logout(session: Session, state: web::Data<AppState>) -> Result<Answer, Answer> {
    match session.plain {
        Some(token) => {
            state.db.delete_plain_token(session.user_id, token).await?;
        }
        None => state.db.delete_token(session.token_id).await?,
    }
    Ok(message!(200, "LOGOUT_SUCCESS"))
}

/// `POST /users/logout-all`: every row of the user.
pub async fn logout_all(session: Session, state: web::Data<AppState>) -> Result<Answer, Answer> {
    state.db.delete_user_sessions(session.user_id).await?;
    Ok(message!(200, "LOGOUT_SUCCESS"))
}

/// `GET /users/sessions`.
pub async fn sessions(session: Session, state: web::Data<AppState>) -> Result<Answer, Answer> {
    let list = state.db.list_sessions(session.user_id, unix_now()).await?;
    Ok(Answer::Json { status: 200, body: json::sessions(&list, session.token_id).into() })
}

/// `DELETE /users/sessions/<id>`: one of the user's own sessions.
pub async fn delete_session(session: Session, state: web::Data<AppState>, id: Option<i64>) -> Result<Answer, Answer> {
    let Some(id) = id else {
        return Ok(message!(404, "SESSION_NOT_FOUND"));
    };
    if state.db.delete_user_session(session.user_id, id).await? {
        Ok(message!(200, "LOGOUT_SUCCESS"))
    } else {
        Ok(message!(404, "SESSION_NOT_FOUND"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_from_the_limit_until_the_oldest_leaves_the_window() {
        // counts include the attempt being checked
        let under = Count { count: 10, oldest: Some(100) };
        let at = Count { count: 11, oldest: Some(100) };
        assert_eq!(throttle(&[(under, 10)], 900, 500), Ok(()));
        assert_eq!(throttle(&[(at, 10)], 900, 500), Err(Answer::Throttled { retry_after: 500 }));
        assert_eq!(throttle(&[(at, 10)], 900, 1000), Err(Answer::Throttled { retry_after: 1 }), "at least 1 s");
        let ip = Count { count: 101, oldest: Some(300) };
        assert_eq!(throttle(&[(at, 10), (ip, 100)], 900, 500), Err(Answer::Throttled { retry_after: 700 }));
    }
}
