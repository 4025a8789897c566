//! Django and ledger-server on ONE database at the same time, on each
//! backend and in either order of creating the schema:
//!
//! - signup on either server, login on the other; duplicates (exact, and
//!   as the database's collation sees them) refused by both alike;
//! - a token issued by either is byte-identical to the other's and passes
//!   the other's guard (Django's guarded `/ledgers` views included); a
//!   logout through either is seen by the other at once;
//! - the same probe (email case and trailing spaces, ids beyond bigint)
//!   gets the same answer from both servers, from the same database state;
//! - the rows each server writes are indistinguishable (ids, emails, token
//!   strings, `$2b$12$` hashes, timestamps as Django stores them: text in
//!   Asia/Seoul on SQLite, Asia/Seoul wall-clock `datetime(6)` on MySQL,
//!   the true instant in `timestamptz` on PostgreSQL), and Django reads back
//!   the same wall-clock values from either server's rows;
//! - Django first: ledger-server uses Django's tables and leaves them and
//!   `django_migrations` alone; ledger-server first: `run.sh`'s
//!   `migrate --fake-initial` adopts its tables.
//!
//! Needs the oracle (../shared/reference) and, for PostgreSQL and MySQL,
//! the servers of `LEDGER_TEST_PG_URL` / `LEDGER_TEST_MYSQL_URL`; fails
//! loudly without them.

use std::path::Path;
use std::time::Duration;

use chrono::NaiveDateTime;
use ledger_contract::client::Client;
use ledger_contract::kit::oracle::django_shell;
use ledger_contract::kit::requests::{access_token, login, logout, signup};
use ledger_contract::kit::{in_process, Backend, Oracle, TestDb, TokenRow, UserRow};
use ledger_contract::model::{compare, Request, Response};
use ledger_contract::scenarios::post_json;
use ledger_contract::tokens::{sign, token_for, STD_HEADER};
use ledger_server::server::BackgroundServer;

const KEY: &str = "interop-secret-key-5be1";
/// Slack around the moments a row was written, for its timestamps.
const SLACK_SECONDS: i64 = 3;

/// Both servers on one database. Fields drop in order: the servers stop
/// before the database is dropped.
struct Pair {
    backend: Backend,
    django: Client,
    rust: Client,
    oracle: Oracle,
    _server: BackgroundServer,
    db: TestDb,
    _dir: tempfile::TempDir,
}

fn fail(backend: Backend, what: &str) -> impl Fn(String) -> String + '_ {
    move |e| format!("interop[{backend}] {what}: {e}")
}

fn start_rust(backend: Backend, db: &TestDb) -> BackgroundServer {
    in_process(KEY, db).unwrap_or_else(|e| panic!("interop[{backend}]: {e}"))
}

fn start_oracle(backend: Backend, db: &TestDb, dir: &Path) -> Oracle {
    Oracle::start_on(KEY, db, &dir.join("oracle.log")).unwrap_or_else(|e| panic!("interop[{backend}]: {e}"))
}

/// The tables of ledger-server's own that its migrations create on every
/// profile (the hardened profile's sessions and failure counts), beside
/// Diesel's `__diesel_schema_migrations`.
const LEDGER_OWN_TABLES: [&str; 2] = ["ledger_login_attempts", "ledger_sessions"];

fn expected_rust_tables(backend: Backend) -> Vec<String> {
    let mut t = vec!["__diesel_schema_migrations", "tokens", "users"];
    t.extend(LEDGER_OWN_TABLES);
    if backend == Backend::Sqlite {
        t.push("sqlite_sequence");
    }
    let mut t: Vec<String> = t.into_iter().map(String::from).collect();
    t.sort();
    t
}

/// Starts both servers on a fresh database; `rust_first` decides which one
/// creates the schema. Checks what each leaves of the other's bookkeeping.
fn start_pair(backend: Backend, rust_first: bool) -> Pair {
    let order = if rust_first { "rust_first" } else { "django_first" };
    let dir = tempfile::Builder::new().prefix(&format!("interop-{backend}-{order}-")).tempdir().expect("temp dir");
    let db = TestDb::create(backend, &format!("interop_{order}")).unwrap_or_else(|e| panic!("interop[{backend}]: {e}"));
    let (server, oracle) = if rust_first {
        let server = start_rust(backend, &db);
        let tables = db.tables().unwrap_or_else(|e| panic!("interop[{backend}]: {e}"));
        assert_eq!(tables, expected_rust_tables(backend), "interop[{backend}]: ledger-server's schema");
        let oracle = start_oracle(backend, &db, dir.path());
        // --fake-initial adopted users/0001 (it would have failed on CREATE TABLE otherwise)
        let migrations = db.django_migrations().unwrap_or_else(|e| panic!("interop[{backend}]: {e}"));
        for m in ["users.0001_initial", "ledgers.0001_initial", "contenttypes.0001_initial"] {
            assert!(migrations.iter().any(|x| x == m), "interop[{backend}]: {m} not recorded: {migrations:?}");
        }
        let tables = db.tables().unwrap_or_else(|e| panic!("interop[{backend}]: {e}"));
        for t in
            ["ledgers", "django_migrations", "django_content_type", "users", "tokens", "__diesel_schema_migrations"]
                .into_iter()
                .chain(LEDGER_OWN_TABLES)
        {
            assert!(tables.iter().any(|x| x == t), "interop[{backend}]: table {t} missing after Django: {tables:?}");
        }
        (server, oracle)
    } else {
        let oracle = start_oracle(backend, &db, dir.path());
        let before_tables = db.tables().unwrap_or_else(|e| panic!("interop[{backend}]: {e}"));
        let before_migrations = db.django_migrations().unwrap_or_else(|e| panic!("interop[{backend}]: {e}"));
        let server = start_rust(backend, &db);
        let after_tables = db.tables().unwrap_or_else(|e| panic!("interop[{backend}]: {e}"));
        let mut expected = before_tables.clone();
        expected.push("__diesel_schema_migrations".into());
        expected.extend(LEDGER_OWN_TABLES.map(String::from));
        expected.sort();
        assert_eq!(after_tables, expected, "interop[{backend}]: ledger-server adds only its own tables");
        assert_eq!(
            db.django_migrations().unwrap_or_else(|e| panic!("interop[{backend}]: {e}")),
            before_migrations,
            "interop[{backend}]: ledger-server left django_migrations alone"
        );
        (server, oracle)
    };
    let mut rust = Client::new(server.addr);
    rust.total_timeout = Duration::from_secs(30);
    let mut django = Client::new(oracle.addr);
    django.total_timeout = Duration::from_secs(30);
    Pair { backend, django, rust, oracle, _server: server, db, _dir: dir }
}

fn send(p: &Pair, client: &Client, req: &Request) -> Response {
    let who = if client.addr == p.oracle.addr { "django" } else { "ledger-server" };
    client
        .send(req)
        .unwrap_or_else(|e| panic!("interop[{}]: {who}: {e}\n{}", p.backend, req.describe()))
        .contract_only()
}

fn body(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn answer(r: &Response) -> (u16, String) {
    let b = body(r);
    if b.contains("<title>Server Error (500)</title>") {
        (r.status, "<500 page>".into())
    } else {
        (r.status, b)
    }
}

fn msg(status: u16, message: &str) -> (u16, String) {
    (status, format!(r#"{{"message": "{message}"}}"#))
}

fn token_of(r: &Response) -> String {
    access_token(r).unwrap_or_else(|e| panic!("{e}"))
}

fn seoul_now() -> NaiveDateTime {
    chrono::Utc::now().with_timezone(&chrono_tz::Asia::Seoul).naive_local()
}

fn users(p: &Pair) -> Vec<UserRow> {
    p.db.users().unwrap_or_else(|e| panic!("interop[{}]: {e}", p.backend))
}

fn tokens(p: &Pair) -> Vec<TokenRow> {
    p.db.tokens().unwrap_or_else(|e| panic!("interop[{}]: {e}", p.backend))
}

/// A signup through `client` within a measured time window (Seoul wall clock).
fn timed_signup(p: &Pair, client: &Client, email: &str) -> (NaiveDateTime, NaiveDateTime) {
    let before = seoul_now();
    let r = send(p, client, &signup(email));
    let after = seoul_now();
    assert_eq!(answer(&r), msg(201, "SUCCESS"), "interop[{}]: signup {email:?}", p.backend);
    (before, after)
}

/// What one server's request did to the database: the rows it added.
struct Effect {
    response: Response,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    window: (NaiveDateTime, NaiveDateTime),
}

/// Sends `req` to one server and removes again the rows it added, so the
/// next server sees the same database state.
fn apply_and_undo(p: &Pair, client: &Client, req: &Request) -> Effect {
    let max_user = users(p).iter().map(|u| u.id).max().unwrap_or(0);
    let max_token = tokens(p).iter().map(|t| t.id).max().unwrap_or(0);
    let before = seoul_now();
    let response = send(p, client, req);
    let after = seoul_now();
    let new_users: Vec<UserRow> = users(p).into_iter().filter(|u| u.id > max_user).collect();
    let new_tokens: Vec<TokenRow> = tokens(p).into_iter().filter(|t| t.id > max_token).collect();
    let ctx = fail(p.backend, "undo");
    for t in &new_tokens {
        p.db.execute(&format!("DELETE FROM tokens WHERE id = {}", t.id)).map_err(&ctx).unwrap();
    }
    for u in &new_users {
        p.db.execute(&format!("DELETE FROM users WHERE id = {}", u.id)).map_err(&ctx).unwrap();
    }
    Effect { response, users: new_users, tokens: new_tokens, window: (before, after) }
}

/// The same request to both servers from the same database state: the
/// answers and the rows each one writes must be the same (ids aside: the
/// second server's rows come after the first's). Returns the answer.
fn same_on_both(p: &Pair, what: &str, req: &Request) -> (u16, String) {
    let d = apply_and_undo(p, &p.django, req);
    let r = apply_and_undo(p, &p.rust, req);
    let backend = p.backend;
    if let Err(diff) = compare(&d.response, &r.response) {
        panic!(
            "interop[{backend}] {what}: the servers answer differently\nrequest:\n{}django:\n{}ledger-server:\n{}difference:\n{diff}",
            req.describe(),
            d.response.describe(),
            r.response.describe()
        );
    }
    assert_eq!(
        d.users.len(),
        r.users.len(),
        "interop[{backend}] {what}: users rows added: django {:?}, ledger-server {:?}",
        d.users,
        r.users
    );
    for (du, ru) in d.users.iter().zip(&r.users) {
        assert_eq!(du.email, ru.email, "interop[{backend}] {what}: stored emails");
        // each server took the next id of the shared sequence (Django's row was removed again)
        assert_eq!(ru.id, du.id + d.users.len() as i64, "interop[{backend}] {what}: ids {} then {}", du.id, ru.id);
        check_user_row(backend, du, d.window);
        check_user_row(backend, ru, r.window);
    }
    let strip = |v: &[TokenRow]| v.iter().map(|t| (t.token.clone(), t.user_id)).collect::<Vec<_>>();
    assert_eq!(strip(&d.tokens), strip(&r.tokens), "interop[{backend}] {what}: tokens rows added");
    answer(&d.response)
}

/// A `$2b$12$` hash, and timestamps as Django stores them, written within `window`.
fn check_user_row(backend: Backend, u: &UserRow, window: (NaiveDateTime, NaiveDateTime)) {
    let ctx = format!("interop[{backend}]: user row {u:?}");
    assert!(
        u.password.len() == 60 && u.password.starts_with("$2b$12$"),
        "{ctx}: password is not a bcrypt $2b$12$ hash"
    );
    let slack = chrono::Duration::seconds(SLACK_SECONDS);
    let mut parsed = Vec::new();
    for (what, v) in [("created_at", &u.created_at), ("updated_at", &u.updated_at)] {
        // Django's str(datetime): 6 fraction digits, none when they are 0 (SQLite stores that text)
        let t = NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f")
            .unwrap_or_else(|e| panic!("{ctx}: {what} {v:?} is not YYYY-MM-DD HH:MM:SS.ffffff: {e}"));
        let fraction = v.split('.').nth(1);
        assert!(fraction.is_none_or(|f| f.len() == 6), "{ctx}: {what} {v:?}: the fraction is not 6 digits");
        assert!(
            t >= window.0 - slack && t <= window.1 + slack,
            "{ctx}: {what} {v} is not the Asia/Seoul wall-clock time of the write ({} .. {})",
            window.0,
            window.1
        );
        parsed.push(t);
    }
    assert!(parsed[0] <= parsed[1], "{ctx}: created_at after updated_at");
}

/// What Django itself reads back from `users` (its ORM, `manage.py shell`):
/// id, email (JSON), `str(created_at)`, `str(updated_at)`.
fn django_reads_users(p: &Pair) -> Vec<(i64, String, String, String)> {
    let code = "import json\nfrom users.models import User\nfor u in User.objects.order_by('id'):\n    print(u.id, json.dumps(u.email), str(u.created_at), str(u.updated_at), sep='\\t')\n";
    django_shell(KEY, &p.db, code)
        .unwrap_or_else(|e| panic!("interop[{}]: {e}", p.backend))
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "interop[{}]: unexpected line from Django: {l:?}", p.backend);
            let email: String = serde_json::from_str(f[1]).expect("email JSON");
            (f[0].parse().expect("id"), email, f[2].to_owned(), f[3].to_owned())
        })
        .collect()
}

/// Python's `str(datetime)` of a `YYYY-MM-DD HH:MM:SS.ffffff` text.
fn python_str(t: &str) -> String {
    t.strip_suffix(".000000").unwrap_or(t).to_owned()
}

fn exercise(p: &Pair) {
    let backend = p.backend;
    let (dj, rs) = (&p.django, &p.rust);
    let mysql = backend == Backend::Mysql;

    // Signup on either server, login on the other.
    let w1 = timed_signup(p, dj, "django@example.com");
    let w2 = timed_signup(p, rs, "rust@example.com");

    // Duplicates are refused the same way across servers, exact or as the collation sees them.
    for (client, email) in [(dj, "rust@example.com"), (rs, "django@example.com")] {
        let r = send(p, client, &signup(email));
        assert_eq!(answer(&r), msg(400, "EMAIL_ALREADY_EXISTS"), "interop[{backend}]: duplicate {email}");
    }
    for email in ["Rust@Example.com", "DJANGO@example.com"] {
        let expected = if mysql { msg(400, "EMAIL_ALREADY_EXISTS") } else { msg(201, "SUCCESS") };
        assert_eq!(
            same_on_both(p, &format!("signup {email}"), &signup(email)),
            expected,
            "interop[{backend}]: signup {email}"
        );
    }
    // the final newline EMAIL_REGEX lets through is no padding anywhere: another email
    assert_eq!(same_on_both(p, "signup with a final newline", &signup("rust@example.com\n")), msg(201, "SUCCESS"));

    let (t1, t2) = (token_for(KEY, 1), token_for(KEY, 2));
    let from_rust = token_of(&send(p, rs, &login("django@example.com")));
    let from_django = token_of(&send(p, dj, &login("rust@example.com")));
    assert_eq!((from_rust.as_str(), from_django.as_str()), (t1.as_str(), t2.as_str()), "interop[{backend}]: tokens");
    // Tokens are byte-identical to what the other server issues.
    assert_eq!(from_rust, token_of(&send(p, dj, &login("django@example.com"))));
    assert_eq!(from_django, token_of(&send(p, rs, &login("rust@example.com"))));
    let rows: Vec<(i64, String)> = tokens(p).into_iter().map(|t| (t.user_id, t.token)).collect();
    assert_eq!(
        rows,
        [(1, t1.clone()), (2, t2.clone()), (1, t1.clone()), (2, t2.clone())],
        "interop[{backend}]: token rows written by ledger-server, Django, Django, ledger-server"
    );

    // Each token passes the other's guard; Django's guarded ledgers views too.
    let get = |token: &str, path: &str| send(p, dj, &Request::new("GET", path).header("Authorization", token));
    assert_eq!(answer(&get(&from_rust, "/ledgers")), (200, r#"{"results": []}"#.to_owned()));
    let created = send(
        p,
        dj,
        &post_json("/ledgers", r#"{"amount": 4500, "memo": "coffee"}"#).header("Authorization", &from_rust),
    );
    assert_eq!(
        answer(&created),
        (201, r#"{"message": "SUCCESS", "id": 1}"#.to_owned()),
        "interop[{backend}]: POST /ledgers"
    );
    let detail = get(&from_rust, "/ledgers/1");
    assert_eq!(detail.status, 200, "interop[{backend}]: GET /ledgers/1: {}", body(&detail));
    assert!(body(&detail).contains(r#""amount": 4500, "memo": "coffee""#), "{}", body(&detail));
    assert_eq!(
        answer(&get(&from_django, "/ledgers/1")),
        msg(404, "LEDGER_NOT_FOUND"),
        "user 2 does not see user 1's ledger"
    );

    // Two token rows each: logout fails with the 500 page on both servers alike.
    let r = send(p, rs, &logout(&from_django));
    let d = send(p, dj, &logout(&from_rust));
    assert_eq!((answer(&r), answer(&d)), ((500, "<500 page>".into()), (500, "<500 page>".into())));
    compare(&d, &r).unwrap_or_else(|e| panic!("interop[{backend}]: the 500 pages differ: {e}"));

    // One token row each: a logout through one server is seen by the other at once.
    for t in tokens(p).into_iter().filter(|t| t.id > 2) {
        p.db.execute(&format!("DELETE FROM tokens WHERE id = {}", t.id)).map_err(fail(backend, "delete")).unwrap();
    }
    assert_eq!(answer(&send(p, rs, &logout(&from_rust))), msg(200, "LOGOUT_SUCCESS"));
    assert_eq!(
        answer(&get(&from_rust, "/ledgers")),
        msg(200, "INVALID_USER"),
        "interop[{backend}]: Django after ledger-server's logout"
    );
    assert_eq!(answer(&send(p, dj, &logout(&from_django))), msg(200, "LOGOUT_SUCCESS"));
    assert_eq!(
        answer(&send(p, rs, &logout(&from_django))),
        msg(200, "INVALID_USER"),
        "interop[{backend}]: ledger-server after Django's logout"
    );
    assert!(tokens(p).is_empty(), "interop[{backend}]: {:?}", tokens(p));

    // Login lookups follow the collation, the same for both servers.
    let found = |id: i64| (200, format!(r#"{{"message": "SUCCESS", "access_token": "{}"}}"#, token_for(KEY, id)));
    let unknown = msg(401, "INVALID_USER");
    for (email, on_mysql) in [
        ("django@example.com", found(1)),
        ("DJANGO@EXAMPLE.COM", found(1)),
        ("django@example.com ", found(1)),
        ("Rust@Example.com   ", found(2)),
        ("dj\u{e1}ngo@example.com", found(1)),
        ("django@example.com\t", unknown.clone()),
        (" django@example.com", unknown.clone()),
    ] {
        let expected = if mysql || email == "django@example.com" { on_mysql } else { unknown.clone() };
        assert_eq!(
            same_on_both(p, &format!("login {email:?}"), &login(email)),
            expected,
            "interop[{backend}]: login {email:?}"
        );
    }

    // The guard on ids beyond bigint: SQLite cannot bind them (500), the servers compare them (401).
    for id in ["9223372036854775808", "-9223372036854775809", "9223372036854775807"] {
        let token = sign(KEY, STD_HEADER, &format!(r#"{{"id":{id}}}"#));
        let expected = match (backend, id) {
            (_, "9223372036854775807") => msg(401, "INVALID_USER"),
            (Backend::Sqlite, _) => (500, "<500 page>".into()),
            _ => msg(401, "INVALID_USER"),
        };
        assert_eq!(
            same_on_both(p, &format!("logout id {id}"), &logout(&token)),
            expected,
            "interop[{backend}]: id {id}"
        );
    }

    // The rows are indistinguishable.
    let rows = users(p);
    assert_eq!(
        rows.iter().map(|u| (u.id, u.email.as_str())).collect::<Vec<_>>(),
        [(1, "django@example.com"), (2, "rust@example.com")],
        "interop[{backend}]: users rows"
    );
    check_user_row(backend, &rows[0], w1);
    check_user_row(backend, &rows[1], w2);
    assert!(rows[0].created_at < rows[1].created_at, "interop[{backend}]: {rows:?}");
    if backend == Backend::Postgres {
        // timestamptz holds the true instant: written moments ago
        let ages = p.db.pg_created_age_seconds().unwrap_or_else(|e| panic!("interop[{backend}]: {e}"));
        for (u, age) in rows.iter().zip(&ages) {
            assert!(
                (-5.0..600.0).contains(age),
                "interop[{backend}]: user {} created_at is {age} s before now()",
                u.id
            );
        }
    }
    // ...and Django reads back from either server's rows what the SQL shows.
    let read = django_reads_users(p);
    let expected: Vec<(i64, String, String, String)> =
        rows.iter().map(|u| (u.id, u.email.clone(), python_str(&u.created_at), python_str(&u.updated_at))).collect();
    assert_eq!(read, expected, "interop[{backend}]: what Django reads back");
}

fn interop(backend: Backend, rust_first: bool) {
    let started = std::time::Instant::now();
    let pair = start_pair(backend, rust_first);
    exercise(&pair);
    eprintln!(
        "interop[{backend}] {}: passed in {:.1}s",
        if rust_first { "ledger-server first" } else { "Django first" },
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn oracle_sqlite_django_first() {
    interop(Backend::Sqlite, false);
}

#[test]
fn oracle_sqlite_rust_first() {
    interop(Backend::Sqlite, true);
}

#[test]
fn oracle_postgres_django_first() {
    interop(Backend::Postgres, false);
}

#[test]
fn oracle_postgres_rust_first() {
    interop(Backend::Postgres, true);
}

#[test]
fn oracle_mysql_django_first() {
    interop(Backend::Mysql, false);
}

#[test]
fn oracle_mysql_rust_first() {
    interop(Backend::Mysql, true);
}
