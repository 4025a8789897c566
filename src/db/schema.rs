//! The `users` and `tokens` tables as Django's migration creates them.
//! Timestamps are naive local times (`USE_TZ = False`), which Django's SQLite
//! backend stores as text.

diesel::table! {
    users (id) {
        id -> BigInt,
        created_at -> Text,
        updated_at -> Text,
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
