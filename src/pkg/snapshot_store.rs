//! The upgradable set persisted across restarts: written after each computation, keyed by
//! the package database and metadata cache stamps it was computed under, and loaded at start
//! only when those stamps still match, so the first request after a restart runs no tool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::refresh::CacheMark;
use super::Upgrade;
use crate::fsutil::{read_state_file, write_atomic, PRIVATE_MODE};

/// The file's name inside the agent's inventory state directory.
pub const FILE_NAME: &str = "upgrades.json";

/// A larger file is not read (about 60 000 upgrades; no real host has as many).
pub const MAX_BYTES: u64 = 16 << 20;

/// Bumped when the layout changes; a file of another version is ignored.
const FORMAT: u32 = 1;

/// Where the set is kept for jobs stored in `jobs_dir`: `<jobs_dir>/../inventory/upgrades.json`
/// (beside the job records, in the agent's state directory).
pub fn path_for_jobs_dir(jobs_dir: &Path) -> PathBuf {
    jobs_dir
        .parent()
        .unwrap_or(jobs_dir)
        .join("inventory")
        .join(FILE_NAME)
}

/// One database file as it was: device, inode, size and modification time (a rewrite in
/// place and a replacement by rename both change it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_s: i64,
    mtime_ns: i64,
}

impl DbStamp {
    /// The stamp of `path` now, `None` when it cannot be stat'ed.
    pub fn of(path: &Path) -> Option<DbStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(DbStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_s: m.mtime(),
            mtime_ns: m.mtime_nsec(),
        })
    }
}

/// The stamps of `paths` now, in order.
pub fn db_stamps(paths: &[PathBuf]) -> Vec<Option<DbStamp>> {
    paths.iter().map(|p| DbStamp::of(p)).collect()
}

/// What a persisted set was computed under; it is served only while all of it is the same.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotKey {
    /// The backend's name (`apt`, `dnf`, ...).
    pub backend: String,
    /// The database files (under the configured root, so another root differs here).
    pub db_paths: Vec<PathBuf>,
    /// Their stamps.
    pub db: Vec<Option<DbStamp>>,
    /// The metadata cache's directories.
    pub cache_dirs: Vec<PathBuf>,
    /// The cache's entries.
    pub cache: CacheMark,
}

/// One upgrade as stored.
#[derive(Debug, Serialize, Deserialize)]
struct StoredUpgrade {
    name: String,
    current_version: String,
    available_version: String,
    arch: Option<String>,
    origins: Vec<String>,
}

/// The file's content.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    format: u32,
    key: SnapshotKey,
    #[serde(with = "time::serde::rfc3339")]
    computed_at: OffsetDateTime,
    upgrades: Vec<StoredUpgrade>,
}

/// A set loaded from disk whose key matched.
#[derive(Debug)]
pub struct Loaded {
    /// The upgrades.
    pub upgrades: Arc<Vec<Upgrade>>,
    /// When the previous process computed them.
    pub computed_at: OffsetDateTime,
}

/// Why no persisted set was loaded.
#[derive(Debug)]
pub enum LoadError {
    /// There is no file (first start, or never computed).
    Missing,
    /// The file could not be read now (left where it is).
    Io(String),
    /// The file is unfit or unparseable; moved aside.
    Damaged(String),
    /// Written by another layout version.
    OtherFormat(u32),
    /// Computed under other stamps, another backend or another root.
    Stale,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Missing => write!(f, "no saved set"),
            LoadError::Io(e) => write!(f, "cannot read it: {e}"),
            LoadError::Damaged(e) => write!(f, "damaged ({e}), moved aside"),
            LoadError::OtherFormat(v) => write!(f, "format {v}, not {FORMAT}"),
            LoadError::Stale => write!(
                f,
                "the package database or metadata changed since it was computed"
            ),
        }
    }
}

/// Reads the set at `path` if it was computed under exactly `key`. A damaged or oversized
/// file is renamed `*.corrupt`.
pub fn load(path: &Path, key: &SnapshotKey) -> Result<Loaded, LoadError> {
    let bytes = match read_state_file(path, MAX_BYTES) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Err(LoadError::Missing),
        Err(e) if e.is_unfit() => return Err(move_aside(path, e.to_string())),
        Err(e) => return Err(LoadError::Io(e.to_string())),
    };
    let stored: Stored = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => return Err(move_aside(path, e.to_string())),
    };
    if stored.format != FORMAT {
        return Err(LoadError::OtherFormat(stored.format));
    }
    if stored.key != *key {
        return Err(LoadError::Stale);
    }
    let upgrades = stored.upgrades.into_iter().map(from_stored).collect();
    Ok(Loaded {
        upgrades: Arc::new(upgrades),
        computed_at: stored.computed_at,
    })
}

/// Writes the set computed under `key` (temp file, fsync, rename; `0600` in a `0700`
/// directory, as the job records).
pub fn save(
    path: &Path,
    key: &SnapshotKey,
    computed_at: OffsetDateTime,
    upgrades: &[Upgrade],
) -> std::io::Result<()> {
    let stored = Stored {
        format: FORMAT,
        key: key.clone(),
        computed_at,
        upgrades: upgrades.iter().map(to_stored).collect(),
    };
    let bytes = serde_json::to_vec(&stored).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    write_atomic(path, &bytes, PRIVATE_MODE)
}

/// Renames an unusable file to `*.corrupt` (kept for a human), as the job store does.
fn move_aside(path: &Path, why: String) -> LoadError {
    let aside = path.with_extension("json.corrupt");
    if let Err(e) = std::fs::rename(path, &aside) {
        log::error!("cannot move {} aside: {e}", path.display());
    }
    LoadError::Damaged(why)
}

fn to_stored(u: &Upgrade) -> StoredUpgrade {
    StoredUpgrade {
        name: u.name.clone(),
        current_version: u.current_version.clone(),
        available_version: u.available_version.clone(),
        arch: u.arch.clone(),
        origins: u.origins.clone(),
    }
}

fn from_stored(u: StoredUpgrade) -> Upgrade {
    Upgrade {
        name: u.name,
        current_version: u.current_version,
        available_version: u.available_version,
        arch: u.arch,
        origins: u.origins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-snap-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn key(d: &Path) -> SnapshotKey {
        let db = d.join("status");
        std::fs::write(&db, "a\n").unwrap();
        SnapshotKey {
            backend: "apt".into(),
            db_paths: vec![db.clone()],
            db: db_stamps(&[db]),
            cache_dirs: vec![d.join("lists")],
            cache: CacheMark::default(),
        }
    }

    fn upgrade() -> Upgrade {
        Upgrade {
            name: "lpa-hello".into(),
            current_version: "1.0-1".into(),
            available_version: "1.1-1".into(),
            arch: Some("all".into()),
            origins: vec!["lpa/main".into()],
        }
    }

    #[test]
    fn a_saved_set_loads_under_the_same_key() {
        let d = dir("same");
        let k = key(&d);
        let path = path_for_jobs_dir(&d.join("jobs"));
        assert_eq!(path, d.join("inventory").join(FILE_NAME));
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        save(&path, &k, at, &[upgrade()]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = load(&path, &k).unwrap();
        assert_eq!(*loaded.upgrades, vec![upgrade()]);
        assert_eq!(loaded.computed_at, at);
    }

    #[test]
    fn another_database_backend_or_root_is_stale() {
        let d = dir("stale");
        let k = key(&d);
        let path = d.join(FILE_NAME);
        save(&path, &k, OffsetDateTime::now_utc(), &[upgrade()]).unwrap();
        // The database replaced by rename, as dpkg does.
        let tmp = d.join("status.new");
        std::fs::write(&tmp, "a\nb\n").unwrap();
        std::fs::rename(&tmp, &k.db_paths[0]).unwrap();
        let changed = SnapshotKey {
            db: db_stamps(&k.db_paths),
            ..k.clone()
        };
        assert_ne!(changed.db, k.db);
        assert!(matches!(load(&path, &changed), Err(LoadError::Stale)));
        let other = SnapshotKey {
            backend: "dnf".into(),
            ..k.clone()
        };
        assert!(matches!(load(&path, &other), Err(LoadError::Stale)));
        let root = SnapshotKey {
            db_paths: vec![PathBuf::from("/elsewhere/var/lib/dpkg/status")],
            ..k.clone()
        };
        assert!(matches!(load(&path, &root), Err(LoadError::Stale)));
        assert!(path.exists(), "a stale file is left to be overwritten");
    }

    #[test]
    fn a_damaged_or_oversized_file_is_moved_aside() {
        let d = dir("damaged");
        let k = key(&d);
        let path = d.join(FILE_NAME);
        std::fs::write(&path, b"{\"format\":1,\"key\":").unwrap();
        let e = load(&path, &k).unwrap_err();
        assert!(matches!(e, LoadError::Damaged(_)), "{e}");
        assert!(!path.exists() && path.with_extension("json.corrupt").exists());
        let big = std::fs::File::create(&path).unwrap();
        big.set_len(MAX_BYTES + 1).unwrap();
        assert!(matches!(load(&path, &k), Err(LoadError::Damaged(_))));
        assert!(!path.exists());
        assert!(matches!(load(&path, &k), Err(LoadError::Missing)));
    }

    #[test]
    fn another_format_is_ignored() {
        let d = dir("format");
        let k = key(&d);
        let path = d.join(FILE_NAME);
        save(&path, &k, OffsetDateTime::now_utc(), &[]).unwrap();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"format\":1", "\"format\":99");
        std::fs::write(&path, text).unwrap();
        assert!(matches!(load(&path, &k), Err(LoadError::OtherFormat(99))));
    }
}
