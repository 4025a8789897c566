//! # Error policy
//!
//! - **Each layer has its own typed error, named for what failed**:
//!   [`crate::settings::SettingsError`] (a setting, by name),
//!   [`crate::db::DbError`] (which part of the database), `Rejection` and
//!   `PasswordError` in [`crate::auth`] (why the original refuses or
//!   raises), [`crate::runtime::Stopped`] (a thread pool), and
//!   [`StartupError`] for `main`. No `String` errors across layers, no
//!   `unwrap()` outside tests (the workspace lints deny it).
//! - **A fault carries its cause.** Every error's message is one line that
//!   includes what caused it (`database unreachable: connection refused`),
//!   so the message alone is enough to act on.
//! - **The HTTP layer decides the answer, in one place**
//!   (`crate::http::refusals`): a refusal becomes the original's answer; a
//!   failure becomes Django's 500 page carrying a `Fault` — `AsOriginal`
//!   when the original raises there too (its own bug, reproduced), or
//!   `Internal` with the cause when ledger-server itself failed.
//! - **Logged once, where it ends.** The middleware logs each 500 with the
//!   request's method and path (without the query string): `Internal` as an
//!   error, `AsOriginal` as a warning. Layers below return errors and do
//!   not log them; background threads (pool, group commit, checkpoints),
//!   which have no request to return to, log their own. `main` prints a
//!   [`StartupError`] as one line and exits non-zero.
//! - **Secrets never appear**: not in messages, logs or answers. Tokens and
//!   passwords are never put into an error; `SECRET_KEY` prints as
//!   `<redacted>`; database URLs are shown through
//!   [`crate::db::redact_url`]. `tests/cli` greps the log for them.

use crate::db::DbError;
use crate::settings::SettingsError;

/// Why `ledger-server` could not start; `main` prints it on one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Settings(#[from] SettingsError),
    #[error("DATABASE_URL: {0}")]
    Database(#[from] DbError),
    #[error("BIND {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    /// A socket passed by socket activation (`LISTEN_FDS`) is unusable.
    #[error("socket activation: {0}")]
    Activation(std::io::Error),
    #[error("ADMIN_BIND {addr}: {source}")]
    AdminBind { addr: String, source: std::io::Error },
    #[error("cannot start the bcrypt threads: {0}")]
    Threads(std::io::Error),
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("SHADOW_LOG {path}: {source}")]
    ShadowLog { path: String, source: std::io::Error },
}

impl StartupError {
    /// The exit status: 2 for a bad setting (as for a bad command line), 1
    /// for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartupError::Settings(_) => 2,
            _ => 1,
        }
    }
}
