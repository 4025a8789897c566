//! Time as Django writes it under `USE_TZ = False`.

use chrono::Utc;

/// Django's `datetime.now()` under `USE_TZ = False`: naive wall-clock
/// time in `TIME_ZONE`, to the microsecond.
pub(crate) fn local_now(tz: chrono_tz::Tz) -> chrono::NaiveDateTime {
    micros(Utc::now()).with_timezone(&tz).naive_local()
}

/// Python's datetimes carry microseconds, not nanoseconds.
pub(crate) fn micros(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// `str(datetime)` of a naive datetime, as Django's SQLite backend stores it
/// (no fraction when the microseconds are zero).
pub(crate) fn format_naive(t: chrono::NaiveDateTime) -> String {
    use chrono::Timelike;
    let micros = t.nanosecond() / 1000 % 1_000_000;
    if micros == 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        format!("{}.{micros:06}", t.format("%Y-%m-%d %H:%M:%S"))
    }
}

/// The current Unix time in whole seconds (the hardened tables' clock).
pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_django_str() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap().and_hms_micro_opt(13, 19, 16, 785559).unwrap();
        assert_eq!(format_naive(t), "2026-11-27 13:19:16.785559");
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap().and_hms_micro_opt(3, 4, 5, 0).unwrap();
        assert_eq!(format_naive(t), "2026-01-02 03:04:05");
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap().and_hms_micro_opt(3, 4, 5, 7).unwrap();
        assert_eq!(format_naive(t), "2026-01-02 03:04:05.000007");
    }
}
