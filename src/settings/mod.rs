//! Settings, named as in Django's `my_settings.py`.
//!
//! Sources, later overriding earlier:
//! 1. `my_settings.toml` in the working directory, else `my_settings.py`
//!    (Django's own, read by [`django_py`]), or `--settings PATH` (`.py`:
//!    Python, else TOML); with `--django-settings`, Django's `settings.py`;
//! 2. `.env` in the working directory (dotenvy; it never overrides variables
//!    that are already set in the environment);
//! 3. environment variables of the same names.
//!
//! With none of them the server still starts on the development defaults
//! (SQLite `db.sqlite3`, `127.0.0.1:8000`, `Asia/Seoul`, an insecure key that
//! is announced on every start).

mod django_checks;
mod django_py;
pub mod reload;
mod source;

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use crate::auth::jwt::Algorithm;
use crate::db::{DatabaseUrl, Pooler};
use source::{File, Toml};

/// The development key used when no `SECRET_KEY` is configured.
pub const INSECURE_DEV_KEY: &str = "django-insecure-ledger-server-development-key";
pub const DEFAULT_DATABASE_URL: &str = "db.sqlite3";
pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8000);
pub const DEFAULT_SETTINGS_FILE: &str = "my_settings.toml";
/// Read when there is no [`DEFAULT_SETTINGS_FILE`]: Django's own.
pub const DEFAULT_PY_SETTINGS_FILE: &str = "my_settings.py";

pub use django_checks::{CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS};

/// Declares every setting once: its field and type, its key (in the file
/// and the environment), its TOML type in the file, the parser of its
/// text, and its default. Adding a setting is one entry here (plus
/// `my_settings.example.toml` and the README's table).
macro_rules! settings {
    ($( $(#[doc = $doc:literal])* $field:ident: $ty:ty = $key:literal, $toml:ident, $parse:path, $default:expr; )*) => {
        /// The effective settings of one server process, parsed and
        /// checked once, at load; every later use reads the typed value.
        #[derive(Clone, Debug)]
        pub struct Settings {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            /// The keys a source set (the others have their defaults).
            pub explicit: Vec<&'static str>,
            /// Where they were read, to read them again (SIGHUP).
            pub origin: Option<reload::Origin>,
        }

        /// The keys a settings file may hold, and the environment variables read.
        pub const KEYS: &[&str] = &[$($key),*];

        /// Each key's TOML type in the settings file.
        const FILE_TYPES: &[(&str, Toml)] = &[$(($key, Toml::$toml)),*];

        impl Settings {
            fn resolve(file: &File, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
                let mut explicit = Vec::new();
                let settings = Settings {
                    $( $field: match source::pick(file, env, $key, $parse)? {
                        Some(value) => {
                            explicit.push($key);
                            value
                        }
                        None => $default,
                    }, )*
                    explicit,
                    origin: None,
                };
                settings.check_combination()?;
                Ok(settings)
            }

            /// The keys whose values differ in `other`.
            pub fn differing(&self, other: &Settings) -> Vec<&'static str> {
                let mut keys = Vec::new();
                $( if self.$field != other.$field { keys.push($key); } )*
                keys
            }
        }
    };
}

settings! {
    /// The Django `SECRET_KEY` that signs tokens.
    secret_key: SecretKey = "SECRET_KEY", Str, source::secret_key, SecretKey::insecure_default();
    algorithm: Algorithm = "ALGORITHM", Str, source::algorithm, Algorithm::HS256;
    database_url: DatabaseUrl = "DATABASE_URL", Str, source::database_url, source::default_database_url()?;
    /// Django's `TIME_ZONE`: timestamps are written as naive local time in it.
    time_zone: chrono_tz::Tz = "TIME_ZONE", Str, source::time_zone, chrono_tz::Asia::Seoul;
    /// `HOST:PORT`; a host name is resolved when the server binds.
    bind: Bind = "BIND", Str, source::bind, Bind::Addr(DEFAULT_BIND);
    /// The admin listener (`/health/alive`, `/health/ready`, `/metrics`),
    /// `HOST:PORT`; off by default. Never the main port's business.
    admin_bind: Option<Bind> = "ADMIN_BIND", Str, source::admin_bind, None;
    /// Connections in the database pool.
    pool_size: u32 = "POOL_SIZE", Int, source::pool_size, source::default_pool_size();
    /// PostgreSQL: `transaction` behind a pooler in transaction mode
    /// (PgBouncer's usual one): no prepared statements kept, no session
    /// state; `none` (the default) otherwise.
    database_pooler: Pooler = "DATABASE_POOLER", Str, source::pooler, Pooler::None;
    /// One log line per request (off by default, like gunicorn without
    /// `--access-logfile`, which is how the original runs). SIGHUP reloads it.
    access_log: bool = "ACCESS_LOG", Bool, source::flag, false;
    /// `text` (env_logger's lines) or `json` (one object per line).
    log_format: crate::telemetry::log::Format = "LOG_FORMAT", Str, source::log_format, Default::default();
    /// The log level (`RUST_LOG`, when set, wins); SIGHUP reloads it.
    log_level: String = "LOG_LEVEL", Str, source::log_level, "info".to_owned();
    /// SQLite only: bytes of the database file each connection maps into
    /// memory (`PRAGMA mmap_size`); 0, the default, reads pages with
    /// `pread` into a small page cache. Mapping makes lookups in a big
    /// database faster, and the mapped pages count in the process's RSS.
    sqlite_mmap_size: u64 = "SQLITE_MMAP_SIZE", Int, source::mmap_size, 0;
    /// The longest a login or signup may wait for a bcrypt thread, in
    /// seconds; beyond it the request is answered at once with 503
    /// `SERVER_BUSY` (the work waiting for bcrypt stays bounded).
    login_queue_seconds: u32 = "LOGIN_QUEUE_SECONDS", Int, source::seconds, 10;
    /// bcrypt pauses between its rounds while cheap requests are being
    /// served (on by default; SIGHUP reloads it).
    bcrypt_yield: bool = "BCRYPT_YIELD", Bool, source::flag, true;
    /// `auto` (the default): the bcrypt threads run in an idle cgroup
    /// where the server may create one; `off`: they never move.
    bcrypt_cgroup: crate::runtime::Idle = "BCRYPT_CGROUP", Str, source::bcrypt_cgroup, crate::runtime::Idle::Auto;
    /// The longest a request head may take to arrive, from its first byte,
    /// in seconds (every request on a connection).
    head_timeout_seconds: u32 = "HEAD_TIMEOUT_SECONDS", Int, source::seconds, 5;
    /// The longest a request may take from the first byte of its head to
    /// its answer (body and handling), and unsent answers may wait for the
    /// client to read them, in seconds: gunicorn's worker timeout.
    request_timeout_seconds: u32 = "REQUEST_TIMEOUT_SECONDS", Int, source::seconds, 30;
    /// How long an idle keep-alive connection stays open, in seconds.
    keep_alive_seconds: u32 = "KEEP_ALIVE_SECONDS", Int, source::seconds, 5;
    /// Client connections open at once, in all (at most the open-file
    /// limit less 256); beyond it new connections wait in the listen backlog.
    max_connections: u32 = "MAX_CONNECTIONS", Int, source::pool_size, 25_000;
    /// `compat` (the default: the original, byte for byte) or `hardened`
    /// (its security flaws fixed; the settings below are hardened's own).
    profile: Profile = "PROFILE", Str, source::profile, Profile::Compat;
    /// Hardened: seconds a token stays valid after its login; 0: no expiry.
    token_ttl: u64 = "TOKEN_TTL", Int, source::ttl, 30 * 24 * 3600;
    /// Hardened: failed logins of one account within `LOGIN_WINDOW` after
    /// which its logins are refused (429) until the window has passed.
    login_max_failures: u32 = "LOGIN_MAX_FAILURES", Int, source::pool_size, 10;
    /// Hardened: the window the failure counts cover, in seconds.
    login_window: u32 = "LOGIN_WINDOW", Int, source::seconds, 900;
    /// Hardened: failed logins from one client address within the window.
    login_max_failures_per_ip: u32 = "LOGIN_MAX_FAILURES_PER_IP", Int, source::pool_size, 100;
    /// Hardened: signups from one client address within the window.
    signup_max_per_ip: u32 = "SIGNUP_MAX_PER_IP", Int, source::pool_size, 100;
    /// The peers whose `X-Request-Id` is taken (both profiles) and, under
    /// hardened, whose `X-Forwarded-For` names the client (addresses or
    /// CIDR blocks, comma-separated); none by default.
    trusted_proxies: TrustedProxies = "TRUSTED_PROXIES", Str, source::trusted_proxies, TrustedProxies::default();
    /// Hardened: the bcrypt cost of new hashes (the original's is 12);
    /// a login re-hashes a hash of a lower cost.
    bcrypt_cost: u32 = "BCRYPT_COST", Int, source::bcrypt_cost, 12;
    /// Hardened: seconds between sweeps of expired sessions and old
    /// failure counts.
    session_sweep_seconds: u32 = "SESSION_SWEEP_SECONDS", Int, source::seconds, 60;
    /// The front door: the Django server every request ledger-server does
    /// not serve itself is forwarded to (`http://HOST:PORT`); off by default.
    upstream: Option<Upstream> = "UPSTREAM", Str, source::upstream, None;
    /// The longest a forwarded request may wait for the upstream's answer
    /// head, in seconds (gunicorn's worker timeout); beyond it, 504.
    upstream_timeout: u32 = "UPSTREAM_TIMEOUT", Int, source::seconds, 30;
    /// Hardened: path prefixes (by Django's `path_info`) of the upstream's
    /// guarded views, which ledger-server's hardened guard checks first.
    guarded_upstream: Vec<String> = "GUARDED_UPSTREAM", List, source::path_prefixes, vec!["/ledgers".to_owned()];
    /// Shadow mode (needs `UPSTREAM`, compat only): Django answers
    /// `/users/*`, and ledger-server compares its own dry-run answer.
    shadow: bool = "SHADOW", Bool, source::flag, false;
    /// Shadow mode: the JSON-lines file mismatches are appended to.
    shadow_log: std::path::PathBuf = "SHADOW_LOG", Str, source::path, std::path::PathBuf::from("shadow.jsonl");
    /// Shadow mode: the share of `/users/*` requests checked, 0 to 1;
    /// SIGHUP reloads it.
    shadow_sample: f64 = "SHADOW_SAMPLE", Number, source::share, 1.0;
}

/// The settings only the hardened profile reads; compat warns when one is set.
pub const HARDENED_ONLY: &[&str] = &[
    "TOKEN_TTL",
    "LOGIN_MAX_FAILURES",
    "LOGIN_WINDOW",
    "LOGIN_MAX_FAILURES_PER_IP",
    "SIGNUP_MAX_PER_IP",
    "BCRYPT_COST",
    "SESSION_SWEEP_SECONDS",
    "GUARDED_UPSTREAM",
];

/// `UPSTREAM`: where the front door forwards, `http://HOST:PORT` (a
/// name is resolved when connecting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
}

impl Upstream {
    /// `HOST:PORT`, as a `Host`-less connection target.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

/// `PROFILE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// The original, flaws included, byte for byte.
    Compat,
    /// The original's security flaws fixed, its frontend still served.
    Hardened,
}

impl std::fmt::Display for Profile {
    /// As `PROFILE` spells it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Compat => "compat",
            Profile::Hardened => "hardened",
        })
    }
}

/// `TRUSTED_PROXIES`: the networks of the proxies in front of the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    pub fn contains(&self, ip: &std::net::IpAddr) -> bool {
        let ip = canonical_ip(*ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address.
pub fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// `BIND`: an address, or a host name and a port, checked at load. A name
/// is resolved when the server binds, and every address it has is tried
/// (as `TcpListener::bind` does), so `migrate` never needs it to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bind {
    Addr(SocketAddr),
    Name { host: String, port: u16 },
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bind::Addr(addr) => write!(f, "{addr}"),
            Bind::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl ToSocketAddrs for Bind {
    type Iter = std::vec::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> {
        match self {
            Bind::Addr(addr) => Ok(vec![*addr].into_iter()),
            Bind::Name { host, port } => Ok((host.as_str(), *port).to_socket_addrs()?.collect::<Vec<_>>().into_iter()),
        }
    }
}

/// `SECRET_KEY`: never shown, not even in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey {
    value: String,
    insecure: bool,
}

impl SecretKey {
    fn new(value: &str) -> SecretKey {
        SecretKey { value: value.to_owned(), insecure: false }
    }

    fn insecure_default() -> SecretKey {
        SecretKey { value: INSECURE_DEV_KEY.to_owned(), insecure: true }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// True when no `SECRET_KEY` was configured: the built-in development key.
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
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
    /// A Python settings file: `FILE:LINE:COL: what`, one line.
    #[error("{0}")]
    Python(String),
}

/// Where the settings come from.
pub struct Sources<'a> {
    /// An explicit `--settings PATH`; it must exist.
    pub file: Option<&'a Path>,
    /// `--django-settings PATH`: Django's `settings.py`.
    pub django: Option<&'a Path>,
    /// Read `.env` from the working directory.
    pub dotenv: bool,
}

impl Settings {
    /// Settings for tests: a given key and database, a free port on
    /// loopback, everything else default. Panics if `database_url` is
    /// unusable (a test's own mistake).
    pub fn for_tests(secret_key: &str, database_url: &str) -> Settings {
        Settings::for_tests_with(secret_key, database_url, &[])
    }

    /// [`Settings::for_tests`] with more settings, as the environment
    /// would give them. Panics on a key that is not a setting or a value
    /// that does not parse (a test's own mistake).
    pub fn for_tests_with(secret_key: &str, database_url: &str, overrides: &[(&str, &str)]) -> Settings {
        for (key, _) in overrides {
            assert!(KEYS.contains(key), "test settings: {key} is not a setting");
        }
        let env = |key: &str| {
            if let Some((_, value)) = overrides.iter().find(|(k, _)| *k == key) {
                return Some((*value).to_owned());
            }
            match key {
                "SECRET_KEY" => Some(secret_key.to_owned()),
                "DATABASE_URL" => Some(database_url.to_owned()),
                "BIND" => Some("127.0.0.1:0".to_owned()),
                "POOL_SIZE" => Some("4".to_owned()),
                _ => None,
            }
        };
        Settings::resolve(&File::default(), &env).unwrap_or_else(|e| panic!("test settings: {e}"))
    }

    /// Settings that are valid one by one but not together.
    fn check_combination(&self) -> Result<(), SettingsError> {
        if self.shadow && self.upstream.is_none() {
            return Err(SettingsError::Invalid {
                key: "SHADOW",
                reason: "needs UPSTREAM (the Django server whose answers are compared and relayed)".into(),
            });
        }
        if self.shadow && self.profile == Profile::Hardened {
            return Err(SettingsError::Invalid {
                key: "SHADOW",
                reason:
                    "compares the compat profile with Django: set PROFILE = \"compat\" (the default) while shadowing"
                        .into(),
            });
        }
        Ok(())
    }

    /// The hardened-only settings a source set under the compat profile:
    /// they are ignored, and the server warns about each.
    pub fn ignored_under_compat(&self) -> Vec<&'static str> {
        if self.profile == Profile::Hardened {
            return Vec::new();
        }
        self.explicit.iter().copied().filter(|k| HARDENED_ONLY.contains(k)).collect()
    }

    /// Loads the settings from the file, `.env` and the environment
    /// (`.env` first: a Python settings file's `os.environ` sees it).
    pub fn load(sources: Sources<'_>) -> Result<Settings, SettingsError> {
        let mut origin = reload::Origin::of(&sources);
        if sources.dotenv {
            // the variables `.env` gives (those of the environment win), for SIGHUP
            origin.from_dotenv = dotenvy::dotenv_iter()
                .map(|vars| {
                    vars.filter_map(Result::ok).map(|(k, _)| k).filter(|k| std::env::var_os(k).is_none()).collect()
                })
                .unwrap_or_default();
            match dotenvy::dotenv() {
                Ok(path) => origin.dotenv_path = Some(path),
                Err(e) if e.not_found() => {}
                Err(e) => return Err(reload::dotenv_error(e)),
            }
        }
        let env = |key: &str| std::env::var(key).ok();
        let file = Settings::read_file(&sources, &env)?;
        let mut settings = Settings::resolve(&file, &env)?;
        settings.origin = Some(origin);
        Ok(settings)
    }

    /// The settings file's table: TOML, or Django's Python files.
    fn read_file(sources: &Sources<'_>, env: &dyn Fn(&str) -> Option<String>) -> Result<File, SettingsError> {
        if let Some(django) = sources.django {
            let mine = django_py::my_settings_beside(django, sources.file)?;
            let table = django_py::read_django(django, mine.as_deref(), env)?;
            let also = mine.map(|m| format!(" and {}", m.display())).unwrap_or_default();
            log::info!("settings read from {}{also}", django.display());
            return Ok(File::from_table(table));
        }
        let path = match sources.file {
            Some(path) => path.to_path_buf(),
            None => match [DEFAULT_SETTINGS_FILE, DEFAULT_PY_SETTINGS_FILE].into_iter().find(|f| Path::new(f).exists())
            {
                Some(found) => found.into(),
                None => return Ok(File::default()),
            },
        };
        let file = if django_py::is_python(&path) {
            File::from_table(django_py::read_my_settings(&path, env)?)
        } else {
            File::read(&path, FILE_TYPES)?
        };
        log::info!("settings read from {}", path.display());
        Ok(file)
    }
}

#[cfg(test)]
mod django_tests;
#[cfg(test)]
mod tests;
