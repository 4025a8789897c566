//! Database server URLs: `scheme://[user[:password]@]host[:port]/database[?query]`.

/// A parsed server URL (user and password percent-decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    pub scheme: String,
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: Option<u16>,
    pub database: String,
    pub query: String,
}

/// `%XX` escapes decoded (anything else kept), as lossy UTF-8.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ServerUrl {
    pub fn parse(url: &str) -> Result<ServerUrl, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} is not scheme://…"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (a, h),
            None => ("", rest),
        };
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let (hostport, database) = hostpart.split_once('/').unwrap_or((hostpart, ""));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
                (h, Some(p.parse::<u16>().map_err(|_| format!("bad port {p:?} in {url:?}"))?))
            }
            _ => (hostport, None),
        };
        if host.is_empty() {
            return Err(format!("no host in {url:?}"));
        }
        Ok(ServerUrl {
            scheme: scheme.to_string(),
            user: percent_decode(user),
            password: percent_decode(password),
            host: host.to_string(),
            port,
            database: database.to_string(),
            query: query.to_string(),
        })
    }

    /// The same server and credentials, another database (as written in the
    /// original URL: user and password are kept in their encoded form).
    pub fn with_database(original: &str, database: &str) -> Result<String, String> {
        let (scheme, rest) = original.split_once("://").ok_or_else(|| format!("{original:?} is not scheme://…"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, format!("?{q}")),
            None => (rest, String::new()),
        };
        let (before_at, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (format!("{a}@"), h),
            None => (String::new(), rest),
        };
        let hostport = hostpart.split_once('/').map(|(h, _)| h).unwrap_or(hostpart);
        Ok(format!("{scheme}://{before_at}{hostport}/{database}{query}"))
    }

    /// The URL with any password hidden, for messages.
    pub fn redacted(url: &str) -> String {
        ledger_server::db::redact_url(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = ServerUrl::parse("postgres://postgres@127.0.0.1:5432/postgres").unwrap();
        assert_eq!(
            (u.user.as_str(), u.host.as_str(), u.port, u.database.as_str()),
            ("postgres", "127.0.0.1", Some(5432), "postgres")
        );
        let u = ServerUrl::parse("mysql://ro%40t:p%3Aw@db.local/mysql?ssl=false").unwrap();
        assert_eq!(
            (u.user.as_str(), u.password.as_str(), u.port, u.query.as_str()),
            ("ro@t", "p:w", None, "ssl=false")
        );
        assert_eq!(
            ServerUrl::with_database("mysql://u:p%40@h:3306/mysql?x=1", "t1").unwrap(),
            "mysql://u:p%40@h:3306/t1?x=1"
        );
        assert_eq!(ServerUrl::with_database("postgres://h/postgres", "t2").unwrap(), "postgres://h/t2");
        assert_eq!(ServerUrl::with_database("postgres://h", "t3").unwrap(), "postgres://h/t3");
    }

    /// The database name is replaced or added; the query string is kept.
    #[test]
    fn database_names_are_replaced_in_urls() {
        let with = |url: &str, name: &str| ServerUrl::with_database(url, name).unwrap();
        assert_eq!(with("postgres://postgres@127.0.0.1:5432/postgres", "x"), "postgres://postgres@127.0.0.1:5432/x");
        assert_eq!(
            with("mysql://root@127.0.0.1:3306/mysql?ssl_mode=DISABLED", "y"),
            "mysql://root@127.0.0.1:3306/y?ssl_mode=DISABLED"
        );
        assert_eq!(with("postgres://u:p@h", "z"), "postgres://u:p@h/z");
    }
}
