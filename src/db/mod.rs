//! The database: Django's `users` and `tokens` tables on SQLite, PostgreSQL
//! or MySQL/MariaDB (PostgreSQL and MySQL/MariaDB as the cargo features
//! `postgres` and `mysql`).
//!
//! [`Database`] is what the server uses: every query is an `async` method
//! that hides where the work runs — the worker's blocking threads for a query (never
//! the async worker itself), SQLite's group commit for a logout,
//! PostgreSQL's retry of a read on a dropped connection. Below it:
//! - [`url`]: `DATABASE_URL` and [`redact_url`];
//! - `pool`: the r2d2 pool, the server's reachability, and the discarding
//!   of connections that met a storage fault;
//! - [`Store`] (`store`, `queries`, `migrations`): the synchronous queries;
//! - `sqlite`: the group commit, background checkpoints and the `-shm` check;
//! - `sessions`: the hardened profile's sessions and failure counters;
//! - `inspect`: read-only catalog queries for `ledger-server check`;
//! - `time`: timestamps as Django writes them; [`schema`]: the tables.

mod inspect;
mod migrations;
mod pool;
mod queries;
pub mod schema;
mod sessions;
mod shadow;
mod sqlite;
mod store;
mod time;
mod url;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::runtime::{self, Stopped};

pub use inspect::{InspectRow, INSPECT_COLUMNS};
pub use pool::Pooler;
pub use sessions::{Count, Counter, NewSession, SessionInfo, SessionRow, LAST_SEEN_GRANULARITY};
pub use shadow::{stored_varchar, Subject, UserState};
pub use store::Store;
pub use time::unix_now;
pub use url::{redact_url, DatabaseUrl};

/// What failed in the database layer. Each variant's message is one line
/// that carries its cause and never a password (see the error policy in
/// src/error.rs); the HTTP layer answers any of them with Django's 500
/// page and logs it once.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database ran the statement and refused it, or the connection
    /// failed while it ran.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// The database server refuses connections.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// The storage cannot be written safely (SQLite's `-shm` file made
    /// immutable): refused before any connection touches it.
    #[error("database storage unwritable: {0}")]
    Storage(String),
    /// Every pooled connection stayed busy.
    #[error("no database connection free within {0:?}: {1}")]
    Exhausted(Duration, String),
    /// Every connection the pool handed out had been dropped by the server.
    #[error("no working database connection within {0:?}")]
    NoWorkingConnection(Duration),
    /// The connection pool could not be made.
    #[error("cannot make the connection pool: {0}")]
    Pool(String),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("another process held the migration lock for {} s", .0.as_secs())]
    MigrationLock(Duration),
    /// A thread the database needs could not be started.
    #[error("cannot start the {what} thread: {source}")]
    Thread { what: &'static str, source: std::io::Error },
    #[error("the SQLite commit thread has stopped")]
    CommitStopped,
    /// The failure of a group commit, shared by every logout in it.
    #[error("{0}")]
    Commit(Arc<DbError>),
    /// The blocking pool is gone (shutdown) or the call panicked.
    #[error("{0}")]
    Runtime(#[from] Stopped),
    /// A request's database call did not finish within [`CALL_DEADLINE`]
    /// (a database server that stopped answering without closing the
    /// connection). The call itself may still finish later.
    #[error("the database did not answer within {} s", .0.as_secs())]
    Stalled(Duration),
    /// Shadow mode's dry run: a write the database would refuse.
    #[error("the database would refuse this write: {0}")]
    DryRun(&'static str),
}

/// The longest a request waits for one database call, its wait for a
/// blocking thread included: a pooled connection (at most
/// [`pool::CHECKOUT_TIMEOUT`], 5 s), then SQLite's 5 s `busy_timeout` or a
/// server's answer, with 2 s to spare. Neither libpq nor the MySQL client
/// library limits how long a query waits on a server that stopped
/// answering; without this the request would wait for ever. The call
/// itself is not stopped (it holds its thread until the database answers).
pub const CALL_DEADLINE: Duration = Duration::from_secs(12);

/// A row of `users` (without the timestamps, which nothing reads).
#[derive(Debug, Clone, diesel::Queryable)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub password: String,
}

/// What `log_in_confirm` finds for the `id` in a token.
#[derive(Debug)]
pub enum GuardLookup {
    /// No such user: 401 `INVALID_USER`.
    NoUser,
    /// The user has no token row (logged out): `INVALID_USER` with 200.
    NoToken,
    /// The user (`User.objects.get`; by id: the views behind the guard need
    /// nothing else) and its token rows.
    User(i64, TokenRows),
}

/// The user's token rows, as `Token.objects.get(user_id=...)` in the
/// logout view finds them (it reads what the guard just read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRows {
    /// Exactly one: the row `get` returns, by id.
    One(i64),
    /// More than one: `MultipleObjectsReturned` (500).
    Several,
}

/// Result of inserting a user.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    Created,
    /// The UNIQUE constraint refused the email because a concurrent signup
    /// of the same email won.
    Duplicate,
}

/// The database as the server uses it; cheap to clone.
#[derive(Clone)]
pub struct Database {
    store: Arc<Store>,
}

impl Database {
    /// Makes the pool (and on SQLite its background threads); connections
    /// are opened on first use (see [`Database::ping`]).
    /// `sqlite_mmap_size`: SQLite's `PRAGMA mmap_size` for every connection
    /// (0: off); other backends ignore it.
    pub fn open(
        url: &DatabaseUrl,
        pool_size: u32,
        tz: chrono_tz::Tz,
        sqlite_mmap_size: u64,
    ) -> Result<Database, DbError> {
        Database::open_with(url, pool_size, tz, sqlite_mmap_size, Pooler::None)
    }

    /// [`Database::open`] behind a connection pooler (`DATABASE_POOLER`).
    pub fn open_with(
        url: &DatabaseUrl,
        pool_size: u32,
        tz: chrono_tz::Tz,
        sqlite_mmap_size: u64,
        pooler: Pooler,
    ) -> Result<Database, DbError> {
        Ok(Database { store: Arc::new(Store::open_with(url, pool_size, tz, sqlite_mmap_size, pooler)?) })
    }

    /// Runs a request's query on the current worker's blocking threads,
    /// for at most [`CALL_DEADLINE`].
    async fn run<T, F>(&self, query: F) -> Result<T, DbError>
    where
        F: FnOnce(&Store) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        match actix_rt::time::timeout(CALL_DEADLINE, self.run_unbounded(query)).await {
            Ok(done) => done,
            Err(_) => Err(DbError::Stalled(CALL_DEADLINE)),
        }
    }

    /// Runs a query on the current worker's blocking threads, however long
    /// it takes (migrations wait for other processes' migrations).
    async fn run_unbounded<T, F>(&self, query: F) -> Result<T, DbError>
    where
        F: FnOnce(&Store) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        runtime::blocking(move || query(&store)).await?
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|store| store.ping()).await
    }

    /// Applies pending migrations; returns the versions applied. Several
    /// processes starting on one fresh database at once migrate one after
    /// another (the later ones find nothing pending).
    pub async fn migrate(&self) -> Result<Vec<String>, DbError> {
        self.run_unbounded(|store| store.migrate()).await
    }

    /// `log_in_confirm`'s checks: the user and its token rows.
    pub async fn guard_lookup(&self, user_id: i64) -> Result<GuardLookup, DbError> {
        self.run(move |store| store.guard_lookup(user_id)).await
    }

    /// `User.objects.filter(email=email).exists()`.
    pub async fn email_exists(&self, email: String) -> Result<bool, DbError> {
        self.run(move |store| store.email_exists(&email)).await
    }

    /// `User.objects.get(email=email)`, `None` for `DoesNotExist`.
    pub async fn find_by_email(&self, email: String) -> Result<Option<User>, DbError> {
        self.run(move |store| store.find_by_email(&email)).await
    }

    /// `User.objects.create(email=..., password=...)`.
    pub async fn create_user(&self, email: String, password_hash: String) -> Result<Created, DbError> {
        self.run(move |store| store.create_user(&email, &password_hash)).await
    }

    /// `Token.objects.create(user_id=..., token=...)`.
    pub async fn add_token(&self, user_id: i64, token: String) -> Result<(), DbError> {
        self.run(move |store| store.add_token(user_id, &token)).await
    }

    /// The `.delete()` of a logout, by the token row's id; a row already
    /// gone is no error, as in Django. On SQLite the group commit answers
    /// once the deletion is on disk, and no thread waits for it; elsewhere
    /// it is one statement on the blocking threads.
    pub async fn delete_token(&self, token_id: i64) -> Result<(), DbError> {
        match self.store.sqlite() {
            Some(sqlite) => sqlite.queue_delete_token(token_id).await.map_err(|_| DbError::CommitStopped)?,
            None => self.run(move |store| store.delete_token(token_id)).await,
        }
    }

    /// What this database stores for `value` in a `varchar(length)`
    /// column (see [`stored_varchar`]); `None`: it refuses the value.
    pub fn stored_varchar(&self, value: &str, length: usize) -> Option<String> {
        stored_varchar(self.backend_name(), value, length)
    }

    /// Shadow mode: the rows of a user (none when nobody has the email).
    pub async fn user_state(&self, subject: Subject) -> Result<UserState, DbError> {
        self.run(move |store| store.user_state(&subject)).await
    }

    /// Hardened: the presented token's row of the user.
    pub async fn find_session(&self, user_id: i64, tokens: Vec<String>) -> Result<Option<SessionRow>, DbError> {
        self.run(move |store| store.find_session(user_id, &tokens)).await
    }

    /// Hardened: a login's token row and metadata; the token row's id.
    pub async fn add_session(&self, new: NewSession) -> Result<i64, DbError> {
        self.run(move |store| store.add_session(&new)).await
    }

    /// Hardened: refreshes a session's `last_seen_at` when it is stale.
    pub async fn touch_session(&self, token_id: i64, now: i64) -> Result<(), DbError> {
        self.run(move |store| store.touch_session(token_id, now)).await
    }

    /// Hardened: the user's sessions that have not expired, newest first.
    pub async fn list_sessions(&self, user_id: i64, now: i64) -> Result<Vec<SessionInfo>, DbError> {
        self.run(move |store| store.list_sessions(user_id, now)).await
    }

    /// Hardened: logs a plain (compat-era) token out of every row holding it.
    pub async fn delete_plain_token(&self, user_id: i64, token: String) -> Result<usize, DbError> {
        self.run(move |store| store.delete_plain_token(user_id, &token)).await
    }

    /// Hardened: deletes one of the user's sessions; false if not the user's.
    pub async fn delete_user_session(&self, user_id: i64, token_id: i64) -> Result<bool, DbError> {
        self.run(move |store| store.delete_user_session(user_id, token_id)).await
    }

    /// Hardened: deletes every session of the user.
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<usize, DbError> {
        self.run(move |store| store.delete_user_sessions(user_id)).await
    }

    /// Hardened: deletes the user's expired sessions.
    pub async fn delete_expired_sessions(&self, user_id: i64, now: i64) -> Result<usize, DbError> {
        self.run(move |store| store.delete_expired_sessions(Some(user_id), now)).await
    }

    /// Hardened: one attempt on each counter, then the counts after
    /// `since`, this one included.
    pub async fn reserve_attempts(&self, counters: Vec<Counter>, at: i64, since: i64) -> Result<Vec<Count>, DbError> {
        self.run(move |store| store.reserve_attempts(&counters, at, since)).await
    }

    /// Hardened: takes back one attempt at `at` on each counter.
    pub async fn release_attempts(&self, counters: Vec<Counter>, at: i64) -> Result<(), DbError> {
        self.run(move |store| store.release_attempts(&counters, at)).await
    }

    /// Hardened: forgets a counter.
    pub async fn clear_attempts(&self, counter: Counter) -> Result<(), DbError> {
        self.run(move |store| store.clear_attempts(&counter)).await
    }

    /// Hardened: a user's hash re-made at a higher cost.
    pub async fn replace_password(&self, user_id: i64, old: String, new: String) -> Result<(), DbError> {
        self.run(move |store| store.replace_password(user_id, &old, &new)).await
    }

    /// Hardened: a thread that deletes expired sessions and attempts older
    /// than `window` seconds every `every`, until the database is dropped.
    /// Several instances may sweep one database: each deletion is idempotent.
    pub fn spawn_sweeper(&self, every: Duration, window: i64) -> std::io::Result<()> {
        let store = Arc::downgrade(&self.store);
        std::thread::Builder::new().name("session-sweep".into()).spawn(move || loop {
            std::thread::sleep(every);
            let Some(store) = store.upgrade() else { return };
            let now = time::unix_now();
            match store.delete_expired_sessions(None, now) {
                Ok(0) => {}
                Ok(n) => log::info!("sweep: {n} expired sessions deleted"),
                Err(e) => log::warn!("sweep: expired sessions: {e}"),
            }
            if let Err(e) = store.delete_old_attempts(now - window) {
                log::warn!("sweep: old login attempts: {e}");
            }
        })?;
        Ok(())
    }

    /// Connections the pool may hold.
    pub fn pool_size(&self) -> u32 {
        self.store.pool_size()
    }

    /// The pool's `(max size, open connections, idle connections)`, for
    /// the metrics.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        self.store.pool_state()
    }

    /// The backend's name, for logs.
    pub fn backend_name(&self) -> &'static str {
        self.store.backend_name()
    }

    /// Whether database calls are local work on this machine (SQLite) rather
    /// than round trips to a server that many can wait on at once.
    pub fn is_embedded(&self) -> bool {
        self.store.sqlite().is_some()
    }

    /// Whether a token `id` outside the 64-bit range raises in the original
    /// (Python's sqlite3 cannot bind it: 500) rather than simply finding no
    /// user (PostgreSQL and MySQL compare it as a number: 401).
    pub fn rejects_out_of_range_ids(&self) -> bool {
        self.store.sqlite().is_some()
    }
}
