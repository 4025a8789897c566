//! The answers the original gives, as Django builds them: `JsonResponse`,
//! the default 400/404/500 pages, `HttpResponseNotAllowed` and `View.options`.
//! The headers every response gets from Django's middleware are added in
//! [`super::middleware`].

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::body::{BodyStream, BoxBody};
use actix_web::http::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use pycompat::pyrepr::dumps_object;

/// `View.http_method_names` the users views implement, as Django lists them.
pub const ALLOW_POST: &str = "POST, OPTIONS";
/// The same for the hardened profile's views of their own.
pub const ALLOW_GET: &str = "GET, HEAD, OPTIONS";
pub const ALLOW_DELETE: &str = "DELETE, OPTIONS";

/// Django's `ERROR_PAGE_TEMPLATE` (django/views/defaults.py).
fn error_page(title: &str, details: &str) -> String {
    format!(
        "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>{title}</title>\n</head>\n<body>\n  <h1>{title}</h1><p>{details}</p>\n</body>\n</html>\n"
    )
}

/// `JsonResponse({"message": TEXT}, status=STATUS)` for a literal `TEXT` of
/// capitals and underscores, which `json.dumps` writes as it is: the body
/// is built at compile time (the tests compare it with [`Answer::json`]).
macro_rules! message {
    ($status:expr, $text:literal) => {
        $crate::http::response::Answer::Json {
            status: $status,
            body: std::borrow::Cow::Borrowed(concat!("{\"message\": \"", $text, "\"}")),
        }
    };
}
pub(crate) use message;

/// Why a request got Django's 500 page. The middleware logs it once, with
/// the request's method and path (see the error policy in src/error.rs).
#[derive(Debug, Clone)]
pub enum Fault {
    /// The original raises here too, on the same input (its own bug,
    /// reproduced): the Python exception it raises.
    AsOriginal(&'static str),
    /// ledger-server's own failure (the database, a thread pool), with its
    /// cause.
    Internal(Arc<dyn std::error::Error + Send + Sync>),
}

impl Fault {
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Fault {
        Fault::Internal(Arc::new(cause))
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::AsOriginal(exception) => write!(f, "{exception} (as the original raises)"),
            Fault::Internal(cause) => write!(f, "{cause}"),
        }
    }
}

/// Faults are equal when they say the same (tests compare answers).
impl PartialEq for Fault {
    fn eq(&self, other: &Fault) -> bool {
        match (self, other) {
            (Fault::AsOriginal(a), Fault::AsOriginal(b)) => a == b,
            (Fault::Internal(a), Fault::Internal(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

impl Eq for Fault {}

/// One answer of the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `JsonResponse(data, status=status)`; `body` is already `json.dumps`ed.
    Json { status: u16, body: Cow<'static, str> },
    /// Django's 400 page (`RequestDataTooBig`, a `SuspiciousOperation`).
    BadRequest,
    /// Django's 404 page.
    NotFound,
    /// Django's 500 page: an exception escaped the view; why, for the log.
    ServerError(Fault),
    /// `HttpResponseNotAllowed`: 405 with `Allow` and an empty body.
    NotAllowed { allow: &'static str },
    /// `View.options`: 200 with `Allow` and `Content-Length: 0`.
    Options { allow: &'static str },
    /// ledger-server's own answer, which Django has no counterpart for
    /// (its workers simply stop answering): the bcrypt queue is full. 503
    /// with `Retry-After` (seconds) and `{"message": "SERVER_BUSY"}`.
    Busy { retry_after: u64 },
    /// The hardened profile's refusal of a login or signup while its
    /// failure count is over the limit: 429 with `Retry-After` (seconds)
    /// and `{"message": "TOO_MANY_ATTEMPTS"}`.
    Throttled { retry_after: u64 },
}

impl Answer {
    /// The 500 page for an exception the original raises here too.
    pub fn raises(exception: &'static str) -> Answer {
        Answer::ServerError(Fault::AsOriginal(exception))
    }

    /// A `JsonResponse` of string pairs, in order.
    pub fn json(status: u16, pairs: &[(&str, &str)]) -> Answer {
        Answer::Json { status, body: Cow::Owned(dumps_object(pairs)) }
    }

    pub fn status(&self) -> u16 {
        match self {
            Answer::Json { status, .. } => *status,
            Answer::BadRequest => 400,
            Answer::NotFound => 404,
            Answer::ServerError(_) => 500,
            Answer::NotAllowed { .. } => 405,
            Answer::Options { .. } => 200,
            Answer::Busy { .. } => 503,
            Answer::Throttled { .. } => 429,
        }
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = HttpResponse::build(status);
        match self {
            Answer::Json { body, .. } => builder.insert_header((CONTENT_TYPE, "application/json")).body(body),
            Answer::BadRequest => {
                builder.insert_header((CONTENT_TYPE, "text/html")).body(error_page("Bad Request (400)", ""))
            }
            Answer::NotFound => builder
                .insert_header((CONTENT_TYPE, "text/html"))
                .body(error_page("Not Found", "The requested resource was not found on this server.")),
            Answer::ServerError(_) => {
                builder.insert_header((CONTENT_TYPE, "text/html")).body(error_page("Server Error (500)", ""))
            }
            Answer::NotAllowed { allow } => {
                builder.insert_header((CONTENT_TYPE, "text/html; charset=utf-8")).insert_header((ALLOW, allow)).finish()
            }
            Answer::Options { allow } => builder
                .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
                .insert_header((ALLOW, allow))
                .insert_header((CONTENT_LENGTH, HeaderValue::from_static("0")))
                .finish(),
            Answer::Busy { retry_after } => builder
                .insert_header((CONTENT_TYPE, "application/json"))
                .insert_header((RETRY_AFTER, retry_after))
                .body(r#"{"message": "SERVER_BUSY"}"#),
            Answer::Throttled { retry_after } => builder
                .insert_header((CONTENT_TYPE, "application/json"))
                .insert_header((RETRY_AFTER, retry_after))
                .body(r#"{"message": "TOO_MANY_ATTEMPTS"}"#),
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "answer {}", self.status())
    }
}

impl ResponseError for Answer {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        self.clone().into_response()
    }
}

impl actix_web::Responder for Answer {
    type Body = BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> HttpResponse<Self::Body> {
        self.into_response()
    }
}

/// An error page raised inside Django's middleware rather than the view
/// (a bad `Host`, an `Origin` that `urlparse` rejects): the inner
/// middleware never sees it, so it has no `Content-Length` and gunicorn
/// sends it chunked.
pub fn middleware_error_page(status: u16) -> HttpResponse {
    let (code, title) = match status {
        400 => (StatusCode::BAD_REQUEST, "Bad Request (400)"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Server Error (500)"),
    };
    let page = error_page(title, "");
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(actix_web::web::Bytes::from(page)) });
    HttpResponse::build(code).insert_header((CONTENT_TYPE, "text/html")).body(BodyStream::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_match_django_templates() {
        let page = error_page("Not Found", "The requested resource was not found on this server.");
        assert_eq!(page.len(), 179);
        assert!(page.starts_with("\n<!doctype html>\n"));
        assert_eq!(
            Answer::json(200, &[("message", "LOGOUT_SUCCESS")]),
            Answer::Json { status: 200, body: "{\"message\": \"LOGOUT_SUCCESS\"}".into() }
        );
    }

    #[test]
    fn literal_messages_are_json_dumps() {
        let cases = [
            (message!(400, "JWT_DECODE_ERROR"), "JWT_DECODE_ERROR"),
            (message!(400, "JWT_SIGNATURE_ERROR"), "JWT_SIGNATURE_ERROR"),
            (message!(401, "INVALID_USER"), "INVALID_USER"),
            (message!(200, "LOGOUT_SUCCESS"), "LOGOUT_SUCCESS"),
            (message!(400, "KEY_ERROR"), "KEY_ERROR"),
        ];
        for (literal, text) in cases {
            assert_eq!(literal, Answer::json(literal.status(), &[("message", text)]));
        }
    }
}
