//! Sealing: the passes that take buffered read entries and committed outbox rows, chain them
//! in time order and store them in `audit_logs`, on threads of their own.

use std::sync::atomic::Ordering;
use std::time::Duration;

use diesel::prelude::*;

use super::chain::{chain_hash, keyed_mac};
use super::entry::{ChainedRow, NewEntry};
use super::outbox;
use super::{Audit, SEAL_BATCH, SEAL_INSERT_ROWS};
use crate::db::schema::{audit_head, audit_logs, audit_outbox};
use crate::db::{write_transaction, DbConn};

impl Audit {
    /// Seals everything buffered or in the outbox now (a reader of the trail, shutdown, the
    /// CLI). Entries are never dropped: on failure the buffered ones go back into the buffer.
    pub async fn flush(&self) -> anyhow::Result<usize> {
        self.seal_buffered().await
    }

    /// One pass of the sealer: everything buffered, and the outbox, `SEAL_BATCH` entries per
    /// write transaction (a single transaction over a backlog of 100,000s of read entries held
    /// the database's write lock for seconds while bookings timed out waiting for it).
    async fn seal_buffered(&self) -> anyhow::Result<usize> {
        let _guard = self.inner.seal_lock.lock().await;
        let mut total = 0;
        loop {
            let (pending, generation) = {
                let mut b = self.inner.buffer.lock();
                let g = self.inner.generation.fetch_add(1, Ordering::Relaxed);
                (std::mem::take(&mut *b), g)
            };
            self.inner.taken.notify_waiters();
            let inner = self.inner.clone();
            let result = self
                .inner
                .thread
                .run(move || {
                    let mut done = 0;
                    let mut total = SealResult {
                        sealed: 0,
                        more: false,
                        head: 0,
                        indexed: 0,
                        rebuild: 0,
                    };
                    let res = match inner.pool.get() {
                        Ok(mut conn) => loop {
                            let end = (done + SEAL_BATCH as usize).min(pending.len());
                            match seal(&mut conn, &inner.key, &pending[done..end]) {
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
                                }
                                Err(e) => break Err(e.to_string()),
                            }
                        },
                        Err(e) => Err(e.to_string()),
                    };
                    match res {
                        Ok(()) => Ok(total),
                        Err(e) => {
                            // What was not sealed goes back to the front of the buffer.
                            let unsealed = pending[done..].to_vec();
                            let mut b = inner.buffer.lock();
                            let newer = std::mem::take(&mut *b);
                            *b = unsealed;
                            b.extend(newer);
                            Err(anyhow::anyhow!("sealing audit entries failed: {e}"))
                        }
                    }
                })
                .await??;
            total += result.sealed;
            // Every entry taken with this generation (and before it) is committed: the reads
            // waiting for them may answer.
            self.inner
                .durable
                .send_modify(|g| *g = (*g).max(generation));
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
                if let Err(e) = audit.seal_buffered().await {
                    tracing::warn!(error = %e, "audit sealer will retry");
                }
            }
        })
    }
}

/// A thread of its own that runs the passes it is sent, one at a time: the sealer's and the
/// indexer's. Sealing comes in bursts (every 100 ms, a transaction over all the entries since);
/// on a thread of its own a burst never takes one of the blocking threads requests need.
pub(super) struct PassThread {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl PassThread {
    pub(super) fn start(name: &str) -> PassThread {
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Ends when the last handle (and so the sender) is dropped.
                while let Ok(job) = queue.recv() {
                    // A panicking pass drops its reply: that flush fails, the thread goes on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .expect("start an audit thread");
        PassThread { jobs }
    }

    /// Runs `f` on this thread and waits for its result without blocking the runtime. A pass
    /// whose caller went away (a cancelled flush) still runs to its end before the next.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = reply.send(f());
            }))
            .map_err(|_| anyhow::anyhow!("the audit thread has stopped"))?;
        result
            .await
            .map_err(|_| anyhow::anyhow!("the audit pass did not finish (it panicked)"))
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

/// One sealing pass, in one transaction: lock the head, take committed outbox rows (checked
/// against the outbox chain: a row edited, removed or inserted is not sealed; a
/// `tamper_detected` entry naming it is) plus the given buffered entries, chain them in time
/// order, store, advance the head.
pub fn seal(conn: &mut DbConn, key: &[u8], buffered: &[NewEntry]) -> QueryResult<SealResult> {
    write_transaction(conn, |conn| {
        if let DbConn::Postgres(_) = conn {
            diesel::sql_query("SELECT id FROM audit_head WHERE id = 1 FOR UPDATE").execute(conn)?;
        }
        let (mut seq, mut prev, indexed, rebuild, outbox_seq, outbox_hash, legacy_id): (
            i64,
            String,
            i64,
            i64,
            i64,
            String,
            i64,
        ) = audit_head::table
            .find(1)
            .select((
                audit_head::seq,
                audit_head::hash,
                audit_head::indexed_seq,
                audit_head::rebuild_seq,
                audit_head::outbox_seq,
                audit_head::outbox_hash,
                audit_head::outbox_legacy_id,
            ))
            .first(conn)?;
        // The head first: every row up to it has committed (appends commit in order).
        let head = outbox::head(conn, false)?;
        let mut rows = outbox::rows(conn, SEAL_BATCH + 1)?;
        let more = rows.len() as i64 > SEAL_BATCH;
        rows.truncate(SEAL_BATCH as usize);
        let keyed = keyed_mac(key);
        let sealed = outbox::Sealed {
            seq: outbox_seq,
            hash: outbox_hash,
            legacy_id,
        };
        let checked = outbox::check(&keyed, &sealed, &rows, &head, !more);
        if rows.is_empty() && buffered.is_empty() && checked.findings.is_empty() {
            return Ok(SealResult {
                sealed: 0,
                more: false,
                head: seq,
                indexed,
                rebuild,
            });
        }
        for finding in &checked.findings {
            tracing::error!(%finding, "audit outbox tampered with before sealing");
        }
        let findings: Vec<NewEntry> = checked
            .findings
            .iter()
            .map(|f| outbox::finding_entry(f))
            .collect();
        let mut entries: Vec<&NewEntry> = rows
            .iter()
            .zip(&checked.genuine)
            .filter(|(_, ok)| **ok)
            .map(|(r, _)| &r.entry)
            .collect();
        entries.extend(buffered);
        entries.sort_by_key(|e| e.occurred_at);
        entries.extend(&findings);
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
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        for chunk in statement_sized_chunks(&ids, SEAL_INSERT_ROWS) {
            diesel::delete(audit_outbox::table.filter(audit_outbox::id.eq_any(chunk)))
                .execute(conn)?;
        }
        // After a tail was found removed, the chain goes on from the head; after a head was
        // found rewritten, the head goes back onto the chain.
        let (outbox_seq, outbox_hash) = if checked.head_bad {
            outbox::reset_head(conn, &keyed, checked.seq, &checked.hash)?;
            (checked.seq, checked.hash)
        } else if !more && checked.seq < head.seq {
            (head.seq, head.hash)
        } else {
            (checked.seq, checked.hash)
        };
        diesel::update(audit_head::table.find(1))
            .set((
                audit_head::seq.eq(seq),
                audit_head::hash.eq(&prev),
                audit_head::outbox_seq.eq(outbox_seq),
                audit_head::outbox_hash.eq(&outbox_hash),
            ))
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
    use super::*;

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
}
