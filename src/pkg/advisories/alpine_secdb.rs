//! Alpine's secdb JSON (`https://secdb.alpinelinux.org/v3.20/main.json`) and how it
//! annotates apk's upgrades.
//!
//! Shape: `{"distroversion", "reponame", ..., "packages": [{"pkg": {"name": ORIGIN,
//! "secfixes": {FIXED_VERSION: ["CVE-... [OTHER-ID...]", ...]}}}]}`. `name` is the aport
//! (origin) name, so binary subpackages (`libcrypto3` of `openssl`) match through their
//! installed database's `o:` field. An entry may carry several space-separated ids
//! (`CVE-2018-7540 XSA-252`); only `CVE-*` ids are kept. The version key `0` means "never
//! vulnerable" and fixes nothing. Some old entries hold `{}` or `null` instead of a list:
//! treated as empty.
//!
//! The secdb has no severities and no advisory ids: a matched upgrade is a patch of kind
//! security, severity `unknown` (never invented), `severity_source` `alpine-secdb`, one
//! per package update (`plain_update`'s id).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::{plain_update, Advisory, AdvisoryKind};
use crate::pkg::{version, PkgError, Upgrade};

/// `severity_source` of patches the secdb matched.
pub const SOURCE: &str = "alpine-secdb";

/// One fixed version of one origin package with the CVE ids it fixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecFix {
    /// The first version with the fixes.
    pub fixed_version: String,
    /// `CVE-*` ids fixed there.
    pub cves: Vec<String>,
}

/// The secfixes of one secdb file, by origin package name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecdbIndex {
    by_origin: HashMap<String, Vec<SecFix>>,
}

impl SecdbIndex {
    /// Every fix recorded for an origin package.
    pub fn fixes(&self, origin: &str) -> &[SecFix] {
        self.by_origin.get(origin).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The CVE ids an update from `installed` to `candidate` fixes (installed < fixed <=
    /// candidate, apk ordering), sorted and unique.
    pub fn cves_between(&self, origin: &str, installed: &str, candidate: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .fixes(origin)
            .iter()
            .filter(|f| {
                version::apk(installed, &f.fixed_version).is_lt()
                    && version::apk(&f.fixed_version, candidate).is_le()
            })
            .flat_map(|f| f.cves.iter().cloned())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// How many origin packages have fixes.
    pub fn len(&self) -> usize {
        self.by_origin.len()
    }

    /// Whether the file had no fixes at all.
    pub fn is_empty(&self) -> bool {
        self.by_origin.is_empty()
    }
}

#[derive(Deserialize)]
struct Document {
    packages: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    pkg: Pkg,
}

#[derive(Deserialize)]
struct Pkg {
    name: String,
    #[serde(default)]
    secfixes: Option<HashMap<String, serde_json::Value>>,
}

/// Parses a secdb document.
pub fn parse(bytes: &[u8]) -> Result<SecdbIndex, String> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut index = SecdbIndex::default();
    for entry in doc.packages {
        let fixes = index.by_origin.entry(entry.pkg.name).or_default();
        for (fixed_version, ids) in entry.pkg.secfixes.unwrap_or_default() {
            if fixed_version == "0" {
                continue;
            }
            fixes.push(SecFix {
                fixed_version,
                cves: cve_ids(&ids),
            });
        }
        fixes.sort_by(|a, b| version::apk(&a.fixed_version, &b.fixed_version));
    }
    index.by_origin.retain(|_, f| !f.is_empty());
    Ok(index)
}

/// Checks a downloaded body before it replaces the feed file.
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    parse(bytes).map(|_| ())
}

/// Reads and parses a feed file; errors name the file.
pub fn load(path: &Path) -> Result<SecdbIndex, PkgError> {
    let bytes = super::cache::read(path)?;
    parse(&bytes).map_err(|m| super::cache::unreadable(path, m))
}

/// The `CVE-*` words of a secfixes list (strings of space-separated ids); anything that is
/// not a list of strings holds none.
fn cve_ids(value: &serde_json::Value) -> Vec<String> {
    let Some(items) = value.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|v| v.as_str())
        .flat_map(str::split_whitespace)
        .filter(|id| id.starts_with("CVE-"))
        .map(str::to_string)
        .collect()
}

/// The patch for one apk upgrade given the CVE ids it fixes (none: a plain update).
pub fn patch_for(u: &Upgrade, cves: Vec<String>, requires_reboot: bool) -> Advisory {
    let mut patch = plain_update(u);
    patch.requires_reboot = requires_reboot;
    if cves.is_empty() {
        return patch;
    }
    patch.kind = AdvisoryKind::Security;
    patch.severity_source = SOURCE.to_string();
    patch.description = format!("Fixes {}", cves.join(", "));
    patch.cve_ids = cves;
    patch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::Severity;

    const SAMPLE: &str = include_str!("../../../tests/data/feeds/alpine-secdb-sample.json");
    const FIXTURE: &str = include_str!("../../../tests/data/feeds/alpine-secdb-lpa.json");

    fn up(name: &str, cur: &str, new: &str) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: Some("x86_64".into()),
            origins: vec![],
        }
    }

    #[test]
    fn recorded_sample_parses() {
        let index = parse(SAMPLE.as_bytes()).unwrap();
        validate(SAMPLE.as_bytes()).unwrap();
        // "CVE-2018-7540 XSA-252": the XSA id is dropped, the CVE kept.
        let xen = index.cves_between("xen", "4.10.0-r0", "4.10.0-r2");
        assert!(xen.contains(&"CVE-2018-7540".to_string()), "{xen:?}");
        assert!(xen.iter().all(|id| id.starts_with("CVE-")));
        // `{}` instead of a list holds nothing; "0" fixes nothing.
        assert!(index.fixes("heimdal").iter().any(|f| f.cves.is_empty()));
        assert!(index
            .fixes("busybox")
            .iter()
            .all(|f| f.fixed_version != "0"));
        assert!(!index
            .cves_between("openssl", "3.1.4-r0", "3.1.4-r5")
            .is_empty());
    }

    #[test]
    fn fixture_matches_between_installed_and_candidate() {
        let index = parse(FIXTURE.as_bytes()).unwrap();
        let cves = index.cves_between("lpa-hello", "1.0-r0", "2.0-r0");
        assert_eq!(cves, ["CVE-2026-0001", "CVE-2026-0004"]);
        assert_eq!(
            index.cves_between("lpa-hello", "1.1-r0", "2.0-r0"),
            ["CVE-2026-0001"]
        );
        assert!(index
            .cves_between("lpa-hello", "2.0-r0", "2.0-r0")
            .is_empty());
        let p = patch_for(&up("lpa-hello", "1.0-r0", "2.0-r0"), cves, false);
        assert_eq!(p.kind, AdvisoryKind::Security);
        assert_eq!(p.severity, Severity::Unknown);
        assert_eq!(p.severity_source, SOURCE);
        assert_eq!(p.id, "lpa-hello-2.0-r0");
        assert_eq!(p.description, "Fixes CVE-2026-0001, CVE-2026-0004");
        let plain = patch_for(&up("lpa-tool", "1.0-r0", "1.1-r0"), vec![], false);
        assert_eq!(
            (plain.kind, plain.severity_source.as_str()),
            (AdvisoryKind::Other, "none")
        );
    }

    #[test]
    fn malformed_feeds_are_errors() {
        for bad in [
            "",
            "{}",
            "[]",
            r#"{"packages": {}}"#,
            r#"{"packages": [{"name": "x"}]}"#,
            r#"{"packages": [{"pkg": {"secfixes": {}}}]}"#,
            r#"{"packages": [{"pkg": {"name": "x", "secfixes": []}}]}"#,
        ] {
            assert!(validate(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(validate(br#"{"packages": []}"#).is_ok());
        let dir = std::env::temp_dir().join(format!("lpa-secdb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("main.json");
        std::fs::write(&file, "{").unwrap();
        assert!(load(&file).unwrap_err().to_string().contains("main.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
