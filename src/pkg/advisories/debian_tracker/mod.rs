//! The Debian security tracker's JSON (`https://security-tracker.debian.org/tracker/data/json`)
//! and how it annotates apt's upgrades.
//!
//! Shape: `{SOURCE: {CVE-ID: {description?, scope?, debianbug?, releases: {CODENAME:
//! {status, fixed_version?, urgency, repositories: {...}}}}}}`. The real file is 70+ MB, so it
//! is read streaming: only one release's entries with status `resolved` and a real fixed
//! version (`"0"` means "never vulnerable") are kept, with descriptions cut short.
//!
//! Each issue of each source package is an independent record: one of the wrong shape
//! (the published tracker has `"releases": []`), or a source package that is not a map, is
//! skipped, counted and logged in the [`ParseReport`] and costs nothing else. Issue ids
//! go through [`ids::cve`](super::ids::cve) (`CVE_2019-2426` → `CVE-2019-2426`); `TEMP-`
//! ids stay as written and are named in descriptions, never as CVEs. Only a document that
//! is not the tracker (not JSON, not a map, nothing usable in it) is an error naming the feed.
//!
//! Matching: a CVE is fixed by an upgrade of a binary package when its source package has
//! an entry with installed < fixed_version <= candidate (dpkg ordering; binary versions are
//! compared with the source's fixed version, which is how the tracker's own binNMU-free
//! versions line up with them). The tracker carries no DSA/DLA ids, so each package update
//! stays one patch with `plain_update`'s id. Whether it is a *security* update is decided by
//! its origins only (a `*-security` suite / `Debian-Security` label): the feed adds CVE ids
//! and severity but never turns an update from a normal suite into a security update.
//!
//! Ubuntu's USN and OVAL feeds are not supported: on Ubuntu the security pocket still
//! classifies updates, with severity `unknown`.

mod issue;
mod map_or;
mod stream;

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::de::DeserializeSeed;

use super::origin::is_security_origin;
use super::report::ParseReport;
use super::{plain_update, Advisory, AdvisoryKind, Severity};
use crate::pkg::{version, Upgrade};

/// `severity_source` of patches the tracker matched.
pub const SOURCE: &str = "debian-tracker";

/// Descriptions are kept only this long (characters): the API shows a short text and the
/// whole file's descriptions would cost tens of megabytes.
const DESCRIPTION_LIMIT: usize = 240;

/// One CVE fixed in one source package for the configured release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerFix {
    /// The tracker's issue id (`CVE-2024-1234`, or `TEMP-...` for unnamed issues).
    pub cve: String,
    /// First source version carrying the fix.
    pub fixed_version: String,
    /// The urgency mapped to the scale (trailing `*`s dropped; `not yet assigned` and
    /// `end-of-life` are unknown).
    pub severity: Severity,
    /// The start of the CVE's description ("" when none).
    pub description: String,
}

/// The fixes of one release, by source package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerIndex {
    by_source: HashMap<String, Vec<TrackerFix>>,
}

impl TrackerIndex {
    /// Every fix recorded for a source package.
    pub fn fixes(&self, source: &str) -> &[TrackerFix] {
        self.by_source.get(source).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The fixes an update of `source` from `installed` to `candidate` brings:
    /// installed < fixed_version <= candidate.
    pub fn fixed_between(
        &self,
        source: &str,
        installed: &str,
        candidate: &str,
    ) -> Vec<&TrackerFix> {
        self.fixes(source)
            .iter()
            .filter(|f| {
                version::dpkg(installed, &f.fixed_version).is_lt()
                    && version::dpkg(&f.fixed_version, candidate).is_le()
            })
            .collect()
    }

    /// How many source packages have fixes.
    pub fn len(&self) -> usize {
        self.by_source.len()
    }

    /// Whether no source package has a fix for the release.
    pub fn is_empty(&self) -> bool {
        self.by_source.is_empty()
    }
}

/// Parses a tracker JSON stream, keeping `release`'s resolved entries; `feed` names the
/// feed in errors and in the report.
pub fn parse_reader(
    reader: impl Read,
    release: &str,
    feed: &str,
) -> Result<(TrackerIndex, ParseReport), String> {
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, reader));
    read_document(&mut de, release, false, feed)
}

/// Parses tracker JSON held in memory, keeping `release`'s resolved entries.
pub fn parse(
    bytes: &[u8],
    release: &str,
    feed: &str,
) -> Result<(TrackerIndex, ParseReport), String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    read_document(&mut de, release, false, feed)
}

/// The whole document from a deserializer: a map of source packages and nothing after it,
/// with at least one usable issue when it has any; `all` checks every release entry.
fn read_document<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    release: &str,
    all: bool,
    feed: &str,
) -> Result<(TrackerIndex, ParseReport), String> {
    let not_tracker =
        |why: String| format!("{feed}: not a Debian security tracker document: {why}");
    let mut report = ParseReport::new(feed);
    let top = stream::Top {
        release,
        all,
        report: &mut report,
    };
    let index = top
        .deserialize(&mut *de)
        .map_err(|e| not_tracker(e.to_string()))?;
    de.end().map_err(|e| not_tracker(e.to_string()))?;
    if report.nothing_usable() {
        let why = format!("none of its {} records is usable", report.skipped);
        return Err(not_tracker(why));
    }
    Ok((index, report))
}

/// Checks a downloaded body before it replaces the feed file: the document must be the
/// tracker's map of source packages with usable issues (every release entry is looked
/// at); single malformed records are acceptable (they are skipped when read).
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    read_document(&mut de, "", true, SOURCE).map(|_| ())
}

/// Reads and parses a feed file for `release`; errors name the file.
pub fn load(
    path: &Path,
    release: &str,
    feed: &str,
) -> Result<(TrackerIndex, ParseReport), crate::pkg::PkgError> {
    let file = super::cache::open(path)?;
    parse_reader(file, release, feed).map_err(|m| super::cache::unreadable(path, m))
}

/// The release to match: `configured`, else `VERSION_CODENAME` (or `UBUNTU_CODENAME`) of
/// the root's `etc/os-release`, else of its `usr/lib/os-release`.
pub fn release_of(root: &Path, configured: Option<&str>) -> Option<String> {
    if let Some(r) = configured.map(str::trim).filter(|r| !r.is_empty()) {
        return Some(r.to_string());
    }
    ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|rel| std::fs::read_to_string(root.join(rel)).ok())
        .and_then(|text| {
            let os = crate::system::info::parse_os_release(&text);
            os.get("VERSION_CODENAME")
                .or_else(|| os.get("UBUNTU_CODENAME"))
                .map(str::to_string)
        })
}

/// The source package of an installed binary from its dpkg `Source:` field (`name` or
/// `name (version)`); the binary's own name when the field is absent.
pub fn source_name(binary: &str, source_field: Option<&str>) -> String {
    source_field
        .and_then(|s| s.split_whitespace().next())
        .filter(|s| !s.is_empty())
        .unwrap_or(binary)
        .to_string()
}

/// The patch for one apt upgrade: kind from its origins, CVE ids/severity/description
/// from the tracker fixes it brings (none: severity unknown, source `none`).
pub fn patch_for(u: &Upgrade, fixes: &[&TrackerFix], requires_reboot: bool) -> Advisory {
    let mut patch = plain_update(u);
    if u.origins.iter().any(|o| is_security_origin(o)) {
        patch.kind = AdvisoryKind::Security;
    }
    patch.requires_reboot = requires_reboot;
    if fixes.is_empty() {
        return patch;
    }
    patch.severity = fixes
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Unknown);
    patch.severity_source = SOURCE.to_string();
    let mut ids: Vec<String> = fixes.iter().map(|f| f.cve.clone()).collect();
    ids.sort();
    ids.dedup();
    patch.description = describe(&ids, fixes);
    patch.cve_ids = ids
        .into_iter()
        .filter(|id| id.starts_with("CVE-"))
        .collect();
    patch
}

/// One CVE: its description (or "Fixes ID"); several: "Fixes ID, ID, ...".
fn describe(ids: &[String], fixes: &[&TrackerFix]) -> String {
    if let [only] = ids {
        let text = fixes
            .iter()
            .find(|f| &f.cve == only)
            .map(|f| f.description.as_str())
            .unwrap_or("");
        if !text.is_empty() {
            return format!("{only}: {text}");
        }
    }
    format!("Fixes {}", ids.join(", "))
}

/// The tracker's urgency word on the scale: `low**` → low, `not yet assigned` → unknown.
pub fn urgency_severity(urgency: &str) -> Severity {
    Severity::from_source(urgency.trim().trim_end_matches('*'))
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(DESCRIPTION_LIMIT) {
        Some((cut, _)) => format!("{}...", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../../tests/data/feeds/debian-tracker-sample.json");
    const FIXTURE: &str = include_str!("../../../../tests/sandbox/feeds/debian-tracker.json");

    fn up(name: &str, cur: &str, new: &str, origins: &[&str]) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: Some("all".into()),
            origins: origins.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn recorded_sample_keeps_only_resolved_entries_of_the_release() {
        let index = parse(SAMPLE.as_bytes(), "bookworm", SOURCE).unwrap().0;
        let streamed = parse_reader(SAMPLE.as_bytes(), "bookworm", SOURCE)
            .unwrap()
            .0;
        assert_eq!(index, streamed);
        let openssl = index.fixes("openssl");
        assert!(!openssl.is_empty());
        assert!(openssl.iter().all(|f| f.fixed_version != "0"));
        // Open and undetermined entries, and other releases, are dropped.
        let bullseye = parse(SAMPLE.as_bytes(), "bullseye", SOURCE).unwrap().0;
        assert_ne!(index, bullseye);
        assert!(parse(SAMPLE.as_bytes(), "no-such-release", SOURCE)
            .unwrap()
            .0
            .is_empty());
        validate(SAMPLE.as_bytes()).unwrap();
    }

    #[test]
    fn fixture_feed_matches_the_sandbox_packages() {
        let index = parse(FIXTURE.as_bytes(), "bookworm", SOURCE).unwrap().0;
        let hello = index.fixed_between("lpa-hello", "1.0-1", "2.0-1");
        let mut ids: Vec<&str> = hello.iter().map(|f| f.cve.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["CVE-2026-0001", "CVE-2026-0004"]);
        // From 1.1-1 only the 2.0-1 fix is new.
        let later = index.fixed_between("lpa-hello", "1.1-1", "2.0-1");
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].cve, "CVE-2026-0001");
        // The trixie-only and open entries are not there.
        assert!(index.fixes("lpa-tool").is_empty());
        let trixie = parse(FIXTURE.as_bytes(), "trixie", SOURCE).unwrap().0;
        assert_eq!(trixie.fixes("lpa-hello").len(), 1);
    }

    #[test]
    fn security_origin_decides_the_kind_and_the_feed_the_severity() {
        let index = parse(FIXTURE.as_bytes(), "bookworm", SOURCE).unwrap().0;
        let u = up(
            "lpa-hello",
            "1.0-1",
            "2.0-1",
            &["Debian-Security:bookworm-security"],
        );
        let fixes = index.fixed_between("lpa-hello", &u.current_version, &u.available_version);
        let p = patch_for(&u, &fixes, false);
        assert_eq!(p.id, "lpa-hello-2.0-1");
        assert_eq!(p.kind, AdvisoryKind::Security);
        assert_eq!(p.severity, Severity::High);
        assert_eq!(p.severity_source, SOURCE);
        assert_eq!(p.cve_ids, ["CVE-2026-0001", "CVE-2026-0004"]);
        assert_eq!(p.description, "Fixes CVE-2026-0001, CVE-2026-0004");

        let lib = up("lpa-lib", "1.0-1", "1.1-1", &["LPA:lpa-stable"]);
        let fixes = index.fixed_between("lpa-lib", "1.0-1", "1.1-1");
        let p = patch_for(&lib, &fixes, true);
        assert_eq!(p.kind, AdvisoryKind::Other);
        assert_eq!(p.severity, Severity::Low);
        assert_eq!(p.cve_ids, ["CVE-2026-0005"]);
        assert!(
            p.description.starts_with("CVE-2026-0005: "),
            "{}",
            p.description
        );
        assert!(p.requires_reboot);

        let p = patch_for(&u, &[], false);
        assert_eq!(
            (p.kind, p.severity),
            (AdvisoryKind::Security, Severity::Unknown)
        );
        assert_eq!(p.severity_source, "none");
        assert!(p.cve_ids.is_empty());
    }

    #[test]
    fn urgencies_and_sources() {
        assert_eq!(urgency_severity("low**"), Severity::Low);
        assert_eq!(urgency_severity("medium*"), Severity::Medium);
        assert_eq!(urgency_severity("high"), Severity::High);
        assert_eq!(urgency_severity("unimportant"), Severity::Low);
        assert_eq!(urgency_severity("not yet assigned"), Severity::Unknown);
        assert_eq!(urgency_severity("end-of-life"), Severity::Unknown);
        assert_eq!(
            source_name("libssl3", Some("openssl (3.0.11-1~deb12u2)")),
            "openssl"
        );
        assert_eq!(source_name("libssl3", Some("openssl")), "openssl");
        assert_eq!(source_name("lpa-hello", None), "lpa-hello");
    }

    #[test]
    fn never_vulnerable_and_open_entries_fix_nothing() {
        let text = r#"{"p": {
            "CVE-1": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "high"}}},
            "CVE-2": {"releases": {"bookworm": {"status": "open", "urgency": "high", "repositories": {"bookworm": "1"}}}},
            "CVE-3": {"releases": {"bookworm": {"status": "undetermined", "urgency": "low"}}},
            "CVE-4": {"description": null, "releases": {"bookworm": {"status": "resolved", "fixed_version": "2", "urgency": "low"}}, "debianbug": 12}
        }}"#;
        let index = parse(text.as_bytes(), "bookworm", SOURCE).unwrap().0;
        let fixes = index.fixes("p");
        assert_eq!(fixes.len(), 1);
        assert_eq!(fixes[0].cve, "CVE-4");
        assert_eq!(fixes[0].description, "");
    }

    #[test]
    fn malformed_feeds_are_errors() {
        for bad in [
            "",
            "[]",
            "{\"p\": []}",
            "{\"p\": {\"CVE-1\": {\"releases\": []}}}",
            "{\"p\": {\"CVE-1\": {\"releases\": {\"bookworm\": {\"fixed_version\": \"1\"}}}}}",
            "{\"p\": {\"CVE-1\": {\"releases\": {}}}} trailing",
            "<html>Service Unavailable</html>",
        ] {
            assert!(validate(bad.as_bytes()).is_err(), "{bad:?}");
        }
        // An entry without status is only noticed where it is read.
        let other = "{\"p\": {\"CVE-1\": {\"releases\": {\"sid\": {\"urgency\": \"low\"}}}}}";
        assert!(parse(other.as_bytes(), "bookworm", SOURCE).is_ok());
        assert!(parse(other.as_bytes(), "sid", SOURCE).is_err());
        let truncated = &SAMPLE[..SAMPLE.len() / 2];
        let err =
            parse_reader(truncated.as_bytes(), "bookworm", "debian-tracker bookworm").unwrap_err();
        assert!(err.starts_with("debian-tracker bookworm: "), "{err}");
    }

    /// vunnel's recorded tracker excerpt has `"chromium-browser": {"CVE-2022-0358":
    /// {"releases": []}}`: before issue 15 it rejected the whole tracker.
    #[test]
    fn releases_list_skips_only_that_record() {
        let doc = r#"{"chromium-browser": {"CVE-2022-0358": {"releases": []}},
            "p": {"CVE_2020-0001": {"releases": {"bookworm": {"status": "resolved",
                "fixed_version": "2", "urgency": "low"}}}, "TEMP-0000000-A2EB44":
                {"releases": {"bookworm": {"status": "resolved", "fixed_version": "3"}}}},
            "q": []}"#;
        let (index, report) = parse(doc.as_bytes(), "bookworm", "debian-tracker").unwrap();
        let ids: Vec<&str> = index.fixes("p").iter().map(|f| f.cve.as_str()).collect();
        assert_eq!(ids, ["CVE-2020-0001", "TEMP-0000000-A2EB44"]);
        assert_eq!((report.records, report.skipped), (2, 2));
        assert_eq!(report.examples[0].key, "chromium-browser CVE-2022-0358");
        assert_eq!(report.examples[0].reason, "releases is a list, not a map");
        assert_eq!(report.examples[1].key, "q");
        validate(doc.as_bytes()).unwrap();
        let u = up("p", "1", "3", &[]);
        let fixes = index.fixed_between("p", "1", "3");
        let p = patch_for(&u, &fixes, false);
        // The TEMP id is named, never made a CVE.
        assert_eq!(p.cve_ids, ["CVE-2020-0001"]);
        assert_eq!(p.description, "Fixes CVE-2020-0001, TEMP-0000000-A2EB44");
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("lpa-tracker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tracker.json");
        std::fs::write(&file, "{not json").unwrap();
        let err = load(&file, "bookworm", SOURCE).unwrap_err().to_string();
        assert!(err.contains("tracker.json"), "{err}");
        std::fs::write(&file, FIXTURE).unwrap();
        assert!(!load(&file, "bookworm", SOURCE).unwrap().0.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn release_from_settings_or_os_release() {
        let dir = std::env::temp_dir().join(format!("lpa-release-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("usr/lib")).unwrap();
        assert_eq!(release_of(&dir, None), None);
        std::fs::write(
            dir.join("usr/lib/os-release"),
            "ID=debian\nVERSION_CODENAME=bookworm\n",
        )
        .unwrap();
        assert_eq!(release_of(&dir, None).as_deref(), Some("bookworm"));
        assert_eq!(release_of(&dir, Some("trixie")).as_deref(), Some("trixie"));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/os-release"),
            "ID=ubuntu\nUBUNTU_CODENAME=jammy\n",
        )
        .unwrap();
        assert_eq!(release_of(&dir, Some(" ")).as_deref(), Some("jammy"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
