//! A change's audit entries, appended to `audit_outbox` at the end of the change's own
//! transaction (they commit or roll back with it), each protected from the moment it is
//! written: each row has its place `n` in the outbox and `m_n = HMAC(key, canonical(n, entry))`,
//! and `audit_outbox_head` records where the outbox ends (the last place, its MAC, and a tag only
//! the key can make). Appending holds the head row until the transaction commits, so rows
//! commit in place order: a missing place is a removed row, a row without a valid MAC an edited
//! or inserted one, a head without a valid tag a rewritten one.
//!
//! The sealer checks every row against the chain before sealing it (`check`): a row edited, a
//! row removed (a gap, or a tail cut short of the head), a row inserted or a head rewritten is
//! reported — a `tamper_detected` entry in the sealed chain and an error in the log — and never
//! sealed as if genuine. `audit verify` runs the same check over what is still unsealed.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::chain::chain_hash;
use super::entry::{ChainedRow, NewEntry};
use crate::db::schema::audit_outbox;
use crate::db::DbConn;

/// How many committed entries wait in the outbox for the sealer.
pub fn pending(conn: &mut DbConn) -> QueryResult<i64> {
    audit_outbox::table.count().get_result(conn)
}

/// The outbox chain's end as its head row records it.
#[derive(Debug, Clone, QueryableByName)]
pub(super) struct Head {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub hash: String,
    #[diesel(sql_type = Text)]
    pub tag: String,
}

/// The head's tag: `HMAC(key, "outbox-head" || seq || hash)`, so that the head cannot be moved
/// back to an earlier row's hash (every row's hash is stored beside it; no earlier tag is).
fn head_tag(keyed: &Hmac<Sha256>, seq: i64, hash: &str) -> String {
    let mut mac = keyed.clone();
    mac.update(format!("outbox-head\n{seq}\n{hash}").as_bytes());
    crate::auth::tokens::sha256_hex(&mac.finalize().into_bytes())
}

/// A row's MAC: the sealed chain's formula over the entry at its outbox place, linked to no
/// other row (a removed row shows as a missing place, and the rows after it stay checkable).
fn row_mac(keyed: &Hmac<Sha256>, seq: i64, e: &NewEntry) -> String {
    chain_hash(keyed, "", &ChainedRow::of_entry(seq, e))
}

pub(super) fn head(conn: &mut DbConn, for_update: bool) -> QueryResult<Head> {
    let lock = match conn {
        DbConn::Postgres(_) if for_update => " FOR UPDATE",
        _ => "",
    };
    diesel::sql_query(format!(
        "SELECT seq, hash, tag FROM audit_outbox_head WHERE id = 1{lock}"
    ))
    .get_result(conn)
}

/// Whether `keyed` signed the outbox head: `None` while nothing was ever written (no tag).
pub(super) fn key_signed_head(
    conn: &mut DbConn,
    keyed: &Hmac<Sha256>,
) -> QueryResult<Option<bool>> {
    let h = head(conn, false)?;
    if h.tag.is_empty() {
        return Ok(None);
    }
    Ok(Some(head_tag(keyed, h.seq, &h.hash) == h.tag))
}

/// Appends a change's entries, in the change's transaction. The head row stays locked until
/// that commits (on SQLite the write lock already serialises writers).
pub fn append(conn: &mut DbConn, keyed: &Hmac<Sha256>, entries: &[NewEntry]) -> QueryResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let Head {
        mut seq, mut hash, ..
    } = head(conn, true)?;
    for e in entries {
        seq += 1;
        hash = row_mac(keyed, seq, e);
        diesel::insert_into(audit_outbox::table)
            .values((e, audit_outbox::seq.eq(seq), audit_outbox::mac.eq(&hash)))
            .execute(conn)?;
    }
    write_head(conn, keyed, seq, &hash)
}

/// Moves the head to `seq` (whose MAC is `hash`), tagged under the key.
fn write_head(conn: &mut DbConn, keyed: &Hmac<Sha256>, seq: i64, hash: &str) -> QueryResult<()> {
    diesel::sql_query("UPDATE audit_outbox_head SET seq = $1, hash = $2, tag = $3 WHERE id = 1")
        .bind::<BigInt, _>(seq)
        .bind::<Text, _>(hash)
        .bind::<Text, _>(head_tag(keyed, seq, hash))
        .execute(conn)?;
    Ok(())
}

/// Puts the head back on the chain after a finding about it (the finding is in the trail).
pub(super) fn reset_head(
    conn: &mut DbConn,
    keyed: &Hmac<Sha256>,
    seq: i64,
    hash: &str,
) -> QueryResult<()> {
    head(conn, true)?;
    write_head(conn, keyed, seq, hash)
}

/// One outbox row as the sealer reads it.
pub(super) struct Row {
    pub id: i64,
    pub seq: i64,
    pub mac: String,
    pub entry: NewEntry,
}

/// Up to `limit` rows in chain order (rows from before the chain, `seq` 0, first).
pub(super) fn rows(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<Row>> {
    Ok(audit_outbox::table
        .order((audit_outbox::seq, audit_outbox::id))
        .limit(limit)
        .select((
            audit_outbox::id,
            audit_outbox::seq,
            audit_outbox::mac,
            NewEntry::as_select(),
        ))
        .load::<(i64, i64, String, NewEntry)>(conn)?
        .into_iter()
        .map(|(id, seq, mac, entry)| Row {
            id,
            seq,
            mac,
            entry,
        })
        .collect())
}

/// Where the sealer stands in the outbox chain (kept in `audit_head`).
#[derive(Debug, Clone)]
pub(super) struct Sealed {
    pub seq: i64,
    pub hash: String,
    /// Rows written before the outbox was a chain have ids up to this.
    pub legacy_id: i64,
}

/// What `check` found.
pub(super) struct Checked {
    /// Per row of the input: genuine (to seal) or not.
    pub genuine: Vec<bool>,
    /// What was wrong, one line each, for the trail and the log.
    pub findings: Vec<String>,
    /// The chain's position after the rows.
    pub seq: i64,
    pub hash: String,
    /// The head is not the key's, or behind what was sealed: the sealer resets it.
    pub head_bad: bool,
}

/// Checks `rows` (in place order) from where `sealed` stopped; with `complete` (these are
/// all the rows there are) also against the head: a tail removed, or a head that is not the
/// key's.
pub(super) fn check(
    keyed: &Hmac<Sha256>,
    sealed: &Sealed,
    rows: &[Row],
    head: &Head,
    complete: bool,
) -> Checked {
    let mut findings = Vec::new();
    let mut genuine = Vec::with_capacity(rows.len());
    let (mut seq, mut hash) = (sealed.seq, sealed.hash.clone());
    for r in rows {
        if r.seq == 0 {
            let legacy = r.id <= sealed.legacy_id && r.mac.is_empty();
            if !legacy {
                findings.push(format!(
                    "outbox row {} is outside the chain (inserted)",
                    r.id
                ));
            }
            genuine.push(legacy);
            continue;
        }
        if r.seq <= seq {
            findings.push(format!(
                "outbox entry {} repeats a place already taken (inserted)",
                r.seq
            ));
            genuine.push(false);
            continue;
        }
        if r.seq > seq + 1 {
            findings.push(if r.seq == seq + 2 {
                format!("outbox entry {} was removed", seq + 1)
            } else {
                format!("outbox entries {}-{} were removed", seq + 1, r.seq - 1)
            });
        }
        if row_mac(keyed, r.seq, &r.entry) == r.mac {
            genuine.push(true);
        } else {
            findings.push(format!("outbox entry {} was edited", r.seq));
            genuine.push(false);
        }
        seq = r.seq;
        hash.clone_from(&r.mac);
    }
    let mut head_bad = false;
    if complete {
        let head_ok = head.seq == 0 && head.hash.is_empty() && head.tag.is_empty()
            || head_tag(keyed, head.seq, &head.hash) == head.tag;
        if !head_ok {
            head_bad = true;
            findings.push(format!(
                "the outbox head (entry {}) was rewritten",
                head.seq
            ));
        } else if head.seq > seq {
            findings.push(if head.seq == seq + 1 {
                format!("outbox entry {} was removed", head.seq)
            } else {
                format!("outbox entries {}-{} were removed", seq + 1, head.seq)
            });
        } else if head.seq < sealed.seq {
            head_bad = true;
            findings.push(format!(
                "the outbox head (entry {}) is behind what was sealed ({})",
                head.seq, sealed.seq
            ));
        } else if head.seq == seq && head.hash != hash {
            findings.push(format!("outbox entry {} was edited", head.seq));
        }
    }
    Checked {
        genuine,
        findings,
        seq,
        hash,
        head_bad,
    }
}

/// A finding as an entry of the sealed chain, so that it stays after the evidence is gone.
pub(super) fn finding_entry(finding: &str) -> NewEntry {
    NewEntry {
        occurred_at: crate::db::now(),
        user_id: None,
        role: None,
        action: super::Action::TamperDetected.as_str().to_string(),
        resource_type: "audit_outbox".to_string(),
        resource_id: Some(finding.chars().take(200).collect()),
        patient_id: None,
        outcome: super::Outcome::Denied.as_str().to_string(),
        request_id: None,
        client_addr: None,
    }
}
