//! How the contract and differential tests report: a summary line on the
//! real stdout, and each difference in full or in one line.

use crate::model::{Request, Response};

/// Prints a summary line on the real stdout (not captured by the test harness).
pub fn summary(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A readable report of one difference.
pub fn report(
    scenario: &str,
    index: usize,
    req: &Request,
    expected: &Response,
    actual: Option<&Response>,
    diff: &str,
) -> String {
    let mut s = format!("=== scenario {scenario}, request #{index}\nrequest:\n{}", req.describe());
    s.push_str(&format!("expected:\n{}", expected.describe()));
    match actual {
        Some(a) => s.push_str(&format!("actual:\n{}", a.contract_only().describe())),
        None => s.push_str("actual: (no response)\n"),
    }
    s.push_str(&format!("difference:\n  {}\n", diff.replace('\n', "\n  ")));
    s
}

/// One line per difference, for the summary.
pub fn one_line(scenario: &str, index: usize, req: &Request, expected: &Response, actual: Option<&Response>) -> String {
    let show = |r: &Response| {
        let body = String::from_utf8_lossy(&r.body);
        let body = if body.starts_with("\n<!doctype") {
            body.split("<title>").nth(1).and_then(|t| t.split('<').next()).unwrap_or("html").to_string()
        } else {
            body.chars().take(60).collect()
        };
        format!("{} {}", r.status, body)
    };
    format!(
        "{scenario}#{index} [{}] expected {} / got {}",
        if req.note.is_empty() {
            format!("{} {}", req.method, String::from_utf8_lossy(&req.path))
        } else {
            req.note.clone()
        },
        show(expected),
        actual.map(show).unwrap_or_else(|| "no response".into())
    )
}
