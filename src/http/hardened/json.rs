//! `json.dumps` of the session list, as Django's `JsonResponse` would
//! write it (`", "` and `": "`, non-ASCII escaped).

use std::fmt::Write;

use pycompat::pyrepr::dumps_str;

use crate::db::SessionInfo;

/// `{"sessions": [{"id": …, "current": …, "created_at": …, "expires_at": …,
/// "last_seen_at": …, "client_ip": …, "user_agent": …}, …]}`; times are
/// UTC (`2026-12-01T16:40:00Z`), `null` where a row has no metadata.
pub(super) fn sessions(list: &[SessionInfo], current: i64) -> String {
    let mut out = String::from("{\"sessions\": [");
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{{\"id\": {}, \"current\": {}, \"created_at\": {}, \"expires_at\": {}, \"last_seen_at\": {}, \"client_ip\": {}, \"user_agent\": {}}}",
            s.token_id,
            s.token_id == current,
            time(s.created_at),
            time(s.expires_at),
            time(s.last_seen_at),
            text(s.client_ip.as_deref()),
            text(s.user_agent.as_deref()),
        );
    }
    out.push_str("]}");
    out
}

fn time(t: Option<i64>) -> String {
    match t.and_then(|t| chrono::DateTime::from_timestamp(t, 0)) {
        Some(t) => format!("\"{}\"", t.format("%Y-%m-%dT%H:%M:%SZ")),
        None => String::from("null"),
    }
}

fn text(s: Option<&str>) -> String {
    s.map(dumps_str).unwrap_or_else(|| String::from("null"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_as_json_dumps_writes_them() {
        let full = SessionInfo {
            token_id: 9,
            created_at: Some(1_764_607_200),
            expires_at: None,
            last_seen_at: Some(1_764_607_260),
            client_ip: Some("127.0.0.1".into()),
            user_agent: Some("caf\u{e9} \"x\"".into()),
        };
        let bare = SessionInfo {
            token_id: 3,
            created_at: None,
            expires_at: None,
            last_seen_at: None,
            client_ip: None,
            user_agent: None,
        };
        assert_eq!(
            sessions(&[full, bare], 3),
            r#"{"sessions": [{"id": 9, "current": false, "created_at": "2025-12-01T16:40:00Z", "expires_at": null, "last_seen_at": "2025-12-01T16:41:00Z", "client_ip": "127.0.0.1", "user_agent": "caf\u00e9 \"x\""}, {"id": 3, "current": true, "created_at": null, "expires_at": null, "last_seen_at": null, "client_ip": null, "user_agent": null}]}"#
        );
        assert_eq!(sessions(&[], 1), r#"{"sessions": []}"#);
    }
}
