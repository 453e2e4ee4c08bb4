//! Storage: one connection enum over SQLite and PostgreSQL, an r2d2 pool, migrations, and the
//! two ways the rest of the code touches the database: `Db::read` and `Db::write`.
//! No call runs on the async runtime's threads: reads (and PostgreSQL writes) run on blocking
//! threads (`sys::spawn_lowered`), SQLite writes on the one writer thread that commits them in
//! groups (`group_write`).
//!
//! This layer knows no domain and no HTTP type: it fails with `DbError` (or the caller's own
//! error type, which converts from it), and after a commit it publishes `realtime::Event`s.
//!
//! - `pool`: connecting, SQLite's per-connection and library settings, migrations;
//! - `group_write`: SQLite's group commit;
//! - `sql`: helpers for queries (row locks, versioned updates, unique keys, patterns);
//! - `checkpoint`: SQLite WAL checkpoints on a thread of their own;
//! - `schema`: the tables, one definition for both backends.

pub mod checkpoint;
mod group_write;
mod pool;
pub mod schema;
pub mod sql;

use std::sync::Arc;

use chrono::{NaiveDateTime, Timelike, Utc};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};

use crate::realtime::{Event, Hub};
pub use pool::{
    check_url, connect, run_migrations, sqlite_path, DbPool, PooledConn, POSTGRES_MIGRATIONS,
    SQLITE_MIGRATIONS,
};

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbBackend = <DbConn as diesel::Connection>::Backend;

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Why a database call did not run (its own query errors are `diesel::result::Error`).
#[derive(Debug)]
pub enum DbError {
    /// No connection, or the group commit of a SQLite write failed: retry later (503).
    Unavailable(String),
    /// The call's thread failed (a panic): a bug (500).
    Failed(String),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Unavailable(why) => write!(f, "database unavailable: {why}"),
            DbError::Failed(why) => write!(f, "database call failed: {why}"),
        }
    }
}

/// The current time, truncated to microseconds: the precision both databases store, so a value
/// returned on create equals the value read back later.
pub fn now() -> NaiveDateTime {
    let t = Utc::now().naive_utc();
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Runs `body` with `c` bound to the backend's own connection (`SqliteConnection` or
/// `PgConnection`); the body is compiled once per backend.
///
/// Through `DbConn` (Diesel's multi-backend connection) a statement cannot be found in the
/// connection's cache by its Rust type: every execution builds the query's SQL text to look it
/// up, and again to bind it (about 45,000 instructions per point read, measured with
/// `bench/callgrind.py`: more than SQLite's own work for it). The backend's own connection
/// finds it by type. For the hottest reads only; everything else goes through `DbConn`.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Postgres($c) => $body,
        }
    };
}

/// SQLite has one writer at a time. Writers of this process queue on this mutex first: waiting
/// in SQLite's busy handler instead means sleeping 1, 2, 5, 10... ms between retries, which
/// under 64 concurrent bookings cut throughput to a quarter of one writer's. (Re-entrant, so a
/// nested write on the same thread still ends as it did, in busy_timeout.) Other processes (the
/// CLI) still meet the busy handler.
static SQLITE_WRITER: parking_lot::ReentrantMutex<()> = parking_lot::const_reentrant_mutex(());

/// Runs `f` in a write transaction. On SQLite it begins with `BEGIN IMMEDIATE`, so concurrent
/// writers queue on the lock instead of failing on upgrade.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let _writer = matches!(conn, DbConn::Sqlite(_)).then(|| SQLITE_WRITER.lock());
    match conn {
        DbConn::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
        }
        DbConn::Postgres(_) => DbConn::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(value) => {
            DbConn::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            let _ = DbConn::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// A write in progress: the connection inside the transaction, plus the events to publish once
/// it commits.
pub struct Tx<'a> {
    pub conn: &'a mut DbConn,
    after_commit: Vec<Event>,
}

impl<'a> Tx<'a> {
    pub fn backend(&self) -> Backend {
        match self.conn {
            DbConn::Sqlite(_) => Backend::Sqlite,
            DbConn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Publishes `event` to live streams once this transaction commits, and only then. On
    /// PostgreSQL a `pg_notify` in the transaction (the server delivers it at commit to every
    /// node, this one included); on SQLite (one node) the hub after the commit.
    /// How many events wait for the commit (SQLite), for `forget_events_after`.
    pub fn pending_events(&self) -> usize {
        self.after_commit.len()
    }

    /// Drops the events published after the first `n` (their writes were rolled back to a
    /// savepoint). PostgreSQL drops a rolled-back subtransaction's notifications itself.
    pub fn forget_events_after(&mut self, n: usize) {
        self.after_commit.truncate(n);
    }

    pub fn publish(&mut self, event: Event) -> diesel::QueryResult<()> {
        match self.conn {
            DbConn::Postgres(_) => {
                diesel::sql_query("SELECT pg_notify($1, $2)")
                    .bind::<diesel::sql_types::Text, _>(crate::realtime::PG_CHANNEL)
                    .bind::<diesel::sql_types::Text, _>(event.pg_payload())
                    .execute(self.conn)?;
            }
            DbConn::Sqlite(_) => self.after_commit.push(event),
        }
        Ok(())
    }

    /// Runs `f` on a connection already inside its transaction (or savepoint); returns its
    /// value and the events to publish once that commits.
    fn run<T, E>(
        conn: &'a mut DbConn,
        f: impl FnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<(T, Vec<Event>), E> {
        let mut tx = Tx {
            conn,
            after_commit: Vec::new(),
        };
        let value = f(&mut tx)?;
        Ok((value, tx.after_commit))
    }
}

/// The pool plus the hub that post-commit events go to. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pub pool: DbPool,
    pub backend: Backend,
    pub hub: Arc<Hub>,
    /// On SQLite, the one thread that runs this server's write transactions (`Db::write`).
    writer: Option<Arc<group_write::GroupWriter>>,
    /// On SQLite, the thread that checkpoints the WAL.
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

impl Db {
    pub fn new(pool: DbPool, backend: Backend, hub: Arc<Hub>) -> Db {
        let sqlite = backend == Backend::Sqlite;
        let writer = sqlite.then(|| Arc::new(group_write::GroupWriter::start(pool.clone())));
        let checkpointer = sqlite.then(|| Arc::new(checkpoint::Checkpointer::start(pool.clone())));
        Db {
            pool,
            backend,
            hub,
            writer,
            _checkpointer: checkpointer,
        }
    }

    /// Runs a read on a pooled connection, off the async runtime.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        crate::sys::spawn_lowered(move || {
            let mut conn = pool
                .get()
                .map_err(|e| E::from(DbError::Unavailable(e.to_string())))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::Failed(e.to_string())))?
    }

    /// Runs `f` inside one write transaction; after commit, publishes the events it created.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut Tx) -> Result<T, E> + Send + 'static,
    {
        let hub = self.hub.clone();
        if let Some(writer) = &self.writer {
            return writer.write(hub, f).await;
        }
        let pool = self.pool.clone();
        crate::sys::spawn_lowered(move || {
            let mut conn = pool
                .get()
                .map_err(|e| E::from(DbError::Unavailable(e.to_string())))?;
            Self::write_blocking(&mut conn, &hub, f)
        })
        .await
        .map_err(|e| E::from(DbError::Failed(e.to_string())))?
    }

    /// The blocking core of `write`, also used by the CLI and the demo loader.
    pub fn write_blocking<T, E, F>(conn: &mut DbConn, hub: &Hub, f: F) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
        F: FnOnce(&mut Tx) -> Result<T, E>,
    {
        let (value, events) = write_transaction(conn, |conn| Tx::run(conn, f))?;
        for e in events {
            hub.publish_local(e);
        }
        Ok(value)
    }
}
