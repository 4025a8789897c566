//! Where a setting's value comes from and how its text is read: the
//! settings file (TOML), `.env` and the environment, and one parser per
//! kind of value. [`super::Settings`] lists the settings themselves.

use std::net::SocketAddr;
use std::path::Path;

use super::{Bind, Profile, SecretKey, SettingsError, TrustedProxies, Upstream, DEFAULT_DATABASE_URL};
use crate::auth::jwt::Algorithm;
use crate::db::DatabaseUrl;

/// The TOML type a setting takes in the file.
#[derive(Clone, Copy)]
pub(super) enum Toml {
    Str,
    Int,
    Bool,
    /// An integer or a float.
    Number,
    /// An array of strings.
    List,
}

impl Toml {
    fn matches(self, value: &toml::Value) -> bool {
        matches!(
            (self, value),
            (Toml::Str, toml::Value::String(_))
                | (Toml::Int, toml::Value::Integer(_))
                | (Toml::Bool, toml::Value::Boolean(_))
                | (Toml::Number, toml::Value::Integer(_) | toml::Value::Float(_))
        ) || matches!((self, value), (Toml::List, toml::Value::Array(items)) if items.iter().all(toml::Value::is_str))
    }

    fn name(self) -> &'static str {
        match self {
            Toml::Str => "a string",
            Toml::Int => "an integer",
            Toml::Bool => "a boolean",
            Toml::Number => "a number",
            Toml::List => "an array of strings",
        }
    }
}

/// The settings file's table, checked against the known keys and types.
#[derive(Default)]
pub(super) struct File {
    table: toml::Table,
}

impl File {
    /// A table built from a Python settings file (string values of known keys).
    pub(super) fn from_table(table: toml::Table) -> File {
        File { table }
    }

    pub(super) fn read(path: &Path, known: &[(&str, Toml)]) -> Result<File, SettingsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
        File::parse(&text, &shown, known)
    }

    /// Parses the file and checks every key in it: known, and of its TOML
    /// type (before any value is read, whatever the environment sets).
    pub(super) fn parse(text: &str, shown: &str, known: &[(&str, Toml)]) -> Result<File, SettingsError> {
        let bad_toml = |reason| SettingsError::BadToml { path: shown.to_owned(), reason };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| bad_toml(one_line(e.message())))?;
        for (key, value) in &table {
            let Some((_, expected)) = known.iter().find(|(k, _)| k == key) else {
                let names: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
                return Err(SettingsError::UnknownKey {
                    path: shown.to_owned(),
                    key: key.clone(),
                    known: names.join(", "),
                });
            };
            if !expected.matches(value) {
                let found = value.type_str();
                return Err(bad_toml(format!("invalid type: {found} for key `{key}`, expected {}", expected.name())));
            }
        }
        Ok(File { table })
    }
}

/// The value of `key`: the environment's, else the file's (its type was
/// checked by [`File::parse`]), read by `parse`; `None` when neither sets it.
pub(super) fn pick<T>(
    file: &File,
    env: &dyn Fn(&str) -> Option<String>,
    key: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, SettingsError> {
    let text = match (env(key), file.table.get(key)) {
        (Some(raw), _) => raw,
        (None, None) => return Ok(None),
        (None, Some(toml::Value::String(s))) => s.clone(),
        // an array of strings: as the environment writes it, comma-separated
        (None, Some(toml::Value::Array(items))) => {
            items.iter().filter_map(toml::Value::as_str).collect::<Vec<_>>().join(",")
        }
        (None, Some(other)) => other.to_string(),
    };
    parse(&text).map(Some).map_err(|reason| SettingsError::Invalid { key, reason })
}

pub(super) fn secret_key(raw: &str) -> Result<SecretKey, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretKey::new(raw))
}

pub(super) fn algorithm(raw: &str) -> Result<Algorithm, String> {
    Algorithm::parse(raw).ok_or_else(|| format!("unsupported algorithm {raw:?} (supported: HS256, HS384, HS512)"))
}

pub(super) fn database_url(raw: &str) -> Result<DatabaseUrl, String> {
    DatabaseUrl::parse(raw)
}

/// The default `DATABASE_URL`, checked as a given one is (its directory
/// exists; it is not a directory itself).
pub(super) fn default_database_url() -> Result<DatabaseUrl, SettingsError> {
    DatabaseUrl::parse(DEFAULT_DATABASE_URL).map_err(|reason| SettingsError::Invalid { key: "DATABASE_URL", reason })
}

pub(super) fn time_zone(raw: &str) -> Result<chrono_tz::Tz, String> {
    raw.parse().map_err(|_| format!("unknown time zone {raw:?}"))
}

/// `HOST:PORT`: an address, or a host name and a port (resolved when the
/// server binds).
pub(super) fn bind(raw: &str) -> Result<Bind, String> {
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(Bind::Addr(addr));
    }
    match raw.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => match port.parse::<u16>() {
            Ok(port) => Ok(Bind::Name { host: host.to_owned(), port }),
            Err(_) => Err(format!("{raw:?} is not HOST:PORT")),
        },
        _ => Err(format!("{raw:?} is not HOST:PORT")),
    }
}

/// `ADMIN_BIND`: empty is off, else `HOST:PORT` as for `BIND`.
pub(super) fn admin_bind(raw: &str) -> Result<Option<Bind>, String> {
    match raw.trim() {
        "" => Ok(None),
        raw => bind(raw).map(Some),
    }
}

pub(super) fn pool_size(raw: &str) -> Result<u32, String> {
    match raw.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{raw:?} is not a positive integer")),
    }
}

/// A whole number of seconds, at least 1.
pub(super) fn seconds(raw: &str) -> Result<u32, String> {
    match raw.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{raw:?} is not a whole number of seconds")),
    }
}

/// A boolean, as people write them in an environment variable.
pub(super) fn flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("{raw:?} is not a boolean (true/false, 1/0, yes/no, on/off)")),
    }
}

/// SQLite's `mmap_size`: a number of bytes below 2^63.
pub(super) fn mmap_size(raw: &str) -> Result<u64, String> {
    let bytes: u64 = raw.trim().parse().map_err(|_| format!("{raw:?} is not a number of bytes (0 or more)"))?;
    if i64::try_from(bytes).is_err() {
        return Err("must be below 2^63 bytes".into());
    }
    Ok(bytes)
}

pub(super) fn pooler(raw: &str) -> Result<crate::db::Pooler, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "none" | "session" => Ok(crate::db::Pooler::None),
        "transaction" => Ok(crate::db::Pooler::Transaction),
        _ => Err(format!("{raw:?} is not a pooler mode (none, session or transaction)")),
    }
}

pub(super) fn bcrypt_cgroup(raw: &str) -> Result<crate::runtime::Idle, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(crate::runtime::Idle::Auto),
        "off" => Ok(crate::runtime::Idle::Off),
        _ => Err(format!("{raw:?} is not a BCRYPT_CGROUP mode (auto or off)")),
    }
}

pub(super) fn profile(raw: &str) -> Result<Profile, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "compat" => Ok(Profile::Compat),
        "hardened" => Ok(Profile::Hardened),
        _ => Err(format!("{raw:?} is not a profile (compat or hardened)")),
    }
}

/// A whole number of seconds, 0 or more.
pub(super) fn ttl(raw: &str) -> Result<u64, String> {
    let seconds: u64 = raw.trim().parse().map_err(|_| format!("{raw:?} is not a whole number of seconds"))?;
    // Far beyond any use, and `iat + ttl` stays a JSON-safe integer.
    if seconds > 100 * 365 * 24 * 3600 {
        return Err("must be at most 100 years".into());
    }
    Ok(seconds)
}

/// bcrypt's cost: 4 to 31, as bcrypt takes it.
pub(super) fn bcrypt_cost(raw: &str) -> Result<u32, String> {
    match raw.trim().parse::<u32>() {
        Ok(n) if (4..=31).contains(&n) => Ok(n),
        _ => Err(format!("{raw:?} is not a bcrypt cost (4 to 31)")),
    }
}

/// Comma-separated addresses or CIDR blocks (`10.0.0.0/8, ::1`).
pub(super) fn trusted_proxies(raw: &str) -> Result<TrustedProxies, String> {
    let mut nets = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let net = match part.parse::<ipnet::IpNet>() {
            Ok(net) => net,
            Err(_) => match part.parse::<std::net::IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip),
                Err(_) => return Err(format!("{part:?} is not an address or a CIDR block")),
            },
        };
        nets.push(net);
    }
    Ok(TrustedProxies(nets))
}

/// `http://HOST:PORT` (a trailing `/` allowed); nothing else: no path,
/// no credentials, no TLS (the upstream is Django's gunicorn next to it).
pub(super) fn upstream(raw: &str) -> Result<Option<Upstream>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{raw:?} is not http://HOST:PORT");
    let rest = raw.strip_prefix("http://").ok_or_else(|| {
        if raw.starts_with("https://") {
            format!("{raw:?}: https is not supported (the upstream is a local Django server: http://HOST:PORT)")
        } else {
            bad()
        }
    })?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return Err(bad());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse::<u16>().map_err(|_| bad())?),
        _ => (authority, 80),
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok(Some(Upstream { host: host.to_owned(), port }))
}

/// Path prefixes, comma-separated (the file's array arrives joined);
/// each starts with `/`.
pub(super) fn path_prefixes(raw: &str) -> Result<Vec<String>, String> {
    let mut prefixes = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !part.starts_with('/') {
            return Err(format!("{part:?} is not a path (it must start with /)"));
        }
        prefixes.push(part.to_owned());
    }
    Ok(prefixes)
}

/// A file path, not empty.
pub(super) fn path(raw: &str) -> Result<std::path::PathBuf, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(std::path::PathBuf::from(raw))
}

/// A share from 0 to 1.
pub(super) fn log_format(raw: &str) -> Result<crate::telemetry::log::Format, String> {
    raw.parse()
}

pub(super) fn log_level(raw: &str) -> Result<String, String> {
    crate::telemetry::log::check_level(raw)?;
    Ok(raw.trim().to_owned())
}

pub(super) fn share(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{raw:?} is not a share from 0 to 1")),
    }
}

/// The default pool: 4 connections per core, 4 to 32.
pub(super) fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32;
    (cores * 4).clamp(4, 32)
}

pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
