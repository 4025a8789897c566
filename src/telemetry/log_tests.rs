//! The log's formats, levels and request ids.

use super::*;

#[test]
fn formats_parse_and_anything_else_is_refused() {
    assert_eq!("text".parse::<Format>(), Ok(Format::Text));
    assert_eq!(" JSON ".parse::<Format>(), Ok(Format::Json));
    let err = "logfmt".parse::<Format>().unwrap_err();
    assert!(err.contains("\"logfmt\"") && err.contains("text or json"), "{err}");
}

#[test]
fn levels_are_levels_or_directives() {
    for good in ["info", "TRACE", "off", "warn,ledger_server=debug", "ledger_server::request=info"] {
        assert_eq!(check_level(good), Ok(()), "{good}");
    }
    for bad in ["", "loud", "ledger_server", "info,x=loud", "a b=info", "x=debug=y"] {
        assert!(check_level(bad).is_err(), "{bad:?} accepted");
    }
}

fn json(record: &Record<'_>) -> serde_json::Value {
    let line = json_object("2026-12-01T16:40:00.123456Z", record);
    assert!(line.ends_with("}\n") && line.matches('\n').count() == 1, "{line:?}");
    serde_json::from_str(&line).unwrap()
}

#[test]
fn a_json_line_is_one_object_with_typed_fields() {
    let fields: &[(&str, Value<'_>)] = &[
        ("method", Value::from("POST")),
        ("path", Value::from("/users/login")),
        ("status", Value::from(200u16)),
        ("duration", Value::from(1.25f64)),
        ("client", Value::from("127.0.0.1")),
        ("request_id", Value::from("abc")),
    ];
    let line = json(
        &Record::builder()
            .level(Level::Info)
            .target("ledger_server::request")
            .args(format_args!("POST /users/login 200 1.25ms"))
            .key_values(&fields)
            .build(),
    );
    assert_eq!(
        line,
        serde_json::json!({
            "time": "2026-12-01T16:40:00.123456Z", "level": "INFO", "target": "ledger_server::request",
            "message": "POST /users/login 200 1.25ms", "method": "POST", "path": "/users/login",
            "status": 200, "duration": 1.25, "client": "127.0.0.1", "request_id": "abc"
        })
    );
}

#[test]
fn a_json_line_escapes_what_it_carries() {
    let nasty = "quote \" backslash \\ newline \n tab \t nul \u{0} ünïcode";
    let line = json(&Record::builder().level(Level::Warn).target("t\"x").args(format_args!("{nasty}")).build());
    assert_eq!(line["message"], nasty);
    assert_eq!(line["target"], "t\"x");
    assert_eq!(line["level"], "WARN");
}

#[test]
fn the_time_is_utc_with_microseconds() {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let re = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$").unwrap();
    assert!(re.is_match(&time), "{time}");
}

#[test]
fn request_ids_from_a_proxy_must_be_sane() {
    assert_eq!(RequestId::accept(b"req-1.2_3:abc").unwrap().as_str(), "req-1.2_3:abc");
    assert!(RequestId::accept(&[b'a'; 200]).is_some());
    for bad in [&b""[..], &[b'a'; 201], b"two words", b"new\nline", b"tab\t", "é".as_bytes(), b"\x7f"] {
        assert!(RequestId::accept(bad).is_none(), "{bad:?} accepted");
    }
}

#[test]
fn generated_request_ids_are_128_random_bits_in_hex() {
    let a = RequestId::generate();
    let b = RequestId::generate();
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 32);
    assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{a}");
    assert!(RequestId::accept(a.as_str().as_bytes()).is_some(), "a generated id is a sane one");
}
