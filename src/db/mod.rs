//! The database: Django's `users` and `tokens` tables, the pool, migrations
//! and the handful of queries the users app makes.
//!
//! Every function here is synchronous; the HTTP layer runs them on actix's
//! blocking pool, never on an async worker.

pub mod schema;
mod url;

use std::time::Duration;

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use url::DatabaseUrl;

use schema::{tokens, users};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// How long a request waits for a pooled connection before failing.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits on a lock held by another connection or process.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5000;

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

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
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
    /// The user vanished between the checks: `DoesNotExist`, the 500 page.
    Vanished,
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

/// The connection pool plus what queries need to know.
#[derive(Clone)]
pub struct Database {
    pool: Pool<ConnectionManager<SqliteConnection>>,
    tz: chrono_tz::Tz,
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // Django turns foreign keys on for every SQLite connection.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Database {
    /// Opens the pool (connections are made lazily, checked on first use).
    pub fn open(url: &DatabaseUrl, pool_size: u32, tz: chrono_tz::Tz) -> Result<Database, DbError> {
        let DatabaseUrl::Sqlite(path) = url;
        let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .connection_customizer(Box::new(SqlitePragmas))
            .build(manager)
            .map_err(|e| DbError::Pool(e.to_string()))?;
        Ok(Database { pool, tz })
    }

    fn conn(&self) -> Result<PooledConnection<ConnectionManager<SqliteConnection>>, DbError> {
        self.pool.get().map_err(|e| DbError::Pool(e.to_string()))
    }

    /// Applies pending migrations; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.conn()?;
        // WAL lets readers run beside a writer; Django works with it as is.
        conn.batch_execute("PRAGMA journal_mode = WAL;")?;
        let applied =
            conn.run_pending_migrations(MIGRATIONS).map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(applied.iter().map(|v| v.to_string()).collect())
    }

    /// Checks that the database answers.
    pub fn ping(&self) -> Result<(), DbError> {
        self.conn()?.batch_execute("SELECT 1;")?;
        Ok(())
    }

    /// `log_in_confirm`'s three queries: user exists, a token row exists,
    /// then `User.objects.get`.
    pub fn guard_lookup(&self, user_id: i64) -> Result<GuardLookup, DbError> {
        let mut conn = self.conn()?;
        let user_exists: bool =
            diesel::select(diesel::dsl::exists(users::table.filter(users::id.eq(user_id)))).get_result(&mut conn)?;
        if !user_exists {
            return Ok(GuardLookup::NoUser);
        }
        let token_exists: bool =
            diesel::select(diesel::dsl::exists(tokens::table.filter(tokens::user_id.eq(user_id))))
                .get_result(&mut conn)?;
        if !token_exists {
            return Ok(GuardLookup::NoToken);
        }
        let user = users::table.find(user_id).select(User::as_select()).first(&mut conn).optional()?;
        Ok(user.map(GuardLookup::User).unwrap_or(GuardLookup::Vanished))
    }

    /// `User.objects.filter(email=email).exists()`.
    pub fn email_exists(&self, email: &str) -> Result<bool, DbError> {
        let mut conn = self.conn()?;
        Ok(diesel::select(diesel::dsl::exists(users::table.filter(users::email.eq(email)))).get_result(&mut conn)?)
    }

    /// `User.objects.get(email=email)`, `None` for `DoesNotExist`.
    pub fn find_by_email(&self, email: &str) -> Result<Option<User>, DbError> {
        let mut conn = self.conn()?;
        Ok(users::table.filter(users::email.eq(email)).select(User::as_select()).first(&mut conn).optional()?)
    }

    /// `User.objects.create(email=..., password=...)`, with both timestamps
    /// taken as Django takes them (two separate `now()` calls).
    pub fn create_user(&self, email: &str, password_hash: &str) -> Result<Created, DbError> {
        let mut conn = self.conn()?;
        let created_at = self.now();
        let updated_at = self.now();
        let inserted = diesel::insert_into(users::table)
            .values((
                users::created_at.eq(created_at),
                users::updated_at.eq(updated_at),
                users::email.eq(email),
                users::password.eq(password_hash),
            ))
            .execute(&mut conn);
        match inserted {
            Ok(_) => Ok(Created::Created),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(Created::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    /// `Token.objects.create(user_id=..., token=...)`.
    pub fn add_token(&self, user_id: i64, token: &str) -> Result<(), DbError> {
        let mut conn = self.conn()?;
        diesel::insert_into(tokens::table)
            .values((tokens::token.eq(token), tokens::user_id.eq(user_id)))
            .execute(&mut conn)?;
        Ok(())
    }

    /// `Token.objects.get(user_id=user_id).delete()`: deletes the one row,
    /// or reports why Django's `get` would raise. Atomic, so a concurrent
    /// login or logout cannot slip between the check and the delete.
    pub fn logout(&self, user_id: i64) -> Result<LogoutOutcome, DbError> {
        let mut conn = self.conn()?;
        conn.immediate_transaction(|conn| {
            let ids: Vec<i64> =
                tokens::table.filter(tokens::user_id.eq(user_id)).select(tokens::id).limit(2).load(conn)?;
            match ids.as_slice() {
                [] => Ok(LogoutOutcome::NoToken),
                [id] => {
                    diesel::delete(tokens::table.find(*id)).execute(conn)?;
                    Ok(LogoutOutcome::Deleted)
                }
                _ => Ok(LogoutOutcome::Multiple),
            }
        })
    }

    /// Django's `datetime.now()` under `USE_TZ = False`: naive wall-clock
    /// time in `TIME_ZONE`, written as `str(datetime)` (no fraction when the
    /// microseconds are zero).
    fn now(&self) -> String {
        format_naive(Utc::now().with_timezone(&self.tz).naive_local())
    }
}

/// `str(datetime)` of a naive datetime, as Django's SQLite backend stores it.
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
