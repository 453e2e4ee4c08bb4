//! The trail's lookup by patient and by user: a table (`audit_index`) that a pass of its own
//! fills behind the chain in sorted batches, not an index the sealer updates per entry.

use std::sync::atomic::Ordering;

use diesel::prelude::*;
use sha2::Sha256;

use super::sealer::statement_sized_chunks;
use super::Audit;
use crate::db::schema::{audit_head, audit_index, audit_logs};
use crate::db::{write_transaction, DbConn};

impl Audit {
    /// Brings `audit_index` up to the sealed chain, on its own thread, pass by pass;
    /// each pass releases requests held back by the index's lag (`admit`). Returns how many
    /// entries it covered.
    pub async fn index_entries(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let inner = self.inner.clone();
            let pass = self
                .inner
                .index_thread
                .run(move || {
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
    pub(super) fn publish_marks(&self, head: i64, indexed: i64, rebuild: i64) {
        self.inner.sealed_seq.store(head, Ordering::Relaxed);
        self.inner.indexed_seq.store(indexed, Ordering::Relaxed);
        self.inner.rebuild_seq.store(rebuild, Ordering::Relaxed);
    }

    /// Sealed entries not yet in the trail's index, as this node last saw them; none while the
    /// index is rebuilt (its mark below `rebuild_seq`: after migration 5, or a cut chain).
    /// Holding requests back until millions of old entries are indexed again would take the API
    /// down for minutes, and queries scan the chain's tail past the mark meanwhile anyway. Once
    /// the rebuild reaches `rebuild_seq`, what was sealed during it counts as lag as usual.
    pub(super) fn index_lag(&self) -> i64 {
        let indexed = self.inner.indexed_seq.load(Ordering::Relaxed);
        if indexed < self.inner.rebuild_seq.load(Ordering::Relaxed) {
            return 0;
        }
        (self.inner.sealed_seq.load(Ordering::Relaxed) - indexed).max(0)
    }
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
pub(super) const MAX_INDEX_LAG: i64 = 100_000;

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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{seal, NewEntry};
    use super::*;
    use diesel::connection::SimpleConnection;

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
}
