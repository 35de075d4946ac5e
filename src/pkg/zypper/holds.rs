//! zypper's holds: package locks (`/etc/zypp/locks`), read with `zypper -x locks` and set
//! with `zypper addlock NAME` / `removelock NAME`. libzypp's solver never changes a locked
//! package, so zypper honours the agent's holds, and a lock added by hand is listed here.
//! A lock may be a glob (`match_type: glob`, e.g. `kernel-*`); it covers every name it
//! matches (see `pkg::holds::covers`). Recorded: `tests/data/zypper/zypper-x-locks*.stdout`.

use std::path::PathBuf;

use super::Zypper;
use crate::pkg::xml::tree;
use crate::pkg::PkgError;

impl Zypper {
    /// `zypper -x locks`: the names of the package locks.
    pub(super) fn read_holds(&self) -> Result<Vec<String>, PkgError> {
        let cmd = self.base_command().args(["--xmlout", "locks"]);
        let fin = self.run(&cmd)?;
        parse_locks(&fin.stdout)
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
    pub(super) fn hold_files(&self) -> Vec<PathBuf> {
        vec![self.settings.root.join("etc/zypp/locks")]
    }
}

/// The `<name>` of each `<lock>` of type package (or without a type) in `zypper -x locks`.
pub fn parse_locks(xml: &str) -> Result<Vec<String>, PkgError> {
    let root = tree::parse(xml).map_err(|message| PkgError::Parse {
        what: "zypper --xmlout locks".into(),
        message,
    })?;
    Ok(root
        .descendants("lock")
        .filter(|l| l.child("type").is_none_or(|t| t.text().trim() == "package"))
        .filter_map(|l| l.child("name").map(|n| n.text().trim().to_string()))
        .filter(|n| !n.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> String {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/zypper/");
        std::fs::read_to_string(format!("{p}{name}")).unwrap()
    }

    #[test]
    fn recorded_locks_are_read() {
        assert_eq!(
            parse_locks(&data("zypper-x-locks.stdout")).unwrap(),
            ["lpa-hello", "lpa-lib"]
        );
        assert!(parse_locks(&data("zypper-x-locks-none.stdout"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn pattern_locks_are_left_out_and_bad_xml_is_an_error() {
        let xml = "<stream><locks size=\"2\"><lock number=\"1\"><name>x</name><type>pattern</type></lock><lock number=\"2\"><name>y</name></lock></locks></stream>";
        assert_eq!(parse_locks(xml).unwrap(), ["y"]);
        assert!(parse_locks("<stream><locks>").is_err());
    }
}
