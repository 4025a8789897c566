//! Where a setting's value comes from and how its text is read: the
//! settings file (TOML), `.env` and the environment, and one parser per
//! kind of value. [`super::Settings`] lists the settings themselves.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use super::{SecretKey, SettingsError};
use crate::auth::jwt::Algorithm;
use crate::db::DatabaseUrl;

/// The TOML type a setting takes in the file.
#[derive(Clone, Copy)]
pub(super) enum Toml {
    Str,
    Int,
    Bool,
}

impl Toml {
    fn name(self) -> &'static str {
        match self {
            Toml::Str => "a string",
            Toml::Int => "an integer",
            Toml::Bool => "a boolean",
        }
    }
}

/// The settings file's table, checked against the known keys.
#[derive(Default)]
pub(super) struct File {
    path: String,
    table: toml::Table,
}

impl File {
    pub(super) fn read(path: &Path, known: &[&str]) -> Result<File, SettingsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
        File::parse(&text, &shown, known)
    }

    pub(super) fn parse(text: &str, shown: &str, known: &[&str]) -> Result<File, SettingsError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| SettingsError::BadToml {
            path: shown.to_owned(),
            reason: one_line(e.message()),
        })?;
        if let Some(key) = table.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(SettingsError::UnknownKey {
                path: shown.to_owned(),
                key: key.clone(),
                known: known.join(", "),
            });
        }
        Ok(File { path: shown.to_owned(), table })
    }
}

/// The value of `key`: the environment's, else the file's (which must be
/// of type `toml`), read by `parse`; `None` when neither sets it.
pub(super) fn pick<T>(
    file: &File,
    env: &dyn Fn(&str) -> Option<String>,
    key: &'static str,
    toml: Toml,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, SettingsError> {
    let invalid = |reason| SettingsError::Invalid { key, reason };
    if let Some(raw) = env(key) {
        return parse(&raw).map(Some).map_err(invalid);
    }
    let Some(value) = file.table.get(key) else { return Ok(None) };
    let text = match (toml, value) {
        (Toml::Str, toml::Value::String(s)) => s.clone(),
        (Toml::Int, toml::Value::Integer(i)) => i.to_string(),
        (Toml::Bool, toml::Value::Boolean(b)) => b.to_string(),
        (expected, other) => {
            return Err(SettingsError::BadToml {
                path: file.path.clone(),
                reason: format!("invalid type: {} for key `{key}`, expected {}", other.type_str(), expected.name()),
            })
        }
    };
    parse(&text).map(Some).map_err(invalid)
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

pub(super) fn time_zone(raw: &str) -> Result<chrono_tz::Tz, String> {
    raw.parse().map_err(|_| format!("unknown time zone {raw:?}"))
}

/// `HOST:PORT`: an address, or a name resolved once, now.
pub(super) fn bind(raw: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = raw.parse() {
        return Ok(addr);
    }
    let not_host_port = || format!("{raw:?} is not HOST:PORT");
    match raw.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
        _ => return Err(not_host_port()),
    }
    let resolved = raw.to_socket_addrs().map_err(|e| format!("cannot resolve {raw:?}: {e}"))?;
    resolved.into_iter().next().ok_or_else(not_host_port)
}

pub(super) fn pool_size(raw: &str) -> Result<u32, String> {
    match raw.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{raw:?} is not a positive integer")),
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

/// The default pool: 4 connections per core, 4 to 32.
pub(super) fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32;
    (cores * 4).clamp(4, 32)
}

pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
