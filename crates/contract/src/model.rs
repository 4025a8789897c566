//! Requests, responses, the contract headers and the comparison of two responses.
//!
//! Byte strings (paths, header values, bodies) are stored in fixture files in a
//! readable form: a JSON string when the bytes are UTF-8, `{"base64": "..."}`
//! otherwise, and big bodies as `{"parts": [...]}` where long repetitions are
//! written `{"repeat": "x", "count": N}` (see [`bytes_to_json`]).

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The response headers that are part of the contract (lower case). Every
/// `Access-Control-*` header is too, see [`is_contract_header`].
pub const CONTRACT_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "allow",
    "vary",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
];

/// Whether a response header (any case) is compared.
pub fn is_contract_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    CONTRACT_HEADERS.contains(&lower.as_str()) || lower.starts_with("access-control-")
}

/// One HTTP request as the client sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Human note on what the request probes (not sent).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Method token, sent as is.
    pub method: String,
    /// Request target bytes, sent as is.
    #[serde(with = "bytes_serde")]
    pub path: Vec<u8>,
    /// Headers in order, values as raw bytes.
    #[serde(default, with = "headers_serde")]
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body bytes.
    #[serde(default, with = "bytes_serde", skip_serializing_if = "Vec::is_empty")]
    pub body: Vec<u8>,
    /// When true the client adds nothing: no `Host`, no `Content-Length`, no
    /// `Connection: close`; the headers are sent exactly as listed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub raw: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Request {
    pub fn new(method: &str, path: impl AsRef<[u8]>) -> Request {
        Request { method: method.to_string(), path: path.as_ref().to_vec(), ..Request::default() }
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Request {
        self.headers.push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    pub fn body(mut self, body: impl AsRef<[u8]>) -> Request {
        self.body = body.as_ref().to_vec();
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Request {
        self.note = note.into();
        self
    }

    pub fn raw(mut self) -> Request {
        self.raw = true;
        self
    }

    /// First header of that name (any case).
    pub fn get_header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    /// A short human rendering for failure messages.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if !self.note.is_empty() {
            let _ = writeln!(s, "  note: {}", self.note);
        }
        let _ = writeln!(s, "  {} {}", self.method, show_bytes(&self.path, 300));
        for (n, v) in &self.headers {
            let _ = writeln!(s, "  {}: {}", n, show_bytes(v, 300));
        }
        let _ = writeln!(s, "  body ({} bytes): {}", self.body.len(), show_bytes(&self.body, 400));
        if self.raw {
            let _ = writeln!(s, "  (raw: sent without added headers)");
        }
        s
    }
}

/// One HTTP response as received (all headers) or as recorded (contract headers only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    #[serde(default, with = "headers_serde")]
    pub headers: Vec<(String, Vec<u8>)>,
    #[serde(default, with = "bytes_serde")]
    pub body: Vec<u8>,
}

impl Response {
    /// All values of a header (any case), in order.
    pub fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice()).collect()
    }

    /// The same response with only the contract headers kept (order kept).
    pub fn contract_only(&self) -> Response {
        Response {
            status: self.status,
            headers: self.headers.iter().filter(|(n, _)| is_contract_header(n)).cloned().collect(),
            body: self.body.clone(),
        }
    }

    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "  status {}", self.status);
        for (n, v) in &self.headers {
            let _ = writeln!(s, "  {}: {}", n, show_bytes(v, 300));
        }
        let _ = writeln!(s, "  body ({} bytes): {}", self.body.len(), show_bytes(&self.body, 600));
        s
    }
}

fn contract_map(r: &Response) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut m: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (n, v) in &r.headers {
        if is_contract_header(n) {
            m.entry(n.to_ascii_lowercase()).or_default().push(v.clone());
        }
    }
    m
}

/// Compare an expected response with an actual one: status, body bytes, and
/// the contract headers (names case-insensitive; for each name all values
/// in order; presence and absence). `Err` lists every difference.
pub fn compare(expected: &Response, actual: &Response) -> Result<(), String> {
    let mut diffs = Vec::new();
    if expected.status != actual.status {
        diffs.push(format!("status: expected {}, got {}", expected.status, actual.status));
    }
    let e = contract_map(expected);
    let a = contract_map(actual);
    let names: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
    for name in names {
        let ev = e.get(name);
        let av = a.get(name);
        if ev != av {
            let show = |v: Option<&Vec<Vec<u8>>>| match v {
                None => "(absent)".to_string(),
                Some(vs) => vs.iter().map(|x| show_bytes(x, 200)).collect::<Vec<_>>().join(" | "),
            };
            diffs.push(format!("header {}: expected {}, got {}", name, show(ev), show(av)));
        }
    }
    if expected.body != actual.body {
        diffs.push(format!(
            "body: expected ({} bytes) {}\n        got ({} bytes) {}",
            expected.body.len(),
            show_bytes(&expected.body, 600),
            actual.body.len(),
            show_bytes(&actual.body, 600)
        ));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

/// [`compare`], and the contract headers' names written in the same case
/// and the same order (gunicorn writes `Content-Type`, not `content-type`,
/// and Django's fields in the order its middleware sets them: clients that
/// compare raw headers see the difference).
pub fn compare_exact(expected: &Response, actual: &Response) -> Result<(), String> {
    let mut diffs: Vec<String> = compare(expected, actual).err().into_iter().collect();
    let written = |r: &Response| {
        let mut names: Vec<String> =
            r.headers.iter().map(|(n, _)| n.clone()).filter(|n| is_contract_header(n)).collect();
        names.sort_by_key(|n| n.to_ascii_lowercase());
        names.dedup();
        names
    };
    let (e, a) = (written(expected), written(actual));
    for name in &e {
        if let Some(other) = a.iter().find(|n| n.eq_ignore_ascii_case(name) && *n != name) {
            diffs.push(format!("header name case: expected {name:?}, got {other:?}"));
        }
    }
    // The order the contract headers are written in, as clients comparing
    // raw heads see it.
    let order = |r: &Response| -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (n, _) in r.headers.iter().filter(|(n, _)| is_contract_header(n)) {
            let lower = n.to_ascii_lowercase();
            if !names.contains(&lower) {
                names.push(lower);
            }
        }
        names
    };
    let (eo, ao) = (order(expected), order(actual));
    if diffs.is_empty() && eo != ao {
        diffs.push(format!("header order: expected {eo:?}, got {ao:?}"));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

/// A printable rendering of bytes: Rust-style escapes, cut at `max` bytes.
pub fn show_bytes(b: &[u8], max: usize) -> String {
    let cut = b.len() > max;
    let b = if cut { &b[..max] } else { b };
    let mut s = String::from("\"");
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(s, "\\u{{{:x}}}", c as u32);
                }
                c => s.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(s, "\\x{:02x}", byte);
        }
    }
    s.push('"');
    if cut {
        s.push_str("...");
    }
    s
}

// ---------------------------------------------------------------------------
// Byte strings in fixture files.

/// Bodies longer than this are written as `{"parts": [...]}` when that is shorter.
const COMPACT_OVER: usize = 4096;
/// A run is written as `{"repeat"}` when it covers at least this many bytes.
const MIN_RUN_BYTES: usize = 256;
/// Longest repeated unit looked for.
const MAX_UNIT: usize = 16;

fn text_or_base64(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) }),
    }
}

/// The fixture form of a byte string.
pub fn bytes_to_json(b: &[u8]) -> Value {
    if b.len() <= COMPACT_OVER {
        return text_or_base64(b);
    }
    let mut parts = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    while i < b.len() {
        let mut best: Option<(usize, usize)> = None; // (unit, count)
        for unit in 1..=MAX_UNIT {
            if i + unit * 2 > b.len() {
                break;
            }
            let mut count = 1;
            while i + unit * (count + 1) <= b.len() && b[i + unit * count..i + unit * (count + 1)] == b[i..i + unit] {
                count += 1;
            }
            if unit * count >= MIN_RUN_BYTES && best.is_none_or(|(bu, bc)| unit * count > bu * bc) {
                best = Some((unit, count));
            }
        }
        match best {
            // a repeated unit must not split a UTF-8 character, or it would
            // have to be base64: only accept units that are valid UTF-8
            Some((unit, count)) if std::str::from_utf8(&b[i..i + unit]).is_ok() => {
                if lit_start < i {
                    parts.push(text_or_base64(&b[lit_start..i]));
                }
                parts.push(json!({ "repeat": text_or_base64(&b[i..i + unit]), "count": count }));
                i += unit * count;
                lit_start = i;
            }
            _ => i += 1,
        }
    }
    if lit_start < b.len() {
        parts.push(text_or_base64(&b[lit_start..]));
    }
    if parts.len() == 1 && parts[0].is_string() {
        return parts.remove(0);
    }
    json!({ "parts": parts })
}

/// Inverse of [`bytes_to_json`].
pub fn bytes_from_json(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Object(m) => obj_bytes(m),
        Value::Array(items) => {
            let mut out = Vec::new();
            for it in items {
                out.extend(bytes_from_json(it)?);
            }
            Ok(out)
        }
        other => Err(format!("not a byte string: {other}")),
    }
}

fn obj_bytes(m: &Map<String, Value>) -> Result<Vec<u8>, String> {
    if let Some(b) = m.get("base64") {
        let s = b.as_str().ok_or("base64 must be a string")?;
        return base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| format!("bad base64: {e}"));
    }
    if let Some(p) = m.get("parts") {
        return bytes_from_json(p);
    }
    if let Some(r) = m.get("repeat") {
        let unit = bytes_from_json(r)?;
        let count = m.get("count").and_then(Value::as_u64).ok_or("repeat needs an integer count")? as usize;
        return Ok(unit.repeat(count));
    }
    Err(format!("unknown byte string object: {}", Value::Object(m.clone())))
}

pub mod bytes_serde {
    use super::*;

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        bytes_to_json(b).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let v = Value::deserialize(d)?;
        bytes_from_json(&v).map_err(serde::de::Error::custom)
    }
}

pub mod headers_serde {
    use super::*;

    pub fn serialize<S: Serializer>(h: &[(String, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
        let v: Vec<Value> =
            h.iter().map(|(n, v)| Value::Array(vec![Value::String(n.clone()), bytes_to_json(v)])).collect();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Vec<u8>)>, D::Error> {
        let v: Vec<(String, Value)> = Vec::deserialize(d)?;
        v.into_iter().map(|(n, v)| Ok((n, bytes_from_json(&v).map_err(serde::de::Error::custom)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let mut big = b"{\"email\": \"".to_vec();
        big.extend(vec![b'a'; 3_000_000]);
        big.extend(b"\"}");
        let mut nest = b"[".repeat(5000);
        nest.extend(b"]".repeat(5000));
        let mut objs = b"{\"a\":".repeat(2000);
        objs.extend(b"}".repeat(2000));
        for case in [
            b"".to_vec(),
            b"plain".to_vec(),
            vec![0xff, 0xfe, 0, 1],
            big,
            nest,
            objs,
            "é".repeat(3000).into_bytes(),
            vec![0xe9; 5000],
        ] {
            let j = bytes_to_json(&case);
            assert!(j.to_string().len() < 20_000, "not compact: {}", j.to_string().len());
            assert_eq!(bytes_from_json(&j).unwrap(), case);
        }
    }

    #[test]
    fn compare_headers() {
        let a = Response {
            status: 200,
            headers: vec![("Content-Type".into(), b"a".to_vec()), ("Date".into(), b"x".to_vec())],
            body: b"x".to_vec(),
        };
        let mut b = a.clone();
        b.headers = vec![("content-type".into(), b"a".to_vec())];
        assert!(compare(&a, &b).is_ok());
        b.headers.push(("Access-Control-Allow-Origin".into(), b"*".to_vec()));
        assert!(compare(&a, &b).is_err());
    }
}
