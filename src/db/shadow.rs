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
