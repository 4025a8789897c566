//! Reading the settings again, as at start (SIGHUP): the same file (or the
//! same search for one), `.env` and the environment. The environment of a
//! running process does not change, but `.env` may: a variable that `.env`
//! gave at start is taken from the file as it is now.
//!
//! Three settings change without a restart ([`RELOADABLE`]); any other
//! that changed is named as needing one.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Settings, SettingsError, Sources};

/// The settings a running server applies when they change.
pub const RELOADABLE: &[&str] = &["LOG_LEVEL", "ACCESS_LOG", "SHADOW_SAMPLE", "BCRYPT_YIELD"];

/// Where the settings were read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    file: Option<PathBuf>,
    django: Option<PathBuf>,
    dotenv: bool,
    /// The `.env` that was read.
    pub(super) dotenv_path: Option<PathBuf>,
    /// The variables `.env` set (the environment did not have them).
    pub(super) from_dotenv: Vec<String>,
}

impl Origin {
    pub(super) fn of(sources: &Sources<'_>) -> Origin {
        Origin {
            file: sources.file.map(PathBuf::from),
            django: sources.django.map(PathBuf::from),
            dotenv: sources.dotenv,
            ..Origin::default()
        }
    }
}

/// A `.env` that cannot be read; a line that does not parse is not shown
/// (it may hold a secret).
pub(super) fn dotenv_error(e: dotenvy::Error) -> SettingsError {
    match e {
        dotenvy::Error::LineParse(_, at) => {
            SettingsError::DotEnv(format!("a line cannot be parsed (at character {at})"))
        }
        e => SettingsError::DotEnv(e.to_string()),
    }
}

/// One changed setting.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// Applied at once: `ACCESS_LOG: false → true`.
    Applied { key: &'static str, before: String, after: String },
    /// Takes effect after a restart (its values are not shown: it may be
    /// a secret).
    NeedsRestart(&'static str),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Applied { key, before, after } => write!(f, "{key}: {before} → {after}"),
            Change::NeedsRestart(key) => {
                write!(f, "{key} changed: it needs a restart to take effect (the running server keeps its value)")
            }
        }
    }
}

impl Settings {
    /// The settings read again from where these were read.
    pub fn reload(&self) -> Result<Settings, SettingsError> {
        let origin = self.origin.as_ref().ok_or_else(|| SettingsError::Unreadable {
            path: "(none)".into(),
            reason: "these settings were not read from a file or the environment".into(),
        })?;
        let mut dotenv = HashMap::new();
        if origin.dotenv {
            let vars = match &origin.dotenv_path {
                Some(path) if path.exists() => dotenvy::from_path_iter(path).map(Some),
                Some(_) => Ok(None),
                None => dotenvy::dotenv_iter().map(Some),
            };
            match vars {
                Ok(Some(vars)) => {
                    for var in vars {
                        let (key, value) = var.map_err(dotenv_error)?;
                        dotenv.insert(key, value);
                    }
                }
                Ok(None) => {}
                Err(e) if e.not_found() => {}
                Err(e) => return Err(dotenv_error(e)),
            }
        }
        let env = |key: &str| {
            if origin.from_dotenv.iter().any(|k| k == key) {
                return dotenv.get(key).cloned();
            }
            std::env::var(key).ok().or_else(|| dotenv.get(key).cloned())
        };
        let sources = Sources { file: origin.file.as_deref(), django: origin.django.as_deref(), dotenv: false };
        let file = Settings::read_file(&sources, &env)?;
        let mut settings = Settings::resolve(&file, &env)?;
        settings.origin = self.origin.clone();
        Ok(settings)
    }

    /// What differs in `new`: the reloadable settings with their values,
    /// the others by name.
    pub fn changes(&self, new: &Settings) -> Vec<Change> {
        self.differing(new)
            .into_iter()
            .map(|key| match key {
                "LOG_LEVEL" => Change::Applied { key, before: self.log_level.clone(), after: new.log_level.clone() },
                "ACCESS_LOG" => {
                    Change::Applied { key, before: self.access_log.to_string(), after: new.access_log.to_string() }
                }
                "SHADOW_SAMPLE" => Change::Applied {
                    key,
                    before: self.shadow_sample.to_string(),
                    after: new.shadow_sample.to_string(),
                },
                "BCRYPT_YIELD" => {
                    Change::Applied { key, before: self.bcrypt_yield.to_string(), after: new.bcrypt_yield.to_string() }
                }
                other => Change::NeedsRestart(other),
            })
            .collect()
    }

    /// Takes the reloadable settings of `new` (the others stay as the
    /// running server has them).
    pub fn adopt_reloadable(&mut self, new: &Settings) {
        self.log_level.clone_from(&new.log_level);
        self.access_log = new.access_log;
        self.shadow_sample = new.shadow_sample;
        self.bcrypt_yield = new.bcrypt_yield;
    }
}
