//! The test kit: everything a test of ledger-server sets up around it.
//!
//! - [`Backend`]: SQLite, PostgreSQL, MySQL, and where their test servers are;
//! - [`TestDb`]: a throwaway database on a backend ([`testdb`]), its rows
//!   read back ([`rows`], the Django app's `ledgers` in [`ledger_rows`]), over one connection type ([`AnyConn`]);
//! - [`in_process`] and [`LedgerBinary`] / [`ServerProcess`]: ledger-server
//!   in the test's process or as the real binary;
//! - [`Oracle`]: the Django original (`run.sh` of the reference project);
//! - [`PgInstance`]: a PostgreSQL server of a test's own, to stop and start;
//! - [`mount_ns::private_tmpfs`]: a tiny file system of a test's own (root);
//! - [`ProcessGroup`]: a child process in its own group with its log
//!   (SIGTERM then SIGKILL, wait-for-HTTP), the only spawner;
//! - [`free_addr`]: a free local port;
//! - [`requests`]: a client's signup, login and logout;
//! - [`needs`]: the naming convention (`postgres`, `mysql`, `oracle` in a
//!   test's name) that the offline nextest profile filters on, enforced.
//!
//! Nothing here skips: a server or oracle that is needed and missing is an error.

pub mod backend;
pub mod conn;
pub mod ledger_rows;
pub mod mount_ns;
pub mod needs;
pub mod oracle;
pub mod pg_instance;
pub mod port;
pub mod process;
pub mod requests;
pub mod rows;
pub mod server;
pub mod testdb;
pub mod url;

pub use backend::Backend;
pub use conn::AnyConn;
pub use ledger_rows::LedgerRow;
pub use oracle::Oracle;
pub use pg_instance::PgInstance;
pub use port::free_addr;
pub use process::ProcessGroup;
pub use rows::{DbSnapshot, TokenRow, UserRow};
pub use server::{in_process, in_process_with, Finished, LedgerBinary, ServerProcess};
pub use testdb::TestDb;
pub use url::ServerUrl;
