//! Django's `my_settings.py` and `settings.py` as the settings file.

use std::collections::HashMap;

use super::*;

const ORACLE_SETTINGS: &str = include_str!("../../tests/fixtures/django/settings.py");
const ORACLE_MY_SETTINGS: &str = include_str!("../../tests/fixtures/django/oracle_my_settings.py");

/// The wecode template's my_settings.py for `engine`, its password given
/// as `password` (a literal or an expression).
fn wecode(engine: &str, name: &str, password: &str, options: &str) -> String {
    format!(
        "import os\n\nSECRET_KEY = 'wecode-secret'\nALGORITHM = 'HS256'\n\nDATABASES = {{\n    'default' : {{\n        \
         'ENGINE': 'django.db.backends.{engine}',\n        'NAME': '{name}',\n        'USER': 'root',\n        \
         'PASSWORD': {password},\n        'HOST': '127.0.0.1',\n        'PORT': '3306',\n{options}    }}\n}}\n"
    )
}

fn env_of(env: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k: &str| map.get(k).cloned()
}

/// Writes `files` into a temp dir and reads `my_settings.py` (or, with
/// `django`, `settings.py` beside it).
fn load(files: &[(&str, &str)], env: &[(&str, &str)], django: bool) -> Result<Settings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let env = env_of(env);
    let table = if django {
        let settings = dir.path().join("settings.py");
        let mine = django_py::my_settings_beside(&settings, None)?;
        django_py::read_django(&settings, mine.as_deref(), &env)?
    } else {
        django_py::read_my_settings(&dir.path().join("my_settings.py"), &env)?
    };
    Settings::resolve(&File::from_table(table), &env)
}

fn refusal(files: &[(&str, &str)], env: &[(&str, &str)], django: bool) -> String {
    match load(files, env, django) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "not one line: {line}");
            line
        }
    }
}

#[cfg(feature = "mysql")]
#[test]
fn wecode_mysql_with_charset_and_the_password_from_the_environment() {
    let options = "        'OPTIONS': {'charset': 'utf8mb4'},\n";
    let url = |s: Settings| format!("{:?}", s.database_url);
    let s = load(&[("my_settings.py", &wecode("mysql", "ledger", "'p@ss word'", options))], &[], false).unwrap();
    assert_eq!(s.secret_key.expose(), "wecode-secret");
    assert_eq!(s.explicit, vec!["SECRET_KEY", "ALGORITHM", "DATABASE_URL"]);
    let DatabaseUrl::Mysql(raw) = &s.database_url else { panic!("{s:?}") };
    assert_eq!(raw, "mysql://root:p%40ss%20word@127.0.0.1:3306/ledger");
    for password in ["os.environ.get('DB_PASSWORD')", "os.getenv('DB_PASSWORD', 'x')", "os.environ['DB_PASSWORD']"] {
        let file = wecode("mysql", "ledger", password, options);
        let s = load(&[("my_settings.py", &file)], &[("DB_PASSWORD", "pw")], false).unwrap();
        assert_eq!(url(s), "Mysql(mysql://root:***@127.0.0.1:3306/ledger)", "{password}");
    }
    let file = wecode("mysql", "ledger", "os.environ.get('DB_PASSWORD', '')", options);
    assert_eq!(
        url(load(&[("my_settings.py", &file)], &[], false).unwrap()),
        "Mysql(mysql://root@127.0.0.1:3306/ledger)"
    );
    let init = "        'OPTIONS': {'charset': 'utf8mb4', 'init_command': \"SET sql_mode='STRICT_TRANS_TABLES'\"},\n";
    assert!(load(&[("my_settings.py", &wecode("mysql", "ledger", "''", init))], &[], false).is_ok());
    let e = refusal(
        &[("my_settings.py", &wecode("mysql", "l", "''", "        'OPTIONS': {'charset': 'utf8'},\n"))],
        &[],
        false,
    );
    assert!(e.contains("my_settings.py:14:32: OPTIONS charset 'utf8'") && e.contains("utf8mb4"), "{e}");
    let bad_init = "        'OPTIONS': {'init_command': 'SET innodb_strict_mode=1'},\n";
    assert!(refusal(&[("my_settings.py", &wecode("mysql", "l", "''", bad_init))], &[], false).contains("init_command"));
    let other = "        'OPTIONS': {'ssl': {'ca': '/x'}},\n";
    assert!(refusal(&[("my_settings.py", &wecode("mysql", "l", "''", other))], &[], false).contains("'ssl'"));
}

#[cfg(feature = "postgres")]
#[test]
fn wecode_postgresql_and_django_host_and_port_forms() {
    let file = wecode("postgresql", "ledger", "os.environ.get('DB_PASSWORD')", "");
    let s = load(&[("my_settings.py", &file)], &[("DB_PASSWORD", "s3cret:/")], false).unwrap();
    let DatabaseUrl::Postgres(raw) = &s.database_url else { panic!("{s:?}") };
    assert_eq!(raw, "postgres://root:s3cret%3A%2F@127.0.0.1:3306/ledger");
    let file =
        file.replace("'127.0.0.1'", "''").replace("'3306'", "5432").replace("postgresql'", "postgresql_psycopg2'");
    let s = load(&[("my_settings.py", &file)], &[], false).unwrap();
    assert_eq!(format!("{:?}", s.database_url), "Postgres(postgres://root@:5432/ledger)", "empty HOST: the socket");
    let e = refusal(
        &[("my_settings.py", &wecode("postgresql", "l", "''", "        'OPTIONS': {'sslmode': 'require'},\n"))],
        &[],
        false,
    );
    assert!(e.contains("my_settings.py:14:21") && e.contains("'sslmode'"), "{e}");
}

#[test]
fn sqlite_name_and_environment_overrides_the_file() {
    let file = "import os\nSECRET_KEY = os.environ.get('KEY', 'file-key')\nDATABASES = {'default': {\n  \
                'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'db.sqlite3'}}\n";
    let s = load(&[("my_settings.py", file)], &[], false).unwrap();
    assert_eq!((s.secret_key.expose(), s.database_url.clone()), ("file-key", DatabaseUrl::Sqlite("db.sqlite3".into())));
    let s = load(&[("my_settings.py", file)], &[("KEY", "k2"), ("SECRET_KEY", "env"), ("DATABASE_URL", "x.db")], false)
        .unwrap();
    assert_eq!((s.secret_key.expose(), s.database_url), ("env", DatabaseUrl::Sqlite("x.db".into())));
    let s = load(&[("my_settings.py", "ALGORITHM = 'HS512'\nDEBUG = True\nLOGGING = {'x': [1, (2,)]}\n")], &[], false)
        .unwrap();
    assert_eq!((s.algorithm, s.explicit), (Algorithm::HS512, vec!["ALGORITHM"]), "unknown names are ignored");
}

#[test]
fn refusals_name_file_line_and_column_and_no_secret() {
    let cases: &[(&str, &str)] = &[
        ("import os\nSECRET_KEY = os.urandom(32)\n", "my_settings.py:2:16: the attribute `os.urandom` (code, not a literal) (a settings file is read, not run: set the value in the environment instead, e.g. SECRET_KEY=…)"),
        ("SECRET_KEY = 'k'\nif True:\n    DEBUG = 1\n", "my_settings.py:2:1: an `if` statement (a settings file is read, not run: set the value in the environment instead, e.g. SECRET_KEY=… or DATABASE_URL=…)"),
        ("SECRET_KEY = f'{1}'\n", "my_settings.py:1:14: an f-string"),
        ("import pymysql\n", "my_settings.py:1:8: `import pymysql`: only `import os` is read"),
        ("import os\nDATABASES = {'default': {'PASSWORD': os.environ['DB_PW']}}\n", "my_settings.py:2:48: os.environ['DB_PW']: DB_PW is not set (KeyError) (a settings file is read, not run: set the value in the environment instead, e.g. DATABASE_URL=…)"),
        ("SECRET_KEY = 5\n", "my_settings.py:1:14: SECRET_KEY must be a str, not an int"),
        ("SECRET_KEY = ''\n", "my_settings.py:1:14: SECRET_KEY: must not be empty"),
        ("ALGORITHM = 'RS256'\n", "my_settings.py:1:13: ALGORITHM: unsupported algorithm"),
        ("DATABASES = {'default': {'ENGINE': 'django.db.backends.oracle', 'PASSWORD': 'hunter2'}}\n", "my_settings.py:1:36: ENGINE 'django.db.backends.oracle': ledger-server reads"),
        ("DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'PASSWORD': 5}}\n", "my_settings.py:1:25: DATABASES[\"default\"] has no NAME"),
        ("DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'x', 'ATOMIC_REQUESTS': True}}\n", "my_settings.py:1:79: DATABASES[\"default\"]['ATOMIC_REQUESTS']"),
        ("DATABASES = {'other': {}}\n", "my_settings.py:1:13: DATABASES has no \"default\" database"),
        ("DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': '/no/such/dir/x.db'}}\n", "my_settings.py:1:25: DATABASES[\"default\"]: directory /no/such/dir does not exist"),
    ];
    for (file, expected) in cases {
        let line = refusal(&[("my_settings.py", file)], &[], false);
        assert!(line.contains(&format!("/{expected}")), "{file:?}:\n{line}\nexpected {expected}");
        assert!(!line.contains("hunter2"), "a password in {line}");
    }
}

#[test]
fn the_oracles_my_settings_is_refused_at_its_if() {
    let line = refusal(&[("my_settings.py", ORACLE_MY_SETTINGS)], &[], false);
    assert!(line.ends_with("my_settings.py:9:1: an `if` statement (a settings file is read, not run: set the value in the environment instead, e.g. SECRET_KEY=… or DATABASE_URL=…)"), "{line}");
    let line = refusal(&[("settings.py", ORACLE_SETTINGS), ("my_settings.py", ORACLE_MY_SETTINGS)], &[], true);
    assert!(line.contains("my_settings.py:9:1: an `if` statement"), "{line}");
}

#[test]
fn the_oracles_settings_py_with_a_wecode_my_settings() {
    let mine = "SECRET_KEY = 'k'\nALGORITHM = 'HS384'\nDATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'db.sqlite3'}}\n";
    let s = load(&[("settings.py", ORACLE_SETTINGS), ("my_settings.py", mine)], &[], true).unwrap();
    assert_eq!((s.secret_key.expose(), s.algorithm, s.time_zone), ("k", Algorithm::HS384, chrono_tz::Asia::Seoul));
    assert_eq!(s.database_url, DatabaseUrl::Sqlite("db.sqlite3".into()));
    // Django's default TIME_ZONE when settings.py leaves it out; the environment still wins
    let no_tz = ORACLE_SETTINGS.replace("TIME_ZONE = \"Asia/Seoul\"\n", "");
    let s = load(&[("settings.py", &no_tz), ("my_settings.py", mine)], &[], true).unwrap();
    assert_eq!(s.time_zone, chrono_tz::America::Chicago);
    let s = load(&[("settings.py", &no_tz), ("my_settings.py", mine)], &[("TIME_ZONE", "UTC")], true).unwrap();
    assert_eq!(s.time_zone, chrono_tz::UTC);
    // Django's template: the database next to BASE_DIR
    let template = ORACLE_SETTINGS.replace(
        "from my_settings import ALGORITHM, DATABASES, SECRET_KEY  # noqa: F401",
        "from my_settings import SECRET_KEY\nimport os",
    ) + "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': os.path.join(BASE_DIR, 'db.sqlite3')}}\n";
    let dir_db = load(&[("settings.py", &template), ("my_settings.py", mine)], &[], true).unwrap().database_url;
    let DatabaseUrl::Sqlite(path) = dir_db else { panic!("{dir_db:?}") };
    assert!(path.is_absolute() && path.ends_with("db.sqlite3"), "{path:?}");
    let e = refusal(&[("settings.py", ORACLE_SETTINGS)], &[], true);
    assert!(e.contains("settings.py:3:6") && e.contains("my_settings"), "no my_settings.py: {e}");
}

#[test]
fn django_settings_the_compat_layer_does_not_reproduce_are_refused() {
    let mine = "SECRET_KEY = 'k'\nALGORITHM = 'HS256'\nDATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'db.sqlite3'}}\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "DEBUG = False",
            "DEBUG = True",
            "settings.py:7:9: DEBUG = True: ledger-server's compat profile answers as DEBUG = False",
        ),
        ("USE_TZ = False", "USE_TZ = True", "settings.py:32:10: USE_TZ = True"),
        ("APPEND_SLASH = False\n", "", "settings.py: APPEND_SLASH is not set (Django's default True)"),
        (
            "ALLOWED_HOSTS = [\"*\"]",
            "ALLOWED_HOSTS = ['example.com']",
            "ALLOWED_HOSTS = ['example.com']: ledger-server's compat profile answers as ALLOWED_HOSTS = ['*']",
        ),
        (
            "(\"DELETE\", \"GET\", \"OPTIONS\", \"PATCH\", \"POST\", \"PUT\")",
            "('GET', 'DELETE', 'OPTIONS', 'PATCH', 'POST', 'PUT')",
            "settings.py:39:22: CORS_ALLOW_METHODS = ('GET', 'DELETE'",
        ),
        (
            "CORS_ORIGIN_ALLOW_ALL = True",
            "CORS_ORIGIN_ALLOW_ALL = False",
            "settings.py:37:25: CORS_ORIGIN_ALLOW_ALL = False",
        ),
        ("CORS_ORIGIN_ALLOW_ALL = True", "", "CORS_ORIGIN_ALLOW_ALL is not set"),
        ("CORS_ALLOW_CREDENTIALS = True", "CORS_ALLOW_CREDENTIALS = False", "CORS_ALLOW_CREDENTIALS = False"),
        ("LANGUAGE_CODE = \"en-us\"", "LANGUAGE_CODE = 'ko-kr'", "LANGUAGE_CODE = 'ko-kr'"),
        ("    \"corsheaders.middleware.CorsMiddleware\",\n", "", "MIDDLEWARE = ["),
        ("TIME_ZONE = \"Asia/Seoul\"", "TIME_ZONE = 'Mars/Base'", "settings.py:29:13: TIME_ZONE: unknown time zone"),
        ("DEBUG = False", "DEBUG = False\nCORS_PREFLIGHT_MAX_AGE = 60", "CORS_PREFLIGHT_MAX_AGE = 60"),
        ("DEBUG = False", "DEBUG = False\nCORS_URLS_REGEX = r'^/users/.*$'", "CORS_URLS_REGEX = '^/users/.*$'"),
        (
            "BASE_DIR = Path(__file__).resolve().parent.parent",
            "BASE_DIR = Path(__file__).absolute()",
            "settings.py:5:26: the attribute `a Path.absolute`",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(ORACLE_SETTINGS.contains(from), "{from:?} not in the oracle's settings.py");
        let text = ORACLE_SETTINGS.replacen(from, to, 1);
        let line = refusal(&[("settings.py", &text), ("my_settings.py", mine)], &[], true);
        assert!(line.contains(expected), "{from:?} -> {to:?}:\n{line}\nexpected {expected}");
    }
    let text = ORACLE_SETTINGS
        .replace("CORS_ORIGIN_ALLOW_ALL", "CORS_ALLOW_ALL_ORIGINS")
        .replace("USE_I18N = True", "USE_I18N = False")
        .replace("\"en-us\"", "'de'");
    assert!(load(&[("settings.py", &text), ("my_settings.py", mine)], &[], true).is_ok(), "the new name; no i18n");
}
