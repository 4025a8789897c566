//! SIGHUP: the settings are read again, as at start, and the three that
//! can change without a restart are applied to the running server
//! (`LOG_LEVEL`, `ACCESS_LOG`, `SHADOW_SAMPLE`, `BCRYPT_YIELD`), one log line each
//! (`ACCESS_LOG: false → true`); every other changed setting gets one line
//! saying it needs a restart. Settings that no longer load are logged and
//! the running ones kept.

use std::sync::atomic::Ordering;

use actix_web::web;

use super::AppState;
use crate::settings::reload::Change;
use crate::settings::Settings;
use crate::telemetry::log::{self as logs, LevelChange};

/// Listens for SIGHUP on the current actix system (the server's main
/// thread, not a worker); the settings are read on a blocking thread.
pub fn spawn(state: web::Data<AppState>, settings: Settings) -> std::io::Result<()> {
    use actix_rt::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    actix_rt::spawn(async move {
        let mut running = settings;
        while hangups.recv().await.is_some() {
            let current = running.clone();
            match actix_rt::task::spawn_blocking(move || current.reload()).await {
                Ok(Ok(new)) => {
                    apply(&state, &running, &new);
                    running.adopt_reloadable(&new);
                }
                Ok(Err(e)) => log::error!("SIGHUP: settings not reloaded, the running ones stay: {e}"),
                Err(e) => log::error!("SIGHUP: settings not reloaded, the running ones stay: {e}"),
            }
        }
    });
    Ok(())
}

/// Applies what changed from `running` to `new`, and logs it.
fn apply(state: &AppState, running: &Settings, new: &Settings) {
    let changes = running.changes(new);
    if changes.is_empty() {
        log::info!("SIGHUP: settings read again, none changed");
    }
    for change in changes {
        match change {
            Change::Applied { key: "LOG_LEVEL", .. } => {
                // said at the level that lets it through: the old one or the new
                let said_before = log::log_enabled!(log::Level::Info);
                if said_before {
                    log::info!("{change}");
                }
                if logs::set_level(&new.log_level) == LevelChange::RustLogWins {
                    log::info!("LOG_LEVEL: RUST_LOG is set, and decides the level while it is");
                } else if !said_before {
                    log::info!("{change}");
                }
            }
            Change::Applied { key, .. } => {
                match key {
                    "ACCESS_LOG" => state.access_log.store(new.access_log, Ordering::Relaxed),
                    "BCRYPT_YIELD" => crate::runtime::gate::set_enabled(new.bcrypt_yield),
                    "SHADOW_SAMPLE" => match &state.shadow {
                        Some(recorder) => recorder.set_sample(new.shadow_sample),
                        None => log::info!("SHADOW_SAMPLE: shadow mode is off; it applies once SHADOW is on"),
                    },
                    _ => {}
                }
                log::info!("{change}");
            }
            Change::NeedsRestart(_) => log::warn!("{change}"),
        }
    }
}
