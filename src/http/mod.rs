//! The Django-compatible HTTP layer: Django's middleware stack
//! ([`middleware`]), its URL resolver ([`routes`]), the users views
//! ([`views`]) with `log_in_confirm` as an extractor ([`guard`]), the
//! answers Django builds ([`response`]), and how the refusals and failures
//! of the layers below become those answers ([`refusals`]); below them,
//! each client connection's deadlines and back-pressure ([`conn`]); and
//! SIGHUP's reload of the settings the running server can change
//! ([`reload`]).

pub mod conn;
pub mod cors;
pub mod guard;
pub mod hardened;
pub mod headers;
pub mod middleware;
pub mod refusals;
pub mod reload;
pub mod response;
pub mod routes;
pub mod shadow;
pub mod state;
pub mod views;

use actix_web::web;

pub use state::AppState;

/// Every request goes to [`middleware::django_stack`], which routes it as
/// Django's URL resolver does (by `path_info`) to [`views::dispatch`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.default_service(web::to(middleware::django_stack));
}
