//! apt's holds: dpkg's `hold` selection, read with `apt-mark showhold` and set with
//! `apt-mark hold|unhold` (which write `Status: hold ok installed` into
//! `/var/lib/dpkg/status` through `dpkg --set-selections`; recorded in
//! `tests/data/apt/README.md`). apt-get never upgrades a held package on its own and refuses
//! an explicit install of one ("Held packages were changed"), so the tool honours the agent's
//! holds and the agent sees the operator's.

use std::path::PathBuf;

use super::{non_interactive, Apt};
use crate::pkg::PkgError;

impl Apt {
    /// `apt-mark showhold`: one held name per line.
    pub(super) fn read_holds(&self) -> Result<Vec<String>, PkgError> {
        let cmd = non_interactive(self.in_root("apt-mark")?)
            .arg("showhold")
            .timeout(self.settings.command_timeout);
        let fin = self.run_apt(&cmd)?;
        Ok(parse_showhold(&fin.stdout))
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

    /// dpkg's status file holds the selections apt-mark writes.
    pub(super) fn hold_files(&self) -> Vec<PathBuf> {
        vec![self.status_path()]
    }
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
}
