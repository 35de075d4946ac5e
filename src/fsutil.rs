//! Durable file writes: a reader (or a crash) sees either the old file or the new one, never
//! a half-written one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode for files only the agent may read (job records, keys): `0600`.
pub const PRIVATE_MODE: u32 = 0o600;

/// Distinguishes temp files of concurrent writers in one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically with permissions `mode`: a temp file in the same
/// directory (created `0600`, so nothing leaks before the final mode is set), written,
/// fsynced, renamed over `path`, then the directory fsynced so the rename survives a crash.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = temp_path(path)?;
    let written = write_temp(&tmp, bytes, mode).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        // The temp file is ours and useless now; a failed removal changes nothing.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)
}

/// Whether `name` is one of [`write_atomic`]'s temp files (left behind only by a crash).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp.")
}

/// Copies `from` to `to` the same way: a crash leaves either no file or a whole one, never a
/// truncated package a later rollback would try to install. The copy is 0600.
pub fn copy_atomic(from: &Path, to: &Path) -> std::io::Result<u64> {
    let tmp = temp_path(to)?;
    let copied = copy_temp(from, &tmp).and_then(|n| std::fs::rename(&tmp, to).map(|()| n));
    match copied {
        Ok(n) => sync_dir(to).map(|()| n),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn copy_temp(from: &Path, tmp: &Path) -> std::io::Result<u64> {
    let mut src = std::fs::File::open(from)?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_MODE)
        .open(tmp)?;
    let n = std::io::copy(&mut src, &mut dst)?;
    dst.sync_all()?;
    Ok(n)
}

/// A fresh temp file name beside `path` that [`is_temp_name`] recognises.
pub fn temp_path(path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!(".{}.tmp.{}.{n}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(tmp_name))
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_MODE)
        .open(tmp)?;
    f.write_all(bytes)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.sync_all()
}

/// Fsyncs the directory holding `path`, so a rename into it survives a crash.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lpa-fsutil-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_new_and_replaces_existing_leaving_no_temp_file() {
        let dir = temp_dir();
        let p = dir.join("a.json");
        write_atomic(&p, b"one", PRIVATE_MODE).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_atomic(&p, b"two, longer", PRIVATE_MODE).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two, longer");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.json"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_requested_mode_is_applied() {
        let dir = temp_dir();
        let p = dir.join("m");
        write_atomic(&p, b"x", PRIVATE_MODE).unwrap();
        assert_eq!(mode_of(&p), 0o600);
        write_atomic(&p, b"x", 0o644).unwrap();
        assert_eq!(mode_of(&p), 0o644);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_and_creates_nothing() {
        let dir = temp_dir();
        let p = dir.join("missing").join("f");
        assert!(write_atomic(&p, b"x", PRIVATE_MODE).is_err());
        assert!(!dir.join("missing").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn temp_names_are_recognised() {
        let tmp = temp_path(Path::new("/x/job.json")).unwrap();
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(is_temp_name(&name), "{name}");
        assert!(!is_temp_name("job.json"));
        assert_eq!(tmp.parent(), Some(Path::new("/x")));
    }

    #[test]
    fn copy_atomic_copies_whole_files_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("lpa-copy-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let from = dir.join("a.deb");
        std::fs::write(&from, vec![7u8; 70_000]).unwrap();
        let to = dir.join("saved.deb");
        assert_eq!(copy_atomic(&from, &to).unwrap(), 70_000);
        assert_eq!(std::fs::read(&to).unwrap(), vec![7u8; 70_000]);
        assert!(copy_atomic(&dir.join("missing"), &dir.join("x")).is_err());
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(names.iter().all(|n| !is_temp_name(n)), "{names:?}");
        assert!(!dir.join("x").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
