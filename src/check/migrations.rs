//! `django migrations` (what Django's `django_migrations` records of the
//! `users` app: informational) and `ledger migrations` (ledger-server's
//! own, applied vs built in: pending ones fail).

use crate::db::{Database, DbError};

use super::{db_fail, Kind, Report, Status};

pub(crate) async fn check(db: &Database, kind: Kind, report: &mut Report) {
    match django(db, kind).await {
        Ok((status, detail)) => report.line(status, "django migrations", detail),
        Err(e) => db_fail(report, "django migrations", e),
    }
    match ledger(db, kind).await {
        Ok((status, detail)) => report.line(status, "ledger migrations", detail),
        Err(e) => db_fail(report, "ledger migrations", e),
    }
}

async fn django(db: &Database, kind: Kind) -> Result<(Status, String), DbError> {
    const NONE: &str =
        "none (ledger-server created the tables; run Django's migrate --fake-initial before starting Django)";
    if !kind.has_table(db, "django_migrations").await? {
        return Ok((Status::Ok, NONE.to_string()));
    }
    let sql = format!("SELECT {} FROM django_migrations WHERE app = 'users' ORDER BY id", kind.select(&["name"]));
    let names: Vec<String> = db.inspect(sql).await?.iter().map(|r| r.get(0).to_string()).collect();
    Ok(match names.as_slice() {
        [] => (Status::Ok, NONE.to_string()),
        names => (Status::Ok, format!("users {} recorded", names.join(", "))),
    })
}

async fn ledger(db: &Database, kind: Kind) -> Result<(Status, String), DbError> {
    let built_in = db.embedded_migrations()?;
    let applied: Vec<String> = if kind.has_table(db, "__diesel_schema_migrations").await? {
        let sql = format!("SELECT {} FROM __diesel_schema_migrations ORDER BY version", kind.select(&["version"]));
        db.inspect(sql).await?.iter().map(|r| r.get(0).to_string()).collect()
    } else {
        Vec::new()
    };
    let pending: Vec<&String> = built_in.iter().filter(|v| !applied.contains(v)).collect();
    let unknown: Vec<&String> = applied.iter().filter(|v| !built_in.contains(v)).collect();
    if !pending.is_empty() {
        let list = pending.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ");
        return Ok((
            Status::Fail,
            format!("{} of {} pending: {list} (run ledger-server migrate)", pending.len(), built_in.len()),
        ));
    }
    if !unknown.is_empty() {
        let list = unknown.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ");
        return Ok((
            Status::Warn,
            format!("all {} applied, and {list} that this binary does not know (a newer one ran here)", built_in.len()),
        ));
    }
    Ok((Status::Ok, format!("all {} applied ({})", built_in.len(), built_in.join(", "))))
}
