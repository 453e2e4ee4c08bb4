//! Storage: one connection enum over SQLite and PostgreSQL, an r2d2 pool, migrations, and the
//! two ways the rest of the code touches the database: `Db::read` and `Db::write`.
//! No call runs on the async runtime's threads: reads (and PostgreSQL writes) run inside
//! `spawn_blocking`, SQLite writes on the one writer thread that commits them in groups.

pub mod checkpoint;
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

/// How many nice steps the server's background threads (WAL checkpoints, and audit passes
/// that requests wait for) run below the process: 0 is the same priority, 19 the lowest.
const BACKGROUND_NICE_STEPS: libc::c_int = 10;

/// How many nice steps the blocking-pool threads that run database calls and password hashes
/// run below the runtime's worker threads, which poll every connection (a weight of 335
/// against 1,024). A blocking thread woken by a worker to run a read pre-empted that worker
/// (the kernel favours the woken thread), and the worker, with all of its connections, then
/// waited up to 5 ms for a core while that thread and the audit sealer ran (`perf sched`
/// during the patient-read benchmark at 80% load: gaps of 4-8 ms with no response, one core
/// idle). Below the workers it gets a smaller share; that it no longer pre-empts the worker
/// that woke it is SCHED_BATCH's doing (`batch_thread_policy`).
const BLOCKING_NICE_STEPS: libc::c_int = 5;

/// Lowers the calling thread's CPU priority `BACKGROUND_NICE_STEPS` below where it is.
pub fn lower_thread_priority() {
    lower_thread_nice(BACKGROUND_NICE_STEPS);
}

/// `spawn_blocking` for the server's blocking work (database calls, password hashes), on a
/// thread below the runtime's workers (`BLOCKING_NICE_STEPS`) in SCHED_BATCH
/// (`batch_thread_policy`), named `DB_THREAD_NAME`.
pub fn spawn_lowered<T, F>(f: F) -> tokio::task::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        lower_blocking_thread_priority();
        f()
    })
}

/// Lowers the calling blocking-pool thread, once per thread (the pool reuses its threads, and
/// they start at the priority of the runtime's workers, which never run blocking closures).
fn lower_blocking_thread_priority() {
    thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if !LOWERED.get() {
        LOWERED.set(true);
        lower_thread_nice(BLOCKING_NICE_STEPS);
        batch_thread_policy();
        name_thread(DB_THREAD_NAME);
    }
}

/// Moves the calling thread to SCHED_BATCH (keeping its nice value): when it is woken it does
/// not pre-empt the thread running on the core, it waits for that thread to sleep or for its
/// time slice to end, or runs on an idle core. A runtime worker that hands a read to a
/// blocking thread goes on polling its connections instead of losing its core to the thread it
/// just woke (at nice 5 alone that still happened about once per two reads at 80% load:
/// `perf record -e sched:sched_switch`, fix 26 in BENCHMARKS.md).
fn batch_thread_policy() {
    // SAFETY: sched_setscheduler on the calling thread (0) with a valid policy and priority 0,
    // as non-real-time policies require; the nice value is kept. A failure leaves the thread in
    // its policy.
    #[cfg(target_os = "linux")]
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

/// What a blocking-pool thread that has run database work is called: tokio names its workers
/// and its blocking threads alike ("tokio-runtime-worker"), so `top -H` and the benchmark's
/// CPU by thread could not tell them apart.
pub const DB_THREAD_NAME: &str = "db-blocking";

/// Renames the calling thread (what `/proc/<pid>/task/<tid>/comm` shows; at most 15 bytes).
fn name_thread(name: &str) {
    #[cfg(target_os = "linux")]
    if let Ok(name) = std::ffi::CString::new(name) {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string (truncated to 16 bytes) for the
        // calling thread.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, name.as_ptr());
        }
    }
}

/// Moves the calling thread to the idle scheduling class (a weight of 3 against 1,024 for nice
/// 0, 15 for nice 19): any thread that wakes on its core pre-empts it at once, where at nice
/// 10 or 19 the kernel still let a sealing pass run on while a request thread waited. Its disk
/// I/O is kept in the best-effort class (the kernel would otherwise derive the idle I/O class
/// from the CPU class, and a WAL fsync under SQLite's write lock would wait behind all other
/// I/O). An unprivileged thread cannot leave the idle class: work that must not wait goes to
/// another thread (`audit::AuditThread`).
pub fn idle_thread_priority() {
    // SAFETY: sched_setscheduler and ioprio_set on the calling thread (0) with valid
    // arguments; a failure leaves the thread as it is.
    #[cfg(target_os = "linux")]
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        const IOPRIO_CLASS_BE: libc::c_long = 2;
        const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
        const DEFAULT_LEVEL: libc::c_long = 4;
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_long,
            (IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT) | DEFAULT_LEVEL,
        );
    }
}

/// Lowers the calling thread `steps` nice steps below its current value (at most to 19), so
/// that a server started at another nice keeps its threads' order.
fn lower_thread_nice(steps: libc::c_int) {
    // SAFETY: getpriority and setpriority on this thread's own id; errno is cleared first
    // because -1 is also a valid nice value; a failure leaves the priority as is.
    #[cfg(target_os = "linux")]
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        *libc::__errno_location() = 0;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        if now == -1 && *libc::__errno_location() != 0 {
            return;
        }
        libc::setpriority(libc::PRIO_PROCESS, tid, (now + steps).min(19));
    }
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
    /// On SQLite, the one thread that runs this server's write transactions (`Db::write`).
    writer: Option<Arc<GroupWriter>>,
    /// On SQLite, the thread that checkpoints the WAL.
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

impl Db {
    pub fn new(pool: DbPool, backend: Backend, hub: Arc<Hub>) -> Db {
        let sqlite = backend == Backend::Sqlite;
        let writer = sqlite.then(|| Arc::new(GroupWriter::start(pool.clone())));
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
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool.clone();
        spawn_lowered(move || {
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
        let hub = self.hub.clone();
        if let Some(writer) = &self.writer {
            return writer.write(hub, f).await;
        }
        let pool = self.pool.clone();
        spawn_lowered(move || {
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
        let (value, events) = write_transaction(conn, |conn| Tx::run(conn, f))?;
        for n in events {
            hub.publish_local(n);
        }
        Ok(value)
    }
}

impl<'a> Tx<'a> {
    /// Runs `f` on a connection already inside its transaction (or savepoint); returns its
    /// value and the notifications to publish once that commits.
    fn run<T>(
        conn: &'a mut DbConn,
        f: impl FnOnce(&mut Tx) -> Result<T, ApiError>,
    ) -> Result<(T, Vec<crate::domains::notifications::Notification>), ApiError> {
        let mut tx = Tx {
            conn,
            after_commit: Vec::new(),
        };
        let value = f(&mut tx)?;
        Ok((value, tx.after_commit))
    }
}

/// What a queued write does once its group's transaction has ended: `None` when the group
/// committed, else why it did not.
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write queued for the group writer: runs in its own savepoint of the group's transaction.
type WriteJob = Box<dyn FnOnce(&mut DbConn) -> Finish + Send>;

/// Writes queued while a group runs go into the next group, up to this many.
const WRITE_GROUP_MAX: usize = 64;

/// SQLite's write path: group commit. SQLite has one writer at a time, and a write transaction
/// ends in an fsync. Every `Db::write` of the server is queued to one thread, which takes all
/// the writes waiting, runs each in its own savepoint of one `BEGIN IMMEDIATE` transaction
/// (a write that fails rolls back to its savepoint and leaves the others alone) and commits
/// them together: one fsync and one hand-over of the write lock per group instead of per
/// write. Nobody hears of a write before its group's commit: replies and notifications go out
/// after it, and if the commit fails every write of the group fails. Under 64 concurrent
/// bookings this took the API from 0.47 to 1.09 times the raw baseline (one booking per
/// transaction on one thread) and its CPU per booking from 0.92 to 0.56 ms (BENCHMARKS.md).
struct GroupWriter {
    jobs: std::sync::mpsc::Sender<WriteJob>,
}

impl GroupWriter {
    fn start(pool: DbPool) -> GroupWriter {
        let (jobs, queue) = std::sync::mpsc::channel::<WriteJob>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                // Ends when the last `Db` (and so the sender) is dropped.
                while let Ok(first) = queue.recv() {
                    let mut group = vec![first];
                    while group.len() < WRITE_GROUP_MAX {
                        match queue.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    Self::run_group(&pool, group);
                }
            })
            .expect("start the SQLite writer thread");
        GroupWriter { jobs }
    }

    fn run_group(pool: &DbPool, group: Vec<WriteJob>) {
        // Without a connection the jobs are dropped unrun: their callers get a 503.
        let Ok(mut conn) = pool.get() else {
            return;
        };
        let mut finishers: Vec<Finish> = Vec::with_capacity(group.len());
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_transaction(&mut conn, |conn| {
                for job in group {
                    finishers.push(job(conn));
                }
                Ok::<_, diesel::result::Error>(())
            })
        }));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("the write's group did not commit: {e}")),
            Err(_) => {
                // A panicking write left a savepoint open: the connection goes (r2d2 drops a
                // connection returned inside a transaction; closing it rolls the group back).
                Some("a write of the same group failed".to_string())
            }
        };
        for finish in finishers {
            finish(failure.as_deref());
        }
    }

    async fn write<T, F>(&self, hub: Arc<Hub>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx) -> Result<T, ApiError> + Send + 'static,
    {
        let (reply, result) = tokio::sync::oneshot::channel::<Result<T, ApiError>>();
        let job: WriteJob = Box::new(move |conn: &mut DbConn| -> Finish {
            // A nested transaction is a savepoint of the group's.
            let outcome = conn.transaction(|conn| Tx::run(conn, f));
            Box::new(move |failure: Option<&str>| {
                let answer = match (outcome, failure) {
                    (Ok((v, events)), None) => {
                        for n in events {
                            hub.publish_local(n);
                        }
                        Ok(v)
                    }
                    (Ok(_), Some(why)) => Err(ApiError::unavailable(why)),
                    (Err(e), _) => Err(e),
                };
                let _ = reply.send(answer);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| ApiError::internal("the SQLite writer thread has stopped"))?;
        result.await.map_err(|_| {
            ApiError::unavailable("the write was not run (no database connection, or a failure)")
        })?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn database_calls_run_below_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nice.db").display());
        let db = Db::new(
            connect(&url, 2).unwrap(),
            Backend::Sqlite,
            Default::default(),
        );
        // SAFETY: reads the calling thread's nice value.
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let runtime = nice();
        // SAFETY: reads the calling thread's scheduling policy.
        let policy = || unsafe { libc::sched_getscheduler(0) };
        let runtime_policy = policy();
        let name = || std::fs::read_to_string("/proc/thread-self/comm").unwrap();
        let (blocking, blocking_policy, blocking_name) = db
            .read(move |_| Ok((nice(), policy(), name())))
            .await
            .unwrap();
        assert_eq!(blocking, (runtime + BLOCKING_NICE_STEPS).min(19));
        assert_eq!(
            blocking_policy,
            libc::SCHED_BATCH,
            "woken, it waits its turn"
        );
        assert_eq!(blocking_name.trim(), DB_THREAD_NAME);
        assert_eq!(policy(), runtime_policy);
        assert_eq!(
            nice(),
            runtime,
            "the runtime's own thread keeps its priority"
        );
    }

    /// Writes that share one group commit: a write that fails after writing rolls back to its
    /// own savepoint and leaves every other write of the group committed.
    #[tokio::test]
    async fn a_failing_write_in_a_group_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("group.db").display());
        let pool = connect(&url, 4).unwrap();
        diesel::sql_query("CREATE TABLE group_test (n INTEGER NOT NULL)")
            .execute(&mut pool.get().unwrap())
            .unwrap();
        let db = Db::new(pool.clone(), Backend::Sqlite, Default::default());
        let insert = |conn: &mut DbConn, n: i32| {
            diesel::sql_query(format!("INSERT INTO group_test (n) VALUES ({n})"))
                .execute(conn)
                .map(|_| ())
        };
        // Holding the writer lock makes the writer thread wait inside its first group while
        // the other writes queue, so that they all run in the second group together.
        let lock = SQLITE_WRITER.lock();
        let writes: Vec<_> = (0..10)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |tx| {
                        insert(tx.conn, n)?;
                        if n % 2 == 1 {
                            return Err(ApiError::conflict("odd"));
                        }
                        Ok(n)
                    })
                    .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(lock);
        for (n, w) in writes.into_iter().enumerate() {
            let r = w.await.unwrap();
            if n % 2 == 1 {
                assert!(r.is_err(), "write {n} must fail");
            } else {
                assert_eq!(r.unwrap(), n as i32);
            }
        }
        let mut stored: Vec<i32> = diesel::sql_query("SELECT n FROM group_test ORDER BY n")
            .load::<Stored>(&mut pool.get().unwrap())
            .unwrap()
            .into_iter()
            .map(|s| s.n)
            .collect();
        stored.sort();
        assert_eq!(
            stored,
            vec![0, 2, 4, 6, 8],
            "only the successful writes are kept"
        );
    }

    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        n: i32,
    }
}
