//! The settings: sources, precedence, parsing and errors.

use super::*;
use std::collections::HashMap;

fn resolve(file: &str, env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let file = File::parse(file, "my_settings.toml", FILE_TYPES)?;
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::resolve(&file, &|k| env.get(k).cloned())
}

/// `my_settings.example.toml` and the README document every setting.
#[test]
fn every_setting_is_documented() {
    let example = include_str!("../../my_settings.example.toml");
    let readme = include_str!("../../README.md");
    for key in KEYS {
        let listed = example.lines().any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} = ")));
        assert!(listed, "{key} is not in my_settings.example.toml");
        assert!(readme.contains(&format!("| `{key}` |")), "{key} is not in the README's tables");
    }
}

#[test]
fn hardened_settings_are_read_and_compat_names_them_ignored() {
    let s = resolve("", &[]).unwrap();
    assert_eq!(s.profile, Profile::Compat);
    assert_eq!((s.token_ttl, s.login_max_failures, s.login_window), (2_592_000, 10, 900));
    assert_eq!((s.login_max_failures_per_ip, s.signup_max_per_ip, s.bcrypt_cost), (100, 100, 12));
    assert!(s.trusted_proxies.0.is_empty());
    assert!(s.ignored_under_compat().is_empty());
    let s = resolve("TOKEN_TTL = 5\nBCRYPT_COST = 13", &[("TRUSTED_PROXIES", "10.0.0.0/8, ::1")]).unwrap();
    // TRUSTED_PROXIES is read under compat too (the request id)
    assert_eq!(s.ignored_under_compat(), vec!["TOKEN_TTL", "BCRYPT_COST"]);
    assert!(s.trusted_proxies.contains(&"10.1.2.3".parse().unwrap()));
    assert!(s.trusted_proxies.contains(&"::ffff:10.1.2.3".parse().unwrap()), "IPv4-mapped");
    assert!(s.trusted_proxies.contains(&"::1".parse().unwrap()));
    assert!(!s.trusted_proxies.contains(&"11.0.0.1".parse().unwrap()));
    let s = resolve("PROFILE = \"hardened\"\nTOKEN_TTL = 0", &[]).unwrap();
    assert_eq!((s.profile, s.token_ttl), (Profile::Hardened, 0));
    assert!(s.ignored_under_compat().is_empty());
    for (key, bad) in [
        ("PROFILE", "strict"),
        ("BCRYPT_COST", "3"),
        ("BCRYPT_COST", "32"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "proxy.internal"),
        ("LOGIN_WINDOW", "0"),
        ("LOGIN_MAX_FAILURES", "0"),
        ("TOKEN_TTL", "-1"),
    ] {
        let err = resolve("", &[(key, bad)]).unwrap_err().to_string();
        assert!(err.contains(key), "{key}={bad}: {err}");
    }
}

#[test]
fn front_door_and_shadow_settings() {
    let s = resolve("", &[]).unwrap();
    assert_eq!((s.upstream.clone(), s.upstream_timeout, s.shadow, s.shadow_sample), (None, 30, false, 1.0));
    assert_eq!(s.guarded_upstream, vec!["/ledgers".to_owned()]);
    let s = resolve(
        "UPSTREAM = \"http://127.0.0.1:8001/\"\nGUARDED_UPSTREAM = [\"/ledgers\", \"/stats\"]\nSHADOW = true\nSHADOW_SAMPLE = 1",
        &[],
    )
    .unwrap();
    assert_eq!(s.upstream, Some(Upstream { host: "127.0.0.1".into(), port: 8001 }));
    assert_eq!(s.upstream.as_ref().map(ToString::to_string).as_deref(), Some("http://127.0.0.1:8001"));
    assert_eq!(s.guarded_upstream, vec!["/ledgers".to_owned(), "/stats".to_owned()]);
    assert!(s.shadow);
    let s =
        resolve("", &[("UPSTREAM", "http://[::1]:9"), ("SHADOW_SAMPLE", "0.25"), ("GUARDED_UPSTREAM", "")]).unwrap();
    assert_eq!(s.upstream, Some(Upstream { host: "::1".into(), port: 9 }));
    assert_eq!(s.upstream.as_ref().map(Upstream::authority).as_deref(), Some("[::1]:9"));
    assert_eq!((s.shadow_sample, s.guarded_upstream.len()), (0.25, 0));
    assert_eq!(resolve("", &[("UPSTREAM", "http://django")]).unwrap().upstream.map(|u| u.port), Some(80));
    for (file, env, needle) in [
        ("", vec![("UPSTREAM", "https://x:1")], "https"),
        ("", vec![("UPSTREAM", "127.0.0.1:8001")], "http://HOST:PORT"),
        ("", vec![("UPSTREAM", "http://x:1/app")], "http://HOST:PORT"),
        ("", vec![("UPSTREAM", "http://u:p@x:1")], "http://HOST:PORT"),
        ("", vec![("UPSTREAM", "http://x:0")], "http://HOST:PORT"),
        ("", vec![("SHADOW", "true")], "needs UPSTREAM"),
        ("PROFILE = \"hardened\"", vec![("SHADOW", "1"), ("UPSTREAM", "http://x:1")], "compat"),
        ("", vec![("SHADOW_SAMPLE", "1.5")], "SHADOW_SAMPLE"),
        ("", vec![("GUARDED_UPSTREAM", "ledgers")], "GUARDED_UPSTREAM"),
        ("GUARDED_UPSTREAM = \"/ledgers\"", vec![], "invalid TOML"),
        ("GUARDED_UPSTREAM = [1]", vec![], "invalid TOML"),
        ("", vec![("UPSTREAM_TIMEOUT", "0")], "UPSTREAM_TIMEOUT"),
    ] {
        let err = match resolve(file, &env) {
            Ok(_) => panic!("{file:?} {env:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(needle), "{err:?} does not name {needle}");
    }
}

#[test]
fn defaults_without_any_source() {
    let s = resolve("", &[]).unwrap();
    assert_eq!(s.secret_key.expose(), INSECURE_DEV_KEY);
    assert!(s.secret_key.is_insecure());
    assert_eq!(s.algorithm, Algorithm::HS256);
    assert_eq!(s.database_url, DatabaseUrl::Sqlite("db.sqlite3".into()));
    assert_eq!(s.bind, Bind::Addr(DEFAULT_BIND));
    assert_eq!(s.time_zone, chrono_tz::Asia::Seoul);
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
    assert_eq!(s.secret_key.expose(), "from-env");
    assert!(!s.secret_key.is_insecure());
    assert_eq!(s.bind, Bind::Addr("0.0.0.0:9000".parse().unwrap()));
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
        ("", &[("ADMIN_BIND", "nowhere")], "ADMIN_BIND"),
        ("", &[("POOL_SIZE", "many")], "POOL_SIZE"),
        ("", &[("ACCESS_LOG", "maybe")], "ACCESS_LOG"),
        ("", &[("SQLITE_MMAP_SIZE", "-1")], "SQLITE_MMAP_SIZE"),
        ("", &[("SQLITE_MMAP_SIZE", "1GB")], "SQLITE_MMAP_SIZE"),
        ("", &[("SQLITE_MMAP_SIZE", "9223372036854775808")], "SQLITE_MMAP_SIZE"),
        ("ACCESS_LOG = \"yes\"", &[], "invalid TOML"),
        ("POOL_SIZE = \"8\"", &[("POOL_SIZE", "8")], "invalid TOML"),
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
fn admin_bind_is_off_unless_set() {
    assert_eq!(resolve("", &[]).unwrap().admin_bind, None);
    assert_eq!(resolve("", &[("ADMIN_BIND", "")]).unwrap().admin_bind, None);
    let s = resolve("ADMIN_BIND = \"127.0.0.1:9100\"", &[]).unwrap();
    assert_eq!(s.admin_bind, Some(Bind::Addr("127.0.0.1:9100".parse().unwrap())));
}

#[test]
fn a_bind_name_is_resolved_when_binding() {
    let s = resolve("BIND = \"localhost:8001\"", &[]).unwrap();
    assert_eq!(s.bind, Bind::Name { host: "localhost".into(), port: 8001 });
    let addrs: Vec<SocketAddr> = s.bind.to_socket_addrs().unwrap().collect();
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8001), "{addrs:?}");
    // not resolved at load: a name that does not resolve is still HOST:PORT
    assert!(resolve("", &[("BIND", "no-such-host.invalid:80")]).is_ok());
    assert!(resolve("", &[("POOL_SIZE", "0")]).unwrap_err().to_string().contains("at least 1"));
}

#[cfg(feature = "postgres")]
#[test]
fn debug_output_hides_the_key_and_password() {
    let s = Settings::for_tests("s3cr3t-value", "postgres://u:pw@h/db");
    let shown = format!("{s:?}");
    assert!(!shown.contains("s3cr3t-value"));
    assert!(!shown.contains(":pw@"));
}

/// SIGHUP's reading again: what changed, by name; the reloadable ones
/// with their values; a file that no longer parses is an error.
#[test]
fn settings_read_again_name_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reload.toml");
    std::fs::write(&path, "ACCESS_LOG = false\nLOG_LEVEL = \"warn\"\nSECRET_KEY = \"k1\"\n").unwrap();
    let sources = Sources { file: Some(&path), django: None, dotenv: false };
    let mut running = Settings::load(sources).unwrap();
    assert_eq!((running.access_log, running.log_level.as_str()), (false, "warn"));
    std::fs::write(&path, "ACCESS_LOG = true\nLOG_LEVEL = \"info\"\nSECRET_KEY = \"k2\"\nPOOL_SIZE = 3\n").unwrap();
    let new = running.reload().unwrap();
    let changes: Vec<String> = running.changes(&new).iter().map(ToString::to_string).collect();
    assert_eq!(
        changes,
        [
            "SECRET_KEY changed: it needs a restart to take effect (the running server keeps its value)",
            "POOL_SIZE changed: it needs a restart to take effect (the running server keeps its value)",
            "ACCESS_LOG: false → true",
            "LOG_LEVEL: warn → info",
        ]
    );
    running.adopt_reloadable(&new);
    assert_eq!(running.changes(&new).len(), 2, "the restart-only changes stay pending");
    assert_eq!(running.secret_key.expose(), "k1");
    std::fs::write(&path, "ACCESS_LOG = [\n").unwrap();
    assert!(matches!(running.reload(), Err(SettingsError::BadToml { .. })));
    assert!(Settings::for_tests("k", "db.sqlite3").reload().is_err(), "test settings have no origin");
}

#[test]
fn log_settings_parse_and_refuse() {
    let s = resolve("LOG_FORMAT = \"json\"\nLOG_LEVEL = \"info,ledger_server=debug\"", &[]).unwrap();
    assert_eq!((s.log_format, s.log_level.as_str()), (crate::telemetry::log::Format::Json, "info,ledger_server=debug"));
    let d = resolve("", &[]).unwrap();
    assert_eq!((d.log_format, d.log_level.as_str()), (crate::telemetry::log::Format::Text, "info"));
    for (key, bad) in [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")] {
        let err = resolve("", &[(key, bad)]).unwrap_err().to_string();
        assert!(err.contains(key), "{err}");
    }
}
