//! The Debian security tracker's JSON (`https://security-tracker.debian.org/tracker/data/json`)
//! and how it annotates apt's upgrades.
//!
//! Shape: `{SOURCE: {CVE-ID: {description?, scope?, debianbug?, releases: {CODENAME:
//! {status, fixed_version?, urgency, repositories: {...}}}}}}`. The real file is 70+ MB, so it
//! is read streaming: only one release's entries with status `resolved` and a real fixed
//! version (`"0"` means "never vulnerable") are kept, with descriptions cut short.
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

use std::collections::HashMap;
use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{plain_update, Advisory, AdvisoryKind, Severity};
use crate::pkg::apt::sim::is_security_origin;
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

/// Parses a tracker JSON stream, keeping `release`'s resolved entries.
pub fn parse_reader(reader: impl Read, release: &str) -> Result<TrackerIndex, String> {
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, reader));
    let index = Top::new(release, false)
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(index)
}

/// Parses tracker JSON held in memory, keeping `release`'s resolved entries.
pub fn parse(bytes: &[u8], release: &str) -> Result<TrackerIndex, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let index = Top::new(release, false)
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(index)
}

/// Checks a downloaded body before it replaces the feed file: the whole document must have
/// the tracker's shape (every release entry of every CVE is checked, whatever the release).
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Top::new("", true)
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())
}

/// Reads and parses a feed file for `release`; errors name the file.
pub fn load(path: &Path, release: &str) -> Result<TrackerIndex, crate::pkg::PkgError> {
    let file = super::cache::open(path)?;
    parse_reader(file, release).map_err(|m| super::cache::unreadable(path, m))
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

/// The per-release entry; other fields (`repositories`, `nodsa`, ...) are skipped.
#[derive(Deserialize)]
struct ReleaseEntry {
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
}

/// The whole document: a map of source packages.
#[derive(Clone, Copy)]
struct Top<'a> {
    release: &'a str,
    /// Validation: deserialize every release entry, not only the wanted one.
    all: bool,
}

impl<'a> Top<'a> {
    fn new(release: &'a str, all: bool) -> Self {
        Top { release, all }
    }
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = TrackerIndex;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TrackerIndex, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = TrackerIndex;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of source packages")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TrackerIndex, A::Error> {
        let mut index = TrackerIndex::default();
        while let Some(source) = map.next_key::<String>()? {
            let fixes = map.next_value_seed(Package(self))?;
            if !fixes.is_empty() {
                index.by_source.entry(source).or_default().extend(fixes);
            }
        }
        Ok(index)
    }
}

/// One source package: a map of CVE ids.
struct Package<'a>(Top<'a>);

impl<'de> DeserializeSeed<'de> for Package<'_> {
    type Value = Vec<TrackerFix>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<TrackerFix>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Package<'_> {
    type Value = Vec<TrackerFix>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of CVE ids")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<TrackerFix>, A::Error> {
        let mut out = Vec::new();
        while let Some(cve) = map.next_key::<String>()? {
            if let Some(mut fix) = map.next_value_seed(Issue(self.0))? {
                fix.cve = cve;
                out.push(fix);
            }
        }
        Ok(out)
    }
}

/// One CVE of one source package; yields the release's fix when it has one.
struct Issue<'a>(Top<'a>);

impl<'de> DeserializeSeed<'de> for Issue<'_> {
    type Value = Option<TrackerFix>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<TrackerFix>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Issue<'_> {
    type Value = Option<TrackerFix>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CVE entry with releases")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<TrackerFix>, A::Error> {
        let mut description: Option<String> = None;
        let mut entry: Option<ReleaseEntry> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "description" => description = map.next_value::<Option<String>>()?,
                "releases" => entry = map.next_value_seed(Releases(self.0))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(entry.and_then(|e| fix_of(e, description.as_deref())))
    }
}

/// A resolved entry with a real fixed version; everything else fixes nothing.
fn fix_of(e: ReleaseEntry, description: Option<&str>) -> Option<TrackerFix> {
    let fixed = e.fixed_version.filter(|v| !v.is_empty() && v != "0")?;
    if e.status != "resolved" {
        return None;
    }
    Some(TrackerFix {
        cve: String::new(),
        fixed_version: fixed,
        severity: urgency_severity(e.urgency.as_deref().unwrap_or("")),
        description: shorten(description.unwrap_or("")),
    })
}

/// The `releases` map; yields the wanted release's entry.
struct Releases<'a>(Top<'a>);

impl<'de> DeserializeSeed<'de> for Releases<'_> {
    type Value = Option<ReleaseEntry>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<ReleaseEntry>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Releases<'_> {
    type Value = Option<ReleaseEntry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of release codenames")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<ReleaseEntry>, A::Error> {
        let mut found = None;
        while let Some(codename) = map.next_key::<String>()? {
            if codename == self.0.release || self.0.all {
                let entry = map.next_value::<ReleaseEntry>()?;
                if codename == self.0.release {
                    found = Some(entry);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../tests/data/feeds/debian-tracker-sample.json");
    const FIXTURE: &str = include_str!("../../../tests/sandbox/feeds/debian-tracker.json");

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
        let index = parse(SAMPLE.as_bytes(), "bookworm").unwrap();
        let streamed = parse_reader(SAMPLE.as_bytes(), "bookworm").unwrap();
        assert_eq!(index, streamed);
        let openssl = index.fixes("openssl");
        assert!(!openssl.is_empty());
        assert!(openssl.iter().all(|f| f.fixed_version != "0"));
        // Open and undetermined entries, and other releases, are dropped.
        let bullseye = parse(SAMPLE.as_bytes(), "bullseye").unwrap();
        assert_ne!(index, bullseye);
        assert!(parse(SAMPLE.as_bytes(), "no-such-release")
            .unwrap()
            .is_empty());
        validate(SAMPLE.as_bytes()).unwrap();
    }

    #[test]
    fn fixture_feed_matches_the_sandbox_packages() {
        let index = parse(FIXTURE.as_bytes(), "bookworm").unwrap();
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
        let trixie = parse(FIXTURE.as_bytes(), "trixie").unwrap();
        assert_eq!(trixie.fixes("lpa-hello").len(), 1);
    }

    #[test]
    fn security_origin_decides_the_kind_and_the_feed_the_severity() {
        let index = parse(FIXTURE.as_bytes(), "bookworm").unwrap();
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
        let index = parse(text.as_bytes(), "bookworm").unwrap();
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
        // An entry without status is only noticed where it is read: validation reads all.
        let other = "{\"p\": {\"CVE-1\": {\"releases\": {\"sid\": {\"urgency\": \"low\"}}}}}";
        assert!(parse(other.as_bytes(), "bookworm").is_ok());
        assert!(validate(other.as_bytes()).is_err());
        let truncated = &SAMPLE[..SAMPLE.len() / 2];
        assert!(parse_reader(truncated.as_bytes(), "bookworm").is_err());
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("lpa-tracker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tracker.json");
        std::fs::write(&file, "{not json").unwrap();
        let err = load(&file, "bookworm").unwrap_err().to_string();
        assert!(err.contains("tracker.json"), "{err}");
        std::fs::write(&file, FIXTURE).unwrap();
        assert!(!load(&file, "bookworm").unwrap().is_empty());
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
