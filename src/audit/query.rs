//! Reading the trail: a page of entries, newest first, filtered; by patient or by user through
//! `audit_index` and the chain's unindexed tail.

use diesel::prelude::*;

use super::index::{index_bucket, index_key, Lookup, INDEX_BUCKET_BITS};
use super::AuditLog;
use crate::db::schema::{audit_head, audit_index, audit_logs};
use crate::db::DbConn;

/// What a page of the trail is filtered by.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub user_id: Option<String>,
    pub patient_id: Option<String>,
    pub resource_type: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub request_id: Option<String>,
}

/// Which part of the filtered trail a page is: entries before `after` (a seq), `from`..`to`.
#[derive(Debug, Clone)]
pub struct Window {
    pub after: Option<i64>,
    pub limit: i64,
    pub from: Option<chrono::NaiveDateTime>,
    pub to: Option<chrono::NaiveDateTime>,
}
type Condition = Box<
    dyn BoxableExpression<
        audit_logs::table,
        crate::db::DbBackend,
        SqlType = diesel::sql_types::Bool,
    >,
>;

/// The conditions of `f` and of the window's time range, the same for a page and a count.
fn conditions(
    f: &Filter,
    from: Option<chrono::NaiveDateTime>,
    to: Option<chrono::NaiveDateTime>,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = Vec::new();
    if let Some(v) = &f.patient_id {
        out.push(Box::new(
            audit_logs::patient_id.assume_not_null().eq(v.clone()),
        ));
    }
    if let Some(v) = &f.user_id {
        out.push(Box::new(
            audit_logs::user_id.assume_not_null().eq(v.clone()),
        ));
    }
    if let Some(v) = &f.resource_type {
        out.push(Box::new(audit_logs::resource_type.eq(v.clone())));
    }
    if let Some(v) = &f.action {
        out.push(Box::new(audit_logs::action.eq(v.clone())));
    }
    if let Some(v) = &f.outcome {
        out.push(Box::new(audit_logs::outcome.eq(v.clone())));
    }
    if let Some(v) = &f.request_id {
        out.push(Box::new(
            audit_logs::request_id.assume_not_null().eq(v.clone()),
        ));
    }
    if let Some(v) = from {
        out.push(Box::new(audit_logs::occurred_at.ge(v)));
    }
    if let Some(v) = to {
        out.push(Box::new(audit_logs::occurred_at.lt(v)));
    }
    out
}

/// How many sealed entries match `f` in `from`..`to` (a scan of the trail where no index
/// serves the filter: for a total, not for the page).
pub fn count(
    conn: &mut DbConn,
    f: &Filter,
    from: Option<chrono::NaiveDateTime>,
    to: Option<chrono::NaiveDateTime>,
) -> QueryResult<i64> {
    let mut q = audit_logs::table.into_boxed();
    for c in conditions(f, from, to) {
        q = q.filter(c);
    }
    q.count().get_result(conn)
}

/// One sealed entry, by its sequence number.
pub fn entry(conn: &mut DbConn, seq: i64) -> QueryResult<Option<AuditLog>> {
    audit_logs::table
        .find(seq)
        .select(AuditLog::as_select())
        .first(conn)
        .optional()
}

/// One page of the trail, newest first, with one more entry than the page if there is one.
pub fn load_page(conn: &mut DbConn, f: &Filter, w: &Window) -> QueryResult<Vec<AuditLog>> {
    let filtered = || {
        let mut q = audit_logs::table
            .select(AuditLog::as_select())
            .order(audit_logs::seq.desc())
            .limit(w.limit + 1)
            .into_boxed();
        if let Some(a) = w.after {
            q = q.filter(audit_logs::seq.lt(a));
        }
        for c in conditions(f, w.from, w.to) {
            q = q.filter(c);
        }
        q
    };
    // By patient (or else by user) the trail is read through `audit_index`; otherwise by seq.
    let lookup = match (&f.patient_id, &f.user_id) {
        (Some(id), _) => (Lookup::Patient, id),
        (None, Some(id)) => (Lookup::User, id),
        (None, None) => return filtered().load(conn),
    };
    // The entries sealed since the indexer's mark (`indexed_seq`) are not in audit_index yet
    // and come from audit_logs' tail; older ones through the index. Every tail entry is newer
    // than every indexed one, so the two lists, newest first, follow each other. (The indexer
    // may move on between the statements: bounding both sides by the `indexed_seq` read first
    // keeps an entry from showing twice.)
    let indexed: i64 = audit_head::table
        .find(1)
        .select(audit_head::indexed_seq)
        .first(conn)?;
    let mut rows: Vec<AuditLog> = filtered().filter(audit_logs::seq.gt(indexed)).load(conn)?;
    // Not past the page's cursor either: later entries need not be read to page through older
    // ones. Then bucket by bucket, newest first, until the page is full: a query reads the
    // index rows of one bucket at a time, not all of a busy user's.
    let upto = w
        .after
        .map_or(indexed, |a| indexed.min(a.saturating_sub(1)));
    let mut bucket = index_bucket(upto);
    while (rows.len() as i64) <= w.limit && bucket >= 0 {
        // `filtered` checks each entry's own patient or user too: an index row is only a
        // pointer (and two ids may share a key).
        // The bucket's range on audit_logs too, so that no planner walks the chain from its
        // head to reach an old bucket.
        let first = bucket << INDEX_BUCKET_BITS;
        let last = upto.min(((bucket + 1) << INDEX_BUCKET_BITS) - 1);
        let older: Vec<AuditLog> = filtered()
            .filter(audit_logs::seq.between(first, last))
            .filter(
                audit_logs::seq.eq_any(
                    audit_index::table
                        .filter(audit_index::bucket.eq(bucket))
                        .filter(audit_index::kind.eq(lookup.0 as i64))
                        .filter(audit_index::lookup_key.eq(index_key(lookup.1)))
                        .filter(audit_index::seq.le(upto))
                        .select(audit_index::seq),
                ),
            )
            .load(conn)?;
        rows.extend(older);
        bucket -= 1;
    }
    rows.truncate(w.limit as usize + 1);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{index_all_entries, seal, NewEntry};
    use crate::db::schema::audit_index;
    use diesel::connection::SimpleConnection;

    fn read_of(patient: &str) -> NewEntry {
        NewEntry {
            occurred_at: crate::db::now(),
            user_id: Some(format!("user-of-{patient}")),
            role: Some("doctor".into()),
            action: "read".into(),
            resource_type: "patient".into(),
            resource_id: Some(patient.into()),
            patient_id: Some(patient.into()),
            outcome: "success".into(),
            request_id: None,
            client_addr: None,
        }
    }

    /// A patient's (and a user's) entries on both sides of a bucket boundary of the index, and
    /// in the chain's unindexed tail, come back newest first, page by page.
    #[test]
    fn entries_are_found_across_index_buckets_and_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("trail.db").display().to_string();
        let pool = crate::db::connect(&url, 2).unwrap();
        let conn = &mut *pool.get().unwrap();
        let b: i64 = 1 << INDEX_BUCKET_BITS;
        // Two entries, renumbered to just below the boundary with the first one counted as
        // indexed (sealing 262,144 entries would make the test slow; the index reads only
        // seq and patient, and checks the hash at its mark).
        seal(conn, b"k", &[read_of("X"), read_of("A")]).unwrap();
        conn.batch_execute(&format!(
            "UPDATE audit_logs SET seq = seq + {shift};
             UPDATE audit_head SET seq = {top}, indexed_seq = {first},
                 indexed_hash = (SELECT hash FROM audit_logs WHERE seq = {first});",
            shift = b - 5,
            top = b - 3,
            first = b - 4,
        ))
        .unwrap();
        // One seal each: a seal chains its entries in time order. b-2 .. b+2:
        for patient in ["A", "B", "A", "A", "B"] {
            seal(conn, b"k", &[read_of(patient)]).unwrap();
        }
        index_all_entries(conn).unwrap();
        let buckets: Vec<i64> = audit_index::table
            .select(audit_index::bucket)
            .distinct()
            .order(audit_index::bucket)
            .load(conn)
            .unwrap();
        assert_eq!(buckets, [0, 1], "the pass crossed the boundary");
        // b+3, b+4: sealed, not indexed.
        for patient in ["A", "B"] {
            seal(conn, b"k", &[read_of(patient)]).unwrap();
        }

        let by_patient = Filter {
            patient_id: Some("A".into()),
            ..Default::default()
        };
        let by_user = Filter {
            user_id: Some("user-of-B".into()),
            ..Default::default()
        };
        let by_both = |user: &str| Filter {
            patient_id: Some("A".into()),
            user_id: Some(user.into()),
            ..Default::default()
        };
        let page = |filter: &Filter, after, limit| {
            let w = Window {
                after,
                limit,
                from: None,
                to: None,
            };
            load_page(&mut pool.get().unwrap(), filter, &w)
                .unwrap()
                .iter()
                .map(|e| e.seq - b)
                .collect::<Vec<i64>>()
        };
        assert_eq!(page(&by_patient, None, 10), [3, 1, 0, -2, -3]);
        assert_eq!(page(&by_patient, None, 2), [3, 1, 0], "a page and one more");
        assert_eq!(page(&by_patient, Some(b + 1), 2), [0, -2, -3]);
        assert_eq!(page(&by_patient, Some(b - 2), 2), [-3]);
        assert_eq!(page(&by_user, None, 10), [4, 2, -1]);
        assert_eq!(page(&by_user, Some(b + 2), 10), [-1]);
        assert_eq!(page(&by_user, Some(i64::MIN), 10), [] as [i64; 0]);
        assert_eq!(page(&by_both("user-of-A"), None, 10), [3, 1, 0, -2, -3]);
        assert_eq!(
            page(&by_both("user-of-B"), None, 10),
            [] as [i64; 0],
            "A's entries are not B's user's"
        );

        // An index row that points A's key at B's entry (as a collision of keys would) does
        // not make it A's.
        diesel::insert_into(audit_index::table)
            .values((
                audit_index::bucket.eq(crate::audit::index_bucket(b - 1)),
                audit_index::kind.eq(Lookup::Patient as i64),
                audit_index::lookup_key.eq(index_key("A")),
                audit_index::seq.eq(b - 1),
            ))
            .execute(&mut pool.get().unwrap())
            .unwrap();
        assert_eq!(page(&by_patient, None, 10), [3, 1, 0, -2, -3]);
    }
}
