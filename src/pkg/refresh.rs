//! Repository metadata in the background: its age read from the tool's cache on disk, the
//! stamp written after each successful refresh, and the one thread that refreshes metadata
//! older than `package_manager.metadata_max_age_seconds` (after a random delay, so that a
//! fleet restarted together does not hit its mirrors at once) and swaps in the upgradable
//! set computed from it. No request waits on this thread.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use time::OffsetDateTime;

use super::{MetadataCache, PkgError};

/// The name of the agent's stamp inside a tool's cache directory (apt has Debian's own).
pub const STAMP_NAME: &str = "linux-patch-api.refreshed";

/// While the cache is missing, a refresh waits at most this long: a new host lists its
/// upgrades within a minute, and hosts installed together still spread out.
pub const MISSING_CACHE_JITTER: Duration = Duration::from_secs(60);

/// The first wait after a failed refresh; it doubles with each failure in a row, up to
/// the max age.
pub const RETRY_BASE: Duration = Duration::from_secs(60);

/// At most one explicit refresh (`?refresh=true`) per this long, per agent.
pub const EXPLICIT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// A cache kept in `dir`, with the agent's stamp inside it (so removing the cache removes
/// the stamp too, and the age then says so).
pub fn cache_in(dir: &Path) -> MetadataCache {
    MetadataCache {
        dirs: vec![dir.to_path_buf()],
        stamp: Some(dir.join(STAMP_NAME)),
    }
}

/// What the cache's entries look like now: a change means the metadata changed (whoever
/// refreshed it), so an upgradable set computed before is recomputed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheMark {
    entries: usize,
    newest: Option<SystemTime>,
}

/// Names in a cache directory that are no metadata: locks, the download area, the stamp,
/// and dnf's record of expired repositories (rewritten by every dnf command).
fn counts(name: &str) -> bool {
    !matches!(name, "lock" | "partial" | STAMP_NAME | "expired_repos.json")
        && !crate::fsutil::is_temp_name(name)
}

/// The entries of the cache's directories (files, and per-repository subdirectories).
pub fn mark(cache: &MetadataCache) -> CacheMark {
    let mut mark = CacheMark::default();
    for dir in &cache.dirs {
        let Ok(read) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in read.flatten() {
            if !counts(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            mark.entries += 1;
            mark.newest = mark.newest.max(Some(modified));
        }
    }
    mark
}

/// When the metadata was last fetched or confirmed current: the newest of the cache's
/// entries and the stamp; `None` when neither exists (no cache).
pub fn refreshed_at(cache: &MetadataCache) -> Option<SystemTime> {
    refreshed_at_with(cache, mark(cache))
}

/// [`refreshed_at`] with the entries' `mark` already taken.
pub fn refreshed_at_with(cache: &MetadataCache, mark: CacheMark) -> Option<SystemTime> {
    let stamp = cache
        .stamp
        .as_deref()
        .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    mark.newest.max(stamp)
}

/// How old metadata refreshed at `at` is at `now` (zero for a time in the future).
pub fn age(at: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(at).unwrap_or(Duration::ZERO)
}

/// A [`SystemTime`] as the API writes times.
pub fn to_offset(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

/// Rewrites the stamp (temp file, fsync, rename), making its directory if needed.
pub fn write_stamp(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::fsutil::write_atomic(path, b"", 0o644)
}

/// A random delay in `0..=max` from `random` (millisecond steps).
pub fn jitter(max: Duration, random: u64) -> Duration {
    let steps = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(random % steps.saturating_add(1))
}

/// 64 random bits from the OS random source (a v4 UUID is `getrandom` output).
fn os_random() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut head = [0u8; 8];
    head.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(head)
}

/// The wait after `failures` failed refreshes in a row: [`RETRY_BASE`], doubling, never
/// more than `max_age` (nor less than the base).
pub fn backoff(failures: u32, max_age: Duration) -> Duration {
    let doubled = RETRY_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(max_age.max(RETRY_BASE))
}

/// How long until metadata of `age` (None: no cache) is older than `max_age`; a refresh of
/// this process `since_success` ago also counts, for caches whose mtimes lag behind.
pub fn due_in(
    age: Option<Duration>,
    max_age: Duration,
    since_success: Option<Duration>,
) -> Duration {
    let by_cache = age.map_or(Duration::ZERO, |a| max_age.saturating_sub(a));
    let by_memory = since_success.map_or(Duration::ZERO, |s| max_age.saturating_sub(s));
    by_cache.max(by_memory)
}

/// Whatever runs package transactions beside the refresher (the job engine): a refresh runs
/// only while it runs none.
pub trait TransactionGate: Send + Sync {
    /// Runs `f` while no package transaction runs, waiting at most `wait` for one to end;
    /// `false`, without running `f`, when none ended in time.
    fn exclusive(&self, wait: Duration, f: &mut dyn FnMut()) -> bool;
}

/// How the background refresher behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshSettings {
    /// Metadata older than this is refreshed (`package_manager.metadata_max_age_seconds`).
    pub max_age: Duration,
    /// Largest random delay before a refresh (`package_manager.metadata_refresh_jitter_seconds`).
    pub jitter: Duration,
    /// Whether this agent refreshes in the background at all (off with a max age of 0, and
    /// in read-only mode unless `package_manager.refresh_in_read_only`).
    pub enabled: bool,
}

/// What the refresher drives (the inventory), through the calls it needs: this module then
/// does not import the inventory, which imports it.
pub trait MetadataOwner: Send + Sync {
    /// Computes the upgradable set once if none is cached.
    fn warm(&self);
    /// How old the metadata is, from the cache on disk; `None` when there is none.
    fn metadata_age(&self) -> Option<Duration>;
    /// Refreshes metadata now and swaps in the set computed from it.
    fn refresh_metadata(&self) -> Result<(), PkgError>;
    /// Computes the upgradable set again if a job dropped it since the last call.
    fn rewarm_if_dropped(&self) {}
}

/// How often the refresher looks whether a job dropped the upgradable set: a scrape or
/// request after a job then finds it computed (one atomic load per tick when idle).
pub const REWARM_TICK: Duration = Duration::from_secs(5);

/// Starts the refresher: it first computes the upgradable set (so the first request finds
/// it), then refreshes when due until `stop` is signalled or dropped.
pub fn spawn(
    inventory: Arc<dyn MetadataOwner>,
    settings: RefreshSettings,
    stop: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("metadata-refresh".into())
        .spawn(move || run(inventory.as_ref(), settings, &stop))
}

fn run(inventory: &dyn MetadataOwner, settings: RefreshSettings, stop: &Receiver<()>) {
    inventory.warm();
    if !settings.enabled || settings.max_age.is_zero() {
        log::info!(
            "background metadata refreshes are off (metadata_max_age_seconds 0, or read-only \
             without package_manager.refresh_in_read_only)"
        );
        waited(inventory, stop, Duration::MAX);
        return;
    }
    let mut failures = 0u32;
    let mut last_success: Option<Instant> = None;
    loop {
        let age = inventory.metadata_age();
        let wait = due_in(age, settings.max_age, last_success.map(|t| t.elapsed()));
        if !wait.is_zero() {
            if waited(inventory, stop, wait) {
                return;
            }
            continue;
        }
        let max_jitter = match age {
            Some(_) => settings.jitter,
            None => settings.jitter.min(MISSING_CACHE_JITTER),
        };
        if stopped(stop, jitter(max_jitter, os_random())) {
            return;
        }
        let wait = match inventory.refresh_metadata() {
            Ok(()) => {
                failures = 0;
                last_success = Some(Instant::now());
                continue;
            }
            // A job held the package manager, or another process held the tool's lock.
            Err(PkgError::Locked { .. }) => RETRY_BASE,
            Err(_) => {
                failures = failures.saturating_add(1);
                backoff(failures, settings.max_age)
            }
        };
        if waited(inventory, stop, wait) {
            return;
        }
    }
}

/// Waits `d`, computing the upgradable set again every [`REWARM_TICK`] meanwhile if a job
/// dropped it; true when `stop` fired (then at once).
fn waited(inventory: &dyn MetadataOwner, stop: &Receiver<()>, d: Duration) -> bool {
    let start = Instant::now();
    loop {
        let left = d.saturating_sub(start.elapsed());
        if left.is_zero() {
            return false;
        }
        if stopped(stop, left.min(REWARM_TICK)) {
            return true;
        }
        inventory.rewarm_if_dropped();
    }
}

/// Waits `d`; true when `stop` fired (a message or every sender dropped) meanwhile.
fn stopped(stop: &Receiver<()>, d: Duration) -> bool {
    !matches!(stop.recv_timeout(d), Err(RecvTimeoutError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lpa-refresh-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn set_mtime(path: &Path, t: SystemTime) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(t).unwrap();
    }

    #[test]
    fn jitter_stays_within_its_bound_and_zero_disables_it() {
        let max = Duration::from_secs(300);
        for random in [0, 1, 299_999, 300_000, 300_001, u64::MAX, 0x1234_5678_9abc] {
            assert!(jitter(max, random) <= max, "{random}");
        }
        assert_eq!(jitter(max, 300_000), max, "the bound itself is reachable");
        assert_eq!(jitter(max, 300_001), Duration::ZERO);
        assert_eq!(jitter(Duration::ZERO, u64::MAX), Duration::ZERO);
        let spread: std::collections::HashSet<Duration> =
            (0..64).map(|_| jitter(max, os_random())).collect();
        assert!(
            spread.len() > 32,
            "OS randomness spreads the delays: {spread:?}"
        );
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_max_age() {
        let hour = Duration::from_secs(3600);
        assert_eq!(backoff(1, hour), RETRY_BASE);
        assert_eq!(backoff(2, hour), RETRY_BASE * 2);
        assert_eq!(backoff(3, hour), RETRY_BASE * 4);
        assert_eq!(backoff(30, hour), hour);
        assert_eq!(backoff(u32::MAX, hour), hour);
        assert_eq!(
            backoff(5, Duration::from_secs(2)),
            RETRY_BASE,
            "never below the base"
        );
    }

    #[test]
    fn due_in_counts_the_cache_and_this_process_refresh() {
        let max = Duration::from_secs(100);
        assert_eq!(due_in(None, max, None), Duration::ZERO, "no cache: now");
        assert_eq!(
            due_in(Some(Duration::from_secs(30)), max, None),
            Duration::from_secs(70)
        );
        assert_eq!(
            due_in(Some(Duration::from_secs(300)), max, None),
            Duration::ZERO
        );
        // The tool left the cache's mtimes old (unchanged metadata, no stamp written).
        assert_eq!(
            due_in(
                Some(Duration::from_secs(300)),
                max,
                Some(Duration::from_secs(10))
            ),
            Duration::from_secs(90)
        );
    }

    #[test]
    fn age_is_the_newest_of_entries_and_stamp_and_none_without_a_cache() {
        let dir = temp_dir("age");
        let cache = cache_in(&dir.join("cache"));
        assert_eq!(refreshed_at(&cache), None, "no directory");
        std::fs::create_dir_all(&cache.dirs[0]).unwrap();
        assert_eq!(refreshed_at(&cache), None, "an empty directory");
        let now = SystemTime::now();
        let hour_ago = now - Duration::from_secs(3600);
        let list = cache.dirs[0].join("repo_Packages");
        std::fs::write(&list, "x").unwrap();
        set_mtime(&list, hour_ago);
        // A lock file touched now is no metadata.
        std::fs::write(cache.dirs[0].join("lock"), "").unwrap();
        let at = refreshed_at(&cache).unwrap();
        assert_eq!(at, hour_ago);
        assert_eq!(age(at, now).as_secs(), 3600);
        let stamp = cache.stamp.clone().unwrap();
        write_stamp(&stamp).unwrap();
        let at = refreshed_at(&cache).unwrap();
        assert!(
            age(at, SystemTime::now()) < Duration::from_secs(60),
            "the stamp is newer"
        );
        assert_eq!(mark(&cache).entries, 1, "the stamp is not an entry");
        assert_eq!(age(now + Duration::from_secs(5), now), Duration::ZERO);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_mark_changes_when_an_entry_is_replaced_or_added() {
        let dir = temp_dir("mark");
        let cache = cache_in(&dir);
        let list = dir.join("a_Packages");
        std::fs::write(&list, "1").unwrap();
        set_mtime(&list, SystemTime::now() - Duration::from_secs(100));
        let first = mark(&cache);
        assert_eq!(first, mark(&cache));
        std::fs::write(dir.join("b_Packages"), "2").unwrap();
        let second = mark(&cache);
        assert_ne!(first, second);
        write_stamp(&dir.join(STAMP_NAME)).unwrap();
        assert_eq!(
            second,
            mark(&cache),
            "our own stamp does not invalidate the set"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
