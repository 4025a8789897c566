//! A scripted upstream for the front-door tests: a `TcpListener` whose
//! connections are served by threads that record every request exactly as
//! it arrived (head bytes, body bytes with their framing) and answer what a
//! script says, byte for byte. It counts the connections it accepted.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Request body bytes kept per request (the rest is only counted).
const KEEP: usize = 4 << 20;

/// One request as the upstream received it.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// The request line and the header lines, as sent (up to the blank line).
    pub head: Vec<u8>,
    /// The body as framed on the wire (chunk sizes included), its first [`KEEP`] bytes.
    pub raw_body: Vec<u8>,
    /// The body decoded, its first [`KEEP`] bytes.
    pub body: Vec<u8>,
    /// The decoded body's full length.
    pub body_len: u64,
    /// Which accepted connection (0, 1, …) it came on.
    pub conn: usize,
}

impl Seen {
    /// The request line.
    pub fn line(&self) -> String {
        let text = String::from_utf8_lossy(&self.head);
        text.split("\r\n").next().unwrap_or_default().to_owned()
    }

    /// Header lines as (lower-case name, value), in order.
    pub fn headers(&self) -> Vec<(String, String)> {
        let text = String::from_utf8_lossy(&self.head);
        text.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect()
    }

    /// Every value of a header (any case), in order.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.headers().into_iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v).collect()
    }
}

/// What the upstream does with a request.
pub enum Reply {
    /// These bytes, then the next request on the connection.
    Bytes(Vec<u8>),
    /// These bytes, then the connection is closed.
    Close(Vec<u8>),
    /// Nothing, ever (until the client goes).
    Silent,
    /// A `Content-Length` answer of `total` generated body bytes ([`pattern`]), written in 64 KiB pieces.
    Stream(u64),
}

type Script = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct Stub {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Stub {
    pub fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (a, s, st) = (accepted.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let conn = a.fetch_add(1, Ordering::SeqCst);
                        let (s, st, script) = (s.clone(), st.clone(), script.clone());
                        std::thread::spawn(move || serve(stream, conn, &s, &st, &*script));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                    Err(e) => panic!("stub upstream: accept: {e}"),
                }
            }
        });
        Stub { addr, accepted, seen, stop }
    }

    /// `http://ADDR`, for `UPSTREAM`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The last request received (panics if there was none).
    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream received no request")
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The byte at offset `i` of a generated body.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads into `buf` until it holds `n` bytes; false at EOF first.
fn fill_to(stream: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> bool {
    let mut chunk = vec![0u8; 1 << 16];
    while buf.len() < n {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    true
}

/// Takes `n` body bytes (from `buf`, then the stream) into `seen`.
fn take_body(stream: &mut TcpStream, buf: &mut Vec<u8>, mut n: u64, seen: &mut Seen) -> bool {
    while n > 0 {
        if buf.is_empty() && !fill_to(stream, buf, 1) {
            return false;
        }
        let k = (buf.len() as u64).min(n) as usize;
        let room = KEEP.saturating_sub(seen.body.len()).min(k);
        seen.body.extend_from_slice(&buf[..room]);
        let raw_room = KEEP.saturating_sub(seen.raw_body.len()).min(k);
        seen.raw_body.extend_from_slice(&buf[..raw_room]);
        seen.body_len += k as u64;
        buf.drain(..k);
        n -= k as u64;
    }
    true
}

/// Reads one request into a [`Seen`]; `None` at EOF or on a framing error.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>, conn: usize) -> Option<Seen> {
    let end = loop {
        if let Some(p) = find(buf, b"\r\n\r\n") {
            break p;
        }
        let want = buf.len() + 1;
        if !fill_to(stream, buf, want) {
            return None;
        }
    };
    let mut seen = Seen { head: buf[..end].to_vec(), conn, ..Seen::default() };
    buf.drain(..end + 4);
    let chunked = seen.values("transfer-encoding").iter().any(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let line_end = loop {
                if let Some(p) = find(buf, b"\r\n") {
                    break p;
                }
                let want = buf.len() + 1;
                if !fill_to(stream, buf, want) {
                    return None;
                }
            };
            let size_line = buf[..line_end + 2].to_vec();
            seen.raw_body.extend_from_slice(&size_line);
            buf.drain(..line_end + 2);
            let text = String::from_utf8_lossy(&size_line);
            let size = u64::from_str_radix(text.trim().split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // no trailers: the final CRLF
                if !fill_to(stream, buf, 2) {
                    return None;
                }
                seen.raw_body.extend_from_slice(&buf[..2]);
                buf.drain(..2);
                return Some(seen);
            }
            if !take_body(stream, buf, size, &mut seen) || !fill_to(stream, buf, 2) {
                return None;
            }
            seen.raw_body.extend_from_slice(&buf[..2]);
            buf.drain(..2);
        }
    }
    let length = seen.values("content-length").first().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    take_body(stream, buf, length, &mut seen).then_some(seen)
}

fn serve(mut stream: TcpStream, conn: usize, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool, script: &Script) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buf, conn) {
        let reply = script(&request);
        seen.lock().unwrap().push(request);
        let written = match reply {
            Reply::Bytes(bytes) => stream.write_all(&bytes),
            Reply::Close(bytes) => {
                let _ = stream.write_all(&bytes);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Reply::Silent => {
                // hold the connection until the client goes (or a minute)
                let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
                let until = Instant::now() + Duration::from_secs(60);
                let mut sink = [0u8; 1024];
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    match stream.read(&mut sink) {
                        Ok(0) => return,
                        Err(e) if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return,
                        _ => {}
                    }
                }
                return;
            }
            Reply::Stream(total) => stream_body(&mut stream, total),
        };
        if written.is_err() {
            return;
        }
    }
}

fn stream_body(stream: &mut TcpStream, total: u64) -> std::io::Result<()> {
    stream.write_all(
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n")
            .as_bytes(),
    )?;
    let piece: Vec<u8> = (0..(251 * 261)).map(pattern).collect(); // 65,511 bytes, a whole number of periods
    let mut sent = 0u64;
    while sent < total {
        let n = (total - sent).min(piece.len() as u64) as usize;
        stream.write_all(&piece[..n])?;
        sent += n as u64;
    }
    Ok(())
}
