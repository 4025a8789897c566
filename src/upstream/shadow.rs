//! Shadow mode (`SHADOW = true`): Django answers `/users/*`, and
//! ledger-server checks its own dry-run answer against Django's, as
//! GitHub's Scientist and Twitter's Diffy do, safely for writes on one
//! shared database (the HTTP layer runs the dry run and the exchange; this
//! module judges them and keeps the record).
//!
//! A check compares the status, the body bytes and the contract headers,
//! and the writes ledger-server meant to make with the ones Django made
//! (the rows of the request's user before and after Django answered). A
//! difference whose rows changed in a way Django's own answer does not
//! explain (another request touched the same user meanwhile) is *racy*,
//! not a mismatch.
//!
//! Mismatches and racy checks go to `SHADOW_LOG` as JSON lines, with
//! passwords, tokens and `Authorization` values replaced by short keyed
//! digests; every check is tallied (per route, Django's answer and
//! verdict) into `tally` lines written every few seconds, which
//! `ledger-server shadow-report` adds up.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::db::UserState;
use crate::telemetry::metrics;

/// The headers that are part of the contract (the oracle's README): the
/// rest (`Date`, `Server`, `Connection`) come from the HTTP server.
pub const CONTRACT_HEADERS: [&str; 7] =
    ["content-type", "content-length", "allow", "vary", "x-frame-options", "x-content-type-options", "referrer-policy"];

fn is_contract_header(name: &str) -> bool {
    CONTRACT_HEADERS.contains(&name) || name.starts_with("access-control-")
}

/// One side's answer: status, contract headers (lower-case names, values
/// in order) and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// Keeps the contract headers of `headers`, sorted by name (values of
    /// one name in their order).
    pub fn new<'a>(status: u16, headers: impl Iterator<Item = (&'a str, &'a [u8])>, body: Vec<u8>) -> Answer {
        let mut kept: Vec<(String, Vec<u8>)> = headers
            .filter(|(name, _)| is_contract_header(&name.to_ascii_lowercase()))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_vec()))
            .collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        Answer { status, headers: kept, body }
    }

    fn header(&self, name: &str) -> Vec<&[u8]> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_slice()).collect()
    }

    /// The `access_token` of a login's answer.
    fn access_token(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        value.get("access_token")?.as_str().map(str::to_owned)
    }

    fn message(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        value.get("message")?.as_str().map(str::to_owned)
    }

    /// A short name for the answer: `201 SUCCESS`, `404 text/html`.
    pub fn label(&self) -> String {
        match self.message() {
            Some(message) => format!("{} {message}", self.status),
            None => {
                let kind = self.header("content-type").first().map(|v| String::from_utf8_lossy(v).into_owned());
                format!("{} {}", self.status, kind.unwrap_or_else(|| "no body".into()))
            }
        }
    }
}

/// A write a view makes (or, in the dry run, means to make).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Write {
    CreateUser { email: String },
    AddToken { user_id: i64, token: String },
    DeleteToken { token_id: i64 },
}

/// The writes that turn `before` into `after`.
pub fn delta(before: &UserState, after: &UserState) -> Vec<Write> {
    let mut writes = Vec::new();
    if let (None, Some((_, email))) = (&before.user, &after.user) {
        writes.push(Write::CreateUser { email: email.clone() });
    }
    let user_id = after.user.as_ref().or(before.user.as_ref()).map_or(0, |(id, _)| *id);
    for (id, token) in &after.tokens {
        if !before.tokens.iter().any(|(b, _)| b == id) {
            writes.push(Write::AddToken { user_id, token: token.clone() });
        }
    }
    for (id, _) in &before.tokens {
        if !after.tokens.iter().any(|(a, _)| a == id) {
            writes.push(Write::DeleteToken { token_id: *id });
        }
    }
    writes.sort();
    writes
}

/// The writes Django's answer says it made, from the rows it read.
fn implied(route: &str, django: &Answer, before: &UserState, email: Option<&str>) -> Vec<Write> {
    match (route, django.status, django.message().as_deref()) {
        ("/users/signup", 201, _) => email.map(|e| vec![Write::CreateUser { email: e.to_owned() }]).unwrap_or_default(),
        ("/users/login", 200, _) => match (&before.user, django.access_token()) {
            (Some((user_id, _)), Some(token)) => vec![Write::AddToken { user_id: *user_id, token }],
            _ => Vec::new(),
        },
        ("/users/logout", 200, Some("LOGOUT_SUCCESS")) => match before.tokens.as_slice() {
            [(token_id, _)] => vec![Write::DeleteToken { token_id: *token_id }],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Matched,
    Mismatched,
    Racy,
}

/// What one check found.
#[derive(Clone, Debug)]
pub struct Judgement {
    pub verdict: Verdict,
    /// `status`, `body`, `header:<name>`, `writes`.
    pub kinds: Vec<String>,
    pub observed: Vec<Write>,
}

/// The inputs of one check.
pub struct Check<'a> {
    pub route: &'a str,
    pub ours: &'a Answer,
    pub django: &'a Answer,
    /// What the dry run meant to write.
    pub intended: &'a [Write],
    /// The rows before and after Django answered; `None` when the request
    /// names no user (a body that is not JSON, say).
    pub rows: Option<(&'a UserState, &'a UserState)>,
    /// The email a signup asked for.
    pub email: Option<&'a str>,
}

pub fn judge(check: &Check<'_>) -> Judgement {
    let (ours, django) = (check.ours, check.django);
    let mut kinds = Vec::new();
    if ours.status != django.status {
        kinds.push("status".to_owned());
    }
    if ours.body != django.body {
        kinds.push("body".to_owned());
    }
    let mut names: Vec<&str> = ours.headers.iter().chain(&django.headers).map(|(n, _)| n.as_str()).collect();
    names.dedup();
    names.sort();
    names.dedup();
    for name in names {
        if ours.header(name) != django.header(name) {
            kinds.push(format!("header:{name}"));
        }
    }
    let mut intended = check.intended.to_vec();
    intended.sort();
    let (observed, explained) = match check.rows {
        Some((before, after)) => {
            let observed = delta(before, after);
            let explained = observed == implied(check.route, django, before, check.email);
            (observed, explained)
        }
        None => (Vec::new(), true),
    };
    if check.rows.is_some() && observed != intended {
        kinds.push("writes".to_owned());
    }
    let verdict = match (kinds.is_empty(), explained) {
        (true, _) => Verdict::Matched,
        (false, false) => Verdict::Racy,
        (false, true) => Verdict::Mismatched,
    };
    Judgement { verdict, kinds, observed }
}

/// Keyed digests: the same value gives the same digest in every report of
/// every instance with this `SECRET_KEY`, and nothing can be guessed from it.
#[derive(Clone)]
pub struct Redactor {
    key: Vec<u8>,
}

impl Redactor {
    pub fn new(secret_key: &str) -> Redactor {
        Redactor { key: [b"ledger-server shadow digest:".as_slice(), secret_key.as_bytes()].concat() }
    }

    /// `#` and 12 hex digits.
    pub fn digest(&self, value: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(value);
        let out = mac.finalize().into_bytes();
        let hex: String = out.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("#{hex}")
    }

    /// A request body: in a JSON object every `password`, `access_token`
    /// and `token` value replaced by its digest (the object written again,
    /// keys sorted); any other body is shown only if it cannot hold a
    /// password. JWT-shaped runs are replaced as in [`Redactor::text`].
    pub fn request(&self, bytes: &[u8]) -> String {
        if let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice::<serde_json::Value>(bytes) {
            for (name, value) in fields.iter_mut() {
                if matches!(name.to_ascii_lowercase().as_str(), "password" | "access_token" | "token") {
                    let digest = match &*value {
                        serde_json::Value::String(text) => self.digest(text.as_bytes()),
                        other => self.digest(other.to_string().as_bytes()),
                    };
                    *value = serde_json::Value::String(digest);
                }
            }
            return self.text(serde_json::Value::Object(fields).to_string().as_bytes());
        }
        if String::from_utf8_lossy(bytes).to_ascii_lowercase().contains("password") {
            // not a JSON object, and it may hold a password: only its digest
            return format!("<{} bytes {}>", bytes.len(), self.digest(bytes));
        }
        self.text(bytes)
    }

    /// Text (an answer's body, a header) with every JWT-shaped run
    /// replaced by its digest; nothing else changes.
    pub fn text(&self, bytes: &[u8]) -> String {
        self.jwts(&String::from_utf8_lossy(bytes))
    }

    fn jwts(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("eyJ") {
            out.push_str(&rest[..at]);
            let run = &rest[at..];
            let end =
                run.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))).unwrap_or(run.len());
            out.push_str(&self.digest(&run.as_bytes()[..end]));
            rest = &run[end..];
        }
        out.push_str(rest);
        out
    }
}

/// The counts, for the metrics: matched, mismatched, racy, skipped
/// (not sampled, or a body shadow mode does not read).
#[derive(Debug, Default)]
pub struct Counters {
    pub matched: AtomicU64,
    pub mismatched: AtomicU64,
    pub racy: AtomicU64,
    pub skipped: AtomicU64,
}

enum Event {
    Line(String),
    Tally { route: String, answer: String, verdict: Verdict },
}

/// Where checks are recorded: counters, and the log file written by a
/// thread of its own (no file I/O on the async workers).
pub struct Recorder {
    pub counters: Counters,
    pub redactor: Redactor,
    /// `SHADOW_SAMPLE` (an `f64`'s bits; SIGHUP may change it).
    sample: AtomicU64,
    events: Mutex<Option<mpsc::Sender<Event>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// How often the tallies are written.
const TALLY_EVERY: Duration = Duration::from_secs(2);

impl Recorder {
    /// Opens `path` for appending (created if missing).
    pub fn open(path: &Path, sample: f64, redactor: Redactor) -> std::io::Result<Recorder> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new().name("shadow-log".into()).spawn(move || write_log(file, rx))?;
        Ok(Recorder {
            counters: Counters::default(),
            redactor,
            sample: AtomicU64::new(sample.to_bits()),
            events: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Whether to check this request (`SHADOW_SAMPLE`).
    pub fn sampled(&self) -> bool {
        let sample = self.sample();
        if sample >= 1.0 {
            return true;
        }
        if sample <= 0.0 {
            return false;
        }
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_err() {
            return false;
        }
        ((u64::from_le_bytes(bytes) >> 11) as f64 / ((1u64 << 53) as f64)) < sample
    }

    /// `SHADOW_SAMPLE` as it is now.
    pub fn sample(&self) -> f64 {
        f64::from_bits(self.sample.load(Ordering::Relaxed))
    }

    /// A new `SHADOW_SAMPLE` (SIGHUP), for the requests that follow.
    pub fn set_sample(&self, sample: f64) {
        self.sample.store(sample.to_bits(), Ordering::Relaxed);
    }

    pub fn skipped(&self) {
        self.counters.skipped.fetch_add(1, Ordering::Relaxed);
        metrics::shadow(metrics::Shadow::Skipped);
    }

    /// Records one check: the counters, the tally, and for a difference a
    /// log line (`line`, already redacted).
    pub fn record(&self, route: &str, answer: String, verdict: Verdict, line: Option<String>) {
        let (counter, metric) = match verdict {
            Verdict::Matched => (&self.counters.matched, metrics::Shadow::Matched),
            Verdict::Mismatched => (&self.counters.mismatched, metrics::Shadow::Mismatched),
            Verdict::Racy => (&self.counters.racy, metrics::Shadow::Racy),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::shadow(metric);
        if let Ok(events) = self.events.lock() {
            if let Some(tx) = events.as_ref() {
                if let Some(line) = line {
                    let _ = tx.send(Event::Line(line));
                }
                let _ = tx.send(Event::Tally { route: route.to_owned(), answer, verdict });
            }
        }
    }
}

impl Drop for Recorder {
    /// Writes what is left and waits for the file to be closed.
    fn drop(&mut self) {
        if let Ok(mut events) = self.events.lock() {
            events.take();
        }
        if let Some(writer) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = writer.join();
        }
    }
}

#[derive(Serialize)]
struct TallyLine<'a> {
    r#type: &'static str,
    time: String,
    route: &'a str,
    answer: &'a str,
    verdict: Verdict,
    count: u64,
}

fn write_log(mut file: File, events: mpsc::Receiver<Event>) {
    let mut tallies: BTreeMap<(String, String, Verdict), u64> = BTreeMap::new();
    let flush = |file: &mut File, tallies: &mut BTreeMap<(String, String, Verdict), u64>| {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for ((route, answer, verdict), count) in std::mem::take(tallies) {
            let line =
                TallyLine { r#type: "tally", time: time.clone(), route: &route, answer: &answer, verdict, count };
            if let Ok(text) = serde_json::to_string(&line) {
                if let Err(e) = writeln!(file, "{text}") {
                    log::error!("SHADOW_LOG: cannot write: {e}");
                }
            }
        }
    };
    // every TALLY_EVERY, however steady the traffic (a timeout of its own
    // per receive would never fire while checks keep coming)
    let mut next_flush = std::time::Instant::now() + TALLY_EVERY;
    loop {
        let now = std::time::Instant::now();
        if now >= next_flush {
            flush(&mut file, &mut tallies);
            next_flush = now + TALLY_EVERY;
        }
        match events.recv_timeout(next_flush.saturating_duration_since(now)) {
            Ok(Event::Line(line)) => {
                if let Err(e) = writeln!(file, "{line}") {
                    log::error!("SHADOW_LOG: cannot write: {e}");
                }
            }
            Ok(Event::Tally { route, answer, verdict }) => *tallies.entry((route, answer, verdict)).or_default() += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                flush(&mut file, &mut tallies);
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "shadow_tests.rs"]
mod tests;
