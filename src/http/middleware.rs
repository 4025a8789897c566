//! Django's middleware stack, as `settings.MIDDLEWARE` orders it, in one
//! actix middleware:
//!
//! 1. `SecurityMiddleware`: `X-Content-Type-Options: nosniff`,
//!    `Referrer-Policy: same-origin` on every response;
//! 2. `CorsMiddleware` (django-cors-headers 3.10): answers preflights itself,
//!    adds `Vary: Origin` and the `Access-Control-*` headers;
//! 3. `CommonMiddleware`: validates `Host` (400 page), sets `Content-Length`;
//! 4. `XFrameOptionsMiddleware`: `X-Frame-Options: DENY`.
//!
//! A response made by an outer layer skips the inner layers' headers, as in
//! Django. It also routes by Django's `path_info` (the fully percent-decoded
//! path) and, with `ACCESS_LOG`, logs one line per request (with its
//! [`RequestId`], as a 500's line has it too).

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

use super::conn::Watch;
use super::cors;
use super::hardened;
use super::headers::joined_header;
use super::response::{middleware_error_page, Answer, Fault};
use super::routes;
use super::shadow;
use super::state::AppState;
use super::views::{self, Incoming, Writes};
use crate::telemetry::log::RequestId;
use crate::telemetry::metrics;
use crate::upstream::{Body, Forwarder};

const NOSNIFF: (&str, &str) = ("x-content-type-options", "nosniff");
const REFERRER: (&str, &str) = ("referrer-policy", "same-origin");
const XFRAME: (&str, &str) = ("x-frame-options", "DENY");

pub async fn django_stack(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    // Until the answer is made: the connection's request deadline runs.
    let _serving = req.conn_data::<Watch>().map(Watch::begin);
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let missing = std::io::Error::other("the application state is missing");
        let answer = Answer::ServerError(Fault::internal(missing));
        log_fault(&req, &answer);
        return answer.into_response();
    };
    let started = Instant::now();
    let logged = state.access_log.load(Ordering::Relaxed).then(|| req.path().to_owned());
    let path_info = routes::path_info(req.uri().path().as_bytes());
    let route = routes::resolve(&path_info, state.hardened.is_some());
    let metric = routes::metric(route, state.front_door.is_some());
    let response = match req.app_data::<Forwarder>() {
        // Shadow mode: Django answers `/users/*`, checked against a dry run.
        Some(forwarder) if state.shadow.is_some() && path_info.starts_with("/users/") => {
            request_id(&req); // sent on to Django
            let cors_on = cors::enabled(&path_info);
            shadow::exchange(forwarder, &req, route, cors_on, payload, &state).await
        }
        // The front door: Django's middleware answers the rest of the product.
        Some(forwarder) if route.is_none() => {
            request_id(&req); // sent on to Django
            front_door(forwarder, &req, &path_info, payload, &state).await
        }
        _ => {
            let cors_on = cors::enabled(&path_info);
            drop(path_info);
            respond(&req, route, cors_on, Incoming::Payload(payload), &state, &mut Writes::Commit).await
        }
    };
    if let Some(raw_path) = logged {
        log_request(&req, &raw_path, response.status(), started);
    }
    let profile = if state.hardened.is_some() { metrics::Profile::Hardened } else { metrics::Profile::Compat };
    metrics::request(metric, req.method().as_str(), response.status().as_u16(), profile, started.elapsed());
    // Header names as gunicorn writes Django's: `Content-Type`, `X-Frame-Options`.
    let mut response = response;
    response.head_mut().set_camel_case_headers(true);
    response
}

/// Django's answer to a request for one of its own routes (or none): the
/// middleware stack around the view.
pub async fn respond(
    req: &HttpRequest,
    route: Option<routes::Route>,
    cors_on: bool,
    incoming: Incoming,
    state: &web::Data<AppState>,
    writes: &mut Writes,
) -> HttpResponse {
    let hardened = state.hardened.is_some();
    let origin = joined_header(req, "origin").map(Cow::into_owned);
    let method = req.method();

    // CorsMiddleware.process_request: the preflight short-circuit.
    let preflight = cors_on && method == Method::OPTIONS && req.headers().contains_key("access-control-request-method");
    if preflight {
        let mut res = HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((CONTENT_LENGTH, HeaderValue::from_static("0")))
            .finish();
        cors_and_security(&mut res, cors_on, origin.as_deref(), req, hardened);
        res
    } else if !host_is_valid(req) {
        // CommonMiddleware.process_request raised DisallowedHost.
        let mut res = middleware_error_page(400);
        cors_and_security(&mut res, cors_on, origin.as_deref(), req, hardened);
        res
    } else {
        let answer = views::dispatch(route, req, incoming, state.clone(), writes).await;
        log_fault(req, &answer);
        let mut res = answer.into_response();
        insert(res.headers_mut(), XFRAME);
        common_length(&mut res);
        cors_and_security(&mut res, cors_on, origin.as_deref(), req, hardened);
        res
    }
}

/// CommonMiddleware.process_response: a body that is not streamed gets its
/// `Content-Length` here, after `X-Frame-Options`, unless the view set one.
/// actix writes the body's own length in the field's place.
fn common_length(res: &mut HttpResponse) {
    if let BodySize::Sized(n) = res.body().size() {
        if !res.headers().contains_key(CONTENT_LENGTH) {
            res.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
}

/// A request for the upstream: forwarded, its answer relayed. Under the
/// hardened profile a guarded view's request (any method but `OPTIONS`)
/// must pass the hardened guard first, so a logged-out, expired or revoked
/// token never reaches Django's decorator (which only asks whether the
/// user has some row); its refusal is answered here, through the stack.
async fn front_door(
    forwarder: &Forwarder,
    req: &HttpRequest,
    path_info: &str,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> HttpResponse {
    let hardened = state.hardened.is_some();
    if hardened && req.method() != Method::OPTIONS && forwarder.door().is_guarded(path_info) {
        if let Err(answer) = hardened::guard::check(req, state, true).await {
            log_fault(req, &answer);
            let origin = joined_header(req, "origin").map(Cow::into_owned);
            let mut res = answer.into_response();
            insert(res.headers_mut(), XFRAME);
            common_length(&mut res);
            cors_and_security(&mut res, cors::enabled(path_info), origin.as_deref(), req, hardened);
            return res;
        }
    }
    forwarder.forward(req, Body::Stream(payload)).await
}

/// CorsMiddleware.process_response, then SecurityMiddleware.process_response.
/// The hardened profile answers an `Origin` that Python's `urlparse`
/// rejects like any other instead of with the 500 page.
fn cors_and_security(res: &mut HttpResponse, cors_on: bool, origin: Option<&[u8]>, req: &HttpRequest, hardened: bool) {
    let method = req.method();
    if cors_on {
        if let Some(origin) = origin.filter(|o| !o.is_empty()) {
            if !hardened && cors::urlparse_raises(origin) {
                // The exception replaces the response with the 500 page,
                // which only the security middleware sees.
                log_fault(req, &Answer::raises("ValueError: urlparse() of the Origin header"));
                *res = middleware_error_page(500);
                security(res);
                return;
            }
        }
        res.headers_mut().append(VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = origin.filter(|o| !o.is_empty()) {
            let head = res.headers_mut();
            insert(head, ("access-control-allow-credentials", "true"));
            if let Ok(value) = HeaderValue::from_bytes(origin) {
                head.insert(HeaderName::from_static("access-control-allow-origin"), value);
            }
            if method == Method::OPTIONS {
                insert(head, ("access-control-allow-headers", cors::ALLOW_HEADERS));
                insert(head, ("access-control-allow-methods", cors::ALLOW_METHODS));
                insert(head, ("access-control-max-age", cors::MAX_AGE));
            }
        }
    }
    security(res);
}

fn security(res: &mut HttpResponse) {
    let head = res.headers_mut();
    insert(head, NOSNIFF);
    insert(head, REFERRER);
}

fn insert(head: &mut actix_web::http::header::HeaderMap, (name, value): (&'static str, &'static str)) {
    head.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
}

/// `HttpRequest.get_host()` with `ALLOWED_HOSTS = ["*"]`: the host must
/// match Django's `host_validation_re` once lower-cased and have a non-empty
/// domain. Without a `Host` header WSGI's `SERVER_NAME` is used, which is valid.
fn host_is_valid(req: &HttpRequest) -> bool {
    match joined_header(req, "host") {
        None => true,
        Some(host) => cors::django_host_ok(&host),
    }
}

/// The one log line of a 500 page, with its cause: an error when it is
/// ledger-server's own failure, a warning when the original raises there
/// too. The path is logged without its query string; causes never hold a
/// secret (see the error policy in src/error.rs).
fn log_fault(req: &HttpRequest, answer: &Answer) {
    let Answer::ServerError(fault) = answer else { return };
    let (method, path, id) = (req.method(), req.path(), request_id(req));
    let level = match fault {
        Fault::Internal(_) => log::Level::Error,
        Fault::AsOriginal(_) => log::Level::Warn,
    };
    log::log!(level, method = method.as_str(), path = path, request_id = id.as_str(); "{method} {path}: 500: {fault}");
}

/// The access line: `POST /users/login 200 1.23ms`, with the fields
/// `method`, `path` (never the query string), `status`, `duration` (ms),
/// `client` (the TCP peer's address) and `request_id`.
fn log_request(req: &HttpRequest, path: &str, status: StatusCode, started: Instant) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let level = if status.is_server_error() { log::Level::Warn } else { log::Level::Info };
    let client = req.peer_addr().map(|peer| crate::settings::canonical_ip(peer.ip()).to_string()).unwrap_or_default();
    let (method, id, duration) = (req.method(), request_id(req), (ms * 1000.0).round() / 1000.0);
    log::log!(
        target: "ledger_server::request",
        level,
        method = method.as_str(), path = path, status = status.as_u16(), duration = duration,
        client = client.as_str(), request_id = id.as_str();
        "{method} {path} {} {ms:.2}ms", status.as_u16()
    );
}

/// This request's id ([`RequestId`]: a trusted proxy's `X-Request-Id`, or
/// a fresh one), made when first needed (the access line, a 500's line, a
/// forward) and kept in the request's extensions: nothing is spent on it
/// otherwise, and it is never put into the answer.
pub(crate) fn request_id(req: &HttpRequest) -> RequestId {
    if let Some(id) = req.extensions().get::<RequestId>() {
        return id.clone();
    }
    let trusted = req.app_data::<web::Data<AppState>>().is_some_and(|state| {
        !state.trusted_proxies.0.is_empty()
            && req.peer_addr().is_some_and(|peer| state.trusted_proxies.contains(&peer.ip()))
    });
    let proxied = trusted.then(|| req.headers().get(RequestId::HEADER)).flatten();
    let id = proxied.and_then(|value| RequestId::accept(value.as_bytes())).unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(id.clone());
    id
}
