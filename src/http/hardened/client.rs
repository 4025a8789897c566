//! Who is asking: the client address the throttle counts and the session
//! list shows, and the `User-Agent` it records.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;

use crate::http::headers::joined_header;
use crate::settings::{canonical_ip, TrustedProxies};

/// The longest `User-Agent` a session records, in characters.
const MAX_USER_AGENT: usize = 256;

/// The client's address: the TCP peer; when the peer is a trusted proxy,
/// the rightmost `X-Forwarded-For` entry that is not itself a trusted
/// proxy (each proxy appends the address it got the request from, so the
/// entries left of the first untrusted one are the client's to forge).
/// An entry that is not an address ends the walk at the peer.
pub(super) fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> String {
    let Some(peer) = req.peer_addr().map(|a| canonical_ip(a.ip())) else {
        return String::from("unknown");
    };
    if trusted.0.is_empty() || !trusted.contains(&peer) {
        return peer.to_string();
    }
    let Some(forwarded) = joined_header(req, "x-forwarded-for") else {
        return peer.to_string();
    };
    let text = String::from_utf8_lossy(&forwarded);
    for entry in text.rsplit(',') {
        let Some(ip) = parse_entry(entry.trim()) else { break };
        if !trusted.contains(&ip) {
            return ip.to_string();
        }
    }
    peer.to_string()
}

/// `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let ip = match entry.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => entry.parse::<SocketAddr>().ok()?.ip(),
    };
    Some(canonical_ip(ip))
}

/// The `User-Agent` as WSGI decodes it (latin-1), cut to 256 characters;
/// empty when absent.
pub(super) fn user_agent(req: &HttpRequest) -> String {
    match joined_header(req, "user-agent") {
        None => String::new(),
        Some(bytes) => bytes.iter().filter(|&&b| b != 0).take(MAX_USER_AGENT).map(|&b| b as char).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies(
            list.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<ipnet::IpNet>().unwrap_or_else(|_| s.parse::<IpAddr>().unwrap().into()))
                .collect(),
        )
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let req = |xff: &str| {
            TestRequest::default().peer_addr(peer).insert_header(("x-forwarded-for", xff)).to_http_request()
        };
        assert_eq!(client_ip(&req("1.2.3.4"), &trusted("")), "10.0.0.5", "no proxy is trusted");
        assert_eq!(client_ip(&req("1.2.3.4"), &trusted("192.168.0.0/16")), "10.0.0.5", "this peer is not trusted");
        assert_eq!(client_ip(&req("1.2.3.4"), &trusted("10.0.0.0/8")), "1.2.3.4");
        assert_eq!(
            client_ip(&req("6.6.6.6, 1.2.3.4"), &trusted("10.0.0.0/8")),
            "1.2.3.4",
            "the client forged the left one"
        );
        assert_eq!(client_ip(&req("1.2.3.4, 10.0.0.9"), &trusted("10.0.0.0/8")), "1.2.3.4", "two proxies");
        assert_eq!(client_ip(&req("junk, 10.0.0.9"), &trusted("10.0.0.0/8")), "10.0.0.5");
        assert_eq!(client_ip(&req("[2001:db8::1]:443"), &trusted("10.0.0.5")), "2001:db8::1");
        let mapped: SocketAddr = "[::ffff:10.0.0.5]:4000".parse().unwrap();
        let req =
            TestRequest::default().peer_addr(mapped).insert_header(("x-forwarded-for", "1.2.3.4")).to_http_request();
        assert_eq!(client_ip(&req, &trusted("10.0.0.5")), "1.2.3.4", "an IPv4-mapped peer is its IPv4 address");
    }

    #[test]
    fn user_agents_are_latin1_and_cut() {
        let req = TestRequest::default().to_http_request();
        assert_eq!(user_agent(&req), "");
        let long = "a".repeat(300);
        let req = TestRequest::default().insert_header(("user-agent", long.as_str())).to_http_request();
        assert_eq!(user_agent(&req).len(), 256);
        let value = actix_web::http::header::HeaderValue::from_bytes(b"caf\xe9").unwrap();
        let req = TestRequest::default().insert_header(("user-agent", value)).to_http_request();
        assert_eq!(user_agent(&req), "caf\u{e9}");
    }
}
