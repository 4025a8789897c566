//! What Django 3.2's `manage.py migrate` makes of `users/0001_initial` on
//! each backend, described as the catalog reads it back ([`super::schema`]
//! reads the live database into the same form). The integration test
//! `check` proves these against a database Django itself migrated, on
//! every backend.
//!
//! Keys: `users.email` (a column), `index NAME`, `constraint NAME`,
//! `foreign key tokens.user_id` (SQLite), `statement NAME` (SQLite's
//! stored `CREATE` text, compared last).

use std::collections::BTreeMap;

use super::Kind;

/// Key → description of every fact Django's migration makes.
pub(crate) type Facts = BTreeMap<String, String>;

fn facts(pairs: &[(&str, &str)]) -> Facts {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// SQLite's stored `CREATE` statements (`sqlite_master.sql`), which are
/// the migration's own, without `IF NOT EXISTS`.
pub(crate) const SQLITE_USERS: &str = "CREATE TABLE \"users\" (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"created_at\" datetime NOT NULL, \"updated_at\" datetime NOT NULL, \"email\" varchar(100) NOT NULL UNIQUE, \"password\" varchar(200) NOT NULL)";
pub(crate) const SQLITE_TOKENS: &str = "CREATE TABLE \"tokens\" (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"token\" varchar(100) NOT NULL, \"user_id\" bigint NOT NULL REFERENCES \"users\" (\"id\") DEFERRABLE INITIALLY DEFERRED)";
pub(crate) const SQLITE_TOKENS_INDEX: &str = "CREATE INDEX \"tokens_user_id_9f60f1af\" ON \"tokens\" (\"user_id\")";

/// Everything but SQLite's statements (see [`statements`]).
pub(crate) fn expected(kind: Kind) -> Facts {
    match kind {
        Kind::Sqlite => facts(&[
            ("users.id", "INTEGER NOT NULL PRIMARY KEY"),
            ("users.created_at", "datetime NOT NULL"),
            ("users.updated_at", "datetime NOT NULL"),
            ("users.email", "varchar(100) NOT NULL"),
            ("users.password", "varchar(200) NOT NULL"),
            ("tokens.id", "INTEGER NOT NULL PRIMARY KEY"),
            ("tokens.token", "varchar(100) NOT NULL"),
            ("tokens.user_id", "bigint NOT NULL"),
            ("index sqlite_autoindex_users_1", "UNIQUE (email)"),
            ("index tokens_user_id_9f60f1af", "(user_id)"),
            ("foreign key tokens.user_id", "REFERENCES users(id) DEFERRABLE INITIALLY DEFERRED"),
        ]),
        Kind::Postgres => facts(&[
            ("users.id", "bigint NOT NULL DEFAULT nextval('users_id_seq'::regclass)"),
            ("users.created_at", "timestamp with time zone NOT NULL"),
            ("users.updated_at", "timestamp with time zone NOT NULL"),
            ("users.email", "character varying(100) NOT NULL"),
            ("users.password", "character varying(200) NOT NULL"),
            ("tokens.id", "bigint NOT NULL DEFAULT nextval('tokens_id_seq'::regclass)"),
            ("tokens.token", "character varying(100) NOT NULL"),
            ("tokens.user_id", "bigint NOT NULL"),
            ("index users_pkey", "UNIQUE btree (id)"),
            ("index users_email_key", "UNIQUE btree (email)"),
            ("index users_email_0ea73cca_like", "btree (email varchar_pattern_ops)"),
            ("index tokens_pkey", "UNIQUE btree (id)"),
            ("index tokens_user_id_9f60f1af", "btree (user_id)"),
            ("constraint users_pkey", "PRIMARY KEY (id)"),
            ("constraint users_email_key", "UNIQUE (email)"),
            ("constraint tokens_pkey", "PRIMARY KEY (id)"),
            (
                "constraint tokens_user_id_9f60f1af_fk_users_id",
                "FOREIGN KEY (user_id) REFERENCES users(id) DEFERRABLE INITIALLY DEFERRED",
            ),
        ]),
        Kind::Mysql => facts(&[
            ("users.id", "bigint NOT NULL auto_increment"),
            ("users.created_at", "datetime(6) NOT NULL"),
            ("users.updated_at", "datetime(6) NOT NULL"),
            ("users.email", "varchar(100) NOT NULL"),
            ("users.password", "varchar(200) NOT NULL"),
            ("tokens.id", "bigint NOT NULL auto_increment"),
            ("tokens.token", "varchar(100) NOT NULL"),
            ("tokens.user_id", "bigint NOT NULL"),
            ("index users.PRIMARY", "UNIQUE (id)"),
            ("index users.email", "UNIQUE (email)"),
            ("index tokens.PRIMARY", "UNIQUE (id)"),
            ("index tokens.tokens_user_id_9f60f1af_fk_users_id", "(user_id)"),
            ("constraint tokens_user_id_9f60f1af_fk_users_id", "FOREIGN KEY (user_id) REFERENCES users(id)"),
        ]),
    }
}

/// SQLite: the stored statements, by name.
pub(crate) fn statements() -> Facts {
    facts(&[
        ("statement users", SQLITE_USERS),
        ("statement tokens", SQLITE_TOKENS),
        ("statement tokens_user_id_9f60f1af", SQLITE_TOKENS_INDEX),
    ])
}
