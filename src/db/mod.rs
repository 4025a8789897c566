//! The database: Django's `users` and `tokens` tables on SQLite, PostgreSQL
//! or MySQL/MariaDB, the connection pool, migrations, and the handful of
//! queries the users app makes.
//!
//! Every query is written once and expanded for each backend by
//! [`with_conn!`]; comparisons (`email = ?`) run in the database, so they
//! follow its collation exactly as Django's do. Every function here is
//! synchronous; the HTTP layer runs them on a blocking pool, never on an
//! async worker.

pub mod schema;
mod url;

use std::time::Duration;

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use url::DatabaseUrl;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// How long a request waits for a pooled connection before failing.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Every SQLite connection waits up to 5 s on a lock held by another
/// connection or process, and enforces foreign keys as Django's does.
const SQLITE_ON_CONNECT: &str = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// A database failure; the HTTP layer answers it with Django's 500 page.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] DieselError),
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("migrations failed: {0}")]
    Migration(String),
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
    /// The user, fetched by `User.objects.get`.
    User(User),
}

/// What `Token.objects.get(user_id=...).delete()` does.
#[derive(Debug, PartialEq, Eq)]
pub enum LogoutOutcome {
    Deleted,
    /// `DoesNotExist` (500).
    NoToken,
    /// `MultipleObjectsReturned` (500): the user logged in more than once.
    Multiple,
}

/// Result of inserting a user.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    Created,
    /// The UNIQUE constraint refused the email (a concurrent signup won).
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
}

/// Per-connection settings, as Django's backends make them.
#[derive(Debug)]
struct OnConnect(&'static str);

impl<C: R2D2Connection + SimpleConnection + 'static> CustomizeConnection<C, diesel::r2d2::Error> for OnConnect {
    fn on_acquire(&self, conn: &mut C) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(self.0).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Runs `$body` with `$conn` bound to a pooled connection and `$s` to the
/// backend's schema module, once per backend.
macro_rules! with_conn {
    ($db:expr, $conn:ident, $s:ident => $body:block) => {
        match &$db.backend {
            Backend::Sqlite(pool) => {
                let mut pooled = checkout(pool)?;
                let $conn = &mut *pooled;
                #[allow(unused_imports)]
                use schema::sqlite as $s;
                $body
            }
            Backend::Postgres(pool) => {
                let mut pooled = checkout(pool)?;
                let $conn = &mut *pooled;
                #[allow(unused_imports)]
                use schema::postgres as $s;
                $body
            }
            Backend::Mysql(pool) => {
                let mut pooled = checkout(pool)?;
                let $conn = &mut *pooled;
                #[allow(unused_imports)]
                use schema::mysql as $s;
                $body
            }
        }
    };
}

fn checkout<C: R2D2Connection + 'static>(
    pool: &Pool<ConnectionManager<C>>,
) -> Result<PooledConnection<ConnectionManager<C>>, DbError> {
    pool.get().map_err(|e| DbError::Pool(e.to_string()))
}

/// `validate`: ping each connection as it leaves the pool, so one that a
/// restarted database server dropped is replaced instead of failing a
/// request. A SQLite connection is a local file handle: nothing to check.
fn pool<C: R2D2Connection + SimpleConnection + 'static>(
    url: &str,
    size: u32,
    on_connect: &'static str,
    validate: bool,
) -> Result<Pool<ConnectionManager<C>>, DbError> {
    Pool::builder()
        .max_size(size)
        .test_on_check_out(validate)
        .min_idle(Some(0))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .connection_customizer(Box::new(OnConnect(on_connect)))
        .build(ConnectionManager::<C>::new(url))
        .map_err(|e| DbError::Pool(e.to_string()))
}

impl Database {
    /// Makes the pool; connections are opened on first use (see [`Database::ping`]).
    pub fn open(url: &DatabaseUrl, pool_size: u32, tz: chrono_tz::Tz) -> Result<Database, DbError> {
        let backend = match url {
            DatabaseUrl::Sqlite(path) => Backend::Sqlite(pool(&path.to_string_lossy(), pool_size, SQLITE_ON_CONNECT, false)?),
            DatabaseUrl::Postgres(url) => Backend::Postgres(pool(url, pool_size, "SELECT 1", true)?),
            // Django's MySQL OPTIONS: utf8mb4 and strict mode.
            DatabaseUrl::Mysql(url) => Backend::Mysql(pool(url, pool_size, "SET sql_mode = 'STRICT_TRANS_TABLES'", true)?),
        };
        Ok(Database { backend, tz })
    }

    /// The backend's name, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgresql",
            Backend::Mysql(_) => "mysql",
        }
    }

    /// Whether a token `id` outside the 64-bit range raises in the original
    /// (Python's sqlite3 cannot bind it: 500) rather than simply finding no
    /// user (PostgreSQL and MySQL compare it as a number: 401).
    pub fn rejects_out_of_range_ids(&self) -> bool {
        matches!(self.backend, Backend::Sqlite(_))
    }

    /// Applies pending migrations; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let run = |result: diesel::migration::Result<Vec<diesel::migration::MigrationVersion<'_>>>| {
            result.map(|v| v.iter().map(|v| v.to_string()).collect()).map_err(|e| DbError::Migration(e.to_string()))
        };
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut conn = checkout(pool)?;
                // WAL lets readers run beside a writer; Django works with it as is.
                conn.batch_execute("PRAGMA journal_mode = WAL;")?;
                run(conn.run_pending_migrations(SQLITE_MIGRATIONS))
            }
            Backend::Postgres(pool) => run(checkout(pool)?.run_pending_migrations(POSTGRES_MIGRATIONS)),
            Backend::Mysql(pool) => run(checkout(pool)?.run_pending_migrations(MYSQL_MIGRATIONS)),
        }
    }

    /// Checks that the database answers.
    pub fn ping(&self) -> Result<(), DbError> {
        with_conn!(self, conn, _s => {
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
    }

    /// `log_in_confirm`'s checks in one query: the user, and whether a
    /// token row exists for it. The original makes three (`exists`,
    /// `exists`, `get`); one consistent read gives the same answers.
    pub fn guard_lookup(&self, user_id: i64) -> Result<GuardLookup, DbError> {
        with_conn!(self, conn, s => {
            let has_token = diesel::dsl::exists(s::tokens::table.filter(s::tokens::user_id.eq(user_id)));
            let row: Option<(i64, String, String, bool)> = s::users::table
                .filter(s::users::id.eq(user_id))
                .select((s::users::id, s::users::email, s::users::password, has_token))
                .first(conn)
                .optional()?;
            Ok(match row {
                None => GuardLookup::NoUser,
                Some((_, _, _, false)) => GuardLookup::NoToken,
                Some((id, email, password, true)) => GuardLookup::User(User { id, email, password }),
            })
        })
    }

    /// `User.objects.filter(email=email).exists()`.
    pub fn email_exists(&self, email: &str) -> Result<bool, DbError> {
        with_conn!(self, conn, s => {
            Ok(diesel::select(diesel::dsl::exists(s::users::table.filter(s::users::email.eq(email)))).get_result(conn)?)
        })
    }

    /// `User.objects.get(email=email)`, `None` for `DoesNotExist`.
    pub fn find_by_email(&self, email: &str) -> Result<Option<User>, DbError> {
        with_conn!(self, conn, s => {
            Ok(s::users::table
                .filter(s::users::email.eq(email))
                .select((s::users::id, s::users::email, s::users::password))
                .first::<User>(conn)
                .optional()?)
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
                diesel::insert_into(users::table)
                    .values((
                        users::created_at.eq(created),
                        users::updated_at.eq(updated),
                        users::email.eq(email),
                        users::password.eq(password_hash),
                    ))
                    .execute(&mut *checkout(pool)?)
            }
            Backend::Postgres(pool) => {
                // Django sends naive local time on a connection whose time
                // zone is TIME_ZONE: the same instant as now in UTC.
                use schema::postgres::users;
                let (created, updated) = (micros(Utc::now()), micros(Utc::now()));
                diesel::insert_into(users::table)
                    .values((
                        users::created_at.eq(created),
                        users::updated_at.eq(updated),
                        users::email.eq(email),
                        users::password.eq(password_hash),
                    ))
                    .execute(&mut *checkout(pool)?)
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
                    .execute(&mut *checkout(pool)?)
            }
        };
        match inserted {
            Ok(_) => Ok(Created::Created),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(Created::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    /// `Token.objects.create(user_id=..., token=...)`.
    pub fn add_token(&self, user_id: i64, token: &str) -> Result<(), DbError> {
        with_conn!(self, conn, s => {
            diesel::insert_into(s::tokens::table)
                .values((s::tokens::token.eq(token), s::tokens::user_id.eq(user_id)))
                .execute(conn)?;
            Ok(())
        })
    }

    /// `Token.objects.get(user_id=user_id).delete()`: Django's `get` reads
    /// the rows, raises unless there is exactly one, then deletes it by id.
    pub fn logout(&self, user_id: i64) -> Result<LogoutOutcome, DbError> {
        with_conn!(self, conn, s => {
            let ids: Vec<i64> =
                s::tokens::table.filter(s::tokens::user_id.eq(user_id)).select(s::tokens::id).limit(2).load(conn)?;
            match ids.as_slice() {
                [] => Ok(LogoutOutcome::NoToken),
                [id] => {
                    diesel::delete(s::tokens::table.find(*id)).execute(conn)?;
                    Ok(LogoutOutcome::Deleted)
                }
                _ => Ok(LogoutOutcome::Multiple),
            }
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
        let db = Database::open(&url, 2, chrono_tz::Asia::Seoul).unwrap();
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
        assert_eq!(db.logout(1).unwrap(), LogoutOutcome::NoToken);
        db.add_token(1, "t").unwrap();
        assert!(matches!(db.guard_lookup(1).unwrap(), GuardLookup::User(u) if u.email == "a@b.co"));
        assert_eq!(db.logout(1).unwrap(), LogoutOutcome::Deleted);
        db.add_token(1, "t").unwrap();
        db.add_token(1, "t").unwrap();
        assert_eq!(db.logout(1).unwrap(), LogoutOutcome::Multiple);
        // A token for a user that does not exist violates the foreign key.
        assert!(db.add_token(99, "t").is_err());
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let (_dir, db) = temp_db();
        assert!(db.migrate().unwrap().is_empty());
    }
}
