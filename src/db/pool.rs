//! The connection pool every backend shares: r2d2 with Django's
//! per-connection settings, and what it knows of the database server's
//! reachability (a refused connection fails requests at once, as Django's
//! do; a dropped one is discarded and the pool checked for a while).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError, Pool, PooledConnection, R2D2Connection};

use super::DbError;

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
}

/// How long after a dropped connection every checkout is checked.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
const SUSPECT_WINDOW: Duration = Duration::from_secs(10);

impl Reachability {
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

/// Per-connection settings, as Django's backends make them; a connection
/// that got this far shows that the database server is reachable.
#[derive(Debug)]
struct OnConnect {
    sql: String,
    reach: Arc<Reachability>,
}

impl<C: R2D2Connection + SimpleConnection + 'static> CustomizeConnection<C, diesel::r2d2::Error> for OnConnect {
    fn on_acquire(&self, conn: &mut C) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&self.sql).map_err(diesel::r2d2::Error::QueryError)?;
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
pub(crate) fn checkout<C: R2D2Connection + SimpleConnection + 'static>(
    pool: &Pool<ConnectionManager<C>>,
    reach: &Reachability,
) -> Result<PooledConnection<ConnectionManager<C>>, DbError> {
    let started = Instant::now();
    loop {
        let waited = started.elapsed();
        let slice = UNREACHABLE_WAIT.min(CHECKOUT_TIMEOUT.saturating_sub(waited));
        match pool.get_timeout(slice) {
            Ok(mut conn) => {
                // A connection that fails the check is broken now: dropping
                // it discards it, and the loop takes another.
                if !reach.is_suspect() || !dropped(&mut *conn) {
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

/// `validate`: ping each connection as it leaves the pool, so one that a
/// restarted database server dropped is replaced instead of failing a
/// request (MySQL: its client does not notice a dropped connection by
/// itself). PostgreSQL's libpq does, so its pool is checked only for a while
/// after a request met a dropped connection (see [`Reachability`]), not at
/// the cost of a round trip per query. A SQLite connection is a local file
/// handle: nothing to check.
pub(crate) fn pool<C: R2D2Connection + SimpleConnection + 'static>(
    url: &str,
    size: u32,
    on_connect: String,
    validate: bool,
    reach: &Arc<Reachability>,
) -> Result<Pool<ConnectionManager<C>>, DbError> {
    Pool::builder()
        .max_size(size)
        .test_on_check_out(validate)
        .min_idle(Some(0))
        .connection_timeout(RECONNECT_TIMEOUT)
        .connection_customizer(Box::new(OnConnect { sql: on_connect, reach: reach.clone() }))
        .error_handler(Box::new(OnPoolError(reach.clone())))
        .build(ConnectionManager::<C>::new(url))
        .map_err(|e| DbError::Pool(one_line(&e.to_string())))
}
