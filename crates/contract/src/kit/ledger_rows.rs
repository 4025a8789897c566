//! Reading the `ledgers` rows (the Django app's table) of a [`TestDb`]
//! back, for comparing two databases: every column as text, timestamps as
//! the wall-clock value Django reads back (compared by shape).

use super::backend::{Backend, TIME_ZONE};
use super::conn::load;
use super::rows::timestamp_shape;
use super::testdb::TestDb;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// A row of `ledgers`; `amount` and `memo` as the database's text of them.
#[derive(Clone, Debug, PartialEq, Eq, QueryableByName)]
pub struct LedgerRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub amount: String,
    #[diesel(sql_type = Text)]
    pub memo: String,
    /// `is_deleted` as 0 or 1.
    #[diesel(sql_type = BigInt)]
    pub is_deleted: i64,
    #[diesel(sql_type = Text)]
    pub created_at: String,
    #[diesel(sql_type = Text)]
    pub updated_at: String,
}

impl LedgerRow {
    /// The row with its timestamps replaced by their shape (digits as `9`,
    /// the fraction left out: Django writes none when it is 0), for
    /// comparing rows written at different moments.
    pub fn shaped(&self) -> LedgerRow {
        let shape = |s: &str| timestamp_shape(s.split('.').next().unwrap_or(s));
        LedgerRow { created_at: shape(&self.created_at), updated_at: shape(&self.updated_at), ..self.clone() }
    }
}

impl TestDb {
    /// `ledgers` ordered by id.
    pub fn ledgers(&self) -> Result<Vec<LedgerRow>, String> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT id, user_id, CAST(amount AS TEXT) AS amount, CAST(memo AS TEXT) AS memo, \
                 CAST(is_deleted AS INTEGER) AS is_deleted, CAST(created_at AS TEXT) AS created_at, \
                 CAST(updated_at AS TEXT) AS updated_at FROM ledgers ORDER BY id"
                .to_string(),
            Backend::Postgres => format!(
                "SELECT id, user_id, amount::text AS amount, memo::text AS memo, is_deleted::int4::int8 AS is_deleted, \
                 to_char(created_at AT TIME ZONE '{TIME_ZONE}', 'YYYY-MM-DD HH24:MI:SS.US') AS created_at, \
                 to_char(updated_at AT TIME ZONE '{TIME_ZONE}', 'YYYY-MM-DD HH24:MI:SS.US') AS updated_at \
                 FROM ledgers ORDER BY id"
            ),
            Backend::Mysql => "SELECT id, user_id, CAST(amount AS CHAR) AS amount, CAST(memo AS CHAR) AS memo, \
                 CAST(is_deleted AS SIGNED) AS is_deleted, \
                 DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f') AS created_at, \
                 DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f') AS updated_at FROM ledgers ORDER BY id"
                .to_string(),
        };
        let mut conn = self.connect()?;
        load!(&mut conn, &sql, LedgerRow).map_err(|e| format!("read ledgers of {}: {e}", self.name))
    }
}
