//! Storage: one connection enum over SQLite and PostgreSQL, an r2d2 pool, migrations, and the
//! two ways the rest of the code touches the database: `Db::read` and `Db::write`.
//! Every call runs inside `spawn_blocking` so the async runtime never waits on a driver.

pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Timelike, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::http::ApiError;
use crate::realtime::Hub;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbBackend = <DbConn as diesel::Connection>::Backend;

pub type DbPool = Pool<ConnectionManager<DbConn>>;
pub type PooledConn = PooledConnection<ConnectionManager<DbConn>>;

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

/// Turns `sqlite://data/x.db` / `sqlite:data/x.db` / `data/x.db` into the path SQLite opens.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
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

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(c) = conn {
            c.batch_execute(
                // busy_timeout first: switching to WAL itself needs the lock. cache_size: 2 MB
                // per connection (SQLite's default); at 16 MB each, 16 pooled connections took
                // the server past 200 MB RSS, and the OS page cache holds the file anyway.
                "PRAGMA busy_timeout = 10000;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA cache_size = -2000;
                 PRAGMA temp_store = MEMORY;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Process-wide SQLite settings, applied once before the first connection opens.
fn configure_sqlite_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use libsqlite3_sys as ffi;
        // SAFETY: both are called before any connection of this process exists (sqlite3_config
        // must precede sqlite3_initialize; if a connection was opened first it returns
        // SQLITE_MISUSE and changes nothing), and the entry point matches the C signature.
        unsafe {
            // Without memory statistics SQLite's allocations skip one process-wide mutex: with
            // 16 pooled connections on 2 cores it showed up as futex wake-ups in every profile.
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
            ffi::sqlite3_auto_extension(Some(stable_query_plans));
        }
    });
}

/// Runs on every new SQLite connection. Turns on the query planner stability guarantee: in the
/// SQLite bundled here (3.53) a bound `LIMIT ?` counts as a plan-changing parameter (like a
/// STAT4-estimated constraint), so every new binding
/// expired the statement and `sqlite3_step` re-parsed and re-planned it. Diesel binds the limit
/// of every `.first()` and every page, so about 30% of the server's CPU under the patient-read
/// benchmark went to re-preparing statements Diesel believed cached.
unsafe extern "C" fn stable_query_plans(
    db: *mut libsqlite3_sys::sqlite3,
    _err: *mut *mut std::ffi::c_char,
    _api: *const libsqlite3_sys::sqlite3_api_routines,
) -> std::ffi::c_int {
    // SAFETY: `db` is the connection being opened; QPSG takes an int and an optional int out.
    unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        );
    }
    libsqlite3_sys::SQLITE_OK
}

/// Opens a pool and applies the migrations of the URL's backend.
pub fn connect(url: &str, max_size: u32) -> anyhow::Result<DbPool> {
    let backend = Backend::of_url(url);
    if backend == Backend::Sqlite {
        configure_sqlite_library();
    }
    let conn_url = match backend {
        Backend::Sqlite => {
            let path = sqlite_path(url);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)?;
                }
            }
            path.to_string()
        }
        Backend::Postgres => url.to_string(),
    };
    let manager = ConnectionManager::<DbConn>::new(conn_url);
    let pool = Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        // A SQLite connection is an open file and cannot go stale; checking it on every checkout
        // cost one extra statement per request. On PostgreSQL the check catches connections the
        // server closed (a restart, an idle timeout) before a request gets one.
        .test_on_check_out(backend == Backend::Postgres)
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(SqlitePragmas))
        .build(manager)?;
    let mut conn = pool.get()?;
    run_migrations(&mut conn)?;
    Ok(pool)
}

pub fn run_migrations(conn: &mut DbConn) -> anyhow::Result<()> {
    let result = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| anyhow::anyhow!("migration failed: {e}"))
}

static SQLITE_WRITER: parking_lot::ReentrantMutex<()> = parking_lot::const_reentrant_mutex(());

/// Runs `f` in a write transaction. On SQLite it begins with `BEGIN IMMEDIATE`, so concurrent
/// writers queue on the lock (busy_timeout) instead of failing on upgrade.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    // SQLite has one writer at a time. Writers of this process queue on a mutex first: waiting
    // in SQLite's busy handler instead means sleeping 1, 2, 5, 10... ms between retries, which
    // under 64 concurrent bookings cut throughput to a quarter of one writer's. (Re-entrant, so
    // a nested write on the same thread still ends as it did, in busy_timeout.) Other processes
    // (the CLI) still meet the busy handler.
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

/// A write in progress: the connection inside the transaction, plus what must happen after it
/// commits (notifications fanned out to live streams).
pub struct Tx<'a> {
    pub conn: &'a mut DbConn,
    pub after_commit: Vec<crate::domains::notifications::Notification>,
}

impl Tx<'_> {
    pub fn backend(&self) -> Backend {
        match self.conn {
            DbConn::Sqlite(_) => Backend::Sqlite,
            DbConn::Postgres(_) => Backend::Postgres,
        }
    }
}

/// The pool plus the hub that post-commit events go to. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pub pool: DbPool,
    pub backend: Backend,
    pub hub: Arc<Hub>,
}

impl Db {
    pub fn new(pool: DbPool, backend: Backend, hub: Arc<Hub>) -> Db {
        Db { pool, backend, hub }
    }

    /// Runs a read on a pooled connection, off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(ApiError::from_pool)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    /// Runs `f` inside one write transaction; after commit, fans out the notifications it created.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let hub = self.hub.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(ApiError::from_pool)?;
            Self::write_blocking(&mut conn, &hub, f)
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    /// The blocking core of `write`, also used by the CLI and the demo loader.
    pub fn write_blocking<T, F>(conn: &mut DbConn, hub: &Hub, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Tx) -> Result<T, ApiError>,
    {
        let mut events = Vec::new();
        let value = write_transaction(conn, |conn| {
            let mut tx = Tx {
                conn,
                after_commit: Vec::new(),
            };
            let v = f(&mut tx)?;
            events = std::mem::take(&mut tx.after_commit);
            Ok::<_, ApiError>(v)
        })?;
        for n in events {
            hub.publish_local(n);
        }
        Ok(value)
    }
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Locks one row for the rest of the transaction (PostgreSQL `FOR UPDATE`); on SQLite the
/// transaction's `BEGIN IMMEDIATE` already excludes other writers. Returns whether it exists.
/// `table` is one of this crate's own table names, never user input.
pub fn lock_row(conn: &mut DbConn, table: &'static str, id: &str) -> QueryResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[allow(dead_code)]
        id: String,
    }
    let for_update = match conn {
        DbConn::Postgres(_) => " FOR UPDATE",
        DbConn::Sqlite(_) => "",
    };
    let rows: Vec<Found> =
        diesel::sql_query(format!("SELECT id FROM {table} WHERE id = $1{for_update}"))
            .bind::<diesel::sql_types::Text, _>(id)
            .load(conn)?;
    Ok(!rows.is_empty())
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
