//! Keeps each advisory feed file current: downloads its URL into its file when the file is
//! missing or older than the refresh interval, then every interval, each feed on its own
//! thread, each download after a random delay (jitter) so a fleet does not download at
//! once; reports every feed's state to the health check and the board.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use time::OffsetDateTime;

use crate::config::AdvisoriesConfig;
use crate::pkg::advisories::board::FeedBoard;
use crate::pkg::advisories::feeds::{FeedFormat, FeedSource};
use crate::pkg::advisories::fetch::{refresh_feed, FetchError, Refreshed};
use crate::pkg::advisories::{alpine_secdb, arch_asa, debian_tracker, freshness};

/// Checks a downloaded file before it replaces the feed.
pub type Validator = fn(&Path) -> Result<(), String>;

/// The validator of a feed format.
pub fn validator_for(format: FeedFormat) -> Validator {
    match format {
        FeedFormat::DebianTracker => |p| read_then(p, debian_tracker::validate),
        FeedFormat::AlpineSecdb => |p| read_then(p, alpine_secdb::validate),
        FeedFormat::ArchAsa => |p| read_then(p, arch_asa::validate),
        FeedFormat::Osv => {
            |p| crate::pkg::advisories::osv::validate_archive(p).map_err(|e| e.to_string())
        }
    }
}

fn read_then(path: &Path, check: fn(&[u8]) -> Result<(), String>) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    check(&bytes)
}

/// What the health check says of one feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedHealth {
    /// The feed's name.
    pub name: String,
    /// `ok`, `missing` (no file), `stale` (older than twice the interval while a URL is
    /// configured) or `refresh_failed` (the last download failed).
    pub state: &'static str,
    /// Where it is downloaded from, when it is.
    pub url: Option<String>,
    /// The feed file.
    pub path: PathBuf,
    /// Its age (since it was last written or confirmed unchanged), when it exists.
    pub age: Option<Duration>,
    /// The last download's error, when it failed.
    pub error: Option<String>,
    /// When the last download succeeded (200 or 304).
    pub last_success: Option<OffsetDateTime>,
}

/// How every feed is downloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshSettings {
    /// A CA bundle instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Time between checks.
    pub interval: Duration,
    /// Deadline of one download.
    pub timeout: Duration,
    /// Size cap of one download.
    pub max_bytes: u64,
    /// Largest random delay before a download.
    pub jitter: Duration,
}

impl RefreshSettings {
    /// From `advisories.*`.
    pub fn from_config(c: &AdvisoriesConfig) -> RefreshSettings {
        RefreshSettings {
            ca_file: c.ca_file.clone(),
            interval: Duration::from_secs(c.refresh_interval_minutes.saturating_mul(60)),
            timeout: Duration::from_secs(c.download_timeout_seconds),
            max_bytes: c.max_feed_mb.saturating_mul(1024 * 1024),
            jitter: Duration::from_secs(c.jitter_minutes.saturating_mul(60)),
        }
    }
}

/// While a feed is missing, a download waits at most this long: a new host shows
/// severities within a minute, and hosts installed together still spread out.
pub const MISSING_FEED_JITTER: Duration = Duration::from_secs(60);

/// How soon a failed download is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(15 * 60);

/// A random delay in `0..=max` from `random` (millisecond steps).
pub fn jitter(max: Duration, random: u64) -> Duration {
    let steps = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(random % steps.saturating_add(1))
}

/// 64 random bits from the OS random source (a v4 UUID is `getrandom` output).
pub fn os_random() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut head = [0u8; 8];
    head.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(head)
}

/// Downloads and watches one feed file.
pub struct FeedRefresher {
    feed: FeedSource,
    settings: RefreshSettings,
    validate: Validator,
    board: FeedBoard,
    last: Mutex<(Option<OffsetDateTime>, Option<String>)>,
}

impl FeedRefresher {
    /// The refresher of one feed; it reports downloads on `board`.
    pub fn new(feed: FeedSource, settings: RefreshSettings, board: FeedBoard) -> Arc<Self> {
        board.register(&feed.name);
        Arc::new(FeedRefresher {
            validate: validator_for(feed.format),
            feed,
            settings,
            board,
            last: Mutex::new((None, None)),
        })
    }

    /// The feed.
    pub fn feed(&self) -> &FeedSource {
        &self.feed
    }

    /// Downloads the feed now (when it has a URL), recording the outcome.
    pub fn refresh_now(&self) -> Option<Result<Refreshed, FetchError>> {
        let url = self.feed.url.as_deref()?;
        let s = &self.settings;
        let result = refresh_feed(
            url,
            &self.feed.path,
            s.timeout,
            s.max_bytes,
            s.ca_file.as_deref(),
            &self.validate,
        );
        let name = &self.feed.name;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Ok(r) => {
                match r {
                    Refreshed::Updated(u) => {
                        log::info!(
                            "advisory feed {name} downloaded from {url} ({} bytes)",
                            u.bytes
                        )
                    }
                    Refreshed::NotModified => log::info!("advisory feed {name} unchanged at {url}"),
                }
                let now = OffsetDateTime::now_utc();
                *last = (Some(now), None);
                self.board.refreshed(name, Ok(now));
            }
            Err(e) => {
                log::warn!(
                    "advisory feed {name}: download from {url} failed: {e}; keeping the old file"
                );
                last.1 = Some(e.to_string());
                self.board.refreshed(name, Err(e.to_string()));
            }
        }
        Some(result)
    }

    /// How long until the next download is due: now when the file is missing or was last
    /// confirmed longer ago than the interval (a restart does not download a fresh feed).
    pub fn due_in(&self) -> Duration {
        match freshness::age(&self.feed.path) {
            Some(age) => self.settings.interval.saturating_sub(age),
            None => Duration::ZERO,
        }
    }

    /// The random delay before the next download.
    pub fn jitter_now(&self) -> Duration {
        let max = if self.feed.path.exists() {
            self.settings.jitter
        } else {
            self.settings.jitter.min(MISSING_FEED_JITTER)
        };
        jitter(max, os_random())
    }

    /// The feed's state for the health check.
    pub fn health(&self) -> FeedHealth {
        let age = freshness::age(&self.feed.path);
        let (last_success, error) = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let stale = self.feed.url.is_some() && age.is_some_and(|a| a > self.settings.interval * 2);
        let state = match (age, &error) {
            (None, _) => "missing",
            (Some(_), Some(_)) => "refresh_failed",
            (Some(_), None) if stale => "stale",
            _ => "ok",
        };
        FeedHealth {
            name: self.feed.name.clone(),
            state,
            url: self.feed.url.clone(),
            path: self.feed.path.clone(),
            age,
            error,
            last_success,
        }
    }

    /// Downloads when due until `stop` says so; without a URL there is nothing to do.
    pub fn spawn(self: &Arc<Self>, stop: Receiver<()>) -> Option<std::io::Result<JoinHandle<()>>> {
        self.feed.url.as_ref()?;
        let me = Arc::clone(self);
        Some(
            std::thread::Builder::new()
                .name(format!("feed-{}", self.feed.name))
                .spawn(move || me.run(&stop)),
        )
    }

    fn run(&self, stop: &Receiver<()>) {
        loop {
            let wait = match self.due_in() {
                d if d.is_zero() => {
                    if stopped(stop, self.jitter_now()) {
                        return;
                    }
                    self.refresh_now();
                    // A failed download is retried sooner than a whole interval.
                    if self.health().error.is_some() {
                        self.settings.interval.min(RETRY_AFTER_FAILURE)
                    } else {
                        self.settings.interval
                    }
                }
                d => d,
            };
            if stopped(stop, wait) {
                return;
            }
        }
    }
}

/// Waits `wait`; true when told to stop meanwhile (a message or a dropped sender).
fn stopped(stop: &Receiver<()>, wait: Duration) -> bool {
    !matches!(stop.recv_timeout(wait), Err(RecvTimeoutError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RefreshSettings {
        RefreshSettings::from_config(&AdvisoriesConfig {
            refresh_interval_minutes: 60,
            jitter_minutes: 10,
            ..AdvisoriesConfig::default()
        })
    }

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lpa-feed-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn source(dir: &Path, url: Option<&str>) -> FeedSource {
        FeedSource {
            name: "debian-tracker".into(),
            format: FeedFormat::DebianTracker,
            url: url.map(String::from),
            path: dir.join("debian-tracker"),
            release: Some("bookworm".into()),
        }
    }

    #[test]
    fn validators_check_each_format() {
        let dir = temp();
        let f = dir.join("f");
        std::fs::write(&f, b"[]").unwrap();
        assert!(validator_for(FeedFormat::ArchAsa)(&f).is_ok());
        assert!(validator_for(FeedFormat::Osv)(&f).is_err());
        std::fs::write(&f, b"{").unwrap();
        assert!(validator_for(FeedFormat::AlpineSecdb)(&f).is_err());
        assert!(validator_for(FeedFormat::DebianTracker)(&dir.join("none")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn jitter_is_bounded_and_drawn_from_the_os() {
        let max = Duration::from_secs(600);
        assert_eq!(jitter(max, 0), Duration::ZERO);
        assert_eq!(jitter(max, 600_000), max);
        assert_eq!(jitter(max, 600_001), Duration::ZERO);
        assert_eq!(jitter(Duration::ZERO, u64::MAX), Duration::ZERO);
        let draws: std::collections::HashSet<Duration> =
            (0..32).map(|_| jitter(max, os_random())).collect();
        assert!(draws.iter().all(|d| *d <= max));
        // 32 draws over 600 001 steps: all alike only if the source were not random.
        assert!(draws.len() > 1, "{draws:?}");
        let dir = temp();
        let r = FeedRefresher::new(source(&dir, None), settings(), FeedBoard::default());
        assert!((0..32).all(|_| r.jitter_now() <= MISSING_FEED_JITTER));
        std::fs::write(dir.join("debian-tracker"), b"{}").unwrap();
        assert!((0..32).all(|_| r.jitter_now() <= Duration::from_secs(600)));
        assert!((0..32).any(|_| r.jitter_now() > MISSING_FEED_JITTER));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn health_and_due_time_follow_the_file() {
        let dir = temp();
        let r = FeedRefresher::new(source(&dir, None), settings(), FeedBoard::default());
        assert_eq!(r.health().state, "missing");
        assert_eq!(r.due_in(), Duration::ZERO);
        assert!(r.refresh_now().is_none(), "no URL: nothing to download");
        assert!(r.spawn(crossbeam_channel::bounded(1).1).is_none());
        std::fs::write(dir.join("debian-tracker"), b"{}").unwrap();
        let h = r.health();
        assert_eq!(
            (h.name.as_str(), h.state, h.error),
            ("debian-tracker", "ok", None)
        );
        assert!(r.due_in() > Duration::from_secs(3500));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_download_is_reported_and_keeps_the_file() {
        let dir = temp();
        std::fs::write(dir.join("debian-tracker"), b"{}").unwrap();
        let board = FeedBoard::default();
        // Nothing listens on port 9 of loopback: the download fails at once.
        let r = FeedRefresher::new(
            source(&dir, Some("https://127.0.0.1:9/feed.json")),
            settings(),
            board.clone(),
        );
        assert!(matches!(r.refresh_now(), Some(Err(_))));
        let h = r.health();
        assert_eq!(h.state, "refresh_failed");
        assert!(h.error.is_some());
        assert_eq!(board.snapshot()[0].refresh_error, h.error);
        assert_eq!(std::fs::read(dir.join("debian-tracker")).unwrap(), b"{}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
