//! The audit trail: entries of a change go into `audit_outbox` in the change's own transaction;
//! entries of reads and denials wait in a small in-memory buffer. A single sealer (serialised by
//! the chain head row, so one at a time even across nodes) moves both into `audit_logs`,
//! assigning the sequence and the chain hash `h_n = HMAC(key, h_{n-1} || canonical(entry_n))`.
//!
//! - `entry`: what an entry says (typed `Action`s, domain-declared `Resource`s), as buffered,
//!   in the outbox, and sealed;
//! - `outbox`: a change's entries, written in the change's transaction, chained under the key
//!   so that the sealer finds any edited, removed or inserted before sealing;
//! - `chain`: the canonical form of an entry, the chain hash, the key;
//! - `sealer`: the passes that chain buffered and outbox entries, on their own threads;
//! - `index`: the lookup of sealed entries by patient and by user, filled behind the chain;
//! - `backpressure`: requests wait while the sealer or the indexer is too far behind;
//! - `query`: reading the trail, newest first, through the index;
//! - `verify`: recomputing the chain (`healthapi audit verify`).
//!
//! This layer knows no domain and no HTTP type.

mod backpressure;
mod chain;
mod entry;
mod index;
mod outbox;
pub mod query;
mod sealer;
pub mod verify;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::db::DbPool;

pub use chain::{canonical, chain_hash, claim_key, existing_key, keyed_mac, load_key};
pub use entry::{Action, AuditLog, ChainedRow, NewEntry, Outcome, Resource};
pub use index::{index_all_entries, index_bucket, index_entries, index_key, IndexPass, Lookup};
pub use outbox::pending;
use sealer::PassThread;
pub use sealer::{seal, SealResult};

/// Buffered read entries that wake the sealer before its tick.
const BUFFER_SOFT_CAP: usize = 2_500;
/// Buffered read entries past which new requests wait for the sealer (`admit`): memory stays
/// bounded (about 500 bytes an entry) when reads outpace sealing, instead of growing by
/// hundreds of MB as it did under the list benchmark.
const BUFFER_HARD_CAP: usize = SEAL_BATCH as usize;
/// How long a request waits for the sealer before it is refused with 503.
const ADMIT_TIMEOUT: Duration = Duration::from_secs(5);
const SEAL_BATCH: i64 = 5_000;
/// Rows per INSERT when sealing: 12 columns each, well under both backends' bind limits.
const SEAL_INSERT_ROWS: usize = 500;

struct Inner {
    pool: DbPool,
    key: Vec<u8>,
    buffer: Mutex<Vec<NewEntry>>,
    /// The generation the buffer's entries belong to: the sealer takes the buffer and this
    /// moves on, both under the buffer's lock.
    generation: AtomicU64,
    /// The latest generation whose entries are sealed and committed: what `durable` waits for.
    durable: tokio::sync::watch::Sender<u64>,
    /// Serialises this node's sealing; the head row lock serialises nodes.
    seal_lock: tokio::sync::Mutex<()>,
    wake: Notify,
    thread: PassThread,
    /// The trail index's own thread, so that indexing never holds up a seal.
    index_thread: PassThread,
    /// Requests that ever waited in `admit`, and those of them refused (`/metrics`).
    admit_waits: AtomicU64,
    admit_refusals: AtomicU64,
    /// The chain's head and the index's mark as this node last saw them (`index_lag`).
    sealed_seq: AtomicI64,
    indexed_seq: AtomicI64,
    /// `audit_head.rebuild_seq`: while the index's mark is below it, the index is being rebuilt
    /// (`index_lag`).
    rebuild_seq: AtomicI64,
    /// Wakes the indexer before its interval when requests wait for it.
    index_wake: Notify,
    /// Signalled whenever the sealer takes the buffer, for requests waiting in `admit`.
    taken: Notify,
    stopped: std::sync::atomic::AtomicBool,
}

/// The handle every request uses. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    inner: Arc<Inner>,
}

impl Audit {
    pub fn new(pool: DbPool, key: Vec<u8>) -> Audit {
        Audit {
            inner: Arc::new(Inner {
                pool,
                key,
                buffer: Mutex::new(Vec::new()),
                generation: AtomicU64::new(1),
                durable: tokio::sync::watch::Sender::new(0),
                seal_lock: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                thread: PassThread::start("audit-sealer"),
                index_thread: PassThread::start("audit-indexer"),
                admit_waits: AtomicU64::new(0),
                admit_refusals: AtomicU64::new(0),
                sealed_seq: AtomicI64::new(0),
                indexed_seq: AtomicI64::new(0),
                rebuild_seq: AtomicI64::new(0),
                index_wake: Notify::new(),
                taken: Notify::new(),
                stopped: Default::default(),
            }),
        }
    }

    /// Appends a change's entries to the outbox chain, in the change's transaction (at its
    /// end: the chain's head stays locked until the commit).
    pub fn append(
        &self,
        conn: &mut crate::db::DbConn,
        entries: &[NewEntry],
    ) -> diesel::QueryResult<()> {
        outbox::append(conn, &keyed_mac(&self.inner.key), entries)
    }

    /// Buffers the entries of a read and wakes the sealer: `durable` then waits until they are
    /// sealed and committed (group commit: every read waiting meanwhile shares the next pass).
    /// Returns the generation to wait for.
    pub fn record_read(&self, entries: impl IntoIterator<Item = NewEntry>) -> u64 {
        let generation = {
            let mut b = self.inner.buffer.lock();
            b.extend(entries);
            self.inner.generation.load(Ordering::Relaxed)
        };
        self.inner.wake.notify_one();
        generation
    }

    /// Waits until the entries of `generation` are durable; `Err` after `ADMIT_TIMEOUT` (the
    /// data they audit must not be served).
    pub async fn durable(&self, generation: u64) -> Result<(), ()> {
        let mut sealed = self.inner.durable.subscribe();
        let waited =
            tokio::time::timeout(ADMIT_TIMEOUT, sealed.wait_for(|g| *g >= generation)).await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(()),
        }
    }

    /// Buffers an entry of a denial; sealed within 100 ms.
    pub fn record_async(&self, entry: NewEntry) {
        let len = {
            let mut b = self.inner.buffer.lock();
            b.push(entry);
            b.len()
        };
        if len >= BUFFER_SOFT_CAP {
            self.inner.wake.notify_one();
        }
    }

    /// Ends the background sealer (after the final flush on shutdown) and the indexer loop.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Relaxed);
        self.inner.wake.notify_one();
        self.inner.index_wake.notify_one();
    }

    fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Relaxed)
    }
}

/// What the audit module's tests share: an entry, and a trail on a fresh SQLite file.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) fn entry(i: usize) -> NewEntry {
        NewEntry {
            occurred_at: crate::db::now(),
            user_id: Some(format!("user-{i}")),
            role: Some("doctor".into()),
            action: "read".into(),
            resource_type: "patient".into(),
            resource_id: Some(format!("patient-{i}")),
            patient_id: Some(format!("patient-{i}")),
            outcome: "success".into(),
            request_id: None,
            client_addr: None,
        }
    }

    pub(crate) fn audit_on_fresh_sqlite(dir: &tempfile::TempDir) -> Audit {
        let url = dir.path().join("audit.db").display().to_string();
        let pool = crate::db::connect(&url, 4).unwrap();
        Audit::new(pool, b"test-key".to_vec())
    }

    /// An audit on a fresh database with ten entries sealed (seq 1..=10), none indexed.
    pub(crate) async fn audit_with_ten_sealed(dir: &tempfile::TempDir) -> Audit {
        let audit = audit_on_fresh_sqlite(dir);
        for i in 0..10 {
            audit.record_async(entry(i));
        }
        audit.flush().await.unwrap();
        audit
    }
}
