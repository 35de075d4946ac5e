//! `apt-cache policy NAME...` output: every version of a package in every origin.
//!
//! Shape (apt 2.6):
//! ```text
//! lpa-lib:
//!   Installed: 1.0-1
//!   Candidate: 1.1-1
//!   Version table:
//!      1.1-1 500
//!         500 file:/srv/lpa-deb/main ./ Packages
//!  *** 1.0-1 500
//!         500 file:/srv/lpa-deb/main ./ Packages
//!         100 /var/lib/dpkg/status
//! ```
//! apt-cache falls back to regular-expression matching when no package has the exact name
//! (`lpa.hello` prints the block of `lpa-hello`), so callers pick blocks by their header.

/// The origin line apt prints for the version recorded in dpkg's database.
pub const DPKG_STATUS_ORIGIN: &str = "/var/lib/dpkg/status";

/// One package block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyBlock {
    /// The header without its colon (`name` or `name:arch`).
    pub name: String,
    /// `Installed:`; `None` for `(none)`.
    pub installed: Option<String>,
    /// The version table, in apt's order (highest priority first).
    pub versions: Vec<PolicyVersion>,
}

/// One row of a version table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyVersion {
    /// The version.
    pub version: String,
    /// Where it comes from: the origin lines without their priority (`file:/srv/x ./
    /// Packages`, `/var/lib/dpkg/status`).
    pub origins: Vec<String>,
}

impl PolicyBlock {
    /// Versions that can be installed: every one some repository offers, plus the installed
    /// one even when only dpkg's database still has it. A version only in dpkg's database
    /// whose package is not installed (removed, conffiles left) is not offered by anyone.
    pub fn available(&self) -> Vec<String> {
        self.versions
            .iter()
            .filter(|v| {
                v.origins.iter().any(|o| o != DPKG_STATUS_ORIGIN)
                    || self.installed.as_deref() == Some(v.version.as_str())
            })
            .map(|v| v.version.clone())
            .collect()
    }
}

/// Parses every block of the output.
pub fn parse_policy(text: &str) -> Vec<PolicyBlock> {
    let mut blocks: Vec<PolicyBlock> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') {
            if let Some(name) = line.strip_suffix(':') {
                blocks.push(PolicyBlock {
                    name: name.to_string(),
                    installed: None,
                    versions: Vec::new(),
                });
            }
            continue;
        }
        let Some(block) = blocks.last_mut() else {
            continue;
        };
        add_line(block, line.trim());
    }
    blocks
}

fn add_line(block: &mut PolicyBlock, line: &str) {
    if let Some(v) = line.strip_prefix("Installed:") {
        let v = v.trim();
        block.installed = (v != "(none)" && !v.is_empty()).then(|| v.to_string());
        return;
    }
    if line.starts_with("Candidate:") || line.starts_with("Version table:") {
        return;
    }
    let row = line.strip_prefix("***").unwrap_or(line).trim();
    let words: Vec<&str> = row.split_whitespace().collect();
    match words[..] {
        // A version row: `VERSION PRIORITY` (priorities may be negative).
        [version, prio] if prio.parse::<i32>().is_ok() => block.versions.push(PolicyVersion {
            version: version.to_string(),
            origins: Vec::new(),
        }),
        // An origin row: `PRIORITY WHERE...`.
        [prio, _, ..] if prio.parse::<i32>().is_ok() => {
            if let Some(v) = block.versions.last_mut() {
                let rest = row[prio.len()..].trim();
                v.origins.push(rest.to_string());
            }
        }
        _ => {}
    }
}

/// The block for exactly `name`; `name:arch` also finds an unqualified block (apt leaves the
/// native architecture out of the header).
pub fn find<'a>(blocks: &'a [PolicyBlock], name: &str) -> Option<&'a PolicyBlock> {
    blocks.iter().find(|b| b.name == name).or_else(|| {
        let (bare, _) = name.split_once(':')?;
        blocks.iter().find(|b| b.name == bare)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = include_str!("../../../tests/data/apt/policy-new.stdout");
    const INSTALLED: &str = include_str!("../../../tests/data/apt/policy-installed.stdout");
    const STATUS_ONLY: &str = include_str!("../../../tests/data/apt/policy-status-only.stdout");
    const REGEX: &str = include_str!("../../../tests/data/apt/policy-regex.stdout");
    const UNKNOWN: &str = include_str!("../../../tests/data/apt/policy-unknown.stdout");

    #[test]
    fn every_version_of_every_origin() {
        let blocks = parse_policy(NEW);
        assert_eq!(blocks.len(), 1);
        let b = &blocks[0];
        assert_eq!(b.name, "lpa-hello");
        assert_eq!(b.installed, None);
        assert_eq!(b.available(), ["2.0-1", "1.1-1", "1.0-1"]);
        assert_eq!(
            b.versions[0].origins,
            ["file:/srv/lpa-deb/security ./ Packages"]
        );
    }

    #[test]
    fn installed_version_is_marked_and_kept() {
        let blocks = parse_policy(INSTALLED);
        let b = find(&blocks, "lpa-lib").unwrap();
        assert_eq!(b.installed.as_deref(), Some("1.0-1"));
        assert_eq!(b.available(), ["1.1-1", "1.0-1"]);
        assert_eq!(
            b.versions[1].origins,
            ["file:/srv/lpa-deb/main ./ Packages", DPKG_STATUS_ORIGIN]
        );
    }

    #[test]
    fn a_version_only_dpkg_remembers() {
        let blocks = parse_policy(STATUS_ONLY);
        assert_eq!(blocks.len(), 2);
        // Installed, no repository has it any more: still a version one can "install".
        assert_eq!(find(&blocks, "lpa-lib").unwrap().available(), ["1.0-1"]);
        // Removed with conffiles left (priority -1): that version is not on offer.
        let hello = find(&blocks, "lpa-hello").unwrap();
        assert_eq!(hello.versions.len(), 2);
        assert_eq!(hello.versions[1].version, "1.0-1");
        assert_eq!(hello.available(), ["2.0-1"]);
    }

    #[test]
    fn regex_matches_and_unknown_names_find_nothing() {
        let blocks = parse_policy(REGEX);
        assert_eq!(blocks[0].name, "lpa-hello");
        assert!(find(&blocks, "lpa.hello").is_none());
        assert!(parse_policy(UNKNOWN).is_empty());
        assert!(find(&parse_policy(UNKNOWN), "lpa-nosuch").is_none());
    }

    #[test]
    fn qualified_names_and_virtual_packages() {
        let text = "awk:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n\
                    libx:i386:\n  Installed: 2\n  Candidate: 2\n  Version table:\n \
                    *** 2 100\n        100 /var/lib/dpkg/status\n";
        let blocks = parse_policy(text);
        let awk = find(&blocks, "awk").unwrap();
        assert!(awk.available().is_empty());
        assert_eq!(find(&blocks, "libx:i386").unwrap().available(), ["2"]);
        assert_eq!(find(&blocks, "awk:amd64").unwrap().name, "awk");
        assert!(find(&blocks, "libx").is_none());
    }
}
