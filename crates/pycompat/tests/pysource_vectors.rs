// Checks `pycompat::pysource` against Python 3.11's own values of the
// literal forms a settings file may hold, recorded in
// tests/data/pysource_vectors.json by crates/pycompat/scripts/gen_pysource_vectors.py
// (its docstring gives the format and the command).

use std::path::Path;

use pycompat::pysource::{parse, Node, Options, Value};
use serde_json::Value as Json;

fn encode(node: &Node) -> Json {
    let list = |items: &[Node]| Json::Array(items.iter().map(encode).collect());
    let (kind, data) = match &node.value {
        Value::None => ("none", Json::Null),
        Value::Bool(b) => ("bool", Json::Bool(*b)),
        Value::Int(n) => ("int", Json::String(n.to_string())),
        Value::Float(f) => return serde_json::json!({ "float_bits": f.to_bits() }),
        Value::Str(s) => ("str", Json::String(s.clone())),
        Value::Bytes(b) => ("bytes", Json::String(b.iter().map(|x| format!("{x:02x}")).collect())),
        Value::List(items) => ("list", list(items)),
        Value::Tuple(items) => ("tuple", list(items)),
        Value::Dict(pairs) => {
            ("dict", Json::Array(pairs.iter().map(|(k, v)| Json::Array(vec![encode(k), encode(v)])).collect()))
        }
        other => panic!("unexpected value {other:?}"),
    };
    serde_json::json!({ kind: data })
}

/// Python's encoding, with floats as bits (its repr parsed).
fn normalise(v: &Json) -> Json {
    match v {
        Json::Object(map) if map.contains_key("float") => {
            let repr = map["float"].as_str().expect("float repr");
            serde_json::json!({ "float_bits": repr.parse::<f64>().expect("float").to_bits() })
        }
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect()),
        Json::Array(items) => Json::Array(items.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

#[test]
fn pysource_reads_literals_as_python_does() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pysource_vectors.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let data: Json = serde_json::from_str(&text).expect("valid JSON");
    let cases = data["cases"].as_array().expect("cases");
    assert!(cases.len() >= 2000, "only {} cases", cases.len());
    let env = |_: &str| None;
    let options = Options { env: &env, file: Path::new("my_settings.py"), modules: &[] };
    let (mut accepted, mut refused) = (0, 0);
    for case in cases {
        let src = case["src"].as_str().expect("src");
        let ok = case["ok"].as_bool().expect("ok");
        let may_refuse = case["may_refuse"].as_bool().unwrap_or(false);
        match parse(&format!("X = {src}\n"), &options) {
            Ok(module) => {
                assert!(ok, "{src:?}: Python refuses it, pysource read {:?}", module.get("X"));
                assert!(!may_refuse || !src.to_ascii_lowercase().starts_with('f'), "{src:?}: an f-string was read");
                if let Some(expected) = case.get("value") {
                    let got = encode(&module.get("X").expect("X bound").value);
                    assert_eq!(got, normalise(expected), "{src:?}");
                }
                accepted += 1;
            }
            Err(e) => {
                assert!(!ok || may_refuse, "{src:?}: Python reads it, pysource refused: {e}");
                assert!(!e.what.contains('\n'), "{src:?}: {e}");
                refused += 1;
            }
        }
    }
    assert!(accepted > 1500 && refused > 200, "accepted {accepted}, refused {refused}");
}
