//! The naming convention that lets `cargo nextest run --profile offline`
//! leave out exactly the tests that need something beyond the checkout.
//!
//! A test that needs a PostgreSQL server (or PostgreSQL's server programs)
//! has the word `postgres` in its full name (module path and function
//! name, words separated by `_` or `::`), one that needs a MySQL/MariaDB
//! server the word `mysql`, one that needs the Django oracle (Python and
//! the reference project) the word `oracle`. `.config/nextest.toml`'s
//! offline profile filters on these words.
//!
//! The kit enforces it where the need arises: creating a PostgreSQL or
//! MySQL `TestDb`, a private PostgreSQL instance or starting the
//! oracle from a test whose name lacks the word is an error, in every
//! profile, so a misnamed test fails in CI instead of failing (or being
//! left out) on a laptop. The test's name is the name of the thread
//! libtest runs it on; threads a test spawns itself are not checked.

use super::backend::Backend;

/// What a test may need besides the checkout and the Rust toolchain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Postgres,
    Mysql,
    Oracle,
}

impl Need {
    /// The word a test's name must contain.
    pub fn word(self) -> &'static str {
        match self {
            Need::Postgres => "postgres",
            Need::Mysql => "mysql",
            Need::Oracle => "oracle",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Need::Postgres => "PostgreSQL",
            Need::Mysql => "MySQL/MariaDB",
            Need::Oracle => "the Django oracle",
        }
    }
}

/// Whether a test name contains `word` as one of its `_`/`::`-separated words.
pub fn names_word(test_name: &str, word: &str) -> bool {
    test_name.split([':', '_']).any(|w| w == word)
}

/// The running test's name: the name libtest gives the thread it runs a
/// test on (`None` on the main thread of a program, or an unnamed thread).
pub fn current_test() -> Option<String> {
    std::thread::current().name().filter(|n| *n != "main").map(str::to_owned)
}

/// `Ok` if the running test (if any) declares `need` in its name.
pub fn declare(need: Need) -> Result<(), String> {
    match current_test() {
        Some(name) if !names_word(&name, need.word()) => Err(format!(
            "test `{name}` needs {} but its name lacks the word `{}`: rename it (the offline nextest \
             profile tells tests apart by these words; see ledger_contract::kit::needs)",
            need.what(),
            need.word()
        )),
        _ => Ok(()),
    }
}

/// [`declare`] for a database backend (SQLite needs nothing).
pub fn backend(backend: Backend) -> Result<(), String> {
    match backend {
        Backend::Sqlite => Ok(()),
        Backend::Postgres => declare(Need::Postgres),
        Backend::Mysql => declare(Need::Mysql),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert!(names_word("contract::replay_postgres", "postgres"));
        assert!(names_word("interop::oracle_mysql_django_first", "oracle"));
        assert!(names_word("interop::oracle_mysql_django_first", "mysql"));
        assert!(names_word("resilience::postgres::survives", "postgres"));
        assert!(!names_word("settings::postgresql_urls", "postgres"));
        assert!(!names_word("kit::needs::tests::words", "oracle"));
    }

    #[test]
    fn this_test_declares_nothing() {
        assert_eq!(current_test().as_deref(), Some("kit::needs::tests::this_test_declares_nothing"));
        assert!(declare(Need::Postgres).is_err_and(|e| e.contains("lacks the word `postgres`")));
        assert!(backend(Backend::Sqlite).is_ok());
        let unnamed = std::thread::spawn(|| declare(Need::Oracle)).join().expect("thread");
        assert!(unnamed.is_ok(), "threads a test spawns are not checked");
    }

    /// Each way to a server or the oracle asks first, before it touches anything.
    #[test]
    fn the_kit_refuses_what_a_test_name_does_not_declare() {
        use crate::kit::{oracle, AnyConn, PgInstance, TestDb};
        let refused = |r: Result<(), String>, word: &str| {
            assert!(r.as_ref().is_err_and(|e| e.contains(&format!("lacks the word `{word}`"))), "{r:?}");
        };
        refused(TestDb::create(Backend::Postgres, "x").map(drop), "postgres");
        refused(TestDb::create(Backend::Mysql, "x").map(drop), "mysql");
        refused(AnyConn::open(Backend::Postgres, "postgres://nobody@127.0.0.1:1/x").map(drop), "postgres");
        refused(AnyConn::open(Backend::Mysql, "mysql://nobody@127.0.0.1:1/x").map(drop), "mysql");
        refused(PgInstance::init().map(drop), "postgres");
        refused(oracle::check_oracle_prerequisites(), "oracle");
        let sqlite = TestDb::create(Backend::Sqlite, "x").expect("SQLite needs nothing");
        assert!(sqlite.connect().is_ok());
    }
}
