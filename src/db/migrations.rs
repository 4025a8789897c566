//! Migrations: `migrations/<backend>` create `users` and `tokens` as
//! Django's `manage.py migrate` does, embedded in the binary, applied under
//! a lock so that processes starting at once on one fresh database migrate
//! in turn.

#[cfg(feature = "mysql")]
use std::time::Duration;

use diesel::connection::SimpleConnection;
#[cfg(feature = "mysql")]
use diesel::mysql::MysqlConnection;
#[cfg(feature = "postgres")]
use diesel::pg::PgConnection;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::pool::checkout;
use super::store::{Backend, Store};
use super::DbError;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
#[cfg(feature = "postgres")]
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
#[cfg(feature = "mysql")]
pub const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// The PostgreSQL advisory lock held while migrating ("ledger-m" in ASCII).
#[cfg(feature = "postgres")]
const MIGRATION_LOCK_KEY: i64 = 0x6c65_6467_6572_2d6d;

impl Store {
    /// Applies pending migrations; returns the versions applied. Several
    /// processes starting on one fresh database at once migrate one after
    /// another (the later ones find nothing pending) instead of racing to
    /// create the same tables.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let run = |result: diesel::migration::Result<Vec<diesel::migration::MigrationVersion<'_>>>| {
            result.map(|v| v.iter().map(|v| v.to_string()).collect()).map_err(|e| DbError::Migration(e.to_string()))
        };
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                let mut conn = checkout(&sqlite.pool, &self.reach)?;
                // WAL lets readers run beside a writer; Django works with it as is.
                conn.batch_execute("PRAGMA journal_mode = WAL;")?;
                // BEGIN IMMEDIATE takes the write lock before reading what is
                // pending, so processes starting at once migrate in turn.
                let conn: &mut SqliteConnection = &mut conn;
                conn.immediate_transaction::<_, DbError, _>(|conn| run(conn.run_pending_migrations(SQLITE_MIGRATIONS)))
            }
            // PostgreSQL: a transaction-scoped advisory lock (DDL is
            // transactional), so that processes starting at once migrate in turn.
            #[cfg(feature = "postgres")]
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
            #[cfg(feature = "mysql")]
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
                    return Err(DbError::MigrationLock(Duration::from_secs(120)));
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
}
