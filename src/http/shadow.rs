//! Shadow mode's exchange of one `/users/*` request (`SHADOW = true`):
//!
//! 1. the body is read (it goes to Django as the same bytes);
//! 2. ledger-server's own answer is computed as a dry run: every read as
//!    usual, every write recorded instead of made
//!    ([`super::views::Writes::DryRun`]), no transaction or lock held;
//! 3. the rows of the request's user are read, the request is forwarded,
//!    Django's answer read, the rows read again;
//! 4. [`crate::upstream::shadow::judge`] compares, the recorder keeps it;
//! 5. the client gets Django's answer, unchanged.
//!
//! A request shadow mode does not check (outside `SHADOW_SAMPLE`, a
//! chunked body or one over 10 MiB) is forwarded as the
//! front door forwards everything else, and counted as skipped.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::middleware::respond;
use super::response::middleware_error_page;
use super::routes::Route;
use super::state::AppState;
use super::views::{Incoming, Writes};
use crate::db::{Subject, UserState};
use crate::upstream::shadow::{judge, Answer, Check, Judgement, Redactor, Verdict, Write};
use crate::upstream::{copy_end_to_end, plain, read_all, Body, Forwarder, BUFFERED};

/// The largest answer of Django's that is compared (its `/users/*`
/// answers are a few hundred bytes); a larger one is a 502.
const MAX_ANSWER: usize = 1 << 20;

pub async fn exchange(
    forwarder: &Forwarder,
    req: &HttpRequest,
    route: Option<Route>,
    cors_on: bool,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> HttpResponse {
    let Some(recorder) = state.shadow.as_ref() else {
        return forwarder.forward(req, Body::Stream(payload)).await;
    };
    if req.method() == actix_web::http::Method::CONNECT {
        // Not forwardable (see `Forwarder::send`); no view writes for it.
        recorder.skipped();
        return respond(req, route, cors_on, Incoming::Payload(payload), state, &mut Writes::Commit).await;
    }
    if !readable(req) || !recorder.sampled() {
        recorder.skipped();
        return forwarder.forward(req, Body::Stream(payload)).await;
    }
    let body = match read_all(payload).await {
        Ok(body) => body,
        Err(e) => {
            log::warn!("{} {}: shadow: the request body could not be read: {e}", req.method(), req.path());
            recorder.skipped();
            return middleware_error_page(400);
        }
    };

    let mut writes = Writes::dry_run();
    let ours = answer_of(respond(req, route, cors_on, Incoming::Read(body.to_vec()), state, &mut writes).await).await;
    let (intended, subject) = match writes {
        Writes::DryRun { intended, subject } => (intended, subject),
        Writes::Commit => (Vec::new(), None),
    };
    let before = rows(state, subject.as_ref()).await;

    let sent = forwarder.send(req, Body::Bytes(body.clone())).await;
    let theirs = match sent {
        Ok(theirs) => theirs,
        Err(failure) => {
            recorder.skipped();
            return failure.log_and_answer(req, &forwarder.door().upstream);
        }
    };
    let status = theirs.status();
    let head = theirs.headers().clone();
    let mut theirs = theirs.timeout(forwarder.door().timeout);
    let django_body = match theirs.body().limit(MAX_ANSWER).await {
        Ok(bytes) => bytes,
        Err(e) => {
            log::error!(
                "{} {}: 502: upstream {}: its answer: {e}",
                req.method(),
                req.path(),
                forwarder.door().upstream
            );
            recorder.skipped();
            return plain(actix_web::http::StatusCode::BAD_GATEWAY);
        }
    };
    let after = rows(state, subject.as_ref()).await;

    let django =
        Answer::new(status.as_u16(), head.iter().map(|(n, v)| (n.as_str(), v.as_bytes())), django_body.to_vec());
    let path = route.map_or("(no route)", Route::path);
    let email = match (&subject, route) {
        (Some(Subject::Email(email)), Some(Route::Signup)) => Some(email.as_str()),
        _ => None,
    };
    let judgement = judge(&Check {
        route: path,
        ours: &ours,
        django: &django,
        intended: &intended,
        rows: before.as_ref().zip(after.as_ref()),
        email,
    });
    let line = (judgement.verdict != Verdict::Matched)
        .then(|| report_line(&recorder.redactor, req, &body, &ours, &django, &intended, &judgement));
    recorder.record(&format!("{} {path}", req.method()), django.label(), judgement.verdict, line);

    let mut res = HttpResponse::build(status);
    let mut relayed = HeaderMap::new();
    copy_end_to_end(&head, &mut relayed);
    for (name, value) in relayed {
        res.append_header((name, value));
    }
    res.body(django_body)
}

/// A body shadow mode reads whole: a declared length, at most
/// [`BUFFERED`] (Django reads at most 2.5 MiB and refuses a larger one, or
/// answers without reading it).
fn readable(req: &HttpRequest) -> bool {
    if req.headers().contains_key(header::TRANSFER_ENCODING) {
        return false;
    }
    match req.headers().get(header::CONTENT_LENGTH) {
        None => true,
        Some(v) => v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n <= BUFFERED),
    }
}

/// The user's rows, or `None` (no user named, or the read failed: then
/// the writes are not compared, and the failure is logged).
async fn rows(state: &AppState, subject: Option<&Subject>) -> Option<UserState> {
    let subject = subject?.clone();
    match state.db.user_state(subject).await {
        Ok(rows) => Some(rows),
        Err(e) => {
            log::warn!("shadow: the user's rows could not be read: {e}");
            None
        }
    }
}

/// ledger-server's dry-run answer as the client would have received it.
async fn answer_of(res: HttpResponse) -> Answer {
    let status = res.status().as_u16();
    let head = res.headers().clone();
    let body = actix_web::body::to_bytes(res.into_body()).await.map(|b| b.to_vec()).unwrap_or_default();
    let mut headers: Vec<(&str, &[u8])> = head.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
    // actix writes the length of a sized body when it sends it
    let length = body.len().to_string();
    if !head.contains_key(header::CONTENT_LENGTH) {
        headers.push(("content-length", length.as_bytes()));
    }
    Answer::new(status, headers.into_iter(), body)
}

/// The redacted JSON line of a difference.
fn report_line(
    redactor: &Redactor,
    req: &HttpRequest,
    body: &[u8],
    ours: &Answer,
    django: &Answer,
    intended: &[Write],
    judgement: &Judgement,
) -> String {
    let side = |answer: &Answer| {
        let headers: Vec<_> =
            answer.headers.iter().map(|(n, v)| json!([n, redactor.text(v)])).collect::<Vec<serde_json::Value>>();
        json!({"status": answer.status, "headers": headers, "body": cut(redactor.text(&answer.body))})
    };
    let writes = |writes: &[Write]| writes.iter().map(|w| describe(redactor, w)).collect::<Vec<_>>();
    let authorization = req.headers().get(header::AUTHORIZATION).map(|v| redactor.digest(v.as_bytes()));
    json!({
        "type": match judgement.verdict { Verdict::Racy => "racy", _ => "mismatch" },
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "method": req.method().as_str(),
        "path": req.path(),
        "kinds": judgement.kinds,
        "request": {"body": cut(redactor.request(body)), "authorization": authorization},
        "ours": side(ours),
        "django": side(django),
        "writes": {"intended": writes(intended), "observed": writes(&judgement.observed)},
    })
    .to_string()
}

fn describe(redactor: &Redactor, write: &Write) -> String {
    match write {
        Write::CreateUser { email } => format!("create user {email}"),
        Write::AddToken { user_id, token } => {
            format!("add token {} of user {user_id}", redactor.digest(token.as_bytes()))
        }
        Write::DeleteToken { token_id } => format!("delete token row {token_id}"),
    }
}

/// At most 2,000 characters of a body.
fn cut(text: String) -> String {
    match text.char_indices().nth(2000) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}
