//! The three database backends, and where their test servers are.

/// Default admin URL of the PostgreSQL server (`LEDGER_TEST_PG_URL`).
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Default admin URL of the MySQL/MariaDB server (`LEDGER_TEST_MYSQL_URL`).
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/mysql";
/// Character set and collation of the MySQL test databases: MariaDB's
/// default for utf8mb4 (case- and accent-insensitive, trailing spaces
/// ignored), named explicitly so that the recorded fixtures do not depend
/// on the server's defaults.
pub const MYSQL_CHARSET: &str = "utf8mb4";
pub const MYSQL_COLLATION: &str = "utf8mb4_general_ci";
/// Django's `TIME_ZONE` (and ledger-server's default).
pub const TIME_ZONE: &str = "Asia/Seoul";

/// The three database backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];

    /// `sqlite`, `postgres`, `mysql`: fixture directory and CLI names, and
    /// the word that marks a test needing the server (see `needs`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    pub fn parse(s: &str) -> Option<Backend> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" => Some(Backend::Sqlite),
            "postgres" | "postgresql" | "pg" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::Mysql),
            _ => None,
        }
    }

    /// The backend of a `DATABASE_URL` (a file path is SQLite).
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("mysql://") {
            Backend::Mysql
        } else {
            Backend::Sqlite
        }
    }

    /// `REF_DB_ENGINE` of the oracle's `run.sh`.
    pub fn ref_engine(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
            Backend::Mysql => "mysql",
        }
    }

    /// The variable holding the admin URL, and its default (`None` for SQLite).
    pub fn admin_url_var(self) -> Option<(&'static str, &'static str)> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(("LEDGER_TEST_PG_URL", DEFAULT_PG_URL)),
            Backend::Mysql => Some(("LEDGER_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)),
        }
    }

    /// The admin URL from the environment, or the default.
    pub fn admin_url(self) -> Option<String> {
        self.admin_url_var().map(|(var, default)| match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
            _ => default.to_string(),
        })
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for b in Backend::ALL {
            assert_eq!(Backend::parse(b.name()), Some(b));
        }
        assert_eq!(Backend::of_url("/tmp/x.sqlite3"), Backend::Sqlite);
        assert_eq!(Backend::of_url("postgresql://h/db"), Backend::Postgres);
        assert_eq!(Backend::of_url("mysql://h/db"), Backend::Mysql);
    }
}
