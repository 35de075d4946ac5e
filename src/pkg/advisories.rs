//! Security metadata in one shape for every family: what a pending update fixes, how bad it
//! is, and whether it asks for a reboot.
//!
//! dnf/yum and zypper carry advisories in their repositories (updateinfo); Debian, Alpine
//! and Arch publish them as feeds beside the repositories, read here from a local file
//! ([`FeedSettings`]). Without metadata every upgrade is its own patch of unknown severity:
//! never a guess from package names.

pub mod alpine_secdb;
pub mod arch_asa;
pub mod board;
pub mod cache;
pub mod debian_tracker;
pub mod feeds;
pub mod fetch;
pub mod freshness;
pub mod ids;
pub mod origin;
pub mod osv;
pub mod reboot;
pub mod report;
pub mod shape;
pub mod stamp;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{PkgError, Upgrade};
pub use cache::Parsed;

/// Normalised severity of a patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// No source said (or the source said "unknown"/"unspecified").
    Unknown,
    /// Low, negligible or unimportant.
    Low,
    /// Medium or moderate.
    Medium,
    /// High or important.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Unknown,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The API's name (`critical`, `high`, `medium`, `low`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses an API name.
    pub fn from_name(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Maps a source's own word (Red Hat/SUSE `Important`/`Moderate`, Debian urgency
    /// `unimportant`, Arch `High`, ...) to the normalised scale, case-insensitively.
    pub fn from_source(label: &str) -> Severity {
        match label.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "important" | "high" => Severity::High,
            "moderate" | "medium" => Severity::Medium,
            "low" | "negligible" | "unimportant" => Severity::Low,
            _ => Severity::Unknown,
        }
    }
}

/// What kind of update an advisory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvisoryKind {
    /// Fixes a vulnerability: counted in `security_updates`.
    Security,
    /// Fixes a bug.
    Bugfix,
    /// Adds a feature.
    Enhancement,
    /// Anything else, including a plain package update without an advisory.
    Other,
}

impl AdvisoryKind {
    /// The name used in answers (`security`, `bugfix`, `enhancement`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryKind::Security => "security",
            AdvisoryKind::Bugfix => "bugfix",
            AdvisoryKind::Enhancement => "enhancement",
            AdvisoryKind::Other => "other",
        }
    }
}

/// One package an advisory updates on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedPackage {
    /// Package name.
    pub name: String,
    /// Installed version.
    pub current_version: String,
    /// Version the update installs (the tool's candidate, or the advisory's fixed version).
    pub available_version: String,
    /// Architecture, when known.
    pub arch: Option<String>,
}

/// One patch: an advisory (or, without one, a single package update) that applies here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// Advisory id (`RHSA-2024:1234`, `SUSE-2024-1234`, `AVG-2843`, ...); for an update
    /// without an advisory, `NAME-VERSION` of the update.
    pub id: String,
    /// Short title (advisory title or summary; the package name for a plain update).
    pub name: String,
    /// Kind of update.
    pub kind: AdvisoryKind,
    /// Normalised severity.
    pub severity: Severity,
    /// Where the severity came from: `updateinfo`, `zypper`, `debian-tracker`,
    /// `alpine-secdb`, `arch-asa`, or `none`.
    pub severity_source: String,
    /// When the advisory was issued, when the source says.
    #[serde(with = "time::serde::rfc3339::option")]
    pub published: Option<OffsetDateTime>,
    /// Description ("" when none; never absent).
    pub description: String,
    /// CVE ids it fixes, sorted and unique.
    pub cve_ids: Vec<String>,
    /// Other advisory ids the source names for it (`XSA-252`, `GHSA-...`, `RHBA-...`, a
    /// DSA/USN id an OSV record aliases), sorted and unique; never a CVE id, never `id`.
    /// Absent from records written before it existed, hence the default.
    #[serde(default)]
    pub advisory_ids: Vec<String>,
    /// The packages it updates on this host (never empty).
    pub packages: Vec<AffectedPackage>,
    /// Whether the source marks it as needing a reboot (dnf `reboot_suggested`, zypper
    /// `restart`), or an affected package installs a kernel image.
    pub requires_reboot: bool,
}

impl Advisory {
    /// Whether this counts in `security_updates`.
    pub fn is_security(&self) -> bool {
        self.kind == AdvisoryKind::Security
    }

    /// Adds ids to `advisory_ids`, keeping it sorted and unique and leaving out CVE ids
    /// (they belong in `cve_ids`), empty strings and the patch's own id.
    pub fn add_advisory_ids<S: AsRef<str>>(&mut self, ids: impl IntoIterator<Item = S>) {
        for raw in ids {
            let id = raw.as_ref().trim();
            let is_cve = id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("CVE-"));
            if id.is_empty() || is_cve || id == self.id {
                continue;
            }
            if let Err(at) = self.advisory_ids.binary_search_by(|k| k.as_str().cmp(id)) {
                self.advisory_ids.insert(at, id.to_string());
            }
        }
    }
}

/// The feeds a backend reads advisories from (apt: Debian tracker + OSV DSA, or Ubuntu
/// OSV USN; apk: one Alpine secdb per repository; pacman: Arch ASA) and the board it
/// reports each feed's parse on. dnf/yum read no feed but report each cached updateinfo
/// file on the board; zypper ignores it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedSettings {
    /// Every feed, in the registry's order; a missing file is skipped (not downloaded yet).
    pub feeds: Vec<feeds::FeedSource>,
    /// Where parse outcomes are recorded.
    pub board: board::FeedBoard,
}

impl FeedSettings {
    /// One local feed file (not downloaded), matched for `release`.
    pub fn single(
        name: &str,
        format: feeds::FeedFormat,
        path: std::path::PathBuf,
        release: Option<&str>,
    ) -> FeedSettings {
        FeedSettings {
            feeds: vec![feeds::FeedSource {
                name: name.to_string(),
                format,
                url: None,
                path,
                release: release.map(str::to_string),
            }],
            board: board::FeedBoard::default(),
        }
    }

    /// The feeds of one format.
    pub fn of(&self, format: feeds::FeedFormat) -> impl Iterator<Item = &feeds::FeedSource> {
        self.feeds.iter().filter(move |f| f.format == format)
    }

    /// Loads one feed through `load`, recording the outcome on the board: `None` when the
    /// file is missing or unreadable (the error is on the board and in the log, and the
    /// other feeds still serve).
    pub fn load<T>(
        &self,
        feed: &feeds::FeedSource,
        load: impl FnOnce(&feeds::FeedSource) -> Result<Option<Arc<Parsed<T>>>, PkgError>,
    ) -> Option<Arc<Parsed<T>>> {
        match load(feed) {
            Ok(Some(parsed)) => {
                let r = &parsed.report;
                self.board.parsed(&feed.name, r.records, r.skipped);
                Some(parsed)
            }
            Ok(None) => {
                let why = format!("{} does not exist yet", feed.path.display());
                self.board.unusable(&feed.name, why);
                None
            }
            Err(e) => {
                log::warn!("advisory feed {} is not used: {e}", feed.name);
                self.board.unusable(&feed.name, e.to_string());
                None
            }
        }
    }
}

/// Whether the host needs a reboot to run what is installed, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootRequired {
    /// True when a reboot is pending.
    pub required: bool,
    /// How it was decided, e.g. `/run/reboot-required present`, `needs-restarting -r exit 1`,
    /// `running kernel 6.1.0-1 older than installed 6.1.0-2`.
    pub reason: String,
    /// Packages that asked for it, when the source lists them.
    pub packages: Vec<String>,
}

/// One patch per upgrade, for a family or host without advisory metadata: severity
/// unknown, kind other, no CVE ids.
pub fn per_package(upgrades: &[Upgrade]) -> Vec<Advisory> {
    upgrades.iter().map(plain_update).collect()
}

/// The patch for one upgrade that no advisory covers.
pub fn plain_update(u: &Upgrade) -> Advisory {
    Advisory {
        id: format!("{}-{}", u.name, u.available_version),
        name: u.name.clone(),
        kind: AdvisoryKind::Other,
        severity: Severity::Unknown,
        severity_source: "none".to_string(),
        published: None,
        description: String::new(),
        cve_ids: Vec::new(),
        advisory_ids: Vec::new(),
        packages: vec![affected(u)],
        requires_reboot: false,
    }
}

/// The affected-package record of an upgrade.
pub fn affected(u: &Upgrade) -> AffectedPackage {
    AffectedPackage {
        name: u.name.clone(),
        current_version: u.current_version.clone(),
        available_version: u.available_version.clone(),
        arch: u.arch.clone(),
    }
}

/// Adds a plain-update patch for every upgrade none of `advisories` lists.
pub fn with_uncovered(mut advisories: Vec<Advisory>, upgrades: &[Upgrade]) -> Vec<Advisory> {
    let covered: std::collections::HashSet<&str> = advisories
        .iter()
        .flat_map(|a| a.packages.iter().map(|p| p.name.as_str()))
        .collect();
    let rest: Vec<Advisory> = upgrades
        .iter()
        .filter(|u| !covered.contains(u.name.as_str()))
        .map(plain_update)
        .collect();
    advisories.extend(rest);
    advisories
}

#[cfg(test)]
impl Advisory {
    /// A patch for unit tests: named by its id, no source, each package upgrading 1 to 2.
    pub fn sample(id: &str, kind: AdvisoryKind, severity: Severity, packages: &[&str]) -> Advisory {
        Advisory {
            id: id.into(),
            name: id.into(),
            kind,
            severity,
            severity_source: "none".into(),
            published: None,
            description: String::new(),
            cve_ids: Vec::new(),
            advisory_ids: Vec::new(),
            packages: packages
                .iter()
                .map(|n| AffectedPackage {
                    name: n.to_string(),
                    current_version: "1".into(),
                    available_version: "2".into(),
                    arch: None,
                })
                .collect(),
            requires_reboot: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(name: &str, cur: &str, new: &str) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: Some("noarch".into()),
            origins: vec![],
        }
    }

    #[test]
    fn source_words_map_to_the_scale() {
        assert_eq!(Severity::from_source("Important"), Severity::High);
        assert_eq!(Severity::from_source("Moderate"), Severity::Medium);
        assert_eq!(Severity::from_source(" CRITICAL "), Severity::Critical);
        assert_eq!(Severity::from_source("unimportant"), Severity::Low);
        assert_eq!(Severity::from_source("not yet assigned"), Severity::Unknown);
        assert_eq!(Severity::from_source("unspecified"), Severity::Unknown);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
        for s in Severity::ALL {
            assert_eq!(Severity::from_name(s.as_str()), Some(s));
        }
        assert_eq!(Severity::from_name("important"), None);
    }

    #[test]
    fn uncovered_upgrades_become_plain_patches() {
        let ups = [up("a", "1", "2"), up("b", "1.0", "1.1")];
        let mut adv = plain_update(&ups[0]);
        adv.id = "ADV-1".into();
        adv.kind = AdvisoryKind::Security;
        let all = with_uncovered(vec![adv], &ups);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].id, "b-1.1");
        assert_eq!(all[1].severity, Severity::Unknown);
        assert_eq!(all[1].severity_source, "none");
        assert!(all[0].is_security() && !all[1].is_security());
        assert_eq!(all[1].packages[0].current_version, "1.0");
    }

    #[test]
    fn advisories_survive_a_json_round_trip() {
        let mut a = plain_update(&up("a", "1", "2"));
        a.published = Some(time::macros::datetime!(2026-01-15 00:00 UTC));
        let text = serde_json::to_string(&a).unwrap();
        assert!(text.contains("2026-01-15T00:00:00Z"), "{text}");
        let back: Advisory = serde_json::from_str(&text).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn advisory_ids_are_sorted_unique_and_never_cves_or_the_own_id() {
        let mut a = plain_update(&up("a", "1", "2"));
        a.id = "DSA-5000-1".into();
        a.add_advisory_ids(["XSA-252", "CVE-2026-0001", "DSA-5000-1", " ", "GHSA-x"]);
        a.add_advisory_ids(vec![
            "XSA-252".to_string(),
            "cve-2026-0002".into(),
            "DLA-1".into(),
        ]);
        assert_eq!(a.advisory_ids, ["DLA-1", "GHSA-x", "XSA-252"]);
        assert!(a.cve_ids.is_empty());
    }

    #[test]
    fn a_stored_advisory_without_advisory_ids_still_loads() {
        // As written to a job record before `advisory_ids` existed.
        let old = r#"{"id":"RHSA-2024:1","name":"t","kind":"security","severity":"high",
            "severity_source":"updateinfo","published":null,"description":"",
            "cve_ids":["CVE-2024-0001"],"packages":[{"name":"p","current_version":"1",
            "available_version":"2","arch":null}],"requires_reboot":false}"#;
        let a: Advisory = serde_json::from_str(old).unwrap();
        assert!(a.advisory_ids.is_empty());
        assert_eq!(a.cve_ids, ["CVE-2024-0001"]);
        let mut with = a.clone();
        with.add_advisory_ids(["RHBA-2024:2"]);
        let text = serde_json::to_string(&with).unwrap();
        assert!(text.contains(r#""advisory_ids":["RHBA-2024:2"]"#), "{text}");
    }
}
