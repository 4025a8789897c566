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

/// gunicorn (`limit_request_fields = 100`) answers requests with up to 100
/// header fields and refuses 101 or more with its own 431 page; actix-http
/// stopped at 96 (patched in vendor/actix-http). Measured against the
/// oracle: Django's answer up to 100 fields, a 431 from 101 (gunicorn's
/// HTML page, actix's empty body: a documented difference).
#[test]
fn oracle_header_field_count_is_limited_where_gunicorn_limits_it() {
    use ledger_contract::kit::Oracle;
    let dir = tempfile::tempdir().unwrap();
    let oracle_db = TestDb::create(Backend::Sqlite, "protocol_oracle").unwrap();
    let oracle = Oracle::start_on("protocol-key", &oracle_db, &dir.path().join("oracle.log")).unwrap();
    // the real binary, so that this test can also be pointed at an older one
    let server =
        ledger_contract::kit::LedgerBinary::new(crate::BIN, dir.path()).setting("SECRET_KEY", "k").start().unwrap();
    // the client adds `Host` and `Connection`: fields = extra + 2
    let request = |fields: usize| {
        (0..fields - 2).fold(Request::new("GET", "/users/nothing"), |r, i| r.header(&format!("X-Field-{i}"), "v"))
    };
    for fields in [95, 96, 97, 98, 99, 100, 101, 102, 120] {
        let django = Client::new(oracle.addr).send(&request(fields)).unwrap();
        let ours = Client::new(server.addr).send(&request(fields)).unwrap();
        assert_eq!(ours.status, django.status, "{fields} header fields");
        if fields <= 100 {
            assert_eq!(django.status, 404, "{fields} header fields: Django's own answer");
            assert_eq!(ours.body, django.body, "{fields} header fields");
        } else {
            assert_eq!(ours.status, 431, "{fields} header fields");
        }
    }
}
