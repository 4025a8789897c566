//! What every handler shares.

use std::sync::atomic::AtomicBool;

use crate::auth::jwt::TokenKey;
use crate::db::Database;
use crate::runtime::BcryptPool;
use crate::settings::{Settings, TrustedProxies};
use crate::upstream::shadow::Recorder;
use crate::upstream::FrontDoor;

/// The database, the signing key and the bcrypt threads.
pub struct AppState {
    pub db: Database,
    pub key: TokenKey,
    pub bcrypt: BcryptPool,
    /// `ACCESS_LOG`: one log line per request (SIGHUP may change it).
    pub access_log: AtomicBool,
    /// `TRUSTED_PROXIES`: the peers whose `X-Request-Id` is taken.
    pub trusted_proxies: TrustedProxies,
    /// The hardened profile's settings; `None` under compat.
    pub hardened: Option<Hardened>,
    /// `UPSTREAM`: the front door's settings (each worker has its own
    /// [`crate::upstream::Forwarder`] made from them).
    pub front_door: Option<FrontDoor>,
    /// `SHADOW`: where checks are recorded.
    pub shadow: Option<Recorder>,
}

/// What the hardened views read of the settings.
#[derive(Clone, Debug)]
pub struct Hardened {
    pub token_ttl: u64,
    pub login_max_failures: u32,
    pub login_window: u32,
    pub login_max_failures_per_ip: u32,
    pub signup_max_per_ip: u32,
    pub trusted_proxies: TrustedProxies,
    pub bcrypt_cost: u32,
}

impl Hardened {
    pub fn from_settings(settings: &Settings) -> Hardened {
        Hardened {
            token_ttl: settings.token_ttl,
            login_max_failures: settings.login_max_failures,
            login_window: settings.login_window,
            login_max_failures_per_ip: settings.login_max_failures_per_ip,
            signup_max_per_ip: settings.signup_max_per_ip,
            trusted_proxies: settings.trusted_proxies.clone(),
            bcrypt_cost: settings.bcrypt_cost,
        }
    }
}
