//! Reading the `users` and `tokens` rows of a [`TestDb`] back, the way the
//! tests compare them: timestamps as the wall-clock text Django reads back
//! under `USE_TZ = False` in `Asia/Seoul`.

use super::backend::{Backend, TIME_ZONE};
use super::conn::load;
use super::testdb::TestDb;
use crate::model::show_bytes;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use std::path::Path;

/// A row of `users` as read back for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub password: String,
    /// The wall-clock value Django reads back (`USE_TZ = False`,
    /// `Asia/Seoul`), as `YYYY-MM-DD HH:MM:SS.ffffff`; on SQLite the stored text.
    pub created_at: String,
    pub updated_at: String,
}

/// A row of `tokens`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub token: String,
    pub user_id: i64,
}

/// The rows of `users` and `tokens` in the form the differential test compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbSnapshot {
    /// id, email, password (a bcrypt `$2b$12$` hash is shown as its shape), typeof(email)
    pub users: Vec<UserRowView>,
    pub tokens: Vec<TokenRowView>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRowView {
    pub id: i64,
    pub email: String,
    pub email_type: String,
    pub password: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRowView {
    pub id: i64,
    pub token: String,
    pub token_type: String,
    pub user_id: i64,
}

#[derive(QueryableByName)]
struct UserQ {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    password: String,
    #[diesel(sql_type = Text)]
    created_at: String,
    #[diesel(sql_type = Text)]
    updated_at: String,
}

#[derive(QueryableByName)]
struct TokenQ {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    token: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
}

/// `$2b$12$` + 53 characters of bcrypt's alphabet.
pub fn is_bcrypt_2b_12(h: &[u8]) -> bool {
    h.len() == 60
        && h.starts_with(b"$2b$12$")
        && h[7..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/')
}

/// The shape of a timestamp text: digits replaced by `9`.
pub fn timestamp_shape(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect()
}

const BCRYPT_SHAPE: &str = "<bcrypt $2b$12$ hash>";

impl TestDb {
    /// `users` ordered by id, timestamps as Django reads them back.
    pub fn users(&self) -> Result<Vec<UserRow>, String> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT id, email, password, CAST(created_at AS TEXT) AS created_at, CAST(updated_at AS TEXT) AS updated_at \
                 FROM users ORDER BY id"
                    .to_string()
            }
            Backend::Postgres => format!(
                "SELECT id, email::text AS email, password::text AS password, \
                 to_char(created_at AT TIME ZONE '{TIME_ZONE}', 'YYYY-MM-DD HH24:MI:SS.US') AS created_at, \
                 to_char(updated_at AT TIME ZONE '{TIME_ZONE}', 'YYYY-MM-DD HH24:MI:SS.US') AS updated_at \
                 FROM users ORDER BY id"
            ),
            Backend::Mysql => "SELECT id, CAST(email AS CHAR) AS email, CAST(password AS CHAR) AS password, \
                 DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f') AS created_at, \
                 DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f') AS updated_at FROM users ORDER BY id"
                .to_string(),
        };
        let mut conn = self.connect()?;
        load!(&mut conn, &sql, UserQ)
            .map(|rows| {
                rows.into_iter()
                    .map(|u| UserRow {
                        id: u.id,
                        email: u.email,
                        password: u.password,
                        created_at: u.created_at,
                        updated_at: u.updated_at,
                    })
                    .collect()
            })
            .map_err(|e| format!("read users of {}: {e}", self.name))
    }

    /// `tokens` ordered by id.
    pub fn tokens(&self) -> Result<Vec<TokenRow>, String> {
        let sql = match self.backend {
            Backend::Mysql => "SELECT id, CAST(token AS CHAR) AS token, user_id FROM tokens ORDER BY id",
            _ => "SELECT id, token, user_id FROM tokens ORDER BY id",
        };
        let mut conn = self.connect()?;
        load!(&mut conn, sql, TokenQ)
            .map(|rows| rows.into_iter().map(|t| TokenRow { id: t.id, token: t.token, user_id: t.user_id }).collect())
            .map_err(|e| format!("read tokens of {}: {e}", self.name))
    }

    /// PostgreSQL only: for each user (by id), how many seconds before the
    /// database's `now()` its `created_at` instant lies (negative: in the future).
    pub fn pg_created_age_seconds(&self) -> Result<Vec<f64>, String> {
        if self.backend != Backend::Postgres {
            return Err("pg_created_age_seconds is for PostgreSQL".into());
        }
        self.connect()?.doubles("SELECT EXTRACT(EPOCH FROM (now() - created_at))::float8 AS v FROM users ORDER BY id")
    }

    /// The rows in the form the differential test compares.
    pub fn snapshot(&self) -> Result<DbSnapshot, String> {
        if let Some(path) = self.sqlite_path() {
            return snapshot_sqlite(path);
        }
        let email_type = match self.backend {
            Backend::Postgres => "character varying",
            _ => "varchar",
        };
        let show = |s: &str| show_bytes(s.as_bytes(), 400);
        Ok(DbSnapshot {
            users: self
                .users()?
                .into_iter()
                .map(|u| UserRowView {
                    id: u.id,
                    email: show(&u.email),
                    email_type: email_type.into(),
                    password: if is_bcrypt_2b_12(u.password.as_bytes()) {
                        BCRYPT_SHAPE.into()
                    } else {
                        show(&u.password)
                    },
                    created_at: Some(u.created_at),
                    updated_at: Some(u.updated_at),
                })
                .collect(),
            tokens: self
                .tokens()?
                .into_iter()
                .map(|t| TokenRowView {
                    id: t.id,
                    token: show(&t.token),
                    token_type: "text".into(),
                    user_id: t.user_id,
                })
                .collect(),
        })
    }
}

// ---------------------------------------------------------------------------
// SQLite: the stored bytes and their storage classes

#[derive(QueryableByName)]
struct SqliteUserQ {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Binary>)]
    email: Option<Vec<u8>>,
    #[diesel(sql_type = Text)]
    email_type: String,
    #[diesel(sql_type = Nullable<Binary>)]
    password: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    created_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    updated_at: Option<String>,
}

#[derive(QueryableByName)]
struct SqliteTokenQ {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Binary>)]
    token: Option<Vec<u8>>,
    #[diesel(sql_type = Text)]
    token_type: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
}

fn show(v: Option<Vec<u8>>) -> String {
    match v {
        None => "NULL".into(),
        Some(b) => show_bytes(&b, 400),
    }
}

fn connect_sqlite(db_path: &Path) -> Result<SqliteConnection, String> {
    let url = db_path.to_str().ok_or("database path is not UTF-8")?;
    let mut conn = SqliteConnection::establish(url).map_err(|e| format!("open {url}: {e}"))?;
    conn.batch_execute("PRAGMA busy_timeout = 10000;").map_err(|e| format!("busy_timeout: {e}"))?;
    Ok(conn)
}

/// Read the users and tokens rows of a SQLite file (ordered by id), with
/// the storage class of each email and token.
pub fn snapshot_sqlite(db_path: &Path) -> Result<DbSnapshot, String> {
    let mut conn = connect_sqlite(db_path)?;
    let users = diesel::sql_query(
        "SELECT id, CAST(email AS BLOB) AS email, typeof(email) AS email_type, \
         CAST(password AS BLOB) AS password, CAST(created_at AS TEXT) AS created_at, \
         CAST(updated_at AS TEXT) AS updated_at FROM users ORDER BY id",
    )
    .load::<SqliteUserQ>(&mut conn)
    .map_err(|e| format!("read users of {}: {e}", db_path.display()))?;
    let tokens = diesel::sql_query(
        "SELECT id, CAST(token AS BLOB) AS token, typeof(token) AS token_type, user_id FROM tokens ORDER BY id",
    )
    .load::<SqliteTokenQ>(&mut conn)
    .map_err(|e| format!("read tokens of {}: {e}", db_path.display()))?;
    Ok(DbSnapshot {
        users: users
            .into_iter()
            .map(|u| UserRowView {
                id: u.id,
                email: show(u.email),
                email_type: u.email_type,
                password: match u.password {
                    Some(p) if is_bcrypt_2b_12(&p) => BCRYPT_SHAPE.into(),
                    other => show(other),
                },
                created_at: u.created_at,
                updated_at: u.updated_at,
            })
            .collect(),
        tokens: tokens
            .into_iter()
            .map(|t| TokenRowView { id: t.id, token: show(t.token), token_type: t.token_type, user_id: t.user_id })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(is_bcrypt_2b_12(b"$2b$12$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ012./"));
        assert!(!is_bcrypt_2b_12(b"$2a$12$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ012./"));
        assert_eq!(timestamp_shape("2026-01-02 03:04:05.123456"), "9999-99-99 99:99:99.999999");
    }
}
