//! ledger-server: a drop-in Rust replacement for the household-ledger
//! Django `users` app (signup, login, logout and the `log_in_confirm` guard).
//!
//! The folders name the parts of the domain:
//! - [`settings`]: `my_settings.toml`, `.env` and environment variables;
//! - [`db`]: the Diesel schema, migrations and connection pool;
//! - [`auth`]: JWT, bcrypt and the guard extractor;
//! - [`http`]: the Django-compatible HTTP layer (views, error pages, CORS).
//!
//! Python's own semantics (json, base64, int, re) are the `pycompat` crate.

pub mod auth;
pub mod db;
pub mod http;
pub mod runtime;
pub mod server;
pub mod settings;
