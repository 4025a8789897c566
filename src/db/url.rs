//! `DATABASE_URL`: which database, and where.

use std::path::{Path, PathBuf};

/// A parsed `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`, `sqlite:PATH` or a plain file path.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, passed to libpq as is.
    #[cfg(feature = "postgres")]
    Postgres(String),
    /// `mysql://…`, passed to the MySQL/MariaDB client as is.
    #[cfg(feature = "mysql")]
    Mysql(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(u) => write!(f, "Postgres({})", redact_url(u)),
            #[cfg(feature = "mysql")]
            DatabaseUrl::Mysql(u) => write!(f, "Mysql({})", redact_url(u)),
        }
    }
}

/// As given, any password hidden: for logs.
impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "{}", p.display()),
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(u) => write!(f, "{}", redact_url(u)),
            #[cfg(feature = "mysql")]
            DatabaseUrl::Mysql(u) => write!(f, "{}", redact_url(u)),
        }
    }
}

impl DatabaseUrl {
    /// Parses and checks a `DATABASE_URL`; the error says what is wrong in
    /// one line (never echoing a password).
    pub fn parse(raw: &str) -> Result<DatabaseUrl, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if let Some((scheme, rest)) = raw.split_once("://") {
            match scheme {
                "postgres" | "postgresql" => {
                    server_url(rest, "PostgreSQL")?;
                    #[cfg(feature = "postgres")]
                    return Ok(DatabaseUrl::Postgres(raw.into()));
                    #[cfg(not(feature = "postgres"))]
                    return Err(not_built_in("PostgreSQL", "postgres"));
                }
                "mysql" => {
                    server_url(rest, "MySQL")?;
                    #[cfg(feature = "mysql")]
                    return Ok(DatabaseUrl::Mysql(raw.into()));
                    #[cfg(not(feature = "mysql"))]
                    return Err(not_built_in("MySQL/MariaDB", "mysql"));
                }
                "sqlite" => {}
                other => {
                    return Err(format!(
                        "unsupported scheme {other:?} (use sqlite://PATH, a file path, postgres://… or mysql://…)"
                    ))
                }
            }
        }
        let path = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")).unwrap_or(raw);
        if path.is_empty() {
            return Err("sqlite URL has no file path".into());
        }
        if path == ":memory:" {
            return Err("an in-memory SQLite database cannot be shared between connections; give a file path".into());
        }
        let path = PathBuf::from(path);
        if path.is_dir() {
            return Err(format!("{} is a directory, not a database file", path.display()));
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(format!("directory {} does not exist", parent.display()));
        }
        Ok(DatabaseUrl::Sqlite(path))
    }

    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(_) => "postgresql",
            #[cfg(feature = "mysql")]
            DatabaseUrl::Mysql(_) => "mysql",
        }
    }
}

/// A backend this binary was built without: the one line says how to get it.
#[cfg(any(not(feature = "postgres"), not(feature = "mysql")))]
fn not_built_in(what: &str, feature: &str) -> String {
    format!(
        "this ledger-server was built without {what} support (cargo feature `{feature}`): \
         build it with `cargo build --release --features {feature}`"
    )
}

/// `user:pass@host:port/dbname?…`: a database name is required, and a
/// host, except for PostgreSQL (none: libpq's Unix socket, as Django's
/// empty `HOST` means).
fn server_url(rest: &str, what: &str) -> Result<(), String> {
    let after_auth = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let (host, db) = after_auth.split_once('/').unwrap_or((after_auth, ""));
    let db = db.split('?').next().unwrap_or("");
    if host.is_empty() && what != "PostgreSQL" {
        return Err(format!("{what} URL has no host"));
    }
    if db.is_empty() {
        return Err(format!("{what} URL has no database name"));
    }
    Ok(())
}

/// A database URL with any password replaced, for logs: the one in
/// `user:password@` and a `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut shown = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match base[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &base[..scheme + 3], &base[at..]),
            None => base.to_owned(),
        },
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => param.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&params.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(DatabaseUrl::parse("db.sqlite3").unwrap(), DatabaseUrl::Sqlite("db.sqlite3".into()));
        assert_eq!(DatabaseUrl::parse("sqlite://db.sqlite3").unwrap(), DatabaseUrl::Sqlite("db.sqlite3".into()));
        assert_eq!(DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(), DatabaseUrl::Sqlite("/tmp/x.db".into()));
        #[cfg(feature = "postgres")]
        {
            assert!(matches!(DatabaseUrl::parse("postgres://u:p@h:5432/db"), Ok(DatabaseUrl::Postgres(_))));
            assert!(matches!(DatabaseUrl::parse("postgresql://h/db?sslmode=disable"), Ok(DatabaseUrl::Postgres(_))));
            // no host: libpq's Unix socket
            assert!(matches!(DatabaseUrl::parse("postgres://u:p@/db"), Ok(DatabaseUrl::Postgres(_))));
        }
        #[cfg(feature = "mysql")]
        assert!(matches!(DatabaseUrl::parse("mysql://root@127.0.0.1:3306/ledger"), Ok(DatabaseUrl::Mysql(_))));
    }

    /// A backend left out of the build is refused with the feature to
    /// build it with, in one line.
    #[cfg(not(feature = "mysql"))]
    #[test]
    fn a_backend_not_built_in_names_its_feature() {
        let error = DatabaseUrl::parse("mysql://root@127.0.0.1:3306/ledger").unwrap_err();
        assert!(error.contains("--features mysql") && !error.contains('\n'), "{error}");
    }

    #[test]
    fn unusable_urls() {
        for bad in
            ["", "sqlite://", "redis://h/0", "/no/such/dir/x.db", "/tmp", ":memory:", "postgres://h", "mysql:///db"]
        {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn redaction_hides_every_password() {
        assert_eq!(redact_url("postgres://u:hunter2@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("mysql://u@h/db?password=hunter2&ssl=1"), "mysql://u@h/db?password=***&ssl=1");
        assert_eq!(redact_url("postgres://u:a@b@h/db?sslmode=disable"), "postgres://u:***@h/db?sslmode=disable");
        assert_eq!(redact_url("db.sqlite3"), "db.sqlite3");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn debug_hides_passwords() {
        let url = DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
