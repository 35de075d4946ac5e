//! Rollback: the steps that return every package a job changed to its earlier state, what
//! of that can really be restored, and the bounded cache of package files saved for it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use uuid::Uuid;

use super::model::{Change, Job, NotRestorable};
use super::store::create_private_dir;
use crate::pkg::{PackageManager, RestoreStep, SavedPackage};

/// The steps undoing `original`'s changes: remove what it installed, reinstall the earlier
/// version of what it removed, updated or downgraded (from its saved file when one exists).
pub fn steps_from(original: &Job) -> Vec<RestoreStep> {
    original
        .changes
        .iter()
        .map(|c| step_for(c, &original.saved))
        .collect()
}

fn step_for(change: &Change, saved: &[SavedPackage]) -> RestoreStep {
    match &change.before {
        None => RestoreStep::Remove {
            name: change.name.clone(),
        },
        Some(version) => RestoreStep::Install {
            name: change.name.clone(),
            version: version.clone(),
            file: saved
                .iter()
                .find(|s| s.name == change.name && &s.version == version)
                .and_then(|s| s.file.clone()),
        },
    }
}

/// Splits steps into those that can run and the packages that cannot be restored. A saved
/// file that vanished (evicted) no longer counts; an install step without one needs its
/// version in the repositories.
pub fn check_restorable(
    steps: Vec<RestoreStep>,
    backend: &dyn PackageManager,
) -> (Vec<RestoreStep>, Vec<NotRestorable>) {
    let mut ok = Vec::new();
    let mut not = Vec::new();
    for step in steps {
        match step {
            RestoreStep::Remove { .. } => ok.push(step),
            RestoreStep::Install {
                name,
                version,
                file,
            } => {
                let file = file.filter(|f| f.is_file());
                if file.is_some() {
                    ok.push(RestoreStep::Install {
                        name,
                        version,
                        file,
                    });
                    continue;
                }
                match unavailable_reason(backend, &name, &version) {
                    None => ok.push(RestoreStep::Install {
                        name,
                        version,
                        file: None,
                    }),
                    Some(reason) => not.push(NotRestorable {
                        name,
                        version,
                        reason,
                    }),
                }
            }
        }
    }
    (ok, not)
}

fn unavailable_reason(backend: &dyn PackageManager, name: &str, version: &str) -> Option<String> {
    match backend.available_versions(name) {
        Ok(v) if v.iter().any(|a| a == version) => None,
        Ok(_) => Some(format!(
            "version {version} was not saved before the change and the repositories no longer offer it"
        )),
        Err(e) => Some(format!(
            "version {version} was not saved before the change and the repositories cannot be asked: {e}"
        )),
    }
}

/// The state each step asks for: `(name, Some(version))` installed at that version, or
/// `(name, None)` absent.
pub fn targets(steps: &[RestoreStep]) -> Vec<(String, Option<String>)> {
    steps
        .iter()
        .map(|s| match s {
            RestoreStep::Install { name, version, .. } => (name.clone(), Some(version.clone())),
            RestoreStep::Remove { name } => (name.clone(), None),
        })
        .collect()
}

/// The package names steps touch.
pub fn step_names(steps: &[RestoreStep]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match s {
            RestoreStep::Install { name, .. } | RestoreStep::Remove { name } => name.clone(),
        })
        .collect()
}

/// The file in a job's rollback directory holding the backend's selection state (apk:
/// `/etc/apk/world`) from before the job.
pub const SELECTION_FILE: &str = "selection-state";
/// The largest saved selection read back: a selection list of tens of thousands of
/// packages is a few MiB; a bigger file was not written by the agent.
const SELECTION_CAP: u64 = 64 * 1024 * 1024;

/// Saves the backend's selection state before job `id` changes anything; `Err` is the
/// warning for the job log (a rollback of it then cannot restore the selection exactly).
pub fn save_selection(
    cache: &RollbackCache,
    id: &Uuid,
    backend: &dyn PackageManager,
) -> Result<(), String> {
    match read_selection(backend)? {
        Some(bytes) => write_selection(cache, id, &bytes),
        None => Ok(()),
    }
}

/// The backend's selection state now, `None` when it keeps none; `Err` is the warning
/// for the job log.
pub fn read_selection(backend: &dyn PackageManager) -> Result<Option<Vec<u8>>, String> {
    backend
        .selection_state()
        .map_err(|e| format!("cannot read the package selection: {e}"))
}

/// Writes a selection state read by [`read_selection`] into job `id`'s rollback directory
/// (durably: temp file, fsync, rename).
pub fn write_selection(cache: &RollbackCache, id: &Uuid, bytes: &[u8]) -> Result<(), String> {
    let dir = cache
        .prepare(id)
        .map_err(|e| format!("cannot create the rollback cache: {e}"))?;
    let path = dir.join(SELECTION_FILE);
    crate::fsutil::write_atomic(&path, bytes, 0o600).map_err(|e| {
        format!(
            "cannot save the package selection to {}: {e}",
            path.display()
        )
    })
}

/// After a rollback of `original` ran: puts back the selection state saved before it.
/// Returns `(level, message)` lines for the job log.
pub fn restore_selection(
    cache: &RollbackCache,
    original: &Uuid,
    backend: &dyn PackageManager,
) -> Vec<(&'static str, String)> {
    let path = cache.job_dir(original).join(SELECTION_FILE);
    match crate::fsutil::read_state_file(&path, SELECTION_CAP) {
        Ok(bytes) => match backend.restore_selection_state(&bytes) {
            Ok(lines) => lines.into_iter().map(|l| ("info", l)).collect(),
            Err(e) => vec![("warn", format!("cannot restore the package selection: {e}"))],
        },
        // Only backends that keep a selection say anything about it missing.
        Err(_) if !matches!(backend.selection_state(), Ok(Some(_))) => Vec::new(),
        Err(e) => vec![(
            "warn",
            format!(
                "the package selection from before job {original} is not available ({e}); \
                 it was not restored"
            ),
        )],
    }
}

/// The rollback cache: one directory per job under `root`, bounded to `max_bytes` in total.
#[derive(Clone, Debug)]
pub struct RollbackCache {
    root: PathBuf,
    max_bytes: u64,
}

impl RollbackCache {
    /// A cache under `root` bounded to `max_bytes`.
    pub fn new(root: &Path, max_bytes: u64) -> RollbackCache {
        RollbackCache {
            root: root.to_path_buf(),
            max_bytes,
        }
    }

    /// The directory of one job's saved packages.
    pub fn job_dir(&self, id: &Uuid) -> PathBuf {
        self.root.join(id.to_string())
    }

    /// Creates (mode 0700) and returns a job's directory.
    pub fn prepare(&self, id: &Uuid) -> std::io::Result<PathBuf> {
        let dir = self.job_dir(id);
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// Deletes a job's directory, if any.
    pub fn remove(&self, id: &Uuid) {
        let dir = self.job_dir(id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn!("cannot delete rollback cache {}: {e}", dir.display());
            }
        }
    }

    /// Deletes job directories of jobs not in `known` (their records are gone).
    pub fn remove_orphans(&self, known: &dyn Fn(&Uuid) -> bool) {
        for (id, _, _) in self.entries() {
            if !known(&id) {
                self.remove(&id);
            }
        }
    }

    /// Deletes the oldest job directories (never `keep`'s) until the cache fits its bound;
    /// returns the evicted jobs with their sizes.
    pub fn evict(&self, keep: &Uuid) -> Vec<(Uuid, u64)> {
        let mut entries = self.entries();
        let mut total: u64 = entries.iter().map(|(_, size, _)| size).sum();
        entries.sort_by_key(|(_, _, mtime)| *mtime);
        let mut evicted = Vec::new();
        for (id, size, _) in entries {
            if total <= self.max_bytes {
                break;
            }
            if &id == keep {
                continue;
            }
            self.remove(&id);
            total = total.saturating_sub(size);
            evicted.push((id, size));
        }
        evicted
    }

    /// Job directories with their sizes and modification times.
    fn entries(&self) -> Vec<(Uuid, u64, SystemTime)> {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| {
                let id = Uuid::parse_str(&e.file_name().to_string_lossy()).ok()?;
                let meta = e.metadata().ok()?;
                meta.is_dir().then(|| {
                    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    (id, tree_size(&e.path()), mtime)
                })
            })
            .collect()
    }
}

/// Bytes of the regular files under `dir` (symlinks are not followed).
fn tree_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::model::JobRequest;
    use crate::pkg::{
        BackendKind, InstalledPackage, PackageDetails, PkgError, RemoveOptions, Upgrade,
    };
    use std::cmp::Ordering;

    struct Repo(Vec<(&'static str, &'static str)>);

    impl PackageManager for Repo {
        crate::pkg::read_only_mutations!();

        fn kind(&self) -> BackendKind {
            BackendKind::Apt
        }
        fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
            Ok(Vec::new())
        }
        fn database_paths(&self) -> Vec<PathBuf> {
            Vec::new()
        }
        fn details(&self, _: &str) -> Result<Option<PackageDetails>, PkgError> {
            Ok(None)
        }
        fn refresh(&self) -> Result<(), PkgError> {
            Ok(())
        }
        fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
            Ok(Vec::new())
        }
        fn compare_versions(&self, a: &str, b: &str) -> Ordering {
            a.cmp(b)
        }
        fn validate_name(&self, _: &str) -> Result<(), PkgError> {
            Ok(())
        }
        fn validate_version(&self, _: &str) -> Result<(), PkgError> {
            Ok(())
        }
        fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError> {
            if name == "broken" {
                return Err(PkgError::Unsupported("offline".into()));
            }
            Ok(self
                .0
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
                .collect())
        }
    }

    /// A backend whose selection state is one byte string (as apk's world).
    struct Selecting(std::sync::Mutex<Vec<u8>>);

    impl PackageManager for Selecting {
        crate::pkg::read_only_mutations!();

        fn kind(&self) -> BackendKind {
            BackendKind::Apk
        }
        fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
            Ok(Vec::new())
        }
        fn database_paths(&self) -> Vec<PathBuf> {
            Vec::new()
        }
        fn details(&self, _: &str) -> Result<Option<PackageDetails>, PkgError> {
            Ok(None)
        }
        fn refresh(&self) -> Result<(), PkgError> {
            Ok(())
        }
        fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
            Ok(Vec::new())
        }
        fn compare_versions(&self, a: &str, b: &str) -> Ordering {
            a.cmp(b)
        }
        fn validate_name(&self, _: &str) -> Result<(), PkgError> {
            Ok(())
        }
        fn validate_version(&self, _: &str) -> Result<(), PkgError> {
            Ok(())
        }
        fn available_versions(&self, _: &str) -> Result<Vec<String>, PkgError> {
            Ok(Vec::new())
        }
        fn selection_state(&self) -> Result<Option<Vec<u8>>, PkgError> {
            Ok(Some(self.0.lock().unwrap().clone()))
        }
        fn restore_selection_state(&self, saved: &[u8]) -> Result<Vec<String>, PkgError> {
            *self.0.lock().unwrap() = saved.to_vec();
            Ok(vec!["restored".into()])
        }
    }

    #[test]
    fn the_selection_is_saved_with_the_job_and_put_back_by_its_rollback() {
        use std::os::unix::fs::PermissionsExt;
        let root = temp_dir();
        let cache = RollbackCache::new(&root, 1 << 20);
        let (job, other) = (Uuid::new_v4(), Uuid::new_v4());
        let backend = Selecting(std::sync::Mutex::new(b"lpa-hello\n".to_vec()));
        save_selection(&cache, &job, &backend).unwrap();
        let file = cache.job_dir(&job).join(SELECTION_FILE);
        assert_eq!(std::fs::read(&file).unwrap(), b"lpa-hello\n");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        *backend.0.lock().unwrap() = b"lpa-hello=2.0-r0\n".to_vec();
        assert_eq!(
            restore_selection(&cache, &job, &backend),
            [("info", "restored".to_string())]
        );
        assert_eq!(*backend.0.lock().unwrap(), b"lpa-hello\n");
        // Nothing saved for that job (evicted): said, not guessed.
        let missing = restore_selection(&cache, &other, &backend);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].0, "warn");
        assert!(missing[0].1.contains("not restored"), "{missing:?}");
        // A backend without a selection saves nothing and says nothing.
        let plain = Repo(Vec::new());
        save_selection(&cache, &other, &plain).unwrap();
        assert!(!cache.job_dir(&other).exists());
        assert!(restore_selection(&cache, &other, &plain).is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn temp_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-rollback-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn change(n: &str, b: Option<&str>, a: Option<&str>) -> Change {
        Change {
            name: n.into(),
            before: b.map(Into::into),
            after: a.map(Into::into),
        }
    }

    #[test]
    fn steps_undo_each_change_using_saved_files() {
        let mut j = Job::new(
            Uuid::new_v4(),
            JobRequest::Remove {
                name: "x".into(),
                options: RemoveOptions::default(),
            },
            time::OffsetDateTime::now_utc(),
        );
        j.changes = vec![
            change("new", None, Some("1")),
            change("up", Some("1"), Some("2")),
            change("gone", Some("3"), None),
        ];
        j.saved = vec![SavedPackage {
            name: "up".into(),
            version: "1".into(),
            file: Some("/cache/up_1.deb".into()),
        }];
        assert_eq!(
            steps_from(&j),
            [
                RestoreStep::Remove { name: "new".into() },
                RestoreStep::Install {
                    name: "up".into(),
                    version: "1".into(),
                    file: Some("/cache/up_1.deb".into())
                },
                RestoreStep::Install {
                    name: "gone".into(),
                    version: "3".into(),
                    file: None
                },
            ]
        );
        assert_eq!(
            targets(&steps_from(&j)),
            [
                ("new".to_string(), None),
                ("up".to_string(), Some("1".to_string())),
                ("gone".to_string(), Some("3".to_string())),
            ]
        );
    }

    #[test]
    fn unsaved_versions_missing_from_the_repositories_are_not_restorable() {
        let dir = temp_dir();
        let saved = dir.join("kept.deb");
        std::fs::write(&saved, b"deb").unwrap();
        let repo = Repo(vec![("avail", "1")]);
        let steps = vec![
            RestoreStep::Remove { name: "r".into() },
            RestoreStep::Install {
                name: "kept".into(),
                version: "9".into(),
                file: Some(saved.clone()),
            },
            RestoreStep::Install {
                name: "evicted".into(),
                version: "2".into(),
                file: Some(dir.join("vanished.deb")),
            },
            RestoreStep::Install {
                name: "avail".into(),
                version: "1".into(),
                file: None,
            },
            RestoreStep::Install {
                name: "broken".into(),
                version: "1".into(),
                file: None,
            },
        ];
        let (ok, not) = check_restorable(steps, &repo);
        assert_eq!(step_names(&ok), ["r", "kept", "avail"]);
        let names: Vec<&str> = not.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["evicted", "broken"]);
        assert!(
            not[0].reason.contains("no longer offer"),
            "{}",
            not[0].reason
        );
        assert!(not[1].reason.contains("offline"), "{}", not[1].reason);
        assert_eq!(not[0].version, "2");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn eviction_removes_oldest_dirs_but_never_the_kept_one() {
        let root = temp_dir();
        let cache = RollbackCache::new(&root, 250);
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            let d = cache.prepare(id).unwrap();
            std::fs::write(d.join("p"), vec![0u8; 100]).unwrap();
            // Distinct modification times, oldest first.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let evicted = cache.evict(&ids[0]);
        assert_eq!(evicted, [(ids[1], 100)], "the oldest is kept on request");
        assert!(cache.job_dir(&ids[0]).exists() && cache.job_dir(&ids[2]).exists());
        cache.remove_orphans(&|id| *id == ids[2]);
        assert!(!cache.job_dir(&ids[0]).exists() && cache.job_dir(&ids[2]).exists());
        std::fs::remove_dir_all(root).unwrap();
    }
}
