//! Token buckets per client identity and category, with bounded memory.

use std::time::{Duration, Instant};

/// One bucket rule: `requests` per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Burst size and tokens per window.
    pub requests: u32,
    /// Refill window.
    pub window: Duration,
}

/// Buckets keyed by (client key, category index).
pub struct RateLimiter {
    _private: (),
}

impl RateLimiter {
    /// A limiter with one rule per category index, tracking at most `max_clients` keys.
    pub fn new(rules: Vec<Rule>, max_clients: usize) -> RateLimiter {
        let _ = (rules, max_clients);
        todo!()
    }

    /// Takes a token; `Err(retry_after)` when the bucket is empty.
    pub fn check(&self, key: &str, category: usize, now: Instant) -> Result<(), Duration> {
        let _ = (key, category, now);
        todo!()
    }

    /// Replaces the rules (config reload); existing buckets keep their fill level.
    pub fn set_rules(&self, rules: Vec<Rule>, max_clients: usize) {
        let _ = (rules, max_clients);
        todo!()
    }
}
