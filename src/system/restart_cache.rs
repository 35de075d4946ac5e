//! The last restart-needed scan, kept for a short while so that `GET /metrics` can be
//! scraped often without reading every process's maps each time: a scan is reused for
//! [`RestartCache::max_age`] unless something that may have changed the answer (a finished
//! job) happened after it was taken.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::restart_needed::RestartNeeded;

/// How long a scan is reused by default.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

/// One scan and when it was taken.
struct Entry {
    at: Instant,
    taken: OffsetDateTime,
    scan: Arc<RestartNeeded>,
}

/// The last scan.
pub struct RestartCache {
    max_age: Duration,
    entry: Mutex<Option<Entry>>,
}

impl RestartCache {
    /// An empty cache reusing a scan for `max_age`.
    pub fn new(max_age: Duration) -> RestartCache {
        RestartCache {
            max_age,
            entry: Mutex::new(None),
        }
    }

    /// How long a scan is reused.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The cached scan while it is younger than the maximum age and was taken after
    /// `changed_at`; otherwise a new one from `scan`, kept. One scan at a time: callers
    /// meanwhile wait for it rather than scan too.
    pub fn get_or(
        &self,
        changed_at: Option<OffsetDateTime>,
        scan: impl FnOnce() -> RestartNeeded,
    ) -> Arc<RestartNeeded> {
        let mut entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entry.as_ref() {
            let fresh = e.at.elapsed() < self.max_age;
            let after_change = changed_at.is_none_or(|c| c <= e.taken);
            if fresh && after_change {
                return Arc::clone(&e.scan);
            }
        }
        let taken = OffsetDateTime::now_utc();
        let scan = Arc::new(scan());
        *entry = Some(Entry {
            at: Instant::now(),
            taken,
            scan: Arc::clone(&scan),
        });
        scan
    }

    /// Keeps a scan taken elsewhere (a request that scanned anyway) and hands it back.
    pub fn put(&self, scan: RestartNeeded) -> Arc<RestartNeeded> {
        let scan = Arc::new(scan);
        let mut entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        *entry = Some(Entry {
            at: Instant::now(),
            taken: OffsetDateTime::now_utc(),
            scan: Arc::clone(&scan),
        });
        scan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn units(n: usize) -> RestartNeeded {
        RestartNeeded {
            units: (0..n).map(|i| format!("u{i}.service")).collect(),
            ..RestartNeeded::default()
        }
    }

    #[test]
    fn a_scan_is_reused_until_it_ages_or_a_job_ends_after_it() {
        let cache = RestartCache::new(Duration::from_secs(3600));
        let scans = Cell::new(0);
        let scan = |n| {
            scans.set(scans.get() + 1);
            units(n)
        };
        assert_eq!(cache.get_or(None, || scan(1)).units.len(), 1);
        assert_eq!(cache.get_or(None, || scan(2)).units.len(), 1);
        let long_ago = OffsetDateTime::now_utc() - time::Duration::hours(1);
        assert_eq!(cache.get_or(Some(long_ago), || scan(2)).units.len(), 1);
        assert_eq!(scans.get(), 1);
        // A job finished after the scan: scanned again.
        let later = OffsetDateTime::now_utc() + time::Duration::seconds(5);
        assert_eq!(cache.get_or(Some(later), || scan(3)).units.len(), 3);
        assert_eq!(scans.get(), 2);
        // A scan kept from elsewhere is what the next caller gets.
        cache.put(units(4));
        assert_eq!(cache.get_or(None, || scan(5)).units.len(), 4);

        let stale = RestartCache::new(Duration::ZERO);
        stale.get_or(None, || scan(1));
        assert_eq!(stale.get_or(None, || scan(6)).units.len(), 6);
        assert_eq!(stale.max_age(), Duration::ZERO);
    }
}
