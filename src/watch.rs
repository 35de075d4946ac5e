//! Change detection for files the agent re-reads when they change (certificates, whitelist,
//! package databases).
//!
//! A [`FileStamp`] changes when a file is rewritten in place (size, mtime) and when it is
//! replaced by rename (device, inode), which is how editors and atomic writers update it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What identifies one version of a file: device, inode, size and modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileStamp {
    /// The stamp of a file now, `None` when it cannot be stat'ed.
    pub fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// A set of files with the stamps they had at the last (attempted) load.
///
/// Stamps are taken *before* the files are read: a write racing with the read then shows
/// up as a change at the next poll instead of being missed.
#[derive(Debug)]
pub struct Watched {
    paths: Vec<PathBuf>,
    last: Mutex<Vec<Option<FileStamp>>>,
}

impl Watched {
    /// Watches `paths`, recording their current stamps as the baseline.
    pub fn new(paths: Vec<PathBuf>) -> Watched {
        let last = Mutex::new(stamps_of(&paths));
        Watched { paths, last }
    }

    /// The watched paths, in the order given.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Records the current stamps as the baseline (call just before reading the files).
    pub fn mark(&self) {
        let now = stamps_of(&self.paths);
        *self.lock() = now;
    }

    /// Whether any file changed since the baseline; a change becomes the new baseline, so
    /// each change is reported once.
    pub fn take_change(&self) -> bool {
        let now = stamps_of(&self.paths);
        let mut last = self.lock();
        if *last == now {
            return false;
        }
        *last = now;
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<FileStamp>>> {
        // The guarded value is a plain Vec replaced whole, so a poisoned lock is still sound.
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The current stamps of `paths`, `None` for a file that cannot be stat'ed.
pub fn stamps_of(paths: &[PathBuf]) -> Vec<Option<FileStamp>> {
    paths.iter().map(|p| FileStamp::of(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(uuid::Uuid::new_v4().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn stamp_of_missing_file_is_none() {
        assert_eq!(FileStamp::of(&temp_dir().join("nope")), None);
    }

    #[test]
    fn detects_rewrite_rename_and_removal_once() {
        let dir = temp_dir();
        let file = dir.join("a.yaml");
        std::fs::write(&file, "one").unwrap();
        let w = Watched::new(vec![file.clone()]);
        assert!(!w.take_change());

        std::fs::write(&file, "three").unwrap();
        assert!(w.take_change());
        assert!(!w.take_change(), "a change is reported once");

        // Same size, replaced by rename: the inode differs.
        let tmp = dir.join("a.tmp");
        std::fs::write(&tmp, "three").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert!(w.take_change());

        std::fs::remove_file(&file).unwrap();
        assert!(w.take_change());
        assert!(!w.take_change());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mark_resets_baseline() {
        let dir = temp_dir();
        let file = dir.join("b");
        let w = Watched::new(vec![file.clone()]);
        std::fs::write(&file, "x").unwrap();
        w.mark();
        assert!(!w.take_change());
        assert_eq!(w.paths(), &[file][..]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
