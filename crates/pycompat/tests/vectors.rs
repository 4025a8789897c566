// Checks `pycompat` against Python 3.11's real answers, recorded
// in tests/data/compat_vectors.json by crates/pycompat/scripts/gen_vectors.py (see its
// docstring for the format and the command). The test fails when the file is
// missing or holds fewer cases than expected.
//
// Plain `//` comments only: a scratch crate `include!`s this file.

use pycompat::pybase64::urlsafe_b64decode_padded;
use pycompat::pyint::{py_int, py_truthy, IntError};
use pycompat::pyjson::{loads, LoadError, PyValue};
use pycompat::pyregex::{email_ok, password_ok};
use pycompat::pyrepr::{dumps_object, dumps_str, py_str};
use serde_json::Value;
use std::sync::OnceLock;

/// Minimum number of vectors per section.
const MIN_CASES: &[(&str, usize)] = &[
    ("loads", 3000),
    ("base64", 1000),
    ("int", 1000),
    ("str", 1500),
    ("dumps", 300),
    ("email", 1000),
    ("password", 1000),
];

fn vectors() -> &'static Value {
    static VECTORS: OnceLock<Value> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/compat_vectors.json");
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e}; run crates/pycompat/scripts/gen_vectors.py with Python 3.11"));
        serde_json::from_str(&text).expect("compat_vectors.json is not valid JSON")
    })
}

fn section(name: &str) -> &'static [Value] {
    let cases = vectors()[name].as_array().unwrap_or_else(|| panic!("section {name} missing"));
    let min = MIN_CASES.iter().find(|(n, _)| *n == name).map_or(1, |(_, m)| *m);
    assert!(cases.len() >= min, "section {name}: {} cases, expected at least {min}", cases.len());
    cases
}

fn max_depth() -> usize {
    let depth = vectors()["max_depth"].as_u64().expect("max_depth");
    usize::try_from(depth).expect("max_depth fits usize")
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex {text}");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit")).collect()
}

/// Concatenates a body's parts: ["t", text], ["x", hex], ["r", text, n].
fn body(parts: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts.as_array().expect("body parts") {
        let kind = part[0].as_str().expect("part kind");
        let data = part[1].as_str().expect("part data");
        match kind {
            "t" => out.extend_from_slice(data.as_bytes()),
            "x" => out.extend(hex(data)),
            "r" => {
                let n = part[2].as_u64().expect("repeat count");
                for _ in 0..n {
                    out.extend_from_slice(data.as_bytes());
                }
            }
            other => panic!("unknown body part {other}"),
        }
    }
    out
}

fn canon(v: &PyValue) -> String {
    match v {
        PyValue::Null => "None".into(),
        PyValue::Bool(true) => "True".into(),
        PyValue::Bool(false) => "False".into(),
        PyValue::Int(i) => format!("int:{i}"),
        PyValue::Float(f) => format!("float:{:016x}", f.to_bits()),
        PyValue::Str(s) => format!("str:{}:{}", u8::from(s.lone_surrogate), dumps_str(&s.text)),
        PyValue::List(items) => {
            let inner: Vec<String> = items.iter().map(canon).collect();
            format!("[{}]", inner.join(","))
        }
        PyValue::Dict(pairs) => {
            let inner: Vec<String> =
                pairs.iter().map(|(k, v)| format!("{}={}", canon(&PyValue::Str(k.clone())), canon(v))).collect();
            format!("{{{}}}", inner.join(","))
        }
    }
}

fn short_canon(v: &PyValue) -> String {
    let c = canon(v);
    if c.len() <= 300 {
        return c;
    }
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in c.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    format!("fnv:{h:016x}")
}

fn load_error_name(e: LoadError) -> &'static str {
    match e {
        LoadError::Decode => "Decode",
        LoadError::Unicode => "Unicode",
        LoadError::IntTooLong => "IntTooLong",
        LoadError::Recursion => "Recursion",
    }
}

/// Panics listing the first failures, if any.
fn report(name: &str, failures: &[String]) {
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(25).collect();
        panic!("{name}: {} failures, first ones:\n{shown:#?}", failures.len());
    }
}

/// Loads a vector's body, which must succeed.
fn loaded(case: &Value) -> PyValue {
    let bytes = body(&case["body"]);
    loads(&bytes, max_depth())
        .unwrap_or_else(|e| panic!("body {:?} failed to load: {e}", String::from_utf8_lossy(&bytes)))
}

#[test]
fn vector_file_matches_the_reference_stack() {
    let v = vectors();
    assert!(v["python"].as_str().is_some_and(|p| p.starts_with("3.11.")), "python {}", v["python"]);
    assert_eq!(v["unicode"], "14.0.0");
    assert!(max_depth() >= 100);
    for (name, _) in MIN_CASES {
        section(name);
    }
}

#[test]
fn loads_matches_python() {
    let depth = max_depth();
    let mut failures = Vec::new();
    for case in section("loads") {
        let bytes = body(&case["body"]);
        let want = case["expect"].as_str().expect("expect");
        let got = loads(&bytes, depth);
        let ok = match (&got, want) {
            (Ok(v), "ok") => case["value"].as_str() == Some(short_canon(v).as_str()),
            (Err(e), w) => load_error_name(*e) == w,
            _ => false,
        };
        if !ok {
            let got = got.map(|v| short_canon(&v));
            failures.push(format!("{:?}: want {want} {}, got {got:?}", String::from_utf8_lossy(&bytes), case["value"]));
        }
    }
    report("loads", &failures);
}

#[test]
fn base64_matches_pyjwt() {
    let mut failures = Vec::new();
    for case in section("base64") {
        let input = hex(case["input"].as_str().expect("input"));
        let want = case["output"].as_str().map(hex);
        let got = urlsafe_b64decode_padded(&input).ok();
        if got != want {
            failures.push(format!("{:?}: want {want:?}, got {got:?}", String::from_utf8_lossy(&input)));
        }
    }
    report("base64", &failures);
}

#[test]
fn int_and_truthiness_match_python() {
    let mut failures = Vec::new();
    for case in section("int") {
        let v = loaded(case);
        let got = match py_int(&v) {
            Ok(i) => format!("int:{i}"),
            Err(IntError::Value) => "Value".into(),
            Err(IntError::Type) => "Type".into(),
            Err(IntError::Overflow) => "Overflow".into(),
        };
        let want = case["expect"].as_str().expect("expect");
        if got != want || Some(py_truthy(&v)) != case["truthy"].as_bool() {
            failures.push(format!("{v:?}: want {want} truthy={}, got {got} truthy={}", case["truthy"], py_truthy(&v)));
        }
    }
    report("int", &failures);
}

#[test]
fn str_matches_python() {
    let mut failures = Vec::new();
    for case in section("str") {
        let v = loaded(case);
        let want = case["expect"].as_str().expect("expect");
        let got = py_str(&v);
        if got != want {
            failures.push(format!("{v:?}: want {want:?}, got {got:?}"));
        }
    }
    report("str", &failures);
}

#[test]
fn dumps_matches_python() {
    let mut failures = Vec::new();
    for case in section("dumps") {
        let pairs: Vec<(&str, &str)> = case["pairs"]
            .as_array()
            .expect("pairs")
            .iter()
            .map(|p| (p[0].as_str().expect("key"), p[1].as_str().expect("value")))
            .collect();
        let want = case["expect"].as_str().expect("expect");
        let got = dumps_object(&pairs);
        if got != want {
            failures.push(format!("{pairs:?}: want {want}, got {got}"));
        }
    }
    report("dumps", &failures);
}

fn check_regex(name: &str, matcher: fn(&pycompat::pyjson::PyStr) -> bool) {
    let mut failures = Vec::new();
    for case in section(name) {
        let PyValue::Str(s) = loaded(case) else {
            panic!("{name} vector is not a string: {case}");
        };
        let want = case["expect"].as_bool().expect("expect");
        if matcher(&s) != want {
            failures.push(format!("{s:?}: want {want}"));
        }
    }
    report(name, &failures);
}

#[test]
fn email_regex_matches_python() {
    check_regex("email", email_ok);
}

#[test]
fn password_regex_matches_python() {
    check_regex("password", password_ok);
}
