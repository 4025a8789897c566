//! URL resolution as Django does it: `ROOT_URLCONF` maps `users` +
//! `/signup`, `/login`, `/logout` (no trailing slash, `APPEND_SLASH = False`)
//! against `path_info`, the fully percent-decoded request path.

use std::borrow::Cow;

/// The users app's URLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Signup,
    Login,
    Logout,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::Signup, Route::Login, Route::Logout];

    pub fn path(self) -> &'static str {
        match self {
            Route::Signup => "/users/signup",
            Route::Login => "/users/login",
            Route::Logout => "/users/logout",
        }
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

/// The route for a `path_info`, if any.
pub fn resolve(path_info: &str) -> Option<Route> {
    Route::ALL.into_iter().find(|r| r.path() == path_info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_wsgi() {
        assert_eq!(path_info(b"/users/%73ignup"), "/users/signup");
        assert_eq!(resolve(&path_info(b"/users/%73ignup")), Some(Route::Signup));
        assert_eq!(path_info(b"/a%2"), "/a%2");
        assert_eq!(path_info(b"/a%zz"), "/a%zz");
        assert_eq!(path_info(b"/a%0A"), "/a\n");
        assert_eq!(path_info(b"/%E2%82%AC"), "/\u{20ac}");
        assert_eq!(path_info(b"/%FFx"), "/%FFx");
        assert_eq!(resolve("/users/signup/"), None);
        assert_eq!(resolve("/users/Signup"), None);
    }
}
