//! The package inventory as the API serves it: the installed set read from the database and
//! cached until the database changes, and the upgradable set computed by the tool after a
//! metadata refresh, cached for `metadata_max_age` or until the installed set changes.
//!
//! A request served from these caches starts no process.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::advisories::stamp::FeedStamp;
use super::advisories::{Advisory, FeedSettings, RebootRequired};
use super::{InstalledPackage, PackageDetails, PackageManager, PkgError, Upgrade};
use crate::watch::{stamps_of, FileStamp};

/// The installed set with the database stamps it was read under.
struct InstalledCache {
    stamps: Vec<Option<FileStamp>>,
    packages: Arc<Vec<InstalledPackage>>,
}

/// A computed upgradable set and what it was computed from.
#[derive(Clone, Debug)]
pub struct UpgradeSnapshot {
    /// The upgrades the tool would make.
    pub upgrades: Arc<Vec<Upgrade>>,
    /// When they were computed.
    pub computed_at: OffsetDateTime,
    /// When the metadata they were computed from was last refreshed by this agent.
    pub metadata_refreshed_at: Option<OffsetDateTime>,
    /// Why the last refresh failed, when it did (the set was then computed from older metadata).
    pub refresh_error: Option<String>,
    stamps: Vec<Option<FileStamp>>,
    computed: Instant,
}

/// State of metadata refreshes.
#[derive(Default)]
struct RefreshState {
    last_success: Option<(Instant, OffsetDateTime)>,
    last_error: Option<String>,
    snapshot: Option<UpgradeSnapshot>,
}

/// The patches over one upgradable snapshot.
#[derive(Clone, Debug)]
pub struct AdvisorySnapshot {
    /// Every patch, security or not.
    pub advisories: Arc<Vec<Advisory>>,
    /// The upgradable set they were computed over.
    pub upgrades: UpgradeSnapshot,
}

/// Patches computed over the upgrades of `computed_at` and the feeds as stamped.
struct AdvisoryCache {
    computed_at: OffsetDateTime,
    feeds: Vec<Option<FeedStamp>>,
    advisories: Arc<Vec<Advisory>>,
}

/// The reboot signal, with the database stamps it was read under.
struct RebootCache {
    stamps: Vec<Option<FileStamp>>,
    at: Instant,
    value: RebootRequired,
}

/// A reboot signal is asked again after this long even when the database did not change
/// (a marker file may appear without a package change, e.g. after a firmware update).
const REBOOT_SIGNAL_MAX_AGE: Duration = Duration::from_secs(30);

/// The cached inventory over one backend.
pub struct Inventory {
    backend: Arc<dyn PackageManager>,
    max_age: Duration,
    db_paths: Vec<PathBuf>,
    installed: Mutex<Option<InstalledCache>>,
    // One lock for refresh + compute: concurrent requests wait for one computation
    // (single flight) instead of running the tool several times at once.
    upgrades: Mutex<RefreshState>,
    feed: FeedSettings,
    advisories: Mutex<Option<AdvisoryCache>>,
    reboot: Mutex<Option<RebootCache>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a cache that is at worst stale; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inventory {
    /// An inventory over `backend`, refreshing metadata older than `max_age`.
    pub fn new(backend: Arc<dyn PackageManager>, max_age: Duration) -> Inventory {
        let db_paths = backend.database_paths();
        Inventory {
            backend,
            max_age,
            db_paths,
            installed: Mutex::new(None),
            upgrades: Mutex::new(RefreshState::default()),
            feed: FeedSettings::default(),
            advisories: Mutex::new(None),
            reboot: Mutex::new(None),
        }
    }

    /// Reads advisories from this feed (families with feeds: apt, apk, pacman).
    pub fn with_feed(mut self, feed: FeedSettings) -> Inventory {
        self.feed = feed;
        self
    }

    /// The feed advisories are read from.
    pub fn feed(&self) -> &FeedSettings {
        &self.feed
    }

    /// Every patch over the current upgradable set; recomputed when that set or a feed
    /// (file, or any record of an OSV record directory) changes.
    pub fn advisories(&self) -> Result<AdvisorySnapshot, PkgError> {
        let upgrades = self.upgrades()?;
        // An OSV record directory is stamped by its records, not its own metadata.
        let feeds: Vec<Option<FeedStamp>> = self
            .feed
            .feeds
            .iter()
            .map(|f| FeedStamp::lenient(&f.path))
            .collect();
        let mut cache = lock(&self.advisories);
        if let Some(c) = cache.as_ref() {
            if c.computed_at == upgrades.computed_at && c.feeds == feeds {
                return Ok(AdvisorySnapshot {
                    advisories: Arc::clone(&c.advisories),
                    upgrades,
                });
            }
        }
        let advisories = Arc::new(self.backend.advisories(&upgrades.upgrades, &self.feed)?);
        *cache = Some(AdvisoryCache {
            computed_at: upgrades.computed_at,
            feeds,
            advisories: Arc::clone(&advisories),
        });
        Ok(AdvisorySnapshot {
            advisories,
            upgrades,
        })
    }

    /// Whether the host needs a reboot; asked again when the database changes, and at
    /// most every 30 s otherwise.
    pub fn reboot_required(&self) -> Result<RebootRequired, PkgError> {
        let stamps = stamps_of(&self.db_paths);
        let mut cache = lock(&self.reboot);
        if let Some(c) = cache.as_ref() {
            if c.stamps == stamps && c.at.elapsed() < REBOOT_SIGNAL_MAX_AGE {
                return Ok(c.value.clone());
            }
        }
        let value = self.backend.reboot_required()?;
        *cache = Some(RebootCache {
            stamps,
            at: Instant::now(),
            value: value.clone(),
        });
        Ok(value)
    }

    /// The backend behind this inventory.
    pub fn backend(&self) -> &Arc<dyn PackageManager> {
        &self.backend
    }

    /// The installed set; re-read only when the database files changed.
    pub fn installed(&self) -> Result<Arc<Vec<InstalledPackage>>, PkgError> {
        let stamps = stamps_of(&self.db_paths);
        let mut cache = lock(&self.installed);
        if let Some(c) = cache.as_ref() {
            if c.stamps == stamps {
                return Ok(Arc::clone(&c.packages));
            }
        }
        let packages = Arc::new(self.backend.installed()?);
        *cache = Some(InstalledCache {
            stamps,
            packages: Arc::clone(&packages),
        });
        Ok(packages)
    }

    /// Details of one installed package, `Ok(None)` when it is not installed.
    pub fn details(&self, name: &str) -> Result<Option<PackageDetails>, PkgError> {
        self.backend.validate_name(name)?;
        self.backend.details(name)
    }

    /// The upgradable set: cached while the installed set is unchanged and younger than the
    /// max age; otherwise metadata older than the max age is refreshed and the set recomputed.
    pub fn upgrades(&self) -> Result<UpgradeSnapshot, PkgError> {
        let mut state = lock(&self.upgrades);
        let stamps = stamps_of(&self.db_paths);
        if let Some(s) = state.snapshot.as_ref() {
            if s.stamps == stamps && s.computed.elapsed() < self.max_age {
                return Ok(s.clone());
            }
        }
        self.refresh_if_stale(&mut state);
        let upgrades = Arc::new(self.backend.upgradable()?);
        let snapshot = UpgradeSnapshot {
            upgrades,
            computed_at: OffsetDateTime::now_utc(),
            metadata_refreshed_at: state.last_success.map(|(_, at)| at),
            refresh_error: state.last_error.clone(),
            stamps,
            computed: Instant::now(),
        };
        state.snapshot = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// The last computed upgradable set, if any, without computing one.
    pub fn cached_upgrades(&self) -> Option<UpgradeSnapshot> {
        lock(&self.upgrades).snapshot.clone()
    }

    /// Forgets the computed upgradable set (after a mutation, or on request).
    pub fn invalidate_upgrades(&self) {
        lock(&self.upgrades).snapshot = None;
    }

    /// Refreshes metadata now, whatever its age; the next upgradable query recomputes.
    pub fn refresh(&self) -> Result<(), PkgError> {
        let mut state = lock(&self.upgrades);
        state.snapshot = None;
        self.backend.refresh().map(|()| {
            state.last_success = Some((Instant::now(), OffsetDateTime::now_utc()));
            state.last_error = None;
        })
    }

    fn refresh_if_stale(&self, state: &mut RefreshState) {
        let fresh = state
            .last_success
            .is_some_and(|(at, _)| at.elapsed() < self.max_age);
        if fresh {
            return;
        }
        match self.backend.refresh() {
            Ok(()) => {
                state.last_success = Some((Instant::now(), OffsetDateTime::now_utc()));
                state.last_error = None;
            }
            Err(e) => {
                // Offline hosts still answer from the metadata they have; the answer says so.
                log::warn!(
                    "{} metadata refresh failed, using existing metadata: {e}",
                    self.backend.kind().name()
                );
                state.last_error = Some(e.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::BackendKind;
    use std::cmp::Ordering;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

    /// A backend over a database file in a temp dir, counting every call.
    struct Fake {
        db: PathBuf,
        reads: AtomicUsize,
        refreshes: AtomicUsize,
        computes: AtomicUsize,
        refresh_fails: bool,
    }

    impl PackageManager for Fake {
        crate::pkg::read_only_mutations!();

        fn available_versions(&self, _name: &str) -> Result<Vec<String>, PkgError> {
            Ok(Vec::new())
        }
        fn kind(&self) -> BackendKind {
            BackendKind::Apt
        }
        fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
            self.reads.fetch_add(1, AtomicOrdering::SeqCst);
            let text = std::fs::read_to_string(&self.db).map_err(|error| PkgError::Io {
                what: "db".into(),
                error,
            })?;
            Ok(text
                .lines()
                .map(|name| InstalledPackage {
                    name: name.to_string(),
                    version: "1".into(),
                    arch: None,
                    description: String::new(),
                    size_bytes: None,
                    installed_at: None,
                    maintainer: None,
                    depends: Vec::new(),
                })
                .collect())
        }
        fn database_paths(&self) -> Vec<PathBuf> {
            vec![self.db.clone()]
        }
        fn details(&self, _name: &str) -> Result<Option<PackageDetails>, PkgError> {
            Ok(None)
        }
        fn refresh(&self) -> Result<(), PkgError> {
            self.refreshes.fetch_add(1, AtomicOrdering::SeqCst);
            if self.refresh_fails {
                return Err(PkgError::Unsupported("offline".into()));
            }
            Ok(())
        }
        fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
            self.computes.fetch_add(1, AtomicOrdering::SeqCst);
            Ok(vec![Upgrade {
                name: "a".into(),
                current_version: "1".into(),
                available_version: "2".into(),
                arch: None,
                origins: Vec::new(),
            }])
        }
        fn compare_versions(&self, a: &str, b: &str) -> Ordering {
            a.cmp(b)
        }
        fn validate_name(&self, _name: &str) -> Result<(), PkgError> {
            Ok(())
        }
        fn validate_version(&self, _version: &str) -> Result<(), PkgError> {
            Ok(())
        }
    }

    fn fake(tag: &str, refresh_fails: bool) -> Arc<Fake> {
        let dir = std::env::temp_dir().join(format!("lpa-inv-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("status");
        std::fs::write(&db, "a\nb\n").unwrap();
        Arc::new(Fake {
            db,
            reads: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            computes: AtomicUsize::new(0),
            refresh_fails,
        })
    }

    fn rewrite(db: &std::path::Path, text: &str) {
        // Replace by rename, as dpkg does, so the stamp changes whatever the clock says.
        let tmp = db.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, db).unwrap();
    }

    #[test]
    fn installed_is_read_once_until_the_database_changes() {
        let f = fake("installed", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        assert_eq!(inv.installed().unwrap().len(), 2);
        assert_eq!(inv.installed().unwrap().len(), 2);
        assert_eq!(f.reads.load(AtomicOrdering::SeqCst), 1);
        rewrite(&f.db, "a\nb\nc\n");
        assert_eq!(inv.installed().unwrap().len(), 3);
        assert_eq!(f.reads.load(AtomicOrdering::SeqCst), 2);
    }

    #[test]
    fn upgrades_are_cached_and_recomputed_without_refresh_when_the_database_changes() {
        let f = fake("upgrades", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        let first = inv.upgrades().unwrap();
        assert_eq!(first.upgrades.len(), 1);
        assert!(first.metadata_refreshed_at.is_some() && first.refresh_error.is_none());
        inv.upgrades().unwrap();
        assert_eq!(f.refreshes.load(AtomicOrdering::SeqCst), 1);
        assert_eq!(f.computes.load(AtomicOrdering::SeqCst), 1);
        rewrite(&f.db, "a\n");
        inv.upgrades().unwrap();
        assert_eq!(
            f.refreshes.load(AtomicOrdering::SeqCst),
            1,
            "metadata still fresh"
        );
        assert_eq!(
            f.computes.load(AtomicOrdering::SeqCst),
            2,
            "installed set changed"
        );
    }

    #[test]
    fn zero_max_age_refreshes_every_time() {
        let f = fake("zero", false);
        let inv = Inventory::new(f.clone(), Duration::ZERO);
        inv.upgrades().unwrap();
        inv.upgrades().unwrap();
        assert_eq!(f.refreshes.load(AtomicOrdering::SeqCst), 2);
        assert_eq!(f.computes.load(AtomicOrdering::SeqCst), 2);
    }

    #[test]
    fn failed_refresh_is_reported_and_the_set_still_computed() {
        let f = fake("offline", true);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        let snap = inv.upgrades().unwrap();
        assert!(snap.metadata_refreshed_at.is_none());
        assert!(snap.refresh_error.as_deref().unwrap().contains("offline"));
        assert_eq!(snap.upgrades.len(), 1);
    }
}
