//! `ledger-server shadow-report [FILE]...`: what shadow mode's logs say,
//! added up: the checks per route and Django's answer, by verdict, and the
//! distinct kinds of difference, each with one (redacted) example.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

/// The sums of one or more logs.
#[derive(Debug, Default)]
pub struct Summary {
    /// `(route, answer)` → `[matched, mismatched, racy]`.
    pub checks: BTreeMap<(String, String), [u64; 3]>,
    /// `(verdict, route, kinds)` → (requests, the first example).
    pub differences: BTreeMap<(String, String, String), (u64, String)>,
    /// Lines that are not shadow-mode JSON: how many, and the first's place.
    pub unreadable: (u64, Option<String>),
    pub lines: u64,
}

impl Summary {
    pub fn mismatched(&self) -> u64 {
        self.checks.values().map(|c| c[1]).sum()
    }

    /// Adds the lines of one log.
    pub fn add(&mut self, name: &str, text: &str) {
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            self.lines += 1;
            if !self.add_line(line) {
                self.unreadable.0 += 1;
                self.unreadable.1.get_or_insert_with(|| format!("{name}:{}", n + 1));
            }
        }
    }

    fn add_line(&mut self, line: &str) -> bool {
        let Ok(value) = serde_json::from_str::<Value>(line) else { return false };
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        match text("type").as_deref() {
            Some("tally") => {
                let (Some(route), Some(answer), Some(verdict), Some(count)) =
                    (text("route"), text("answer"), text("verdict"), value.get("count").and_then(Value::as_u64))
                else {
                    return false;
                };
                let slot = match verdict.as_str() {
                    "matched" => 0,
                    "mismatched" => 1,
                    "racy" => 2,
                    _ => return false,
                };
                self.checks.entry((route, answer)).or_default()[slot] += count;
                true
            }
            Some(kind @ ("mismatch" | "racy")) => {
                let (Some(method), Some(path)) = (text("method"), text("path")) else { return false };
                let kinds: Vec<&str> = value
                    .get("kinds")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let key = (kind.to_owned(), format!("{method} {path}"), kinds.join(", "));
                let entry = self.differences.entry(key).or_insert_with(|| (0, line.to_owned()));
                entry.0 += 1;
                true
            }
            _ => false,
        }
    }

    /// The report, as printed.
    pub fn render(&self, sources: &[String]) -> String {
        let mut out = String::new();
        let total: [u64; 3] = self.checks.values().fold([0; 3], |a, c| [a[0] + c[0], a[1] + c[1], a[2] + c[2]]);
        let _ = writeln!(out, "shadow report: {} ({} lines)", sources.join(", "), self.lines);
        let _ = writeln!(
            out,
            "checked: {} (matched {}, mismatched {}, racy {})",
            total.iter().sum::<u64>(),
            total[0],
            total[1],
            total[2]
        );
        if !self.checks.is_empty() {
            let _ = writeln!(out, "\nper route and Django's answer:          matched  mismatched  racy");
            for ((route, answer), [m, x, r]) in &self.checks {
                let _ = writeln!(out, "  {:<38} {m:>7} {x:>11} {r:>5}", format!("{route}  {answer}"));
            }
        }
        let kinds = self.differences.len();
        let _ = writeln!(out, "\ndifferences: {kinds} kind{}", if kinds == 1 { "" } else { "s" });
        for ((verdict, route, what), (count, example)) in &self.differences {
            let _ =
                writeln!(out, "  {verdict}: {route}: {what} ({count} request{})", if *count == 1 { "" } else { "s" });
            let _ = writeln!(out, "    example: {example}");
        }
        if let (n @ 1.., Some(first)) = (self.unreadable.0, &self.unreadable.1) {
            let _ = writeln!(out, "\n{n} line(s) are not shadow-mode JSON (the first: {first})");
        }
        out
    }
}

/// Reads and adds up the logs.
pub fn summarise(paths: &[&Path]) -> Result<Summary, String> {
    let mut summary = Summary::default();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        summary.add(&path.display().to_string(), &text);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_add_up_and_each_kind_keeps_its_first_example() {
        let log = r#"{"type":"tally","route":"POST /users/login","answer":"200 SUCCESS","verdict":"matched","count":3}
{"type":"mismatch","method":"POST","path":"/users/login","kinds":["body","writes"],"n":1}
{"type":"mismatch","method":"POST","path":"/users/login","kinds":["body","writes"],"n":2}
{"type":"racy","method":"POST","path":"/users/logout","kinds":["status"]}
not json
{"type":"tally","route":"POST /users/login","answer":"200 SUCCESS","verdict":"mismatched","count":2}
{"type":"tally","route":"POST /users/login","answer":"200 SUCCESS","verdict":"matched","count":1}
{"type":"tally","route":"POST /users/logout","answer":"200 LOGOUT_SUCCESS","verdict":"racy","count":1}
"#;
        let mut summary = Summary::default();
        summary.add("a.jsonl", log);
        assert_eq!(summary.checks[&("POST /users/login".into(), "200 SUCCESS".into())], [4, 2, 0]);
        assert_eq!(summary.mismatched(), 2);
        assert_eq!(summary.differences.len(), 2);
        let (count, example) =
            &summary.differences[&("mismatch".into(), "POST /users/login".into(), "body, writes".into())];
        assert_eq!((*count, example.contains(r#""n":1"#)), (2, true), "the first example is kept");
        assert_eq!(summary.unreadable, (1, Some("a.jsonl:5".into())));
        let shown = summary.render(&["a.jsonl".into()]);
        assert!(shown.contains("checked: 7 (matched 4, mismatched 2, racy 1)"), "{shown}");
        assert!(shown.contains("differences: 2 kinds"), "{shown}");
        assert!(shown.contains("mismatch: POST /users/login: body, writes (2 requests)"), "{shown}");
    }
}
