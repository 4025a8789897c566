//! Shadow mode's reads: the rows a `/users/*` request can read or write,
//! before and after Django answers it, so what Django wrote can be
//! compared with what ledger-server meant to write.

use diesel::prelude::*;

use super::store::{with_conn, Store};
use super::DbError;

/// Whose rows: the user of an email (signup, login) or of an id (logout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Email(String),
    User(i64),
}

/// The user's row and token rows at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserState {
    /// `(id, email)`.
    pub user: Option<(i64, String)>,
    /// `(id, token)`, by id.
    pub tokens: Vec<(i64, String)>,
}

impl Store {
    pub fn user_state(&self, subject: &Subject) -> Result<UserState, DbError> {
        with_conn!(self, conn, s, read_only => {
            let user: Option<(i64, String)> = match subject {
                Subject::Email(email) => s::users::table
                    .filter(s::users::email.eq(email))
                    .select((s::users::id, s::users::email))
                    .first(conn)
                    .optional()?,
                Subject::User(id) => s::users::table
                    .filter(s::users::id.eq(*id))
                    .select((s::users::id, s::users::email))
                    .first(conn)
                    .optional()?,
            };
            let owner = match (&user, subject) {
                (Some((id, _)), _) | (None, Subject::User(id)) => *id,
                (None, Subject::Email(_)) => return Ok(UserState::default()),
            };
            let tokens = s::tokens::table
                .filter(s::tokens::user_id.eq(owner))
                .select((s::tokens::id, s::tokens::token))
                .order(s::tokens::id)
                .load(conn)?;
            Ok(UserState { user, tokens })
        })
    }
}

/// What a `varchar(length)` column of this backend stores for `value`:
/// SQLite stores any length; PostgreSQL cuts an excess made only of
/// spaces and refuses any other; MySQL/MariaDB in Django's strict mode
/// cut an excess of its space characters (tab, line feed, vertical tab,
/// form feed, carriage return, space) and refuse any other. `None`: the
/// insert fails.
pub fn stored_varchar(backend: &str, value: &str, length: usize) -> Option<String> {
    let Some((cut, _)) = value.char_indices().nth(length) else {
        return Some(value.to_owned());
    };
    let excess = &value[cut..];
    let cuttable = match backend {
        "sqlite" => return Some(value.to_owned()),
        "postgresql" => excess.chars().all(|c| c == ' '),
        _ => excess.chars().all(|c| matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ')),
    };
    cuttable.then(|| value[..cut].to_owned())
}

#[cfg(test)]
mod tests {
    use super::stored_varchar;

    #[test]
    fn each_backend_stores_an_over_long_value_as_it_does() {
        let long = format!("{}@example.com", "f".repeat(88));
        assert_eq!(long.chars().count(), 100);
        for backend in ["sqlite", "postgresql", "mysql"] {
            assert_eq!(stored_varchar(backend, &long, 100).as_deref(), Some(long.as_str()), "{backend}: fits");
        }
        let newline = format!("{long}\n");
        assert_eq!(stored_varchar("sqlite", &newline, 100).as_deref(), Some(newline.as_str()));
        assert_eq!(stored_varchar("postgresql", &newline, 100), None);
        assert_eq!(stored_varchar("mysql", &newline, 100).as_deref(), Some(long.as_str()), "cut, as MariaDB does");
        let spaces = format!("{long}   ");
        assert_eq!(stored_varchar("postgresql", &spaces, 100).as_deref(), Some(long.as_str()));
        let more = format!("{long}x");
        assert_eq!((stored_varchar("postgresql", &more, 100), stored_varchar("mysql", &more, 100)), (None, None));
        assert_eq!(stored_varchar("mysql", "\u{e9}", 1).as_deref(), Some("\u{e9}"), "characters, not bytes");
    }
}
