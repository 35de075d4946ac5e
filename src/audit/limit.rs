//! A token bucket of audit lines per client (issue 17): one client may add at most
//! `per_minute` lines in a burst and `per_minute` a minute on average; lines past that are
//! counted, and the count is reported once, when the client is audited again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Clients remembered before full, quiet buckets are forgotten (they hold no state).
const PRUNE_ABOVE: usize = 1024;

/// What to do with one client's next line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write it; `suppressed` lines were left out before it (write a summary first).
    Write {
        /// Lines left out since the client's last written line.
        suppressed: u64,
    },
    /// Leave it out; `first` when it starts a run of left-out lines.
    Suppress {
        /// The first line left out since the last written one.
        first: bool,
    },
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    suppressed: u64,
}

/// Per-client buckets.
#[derive(Debug)]
pub struct Limiter {
    per_minute: u64,
    clients: HashMap<String, Bucket>,
}

impl Limiter {
    /// A limiter allowing `per_minute` lines per client and minute (at least 1).
    pub fn new(per_minute: u64) -> Limiter {
        Limiter {
            per_minute: per_minute.max(1),
            clients: HashMap::new(),
        }
    }

    /// The configured lines per client and minute.
    pub fn per_minute(&self) -> u64 {
        self.per_minute
    }

    /// Changes the rate (a reload); buckets keep their counts, capped to the new size.
    pub fn set_per_minute(&mut self, per_minute: u64) {
        self.per_minute = per_minute.max(1);
    }

    /// Takes one line for `client` at `now`.
    pub fn check(&mut self, client: &str, now: Instant) -> Verdict {
        if self.clients.len() > PRUNE_ABOVE {
            self.prune(now);
        }
        let cap = self.per_minute as f64;
        let bucket = self.clients.entry(client.to_string()).or_insert(Bucket {
            tokens: cap,
            at: now,
            suppressed: 0,
        });
        refill(bucket, cap, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            let suppressed = std::mem::take(&mut bucket.suppressed);
            return Verdict::Write { suppressed };
        }
        bucket.suppressed += 1;
        Verdict::Suppress {
            first: bucket.suppressed == 1,
        }
    }

    /// Forgets clients whose bucket is full again and who owe no summary.
    fn prune(&mut self, now: Instant) {
        let cap = self.per_minute as f64;
        self.clients.retain(|_, b| {
            refill(b, cap, now);
            b.suppressed > 0 || b.tokens < cap
        });
    }
}

fn refill(bucket: &mut Bucket, cap: f64, now: Instant) {
    let elapsed = now.saturating_duration_since(bucket.at);
    let per_second = cap / Duration::from_secs(60).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * per_second).min(cap);
    bucket.at = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_at_the_cap_and_the_count_reported_once() {
        let mut l = Limiter::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check("a", t0), Verdict::Write { suppressed: 0 });
        }
        assert_eq!(l.check("a", t0), Verdict::Suppress { first: true });
        for _ in 0..9 {
            assert_eq!(l.check("a", t0), Verdict::Suppress { first: false });
        }
        // Another client is not affected.
        assert_eq!(l.check("b", t0), Verdict::Write { suppressed: 0 });
        // One line per 20 s comes back: the first written one carries the count.
        let t1 = t0 + Duration::from_secs(20);
        assert_eq!(l.check("a", t1), Verdict::Write { suppressed: 10 });
        assert_eq!(l.check("a", t1), Verdict::Suppress { first: true });
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(l.check("a", t2), Verdict::Write { suppressed: 1 });
        assert_eq!(l.check("a", t2), Verdict::Write { suppressed: 0 });
    }

    #[test]
    fn quiet_clients_are_forgotten_and_the_rate_can_change() {
        let mut l = Limiter::new(2);
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE {
            l.check(&format!("c{i}"), t0);
        }
        l.check("x", t0 + Duration::from_secs(61));
        assert_eq!(l.clients.len(), 1, "only the new client is left");
        l.set_per_minute(0);
        assert_eq!(l.per_minute(), 1);
    }
}
