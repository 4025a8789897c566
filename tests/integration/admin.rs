//! The admin listener (`ADMIN_BIND`, issue 16 §1) of the real binary:
//! `/health/alive`, `/health/ready` (503 naming what failed: the database
//! down, then back without a restart; an altered schema; an upstream
//! down), `/metrics` (exactly the requests sent, by route, method, status
//! class and profile; bcrypt, pool, group commit, upstream, shadow and
//! throttling move when exercised), 404/405 for anything else; and the
//! main port's `/metrics` still Django's 404 page.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ledger_contract::client::Client;
use ledger_contract::fixtures;
use ledger_contract::kit::requests::{self, login, logout, show, signup};
use ledger_contract::kit::{free_addr, Backend, LedgerBinary, PgInstance, ServerProcess, TestDb};
use ledger_contract::model::{compare_exact, Request, Response};

use crate::stub_upstream::{Reply, Stub};

const KEY: &str = "admin-test-key";
/// Longer than the readiness cache (5 s), with room for a loaded machine.
const TURNS_WITHIN: Duration = Duration::from_secs(30);

/// A ledger-server process with its admin listener.
struct Served {
    main: ServerProcess,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(database_url: &str, settings: &[(&str, &str)]) -> Served {
        let dir = tempfile::tempdir().expect("a temp dir");
        let admin = free_addr().expect("a free port");
        let mut binary = LedgerBinary::serving(crate::BIN, dir.path(), KEY, database_url)
            .setting("ADMIN_BIND", admin.to_string())
            .setting("POOL_SIZE", "3");
        for (key, value) in settings {
            binary = binary.setting(key, value);
        }
        let main = binary.start().unwrap_or_else(|e| panic!("{e}"));
        let served = Served { main, admin, _dir: dir };
        served.wait_admin();
        served
    }

    fn wait_admin(&self) {
        Client::new(self.admin).wait_ready(Duration::from_secs(30)).unwrap_or_else(|e| panic!("admin listener: {e}"));
    }

    fn admin(&self, method: &str, path: &str) -> Response {
        Client::new(self.admin)
            .send(&Request::new(method, path))
            .unwrap_or_else(|e| panic!("{method} {path} on the admin listener: {e}\n{}", self.main.log()))
    }

    fn send(&self, req: &Request) -> Response {
        self.main.send(req)
    }

    fn metrics(&self) -> Metrics {
        let r = self.admin("GET", "/metrics");
        assert_eq!(r.status, 200, "{}", show(&r));
        assert_eq!(r.header_values("content-type"), vec![&b"text/plain; version=0.0.4; charset=utf-8"[..]]);
        Metrics::parse(&String::from_utf8(r.body).expect("UTF-8 metrics"))
    }

    fn ready(&self) -> (u16, serde_json::Value) {
        let r = self.admin("GET", "/health/ready");
        assert_eq!(r.header_values("content-type"), vec![&b"application/json"[..]], "{}", show(&r));
        (r.status, serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", show(&r))))
    }

    /// Polls `/health/ready` until it answers `status`; that answer's body.
    fn ready_turns(&self, status: u16, why: &str) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let (got, body) = self.ready();
            if got == status {
                return body;
            }
            assert!(started.elapsed() < TURNS_WITHIN, "{why}: /health/ready stayed {got} {body}\n{}", self.main.log());
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// `/metrics` parsed: each series (`name{k="v",…}`, labels sorted) and its
/// value. Every line must be a comment or a sample.
struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut series = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line:?}"));
            let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
            let key = match key.split_once('{') {
                None => key.to_owned(),
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("{line:?}"));
                    let mut pairs: Vec<&str> = labels.split(',').filter(|p| !p.is_empty()).collect();
                    pairs.sort();
                    format!("{name}{{{}}}", pairs.join(","))
                }
            };
            assert!(series.insert(key, value).is_none(), "a series twice: {line:?}");
        }
        for family in ["ledger_http_requests_total", "ledger_bcrypt_checks_total", "ledger_build_info"] {
            assert!(text.contains(&format!("# TYPE {family} ")), "no # TYPE for {family}:\n{text}");
        }
        Metrics(series)
    }

    /// What changed since `before` (the kit's own readiness probe of the
    /// main port is counted too: tests compare differences).
    fn since(&self, before: &Metrics) -> Metrics {
        let changed = self.0.iter().map(|(k, v)| (k.clone(), v - before.0.get(k).copied().unwrap_or(0.0)));
        Metrics(changed.collect())
    }

    /// The value of `name{labels}` (0 when the series is absent).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        pairs.sort();
        let key = if pairs.is_empty() { name.to_owned() } else { format!("{name}{{{}}}", pairs.join(",")) };
        self.0.get(&key).copied().unwrap_or(0.0)
    }

    /// Every series of `name`, summed.
    fn sum(&self, name: &str) -> f64 {
        self.0.iter().filter(|(k, _)| k.split('{').next() == Some(name)).map(|(_, v)| v).sum()
    }

    fn requests(&self, route: &str, method: &str, status: &str, profile: &str) -> f64 {
        let labels = [("route", route), ("method", method), ("status", status), ("profile", profile)];
        self.get("ledger_http_requests_total", &labels)
    }
}

fn sqlite(label: &str) -> TestDb {
    TestDb::create(Backend::Sqlite, label).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn admin_alive_ready_and_other_requests() {
    let db = sqlite("admin_alive");
    let s = Served::start(db.database_url(), &[]);
    let alive = s.admin("GET", "/health/alive");
    assert_eq!((alive.status, alive.body.as_slice()), (200, &br#"{"status": "alive"}"#[..]), "{}", show(&alive));
    assert_eq!(s.admin("HEAD", "/health/alive").status, 200);
    let (status, body) = s.ready();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["failed"], serde_json::json!([]));
    let names: Vec<&str> = body["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["database", "schema", "upstream"], "{body}");
    assert_eq!(body["checks"][2]["status"], "skip");

    let post = s.admin("POST", "/health/ready");
    assert_eq!((post.status, post.body.as_slice()), (405, &b"405 Method Not Allowed\n"[..]));
    assert_eq!(post.header_values("allow"), vec![&b"GET, HEAD"[..]]);
    let unknown = s.admin("GET", "/users/login");
    assert_eq!((unknown.status, unknown.body.as_slice()), (404, &b"404 Not Found\n"[..]));
}

/// The main port's `/metrics` is Django's 404 page, exactly as the oracle
/// recorded it for another unknown path (`paths` fixture, `GET /`), with
/// the admin listener on.
#[test]
fn admin_leaves_the_main_ports_metrics_path_to_django() {
    let fixture = fixtures::read(&fixtures::path_for(&fixtures::backend_dir(Backend::Sqlite), "paths")).unwrap();
    let recorded = fixture
        .exchanges
        .iter()
        .find(|e| e.request.method == "GET" && e.request.path == b"/" && e.request.headers.is_empty())
        .expect("the paths fixture has GET /")
        .response
        .clone();
    assert_eq!(recorded.status, 404);
    let db = sqlite("admin_main_port");
    let s = Served::start(db.database_url(), &[]);
    for path in ["/metrics", "/health/ready", "/health/alive"] {
        let answer = s.send(&Request::new("GET", path));
        if let Err(diff) = compare_exact(&recorded, &answer) {
            panic!("GET {path} on the main port differs from Django's 404: {diff}");
        }
    }
}

/// N requests of several routes and statuses read back as exactly N, by
/// route, method, status class and profile; the bcrypt, pool and group
/// commit metrics count what those requests did.
#[test]
fn admin_metrics_count_exactly_what_was_sent() {
    let db = sqlite("admin_counts");
    let s = Served::start(db.database_url(), &[]);
    let before = s.metrics();
    let emails: Vec<String> = (0..3).map(|i| format!("m{i}@example.com")).collect();
    for email in &emails {
        assert_eq!(s.send(&signup(email)).status, 201);
    }
    for _ in 0..2 {
        assert_eq!(s.send(&signup(&emails[0])).status, 400, "duplicate");
    }
    let mut tokens = Vec::new();
    for email in &emails {
        tokens.push(requests::access_token(&s.send(&login(email))).unwrap());
    }
    assert_eq!(s.send(&login("nobody@example.com")).status, 401);
    for token in &tokens {
        assert_eq!(s.send(&logout(token)).status, 200);
    }
    // two logins, two token rows: the original's logout raises (500)
    let twice = requests::access_token(&s.send(&login(&emails[0]))).unwrap();
    assert_eq!(s.send(&login(&emails[0])).status, 200);
    assert_eq!(s.send(&logout(&twice)).status, 500);
    for _ in 0..5 {
        assert_eq!(s.send(&Request::new("GET", "/nope")).status, 404);
    }
    for _ in 0..2 {
        assert_eq!(s.send(&Request::new("GET", "/users/login")).status, 405);
    }
    assert_eq!(s.send(&Request::new("BREW", "/nope")).status, 404);

    let m = s.metrics().since(&before);
    let expected = [
        ("users/signup", "POST", "2xx", 3.0),
        ("users/signup", "POST", "4xx", 2.0),
        ("users/login", "POST", "2xx", 5.0),
        ("users/login", "POST", "4xx", 1.0),
        ("users/login", "GET", "4xx", 2.0),
        ("users/logout", "POST", "2xx", 3.0),
        ("users/logout", "POST", "5xx", 1.0),
        ("not_found", "GET", "4xx", 5.0),
        ("not_found", "other", "4xx", 1.0),
    ];
    for (route, method, class, n) in expected {
        assert_eq!(m.requests(route, method, class, "compat"), n, "{route} {method} {class}: {:?}", m.0);
    }
    let total: f64 = expected.iter().map(|e| e.3).sum();
    assert_eq!(m.sum("ledger_http_requests_total"), total, "no other series: {:?}", m.0);
    for (route, n) in [("users/signup", 5.0), ("users/login", 8.0), ("users/logout", 4.0), ("not_found", 6.0)] {
        let count = m.get("ledger_http_request_duration_seconds_count", &[("route", route)]);
        assert_eq!(count, n, "latency count of {route}");
    }
    // 3 hashes and 5 checks (the unknown email and the duplicates cost none)
    assert_eq!(m.get("ledger_bcrypt_checks_total", &[]), 8.0);
    assert_eq!(m.get("ledger_bcrypt_wait_seconds_count", &[]), 8.0);
    assert_eq!(m.get("ledger_bcrypt_queue_depth", &[]), 0.0);
    assert_eq!(m.get("ledger_bcrypt_refused_total", &[]), 0.0);
    let gauges = s.metrics();
    assert_eq!(gauges.get("ledger_db_pool_size", &[]), 3.0);
    assert!(gauges.get("ledger_db_pool_connections", &[]) >= 1.0, "{:?}", gauges.0);
    let in_use = gauges.get("ledger_db_pool_in_use", &[]);
    assert!(in_use <= gauges.get("ledger_db_pool_connections", &[]), "{:?}", gauges.0);
    assert!(m.get("ledger_db_pool_checkout_wait_seconds_count", &[]) >= 15.0, "{:?}", m.0);
    assert_eq!(m.get("ledger_sqlite_group_commit_batch_size_sum", &[]), 3.0, "three logouts committed");
    let build = [("version", env!("CARGO_PKG_VERSION")), ("backend", "sqlite"), ("profile", "compat")];
    assert_eq!(gauges.get("ledger_build_info", &build), 1.0, "{:?}", gauges.0);
    assert_eq!(m.sum("ledger_upstream_requests_total"), 0.0);
}

/// An altered `users` table turns readiness to 503 naming the schema check.
#[test]
fn admin_ready_names_an_altered_schema() {
    let db = sqlite("admin_schema");
    let s = Served::start(db.database_url(), &[]);
    s.ready_turns(200, "a fresh database");
    db.execute("ALTER TABLE users ADD COLUMN nickname varchar(10) NULL").unwrap();
    let body = s.ready_turns(503, "after ALTER TABLE");
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["failed"], serde_json::json!(["schema"]), "{body}");
    let detail = body["checks"][1]["detail"].as_str().unwrap();
    assert!(detail.contains("users.nickname"), "{detail}");
    assert_eq!(body["checks"][0]["status"], "ok", "the database still answers: {body}");
}

/// With `UPSTREAM` set, readiness follows the upstream: 200 while it
/// answers, 503 naming it once it is gone. Forwards and shadow checks are
/// counted, and so are the forwards that fail.
#[test]
fn admin_follows_the_upstream_and_counts_forwards_and_shadow_checks() {
    let stub = Stub::start(|_| Reply::Bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec()));
    let db = sqlite("admin_upstream");
    let dir = tempfile::tempdir().unwrap();
    let shadow_log = dir.path().join("shadow.jsonl");
    let upstream = stub.url();
    let settings = [("UPSTREAM", upstream.as_str()), ("SHADOW", "true"), ("SHADOW_LOG", shadow_log.to_str().unwrap())];
    let s = Served::start(db.database_url(), &settings);
    let body = s.ready_turns(200, "the upstream answers");
    assert_eq!(body["checks"][2]["status"], "ok", "{body}");
    let before = s.metrics();
    for _ in 0..3 {
        assert_eq!(s.send(&Request::new("GET", "/ledgers")).status, 200);
    }
    // shadow mode: Django (the stub) answers, ledger-server's dry run differs
    for email in ["s1@example.com", "s2@example.com"] {
        let answer = s.send(&signup(email));
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"{}"[..]), "the client gets Django's answer");
    }
    let m = s.metrics().since(&before);
    // readiness's own `GET /` probes do not go through the front door
    let forwarded = 5.0;
    assert_eq!(m.get("ledger_upstream_requests_total", &[]), forwarded, "{:?}", m.0);
    assert_eq!(m.get("ledger_upstream_duration_seconds_count", &[]), forwarded);
    assert_eq!(m.sum("ledger_upstream_errors_total"), 0.0);
    assert_eq!(m.requests("upstream", "GET", "2xx", "compat"), 3.0, "{:?}", m.0);
    assert_eq!(m.requests("users/signup", "POST", "2xx", "compat"), 2.0, "{:?}", m.0);
    assert_eq!(m.get("ledger_shadow_checks_total", &[("verdict", "mismatched")]), 2.0, "{:?}", m.0);
    assert_eq!(m.sum("ledger_shadow_checks_total"), 2.0);

    drop(stub);
    let body = s.ready_turns(503, "the upstream is gone");
    assert_eq!(body["failed"], serde_json::json!(["upstream"]), "{body}");
    assert_eq!(s.send(&Request::new("GET", "/ledgers")).status, 502);
    let m = s.metrics().since(&before);
    assert_eq!(m.get("ledger_upstream_errors_total", &[("kind", "connect")]), 1.0, "{:?}", m.0);
    assert_eq!(m.requests("upstream", "GET", "5xx", "compat"), 1.0);
    assert_eq!(m.requests("upstream", "GET", "2xx", "compat"), 3.0);
}

/// Hardened: logins refused by throttling are counted.
#[test]
fn admin_counts_hardened_throttling() {
    let db = sqlite("admin_throttle");
    let s = Served::start(db.database_url(), &[("PROFILE", "hardened"), ("LOGIN_MAX_FAILURES", "1")]);
    assert_eq!(s.send(&signup("t@example.com")).status, 201);
    let before = s.metrics();
    let wrong = ledger_contract::scenarios::post_json(
        "/users/login",
        ledger_contract::scenarios::creds("t@example.com", "Wr0ng-password"),
    );
    let statuses: Vec<u16> = (0..3).map(|_| s.send(&wrong).status).collect();
    assert_eq!(statuses, [401, 429, 429]);
    let m = s.metrics().since(&before);
    assert_eq!(m.get("ledger_throttled_total", &[("route", "users/login")]), 2.0, "{:?}", m.0);
    assert_eq!(m.get("ledger_throttled_total", &[("route", "users/signup")]), 0.0);
    assert_eq!(m.requests("users/login", "POST", "4xx", "hardened"), 3.0, "{:?}", m.0);
    let build = [("version", env!("CARGO_PKG_VERSION")), ("backend", "sqlite"), ("profile", "hardened")];
    assert_eq!(before.get("ledger_build_info", &build), 1.0, "{:?}", before.0);
}

/// The database goes down: readiness turns 503 naming it (and no
/// password), the process keeps serving; it comes back: 200 again, with
/// no restart.
#[test]
fn postgres_admin_ready_follows_the_database_down_and_back() {
    let pg = PgInstance::init().unwrap_or_else(|e| panic!("{e}"));
    pg.start().unwrap_or_else(|e| panic!("{e}"));
    // trust authentication ignores the password: it must appear nowhere
    let secret = "admin-db-s3cret";
    let url = pg.url().replacen("postgres@", &format!("postgres:{secret}@"), 1);
    let mut s = Served::start(&url, &[]);
    s.ready_turns(200, "the database is up");
    assert_eq!(s.send(&signup("pg@example.com")).status, 201);

    pg.stop("fast").unwrap_or_else(|e| panic!("{e}"));
    let body = s.ready_turns(503, "the database is stopped");
    assert_eq!(body["failed"], serde_json::json!(["database"]), "{body}");
    assert_eq!(body["checks"][1]["status"], "skip", "{body}");
    assert!(!body.to_string().contains(secret), "the password in {body}");
    assert_eq!(s.admin("GET", "/health/alive").status, 200, "alive needs no database");
    let metrics = s.admin("GET", "/metrics");
    assert!(!String::from_utf8_lossy(&metrics.body).contains(secret));

    pg.start().unwrap_or_else(|e| panic!("{e}"));
    let body = s.ready_turns(200, "the database is back");
    assert_eq!(body["status"], "ready");
    s.main.check_running().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.send(&login("pg@example.com")).status, 200, "served again without a restart");
    assert!(!s.main.log().contains(secret), "the password in the log");
}

/// An `ADMIN_BIND` that cannot be bound stops the start, in one line naming it.
#[test]
fn admin_bind_in_use_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let db = sqlite("admin_bind_taken");
    let dir = tempfile::tempdir().unwrap();
    let finished = LedgerBinary::serving(crate::BIN, dir.path(), KEY, db.database_url())
        .setting("BIND", free_addr().unwrap().to_string())
        .setting("ADMIN_BIND", taken.local_addr().unwrap().to_string())
        .run(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(finished.status.code(), Some(1), "{}", finished.log);
    let line = format!("ADMIN_BIND {}: ", taken.local_addr().unwrap());
    assert!(finished.log.contains(&line), "no {line:?} in:\n{}", finished.log);
}

/// A burst of logins: the bcrypt queue's depth is seen above 0 while it
/// lasts and 0 after; every job run is counted and waited for, and every
/// `503 SERVER_BUSY` answer is one refused job.
#[test]
fn admin_bcrypt_metrics_follow_a_login_burst() {
    let db = sqlite("admin_bcrypt");
    // 2 s at 0.3 s a check over two threads admits about 13 of the 16: the
    // threads take three each at once (interleaved), the rest wait
    let s = Served::start(db.database_url(), &[("LOGIN_QUEUE_SECONDS", "2")]);
    assert_eq!(s.send(&signup("burst@example.com")).status, 201);
    let before = s.metrics();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (statuses, deepest) = std::thread::scope(|scope| {
        let logins: Vec<_> = (0..16)
            .map(|_| {
                let client = s.main.client.clone();
                scope.spawn(move || client.send(&login("burst@example.com")).unwrap().status)
            })
            .collect();
        let watcher = scope.spawn(|| {
            let mut deepest = 0.0f64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                deepest = deepest.max(s.metrics().get("ledger_bcrypt_queue_depth", &[]));
                std::thread::sleep(Duration::from_millis(10));
            }
            deepest
        });
        let statuses: Vec<u16> = logins.into_iter().map(|t| t.join().unwrap()).collect();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (statuses, watcher.join().unwrap())
    });
    let ok = statuses.iter().filter(|s| **s == 200).count() as f64;
    let busy = statuses.iter().filter(|s| **s == 503).count() as f64;
    eprintln!("burst: {ok} answered, {busy} SERVER_BUSY, queue depth up to {deepest}");
    assert_eq!(ok + busy, 16.0, "{statuses:?}");
    assert!(deepest >= 1.0, "the queue was never seen waiting: {statuses:?}");
    let m = s.metrics().since(&before);
    assert_eq!(m.get("ledger_bcrypt_refused_total", &[]), busy, "{statuses:?}");
    assert_eq!(m.get("ledger_bcrypt_checks_total", &[]), ok, "{statuses:?}");
    assert_eq!(m.get("ledger_bcrypt_wait_seconds_count", &[]), ok);
    assert_eq!(m.requests("users/login", "POST", "5xx", "compat"), busy);
    assert_eq!(s.metrics().get("ledger_bcrypt_queue_depth", &[]), 0.0);
}
