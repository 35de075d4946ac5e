//! The installed set of the rpm database, kept until the database files change: reading it
//! starts `rpm -qa`, and a job asks for it several times (at submission, before its
//! transaction, inside the backend's install) while nothing changed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::pkg::{InstalledPackage, PkgError};
use crate::watch::{stamps_of, FileStamp};

use super::rpmdb::candidate_paths;

/// One read of the installed set and the database stamps taken before it.
struct Entry {
    stamps: Vec<Option<FileStamp>>,
    packages: Vec<InstalledPackage>,
}

/// The last installed set read under a root, shared by clones of the backend.
#[derive(Clone, Default)]
pub struct InstalledMemo {
    last: Arc<Mutex<Option<Entry>>>,
}

impl std::fmt::Debug for InstalledMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstalledMemo")
    }
}

impl InstalledMemo {
    /// The installed set under `root`: the last one read while no database file changed
    /// since, else what `read` returns now. The stamps are taken before reading, so a change
    /// during the read makes the next call read again instead of keeping a stale set.
    pub fn get(
        &self,
        root: &Path,
        read: impl FnOnce() -> Result<Vec<InstalledPackage>, PkgError>,
    ) -> Result<Vec<InstalledPackage>, PkgError> {
        // Present or not: a file that appears (the WAL after the first write) changes the
        // stamp too.
        let stamps = stamps_of(&candidate_paths(root));
        // A database nobody can stat has no stamp to trust: always read it.
        let stampable = stamps.iter().any(Option::is_some);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = last.as_ref() {
            if stampable && e.stamps == stamps {
                return Ok(e.packages.clone());
            }
        }
        let packages = read()?;
        *last = stampable.then(|| Entry {
            stamps,
            packages: packages.clone(),
        });
        Ok(packages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::path::PathBuf;

    fn package(name: &str, version: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            arch: None,
            description: String::new(),
            size_bytes: None,
            installed_at: None,
            maintainer: None,
            depends: Vec::new(),
        }
    }

    fn temp_root() -> PathBuf {
        let root = std::env::temp_dir().join(format!("lpa-memo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("var/lib/rpm")).unwrap();
        root
    }

    #[test]
    fn read_again_only_after_a_database_file_changes() {
        let root = temp_root();
        let db = root.join("var/lib/rpm/rpmdb.sqlite");
        std::fs::write(&db, b"one").unwrap();
        let memo = InstalledMemo::default();
        let reads = Cell::new(0);
        let read = |v: &'static str| {
            reads.set(reads.get() + 1);
            Ok(vec![package("lpa-hello", v)])
        };
        assert_eq!(
            memo.get(&root, || read("1.0-1")).unwrap()[0].version,
            "1.0-1"
        );
        // Unchanged database: the first answer, no second read.
        assert_eq!(
            memo.get(&root, || read("2.0-1")).unwrap()[0].version,
            "1.0-1"
        );
        assert_eq!(reads.get(), 1);
        // The WAL appearing (rpm's first write) is a change.
        std::fs::write(root.join("var/lib/rpm/rpmdb.sqlite-wal"), b"w").unwrap();
        assert_eq!(
            memo.get(&root, || read("2.0-1")).unwrap()[0].version,
            "2.0-1"
        );
        assert_eq!(reads.get(), 2);
        // So is a rewrite of the database to another size.
        std::fs::write(&db, b"two, longer").unwrap();
        assert_eq!(
            memo.get(&root, || read("3.0-1")).unwrap()[0].version,
            "3.0-1"
        );
        assert_eq!(reads.get(), 3);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_failed_read_is_not_kept_and_no_database_is_never_trusted() {
        let root = temp_root();
        let memo = InstalledMemo::default();
        let err = memo.get(&root, || Err(PkgError::Unsupported("no rpm".into())));
        assert!(err.is_err());
        // No database file at all: every call reads.
        let reads = Cell::new(0);
        for _ in 0..2 {
            memo.get(&root, || {
                reads.set(reads.get() + 1);
                Ok(Vec::new())
            })
            .unwrap();
        }
        assert_eq!(reads.get(), 2);
        std::fs::remove_dir_all(root).unwrap();
    }
}
