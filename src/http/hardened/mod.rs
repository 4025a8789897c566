//! The hardened profile (`PROFILE = "hardened"`): the original's views with
//! its security flaws fixed, for the same frontend. What changes, answer by
//! answer, is the README's "Hardened profile" section; in short:
//!
//! - every login issues a fresh, expiring token ([`crate::auth::session`])
//!   whose digest, not the token, is stored;
//! - the guard ([`guard::Session`]) checks the presented token's own row:
//!   a logged-out, expired or unknown token is 401 `INVALID_USER`;
//! - logout deletes exactly that row; `logout-all` and the session list
//!   and deletion are new ([`views`]);
//! - failed logins and signups are counted in the database and throttled
//!   (429 `TOO_MANY_ATTEMPTS`), and every refused login costs one bcrypt
//!   check, known email or not;
//! - malformed input gets a 4xx message of the original's vocabulary,
//!   never the 500 page, which is kept for real faults.
//!
//! Routing is the compat one plus three paths ([`super::routes`]); the
//! method check comes before the guard, as in Django's `View.dispatch`.

mod client;
pub mod guard;
mod json;
pub mod views;

use actix_web::http::Method;
use actix_web::{web, HttpRequest};

use super::response::{Answer, ALLOW_DELETE, ALLOW_GET, ALLOW_POST};
use super::routes::Route;
use super::state::AppState;
use super::views::Incoming;
pub(crate) use crate::db::unix_now;

/// `View.dispatch` for the hardened views: the handler for the method,
/// `OPTIONS` answered with the view's methods, else 405.
pub async fn dispatch(route: Route, req: &HttpRequest, payload: Incoming, state: web::Data<AppState>) -> Answer {
    let method = req.method();
    let allow = match route {
        Route::Sessions => ALLOW_GET,
        Route::Session(_) => ALLOW_DELETE,
        Route::Signup | Route::Login | Route::Logout | Route::LogoutAll => ALLOW_POST,
    };
    if method == Method::OPTIONS {
        return Answer::Options { allow };
    }
    let allowed = match route {
        Route::Sessions => method == Method::GET || method == Method::HEAD,
        Route::Session(_) => method == Method::DELETE,
        _ => method == Method::POST,
    };
    if !allowed {
        return Answer::NotAllowed { allow };
    }
    match route {
        Route::Signup => views::signup(req, payload, state).await,
        Route::Login => views::login(req, payload, state).await,
        // logout and logout-all delete the presented session: no "last seen" write first
        Route::Logout => views::guarded(req, state, false, views::logout).await,
        Route::LogoutAll => views::guarded(req, state, false, views::logout_all).await,
        Route::Sessions => views::guarded(req, state, true, views::sessions).await,
        Route::Session(id) => {
            views::guarded(req, state, true, move |session, state| views::delete_session(session, state, id)).await
        }
    }
}
