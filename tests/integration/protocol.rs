//! Requests that break HTTP/1.1 itself, where the original's answer comes
//! from gunicorn's parser rather than from Django, and ledger-server's from
//! actix's. These are documented differences (README, "Known differences"),
//! kept out of the contract fixtures; this test pins ledger-server's own
//! answers so a change is noticed.

use ledger_contract::client::Client;
use ledger_contract::kit::{in_process, Backend, TestDb};
use ledger_contract::model::Request;
use ledger_server::server::BackgroundServer;

fn server() -> (TestDb, BackgroundServer) {
    let db = TestDb::create(Backend::Sqlite, "protocol").unwrap();
    let server = in_process("protocol-key", &db).unwrap();
    (db, server)
}

#[test]
fn raw_non_ascii_bytes_in_the_request_target_are_refused_by_the_parser() {
    // gunicorn passes these to Django (404, 404, INVALID_EMAIL); RFC 9112
    // requires percent-encoding, and actix's parser answers 400 before any
    // application code runs. Percent-encoded, they behave exactly as in Django.
    let (_db, server) = server();
    let client = Client::new(server.addr);
    let body = r#"{"email": "bad", "password": "x"}"#;
    for target in [&b"/users/sign\xffup"[..], "/users/é".as_bytes(), b"/users/signup?\xff=\xfe"] {
        let r = client.send(&Request::new("POST", target).body(body)).unwrap();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(target));
        assert!(r.body.is_empty());
    }
    let encoded = client.send(&Request::new("POST", "/users/sign%FFup").body(body)).unwrap();
    assert_eq!(encoded.status, 404);
    let encoded = client.send(&Request::new("POST", "/users/signup?%FF=%FE").body(body)).unwrap();
    assert_eq!((encoded.status, encoded.body), (400, br#"{"message": "INVALID_EMAIL"}"#.to_vec()));
}
