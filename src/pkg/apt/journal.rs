//! dpkg's journal of status changes (`var/lib/dpkg/updates`): each change dpkg made since
//! it last rewrote `status`, one file per change, named by a number. dpkg folds the journal
//! into `status` at the end of every run; a run that was killed (a crash, a power loss, a
//! `kill -9` of its process group) leaves it behind, and dpkg, dpkg-query and apt then read
//! `status` with the journal applied on top. Reading `status` alone would show the packages
//! as they were before the interrupted run: an agent that offered a "downgrade" from a
//! version dpkg no longer has, or hid a package dpkg has half-installed.

use std::path::{Path, PathBuf};

#[cfg(test)]
use super::dpkg::DpkgState;
use super::dpkg::{self, ControlError, StatusEntry};

/// Tries of a read that met dpkg folding its journal under it (a journal file gone between
/// the listing and its read); each retry starts again from `status`.
const TRIES: usize = 3;

/// Why the status with its journal could not be read.
#[derive(Debug)]
pub enum JournalError {
    /// A file could not be read.
    Io(PathBuf, std::io::Error),
    /// A file does not parse as dpkg status stanzas.
    Parse(PathBuf, ControlError),
    /// dpkg folded its journal during each of [`TRIES`] reads.
    Moving,
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            JournalError::Parse(p, e) => write!(f, "{}: {e}", p.display()),
            JournalError::Moving => write!(
                f,
                "dpkg rewrote its status during {TRIES} reads in a row; try again"
            ),
        }
    }
}

/// The journal's files in the order dpkg applies them: names of digits only (dpkg writes
/// a change as `tmp.i` and renames it to its number, `%04d`), sorted as dpkg's
/// `scandir(..., alphasort)` sorts them. Empty when the directory does not exist.
pub fn files(updates: &Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(updates) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    names.sort();
    names.into_iter().map(|n| updates.join(n)).collect()
}

/// dpkg's status as dpkg itself reads it: `status`, then each journal file's stanzas in
/// order, each replacing the package's entry (same name and architecture) or adding it.
pub fn read(status: &Path, updates: &Path) -> Result<Vec<StatusEntry>, JournalError> {
    for _ in 0..TRIES {
        // Listed before `status` is read: a fold after the listing removes a listed file
        // (seen below, read again); a fold before it leaves an empty list and a new status.
        let journal = files(updates);
        let mut entries = parse_file(status)?;
        match apply_all(&mut entries, &journal) {
            Ok(()) => return Ok(entries),
            Err(JournalError::Io(_, e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Err(JournalError::Moving)
}

fn parse_file(path: &Path) -> Result<Vec<StatusEntry>, JournalError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| JournalError::Io(path.to_path_buf(), e))?;
    dpkg::parse_status(&text).map_err(|e| JournalError::Parse(path.to_path_buf(), e))
}

fn apply_all(entries: &mut Vec<StatusEntry>, journal: &[PathBuf]) -> Result<(), JournalError> {
    for path in journal {
        apply(entries, parse_file(path)?);
    }
    Ok(())
}

/// Applies one journal file's stanzas to `entries`.
fn apply(entries: &mut Vec<StatusEntry>, changes: Vec<StatusEntry>) {
    for change in changes {
        let same = entries
            .iter_mut()
            .find(|e| e.name == change.name && e.arch == change.arch);
        match same {
            Some(entry) => *entry = change,
            None => entries.push(change),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What dpkg 1.21.23 left when `apt-get install lpa-hello=1.1-1 lpa-slow` was killed in
    /// lpa-slow's postinst (tests/data/apt/README.md).
    fn recorded() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/apt/dpkg-journal")
    }

    /// A copy of the recording the test may change.
    fn copy_of_recorded() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lpa-journal-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("updates")).unwrap();
        for entry in std::fs::read_dir(recorded()).unwrap().flatten() {
            let name = entry.file_name();
            let to = if name == "status" {
                dir.join("status")
            } else {
                dir.join("updates").join(&name)
            };
            std::fs::copy(entry.path(), to).unwrap();
        }
        dir
    }

    fn state(entries: &[StatusEntry], name: &str) -> Option<(String, DpkgState)> {
        entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| (e.version.clone().unwrap_or_default(), e.state))
    }

    #[test]
    fn the_recorded_journal_reads_as_dpkg_query_read_it() {
        let dir = copy_of_recorded();
        let (status, updates) = (dir.join("status"), dir.join("updates"));
        let entries = read(&status, &updates).unwrap();
        // dpkg-query: `ii 1.1-1` and `iF 1.0-1`.
        assert_eq!(
            state(&entries, "lpa-hello"),
            Some(("1.1-1".into(), DpkgState::Installed))
        );
        assert_eq!(
            state(&entries, "lpa-slow"),
            Some(("1.0-1".into(), DpkgState::HalfConfigured))
        );
        assert_eq!(entries.len(), 4, "replaced in place, nothing added twice");
        // `status` alone: both unpacked, lpa-hello not counted as installed.
        let alone = parse_file(&status).unwrap();
        assert_eq!(
            state(&alone, "lpa-hello"),
            Some(("1.1-1".into(), DpkgState::Unpacked))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn journal_files_go_in_dpkg_order_and_the_file_in_the_making_is_not_one() {
        let dir = copy_of_recorded();
        let updates = dir.join("updates");
        std::fs::write(updates.join("0006.dpkg-tmp"), "").unwrap();
        let names: Vec<String> = files(&updates)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        // read_dir's own order is the directory's; dpkg's is alphabetical.
        assert_eq!(names, ["0000", "0001", "0002", "0003", "0004", "0005"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_journal_change_replaces_only_the_same_name_and_architecture() {
        let mut entries = dpkg::parse_status(
            "Package: libx\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n\
             Package: libx\nStatus: install ok installed\nArchitecture: i386\nVersion: 1\n\n",
        )
        .unwrap();
        let change = dpkg::parse_status(
            "Package: libx\nStatus: install ok unpacked\nArchitecture: i386\nVersion: 2\n\n",
        )
        .unwrap();
        apply(&mut entries, change);
        let by_arch: Vec<(Option<&str>, Option<&str>)> = entries
            .iter()
            .map(|e| (e.arch.as_deref(), e.version.as_deref()))
            .collect();
        assert_eq!(
            by_arch,
            [(Some("amd64"), Some("1")), (Some("i386"), Some("2"))]
        );
    }

    #[test]
    fn no_journal_or_no_directory_reads_status_alone() {
        let dir = copy_of_recorded();
        let status = dir.join("status");
        let alone = parse_file(&status).unwrap();
        assert_eq!(read(&status, &dir.join("no-such-dir")).unwrap(), alone);
        for f in files(&dir.join("updates")) {
            std::fs::remove_file(f).unwrap();
        }
        assert_eq!(read(&status, &dir.join("updates")).unwrap(), alone);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_broken_journal_file_or_a_missing_status_is_an_error_naming_it() {
        let dir = copy_of_recorded();
        let (status, updates) = (dir.join("status"), dir.join("updates"));
        std::fs::write(updates.join("0006"), "Status: install ok installed\n\n").unwrap();
        let e = read(&status, &updates).unwrap_err();
        assert!(matches!(e, JournalError::Parse(..)), "{e:?}");
        assert!(e.to_string().contains("0006"), "{e}");
        std::fs::remove_file(&status).unwrap();
        let e = read(&status, &updates).unwrap_err();
        assert!(
            matches!(&e, JournalError::Io(p, err)
                if p == &status && err.kind() == std::io::ErrorKind::NotFound),
            "{e:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
