//! The uploader's one shared wait after failures: exponential, capped, reset by any
//! success. Pure: the caller passes the time.

use super::config::RetryPolicy;

/// When the queue may try again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    /// Failures in a row.
    failures: u32,
    /// No new attempt before this (Unix ms); 0 when open.
    retry_at_ms: u64,
}

impl Backoff {
    /// An open gate under `policy`.
    pub fn new(policy: &RetryPolicy) -> Self {
        Self {
            initial_ms: policy.initial_ms,
            max_ms: policy.max_ms,
            failures: 0,
            retry_at_ms: 0,
        }
    }

    /// A failure at `now_ms`: the wait doubles (from the initial one), up to the cap.
    /// Returns the wait, ms.
    pub fn failed(&mut self, now_ms: u64) -> u64 {
        let doublings = self.failures.min(63);
        self.failures = self.failures.saturating_add(1);
        let wait = self
            .initial_ms
            .checked_shl(doublings)
            .filter(|w| *w >> doublings == self.initial_ms)
            .map_or(self.max_ms, |w| w.min(self.max_ms));
        self.retry_at_ms = now_ms.saturating_add(wait);
        wait
    }

    /// A success: the next failure waits the initial time again, and the gate opens.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at_ms = 0;
    }

    /// Whether an attempt may start at `now_ms`.
    pub fn is_open(&self, now_ms: u64) -> bool {
        now_ms >= self.retry_at_ms
    }

    /// When the gate opens (Unix ms; 0: open).
    pub fn retry_at_ms(&self) -> u64 {
        self.retry_at_ms
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            concurrency: 1,
            initial_ms,
            max_ms,
            dead_letter_after_ms: 1,
        }
    }

    #[test]
    fn waits_double_up_to_the_cap_and_a_success_resets_them() {
        let mut backoff = Backoff::new(&policy(100, 1_000));
        assert!(backoff.is_open(0));
        let waits: Vec<u64> = (0..6).map(|_| backoff.failed(10_000)).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
        assert!(!backoff.is_open(10_999));
        assert!(backoff.is_open(11_000));
        backoff.succeeded();
        assert!(backoff.is_open(0));
        assert_eq!(backoff.failed(0), 100);
    }

    #[test]
    fn endless_failures_never_overflow() {
        let mut backoff = Backoff::new(&policy(u64::MAX / 2, u64::MAX));
        for _ in 0..200 {
            backoff.failed(u64::MAX - 5);
        }
        assert_eq!(backoff.retry_at_ms(), u64::MAX);
        assert_eq!(backoff.failures(), 200);
    }
}
