//! A loader's history, dated when it happened: the demo's clinic, and a FHIR import's records.
//!
//! The domain functions stamp what they write with the time of the write (`created_at`,
//! `updated_at`, a record version's `changed_at`…): the API never lets a caller say when
//! something was created, and that is right. A loader, though, writes months of a clinic in a
//! few seconds (the demo), or a history that happened elsewhere (`import fhir`), and a visit
//! note dated ten seconds ago for a visit of last March reads wrong. So the loader moves the
//! rows it has just written to the time their event happened, with an `UPDATE` of those rows by
//! id, in the same transaction as the write, right after it. Only loaders call this; no route
//! does.
//!
//! Why not an `at` parameter on every domain function instead: most of them would grow one only
//! for the loaders, and every route would have to pass "now" — a door to backdating that the API
//! does not want open. The few functions whose time is part of the event itself (a lab sample's
//! collection, a result, a chat line, a pharmacy order's step) already take `at`, and the
//! loaders pass the event's time there. What stays at the time of the load: the audit trail (a
//! sealed hash chain: it tells truthfully when the loader wrote each row) and notifications
//! (news of the load to the people in it).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use crate::kit::{Result, Tx};

/// `created_at` and `updated_at` of one row of `table` (one of this crate's tables).
pub fn row(
    tx: &mut Tx,
    table: &'static str,
    id: &str,
    created: NaiveDateTime,
    updated: NaiveDateTime,
) -> Result<()> {
    diesel::sql_query(format!(
        "UPDATE {table} SET created_at = $1, updated_at = $2 WHERE id = $3"
    ))
    .bind::<Timestamp, _>(created)
    .bind::<Timestamp, _>(updated)
    .bind::<Text, _>(id)
    .execute(tx.conn())?;
    Ok(())
}

/// One time column of the rows of `table` whose `key` column is `value` (a record's versions, an
/// order's results, a referral's transitions to one status…).
pub fn column(
    tx: &mut Tx,
    table: &'static str,
    column: &'static str,
    key: &'static str,
    value: &str,
    at: NaiveDateTime,
) -> Result<()> {
    diesel::sql_query(format!("UPDATE {table} SET {column} = $1 WHERE {key} = $2"))
        .bind::<Timestamp, _>(at)
        .bind::<Text, _>(value)
        .execute(tx.conn())?;
    Ok(())
}

/// The time a referral took the arrow to `status` (its `referral_transitions` row).
pub fn referral_step(tx: &mut Tx, referral: &str, status: &str, at: NaiveDateTime) -> Result<()> {
    diesel::sql_query(
        "UPDATE referral_transitions SET at = $1 WHERE referral_request_id = $2 AND to_status = $3",
    )
    .bind::<Timestamp, _>(at)
    .bind::<Text, _>(referral)
    .bind::<Text, _>(status)
    .execute(tx.conn())?;
    Ok(())
}
