//! The `users` and `tokens` tables as Django's migration creates them, one
//! module per backend: they differ only in how timestamps are stored
//! (`USE_TZ = False`): text on SQLite, `timestamp with time zone` on
//! PostgreSQL, `datetime(6)` on MySQL/MariaDB.

macro_rules! tables {
    ($timestamp:ty) => {
        diesel::table! {
            users (id) {
                id -> BigInt,
                created_at -> $timestamp,
                updated_at -> $timestamp,
                email -> Text,
                password -> Text,
            }
        }

        diesel::table! {
            tokens (id) {
                id -> BigInt,
                token -> Text,
                user_id -> BigInt,
            }
        }

        diesel::table! {
            /// ledger-server's own: a hardened session's metadata, one row
            /// per token row (Unix seconds).
            ledger_sessions (token_id) {
                token_id -> BigInt,
                user_id -> BigInt,
                created_at -> BigInt,
                expires_at -> Nullable<BigInt>,
                last_seen_at -> BigInt,
                client_ip -> Text,
                user_agent -> Text,
            }
        }

        diesel::table! {
            /// ledger-server's own: failed logins and signups, for throttling.
            ledger_login_attempts (id) {
                id -> BigInt,
                scope -> Text,
                subject -> Text,
                at -> BigInt,
            }
        }

        diesel::joinable!(tokens -> users (user_id));
        diesel::joinable!(ledger_sessions -> tokens (token_id));
        diesel::allow_tables_to_appear_in_same_query!(users, tokens, ledger_sessions, ledger_login_attempts);
    };
}

pub mod sqlite {
    tables!(diesel::sql_types::Text);
}

#[cfg(feature = "postgres")]
pub mod postgres {
    tables!(diesel::sql_types::Timestamptz);
}

#[cfg(feature = "mysql")]
pub mod mysql {
    tables!(diesel::sql_types::Datetime);
}
