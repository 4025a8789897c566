//! The database: Django's `users` and `tokens` tables on SQLite, PostgreSQL
//! or MySQL/MariaDB, the connection pool, migrations, and the handful of
//! queries the users app makes.
//!
//! Every query is written once and expanded for each backend by
//! [`with_conn!`]; comparisons (`email = ?`) run in the database, so they
//! follow its collation exactly as Django's do. Every function here is
//! synchronous; the HTTP layer runs them on a blocking pool, never on an
//! async worker.

mod checkpoint;
mod group_commit;
pub mod schema;
mod url;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError, Pool, PooledConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use group_commit::Pending;
pub use url::{redact_url, DatabaseUrl};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// How long a request waits for a pooled connection before failing, when
/// every connection is busy.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// While the database server refuses connections, a request waits this long
/// for one before failing (Django, which connects per request, fails at
/// once), instead of the whole [`CHECKOUT_TIMEOUT`].
const UNREACHABLE_WAIT: Duration = Duration::from_millis(100);
/// r2d2 retries a failed connection attempt in the background after 0.2 s,
/// 0.4 s, … up to half of this: the longest a recovered database waits for
/// the pool to notice it.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The PostgreSQL advisory lock held while migrating ("ledger-m" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6c65_6467_6572_2d6d;
/// Every SQLite connection waits up to 5 s on a lock held by another
/// connection or process, and enforces foreign keys as Django's does. Its
/// page cache is 256 KiB instead of 2 MiB: the interior pages of both
/// tables' B-trees fit, and a bigger cache does not hold the leaf pages a
/// large database's requests touch anyway (the kernel's page cache does);
/// measured as fast on 1 thousand and 1 million rows, with 7 MiB less RSS.
const SQLITE_ON_CONNECT: &str = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -256;";

/// A database failure; the HTTP layer answers it with Django's 500 page.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] DieselError),
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("migrations failed: {0}")]
    Migration(String),
    /// A failure shared by every request of one group commit.
    #[error("{0}")]
    Shared(String),
}

/// A row of `users` (without the timestamps, which nothing reads).
#[derive(Debug, Clone, Queryable)]
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

#[derive(Clone)]
enum Backend {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Postgres(Pool<ConnectionManager<PgConnection>>),
    Mysql(Pool<ConnectionManager<MysqlConnection>>),
}

/// The connection pool plus what queries need to know.
#[derive(Clone)]
pub struct Database {
    backend: Backend,
    tz: chrono_tz::Tz,
    reach: Arc<Reachability>,
    /// SQLite only: logouts are committed in groups ([`group_commit`]).
    group_commit: Option<Arc<group_commit::GroupCommit>>,
    /// SQLite only: WAL checkpoints off the committing threads ([`checkpoint`]).
    checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

/// Whether the database server accepted the pool's latest connection
/// attempt: `Some(error)` from a refused attempt until one succeeds.
#[derive(Debug, Default)]
struct Reachability {
    refused: Mutex<Option<String>>,
    /// Until when pooled connections are checked before use: set when a
    /// request found its connection dropped by the server (a restart drops
    /// them all). Checking every checkout always would cost a round trip
    /// per query.
    suspect_until: Mutex<Option<Instant>>,
}

/// How long after a dropped connection every checkout is checked.
const SUSPECT_WINDOW: Duration = Duration::from_secs(10);

impl Reachability {
    fn suspect(&self) {
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

    fn set(&self, refused: Option<String>) {
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
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs `$body` with `$conn` bound to a pooled connection and `$s` to the
/// backend's schema module, once per backend. `read_only` bodies are safe
/// to run again: on PostgreSQL one that failed on a dropped connection is
/// retried once on another.
macro_rules! with_conn {
    ($db:expr, $conn:ident, $s:ident => $body:block) => {
        with_conn!($db, $conn, $s, false => $body)
    };
    ($db:expr, $conn:ident, $s:ident, read_only => $body:block) => {
        with_conn!($db, $conn, $s, true => $body)
    };
    ($db:expr, $conn:ident, $s:ident, $retry:literal => $body:block) => {
        match &$db.backend {
            Backend::Sqlite(pool) => {
                let mut pooled = checkout(pool, &$db.reach)?;
                let $conn = &mut *pooled;
                #[allow(unused_imports)]
                use schema::sqlite as $s;
                $body
            }
            Backend::Postgres(pool) => {
                #[allow(unused_imports)]
                use schema::postgres as $s;
                let mut attempt = 0;
                loop {
                    let mut pooled = checkout(pool, &$db.reach)?;
                    let result = {
                        let $conn = &mut *pooled;
                        (|| $body)()
                    };
                    // A connection the server dropped (a restart) is seen
                    // only when used: it is discarded on return, the pool
                    // checks the others, and a read is retried once.
                    if result.is_err() && dropped(&mut *pooled) {
                        $db.reach.suspect();
                        if $retry && attempt == 0 {
                            attempt += 1;
                            continue;
                        }
                    }
                    break result;
                }
            }
            Backend::Mysql(pool) => {
                let mut pooled = checkout(pool, &$db.reach)?;
                let $conn = &mut *pooled;
                #[allow(unused_imports)]
                use schema::mysql as $s;
                $body
            }
        }
    };
}

/// Whether the server has dropped this connection; if so it is marked
/// broken, so that the pool discards it when it is returned. diesel marks a
/// PostgreSQL connection broken only when a statement *executes* on it: one
/// that fails while being *prepared* (the first use of a query on that
/// connection) leaves it looking healthy, and the pool would hand the dead
/// connection out again and again. A plain `SELECT 1` (no preparing)
/// settles it, at the cost of a round trip after a failure only.
fn dropped<C: R2D2Connection + SimpleConnection>(conn: &mut C) -> bool {
    conn.is_broken() || (conn.batch_execute("SELECT 1").is_err() && conn.is_broken())
}

/// A pooled connection: waits up to [`CHECKOUT_TIMEOUT`] for one while all
/// are busy, but only [`UNREACHABLE_WAIT`] while the database server
/// refuses new ones (r2d2 alone would make every request wait the whole
/// timeout for a server that is down). r2d2 keeps retrying in the
/// background, so the pool recovers by itself when the server is back.
fn checkout<C: R2D2Connection + SimpleConnection + 'static>(
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
                    return Err(DbError::Pool("no working database connection".into()));
                }
            }
            Err(e) => {
                if let Some(refused) = reach.refused() {
                    return Err(DbError::Pool(format!("database unreachable: {refused}")));
                }
                if started.elapsed() >= CHECKOUT_TIMEOUT {
                    return Err(DbError::Pool(one_line(&e.to_string())));
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
fn pool<C: R2D2Connection + SimpleConnection + 'static>(
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
        .map_err(|e| DbError::Pool(e.to_string()))
}

impl Database {
    /// Makes the pool; connections are opened on first use (see [`Database::ping`]).
    /// `sqlite_mmap_size`: SQLite's `PRAGMA mmap_size` for every connection
    /// (0: off); other backends ignore it.
    pub fn open(
        url: &DatabaseUrl,
        pool_size: u32,
        tz: chrono_tz::Tz,
        sqlite_mmap_size: u64,
    ) -> Result<Database, DbError> {
        let reach = Arc::new(Reachability::default());
        let mut group_commit = None;
        let mut checkpointer = None;
        let backend = match url {
            DatabaseUrl::Sqlite(path) => {
                // plus the mapping asked for, and each connection's own
                // checkpoints left to the background thread ([`checkpoint`])
                let on_connect = format!(
                    "{SQLITE_ON_CONNECT} PRAGMA mmap_size = {sqlite_mmap_size}; PRAGMA wal_autocheckpoint = {};",
                    checkpoint::AUTOCHECKPOINT_PAGES
                );
                let pool = pool(&path.to_string_lossy(), pool_size, on_connect, false, &reach)?;
                let background = checkpoint::Checkpointer::start(pool.clone(), reach.clone())
                    .map_err(|e| DbError::Pool(format!("cannot start the SQLite checkpoint thread: {e}")))?;
                let background = Arc::new(background);
                let committer = group_commit::GroupCommit::start(pool.clone(), reach.clone(), background.clone())
                    .map_err(|e| DbError::Pool(format!("cannot start the SQLite commit thread: {e}")))?;
                group_commit = Some(Arc::new(committer));
                checkpointer = Some(background);
                Backend::Sqlite(pool)
            }
            // Queries may use cached generic plans; the one statement
            // whose plan changes an answer is planned as Django's is (see
            // `create_user`).
            DatabaseUrl::Postgres(url) => {
                Backend::Postgres(pool(url, pool_size, "SET application_name = 'ledger-server'".into(), false, &reach)?)
            }
            // Django's MySQL OPTIONS: utf8mb4 and strict mode.
            DatabaseUrl::Mysql(url) => {
                Backend::Mysql(pool(url, pool_size, "SET sql_mode = 'STRICT_TRANS_TABLES'".into(), true, &reach)?)
            }
        };
        Ok(Database { backend, tz, reach, group_commit, checkpointer })
    }

    /// Connections the pool may hold.
    pub fn pool_size(&self) -> u32 {
        match &self.backend {
            Backend::Sqlite(pool) => pool.max_size(),
            Backend::Postgres(pool) => pool.max_size(),
            Backend::Mysql(pool) => pool.max_size(),
        }
    }

    /// The backend's name, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgresql",
            Backend::Mysql(_) => "mysql",
        }
    }

    /// Whether database calls are local work on this machine (SQLite) rather
    /// than round trips to a server that many can wait on at once.
    pub fn is_embedded(&self) -> bool {
        matches!(self.backend, Backend::Sqlite(_))
    }

    /// Whether a token `id` outside the 64-bit range raises in the original
    /// (Python's sqlite3 cannot bind it: 500) rather than simply finding no
    /// user (PostgreSQL and MySQL compare it as a number: 401).
    pub fn rejects_out_of_range_ids(&self) -> bool {
        matches!(self.backend, Backend::Sqlite(_))
    }

    /// Applies pending migrations; returns the versions applied. Several
    /// processes starting on one fresh database at once migrate one after
    /// another (the later ones find nothing pending) instead of racing to
    /// create the same tables.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let run = |result: diesel::migration::Result<Vec<diesel::migration::MigrationVersion<'_>>>| {
            result.map(|v| v.iter().map(|v| v.to_string()).collect()).map_err(|e| DbError::Migration(e.to_string()))
        };
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut conn = checkout(pool, &self.reach)?;
                // WAL lets readers run beside a writer; Django works with it as is.
                conn.batch_execute("PRAGMA journal_mode = WAL;")?;
                // BEGIN IMMEDIATE takes the write lock before reading what is
                // pending, so processes starting at once migrate in turn.
                let conn: &mut SqliteConnection = &mut conn;
                conn.immediate_transaction::<_, DbError, _>(|conn| run(conn.run_pending_migrations(SQLITE_MIGRATIONS)))
            }
            // PostgreSQL: a transaction-scoped advisory lock (DDL is
            // transactional), so that processes starting at once migrate in turn.
            Backend::Postgres(pool) => {
                let mut pooled = checkout(pool, &self.reach)?;
                let conn: &mut PgConnection = &mut pooled;
                conn.transaction::<_, DbError, _>(|conn| {
                    conn.batch_execute(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))?;
                    run(conn.run_pending_migrations(POSTGRES_MIGRATIONS))
                })
            }
            // MySQL commits DDL implicitly: a named lock for this database,
            // released on every path (and by the server if the connection dies).
            Backend::Mysql(pool) => {
                use diesel::dsl::sql;
                use diesel::sql_types::{BigInt, Nullable};
                const LOCK: &str = "CONCAT('ledger-server:migrate:', MD5(IFNULL(DATABASE(), '')))";
                let mut pooled = checkout(pool, &self.reach)?;
                let conn: &mut MysqlConnection = &mut pooled;
                let locked: Option<i64> =
                    diesel::select(sql::<Nullable<BigInt>>(&format!("CAST(GET_LOCK({LOCK}, 120) AS SIGNED)")))
                        .get_result(conn)?;
                if locked != Some(1) {
                    return Err(DbError::Migration("another process held the migration lock for 120 s".into()));
                }
                let applied = run(conn.run_pending_migrations(MYSQL_MIGRATIONS));
                let released =
                    diesel::select(sql::<Nullable<BigInt>>(&format!("CAST(RELEASE_LOCK({LOCK}) AS SIGNED)")))
                        .get_result::<Option<i64>>(conn);
                let applied = applied?;
                released?;
                Ok(applied)
            }
        }
    }

    /// Checks that the database answers.
    pub fn ping(&self) -> Result<(), DbError> {
        with_conn!(self, conn, _s => {
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
    }

    /// `log_in_confirm`'s checks in one query: the user and its token
    /// rows. The original makes three (`exists`, `exists`, `get`), and the
    /// logout view a fourth (`Token.objects.get`); one consistent read gives
    /// the same answers.
    pub fn guard_lookup(&self, user_id: i64) -> Result<GuardLookup, DbError> {
        with_conn!(self, conn, s, read_only => {
            // One row per token row, or one with no token id. No LIMIT: a
            // bound LIMIT makes SQLite re-prepare the cached statement on
            // every call, and a user has as many rows as unspent logins.
            // Only ids: PostgreSQL then answers from the two indexes
            // (an index-only scan of users_pkey) without visiting the
            // users table, whose pages a big database cannot keep cached.
            let rows: Vec<(i64, Option<i64>)> = s::users::table
                .left_join(s::tokens::table)
                .filter(s::users::id.eq(user_id))
                .select((s::users::id, s::tokens::id.nullable()))
                .load(conn)?;
            let tokens = match rows.as_slice() {
                [] => return Ok(GuardLookup::NoUser),
                [(_, None)] => return Ok(GuardLookup::NoToken),
                [(_, Some(token))] => TokenRows::One(*token),
                _ => TokenRows::Several,
            };
            Ok(GuardLookup::User(rows[0].0, tokens))
        })
    }

    /// `User.objects.filter(email=email).exists()`.
    pub fn email_exists(&self, email: &str) -> Result<bool, DbError> {
        with_conn!(self, conn, s, read_only => {
            Ok(diesel::select(diesel::dsl::exists(s::users::table.filter(s::users::email.eq(email)))).get_result(conn)?)
        })
    }

    /// `User.objects.get(email=email)`, `None` for `DoesNotExist`.
    pub fn find_by_email(&self, email: &str) -> Result<Option<User>, DbError> {
        with_conn!(self, conn, s, read_only => {
            // At most one row (UNIQUE email, under the database's collation).
            Ok(s::users::table
                .filter(s::users::email.eq(email))
                .select((s::users::id, s::users::email, s::users::password))
                .load::<User>(conn)?
                .into_iter()
                .next())
        })
    }

    /// `User.objects.create(email=..., password=...)`, with both timestamps
    /// taken as Django takes them (two separate `now()` calls) and stored
    /// as Django stores them under `USE_TZ = False`.
    pub fn create_user(&self, email: &str, password_hash: &str) -> Result<Created, DbError> {
        let inserted = match &self.backend {
            Backend::Sqlite(pool) => {
                use schema::sqlite::users;
                let (created, updated) = (format_naive(self.local_now()), format_naive(self.local_now()));
                let inserted = diesel::insert_into(users::table)
                    .values((
                        users::created_at.eq(created),
                        users::updated_at.eq(updated),
                        users::email.eq(email),
                        users::password.eq(password_hash),
                    ))
                    .execute(&mut *checkout(pool, &self.reach)?);
                self.wrote();
                inserted
            }
            Backend::Postgres(pool) => {
                // Django sends naive local time on a connection whose time
                // zone is TIME_ZONE: the same instant as now in UTC.
                use schema::postgres::users;
                let (created, updated) = (micros(Utc::now()), micros(Utc::now()));
                // psycopg2 interpolates values, so PostgreSQL plans each of
                // Django's statements with them: a value too long for its
                // varchar fails at planning, before the id default (nextval)
                // runs. A cached generic plan would fail at execution, after
                // nextval, and later ids would differ: this insert is always
                // planned with its values.
                checkout(pool, &self.reach)?.transaction(|conn| {
                    conn.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")?;
                    diesel::insert_into(users::table)
                        .values((
                            users::created_at.eq(created),
                            users::updated_at.eq(updated),
                            users::email.eq(email),
                            users::password.eq(password_hash),
                        ))
                        .execute(conn)
                })
            }
            Backend::Mysql(pool) => {
                use schema::mysql::users;
                let (created, updated) = (self.local_now(), self.local_now());
                diesel::insert_into(users::table)
                    .values((
                        users::created_at.eq(created),
                        users::updated_at.eq(updated),
                        users::email.eq(email),
                        users::password.eq(password_hash),
                    ))
                    .execute(&mut *checkout(pool, &self.reach)?)
            }
        };
        match inserted {
            Ok(_) => Ok(Created::Created),
            // A concurrent signup of the same email won the race: the
            // answer a moment later would have been EMAIL_ALREADY_EXISTS.
            // Any other collision (MySQL silently cutting an over-long email
            // to the length of one that exists) is Django's IntegrityError.
            Err(e @ DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                if self.email_exists(email)? {
                    Ok(Created::Duplicate)
                } else {
                    Err(e.into())
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `Token.objects.create(user_id=..., token=...)`.
    pub fn add_token(&self, user_id: i64, token: &str) -> Result<(), DbError> {
        if let Backend::Postgres(pool) = &self.backend {
            // A token longer than the column (HS384/HS512, ids of 8 digits
            // and more) fails as Django's does, before nextval: see `create_user`.
            use schema::postgres as s;
            checkout(pool, &self.reach)?.transaction(|conn| {
                conn.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")?;
                diesel::insert_into(s::tokens::table)
                    .values((s::tokens::token.eq(token), s::tokens::user_id.eq(user_id)))
                    .execute(conn)
            })?;
            return Ok(());
        }
        let inserted = with_conn!(self, conn, s => {
            diesel::insert_into(s::tokens::table)
                .values((s::tokens::token.eq(token), s::tokens::user_id.eq(user_id)))
                .execute(conn)?;
            Ok(())
        });
        self.wrote();
        inserted
    }

    /// SQLite: a commit outside the group commit added pages to the WAL.
    fn wrote(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.wrote();
        }
    }

    /// SQLite: queues the deletion of a token row for the next group
    /// commit; the receiver gets the outcome once it is on disk. `None` on
    /// the other backends, whose servers take concurrent writers: use
    /// [`Database::delete_token`].
    pub fn queue_delete_token(&self, token_id: i64) -> Option<Pending> {
        self.group_commit.as_ref().map(|committer| committer.delete_token(token_id))
    }

    /// The `.delete()` of `Token.objects.get(...).delete()`: by primary key;
    /// a row already gone (a concurrent logout) is no error, as in Django.
    /// On SQLite it waits for its group commit (call it off the async workers).
    pub fn delete_token(&self, token_id: i64) -> Result<(), DbError> {
        if let Some(pending) = self.queue_delete_token(token_id) {
            return pending
                .blocking_recv()
                .map_err(|_| DbError::Shared("the SQLite commit thread has stopped".into()))?;
        }
        with_conn!(self, conn, s => {
            diesel::delete(s::tokens::table.find(token_id)).execute(conn)?;
            Ok(())
        })
    }

    /// Django's `datetime.now()` under `USE_TZ = False`: naive wall-clock
    /// time in `TIME_ZONE`, to the microsecond.
    fn local_now(&self) -> chrono::NaiveDateTime {
        micros(Utc::now()).with_timezone(&self.tz).naive_local()
    }
}

/// Python's datetimes carry microseconds, not nanoseconds.
fn micros(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// `str(datetime)` of a naive datetime, as Django's SQLite backend stores it
/// (no fraction when the microseconds are zero).
pub fn format_naive(t: chrono::NaiveDateTime) -> String {
    use chrono::Timelike;
    let micros = t.nanosecond() / 1000 % 1_000_000;
    if micros == 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        format!("{}.{micros:06}", t.format("%Y-%m-%d %H:%M:%S"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_django_str() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap().and_hms_micro_opt(13, 19, 16, 785559).unwrap();
        assert_eq!(format_naive(t), "2026-11-27 13:19:16.785559");
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap().and_hms_micro_opt(3, 4, 5, 0).unwrap();
        assert_eq!(format_naive(t), "2026-01-02 03:04:05");
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap().and_hms_micro_opt(3, 4, 5, 7).unwrap();
        assert_eq!(format_naive(t), "2026-01-02 03:04:05.000007");
    }

    fn temp_db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(dir.path().join("t.sqlite3").to_str().unwrap()).unwrap();
        let db = Database::open(&url, 2, chrono_tz::Asia::Seoul, 0).unwrap();
        db.migrate().unwrap();
        (dir, db)
    }

    #[test]
    fn users_tokens_and_logout_outcomes() {
        let (_dir, db) = temp_db();
        assert_eq!(db.create_user("a@b.co", "$2b$12$x").unwrap(), Created::Created);
        assert_eq!(db.create_user("a@b.co", "$2b$12$y").unwrap(), Created::Duplicate);
        assert!(db.email_exists("a@b.co").unwrap());
        assert!(!db.email_exists("A@b.co").unwrap());
        let user = db.find_by_email("a@b.co").unwrap().unwrap();
        assert_eq!(user.id, 1);
        assert!(matches!(db.guard_lookup(2).unwrap(), GuardLookup::NoUser));
        assert!(matches!(db.guard_lookup(1).unwrap(), GuardLookup::NoToken));
        db.add_token(1, "t").unwrap();
        let GuardLookup::User(u, TokenRows::One(token)) = db.guard_lookup(1).unwrap() else { panic!("one token") };
        assert_eq!(u, 1);
        db.delete_token(token).unwrap();
        assert!(matches!(db.guard_lookup(1).unwrap(), GuardLookup::NoToken));
        // Deleting a row that is already gone is no error (Django's delete()).
        db.delete_token(token).unwrap();
        db.add_token(1, "t").unwrap();
        db.add_token(1, "t").unwrap();
        assert!(matches!(db.guard_lookup(1).unwrap(), GuardLookup::User(_, TokenRows::Several)));
        // A token for a user that does not exist violates the foreign key.
        assert!(db.add_token(99, "t").is_err());
    }

    #[derive(QueryableByName)]
    struct MmapSize {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        mmap_size: i64,
    }

    fn mmap_size_of_a_connection(db: &Database) -> i64 {
        let Backend::Sqlite(pool) = &db.backend else { panic!("not SQLite") };
        let mut conn = pool.get().unwrap();
        diesel::sql_query("PRAGMA mmap_size").get_result::<MmapSize>(&mut conn).unwrap().mmap_size
    }

    /// SQLITE_MMAP_SIZE reaches every pooled connection; 0 leaves mapping off.
    #[test]
    fn sqlite_mmap_size_applies_to_connections() {
        let (_dir, db) = temp_db();
        assert_eq!(mmap_size_of_a_connection(&db), 0);
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(dir.path().join("m.sqlite3").to_str().unwrap()).unwrap();
        let db = Database::open(&url, 2, chrono_tz::Asia::Seoul, 64 << 20).unwrap();
        db.migrate().unwrap();
        assert_eq!(mmap_size_of_a_connection(&db), 64 << 20);
        assert!(matches!(db.guard_lookup(1).unwrap(), GuardLookup::NoUser));
    }

    /// Nothing listens on port 1: each request fails at once, as Django's
    /// do, instead of waiting for the pool's checkout timeout.
    #[test]
    fn an_unreachable_server_fails_requests_fast() {
        let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:1/none").unwrap();
        let db = Database::open(&url, 2, chrono_tz::Asia::Seoul, 0).unwrap();
        for attempt in 0..3 {
            let started = Instant::now();
            let error = db.ping().unwrap_err().to_string();
            assert!(started.elapsed() < CHECKOUT_TIMEOUT / 2, "attempt {attempt} took {:?}", started.elapsed());
            assert!(error.contains("database unreachable") && !error.contains('\n'), "{error}");
        }
    }

    fn token_of(db: &Database, user_id: i64) -> i64 {
        match db.guard_lookup(user_id).unwrap() {
            GuardLookup::User(_, TokenRows::One(token)) => token,
            other => panic!("user {user_id}: {other:?}"),
        }
    }

    /// `n` users, each with one token row; their token ids.
    fn users_with_tokens(db: &Database, n: i64) -> Vec<i64> {
        for i in 0..n {
            db.create_user(&format!("u{i}@b.co"), "$2b$12$x").unwrap();
            db.add_token(i + 1, "t").unwrap();
        }
        (1..=n).map(|id| token_of(db, id)).collect()
    }

    /// Logouts queued together commit together: each deletes its row, and
    /// a row deleted twice in one group (two logouts of one session at
    /// once) is no error, as in Django.
    #[test]
    fn sqlite_group_commit_deletes_every_queued_row() {
        let (_dir, db) = temp_db();
        let tokens = users_with_tokens(&db, 40);
        let mut pending: Vec<Pending> = tokens.iter().map(|t| db.queue_delete_token(*t).unwrap()).collect();
        pending.push(db.queue_delete_token(tokens[6]).unwrap());
        for p in pending {
            p.blocking_recv().unwrap().unwrap();
        }
        for id in 1..=40 {
            assert!(matches!(db.guard_lookup(id).unwrap(), GuardLookup::NoToken), "user {id}");
        }
    }

    /// While another connection holds the write lock past `busy_timeout`,
    /// the queued deletions fail (500) and change nothing; afterwards they work.
    #[test]
    fn sqlite_group_commit_fails_whole_and_recovers() {
        let (dir, db) = temp_db();
        let tokens = users_with_tokens(&db, 3);
        let mut other = SqliteConnection::establish(dir.path().join("t.sqlite3").to_str().unwrap()).unwrap();
        other.batch_execute("BEGIN IMMEDIATE").unwrap();
        let pending: Vec<Pending> = tokens.iter().map(|t| db.queue_delete_token(*t).unwrap()).collect();
        for p in pending {
            let error = p.blocking_recv().unwrap().unwrap_err().to_string();
            assert!(error.contains("locked"), "{error}");
        }
        other.batch_execute("ROLLBACK").unwrap();
        for (id, token) in (1..=3).zip(tokens) {
            assert_eq!(token_of(&db, id), token, "user {id} lost its token");
            db.delete_token(token).unwrap();
            assert!(matches!(db.guard_lookup(id).unwrap(), GuardLookup::NoToken), "user {id}");
        }
    }

    /// A logout reaches the main database file (not only the WAL) soon
    /// after its commit, through the background checkpoint: each
    /// connection's own automatic checkpoint would wait for 10,000 pages.
    #[test]
    fn sqlite_checkpoints_in_the_background() {
        let (dir, db) = temp_db();
        let tokens = users_with_tokens(&db, 3);
        db.delete_token(tokens[1]).unwrap();
        let main_file_alone = dir.path().join("copy.sqlite3");
        let started = Instant::now();
        let left = loop {
            // the main file without its WAL: what a checkpoint has copied
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", main_file_alone.display()));
            }
            std::fs::copy(dir.path().join("t.sqlite3"), &main_file_alone).unwrap();
            let counted = SqliteConnection::establish(main_file_alone.to_str().unwrap())
                .ok()
                .and_then(|mut conn| schema::sqlite::tokens::table.count().get_result::<i64>(&mut conn).ok());
            if counted == Some(2) || started.elapsed() > Duration::from_secs(5) {
                break counted;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(left, Some(2), "the deletion never reached the main database file");
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let (_dir, db) = temp_db();
        assert!(db.migrate().unwrap().is_empty());
    }
}
