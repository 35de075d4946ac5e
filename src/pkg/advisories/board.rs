//! What is known of each feed right now: its last parse (records kept and skipped, or why
//! it could not be read) and its last download. The backends write the parse side, the
//! refresher the download side; the patch list and health read it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use time::OffsetDateTime;

/// The state of one feed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FeedState {
    /// Feed name.
    pub name: String,
    /// Records used by the last parse.
    pub records: usize,
    /// Records skipped by the last parse (malformed; logged with their reasons).
    pub skipped: usize,
    /// Why the feed is not used right now (missing file, unreadable document); `None` when
    /// it was read.
    pub error: Option<String>,
    /// When the last download replaced or confirmed the feed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_refresh: Option<OffsetDateTime>,
    /// The last download's error, when it failed.
    pub refresh_error: Option<String>,
}

/// Shared board of every feed's state; clones share it.
#[derive(Clone, Default)]
pub struct FeedBoard {
    states: Arc<Mutex<BTreeMap<String, FeedState>>>,
}

impl fmt::Debug for FeedBoard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FeedBoard")
    }
}

impl PartialEq for FeedBoard {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.states, &other.states)
    }
}

impl Eq for FeedBoard {}

impl FeedBoard {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, FeedState>> {
        // A panic mid-update leaves at worst one stale entry.
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut FeedState)) {
        let mut states = self.lock();
        let state = states.entry(name.to_string()).or_insert_with(|| FeedState {
            name: name.to_string(),
            ..FeedState::default()
        });
        change(state);
    }

    /// Lists a feed before anything is known of it.
    pub fn register(&self, name: &str) {
        self.update(name, |_| {});
    }

    /// Records a successful parse.
    pub fn parsed(&self, name: &str, records: usize, skipped: usize) {
        self.update(name, |s| {
            s.records = records;
            s.skipped = skipped;
            s.error = None;
        });
    }

    /// Records that the feed is not used, and why.
    pub fn unusable(&self, name: &str, error: String) {
        self.update(name, |s| {
            s.records = 0;
            s.skipped = 0;
            s.error = Some(error);
        });
    }

    /// Records a download's outcome: `Ok` with its time, or the error.
    pub fn refreshed(&self, name: &str, outcome: Result<OffsetDateTime, String>) {
        self.update(name, |s| match outcome {
            Ok(at) => {
                s.last_refresh = Some(at);
                s.refresh_error = None;
            }
            Err(e) => s.refresh_error = Some(e),
        });
    }

    /// Drops the feeds `stale` names (a backend's feed that no longer exists, such as the
    /// updateinfo of a repository removed from the cache).
    pub fn forget(&self, stale: impl Fn(&str) -> bool) {
        self.lock().retain(|name, _| !stale(name));
    }

    /// Every feed's state, by name.
    pub fn snapshot(&self) -> Vec<FeedState> {
        self.lock().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_download_sides_meet_in_one_entry() {
        let board = FeedBoard::default();
        let shared = board.clone();
        board.register("b");
        shared.parsed("a", 10, 2);
        board.refreshed("a", Err("HTTP 503".into()));
        board.unusable("b", "no such file".into());
        let at = time::macros::datetime!(2026-01-02 03:04 UTC);
        board.refreshed("b", Ok(at));
        let all = board.snapshot();
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].records, all[0].skipped), (10, 2));
        assert_eq!(all[0].refresh_error.as_deref(), Some("HTTP 503"));
        assert_eq!(all[1].error.as_deref(), Some("no such file"));
        assert_eq!(all[1].last_refresh, Some(at));
        shared.parsed("b", 1, 0);
        assert_eq!(board.snapshot()[1].error, None);
        assert_eq!(board, shared);
        assert_ne!(board, FeedBoard::default());
        shared.forget(|name| name == "a");
        let left: Vec<String> = board.snapshot().into_iter().map(|s| s.name).collect();
        assert_eq!(left, ["b"]);
    }
}
