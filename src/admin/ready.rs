//! `/health/ready`: the checks of `ledger-server check` that say whether
//! this process can serve, run off the async workers and cached for
//! [`CACHE_FOR`] (a load balancer polling every second costs one round of
//! checks per [`CACHE_FOR`], and one round at a time: concurrent probes
//! wait for the round under way).
//!
//! - `database`: it answers (a ping, within [`CHECK_TIMEOUT`]);
//! - `schema`: `users` and `tokens` are as Django's migration makes them
//!   (`ledger-server check`'s `schema` check); not checked (`skip`) while
//!   the database does not answer;
//! - `upstream`: `UPSTREAM`, when set, answers `GET /` within
//!   [`CHECK_TIMEOUT`] (`skip` when it is not set).
//!
//! Each detail is one line and holds no secret: database errors never
//! carry the URL's password (see src/error.rs), and no URL is shown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::Database;
use crate::settings::Upstream;

/// How long one round of checks is reused.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(5);
/// The longest each check may take before it counts as failed.
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Differences of the schema shown; the rest are counted.
const SHOWN: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    Ok,
    Fail,
    Skip,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Check {
    pub name: &'static str,
    pub status: State,
    pub detail: String,
}

/// One round of checks.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    pub checks: Vec<Check>,
}

#[derive(Serialize)]
struct Body<'a> {
    status: &'static str,
    failed: Vec<&'static str>,
    checks: &'a [Check],
}

impl Verdict {
    pub(crate) fn ready(&self) -> bool {
        self.checks.iter().all(|c| c.status != State::Fail)
    }

    /// `{"status": "ready" | "not ready", "failed": [names], "checks": [...]}`.
    pub(crate) fn to_json(&self) -> String {
        let failed = self.checks.iter().filter(|c| c.status == State::Fail).map(|c| c.name).collect();
        let status = if self.ready() { "ready" } else { "not ready" };
        serde_json::to_string(&Body { status, failed, checks: &self.checks })
            .unwrap_or_else(|e| format!(r#"{{"status": "not ready", "error": "cannot encode: {e}"}}"#))
    }
}

/// The checks and their cache.
pub(crate) struct Readiness {
    db: Database,
    upstream: Option<Upstream>,
    last: tokio::sync::Mutex<Option<(Instant, Arc<Verdict>)>>,
}

/// One line, whatever the cause's own line breaks.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Readiness {
    pub(crate) fn new(db: Database, upstream: Option<Upstream>) -> Readiness {
        Readiness { db, upstream, last: tokio::sync::Mutex::new(None) }
    }

    /// The latest round, or a new one when it is older than [`CACHE_FOR`].
    pub(crate) async fn verdict(&self) -> Arc<Verdict> {
        let mut last = self.last.lock().await;
        if let Some((at, verdict)) = last.as_ref() {
            if at.elapsed() < CACHE_FOR {
                return verdict.clone();
            }
        }
        let verdict = Arc::new(self.round().await);
        *last = Some((Instant::now(), verdict.clone()));
        verdict
    }

    async fn round(&self) -> Verdict {
        let (mut checks, upstream) = futures_util::future::join(self.database(), self.upstream()).await;
        checks.push(upstream);
        Verdict { checks }
    }

    /// `database`, then `schema`.
    async fn database(&self) -> Vec<Check> {
        let check = |name, status, detail: String| Check { name, status, detail: one_line(&detail) };
        let backend = self.db.backend_name();
        match actix_rt::time::timeout(CHECK_TIMEOUT, self.db.ping()).await {
            Ok(Ok(())) => {}
            failed => {
                let cause = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
                };
                return vec![
                    check("database", State::Fail, format!("{backend}: {cause}")),
                    check("schema", State::Skip, "not checked: the database does not answer".into()),
                ];
            }
        }
        let database = check("database", State::Ok, format!("{backend} answers"));
        let schema = match actix_rt::time::timeout(CHECK_TIMEOUT, crate::check::schema_differences(&self.db)).await {
            Ok(Ok(diffs)) if diffs.is_empty() => {
                check("schema", State::Ok, "users and tokens are as Django's migration makes them".into())
            }
            Ok(Ok(diffs)) => {
                let mut detail = diffs.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
                if diffs.len() > SHOWN {
                    detail.push_str(&format!(" (and {} more)", diffs.len() - SHOWN));
                }
                check("schema", State::Fail, detail)
            }
            Ok(Err(e)) => check("schema", State::Fail, format!("cannot read: {e}")),
            Err(_) => check("schema", State::Fail, format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        };
        vec![database, schema]
    }

    async fn upstream(&self) -> Check {
        let Some(upstream) = self.upstream.clone() else {
            return Check { name: "upstream", status: State::Skip, detail: "UPSTREAM not set".into() };
        };
        let shown = upstream.to_string();
        let probed = crate::runtime::blocking(move || crate::check::probe_upstream(&upstream, CHECK_TIMEOUT)).await;
        let (status, detail) = match probed {
            Ok(Ok(answer)) => (State::Ok, format!("{shown} answers GET / with {answer}")),
            Ok(Err(e)) => (State::Fail, format!("{shown}: {e}")),
            Err(e) => (State::Fail, format!("{shown}: {e}")),
        };
        Check { name: "upstream", status, detail: one_line(&detail) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_makes_it_not_ready_and_is_named() {
        let ok = Check { name: "database", status: State::Ok, detail: "sqlite answers".into() };
        let skip = Check { name: "upstream", status: State::Skip, detail: "UPSTREAM not set".into() };
        let ready = Verdict { checks: vec![ok.clone(), skip.clone()] };
        assert!(ready.ready());
        let body: serde_json::Value = serde_json::from_str(&ready.to_json()).unwrap();
        assert_eq!(body["status"], "ready");
        assert_eq!(body["failed"], serde_json::json!([]));
        let fail = Check { name: "schema", status: State::Fail, detail: "users.email is …".into() };
        let not = Verdict { checks: vec![ok, fail, skip] };
        assert!(!not.ready());
        let body: serde_json::Value = serde_json::from_str(&not.to_json()).unwrap();
        assert_eq!(body["status"], "not ready");
        assert_eq!(body["failed"], serde_json::json!(["schema"]));
        assert_eq!(body["checks"][1]["detail"], "users.email is …");
        assert_eq!(one_line("a\n  b\tc"), "a b c");
    }
}
