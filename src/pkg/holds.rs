//! Package holds shared by every backend: which names a hold list covers (zypper locks may
//! be globs), and the held set kept until the files behind it change, so that a package
//! page does not run `apt-mark` or `zypper locks` per request while nothing changed.
//!
//! Each backend reads and writes its own native mechanism (its `holds.rs`); this file knows
//! none of them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{PackageManager, PkgError};
use crate::watch::{stamps_of, FileStamp};

/// Which of `names` a hold list covers, in the order of `names`, each once. A hold entry
/// with `*`, `?` or `[` is a glob (zypper's `match_type: glob`); others match exactly.
pub fn among(held: &[String], names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if held.iter().any(|h| covers(h, n)) && !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// Whether the hold entry `hold` covers the package `name` (a glob entry by
/// [`super::glob`]'s rules).
pub fn covers(hold: &str, name: &str) -> bool {
    if super::glob::is_glob(hold) {
        super::glob::matches(hold, name)
    } else {
        hold == name
    }
}

/// Sorts and de-duplicates a hold list read from a tool or file.
pub fn normalise(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

/// The held set, with the stamps of the files it was read under (`None`: read it again).
struct Kept {
    stamps: Option<Vec<Option<FileStamp>>>,
    names: Arc<Vec<String>>,
}

/// The held set of one backend, read again only when one of its [`PackageManager::hold_paths`]
/// changed; the `Arc` is swapped exactly then, so a page rendered from it can be kept by
/// identity (see `api/page_cache.rs`).
#[derive(Default)]
pub struct HoldCache {
    kept: Mutex<Option<Kept>>,
}

impl HoldCache {
    /// The held names of `backend`, from the cache while the files behind them are unchanged.
    pub fn get(&self, backend: &dyn PackageManager) -> Result<Arc<Vec<String>>, PkgError> {
        let paths: Vec<PathBuf> = backend.hold_paths();
        let stamps = stamps_of(&paths);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = kept.as_ref() {
            // An absent file stamps as `None`: it still compares, and its appearance changes it.
            if k.stamps.as_ref() == Some(&stamps) {
                return Ok(Arc::clone(&k.names));
            }
        }
        let names = Arc::new(normalise(backend.holds()?));
        // An unchanged answer keeps its `Arc`: pages rendered from it stay valid.
        if let Some(k) = kept.as_ref().filter(|k| k.names == names) {
            let same = Arc::clone(&k.names);
            *kept = Some(Kept {
                stamps: Some(stamps),
                names: Arc::clone(&same),
            });
            return Ok(same);
        }
        *kept = Some(Kept {
            stamps: Some(stamps),
            names: Arc::clone(&names),
        });
        Ok(names)
    }

    /// Makes the next read ask the backend again (after the agent changed a hold: a file
    /// rewritten within the stamp's resolution must not hide the change); an unchanged
    /// answer then keeps its `Arc`.
    pub fn invalidate(&self) {
        if let Some(k) = self.kept.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            k.stamps = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn exact_holds_cover_only_their_name() {
        let held = s(&["nginx", "libc6"]);
        assert_eq!(
            among(&held, &s(&["curl", "nginx", "nginx-common", "nginx"])),
            ["nginx"]
        );
        assert!(among(&[], &s(&["nginx"])).is_empty());
    }

    #[test]
    fn glob_holds_cover_like_zypper_globs() {
        assert!(covers("lpa-*", "lpa-hello"));
        assert!(covers("lpa-?ib", "lpa-lib"));
        assert!(!covers("lpa-?ib", "lpa-hello"));
        assert!(covers("*", "anything"));
        assert!(covers("a*b*c", "aXbYc"));
        assert!(!covers("a*b*c", "acb"));
        assert!(!covers("lpa-*", "xlpa-hello"));
        // Linear, not exponential, on a hostile pattern.
        let long = "a".repeat(2000);
        assert!(!covers(&format!("{}b", "*a".repeat(50)), &long));
    }

    /// A backend whose hold list is a file, counting how often it is read.
    struct Counting {
        file: PathBuf,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl PackageManager for Counting {
        crate::pkg::read_only_mutations!();
        fn kind(&self) -> crate::pkg::BackendKind {
            crate::pkg::BackendKind::Pacman
        }
        fn installed(&self) -> Result<Vec<crate::pkg::InstalledPackage>, PkgError> {
            Ok(Vec::new())
        }
        fn database_paths(&self) -> Vec<PathBuf> {
            Vec::new()
        }
        fn details(&self, _: &str) -> Result<Option<crate::pkg::PackageDetails>, PkgError> {
            Ok(None)
        }
        fn refresh(&self) -> Result<(), PkgError> {
            Ok(())
        }
        fn upgradable(&self) -> Result<Vec<crate::pkg::Upgrade>, PkgError> {
            Ok(Vec::new())
        }
        fn available_versions(&self, _: &str) -> Result<Vec<String>, PkgError> {
            Ok(Vec::new())
        }
        fn holds(&self) -> Result<Vec<String>, PkgError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let text = std::fs::read_to_string(&self.file).unwrap_or_default();
            Ok(text.split_whitespace().map(str::to_string).collect())
        }
        fn hold_paths(&self) -> Vec<PathBuf> {
            vec![self.file.clone()]
        }
    }

    #[test]
    fn the_cache_reads_again_only_when_the_file_changes() {
        let dir = std::env::temp_dir().join(format!("lpa-holds-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let b = Counting {
            file: dir.join("list"),
            reads: Default::default(),
        };
        let reads = || b.reads.load(std::sync::atomic::Ordering::SeqCst);
        let cache = HoldCache::default();
        // Absent: read once, then served while it stays absent.
        assert!(cache.get(&b).unwrap().is_empty());
        let first = cache.get(&b).unwrap();
        assert_eq!(reads(), 1);
        // Appears (replaced by rename, as the tools write it): read again, a new set.
        let tmp = dir.join("list.new");
        std::fs::write(&tmp, "b a b").unwrap();
        std::fs::rename(&tmp, &b.file).unwrap();
        let second = cache.get(&b).unwrap();
        assert_eq!(*second, ["a", "b"]);
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(Arc::ptr_eq(&second, &cache.get(&b).unwrap()));
        assert_eq!(reads(), 2);
        // Forgotten after a change by the agent: read again, same contents keep the `Arc`.
        cache.invalidate();
        assert!(Arc::ptr_eq(&second, &cache.get(&b).unwrap()));
        assert_eq!(reads(), 3);
        assert!(Arc::ptr_eq(&second, &cache.get(&b).unwrap()));
        assert_eq!(reads(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn normalise_sorts_and_drops_repeats() {
        assert_eq!(normalise(s(&["b", "a", "b"])), ["a", "b"]);
    }
}
