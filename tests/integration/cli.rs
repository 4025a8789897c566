//! The `ledger-server` binary as an operator meets it: settings errors,
//! defaults, `migrate`, graceful shutdown, logs without secrets, and
//! `--version`.

use std::path::Path;
use std::time::Duration;

use ledger_contract::client::Client;
use ledger_contract::kit::requests::signup;
use ledger_contract::kit::{LedgerBinary, ServerProcess};
use ledger_contract::model::Request;

/// The binary in `dir`, with none of the settings of the environment.
fn binary(dir: &Path) -> LedgerBinary {
    LedgerBinary::new(crate::BIN, dir)
}

/// Runs the binary to completion (bounded), returning status and output.
fn run_to_end(bin: LedgerBinary) -> (Option<i32>, String) {
    let finished = bin.run(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    (finished.status.code(), finished.log)
}

fn start(bin: LedgerBinary) -> ServerProcess {
    bin.start().unwrap_or_else(|e| panic!("server did not start: {e}"))
}

/// SIGTERM, then the exit code and the output.
fn terminate(mut server: ServerProcess) -> (Option<i32>, String) {
    server.terminate(Duration::from_secs(40)).unwrap_or_else(|e| panic!("no exit after SIGTERM: {e}"))
}

#[test]
fn bad_settings_stop_startup_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    // (what, environment, settings file, what the error line must name)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        ("empty key", vec![("SECRET_KEY", "")], "", "SECRET_KEY"),
        ("algorithm", vec![("ALGORITHM", "RS256")], "", "ALGORITHM"),
        ("database", vec![("DATABASE_URL", "/no/such/dir/db.sqlite3")], "", "DATABASE_URL"),
        ("scheme", vec![("DATABASE_URL", "redis://localhost/0")], "", "DATABASE_URL"),
        ("time zone", vec![("TIME_ZONE", "Mars/Base")], "", "TIME_ZONE"),
        ("unknown key", vec![], "SECRET = \"x\"\n", "SECRET"),
        ("bad toml", vec![], "SECRET_KEY = \n", "TOML"),
    ];
    for (what, env, file, needle) in cases {
        let settings = dir.path().join("my_settings.toml");
        std::fs::write(&settings, file).unwrap();
        let mut bin = binary(dir.path()).arg("migrate");
        for (k, v) in env {
            bin = bin.setting(k, v);
        }
        let (code, stderr) = run_to_end(bin);
        assert_eq!(code, Some(2), "{what}: a bad setting exits 2");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ledger-server:")).collect();
        assert_eq!(lines.len(), 1, "{what}: expected one error line, got {stderr:?}");
        assert!(lines[0].contains(needle), "{what}: {:?} does not name {needle}", lines[0]);
    }
}

#[test]
fn starts_with_no_settings_on_the_defaults_and_warns_about_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_to_end(binary(dir.path()).arg("migrate"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(dir.path().join("db.sqlite3").exists(), "no db.sqlite3 in the working directory");
    assert!(stderr.contains("insecure development key"), "no warning: {stderr}");
}

#[test]
fn settings_file_then_env_file_then_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("my_settings.toml"), "DATABASE_URL = \"from-file.sqlite3\"\nSECRET_KEY = \"k\"\n")
        .unwrap();
    let (code, stderr) = run_to_end(binary(dir.path()).arg("migrate"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(dir.path().join("from-file.sqlite3").exists());
    assert!(!stderr.contains("insecure"), "the file's key was ignored: {stderr}");

    std::fs::write(dir.path().join(".env"), "DATABASE_URL=from-dotenv.sqlite3\n").unwrap();
    let (code, _) = run_to_end(binary(dir.path()).arg("migrate"));
    assert_eq!(code, Some(0));
    assert!(dir.path().join("from-dotenv.sqlite3").exists(), ".env did not override the file");

    let (code, _) = run_to_end(binary(dir.path()).arg("migrate").setting("DATABASE_URL", "from-env.sqlite3"));
    assert_eq!(code, Some(0));
    assert!(dir.path().join("from-env.sqlite3").exists(), "the environment did not override .env");

    let explicit = dir.path().join("other.toml");
    std::fs::write(&explicit, "DATABASE_URL = \"explicit.sqlite3\"\n").unwrap();
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    let (code, _) = run_to_end(binary(dir.path()).arg("--settings").arg(&explicit).arg("migrate"));
    assert_eq!(code, Some(0));
    assert!(dir.path().join("explicit.sqlite3").exists(), "--settings was ignored");
}

#[test]
fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(binary(dir.path()).setting("SECRET_KEY", "sigterm-test-key"));
    let client = Client::new(server.addr);
    let signup = signup("slow@example.com");
    // bcrypt at cost 12 keeps the signup in flight while the signal arrives.
    let in_flight = std::thread::spawn(move || client.send(&signup));
    std::thread::sleep(Duration::from_millis(100));
    let (code, stderr) = terminate(server);
    let response = in_flight.join().unwrap().expect("the in-flight request was cut off");
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.body, br#"{"message": "SUCCESS"}"#);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn with_access_log_logs_one_line_per_request_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let key = "a-very-secret-signing-key-0123456789";
    let password = "S3cret!pass";
    let server = start(binary(dir.path()).setting("SECRET_KEY", key).setting("ACCESS_LOG", "1"));
    let client = Client::new(server.addr);
    let body = format!(r#"{{"email": "log@example.com", "password": "{password}"}}"#);
    assert_eq!(client.send(&Request::new("POST", "/users/signup").body(&body)).unwrap().status, 201);
    let login = client.send(&Request::new("POST", "/users/login").body(&body)).unwrap();
    assert_eq!(login.status, 200);
    let text = String::from_utf8(login.body).unwrap();
    let token = text.split('"').nth(7).unwrap().to_owned();
    assert!(token.starts_with("eyJ"), "{text}");
    let logout = client.send(&Request::new("POST", "/users/logout").header("Authorization", &token)).unwrap();
    assert_eq!(logout.status, 200);
    let (code, log) = terminate(server);
    assert_eq!(code, Some(0));
    for (secret, what) in [(key, "SECRET_KEY"), (password, "password"), (token.as_str(), "token")] {
        assert!(!log.contains(secret), "the log shows the {what}:\n{log}");
    }
    let request_lines: Vec<&str> = log.lines().filter(|l| l.contains("ledger_server::request")).collect();
    // The readiness probe, signup, login and logout.
    assert_eq!(request_lines.len(), 4, "{log}");
    assert!(request_lines.iter().any(|l| l.contains("POST /users/logout 200")), "{log}");
    assert!(request_lines.iter().all(|l| l.contains("ms request_id=")), "{log}");
}

/// gunicorn, as the original runs, keeps no access log; nor does
/// ledger-server unless `ACCESS_LOG` asks for one.
#[test]
fn no_access_log_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(binary(dir.path()));
    let client = Client::new(server.addr);
    let answer = client.send(&Request::new("POST", "/users/logout").header("Authorization", "x.y.z")).unwrap();
    assert_eq!(answer.status, 400);
    let (code, log) = terminate(server);
    assert_eq!(code, Some(0));
    assert!(!log.contains("ledger_server::request"), "{log}");
    assert!(!log.contains("/users/logout"), "{log}");
    // serve raises the soft open-file limit to the hard one, and says so
    assert!(log.contains("open files: soft limit"), "{log}");
}

/// The log lines of 500 answers (`METHOD PATH: 500: cause`).
fn fault_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(": 500: ")).collect()
}

/// A 500 the original gives too (its own bug, reproduced: a JSON body that
/// is not an object) is logged once, as a warning naming the exception,
/// with the method and path; an answer that is not a 500 logs nothing.
#[test]
fn a_500_the_original_gives_too_is_logged_once_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(binary(dir.path()));
    let client = Client::new(server.addr);
    let answer = client.send(&Request::new("POST", "/users/login?next=x").body("[1]")).unwrap();
    assert_eq!(answer.status, 500);
    assert!(String::from_utf8_lossy(&answer.body).contains("<title>Server Error (500)</title>"));
    let refused = client.send(&Request::new("POST", "/users/logout").header("Authorization", "x.y.z")).unwrap();
    assert_eq!(refused.status, 400);
    let (_, log) = terminate(server);
    let faults = fault_lines(&log);
    assert_eq!(faults.len(), 1, "{log}");
    assert!(faults[0].contains("WARN"), "{}", faults[0]);
    assert!(faults[0].contains("POST /users/login: 500: TypeError"), "{}", faults[0]);
    assert!(faults[0].contains("(as the original raises)") && !faults[0].contains("next=x"), "{}", faults[0]);
}

/// ledger-server's own failure (here: the tokens table gone under a
/// running server) is the 500 page, logged once as an error with the
/// database's own message; the token is not in the log.
#[test]
fn an_internal_failure_is_logged_once_as_an_error_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(binary(dir.path()).setting("SECRET_KEY", "fault-test-key"));
    let client = Client::new(server.addr);
    assert_eq!(client.send(&signup("fault@example.com")).unwrap().status, 201);
    let login = client.send(&ledger_contract::kit::requests::login("fault@example.com")).unwrap();
    let token = ledger_contract::kit::requests::access_token(&login).unwrap();
    let db = ledger_contract::kit::TestDb::existing(dir.path().join("db.sqlite3").to_str().unwrap()).unwrap();
    db.execute("DROP TABLE tokens").unwrap();
    let logout = client.send(&Request::new("POST", "/users/logout").header("Authorization", &token)).unwrap();
    assert_eq!(logout.status, 500);
    let (_, log) = terminate(server);
    let faults = fault_lines(&log);
    assert_eq!(faults.len(), 1, "{log}");
    assert!(faults[0].contains("ERROR"), "{}", faults[0]);
    assert!(
        faults[0].contains("POST /users/logout: 500: database query failed: no such table: tokens"),
        "{}",
        faults[0]
    );
    assert!(!log.contains(&token), "the log shows the token:\n{log}");
}

/// A `.env` line that does not parse stops startup with one line that
/// does not show it (it may hold the key).
#[test]
fn a_broken_env_file_is_named_without_showing_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "SECRET_KEY=\"hunter2-unterminated\n").unwrap();
    let (code, stderr) = run_to_end(binary(dir.path()).arg("migrate"));
    assert_eq!(code, Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ledger-server:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains(".env"), "{}", lines[0]);
    assert!(!stderr.contains("hunter2"), "the .env line is shown: {stderr}");
}

#[test]
fn version_names_the_release_the_commit_the_backends_and_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git runs");
    let head = String::from_utf8(head.stdout).unwrap().trim().to_owned();
    assert_eq!(head.len(), 40, "the tests run in a git checkout");
    let (code, out) = run_to_end(binary(dir.path()).arg("--version"));
    assert_eq!(code, Some(0), "{out}");
    // The integration tests run the binary built with every feature.
    let expected = format!(
        "ledger-server {}\ncommit: {head}\nbackends: sqlite, postgres, mysql\nprofile: compat\n",
        env!("CARGO_PKG_VERSION")
    );
    assert!(out.ends_with(&expected), "expected {expected:?} at the end of {out:?}");
    let (code, out) = run_to_end(binary(dir.path()).arg("-V").setting("PROFILE", "hardened"));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.ends_with("profile: hardened\n"), "{out:?}");
    let (code, out) = run_to_end(binary(dir.path()).arg("--version").setting("PROFILE", "paranoid"));
    assert_eq!(code, Some(0), "--version works whatever the settings: {out}");
    assert!(out.contains("profile: unknown (the settings do not load: setting PROFILE"), "{out:?}");
}
