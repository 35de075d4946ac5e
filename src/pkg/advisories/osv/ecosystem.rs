//! Which OSV ecosystem strings describe this host.
//!
//! OSV names a distribution release in `affected[].package.ecosystem`: `Ubuntu:22.04:LTS`,
//! `Ubuntu:25.10`, `Ubuntu:Pro:14.04:LTS` (packages from Ubuntu Pro / ESM, installable only
//! with a subscription), `Ubuntu:Pro:FIPS-updates:22.04:LTS` (FIPS-certified packages) and
//! `Debian:12`. A host is matched by distribution and `VERSION_ID`; Pro ecosystems only
//! when the host has Pro (ESM) sources enabled, FIPS ecosystems never (a FIPS host runs
//! certified builds whose versions do not order against the ordinary ones).

use std::path::Path;

/// The distributions whose OSV records this reader serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Distro {
    /// Ubuntu: USN notices and `UBUNTU-CVE-*` records.
    Ubuntu,
    /// Debian: DSA/DLA notices and `DEBIAN-CVE-*` records.
    Debian,
}

impl Distro {
    /// The OSV ecosystem name (the directory of `.../<ECOSYSTEM>/all.zip`).
    pub fn osv_name(self) -> &'static str {
        match self {
            Distro::Ubuntu => "Ubuntu",
            Distro::Debian => "Debian",
        }
    }

    /// `severity_source` of patches built from this distribution's records.
    pub fn severity_source(self) -> &'static str {
        match self {
            Distro::Ubuntu => super::UBUNTU_SOURCE,
            Distro::Debian => super::DEBIAN_SOURCE,
        }
    }
}

/// The host's release as OSV names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostEcosystem {
    /// The distribution.
    pub distro: Distro,
    /// `VERSION_ID` of os-release: `22.04` on Ubuntu, `12` on Debian.
    pub version: String,
    /// Whether `Ubuntu:Pro:<version>...` records apply (Ubuntu Pro / ESM sources enabled).
    pub pro: bool,
}

impl HostEcosystem {
    /// An Ubuntu release (`22.04`), with or without Ubuntu Pro.
    pub fn ubuntu(version: &str, pro: bool) -> Self {
        HostEcosystem {
            distro: Distro::Ubuntu,
            version: version.trim().to_string(),
            pro,
        }
    }

    /// A Debian release by its major `VERSION_ID` (`12`).
    pub fn debian(version: &str) -> Self {
        HostEcosystem {
            distro: Distro::Debian,
            version: version.trim().to_string(),
            pro: false,
        }
    }

    /// The host of an installation root: `ID` and `VERSION_ID` of its `etc/os-release`
    /// (else `usr/lib/os-release`), Pro from its apt sources. `None` for another
    /// distribution or without a `VERSION_ID` (Debian testing/sid have none: no OSV
    /// ecosystem names them).
    pub fn of_root(root: &Path) -> Option<Self> {
        let text = ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .find_map(|rel| std::fs::read_to_string(root.join(rel)).ok())?;
        let os = crate::system::info::parse_os_release(&text);
        let version = os
            .get("VERSION_ID")
            .map(str::trim)
            .filter(|v| !v.is_empty())?;
        match os.get("ID").map(str::trim)? {
            "ubuntu" => Some(Self::ubuntu(version, ubuntu_pro_enabled(root))),
            "debian" => Some(Self::debian(version)),
            _ => None,
        }
    }

    /// Whether a record's ecosystem string names this host's release.
    pub fn matches(&self, ecosystem: &str) -> bool {
        let mut parts = ecosystem.trim().split(':');
        if parts.next() != Some(self.distro.osv_name()) {
            return false;
        }
        let mut version = parts.next();
        if self.distro == Distro::Ubuntu && version == Some("Pro") {
            if !self.pro {
                return false;
            }
            version = parts.next();
        }
        if version != Some(self.version.as_str()) {
            return false;
        }
        // Only the `LTS` marker may follow; anything else is a variant we do not serve.
        parts.all(|p| p == "LTS")
    }

    /// Cheap test on a record's raw bytes before parsing it: false only when no matching
    /// ecosystem string can be in it.
    pub fn may_match(&self, raw: &[u8]) -> bool {
        self.needles().iter().any(|n| contains(raw, n.as_bytes()))
    }

    /// The ecosystem prefixes [`HostEcosystem::may_match`] looks for.
    fn needles(&self) -> Vec<String> {
        let name = self.distro.osv_name();
        let mut out = vec![format!("\"{name}:{}", self.version)];
        if self.pro {
            out.push(format!("\"{name}:Pro:{}", self.version));
        }
        out
    }

    /// The feed's name in reports and logs: `ubuntu-osv 22.04`, `debian-osv 12`.
    pub fn feed_name(&self) -> String {
        format!("{} {}", self.distro.severity_source(), self.version)
    }
}

/// Whether `haystack` contains `needle`: one byte compare per position, the rest only
/// where the first byte matches (this runs over every byte of an archive).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return false;
    };
    haystack
        .iter()
        .enumerate()
        .any(|(i, &b)| b == first && haystack[i + 1..].starts_with(rest))
}

/// Whether the root's apt sources include Ubuntu Pro (ESM) archives, which is what makes
/// `Ubuntu:Pro:*` packages installable.
pub fn ubuntu_pro_enabled(root: &Path) -> bool {
    let dir = root.join("etc/apt/sources.list.d");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        (name.ends_with(".list") || name.ends_with(".sources"))
            && std::fs::read_to_string(e.path())
                .map(|t| t.lines().any(is_esm_source_line))
                .unwrap_or(false)
    })
}

/// An active (uncommented) line naming the ESM archive.
fn is_esm_source_line(line: &str) -> bool {
    let line = line.trim();
    !line.starts_with('#') && line.contains("esm.ubuntu.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ubuntu_release_matches_plain_and_lts_not_pro_without_subscription() {
        let host = HostEcosystem::ubuntu("22.04", false);
        assert!(host.matches("Ubuntu:22.04:LTS"));
        assert!(host.matches("Ubuntu:22.04"));
        assert!(!host.matches("Ubuntu:Pro:22.04:LTS"));
        assert!(!host.matches("Ubuntu:24.04:LTS"));
        assert!(!host.matches("Ubuntu:22.040"));
        assert!(!host.matches("Debian:22.04"));
        assert!(!host.matches("Ubuntu:Pro:FIPS-updates:22.04:LTS"));
        let pro = HostEcosystem::ubuntu("22.04", true);
        assert!(pro.matches("Ubuntu:Pro:22.04:LTS"));
        assert!(pro.matches("Ubuntu:22.04:LTS"));
        assert!(!pro.matches("Ubuntu:Pro:FIPS-updates:22.04:LTS"));
        assert!(!pro.matches("Ubuntu:Pro:14.04:LTS"));
        assert!(HostEcosystem::ubuntu("25.10", false).matches("Ubuntu:25.10"));
    }

    #[test]
    fn debian_release_matches_its_major_version() {
        let host = HostEcosystem::debian("7");
        assert!(host.matches("Debian:7"));
        assert!(!host.matches("Debian:12"));
        assert!(!host.matches("Debian:7:extra"));
        assert!(!host.matches("Ubuntu:7"));
        assert_eq!(host.feed_name(), "debian-osv 7");
    }

    #[test]
    fn prefilter_finds_the_quoted_ecosystem() {
        let host = HostEcosystem::ubuntu("22.04", false);
        assert!(host.may_match(br#"{"ecosystem": "Ubuntu:22.04:LTS"}"#));
        assert!(!host.may_match(br#"{"ecosystem": "Ubuntu:Pro:22.04:LTS"}"#));
        assert!(HostEcosystem::ubuntu("22.04", true).may_match(br#""Ubuntu:Pro:22.04:LTS""#));
        assert!(!host.may_match(br#"{"ecosystem": "Ubuntu:24.04:LTS"}"#));
        assert!(host.may_match(br#""Ubuntu:22.04"#));
        assert!(!host.may_match(br#""Ubuntu:22.0"#));
        assert!(!contains(b"abc", b""));
    }

    #[test]
    fn host_from_os_release_and_apt_sources() {
        let dir = std::env::temp_dir().join(format!("lpa-osv-eco-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc/apt/sources.list.d")).unwrap();
        assert_eq!(HostEcosystem::of_root(&dir), None);
        std::fs::write(
            dir.join("etc/os-release"),
            "ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n",
        )
        .unwrap();
        assert_eq!(
            HostEcosystem::of_root(&dir),
            Some(HostEcosystem::ubuntu("22.04", false))
        );
        let esm = dir.join("etc/apt/sources.list.d/ubuntu-esm-infra.list");
        std::fs::write(
            &esm,
            "# deb https://esm.ubuntu.com/infra/ubuntu jammy main\n",
        )
        .unwrap();
        assert!(!ubuntu_pro_enabled(&dir));
        std::fs::write(
            &esm,
            "deb https://esm.ubuntu.com/infra/ubuntu jammy-infra-security main\n",
        )
        .unwrap();
        assert_eq!(
            HostEcosystem::of_root(&dir),
            Some(HostEcosystem::ubuntu("22.04", true))
        );
        std::fs::write(dir.join("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
        assert_eq!(
            HostEcosystem::of_root(&dir),
            Some(HostEcosystem::debian("12"))
        );
        std::fs::write(
            dir.join("etc/os-release"),
            "ID=debian\nVERSION_CODENAME=trixie\n",
        )
        .unwrap();
        assert_eq!(HostEcosystem::of_root(&dir), None);
        std::fs::write(dir.join("etc/os-release"), "ID=fedora\nVERSION_ID=40\n").unwrap();
        assert_eq!(HostEcosystem::of_root(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
