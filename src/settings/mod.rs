//! Settings, named as in Django's `my_settings.py`.
//!
//! Sources, later overriding earlier:
//! 1. `my_settings.toml` in the working directory (or `--settings PATH`);
//! 2. `.env` in the working directory (dotenvy; it never overrides variables
//!    that are already set in the environment);
//! 3. environment variables of the same names.
//!
//! With none of them the server still starts on the development defaults
//! (SQLite `db.sqlite3`, `127.0.0.1:8000`, `Asia/Seoul`, an insecure key that
//! is announced on every start).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The development key used when no `SECRET_KEY` is configured.
pub const INSECURE_DEV_KEY: &str = "django-insecure-ledger-server-development-key";
pub const DEFAULT_DATABASE_URL: &str = "db.sqlite3";
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";
pub const DEFAULT_TIME_ZONE: &str = "Asia/Seoul";
pub const DEFAULT_ALGORITHM: &str = "HS256";
pub const DEFAULT_SETTINGS_FILE: &str = "my_settings.toml";

/// The keys a settings file may hold, and the environment variables read.
pub const KEYS: &[&str] =
    &["SECRET_KEY", "ALGORITHM", "DATABASE_URL", "TIME_ZONE", "BIND", "POOL_SIZE", "ACCESS_LOG", "SQLITE_MMAP_SIZE"];

/// The effective settings of one server process.
#[derive(Clone)]
pub struct Settings {
    pub secret_key: String,
    pub algorithm: String,
    pub database_url: String,
    pub time_zone: String,
    pub bind: String,
    /// Connections in the database pool.
    pub pool_size: u32,
    /// One log line per request (off by default, like gunicorn without
    /// `--access-logfile`, which is how the original runs).
    pub access_log: bool,
    /// SQLite only: bytes of the database file each connection maps into
    /// memory (`PRAGMA mmap_size`); 0, the default, reads pages with
    /// `pread` into a small page cache. Mapping makes lookups in a big
    /// database faster, and the mapped pages count in the process's RSS.
    pub sqlite_mmap_size: u64,
    /// True when `secret_key` is the built-in development key.
    pub insecure_key: bool,
}

// Never print the key, not even in debug output.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("secret_key", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .field("database_url", &crate::db::redact_url(&self.database_url))
            .field("time_zone", &self.time_zone)
            .field("bind", &self.bind)
            .field("pool_size", &self.pool_size)
            .field("access_log", &self.access_log)
            .field("sqlite_mmap_size", &self.sqlite_mmap_size)
            .finish()
    }
}

/// A setting that stops startup: one line naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("settings file {path}: cannot read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("settings file {path}: invalid TOML: {reason}")]
    BadToml { path: String, reason: String },
    #[error("settings file {path}: unknown setting {key} (known: {known})")]
    UnknownKey { path: String, key: String, known: String },
    #[error("setting {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error(".env: {0}")]
    DotEnv(String),
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    #[serde(rename = "SECRET_KEY")]
    secret_key: Option<String>,
    #[serde(rename = "ALGORITHM")]
    algorithm: Option<String>,
    #[serde(rename = "DATABASE_URL")]
    database_url: Option<String>,
    #[serde(rename = "TIME_ZONE")]
    time_zone: Option<String>,
    #[serde(rename = "BIND")]
    bind: Option<String>,
    #[serde(rename = "POOL_SIZE")]
    pool_size: Option<u32>,
    #[serde(rename = "ACCESS_LOG")]
    access_log: Option<bool>,
    #[serde(rename = "SQLITE_MMAP_SIZE")]
    sqlite_mmap_size: Option<u64>,
}

/// Where the settings come from.
pub struct Sources<'a> {
    /// An explicit `--settings PATH`; it must exist.
    pub file: Option<&'a Path>,
    /// Read `.env` from the working directory.
    pub dotenv: bool,
}

impl Settings {
    /// Settings for tests: a given key and database, everything else default.
    pub fn for_tests(secret_key: &str, database_url: &str) -> Settings {
        Settings {
            secret_key: secret_key.to_owned(),
            algorithm: DEFAULT_ALGORITHM.to_owned(),
            database_url: database_url.to_owned(),
            time_zone: DEFAULT_TIME_ZONE.to_owned(),
            bind: "127.0.0.1:0".to_owned(),
            pool_size: 4,
            access_log: false,
            sqlite_mmap_size: 0,
            insecure_key: false,
        }
    }

    /// Loads the settings from the file, `.env` and the environment.
    pub fn load(sources: Sources<'_>) -> Result<Settings, SettingsError> {
        let file = match sources.file {
            Some(path) => read_file(path)?,
            None => {
                let default = Path::new(DEFAULT_SETTINGS_FILE);
                if default.exists() {
                    read_file(default)?
                } else {
                    FileSettings::default()
                }
            }
        };
        if sources.dotenv {
            match dotenvy::dotenv() {
                Ok(_) => {}
                Err(e) if e.not_found() => {}
                Err(e) => return Err(SettingsError::DotEnv(e.to_string())),
            }
        }
        Settings::resolve(file, |key| std::env::var(key).ok())
    }

    fn resolve(file: FileSettings, env: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let pick = |key: &str, from_file: Option<String>| env(key).or(from_file);
        let secret = pick("SECRET_KEY", file.secret_key);
        let insecure_key = secret.is_none();
        let secret_key = secret.unwrap_or_else(|| INSECURE_DEV_KEY.to_owned());
        let pool_size = typed(&env, "POOL_SIZE", file.pool_size, |raw| raw.trim().parse().ok(), "a positive integer")?;
        let access_log =
            typed(&env, "ACCESS_LOG", file.access_log, parse_bool, "a boolean (true/false, 1/0, yes/no, on/off)")?;
        let sqlite_mmap_size = typed(
            &env,
            "SQLITE_MMAP_SIZE",
            file.sqlite_mmap_size,
            |raw| raw.trim().parse().ok(),
            "a number of bytes (0 or more)",
        )?;
        let settings = Settings {
            secret_key,
            algorithm: pick("ALGORITHM", file.algorithm).unwrap_or_else(|| DEFAULT_ALGORITHM.to_owned()),
            database_url: pick("DATABASE_URL", file.database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            time_zone: pick("TIME_ZONE", file.time_zone).unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned()),
            bind: pick("BIND", file.bind).unwrap_or_else(|| DEFAULT_BIND.to_owned()),
            pool_size: pool_size.unwrap_or_else(default_pool_size),
            access_log: access_log.unwrap_or(false),
            sqlite_mmap_size: sqlite_mmap_size.unwrap_or(0),
            insecure_key,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every setting; the first bad one is reported by name.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.secret_key.is_empty() {
            return Err(invalid("SECRET_KEY", "must not be empty"));
        }
        if crate::auth::jwt::Algorithm::parse(&self.algorithm).is_none() {
            return Err(invalid(
                "ALGORITHM",
                &format!("unsupported algorithm {:?} (supported: HS256, HS384, HS512)", self.algorithm),
            ));
        }
        crate::db::DatabaseUrl::parse(&self.database_url).map_err(|reason| invalid("DATABASE_URL", &reason))?;
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid("TIME_ZONE", &format!("unknown time zone {:?}", self.time_zone)));
        }
        if self.bind.parse::<std::net::SocketAddr>().is_err() && !looks_like_host_port(&self.bind) {
            return Err(invalid("BIND", &format!("{:?} is not HOST:PORT", self.bind)));
        }
        if self.pool_size == 0 {
            return Err(invalid("POOL_SIZE", "must be at least 1"));
        }
        if i64::try_from(self.sqlite_mmap_size).is_err() {
            return Err(invalid("SQLITE_MMAP_SIZE", "must be below 2^63 bytes"));
        }
        Ok(())
    }

    /// The configured time zone (validated at load).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::Asia::Seoul)
    }
}

/// A typed setting: the environment variable `key` parsed by `parse` (an
/// unparsable value names the setting and what it should be), else the file's.
fn typed<T>(
    env: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    from_file: Option<T>,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, SettingsError> {
    match env(key) {
        Some(raw) => match parse(&raw) {
            Some(value) => Ok(Some(value)),
            None => Err(SettingsError::Invalid { key, reason: format!("{raw:?} is not {expected}") }),
        },
        None => Ok(from_file),
    }
}

/// An environment variable's boolean, as people write them.
fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32;
    (cores * 4).clamp(4, 32)
}

fn looks_like_host_port(bind: &str) -> bool {
    match bind.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

fn invalid(key: &'static str, reason: &str) -> SettingsError {
    SettingsError::Invalid { key, reason: reason.to_owned() }
}

fn read_file(path: &Path) -> Result<FileSettings, SettingsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
    parse_file(&text, &shown)
}

fn parse_file(text: &str, shown: &str) -> Result<FileSettings, SettingsError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| SettingsError::BadToml {
        path: shown.to_owned(),
        reason: one_line(e.message()),
    })?;
    if let Some(key) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(SettingsError::UnknownKey { path: shown.to_owned(), key: key.clone(), known: KEYS.join(", ") });
    }
    FileSettings::deserialize(toml::Value::Table(table))
        .map_err(|e| SettingsError::BadToml { path: shown.to_owned(), reason: one_line(e.message()) })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The settings file path to show in messages.
pub fn settings_path(explicit: Option<&Path>) -> PathBuf {
    explicit.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(DEFAULT_SETTINGS_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(file: &str, env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let file = parse_file(file, "my_settings.toml")?;
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::resolve(file, |k| env.get(k).cloned())
    }

    #[test]
    fn defaults_without_any_source() {
        let s = resolve("", &[]).unwrap();
        assert_eq!(s.secret_key, INSECURE_DEV_KEY);
        assert!(s.insecure_key);
        assert_eq!(s.algorithm, "HS256");
        assert_eq!(s.database_url, "db.sqlite3");
        assert_eq!(s.bind, "127.0.0.1:8000");
        assert_eq!(s.time_zone, "Asia/Seoul");
        assert!(!s.access_log, "gunicorn, as the original runs, keeps no access log");
    }

    #[test]
    fn sqlite_mmap_size_from_file_or_environment() {
        assert_eq!(resolve("", &[]).unwrap().sqlite_mmap_size, 0, "off unless asked for");
        assert_eq!(resolve("SQLITE_MMAP_SIZE = 268435456", &[]).unwrap().sqlite_mmap_size, 268_435_456);
        let s = resolve("SQLITE_MMAP_SIZE = 1", &[("SQLITE_MMAP_SIZE", " 4096 ")]).unwrap();
        assert_eq!(s.sqlite_mmap_size, 4096, "the environment wins over the file");
    }

    #[test]
    fn access_log_from_file_or_environment() {
        assert!(resolve("ACCESS_LOG = true", &[]).unwrap().access_log);
        assert!(!resolve("ACCESS_LOG = true", &[("ACCESS_LOG", "0")]).unwrap().access_log);
        for on in ["1", "true", "Yes", " on "] {
            assert!(resolve("", &[("ACCESS_LOG", on)]).unwrap().access_log, "{on:?}");
        }
        for off in ["0", "false", "NO", "off", ""] {
            assert!(!resolve("", &[("ACCESS_LOG", off)]).unwrap().access_log, "{off:?}");
        }
    }

    #[test]
    fn environment_overrides_file() {
        let s = resolve("SECRET_KEY = \"from-file\"\nBIND = \"0.0.0.0:9000\"", &[("SECRET_KEY", "from-env")]).unwrap();
        assert_eq!(s.secret_key, "from-env");
        assert!(!s.insecure_key);
        assert_eq!(s.bind, "0.0.0.0:9000");
    }

    #[test]
    fn bad_settings_name_the_setting() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("", &[("SECRET_KEY", "")], "SECRET_KEY"),
            ("ALGORITHM = \"RS256\"", &[], "ALGORITHM"),
            ("", &[("DATABASE_URL", "redis://x")], "DATABASE_URL"),
            ("", &[("TIME_ZONE", "Mars/Olympus")], "TIME_ZONE"),
            ("", &[("BIND", "nowhere")], "BIND"),
            ("", &[("POOL_SIZE", "many")], "POOL_SIZE"),
            ("", &[("ACCESS_LOG", "maybe")], "ACCESS_LOG"),
            ("", &[("SQLITE_MMAP_SIZE", "-1")], "SQLITE_MMAP_SIZE"),
            ("", &[("SQLITE_MMAP_SIZE", "1GB")], "SQLITE_MMAP_SIZE"),
            ("", &[("SQLITE_MMAP_SIZE", "9223372036854775808")], "SQLITE_MMAP_SIZE"),
            ("ACCESS_LOG = \"yes\"", &[], "invalid TOML"),
            ("DEBUG = true", &[], "DEBUG"),
            ("SECRET_KEY = ", &[], "invalid TOML"),
            ("SECRET_KEY = 5", &[], "invalid TOML"),
        ];
        for (file, env, needle) in cases {
            let err = match resolve(file, env) {
                Ok(_) => panic!("{file:?} {env:?} was accepted"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(needle), "{err:?} does not name {needle}");
            assert!(!err.contains('\n'), "{err:?} is not one line");
        }
    }

    #[test]
    fn debug_output_hides_the_key_and_password() {
        let mut s = Settings::for_tests("s3cr3t-value", "postgres://u:pw@h/db");
        s.database_url = "postgres://u:pw@h/db".into();
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t-value"));
        assert!(!shown.contains(":pw@"));
    }
}
