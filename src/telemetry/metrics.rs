//! The server's metrics, in one Prometheus registry, and the typed
//! functions every part records with; the admin listener's `/metrics`
//! renders them ([`render`]) in Prometheus' text format.
//!
//! The crate is `prometheus` (TiKV's, the reference Rust client) rather
//! than `metrics` + `metrics-exporter-prometheus`: it has an explicit
//! registry and renders the text format by itself, with no HTTP server,
//! global recorder or runtime of its own (built without its `protobuf`
//! default feature: five small dependencies). Its counters and histograms
//! are atomics behind an `Arc`.
//!
//! The hot path never looks a label set up: `with_label_values` hashes the
//! values and takes a read lock. Each labelled series is resolved once, on
//! its first use, into a [`OnceLock`] slot of a fixed table indexed by the
//! typed labels ([`Route`], the method, the status class, [`Profile`]);
//! later requests find it with one atomic load, then increment atomics. No
//! label is ever a raw request value (a path, an unknown method): the
//! series are bounded by the tables' sizes. Series appear once they are
//! first recorded (those without labels, and the few fixed label sets of
//! upstream errors, shadow verdicts and throttling, are there from the
//! start, at 0).
//!
//! Recording does not depend on `ADMIN_BIND`: without it the values are
//! simply never read.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The media type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where a request went: the resolved route's name, never the raw path.
/// Its own enum, not `http::routes::Route`: telemetry comes first in the
/// import order, and it adds what is not a route (the front door, the 404)
/// in a fixed set, one slot each in the table of series
/// (`http::routes::metric` maps the two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Signup,
    Login,
    Logout,
    LogoutAll,
    Sessions,
    /// `/users/sessions/<id>`.
    Session,
    /// Forwarded by the front door (`UPSTREAM`), or relayed by shadow mode.
    Upstream,
    /// No route: Django's 404 page (or a CORS preflight answered by the
    /// middleware).
    NotFound,
}

impl Route {
    const COUNT: usize = 8;

    pub fn label(self) -> &'static str {
        match self {
            Route::Signup => "users/signup",
            Route::Login => "users/login",
            Route::Logout => "users/logout",
            Route::LogoutAll => "users/logout-all",
            Route::Sessions => "users/sessions",
            Route::Session => "users/session",
            Route::Upstream => "upstream",
            Route::NotFound => "not_found",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// `PROFILE`, as a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Compat,
    Hardened,
}

impl Profile {
    pub fn label(self) -> &'static str {
        match self {
            Profile::Compat => "compat",
            Profile::Hardened => "hardened",
        }
    }
}

/// The method labels; any other method is `other`.
const METHODS: [&str; 10] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const REQUEST_SLOTS: usize = Route::COUNT * METHODS.len() * CLASSES.len() * 2;

fn method_index(method: &str) -> usize {
    METHODS[..METHODS.len() - 1].iter().position(|m| *m == method).unwrap_or(METHODS.len() - 1)
}

fn class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(1, CLASSES.len()) - 1
}

/// Why a forward to the upstream failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    /// No connection could be made.
    Connect,
    /// No answer head within `UPSTREAM_TIMEOUT`.
    Timeout,
    /// The connection failed while the request or the answer head was on it.
    Exchange,
    /// The request could not be put on the wire (a `CONNECT`, a bad target).
    Request,
}

const UPSTREAM_ERRORS: [&str; 4] = ["connect", "timeout", "exchange", "request"];

/// A shadow check's outcome (`skipped`: not sampled, or not checkable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shadow {
    Matched,
    Mismatched,
    Racy,
    Skipped,
}

const SHADOW: [&str; 4] = ["matched", "mismatched", "racy", "skipped"];
const THROTTLED: [Route; 2] = [Route::Login, Route::Signup];

/// Request latency buckets, in seconds (a cost-12 bcrypt check is ~0.25 s).
const LATENCY: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Waits (bcrypt queue, pool checkout), in seconds.
const WAITS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Logouts per group commit.
const BATCHES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_slots: Vec<OnceLock<IntCounter>>,
    latency: HistogramVec,
    latency_slots: [OnceLock<Histogram>; Route::COUNT],
    bcrypt_queue: IntGauge,
    bcrypt_wait: Histogram,
    bcrypt_checks: IntCounter,
    bcrypt_refused: IntCounter,
    pool_size: IntGauge,
    pool_open: IntGauge,
    pool_in_use: IntGauge,
    pool_wait: Histogram,
    batch: Histogram,
    upstream_requests: IntCounter,
    upstream_errors: [IntCounter; 4],
    upstream_latency: Histogram,
    shadow: [IntCounter; 4],
    throttled: [IntCounter; 2],
    build_info: IntGaugeVec,
}

/// Registers `metric`; only a name registered twice fails, which the fixed
/// list below never does.
fn registered<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry.register(Box::new(metric.clone())).expect("each metric is registered once, under its own name");
    metric
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid histogram options")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid counter options")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid gauge options")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter options")
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let upstream_errors = registered(
            &r,
            counter_vec("ledger_upstream_errors_total", "Forwards to UPSTREAM that failed, by kind.", &["kind"]),
        );
        let shadow = registered(
            &r,
            counter_vec("ledger_shadow_checks_total", "Shadow mode's checks, by verdict.", &["verdict"]),
        );
        let throttled = registered(
            &r,
            counter_vec(
                "ledger_throttled_total",
                "Hardened: logins and signups refused (429) by throttling.",
                &["route"],
            ),
        );
        Metrics {
            requests: registered(
                &r,
                counter_vec(
                    "ledger_http_requests_total",
                    "Requests answered on the main port.",
                    &["route", "method", "status", "profile"],
                ),
            ),
            request_slots: (0..REQUEST_SLOTS).map(|_| OnceLock::new()).collect(),
            latency: registered(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "ledger_http_request_duration_seconds",
                        "Time from the request's routing to its answer head, by route.",
                    )
                    .buckets(LATENCY.to_vec()),
                    &["route"],
                )
                .expect("valid histogram options"),
            ),
            latency_slots: Default::default(),
            bcrypt_queue: registered(&r, gauge("ledger_bcrypt_queue_depth", "bcrypt jobs waiting for a thread.")),
            bcrypt_wait: registered(
                &r,
                histogram("ledger_bcrypt_wait_seconds", "Time a bcrypt job waited for a thread.", WAITS),
            ),
            bcrypt_checks: registered(&r, counter("ledger_bcrypt_checks_total", "bcrypt hashes and checks computed.")),
            bcrypt_refused: registered(
                &r,
                counter("ledger_bcrypt_refused_total", "bcrypt jobs refused at once (503 SERVER_BUSY)."),
            ),
            pool_size: registered(&r, gauge("ledger_db_pool_size", "Connections the database pool may hold.")),
            pool_open: registered(&r, gauge("ledger_db_pool_connections", "Database connections open.")),
            pool_in_use: registered(&r, gauge("ledger_db_pool_in_use", "Database connections checked out.")),
            pool_wait: registered(
                &r,
                histogram("ledger_db_pool_checkout_wait_seconds", "Time to check a connection out of the pool.", WAITS),
            ),
            batch: registered(
                &r,
                histogram("ledger_sqlite_group_commit_batch_size", "SQLite: logouts per group commit.", BATCHES),
            ),
            upstream_requests: registered(
                &r,
                counter("ledger_upstream_requests_total", "Requests forwarded to UPSTREAM."),
            ),
            upstream_errors: UPSTREAM_ERRORS.map(|kind| upstream_errors.with_label_values(&[kind])),
            upstream_latency: registered(
                &r,
                histogram("ledger_upstream_duration_seconds", "Time until UPSTREAM's answer head.", LATENCY),
            ),
            shadow: SHADOW.map(|verdict| shadow.with_label_values(&[verdict])),
            throttled: THROTTLED.map(|route| throttled.with_label_values(&[route.label()])),
            build_info: registered(
                &r,
                IntGaugeVec::new(
                    Opts::new("ledger_build_info", "Always 1: the version, database backend and profile."),
                    &["version", "backend", "profile"],
                )
                .expect("valid gauge options"),
            ),
            registry: r,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// One answered request of the main port, and its latency.
pub fn request(route: Route, method: &str, status: u16, profile: Profile, took: Duration) {
    let m = &*METRICS;
    let (method, class) = (method_index(method), class_index(status));
    let slot = ((route.index() * METHODS.len() + method) * CLASSES.len() + class) * 2 + profile as usize;
    m.request_slots[slot]
        .get_or_init(|| {
            m.requests.with_label_values(&[route.label(), METHODS[method], CLASSES[class], profile.label()])
        })
        .inc();
    m.latency_slots[route.index()]
        .get_or_init(|| m.latency.with_label_values(&[route.label()]))
        .observe(took.as_secs_f64());
}

/// The bcrypt jobs waiting now.
pub fn bcrypt_queued(depth: usize) {
    METRICS.bcrypt_queue.set(i64::try_from(depth).unwrap_or(i64::MAX));
}

/// A bcrypt job starts after waiting `waited`.
pub fn bcrypt_started(waited: Duration) {
    METRICS.bcrypt_wait.observe(waited.as_secs_f64());
}

/// A bcrypt job (a hash or a check) is done.
pub fn bcrypt_done() {
    METRICS.bcrypt_checks.inc();
}

/// A bcrypt job was refused: the queue was full.
pub fn bcrypt_refused() {
    METRICS.bcrypt_refused.inc();
}

/// A connection was checked out of the pool after `waited`.
pub fn pool_checkout(waited: Duration) {
    METRICS.pool_wait.observe(waited.as_secs_f64());
}

/// The pool's state (read when `/metrics` is rendered).
pub fn pool_state(size: u32, open: u32, idle: u32) {
    let m = &*METRICS;
    m.pool_size.set(size.into());
    m.pool_open.set(open.into());
    m.pool_in_use.set(open.saturating_sub(idle).into());
}

/// SQLite: one group commit of `logouts`.
pub fn group_commit(logouts: usize) {
    METRICS.batch.observe(logouts as f64);
}

/// A forward to the upstream ended: its answer head after `took`, or a failure.
pub fn upstream(outcome: Result<Duration, UpstreamError>) {
    let m = &*METRICS;
    m.upstream_requests.inc();
    match outcome {
        Ok(took) => m.upstream_latency.observe(took.as_secs_f64()),
        Err(kind) => m.upstream_errors[kind as usize].inc(),
    }
}

/// One shadow check (or a request shadow mode did not check).
pub fn shadow(outcome: Shadow) {
    METRICS.shadow[outcome as usize].inc();
}

/// Hardened: a login or signup refused by throttling.
pub fn throttled(route: Route) {
    if let Some(i) = THROTTLED.iter().position(|r| *r == route) {
        METRICS.throttled[i].inc();
    }
}

/// `ledger_build_info`, set once at start.
pub fn build_info(version: &str, backend: &str, profile: Profile) {
    METRICS.build_info.with_label_values(&[version, backend, profile.label()]).set(1);
}

/// Every metric in Prometheus' text format ([`CONTENT_TYPE`]).
pub fn render() -> String {
    let mut text = String::new();
    if let Err(e) = TextEncoder::new().encode_utf8(&METRICS.registry.gather(), &mut text) {
        log::error!("metrics: cannot render: {e}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the series `name{labels}` in `text` (labels in the
    /// order rendered).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Label sets no other unit test records (the registry is the process's).
    #[test]
    fn labels_are_bounded_and_counts_exact() {
        for _ in 0..3 {
            request(Route::Session, "PATCH", 204, Profile::Hardened, Duration::from_millis(3));
        }
        request(Route::NotFound, "BREW", 404, Profile::Hardened, Duration::from_millis(1));
        request(Route::NotFound, "get", 999, Profile::Hardened, Duration::from_millis(1));
        let text = render();
        let session =
            r#"ledger_http_requests_total{method="PATCH",profile="hardened",route="users/session",status="2xx"}"#;
        assert_eq!(value(&text, session), Some(3.0), "{text}");
        let other = r#"ledger_http_requests_total{method="other",profile="hardened",route="not_found",status="4xx"}"#;
        assert_eq!(value(&text, other), Some(1.0), "an unknown method is `other`: {text}");
        let odd = r#"ledger_http_requests_total{method="other",profile="hardened",route="not_found",status="5xx"}"#;
        assert_eq!(value(&text, odd), Some(1.0), "statuses past 5xx are 5xx: {text}");
        assert!(!text.contains("BREW"));
        let count = r#"ledger_http_request_duration_seconds_count{route="users/session"}"#;
        assert_eq!(value(&text, count), Some(3.0), "{text}");
        assert!(
            value(&text, r#"ledger_upstream_errors_total{kind="timeout"}"#).is_some(),
            "there from the start: {text}"
        );
    }

    #[test]
    fn the_slot_table_covers_every_label_set() {
        let last =
            ((Route::NotFound.index() * METHODS.len() + METHODS.len() - 1) * CLASSES.len() + CLASSES.len() - 1) * 2 + 1;
        assert_eq!(last + 1, REQUEST_SLOTS);
        assert_eq!(class_index(0), 0);
        assert_eq!(class_index(101), 0);
        assert_eq!(class_index(503), 4);
    }
}
