//! The audit trail: entries of a change go into `audit_outbox` in the change's own transaction;
//! entries of reads and denials wait in a small in-memory buffer. A single sealer (serialised by
//! the chain head row, so one at a time even across nodes) moves both into `audit_logs`,
//! assigning the sequence and the chain hash `h_n = HMAC(key, h_{n-1} || canonical(entry_n))`.

pub mod verify;

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::db::schema::{audit_head, audit_logs, audit_outbox};
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

/// Buffered read entries that wake the sealer before its 100 ms tick.
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
    /// Serialises this node's sealing; the head row lock serialises nodes.
    seal_lock: tokio::sync::Mutex<()>,
    wake: Notify,
    thread: SealerThread,
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
                seal_lock: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                thread: SealerThread::start(),
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

    /// Waits while the read buffer is over its hard cap (the sealer is behind), so that a burst
    /// of reads slows down instead of holding an unbounded backlog in memory. Err after
    /// `ADMIT_TIMEOUT`: the sealer is not making progress (the database refuses writes).
    pub async fn admit(&self) -> Result<(), ()> {
        let over = || self.inner.buffer.lock().len() >= BUFFER_HARD_CAP;
        if !over() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + ADMIT_TIMEOUT;
        loop {
            let taken = self.inner.taken.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            if !over()
                || self
                    .inner
                    .stopped
                    .load(std::sync::atomic::Ordering::Relaxed)
            {
                return Ok(());
            }
            self.inner.wake.notify_one();
            if tokio::time::timeout_at(deadline, taken).await.is_err() {
                return Err(());
            }
        }
    }

    /// Seals everything buffered or in the outbox now. Entries are never dropped: on failure
    /// the buffered ones go back into the buffer.
    pub async fn flush(&self) -> anyhow::Result<usize> {
        let _guard = self.inner.seal_lock.lock().await;
        let inner = self.inner.clone();
        let mut total = 0;
        loop {
            // Buffered entries are sealed SEAL_BATCH at a time, one write transaction each: a
            // single transaction over a backlog of 100,000s of read entries held the database's
            // write lock for seconds while bookings timed out waiting for it.
            let pending = std::mem::take(&mut *inner.buffer.lock());
            inner.taken.notify_waiters();
            let inner2 = inner.clone();
            let result = inner
                .thread
                .run(move || {
                    let mut done = 0;
                    let mut total = SealResult {
                        sealed: 0,
                        more: false,
                    };
                    let res = match inner2.pool.get() {
                        Ok(mut conn) => loop {
                            let end = (done + SEAL_BATCH as usize).min(pending.len());
                            match seal(&mut conn, &inner2.key, &pending[done..end]) {
                                Ok(r) => {
                                    total.sealed += r.sealed;
                                    total.more = r.more;
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
                            let mut pending = pending;
                            let unsealed = pending.split_off(done);
                            let mut b = inner2.buffer.lock();
                            let newer = std::mem::take(&mut *b);
                            *b = unsealed;
                            b.extend(newer);
                            Err(anyhow::anyhow!("sealing audit entries failed: {e}"))
                        }
                    }
                })
                .await??;
            total += result.sealed;
            if !result.more {
                return Ok(total);
            }
        }
    }

    /// Ends the background sealer (after the final flush on shutdown).
    pub fn stop(&self) {
        self.inner
            .stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.inner.wake.notify_one();
    }

    /// The background sealer: every `interval` (100 ms by default), or sooner when woken.
    pub fn spawn_sealer(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let audit = self.clone();
        tokio::spawn(async move {
            while !audit
                .inner
                .stopped
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                let _ = tokio::time::timeout(interval, audit.inner.wake.notified()).await;
                if let Err(e) = audit.flush().await {
                    tracing::warn!(error = %e, "audit sealer will retry");
                }
            }
        })
    }
}

/// The thread every seal runs on, at a lower CPU priority than the threads serving requests.
/// Sealing comes in bursts (every 100 ms, a transaction over all the entries since): on the
/// runtime's blocking pool a burst held one of the 2 cores for tens of milliseconds while
/// requests queued on the other, which set the p99 of patient reads at 80% load (48 ms against
/// a p50 of 5 ms). At nice 10 a woken request thread pre-empts it; when the CPU is saturated the
/// sealer falls behind until the buffer's cap makes requests wait for it (`Audit::admit`).
struct SealerThread {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl SealerThread {
    fn start() -> SealerThread {
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name("audit-sealer".into())
            .spawn(move || {
                crate::db::lower_thread_priority();
                // Ends when the last handle (and so the sender) is dropped.
                while let Ok(job) = queue.recv() {
                    // A panicking seal drops its reply: that flush fails, the thread goes on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .expect("start the audit sealer thread");
        SealerThread { jobs }
    }

    /// Runs `f` on the sealer thread and waits for its result without blocking the runtime.
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

pub struct SealResult {
    pub sealed: usize,
    /// The outbox still holds rows past this batch.
    pub more: bool,
}

/// One sealing pass, in one transaction: lock the head, take committed outbox rows plus the
/// given buffered entries, chain them in time order, store, advance the head.
pub fn seal(conn: &mut DbConn, key: &[u8], buffered: &[NewEntry]) -> QueryResult<SealResult> {
    write_transaction(conn, |conn| {
        if let DbConn::Postgres(_) = conn {
            diesel::sql_query("SELECT id FROM audit_head WHERE id = 1 FOR UPDATE").execute(conn)?;
        }
        let (mut seq, mut prev): (i64, String) = audit_head::table
            .find(1)
            .select((audit_head::seq, audit_head::hash))
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
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> NewEntry {
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

        // admit() woke the sealer's Notify; a flush (what the sealer runs) releases the waiter.
        assert_eq!(audit.flush().await.unwrap(), BUFFER_HARD_CAP);
        assert_eq!(waiting.await.unwrap(), Ok(()));

        let mut conn = audit.inner.pool.get().unwrap();
        match verify::verify(&mut conn, b"test-key", None).unwrap() {
            verify::Verdict::Intact { count, .. } => assert_eq!(count, BUFFER_HARD_CAP as i64),
            broken => panic!("chain broken: {broken:?}"),
        }
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
    }
}
