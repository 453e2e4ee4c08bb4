//! Login throttling per account and per client address: after too many failures inside the
//! window, further attempts get 429 until the window passes. Counters live in this node's
//! memory (a cache: nothing else is kept in one node alone): several nodes each enforce their own limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_PER_ACCOUNT: u32 = 5;
pub const MAX_PER_ADDRESS: u32 = 20;

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    fn key_blocked(map: &HashMap<String, (u32, Instant)>, key: &str, max: u32) -> Option<u64> {
        map.get(key).and_then(|(n, since)| {
            let age = since.elapsed();
            (*n >= max && age < WINDOW).then(|| (WINDOW - age).as_secs().max(1))
        })
    }

    /// Seconds to wait if either the account or the address is over its limit.
    pub fn blocked(&self, account: &str, address: &str) -> Option<u64> {
        let map = self.failures.lock();
        Self::key_blocked(&map, &format!("a:{account}"), MAX_PER_ACCOUNT)
            .or_else(|| Self::key_blocked(&map, &format!("ip:{address}"), MAX_PER_ADDRESS))
    }

    pub fn record_failure(&self, account: &str, address: &str) {
        let mut map = self.failures.lock();
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        for key in [format!("a:{account}"), format!("ip:{address}")] {
            let entry = map.entry(key).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= WINDOW {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    pub fn record_success(&self, account: &str) {
        self.failures.lock().remove(&format!("a:{account}"));
    }
}
