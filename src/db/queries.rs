//! The queries of the users app, as Django's ORM makes them.

#[cfg(feature = "postgres")]
use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::pool::{checkout, settle};
use super::schema;
use super::store::{with_conn, Backend, Store};
#[cfg(feature = "postgres")]
use super::time::micros;
use super::time::{format_naive, local_now};
use super::{Created, DbError, GuardLookup, TokenRows, User};

impl Store {
    /// Checks that the database answers.
    pub fn ping(&self) -> Result<(), DbError> {
        with_conn!(self, conn, _s => {
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
    }

    /// `log_in_confirm`'s checks in one query: the user and its token
    /// rows. The original makes three (`exists`, `exists`, `get`), and the
    /// logout view a fourth (`Token.objects.get`); one consistent read gives
    /// the same answers.
    pub fn guard_lookup(&self, user_id: i64) -> Result<GuardLookup, DbError> {
        with_conn!(self, conn, s, read_only => {
            // One row per token row, or one with no token id. No LIMIT: a
            // bound LIMIT makes SQLite re-prepare the cached statement on
            // every call, and a user has as many rows as unspent logins.
            // Only ids: PostgreSQL then answers from the two indexes
            // (an index-only scan of users_pkey) without visiting the
            // users table, whose pages a big database cannot keep cached.
            let rows: Vec<(i64, Option<i64>)> = s::users::table
                .left_join(s::tokens::table)
                .filter(s::users::id.eq(user_id))
                .select((s::users::id, s::tokens::id.nullable()))
                .load(conn)?;
            let tokens = match rows.as_slice() {
                [] => return Ok(GuardLookup::NoUser),
                [(_, None)] => return Ok(GuardLookup::NoToken),
                [(_, Some(token))] => TokenRows::One(*token),
                _ => TokenRows::Several,
            };
            Ok(GuardLookup::User(rows[0].0, tokens))
        })
    }

    /// `User.objects.filter(email=email).exists()`.
    pub fn email_exists(&self, email: &str) -> Result<bool, DbError> {
        with_conn!(self, conn, s, read_only => {
            Ok(diesel::select(diesel::dsl::exists(s::users::table.filter(s::users::email.eq(email)))).get_result(conn)?)
        })
    }

    /// `User.objects.get(email=email)`, `None` for `DoesNotExist`.
    pub fn find_by_email(&self, email: &str) -> Result<Option<User>, DbError> {
        with_conn!(self, conn, s, read_only => {
            // At most one row (UNIQUE email, under the database's collation).
            Ok(s::users::table
                .filter(s::users::email.eq(email))
                .select((s::users::id, s::users::email, s::users::password))
                .load::<User>(conn)?
                .into_iter()
                .next())
        })
    }

    /// `User.objects.create(email=..., password=...)`, with both timestamps
    /// taken as Django takes them (two separate `now()` calls) and stored
    /// as Django stores them under `USE_TZ = False`.
    pub fn create_user(&self, email: &str, password_hash: &str) -> Result<Created, DbError> {
        let inserted = match &self.backend {
            Backend::Sqlite(sqlite) => {
                use schema::sqlite::users;
                let (created, updated) = (format_naive(local_now(self.tz)), format_naive(local_now(self.tz)));
                let mut pooled = checkout(&sqlite.pool, &self.reach)?;
                let inserted = diesel::insert_into(users::table)
                    .values((
                        users::created_at.eq(created),
                        users::updated_at.eq(updated),
                        users::email.eq(email),
                        users::password.eq(password_hash),
                    ))
                    .execute(&mut **pooled);
                sqlite.wrote();
                settle(&mut pooled, &self.reach, true, inserted.map_err(DbError::from))
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => {
                // Django sends naive local time on a connection whose time
                // zone is TIME_ZONE: the same instant as now in UTC.
                use schema::postgres::users;
                let (created, updated) = (micros(Utc::now()), micros(Utc::now()));
                let mut pooled = checkout(pool, &self.reach)?;
                // psycopg2 interpolates values, so PostgreSQL plans each of
                // Django's statements with them: a value too long for its
                // varchar fails at planning, before the id default (nextval)
                // runs. A cached generic plan would fail at execution, after
                // nextval, and later ids would differ: this insert is always
                // planned with its values.
                let inserted = pooled.transaction(|conn| {
                    conn.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")?;
                    diesel::insert_into(users::table)
                        .values((
                            users::created_at.eq(created),
                            users::updated_at.eq(updated),
                            users::email.eq(email),
                            users::password.eq(password_hash),
                        ))
                        .execute(conn)
                });
                settle(&mut pooled, &self.reach, true, inserted.map_err(DbError::from))
            }
            #[cfg(feature = "mysql")]
            Backend::Mysql(pool) => {
                use schema::mysql::users;
                let (created, updated) = (local_now(self.tz), local_now(self.tz));
                let mut pooled = checkout(pool, &self.reach)?;
                let inserted = diesel::insert_into(users::table)
                    .values((
                        users::created_at.eq(created),
                        users::updated_at.eq(updated),
                        users::email.eq(email),
                        users::password.eq(password_hash),
                    ))
                    .execute(&mut **pooled);
                settle(&mut pooled, &self.reach, true, inserted.map_err(DbError::from))
            }
        };
        match inserted {
            Ok(_) => Ok(Created::Created),
            // A concurrent signup of the same email won the race: the
            // answer a moment later would have been EMAIL_ALREADY_EXISTS.
            // Any other collision (MySQL silently cutting an over-long email
            // to the length of one that exists) is Django's IntegrityError.
            Err(e @ DbError::Query(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))) => {
                if self.email_exists(email)? {
                    Ok(Created::Duplicate)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `Token.objects.create(user_id=..., token=...)`.
    pub fn add_token(&self, user_id: i64, token: &str) -> Result<(), DbError> {
        #[cfg(feature = "postgres")]
        if let Backend::Postgres(pool) = &self.backend {
            // A token longer than the column (HS384/HS512, ids of 8 digits
            // and more) fails as Django's does, before nextval: see `create_user`.
            use schema::postgres as s;
            let mut pooled = checkout(pool, &self.reach)?;
            let inserted = pooled.transaction(|conn| {
                conn.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")?;
                diesel::insert_into(s::tokens::table)
                    .values((s::tokens::token.eq(token), s::tokens::user_id.eq(user_id)))
                    .execute(conn)
            });
            settle(&mut pooled, &self.reach, true, inserted.map_err(DbError::from))?;
            return Ok(());
        }
        let inserted = with_conn!(self, conn, s => {
            diesel::insert_into(s::tokens::table)
                .values((s::tokens::token.eq(token), s::tokens::user_id.eq(user_id)))
                .execute(conn)?;
            Ok(())
        });
        self.wrote();
        inserted
    }

    /// The `.delete()` of `Token.objects.get(...).delete()`: by primary key;
    /// a row already gone (a concurrent logout) is no error, as in Django.
    /// On SQLite it waits for its group commit.
    pub fn delete_token(&self, token_id: i64) -> Result<(), DbError> {
        if let Some(sqlite) = self.sqlite() {
            return sqlite.queue_delete_token(token_id).blocking_recv().map_err(|_| DbError::CommitStopped)?;
        }
        with_conn!(self, conn, s => {
            diesel::delete(s::tokens::table.find(token_id)).execute(conn)?;
            Ok(())
        })
    }

    /// Several logouts at once, as concurrent requests make them: on SQLite
    /// queued together and committed together, elsewhere one after another.
    /// For probes that time a burst of logouts (`bench/probes`).
    pub fn delete_tokens(&self, token_ids: &[i64]) -> Result<(), DbError> {
        let Some(sqlite) = self.sqlite() else {
            return token_ids.iter().try_for_each(|&id| self.delete_token(id));
        };
        let pending: Vec<_> = token_ids.iter().map(|&id| sqlite.queue_delete_token(id)).collect();
        for outcome in pending {
            outcome.blocking_recv().map_err(|_| DbError::CommitStopped)??;
        }
        Ok(())
    }
}
