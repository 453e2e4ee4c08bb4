//! A change's audit entry, written into `audit_outbox` in the change's own transaction: the
//! entry commits (or rolls back) with the change.

use diesel::prelude::*;

use super::entry::NewEntry;
use crate::db::schema::audit_outbox;
use crate::db::DbConn;

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
