//! Fixture files: one JSON file per scenario under `tests/fixtures/<backend>/`
//! (`sqlite`, `postgres`, `mysql`: Django answers a few requests differently
//! on each database).
//!
//! The writer is hand-made so that the key order is stable and readable
//! (`secret_key`, `scenario`, `description`, then `exchanges`), each header
//! is one line, and byte strings use the forms of [`super::model::bytes_to_json`].

use super::kit::Backend;
use super::model::{bytes_to_json, Request, Response};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub request: Request,
    pub response: Response,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixture {
    pub secret_key: String,
    /// The backend of the database it was recorded on (`sqlite`, `postgres`, `mysql`).
    #[serde(default)]
    pub backend: String,
    pub scenario: String,
    /// See [`super::scenarios::Scenario::user_id_start`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id_start: Option<i64>,
    #[serde(default)]
    pub description: String,
    pub exchanges: Vec<Exchange>,
}

/// The fixture directory of this repository (one subdirectory per backend).
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// `tests/fixtures/<backend>` of this repository.
pub fn backend_dir(backend: Backend) -> PathBuf {
    default_dir().join(backend.name())
}

pub fn path_for(dir: &Path, scenario: &str) -> PathBuf {
    dir.join(format!("{scenario}.json"))
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string serializes")
}

fn b(v: &[u8]) -> String {
    value_text(&bytes_to_json(v))
}

/// One-line JSON with `repeat` before `count` and `", "` separators.
fn value_text(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| match k.as_str() {
                "repeat" => 0,
                "count" => 1,
                _ => 2,
            });
            let items: Vec<String> = keys.iter().map(|k| format!("{}: {}", q(k), value_text(&m[k.as_str()]))).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(value_text).collect::<Vec<_>>().join(", ")),
        other => serde_json::to_string(other).expect("value serializes"),
    }
}

fn headers(out: &mut String, indent: &str, h: &[(String, Vec<u8>)]) {
    if h.is_empty() {
        out.push_str("[]");
        return;
    }
    out.push_str("[\n");
    for (i, (n, v)) in h.iter().enumerate() {
        let comma = if i + 1 < h.len() { "," } else { "" };
        let _ = writeln!(out, "{indent}  [{}, {}]{comma}", q(n), b(v));
    }
    let _ = write!(out, "{indent}]");
}

/// The text of a fixture file.
pub fn to_text(f: &Fixture) -> String {
    let mut out = String::new();
    out.push_str("{\n");
    let _ = writeln!(out, "  \"secret_key\": {},", q(&f.secret_key));
    if !f.backend.is_empty() {
        let _ = writeln!(out, "  \"backend\": {},", q(&f.backend));
    }
    let _ = writeln!(out, "  \"scenario\": {},", q(&f.scenario));
    if let Some(start) = f.user_id_start {
        let _ = writeln!(out, "  \"user_id_start\": {start},");
    }
    let _ = writeln!(out, "  \"description\": {},", q(&f.description));
    out.push_str("  \"exchanges\": [");
    for (i, ex) in f.exchanges.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        let r = &ex.request;
        out.push_str("    {\n      \"request\": {\n");
        if !r.note.is_empty() {
            let _ = writeln!(out, "        \"note\": {},", q(&r.note));
        }
        let _ = writeln!(out, "        \"method\": {},", q(&r.method));
        let _ = writeln!(out, "        \"path\": {},", b(&r.path));
        out.push_str("        \"headers\": ");
        headers(&mut out, "        ", &r.headers);
        if !r.body.is_empty() {
            let _ = write!(out, ",\n        \"body\": {}", b(&r.body));
        }
        if r.raw {
            out.push_str(",\n        \"raw\": true");
        }
        out.push_str("\n      },\n      \"response\": {\n");
        let s = &ex.response;
        let _ = writeln!(out, "        \"status\": {},", s.status);
        out.push_str("        \"headers\": ");
        headers(&mut out, "        ", &s.headers);
        let _ = write!(out, ",\n        \"body\": {}\n      }}\n    }}", b(&s.body));
    }
    if f.exchanges.is_empty() {
        out.push_str("]\n}\n");
    } else {
        out.push_str("\n  ]\n}\n");
    }
    out
}

pub fn write(dir: &Path, f: &Fixture) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let path = path_for(dir, &f.scenario);
    let tmp = dir.join(format!(".{}.json.tmp", f.scenario));
    std::fs::write(&tmp, to_text(f)).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("rename to {}: {e}", path.display()))?;
    Ok(path)
}

pub fn read(path: &Path) -> Result<Fixture, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))
}

/// Every `*.json` fixture in `dir`, sorted by file name.
pub fn read_all(dir: &Path) -> Result<Vec<Fixture>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| read(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let f = Fixture {
            secret_key: "k".into(),
            backend: "mysql".into(),
            scenario: "s".into(),
            user_id_start: Some(10_000_000),
            description: "d".into(),
            exchanges: vec![Exchange {
                request: Request::new("POST", "/x").header("A", vec![0xffu8]).body(vec![b'['; 10_000]).note("n"),
                response: Response {
                    status: 200,
                    headers: vec![("Content-Type".into(), b"text/html".to_vec())],
                    body: b"\n<!doctype html>".to_vec(),
                },
            }],
        };
        let text = to_text(&f);
        let back: Fixture = serde_json::from_str(&text).unwrap();
        assert_eq!(back, f);
        let empty = Fixture { exchanges: vec![], ..f };
        let back: Fixture = serde_json::from_str(&to_text(&empty)).unwrap();
        assert_eq!(back, empty);
    }
}
