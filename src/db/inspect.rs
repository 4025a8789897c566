//! Read-only introspection for `ledger-server check`: the rows of a
//! catalog query (`PRAGMA`, `information_schema`, `pg_catalog`, or a
//! `SELECT` of the tables), as text, and the migrations embedded in the
//! binary. Nothing here writes: no migration bookkeeping table is created
//! (diesel's `MigrationHarness` would create `__diesel_schema_migrations`).

use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::store::{with_conn, Backend, Store};
use super::{Database, DbError};

/// The columns an introspection query selects, as text, named `c0` … `c5`
/// (pad the select list with `NULL`s: see [`Database::inspect`]).
pub const INSPECT_COLUMNS: usize = 6;

/// One row of an introspection query.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct InspectRow {
    #[diesel(sql_type = Nullable<Text>)]
    pub c0: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c2: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c3: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c4: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c5: Option<String>,
}

impl InspectRow {
    /// Column `i` (0-based), `""` for NULL or out of range.
    pub fn get(&self, i: usize) -> &str {
        let c = match i {
            0 => &self.c0,
            1 => &self.c1,
            2 => &self.c2,
            3 => &self.c3,
            4 => &self.c4,
            5 => &self.c5,
            _ => &None,
        };
        c.as_deref().unwrap_or("")
    }

    pub fn is_null(&self, i: usize) -> bool {
        match i {
            0 => self.c0.is_none(),
            1 => self.c1.is_none(),
            2 => self.c2.is_none(),
            3 => self.c3.is_none(),
            4 => self.c4.is_none(),
            5 => self.c5.is_none(),
            _ => true,
        }
    }
}

impl Store {
    fn inspect(&self, sql: &str) -> Result<Vec<InspectRow>, DbError> {
        with_conn!(self, conn, _s, read_only => {
            Ok(diesel::sql_query(sql).load::<InspectRow>(conn)?)
        })
    }

    fn embedded_migrations(&self) -> Result<Vec<String>, DbError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
        let versions = match &self.backend {
            Backend::Sqlite(_) => {
                MigrationSource::<diesel::sqlite::Sqlite>::migrations(&super::migrations::SQLITE_MIGRATIONS)
                    .map_err(err)?
                    .iter()
                    .map(|m| m.name().version().to_string())
                    .collect()
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => {
                MigrationSource::<diesel::pg::Pg>::migrations(&super::migrations::POSTGRES_MIGRATIONS)
                    .map_err(err)?
                    .iter()
                    .map(|m| m.name().version().to_string())
                    .collect()
            }
            #[cfg(feature = "mysql")]
            Backend::Mysql(_) => {
                MigrationSource::<diesel::mysql::Mysql>::migrations(&super::migrations::MYSQL_MIGRATIONS)
                    .map_err(err)?
                    .iter()
                    .map(|m| m.name().version().to_string())
                    .collect()
            }
        };
        Ok(versions)
    }
}

impl Database {
    /// The rows of a read-only catalog query whose select list names
    /// exactly `c0` … `c5` as text (cast each value; `NULL` pads). For
    /// `ledger-server check`, which writes nothing: pass only `SELECT`s
    /// and `PRAGMA` table functions.
    pub async fn inspect(&self, sql: String) -> Result<Vec<InspectRow>, DbError> {
        self.run(move |store| store.inspect(&sql)).await
    }

    /// The versions of the migrations built into this binary for this
    /// backend, oldest first (as `__diesel_schema_migrations.version`).
    pub fn embedded_migrations(&self) -> Result<Vec<String>, DbError> {
        let mut v = self.store.embedded_migrations()?;
        v.sort();
        Ok(v)
    }
}
