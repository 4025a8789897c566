//! Group commit for SQLite logouts (the deletion of a token row).
//!
//! SQLite takes one writer at a time, and every commit waits for the WAL to
//! reach the disk (`synchronous = FULL`, the default, as Django has it).
//! Logouts made one transaction each spend their time on that `fsync` and
//! on waiting for each other's locks. Here one thread per process takes the
//! logouts waiting at the moment, applies them one after another inside a
//! single `BEGIN IMMEDIATE` transaction and commits once; every request is
//! answered only after that commit, so nothing is acknowledged that is not
//! on disk, and another process (Django included) sees each logout before
//! its answer leaves.
//!
//! Inside the transaction each logout is the `.delete()` of `Token.objects
//! .get(user_id=...).delete()`: the row the guard found, by id; a row
//! already gone (two logouts of one session at once) is no error, as in
//! Django.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use tokio::sync::oneshot;

use super::checkpoint::Checkpointer;
use crate::db::pool::{checkout, settle, DbPool, Reachability};
use crate::db::schema::sqlite as s;
use crate::db::DbError;

/// The most logouts one transaction takes.
const MAX_BATCH: usize = 256;

/// A logout's answer, once its transaction committed (or failed).
pub(crate) type Pending = oneshot::Receiver<Result<(), DbError>>;

struct Job {
    token_id: i64,
    reply: oneshot::Sender<Result<(), DbError>>,
}

/// The queue in front of the committing thread; the thread stops when the
/// last clone of the database is dropped.
pub(crate) struct GroupCommit {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl GroupCommit {
    pub(crate) fn start(
        pool: DbPool<SqliteConnection>,
        reach: Arc<Reachability>,
        checkpointer: Arc<Checkpointer>,
    ) -> std::io::Result<GroupCommit> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("sqlite-commit".into()).spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                crate::telemetry::metrics::group_commit(batch.len());
                commit(&pool, &reach, batch);
                checkpointer.wrote();
            }
        })?;
        Ok(GroupCommit { jobs: Mutex::new(tx) })
    }

    /// Queues the deletion of a token row; the receiver gets the outcome
    /// after the commit.
    pub(crate) fn delete_token(&self, token_id: i64) -> Pending {
        let (reply, pending) = oneshot::channel();
        let queue = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(mpsc::SendError(job)) = queue.send(Job { token_id, reply }) {
            let _ = job.reply.send(Err(DbError::CommitStopped));
        }
        pending
    }
}

/// One transaction for the whole batch. A failure (the database locked by
/// another process for longer than `busy_timeout`, a full disk) undoes it
/// all and every request in it gets the error, as each would have alone.
/// The connection is checked out per batch: one that met a storage fault
/// is discarded (see `settle`) and the next batch gets another.
fn commit(pool: &DbPool<SqliteConnection>, reach: &Reachability, batch: Vec<Job>) {
    let committed = checkout(pool, reach).and_then(|mut conn| {
        let done = conn.immediate_transaction::<_, DbError, _>(|conn| {
            for job in &batch {
                diesel::delete(s::tokens::table.find(job.token_id)).execute(conn)?;
            }
            Ok(())
        });
        settle(&mut conn, reach, true, done)
    });
    match committed {
        Ok(()) => {
            for job in batch {
                let _ = job.reply.send(Ok(()));
            }
        }
        Err(e) => {
            let shared = Arc::new(e);
            for job in batch {
                let _ = job.reply.send(Err(DbError::Commit(shared.clone())));
            }
        }
    }
}
