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

        diesel::joinable!(tokens -> users (user_id));
        diesel::allow_tables_to_appear_in_same_query!(users, tokens);
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
