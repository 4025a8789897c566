//! One connection type over the three backends, for setting up and reading
//! back test databases.

use super::backend::Backend;
use super::needs;
use super::url::ServerUrl;
use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel::sqlite::SqliteConnection;

/// A connection to one of the three backends.
pub enum AnyConn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    Mysql(MysqlConnection),
}

/// `sql_query(sql).load::<T>(conn)` on whichever backend.
macro_rules! load {
    ($conn:expr, $sql:expr, $t:ty) => {
        match $conn {
            $crate::kit::conn::AnyConn::Sqlite(c) => diesel::sql_query($sql).load::<$t>(c),
            $crate::kit::conn::AnyConn::Postgres(c) => diesel::sql_query($sql).load::<$t>(c),
            $crate::kit::conn::AnyConn::Mysql(c) => diesel::sql_query($sql).load::<$t>(c),
        }
    };
}
pub(crate) use load;

impl AnyConn {
    /// Opens a connection to a `DATABASE_URL`-style URL (a file path for
    /// SQLite); for PostgreSQL or MySQL, from a test that says it needs it
    /// ([`needs`]).
    pub fn open(backend: Backend, url: &str) -> Result<AnyConn, String> {
        needs::backend(backend)?;
        let shown = ServerUrl::redacted(url);
        match backend {
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(url).map_err(|e| format!("open SQLite {shown}: {e}"))?;
                c.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                    .map_err(|e| format!("SQLite {shown}: {e}"))?;
                Ok(AnyConn::Sqlite(c))
            }
            Backend::Postgres => PgConnection::establish(url)
                .map(AnyConn::Postgres)
                .map_err(|e| format!("cannot connect to PostgreSQL at {shown}: {e}")),
            Backend::Mysql => MysqlConnection::establish(url)
                .map(AnyConn::Mysql)
                .map_err(|e| format!("cannot connect to MySQL/MariaDB at {shown}: {e}")),
        }
    }

    /// Runs one or more statements (one statement per call on MySQL).
    pub fn execute(&mut self, sql: &str) -> Result<(), String> {
        let r = match self {
            AnyConn::Sqlite(c) => c.batch_execute(sql),
            AnyConn::Postgres(c) => c.batch_execute(sql),
            AnyConn::Mysql(c) => c.batch_execute(sql),
        };
        r.map_err(|e| format!("{sql}: {e}"))
    }

    /// A query whose single column (named `v`) is text (NULL as `None`).
    pub fn strings(&mut self, sql: &str) -> Result<Vec<Option<String>>, String> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Nullable<Text>)]
            v: Option<String>,
        }
        load!(self, sql, Row).map(|v| v.into_iter().map(|r| r.v).collect()).map_err(|e| format!("{sql}: {e}"))
    }

    /// A query whose single column (named `v`) is a 64-bit integer.
    pub fn ints(&mut self, sql: &str) -> Result<Vec<i64>, String> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            v: i64,
        }
        load!(self, sql, Row).map(|v| v.into_iter().map(|r| r.v).collect()).map_err(|e| format!("{sql}: {e}"))
    }

    /// A query that selects one 64-bit integer (named `v`), e.g. `SELECT COUNT(*) AS v FROM users`.
    pub fn int(&mut self, sql: &str) -> Result<i64, String> {
        match self.ints(sql)?.as_slice() {
            [v] => Ok(*v),
            other => Err(format!("{sql}: {} rows, expected one", other.len())),
        }
    }

    /// A query whose single column (named `v`) is a double.
    pub fn doubles(&mut self, sql: &str) -> Result<Vec<f64>, String> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Double)]
            v: f64,
        }
        load!(self, sql, Row).map(|v| v.into_iter().map(|r| r.v).collect()).map_err(|e| format!("{sql}: {e}"))
    }
}
