//! `--django-settings`: the settings of Django's `settings.py` that change
//! the original's answers, each checked against what ledger-server's compat
//! profile reproduces (its value, or Django's and django-cors-headers'
//! default when the file leaves it out). One that differs stops startup
//! with one line; the rest of the file (apps, URLs, logging, …) is the
//! product's and is ignored.

use pycompat::pyrepr::{float_repr, repr_str};
use pycompat::pysource::{Module, Value};

use super::django_py::refuse;
use super::SettingsError;

/// django-cors-headers' `CORS_ALLOW_METHODS`, as ledger-server answers it
/// (`http::cors::ALLOW_METHODS` is these joined).
pub const CORS_ALLOW_METHODS: &[&str] = &["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"];
/// django-cors-headers' `CORS_ALLOW_HEADERS` (`http::cors::ALLOW_HEADERS`).
pub const CORS_ALLOW_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "authorization",
    "content-type",
    "dnt",
    "origin",
    "user-agent",
    "x-csrftoken",
    "x-requested-with",
];
/// The original's `MIDDLEWARE`: the headers every answer carries, in order.
pub const MIDDLEWARE: &[&str] = &[
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
];

/// What a setting must be.
enum Want {
    Bool(bool),
    Int(i128),
    Str(&'static str),
    /// A list or tuple of these strings, in this order.
    Strs(&'static [&'static str]),
}

/// (setting, what ledger-server reproduces, the default when it is not
/// set: `None` when that default is the same, else its repr, why).
const RULES: &[(&str, Want, Option<&str>, &str)] = &[
    ("DEBUG", Want::Bool(false), None, "Django's plain 404 and 500 pages, never the debug pages"),
    ("ALLOWED_HOSTS", Want::Strs(&["*"]), Some("[]"), "any valid Host header is served"),
    ("USE_TZ", Want::Bool(false), None, "timestamps are written as naive local time in TIME_ZONE"),
    ("APPEND_SLASH", Want::Bool(false), Some("True"), "a path without its slash is a 404, never a redirect"),
    ("MIDDLEWARE", Want::Strs(MIDDLEWARE), Some("[]"), "the security, CORS, common and clickjacking headers"),
    ("CORS_ALLOW_CREDENTIALS", Want::Bool(true), Some("False"), "preflights allow credentials"),
    ("CORS_ALLOW_METHODS", Want::Strs(CORS_ALLOW_METHODS), None, "Access-Control-Allow-Methods, in this order"),
    ("CORS_ALLOW_HEADERS", Want::Strs(CORS_ALLOW_HEADERS), None, "Access-Control-Allow-Headers, in this order"),
    ("CORS_PREFLIGHT_MAX_AGE", Want::Int(86400), None, "Access-Control-Max-Age"),
    ("CORS_URLS_REGEX", Want::Str("^.*$"), None, "every path is CORS-enabled"),
    ("CORS_EXPOSE_HEADERS", Want::Strs(&[]), None, "no Access-Control-Expose-Headers"),
    ("SECURE_CONTENT_TYPE_NOSNIFF", Want::Bool(true), None, "X-Content-Type-Options: nosniff"),
    ("SECURE_REFERRER_POLICY", Want::Str("same-origin"), None, "Referrer-Policy: same-origin"),
    ("SECURE_BROWSER_XSS_FILTER", Want::Bool(false), None, "no X-XSS-Protection header"),
    ("SECURE_SSL_REDIRECT", Want::Bool(false), None, "no redirect to https"),
    ("SECURE_HSTS_SECONDS", Want::Int(0), None, "no Strict-Transport-Security header"),
    ("X_FRAME_OPTIONS", Want::Str("DENY"), None, "X-Frame-Options: DENY"),
    ("USE_X_FORWARDED_HOST", Want::Bool(false), None, "the Host header is the host checked"),
    ("DEFAULT_CHARSET", Want::Str("utf-8"), None, "text/html; charset=utf-8 on the error pages"),
    ("DATA_UPLOAD_MAX_MEMORY_SIZE", Want::Int(2_621_440), None, "a body over 2.5 MiB is refused as Django refuses it"),
];

/// Checks `module` (Django's `settings.py`, shown as `file`).
pub(super) fn check(module: &Module, file: &str) -> Result<(), SettingsError> {
    for (name, want, default, why) in RULES {
        let wanted = shown(want);
        let Some(b) = module.get(name) else {
            if let Some(default) = default {
                return Err(SettingsError::Python(format!(
                    "{file}: {name} is not set (Django's default {default}): ledger-server's compat profile answers \
                     as {name} = {wanted} ({why}); set it so"
                )));
            }
            continue;
        };
        if !matches(want, &b.value.value) {
            return Err(differs(file, b, name, &wanted, why));
        }
    }
    // django-cors-headers 3.10 reads CORS_ALLOW_ALL_ORIGINS, else its old name
    let allow_all = module.get("CORS_ALLOW_ALL_ORIGINS").or_else(|| module.get("CORS_ORIGIN_ALLOW_ALL"));
    match allow_all {
        None => {
            return Err(SettingsError::Python(format!(
                "{file}: CORS_ORIGIN_ALLOW_ALL is not set (django-cors-headers' default False): ledger-server's \
                 compat profile answers as CORS_ORIGIN_ALLOW_ALL = True (any origin); set it so"
            )))
        }
        Some(b) if !matches(&Want::Bool(true), &b.value.value) => {
            return Err(differs(file, b, &b.name, "True", "any origin"));
        }
        Some(_) => {}
    }
    // the 404 page is translated when USE_I18N is on
    let i18n = module.get("USE_I18N").is_none_or(|b| !matches(&Want::Bool(false), &b.value.value));
    if let Some(b) = module.get("LANGUAGE_CODE").filter(|_| i18n) {
        if !matches!(&b.value.value, Value::Str(s) if s == "en-us" || s == "en") {
            return Err(differs(file, b, "LANGUAGE_CODE", "'en-us'", "the error pages in English"));
        }
    }
    Ok(())
}

fn differs(file: &str, b: &pycompat::pysource::Binding, name: &str, wanted: &str, why: &str) -> SettingsError {
    refuse(
        file,
        b.value.pos,
        &format!(
            "{name} = {}: ledger-server's compat profile answers as {name} = {wanted} ({why}); set it so or leave \
             ledger-server's --django-settings out",
            repr(&b.value.value)
        ),
    )
}

fn matches(want: &Want, value: &Value) -> bool {
    match (want, value) {
        (Want::Bool(w), Value::Bool(v)) => w == v,
        // Python's 0 == False, 1 == True
        (Want::Bool(w), Value::Int(n)) => i128::from(*w) == *n,
        (Want::Int(w), Value::Int(n)) => w == n,
        (Want::Int(w), Value::Bool(b)) => *w == i128::from(*b),
        (Want::Str(w), Value::Str(s)) => w == s,
        (Want::Strs(w), Value::List(items) | Value::Tuple(items)) => {
            items.len() == w.len() && items.iter().zip(w.iter()).all(|(i, w)| i.value == Value::Str((*w).into()))
        }
        _ => false,
    }
}

fn shown(want: &Want) -> String {
    match want {
        Want::Bool(b) => (if *b { "True" } else { "False" }).into(),
        Want::Int(n) => n.to_string(),
        Want::Str(s) => repr_str(s),
        Want::Strs(items) => format!("[{}]", items.iter().map(|s| repr_str(s)).collect::<Vec<_>>().join(", ")),
    }
}

/// Python's repr of a value, for the one line.
pub(super) fn repr(value: &Value) -> String {
    let seq = |items: &[pycompat::pysource::Node]| items.iter().map(|i| repr(&i.value)).collect::<Vec<_>>();
    match value {
        Value::None => "None".into(),
        Value::Bool(b) => (if *b { "True" } else { "False" }).into(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => float_repr(*f),
        Value::Str(s) => repr_str(s),
        Value::Bytes(b) => format!("b{}", repr_str(&String::from_utf8_lossy(b))),
        Value::List(items) => format!("[{}]", seq(items).join(", ")),
        Value::Tuple(items) if items.len() == 1 => format!("({},)", seq(items).join(", ")),
        Value::Tuple(items) => format!("({})", seq(items).join(", ")),
        Value::Set(items) if items.is_empty() => "set()".into(),
        Value::Set(items) => format!("{{{}}}", seq(items).join(", ")),
        Value::Dict(pairs) => {
            let shown: Vec<String> =
                pairs.iter().map(|(k, v)| format!("{}: {}", repr(&k.value), repr(&v.value))).collect();
            format!("{{{}}}", shown.join(", "))
        }
        Value::Path(p) => format!("PosixPath({})", repr_str(&p.to_string_lossy())),
    }
}
