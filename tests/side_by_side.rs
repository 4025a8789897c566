//! Django and ledger-server on ONE database at the same time: each accepts
//! the other's users, password hashes, tokens and logouts, and either may
//! create the schema first. Needs the oracle (../shared/reference); fails
//! loudly without it.

use std::path::Path;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use ledger_server::contract::client::Client;
use ledger_server::contract::model::{Request, Response};
use ledger_server::contract::oracle::{Oracle, TempDir};
use ledger_server::server::{spawn_background, BackgroundServer};
use ledger_server::settings::Settings;

const KEY: &str = "side-by-side-secret-key";

struct Pair {
    django: Client,
    rust: Client,
    _oracle: Oracle,
    _server: BackgroundServer,
}

fn start_pair(dir: &Path, db: &Path, rust_first: bool) -> Pair {
    let url = db.to_str().unwrap();
    let (server, oracle) = if rust_first {
        let server = spawn_background(Settings::for_tests(KEY, url)).expect("ledger-server");
        let oracle = Oracle::start(KEY, db, &dir.join("oracle.log")).expect("oracle");
        (server, oracle)
    } else {
        let oracle = Oracle::start(KEY, db, &dir.join("oracle.log")).expect("oracle");
        let server = spawn_background(Settings::for_tests(KEY, url)).expect("ledger-server");
        (server, oracle)
    };
    let mut rust = Client::new(server.addr);
    rust.total_timeout = Duration::from_secs(30);
    Pair { django: Client::new(oracle.addr), rust, _oracle: oracle, _server: server }
}

fn post(client: &Client, path: &str, body: &str, token: Option<&str>) -> Response {
    let mut req = Request::new("POST", path).body(body);
    if let Some(token) = token {
        req = req.header("Authorization", token);
    }
    client.send(&req).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

fn body(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn credentials(email: &str) -> String {
    format!(r#"{{"email": "{email}", "password": "Passw0rd!"}}"#)
}

fn login(client: &Client, email: &str) -> String {
    let r = post(client, "/users/login", &credentials(email), None);
    assert_eq!(r.status, 200, "login {email}: {}", body(&r));
    let text = body(&r);
    text.split('"').nth(7).expect("access_token").to_owned()
}

#[derive(QueryableByName, Debug, PartialEq)]
struct UserRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    password: String,
    #[diesel(sql_type = Text)]
    created_at: String,
    #[diesel(sql_type = Text)]
    updated_at: String,
}

fn users(db: &Path) -> Vec<UserRow> {
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    diesel::sql_query("SELECT id, email, password, created_at, updated_at FROM users ORDER BY id").load(&mut conn).unwrap()
}

fn token_rows(db: &Path) -> Vec<(i64, String)> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        user_id: i64,
        #[diesel(sql_type = Text)]
        token: String,
    }
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    let rows: Vec<Row> = diesel::sql_query("SELECT user_id, token FROM tokens ORDER BY id").load(&mut conn).unwrap();
    rows.into_iter().map(|r| (r.user_id, r.token)).collect()
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` (or without the fraction), in Asia/Seoul.
fn assert_django_time(value: &str) {
    let parsed = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("{value:?} is not Django's format: {e}"));
    let fraction = value.split('.').nth(1);
    assert!(fraction.is_none_or(|f| f.len() == 6), "{value:?}: fraction is not 6 digits");
    let seoul = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Seoul).naive_local();
    let drift = (seoul - parsed).num_seconds().abs();
    assert!(drift < 300, "{value:?} is not Asia/Seoul wall-clock time (now {seoul})");
}

fn exercise(pair: &Pair, db: &Path) {
    let (dj, rs) = (&pair.django, &pair.rust);
    // Signup on either server, login on the other.
    assert_eq!(post(dj, "/users/signup", &credentials("django@example.com"), None).status, 201);
    assert_eq!(post(rs, "/users/signup", &credentials("rust@example.com"), None).status, 201);
    // Duplicates are refused the same way across servers.
    for (client, email) in [(dj, "rust@example.com"), (rs, "django@example.com")] {
        let r = post(client, "/users/signup", &credentials(email), None);
        assert_eq!((r.status, body(&r)), (400, r#"{"message": "EMAIL_ALREADY_EXISTS"}"#.to_owned()));
    }
    let from_rust = login(rs, "django@example.com");
    let from_django = login(dj, "rust@example.com");
    // Tokens are byte-identical to what the other server issues.
    assert_eq!(from_rust, login(dj, "django@example.com"));
    assert_eq!(from_django, login(rs, "rust@example.com"));

    // Each token passes the other's guard; Django's guarded GET /ledgers too.
    let ledgers = dj.send(&Request::new("GET", "/ledgers").header("Authorization", &from_rust)).unwrap();
    assert_eq!((ledgers.status, body(&ledgers)), (200, r#"{"results": []}"#.to_owned()));

    // Two logins each: logout fails with the 500 page on both servers alike.
    let r = post(rs, "/users/logout", "", Some(&from_django));
    let d = post(dj, "/users/logout", "", Some(&from_rust));
    assert_eq!((r.status, d.status), (500, 500));
    assert_eq!(r.body, d.body);

    // One token row each: a logout through one server is seen by the other at once.
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    diesel::sql_query("DELETE FROM tokens WHERE id IN (SELECT max(id) FROM tokens GROUP BY user_id)")
        .execute(&mut conn)
        .unwrap();
    let r = post(rs, "/users/logout", "", Some(&from_rust));
    assert_eq!(body(&r), r#"{"message": "LOGOUT_SUCCESS"}"#);
    let d = dj.send(&Request::new("GET", "/ledgers").header("Authorization", &from_rust)).unwrap();
    assert_eq!((d.status, body(&d)), (200, r#"{"message": "INVALID_USER"}"#.to_owned()));
    let d = post(dj, "/users/logout", "", Some(&from_django));
    assert_eq!(body(&d), r#"{"message": "LOGOUT_SUCCESS"}"#);
    let r = post(rs, "/users/logout", "", Some(&from_django));
    assert_eq!((r.status, body(&r)), (200, r#"{"message": "INVALID_USER"}"#.to_owned()));

    // The rows are indistinguishable.
    let rows = users(db);
    assert_eq!(rows.iter().map(|u| (u.id, u.email.as_str())).collect::<Vec<_>>(), [
        (1, "django@example.com"),
        (2, "rust@example.com")
    ]);
    for u in &rows {
        assert!(u.password.starts_with("$2b$12$") && u.password.len() == 60, "{u:?}");
        assert_django_time(&u.created_at);
        assert_django_time(&u.updated_at);
        assert!(u.created_at <= u.updated_at, "{u:?}");
    }
    assert!(token_rows(db).is_empty(), "{:?}", token_rows(db));
}

#[test]
fn ledger_server_creates_the_schema_then_django_adopts_it() {
    let dir = TempDir::new("side-rust-first").unwrap();
    let db = dir.path().join("shared.sqlite3");
    let pair = start_pair(dir.path(), &db, true);
    exercise(&pair, &db);
}

#[test]
fn django_creates_the_schema_then_ledger_server_uses_it() {
    let dir = TempDir::new("side-django-first").unwrap();
    let db = dir.path().join("shared.sqlite3");
    let pair = start_pair(dir.path(), &db, false);
    exercise(&pair, &db);
}
