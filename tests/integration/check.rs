//! `ledger-server check` (issue 15 §4) on each backend, the real binary:
//!
//! - a database Django's own `run.sh migrate` made passes the schema
//!   check (which proves the expected description equals Django's) and,
//!   once `ledger-server migrate` has added its own migrations, every check;
//! - a database `ledger-server migrate` made passes;
//! - stored tokens signed with the configured key pass, with another key
//!   fail (`fail tokens: … do not verify …`);
//! - an `UPSTREAM` on a closed port fails (`fail upstream`);
//! - a column altered by hand fails, the line naming the column;
//! - no secret (the keys, the stored token, a database password) appears
//!   in the output.
//!
//! Needs the oracle for the Django half and, for PostgreSQL and MySQL, the
//! servers of `LEDGER_TEST_PG_URL` / `LEDGER_TEST_MYSQL_URL`: never skipped.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ledger_contract::client::Client;
use ledger_contract::kit::oracle::{check_oracle_prerequisites, oracle_dir};
use ledger_contract::kit::requests::{access_token, login, signup};
use ledger_contract::kit::{free_addr, in_process, Backend, Finished, LedgerBinary, TestDb};

const KEY_A: &str = "check-key-a-7d1f0c";
const KEY_B: &str = "check-key-b-93e2aa";

/// `ledger-server check` (with more settings), run to its end.
fn check(dir: &Path, db: &TestDb, key: &str, extra: &[(&str, &str)]) -> Finished {
    let mut bin = LedgerBinary::new(crate::BIN, dir)
        .name("check")
        .arg("check")
        .setting("SECRET_KEY", key)
        .setting("DATABASE_URL", db.database_url());
    for (k, v) in extra {
        bin = bin.setting(k, v);
    }
    bin.run(Duration::from_secs(60)).unwrap_or_else(|e| panic!("check[{}]: {e}", db.backend))
}

fn ledger_migrate(dir: &Path, db: &TestDb) {
    let done = LedgerBinary::new(crate::BIN, dir)
        .name("migrate")
        .arg("migrate")
        .setting("SECRET_KEY", KEY_A)
        .setting("DATABASE_URL", db.database_url())
        .run(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("migrate[{}]: {e}", db.backend));
    assert!(done.status.success(), "ledger-server migrate[{}]: {}", db.backend, done.log);
}

/// Django's own `run.sh migrate` on the database.
fn django_migrate(db: &TestDb) {
    check_oracle_prerequisites().unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(oracle_dir().join("run.sh")).arg("migrate");
    for var in ["REF_DB_HOST", "REF_DB_PORT", "REF_DB_USER", "REF_DB_PASSWORD"] {
        cmd.env_remove(var);
    }
    for (k, v) in db.oracle_env().unwrap() {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the oracle's run.sh migrate");
    assert!(out.status.success(), "run.sh migrate[{}]: {}", db.backend, String::from_utf8_lossy(&out.stderr));
}

/// The line of check `name` (`ok   schema: …`).
fn line<'a>(run: &'a Finished, name: &str) -> &'a str {
    run.log
        .lines()
        .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(&format!("{name}: "))))
        .unwrap_or_else(|| panic!("no {name} line in:\n{}", run.log))
}

fn assert_passes(run: &Finished, what: &str) {
    assert!(run.status.success(), "{what}: check failed:\n{}", run.log);
    assert!(!run.log.lines().any(|l| l.starts_with("fail")), "{what}:\n{}", run.log);
    let last = run.log.lines().rev().find(|l| l.contains(" checks: ")).unwrap_or("");
    assert!(last.contains(", 0 failed"), "{what}: summary {last:?}\n{}", run.log);
}

fn assert_no_secrets(run: &Finished, secrets: &[&str]) {
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!run.log.contains(s), "a secret appears in check's output:\n{}", run.log);
    }
}

/// A column altered by hand: `users.email` made `varchar(200)`.
fn alter_email(db: &TestDb) {
    let sql = match db.backend {
        Backend::Postgres => "ALTER TABLE users ALTER COLUMN email TYPE varchar(200)".to_string(),
        Backend::Mysql => "ALTER TABLE users MODIFY email varchar(200) NOT NULL".to_string(),
        // SQLite cannot alter a column's type: the table is rebuilt
        Backend::Sqlite => "PRAGMA foreign_keys = OFF; BEGIN; \
             CREATE TABLE \"users_new\" (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"created_at\" datetime NOT NULL, \"updated_at\" datetime NOT NULL, \"email\" varchar(200) NOT NULL UNIQUE, \"password\" varchar(200) NOT NULL); \
             INSERT INTO users_new SELECT * FROM users; DROP TABLE users; ALTER TABLE users_new RENAME TO users; COMMIT;"
            .to_string(),
    };
    db.execute(&sql).unwrap_or_else(|e| panic!("alter[{}]: {e}", db.backend));
}

/// Everything but the Django half, on one database.
fn check_on(backend: Backend) {
    let dir = tempfile::Builder::new().prefix(&format!("check-{backend}-")).tempdir().unwrap();
    let db = TestDb::create(backend, "check").unwrap();
    let password = ledger_contract::kit::ServerUrl::parse(db.database_url()).map(|u| u.password).unwrap_or_default();

    let missing = check(dir.path(), &db, KEY_A, &[]);
    assert!(!missing.status.success(), "check[{backend}] passed on an empty database:\n{}", missing.log);

    ledger_migrate(dir.path(), &db);
    let fresh = check(dir.path(), &db, KEY_A, &[]);
    assert_passes(&fresh, &format!("check[{backend}] after ledger-server migrate"));
    assert!(line(&fresh, "schema").starts_with("ok"), "{}", fresh.log);
    assert!(line(&fresh, "upstream").starts_with("skip"), "{}", fresh.log);

    // compat rows signed with key A
    let token = {
        let server = in_process(KEY_A, &db).unwrap();
        let client = Client::new(server.addr);
        for email in ["check-a@example.com", "check-b@example.com"] {
            assert_eq!(client.send(&signup(email)).unwrap().status, 201);
        }
        access_token(&client.send(&login("check-a@example.com")).unwrap()).unwrap()
    };
    let with_a = check(dir.path(), &db, KEY_A, &[]);
    assert_passes(&with_a, &format!("check[{backend}] with the signing key"));
    assert!(line(&with_a, "tokens").starts_with("ok   tokens: 1 of 1 stored tokens verify"), "{}", with_a.log);
    assert!(line(&with_a, "clock").starts_with("ok"), "{}", with_a.log);
    let with_b = check(dir.path(), &db, KEY_B, &[]);
    assert_eq!(with_b.status.code(), Some(1), "check[{backend}] with another key:\n{}", with_b.log);
    let tokens = line(&with_b, "tokens");
    assert!(tokens.starts_with("fail tokens: 1 of 1 stored tokens do not verify"), "{tokens}");
    assert!(tokens.contains("log those users out"), "{tokens}");
    for run in [&fresh, &with_a, &with_b] {
        assert_no_secrets(run, &[KEY_A, KEY_B, &token, &password]);
    }

    let closed = free_addr().unwrap();
    let upstream = format!("http://{closed}");
    let down = check(dir.path(), &db, KEY_A, &[("UPSTREAM", &upstream)]);
    assert_eq!(down.status.code(), Some(1), "{}", down.log);
    assert!(line(&down, "upstream").starts_with("fail upstream: "), "{}", down.log);

    alter_email(&db);
    let altered = check(dir.path(), &db, KEY_A, &[]);
    assert_eq!(altered.status.code(), Some(1), "check[{backend}] passed an altered column:\n{}", altered.log);
    let schema = line(&altered, "schema");
    assert!(schema.starts_with("fail schema: users.email is "), "{schema}");
    assert!(schema.contains("200)") && schema.contains("Django's migration makes"), "{schema}");
}

/// Django's `migrate` makes the schema the check expects; then ledger-server
/// migrates its own and every check passes.
fn django_first(backend: Backend) {
    let dir = tempfile::Builder::new().prefix(&format!("check-django-{backend}-")).tempdir().unwrap();
    let db = TestDb::create(backend, "check_django").unwrap();
    django_migrate(&db);
    let django_only = check(dir.path(), &db, KEY_A, &[]);
    assert!(
        line(&django_only, "schema").starts_with("ok"),
        "check[{backend}] on Django's schema:\n{}",
        django_only.log
    );
    assert!(line(&django_only, "django migrations").contains("users 0001_initial recorded"), "{}", django_only.log);
    let pending = line(&django_only, "ledger migrations");
    assert!(pending.starts_with("fail") && pending.contains("run ledger-server migrate"), "{pending}");
    ledger_migrate(dir.path(), &db);
    let both = check(dir.path(), &db, KEY_A, &[]);
    assert_passes(&both, &format!("check[{backend}] on Django's schema after ledger-server migrate"));
}

#[test]
fn check_sqlite() {
    check_on(Backend::Sqlite);
}

#[test]
fn check_postgres() {
    check_on(Backend::Postgres);
}

#[test]
fn check_mysql() {
    check_on(Backend::Mysql);
}

#[test]
fn check_oracle_sqlite_django_schema() {
    django_first(Backend::Sqlite);
}

#[test]
fn check_oracle_postgres_django_schema() {
    django_first(Backend::Postgres);
}

#[test]
fn check_oracle_mysql_django_schema() {
    django_first(Backend::Mysql);
}

#[test]
fn check_reports_bad_settings_with_exit_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = LedgerBinary::new(crate::BIN, dir.path())
        .arg("check")
        .setting("ALGORITHM", "RS256")
        .run(Duration::from_secs(30))
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", run.log);
    assert!(
        line(&run, "settings").starts_with("fail settings: ") && line(&run, "settings").contains("ALGORITHM"),
        "{}",
        run.log
    );
    assert!(!dir.path().join("db.sqlite3").exists(), "check created a database");
}
