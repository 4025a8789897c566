//! The hardened `log_in_confirm`: the token must verify, be valid now, and
//! its own row must exist — not merely some row of its user.
//!
//! | the token | answer |
//! | --- | --- |
//! | absent, undecodable, another `alg`, unreadable claims | 400 `JWT_DECODE_ERROR` |
//! | a wrong signature | 400 `JWT_SIGNATURE_ERROR` |
//! | expired, not yet valid, for an audience, `id` null or out of range | 401 `INVALID_USER` |
//! | no row of its own (logged out, never issued, its user gone) | 401 `INVALID_USER` |
//!
//! The row is looked up by `(user_id, token)` on the `tokens_user_id`
//! index: the token's digest, or for a row compat wrote, the plain token.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest};

use super::unix_now;
use crate::auth::claims::{user_ref, UserRef};
use crate::auth::jwt::{decode, Rejection};
use crate::auth::session::{digest, DIGEST_PREFIX};
use crate::db::LAST_SEEN_GRANULARITY;
use crate::http::headers::joined_header;
use crate::http::response::{message, Answer};
use crate::http::state::AppState;

/// The longest plain token a `tokens` row can hold (`varchar(100)`).
const TOKEN_COLUMN: usize = 100;

/// A request that passed the hardened guard: whose, and which session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    /// The presented token's `tokens` row.
    pub token_id: i64,
    /// The token itself when its row holds it in plain text (a row compat
    /// or Django wrote: every login of the user wrote the same one).
    pub plain: Option<String>,
}

fn invalid_user() -> Answer {
    message!(401, "INVALID_USER")
}

/// The token part (no database work): the user id, and the values its
/// row may hold.
fn token_user(state: &AppState, authorization: Option<&[u8]>, now: i64) -> Result<(i64, Vec<String>), Answer> {
    let payload = decode(authorization, &state.key, now).map_err(|rejection| match rejection {
        Rejection::Signature => message!(400, "JWT_SIGNATURE_ERROR"),
        Rejection::NotValidNow(_) => invalid_user(),
        Rejection::Decode | Rejection::Raises(_) => message!(400, "JWT_DECODE_ERROR"),
    })?;
    let user_id = match user_ref(&payload) {
        Ok(UserRef::Id(id)) => id,
        Ok(UserRef::Nobody | UserRef::OutOfRange) => return Err(invalid_user()),
        Err(_) => return Err(message!(400, "JWT_DECODE_ERROR")),
    };
    // `decode` succeeded, so the header is there.
    let raw = authorization.unwrap_or_default();
    let mut stored = vec![digest(raw)];
    // A plain token as the original writes it: three base64url segments.
    // (PyJWT's lenient base64 lets other bytes through; no row holds them,
    // and PostgreSQL refuses a NUL in a query.)
    let jwt_alphabet = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if raw.len() <= TOKEN_COLUMN && raw.iter().all(jwt_alphabet) {
        stored.push(String::from_utf8_lossy(raw).into_owned());
    }
    Ok((user_id, stored))
}

/// The whole check for a request; the session, or the answer. With
/// `refresh`, a "last seen" older than the granularity is brought up to
/// now; a view that deletes the presented session anyway (logout,
/// logout-all) passes `false`: the write would be undone at once, and on
/// SQLite it is a durable transaction of its own ahead of the deletion.
pub async fn check(req: &HttpRequest, state: &web::Data<AppState>, refresh: bool) -> Result<Session, Answer> {
    let now = unix_now();
    let authorization = joined_header(req, AUTHORIZATION.as_str());
    let (user_id, stored) = token_user(state, authorization.as_deref(), now)?;
    let Some(row) = state.db.find_session(user_id, stored).await? else {
        return Err(invalid_user());
    };
    if row.expires_at.is_some_and(|at| at < now) {
        return Err(invalid_user());
    }
    if refresh && row.last_seen_at.is_some_and(|seen| seen <= now - LAST_SEEN_GRANULARITY) {
        // Best effort: a request is not refused because its session's
        // "last seen" could not be written (a read-only database).
        if let Err(e) = state.db.touch_session(row.token_id, now).await {
            log::warn!("session {}: last seen not recorded: {e}", row.token_id);
        }
    }
    let plain = (!row.token.starts_with(DIGEST_PREFIX)).then_some(row.token);
    Ok(Session { user_id, token_id: row.token_id, plain })
}
