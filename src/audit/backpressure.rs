//! Back-pressure: while the read buffer is full (the sealer behind) or the index lags too far
//! behind the chain, authenticated requests wait before they run, so that memory and the tail
//! that queries scan stay bounded; after `ADMIT_TIMEOUT` without progress they get a 503. An
//! entry is never dropped to keep serving.

use std::sync::atomic::Ordering;

use super::index::MAX_INDEX_LAG;
use super::{Audit, ADMIT_TIMEOUT, BUFFER_HARD_CAP};

impl Audit {
    /// Waits while the read buffer is over its hard cap (the sealer is behind), or the trail's
    /// index is `MAX_INDEX_LAG` entries behind the chain (`index_lag`), so that a burst of reads
    /// slows down instead of holding an unbounded backlog (in memory, or in the tail every query
    /// by patient or user scans). Err after `ADMIT_TIMEOUT`: the sealer or the indexer is not making
    /// progress (the database refuses writes).
    pub async fn admit(&self) -> Result<(), ()> {
        let buffer_full = || self.inner.buffer.lock().len() >= BUFFER_HARD_CAP;
        let index_behind = || self.index_lag() >= MAX_INDEX_LAG;
        let over = || buffer_full() || index_behind();
        if !over() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + ADMIT_TIMEOUT;
        self.inner.admit_waits.fetch_add(1, Ordering::Relaxed);
        loop {
            let taken = self.inner.taken.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            if !over() || self.inner.stopped.load(Ordering::Relaxed) {
                return Ok(());
            }
            // Wake only the one that is behind: a woken sealer with nothing to seal would spin
            // (its flush notifies the waiters, which wake it again).
            if buffer_full() {
                self.inner.wake.notify_one();
            }
            if index_behind() {
                self.inner.index_wake.notify_one();
            }
            if tokio::time::timeout_at(deadline, taken).await.is_err() {
                self.inner.admit_refusals.fetch_add(1, Ordering::Relaxed);
                return Err(());
            }
        }
    }

    /// The trail's back-pressure as Prometheus text (`/metrics`): how often requests waited
    /// for the sealer or the indexer in `admit` (each wait is a request's latency; at most
    /// `ADMIT_TIMEOUT`), how many were refused, and the backlog now.
    pub fn render_metrics(&self) -> String {
        let inner = &self.inner;
        let buffered = inner.buffer.lock().len();
        format!(
            "# HELP healthapi_audit_admit_waits_total Requests that waited for the audit sealer or indexer to catch up.\n\
             # TYPE healthapi_audit_admit_waits_total counter\n\
             healthapi_audit_admit_waits_total {}\n\
             # HELP healthapi_audit_admit_refused_total Requests refused with 503 after waiting for the audit trail.\n\
             # TYPE healthapi_audit_admit_refused_total counter\n\
             healthapi_audit_admit_refused_total {}\n\
             # HELP healthapi_audit_buffered_entries Audit entries of reads waiting to be sealed.\n\
             # TYPE healthapi_audit_buffered_entries gauge\n\
             healthapi_audit_buffered_entries {buffered}\n\
             # HELP healthapi_audit_index_lag_entries Sealed audit entries not yet in the index by patient and user.\n\
             # TYPE healthapi_audit_index_lag_entries gauge\n\
             healthapi_audit_index_lag_entries {}\n",
            inner.admit_waits.load(Ordering::Relaxed),
            inner.admit_refusals.load(Ordering::Relaxed),
            self.index_lag(),
        )
    }

    /// Holds every seal off and fills the read buffer to its cap: requests wait in `admit`
    /// until the guard is dropped (tests of what must answer meanwhile).
    #[cfg(test)]
    pub(crate) async fn hold_back_requests(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let held = self.inner.seal_lock.lock().await;
        let buffered = self.inner.buffer.lock().len();
        for i in buffered..BUFFER_HARD_CAP {
            self.record_async(super::testing::entry(i));
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{verify, Audit, BUFFER_HARD_CAP};
    use super::*;
    use std::time::Duration;

    fn fill_to_hard_cap(audit: &Audit) {
        for i in 0..BUFFER_HARD_CAP {
            audit.record_async(entry(i));
        }
    }

    #[tokio::test]
    async fn a_full_buffer_holds_requests_back_until_the_sealer_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_on_fresh_sqlite(&dir);
        assert!(
            audit.admit().await.is_ok(),
            "an empty buffer admits at once"
        );
        fill_to_hard_cap(&audit);

        let waiting = tokio::spawn({
            let audit = audit.clone();
            async move { audit.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "admitted while the buffer was full");

        // admit() woke the sealer's Notify; a flush (what the sealer runs) releases the waiter.
        assert_eq!(audit.flush().await.unwrap(), BUFFER_HARD_CAP);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        let metrics = audit.render_metrics();
        assert!(
            metrics.contains("healthapi_audit_admit_waits_total 1\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains("healthapi_audit_admit_refused_total 0\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains("healthapi_audit_buffered_entries 0\n"),
            "{metrics}"
        );

        // A waiter that goes away (its connection dropped) leaves nothing behind.
        fill_to_hard_cap(&audit);
        let dropped = tokio::spawn({
            let audit = audit.clone();
            async move { audit.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        dropped.abort();
        let _ = dropped.await;
        audit.flush().await.unwrap();

        let mut conn = audit.inner.pool.get().unwrap();
        match verify::verify(&mut conn, b"test-key", None).unwrap() {
            verify::Verdict::Intact { count, .. } => {
                assert_eq!(count, 2 * BUFFER_HARD_CAP as i64)
            }
            broken => panic!("chain broken: {broken:?}"),
        }
    }

    #[tokio::test]
    async fn an_index_far_behind_the_chain_holds_requests_back_until_it_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_with_ten_sealed(&dir).await;
        assert_eq!(audit.index_lag(), 10, "sealed, not indexed");
        assert!(audit.admit().await.is_ok());

        // As if MAX_INDEX_LAG entries had been sealed since the last pass.
        audit
            .inner
            .sealed_seq
            .store(MAX_INDEX_LAG, Ordering::Relaxed);
        let waiting = tokio::spawn({
            let audit = audit.clone();
            async move { audit.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "admitted while the index lagged");
        // A pass publishes the index's mark and the chain's real head: released.
        assert_eq!(audit.index_entries().await.unwrap(), 10);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(audit.index_lag(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sealer_that_never_takes_the_buffer_gets_requests_refused() {
        let dir = tempfile::tempdir().unwrap();
        let audit = audit_on_fresh_sqlite(&dir);
        fill_to_hard_cap(&audit);
        // No sealer runs: with time paused, the 5 s wait elapses as soon as the test is idle.
        assert_eq!(audit.admit().await, Err(()));
        assert_eq!(
            audit.inner.buffer.lock().len(),
            BUFFER_HARD_CAP,
            "nothing dropped"
        );
        let metrics = audit.render_metrics();
        assert!(
            metrics.contains("healthapi_audit_admit_waits_total 1\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains("healthapi_audit_admit_refused_total 1\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains(&format!(
                "healthapi_audit_buffered_entries {BUFFER_HARD_CAP}\n"
            )),
            "{metrics}"
        );
    }
}
