//! The OSV records of one host release, indexed by package for matching upgrades.
//!
//! A notice's affected entry that lists binary packages (Ubuntu USN) is matched by binary
//! name and compared with the binary's own version in the fix (kernel and meta packages
//! carry versions that differ from their source's). An entry without binaries (Debian
//! DSA), and every entry of a per-CVE record, is matched by source name and compared with
//! the source's fixed version, as the Debian tracker is. Per-CVE records are many (every
//! CVE of every kernel flavour), so they are kept small: one fix per source and range, no
//! text, and not at all when they give neither a fix nor a priority for the release.
//! A fix applies to an update from `installed` to `candidate` when
//! introduced <= installed < fixed <= candidate in dpkg ordering.

use std::collections::{BTreeMap, HashMap, HashSet};

use time::OffsetDateTime;

use super::super::report::ParseReport;
use super::super::Severity;
use super::ecosystem::HostEcosystem;
use super::record::{self, Record, RecordKind};
use crate::pkg::version;

/// What the index keeps of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The record id (`USN-6859-1`, `DSA-3029-1`, `UBUNTU-CVE-2025-38094`).
    pub id: String,
    /// Notice or per-CVE record.
    pub kind: RecordKind,
    /// `summary` ("" when none, and for a per-CVE record).
    pub summary: String,
    /// `details`, cut short ("" for a per-CVE record: its patch names the CVE ids).
    pub details: String,
    /// Its CVE ids, sorted and unique.
    pub cves: Vec<String>,
    /// Its other ids (non-CVE `aliases`/`upstream`: `DLA-...`, `XSA-252`, `GHSA-...`).
    pub other_ids: Vec<String>,
    /// The highest severity the record gives for this host's release (record level,
    /// matching affected entries, their `cves_map`), unknown when it gives none.
    pub severity: Severity,
    /// When it was published.
    pub published: Option<OffsetDateTime>,
}

/// One fixed version of one package in one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsvFix {
    /// Index into [`OsvIndex::notices`].
    pub notice: usize,
    /// First affected version (`0` for all).
    pub introduced: String,
    /// The version that carries the fix (binary version for a binary match).
    pub fixed_version: String,
}

/// The records of one host release.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsvIndex {
    notices: Vec<Notice>,
    by_binary: HashMap<String, Vec<OsvFix>>,
    by_source: HashMap<String, Vec<OsvFix>>,
    cve_severity: BTreeMap<String, Severity>,
    ids: HashSet<String>,
}

impl OsvIndex {
    /// Every kept record.
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// The kept record with this id.
    pub fn notice(&self, id: &str) -> Option<&Notice> {
        self.notices.iter().find(|n| n.id == id)
    }

    /// How many records were kept.
    pub fn len(&self) -> usize {
        self.notices.len()
    }

    /// Whether no record applies to the release.
    pub fn is_empty(&self) -> bool {
        self.notices.is_empty()
    }

    /// The distribution's priority of a CVE for this release (from per-CVE records and
    /// `cves_map`s; the highest when several say), unknown when none says.
    pub fn cve_severity(&self, cve: &str) -> Severity {
        self.cve_severity
            .get(cve)
            .copied()
            .unwrap_or(Severity::Unknown)
    }

    /// Every fix recorded for a binary package name (`:arch` suffix ignored).
    pub fn binary_fixes(&self, binary: &str) -> &[OsvFix] {
        self.by_binary
            .get(bare(binary))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every fix recorded for a source package of an entry without binaries.
    pub fn source_fixes(&self, source: &str) -> &[OsvFix] {
        self.by_source.get(source).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The fixes an update of `binary` (built from `source`, when known) from `installed`
    /// to `candidate` brings, one per record.
    pub fn fixed_between(
        &self,
        binary: &str,
        source: Option<&str>,
        installed: &str,
        candidate: &str,
    ) -> Vec<&OsvFix> {
        let by_source = source.map(|s| self.source_fixes(s)).unwrap_or(&[]);
        let mut seen = HashSet::new();
        self.binary_fixes(binary)
            .iter()
            .chain(by_source)
            .filter(|f| applies(f, installed, candidate))
            .filter(|f| seen.insert(f.notice))
            .collect()
    }

    /// Adds a parsed record if it applies to `host`; returns whether it was kept.
    /// A record whose id is already in the index is not added twice.
    pub fn add(&mut self, rec: Record, host: &HostEcosystem) -> bool {
        if rec.withdrawn || self.ids.contains(&rec.id) {
            return false;
        }
        let matching: Vec<&record::Affected> = rec
            .affected
            .iter()
            .filter(|a| host.matches(&a.ecosystem))
            .collect();
        let per_cve = rec.kind == RecordKind::Cve;
        let severity = matching
            .iter()
            .flat_map(|a| a.cve_severity.iter().map(|(_, s)| *s).chain([a.severity]))
            .fold(rec.severity, Severity::max);
        let has_fix = matching.iter().any(|a| a.fixed().is_some());
        if matching.is_empty() || (per_cve && !has_fix && severity == Severity::Unknown) {
            return false;
        }
        let n = self.notices.len();
        for a in &matching {
            for (cve, s) in &a.cve_severity {
                self.note_cve(cve, *s);
            }
            self.add_fixes(n, a, per_cve);
        }
        if per_cve {
            for cve in &rec.cves {
                self.note_cve(cve, severity);
            }
        }
        self.ids.insert(rec.id.clone());
        let (summary, details) = match per_cve {
            true => (String::new(), String::new()),
            false => (rec.summary, rec.details),
        };
        self.notices.push(Notice {
            id: rec.id,
            kind: rec.kind,
            summary,
            details,
            cves: rec.cves,
            other_ids: rec.other_ids,
            severity,
            published: rec.published,
        });
        true
    }

    /// Parses raw record bytes and adds them; a malformed record is skipped in `report`
    /// under `key` (its file name). Records for other releases are neither kept nor
    /// skipped.
    pub fn add_bytes(
        &mut self,
        raw: &[u8],
        key: &str,
        host: &HostEcosystem,
        report: &mut ParseReport,
    ) {
        if !host.may_match(raw) {
            return;
        }
        match record::parse(raw) {
            Ok(rec) => {
                if self.add(rec, host) {
                    report.kept();
                }
            }
            Err(reason) => report.skip(key, reason),
        }
    }

    fn add_fixes(&mut self, notice: usize, a: &record::Affected, per_cve: bool) {
        for span in &a.spans {
            let Some(fixed) = span.fixed.as_deref() else {
                continue;
            };
            if per_cve || a.binaries.is_empty() {
                self.by_source
                    .entry(a.package.clone())
                    .or_default()
                    .push(fix(notice, &span.introduced, fixed));
            }
            for b in a.binaries.iter().filter(|_| !per_cve) {
                let version = b.version.as_deref().unwrap_or(fixed);
                self.by_binary.entry(b.name.clone()).or_default().push(fix(
                    notice,
                    &span.introduced,
                    version,
                ));
            }
        }
    }

    fn note_cve(&mut self, cve: &str, s: Severity) {
        if s == Severity::Unknown {
            return;
        }
        let slot = self.cve_severity.entry(cve.to_string()).or_insert(s);
        *slot = (*slot).max(s);
    }
}

fn fix(notice: usize, introduced: &str, fixed: &str) -> OsvFix {
    OsvFix {
        notice,
        introduced: introduced.to_string(),
        fixed_version: fixed.to_string(),
    }
}

/// introduced <= installed < fixed <= candidate (`0` introduced: from the start).
fn applies(f: &OsvFix, installed: &str, candidate: &str) -> bool {
    let from_start = f.introduced.is_empty() || f.introduced == "0";
    (from_start || version::dpkg(&f.introduced, installed).is_le())
        && version::dpkg(installed, &f.fixed_version).is_lt()
        && version::dpkg(&f.fixed_version, candidate).is_le()
}

/// A package name without apt's `:arch` qualifier.
fn bare(name: &str) -> &str {
    name.split_once(':').map_or(name, |(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USN: &str = r#"{"id": "USN-9-1", "summary": "openssh vulnerability",
        "upstream": ["UBUNTU-CVE-2024-6387"],
        "affected": [
          {"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "openssh"},
           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:8.9p1-3ubuntu0.10"}]}],
           "ecosystem_specific": {"binaries": [{"binary_name": "openssh-client", "binary_version": "1:8.9p1-3ubuntu0.10"}]},
           "database_specific": {"cves_map": {"ecosystem": "Ubuntu:22.04:LTS", "cves": [
              {"id": "CVE-2024-6387", "severity": [{"type": "Ubuntu", "score": "high"}]}]}}},
          {"package": {"ecosystem": "Ubuntu:24.04:LTS", "name": "openssh"},
           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:9.6p1-3ubuntu13.3"}]}],
           "ecosystem_specific": {"binaries": [{"binary_name": "openssh-client", "binary_version": "1:9.6p1-3ubuntu13.3"}]}}]}"#;

    fn jammy() -> HostEcosystem {
        HostEcosystem::ubuntu("22.04", false)
    }

    #[test]
    fn only_the_host_release_is_indexed() {
        let mut index = OsvIndex::default();
        let mut report = ParseReport::new("t");
        index.add_bytes(USN.as_bytes(), "USN-9-1.json", &jammy(), &mut report);
        assert_eq!((report.records, report.skipped), (1, 0));
        let fixes = index.binary_fixes("openssh-client:amd64");
        assert_eq!(fixes.len(), 1);
        assert_eq!(fixes[0].fixed_version, "1:8.9p1-3ubuntu0.10");
        assert_eq!(index.notices()[0].severity, Severity::High);
        assert_eq!(index.cve_severity("CVE-2024-6387"), Severity::High);
        // The same record again is not indexed twice.
        index.add_bytes(USN.as_bytes(), "again.json", &jammy(), &mut report);
        assert_eq!(index.len(), 1);
        let mut other = OsvIndex::default();
        let mut report = ParseReport::new("t");
        other.add_bytes(
            USN.as_bytes(),
            "k",
            &HostEcosystem::ubuntu("20.04", false),
            &mut report,
        );
        assert!(other.is_empty());
        assert_eq!((report.records, report.skipped), (0, 0));
    }

    #[test]
    fn fixed_between_uses_dpkg_order_and_bounds() {
        let mut index = OsvIndex::default();
        let mut report = ParseReport::new("t");
        index.add_bytes(USN.as_bytes(), "k", &jammy(), &mut report);
        let hit = index.fixed_between(
            "openssh-client",
            None,
            "1:8.9p1-3ubuntu0.7",
            "1:8.9p1-3ubuntu0.10",
        );
        assert_eq!(hit.len(), 1);
        // Already fixed, not reached by the candidate, or the epoch makes it older.
        assert!(index
            .fixed_between(
                "openssh-client",
                None,
                "1:8.9p1-3ubuntu0.10",
                "1:8.9p1-3ubuntu0.11"
            )
            .is_empty());
        assert!(index
            .fixed_between(
                "openssh-client",
                None,
                "1:8.9p1-3ubuntu0.7",
                "1:8.9p1-3ubuntu0.9"
            )
            .is_empty());
        assert!(index
            .fixed_between("openssh-client", None, "8.9p1-3ubuntu0.7", "9.9")
            .is_empty());
        // Not a binary of the record: the source name alone does not match Ubuntu records.
        assert!(index
            .fixed_between(
                "openssh-server",
                Some("openssh"),
                "1:8.9p1-3ubuntu0.7",
                "1:8.9p1-3ubuntu0.10"
            )
            .is_empty());
    }

    #[test]
    fn entries_without_binaries_match_by_source_from_introduced() {
        let dsa = r#"{"id": "DSA-1-1", "aliases": ["CVE-2014-3616"], "affected": [
            {"package": {"ecosystem": "Debian:7", "name": "nginx"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.2"}, {"fixed": "1.2.1-2.2+wheezy3"}]}]}]}"#;
        let mut index = OsvIndex::default();
        let mut report = ParseReport::new("t");
        index.add_bytes(
            dsa.as_bytes(),
            "k",
            &HostEcosystem::debian("7"),
            &mut report,
        );
        let hit = index.fixed_between(
            "nginx-full",
            Some("nginx"),
            "1.2.1-2.2+wheezy2",
            "1.2.1-2.2+wheezy3",
        );
        assert_eq!(hit.len(), 1);
        assert!(index
            .fixed_between("nginx-full", None, "1.2.1-2.2+wheezy2", "1.2.1-2.2+wheezy3")
            .is_empty());
        // Installed before the vulnerable range began.
        assert!(index
            .fixed_between("nginx", Some("nginx"), "1.1-1", "1.2.1-2.2+wheezy3")
            .is_empty());
        assert_eq!(index.notices()[0].severity, Severity::Unknown);
    }
}
