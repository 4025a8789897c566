//! A raw HTTP/1.1 client over `std::net::TcpStream`.
//!
//! It sends exactly the bytes a [`Request`] describes (any method token, any
//! path bytes, header values of any bytes) and, unless the request is `raw`,
//! adds `Host: localhost` (when absent), a correct `Content-Length` (when the
//! request has a body or is a POST/PUT/PATCH and names neither
//! `Content-Length` nor `Transfer-Encoding`) and `Connection: close`. Every
//! step has a timeout, so a silent server gives an error, never a hang.

use super::model::{Request, Response};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The `Host` header the client adds: fixed so that recordings do not depend on ports.
pub const DEFAULT_HOST: &str = "localhost";

#[derive(Clone, Debug)]
pub struct Client {
    pub addr: SocketAddr,
    pub connect_timeout: Duration,
    /// Timeout of each read or write.
    pub io_timeout: Duration,
    /// Bound on a whole exchange.
    pub total_timeout: Duration,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(60),
        }
    }

    /// Send one request on a new connection and read the response.
    pub fn send(&self, req: &Request) -> Result<Response, String> {
        let wire = encode_request(req);
        let deadline = Instant::now() + self.total_timeout;
        let mut stream = TcpStream::connect_timeout(&self.addr, self.connect_timeout)
            .map_err(|e| format!("connect to {}: {e}", self.addr))?;
        stream.set_read_timeout(Some(self.io_timeout)).map_err(|e| e.to_string())?;
        stream.set_write_timeout(Some(self.io_timeout)).map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        // A server may answer (and close) before reading a big body: a write
        // error is then not fatal as long as a response can be read.
        let write_err = stream.write_all(&wire).and_then(|_| stream.flush()).err();
        let head_request = req.method.eq_ignore_ascii_case("HEAD");
        match read_response(&mut stream, head_request, deadline) {
            Ok(resp) => {
                let _ = stream.shutdown(Shutdown::Both);
                Ok(resp)
            }
            Err(e) => match write_err {
                Some(we) => Err(format!("write failed ({we}), then read failed: {e}")),
                None => Err(e),
            },
        }
    }

    /// Wait until something answers HTTP at the address (any status).
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let until = Instant::now() + timeout;
        let probe = Request::new("GET", "/__contract_ready_probe");
        let quick = Client {
            addr: self.addr,
            connect_timeout: Duration::from_millis(500),
            io_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
        };
        let mut last = String::new();
        while Instant::now() < until {
            match quick.send(&probe) {
                Ok(_) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("no HTTP answer from {} within {:?}: {last}", self.addr, timeout))
    }
}

/// How a request on a [`KeepAlive`] connection went wrong.
#[derive(Debug)]
pub enum KeepAliveError {
    /// The server closed a reused connection before any byte of the answer:
    /// the one failure a client may retry without knowing whether the
    /// request was processed (RFC 9112 §9.3.1: automatically only when it
    /// is idempotent; browsers and proxies do so).
    ClosedUnanswered(String),
    /// Anything else: no connection, a cut or bad answer, a timeout.
    Failed(String),
}

/// A client that keeps its connection alive between requests, as browsers
/// and proxies do: it reconnects when the server closed it (`Connection:
/// close`, or a close found before the next request is answered).
#[derive(Debug)]
pub struct KeepAlive {
    pub client: Client,
    stream: Option<TcpStream>,
}

impl KeepAlive {
    pub fn new(addr: SocketAddr) -> KeepAlive {
        KeepAlive { client: Client::new(addr), stream: None }
    }

    /// Sends `req` (with `Connection: keep-alive` unless it names a
    /// `Connection`) on the open connection, or a new one, and reads the answer.
    pub fn send(&mut self, req: &Request) -> Result<Response, KeepAliveError> {
        let mut req = req.clone();
        if req.get_header("connection").is_none() {
            req = req.header("Connection", "keep-alive");
        }
        let wire = encode_request(&req);
        let deadline = Instant::now() + self.client.total_timeout;
        let reused = self.stream.is_some();
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect_timeout(&self.client.addr, self.client.connect_timeout)
                    .map_err(|e| KeepAliveError::Failed(format!("connect to {}: {e}", self.client.addr)))?;
                let timeout = Some(self.client.io_timeout);
                stream.set_read_timeout(timeout).map_err(|e| KeepAliveError::Failed(e.to_string()))?;
                stream.set_write_timeout(timeout).map_err(|e| KeepAliveError::Failed(e.to_string()))?;
                let _ = stream.set_nodelay(true);
                stream
            }
        };
        let written = stream.write_all(&wire).and_then(|_| stream.flush());
        // Whether any byte of an answer arrives, before reading it.
        let mut first = [0u8; 1];
        let unanswered = match (&written, stream.peek(&mut first)) {
            (_, Ok(0)) => Some("closed".to_string()),
            (_, Err(e)) if e.kind() == ErrorKind::ConnectionReset => Some(e.to_string()),
            (Err(e), _) => Some(format!("write: {e}")),
            _ => None,
        };
        if let Some(why) = unanswered {
            let message =
                format!("{} connection {why} before any byte of the answer", ["new", "reused"][reused as usize]);
            return Err(if reused {
                KeepAliveError::ClosedUnanswered(message)
            } else {
                KeepAliveError::Failed(message)
            });
        }
        let head_request = req.method.eq_ignore_ascii_case("HEAD");
        let response = read_response(&mut stream, head_request, deadline).map_err(KeepAliveError::Failed)?;
        let close = response.header_values("connection").iter().any(|v| v.eq_ignore_ascii_case(b"close"));
        if !close {
            self.stream = Some(stream);
        }
        Ok(response)
    }
}

/// The exact bytes sent for a request.
pub fn encode_request(req: &Request) -> Vec<u8> {
    let mut out = Vec::with_capacity(req.body.len() + 256);
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(&req.path);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let has = |name: &str| req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !req.raw && !has("host") {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(DEFAULT_HOST.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (n, v) in &req.headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if !req.raw {
        let wants_length =
            !req.body.is_empty() || ["POST", "PUT", "PATCH"].iter().any(|m| req.method.eq_ignore_ascii_case(m));
        if wants_length && !has("content-length") && !has("transfer-encoding") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", req.body.len()).as_bytes());
        }
        if !has("connection") {
            out.extend_from_slice(b"Connection: close\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&req.body);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads more bytes into `buf`; Ok(false) at EOF. A reset after some data
/// counts as EOF (servers that close without reading the whole body).
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> Result<bool, String> {
    if Instant::now() > deadline {
        return Err("exchange took longer than the total timeout".into());
    }
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !buf.is_empty() => return Ok(false),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("read timed out after {} bytes", buf.len()))
            }
            Err(e) => return Err(format!("read failed after {} bytes: {e}", buf.len())),
        }
    }
}

fn read_response(stream: &mut TcpStream, head_request: bool, deadline: Instant) -> Result<Response, String> {
    let mut buf = Vec::new();
    loop {
        // read one head
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p;
            }
            if !fill(stream, &mut buf, deadline)? {
                if buf.is_empty() {
                    return Err("connection closed without a response".into());
                }
                return Err(format!("connection closed inside the response head: {:?}", String::from_utf8_lossy(&buf)));
            }
        };
        let head = buf[..head_end].to_vec();
        let rest = buf[head_end + 4..].to_vec();
        let (status, headers) = parse_head(&head)?;
        if (100..200).contains(&status) && status != 101 {
            buf = rest; // interim response: read the next head
            continue;
        }
        let mut body = rest;
        let no_body = head_request || status == 204 || status == 304;
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding")
                && String::from_utf8_lossy(v).to_ascii_lowercase().contains("chunked")
        });
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {:?}", String::from_utf8_lossy(v)))
            })
            .transpose()?;
        if no_body {
            body.clear();
        } else if chunked {
            body = read_chunked(stream, body, deadline)?;
        } else if let Some(n) = length {
            while body.len() < n {
                if !fill(stream, &mut body, deadline)? {
                    return Err(format!("body cut short: {} of {} bytes", body.len(), n));
                }
            }
            body.truncate(n);
        } else {
            while fill(stream, &mut body, deadline)? {}
        }
        return Ok(Response { status, headers, body });
    }
}

/// Status and headers of a response head.
type Head = (u16, Vec<(String, Vec<u8>)>);

fn parse_head(head: &[u8]) -> Result<Head, String> {
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let text = String::from_utf8_lossy(status_line);
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") {
        return Err(format!("not an HTTP status line: {text:?}"));
    }
    let status = parts.next().and_then(|s| s.parse::<u16>().ok()).ok_or_else(|| format!("bad status line {text:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| format!("bad header line {:?}", String::from_utf8_lossy(line)))?;
        let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
        let value = trim_ows(&line[colon + 1..]).to_vec();
        headers.push((name, value));
    }
    Ok((status, headers))
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(v.len());
    let end = v.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |p| p + 1);
    &v[start..end.max(start)]
}

fn read_chunked(stream: &mut TcpStream, mut buf: Vec<u8>, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = loop {
            if let Some(p) = find(&buf[pos..], b"\r\n") {
                break pos + p;
            }
            if !fill(stream, &mut buf, deadline)? {
                return Err("chunked body cut short".into());
            }
        };
        let size_text = String::from_utf8_lossy(&buf[pos..line_end]).to_string();
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| format!("bad chunk size {size_text:?}"))?;
        pos = line_end + 2;
        if size == 0 {
            return Ok(out);
        }
        while buf.len() < pos + size + 2 {
            if !fill(stream, &mut buf, deadline)? {
                return Err("chunk cut short".into());
            }
        }
        out.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_with_added_headers() {
        let r = Request::new("POST", "/users/signup").header("Content-Type", "application/json").body("{}");
        let wire = String::from_utf8(encode_request(&r)).unwrap();
        assert_eq!(
            wire,
            "POST /users/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
        let g = Request::new("GET", "/x");
        assert_eq!(
            String::from_utf8(encode_request(&g)).unwrap(),
            "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn parses_head() {
        let (s, h) = parse_head(b"HTTP/1.1 405 Method Not Allowed\r\nAllow: POST, OPTIONS\r\nX:  y \r\n").unwrap();
        assert_eq!(s, 405);
        assert_eq!(h[0], ("Allow".to_string(), b"POST, OPTIONS".to_vec()));
        assert_eq!(h[1].1, b"y".to_vec());
    }
}
