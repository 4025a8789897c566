//! The connection pool every backend shares: r2d2 with Django's
//! per-connection settings, and what it knows of the database server's
//! reachability (a refused connection fails requests at once, as Django's
//! do; a dropped one is discarded and the pool checked for a while) and of
//! its storage (a connection that met a storage fault is discarded with
//! every other one opened before it: see [`settle`]).

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError, ManageConnection, Pool, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::sqlite::ShmGate;
use super::DbError;

/// A pool of connections of type `C`.
pub(crate) type DbPool<C> = Pool<Manager<C>>;
/// A connection checked out of a [`DbPool`]; `&mut **pooled` is the `C`.
pub(crate) type Pooled<C> = diesel::r2d2::PooledConnection<Manager<C>>;

/// How long a request waits for a pooled connection before failing, when
/// every connection is busy.
pub(crate) const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// While the database server refuses connections, a request waits this long
/// for one before failing (Django, which connects per request, fails at
/// once), instead of the whole [`CHECKOUT_TIMEOUT`].
const UNREACHABLE_WAIT: Duration = Duration::from_millis(100);
/// r2d2 retries a failed connection attempt in the background after 0.2 s,
/// 0.4 s, … up to half of this: the longest a recovered database waits for
/// the pool to notice it.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Whether the database server accepted the pool's latest connection
/// attempt: `Some(error)` from a refused attempt until one succeeds.
#[derive(Debug, Default)]
pub(crate) struct Reachability {
    refused: Mutex<Option<String>>,
    /// Until when pooled connections are checked before use: set when a
    /// request found its connection dropped by the server (a restart drops
    /// them all). Checking every checkout always would cost a round trip
    /// per query.
    suspect_until: Mutex<Option<Instant>>,
    /// Bumped by a storage fault: a connection opened before the latest
    /// bump may have been opened read-only (or onto a failing file) and is
    /// discarded instead of used or pooled again (see [`Manager`]).
    generation: AtomicU64,
    /// Between a storage fault and the next successful write: the fault is
    /// logged once, not once per connection.
    faulted: AtomicBool,
    /// SQLite: the `-shm` file's writability, checked before every checkout.
    shm: Option<ShmGate>,
    /// Connections open now, counted until each is closed (r2d2's own count
    /// drops before the close runs).
    live: Arc<AtomicUsize>,
}

/// Counts a connection in [`Reachability::live`] until dropped.
#[derive(Debug)]
struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(count: &Arc<AtomicUsize>) -> Live {
        count.fetch_add(1, Ordering::AcqRel);
        Live(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long after a dropped connection every checkout is checked.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
const SUSPECT_WINDOW: Duration = Duration::from_secs(10);

impl Reachability {
    /// For a SQLite database, whose `-shm` file is checked before every
    /// checkout.
    pub(crate) fn with_shm_gate(gate: ShmGate) -> Reachability {
        Reachability { shm: Some(gate), ..Reachability::default() }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A connection met a storage fault: every connection opened until now
    /// is discarded when next checked out or returned.
    fn storage_fault(&self, cause: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if !self.faulted.swap(true, Ordering::AcqRel) {
            log::warn!("database storage fault, discarding the pooled connections: {cause}");
        }
    }

    /// A write succeeded.
    fn storage_ok(&self) {
        if self.faulted.load(Ordering::Relaxed) && self.faulted.swap(false, Ordering::AcqRel) {
            log::info!("database writes succeed again");
        }
    }

    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn suspect(&self) {
        *self.suspect_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + SUSPECT_WINDOW);
    }

    fn is_suspect(&self) -> bool {
        let mut until = self.suspect_until.lock().unwrap_or_else(|e| e.into_inner());
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    fn refused(&self) -> Option<String> {
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set(&self, refused: Option<String>) {
        let mut current = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        match (&*current, &refused) {
            (None, Some(error)) => log::warn!("database unreachable: {error}"),
            (Some(_), None) => log::info!("database reachable again"),
            _ => {}
        }
        *current = refused;
    }
}

/// `DATABASE_POOLER`: what sits between ledger-server and PostgreSQL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pooler {
    /// Nothing, or a pooler in session mode: a connection is one server
    /// session, whose prepared statements and settings last.
    #[default]
    None,
    /// A pooler in transaction mode, PgBouncer's usual one:
    /// each transaction (each statement outside one) may run on another
    /// server session. Statements are not kept prepared (diesel sends each
    /// with its parameters in one round trip, PostgreSQL's unnamed
    /// statement) and nothing is `SET` for the session.
    Transaction,
}

/// Per-connection settings, as Django's backends make them; a connection
/// that got this far shows that the database server is reachable.
#[derive(Debug)]
struct OnConnect {
    sql: String,
    reach: Arc<Reachability>,
}

impl<C: R2D2Connection + SimpleConnection + 'static> CustomizeConnection<Conn<C>, diesel::r2d2::Error> for OnConnect {
    fn on_acquire(&self, conn: &mut Conn<C>) -> Result<(), diesel::r2d2::Error> {
        if !self.sql.is_empty() {
            conn.inner.batch_execute(&self.sql).map_err(diesel::r2d2::Error::QueryError)?;
        }
        self.reach.set(None);
        Ok(())
    }
}

/// Errors of the pool's background work, in place of r2d2's handler (which
/// logs every retry): a refused connection marks the database unreachable;
/// a pooled connection that fails its check is replaced.
#[derive(Debug)]
struct OnPoolError(Arc<Reachability>);

impl HandleError<diesel::r2d2::Error> for OnPoolError {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        match error {
            diesel::r2d2::Error::ConnectionError(e) => self.0.set(Some(one_line(&e.to_string()))),
            diesel::r2d2::Error::QueryError(e) => {
                log::info!("dropping a broken database connection: {}", one_line(&e.to_string()))
            }
        }
    }
}

/// libpq's messages span lines; a log line should not.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the server has dropped this connection; if so it is marked
/// broken, so that the pool discards it when it is returned. diesel marks a
/// PostgreSQL connection broken only when a statement *executes* on it: one
/// that fails while being *prepared* (the first use of a query on that
/// connection) leaves it looking healthy, and the pool would hand the dead
/// connection out again and again. A plain `SELECT 1` (no preparing)
/// settles it, at the cost of a round trip after a failure only.
pub(crate) fn dropped<C: R2D2Connection + SimpleConnection>(conn: &mut C) -> bool {
    conn.is_broken() || (conn.batch_execute("SELECT 1").is_err() && conn.is_broken())
}

/// A pooled connection: waits up to [`CHECKOUT_TIMEOUT`] for one while all
/// are busy, but only [`UNREACHABLE_WAIT`] while the database server
/// refuses new ones (r2d2 alone would make every request wait the whole
/// timeout for a server that is down). r2d2 keeps retrying in the
/// background, so the pool recovers by itself when the server is back.
///
/// On SQLite the `-shm` file is checked first ([`ShmGate`]): while it
/// cannot be written, no connection is handed out.
pub(crate) fn checkout<C: R2D2Connection + SimpleConnection + 'static>(
    pool: &DbPool<C>,
    reach: &Reachability,
) -> Result<Pooled<C>, DbError> {
    if let Some(gate) = &reach.shm {
        gate.check()?;
        if crate::runtime::sigbus::shm_diverged() {
            release_diverged_mapping(pool, reach)?;
        }
    }
    let started = Instant::now();
    loop {
        let waited = started.elapsed();
        let slice = UNREACHABLE_WAIT.min(CHECKOUT_TIMEOUT.saturating_sub(waited));
        match pool.get_timeout(slice) {
            Ok(mut conn) => {
                // A connection that fails the check is broken now: dropping
                // it discards it, and the loop takes another.
                if !reach.is_suspect() || !dropped(&mut **conn) {
                    crate::telemetry::metrics::pool_checkout(started.elapsed());
                    return Ok(conn);
                }
                log::info!("dropping a database connection the server closed");
                drop(conn);
                if started.elapsed() >= CHECKOUT_TIMEOUT {
                    return Err(DbError::NoWorkingConnection(CHECKOUT_TIMEOUT));
                }
            }
            Err(e) => {
                if let Some(refused) = reach.refused() {
                    return Err(DbError::Unreachable(refused));
                }
                if started.elapsed() >= CHECKOUT_TIMEOUT {
                    return Err(DbError::Exhausted(CHECKOUT_TIMEOUT, one_line(&e.to_string())));
                }
            }
        }
    }
}

/// A write to the `-shm` mapping met SIGBUS and was completed in a private
/// page ([`crate::runtime::sigbus`]): this process's view of the WAL index
/// is its own. Every connection is closed (the idle ones now, the ones in
/// use when returned), and work is refused until none is left, so that
/// SQLite unmaps the file; then the next connection maps it afresh.
fn release_diverged_mapping<C: R2D2Connection + SimpleConnection + 'static>(
    pool: &DbPool<C>,
    reach: &Reachability,
) -> Result<(), DbError> {
    reach.storage_fault("SIGBUS writing SQLite's -shm mapping (the file became unwritable)");
    for _ in 0..pool.max_size() {
        let Some(mut idle) = pool.try_get() else { break };
        idle.broken = true;
    }
    if reach.live.load(Ordering::Acquire) == 0 {
        crate::runtime::sigbus::clear();
        log::info!("every connection that mapped the unwritable -shm is closed; new ones map it afresh");
        return Ok(());
    }
    Err(DbError::Storage("waiting for the connections that mapped an unwritable -shm to close".into()))
}

/// `validate`: ping each connection as it leaves the pool, so one that a
/// restarted database server dropped is replaced instead of failing a
/// request (MySQL: its client does not notice a dropped connection by
/// itself). PostgreSQL's libpq does, so its pool is checked only for a while
/// after a request met a dropped connection (see [`Reachability`]), not at
/// the cost of a round trip per query. A SQLite connection is a local file
/// handle: nothing to check.
///
/// Every checkout also checks the connection's [`Reachability`] generation
/// (an atomic load): one opened before a storage fault is replaced.
///
/// `statements`: the prepared-statement cache of each connection, if not
/// diesel's default (unbounded).
pub(crate) fn pool<C: R2D2Connection + SimpleConnection + 'static>(
    url: &str,
    size: u32,
    on_connect: String,
    validate: bool,
    reach: &Arc<Reachability>,
    statements: Option<CacheSize>,
) -> Result<DbPool<C>, DbError> {
    let manager = Manager { inner: ConnectionManager::<C>::new(url), reach: reach.clone(), validate, statements };
    Pool::builder()
        .max_size(size)
        .test_on_check_out(true)
        .min_idle(Some(0))
        .connection_timeout(RECONNECT_TIMEOUT)
        .connection_customizer(Box::new(OnConnect { sql: on_connect, reach: reach.clone() }))
        .error_handler(Box::new(OnPoolError(reach.clone())))
        .build(manager)
        .map_err(|e| DbError::Pool(one_line(&e.to_string())))
}

/// A pooled connection and what the pool knows of it: when it was opened
/// (the [`Reachability`] generation), and whether it met a storage fault.
pub(crate) struct Conn<C> {
    inner: C,
    generation: u64,
    broken: bool,
    /// After `inner`: dropped once the connection is closed.
    _live: Live,
}

impl<C> Deref for Conn<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.inner
    }
}

impl<C> DerefMut for Conn<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.inner
    }
}

/// diesel's connection manager, plus the discarding of connections that
/// met a storage fault: r2d2 drops a returned connection only when
/// `has_broken` says so, and diesel's says so only for a connection whose
/// transaction state is broken (never for a SQLite file reopened
/// read-only, nor a session that is read-only).
pub(crate) struct Manager<C: R2D2Connection + 'static> {
    inner: ConnectionManager<C>,
    reach: Arc<Reachability>,
    /// Ping on checkout (MySQL, see [`pool`]).
    validate: bool,
    statements: Option<CacheSize>,
}

impl<C: R2D2Connection + 'static> ManageConnection for Manager<C> {
    type Connection = Conn<C>;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Conn<C>, diesel::r2d2::Error> {
        // read first: a fault during the connect makes the new one stale too
        let generation = self.reach.generation();
        let mut inner = self.inner.connect()?;
        if let Some(size) = self.statements {
            inner.set_prepared_statement_cache_size(size);
        }
        Ok(Conn { inner, generation, broken: false, _live: Live::new(&self.reach.live) })
    }

    fn is_valid(&self, conn: &mut Conn<C>) -> Result<(), diesel::r2d2::Error> {
        if conn.generation != self.reach.generation() {
            let why = "opened before a storage fault".to_string();
            return Err(diesel::r2d2::Error::QueryError(DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new(why),
            )));
        }
        if self.validate {
            self.inner.is_valid(&mut conn.inner)
        } else {
            Ok(())
        }
    }

    fn has_broken(&self, conn: &mut Conn<C>) -> bool {
        conn.broken || conn.generation != self.reach.generation() || self.inner.has_broken(&mut conn.inner)
    }
}

/// What SQLite, PostgreSQL and MySQL/MariaDB answer when the storage under
/// a connection failed or the connection cannot write: SQLite's messages
/// for SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_CORRUPT and
/// SQLITE_NOTADB (diesel reports them all as `Unknown`, with
/// `sqlite3_errmsg`'s text), MySQL's for errors 1290 (`read_only`), 1836
/// (read-only mode) and 1792 (a read-only transaction, which diesel also
/// reports as `ReadOnlyTransaction` from a prepared statement, as it does
/// PostgreSQL's SQLSTATE 25006).
const FAULTS: [&str; 9] = [
    "attempt to write a readonly database",
    "disk i/o error",
    "unable to open database file",
    "database disk image is malformed",
    "file is not a database",
    "--read-only option",
    "read-only mode",
    "read only transaction",
    "read-only transaction",
];

/// The storage fault behind `error`, if it is one.
pub(crate) fn storage_fault(error: &DbError) -> Option<String> {
    match error {
        DbError::Query(DieselError::DatabaseError(kind, info)) => {
            let message = info.message().to_ascii_lowercase();
            let fault =
                matches!(kind, DatabaseErrorKind::ReadOnlyTransaction) || FAULTS.iter().any(|f| message.contains(f));
            fault.then(|| one_line(info.message()))
        }
        DbError::Commit(inner) => storage_fault(inner),
        _ => None,
    }
}

/// The end of a connection's work, `result`: a storage fault marks the
/// connection broken (r2d2 discards it on return) and makes every other
/// connection opened until now be discarded too (the others opened during
/// the fault are read-only as well; Django, which connects per request,
/// recovers at once: so must the pool). `write`: a successful write ends
/// the fault.
pub(crate) fn settle<C, T>(
    conn: &mut Conn<C>,
    reach: &Reachability,
    write: bool,
    result: Result<T, DbError>,
) -> Result<T, DbError> {
    match &result {
        Err(e) => {
            if let Some(cause) = storage_fault(e) {
                conn.broken = true;
                reach.storage_fault(&cause);
            }
        }
        Ok(_) if write => reach.storage_ok(),
        Ok(_) => {}
    }
    result
}
