//! The benchmark floor: the least an actix-web 4 server can do per request.
//!
//! Every request (any method, any path) gets the body ledger-server sends
//! for a token with a bad signature, with the same status and content type,
//! from a plain handler: no middleware, no routing table, no state. The
//! worker count is actix's default, as in ledger-server, so
//! `bench/run.sh` can use its throughput as the ceiling for the `reject`
//! workload.
//!
//!     cargo build --release -p ledger-bench-probes --bin floor
//!     BIND=127.0.0.1:8099 target/release/floor

use actix_web::{web, App, HttpResponse, HttpServer};

const BODY: &str = r#"{"message": "JWT_SIGNATURE_ERROR"}"#;

async fn answer() -> HttpResponse {
    HttpResponse::BadRequest().content_type("application/json").body(BODY)
}

fn main() -> std::io::Result<()> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8099".to_owned());
    actix_rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().default_service(web::to(answer))).bind(&bind)?.run().await
    })
}
