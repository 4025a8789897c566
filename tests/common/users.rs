//! Requests and process helpers shared by the tests that drive the real
//! `ledger-server` binary.

use std::process::Command;

use ledger_contract::model::{Request, Response};

pub const PASSWORD: &str = "Passw0rd!";

/// The server process dies with the test thread that started it, even if
/// the test process is killed (then no destructor runs).
pub trait DieWithParent {
    fn die_with_parent(&mut self) -> &mut Self;
}

impl DieWithParent for Command {
    fn die_with_parent(&mut self) -> &mut Self {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        #[allow(unsafe_code)]
        unsafe {
            self.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            })
        }
    }
}

pub fn credentials(email: &str) -> String {
    format!(r#"{{"email": "{email}", "password": "{PASSWORD}"}}"#)
}

pub fn signup(email: &str) -> Request {
    Request::new("POST", "/users/signup").body(credentials(email))
}

pub fn login(email: &str) -> Request {
    Request::new("POST", "/users/login").body(credentials(email))
}

pub fn logout(token: &str) -> Request {
    Request::new("POST", "/users/logout").header("Authorization", token)
}

pub fn show(r: &Response) -> String {
    format!("{} {}", r.status, String::from_utf8_lossy(&r.body))
}

pub fn access_token(r: &Response) -> String {
    assert_eq!(r.status, 200, "login: {}", show(r));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    body["access_token"].as_str().expect("access_token").to_owned()
}
