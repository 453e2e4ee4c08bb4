//! `healthapi audit verify`: recompute the chain and name the first entry that was edited,
//! removed or reordered; compare the head with a checkpoint to catch a cut-off tail.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{chain_hash, keyed_mac, AuditLog};
use crate::db::schema::{audit_head, audit_logs};
use crate::db::DbConn;

/// The chain's head, for safekeeping outside the database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        count: i64,
        head: Checkpoint,
    },
    /// The chain is intact, but entries were edited, removed or inserted in the outbox before
    /// sealing: found by the sealer (its `tamper_detected` entries in the chain) or still there.
    Tampered {
        count: i64,
        head: Checkpoint,
        findings: Vec<String>,
    },
    Broken {
        first_bad_seq: i64,
        reason: String,
    },
}

/// What is wrong in the outbox before sealing: what the sealer found and recorded in the
/// chain (`tamper_detected` entries), and what the unsealed rows show now (checked read-only
/// against the outbox chain, as the sealer will).
pub fn outbox_findings(conn: &mut DbConn, key: &[u8]) -> QueryResult<Vec<String>> {
    let recorded: Vec<(i64, Option<String>)> = audit_logs::table
        .filter(audit_logs::action.eq(super::Action::TamperDetected.as_str()))
        .order(audit_logs::seq)
        .select((audit_logs::seq, audit_logs::resource_id))
        .load(conn)?;
    let mut findings: Vec<String> = recorded
        .into_iter()
        .map(|(seq, what)| format!("sealed as entry {seq}: {}", what.unwrap_or_default()))
        .collect();
    findings.extend(
        unsealed_findings(conn, key)?
            .into_iter()
            .map(|f| format!("not sealed yet: {f}")),
    );
    Ok(findings)
}

/// What the unsealed outbox rows show now, checked read-only against the outbox chain as the
/// sealer will check them (the server's start-up reports these).
pub fn unsealed_findings(conn: &mut DbConn, key: &[u8]) -> QueryResult<Vec<String>> {
    let (seq, hash, legacy_id): (i64, String, i64) = audit_head::table
        .find(1)
        .select((
            audit_head::outbox_seq,
            audit_head::outbox_hash,
            audit_head::outbox_legacy_id,
        ))
        .first(conn)?;
    let head = super::outbox::head(conn, false)?;
    let rows = super::outbox::rows(conn, i64::MAX)?;
    let sealed = super::outbox::Sealed {
        seq,
        hash,
        legacy_id,
    };
    Ok(super::outbox::check(&keyed_mac(key), &sealed, &rows, &head, true).findings)
}

pub fn checkpoint(conn: &mut DbConn) -> QueryResult<Checkpoint> {
    let (seq, hash) = audit_head::table
        .find(1)
        .select((audit_head::seq, audit_head::hash))
        .first::<(i64, String)>(conn)?;
    Ok(Checkpoint { seq, hash })
}

/// Verifies the chain in one consistent snapshot, so a server sealing new entries meanwhile
/// (the head moving on after the last entry was read) is not mistaken for tampering.
pub fn verify(
    conn: &mut DbConn,
    key: &[u8],
    checkpoint: Option<&Checkpoint>,
) -> QueryResult<Verdict> {
    conn.transaction(|conn| {
        if let DbConn::Postgres(_) = conn {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(conn)?;
        }
        verify_snapshot(conn, key, checkpoint)
    })
}

fn verify_snapshot(
    conn: &mut DbConn,
    key: &[u8],
    checkpoint: Option<&Checkpoint>,
) -> QueryResult<Verdict> {
    // Sequence numbers start at 1: a row below that was put there from outside.
    let below: Option<i64> = audit_logs::table
        .filter(audit_logs::seq.lt(1))
        .select(diesel::dsl::min(audit_logs::seq))
        .first(conn)?;
    if let Some(seq) = below {
        return Ok(Verdict::Broken {
            first_bad_seq: seq,
            reason: format!("entry {seq} lies outside the chain"),
        });
    }
    let keyed = keyed_mac(key);
    let mut prev = String::new();
    let mut expected_seq = 1i64;
    let mut at_checkpoint: Option<String> = None;
    loop {
        let batch: Vec<AuditLog> = audit_logs::table
            .filter(audit_logs::seq.ge(expected_seq))
            .order(audit_logs::seq)
            .limit(10_000)
            .select(AuditLog::as_select())
            .load(conn)?;
        if batch.is_empty() {
            break;
        }
        for e in &batch {
            if e.seq != expected_seq {
                return Ok(Verdict::Broken {
                    first_bad_seq: expected_seq,
                    reason: format!("entry {expected_seq} is missing"),
                });
            }
            if chain_hash(&keyed, &prev, &e.chained()) != e.hash {
                return Ok(Verdict::Broken {
                    first_bad_seq: e.seq,
                    reason: format!("entry {} does not match its chain hash", e.seq),
                });
            }
            if checkpoint.is_some_and(|c| c.seq == e.seq) {
                at_checkpoint = Some(e.hash.clone());
            }
            prev = e.hash.clone();
            expected_seq += 1;
        }
    }
    let count = expected_seq - 1;
    let head = self::checkpoint(conn)?;
    if head.seq != count || head.hash != prev {
        return Ok(Verdict::Broken {
            first_bad_seq: head.seq.min(count) + 1,
            reason: format!(
                "the stored head ({}) does not match the last entry ({count})",
                head.seq
            ),
        });
    }
    if let Some(c) = checkpoint {
        if c.seq > count {
            return Ok(Verdict::Broken {
                first_bad_seq: count + 1,
                reason: format!(
                    "the chain ends at {count}, before the checkpoint's {}",
                    c.seq
                ),
            });
        }
        if c.seq > 0 && at_checkpoint.as_deref() != Some(c.hash.as_str()) {
            return Ok(Verdict::Broken {
                first_bad_seq: c.seq,
                reason: format!("entry {} differs from the checkpoint", c.seq),
            });
        }
    }
    let findings = outbox_findings(conn, key)?;
    if !findings.is_empty() {
        return Ok(Verdict::Tampered {
            count,
            head,
            findings,
        });
    }
    Ok(Verdict::Intact { count, head })
}
