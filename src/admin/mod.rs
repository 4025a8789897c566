//! The admin listener (`ADMIN_BIND`): a second HTTP listener of the same
//! process and actix System, with a tiny application of its own (none of
//! Django's middleware, so the main port answers exactly as before):
//!
//! - `GET /health/alive`: 200 `{"status": "alive"}` while the process
//!   serves (no database work);
//! - `GET /health/ready`: 200 when the database answers, `users` and
//!   `tokens` are as Django's migration makes them and the upstream (when
//!   `UPSTREAM` is set) answers; else 503 naming each failed check
//!   ([`ready`]);
//! - `GET /metrics`: [`crate::telemetry::metrics`] in Prometheus' text
//!   format.
//!
//! `HEAD` is answered as `GET`; another method is 405 with `Allow`, another
//! path 404, each with a one-line plain-text body.

mod ready;

use std::net::TcpListener;

use actix_web::http::header::{ALLOW, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::db::Database;
use crate::settings::{Profile, Settings};
use crate::telemetry::metrics;

pub(crate) use ready::Readiness;

/// What the admin handlers share.
struct Admin {
    db: Database,
    ready: Readiness,
}

/// Serves the admin application on `listener` (one worker, signals left to
/// the main server: stop it with the returned server's handle).
pub(crate) fn server(
    listener: TcpListener,
    db: Database,
    settings: &Settings,
) -> std::io::Result<actix_web::dev::Server> {
    let profile = match settings.profile {
        Profile::Compat => metrics::Profile::Compat,
        Profile::Hardened => metrics::Profile::Hardened,
    };
    metrics::build_info(env!("CARGO_PKG_VERSION"), db.backend_name(), profile);
    let ready = Readiness::new(db.clone(), settings.upstream.clone());
    let admin = web::Data::new(Admin { db, ready });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(admin.clone())
            .service(get("/health/alive", alive))
            .service(get("/health/ready", health_ready))
            .service(get("/metrics", render_metrics))
            .default_service(web::to(|| async { plain(StatusCode::NOT_FOUND, "404 Not Found\n") }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    Ok(server)
}

/// A resource answering `GET` and `HEAD` with `handler`, other methods 405.
fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path).route(web::get().to(handler.clone())).route(web::head().to(handler)).default_service(web::to(
        || async {
            let mut res = plain(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed\n");
            res.headers_mut().insert(ALLOW, actix_web::http::header::HeaderValue::from_static("GET, HEAD"));
            res
        },
    ))
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    HttpResponse::build(status).insert_header((CONTENT_TYPE, "text/plain; charset=utf-8")).body(text)
}

async fn alive() -> HttpResponse {
    HttpResponse::Ok().insert_header((CONTENT_TYPE, "application/json")).body(r#"{"status": "alive"}"#)
}

async fn health_ready(admin: web::Data<Admin>) -> HttpResponse {
    let verdict = admin.ready.verdict().await;
    let status = if verdict.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    HttpResponse::build(status).insert_header((CONTENT_TYPE, "application/json")).body(verdict.to_json())
}

async fn render_metrics(admin: web::Data<Admin>) -> HttpResponse {
    let (size, open, idle) = admin.db.pool_state();
    metrics::pool_state(size, open, idle);
    HttpResponse::Ok().insert_header((CONTENT_TYPE, metrics::CONTENT_TYPE)).body(metrics::render())
}
