//! The package inventory as the API serves it: the installed set read from the database and
//! cached until the database changes, and the upgradable set computed by the tool from the
//! metadata it has, cached until the installed set or the metadata changes.
//!
//! A request served from these caches starts no process, and no request refreshes metadata
//! except an explicit `?refresh=true`: the background refresher ([`super::refresh`]) does,
//! then swaps in the set computed from the new metadata.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError, Weak};
use std::time::{Duration, Instant, SystemTime};

use time::OffsetDateTime;

use super::advisories::stamp::FeedStamp;
use super::advisories::{Advisory, FeedSettings, RebootRequired};
use super::refresh::{self, CacheMark, MetadataOwner, TransactionGate};
use super::snapshot_store::{self, db_stamps, DbStamp, LoadError, SnapshotKey};
use super::{InstalledPackage, MetadataCache, PackageDetails, PackageManager, PkgError, Upgrade};
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
    /// When the metadata was last fetched or confirmed current (read from the tool's cache
    /// when the snapshot is handed out); `None` when there is no cache.
    pub metadata_refreshed_at: Option<OffsetDateTime>,
    /// Why the last refresh failed, when it did (the set was then computed from older metadata).
    pub refresh_error: Option<String>,
    stamps: Vec<Option<DbStamp>>,
    mark: CacheMark,
}

/// Outcomes of this process's metadata refreshes.
#[derive(Default)]
struct RefreshStatus {
    last_error: Option<String>,
    last_explicit: Option<Instant>,
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
    cache: MetadataCache,
    installed: Mutex<Option<InstalledCache>>,
    snapshot: Mutex<Option<UpgradeSnapshot>>,
    // Held while the set is computed: concurrent requests wait for one computation (single
    // flight) instead of running the tool several times at once.
    compute: Mutex<()>,
    // One refresh at a time (background or explicit); never held by a request otherwise.
    refreshing: Mutex<()>,
    status: Mutex<RefreshStatus>,
    gate: OnceLock<Weak<dyn TransactionGate>>,
    lock_wait: Duration,
    feed: FeedSettings,
    advisories: Mutex<Option<AdvisoryCache>>,
    reboot: Mutex<Option<RebootCache>>,
    holds: super::holds::HoldCache,
    // Where the computed set is persisted for the next process; None keeps it in memory only.
    store: Option<PathBuf>,
    // Set when a job dropped the set: the refresher computes it again in the background.
    rewarm: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a cache that is at worst stale; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inventory {
    /// An inventory over `backend`, whose metadata is due for a refresh after `max_age`.
    pub fn new(backend: Arc<dyn PackageManager>, max_age: Duration) -> Inventory {
        let db_paths = backend.database_paths();
        let cache = backend.metadata_cache();
        Inventory {
            backend,
            max_age,
            db_paths,
            cache,
            installed: Mutex::new(None),
            snapshot: Mutex::new(None),
            compute: Mutex::new(()),
            refreshing: Mutex::new(()),
            status: Mutex::new(RefreshStatus::default()),
            gate: OnceLock::new(),
            lock_wait: Duration::from_secs(120),
            feed: FeedSettings::default(),
            advisories: Mutex::new(None),
            reboot: Mutex::new(None),
            holds: super::holds::HoldCache::default(),
            store: None,
            rewarm: AtomicBool::new(false),
        }
    }

    /// Persists each computed upgradable set at `path` and, now, takes in the one saved
    /// there by the previous process if it was computed under the current database and
    /// metadata stamps (so the first request after a restart runs no tool). Any other file
    /// is ignored with one log line (a damaged one is moved aside).
    pub fn with_store(mut self, path: PathBuf) -> Inventory {
        self.load_saved(&path);
        self.store = Some(path);
        self
    }

    /// The key the set would be saved under now, with the stamps and mark as taken.
    fn key(&self, db: Vec<Option<DbStamp>>, cache: CacheMark) -> SnapshotKey {
        SnapshotKey {
            backend: self.backend.kind().name().to_string(),
            db_paths: self.db_paths.clone(),
            db,
            cache_dirs: self.cache.dirs.clone(),
            cache,
        }
    }

    fn load_saved(&self, path: &std::path::Path) {
        let name = self.backend.kind().name();
        let stamps = db_stamps(&self.db_paths);
        let mark = refresh::mark(&self.cache);
        match snapshot_store::load(path, &self.key(stamps.clone(), mark)) {
            Ok(loaded) => {
                log::info!(
                    "{name}: upgradable set loaded from {} ({} upgrades, computed {}); \
                     stamps match, the tool is not run",
                    path.display(),
                    loaded.upgrades.len(),
                    loaded.computed_at
                );
                *lock(&self.snapshot) = Some(UpgradeSnapshot {
                    upgrades: loaded.upgrades,
                    computed_at: loaded.computed_at,
                    metadata_refreshed_at: None,
                    refresh_error: None,
                    stamps,
                    mark,
                });
            }
            Err(LoadError::Missing) => {
                log::info!("{name}: no saved upgradable set at {}", path.display())
            }
            Err(e) => log::info!(
                "{name}: saved upgradable set at {} not used: {e}; computing it",
                path.display()
            ),
        }
    }

    /// Saves `s` for the next process; a failure only costs that process a computation.
    fn save(&self, s: &UpgradeSnapshot) {
        let Some(path) = &self.store else {
            return;
        };
        let key = self.key(s.stamps.clone(), s.mark);
        if let Err(e) = snapshot_store::save(path, &key, s.computed_at, &s.upgrades) {
            log::warn!("cannot save the upgradable set to {}: {e}", path.display());
        }
    }

    /// A refresh waits at most `wait` for a package job to end (`package_manager.lock_wait_seconds`).
    pub fn with_lock_wait(mut self, wait: Duration) -> Inventory {
        self.lock_wait = wait;
        self
    }

    /// Refreshes run only while `gate` (the job engine) runs no package transaction; set
    /// once, after the engine started (it holds this inventory, hence the weak reference).
    pub fn set_gate(&self, gate: Weak<dyn TransactionGate>) {
        let _ = self.gate.set(gate);
    }

    /// Metadata older than this is due for a refresh.
    pub fn max_age(&self) -> Duration {
        self.max_age
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
        self.read_into(&mut cache, stamps)
    }

    /// The installed set read from the database now, whatever is kept (a job's reads
    /// before and after its transaction must be exact), and kept for
    /// [`Inventory::installed`]: the request after a job, a poll of the packages or the
    /// check of the next job, then needs no read of its own.
    pub fn read_installed(&self) -> Result<Arc<Vec<InstalledPackage>>, PkgError> {
        let stamps = stamps_of(&self.db_paths);
        self.read_into(&mut lock(&self.installed), stamps)
    }

    /// Reads the installed set and keeps it in `cache` under `stamps`, taken before the
    /// read so that a change during it shows. The caller holds the cache's lock across the
    /// read: concurrent requests wait for this read instead of making their own.
    fn read_into(
        &self,
        cache: &mut Option<InstalledCache>,
        stamps: Vec<Option<FileStamp>>,
    ) -> Result<Arc<Vec<InstalledPackage>>, PkgError> {
        let packages = Arc::new(self.backend.installed()?);
        *cache = Some(InstalledCache {
            stamps,
            packages: Arc::clone(&packages),
        });
        Ok(packages)
    }

    /// The held package names, sorted; re-read only when the backend's hold files changed.
    pub fn holds(&self) -> Result<Arc<Vec<String>>, PkgError> {
        self.holds.get(self.backend.as_ref())
    }

    /// Forgets the kept hold set after the agent changed a hold.
    pub fn invalidate_holds(&self) {
        self.holds.invalidate();
    }

    /// Details of one installed package, `Ok(None)` when it is not installed.
    pub fn details(&self, name: &str) -> Result<Option<PackageDetails>, PkgError> {
        self.backend.validate_name(name)?;
        self.backend.details(name)
    }

    /// The upgradable set: the cached one while the installed set and the metadata are
    /// unchanged; otherwise computed by the tool from the metadata it has (never refreshed
    /// here). While a refresh runs, or the set is recomputed after one, the set it replaces
    /// is served.
    pub fn upgrades(&self) -> Result<UpgradeSnapshot, PkgError> {
        let stamps = db_stamps(&self.db_paths);
        let mark = refresh::mark(&self.cache);
        if let Some(s) = self.current(&stamps, mark) {
            return Ok(self.annotate(s, mark));
        }
        if self.taking_in_new_metadata() {
            // The set being replaced is still right for the installed packages, and the
            // tool may read half-written metadata meanwhile.
            if let Some(s) = lock(&self.snapshot).clone().filter(|s| s.stamps == stamps) {
                return Ok(self.annotate(s, mark));
            }
        }
        let _computing = lock(&self.compute);
        // Another request may have computed it while this one waited.
        let mark = refresh::mark(&self.cache);
        if let Some(s) = self.current(&stamps, mark) {
            return Ok(self.annotate(s, mark));
        }
        self.compute_now(stamps).map(|s| {
            let mark = s.mark;
            self.annotate(s, mark)
        })
    }

    /// Whether a refresh, or the computation after one, is running now.
    fn taking_in_new_metadata(&self) -> bool {
        let busy = |r: Result<MutexGuard<'_, ()>, TryLockError<MutexGuard<'_, ()>>>| {
            matches!(r, Err(TryLockError::WouldBlock))
        };
        busy(self.refreshing.try_lock()) || busy(self.compute.try_lock())
    }

    fn current(&self, stamps: &[Option<DbStamp>], mark: CacheMark) -> Option<UpgradeSnapshot> {
        lock(&self.snapshot)
            .as_ref()
            .filter(|s| s.stamps == stamps && s.mark == mark)
            .cloned()
    }

    /// Runs the tool and stores its set; the caller holds `compute`. The cache's mark is
    /// taken afterwards: some tools write their cache while they compute (dnf with
    /// `metadata_expire=0` fetches then), which must not make the set look outdated.
    fn compute_now(&self, stamps: Vec<Option<DbStamp>>) -> Result<UpgradeSnapshot, PkgError> {
        let upgrades = match self.backend.upgradable() {
            Ok(u) => u,
            // No metadata at all yet (pacman before its first -Sy fails): nothing is known
            // to be upgradable, and the answer says there is no metadata.
            Err(e) if self.has_no_metadata() => {
                log::info!(
                    "{}: no repository metadata yet ({e}); no upgrades known until a refresh",
                    self.backend.kind().name()
                );
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let snapshot = UpgradeSnapshot {
            upgrades: Arc::new(upgrades),
            computed_at: OffsetDateTime::now_utc(),
            metadata_refreshed_at: None,
            refresh_error: None,
            stamps,
            mark: refresh::mark(&self.cache),
        };
        log::info!(
            "{}: upgradable set computed by the tool ({} upgrades)",
            self.backend.kind().name(),
            snapshot.upgrades.len()
        );
        *lock(&self.snapshot) = Some(snapshot.clone());
        self.save(&snapshot);
        Ok(snapshot)
    }

    /// Whether the backend keeps a metadata cache and it holds nothing.
    fn has_no_metadata(&self) -> bool {
        !self.cache.dirs.is_empty() && refresh::refreshed_at(&self.cache).is_none()
    }

    /// Recomputes the set now (after new metadata) and swaps it in.
    fn recompute(&self) -> Result<UpgradeSnapshot, PkgError> {
        let _computing = lock(&self.compute);
        self.compute_now(db_stamps(&self.db_paths))
    }

    /// The snapshot with the freshness of the metadata as it is now.
    fn annotate(&self, mut s: UpgradeSnapshot, mark: CacheMark) -> UpgradeSnapshot {
        s.metadata_refreshed_at =
            refresh::refreshed_at_with(&self.cache, mark).map(refresh::to_offset);
        s.refresh_error = lock(&self.status).last_error.clone();
        s
    }

    /// Reads the installed set and computes the upgradable one if none is cached (the
    /// refresher does at start, so that the first request finds both); a failure is logged,
    /// and the next request tries again.
    pub fn warm(&self) {
        if let Err(e) = self.installed() {
            log::warn!(
                "{}: cannot read the installed packages yet: {e}",
                self.backend.kind().name()
            );
        }
        if let Err(e) = self.upgrades() {
            log::warn!(
                "{}: cannot compute the upgradable packages yet: {e}",
                self.backend.kind().name()
            );
        }
    }

    /// How old the metadata is, from the tool's cache on disk; `None` when there is none.
    pub fn metadata_age(&self) -> Option<Duration> {
        refresh::refreshed_at(&self.cache).map(|at| refresh::age(at, SystemTime::now()))
    }

    /// The last computed upgradable set, if any, without computing one.
    pub fn cached_upgrades(&self) -> Option<UpgradeSnapshot> {
        lock(&self.snapshot).clone()
    }

    /// The patches last computed over the cached upgradable set, if both are still cached,
    /// without computing anything (what a metrics scrape may read).
    pub fn cached_advisories(&self) -> Option<Arc<Vec<Advisory>>> {
        let computed_at = lock(&self.snapshot).as_ref()?.computed_at;
        lock(&self.advisories)
            .as_ref()
            .filter(|c| c.computed_at == computed_at)
            .map(|c| Arc::clone(&c.advisories))
    }

    /// The reboot signal as last read, however old, without asking the backend again (for
    /// some backends that runs a tool); none before the first read.
    pub fn cached_reboot_required(&self) -> Option<RebootRequired> {
        lock(&self.reboot).as_ref().map(|c| c.value.clone())
    }

    /// Forgets the computed upgradable set (after a mutation, or on request); the refresher
    /// computes it again soon, so the next request or metrics scrape need not wait for it.
    pub fn invalidate_upgrades(&self) {
        *lock(&self.snapshot) = None;
        self.rewarm.store(true, AtomicOrdering::SeqCst);
    }

    /// Computes the upgradable set again if it was dropped since the last call, while no
    /// package job runs (waiting for none: a job then running drops it again when it ends).
    fn rewarm_if_dropped(&self) {
        if !self.rewarm.swap(false, AtomicOrdering::SeqCst) {
            return;
        }
        let Some(gate) = self.gate.get().and_then(Weak::upgrade) else {
            self.warm();
            return;
        };
        if !gate.exclusive(Duration::ZERO, &mut || self.warm()) {
            // A job holds the package manager: try again on the next tick.
            self.rewarm.store(true, AtomicOrdering::SeqCst);
        }
    }

    /// Refreshes metadata now, while no package job runs (waiting at most the lock wait),
    /// writes the stamp, and swaps in the set computed from the new metadata. The outcome
    /// is recorded for the answers (`metadata_refresh_error`).
    pub fn refresh_metadata(&self) -> Result<(), PkgError> {
        let _one = lock(&self.refreshing);
        let name = self.backend.kind().name();
        let result = self.exclusive(|| self.backend.refresh());
        match &result {
            Ok(()) => {
                if let Some(stamp) = &self.cache.stamp {
                    if let Err(e) = refresh::write_stamp(stamp) {
                        log::warn!("{name}: cannot write {}: {e}", stamp.display());
                    }
                }
                lock(&self.status).last_error = None;
                log::info!("{name}: repository metadata refreshed");
                if let Err(e) = self.recompute() {
                    log::warn!("{name}: cannot compute the upgradable packages: {e}");
                }
            }
            Err(e) => {
                // Offline hosts still answer from the metadata they have; the answer says so.
                log::warn!("{name}: metadata refresh failed, using existing metadata: {e}");
                lock(&self.status).last_error = Some(e.to_string());
            }
        }
        result
    }

    /// `?refresh=true`: refreshes now unless an explicit refresh ran within
    /// [`refresh::EXPLICIT_REFRESH_INTERVAL`]; `Err(retry_after)` then. A failed refresh is
    /// `Ok`: it is recorded, and the read is answered from the metadata there is.
    pub fn refresh_explicit(&self) -> Result<(), Duration> {
        {
            let mut status = lock(&self.status);
            if let Some(at) = status.last_explicit {
                let left = refresh::EXPLICIT_REFRESH_INTERVAL.saturating_sub(at.elapsed());
                if !left.is_zero() {
                    return Err(left);
                }
            }
            status.last_explicit = Some(Instant::now());
        }
        let _ = self.refresh_metadata();
        Ok(())
    }

    /// Runs `f` under the gate when one is set (no package job meanwhile).
    fn exclusive<T>(&self, f: impl FnOnce() -> Result<T, PkgError>) -> Result<T, PkgError> {
        let Some(gate) = self.gate.get().and_then(Weak::upgrade) else {
            return f();
        };
        let mut f = Some(f);
        let mut out = None;
        let ran = gate.exclusive(self.lock_wait, &mut || {
            if let Some(f) = f.take() {
                out = Some(f());
            }
        });
        match out {
            Some(result) if ran => result,
            _ => Err(PkgError::Locked {
                tool: "a package job".into(),
                waited: self.lock_wait,
            }),
        }
    }
}

impl MetadataOwner for Inventory {
    fn warm(&self) {
        Inventory::warm(self)
    }
    fn metadata_age(&self) -> Option<Duration> {
        Inventory::metadata_age(self)
    }
    fn refresh_metadata(&self) -> Result<(), PkgError> {
        Inventory::refresh_metadata(self)
    }
    fn rewarm_if_dropped(&self) {
        Inventory::rewarm_if_dropped(self)
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
        compute_fails: std::sync::atomic::AtomicBool,
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
        fn metadata_cache(&self) -> MetadataCache {
            refresh::cache_in(&self.db.with_file_name("lists"))
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
            if self.compute_fails.load(AtomicOrdering::SeqCst) {
                return Err(PkgError::Unsupported("no sync database".into()));
            }
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
            compute_fails: Default::default(),
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
    fn a_fresh_read_always_reads_and_serves_the_next_request() {
        let f = fake("fresh-read", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        assert_eq!(inv.installed().unwrap().len(), 2);
        // A job's read goes to the database even when nothing changed...
        assert_eq!(inv.read_installed().unwrap().len(), 2);
        assert_eq!(f.reads.load(AtomicOrdering::SeqCst), 2);
        rewrite(&f.db, "a\nb\nc\n");
        assert_eq!(inv.read_installed().unwrap().len(), 3);
        assert_eq!(f.reads.load(AtomicOrdering::SeqCst), 3);
        // ...and the set it read is the one served next, with no read of its own.
        assert_eq!(inv.installed().unwrap().len(), 3);
        assert_eq!(f.reads.load(AtomicOrdering::SeqCst), 3);
        // A change after that read is still seen.
        rewrite(&f.db, "a\n");
        assert_eq!(inv.installed().unwrap().len(), 1);
        assert_eq!(f.reads.load(AtomicOrdering::SeqCst), 4);
    }

    fn count(a: &AtomicUsize) -> usize {
        a.load(AtomicOrdering::SeqCst)
    }

    #[test]
    fn upgrades_are_computed_without_a_refresh_and_recomputed_when_the_database_changes() {
        let f = fake("upgrades", false);
        let inv = Inventory::new(f.clone(), Duration::ZERO);
        let first = inv.upgrades().unwrap();
        assert_eq!(first.upgrades.len(), 1);
        assert!(first.metadata_refreshed_at.is_none(), "no cache: no age");
        inv.upgrades().unwrap();
        assert_eq!((count(&f.refreshes), count(&f.computes)), (0, 1));
        rewrite(&f.db, "a\n");
        inv.upgrades().unwrap();
        assert_eq!(count(&f.computes), 2, "installed set changed");
        assert_eq!(
            count(&f.refreshes),
            0,
            "a read never refreshes, whatever the age"
        );
    }

    #[test]
    fn metadata_written_by_someone_else_is_taken_in_and_dated_by_its_mtime() {
        let f = fake("lists", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        inv.upgrades().unwrap();
        let lists = f.db.with_file_name("lists");
        std::fs::create_dir_all(&lists).unwrap();
        let list = lists.join("repo_Packages");
        std::fs::write(&list, "x").unwrap();
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        let file = std::fs::File::options().write(true).open(&list).unwrap();
        file.set_modified(two_hours_ago).unwrap();
        let snap = inv.upgrades().unwrap();
        assert_eq!(count(&f.computes), 2, "new metadata: recomputed");
        assert_eq!(count(&f.refreshes), 0);
        assert_eq!(
            snap.metadata_refreshed_at,
            Some(OffsetDateTime::from(two_hours_ago))
        );
        let age = inv.metadata_age().unwrap().as_secs();
        assert!((7200..7260).contains(&age), "{age}");
    }

    #[test]
    fn a_refresh_writes_the_stamp_and_swaps_in_a_new_set() {
        let f = fake("refresh", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        let before = inv.upgrades().unwrap();
        inv.refresh_metadata().unwrap();
        assert_eq!((count(&f.refreshes), count(&f.computes)), (1, 2));
        let after = inv.cached_upgrades().unwrap();
        assert!(after.computed_at >= before.computed_at);
        let snap = inv.upgrades().unwrap();
        assert_eq!(count(&f.computes), 2, "the swapped-in set is served");
        assert!(snap.refresh_error.is_none());
        assert!(
            inv.metadata_age().unwrap() < Duration::from_secs(60),
            "stamp written"
        );
        assert!(snap.metadata_refreshed_at.is_some());
    }

    #[test]
    fn failed_refresh_is_reported_and_the_set_still_served() {
        let f = fake("offline", true);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        assert!(inv.refresh_metadata().is_err());
        let snap = inv.upgrades().unwrap();
        assert!(snap.metadata_refreshed_at.is_none());
        assert!(snap.refresh_error.as_deref().unwrap().contains("offline"));
        assert_eq!(snap.upgrades.len(), 1);
    }

    #[test]
    fn explicit_refreshes_are_rate_limited() {
        let f = fake("explicit", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        assert_eq!(inv.refresh_explicit(), Ok(()));
        let retry = inv.refresh_explicit().unwrap_err();
        assert!(retry > Duration::ZERO && retry <= refresh::EXPLICIT_REFRESH_INTERVAL);
        assert_eq!(count(&f.refreshes), 1);
    }

    /// A gate that is always busy, or always free, counting its uses.
    struct Gate {
        free: bool,
        asked: AtomicUsize,
    }

    impl TransactionGate for Gate {
        fn exclusive(&self, _wait: Duration, f: &mut dyn FnMut()) -> bool {
            self.asked.fetch_add(1, AtomicOrdering::SeqCst);
            if self.free {
                f();
            }
            self.free
        }
    }

    #[test]
    fn a_refresh_waits_for_the_gate_and_gives_up_when_a_job_holds_it() {
        let f = fake("gate", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        let busy: Arc<dyn TransactionGate> = Arc::new(Gate {
            free: false,
            asked: AtomicUsize::new(0),
        });
        inv.set_gate(Arc::downgrade(&busy));
        let e = inv.refresh_metadata().unwrap_err();
        assert!(matches!(e, PkgError::Locked { .. }), "{e}");
        assert_eq!(count(&f.refreshes), 0, "never beside a job");
        let f = fake("gate-free", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        let free = Arc::new(Gate {
            free: true,
            asked: AtomicUsize::new(0),
        });
        let weak: Arc<dyn TransactionGate> = free.clone();
        inv.set_gate(Arc::downgrade(&weak));
        inv.refresh_metadata().unwrap();
        assert_eq!((count(&f.refreshes), count(&free.asked)), (1, 1));
    }

    #[test]
    fn while_new_metadata_is_taken_in_the_previous_set_is_served() {
        let f = fake("swap", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        let old = inv.upgrades().unwrap();
        let lists = f.db.with_file_name("lists");
        std::fs::create_dir_all(&lists).unwrap();
        std::fs::write(lists.join("repo_Packages"), "x").unwrap();
        let computing = lock(&inv.compute);
        let served = inv.upgrades().unwrap();
        assert_eq!(
            served.computed_at, old.computed_at,
            "no wait on the computation"
        );
        assert_eq!(count(&f.computes), 1);
        drop(computing);
        let refreshing = lock(&inv.refreshing);
        assert_eq!(inv.upgrades().unwrap().computed_at, old.computed_at);
        assert_eq!(count(&f.computes), 1, "nor on a refresh in progress");
        drop(refreshing);
        inv.upgrades().unwrap();
        assert_eq!(count(&f.computes), 2, "then the new metadata is taken in");
    }

    #[test]
    fn without_any_metadata_a_failing_computation_means_no_upgrades_known() {
        let f = fake("nometa", false);
        f.compute_fails.store(true, AtomicOrdering::SeqCst);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        let snap = inv.upgrades().unwrap();
        assert!(snap.upgrades.is_empty() && snap.metadata_refreshed_at.is_none());
        // With metadata present the tool's failure is the answer.
        let lists = f.db.with_file_name("lists");
        std::fs::create_dir_all(&lists).unwrap();
        std::fs::write(lists.join("repo_Packages"), "x").unwrap();
        let e = inv.upgrades().unwrap_err();
        assert!(e.to_string().contains("no sync database"), "{e}");
    }

    #[test]
    fn a_restarted_inventory_serves_the_saved_set_until_a_stamp_changes() {
        let f = fake("saved", false);
        let path = f.db.with_file_name("inventory").join("upgrades.json");
        let first = Inventory::new(f.clone(), Duration::from_secs(3600)).with_store(path.clone());
        let computed = first.upgrades().unwrap();
        assert_eq!(count(&f.computes), 1);
        drop(first);

        let again = Inventory::new(f.clone(), Duration::from_secs(3600)).with_store(path.clone());
        let served = again.upgrades().unwrap();
        assert_eq!(count(&f.computes), 1, "served from the saved set");
        assert_eq!(*served.upgrades, *computed.upgrades);
        assert_eq!(served.computed_at, computed.computed_at);

        // New metadata behind the agent's back: the saved set is not served.
        let lists = f.db.with_file_name("lists");
        std::fs::create_dir_all(&lists).unwrap();
        std::fs::write(lists.join("repo_Packages"), "x").unwrap();
        let after_meta =
            Inventory::new(f.clone(), Duration::from_secs(3600)).with_store(path.clone());
        after_meta.upgrades().unwrap();
        assert_eq!(count(&f.computes), 2, "metadata changed: computed");

        // A package change behind its back: likewise.
        rewrite(&f.db, "a\n");
        let after_db =
            Inventory::new(f.clone(), Duration::from_secs(3600)).with_store(path.clone());
        after_db.upgrades().unwrap();
        assert_eq!(count(&f.computes), 3, "database changed: computed");

        // Unchanged since that computation: loaded again.
        let last = Inventory::new(f.clone(), Duration::from_secs(3600)).with_store(path);
        last.upgrades().unwrap();
        assert_eq!(count(&f.computes), 3);
    }

    #[test]
    fn warming_reads_both_sets_so_the_first_request_runs_nothing() {
        let f = fake("warm", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        inv.warm();
        assert_eq!((count(&f.reads), count(&f.computes)), (1, 1));
        inv.installed().unwrap();
        inv.upgrades().unwrap();
        assert_eq!((count(&f.reads), count(&f.computes)), (1, 1));
    }

    #[test]
    fn a_set_dropped_by_a_job_is_computed_again_once_no_job_runs() {
        let f = fake("rewarm", false);
        let inv = Inventory::new(f.clone(), Duration::from_secs(3600));
        let gate = Arc::new(Gate {
            free: false,
            asked: AtomicUsize::new(0),
        });
        let dyn_gate: Arc<dyn TransactionGate> = gate.clone();
        inv.set_gate(Arc::downgrade(&dyn_gate));
        inv.rewarm_if_dropped();
        assert_eq!(count(&gate.asked), 0, "nothing dropped: nothing to do");
        inv.upgrades().unwrap();
        inv.invalidate_upgrades();
        inv.rewarm_if_dropped();
        assert_eq!(
            (count(&f.computes), count(&gate.asked)),
            (1, 1),
            "a job runs"
        );
        assert!(inv.cached_upgrades().is_none());
        let free = Arc::new(Gate {
            free: true,
            asked: AtomicUsize::new(0),
        });
        let dyn_free: Arc<dyn TransactionGate> = free.clone();
        let inv = Inventory {
            gate: OnceLock::new(),
            ..inv
        };
        inv.set_gate(Arc::downgrade(&dyn_free));
        inv.rewarm_if_dropped();
        assert_eq!(count(&f.computes), 2, "computed again once no job runs");
        assert!(inv.cached_upgrades().is_some());
        inv.rewarm_if_dropped();
        assert_eq!(count(&f.computes), 2, "once per drop");
    }
}
