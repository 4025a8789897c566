//! `DATABASE_URL`: which database, and where.

use std::path::{Path, PathBuf};

/// A parsed `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`, `sqlite:PATH` or a plain file path.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Parses and checks a `DATABASE_URL`; the error says what is wrong in
    /// one line (never echoing a password).
    pub fn parse(raw: &str) -> Result<DatabaseUrl, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        let path = if let Some(rest) = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")) {
            rest
        } else if let Some((scheme, _)) = raw.split_once("://") {
            return Err(format!("unsupported scheme {scheme:?} (use sqlite://PATH or a file path)"));
        } else {
            raw
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_forms() {
        assert_eq!(DatabaseUrl::parse("db.sqlite3").unwrap(), DatabaseUrl::Sqlite("db.sqlite3".into()));
        assert_eq!(DatabaseUrl::parse("sqlite://db.sqlite3").unwrap(), DatabaseUrl::Sqlite("db.sqlite3".into()));
        assert_eq!(DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(), DatabaseUrl::Sqlite("/tmp/x.db".into()));
    }

    #[test]
    fn unusable_urls() {
        for bad in ["", "sqlite://", "redis://h/0", "/no/such/dir/x.db", "/tmp", ":memory:"] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
