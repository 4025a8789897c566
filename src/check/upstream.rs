//! `upstream`: when `UPSTREAM` is set, a plain `GET /` to it answers with
//! an HTTP status line within [`TIMEOUT`].

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::settings::{Settings, Upstream};

use super::{Report, Status};

const TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn check(settings: &Settings, report: &mut Report) {
    let Some(upstream) = &settings.upstream else {
        report.line(Status::Skip, "upstream", "UPSTREAM not set");
        return;
    };
    match probe(upstream, TIMEOUT) {
        Ok(status) => report.line(Status::Ok, "upstream", format!("{upstream} answers GET / with {status}")),
        Err(e) => report.line(Status::Fail, "upstream", format!("{upstream}: {e}")),
    }
}

/// The status line's code and reason of `GET /`, within `timeout` for the
/// connection and again for the answer (the admin listener's readiness
/// uses it too).
pub(crate) fn probe(upstream: &Upstream, timeout: Duration) -> Result<String, String> {
    let authority = upstream.authority();
    let addrs: Vec<_> =
        authority.to_socket_addrs().map_err(|e| format!("cannot resolve {}: {e}", upstream.host))?.collect();
    let mut last = format!("{} resolves to no address", upstream.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return status_line(stream, &authority, timeout),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

fn status_line(mut stream: TcpStream, authority: &str, timeout: Duration) -> Result<String, String> {
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let request = format!("GET / HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("cannot send GET /: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("no answer within {} s: {e}", timeout.as_secs())),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or("");
    match line.split_once(' ') {
        Some((version, rest)) if version.starts_with("HTTP/") => Ok(rest.trim().to_string()),
        _ => Err("the answer is not HTTP".into()),
    }
}
