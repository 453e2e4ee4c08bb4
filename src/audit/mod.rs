//! The audit trail: entries of a change go into `audit_outbox` in the change's own transaction;
//! entries of reads and denials wait in a small in-memory buffer. A single sealer (serialised by
//! the chain head row, so one at a time even across nodes) moves both into `audit_logs`,
//! assigning the sequence and the chain hash `h_n = HMAC(key, h_{n-1} || canonical(entry_n))`.

pub mod verify;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::db::schema::{audit_head, audit_index, audit_logs, audit_outbox};
use crate::db::{write_transaction, DbConn, DbPool};

/// One entry before it is sealed.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = audit_outbox)]
pub struct NewEntry {
    pub occurred_at: chrono::NaiveDateTime,
    pub user_id: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

/// A sealed entry, as stored and as served by `GET /audit-logs`.
#[derive(
    Debug, Clone, Queryable, Selectable, Insertable, Serialize, Deserialize, utoipa::ToSchema,
)]
#[diesel(table_name = audit_logs)]
// None is NULL, never DEFAULT: with possible DEFAULTs Diesel turns a multi-row INSERT on SQLite
// into one INSERT per row inside a savepoint (the sealer spent 2/3 of its time there).
#[diesel(treat_none_as_default_value = false)]
pub struct AuditLog {
    pub seq: i64,
    #[serde(with = "crate::http::utc_naive")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: chrono::NaiveDateTime,
    pub user_id: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub hash: String,
}

/// How many committed entries wait in the outbox for the sealer.
pub fn pending(conn: &mut DbConn) -> QueryResult<i64> {
    audit_outbox::table.count().get_result(conn)
}

/// Writes a change's entry in the change's transaction.
pub fn record(conn: &mut DbConn, entry: &NewEntry) -> QueryResult<()> {
    diesel::insert_into(audit_outbox::table)
        .values(entry)
        .execute(conn)
        .map(|_| ())
}

/// A row of `audit_logs` as the sealer writes it and the chain covers it, borrowing its text
/// from the entry (copying a dozen strings per entry showed in the sealer's profile).
#[derive(Insertable)]
#[diesel(table_name = audit_logs)]
#[diesel(treat_none_as_default_value = false)]
pub struct ChainedRow<'a> {
    pub seq: i64,
    pub occurred_at: chrono::NaiveDateTime,
    pub user_id: Option<&'a str>,
    pub role: Option<&'a str>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<&'a str>,
    pub patient_id: Option<&'a str>,
    pub outcome: &'a str,
    pub request_id: Option<&'a str>,
    pub client_addr: Option<&'a str>,
    pub hash: String,
}

impl<'a> ChainedRow<'a> {
    fn of_entry(seq: i64, e: &'a NewEntry) -> Self {
        ChainedRow {
            seq,
            occurred_at: e.occurred_at,
            user_id: e.user_id.as_deref(),
            role: e.role.as_deref(),
            action: &e.action,
            resource_type: &e.resource_type,
            resource_id: e.resource_id.as_deref(),
            patient_id: e.patient_id.as_deref(),
            outcome: &e.outcome,
            request_id: e.request_id.as_deref(),
            client_addr: e.client_addr.as_deref(),
            hash: String::new(),
        }
    }
}

impl AuditLog {
    /// The stored entry as the chain covers it.
    pub fn chained(&self) -> ChainedRow<'_> {
        ChainedRow {
            seq: self.seq,
            occurred_at: self.occurred_at,
            user_id: self.user_id.as_deref(),
            role: self.role.as_deref(),
            action: &self.action,
            resource_type: &self.resource_type,
            resource_id: self.resource_id.as_deref(),
            patient_id: self.patient_id.as_deref(),
            outcome: &self.outcome,
            request_id: self.request_id.as_deref(),
            client_addr: self.client_addr.as_deref(),
            hash: String::new(),
        }
    }
}

/// The canonical bytes of an entry that the chain hash covers: a JSON array, so no field can
/// bleed into the next.
pub fn canonical(e: &ChainedRow) -> String {
    // A tuple serializes to the same compact JSON array that `json!([...])` did, byte for byte,
    // without building a `Value` (a dozen allocations per entry on the sealer's hot path).
    serde_json::to_string(&(
        e.seq,
        e.occurred_at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        e.user_id,
        e.role,
        e.action,
        e.resource_type,
        e.resource_id,
        e.patient_id,
        e.outcome,
        e.request_id,
        e.client_addr,
    ))
    .expect("strings and numbers always serialize")
}

/// `HMAC(key, prev || canonical(e))`, hex. `keyed` is `HMAC` already keyed: keying costs two
/// SHA-256 blocks, so the sealer keys once per seal and clones the state per entry.
pub fn chain_hash(keyed: &Hmac<Sha256>, prev: &str, e: &ChainedRow) -> String {
    let mut mac = keyed.clone();
    mac.update(prev.as_bytes());
    mac.update(canonical(e).as_bytes());
    crate::auth::tokens::sha256_hex(&mac.finalize().into_bytes())
}

/// The HMAC state keyed with the audit key.
pub fn keyed_mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length")
}

/// Reads or creates the HMAC key: `HEALTHAPI_AUDIT_KEY` if given, else `<data dir>/audit.key`
/// (generated once, kept outside the database).
pub fn load_key(given: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if let Some(k) = given.filter(|k| !k.is_empty()) {
        return Ok(k.as_bytes().to_vec());
    }
    let path = data_dir.join("audit.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Ok(k.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir)?;
    let k = crate::auth::tokens::random_token();
    std::fs::write(&path, &k)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    tracing::info!("generated a new audit key file in the data directory");
    Ok(k.into_bytes())
}

/// Buffered read entries that wake the sealer before its tick.
const BUFFER_SOFT_CAP: usize = 2_500;
/// Buffered read entries past which new requests wait for the sealer (`admit`): memory stays
/// bounded (about 500 bytes an entry) when reads outpace sealing, instead of growing by
/// hundreds of MB as it did under the list benchmark.
const BUFFER_HARD_CAP: usize = SEAL_BATCH as usize;
/// How long a request waits for the sealer before it is refused with 503.
const ADMIT_TIMEOUT: Duration = Duration::from_secs(5);
const SEAL_BATCH: i64 = 5_000;
/// Entries per transaction of a routine seal (what 10,000 reads/s buffer in a seal interval),
/// between which it checks whether requests wait for it.
const ROUTINE_SEAL_SLICE: usize = 1_000;
/// Rows per INSERT when sealing: 12 columns each, well under both backends' bind limits.
const SEAL_INSERT_ROWS: usize = 500;

struct Inner {
    pool: DbPool,
    key: Vec<u8>,
    buffer: Mutex<Vec<NewEntry>>,
    /// Serialises this node's sealing; the head row lock serialises nodes.
    seal_lock: tokio::sync::Mutex<()>,
    wake: Notify,
    thread: AuditThread,
    /// The trail index's own threads, so that indexing never holds up a seal.
    index_thread: AuditThread,
    /// Requests waiting in `admit`: while any do, new passes go to the urgent threads and a
    /// routine seal stops at its next slice.
    admitting: std::sync::atomic::AtomicUsize,
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

impl Inner {
    /// Whether requests wait in `admit`, or the server is shutting down (its final flush).
    fn is_waited_for(&self) -> bool {
        self.admitting.load(Ordering::Relaxed) > 0 || self.stopped.load(Ordering::Relaxed)
    }
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
                seal_lock: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                thread: AuditThread::start("audit-sealer", "audit-seal-now"),
                index_thread: AuditThread::start("audit-indexer", "audit-index-now"),
                admitting: std::sync::atomic::AtomicUsize::new(0),
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

    /// Buffers an entry of a read or a denial; sealed within 100 ms.
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

    /// Waits while the read buffer is over its hard cap (the sealer is behind), or the trail's
    /// index is `MAX_INDEX_LAG` entries behind the chain (`index_lag`), so that a burst of reads
    /// slows down instead of holding an unbounded backlog (in memory, or in the tail every query
    /// by patient or user scans). Err after `ADMIT_TIMEOUT`: the sealer or the indexer is not making
    /// progress (the database refuses writes).
    pub async fn admit(&self) -> Result<(), ()> {
        let buffer_full = || self.inner.buffer.lock().len() >= BUFFER_HARD_CAP;
        let index_behind = || self.index_lag() >= MAX_INDEX_LAG;
        let over = || buffer_full() || index_behind();
        if !over() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + ADMIT_TIMEOUT;
        let _waiting = Waiting::on(&self.inner.admitting);
        self.inner.admit_waits.fetch_add(1, Ordering::Relaxed);
        loop {
            let taken = self.inner.taken.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            if !over() || self.inner.stopped.load(Ordering::Relaxed) {
                return Ok(());
            }
            // Wake only the one that is behind: a woken sealer with nothing to seal would spin
            // (its flush notifies the waiters, which wake it again).
            if buffer_full() {
                self.inner.wake.notify_one();
            }
            if index_behind() {
                self.inner.index_wake.notify_one();
            }
            if tokio::time::timeout_at(deadline, taken).await.is_err() {
                self.inner.admit_refusals.fetch_add(1, Ordering::Relaxed);
                return Err(());
            }
        }
    }

    /// The trail's back-pressure as Prometheus text (`/metrics`): how often requests waited
    /// for the sealer or the indexer in `admit` (each wait is a request's latency; at most
    /// `ADMIT_TIMEOUT`), how many were refused, and the backlog now.
    pub fn render_metrics(&self) -> String {
        let inner = &self.inner;
        let buffered = inner.buffer.lock().len();
        format!(
            "# HELP healthapi_audit_admit_waits_total Requests that waited for the audit sealer or indexer to catch up.\n\
             # TYPE healthapi_audit_admit_waits_total counter\n\
             healthapi_audit_admit_waits_total {}\n\
             # HELP healthapi_audit_admit_refused_total Requests refused with 503 after waiting for the audit trail.\n\
             # TYPE healthapi_audit_admit_refused_total counter\n\
             healthapi_audit_admit_refused_total {}\n\
             # HELP healthapi_audit_buffered_entries Audit entries of reads waiting to be sealed.\n\
             # TYPE healthapi_audit_buffered_entries gauge\n\
             healthapi_audit_buffered_entries {buffered}\n\
             # HELP healthapi_audit_index_lag_entries Sealed audit entries not yet in the index by patient and user.\n\
             # TYPE healthapi_audit_index_lag_entries gauge\n\
             healthapi_audit_index_lag_entries {}\n",
            inner.admit_waits.load(Ordering::Relaxed),
            inner.admit_refusals.load(Ordering::Relaxed),
            self.index_lag(),
        )
    }

    /// Holds every seal off and fills the read buffer to its cap: requests wait in `admit`
    /// until the guard is dropped (tests of what must answer meanwhile).
    #[cfg(test)]
    pub(crate) async fn hold_back_requests(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let held = self.inner.seal_lock.lock().await;
        let buffered = self.inner.buffer.lock().len();
        for i in buffered..BUFFER_HARD_CAP {
            self.record_async(tests::entry(i));
        }
        held
    }

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

    /// Ends the background sealer (after the final flush on shutdown) and the indexer loop.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Relaxed);
        self.inner.wake.notify_one();
        self.inner.index_wake.notify_one();
    }

    /// Brings `audit_index` up to the sealed chain, on its own thread, pass by pass;
    /// each pass releases requests held back by the index's lag (`admit`). Returns how many
    /// entries it covered.
    pub async fn index_entries(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let inner = self.inner.clone();
            let urgent = self.index_lag() >= MAX_INDEX_LAG / 2 || self.inner.is_waited_for();
            let pass = self
                .inner
                .index_thread
                .run(urgent, move || {
                    Ok::<_, anyhow::Error>(index_entries(&mut *inner.pool.get()?, INDEX_BATCH)?)
                })
                .await??;
            total += pass.covered;
            self.publish_marks(pass.head, pass.indexed, pass.rebuild);
            self.inner.taken.notify_waiters();
            if !pass.more {
                return Ok(total);
            }
        }
    }

    /// Publishes the chain's head, the index's mark and `audit_head.rebuild_seq`, all as read
    /// from the database (another node may seal or index too; a cut chain shrinks; a restarted
    /// server must know a rebuild is under way), for `index_lag`.
    fn publish_marks(&self, head: i64, indexed: i64, rebuild: i64) {
        self.inner.sealed_seq.store(head, Ordering::Relaxed);
        self.inner.indexed_seq.store(indexed, Ordering::Relaxed);
        self.inner.rebuild_seq.store(rebuild, Ordering::Relaxed);
    }

    /// Sealed entries not yet in the trail's index, as this node last saw them; none while the
    /// index is rebuilt (its mark below `rebuild_seq`: after migration 5, or a cut chain).
    /// Holding requests back until millions of old entries are indexed again would take the API
    /// down for minutes, and queries scan the chain's tail past the mark meanwhile anyway. Once
    /// the rebuild reaches `rebuild_seq`, what was sealed during it counts as lag as usual.
    fn index_lag(&self) -> i64 {
        let indexed = self.inner.indexed_seq.load(Ordering::Relaxed);
        if indexed < self.inner.rebuild_seq.load(Ordering::Relaxed) {
            return 0;
        }
        (self.inner.sealed_seq.load(Ordering::Relaxed) - indexed).max(0)
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

    #[cfg(test)]
    fn is_waited_for(&self) -> bool {
        self.inner.is_waited_for()
    }

    fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Relaxed)
    }
}

/// Counts a request waiting in `admit` for as long as it waits (also when it times out or its
/// connection drops).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    fn on(count: &'a std::sync::atomic::AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
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
struct AuditThread {
    routine: SealerThread,
    urgent: SealerThread,
    /// Held while either thread runs a pass: a pass whose caller went away (a cancelled
    /// `flush`) still runs, and the next one must not overlap it on the other thread.
    busy: Arc<Mutex<()>>,
    #[cfg(test)]
    urgent_passes: std::sync::atomic::AtomicUsize,
}

impl AuditThread {
    fn start(routine: &str, urgent: &str) -> AuditThread {
        AuditThread {
            routine: SealerThread::start(routine, crate::db::idle_thread_priority),
            urgent: SealerThread::start(urgent, crate::db::lower_thread_priority),
            busy: Arc::new(Mutex::new(())),
            #[cfg(test)]
            urgent_passes: Default::default(),
        }
    }

    /// Runs `f` on the urgent thread if `urgent`, else on the routine one, and waits for its
    /// result without blocking the runtime. The two never run a pass at once (`busy`).
    async fn run<T: Send + 'static>(
        &self,
        urgent: bool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        #[cfg(test)]
        if urgent {
            self.urgent_passes.fetch_add(1, Ordering::Relaxed);
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
fn statement_sized_chunks<T>(mut items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
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

/// Entries the trail's index takes in one pass: read from the chain's tail, sorted by the
/// index's key, then inserted `INDEX_CHUNK` rows at a time.
const INDEX_BATCH: i64 = 50_000;
/// Index rows per write transaction: bounds how long indexing holds SQLite's write lock (the
/// sealer and every booking wait for it). A pass's chunks are consecutive ranges of its sorted
/// rows, so each index page is still written by one chunk of the pass.
const INDEX_CHUNK: usize = 2_000;
/// Sealed entries the trail's index may lag behind the chain before requests wait for it
/// (`Audit::admit`): bounds the tail a query by patient or user scans (about 0.1 s of reading
/// at this size) and the work left when load stops. Under reads that audit faster than the
/// indexer keeps up, this is what holds them to the rate it sustains.
const MAX_INDEX_LAG: i64 = 100_000;

/// Entries per bucket of the trail's index are `1 << INDEX_BUCKET_BITS` (262,144). The index
/// is keyed (bucket, kind, key, seq), so a pass inserts only into the newest bucket's pages (a
/// few thousand at most), however long the trail: keyed by patient alone, once the trail had a
/// million entries every pass rewrote nearly every page of the index (18,000 pages, 70 MB,
/// every second under the patient-read benchmark). A query reads each bucket once.
pub(crate) const INDEX_BUCKET_BITS: u32 = 18;

/// The bucket of the trail's index that holds entry `seq`.
pub fn index_bucket(seq: i64) -> i64 {
    seq >> INDEX_BUCKET_BITS
}

/// What an `audit_index` row looks an entry up by (its `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lookup {
    /// The entry's `patient_id`.
    Patient = 1,
    /// The entry's `user_id`.
    User = 2,
}

/// The index's key for an id: the first 8 bytes of SHA-256 of it, as a signed integer (the row
/// is half as long as with a 36-character id). Two ids may share a key, so a query checks each
/// entry's own id: an index row is only a pointer.
pub fn index_key(id: &str) -> i64 {
    use sha2::Digest;
    let digest = Sha256::digest(id.as_bytes());
    i64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

/// A row of `audit_index`; ordered as the table's key.
#[derive(Insertable, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[diesel(table_name = audit_index)]
struct IndexRow {
    bucket: i64,
    kind: i64,
    lookup_key: i64,
    seq: i64,
}

impl IndexRow {
    fn of(lookup: Lookup, id: &str, seq: i64) -> IndexRow {
        IndexRow {
            bucket: index_bucket(seq),
            kind: lookup as i64,
            lookup_key: index_key(id),
            seq,
        }
    }
}

/// What one pass of `index_entries` did.
#[derive(Debug, PartialEq, Eq)]
pub struct IndexPass {
    /// Entries of the chain it covered (with or without a patient).
    pub covered: usize,
    /// More sealed entries wait.
    pub more: bool,
    /// `audit_head.indexed_seq` after the pass.
    pub indexed: i64,
    /// The chain's head when the pass began.
    pub head: i64,
    /// `audit_head.rebuild_seq` (`Audit::index_lag`); with `head` and `indexed` as read at the
    /// end of the pass.
    pub rebuild: i64,
}

/// When a pass of a rebuild reaches its end (`rebuild`, the head when the round began) and
/// more than `MAX_INDEX_LAG` entries were sealed meanwhile, the rebuild goes on with another
/// round up to today's head, so that requests do not all wait at once for that backlog — but
/// only while the rounds get shorter (the indexer outpaces sealing); otherwise the lag bound
/// holds requests back as it should. Returns the next round's (`rebuild_from`, `rebuild_seq`).
fn next_rebuild_round(
    from: i64,
    rebuild: i64,
    indexed: i64,
    upto: i64,
    head: i64,
) -> Option<(i64, i64)> {
    let reached = indexed < rebuild && rebuild <= upto;
    let backlog = head - rebuild;
    (reached && backlog > MAX_INDEX_LAG && backlog < rebuild - from).then_some((rebuild, head))
}

/// Adds the sealed entries after `audit_head.indexed_seq` (at most `batch` of them) to
/// `audit_index` (a row for its patient and one for its user), then moves `indexed_seq` past
/// them.
///
/// Why not indexes on `audit_logs(patient_id, seq)` and `(user_id, seq)`: the sealer updated
/// them at a random page for every entry (patients are read in no order; users act in none),
/// so each audited read wrote its own 4 KiB pages inside the seal. Here a pass is sorted by the
/// table's key first, so consecutive inserts share pages and a page is written once a pass, on
/// a thread of its own, and only the newest bucket's pages (`INDEX_BUCKET_BITS`). Chunks commit one by one and insert idempotently: a
/// pass cut short (a crash, a failed chunk) is redone whole, and rows above `indexed_seq` are
/// never read (queries bound the index by it).
pub fn index_entries(conn: &mut DbConn, batch: i64) -> QueryResult<IndexPass> {
    let (head, indexed, indexed_hash, rebuild, rebuild_from) = write_transaction(conn, |conn| {
        let (head, indexed, indexed_hash, rebuild, rebuild_from): (i64, i64, String, i64, i64) =
            audit_head::table
                .find(1)
                .select((
                    audit_head::seq,
                    audit_head::indexed_seq,
                    audit_head::indexed_hash,
                    audit_head::rebuild_seq,
                    audit_head::rebuild_from,
                ))
                .first(conn)?;
        if indexed > 0 && hash_at(conn, indexed)?.as_deref() != Some(indexed_hash.as_str()) {
            // The chain under the indexed mark is not the one that was indexed: its tail was
            // cut (what `audit verify --checkpoint` reports), perhaps sealed anew under the
            // same numbers. Start over rather than point a patient at another's entries.
            tracing::warn!(
                indexed,
                "audit chain changed under its index; rebuilding it"
            );
            diesel::delete(audit_index::table).execute(conn)?;
            diesel::update(audit_head::table.find(1))
                .set((
                    audit_head::indexed_seq.eq(0),
                    audit_head::indexed_hash.eq(""),
                    audit_head::rebuild_seq.eq(head),
                    audit_head::rebuild_from.eq(0),
                ))
                .execute(conn)?;
            return Ok::<_, diesel::result::Error>((head, 0, String::new(), head, 0));
        }
        if rebuild > head {
            // The chain was cut above the index's mark while it was rebuilt: the rebuild ends
            // at the new head (left above it, it would switch the lag bound off until the
            // chain grew back).
            diesel::update(audit_head::table.find(1))
                .set(audit_head::rebuild_seq.eq(head))
                .execute(conn)?;
            return Ok((head, indexed, indexed_hash, head, rebuild_from.min(head)));
        }
        Ok((head, indexed, indexed_hash, rebuild, rebuild_from))
    })?;
    let upto = head.min(indexed + batch);
    if upto == indexed {
        return Ok(IndexPass {
            covered: 0,
            more: false,
            indexed,
            head,
            rebuild,
        });
    }
    let mut rows: Vec<IndexRow> = Vec::new();
    let entries = audit_logs::table
        .filter(audit_logs::seq.gt(indexed))
        .filter(audit_logs::seq.le(upto))
        .select((audit_logs::patient_id, audit_logs::user_id, audit_logs::seq))
        .load_iter::<(Option<String>, Option<String>, i64), diesel::connection::DefaultLoadingMode>(
            conn,
        )?;
    for entry in entries {
        let (patient_id, user_id, seq) = entry?;
        if let Some(id) = patient_id {
            rows.push(IndexRow::of(Lookup::Patient, &id, seq));
        }
        if let Some(id) = user_id {
            rows.push(IndexRow::of(Lookup::User, &id, seq));
        }
    }
    rows.sort_unstable();
    let mut chunks = rows.chunks(INDEX_CHUNK).peekable();
    loop {
        let chunk = chunks.next().unwrap_or_default();
        let last = chunks.peek().is_none();
        let marked = write_transaction(conn, |conn| {
            match conn {
                DbConn::Sqlite(c) => {
                    for row in chunk {
                        diesel::insert_into(audit_index::table)
                            .values(row)
                            .on_conflict_do_nothing()
                            .execute(c)?;
                    }
                }
                DbConn::Postgres(c) => {
                    for part in statement_sized_chunks(chunk, INDEX_CHUNK) {
                        diesel::insert_into(audit_index::table)
                            .values(part)
                            .on_conflict_do_nothing()
                            .execute(c)?;
                    }
                }
            }
            if !last {
                return Ok::<_, diesel::result::Error>(None);
            }
            // Only if the mark is still where this pass began: another node (or `audit
            // index`) may have indexed further, or rebuilt the index after a cut chain, which
            // this pass must not declare complete.
            let upto_hash = hash_at(conn, upto)?.unwrap_or_default();
            let head_now: i64 = audit_head::table
                .find(1)
                .select(audit_head::seq)
                .first(conn)?;
            let (from, until) = next_rebuild_round(rebuild_from, rebuild, indexed, upto, head_now)
                .unwrap_or((rebuild_from, rebuild));
            diesel::update(audit_head::table.find(1))
                .filter(audit_head::indexed_seq.eq(indexed))
                .filter(audit_head::indexed_hash.eq(&indexed_hash))
                .set((
                    audit_head::indexed_seq.eq(upto),
                    audit_head::indexed_hash.eq(upto_hash),
                    audit_head::rebuild_from.eq(from),
                    audit_head::rebuild_seq.eq(until),
                ))
                .execute(conn)?;
            // All three marks as they are now, from one read.
            Ok(Some(
                audit_head::table
                    .find(1)
                    .select((
                        audit_head::seq,
                        audit_head::indexed_seq,
                        audit_head::rebuild_seq,
                    ))
                    .first::<(i64, i64, i64)>(conn)?,
            ))
        })?;
        if let Some((head, now_indexed, rebuild)) = marked {
            return Ok(IndexPass {
                covered: (upto - indexed) as usize,
                more: now_indexed < head,
                indexed: now_indexed,
                head,
                rebuild,
            });
        }
    }
}

fn hash_at(conn: &mut DbConn, seq: i64) -> QueryResult<Option<String>> {
    audit_logs::table
        .find(seq)
        .select(audit_logs::hash)
        .first(conn)
        .optional()
}

/// `index_entries` until every sealed entry is indexed, `INDEX_BATCH` per transaction.
pub fn index_all_entries(conn: &mut DbConn) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let pass = index_entries(conn, INDEX_BATCH)?;
        total += pass.covered;
        if !pass.more {
            return Ok(total);
        }
    }
}

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
    use super::*;
    use diesel::connection::SimpleConnection;

    pub(super) fn entry(i: usize) -> NewEntry {
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

    fn audit_on_fresh_sqlite(dir: &tempfile::TempDir) -> Audit {
        let url = dir.path().join("audit.db").display().to_string();
        let pool = crate::db::connect(&url, 4).unwrap();
        Audit::new(pool, b"test-key".to_vec())
    }

    fn fill_to_hard_cap(audit: &Audit) {
        for i in 0..BUFFER_HARD_CAP {
            audit.record_async(entry(i));
        }
    }

    /// The rows of `audit_index` in key order, and `audit_head.indexed_seq`.
    fn trail_index(conn: &mut DbConn) -> (Vec<IndexRow>, i64) {
        let key = (
            audit_index::bucket,
            audit_index::kind,
            audit_index::lookup_key,
            audit_index::seq,
        );
        let rows = audit_index::table
            .select(key)
            .order(key)
            .load::<(i64, i64, i64, i64)>(conn)
            .unwrap()
            .into_iter()
            .map(|(bucket, kind, lookup_key, seq)| IndexRow {
                bucket,
                kind,
                lookup_key,
                seq,
            })
            .collect();
        let indexed = audit_head::table
            .select(audit_head::indexed_seq)
            .first(conn)
            .unwrap();
        (rows, indexed)
    }

    /// Index rows of the test entries (`entry(i)`: patient-i, user-i) at these seqs, in key
    /// order; `None` for an entry without a patient.
    fn index_rows(entries: &[(Option<usize>, usize, i64)]) -> Vec<IndexRow> {
        let mut rows = Vec::new();
        for &(patient, user, seq) in entries {
            if let Some(p) = patient {
                rows.push(IndexRow::of(Lookup::Patient, &format!("patient-{p}"), seq));
            }
            rows.push(IndexRow::of(Lookup::User, &format!("user-{user}"), seq));
        }
        rows.sort_unstable();
        rows
    }

    #[test]
    fn the_index_follows_the_chain_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("audit.db").display().to_string();
        let pool = crate::db::connect(&url, 1).unwrap();
        let conn = &mut *pool.get().unwrap();
        // Seven entries (seq 1..=7) about three patients by three users; seq 5 about no patient.
        let mut entries: Vec<NewEntry> = (0..7).map(|i| entry(i % 3)).collect();
        entries[4].patient_id = None;
        seal(conn, b"k", &entries).unwrap();
        assert_eq!(trail_index(conn), (vec![], 0), "nothing indexed yet");

        let pass = |covered, more, indexed| IndexPass {
            covered,
            more,
            indexed,
            head: 7,
            rebuild: 0,
        };
        assert_eq!(index_entries(conn, 3).unwrap(), pass(3, true, 3));
        let (rows, indexed) = trail_index(conn);
        assert_eq!(indexed, 3);
        assert_eq!(
            rows,
            index_rows(&[(Some(0), 0, 1), (Some(1), 1, 2), (Some(2), 2, 3)])
        );
        assert_eq!(index_entries(conn, 3).unwrap(), pass(3, true, 6));
        assert_eq!(index_all_entries(conn).unwrap(), 1);
        let (rows, indexed) = trail_index(conn);
        assert_eq!(indexed, 7);
        let want = [
            (Some(0), 0, 1),
            (Some(1), 1, 2),
            (Some(2), 2, 3),
            (Some(0), 0, 4),
            (None, 1, 5),
            (Some(2), 2, 6),
            (Some(0), 0, 7),
        ];
        assert_eq!(rows, index_rows(&want), "seq 5 has no patient");
        assert_eq!(
            index_entries(conn, 3).unwrap(),
            pass(0, false, 7),
            "up to date"
        );

        // A cut chain (what `audit verify --checkpoint` reports): the index forgets the cut
        // entries, and entries sealed anew under their numbers are indexed.
        conn.batch_execute(
            "DELETE FROM audit_logs WHERE seq > 5;
             UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_logs WHERE seq = 5);",
        )
        .unwrap();
        seal(conn, b"k", &[entry(9)]).unwrap();
        assert_eq!(
            index_entries(conn, 3).unwrap(),
            IndexPass {
                covered: 3,
                more: true,
                indexed: 3,
                head: 6,
                rebuild: 6,
            },
            "rebuilt from the start, the head of then marked as its end"
        );
        assert_eq!(index_all_entries(conn).unwrap(), 3);
        let stored: i64 = audit_head::table
            .select(audit_head::rebuild_seq)
            .first(conn)
            .unwrap();
        assert_eq!(stored, 6, "the rebuild's end is kept in the database");
        let (rows, indexed) = trail_index(conn);
        assert_eq!(indexed, 6);
        assert_eq!(rows, index_rows(&[&want[..5], &[(Some(9), 9, 6)]].concat()));
    }

    #[test]
    fn index_keys_are_stable_and_buckets_follow_the_chain() {
        // Stored keys must never change meaning: these are SHA-256's first 8 bytes.
        assert_eq!(
            index_key(""),
            i64::from_be_bytes(*b"\xe3\xb0\xc4\x42\x98\xfc\x1c\x14")
        );
        assert_ne!(index_key("patient-0"), index_key("patient-1"));
        assert_eq!(index_bucket(1), 0);
        assert_eq!(index_bucket((1 << INDEX_BUCKET_BITS) - 1), 0);
        assert_eq!(index_bucket(1 << INDEX_BUCKET_BITS), 1);
    }

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

    #[tokio::test]
    async fn a_full_buffer_holds_requests_back_until_the_sealer_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_on_fresh_sqlite(&dir);
        assert!(
            audit.admit().await.is_ok(),
            "an empty buffer admits at once"
        );
        fill_to_hard_cap(&audit);

        let waiting = tokio::spawn({
            let audit = audit.clone();
            async move { audit.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "admitted while the buffer was full");
        assert!(
            audit.is_waited_for(),
            "the next seal runs on the urgent thread"
        );

        // admit() woke the sealer's Notify; a flush (what the sealer runs) releases the waiter.
        assert_eq!(audit.flush().await.unwrap(), BUFFER_HARD_CAP);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert!(!audit.is_waited_for(), "nobody waits any more");
        let metrics = audit.render_metrics();
        assert!(
            metrics.contains("healthapi_audit_admit_waits_total 1\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains("healthapi_audit_admit_refused_total 0\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains("healthapi_audit_buffered_entries 0\n"),
            "{metrics}"
        );

        // A waiter that goes away (its connection dropped) stops counting too.
        fill_to_hard_cap(&audit);
        let dropped = tokio::spawn({
            let audit = audit.clone();
            async move { audit.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(audit.is_waited_for());
        dropped.abort();
        let _ = dropped.await;
        assert!(!audit.is_waited_for(), "an aborted waiter still counted");
        audit.flush().await.unwrap();

        let mut conn = audit.inner.pool.get().unwrap();
        match verify::verify(&mut conn, b"test-key", None).unwrap() {
            verify::Verdict::Intact { count, .. } => {
                assert_eq!(count, 2 * BUFFER_HARD_CAP as i64)
            }
            broken => panic!("chain broken: {broken:?}"),
        }
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

    /// An audit on a fresh database with ten entries sealed (seq 1..=10), none indexed.
    async fn audit_with_ten_sealed(dir: &tempfile::TempDir) -> Audit {
        let audit = audit_on_fresh_sqlite(dir);
        for i in 0..10 {
            audit.record_async(entry(i));
        }
        audit.flush().await.unwrap();
        audit
    }

    #[tokio::test]
    async fn a_new_server_takes_the_index_mark_from_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_with_ten_sealed(&dir).await;
        assert_eq!(audit.index_entries().await.unwrap(), 10);
        // A restart: fresh marks, then the first seal publishes both from audit_head, without
        // waiting for an index pass (which would otherwise hold requests back at start).
        let restarted = audit_on_fresh_sqlite(&dir);
        restarted.record_async(entry(11));
        restarted.flush().await.unwrap();
        assert_eq!(restarted.index_lag(), 1);
    }

    #[test]
    fn a_rebuild_catches_up_in_rounds_while_they_get_shorter() {
        let lag = MAX_INDEX_LAG;
        // Round 0..1M reached with 300k sealed meanwhile: another round, 1M..1.3M.
        assert_eq!(
            next_rebuild_round(0, 1_000_000, 990_000, 1_000_000, 1_300_000),
            Some((1_000_000, 1_300_000))
        );
        // That round reached with 40k sealed meanwhile: within the lag bound, the rebuild ends.
        assert_eq!(
            next_rebuild_round(1_000_000, 1_300_000, 1_290_000, 1_300_000, 1_340_000),
            None
        );
        // A backlog as long as the round itself: sealing outpaces the indexer, the lag bound
        // takes over.
        assert_eq!(
            next_rebuild_round(1_000_000, 1_300_000, 1_290_000, 1_300_000, 1_600_000),
            None
        );
        // Not the pass that reaches the round's end: nothing changes.
        assert_eq!(
            next_rebuild_round(0, 1_000_000, 500_000, 550_000, 2_000_000),
            None
        );
        assert_eq!(
            next_rebuild_round(0, 1_000_000, 1_000_000, 1_050_000, 2_000_000),
            None
        );
        assert_eq!(
            next_rebuild_round(0, 0, 0, 50_000, 10 * lag),
            None,
            "no rebuild"
        );
    }

    #[test]
    fn while_the_index_is_rebuilt_nobody_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_on_fresh_sqlite(&dir);
        // A rebuild of a million entries began (migration 5, or a cut chain) and is at 10.
        audit.publish_marks(1_000_050, 10, 1_000_000);
        assert_eq!(
            audit.index_lag(),
            0,
            "the rebuild's backlog holds nobody back"
        );
        audit.publish_marks(1_300_000, 999_999, 1_000_000);
        assert_eq!(audit.index_lag(), 0, "nor what was sealed during it");
        // Done: what was sealed meanwhile is lag as usual.
        audit.publish_marks(1_300_000, 1_000_000, 1_000_000);
        assert_eq!(audit.index_lag(), 300_000);
        audit.publish_marks(1_300_100, 1_300_000, 1_000_000);
        assert_eq!(audit.index_lag(), 100);
    }

    /// A server started in the middle of a rebuild (or another node) learns of it from the
    /// database, at its first seal.
    #[tokio::test]
    async fn a_rebuild_is_known_from_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_with_ten_sealed(&dir).await;
        assert_eq!(audit.index_lag(), 10);
        audit
            .inner
            .pool
            .get()
            .unwrap()
            .batch_execute("UPDATE audit_head SET rebuild_seq = 10")
            .unwrap();
        let restarted = audit_on_fresh_sqlite(&dir);
        restarted.record_async(entry(11));
        restarted.flush().await.unwrap();
        assert_eq!(restarted.index_lag(), 0, "index at 0 of a rebuild to 10");
        assert_eq!(restarted.index_entries().await.unwrap(), 11);
        assert_eq!(restarted.index_lag(), 0, "caught up");
    }

    #[tokio::test]
    async fn an_index_far_behind_the_chain_holds_requests_back_until_it_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_with_ten_sealed(&dir).await;
        assert_eq!(audit.index_lag(), 10, "sealed, not indexed");
        assert!(audit.admit().await.is_ok());

        // As if MAX_INDEX_LAG entries had been sealed since the last pass.
        audit
            .inner
            .sealed_seq
            .store(MAX_INDEX_LAG, Ordering::Relaxed);
        let waiting = tokio::spawn({
            let audit = audit.clone();
            async move { audit.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "admitted while the index lagged");
        // A pass publishes the index's mark and the chain's real head: released.
        assert_eq!(audit.index_entries().await.unwrap(), 10);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(audit.index_lag(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sealer_that_never_takes_the_buffer_gets_requests_refused() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_on_fresh_sqlite(&dir);
        fill_to_hard_cap(&audit);
        // No sealer runs: with time paused, the 5 s wait elapses as soon as the test is idle.
        assert_eq!(audit.admit().await, Err(()));
        assert_eq!(
            audit.inner.buffer.lock().len(),
            BUFFER_HARD_CAP,
            "nothing dropped"
        );
        let metrics = audit.render_metrics();
        assert!(
            metrics.contains("healthapi_audit_admit_waits_total 1\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains("healthapi_audit_admit_refused_total 1\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains(&format!(
                "healthapi_audit_buffered_entries {BUFFER_HARD_CAP}\n"
            )),
            "{metrics}"
        );
    }
}
