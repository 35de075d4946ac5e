//! The last step of a repair: packages dpkg must reinstall. A kill while dpkg unpacks leaves
//! a package `half-installed` with the `reinstreq` flag; `dpkg --configure -a` skips it and
//! `apt-get -f install` fetches its archive but installs nothing (apt 2.6), so `dpkg --audit`
//! keeps reporting it. Only an explicit reinstall of the recorded version repairs it.

use super::dpkg::{DpkgState, StatusEntry};

/// `name=version` (or `name:arch=version`) of every package dpkg flags for reinstallation,
/// pinned to the version dpkg recorded so the repair never upgrades anything behind the
/// operator's back.
pub fn reinstall_targets(entries: &[StatusEntry], native_arch: Option<&str>) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.flag == "reinstreq" || e.state == DpkgState::HalfInstalled)
        .filter_map(|e| {
            let version = e.version.as_deref()?;
            Some(format!("{}={version}", e.display_name(native_arch)))
        })
        .collect()
}

/// `apt-get` arguments reinstalling `targets`.
pub fn reinstall_args(targets: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["install", "--reinstall", "-y", "-q", "--"]
        .map(String::from)
        .to_vec();
    args.extend(targets.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use super::super::dpkg::parse_status;
    use super::*;

    const STATUS: &str = "\
Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21.22

Package: lpa-hello
Status: install reinstreq half-installed
Architecture: all
Version: 1.1-1

Package: lpa-slow
Status: install ok half-configured
Architecture: all
Version: 1.0-1

Package: libfoo
Status: install reinstreq unpacked
Architecture: i386
Version: 2.0

Package: gone
Status: purge ok not-installed
";

    #[test]
    fn only_packages_dpkg_must_reinstall_are_pinned_to_their_recorded_version() {
        let entries = parse_status(STATUS).unwrap();
        let targets = reinstall_targets(&entries, Some("amd64"));
        assert_eq!(targets, ["lpa-hello=1.1-1", "libfoo:i386=2.0"]);
        assert_eq!(
            reinstall_args(&targets),
            [
                "install",
                "--reinstall",
                "-y",
                "-q",
                "--",
                "lpa-hello=1.1-1",
                "libfoo:i386=2.0"
            ]
        );
        assert!(reinstall_targets(&parse_status("").unwrap(), None).is_empty());
    }
}
