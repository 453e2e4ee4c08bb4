//! SQLite's write path: group commit. SQLite has one writer at a time, and a write transaction
//! ends in an fsync. Every `Db::write` of the server is queued to one thread, which takes all
//! the writes waiting, runs each in its own savepoint of one `BEGIN IMMEDIATE` transaction
//! (a write that fails rolls back to its savepoint and leaves the others alone) and commits
//! them together: one fsync and one hand-over of the write lock per group instead of per
//! write. Nobody hears of a write before its group's commit: replies and events go out after
//! it, and if the commit fails every write of the group fails. Under 64 concurrent bookings
//! this took the API from 0.47 to 1.09 times the raw baseline (one booking per transaction on
//! one thread) and its CPU per booking from 0.92 to 0.56 ms (docs/perf/history.md).

use std::sync::Arc;

use diesel::Connection;

use super::{write_transaction, DbConn, DbError, DbPool, Tx};
use crate::realtime::Hub;

/// What a queued write does once its group's transaction has ended: `None` when the group
/// committed, else why it did not.
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write queued for the group writer: runs in its own savepoint of the group's transaction.
type WriteJob = Box<dyn FnOnce(&mut DbConn) -> Finish + Send>;

/// Writes queued while a group runs go into the next group, up to this many.
const WRITE_GROUP_MAX: usize = 64;

pub(super) struct GroupWriter {
    jobs: std::sync::mpsc::Sender<WriteJob>,
}

impl GroupWriter {
    pub(super) fn start(pool: DbPool) -> GroupWriter {
        let (jobs, queue) = std::sync::mpsc::channel::<WriteJob>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                // Ends when the last `Db` (and so the sender) is dropped.
                while let Ok(first) = queue.recv() {
                    let mut group = vec![first];
                    while group.len() < WRITE_GROUP_MAX {
                        match queue.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    Self::run_group(&pool, group);
                }
            })
            .expect("start the SQLite writer thread");
        GroupWriter { jobs }
    }

    fn run_group(pool: &DbPool, group: Vec<WriteJob>) {
        // Without a connection the jobs are dropped unrun: their callers get a 503.
        let Ok(mut conn) = pool.get() else {
            return;
        };
        let mut finishers: Vec<Finish> = Vec::with_capacity(group.len());
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_transaction(&mut conn, |conn| {
                for job in group {
                    finishers.push(job(conn));
                }
                Ok::<_, diesel::result::Error>(())
            })
        }));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("the write's group did not commit: {e}")),
            Err(_) => {
                // A panicking write left a savepoint open: the connection goes (r2d2 drops a
                // connection returned inside a transaction; closing it rolls the group back).
                Some("a write of the same group failed".to_string())
            }
        };
        for finish in finishers {
            finish(failure.as_deref());
        }
    }

    pub(super) async fn write<T, E, F>(&self, hub: Arc<Hub>, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut Tx) -> Result<T, E> + Send + 'static,
    {
        let (reply, result) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: WriteJob = Box::new(move |conn: &mut DbConn| -> Finish {
            // A nested transaction is a savepoint of the group's.
            let outcome = conn.transaction(|conn| Tx::run(conn, f));
            Box::new(move |failure: Option<&str>| {
                let answer = match (outcome, failure) {
                    (Ok((v, events)), None) => {
                        for e in events {
                            hub.publish_local(e);
                        }
                        Ok(v)
                    }
                    (Ok(_), Some(why)) => Err(E::from(DbError::Unavailable(why.to_string()))),
                    (Err(e), _) => Err(e),
                };
                let _ = reply.send(answer);
            })
        });
        self.jobs.send(job).map_err(|_| {
            E::from(DbError::Failed(
                "the SQLite writer thread has stopped".into(),
            ))
        })?;
        result.await.map_err(|_| {
            E::from(DbError::Unavailable(
                "the write was not run (no database connection, or a failure)".into(),
            ))
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::super::{connect, Backend, Db, SQLITE_WRITER};
    use diesel::prelude::*;
    use std::time::Duration;

    #[derive(Debug)]
    struct Odd;
    impl From<diesel::result::Error> for Odd {
        fn from(_: diesel::result::Error) -> Odd {
            Odd
        }
    }
    impl From<super::DbError> for Odd {
        fn from(_: super::DbError) -> Odd {
            Odd
        }
    }

    /// Writes that share one group commit: a write that fails after writing rolls back to its
    /// own savepoint and leaves every other write of the group committed.
    #[tokio::test]
    async fn a_failing_write_in_a_group_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("group.db").display());
        let pool = connect(&url, 4).unwrap();
        diesel::sql_query("CREATE TABLE group_test (n INTEGER NOT NULL)")
            .execute(&mut pool.get().unwrap())
            .unwrap();
        let db = Db::new(pool.clone(), Backend::Sqlite, Default::default());
        // Holding the writer lock makes the writer thread wait inside its first group while
        // the other writes queue, so that they all run in the second group together.
        let lock = SQLITE_WRITER.lock();
        let writes: Vec<_> = (0..10)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |tx| {
                        diesel::sql_query(format!("INSERT INTO group_test (n) VALUES ({n})"))
                            .execute(tx.conn)?;
                        if n % 2 == 1 {
                            return Err(Odd);
                        }
                        Ok(n)
                    })
                    .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(lock);
        for (n, w) in writes.into_iter().enumerate() {
            let r = w.await.unwrap();
            if n % 2 == 1 {
                assert!(r.is_err(), "write {n} must fail");
            } else {
                assert_eq!(r.unwrap(), n as i32);
            }
        }
        let mut stored: Vec<i32> = diesel::sql_query("SELECT n FROM group_test ORDER BY n")
            .load::<Stored>(&mut pool.get().unwrap())
            .unwrap()
            .into_iter()
            .map(|s| s.n)
            .collect();
        stored.sort();
        assert_eq!(
            stored,
            vec![0, 2, 4, 6, 8],
            "only the successful writes are kept"
        );
    }

    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        n: i32,
    }
}
