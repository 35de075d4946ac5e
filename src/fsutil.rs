//! Durable file writes: a reader (or a crash) sees either the old file or the new one, never
//! a half-written one. And the guarded read of the agent's own state files: only regular
//! files, never through a symlink, never blocking on a FIFO, never more than a cap.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
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
    let mut dst = create_temp(tmp)?;
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

/// Creates a temp file (0600). One already there under this exact name was left by a
/// crashed run: the name holds this process's pid, and a restarted agent often gets the
/// same pid again (pid 1 or 2 in a container), so it is stale and replaced, not an error
/// that would fail this write.
fn create_temp(tmp: &Path) -> std::io::Result<File> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_MODE)
            .open(tmp)
    };
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(tmp)?;
            open()
        }
        other => other,
    }
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = create_temp(tmp)?;
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

/// Why an agent-owned state file could not be read.
#[derive(Debug)]
pub enum StateFileError {
    /// Opening or reading failed (`NotFound` when there is no file).
    Io(std::io::Error),
    /// The name is a symlink: state is never read through one (it could point anywhere,
    /// `/dev/zero` included).
    Symlink,
    /// Not a regular file (a FIFO, socket, device or directory); names what it is.
    NotRegular(&'static str),
    /// Larger than the cap the caller allows for this kind of state.
    TooLarge {
        /// The cap in bytes.
        cap: u64,
    },
}

impl StateFileError {
    /// Whether the file simply does not exist (callers treat that as "no state yet").
    pub fn is_not_found(&self) -> bool {
        matches!(self, StateFileError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }

    /// Whether the file itself is unfit (wrong type or size), so moving it aside helps;
    /// an I/O error may be passing and leaves the file where it is.
    pub fn is_unfit(&self) -> bool {
        !matches!(self, StateFileError::Io(_))
    }
}

impl std::fmt::Display for StateFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateFileError::Io(e) => write!(f, "{e}"),
            StateFileError::Symlink => write!(f, "a symlink (state is never read through one)"),
            StateFileError::NotRegular(kind) => write!(f, "a {kind}, not a regular file"),
            StateFileError::TooLarge { cap } => write!(f, "larger than its cap of {cap} bytes"),
        }
    }
}

impl std::error::Error for StateFileError {}

/// Reads an agent-owned state file of at most `cap` bytes. Opened with `O_NOFOLLOW` (a
/// symlink is refused, not followed) and `O_NONBLOCK` (a FIFO cannot block the open), then
/// checked to be a regular file on the open descriptor, so nothing can be swapped in
/// between the check and the read; a file growing past `cap` while read is refused too.
pub fn read_state_file(path: &Path, cap: u64) -> Result<Vec<u8>, StateFileError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => StateFileError::Symlink,
            _ => StateFileError::Io(e),
        })?;
    let meta = file.metadata().map_err(StateFileError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(StateFileError::NotRegular(type_name(&kind)));
    }
    if meta.len() > cap {
        return Err(StateFileError::TooLarge { cap });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(StateFileError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(StateFileError::TooLarge { cap });
    }
    Ok(bytes)
}

/// `bytes` without a leading UTF-8 byte-order mark (editors add one; JSON and YAML readers
/// would call the file corrupt).
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn type_name(kind: &std::fs::FileType) -> &'static str {
    if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_dir() {
        "directory"
    } else {
        "special file"
    }
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
    fn a_temp_file_a_crashed_run_left_under_the_same_name_is_replaced() {
        let dir = temp_dir();
        let tmp = temp_path(&dir.join("a.json")).unwrap();
        std::fs::write(&tmp, b"stale, longer than the new content").unwrap();
        write_temp(&tmp, b"new", PRIVATE_MODE).unwrap();
        assert_eq!(std::fs::read(&tmp).unwrap(), b"new");
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

    #[test]
    fn state_files_are_read_only_when_regular_direct_and_small() {
        let dir = temp_dir();
        let ok = dir.join("ok.json");
        std::fs::write(&ok, b"{}").unwrap();
        assert_eq!(read_state_file(&ok, 2).unwrap(), b"{}");
        let big = read_state_file(&ok, 1).unwrap_err();
        assert!(matches!(big, StateFileError::TooLarge { cap: 1 }), "{big}");
        assert!(big.is_unfit());

        let missing = read_state_file(&dir.join("none"), 10).unwrap_err();
        assert!(missing.is_not_found() && !missing.is_unfit());

        let link = dir.join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read_state_file(&link, 1 << 20).unwrap_err();
        assert!(matches!(e, StateFileError::Symlink), "{e}");
        let to_file = dir.join("to-ok.json");
        std::os::unix::fs::symlink(&ok, &to_file).unwrap();
        assert!(matches!(
            read_state_file(&to_file, 10),
            Err(StateFileError::Symlink)
        ));

        // A FIFO with no writer: a plain open would block here forever.
        let fifo = dir.join("fifo.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_state_file(&fifo, 10).unwrap_err();
        assert!(matches!(e, StateFileError::NotRegular("FIFO")), "{e}");
        assert_eq!(e.to_string(), "a FIFO, not a regular file");

        let sub = dir.join("sub.json");
        std::fs::create_dir(&sub).unwrap();
        assert!(matches!(
            read_state_file(&sub, 10),
            Err(StateFileError::NotRegular("directory"))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_byte_order_mark_is_stripped_once() {
        assert_eq!(strip_bom(b"\xEF\xBB\xBF{}"), b"{}");
        assert_eq!(strip_bom(b"{}"), b"{}");
        assert_eq!(strip_bom(b"\xEF\xBB"), b"\xEF\xBB");
    }
}
