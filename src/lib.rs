//! ledger-server: a drop-in Rust replacement for the household-ledger
//! Django `users` app (signup, login, logout and the `log_in_confirm` guard).
//!
//! The folders name the parts of the domain; each imports only those
//! listed before it:
//! - [`telemetry`]: what the server tells about itself (metrics, logs);
//! - [`runtime`]: where work runs (blocking threads, the bcrypt pool,
//!   scheduling policy);
//! - [`db`]: the tables, the pool, migrations and queries, behind an async
//!   facade;
//! - [`auth`]: JWT, the `id` claim and bcrypt, with no HTTP in them;
//! - [`settings`]: `my_settings.toml`, `.env` and the environment, typed;
//! - [`upstream`]: the front door to the Django server (forwarding, and
//!   shadow mode's comparison of answers);
//! - [`http`]: the Django-compatible HTTP layer (middleware, views, the
//!   guard extractor, answers);
//! - [`error`]: the error policy and startup errors;
//! - `ledger-server check`, the switch-day checks (read-only): [`check`];
//! - the admin listener (`ADMIN_BIND`: health and metrics): `admin`;
//! - startup, last: [`server`].
//!
//! Python's own semantics (json, base64, int, re) are the `pycompat` crate;
//! the contract tooling and test kit are `ledger-contract`.

pub(crate) mod admin;
pub mod auth;
pub mod check;
pub mod db;
pub mod error;
pub(crate) mod http;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod upstream;

#[cfg(test)]
mod layout_tests;
