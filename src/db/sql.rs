//! Helpers for the queries of every domain: row locks and versioned updates (`If-Match` under
//! concurrency), telling which unique constraint a write violated, and search patterns.

use diesel::prelude::*;

use super::DbConn;

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Locks one row for the rest of the transaction (PostgreSQL `FOR NO KEY UPDATE`: changes of
/// the row queue behind it, while inserts that merely reference it — a record naming the
/// patient — do not, so two flows locking in different orders cannot deadlock on a foreign
/// key's share lock); on SQLite the transaction's `BEGIN IMMEDIATE` already excludes other
/// writers. Returns whether it exists. `table` is one of this crate's own table names, never
/// user input.
pub fn lock_row(conn: &mut DbConn, table: &'static str, id: &str) -> QueryResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[allow(dead_code)]
        id: String,
    }
    let for_update = match conn {
        DbConn::Postgres(_) => " FOR NO KEY UPDATE",
        DbConn::Sqlite(_) => "",
    };
    let rows: Vec<Found> =
        diesel::sql_query(format!("SELECT id FROM {table} WHERE id = $1{for_update}"))
            .bind::<diesel::sql_types::Text, _>(id)
            .load(conn)?;
    Ok(!rows.is_empty())
}

/// The versioned update every PATCH makes: `UPDATE <table> SET <changes>, version = v + 1,
/// updated_at = now WHERE id = <id> AND version = v`. Evaluates to `QueryResult<bool>`: `false`
/// when no row matched — the row is gone or another change moved its version first (the
/// caller answers 412: `kit::Error::Stale`). Correct under concurrency on both backends without
/// any lock; callers also lock the row first (`lock_row`) so that a PATCH without `If-Match`
/// waits for the other instead of failing.
#[macro_export]
macro_rules! update_versioned {
    ($conn:expr, $table:ident, $id:expr, $version:expr, $changes:expr $(,)?) => {{
        use $crate::db::schema::$table as t;
        let version: i32 = $version;
        diesel::update(
            t::table
                .filter(t::id.eq($id))
                .filter(t::version.eq(version)),
        )
        .set((
            $changes,
            t::version.eq(version + 1),
            t::updated_at.eq($crate::db::now()),
        ))
        .execute($conn)
        .map(|n| n == 1)
    }};
}

/// A unique constraint of the schema, so that a write can tell which one it violated and
/// answer 409 from the database's own check (a count before the insert races with another
/// insert; the constraint does not).
#[derive(Debug, Clone, Copy)]
pub struct UniqueKey {
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

impl UniqueKey {
    /// Did this write fail on this key? PostgreSQL reports the constraint's name, which for a
    /// `UNIQUE` column or table constraint is its default, `<table>_<columns>_key` (declare keys
    /// so, unnamed, in the migrations); SQLite reports `UNIQUE constraint failed: <table>.<column>,
    /// ...`.
    pub fn violated_by(&self, e: &diesel::result::Error) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = e else {
            return false;
        };
        if let Some(name) = info.constraint_name() {
            return name == format!("{}_{}_key", self.table, self.columns.join("_"));
        }
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{}.{c}", self.table))
            .collect();
        info.message()
            .strip_prefix("UNIQUE constraint failed: ")
            .is_some_and(|rest| rest == columns.join(", "))
    }
}

/// A case-insensitive `LIKE` pattern (used with `ESCAPE '\'`) that matches `word` anywhere;
/// `%`, `_` and `\` in the word match themselves, not anything.
pub fn contains_pattern(word: &str) -> String {
    let mut p = String::with_capacity(word.len() + 2);
    p.push('%');
    for c in word.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The next number of a counter (`mrn`, `invoice`), taken in the caller's transaction: the
/// counter's row stays locked until it ends (PostgreSQL) or the write lock serialises it
/// (SQLite), so numbers are sequential, and one rolled back is never handed out twice.
pub fn next_number(conn: &mut DbConn, counter: &str) -> diesel::QueryResult<i64> {
    use super::schema::counters;
    use diesel::prelude::*;
    diesel::update(counters::table.find(counter))
        .set(counters::value.eq(counters::value + 1))
        .execute(conn)?;
    counters::table
        .find(counter)
        .select(counters::value)
        .first(conn)
}
