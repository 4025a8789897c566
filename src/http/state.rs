//! What every handler shares.

use crate::auth::jwt::TokenKey;
use crate::db::Database;
use crate::runtime::BcryptPool;

/// The database, the signing key and the bcrypt threads.
pub struct AppState {
    pub db: Database,
    pub key: TokenKey,
    pub bcrypt: BcryptPool,
    /// `ACCESS_LOG`: one log line per request.
    pub access_log: bool,
}
