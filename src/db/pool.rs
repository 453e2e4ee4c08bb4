//! Connecting: the r2d2 pool over `DbConn`, SQLite's per-connection settings and library-wide
//! settings, and the embedded migrations of both backends.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{checkpoint, Backend, DbConn};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub type DbPool = Pool<ConnectionManager<DbConn>>;
pub type PooledConn = PooledConnection<ConnectionManager<DbConn>>;

/// Turns `sqlite://data/x.db` / `sqlite:data/x.db` / `data/x.db` into the path SQLite opens.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(c) = conn {
            c.batch_execute(&format!(
                // busy_timeout first: switching to WAL itself needs the lock. cache_size: 2 MB
                // per connection (SQLite's default); at 16 MB each, 16 pooled connections took
                // the server past 200 MB RSS, and the OS page cache holds the file anyway.
                "PRAGMA busy_timeout = 10000;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA cache_size = -2000;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA wal_autocheckpoint = {};",
                checkpoint::AUTOCHECKPOINT_PAGES,
            ))
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
            ffi::sqlite3_auto_extension(Some(on_open));
        }
    });
}

/// Runs on every new SQLite connection. Turns on the query planner stability guarantee: in the
/// SQLite bundled here (3.53) a bound `LIMIT ?` counts as a plan-changing parameter (like a
/// STAT4-estimated constraint), so every new binding
/// expired the statement and `sqlite3_step` re-parsed and re-planned it. Diesel binds the limit
/// of every `.first()` and every page, so about 16% of the server's CPU under the patient-read
/// benchmark went to re-preparing statements Diesel believed cached.
unsafe extern "C" fn on_open(
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
/// Refuses a database URL this server cannot open: `sqlite://PATH`, `sqlite:PATH`, a plain
/// path, `postgres://…` and `postgresql://…` are taken; any other `scheme:` is an error naming
/// it (a `mysql://…` used to become a SQLite file named `mysql:`).
pub fn check_url(url: &str) -> Result<Backend, String> {
    let backend = Backend::of_url(url);
    if backend == Backend::Sqlite && !url.starts_with("sqlite:") {
        if let Some((scheme, _)) = url.split_once(':') {
            let looks_like_scheme = scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
            if looks_like_scheme {
                return Err(format!(
                    "unsupported database URL scheme `{scheme}:`; use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE"
                ));
            }
        }
    }
    if sqlite_path(url).is_empty() {
        return Err("the database URL names no SQLite file".into());
    }
    Ok(backend)
}

/// Where a PostgreSQL URL points, without its credentials (for error messages).
fn postgres_target(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('?').next().unwrap_or(rest).to_string()
}

/// Opens one connection the backend's own way first, so that a failure names its cause (the
/// pool's own error, after its 10 s timeout, was "Invalid connection url for multiconnection"
/// whatever went wrong) and comes at once.
fn first_connection(backend: Backend, conn_url: &str) -> anyhow::Result<()> {
    use diesel::Connection;
    match backend {
        Backend::Sqlite => {
            diesel::SqliteConnection::establish(conn_url)
                .map_err(|e| anyhow::anyhow!("cannot open the SQLite file {conn_url}: {e}"))?;
        }
        Backend::Postgres => {
            diesel::PgConnection::establish(conn_url).map_err(|e| {
                anyhow::anyhow!(
                    "cannot connect to PostgreSQL at {}: {}",
                    postgres_target(conn_url),
                    e.to_string().trim()
                )
            })?;
        }
    }
    Ok(())
}

pub fn connect(url: &str, max_size: u32) -> anyhow::Result<DbPool> {
    let backend = check_url(url).map_err(|e| anyhow::anyhow!(e))?;
    if backend == Backend::Sqlite {
        configure_sqlite_library();
    }
    let conn_url = match backend {
        Backend::Sqlite => {
            let path = sqlite_path(url);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        anyhow::anyhow!(
                            "cannot create the folder {} for the SQLite file: {e}",
                            dir.display()
                        )
                    })?;
                }
            }
            path.to_string()
        }
        Backend::Postgres => url.to_string(),
    };
    first_connection(backend, &conn_url)?;
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
