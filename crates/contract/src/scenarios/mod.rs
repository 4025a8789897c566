//! The named contract scenarios.
//!
//! A scenario is a sequence of requests played in order on a fresh database
//! (no users, no tokens, id sequences reset). Tokens are built here from the
//! secret key, so a fixture is replayed with the key it was recorded with.
//! Nothing depends on the clock: time-relative claims are in [`live`], which
//! only the live differential test plays.
//!
//! Measured on the oracle (Python 3.11): a request body parses up to a
//! nesting depth of [`BODY_MAX_DEPTH`] (one more is a `RecursionError`, the
//! 500 page); a JWT header up to [`JWT_HEADER_MAX_DEPTH`], a JWT payload up
//! to [`JWT_PAYLOAD_MAX_DEPTH`] (one more: 500).

mod bodies;
mod builder;
mod cors;
mod database;
mod front_door;
mod login;
mod logout_claims;
mod logout_tokens;
mod paths_methods;
mod signup;

pub use builder::{
    creds, creds_json, js, logout_req, nest, post_json, utf16, utf32, Scenario, BODY_MAX_DEPTH, JWT_HEADER_MAX_DEPTH,
    JWT_PAYLOAD_MAX_DEPTH, MAX_BODY,
};

pub use front_door::front_door;

use builder::{B, U1, U2};

/// The secret key fixtures are recorded with.
pub const FIXTURE_SECRET_KEY: &str = "contract-fixture-secret-key-0123456789";

/// Every named scenario, in a stable order.
pub fn all(key: &str) -> Vec<Scenario> {
    vec![
        happy_path(key),
        signup::signup_body_garbage(key),
        signup::signup_body_not_object(key),
        signup::signup_missing_keys(key),
        signup::signup_email_types(key),
        signup::signup_password_types(key),
        signup::signup_email_regex_valid(key),
        signup::signup_email_regex_invalid(key),
        signup::signup_password_regex(key),
        signup::signup_password_digits(key),
        signup::signup_duplicates(key),
        bodies::body_encodings(key),
        bodies::body_invalid_utf8(key),
        bodies::body_python_json(key),
        bodies::body_numbers(key),
        bodies::body_strings(key),
        bodies::body_nesting(key),
        bodies::body_size_limits(key),
        bodies::body_transfer_and_content_type(key),
        login::login_flow(key),
        login::login_body_garbage(key),
        login::login_missing_keys(key),
        login::login_types(key),
        login::login_password_edges(key),
        login::login_tokens_accumulate(key),
        login::login_nested_email(key),
        logout_tokens::logout_header_forms(key),
        logout_tokens::logout_segments(key),
        logout_tokens::logout_base64_header_payload(key),
        logout_tokens::logout_base64_signature(key),
        logout_tokens::logout_latin1_bytes(key),
        logout_tokens::logout_signature_and_key(key),
        logout_tokens::logout_alg(key),
        logout_tokens::logout_jose_header(key),
        logout_tokens::logout_payload_shapes(key),
        logout_claims::logout_claims_exp(key),
        logout_claims::logout_claims_nbf_iat(key),
        logout_claims::logout_claims_aud_order(key),
        logout_claims::logout_id_values(key),
        logout_claims::logout_id_huge(key),
        logout_claims::logout_id_out_of_range(key),
        logout_claims::logout_nesting(key),
        logout_claims::logout_lifecycle(key),
        paths_methods::methods_users(key),
        paths_methods::paths(key),
        paths_methods::paths_encoded(key),
        cors::cors_simple(key),
        cors::cors_preflight(key),
        cors::cors_error_pages(key),
        database::email_case_and_space(key),
        database::email_length_limits(key),
        database::token_long_ids(key),
    ]
}

/// Names of [`all`], in order.
pub fn names() -> Vec<String> {
    all(FIXTURE_SECRET_KEY).into_iter().map(|s| s.name).collect()
}

fn happy_path(key: &str) -> Scenario {
    let mut b = B::new(key, "happy_path", "signup, login, logout, logout again, login again");
    let t1 = b.tok(1);
    let t2 = b.tok(2);
    b.signup_u(U1)
        .login_u(U1)
        .logout("logout user 1", &t1)
        .logout("logout again: no token row left -> INVALID_USER with status 200", &t1)
        .login_u(U1)
        .logout("logout after a new login", &t1)
        .signup_u(U2)
        .login_u(U2)
        .logout("user 2 logs out", &t2)
        .logout("user 1 token after its logout", &t1);
    b.done()
}

/// Time-relative claims (the differential test only: a recording would go stale).
pub fn live(key: &str, now: i64) -> Vec<Scenario> {
    let mut b = B::new(key, "live_clock", "exp and nbf around the current time");
    b.signup_u(U1);
    for (claim, v) in [
        ("exp", now - 3600),
        ("exp", now - 5),
        ("exp", now + 60),
        ("exp", now + 3600),
        ("nbf", now - 5),
        ("nbf", now + 60),
        ("nbf", now + 3600),
        ("iat", now + 3600),
    ] {
        b.logout_p(&format!(r#"{{"id":1,"{claim}":{v}}}"#));
    }
    b.logout_p(&format!(r#"{{"id":1,"exp":"{}"}}"#, now + 3600));
    b.logout_p(&format!(r#"{{"id":1,"exp":{}.5}}"#, now - 30));
    vec![b.done()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_are_unique_and_safe() {
        let names = names();
        let set: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(set.len(), names.len());
        for n in &names {
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{n}");
        }
    }

    #[test]
    fn deterministic() {
        let a = all("k");
        let b = all("k");
        for (x, y) in a.iter().zip(b.iter()) {
            assert_eq!(x.requests, y.requests);
        }
    }
}
