//! The database layer against real SQLite files (and a PostgreSQL URL
//! nothing listens on): queries, outcomes, the group commit, checkpoints,
//! and the async facade.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::pool::CHECKOUT_TIMEOUT;
use super::sqlite::Pending;
use super::*;

fn temp_db() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(dir.path().join("t.sqlite3").to_str().unwrap()).unwrap();
    let db = Store::open(&url, 2, chrono_tz::Asia::Seoul, 0).unwrap();
    db.migrate().unwrap();
    (dir, db)
}

#[test]
fn users_tokens_and_logout_outcomes() {
    let (_dir, db) = temp_db();
    assert_eq!(db.create_user("a@b.co", "$2b$12$x").unwrap(), Created::Created);
    assert_eq!(db.create_user("a@b.co", "$2b$12$y").unwrap(), Created::Duplicate);
    assert!(db.email_exists("a@b.co").unwrap());
    assert!(!db.email_exists("A@b.co").unwrap());
    let user = db.find_by_email("a@b.co").unwrap().unwrap();
    assert_eq!(user.id, 1);
    assert!(matches!(db.guard_lookup(2).unwrap(), GuardLookup::NoUser));
    assert!(matches!(db.guard_lookup(1).unwrap(), GuardLookup::NoToken));
    db.add_token(1, "t").unwrap();
    let GuardLookup::User(u, TokenRows::One(token)) = db.guard_lookup(1).unwrap() else { panic!("one token") };
    assert_eq!(u, 1);
    db.delete_token(token).unwrap();
    assert!(matches!(db.guard_lookup(1).unwrap(), GuardLookup::NoToken));
    // Deleting a row that is already gone is no error (Django's delete()).
    db.delete_token(token).unwrap();
    db.add_token(1, "t").unwrap();
    db.add_token(1, "t").unwrap();
    assert!(matches!(db.guard_lookup(1).unwrap(), GuardLookup::User(_, TokenRows::Several)));
    // A token for a user that does not exist violates the foreign key.
    assert!(db.add_token(99, "t").is_err());
}

#[derive(QueryableByName)]
struct MmapSize {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    mmap_size: i64,
}

fn mmap_size_of_a_connection(db: &Store) -> i64 {
    let mut conn = db.sqlite().expect("SQLite").pool.get().unwrap();
    diesel::sql_query("PRAGMA mmap_size").get_result::<MmapSize>(&mut **conn).unwrap().mmap_size
}

/// SQLITE_MMAP_SIZE reaches every pooled connection; 0 leaves mapping off.
#[test]
fn sqlite_mmap_size_applies_to_connections() {
    let (_dir, db) = temp_db();
    assert_eq!(mmap_size_of_a_connection(&db), 0);
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(dir.path().join("m.sqlite3").to_str().unwrap()).unwrap();
    let db = Store::open(&url, 2, chrono_tz::Asia::Seoul, 64 << 20).unwrap();
    db.migrate().unwrap();
    assert_eq!(mmap_size_of_a_connection(&db), 64 << 20);
    assert!(matches!(db.guard_lookup(1).unwrap(), GuardLookup::NoUser));
}

/// Nothing listens on port 1: each request fails at once, as Django's
/// do, instead of waiting for the pool's checkout timeout.
#[test]
fn an_unreachable_server_fails_requests_fast() {
    let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:1/none").unwrap();
    let db = Store::open(&url, 2, chrono_tz::Asia::Seoul, 0).unwrap();
    for attempt in 0..3 {
        let started = Instant::now();
        let error = db.ping().unwrap_err().to_string();
        assert!(started.elapsed() < CHECKOUT_TIMEOUT / 2, "attempt {attempt} took {:?}", started.elapsed());
        assert!(error.contains("database unreachable") && !error.contains('\n'), "{error}");
    }
}

fn token_of(db: &Store, user_id: i64) -> i64 {
    match db.guard_lookup(user_id).unwrap() {
        GuardLookup::User(_, TokenRows::One(token)) => token,
        other => panic!("user {user_id}: {other:?}"),
    }
}

/// `n` users, each with one token row; their token ids.
fn users_with_tokens(db: &Store, n: i64) -> Vec<i64> {
    for i in 0..n {
        db.create_user(&format!("u{i}@b.co"), "$2b$12$x").unwrap();
        db.add_token(i + 1, "t").unwrap();
    }
    (1..=n).map(|id| token_of(db, id)).collect()
}

/// Logouts queued together commit together: each deletes its row, and
/// a row deleted twice in one group (two logouts of one session at
/// once) is no error, as in Django.
#[test]
fn sqlite_group_commit_deletes_every_queued_row() {
    let (_dir, db) = temp_db();
    let tokens = users_with_tokens(&db, 40);
    let mut pending: Vec<Pending> = tokens.iter().map(|t| db.sqlite().unwrap().queue_delete_token(*t)).collect();
    pending.push(db.sqlite().unwrap().queue_delete_token(tokens[6]));
    for p in pending {
        p.blocking_recv().unwrap().unwrap();
    }
    for id in 1..=40 {
        assert!(matches!(db.guard_lookup(id).unwrap(), GuardLookup::NoToken), "user {id}");
    }
}

/// While another connection holds the write lock past `busy_timeout`,
/// the queued deletions fail (500) and change nothing; afterwards they work.
#[test]
fn sqlite_group_commit_fails_whole_and_recovers() {
    let (dir, db) = temp_db();
    let tokens = users_with_tokens(&db, 3);
    let mut other = SqliteConnection::establish(dir.path().join("t.sqlite3").to_str().unwrap()).unwrap();
    other.batch_execute("BEGIN IMMEDIATE").unwrap();
    let pending: Vec<Pending> = tokens.iter().map(|t| db.sqlite().unwrap().queue_delete_token(*t)).collect();
    for p in pending {
        let error = p.blocking_recv().unwrap().unwrap_err().to_string();
        assert!(error.contains("locked"), "{error}");
    }
    other.batch_execute("ROLLBACK").unwrap();
    for (id, token) in (1..=3).zip(tokens) {
        assert_eq!(token_of(&db, id), token, "user {id} lost its token");
        db.delete_token(token).unwrap();
        assert!(matches!(db.guard_lookup(id).unwrap(), GuardLookup::NoToken), "user {id}");
    }
}

/// A logout reaches the main database file (not only the WAL) soon
/// after its commit, through the background checkpoint: each
/// connection's own automatic checkpoint would wait for 10,000 pages.
#[test]
fn sqlite_checkpoints_in_the_background() {
    let (dir, db) = temp_db();
    let tokens = users_with_tokens(&db, 3);
    db.delete_token(tokens[1]).unwrap();
    let main_file_alone = dir.path().join("copy.sqlite3");
    let started = Instant::now();
    let left = loop {
        // the main file without its WAL: what a checkpoint has copied
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", main_file_alone.display()));
        }
        std::fs::copy(dir.path().join("t.sqlite3"), &main_file_alone).unwrap();
        let counted = SqliteConnection::establish(main_file_alone.to_str().unwrap())
            .ok()
            .and_then(|mut conn| schema::sqlite::tokens::table.count().get_result::<i64>(&mut conn).ok());
        if counted == Some(2) || started.elapsed() > Duration::from_secs(5) {
            break counted;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(left, Some(2), "the deletion never reached the main database file");
}

#[test]
fn migrating_twice_is_a_no_op() {
    let (_dir, db) = temp_db();
    assert!(db.migrate().unwrap().is_empty());
}

/// The facade answers from the blocking threads and, for a SQLite logout,
/// from the group commit, without blocking the async caller.
#[actix_rt::test]
async fn the_async_facade_runs_every_query() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(dir.path().join("f.sqlite3").to_str().unwrap()).unwrap();
    let db = Database::open(&url, 2, chrono_tz::Asia::Seoul, 0).unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec!["20211117000000".to_owned(), "20261201000000".to_owned()]);
    db.ping().await.unwrap();
    assert_eq!(db.create_user("f@b.co".into(), "$2b$12$x".into()).await.unwrap(), Created::Created);
    assert!(db.email_exists("f@b.co".into()).await.unwrap());
    let user = db.find_by_email("f@b.co".into()).await.unwrap().expect("the user");
    db.add_token(user.id, "t".into()).await.unwrap();
    let GuardLookup::User(_, TokenRows::One(token)) = db.guard_lookup(user.id).await.unwrap() else {
        panic!("one token row")
    };
    db.delete_token(token).await.unwrap();
    assert!(matches!(db.guard_lookup(user.id).await.unwrap(), GuardLookup::NoToken));
    assert!(db.is_embedded() && db.rejects_out_of_range_ids());
}

/// The errors that make a connection be discarded (issue 13, items 4 and
/// 5): SQLite's storage failures by their messages, read-only sessions by
/// diesel's kind or MySQL's messages; nothing else.
#[test]
fn storage_faults_are_told_from_other_errors() {
    use super::pool::storage_fault;
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    let db = |kind, message: &str| DbError::Query(Error::DatabaseError(kind, Box::new(message.to_string())));
    for message in [
        "attempt to write a readonly database",
        "disk I/O error",
        "unable to open database file",
        "database disk image is malformed",
        "file is not a database",
        "The MariaDB server is running with the --read-only option so it cannot execute this statement",
        "Running in read-only mode",
        "Cannot execute statement in a READ ONLY transaction",
    ] {
        assert!(storage_fault(&db(Kind::Unknown, message)).is_some(), "{message}");
    }
    let read_only = db(Kind::ReadOnlyTransaction, "cannot execute INSERT in a read-only transaction");
    assert!(storage_fault(&read_only).is_some());
    assert!(storage_fault(&DbError::Commit(std::sync::Arc::new(read_only))).is_some());
    for other in [
        db(Kind::UniqueViolation, "UNIQUE constraint failed: users.email"),
        db(Kind::Unknown, "database is locked"),
        db(Kind::Unknown, "database or disk is full"),
        DbError::Query(Error::NotFound),
        DbError::Unreachable("connection refused".into()),
    ] {
        assert!(storage_fault(&other).is_none(), "{other}");
    }
}

/// The hardened queries on SQLite: a session's rows go together, whoever
/// deletes the token row; counters count within their window.
#[test]
fn sessions_and_counters() {
    let (_dir, store) = temp_db();
    store.migrate().unwrap();
    store.create_user("s@b.co", "$2b$04$x").unwrap();
    let user = store.find_by_email("s@b.co").unwrap().unwrap();
    let new = |digest: &str, expires_at| NewSession {
        user_id: user.id,
        digest: digest.into(),
        created_at: 1_000,
        expires_at,
        client_ip: "10.0.0.1".into(),
        user_agent: "ua".into(),
    };
    let a = store.add_session(&new("sha256:a", Some(2_000))).unwrap();
    let b = store.add_session(&new("sha256:b", None)).unwrap();
    store.add_token(user.id, "plain").unwrap();
    let found = store.find_session(user.id, &["sha256:a".into(), "nope".into()]).unwrap().unwrap();
    assert_eq!(
        found,
        SessionRow { token_id: a, token: "sha256:a".into(), last_seen_at: Some(1_000), expires_at: Some(2_000) }
    );
    assert_eq!(store.find_session(user.id + 1, &["sha256:a".into()]).unwrap(), None, "another user's row");
    let second = store.find_session(user.id, &["nope".into(), "sha256:b".into()]).unwrap().unwrap();
    assert_eq!((second.token_id, second.token.as_str()), (b, "sha256:b"), "the second of two tokens");
    let third = store.find_session(user.id, &["x".into(), "y".into(), "sha256:b".into()]).unwrap();
    assert_eq!(third.map(|row| row.token_id), Some(b), "the third of three tokens");
    assert_eq!(store.find_session(user.id, &[]).unwrap(), None, "no token, no row");
    let plain = store.find_session(user.id, &["plain".into()]).unwrap().unwrap();
    assert_eq!((plain.last_seen_at, plain.expires_at), (None, None), "a compat row has no metadata");

    let list = store.list_sessions(user.id, 1_500).unwrap();
    assert_eq!(store.list_sessions(user.id, 2_001).unwrap().len(), 2, "an expired session is not listed");
    assert_eq!(list.iter().map(|s| s.token_id).collect::<Vec<_>>(), vec![plain.token_id, b, a], "newest first");
    assert_eq!(list[2].client_ip.as_deref(), Some("10.0.0.1"));

    store.touch_session(a, 1_030).unwrap();
    assert_eq!(
        store.find_session(user.id, &["sha256:a".into()]).unwrap().unwrap().last_seen_at,
        Some(1_000),
        "not stale yet"
    );
    store.touch_session(a, 1_060).unwrap();
    assert_eq!(store.find_session(user.id, &["sha256:a".into()]).unwrap().unwrap().last_seen_at, Some(1_060));

    // Deleting the token row as Django would (plain SQL) removes the metadata.
    let sessions = |store: &Store| -> i64 {
        let store::Backend::Sqlite(sqlite) = &store.backend else { unreachable!() };
        let mut conn = sqlite.pool.get().unwrap();
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT COUNT(*) FROM ledger_sessions)"))
            .get_result(&mut **conn)
            .unwrap()
    };
    assert_eq!(sessions(&store), 2);
    {
        let store::Backend::Sqlite(sqlite) = &store.backend else { unreachable!() };
        let mut conn = sqlite.pool.get().unwrap();
        conn.batch_execute(&format!("DELETE FROM tokens WHERE id = {b}")).unwrap();
    }
    assert_eq!(sessions(&store), 1, "ON DELETE CASCADE");

    assert_eq!(store.delete_expired_sessions(Some(user.id), 2_000).unwrap(), 0, "not expired at exp");
    assert_eq!(store.delete_expired_sessions(None, 2_001).unwrap(), 1);
    assert_eq!(sessions(&store), 0);
    assert!(!store.delete_user_session(user.id + 1, plain.token_id).unwrap(), "not the user's");
    store.add_token(user.id, "plain").unwrap();
    assert_eq!(store.delete_plain_token(user.id + 1, "plain").unwrap(), 0, "another user's");
    assert_eq!(store.delete_plain_token(user.id, "plain").unwrap(), 2, "every row of the plain token");
    store.add_token(user.id, "plain").unwrap();
    let plain = store.find_session(user.id, &["plain".into()]).unwrap().unwrap();
    assert!(store.delete_user_session(user.id, plain.token_id).unwrap());
    store.add_session(&new("sha256:c", None)).unwrap();
    store.add_session(&new("sha256:d", None)).unwrap();
    assert_eq!(store.delete_user_sessions(user.id).unwrap(), 2);

    let account = Counter { scope: "account", subject: "x".into() };
    let address = Counter { scope: "address", subject: "x".into() };
    store.record_attempts(&[account.clone(), address.clone()], 100).unwrap();
    store.record_attempts(std::slice::from_ref(&account), 200).unwrap();
    let counts = store.count_attempts(&[account.clone(), address.clone()], 50).unwrap();
    assert_eq!(counts, vec![Count { count: 2, oldest: Some(100) }, Count { count: 1, oldest: Some(100) }]);
    assert_eq!(
        store.count_attempts(std::slice::from_ref(&account), 100).unwrap()[0],
        Count { count: 1, oldest: Some(200) }
    );
    store.clear_attempts(&account).unwrap();
    assert_eq!(store.count_attempts(&[account], 0).unwrap()[0], Count { count: 0, oldest: None });
    assert_eq!(store.delete_old_attempts(100).unwrap(), 1);
    let signup = Counter { scope: "signup", subject: "y".into() };
    let one = std::slice::from_ref(&signup);
    assert_eq!(store.reserve_attempts(one, 300, 0).unwrap(), vec![Count { count: 1, oldest: Some(300) }]);
    assert_eq!(store.reserve_attempts(one, 300, 0).unwrap(), vec![Count { count: 2, oldest: Some(300) }]);
    store.release_attempts(one, 300).unwrap();
    assert_eq!(store.count_attempts(one, 0).unwrap(), vec![Count { count: 1, oldest: Some(300) }]);
    store.release_attempts(one, 301).unwrap();
    assert_eq!(store.count_attempts(one, 0).unwrap()[0].count, 1, "only an attempt of that second is taken back");

    store.replace_password(user.id, "$2b$04$other", "$2b$05$new").unwrap();
    assert_eq!(store.find_by_email("s@b.co").unwrap().unwrap().password, "$2b$04$x", "changed meanwhile: kept");
    store.replace_password(user.id, "$2b$04$x", "$2b$05$new").unwrap();
    assert_eq!(store.find_by_email("s@b.co").unwrap().unwrap().password, "$2b$05$new");
}
