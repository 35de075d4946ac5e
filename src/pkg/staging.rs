//! Private staging directories for files a package tool must read or write (issue 17).
//!
//! A package file staged for a tool is later installed by path, as root, maintainer
//! scripts included: whoever can swap it (or the directory holding it) gets root. So a
//! staging directory is never at a predictable path in a place others can write (it was
//! `<root>/var/tmp/.lpa-<tag>-<pid>`, removed and re-created with a call that accepted a
//! directory or symlink planted there). Instead:
//! - its parent is [`PARENT`] inside the package root (the tool must see the file, also
//!   through a chroot), mode 0711 and root's, every component from `/` down checked: a
//!   real directory (no symlink), owned by root (or us), writable by no one else unless
//!   sticky (like `/tmp`, where others can neither rename nor remove what root owns);
//! - the directory itself has a random name and is made with one `mkdir(2)` of mode 0700,
//!   which fails if anything exists there, then checked (a directory, ours, 0700);
//! - it is removed when the [`StagingDir`] is dropped.
//!
//! The parent is 0711, not 0700, so apt's sandbox user can reach a download directory it
//! was given inside (apt downloads as `_apt`); it cannot list or write the parent.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The staging parent, relative to the package root.
pub const PARENT: &str = "var/lib/linux_patch_api-staging";

/// Mode of the staging parent: root lists and writes, others may only traverse.
const PARENT_MODE: u32 = 0o711;

/// Mode of each staging directory.
const DIR_MODE: u32 = 0o700;

/// A fresh private directory, removed (with its contents) when dropped.
#[derive(Debug)]
pub struct StagingDir {
    path: PathBuf,
}

impl StagingDir {
    /// Creates `<parent>/.lpa-<tag>-<random>` exclusively with mode 0700; `parent` must be
    /// a directory only root can write (see [`secure_parent`]).
    pub fn create(parent: &Path, tag: &str) -> io::Result<StagingDir> {
        let path = parent.join(format!(".lpa-{tag}-{}", random_suffix()));
        // One mkdir: EEXIST for anything already there, a symlink included.
        fs::DirBuilder::new().mode(DIR_MODE).create(&path)?;
        let dir = StagingDir { path };
        check_own_dir(&dir.path, DIR_MODE)?;
        Ok(dir)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `<root>/<PARENT>`, created (mode 0711; missing components above it 0755) where missing, after checking that no component
/// from `/` down is a symlink or writable by others (see the module comment).
/// The path returned is under `root` as given (the tool's view of it is computed from that);
/// the checks walk its canonical form.
pub fn secure_parent(root: &Path) -> io::Result<PathBuf> {
    let parent = fs::canonicalize(root)?.join(PARENT);
    let mut at = PathBuf::from("/");
    check_component(&at)?;
    for part in parent.components() {
        let Component::Normal(name) = part else {
            continue;
        };
        at.push(name);
        let mode = if at == parent { PARENT_MODE } else { 0o755 };
        match fs::DirBuilder::new().mode(mode).create(&at) {
            // Exactly this mode, whatever the umask.
            Ok(()) => fs::set_permissions(&at, fs::Permissions::from_mode(mode))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        check_component(&at)?;
    }
    Ok(root.join(PARENT))
}

/// Refuses a path component others could replace: a symlink, not a directory, owned by
/// someone else, or writable by group or others without the sticky bit.
fn check_component(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Err(unsafe_path(path, "not a directory (or a symlink)"));
    }
    if meta.uid() != 0 && meta.uid() != euid() {
        return Err(unsafe_path(path, "owned by another user"));
    }
    let mode = meta.mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(unsafe_path(path, "writable by others"));
    }
    Ok(())
}

/// Checks that `path` is a directory (not a symlink) we own with exactly `mode`.
fn check_own_dir(path: &Path, mode: u32) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() || meta.uid() != euid() || meta.mode() & 0o7777 != mode {
        return Err(unsafe_path(path, "not a private directory of ours"));
    }
    Ok(())
}

fn unsafe_path(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("unsafe staging path {}: {why}", path.display()),
    )
}

/// 128 random bits (the kernel's generator, through uuid's v4) as hex: unguessable.
fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Temp(PathBuf);

    impl Temp {
        fn new(tag: &str) -> Temp {
            let d = std::env::temp_dir().join(format!("lpa-staging-{tag}-{}", random_suffix()));
            fs::create_dir_all(&d).unwrap();
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
            Temp(d)
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_staging_dir_is_private_random_and_removed_on_drop() {
        let t = Temp::new("private");
        let parent = secure_parent(&t.0).unwrap();
        assert_eq!(parent, t.0.join(PARENT));
        assert_eq!(mode(&parent), 0o711);
        let a = StagingDir::create(&parent, "restore").unwrap();
        let b = StagingDir::create(&parent, "restore").unwrap();
        assert_ne!(a.path(), b.path(), "names are random");
        assert_eq!(mode(a.path()), 0o700);
        assert!(fs::symlink_metadata(a.path()).unwrap().is_dir());
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".lpa-restore-") && name.len() > 40,
            "{name}"
        );
        fs::write(a.path().join("x.deb"), "x").unwrap();
        let gone = a.path().to_path_buf();
        drop(a);
        assert!(fs::symlink_metadata(&gone).is_err());
        // The parent is reused as it is.
        assert_eq!(secure_parent(&t.0).unwrap(), parent);
    }

    #[test]
    fn a_planted_parent_symlink_or_open_directory_is_refused() {
        let t = Temp::new("planted");
        fs::create_dir_all(t.0.join("var/lib")).unwrap();
        let elsewhere = t.0.join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, t.0.join(PARENT)).unwrap();
        let err = secure_parent(&t.0).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);

        fs::remove_file(t.0.join(PARENT)).unwrap();
        fs::create_dir(t.0.join(PARENT)).unwrap();
        fs::set_permissions(t.0.join(PARENT), fs::Permissions::from_mode(0o777)).unwrap();
        let err = secure_parent(&t.0).unwrap_err();
        assert!(err.to_string().contains("writable by others"), "{err}");

        fs::set_permissions(t.0.join(PARENT), fs::Permissions::from_mode(0o711)).unwrap();
        std::os::unix::fs::lchown(t.0.join(PARENT), Some(4242), Some(4242)).unwrap();
        let err = secure_parent(&t.0).unwrap_err();
        assert!(err.to_string().contains("another user"), "{err}");

        // A component above it writable by others is refused too.
        fs::remove_dir(t.0.join(PARENT)).unwrap();
        fs::set_permissions(t.0.join("var"), fs::Permissions::from_mode(0o777)).unwrap();
        let err = secure_parent(&t.0).unwrap_err();
        assert!(err.to_string().contains("writable by others"), "{err}");
    }

    #[test]
    fn nothing_already_at_the_path_is_ever_used() {
        let t = Temp::new("exclusive");
        let parent = secure_parent(&t.0).unwrap();
        // StagingDir::create never reuses a path: the same name twice is EEXIST.
        let path = parent.join(".lpa-fixed");
        fs::DirBuilder::new().mode(0o700).create(&path).unwrap();
        let err = fs::DirBuilder::new().mode(0o700).create(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        // And a directory that is not private is refused by the check.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_own_dir(&path, DIR_MODE).is_err());
        let link = parent.join(".lpa-link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(check_own_dir(&link, 0o755).is_err());
    }
}
