//! What a feed's parsed form (and the patches computed from it) is checked against.
//!
//! A feed file is stamped by its own device, inode, size and modification time. An OSV
//! record directory cannot be: editing a record in place (`cp` over it, a repaired record)
//! or a sync that writes into subdirectories (`osv/cve/2025/`) leaves the directory's own
//! metadata unchanged, and the agent then served the old records until restarted. It is
//! stamped by every record file under it instead: one `stat` per record, far less than
//! reading them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;

use super::osv::record_files;
use crate::watch::FileStamp;

/// One version of a feed on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedStamp {
    /// A feed file (or an OSV archive / single record).
    File(FileStamp),
    /// An OSV record directory: how many record files, and a digest of their relative
    /// paths and stamps (any added, removed, renamed or rewritten record changes it).
    Dir {
        /// Record files found.
        files: usize,
        /// Hash of every (path, stamp), in sorted path order.
        digest: u64,
    },
}

impl FeedStamp {
    /// The stamp of the feed at `path` now; `Ok(None)` when nothing is there. A directory
    /// that cannot be walked, or a record in it that cannot be stat'ed, is an error.
    pub fn of(path: &Path) -> io::Result<Option<FeedStamp>> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if !meta.is_dir() {
            return Ok(FileStamp::of(path).map(FeedStamp::File));
        }
        let files = record_files(path)?;
        let mut hasher = DefaultHasher::new();
        for file in &files {
            file.strip_prefix(path).unwrap_or(file).hash(&mut hasher);
            // A record removed between the walk and its stat hashes as absent: the next
            // stamp, taken when it is gone from the walk too, differs anyway.
            FileStamp::of(file).hash(&mut hasher);
        }
        Ok(Some(FeedStamp::Dir {
            files: files.len(),
            digest: hasher.finish(),
        }))
    }

    /// Like [`FeedStamp::of`], `None` also when the feed cannot be stat'ed or walked (the
    /// patch list's cache: the load that follows reports the error).
    pub fn lenient(path: &Path) -> Option<FeedStamp> {
        FeedStamp::of(path).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-feedstamp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Sets a file's modification time, so that a rewrite within one clock tick still
    /// differs the way a later write would.
    fn touch(path: &Path, secs: u64) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(t).unwrap();
    }

    #[test]
    fn a_record_directory_changes_with_any_record_below_it() {
        let dir = temp("dir");
        let sub = dir.join("osv/cve/2026");
        std::fs::create_dir_all(&sub).unwrap();
        let usn = dir.join("USN-1-1.json");
        std::fs::write(&usn, "{}").unwrap();
        touch(&usn, 1_000);
        let first = FeedStamp::of(&dir).unwrap().unwrap();
        assert!(
            matches!(first, FeedStamp::Dir { files: 1, .. }),
            "{first:?}"
        );
        assert_eq!(FeedStamp::of(&dir).unwrap(), Some(first));
        let dir_meta = std::fs::metadata(&dir).unwrap().modified().unwrap();

        // Rewritten in place: same inode, the directory itself untouched.
        std::fs::write(&usn, "{\"id\": 1}").unwrap();
        touch(&usn, 2_000);
        assert_eq!(
            std::fs::metadata(&dir).unwrap().modified().unwrap(),
            dir_meta
        );
        let edited = FeedStamp::of(&dir).unwrap().unwrap();
        assert_ne!(edited, first);

        // Added in a subdirectory: the top directory's metadata does not change.
        std::fs::write(sub.join("UBUNTU-CVE-2026-1.json"), "{}").unwrap();
        let added = FeedStamp::of(&dir).unwrap().unwrap();
        assert!(
            matches!(added, FeedStamp::Dir { files: 2, .. }),
            "{added:?}"
        );

        // Files that are no records are not read, so they change nothing.
        std::fs::write(dir.join("README"), "x").unwrap();
        assert_eq!(FeedStamp::of(&dir).unwrap(), Some(added));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_is_its_own_stamp_and_absence_is_none() {
        let dir = temp("file");
        let file = dir.join("feed.json");
        assert_eq!(FeedStamp::of(&file).unwrap(), None);
        assert_eq!(FeedStamp::lenient(&file), None);
        std::fs::write(&file, "x").unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        assert_eq!(FeedStamp::of(&file).unwrap(), Some(FeedStamp::File(stamp)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
