//! `/etc/apk/world`: the packages and constraints the administrator asked for. apk rewrites
//! it on every `add` and `del`, also when the change then fails (`apk del` of a package
//! another one needs takes it out of world, keeps it installed and exits 0), and an exact
//! install (`name=version`) pins the package there. The agent therefore keeps world's bytes
//! around a change: a failed command that left the installed database untouched gets world
//! back, and a rollback puts back world as it was before the job.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::pkg::PkgError;

/// world, relative to the root.
pub const WORLD: &str = "etc/apk/world";

/// The installed database, relative to the root.
pub const INSTALLED: &str = "lib/apk/db/installed";

/// Mode of a world file apk would create.
const WORLD_MODE: u32 = 0o644;

/// A file's bytes, `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, PkgError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_error(path, error)),
    }
}

fn io_error(path: &Path, error: io::Error) -> PkgError {
    PkgError::Io {
        what: path.display().to_string(),
        error,
    }
}

/// world's bytes under `root`; `None` when there is no world file.
pub fn read_world(root: &Path) -> Result<Option<Vec<u8>>, PkgError> {
    read_optional(&root.join(WORLD))
}

/// Writes world under `root` (temp + fsync + rename, keeping the file's mode), or removes it
/// for `None`. Nothing is written when the bytes are already there.
pub fn write_world(root: &Path, bytes: Option<&[u8]>) -> Result<(), PkgError> {
    let path = root.join(WORLD);
    let now = read_optional(&path)?;
    if now.as_deref() == bytes {
        return Ok(());
    }
    match bytes {
        Some(b) => {
            let mode = fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(WORLD_MODE);
            crate::fsutil::write_atomic(&path, b, mode).map_err(|e| io_error(&path, e))
        }
        None => fs::remove_file(&path).map_err(|e| io_error(&path, e)),
    }
}

/// world and the installed database as they were before one apk command.
#[derive(Debug)]
pub struct Snapshot {
    root: PathBuf,
    world: Option<Vec<u8>>,
    installed: Option<Vec<u8>>,
}

impl Snapshot {
    /// Reads both files under `root`.
    pub fn take(root: &Path) -> Result<Snapshot, PkgError> {
        Ok(Snapshot {
            root: root.to_path_buf(),
            world: read_world(root)?,
            installed: read_optional(&root.join(INSTALLED))?,
        })
    }

    /// After a failed command: when the installed database is byte for byte what it was,
    /// apk changed no package, so world goes back to its earlier bytes too. Returns whether
    /// world had to be written. A changed database is left to the job's changes and rollback:
    /// world then describes what apk really did.
    pub fn undo_world_if_nothing_changed(&self) -> Result<bool, PkgError> {
        if read_optional(&self.root.join(INSTALLED))? != self.installed {
            return Ok(false);
        }
        if read_world(&self.root)? == self.world {
            return Ok(false);
        }
        write_world(&self.root, self.world.as_deref())?;
        Ok(true)
    }
}

/// The constraints of world that name `name` (`name`, `name=1.0-r0`, `name<2`, ...).
pub fn constraints_for<'a>(world: &'a str, name: &str) -> Vec<&'a str> {
    world
        .split_whitespace()
        .filter(|token| {
            let bare = token.trim_start_matches('!');
            let end = bare.find(['<', '>', '=', '~']).unwrap_or(bare.len());
            bare[..end].split('@').next() == Some(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(tag: &str) -> PathBuf {
        let r = std::env::temp_dir().join(format!("lpa-apk-world-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&r);
        fs::create_dir_all(r.join("etc/apk")).unwrap();
        fs::create_dir_all(r.join("lib/apk/db")).unwrap();
        r
    }

    #[test]
    fn world_comes_back_when_the_database_did_not_change() {
        let r = root("undo");
        fs::write(r.join(WORLD), "lpa-hello\nlpa-lib\n").unwrap();
        fs::set_permissions(r.join(WORLD), fs::Permissions::from_mode(0o640)).unwrap();
        fs::write(r.join(INSTALLED), "P:lpa-lib\nV:1.1-r0\n\n").unwrap();
        let snap = Snapshot::take(&r).unwrap();
        // What `apk del lpa-lib` does when lpa-hello needs it: world rewritten, exit 0.
        fs::write(r.join(WORLD), "lpa-hello\n").unwrap();
        assert!(snap.undo_world_if_nothing_changed().unwrap());
        assert_eq!(
            fs::read_to_string(r.join(WORLD)).unwrap(),
            "lpa-hello\nlpa-lib\n"
        );
        let mode = fs::metadata(r.join(WORLD)).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640, "the mode is kept");
        assert!(
            !snap.undo_world_if_nothing_changed().unwrap(),
            "nothing to do"
        );
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn a_changed_database_keeps_the_new_world() {
        let r = root("keep");
        fs::write(r.join(WORLD), "lpa-hello\n").unwrap();
        let snap = Snapshot::take(&r).unwrap();
        fs::write(r.join(WORLD), "lpa-hello\nlpa-slow\n").unwrap();
        fs::write(r.join(INSTALLED), "P:lpa-slow\nV:1.0-r0\n\n").unwrap();
        assert!(!snap.undo_world_if_nothing_changed().unwrap());
        assert_eq!(
            fs::read_to_string(r.join(WORLD)).unwrap(),
            "lpa-hello\nlpa-slow\n"
        );
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn a_world_that_did_not_exist_is_removed_again() {
        let r = root("none");
        let snap = Snapshot::take(&r).unwrap();
        fs::write(r.join(WORLD), "x\n").unwrap();
        assert!(snap.undo_world_if_nothing_changed().unwrap());
        assert!(!r.join(WORLD).exists());
        write_world(&r, Some(b"a\nb\n")).unwrap();
        assert_eq!(read_world(&r).unwrap().unwrap(), b"a\nb\n");
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn constraints_naming_a_package() {
        let w = "lpa-hello<2.0\nlpa-lib=1.0-r0\nlpa-libx\nfoo@edge\n!lpa-tool\n";
        assert_eq!(constraints_for(w, "lpa-lib"), ["lpa-lib=1.0-r0"]);
        assert_eq!(constraints_for(w, "lpa-hello"), ["lpa-hello<2.0"]);
        assert_eq!(constraints_for(w, "foo"), ["foo@edge"]);
        assert_eq!(constraints_for(w, "lpa-tool"), ["!lpa-tool"]);
        assert!(constraints_for(w, "nope").is_empty());
    }
}
