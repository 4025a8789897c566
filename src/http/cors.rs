//! The parts of django-cors-headers 3.10 and Django's host check whose
//! answers depend on Python library details.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// `CORS_ALLOW_HEADERS`, joined as the middleware joins them.
pub const ALLOW_HEADERS: &str =
    "accept, accept-encoding, authorization, content-type, dnt, origin, user-agent, x-csrftoken, x-requested-with";
/// `CORS_ALLOW_METHODS`, joined.
pub const ALLOW_METHODS: &str = "DELETE, GET, OPTIONS, PATCH, POST, PUT";
/// django-cors-headers' default `CORS_PREFLIGHT_MAX_AGE`.
pub const MAX_AGE: &str = "86400";

/// `re.match(r"^.*$", path_info)` (the default `CORS_URLS_REGEX`): `.`
/// stops at a newline and `$` matches only at the end or before a final
/// newline, so a path with a newline anywhere but last is not CORS-enabled.
pub fn enabled(path_info: &str) -> bool {
    let body = path_info.strip_suffix('\n').unwrap_or(path_info);
    !body.contains('\n')
}

/// Whether Python 3.11's `urllib.parse.urlparse(origin)` raises
/// `ValueError` (an unbalanced or invalid bracketed host), which the CORS
/// middleware does not catch.
pub fn urlparse_raises(origin: &[u8]) -> bool {
    // WSGI decodes header bytes as latin-1.
    let url: String = origin.iter().map(|&b| b as char).collect();
    let url = url.trim_start_matches(|c: char| c <= ' ');
    let url: String = url.chars().filter(|c| !matches!(c, '\t' | '\r' | '\n')).collect();
    let mut rest = url.as_str();
    if let Some(i) = rest.find(':') {
        let scheme = &rest[..i];
        let first_alpha = rest.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if i > 0 && first_alpha && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            rest = &rest[i + 1..];
        }
    }
    let Some(after) = rest.strip_prefix("//") else { return false };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let netloc = &after[..end];
    match (netloc.contains('['), netloc.contains(']')) {
        (false, false) => false,
        (true, true) => {
            let inside = netloc.split_once('[').map(|(_, r)| r).unwrap_or("");
            let host = inside.split_once(']').map(|(h, _)| h).unwrap_or(inside);
            !bracketed_host_ok(host)
        }
        _ => true,
    }
}

/// `urllib.parse._check_bracketed_host`: IPvFuture, or an IPv6 address
/// (with an optional `%scope`); an IPv4 address in brackets is refused.
fn bracketed_host_ok(host: &str) -> bool {
    static FUTURE: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\Av[a-fA-F0-9]+\..+\z").expect("valid regex"));
    if host.starts_with('v') {
        return FUTURE.is_match(host) && !host.contains('\n');
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return false;
    }
    let (address, scope) = match host.split_once('%') {
        Some((a, s)) => (a, Some(s)),
        None => (host, None),
    };
    if let Some(scope) = scope {
        if scope.is_empty() || scope.contains('%') {
            return false;
        }
    }
    address.parse::<Ipv6Addr>().is_ok()
}

/// `split_domain_port` + `validate_host` with `ALLOWED_HOSTS = ["*"]`.
pub fn django_host_ok(host: &[u8]) -> bool {
    // `name[:port]` without brackets: the regex's first form, by hand.
    if host.first() != Some(&b'[') {
        let (name, port) = match host.iter().rposition(|&b| b == b':') {
            Some(i) => (&host[..i], Some(&host[i + 1..])),
            None => (host, None),
        };
        let name_ok = !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
        if !(name_ok && port_ok) {
            return false;
        }
        let domain = name.strip_suffix(b".").unwrap_or(name);
        return !domain.is_empty();
    }
    static HOST: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r"(?-u)\A(?:[a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(?::[0-9]+)?\z")
            .expect("valid regex")
    });
    let lower = host.to_ascii_lowercase();
    if !HOST.is_match(&lower) {
        return false;
    }
    if lower.ends_with(b"]") {
        return true;
    }
    let domain = match lower.iter().rposition(|&b| b == b':') {
        Some(i) => &lower[..i],
        None => &lower[..],
    };
    let domain = domain.strip_suffix(b".").unwrap_or(domain);
    !domain.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--django-settings` checks CORS_ALLOW_METHODS/HEADERS against these lists.
    #[test]
    fn django_settings_check_the_headers_answered() {
        assert_eq!(crate::settings::CORS_ALLOW_METHODS.join(", "), ALLOW_METHODS);
        assert_eq!(crate::settings::CORS_ALLOW_HEADERS.join(", "), ALLOW_HEADERS);
    }

    #[test]
    fn urlparse_errors_match_python() {
        // Answers from Python 3.11.7's urllib.parse.urlparse.
        for ok in [
            "http://x",
            "http://[::1]",
            "x:[",
            "http://[::1]]",
            "http://[v1.x]",
            "null",
            "",
            "http://a/[",
            "http://[fe80::1%eth0]",
        ] {
            assert!(!urlparse_raises(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "http://[",
            "http://]",
            "http://[abc]",
            "//[x]",
            "http://a]b",
            "http://[1.2.3.4]",
            "http://[v1]",
            "http://[fe80::1%]",
        ] {
            assert!(urlparse_raises(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn host_validation() {
        for ok in
            ["127.0.0.1:8000", "example.com", "EXAMPLE.com.", "[::1]:80", "a..b", "-", "A.b:08", "[::1]", "[a:b]:1"]
        {
            assert!(django_host_ok(ok.as_bytes()), "{ok}");
        }
        for bad in ["", ".", "bad host", "a:b", "a_b.com", ":80", "é.com", "a,b", "a:", "a:8:9", ".:80", "[::1", "[x]"]
        {
            assert!(!django_host_ok(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn cors_regex_and_newlines() {
        assert!(enabled("/users/login"));
        assert!(enabled("/a\n"));
        assert!(!enabled("/a\nb"));
        assert!(!enabled("/a\n\n"));
    }
}
