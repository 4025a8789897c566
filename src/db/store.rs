//! [`Store`]: the pool of one backend and the queries the users app makes,
//! each a synchronous call that the [`super::Database`] facade runs off the
//! async workers.
//!
//! Every query is written once and expanded for each backend by
//! [`with_conn!`]; comparisons (`email = ?`) run in the database, so they
//! follow its collation exactly as Django's do. Only what truly differs
//! per backend (timestamps, PostgreSQL's planning of inserts, migration
//! locks) is written per backend.

use std::sync::Arc;

use super::pool::Reachability;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use super::pool::{self, DbPool};
use super::sqlite::{ShmGate, Sqlite};
use super::{DatabaseUrl, DbError};
#[cfg(feature = "mysql")]
use diesel::mysql::MysqlConnection;
#[cfg(feature = "postgres")]
use diesel::pg::PgConnection;

pub(crate) enum Backend {
    Sqlite(Sqlite),
    #[cfg(feature = "postgres")]
    Postgres(DbPool<PgConnection>),
    #[cfg(feature = "mysql")]
    Mysql(DbPool<MysqlConnection>),
}

/// One database: its pool (and, on SQLite, its background threads), the
/// time zone timestamps are written in, and the server's reachability.
/// Its methods block: call them off the async workers (the server does so
/// through [`super::Database`]); on SQLite, [`Store::delete_token`] waits
/// for the group commit with `blocking_recv`, which panics inside an async
/// context.
pub struct Store {
    pub(crate) backend: Backend,
    pub(crate) tz: chrono_tz::Tz,
    pub(crate) reach: Arc<Reachability>,
}

/// Runs `$body` with `$conn` bound to a pooled connection and `$s` to the
/// backend's schema module, once per backend. `read_only` bodies are safe
/// to run again: on PostgreSQL one that failed on a dropped connection is
/// retried once on another. Every outcome goes through `pool::settle`: a
/// connection that met a storage fault is not pooled again.
macro_rules! with_conn {
    ($db:expr, $conn:ident, $s:ident => $body:block) => {
        with_conn!($db, $conn, $s, false => $body)
    };
    ($db:expr, $conn:ident, $s:ident, read_only => $body:block) => {
        with_conn!($db, $conn, $s, true => $body)
    };
    ($db:expr, $conn:ident, $s:ident, $retry:literal => $body:block) => {
        match &$db.backend {
            $crate::db::store::Backend::Sqlite(sqlite) => {
                let mut pooled = $crate::db::pool::checkout(&sqlite.pool, &$db.reach)?;
                #[allow(unused_imports)]
                use $crate::db::schema::sqlite as $s;
                let result = {
                    let $conn = &mut **pooled;
                    (|| $body)()
                };
                $crate::db::pool::settle(&mut pooled, &$db.reach, !$retry, result)
            }
            #[cfg(feature = "postgres")]
            $crate::db::store::Backend::Postgres(pool) => {
                #[allow(unused_imports)]
                use $crate::db::schema::postgres as $s;
                let mut attempt = 0;
                loop {
                    let mut pooled = $crate::db::pool::checkout(pool, &$db.reach)?;
                    let result = {
                        let $conn = &mut **pooled;
                        (|| $body)()
                    };
                    let result = $crate::db::pool::settle(&mut pooled, &$db.reach, !$retry, result);
                    // A connection the server dropped (a restart) is seen
                    // only when used: it is discarded on return, the pool
                    // checks the others, and a read is retried once.
                    if result.is_err() && $crate::db::pool::dropped(&mut **pooled) {
                        $db.reach.suspect();
                        if $retry && attempt == 0 {
                            attempt += 1;
                            continue;
                        }
                    }
                    break result;
                }
            }
            #[cfg(feature = "mysql")]
            $crate::db::store::Backend::Mysql(pool) => {
                let mut pooled = $crate::db::pool::checkout(pool, &$db.reach)?;
                #[allow(unused_imports)]
                use $crate::db::schema::mysql as $s;
                let result = {
                    let $conn = &mut **pooled;
                    (|| $body)()
                };
                $crate::db::pool::settle(&mut pooled, &$db.reach, !$retry, result)
            }
        }
    };
}

pub(crate) use with_conn;

impl Store {
    /// Makes the pool; connections are opened on first use (see
    /// [`Store::ping`]). `sqlite_mmap_size`: SQLite's `PRAGMA mmap_size`
    /// for every connection (0: off); other backends ignore it.
    pub fn open(url: &DatabaseUrl, pool_size: u32, tz: chrono_tz::Tz, sqlite_mmap_size: u64) -> Result<Store, DbError> {
        Store::open_with(url, pool_size, tz, sqlite_mmap_size, super::Pooler::None)
    }

    /// [`Store::open`] behind a connection pooler (`DATABASE_POOLER`;
    /// PostgreSQL only, the other backends ignore it).
    pub fn open_with(
        url: &DatabaseUrl,
        pool_size: u32,
        tz: chrono_tz::Tz,
        sqlite_mmap_size: u64,
        pooler: super::Pooler,
    ) -> Result<Store, DbError> {
        #[cfg(not(feature = "postgres"))]
        let _ = pooler;
        let reach = Arc::new(match url {
            DatabaseUrl::Sqlite(path) => {
                if let Err(e) = crate::runtime::sigbus::install() {
                    log::warn!("cannot install the SIGBUS handler for SQLite's -shm mapping: {e}");
                }
                Reachability::with_shm_gate(ShmGate::new(&path.to_string_lossy()))
            }
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            _ => Reachability::default(),
        });
        let backend = match url {
            DatabaseUrl::Sqlite(path) => {
                Backend::Sqlite(Sqlite::open(&path.to_string_lossy(), pool_size, sqlite_mmap_size, &reach)?)
            }
            // Queries may use cached generic plans; the one statement
            // whose plan changes an answer is planned as Django's is (see
            // `create_user`).
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(url) => Backend::Postgres(match pooler {
                super::Pooler::None => {
                    pool::pool(url, pool_size, "SET application_name = 'ledger-server'".into(), false, &reach, None)?
                }
                // Behind a transaction pooler a session's state is lost or
                // leaks to other clients: the name goes in the startup
                // packet (which PgBouncer keeps per client), and statements
                // are sent unprepared, each in one round trip.
                super::Pooler::Transaction => pool::pool(
                    &with_fallback_application_name(url),
                    pool_size,
                    String::new(),
                    false,
                    &reach,
                    Some(diesel::connection::CacheSize::Disabled),
                )?,
            }),
            // Django's MySQL OPTIONS: utf8mb4 and strict mode.
            #[cfg(feature = "mysql")]
            DatabaseUrl::Mysql(url) => Backend::Mysql(pool::pool(
                url,
                pool_size,
                "SET sql_mode = 'STRICT_TRANS_TABLES'".into(),
                true,
                &reach,
                None,
            )?),
        };
        Ok(Store { backend, tz, reach })
    }

    /// Connections the pool may hold.
    pub fn pool_size(&self) -> u32 {
        match &self.backend {
            Backend::Sqlite(sqlite) => sqlite.pool.max_size(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => pool.max_size(),
            #[cfg(feature = "mysql")]
            Backend::Mysql(pool) => pool.max_size(),
        }
    }

    /// The pool's `(max size, open connections, idle connections)`.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let state = |max: u32, s: diesel::r2d2::State| (max, s.connections, s.idle_connections);
        match &self.backend {
            Backend::Sqlite(sqlite) => state(sqlite.pool.max_size(), sqlite.pool.state()),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => state(pool.max_size(), pool.state()),
            #[cfg(feature = "mysql")]
            Backend::Mysql(pool) => state(pool.max_size(), pool.state()),
        }
    }

    /// The backend's name, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgresql",
            #[cfg(feature = "mysql")]
            Backend::Mysql(_) => "mysql",
        }
    }

    /// The SQLite parts, on SQLite.
    pub(crate) fn sqlite(&self) -> Option<&Sqlite> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Some(sqlite),
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            _ => None,
        }
    }

    /// SQLite: a commit outside the group commit added pages to the WAL.
    pub(crate) fn wrote(&self) {
        if let Some(sqlite) = self.sqlite() {
            sqlite.wrote();
        }
    }
}

/// `url` with `fallback_application_name=ledger-server` added: libpq sends
/// it as `application_name` in the startup packet unless the URL names one.
#[cfg(feature = "postgres")]
fn with_fallback_application_name(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}fallback_application_name=ledger-server")
}
