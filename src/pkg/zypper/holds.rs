//! zypper's holds: package locks, `/etc/zypp/locks`, set with `zypper addlock NAME` and
//! released with `zypper removelock NAME`. libzypp's solver never changes a locked package,
//! so zypper honours the agent's holds, and a lock added by hand is listed here. The locks
//! file is read directly (libzypp's own format, recorded in
//! `tests/data/zypper/etc-zypp-locks`), so a package list never runs zypper. A lock may be a
//! glob (`match_type: glob`, e.g. `kernel-*`); it covers every name it matches (see
//! `pkg::holds::covers`). A lock with a version range (`lpa-lib < 2`) counts as a hold of the
//! name; locks of other kinds (patterns, patches) are not package holds.

use std::path::PathBuf;

use super::Zypper;
use crate::pkg::PkgError;

impl Zypper {
    /// The package lock names of `/etc/zypp/locks` (none when it does not exist).
    pub(super) fn read_holds(&self) -> Result<Vec<String>, PkgError> {
        let path = self.locks_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(parse_locks(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(PkgError::Io {
                what: path.display().to_string(),
                error,
            }),
        }
    }

    /// `zypper addlock NAME` (adding a lock that exists changes nothing, exit 0).
    pub(super) fn add_lock(&self, name: &str) -> Result<(), PkgError> {
        self.run(&self.base_command().args(["addlock", "--", name]))
            .map(|_| ())
    }

    /// `zypper removelock NAME` ("No lock has been removed.", exit 0, when there was none).
    pub(super) fn remove_lock(&self, name: &str) -> Result<(), PkgError> {
        self.run(&self.base_command().args(["removelock", "--", name]))
            .map(|_| ())
    }

    /// The locks file libzypp keeps.
    fn locks_file(&self) -> PathBuf {
        self.settings.root.join("etc/zypp/locks")
    }

    /// The locks file, for the hold cache.
    pub(super) fn hold_files(&self) -> Vec<PathBuf> {
        vec![self.locks_file()]
    }
}

/// The `solvable_name` of each package lock of a locks file: blocks of `key: value` lines
/// separated by blank lines; a block without `type` is a package lock, as libzypp reads it.
pub fn parse_locks(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for block in text.split("\n\n") {
        let mut kind: Option<&str> = None;
        let mut block_names: Vec<&str> = Vec::new();
        for line in block.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key.trim() {
                "type" => kind = Some(value.trim()),
                "solvable_name" => block_names.push(value.trim()),
                _ => {}
            }
        }
        if kind.is_none_or(|k| k == "package") {
            names.extend(
                block_names
                    .into_iter()
                    .filter(|n| !n.is_empty())
                    .map(str::to_string),
            );
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_locks_file_is_read() {
        let text = include_str!("../../../tests/data/zypper/etc-zypp-locks");
        assert_eq!(parse_locks(text), ["kernel-*", "lpa-hello", "lpa-lib"]);
    }

    #[test]
    fn empty_untyped_and_odd_blocks() {
        assert!(parse_locks("").is_empty());
        assert!(parse_locks("\n\n\n").is_empty());
        assert_eq!(parse_locks("solvable_name: x\n"), ["x"]);
        assert!(parse_locks("type: patch\nsolvable_name: p\n").is_empty());
        assert!(parse_locks("type: package\nsolvable_name:\n").is_empty());
        assert_eq!(parse_locks("garbage line\nsolvable_name: y\n"), ["y"]);
    }
}
