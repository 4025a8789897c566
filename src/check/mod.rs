//! `ledger-server check`: Django's `manage.py check` for the day of the
//! switch. It reads the settings, connects, and prints one line per check
//! (`ok`, `fail`, `warn` or `skip`, the check's name, what it found), then
//! a summary; the exit status is 0 only when nothing failed (2 when the
//! settings themselves fail, as for every command). It never migrates and
//! never writes: every query is a catalog read or a `SELECT`.
//!
//! The checks, in order (one module per group):
//! - `settings`: the settings load (see [`crate::settings`]);
//! - `database`: the database answers (a SQLite file must exist: opening
//!   a missing one would create it);
//! - `schema` ([`schema`], [`expected`]): `users` and `tokens` exactly as
//!   Django's migration makes them on this backend;
//! - `django migrations`, `ledger migrations` ([`migrations`]);
//! - `upstream` ([`upstream`]): `UPSTREAM`, when set, answers HTTP;
//! - `tokens` ([`tokens`]): the stored compat tokens verify with
//!   `SECRET_KEY`/`ALGORITHM`;
//! - `clock` ([`clock`]): the newest row Django wrote, read in `TIME_ZONE`,
//!   is not in the future.
//!
//! No detail holds a secret: the database URL is shown redacted, tokens
//! and keys never.

mod clock;
mod expected;
mod migrations;
mod schema;
mod tokens;
mod upstream;

use crate::db::{Database, DatabaseUrl, DbError};
use crate::error::StartupError;
use crate::settings::{Settings, Sources};

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Fail,
    /// Works, but deserves a look (not a failure).
    Warn,
    /// Does not apply here (not a failure).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok  ",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
        }
    }
}

/// The lines printed so far.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<(Status, &'static str, String)>,
}

impl Report {
    /// Records and prints one line.
    pub fn line(&mut self, status: Status, name: &'static str, detail: impl Into<String>) {
        let detail = detail.into();
        println!("{} {name}: {detail}", status.label());
        self.lines.push((status, name, detail));
    }

    fn count(&self, status: Status) -> usize {
        self.lines.iter().filter(|(s, _, _)| *s == status).count()
    }

    pub fn failed(&self) -> bool {
        self.count(Status::Fail) > 0
    }

    /// The last line: `N checks: X ok, Y failed` (and warnings, skips).
    fn summary(&self) {
        let mut s =
            format!("{} checks: {} ok, {} failed", self.lines.len(), self.count(Status::Ok), self.count(Status::Fail));
        for (status, word) in [(Status::Warn, "warned"), (Status::Skip, "skipped")] {
            let n = self.count(status);
            if n > 0 {
                s.push_str(&format!(", {n} {word}"));
            }
        }
        println!("{s}");
    }
}

/// The backend, as the checks tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

impl Kind {
    fn of(db: &Database) -> Kind {
        match db.backend_name() {
            "postgresql" => Kind::Postgres,
            "mysql" => Kind::Mysql,
            _ => Kind::Sqlite,
        }
    }

    /// `CAST(expr AS <text>)` on this backend.
    pub(crate) fn text(self, expr: &str) -> String {
        match self {
            Kind::Sqlite => format!("CAST({expr} AS TEXT)"),
            Kind::Postgres => format!("({expr})::text"),
            Kind::Mysql => format!("CAST({expr} AS CHAR)"),
        }
    }

    /// A select list of `exprs` cast to text as `c0`…, padded with NULLs
    /// to the columns [`Database::inspect`] reads.
    pub(crate) fn select(self, exprs: &[&str]) -> String {
        (0..crate::db::INSPECT_COLUMNS)
            .map(|i| match exprs.get(i) {
                Some(e) => format!("{} AS c{i}", self.text(e)),
                None => format!("{} AS c{i}", self.text("NULL")),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether table `name` exists in the current database/schema.
    pub(crate) async fn has_table(self, db: &Database, name: &str) -> Result<bool, DbError> {
        let sql = match self {
            Kind::Sqlite => {
                format!("SELECT {} FROM sqlite_master WHERE type = 'table' AND name = '{name}'", self.select(&["name"]))
            }
            Kind::Postgres => format!(
                "SELECT {} FROM pg_tables WHERE schemaname = current_schema() AND tablename = '{name}'",
                self.select(&["tablename"])
            ),
            Kind::Mysql => format!(
                "SELECT {} FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{name}'",
                self.select(&["TABLE_NAME"])
            ),
        };
        Ok(!db.inspect(sql).await?.is_empty())
    }
}

/// `ledger-server [--settings PATH] check`: runs every check, prints the
/// report; the exit status.
pub fn run(sources: Sources<'_>) -> u8 {
    let mut report = Report::default();
    let settings = match Settings::load(sources) {
        Ok(settings) => settings,
        Err(e) => {
            let e = StartupError::from(e);
            report.line(Status::Fail, "settings", e.to_string());
            report.summary();
            return e.exit_code();
        }
    };
    report.line(
        Status::Ok,
        "settings",
        format!(
            "DATABASE_URL {}, ALGORITHM {}, TIME_ZONE {}",
            settings.database_url,
            settings.algorithm.name(),
            settings.time_zone
        ),
    );
    if settings.secret_key.is_insecure() {
        report.line(Status::Warn, "settings", "SECRET_KEY is not set: the insecure development key is in use");
    }
    let system = actix_rt::System::new();
    system.block_on(checks(&settings, &mut report));
    report.summary();
    if report.failed() {
        1
    } else {
        0
    }
}

const DB_CHECKS: [&str; 5] = ["schema", "django migrations", "ledger migrations", "tokens", "clock"];

async fn checks(settings: &Settings, report: &mut Report) {
    match connect(settings).await {
        Ok(db) => {
            report.line(Status::Ok, "database", format!("{} {} answers", db.backend_name(), settings.database_url));
            let kind = Kind::of(&db);
            schema::check(&db, kind, report).await;
            migrations::check(&db, kind, report).await;
            upstream::check(settings, report);
            tokens::check(&db, kind, settings, report).await;
            clock::check(&db, kind, settings.time_zone, report).await;
        }
        Err(e) => {
            report.line(Status::Fail, "database", e);
            for name in DB_CHECKS {
                report.line(Status::Skip, name, "the database is not reachable");
            }
            upstream::check(settings, report);
        }
    }
}

/// Opens the database (two connections at most) and pings it once; a
/// SQLite file must exist already.
async fn connect(settings: &Settings) -> Result<Database, String> {
    #[allow(irrefutable_let_patterns)] // SQLite is the only backend without the features
    if let DatabaseUrl::Sqlite(path) = &settings.database_url {
        if !path.is_file() {
            return Err(format!("{} does not exist (not created: check writes nothing)", path.display()));
        }
    }
    let db = Database::open_with(&settings.database_url, 2, settings.time_zone, 0, settings.database_pooler)
        .map_err(|e| format!("{}: {e}", settings.database_url))?;
    db.ping().await.map_err(|e| format!("{}: {e}", settings.database_url))?;
    Ok(db)
}

/// The `schema` check alone, for the admin listener's readiness: every
/// difference of `users` and `tokens` from Django's migration (none: as
/// expected), nothing printed.
pub(crate) async fn schema_differences(db: &Database) -> Result<Vec<String>, DbError> {
    schema::differences(db, Kind::of(db)).await
}

/// The `upstream` check alone: `GET /` answered within `timeout` (blocks:
/// call it off the async workers).
pub(crate) fn probe_upstream(
    upstream: &crate::settings::Upstream,
    timeout: std::time::Duration,
) -> Result<String, String> {
    upstream::probe(upstream, timeout)
}

/// A database error as a check's detail.
pub(crate) fn db_fail(report: &mut Report, name: &'static str, e: DbError) {
    report.line(Status::Fail, name, format!("cannot read: {e}"));
}
