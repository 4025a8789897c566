//! The front door's forwarding (src/upstream), against a scripted upstream
//! ([`crate::stub_upstream`]) that records the bytes it receives: the
//! request goes on unchanged (method, raw path and query, `Host`,
//! end-to-end headers, the body with its framing; hop-by-hop headers
//! dropped, `X-Forwarded-*` appended), the answer comes back unchanged
//! (status, headers, body bytes: chunked stays chunked, gzip stays gzip,
//! HEAD/204/304 without a body), large bodies stream both ways in bounded
//! memory, upstream connections are pooled, and an unreachable, silent or
//! dying upstream gets a quick 502/504 or a cut connection, never a hang.
//! The real binary, on SQLite; no oracle.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ledger_contract::kit::{LedgerBinary, ServerProcess};
use ledger_contract::model::{Request, Response};

use crate::stub_upstream::{pattern, Reply, Seen, Stub};

const KEY: &str = "front-door-proxy-key-31f0";

/// ledger-server with `UPSTREAM` = `upstream` (and more settings).
fn front(upstream: &str, extra: &[(&str, &str)]) -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::Builder::new().prefix("front-door-proxy-").tempdir().unwrap();
    let mut bin = LedgerBinary::new(crate::BIN, dir.path()).setting("SECRET_KEY", KEY).setting("UPSTREAM", upstream);
    for (k, v) in extra {
        bin = bin.setting(k, v);
    }
    let mut server = bin.start().unwrap();
    server.client.total_timeout = Duration::from_secs(20);
    server.client.io_timeout = Duration::from_secs(10);
    (dir, server)
}

/// Sends raw bytes on a new connection and reads until the server closes it.
fn raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

/// The head (status line and headers, lower-case names) and what follows it.
fn split(answer: &[u8]) -> (String, Vec<u8>) {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    (String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase(), answer[end + 4..].to_vec())
}

fn values(r: &Response, name: &str) -> Vec<String> {
    r.header_values(name).into_iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn the_request_goes_on_unchanged() {
    let stub = Stub::start(|_| Reply::Bytes(OK.to_vec()));
    let (_dir, server) = front(&stub.url(), &[]);

    // raw target, Host, hop-by-hop and end-to-end fields, X-Forwarded-*
    let answer = raw(
        server.addr,
        b"GET /a%2Fb?q=%41&x HTTP/1.1\r\nHost: Example.test:8080\r\nX-Forwarded-For: 203.0.113.7\r\n\
          X-Forwarded-Proto: https\r\nConnection: X-Foo, close\r\nX-Foo: secret\r\nKeep-Alive: timeout=5\r\n\
          TE: trailers\r\nProxy-Connection: keep-alive\r\nX-Multi: 1\r\nX-Multi: 2\r\nAuthorization: tok\r\n\
          Cookie: c=1\r\n\r\n",
    );
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&answer));
    let seen = stub.last();
    assert_eq!(seen.line(), "GET /a%2Fb?q=%41&x HTTP/1.1", "the raw path and query, escapes untouched");
    assert_eq!(seen.values("host"), ["Example.test:8080"], "Host as the client sent it");
    for hop in ["x-foo", "keep-alive", "te", "proxy-connection", "transfer-encoding", "content-length"] {
        assert!(seen.values(hop).is_empty(), "{hop} must not be forwarded: {:?}", seen.headers());
    }
    assert!(
        seen.values("connection").iter().all(|v| !v.to_ascii_lowercase().contains("x-foo")),
        "the client's Connection field stays here: {:?}",
        seen.headers()
    );
    assert_eq!(seen.values("x-multi"), ["1", "2"], "repeated fields kept in order");
    assert_eq!(seen.values("authorization"), ["tok"]);
    assert_eq!(seen.values("cookie"), ["c=1"]);
    assert_eq!(seen.values("x-forwarded-for"), ["203.0.113.7, 127.0.0.1"], "the client address appended");
    assert_eq!(seen.values("x-forwarded-proto"), ["https, http"], "http appended");
    assert!(seen.body.is_empty());
    let mut names: Vec<String> = seen.headers().into_iter().map(|(n, _)| n).collect();
    names.dedup();
    names.sort();
    // nothing else is added but the request id (actix-http's client writes a `Date` on every request)
    let expected =
        ["authorization", "cookie", "date", "host", "x-forwarded-for", "x-forwarded-proto", "x-multi", "x-request-id"];
    assert_eq!(names, expected, "no header is added but X-Forwarded-* and X-Request-Id: {:?}", seen.headers());

    // no X-Forwarded-* from the client: ledger-server's alone; Upgrade stops here
    let r = server.send(&Request::new("GET", "/ledger%73?x=%2F").header("Upgrade", "h2c"));
    assert_eq!(r.status, 200);
    let seen = stub.last();
    assert_eq!(seen.line(), "GET /ledger%73?x=%2F HTTP/1.1");
    assert_eq!(seen.values("host"), ["localhost"]);
    assert_eq!(seen.values("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen.values("x-forwarded-proto"), ["http"]);
    assert!(seen.values("upgrade").is_empty(), "{:?}", seen.headers());

    // a Content-Length body: the length and the bytes
    let body: Vec<u8> = (0..100_000u64).map(pattern).collect();
    let r = server.send(&Request::new("PUT", "/things/1").header("Content-Type", "application/x-test").body(&body));
    assert_eq!(r.status, 200);
    let seen = stub.last();
    assert_eq!(seen.line(), "PUT /things/1 HTTP/1.1");
    assert_eq!(seen.values("content-length"), ["100000"]);
    assert!(seen.values("transfer-encoding").is_empty());
    assert_eq!(seen.values("content-type"), ["application/x-test"]);
    assert_eq!(seen.body, body, "the same bytes");

    // a chunked body arrives chunked
    let answer = raw(
        server.addr,
        b"POST /chunks HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&answer));
    let seen = stub.last();
    assert_eq!(seen.values("transfer-encoding"), ["chunked"], "{:?}", seen.headers());
    assert!(seen.values("content-length").is_empty());
    assert_eq!(seen.body, b"hello world");
    assert!(seen.raw_body.ends_with(b"0\r\n\r\n"), "{:?}", String::from_utf8_lossy(&seen.raw_body));

    // an empty POST keeps its Content-Length: 0; a GET gets no framing at all
    assert_eq!(server.send(&Request::new("POST", "/empty")).status, 200);
    assert_eq!(stub.last().values("content-length"), ["0"]);
    assert_eq!(server.send(&Request::new("DELETE", "/x")).status, 200);
    let seen = stub.last();
    assert_eq!(seen.line(), "DELETE /x HTTP/1.1");
    assert!(seen.values("content-length").is_empty() && seen.values("transfer-encoding").is_empty());
}

/// gzip of `text` in one stored deflate block (valid, so a decompressing
/// proxy would pass on other bytes).
fn gzip(text: &[u8]) -> Vec<u8> {
    let mut crc = 0xffff_ffffu32;
    for b in text {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    let len = text.len() as u16;
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1];
    out.extend(len.to_le_bytes());
    out.extend((!len).to_le_bytes());
    out.extend(text);
    out.extend((!crc).to_le_bytes());
    out.extend((text.len() as u32).to_le_bytes());
    out
}

fn scripted(seen: &Seen) -> Reply {
    let line = seen.line();
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let bytes = |s: &[u8]| Reply::Bytes(s.to_vec());
    match path.as_str() {
        "/cl" => bytes(
            b"HTTP/1.1 201 Created\r\nContent-Type: text/x-test\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\
              X-Upstream: yes\r\nKeep-Alive: timeout=2\r\nConnection: X-Private\r\nX-Private: 1\r\n\
              Content-Length: 5\r\n\r\nhello",
        ),
        "/chunked" => bytes(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"),
        "/gzip" => {
            let body = gzip(b"{\"message\": \"compressed\"}");
            let mut a = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nVary: Accept-Encoding\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            a.extend(body);
            Reply::Bytes(a)
        }
        "/head" => bytes(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n"),
        "/204" => bytes(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"),
        "/304" => bytes(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n"),
        "/teapot" => bytes(b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 3\r\n\r\ntea"),
        _ => bytes(OK),
    }
}

#[test]
fn the_answer_comes_back_unchanged() {
    let stub = Stub::start(scripted);
    let (_dir, server) = front(&stub.url(), &[]);

    let r = server.send(&Request::new("GET", "/cl"));
    assert_eq!((r.status, r.body.as_slice()), (201, &b"hello"[..]));
    assert_eq!(values(&r, "content-type"), ["text/x-test"]);
    assert_eq!(values(&r, "content-length"), ["5"], "a Content-Length answer keeps its length");
    assert_eq!(values(&r, "set-cookie"), ["a=1", "b=2"]);
    assert_eq!(values(&r, "x-upstream"), ["yes"]);
    assert!(values(&r, "x-private").is_empty() && values(&r, "keep-alive").is_empty(), "{:?}", r.headers);

    let r = server.send(&Request::new("GET", "/chunked"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"abcdefg"[..]));
    assert_eq!(values(&r, "transfer-encoding"), ["chunked"], "relayed chunked to an HTTP/1.1 client");
    assert!(values(&r, "content-length").is_empty());

    let r = server.send(&Request::new("GET", "/gzip").header("Accept-Encoding", "gzip"));
    assert_eq!(r.body, gzip(b"{\"message\": \"compressed\"}"), "not decompressed");
    assert_eq!(values(&r, "content-encoding"), ["gzip"]);
    assert_eq!(stub.last().values("accept-encoding"), ["gzip"]);
    assert_eq!(values(&r, "vary"), ["Accept-Encoding"]);
    assert_eq!(values(&r, "content-length"), [r.body.len().to_string()]);

    let r = server.send(&Request::new("GET", "/teapot"));
    assert_eq!((r.status, r.body.as_slice()), (418, &b"tea"[..]));

    // the bodiless answers: nothing after the head (the connection closes)
    let (head, rest) = split(&raw(server.addr, b"HEAD /head HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    assert!(head.starts_with("http/1.1 200 ok\r\n") && head.contains("\r\ncontent-length: 1234"), "{head}");
    assert!(rest.is_empty(), "HEAD: no body, got {} bytes", rest.len());
    assert_eq!(stub.last().line(), "HEAD /head HTTP/1.1");
    let (head, rest) = split(&raw(server.addr, b"GET /204 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    assert!(head.starts_with("http/1.1 204 no content\r\n") && head.contains("\r\nx-a: 1"), "{head}");
    assert!(!head.contains("transfer-encoding") && rest.is_empty(), "{head} / {rest:?}");
    let (head, rest) = split(&raw(server.addr, b"GET /304 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    assert!(head.starts_with("http/1.1 304 not modified\r\n") && head.contains("\r\netag: \"v1\""), "{head}");
    assert!(!head.contains("transfer-encoding") && rest.is_empty(), "{head} / {rest:?}");
}

/// The process's resident memory in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

const BIG: u64 = 256 << 20;
/// How much ledger-server's RSS may grow while a [`BIG`] body passes.
const GROWTH: u64 = 64 << 20;

#[test]
fn large_bodies_stream_both_ways_in_bounded_memory() {
    let stub = Stub::start(|seen| match seen.line().split(' ').nth(1) {
        Some("/download") => Reply::Stream(BIG),
        _ => Reply::Bytes(format!("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{:>20}", seen.body_len).into_bytes()),
    });
    let (_dir, server) = front(&stub.url(), &[]);
    let pid = server.process.id();
    assert_eq!(server.send(&Request::new("GET", "/warm")).status, 200);
    let base = rss(pid);
    let peak = AtomicU64::new(base);
    let done = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(rss(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        // upload: BIG bytes with a Content-Length, written in 1 MiB pieces
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {BIG}\r\nConnection: close\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let piece: Vec<u8> = (0..(251 * 4177)).map(pattern).collect();
        let mut sent = 0u64;
        while sent < BIG {
            let n = (BIG - sent).min(piece.len() as u64) as usize;
            s.write_all(&piece[..n]).unwrap();
            sent += n as u64;
        }
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        let (head, body) = split(&answer);
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(String::from_utf8_lossy(&body).trim(), BIG.to_string(), "the upstream received every byte");
        let seen = stub.last();
        assert_eq!(seen.values("content-length"), [BIG.to_string()]);
        assert!(seen.body.iter().enumerate().all(|(i, b)| *b == pattern(i as u64)), "the bytes arrived in order");

        // download: BIG bytes relayed with their Content-Length
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /download HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut head = Vec::new();
        let (mut got, mut wrong) = (0u64, 0u64);
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            let mut data = &buf[..n];
            if !head.ends_with(b"\r\n\r\n") {
                let mut k = 0;
                while k < data.len() && !head.ends_with(b"\r\n\r\n") {
                    head.push(data[k]);
                    k += 1;
                }
                data = &data[k..];
            }
            for b in data {
                wrong += u64::from(*b != pattern(got));
                got += 1;
            }
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.contains(&format!("\r\ncontent-length: {BIG}\r\n")), "{head}");
        assert_eq!((got, wrong), (BIG, 0), "every byte relayed, in order");
        done.store(true, Ordering::SeqCst);
    });
    let growth = peak.load(Ordering::SeqCst).saturating_sub(base);
    eprintln!(
        "front door: 2 x {} MiB in {:.1}s, RSS {} MiB, grew {} MiB at most",
        BIG >> 20,
        started.elapsed().as_secs_f64(),
        base >> 20,
        growth >> 20
    );
    assert!(growth < GROWTH, "ledger-server's RSS grew by {} MiB while {} MiB passed", growth >> 20, BIG >> 20);
}

#[test]
fn upstream_connections_are_pooled() {
    let stub = Stub::start(|_| Reply::Bytes(OK.to_vec()));
    let (_dir, server) = front(&stub.url(), &[]);
    const N: usize = 20;
    // the start's readiness probes were forwarded too
    let before = stub.seen().len();
    for i in 0..N {
        // each on a new client connection (Connection: close)
        assert_eq!(server.send(&Request::new("GET", format!("/n/{i}"))).status, 200);
    }
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let conns = stub.accepted();
    let seen = stub.seen();
    assert_eq!(seen.len(), before + N);
    let used: std::collections::BTreeSet<usize> = seen.iter().map(|s| s.conn).collect();
    assert_eq!(used.len(), conns, "every accepted connection carried requests");
    assert!(conns <= workers && conns < N, "{N} requests over {conns} upstream connections ({workers} workers)");
}

/// Waits (≤ 5 s) until the log holds `needle`.
fn log_holds(server: &ServerProcess, needle: &str) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if server.log().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn assert_plain(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(values(r, "content-type"), ["text/plain; charset=utf-8"]);
    assert!(!r.body.is_empty() && r.body.len() < 200, "a short body: {:?}", String::from_utf8_lossy(&r.body));
}

#[test]
fn an_unreachable_upstream_is_a_quick_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (_dir, server) = front(&format!("http://{closed}"), &[]);
    let started = Instant::now();
    let r = server.send(&Request::new("GET", "/ledgers"));
    assert!(started.elapsed() < Duration::from_secs(5), "502 after {:?}", started.elapsed());
    assert_plain(&r, 502);
    assert!(log_holds(&server, "GET /ledgers: 502"), "{}", server.log());
    assert!(log_holds(&server, "cannot connect"), "the cause is logged: {}", server.log());
    // ledger-server's own routes still answer
    assert_eq!(server.send(&Request::new("GET", "/users/login")).status, 405);
}

#[test]
fn a_silent_upstream_is_a_504_after_upstream_timeout() {
    let stub = Stub::start(|_| Reply::Silent);
    let (_dir, server) = front(&stub.url(), &[("UPSTREAM_TIMEOUT", "1")]);
    let started = Instant::now();
    let r = server.send(&Request::new("GET", "/slow"));
    let took = started.elapsed();
    assert_plain(&r, 504);
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "504 after {took:?}");
    assert!(log_holds(&server, "GET /slow: 504"), "{}", server.log());
    assert!(log_holds(&server, "UPSTREAM_TIMEOUT"), "the cause is logged: {}", server.log());
}

#[test]
fn an_upstream_dying_mid_answer_cuts_the_connection_not_a_hang() {
    let stub = Stub::start(|seen| match seen.line().split(' ').nth(1) {
        Some("/cut") => Reply::Close(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789".to_vec()),
        Some("/cut-chunked") => {
            Reply::Close(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec())
        }
        Some("/no-answer") => Reply::Close(Vec::new()),
        _ => Reply::Bytes(OK.to_vec()),
    });
    let (_dir, server) = front(&stub.url(), &[]);
    for path in ["/cut", "/cut-chunked"] {
        let started = Instant::now();
        let r = server.try_send(&Request::new("GET", path));
        assert!(r.is_err(), "{path}: a truncated answer must not look complete: {r:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path}: cut after {:?}", started.elapsed());
    }
    // closed before any answer head: 502
    let r = server.send(&Request::new("GET", "/no-answer"));
    assert_plain(&r, 502);
    // and it keeps serving
    for _ in 0..3 {
        let r = server.send(&Request::new("GET", "/fine"));
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    }
}
