//! SQLite WAL checkpoints on a background thread of the server, instead of inside commits.
//!
//! SQLite's own auto-checkpoint runs in the connection that commits, once the WAL holds 1,000
//! pages: in this server that is the audit sealer or the group writer, while they hold the one
//! write lock, so every booking queued behind a checkpoint; and the sealer spent about a
//! quarter of its time in them (copying the same index pages back after every few seals, with
//! an fsync of the database file each time). The server's checkpointer thread instead
//! checkpoints every `INTERVAL`, beside the writers (PASSIVE: it never waits
//! for them or blocks them). Every connection keeps SQLite's auto-checkpoint at
//! `AUTOCHECKPOINT_PAGES`, far above what an interval writes: it bounds the WAL if the
//! checkpointer falls behind, and it checkpoints where no server runs (the CLI, the
//! benchmark's seeding).

use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::DbPool;

/// How often the server checkpoints. Pages written several times within it are copied back
/// once.
const INTERVAL: Duration = Duration::from_millis(500);
/// SQLite's auto-checkpoint on every connection, in WAL pages (4 KiB): 40 MB.
pub(super) const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The server's checkpointer; the thread ends when this is dropped.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    pub fn start(pool: DbPool) -> Checkpointer {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    let result = match pool.get() {
                        Ok(mut conn) => conn
                            .batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                    }
                }
            })
            .expect("start the SQLite checkpoint thread");
        Checkpointer { _stop: stop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages reach the database file only through a checkpoint, so its size shows whether one
    /// ran: the commit (well under `AUTOCHECKPOINT_PAGES`) leaves the file as it was, the
    /// checkpointer thread then copies the WAL back.
    #[test]
    fn the_checkpointer_copies_the_wal_back_and_commits_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let pool = crate::db::connect(&path.display().to_string(), 2).unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        pool.get()
            .unwrap()
            .batch_execute(
                "CREATE TABLE filler (b BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
                 INSERT INTO filler SELECT randomblob(2000) FROM n;",
            )
            .unwrap();
        std::thread::sleep(INTERVAL * 2);
        assert_eq!(size(), before, "a commit checkpointed by itself");

        let _checkpointer = Checkpointer::start(pool.clone());
        let deadline = std::time::Instant::now() + INTERVAL * 10;
        while size() < before + 2_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint within {:?}",
                INTERVAL * 10
            );
            std::thread::sleep(INTERVAL / 5);
        }
    }
}
