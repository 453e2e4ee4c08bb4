//! Sealing: the passes that take buffered read entries and committed outbox rows, chain them
//! in time order and store them in `audit_logs`, on threads of their own.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use parking_lot::Mutex;

use super::chain::{chain_hash, keyed_mac};
use super::entry::{ChainedRow, NewEntry};
use super::{Audit, BUFFER_HARD_CAP, ROUTINE_SEAL_SLICE, SEAL_BATCH, SEAL_INSERT_ROWS};
use crate::db::schema::{audit_head, audit_logs, audit_outbox};
use crate::db::{write_transaction, DbConn};

impl Audit {
    /// Seals everything buffered or in the outbox now. Entries are never dropped: on failure
    /// the buffered ones go back into the buffer.
    /// Someone waits for this one (a reader of the trail, shutdown, the CLI): it runs on the
    /// urgent thread.
    pub async fn flush(&self) -> anyhow::Result<usize> {
        self.seal_buffered(true).await
    }

    /// One pass of the background sealer (`wanted` false), or a flush someone waits for.
    /// Routine (the idle thread) unless wanted, requests wait, or the buffer reached its cap.
    async fn seal_buffered(&self, wanted: bool) -> anyhow::Result<usize> {
        let _guard = self.inner.seal_lock.lock().await;
        let inner = self.inner.clone();
        let mut total = 0;
        loop {
            // Buffered entries are sealed SEAL_BATCH at a time, one write transaction each: a
            // single transaction over a backlog of 100,000s of read entries held the database's
            // write lock for seconds while bookings timed out waiting for it.
            let pending = std::mem::take(&mut *inner.buffer.lock());
            inner.taken.notify_waiters();
            let urgent = wanted || pending.len() >= BUFFER_HARD_CAP || inner.is_waited_for();
            // A routine pass seals in short transactions and stops between two once requests
            // wait for it (it runs only when the cores are free): the rest goes back to the
            // buffer, for an urgent pass.
            let slice = if urgent {
                SEAL_BATCH as usize
            } else {
                ROUTINE_SEAL_SLICE
            };
            let inner2 = inner.clone();
            let result = inner
                .thread
                .run(urgent, move || {
                    let mut done = 0;
                    let mut total = SealResult {
                        sealed: 0,
                        more: false,
                        head: 0,
                        indexed: 0,
                        rebuild: 0,
                    };
                    let res = match inner2.pool.get() {
                        Ok(mut conn) => loop {
                            let end = (done + slice).min(pending.len());
                            match seal(&mut conn, &inner2.key, &pending[done..end]) {
                                Ok(r) => {
                                    total.sealed += r.sealed;
                                    total.more = r.more;
                                    total.head = r.head;
                                    total.indexed = r.indexed;
                                    total.rebuild = r.rebuild;
                                    done = end;
                                    if done == pending.len() {
                                        break Ok(());
                                    }
                                    if !urgent && inner2.is_waited_for() {
                                        total.more = true;
                                        break Ok(());
                                    }
                                }
                                Err(e) => break Err(e.to_string()),
                            }
                        },
                        Err(e) => Err(e.to_string()),
                    };
                    // What was not sealed goes back to the front of the buffer.
                    let give_back = |mut pending: Vec<NewEntry>| {
                        let unsealed = pending.split_off(done);
                        let mut b = inner2.buffer.lock();
                        let newer = std::mem::take(&mut *b);
                        *b = unsealed;
                        b.extend(newer);
                    };
                    match res {
                        Ok(()) => {
                            if done < pending.len() {
                                give_back(pending);
                            }
                            Ok(total)
                        }
                        Err(e) => {
                            give_back(pending);
                            Err(anyhow::anyhow!("sealing audit entries failed: {e}"))
                        }
                    }
                })
                .await??;
            total += result.sealed;
            self.publish_marks(result.head, result.indexed, result.rebuild);
            if !result.more {
                return Ok(total);
            }
        }
    }

    /// The background sealer: every `interval` (100 ms by default), or sooner when woken; and
    /// the index (by patient and by user) of what it sealed, every `index_interval` (1 s).
    /// Entries wait unindexed that long (plus a batch); queries read them from the chain's tail
    /// meanwhile, so the interval bounds that scan, not what a query sees.
    pub fn spawn_sealer(
        &self,
        interval: Duration,
        index_interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let indexer = self.clone();
        tokio::spawn(async move {
            while !indexer.is_stopped() {
                if let Err(e) = indexer.index_entries().await {
                    tracing::warn!(error = %e, "audit index will retry");
                }
                let _ =
                    tokio::time::timeout(index_interval, indexer.inner.index_wake.notified()).await;
            }
        });
        let audit = self.clone();
        tokio::spawn(async move {
            while !audit.is_stopped() {
                let _ = tokio::time::timeout(interval, audit.inner.wake.notified()).await;
                if let Err(e) = audit.seal_buffered(false).await {
                    tracing::warn!(error = %e, "audit sealer will retry");
                }
            }
        })
    }
}

/// The two threads that seal (or index): routine passes run on one in the idle scheduling
/// class, passes someone waits for on one at nice 10 below the process. Urgent are: a flush
/// that a caller awaits (`flush`: a reader of the trail, shutdown), a pass sent while requests
/// wait in `Audit::admit` or when the buffer is at its cap, and an index pass once the index
/// lags half its bound. Sealing comes in bursts (every 100 ms, a transaction over all the
/// entries since): on the runtime's blocking pool a burst held one of the 2 cores for tens of
/// milliseconds while requests queued on the other (p99 of patient reads at 80% load 48 ms
/// against a p50 of 5 ms). At nice 10 the kernel still let a pass run on while the runtime's
/// workers waited (gaps of 4-8 ms with no response, 130-160 of 2 ms or more per 12 s at
/// 19,000 req/s); in the idle class any waking thread pre-empts it (77-94). A routine seal
/// stops between short transactions once requests wait (`ROUTINE_SEAL_SLICE`) and hands the
/// rest to the urgent thread; a routine index pass runs to its end (its chunks hold the write
/// lock for one transaction each). On a machine whose cores are all busy with other work, an
/// idle-class pass gets ~0.3% of a core (nice 10: ~10%).
pub(super) struct AuditThread {
    routine: SealerThread,
    urgent: SealerThread,
    /// Held while either thread runs a pass: a pass whose caller went away (a cancelled
    /// `flush`) still runs, and the next one must not overlap it on the other thread.
    busy: Arc<Mutex<()>>,
    #[cfg(test)]
    urgent_passes: std::sync::atomic::AtomicUsize,
}

impl AuditThread {
    pub(super) fn start(routine: &str, urgent: &str) -> AuditThread {
        AuditThread {
            routine: SealerThread::start(routine, crate::sys::idle_thread_priority),
            urgent: SealerThread::start(urgent, crate::sys::lower_thread_priority),
            busy: Arc::new(Mutex::new(())),
            #[cfg(test)]
            urgent_passes: Default::default(),
        }
    }

    /// Runs `f` on the urgent thread if `urgent`, else on the routine one, and waits for its
    /// result without blocking the runtime. The two never run a pass at once (`busy`).
    pub(super) async fn run<T: Send + 'static>(
        &self,
        urgent: bool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        #[cfg(test)]
        if urgent {
            self.urgent_passes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let busy = self.busy.clone();
        let pass = move || {
            let _running = busy.lock();
            f()
        };
        if urgent { &self.urgent } else { &self.routine }
            .run(pass)
            .await
    }
}

/// One thread that runs the jobs it is sent, at the priority `lower` sets.
struct SealerThread {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl SealerThread {
    fn start(name: &str, lower: fn()) -> SealerThread {
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                lower();
                // Ends when the last handle (and so the sender) is dropped.
                while let Ok(job) = queue.recv() {
                    // A panicking seal drops its reply: that flush fails, the thread goes on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .expect("start an audit thread");
        SealerThread { jobs }
    }

    /// Runs `f` on this thread and waits for its result without blocking the runtime.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = reply.send(f());
            }))
            .map_err(|_| anyhow::anyhow!("the audit sealer thread has stopped"))?;
        result
            .await
            .map_err(|_| anyhow::anyhow!("the audit seal did not finish (it panicked)"))
    }
}

/// Splits `items` into chunks of `max`, then of powers of two for the rest. Each chunk length
/// is a different SQL text, and every connection caches each text it ran as a prepared
/// statement for its lifetime: cutting the rest to any length gave up to 500 statements per
/// connection, each the size of hundreds of rows' bindings (RSS grew by 100 MB in a 10 s
/// read benchmark); this way there are at most 10.
pub(super) fn statement_sized_chunks<T>(mut items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let n = items.len();
        let size = if n >= max { max } else { 1 << n.ilog2() };
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

/// What one sealing pass did.
pub struct SealResult {
    pub sealed: usize,
    /// The outbox still holds rows past this batch.
    pub more: bool,
    /// The chain's head after this pass.
    pub head: i64,
    /// `audit_head.indexed_seq` and `rebuild_seq` as this pass read them.
    pub indexed: i64,
    pub rebuild: i64,
}

/// One sealing pass, in one transaction: lock the head, take committed outbox rows plus the
/// given buffered entries, chain them in time order, store, advance the head.
pub fn seal(conn: &mut DbConn, key: &[u8], buffered: &[NewEntry]) -> QueryResult<SealResult> {
    write_transaction(conn, |conn| {
        if let DbConn::Postgres(_) = conn {
            diesel::sql_query("SELECT id FROM audit_head WHERE id = 1 FOR UPDATE").execute(conn)?;
        }
        let (mut seq, mut prev, indexed, rebuild): (i64, String, i64, i64) = audit_head::table
            .find(1)
            .select((
                audit_head::seq,
                audit_head::hash,
                audit_head::indexed_seq,
                audit_head::rebuild_seq,
            ))
            .first(conn)?;
        let outbox: Vec<(i64, NewEntry)> = audit_outbox::table
            .order(audit_outbox::id)
            .limit(SEAL_BATCH + 1)
            .select((audit_outbox::id, NewEntry::as_select()))
            .load(conn)?;
        let more = outbox.len() as i64 > SEAL_BATCH;
        let outbox = &outbox[..outbox.len().min(SEAL_BATCH as usize)];
        if outbox.is_empty() && buffered.is_empty() {
            return Ok(SealResult {
                sealed: 0,
                more: false,
                head: seq,
                indexed,
                rebuild,
            });
        }
        let mut entries: Vec<&NewEntry> = outbox.iter().map(|(_, r)| r).collect();
        entries.extend(buffered);
        entries.sort_by_key(|e| e.occurred_at);
        let keyed = keyed_mac(key);
        let mut logs: Vec<ChainedRow> = Vec::with_capacity(entries.len());
        for e in &entries {
            seq += 1;
            let mut row = ChainedRow::of_entry(seq, e);
            row.hash = chain_hash(&keyed, logs.last().map_or(&prev, |l| &l.hash), &row);
            logs.push(row);
        }
        if let Some(last) = logs.last() {
            prev.clone_from(&last.hash);
        }
        match conn {
            // In-process SQLite: one row per execution of one statement, prepared once per
            // connection and found in its cache by type. A multi-row INSERT's SQL is built for
            // every execution (to find it in the cache) and SQLite compiles each new row count
            // (the two were a third of the sealer's instructions).
            DbConn::Sqlite(c) => {
                for row in &logs {
                    diesel::insert_into(audit_logs::table)
                        .values(row)
                        .execute(c)?;
                }
            }
            // Over the network: one statement per SEAL_INSERT_ROWS entries, not a round trip each.
            DbConn::Postgres(c) => {
                for chunk in statement_sized_chunks(&logs, SEAL_INSERT_ROWS) {
                    diesel::insert_into(audit_logs::table)
                        .values(chunk)
                        .execute(c)?;
                }
            }
        }
        let ids: Vec<i64> = outbox.iter().map(|(id, _)| *id).collect();
        for chunk in statement_sized_chunks(&ids, SEAL_INSERT_ROWS) {
            diesel::delete(audit_outbox::table.filter(audit_outbox::id.eq_any(chunk)))
                .execute(conn)?;
        }
        diesel::update(audit_head::table.find(1))
            .set((audit_head::seq.eq(seq), audit_head::hash.eq(&prev)))
            .execute(conn)?;
        Ok(SealResult {
            sealed: entries.len(),
            more,
            head: seq,
            indexed,
            rebuild,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::backpressure::Waiting;
    use super::super::testing::*;
    use super::super::verify;
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn statement_sized_chunks_are_the_maximum_then_powers_of_two() {
        let items: Vec<u32> = (0..1_213).collect();
        let sizes: Vec<usize> = statement_sized_chunks(&items, 500)
            .map(<[u32]>::len)
            .collect();
        assert_eq!(sizes, [500, 500, 128, 64, 16, 4, 1]);
        let joined: Vec<u32> = statement_sized_chunks(&items, 500)
            .flatten()
            .copied()
            .collect();
        assert_eq!(joined, items);
        assert_eq!(statement_sized_chunks(&items[..0], 500).count(), 0);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn routine_passes_run_in_the_idle_class_and_urgent_ones_at_nice_10() {
        // SAFETY: both calls only read the calling thread's scheduling.
        let scheduling = || unsafe {
            (
                libc::sched_getscheduler(0),
                libc::getpriority(libc::PRIO_PROCESS, 0),
            )
        };
        let (policy, nice) = scheduling();
        let threads = AuditThread::start("test-routine", "test-urgent");
        let (routine, _) = threads.run(false, scheduling).await.unwrap();
        assert_eq!(routine, libc::SCHED_IDLE);
        let urgent = threads.run(true, scheduling).await.unwrap();
        assert_eq!(urgent, (policy, (nice + 10).min(19)));
    }

    // The held lock is the point: the pass waits for it on the sealer's own thread.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn a_routine_seal_hands_its_rest_to_the_urgent_thread_once_requests_wait() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_on_fresh_sqlite(&dir);
        let n = 3 * ROUTINE_SEAL_SLICE;
        for i in 0..n {
            audit.record_async(entry(i));
        }
        // The pass queues behind this lock as a routine one (nobody waits yet) ...
        let held = audit.inner.thread.busy.lock();
        let pass = tokio::spawn({
            let audit = audit.clone();
            async move { audit.seal_buffered(false).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(audit.inner.thread.urgent_passes.load(Ordering::Relaxed), 0);
        // ... then a request waits: the routine pass stops after its first slice.
        let waiting = Waiting::on(&audit.inner.admitting);
        drop(held);
        assert_eq!(pass.await.unwrap().unwrap(), n);
        drop(waiting);
        assert_eq!(
            audit.inner.thread.urgent_passes.load(Ordering::Relaxed),
            1,
            "the rest was not sealed by an urgent pass"
        );
        // In order, nothing lost or sealed twice.
        let mut conn = audit.inner.pool.get().unwrap();
        match verify::verify(&mut conn, b"test-key", None).unwrap() {
            verify::Verdict::Intact { count, .. } => assert_eq!(count, n as i64),
            broken => panic!("chain broken: {broken:?}"),
        }
        let resources: Vec<Option<String>> = audit_logs::table
            .order(audit_logs::seq)
            .select(audit_logs::resource_id)
            .load(&mut conn)
            .unwrap();
        let want: Vec<Option<String>> = (0..n).map(|i| Some(format!("patient-{i}"))).collect();
        assert_eq!(resources, want);
    }
}
