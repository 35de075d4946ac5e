//! Parsed feeds kept in memory per backend (one per file), re-read only when the file changes.
//!
//! The Debian tracker JSON is tens of megabytes: parsing it on every `GET /patches` would
//! cost seconds. The parsed index is kept with the [`FeedStamp`] the file (or OSV record
//! directory) had *before* it was read (a write racing with the read shows up as a change next time) and the key it
//! was parsed for (the release), and is shared by clones of the backend.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::stamp::FeedStamp;
use crate::pkg::PkgError;

/// The last parsed version of one feed file.
struct Entry<T> {
    path: PathBuf,
    key: String,
    stamp: FeedStamp,
    value: Arc<T>,
}

/// A feed's index with its parse report.
#[derive(Debug)]
pub struct Parsed<T> {
    /// What the backend looks fixes up in.
    pub index: T,
    /// Records kept and skipped.
    pub report: super::report::ParseReport,
}

/// A cache of parsed feeds, one entry per file; clones share it.
pub struct FeedCache<T> {
    slots: Arc<Mutex<HashMap<PathBuf, Entry<T>>>>,
}

impl<T> Clone for FeedCache<T> {
    fn clone(&self) -> Self {
        FeedCache {
            slots: Arc::clone(&self.slots),
        }
    }
}

impl<T> Default for FeedCache<T> {
    fn default() -> Self {
        FeedCache {
            slots: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<T> fmt::Debug for FeedCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FeedCache")
    }
}

impl<T> FeedCache<T> {
    /// The parsed feed at `path` for `key`: the cached one while the file is unchanged,
    /// else `load(path)`'s result (cached on success). `Ok(None)` when the file does not
    /// exist (a feed configured but not downloaded yet).
    pub fn get_or_load(
        &self,
        path: &Path,
        key: &str,
        load: impl FnOnce(&Path) -> Result<T, PkgError>,
    ) -> Result<Option<Arc<T>>, PkgError> {
        let Some(stamp) = stamp_of(path)? else {
            return Ok(None);
        };
        // A poisoned lock only means another thread panicked mid-load: the slot holds
        // either a complete entry or nothing, so it is still usable.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = slots.get(path) {
            if e.path == path && e.key == key && e.stamp == stamp {
                return Ok(Some(Arc::clone(&e.value)));
            }
        }
        let value = Arc::new(load(path)?);
        slots.insert(
            path.to_path_buf(),
            Entry {
                path: path.to_path_buf(),
                key: key.to_string(),
                stamp,
                value: Arc::clone(&value),
            },
        );
        Ok(Some(value))
    }
}

/// The feed's stamp; `None` when it does not exist; other stat failures are errors.
fn stamp_of(path: &Path) -> Result<Option<FeedStamp>, PkgError> {
    match std::fs::metadata(path) {
        // A directory is an OSV record directory: stamped by every record under it.
        Ok(m) if m.is_file() || m.is_dir() => {
            FeedStamp::of(path).map_err(|e| unreadable(path, e.to_string()))
        }
        Ok(_) => Err(unreadable(path, "not a regular file".to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(path, e.to_string())),
    }
}

/// The error for a configured feed that cannot be used.
pub fn unreadable(path: &Path, message: String) -> PkgError {
    PkgError::Parse {
        what: format!("advisory feed {}", path.display()),
        message,
    }
}

/// Opens a feed file, mapping failures to [`unreadable`].
pub fn open(path: &Path) -> Result<std::fs::File, PkgError> {
    std::fs::File::open(path).map_err(|e| unreadable(path, e.to_string()))
}

/// Reads a whole (small) feed file, mapping failures to [`unreadable`].
pub fn read(path: &Path) -> Result<Vec<u8>, PkgError> {
    std::fs::read(path).map_err(|e| unreadable(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-feedcache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn parses_once_until_the_file_or_key_changes() {
        let dir = temp("once");
        let file = dir.join("feed.json");
        std::fs::write(&file, "one").unwrap();
        let cache: FeedCache<String> = FeedCache::default();
        let loads = Cell::new(0);
        let load = |p: &Path| {
            loads.set(loads.get() + 1);
            Ok(std::fs::read_to_string(p).unwrap())
        };
        assert_eq!(
            *cache.get_or_load(&file, "k", load).unwrap().unwrap(),
            "one"
        );
        let shared = cache.clone();
        assert_eq!(
            *shared.get_or_load(&file, "k", load).unwrap().unwrap(),
            "one"
        );
        assert_eq!(loads.get(), 1);
        cache.get_or_load(&file, "other", load).unwrap();
        assert_eq!(loads.get(), 2);
        // Replaced by rename, as the downloader does: a new inode.
        std::fs::write(dir.join("new"), "two").unwrap();
        std::fs::rename(dir.join("new"), &file).unwrap();
        assert_eq!(
            *cache.get_or_load(&file, "other", load).unwrap().unwrap(),
            "two"
        );
        assert_eq!(loads.get(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_is_none_and_failures_are_not_cached() {
        let dir = temp("missing");
        let file = dir.join("feed.json");
        let cache: FeedCache<String> = FeedCache::default();
        let fail = |p: &Path| Err(unreadable(p, "bad".into()));
        assert!(cache.get_or_load(&file, "k", fail).unwrap().is_none());
        std::fs::write(&file, "x").unwrap();
        let err = cache.get_or_load(&file, "k", fail).unwrap_err();
        assert!(err.to_string().contains("feed.json"), "{err}");
        assert!(cache.get_or_load(&file, "k", fail).is_err());
        let err = cache
            .get_or_load(Path::new("/dev/null"), "k", fail)
            .unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
