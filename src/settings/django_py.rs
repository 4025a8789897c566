//! Django's own settings files as ledger-server's settings file: the
//! project's `my_settings.py` (`--settings my_settings.py`, or found in the
//! working directory) and, with `--django-settings`, its `settings.py`.
//! They are read with [`pycompat::pysource`] (not run) and mapped to the
//! table the TOML file gives, so the environment still overrides them.

use std::path::{Path, PathBuf};

use pycompat::pysource::{self, Binding, Module, Node, Options, Pos, Value};

use super::{django_checks, source, SettingsError, KEYS};

/// Reads a `my_settings.py`: `SECRET_KEY`, `ALGORITHM` and
/// `DATABASES["default"]` as `DATABASE_URL`; other names are ignored.
pub(super) fn read_my_settings(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<toml::Table, SettingsError> {
    let (module, shown) = parse_file(path, env, &[])?;
    let mut table = toml::Table::new();
    map_common(&module, &|_| shown.clone(), env, &mut table)?;
    Ok(table)
}

/// Reads Django's `settings.py` (`--django-settings`), which may import
/// names from `my_settings` (`my_settings`: that file, if there is one).
pub(super) fn read_django(
    path: &Path,
    my_settings: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<toml::Table, SettingsError> {
    let mine = match my_settings {
        Some(p) => Some(parse_file(p, env, &[])?),
        None => None,
    };
    let modules: Vec<(&str, &Module)> = mine.iter().map(|(m, _)| ("my_settings", m)).collect();
    let (module, shown) = parse_file(path, env, &modules)?;
    let mine_shown = mine.as_ref().map_or("my_settings.py", |(_, s)| s.as_str());
    let file_of = |b: &Binding| if b.imported_from.is_some() { mine_shown.to_owned() } else { shown.clone() };
    let mut table = toml::Table::new();
    map_common(&module, &file_of, env, &mut table)?;
    // Django's own default when settings.py does not set it
    let (zone, at) = match module.get("TIME_ZONE") {
        Some(b) => match &b.value.value {
            Value::Str(s) => (s.clone(), Some((file_of(b), b.value.pos))),
            other => return Err(wrong_type(&file_of(b), &b.value, "TIME_ZONE", other)),
        },
        None => ("America/Chicago".to_owned(), None),
    };
    if let (None, Some((file, pos)), Err(reason)) = (env("TIME_ZONE"), at, source::time_zone(&zone)) {
        return Err(refuse(&file, pos, &format!("TIME_ZONE: {reason}")));
    }
    table.insert("TIME_ZONE".into(), toml::Value::String(zone));
    django_checks::check(&module, &shown)?;
    Ok(table)
}

/// The file read and parsed, with the name it is shown by.
fn parse_file(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    modules: &[(&str, &Module)],
) -> Result<(Module, String), SettingsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
    let module = pysource::parse(&text, &Options { env, file: path, modules }).map_err(|e| {
        let suggestion = match e.target.as_deref() {
            Some("DATABASES") => "DATABASE_URL=…".to_owned(),
            Some(name) if KEYS.contains(&name) => format!("{name}=…"),
            _ => "SECRET_KEY=… or DATABASE_URL=…".to_owned(),
        };
        let what = format!(
            "{} (a settings file is read, not run: set the value in the environment instead, e.g. {suggestion})",
            e.what
        );
        refuse(&shown, e.pos, &what)
    })?;
    Ok((module, shown))
}

pub(super) fn refuse(file: &str, pos: Pos, what: &str) -> SettingsError {
    SettingsError::Python(format!("{file}:{}:{}: {what}", pos.line, pos.col))
}

fn wrong_type(file: &str, node: &Node, name: &str, found: &Value) -> SettingsError {
    refuse(file, node.pos, &format!("{name} must be a str, not {}", found.kind()))
}

/// `SECRET_KEY`, `ALGORITHM` and `DATABASES` into `table`, each checked
/// as its setting unless the environment overrides it.
fn map_common(
    module: &Module,
    file_of: &dyn Fn(&Binding) -> String,
    env: &dyn Fn(&str) -> Option<String>,
    table: &mut toml::Table,
) -> Result<(), SettingsError> {
    type Check = fn(&str) -> Result<(), String>;
    let checks: [(&str, Check); 2] = [
        ("SECRET_KEY", |raw| source::secret_key(raw).map(drop)),
        ("ALGORITHM", |raw| source::algorithm(raw).map(drop)),
    ];
    for (name, check) in checks {
        let Some(b) = module.get(name) else { continue };
        let file = file_of(b);
        let Value::Str(raw) = &b.value.value else { return Err(wrong_type(&file, &b.value, name, &b.value.value)) };
        if env(name).is_none() {
            check(raw).map_err(|reason| refuse(&file, b.value.pos, &format!("{name}: {reason}")))?;
        }
        table.insert(name.into(), toml::Value::String(raw.clone()));
    }
    if let Some(b) = module.get("DATABASES") {
        let file = file_of(b);
        let (url, pos) = database_url(&b.value, &file)?;
        if env("DATABASE_URL").is_none() {
            source::database_url(&url)
                .map_err(|reason| refuse(&file, pos, &format!("DATABASES[\"default\"]: {reason}")))?;
        }
        table.insert("DATABASE_URL".into(), toml::Value::String(url));
    }
    Ok(())
}

/// `DATABASES["default"]` as a `DATABASE_URL`, and where it stands.
fn database_url(databases: &Node, file: &str) -> Result<(String, Pos), SettingsError> {
    let bad = |node: &Node, what: &str| refuse(file, node.pos, what);
    if !matches!(databases.value, Value::Dict(_)) {
        return Err(bad(databases, &format!("DATABASES must be a dict, not {}", databases.value.kind())));
    }
    let Some(default) = databases.value.get("default") else {
        return Err(bad(databases, "DATABASES has no \"default\" database (Django requires one)"));
    };
    let Value::Dict(pairs) = &default.value else {
        return Err(bad(default, &format!("DATABASES[\"default\"] must be a dict, not {}", default.value.kind())));
    };
    for (key, value) in pairs {
        let Value::Str(key_name) = &key.value else { return Err(bad(key, "a DATABASES key that is not a str")) };
        let fine = match (key_name.as_str(), &value.value) {
            ("ENGINE" | "NAME" | "USER" | "PASSWORD" | "HOST" | "PORT" | "OPTIONS", _) => true,
            // how long Django keeps a connection, and its test database: no answer changes
            ("CONN_MAX_AGE" | "CONN_HEALTH_CHECKS" | "TEST", _) => true,
            ("ATOMIC_REQUESTS", Value::Bool(false)) | ("AUTOCOMMIT", Value::Bool(true)) => true,
            ("TIME_ZONE", Value::None) => true,
            _ => false,
        };
        if !fine {
            return Err(bad(
                key,
                &format!(
                    "DATABASES[\"default\"][{}]: ledger-server does not reproduce it (it reads ENGINE, NAME, USER, \
                     PASSWORD, HOST, PORT and OPTIONS)",
                    pycompat::pyrepr::repr_str(key_name)
                ),
            ));
        }
    }
    let field = |name: &str| -> Result<Option<(String, Pos)>, SettingsError> {
        let Some(node) = default.value.get(name) else { return Ok(None) };
        let text = match (&node.value, name) {
            (Value::Str(s), _) => s.clone(),
            (Value::None, _) => return Ok(None),
            (Value::Path(p), "NAME") => p.to_string_lossy().into_owned(),
            (Value::Int(n), "PORT") => n.to_string(),
            (other, _) => {
                return Err(bad(
                    node,
                    &format!("DATABASES[\"default\"][\"{name}\"] must be a str, not {}", other.kind()),
                ))
            }
        };
        Ok(Some((text, node.pos)))
    };
    let Some((engine, engine_pos)) = field("ENGINE")? else {
        return Err(bad(default, "DATABASES[\"default\"] has no ENGINE (Django requires one)"));
    };
    let options = default.value.get("OPTIONS");
    let name = field("NAME")?.filter(|(n, _)| !n.is_empty());
    let need_name = || bad(default, "DATABASES[\"default\"] has no NAME (Django requires one)");
    let url = match engine.as_str() {
        "django.db.backends.sqlite3" => {
            check_options(options, &[], file)?;
            let (name, _) = name.ok_or_else(need_name)?;
            // relative to the working directory, as Django opens it
            format!("sqlite://{name}")
        }
        "django.db.backends.postgresql" | "django.db.backends.postgresql_psycopg2" => {
            check_options(options, &[], file)?;
            server_url("postgres", "", &field, name.ok_or_else(need_name)?.0, file)?
        }
        "django.db.backends.mysql" => {
            check_options(options, &["charset", "init_command"], file)?;
            check_mysql_options(options, file)?;
            if let Some((_, pos)) = field("HOST")?.filter(|(h, _)| h.starts_with('/')) {
                return Err(refuse(file, pos, "DATABASES[\"default\"][\"HOST\"]: a Unix socket path is not read for MySQL; give a host name (localhost) or DATABASE_URL"));
            }
            server_url("mysql", "localhost", &field, name.ok_or_else(need_name)?.0, file)?
        }
        other => {
            return Err(refuse(
                file,
                engine_pos,
                &format!(
                    "ENGINE {}: ledger-server reads django.db.backends.sqlite3, postgresql and mysql",
                    pycompat::pyrepr::repr_str(other)
                ),
            ))
        }
    };
    Ok((url, default.pos))
}

type Field<'a> = dyn Fn(&str) -> Result<Option<(String, Pos)>, SettingsError> + 'a;

/// `SCHEME://USER:PASSWORD@HOST:PORT/NAME`, each part percent-encoded; an
/// empty HOST is `empty_host` (PostgreSQL: none, libpq's Unix socket, as
/// Django's; MySQL: `localhost`, the client's socket, as Django's).
fn server_url(
    scheme: &str,
    empty_host: &str,
    field: &Field<'_>,
    name: String,
    file: &str,
) -> Result<String, SettingsError> {
    let get = |k: &str| field(k).map(|f| f.map(|(v, _)| v).unwrap_or_default());
    let (user, password, host) = (get("USER")?, get("PASSWORD")?, get("HOST")?);
    let mut url = format!("{scheme}://");
    if !user.is_empty() || !password.is_empty() {
        url.push_str(&encode(&user));
        if !password.is_empty() {
            url.push(':');
            url.push_str(&encode(&password));
        }
        url.push('@');
    }
    match host.as_str() {
        "" => url.push_str(empty_host),
        h if h.contains(':') => url.push_str(&format!("[{h}]")),
        h => url.push_str(&encode(h)),
    }
    if let Some((port, pos)) = field("PORT")?.filter(|(p, _)| !p.is_empty()) {
        if port.parse::<u16>().is_err() {
            return Err(refuse(file, pos, &format!("DATABASES[\"default\"][\"PORT\"] {port:?} is not a port number")));
        }
        url.push_str(&format!(":{port}"));
    }
    url.push('/');
    url.push_str(&encode(&name));
    Ok(url)
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only `allowed` keys in `OPTIONS` (a dict).
fn check_options(options: Option<&Node>, allowed: &[&str], file: &str) -> Result<(), SettingsError> {
    let Some(options) = options else { return Ok(()) };
    let Value::Dict(pairs) = &options.value else {
        return Err(refuse(file, options.pos, &format!("OPTIONS must be a dict, not {}", options.value.kind())));
    };
    for (key, _) in pairs {
        match &key.value {
            Value::Str(k) if allowed.contains(&k.as_str()) => {}
            Value::Str(k) => {
                return Err(refuse(
                    file,
                    key.pos,
                    &format!(
                        "OPTIONS {}: ledger-server does not reproduce this connection option{}",
                        pycompat::pyrepr::repr_str(k),
                        if allowed.is_empty() { "".to_owned() } else { format!(" (it reads {})", allowed.join(", ")) }
                    ),
                ))
            }
            _ => return Err(refuse(file, key.pos, "an OPTIONS key that is not a str")),
        }
    }
    Ok(())
}

/// MySQL's `charset` and `init_command`: what ledger-server's connections
/// already do (utf8mb4, `sql_mode = 'STRICT_TRANS_TABLES'`), or refused.
fn check_mysql_options(options: Option<&Node>, file: &str) -> Result<(), SettingsError> {
    let charset = options.and_then(|o| o.value.get("charset"));
    match charset.map(|c| &c.value) {
        None => log::warn!(
            "{file}: DATABASES[\"default\"] has no OPTIONS charset: Django's MySQL connection would use utf8 \
             (3-byte), ledger-server's uses utf8mb4"
        ),
        Some(Value::Str(c)) if c == "utf8mb4" => {}
        Some(other) => {
            let node = charset.map_or(Pos { line: 1, col: 1 }, |c| c.pos);
            let shown = match other {
                Value::Str(s) => pycompat::pyrepr::repr_str(s),
                v => v.kind().to_owned(),
            };
            return Err(refuse(
                file,
                node,
                &format!(
                    "OPTIONS charset {shown}: ledger-server's MySQL connections use utf8mb4 (4-byte characters \
                     would differ); set \"charset\": \"utf8mb4\""
                ),
            ));
        }
    }
    if let Some(init) = options.and_then(|o| o.value.get("init_command")) {
        let same = match &init.value {
            Value::Str(sql) => {
                let squeezed: String = sql
                    .to_ascii_lowercase()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .map(|c| if c == '"' { '\'' } else { c })
                    .collect();
                let squeezed = squeezed.trim_end_matches(';');
                squeezed == "setsql_mode='strict_trans_tables'" || squeezed == "set@@sql_mode='strict_trans_tables'"
            }
            _ => false,
        };
        if !same {
            return Err(refuse(
                file,
                init.pos,
                "OPTIONS init_command: ledger-server runs only SET sql_mode = 'STRICT_TRANS_TABLES' on its MySQL \
                 connections (as the original's init_command); leave it out or set that",
            ));
        }
    }
    Ok(())
}

/// The `my_settings.py` a `settings.py` imports: `--settings` when it
/// names a `.py`, else the one next to `settings.py` (if present).
pub(super) fn my_settings_beside(django: &Path, explicit: Option<&Path>) -> Result<Option<PathBuf>, SettingsError> {
    match explicit {
        Some(p) if is_python(p) => Ok(Some(p.to_path_buf())),
        Some(p) => Err(SettingsError::Python(format!(
            "--settings {}: with --django-settings, --settings names the my_settings.py that settings.py imports",
            p.display()
        ))),
        None => {
            let beside = django.parent().unwrap_or(Path::new(".")).join("my_settings.py");
            Ok(beside.is_file().then_some(beside))
        }
    }
}

/// A `.py` settings file is read as Python; any other as TOML.
pub(super) fn is_python(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "py")
}
