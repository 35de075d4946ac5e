//! apt's holds: dpkg's `hold` selection, read with `apt-mark showhold` and set with
//! `apt-mark hold|unhold` (which write `Status: hold ok installed` into
//! `/var/lib/dpkg/status` through `dpkg --set-selections`; recorded in
//! `tests/data/apt/README.md`). apt-get never upgrades a held package on its own and refuses
//! an explicit install of one ("Held packages were changed"), so the tool honours the agent's
//! holds and the agent sees the operator's.

use std::path::PathBuf;

use super::dpkg::{self, StatusEntry};
use super::{non_interactive, Apt};
use crate::pkg::PkgError;

impl Apt {
    /// What `apt-mark showhold` prints, read from dpkg's status file itself (the `hold`
    /// selection apt-mark shows) instead of starting it: a job checks holds twice.
    pub(super) fn read_holds(&self) -> Result<Vec<String>, PkgError> {
        Ok(held_in(&self.read_status()?))
    }

    /// `apt-mark hold NAME` or `apt-mark unhold NAME`; a name apt does not know at all is
    /// `NotFound` ("Unable to locate package").
    pub(super) fn mark(&self, verb: &str, name: &str) -> Result<(), PkgError> {
        let cmd = non_interactive(self.in_root("apt-mark")?)
            .args([verb, name])
            .timeout(self.settings.command_timeout);
        match self.run_apt(&cmd) {
            Err(PkgError::Command { stderr_tail, .. })
                if stderr_tail.contains("Unable to locate package") =>
            {
                Err(PkgError::NotFound(name.to_string()))
            }
            other => other.map(|_| ()),
        }
    }

    /// dpkg's status file, and its journal, hold the selections apt-mark writes.
    pub(super) fn hold_files(&self) -> Vec<PathBuf> {
        vec![self.status_path(), self.journal_dir()]
    }
}

/// The names whose dpkg selection is `hold`, qualified as apt-mark prints them.
fn held_in(entries: &[StatusEntry]) -> Vec<String> {
    let native = dpkg::native_arch(entries);
    let mut held: Vec<String> = entries
        .iter()
        .filter(|e| e.want == "hold")
        .map(|e| e.display_name(native.as_deref()))
        .collect();
    held.sort();
    held.dedup();
    held
}

/// The names `apt-mark showhold` printed (one per line; `name:arch` for a foreign
/// architecture, kept as printed, which is how the inventory names such packages).
pub fn parse_showhold(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> String {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/apt/");
        std::fs::read_to_string(format!("{p}{name}")).unwrap()
    }

    #[test]
    fn showhold_lists_one_name_per_line() {
        assert_eq!(
            parse_showhold(&data("apt-mark-showhold.stdout")),
            ["apt", "dpkg"]
        );
        assert!(parse_showhold("").is_empty());
        assert!(parse_showhold("\n\n").is_empty());
    }

    #[test]
    fn the_status_files_hold_selections_are_what_showhold_lists() {
        let status = "Package: dpkg\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 1\n\n\
                      Package: apt\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 2\n\n\
                      Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5\n\n\
                      Package: libx\nStatus: hold ok installed\nArchitecture: i386\nVersion: 3\n";
        let entries = dpkg::parse_status(status).unwrap();
        let mut want = parse_showhold(&data("apt-mark-showhold.stdout"));
        want.push("libx:i386".into());
        assert_eq!(held_in(&entries), want);
    }
}
