//! Django's own `my_settings.py` as the settings file (`--settings
//! my_settings.py`, or found in the working directory) and
//! `--django-settings settings.py`: the real binary connects to each
//! backend with the wecode template's file, the password read by
//! `os.environ.get`; the oracle's own `my_settings.py` is refused in one line.

use std::path::Path;
use std::time::Duration;

use ledger_contract::kit::requests::{login, signup};
use ledger_contract::kit::{Backend, LedgerBinary, TestDb};

const ORACLE_SETTINGS: &str = include_str!("../fixtures/django/settings.py");
const ORACLE_MY_SETTINGS: &str = include_str!("../fixtures/django/oracle_my_settings.py");

/// The wecode template's my_settings.py for the test database `db`.
fn wecode_for(db: &TestDb) -> String {
    let env = db.oracle_env().unwrap();
    let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let engine = match db.backend {
        Backend::Sqlite => "sqlite3",
        Backend::Postgres => "postgresql",
        Backend::Mysql => "mysql",
    };
    let options = if db.backend == Backend::Mysql { "        'OPTIONS' : {'charset': 'utf8mb4'},\n" } else { "" };
    format!(
        "# my_settings.py, as the wecode template has it\nimport os\n\nSECRET_KEY = 'pysettings-test-key'\n\
         ALGORITHM = 'HS256'\n\nDATABASES = {{\n    'default' : {{\n        'ENGINE'  : 'django.db.backends.{engine}',\n\
         \x20       'NAME'    : {name:?},\n        'USER'    : {user:?},\n        'PASSWORD': os.environ.get(\"DB_PASSWORD\", \"\"),\n\
         \x20       'HOST'    : {host:?},\n        'PORT'    : {port:?},\n{options}    }}\n}}\n",
        name = db.name,
        user = get("REF_DB_USER"),
        host = get("REF_DB_HOST"),
        port = get("REF_DB_PORT"),
    )
}

fn password(db: &TestDb) -> String {
    let env = db.oracle_env().unwrap();
    env.iter().find(|(n, _)| *n == "REF_DB_PASSWORD").map(|(_, v)| v.clone()).unwrap_or_default()
}

/// `ledger-server --settings my_settings.py migrate`, then serve: a signup and a login.
fn migrate_and_serve(backend: Backend, label: &str) {
    let db = TestDb::create(backend, label).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("my_settings.py"), wecode_for(&db)).unwrap();
    let bin = LedgerBinary::new(crate::BIN, dir.path()).setting("DB_PASSWORD", password(&db));
    let done = bin.clone().arg("--settings").arg("my_settings.py").arg("migrate").run(Duration::from_secs(60)).unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", done.log);
    assert!(done.log.contains("settings read from my_settings.py"), "{}", done.log);
    assert!(db.tables().unwrap().iter().any(|t| t == "users"), "no users table");
    // found in the working directory without --settings
    let server = bin.arg("serve").start().unwrap_or_else(|e| panic!("did not start: {e}"));
    assert_eq!(server.send(&signup("py@example.com")).status, 201);
    assert_eq!(server.send(&login("py@example.com")).status, 200);
}

#[test]
fn my_settings_py_sqlite_file() {
    migrate_and_serve(Backend::Sqlite, "pysettings");
}

#[test]
fn my_settings_py_postgres() {
    migrate_and_serve(Backend::Postgres, "pysettings");
}

#[test]
fn my_settings_py_mysql() {
    migrate_and_serve(Backend::Mysql, "pysettings");
}

fn error_lines(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut bin = LedgerBinary::new(crate::BIN, dir);
    for a in args {
        bin = bin.arg(a);
    }
    let done = bin.arg("migrate").run(Duration::from_secs(30)).unwrap();
    let lines = done.log.lines().filter(|l| l.starts_with("ledger-server:")).map(String::from).collect();
    (done.status.code(), lines)
}

#[test]
fn the_oracles_my_settings_py_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("my_settings.py"), ORACLE_MY_SETTINGS).unwrap();
    let expected = "ledger-server: my_settings.py:9:1: an `if` statement (a settings file is read, not run: set the \
                    value in the environment instead, e.g. SECRET_KEY=… or DATABASE_URL=…)";
    for args in [&["--settings", "my_settings.py"][..], &[]] {
        let (code, lines) = error_lines(dir.path(), args);
        assert_eq!(code, Some(2), "{args:?}");
        assert_eq!(lines, vec![expected.to_owned()], "{args:?}");
    }
    std::fs::write(dir.path().join("settings.py"), ORACLE_SETTINGS).unwrap();
    let (code, lines) = error_lines(dir.path(), &["--django-settings", "settings.py"]);
    assert_eq!((code, lines.len()), (Some(2), 1), "{lines:?}");
    assert!(lines[0].starts_with("ledger-server: my_settings.py:9:1: an `if` statement"), "{lines:?}");
}

#[test]
fn the_oracles_settings_py_with_a_wecode_my_settings_starts() {
    let db = TestDb::create(Backend::Sqlite, "djsettings").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("ledger_project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("settings.py"), ORACLE_SETTINGS).unwrap();
    std::fs::write(project.join("my_settings.py"), wecode_for(&db)).unwrap();
    let server = LedgerBinary::new(crate::BIN, dir.path())
        .arg("--django-settings")
        .arg("ledger_project/settings.py")
        .arg("serve")
        .start()
        .unwrap_or_else(|e| panic!("did not start: {e}"));
    assert_eq!(server.send(&signup("dj@example.com")).status, 201);
    let changed = ORACLE_SETTINGS.replace("DEBUG = False", "DEBUG = True");
    std::fs::write(project.join("settings.py"), changed).unwrap();
    let (code, lines) = error_lines(dir.path(), &["--django-settings", "ledger_project/settings.py"]);
    assert_eq!(code, Some(2));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("ledger-server: ledger_project/settings.py:7:9: DEBUG = True:"), "{lines:?}");
}
