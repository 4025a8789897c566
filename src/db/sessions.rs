//! The hardened profile's queries: sessions (a `tokens` row holding a
//! token's digest, and its `ledger_sessions` metadata), and the failure
//! counters that throttle logins and signups. Times are Unix seconds.
//!
//! Deleting a `tokens` row deletes its `ledger_sessions` row (ON DELETE
//! CASCADE, on every backend; SQLite connections enable foreign keys), so
//! a Django logout or user deletion removes the metadata too.

use diesel::prelude::*;

use super::store::{with_conn, Store};
use super::DbError;

/// The guard's find: the presented token's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub token_id: i64,
    /// What the row holds: a digest, or a plain token (compat or Django).
    pub token: String,
    /// `None` for a row without metadata (written by Django or compat).
    pub last_seen_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// What a login records beside the token row.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: i64,
    pub digest: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub client_ip: String,
    pub user_agent: String,
}

/// One of a user's sessions, as `GET /users/sessions` lists it; the
/// metadata is `None` for rows Django or compat wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub token_id: i64,
    pub created_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A failure counter: its scope (`account`, `address`, `signup`) and subject digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub scope: &'static str,
    pub subject: String,
}

/// How many attempts a counter holds within the window, and the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count {
    pub count: i64,
    pub oldest: Option<i64>,
}

/// The most expired sessions one sweep deletes (the next sweep takes the rest).
const SWEEP_BATCH: i64 = 1000;

/// How stale `last_seen_at` may get before a request refreshes it.
pub const LAST_SEEN_GRANULARITY: i64 = 60;

type SessionCols = (i64, Option<i64>, Option<i64>, Option<i64>, Option<String>, Option<String>);

/// How many times a statement the database chose as a deadlock's victim is
/// run again.
const DEADLOCK_RETRIES: usize = 3;

/// Runs `f` again when the database rolled it back as a deadlock's victim:
/// on MySQL/MariaDB a login's two inserts (`tokens`, then `ledger_sessions`)
/// and `logout-all`'s cascading delete of the same user's rows lock in
/// opposite orders. The victim's transaction is rolled back whole, so
/// running it again is safe.
fn retrying_deadlocks<T>(mut f: impl FnMut() -> Result<T, DbError>) -> Result<T, DbError> {
    let mut attempt = 0;
    loop {
        match f() {
            Err(DbError::Query(diesel::result::Error::DatabaseError(_, ref info)))
                if attempt < DEADLOCK_RETRIES && is_deadlock(info.message()) =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// MySQL/MariaDB's ER_LOCK_DEADLOCK (1213), PostgreSQL's 40P01.
fn is_deadlock(message: &str) -> bool {
    message.contains("Deadlock found") || message.contains("deadlock detected")
}

impl Store {
    /// The row of `user_id` holding one of `tokens` (the digest, and for
    /// rows compat wrote, the plain token), with its metadata.
    ///
    /// One or two tokens (what the guard passes) are compared with `=`, not
    /// `IN (…)`: Diesel never caches a statement with an `IN` list on
    /// SQLite and MySQL, so every guarded request would prepare it anew.
    pub fn find_session(&self, user_id: i64, tokens: &[String]) -> Result<Option<SessionRow>, DbError> {
        with_conn!(self, conn, s, read_only => {
            let query = s::tokens::table
                .left_join(s::ledger_sessions::table)
                .filter(s::tokens::user_id.eq(user_id))
                .select((
                    s::tokens::id,
                    s::tokens::token,
                    s::ledger_sessions::last_seen_at.nullable(),
                    s::ledger_sessions::expires_at.nullable(),
                ))
                .order(s::tokens::id);
            let rows: Vec<(i64, String, Option<i64>, Option<i64>)> = match tokens {
                [] => Vec::new(),
                [one] => query.filter(s::tokens::token.eq(one)).load(conn)?,
                [one, two] => query.filter(s::tokens::token.eq(one).or(s::tokens::token.eq(two))).load(conn)?,
                more => query.filter(s::tokens::token.eq_any(more)).load(conn)?,
            };
            Ok(rows.into_iter().next().map(|(token_id, token, last_seen_at, expires_at)| SessionRow {
                token_id,
                token,
                last_seen_at,
                expires_at,
            }))
        })
    }

    /// A hardened login's token row and its metadata, in one transaction;
    /// returns the token row's id.
    pub fn add_session(&self, new: &NewSession) -> Result<i64, DbError> {
        let added = retrying_deadlocks(|| {
            with_conn!(self, conn, s => {
                let token_id = conn.transaction::<_, DbError, _>(|conn| {
                    diesel::insert_into(s::tokens::table)
                        .values((s::tokens::token.eq(&new.digest), s::tokens::user_id.eq(new.user_id)))
                        .execute(conn)?;
                    // The digest is unique (128 random bits in the token).
                    let token_id: i64 = s::tokens::table
                        .filter(s::tokens::user_id.eq(new.user_id))
                        .filter(s::tokens::token.eq(&new.digest))
                        .select(s::tokens::id)
                        .first(conn)?;
                    diesel::insert_into(s::ledger_sessions::table)
                        .values((
                            s::ledger_sessions::token_id.eq(token_id),
                            s::ledger_sessions::user_id.eq(new.user_id),
                            s::ledger_sessions::created_at.eq(new.created_at),
                            s::ledger_sessions::expires_at.eq(new.expires_at),
                            s::ledger_sessions::last_seen_at.eq(new.created_at),
                            s::ledger_sessions::client_ip.eq(&new.client_ip),
                            s::ledger_sessions::user_agent.eq(&new.user_agent),
                        ))
                        .execute(conn)?;
                    Ok(token_id)
                })?;
                Ok(token_id)
            })
        });
        self.wrote();
        added
    }

    /// Refreshes a session's `last_seen_at` (when it is older than
    /// [`LAST_SEEN_GRANULARITY`]: at most one write a minute per session).
    pub fn touch_session(&self, token_id: i64, now: i64) -> Result<(), DbError> {
        let touched = with_conn!(self, conn, s => {
            diesel::update(
                s::ledger_sessions::table
                    .filter(s::ledger_sessions::token_id.eq(token_id))
                    .filter(s::ledger_sessions::last_seen_at.lt(now - LAST_SEEN_GRANULARITY + 1)),
            )
            .set(s::ledger_sessions::last_seen_at.eq(now))
            .execute(conn)?;
            Ok(())
        });
        self.wrote();
        touched
    }

    /// Every session of the user that has not expired at `now`, newest
    /// (highest id) first.
    pub fn list_sessions(&self, user_id: i64, now: i64) -> Result<Vec<SessionInfo>, DbError> {
        with_conn!(self, conn, s, read_only => {
            let rows: Vec<SessionCols> = s::tokens::table
                .left_join(s::ledger_sessions::table)
                .filter(s::tokens::user_id.eq(user_id))
                .filter(s::ledger_sessions::expires_at.is_null().or(s::ledger_sessions::expires_at.ge(now)))
                .select((
                    s::tokens::id,
                    s::ledger_sessions::created_at.nullable(),
                    s::ledger_sessions::expires_at.nullable(),
                    s::ledger_sessions::last_seen_at.nullable(),
                    s::ledger_sessions::client_ip.nullable(),
                    s::ledger_sessions::user_agent.nullable(),
                ))
                .order(s::tokens::id.desc())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(token_id, created_at, expires_at, last_seen_at, client_ip, user_agent)| SessionInfo {
                    token_id,
                    created_at,
                    expires_at,
                    last_seen_at,
                    client_ip,
                    user_agent,
                })
                .collect())
        })
    }

    /// Deletes the user's token row `token_id` (and its metadata); false
    /// when the user has no such row.
    pub fn delete_user_session(&self, user_id: i64, token_id: i64) -> Result<bool, DbError> {
        let deleted = with_conn!(self, conn, s => {
            let n = diesel::delete(
                s::tokens::table.filter(s::tokens::id.eq(token_id)).filter(s::tokens::user_id.eq(user_id)),
            )
            .execute(conn)?;
            Ok(n > 0)
        });
        self.wrote();
        deleted
    }

    /// Deletes every row of the user holding this plain token: compat and
    /// Django write one identical row per login, and logging the token out
    /// must end it on every row.
    pub fn delete_plain_token(&self, user_id: i64, token: &str) -> Result<usize, DbError> {
        let deleted = with_conn!(self, conn, s => {
            Ok(diesel::delete(s::tokens::table.filter(s::tokens::user_id.eq(user_id)).filter(s::tokens::token.eq(token)))
                .execute(conn)?)
        });
        self.wrote();
        deleted
    }

    /// Deletes every token row of the user (`logout-all`).
    pub fn delete_user_sessions(&self, user_id: i64) -> Result<usize, DbError> {
        let deleted = retrying_deadlocks(|| {
            with_conn!(self, conn, s => {
                Ok(diesel::delete(s::tokens::table.filter(s::tokens::user_id.eq(user_id))).execute(conn)?)
            })
        });
        self.wrote();
        deleted
    }

    /// Deletes expired sessions (their token rows): of one user, or of
    /// anyone (at most [`SWEEP_BATCH`]). Returns how many.
    pub fn delete_expired_sessions(&self, user_id: Option<i64>, now: i64) -> Result<usize, DbError> {
        let deleted = with_conn!(self, conn, s => {
            let mut expired = s::ledger_sessions::table
                .filter(s::ledger_sessions::expires_at.lt(now))
                .select(s::ledger_sessions::token_id)
                .limit(SWEEP_BATCH)
                .into_boxed();
            if let Some(user_id) = user_id {
                expired = expired.filter(s::ledger_sessions::user_id.eq(user_id));
            }
            let ids: Vec<i64> = expired.load(conn)?;
            if ids.is_empty() {
                return Ok(0);
            }
            Ok(diesel::delete(s::tokens::table.filter(s::tokens::id.eq_any(&ids))).execute(conn)?)
        });
        if matches!(deleted, Ok(n) if n > 0) {
            self.wrote();
        }
        deleted
    }

    /// Each counter's attempts since `since` (exclusive).
    pub fn count_attempts(&self, counters: &[Counter], since: i64) -> Result<Vec<Count>, DbError> {
        with_conn!(self, conn, s, read_only => {
            let mut counts = Vec::with_capacity(counters.len());
            for counter in counters {
                let (count, oldest): (i64, Option<i64>) = s::ledger_login_attempts::table
                    .filter(s::ledger_login_attempts::scope.eq(counter.scope))
                    .filter(s::ledger_login_attempts::subject.eq(&counter.subject))
                    .filter(s::ledger_login_attempts::at.gt(since))
                    .select((diesel::dsl::count_star(), diesel::dsl::min(s::ledger_login_attempts::at)))
                    .first(conn)?;
                counts.push(Count { count, oldest });
            }
            Ok(counts)
        })
    }

    /// Records an attempt at `at` on each counter, then counts each
    /// counter's attempts after `since`, this one included: the check and
    /// the record are one step, so concurrent attempts see each other (of
    /// a burst, only the first ones to be recorded find room under a limit).
    pub fn reserve_attempts(&self, counters: &[Counter], at: i64, since: i64) -> Result<Vec<Count>, DbError> {
        self.record_attempts(counters, at)?;
        self.count_attempts(counters, since)
    }

    /// Takes back one attempt recorded at `at` on each counter (one the
    /// request made with [`Store::reserve_attempts`]; the rows of a
    /// counter at one second are alike, so any of them does).
    pub fn release_attempts(&self, counters: &[Counter], at: i64) -> Result<(), DbError> {
        let released = with_conn!(self, conn, s => {
            for counter in counters {
                // Two statements (MySQL cannot delete from a table it
                // selects from in one); a concurrent release of the same
                // row leaves one row more, never one less.
                let id: Option<i64> = s::ledger_login_attempts::table
                    .filter(s::ledger_login_attempts::scope.eq(counter.scope))
                    .filter(s::ledger_login_attempts::subject.eq(&counter.subject))
                    .filter(s::ledger_login_attempts::at.eq(at))
                    .select(diesel::dsl::max(s::ledger_login_attempts::id))
                    .first(conn)?;
                if let Some(id) = id {
                    diesel::delete(s::ledger_login_attempts::table.find(id)).execute(conn)?;
                }
            }
            Ok(())
        });
        self.wrote();
        released
    }

    /// Records one attempt at `at` on each counter.
    pub fn record_attempts(&self, counters: &[Counter], at: i64) -> Result<(), DbError> {
        let rows: Vec<_> = counters.iter().map(|c| (c.scope.to_owned(), c.subject.clone())).collect();
        let recorded = with_conn!(self, conn, s => {
            let values: Vec<_> = rows
                .iter()
                .map(|(scope, subject)| {
                    (
                        s::ledger_login_attempts::scope.eq(scope),
                        s::ledger_login_attempts::subject.eq(subject),
                        s::ledger_login_attempts::at.eq(at),
                    )
                })
                .collect();
            diesel::insert_into(s::ledger_login_attempts::table).values(&values).execute(conn)?;
            Ok(())
        });
        self.wrote();
        recorded
    }

    /// Forgets a counter's attempts (a successful login clears its account's).
    pub fn clear_attempts(&self, counter: &Counter) -> Result<(), DbError> {
        let cleared = with_conn!(self, conn, s => {
            diesel::delete(
                s::ledger_login_attempts::table
                    .filter(s::ledger_login_attempts::scope.eq(counter.scope))
                    .filter(s::ledger_login_attempts::subject.eq(&counter.subject)),
            )
            .execute(conn)?;
            Ok(())
        });
        self.wrote();
        cleared
    }

    /// Deletes attempts at or before `before`; returns how many.
    pub fn delete_old_attempts(&self, before: i64) -> Result<usize, DbError> {
        let deleted = with_conn!(self, conn, s => {
            Ok(diesel::delete(s::ledger_login_attempts::table.filter(s::ledger_login_attempts::at.le(before)))
                .execute(conn)?)
        });
        if matches!(deleted, Ok(n) if n > 0) {
            self.wrote();
        }
        deleted
    }

    /// Replaces a user's hash with one of a higher cost, unless it changed
    /// meanwhile.
    pub fn replace_password(&self, user_id: i64, old: &str, new: &str) -> Result<(), DbError> {
        let replaced = with_conn!(self, conn, s => {
            diesel::update(s::users::table.filter(s::users::id.eq(user_id)).filter(s::users::password.eq(old)))
                .set(s::users::password.eq(new))
                .execute(conn)?;
            Ok(())
        });
        self.wrote();
        replaced
    }
}
