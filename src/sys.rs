//! Thread scheduling: the one place the server asks the kernel for anything about its
//! threads. What is left is what clearly paid in the benchmark (docs/perf/history.md, "Scheduling,
//! measured again"): the blocking threads that run database calls and password hashes run in
//! SCHED_BATCH a few nice steps below the runtime's workers. The audit passes' idle class and
//! the background threads' nice 10 showed no difference beyond the run-to-run noise and went
//! (docs/DECISIONS.md).

/// How many nice steps the blocking-pool threads that run database calls and password hashes
/// run below the runtime's worker threads, which poll every connection (a weight of 335
/// against 1,024). A blocking thread woken by a worker to run a read pre-empted that worker
/// (the kernel favours the woken thread), and the worker, with all of its connections, then
/// waited up to 5 ms for a core while that thread and the audit sealer ran (`perf sched`
/// during the patient-read benchmark at 80% load: gaps of 4-8 ms with no response, one core
/// idle). Below the workers it gets a smaller share; that it no longer pre-empts the worker
/// that woke it is SCHED_BATCH's doing (`batch_thread_policy`).
pub(crate) const BLOCKING_NICE_STEPS: libc::c_int = 5;

/// What a blocking-pool thread that has run database work is called: tokio names its workers
/// and its blocking threads alike ("tokio-runtime-worker"), so `top -H` and the benchmark's
/// CPU by thread could not tell them apart.
pub const DB_THREAD_NAME: &str = "db-blocking";

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
/// `perf record -e sched:sched_switch`, fix 26 in docs/perf/history.md).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn database_calls_run_below_the_runtime() {
        // SAFETY: reads the calling thread's nice value.
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let runtime = nice();
        // SAFETY: reads the calling thread's scheduling policy.
        let policy = || unsafe { libc::sched_getscheduler(0) };
        let name = || std::fs::read_to_string("/proc/thread-self/comm").unwrap();
        let (blocking, blocking_policy, blocking_name) =
            spawn_lowered(move || (nice(), policy(), name()))
                .await
                .unwrap();
        assert_eq!(blocking, (runtime + BLOCKING_NICE_STEPS).min(19));
        assert_eq!(
            blocking_policy,
            libc::SCHED_BATCH,
            "woken, it waits its turn"
        );
        assert_eq!(blocking_name.trim(), DB_THREAD_NAME);
    }
}
