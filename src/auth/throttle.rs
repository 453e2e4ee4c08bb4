//! Login throttling, so that guessing passwords is slow without letting a stranger lock anyone
//! out. Three counters of failed attempts, each with growing waits instead of a hard lock:
//!
//! - per account *and* client address: 5 failures, then a wait before that address may try
//!   that account again — a stranger who guesses wrong waits alone, the owner signing in from
//!   elsewhere does not notice;
//! - per client address, across accounts (password spraying): 20 failures;
//! - per account, across addresses (credential stuffing from many addresses): 50 failures.
//!   Addresses the account has signed in from (on this node, in the last 30 days) are not
//!   held by this ceiling, so even a distributed attack does not lock the owner out of the
//!   places they sign in from.
//!
//! The wait after a counter's limit is 1 minute, doubling with each further failure up to 15
//! minutes; a counter with no failure for an hour starts again from nothing. A successful
//! sign-in clears its account-and-address counter; an admin clears all of an account's counters
//! (`DELETE /users/{id}/login-throttle`). Attempts during a wait are refused (429 with
//! `Retry-After`) without checking the password, and are not counted.
//!
//! Counters live in this node's memory (a cache: nothing else is kept in one node alone):
//! several nodes each enforce their own limits, and an admin's clearing reaches the node that
//! served it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Failures of one account from one address before the first wait.
pub const MAX_PER_ACCOUNT_AND_ADDRESS: u32 = 5;
/// Failures from one address, over all accounts, before the first wait.
pub const MAX_PER_ADDRESS: u32 = 20;
/// Failures of one account, over all addresses, before the first wait (for addresses the
/// account has not signed in from).
pub const MAX_PER_ACCOUNT: u32 = 50;
/// The first wait; each further failure doubles it.
pub const FIRST_WAIT: Duration = Duration::from_secs(60);
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// A counter without a failure for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// How long an address the account signed in from stays known.
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Known addresses kept per account (the oldest go first).
const MAX_KNOWN: usize = 16;
/// Past this many accounts or addresses, forgotten entries are swept out.
const SWEEP_AT: usize = 100_000;

/// Failures of one kind and the wait they earned.
#[derive(Clone, Copy)]
struct Counter {
    failures: u32,
    last: Instant,
    until: Option<Instant>,
}

impl Counter {
    fn new(now: Instant) -> Counter {
        Counter {
            failures: 0,
            last: now,
            until: None,
        }
    }

    fn forgotten(&self, now: Instant) -> bool {
        now.duration_since(self.last) >= FORGET_AFTER
    }

    fn fail(&mut self, now: Instant, limit: u32) {
        if self.forgotten(now) {
            *self = Counter::new(now);
        }
        self.failures += 1;
        self.last = now;
        if self.failures >= limit {
            let doublings = (self.failures - limit).min(16);
            let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT);
            self.until = Some(now + wait);
        }
    }

    fn wait(&self, now: Instant) -> Option<Duration> {
        self.until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }
}

#[derive(Default)]
struct Account {
    /// Per client address.
    pairs: HashMap<String, Counter>,
    /// Over every address.
    all: Option<Counter>,
    /// Addresses it signed in from, and when last.
    known: HashMap<String, Instant>,
}

impl Account {
    fn is_known(&self, address: &str, now: Instant) -> bool {
        self.known
            .get(address)
            .is_some_and(|at| now.duration_since(*at) < KNOWN_FOR)
    }

    /// Nothing left worth keeping.
    fn idle(&self, now: Instant) -> bool {
        self.pairs.values().all(|c| c.forgotten(now))
            && self.all.is_none_or(|c| c.forgotten(now))
            && self
                .known
                .values()
                .all(|at| now.duration_since(*at) >= KNOWN_FOR)
    }
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, Account>,
    addresses: HashMap<String, Counter>,
}

impl State {
    fn sweep(&mut self, now: Instant) {
        if self.accounts.len() > SWEEP_AT {
            self.accounts.retain(|_, a| !a.idle(now));
        }
        if self.addresses.len() > SWEEP_AT {
            self.addresses.retain(|_, c| !c.forgotten(now));
        }
    }
}

#[derive(Default)]
pub struct LoginThrottle {
    state: Mutex<State>,
}

/// Whole seconds to wait, at least 1 (what `Retry-After` says).
fn seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl LoginThrottle {
    /// Seconds to wait before `address` may try `account` again, if it must.
    pub fn blocked(&self, account: &str, address: &str) -> Option<u64> {
        let now = Instant::now();
        let state = self.state.lock();
        let mut waits = vec![state.addresses.get(address).and_then(|c| c.wait(now))];
        if let Some(a) = state.accounts.get(account) {
            waits.push(a.pairs.get(address).and_then(|c| c.wait(now)));
            if !a.is_known(address, now) {
                waits.push(a.all.and_then(|c| c.wait(now)));
            }
        }
        waits.into_iter().flatten().max().map(seconds)
    }

    pub fn record_failure(&self, account: &str, address: &str) {
        let now = Instant::now();
        let mut state = self.state.lock();
        state.sweep(now);
        state
            .addresses
            .entry(address.to_string())
            .or_insert_with(|| Counter::new(now))
            .fail(now, MAX_PER_ADDRESS);
        let a = state.accounts.entry(account.to_string()).or_default();
        a.pairs
            .entry(address.to_string())
            .or_insert_with(|| Counter::new(now))
            .fail(now, MAX_PER_ACCOUNT_AND_ADDRESS);
        a.all
            .get_or_insert_with(|| Counter::new(now))
            .fail(now, MAX_PER_ACCOUNT);
    }

    /// A successful sign-in: the address's counter for the account is cleared and the address
    /// becomes known to the account. The account-wide counter stays: the owner's success says
    /// nothing about guesses from elsewhere.
    pub fn record_success(&self, account: &str, address: &str) {
        let now = Instant::now();
        let mut state = self.state.lock();
        state.sweep(now);
        let a = state.accounts.entry(account.to_string()).or_default();
        a.pairs.remove(address);
        a.known.insert(address.to_string(), now);
        if a.known.len() > MAX_KNOWN {
            if let Some(oldest) = a
                .known
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(addr, _)| addr.clone())
            {
                a.known.remove(&oldest);
            }
        }
    }

    /// An admin's clearing: every failure counted against these account keys, from every
    /// address, is forgotten (the addresses' own counters, which other accounts' failures
    /// fill too, stay). Known addresses stay known.
    pub fn clear(&self, accounts: &[&str]) {
        let mut state = self.state.lock();
        for account in accounts {
            if let Some(a) = state.accounts.get_mut(*account) {
                a.pairs.clear();
                a.all = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_are_capped() {
        let now = Instant::now();
        let mut c = Counter::new(now);
        let mut waits = Vec::new();
        for _ in 0..12 {
            c.fail(now, 5);
            waits.push(c.wait(now).map(|w| w.as_secs()));
        }
        assert_eq!(
            waits,
            [
                None,
                None,
                None,
                None,
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(900),
                Some(900),
                Some(900),
                Some(900)
            ]
        );
        // An hour without a failure: it starts again from nothing.
        let later = now + FORGET_AFTER;
        c.fail(later, 5);
        assert_eq!(c.failures, 1);
        assert_eq!(c.wait(later), None);
    }

    #[test]
    fn a_stranger_does_not_lock_the_owner_out() {
        let t = LoginThrottle::default();
        for _ in 0..MAX_PER_ACCOUNT_AND_ADDRESS {
            t.record_failure("ann", "10.0.0.66");
        }
        assert!(t.blocked("ann", "10.0.0.66").is_some());
        assert_eq!(t.blocked("ann", "10.0.0.1"), None);
        assert_eq!(t.blocked("bob", "10.0.0.66"), None);
        t.clear(&["ann"]);
        assert_eq!(t.blocked("ann", "10.0.0.66"), None);
    }

    #[test]
    fn the_account_ceiling_spares_known_addresses() {
        let t = LoginThrottle::default();
        t.record_success("ann", "10.0.0.1");
        for i in 0..MAX_PER_ACCOUNT {
            t.record_failure("ann", &format!("10.1.{}.{}", i / 200, i % 200));
        }
        assert!(
            t.blocked("ann", "10.2.0.1").is_some(),
            "a new address waits"
        );
        assert_eq!(t.blocked("ann", "10.0.0.1"), None, "the owner's does not");
        t.clear(&["ann"]);
        assert_eq!(t.blocked("ann", "10.2.0.1"), None);
    }
}
