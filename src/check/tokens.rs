//! `tokens`: the stored compat tokens (plain JWTs, as Django and the
//! compat profile write them) verify with the configured `SECRET_KEY` and
//! `ALGORITHM` and name the row's user; hardened rows (`sha256:` digests)
//! cannot be checked and are counted. A wrong key would log every user
//! out at the switch. No token is ever printed.

use crate::auth::claims::{token_user, UserRef};
use crate::auth::jwt::{Rejection, TokenKey};
use crate::db::{unix_now, Database, DbError};
use crate::settings::Settings;

use super::{db_fail, Kind, Report, Status};

/// Rows sampled, newest first.
const SAMPLE: usize = 1000;

#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    rows: usize,
    hardened: usize,
    verified: usize,
    bad_signature: usize,
    other_user: usize,
    undecodable: usize,
}

pub(crate) async fn check(db: &Database, kind: Kind, settings: &Settings, report: &mut Report) {
    match sample(db, kind).await {
        Ok(rows) => {
            let key = TokenKey::new(settings.secret_key.expose(), settings.algorithm);
            let (status, detail) = verdict(&tally(&rows, &key), settings.algorithm.name());
            report.line(status, "tokens", detail)
        }
        Err(e) => db_fail(report, "tokens", e),
    }
}

async fn sample(db: &Database, kind: Kind) -> Result<Vec<(String, String)>, DbError> {
    let sql = format!("SELECT {} FROM tokens ORDER BY id DESC LIMIT {SAMPLE}", kind.select(&["user_id", "token"]));
    Ok(db.inspect(sql).await?.iter().map(|r| (r.get(0).to_string(), r.get(1).to_string())).collect())
}

fn tally(rows: &[(String, String)], key: &TokenKey) -> Tally {
    let now = unix_now();
    let mut t = Tally { rows: rows.len(), ..Tally::default() };
    for (user_id, token) in rows {
        if token.starts_with("sha256:") {
            t.hardened += 1;
            continue;
        }
        match token_user(Some(token.as_bytes()), key, now) {
            Ok(UserRef::Id(id)) if id.to_string() == *user_id => t.verified += 1,
            Ok(_) => t.other_user += 1,
            Err(Rejection::Signature) => t.bad_signature += 1,
            Err(_) => t.undecodable += 1,
        }
    }
    t
}

fn verdict(t: &Tally, algorithm: &str) -> (Status, String) {
    if t.rows == 0 {
        return (Status::Ok, "no stored tokens: nothing to verify".into());
    }
    let compat = t.rows - t.hardened;
    let sampled = if t.rows >= SAMPLE { format!("the newest {SAMPLE} rows") } else { format!("{} rows", t.rows) };
    let hardened = if t.hardened > 0 {
        format!("; {} hardened sessions (digests), not checkable", t.hardened)
    } else {
        String::new()
    };
    if t.bad_signature > 0 {
        return (
            Status::Fail,
            format!(
                "{} of {compat} stored tokens do not verify with this SECRET_KEY/ALGORITHM ({algorithm}): \
                 the switch would log those users out ({sampled} sampled{hardened})",
                t.bad_signature
            ),
        );
    }
    if t.other_user + t.undecodable > 0 {
        return (
            Status::Fail,
            format!(
                "{} of {compat} stored tokens verify but name another user, {} do not decode ({sampled} sampled{hardened})",
                t.other_user, t.undecodable
            ),
        );
    }
    (
        Status::Ok,
        format!(
            "{} of {compat} stored tokens verify with SECRET_KEY/ALGORITHM ({algorithm}) ({sampled} sampled{hardened})",
            t.verified
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::Algorithm;

    #[test]
    fn tokens_of_another_key_fail_and_hardened_rows_are_counted() {
        let a = TokenKey::new("key-a", Algorithm::HS256);
        let b = TokenKey::new("key-b", Algorithm::HS256);
        let rows = vec![
            ("1".to_string(), a.issue(1)),
            ("2".to_string(), a.issue(2)),
            ("3".to_string(), "sha256:00".to_string()),
            ("4".to_string(), a.issue(5)),
        ];
        let with_a = tally(&rows, &a);
        assert_eq!(with_a, Tally { rows: 4, hardened: 1, verified: 2, other_user: 1, ..Tally::default() });
        assert_eq!(verdict(&with_a, "HS256").0, Status::Fail);
        let with_b = tally(&rows, &b);
        assert_eq!(with_b.bad_signature, 3);
        let (status, detail) = verdict(&with_b, "HS256");
        assert_eq!(status, Status::Fail);
        assert!(detail.starts_with("3 of 3 stored tokens do not verify"), "{detail}");
        let good = tally(&rows[..3], &a);
        assert_eq!(verdict(&good, "HS256").0, Status::Ok);
        assert_eq!(verdict(&Tally::default(), "HS256").0, Status::Ok);
    }
}
