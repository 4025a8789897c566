//! URL resolution as Django does it: `ROOT_URLCONF` maps `users` +
//! `/signup`, `/login`, `/logout` (no trailing slash, `APPEND_SLASH = False`)
//! against `path_info`, the fully percent-decoded request path.

use std::borrow::Cow;

use crate::telemetry::metrics;

/// The users app's URLs, and the hardened profile's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Signup,
    Login,
    Logout,
    /// Hardened only: `/users/logout-all`.
    LogoutAll,
    /// Hardened only: `/users/sessions`.
    Sessions,
    /// Hardened only: `/users/sessions/<digits>`; `None` when the number
    /// is beyond 64 bits (no session has such an id).
    Session(Option<i64>),
}

impl Route {
    pub const ALL: [Route; 3] = [Route::Signup, Route::Login, Route::Logout];

    pub fn path(self) -> &'static str {
        match self {
            Route::Signup => "/users/signup",
            Route::Login => "/users/login",
            Route::Logout => "/users/logout",
            Route::LogoutAll => "/users/logout-all",
            Route::Sessions | Route::Session(_) => "/users/sessions",
        }
    }
}

/// The metrics' name of where a request went: its route, else the front
/// door when there is one (`forwarded`), else Django's 404.
pub fn metric(route: Option<Route>, forwarded: bool) -> metrics::Route {
    match route {
        Some(Route::Signup) => metrics::Route::Signup,
        Some(Route::Login) => metrics::Route::Login,
        Some(Route::Logout) => metrics::Route::Logout,
        Some(Route::LogoutAll) => metrics::Route::LogoutAll,
        Some(Route::Sessions) => metrics::Route::Sessions,
        Some(Route::Session(_)) => metrics::Route::Session,
        None if forwarded => metrics::Route::Upstream,
        None => metrics::Route::NotFound,
    }
}

/// `PATH_INFO` as gunicorn and Django derive it: percent-escapes decoded to
/// bytes, then UTF-8 (Django re-escapes bytes that are not valid UTF-8, so
/// such a path can never match a route).
pub fn path_info(raw_path: &[u8]) -> Cow<'_, str> {
    if !raw_path.contains(&b'%') {
        if let Ok(text) = std::str::from_utf8(raw_path) {
            return Cow::Borrowed(text);
        }
    }
    Cow::Owned(decoded_path_info(raw_path))
}

fn decoded_path_info(raw_path: &[u8]) -> String {
    let decoded = percent_decode(raw_path);
    match String::from_utf8(decoded) {
        Ok(text) => text,
        Err(e) => {
            // repercent_broken_unicode: keep the valid text, escape the rest.
            let bytes = e.into_bytes();
            let mut out = String::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                match std::str::from_utf8(rest) {
                    Ok(valid) => {
                        out.push_str(valid);
                        break;
                    }
                    Err(err) => {
                        let (valid, after) = rest.split_at(err.valid_up_to());
                        out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                        let bad = err.error_len().unwrap_or(after.len());
                        for b in &after[..bad] {
                            out.push_str(&format!("%{b:02X}"));
                        }
                        rest = &after[bad..];
                    }
                }
            }
            out
        }
    }
}

/// `urllib.parse.unquote_to_bytes`: `%XX` with two hex digits becomes a
/// byte; anything else stays as it is.
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// The route for a `path_info`, if any; `hardened` adds that profile's own.
pub fn resolve(path_info: &str, hardened: bool) -> Option<Route> {
    if let Some(route) = Route::ALL.into_iter().find(|r| r.path() == path_info) {
        return Some(route);
    }
    if !hardened {
        return None;
    }
    match path_info {
        "/users/logout-all" => Some(Route::LogoutAll),
        "/users/sessions" => Some(Route::Sessions),
        _ => {
            let digits = path_info.strip_prefix("/users/sessions/")?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(Route::Session(digits.parse().ok()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_wsgi() {
        assert_eq!(path_info(b"/users/%73ignup"), "/users/signup");
        assert_eq!(resolve(&path_info(b"/users/%73ignup"), false), Some(Route::Signup));
        assert_eq!(path_info(b"/a%2"), "/a%2");
        assert_eq!(path_info(b"/a%zz"), "/a%zz");
        assert_eq!(path_info(b"/a%0A"), "/a\n");
        assert_eq!(path_info(b"/%E2%82%AC"), "/\u{20ac}");
        assert_eq!(path_info(b"/%FFx"), "/%FFx");
        assert_eq!(resolve("/users/signup/", false), None);
        assert_eq!(resolve("/users/Signup", false), None);
    }

    #[test]
    fn hardened_routes_only_under_hardened() {
        for path in ["/users/logout-all", "/users/sessions", "/users/sessions/1"] {
            assert_eq!(resolve(path, false), None, "{path}");
        }
        assert_eq!(resolve("/users/logout-all", true), Some(Route::LogoutAll));
        assert_eq!(resolve("/users/sessions", true), Some(Route::Sessions));
        assert_eq!(resolve("/users/sessions/42", true), Some(Route::Session(Some(42))));
        assert_eq!(resolve("/users/sessions/0042", true), Some(Route::Session(Some(42))));
        assert_eq!(resolve("/users/sessions/99999999999999999999", true), Some(Route::Session(None)));
        for path in [
            "/users/sessions/",
            "/users/sessions/-1",
            "/users/sessions/1a",
            "/users/sessions/1/",
            "/users/sessions/\u{661}",
        ] {
            assert_eq!(resolve(path, true), None, "{path}");
        }
        assert_eq!(resolve("/users/login", true), Some(Route::Login));
    }
}
