//! Token buckets per client identity and category, with bounded memory.
//!
//! Each (key, category) has a bucket holding up to `requests` tokens, refilled continuously
//! at `requests / window`; a request takes one token. A rule with `requests == 0` refuses
//! everything; a rule with a zero window, or a category without a rule, is not limited.
//!
//! At most `max_clients` keys are tracked. When a new key arrives and the table is full,
//! every key whose buckets have all refilled (an idle client: forgetting it changes
//! nothing) is dropped; if none is idle, the least recently used key is dropped.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
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
    inner: Mutex<Inner>,
}

struct Inner {
    rules: Vec<Rule>,
    max_clients: usize,
    clients: HashMap<String, Client>,
}

/// All buckets of one key.
struct Client {
    buckets: HashMap<usize, Bucket>,
    last_used: Instant,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Rule {
    /// Tokens regained per second.
    fn rate(&self) -> f64 {
        f64::from(self.requests) / self.window.as_secs_f64()
    }

    fn unlimited(&self) -> bool {
        self.window.is_zero()
    }
}

impl Bucket {
    /// Adds what refilled since the last update, capped at the rule's capacity.
    fn refill(&mut self, rule: &Rule, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        let capacity = f64::from(rule.requests);
        self.tokens = (self.tokens + elapsed * rule.rate()).min(capacity);
        // A `now` older than the last update must not move time backwards.
        if now > self.updated {
            self.updated = now;
        }
    }

    fn is_full(&self, rule: &Rule, now: Instant) -> bool {
        let mut probe = *self;
        probe.refill(rule, now);
        probe.tokens >= f64::from(rule.requests)
    }
}

impl RateLimiter {
    /// A limiter with one rule per category index, tracking at most `max_clients` keys.
    pub fn new(rules: Vec<Rule>, max_clients: usize) -> RateLimiter {
        RateLimiter {
            inner: Mutex::new(Inner {
                rules,
                max_clients: max_clients.max(1),
                clients: HashMap::new(),
            }),
        }
    }

    /// Takes a token; `Err(retry_after)` when the bucket is empty.
    pub fn check(&self, key: &str, category: usize, now: Instant) -> Result<(), Duration> {
        let mut inner = self.lock();
        let Some(rule) = inner.rules.get(category).copied() else {
            return Ok(());
        };
        if rule.unlimited() {
            return Ok(());
        }
        if rule.requests == 0 {
            return Err(rule.window);
        }
        if !inner.clients.contains_key(key) {
            inner.make_room(now);
            // The key is copied only for a new client, not on every request.
            inner.clients.insert(
                key.to_string(),
                Client {
                    buckets: HashMap::new(),
                    last_used: now,
                },
            );
        }
        let Some(client) = inner.clients.get_mut(key) else {
            return Ok(());
        };
        client.last_used = client.last_used.max(now);
        let bucket = client.buckets.entry(category).or_insert(Bucket {
            tokens: f64::from(rule.requests),
            updated: now,
        });
        take_token(bucket, &rule, now)
    }

    /// Replaces the rules (config reload); existing buckets keep their fill level.
    pub fn set_rules(&self, rules: Vec<Rule>, max_clients: usize) {
        let mut inner = self.lock();
        inner.rules = rules;
        inner.max_clients = max_clients.max(1);
        inner.clamp_to_rules();
        while inner.clients.len() > inner.max_clients {
            inner.evict_lru();
        }
    }

    /// How many keys are tracked now.
    pub fn tracked_clients(&self) -> usize {
        self.lock().clients.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Buckets are only advisory state; after a panic elsewhere they are still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Takes one token, or says how long until one is available.
fn take_token(bucket: &mut Bucket, rule: &Rule, now: Instant) -> Result<(), Duration> {
    bucket.refill(rule, now);
    // Tolerates float rounding so a token that is due exactly now is granted.
    if bucket.tokens >= 1.0 - 1e-9 {
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
        return Ok(());
    }
    let missing = 1.0 - bucket.tokens;
    Err(Duration::from_secs_f64(missing / rule.rate()))
}

impl Inner {
    /// Frees a slot for a new key when the table is full.
    fn make_room(&mut self, now: Instant) {
        if self.clients.len() < self.max_clients {
            return;
        }
        let rules = &self.rules;
        self.clients.retain(|_, c| !client_idle(c, rules, now));
        if self.clients.len() >= self.max_clients {
            self.evict_lru();
        }
    }

    fn evict_lru(&mut self) {
        let oldest = self
            .clients
            .iter()
            .min_by_key(|(_, c)| c.last_used)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            self.clients.remove(&key);
        }
    }

    /// A smaller burst size must take effect at once, not after the surplus is spent.
    fn clamp_to_rules(&mut self) {
        let rules = &self.rules;
        for client in self.clients.values_mut() {
            client.buckets.retain(|cat, _| rules.get(*cat).is_some());
            for (cat, bucket) in client.buckets.iter_mut() {
                if let Some(rule) = rules.get(*cat) {
                    bucket.tokens = bucket.tokens.min(f64::from(rule.requests));
                }
            }
        }
    }
}

/// Whether every bucket of a client has refilled completely.
fn client_idle(client: &Client, rules: &[Rule], now: Instant) -> bool {
    client
        .buckets
        .iter()
        .all(|(cat, bucket)| match rules.get(*cat) {
            Some(rule) if !rule.unlimited() && rule.requests > 0 => bucket.is_full(rule, now),
            _ => true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_minute(n: u32) -> Rule {
        Rule {
            requests: n,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn burst_then_refuse_with_retry_after() {
        let rl = RateLimiter::new(vec![per_minute(5)], 10);
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(rl.check("a", 0, t0), Ok(()), "request {i}");
        }
        let retry = rl.check("a", 0, t0).unwrap_err();
        // One token per 12 s.
        assert!((retry.as_secs_f64() - 12.0).abs() < 1e-6, "{retry:?}");
        let later = rl.check("a", 0, t0 + Duration::from_secs(3)).unwrap_err();
        assert!((later.as_secs_f64() - 9.0).abs() < 1e-6, "{later:?}");
    }

    #[test]
    fn refills_continuously_up_to_capacity() {
        let rl = RateLimiter::new(vec![per_minute(6)], 10);
        let t0 = Instant::now();
        for _ in 0..6 {
            rl.check("a", 0, t0).unwrap();
        }
        assert!(rl.check("a", 0, t0 + Duration::from_secs(9)).is_err());
        assert!(rl.check("a", 0, t0 + Duration::from_secs(10)).is_ok());
        assert!(rl.check("a", 0, t0 + Duration::from_secs(10)).is_err());
        // After a long idle time the bucket holds only its capacity.
        let t1 = t0 + Duration::from_secs(3600);
        for _ in 0..6 {
            rl.check("a", 0, t1).unwrap();
        }
        assert!(rl.check("a", 0, t1).is_err());
    }

    #[test]
    fn keys_and_categories_are_independent() {
        let rl = RateLimiter::new(vec![per_minute(1), per_minute(1)], 10);
        let t0 = Instant::now();
        assert!(rl.check("a", 0, t0).is_ok());
        assert!(rl.check("a", 0, t0).is_err());
        assert!(rl.check("a", 1, t0).is_ok());
        assert!(rl.check("b", 0, t0).is_ok());
        // No rule for category 7: not limited.
        for _ in 0..100 {
            assert!(rl.check("a", 7, t0).is_ok());
        }
    }

    #[test]
    fn zero_requests_refuses_and_zero_window_allows() {
        let rules = vec![
            per_minute(0),
            Rule {
                requests: 1,
                window: Duration::ZERO,
            },
        ];
        let rl = RateLimiter::new(rules, 10);
        let t0 = Instant::now();
        assert_eq!(rl.check("a", 0, t0), Err(Duration::from_secs(60)));
        for _ in 0..10 {
            assert!(rl.check("a", 1, t0).is_ok());
        }
    }

    #[test]
    fn eviction_is_bounded_and_prefers_idle_clients() {
        let rl = RateLimiter::new(vec![per_minute(2)], 3);
        let t0 = Instant::now();
        rl.check("idle", 0, t0).unwrap();
        rl.check("busy1", 0, t0).unwrap();
        rl.check("busy1", 0, t0).unwrap();
        rl.check("busy2", 0, t0 + Duration::from_secs(1)).unwrap();
        rl.check("busy2", 0, t0 + Duration::from_secs(1)).unwrap();
        // At t0+40s "idle" has refilled (one token back after 30 s); the busy ones have not.
        let t1 = t0 + Duration::from_secs(40);
        rl.check("new", 0, t1).unwrap();
        assert_eq!(rl.tracked_clients(), 3);
        // busy1 kept its (partly refilled) state: one token, then refused.
        assert!(rl.check("busy1", 0, t1).is_ok());
        assert!(rl.check("busy1", 0, t1).is_err());

        // Nothing idle now: the least recently used (busy2, last seen t0+1s) goes.
        rl.check("newer", 0, t1).unwrap();
        assert_eq!(rl.tracked_clients(), 3);
        assert!(
            rl.check("busy1", 0, t1).is_err(),
            "busy1 must not be evicted"
        );
        for i in 0..100 {
            rl.check(&format!("flood{i}"), 0, t1).unwrap();
        }
        assert_eq!(rl.tracked_clients(), 3);
    }

    #[test]
    fn set_rules_keeps_levels_and_clamps() {
        let rl = RateLimiter::new(vec![per_minute(10)], 10);
        let t0 = Instant::now();
        for _ in 0..8 {
            rl.check("a", 0, t0).unwrap();
        }
        // Two tokens left; a larger burst does not top them up.
        rl.set_rules(vec![per_minute(100)], 10);
        assert!(rl.check("a", 0, t0).is_ok());
        assert!(rl.check("a", 0, t0).is_ok());
        assert!(rl.check("a", 0, t0).is_err());
        // A fresh client gets the new, full burst; a smaller limit clamps at once.
        for _ in 0..50 {
            rl.check("b", 0, t0).unwrap();
        }
        rl.set_rules(vec![per_minute(3)], 1);
        assert_eq!(rl.tracked_clients(), 1);
        let remaining = ["a", "b"]
            .iter()
            .map(|k| (0..10).filter(|_| rl.check(k, 0, t0).is_ok()).count())
            .collect::<Vec<_>>();
        assert!(remaining.iter().all(|&n| n <= 3), "{remaining:?}");
    }

    #[test]
    fn time_going_backwards_does_not_refill() {
        let rl = RateLimiter::new(vec![per_minute(1)], 10);
        let t0 = Instant::now() + Duration::from_secs(100);
        rl.check("a", 0, t0).unwrap();
        assert!(rl.check("a", 0, t0 - Duration::from_secs(50)).is_err());
        assert!(rl.check("a", 0, t0 + Duration::from_secs(59)).is_err());
        assert!(rl.check("a", 0, t0 + Duration::from_secs(60)).is_ok());
    }
}
