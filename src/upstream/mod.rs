//! The front door (`UPSTREAM`): every request ledger-server does not serve
//! itself goes on to the Django server, and its answer comes back
//! unchanged, streamed both ways (a strangler fig: ledger-server stands
//! where nginx's `location /` stood).
//!
//! What is forwarded: the method, the raw path and query (percent-escapes
//! untouched), every end-to-end header (`Host` as the client sent it), and
//! the body with its framing (a `Content-Length` body with that length, a
//! chunked one chunked). Hop-by-hop headers (RFC 9110 §7.6.1: `Connection`
//! and the fields it names, `Keep-Alive`, `Proxy-Connection`, `TE`,
//! `Transfer-Encoding`, `Upgrade`) stop here, in both directions;
//! `X-Forwarded-For` and `X-Forwarded-Proto` are appended, and
//! `X-Request-Id` is the request's id (a client's own is replaced unless
//! it came through a trusted proxy). Nothing is
//! decompressed or buffered: bodies flow through in the chunks they
//! arrive in. Connections to the upstream are pooled per worker.
//!
//! An upstream that cannot be reached answers `502`, one that has not
//! answered within `UPSTREAM_TIMEOUT` `504`: a short plain-text body,
//! logged once with its cause.
//!
//! [`shadow`] compares ledger-server's own answers with the upstream's.

pub mod report;
pub mod shadow;

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_web::body::{BodyStream, None as NoBody, SizedStream};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::{Stream, StreamExt};

use crate::settings::{Settings, Upstream};
use crate::telemetry::log::RequestId;
use crate::telemetry::metrics::{self, UpstreamError};

/// What the front door needs of the settings (shared by every worker).
#[derive(Clone, Debug)]
pub struct FrontDoor {
    pub upstream: Upstream,
    pub timeout: Duration,
    /// Hardened: the upstream's guarded path prefixes.
    pub guarded: Vec<String>,
}

impl FrontDoor {
    pub fn from_settings(settings: &Settings) -> Option<FrontDoor> {
        let upstream = settings.upstream.clone()?;
        Some(FrontDoor {
            upstream,
            timeout: Duration::from_secs(settings.upstream_timeout.into()),
            guarded: settings.guarded_upstream.clone(),
        })
    }

    /// Whether this `path_info` is one of the upstream's guarded views
    /// (the prefix itself, or below it).
    pub fn is_guarded(&self, path_info: &str) -> bool {
        self.guarded.iter().any(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            path_info.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

/// One worker's connection pool to the upstream (an awc client is bound
/// to its thread: each worker makes its own).
pub struct Forwarder {
    client: awc::Client,
    door: FrontDoor,
}

/// Upstream connections each worker keeps open at most.
const POOL_PER_WORKER: usize = 256;
/// How long a pooled connection may sit idle (gunicorn's keep-alive is
/// 2 s; a connection it closed is not reused).
const POOL_IDLE: Duration = Duration::from_secs(2);

impl Forwarder {
    pub fn new(door: FrontDoor) -> Forwarder {
        let connector = awc::Connector::new()
            .limit(POOL_PER_WORKER)
            .conn_keep_alive(POOL_IDLE)
            .timeout(door.timeout.min(Duration::from_secs(5)));
        let client = awc::Client::builder()
            .connector(connector)
            .no_default_headers()
            .disable_redirects()
            .max_http_version(actix_web::http::Version::HTTP_11)
            .disable_timeout()
            .finish();
        Forwarder { client, door }
    }

    pub fn door(&self) -> &FrontDoor {
        &self.door
    }

    /// Forwards the request with `body` and relays the answer.
    pub async fn forward(&self, req: &HttpRequest, body: Body) -> HttpResponse {
        // A body up to BUFFERED is read first, then sent at once: Django
        // answers some requests without reading their body (an unknown
        // path, a logout) and closes; a body still streaming in from the
        // client would then meet a reset instead of the answer.
        let body = match body {
            Body::Stream(payload) if matches!(request_length(req), Framing::Length(n) if n <= BUFFERED) => {
                match read_all(payload).await {
                    Ok(bytes) => Body::Bytes(bytes),
                    Err(e) => {
                        log::warn!("{} {}: 400: the request body could not be read: {e}", req.method(), req.path());
                        return HttpResponse::BadRequest()
                            .content_type("text/plain; charset=utf-8")
                            .body("400 Bad Request\n");
                    }
                }
            }
            other => other,
        };
        match self.send(req, body).await {
            Ok(answer) => relay(req.method(), answer),
            Err(failure) => failure.log_and_answer(req, &self.door.upstream),
        }
    }

    /// Sends the request; the upstream's answer, its body not yet read.
    /// Recorded in the metrics (count, latency to the answer head, errors).
    pub async fn send(&self, req: &HttpRequest, body: Body) -> Result<awc::ClientResponse, Failure> {
        let started = std::time::Instant::now();
        let sent = self.send_unrecorded(req, body).await;
        metrics::upstream(match &sent {
            Ok(_) => Ok(started.elapsed()),
            Err(Failure::Connect(_)) => Err(UpstreamError::Connect),
            Err(Failure::Timeout) => Err(UpstreamError::Timeout),
            Err(Failure::Exchange(_)) => Err(UpstreamError::Exchange),
            Err(Failure::Request(_)) => Err(UpstreamError::Request),
        });
        sent
    }

    async fn send_unrecorded(&self, req: &HttpRequest, body: Body) -> Result<awc::ClientResponse, Failure> {
        if req.method() == Method::CONNECT {
            // awc makes a tunnel of a CONNECT: it cannot carry Django's 405
            return Err(Failure::Request("CONNECT is not forwarded (the client opens tunnels with it)".into()));
        }
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.door.upstream.authority())
            .path_and_query(target)
            .build()
            .map_err(|e| Failure::Request(e.to_string()))?;
        // no_decompress: awc would otherwise add `Accept-Encoding: identity`
        let mut out = self.client.request(req.method().clone(), uri).timeout(self.door.timeout).no_decompress();
        let head = out.headers_mut();
        copy_end_to_end(req.headers(), head);
        forwarded_for(req, head);
        request_id(req, head);
        let sent = match body {
            Body::Stream(payload) => match request_length(req) {
                Framing::Length(n) => out.send_body(SizedStream::new(n, payload)),
                Framing::Chunked => out.send_body(BodyStream::new(payload)),
                // `send()` would frame an empty body (`Content-Length: 0`)
                Framing::None => out.send_body(NoBody::new()),
            },
            Body::Bytes(bytes) if bytes.is_empty() && !req.headers().contains_key(header::CONTENT_LENGTH) => {
                out.send_body(NoBody::new())
            }
            Body::Bytes(bytes) => out.send_body(bytes),
        };
        sent.await.map_err(|e| match e {
            awc::error::SendRequestError::Timeout => Failure::Timeout,
            awc::error::SendRequestError::Connect(e) => Failure::Connect(e.to_string()),
            other => Failure::Exchange(other.to_string()),
        })
    }
}

/// The largest request body read whole before it is forwarded (4 times
/// Django's `DATA_UPLOAD_MAX_MEMORY_SIZE`); a larger one streams.
pub const BUFFERED: u64 = 10 * 1024 * 1024;

/// A whole request body.
pub async fn read_all(mut payload: web::Payload) -> Result<Bytes, actix_web::error::PayloadError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        body.extend_from_slice(&chunk?);
    }
    Ok(body.freeze())
}

/// The request body to forward: the client's, as it streams in, or bytes
/// already read (shadow mode reads `/users/*` bodies first).
pub enum Body {
    Stream(web::Payload),
    Bytes(Bytes),
}

enum Framing {
    Length(u64),
    Chunked,
    None,
}

/// How the client framed its body: actix-http has already refused a
/// request whose framing is invalid or ambiguous.
fn request_length(req: &HttpRequest) -> Framing {
    let chunked = req
        .headers()
        .get_all(header::TRANSFER_ENCODING)
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|coding| coding.trim().eq_ignore_ascii_case("chunked"))));
    if chunked {
        return Framing::Chunked;
    }
    match req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse().ok()) {
        Some(n) => Framing::Length(n),
        None => Framing::None,
    }
}

/// Why a request could not be forwarded.
#[derive(Debug)]
pub enum Failure {
    /// The request target could not be put into a request line.
    Request(String),
    Connect(String),
    Timeout,
    /// The connection failed while the request or the answer head was on it.
    Exchange(String),
}

impl Failure {
    /// Logs the failure once (method, path, cause) and answers it: 504
    /// for a timeout, else 502.
    pub fn log_and_answer(self, req: &HttpRequest, upstream: &Upstream) -> HttpResponse {
        let (status, cause) = match &self {
            Failure::Timeout => (StatusCode::GATEWAY_TIMEOUT, "no answer within UPSTREAM_TIMEOUT".to_owned()),
            Failure::Connect(e) => (StatusCode::BAD_GATEWAY, format!("cannot connect: {e}")),
            Failure::Exchange(e) => (StatusCode::BAD_GATEWAY, e.clone()),
            Failure::Request(e) => (StatusCode::BAD_GATEWAY, format!("the request cannot be forwarded: {e}")),
        };
        let id = req.extensions().get::<RequestId>().map(|id| id.to_string()).unwrap_or_default();
        let (method, path) = (req.method(), req.path());
        log::error!(
            method = method.as_str(), path = path, request_id = id.as_str();
            "{method} {path}: {}: upstream {upstream}: {cause}", status.as_u16()
        );
        plain(status)
    }
}

/// The short plain-text answer of a failed forward.
pub fn plain(status: StatusCode) -> HttpResponse {
    let text = match status {
        StatusCode::GATEWAY_TIMEOUT => "504 Gateway Timeout: the upstream did not answer in time\n",
        _ => "502 Bad Gateway: the upstream cannot be reached\n",
    };
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(text)
}

/// The upstream's answer, relayed: its status, its end-to-end headers, its
/// body streamed with the same length (or unsized, when it had none).
pub fn relay(method: &Method, answer: awc::ClientResponse) -> HttpResponse {
    let mut res = HttpResponse::build(answer.status());
    let length = answer.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let mut head = HeaderMap::new();
    copy_end_to_end(answer.headers(), &mut head);
    for (name, value) in head {
        res.append_header((name, value));
    }
    let status = answer.status();
    let bodiless = *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless {
        // HEAD: the length the GET would have, and no body.
        return match length {
            Some(n) => res.body(SizedStream::new(n, futures_util::stream::empty::<Result<Bytes, std::io::Error>>())),
            None => res.finish(),
        };
    }
    let stream = answer.map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())));
    match length {
        Some(n) => res.body(SizedStream::new(n, KnownLength { inner: Some(stream), left: n })),
        None => res.body(BodyStream::new(stream)),
    }
}

/// An answer body of a known length. Once its last byte has been relayed
/// the stream ends without polling awc's again: that last poll releases
/// the upstream connection (with gunicorn, closes it: a FIN through the
/// loopback), and it runs in a task of its own, after the worker has
/// written the answer to the client, instead of before.
struct KnownLength<S> {
    inner: Option<S>,
    left: u64,
}

impl<S> Stream for KnownLength<S>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin + 'static,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.left == 0 {
            if let Some(mut rest) = this.inner.take() {
                // awc's decoder has its whole length: this ends at once
                actix_rt::spawn(async move { while rest.next().await.is_some() {} });
            }
            return Poll::Ready(None);
        }
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        let next = ready!(inner.poll_next_unpin(cx));
        match &next {
            Some(Ok(chunk)) => this.left = this.left.saturating_sub(chunk.len() as u64),
            _ => this.inner = None,
        }
        Poll::Ready(next)
    }
}

/// Hop-by-hop fields: this connection's business only (RFC 9110 §7.6.1).
/// `Content-Length` is set again from the body's framing; `Expect` was
/// answered here (`100 Continue`).
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "content-length", "expect"];

/// Copies every field of `from` that is not hop-by-hop (nor named in its
/// `Connection` field), keeping repeated fields.
pub fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    let named: Vec<String> = from
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect();
    for (name, value) in from.iter() {
        let lower = name.as_str();
        if HOP_BY_HOP.contains(&lower) || named.iter().any(|n| n == lower) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// `X-Request-Id`: the id the middleware gave the request (a trusted
/// proxy's, or a fresh one), in place of any the client sent.
fn request_id(req: &HttpRequest, head: &mut HeaderMap) {
    let id = req.extensions().get::<RequestId>().cloned().unwrap_or_else(RequestId::generate);
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        head.insert(HeaderName::from_static(RequestId::HEADER), value);
    }
}

/// `X-Forwarded-For` with the client's address appended, and
/// `X-Forwarded-Proto` with `http` appended (ledger-server terminates no TLS).
fn forwarded_for(req: &HttpRequest, head: &mut HeaderMap) {
    let append = |head: &mut HeaderMap, name: HeaderName, value: String| {
        let joined = match head.get_all(&name).filter_map(|v| v.to_str().ok()).collect::<Vec<_>>() {
            earlier if earlier.is_empty() => value,
            earlier => format!("{}, {value}", earlier.join(", ")),
        };
        if let Ok(value) = HeaderValue::from_str(&joined) {
            head.insert(name, value);
        }
    };
    if let Some(peer) = req.peer_addr() {
        append(head, HeaderName::from_static("x-forwarded-for"), crate::settings::canonical_ip(peer.ip()).to_string());
    }
    append(head, HeaderName::from_static("x-forwarded-proto"), "http".to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut head = HeaderMap::new();
        for (n, v) in pairs {
            head.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        head
    }

    #[test]
    fn hop_by_hop_fields_stop_here() {
        let from = map(&[
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("proxy-connection", "keep-alive"),
            ("content-length", "5"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("authorization", "t"),
        ]);
        let mut to = HeaderMap::new();
        copy_end_to_end(&from, &mut to);
        let mut names: Vec<&str> = to.keys().map(HeaderName::as_str).collect();
        names.sort();
        assert_eq!(names, ["authorization", "set-cookie"]);
        assert_eq!(to.get_all("set-cookie").count(), 2, "repeated fields are kept");
    }

    /// A stream of `chunks` that records when it is polled past its end.
    fn chunks(
        chunks: &[&'static str],
        ended: std::rc::Rc<std::cell::Cell<bool>>,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + 'static {
        let items: Vec<Result<Bytes, std::io::Error>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c.as_bytes()))).collect();
        futures_util::stream::iter(items).chain(futures_util::stream::poll_fn(move |_| {
            ended.set(true);
            Poll::Ready(None)
        }))
    }

    #[actix_rt::test]
    async fn a_known_length_body_ends_before_awc_releases_its_connection() {
        let ended = std::rc::Rc::new(std::cell::Cell::new(false));
        let body = KnownLength { inner: Some(chunks(&["{\"a\": ", "1}"], ended.clone())), left: 8 };
        let got: Vec<Bytes> = body.map(|c| c.unwrap()).collect().await;
        assert_eq!(got.concat(), b"{\"a\": 1}");
        assert!(!ended.get(), "the last poll of awc's stream waits until the answer is written");
        actix_rt::task::yield_now().await;
        assert!(ended.get(), "a task of its own polls it to its end (releasing the connection)");
    }

    #[actix_rt::test]
    async fn a_body_shorter_than_its_length_ends_where_awc_ends_it() {
        let ended = std::rc::Rc::new(std::cell::Cell::new(false));
        let body = KnownLength { inner: Some(chunks(&["{\"a\""], ended.clone())), left: 8 };
        let got: Vec<Bytes> = body.map(|c| c.unwrap()).collect().await;
        assert_eq!(got.concat(), b"{\"a\"");
        assert!(ended.get(), "polled to its end at once: nothing is left to defer");
    }

    #[test]
    fn awc_connections_spawn_no_date_task() {
        // vendor/actix-http: a ServiceConfig (awc makes one per upstream
        // connection) refreshes its date when read; upstream spawned a task
        // for it, which needs a runtime: this would panic.
        let config = actix_http::ServiceConfig::default();
        let mut first = actix_web::web::BytesMut::new();
        config.write_date_header(&mut first, true);
        assert!(first.starts_with(b"Date: ") && first.ends_with(b" GMT\r\n"), "{first:?}");
        std::thread::sleep(Duration::from_millis(1100));
        let mut later = actix_web::web::BytesMut::new();
        config.write_date_header(&mut later, true);
        assert_ne!(first, later, "the date is refreshed");
    }

    #[test]
    fn guarded_prefixes_match_whole_segments() {
        let door = FrontDoor {
            upstream: Upstream { host: "h".into(), port: 1 },
            timeout: Duration::from_secs(1),
            guarded: vec!["/ledgers".into(), "/stats/".into()],
        };
        for path in ["/ledgers", "/ledgers/", "/ledgers/3", "/ledgers/3/restore", "/stats", "/stats/x"] {
            assert!(door.is_guarded(path), "{path}");
        }
        for path in ["/ledgersx", "/", "/users/login", "/ledger", "/statistics"] {
            assert!(!door.is_guarded(path), "{path}");
        }
    }
}
