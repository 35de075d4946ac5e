//! Keeps the advisory feed file current: downloads `advisories.feed_url` into
//! `advisories.feed_file` when the file is missing or older than the refresh interval, then
//! every interval, on its own thread; reports the feed's state to the health check.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use time::OffsetDateTime;

use crate::config::AdvisoriesConfig;
use crate::pkg::advisories::fetch::{feed_age, refresh_feed, FeedRefresh, FetchError};
use crate::pkg::advisories::{alpine_secdb, arch_asa, debian_tracker};
use crate::pkg::BackendKind;

/// Checks a downloaded feed before it replaces the file.
type Validator = fn(&[u8]) -> Result<(), String>;

/// The validator of the feed format a family reads; `None` for families whose repositories
/// carry their own advisories (dnf, yum, zypper).
pub fn validator_for(kind: BackendKind) -> Option<Validator> {
    match kind {
        BackendKind::Apt => Some(debian_tracker::validate),
        BackendKind::Apk => Some(alpine_secdb::validate),
        BackendKind::Pacman => Some(arch_asa::validate),
        BackendKind::Dnf | BackendKind::Yum | BackendKind::Zypper => None,
    }
}

/// What the health check says of the feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedHealth {
    /// `ok`, `missing` (no file), `stale` (older than twice the interval while a URL is
    /// configured) or `refresh_failed` (the last download failed).
    pub state: &'static str,
    /// The feed file.
    pub path: PathBuf,
    /// Its age, when it exists.
    pub age: Option<Duration>,
    /// The last download's error, when it failed.
    pub error: Option<String>,
    /// When the last download succeeded.
    pub last_success: Option<OffsetDateTime>,
}

/// Downloads and watches one feed file.
pub struct FeedRefresher {
    path: PathBuf,
    url: Option<String>,
    ca_file: Option<PathBuf>,
    interval: Duration,
    timeout: Duration,
    max_bytes: u64,
    validate: Validator,
    last: Mutex<(Option<OffsetDateTime>, Option<String>)>,
}

impl FeedRefresher {
    /// The refresher of the configured feed, or `None` when no feed file is configured or the
    /// family has no feed format (its configured feed is then ignored, with a warning).
    pub fn new(config: &AdvisoriesConfig, kind: BackendKind) -> Option<Arc<FeedRefresher>> {
        let path = config.feed_file.clone()?;
        let Some(validate) = validator_for(kind) else {
            log::warn!(
                "advisories.feed_file is ignored: {} reads advisories from its repositories",
                kind.name()
            );
            return None;
        };
        Some(Arc::new(FeedRefresher {
            path,
            url: config.feed_url.clone(),
            ca_file: config.ca_file.clone(),
            interval: Duration::from_secs(config.refresh_interval_minutes.saturating_mul(60)),
            timeout: Duration::from_secs(config.download_timeout_seconds),
            max_bytes: config.max_feed_mb.saturating_mul(1024 * 1024),
            validate,
            last: Mutex::new((None, None)),
        }))
    }

    /// Downloads the feed now (when a URL is configured), recording the outcome.
    pub fn refresh_now(&self) -> Option<Result<FeedRefresh, FetchError>> {
        let url = self.url.as_deref()?;
        let result = refresh_feed(
            url,
            &self.path,
            self.timeout,
            self.max_bytes,
            self.ca_file.as_deref(),
            &self.validate,
        );
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Ok(r) => {
                log::info!(
                    "advisory feed {} refreshed from {url} ({} bytes)",
                    self.path.display(),
                    r.bytes
                );
                *last = (Some(r.fetched_at), None);
            }
            Err(e) => {
                log::warn!("advisory feed refresh from {url} failed: {e}; keeping the old file");
                last.1 = Some(e.to_string());
            }
        }
        Some(result)
    }

    /// How long until the next download is due: now when the file is missing or older than
    /// the interval (a restart does not download again a fresh feed).
    pub fn due_in(&self) -> Duration {
        match feed_age(&self.path) {
            Some(age) => self.interval.saturating_sub(age),
            None => Duration::ZERO,
        }
    }

    /// The feed's state for the health check.
    pub fn health(&self) -> FeedHealth {
        let age = feed_age(&self.path);
        let (last_success, error) = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let stale = self.url.is_some() && age.is_some_and(|a| a > self.interval * 2);
        let state = match (age, &error) {
            (None, _) => "missing",
            (Some(_), Some(_)) => "refresh_failed",
            (Some(_), None) if stale => "stale",
            _ => "ok",
        };
        FeedHealth {
            state,
            path: self.path.clone(),
            age,
            error,
            last_success,
        }
    }

    /// Downloads when due until `stop` says so; without a URL there is nothing to do.
    pub fn spawn(self: &Arc<Self>, stop: Receiver<()>) -> Option<std::io::Result<JoinHandle<()>>> {
        self.url.as_ref()?;
        let me = Arc::clone(self);
        Some(
            std::thread::Builder::new()
                .name("feed-refresh".into())
                .spawn(move || me.run(&stop)),
        )
    }

    fn run(&self, stop: &Receiver<()>) {
        loop {
            let wait = match self.due_in() {
                d if d.is_zero() => {
                    self.refresh_now();
                    // A failed download is retried sooner than a whole interval.
                    let failed = self.health().error.is_some();
                    if failed {
                        self.interval.min(RETRY_AFTER_FAILURE)
                    } else {
                        self.interval
                    }
                }
                d => d,
            };
            // A message or a dropped sender both mean stop.
            if !matches!(
                stop.recv_timeout(wait),
                Err(crossbeam_channel::RecvTimeoutError::Timeout)
            ) {
                return;
            }
        }
    }
}

/// How soon a failed download is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(15 * 60);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, url: Option<&str>) -> AdvisoriesConfig {
        AdvisoriesConfig {
            feed_file: Some(dir.join("feed.json")),
            feed_url: url.map(String::from),
            refresh_interval_minutes: 60,
            ..AdvisoriesConfig::default()
        }
    }

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lpa-feed-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn only_feed_families_with_a_configured_file_get_a_refresher() {
        let dir = temp();
        assert!(FeedRefresher::new(&config(&dir, None), BackendKind::Apt).is_some());
        assert!(FeedRefresher::new(&config(&dir, None), BackendKind::Dnf).is_none());
        assert!(FeedRefresher::new(&AdvisoriesConfig::default(), BackendKind::Apt).is_none());
        assert_eq!(
            validator_for(BackendKind::Pacman).map(|v| v(b"[]").is_ok()),
            Some(true)
        );
        assert!(validator_for(BackendKind::Apk).is_some_and(|v| v(b"{").is_err()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn health_and_due_time_follow_the_file() {
        let dir = temp();
        let r = FeedRefresher::new(&config(&dir, None), BackendKind::Apt).unwrap();
        assert_eq!(r.health().state, "missing");
        assert_eq!(r.due_in(), Duration::ZERO);
        assert!(r.refresh_now().is_none(), "no URL: nothing to download");
        assert!(r.spawn(crossbeam_channel::bounded(1).1).is_none());
        std::fs::write(dir.join("feed.json"), b"{}").unwrap();
        let h = r.health();
        assert_eq!((h.state, h.error), ("ok", None));
        assert!(r.due_in() > Duration::from_secs(3500));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_download_is_reported_and_keeps_the_file() {
        let dir = temp();
        std::fs::write(dir.join("feed.json"), b"{}").unwrap();
        // Nothing listens on port 9 of loopback: the download fails at once.
        let r = FeedRefresher::new(
            &config(&dir, Some("https://127.0.0.1:9/feed.json")),
            BackendKind::Apt,
        )
        .unwrap();
        assert!(matches!(r.refresh_now(), Some(Err(_))));
        let h = r.health();
        assert_eq!(h.state, "refresh_failed");
        assert!(h.error.is_some());
        assert_eq!(std::fs::read(dir.join("feed.json")).unwrap(), b"{}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
