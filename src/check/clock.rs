//! `clock`: Django (`USE_TZ = False`) writes naive wall-clock times in
//! `TIME_ZONE` on SQLite (text) and MySQL (`datetime(6)`); read in the
//! configured `TIME_ZONE`, the newest `users` row must not lie in the
//! future. One that does was written in a zone ahead of `TIME_ZONE`, or
//! this machine's clock is behind. PostgreSQL's `timestamp with time
//! zone` stores the instant itself: the zone cannot be wrong there, only
//! the clock. (`tokens` has no timestamps.)

use chrono::{NaiveDateTime, TimeZone};

use crate::db::{unix_now, Database, DbError};

use super::{db_fail, Kind, Report, Status};

/// How far in the future the newest row may be (clocks drift).
const TOLERANCE_SECONDS: i64 = 600;

pub(crate) async fn check(db: &Database, kind: Kind, tz: chrono_tz::Tz, report: &mut Report) {
    match newest(db, kind).await {
        Ok(None) => report.line(Status::Ok, "clock", "no users rows: nothing to compare"),
        Ok(Some(raw)) => {
            let (status, detail) = verdict(kind, &raw, tz, unix_now());
            report.line(status, "clock", detail)
        }
        Err(e) => db_fail(report, "clock", e),
    }
}

/// The newest `users.updated_at` (PostgreSQL: its Unix time).
async fn newest(db: &Database, kind: Kind) -> Result<Option<String>, DbError> {
    let expr = match kind {
        Kind::Postgres => "floor(extract(epoch from max(updated_at)))::bigint",
        _ => "MAX(updated_at)",
    };
    let sql = format!("SELECT {} FROM users", kind.select(&[expr]));
    Ok(db.inspect(sql).await?.first().and_then(|r| r.c0.clone()))
}

/// `raw` read in `tz` against `now` (Unix seconds).
fn verdict(kind: Kind, raw: &str, tz: chrono_tz::Tz, now: i64) -> (Status, String) {
    let instant = match kind {
        Kind::Postgres => raw.parse::<i64>().ok(),
        _ => NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .and_then(|naive| tz.from_local_datetime(&naive).earliest())
            .map(|t| t.timestamp()),
    };
    let Some(instant) = instant else {
        return (Status::Fail, format!("the newest users.updated_at ({raw}) is not a timestamp Django writes"));
    };
    let ahead = instant - now;
    if ahead > TOLERANCE_SECONDS {
        let why = match kind {
            Kind::Postgres => "this machine's clock is behind the one that wrote it".to_string(),
            _ => format!("rows were written in a zone ahead of TIME_ZONE {tz}, or this machine's clock is behind"),
        };
        return (
            Status::Fail,
            format!("the newest users row (updated_at {raw}) is {} min in the future: {why}", ahead / 60),
        );
    }
    let age = if ahead >= 0 { "just now".to_string() } else { format!("{} s ago", -ahead) };
    match kind {
        Kind::Postgres => (
            Status::Ok,
            format!("timestamp with time zone stores instants, so TIME_ZONE cannot disagree; the newest users row is from {age}"),
        ),
        _ => (Status::Ok, format!("the newest users row (updated_at {raw}), read in TIME_ZONE {tz}, is from {age}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_a_zone_ahead_are_in_the_future() {
        let seoul = chrono_tz::Asia::Seoul;
        // 2026-12-01 12:00:00 UTC
        let now = 1_796_126_400;
        let (s, _) = verdict(Kind::Sqlite, "2026-12-01 21:00:00.5", seoul, now);
        assert_eq!(s, Status::Ok);
        // written in Seoul, read as UTC: 9 hours ahead
        let (s, detail) = verdict(Kind::Mysql, "2026-12-01 21:00:00", chrono_tz::UTC, now);
        assert_eq!(s, Status::Fail, "{detail}");
        assert!(detail.contains("540 min in the future"), "{detail}");
        assert_eq!(verdict(Kind::Postgres, &(now + 3600).to_string(), seoul, now).0, Status::Fail);
        assert_eq!(verdict(Kind::Postgres, &(now - 5).to_string(), seoul, now).0, Status::Ok);
        assert_eq!(verdict(Kind::Sqlite, "yesterday", seoul, now).0, Status::Fail);
    }
}
