//! Alpine's secdb JSON (`https://secdb.alpinelinux.org/v3.20/main.json`) and how it
//! annotates apk's upgrades.
//!
//! Shape: `{"distroversion", "reponame", ..., "packages": [{"pkg": {"name": ORIGIN,
//! "secfixes": {FIXED_VERSION: ["CVE-... [OTHER-ID...]", ...]}}}]}`. `name` is the aport
//! (origin) name, so binary subpackages (`libcrypto3` of `openssl`) match through their
//! installed database's `o:` field. Every id string goes through [`ids::normalise`]:
//! `CVE_2019-2426` and `CVE 2018-16859` become CVE ids, `CVE-2018-7540 XSA-252` gives one
//! CVE and one other advisory id (kept beside the CVEs). The version key `0` means "never
//! vulnerable" and fixes nothing.
//!
//! Published files are not always the documented shape, and each package entry is an
//! independent record: `"packages": {}` or `null` (a repository without fixes) is an empty
//! feed; a package entry or a fix of the wrong type is skipped, counted and logged in the
//! [`ParseReport`] while the rest of the feed is kept; `{}` or `null` instead of a fix's id
//! list is a fix without ids. Only a document that is not a secdb at all (not JSON, not an
//! object, no `packages`, or no usable entry among several) is an error naming the feed.
//!
//! The secdb has no severities and no advisory ids of its own: a matched upgrade is a patch
//! of kind security, severity `unknown` (never invented), `severity_source` `alpine-secdb`,
//! one per package update (`plain_update`'s id).

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::ids::{self, Ids};
use super::report::ParseReport;
use super::shape::kind_of;
use super::{plain_update, Advisory, AdvisoryKind};
use crate::pkg::{version, PkgError, Upgrade};

/// `severity_source` of patches the secdb matched.
pub const SOURCE: &str = "alpine-secdb";

/// One fixed version of one origin package with the ids it fixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecFix {
    /// The first version with the fixes.
    pub fixed_version: String,
    /// CVE ids fixed there, normalised, sorted and unique.
    pub cves: Vec<String>,
    /// Other advisory ids fixed there (`XSA-252`, `TALOS-2017-0488`), sorted and unique.
    pub other_ids: Vec<String>,
}

/// The secfixes of one secdb file, by origin package name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecdbIndex {
    by_origin: HashMap<String, Vec<SecFix>>,
}

impl SecdbIndex {
    /// Every fix recorded for an origin package, lowest version first.
    pub fn fixes(&self, origin: &str) -> &[SecFix] {
        self.by_origin.get(origin).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The ids an update from `installed` to `candidate` fixes (installed < fixed <=
    /// candidate, apk ordering).
    pub fn ids_between(&self, origin: &str, installed: &str, candidate: &str) -> Ids {
        let mut out = Ids::default();
        for f in self.fixes(origin).iter().filter(|f| {
            version::apk(installed, &f.fixed_version).is_lt()
                && version::apk(&f.fixed_version, candidate).is_le()
        }) {
            out.cves.extend(f.cves.iter().cloned());
            out.others.extend(f.other_ids.iter().cloned());
        }
        for list in [&mut out.cves, &mut out.others] {
            list.sort();
            list.dedup();
        }
        out
    }

    /// The CVE ids an update from `installed` to `candidate` fixes, sorted and unique.
    pub fn cves_between(&self, origin: &str, installed: &str, candidate: &str) -> Vec<String> {
        self.ids_between(origin, installed, candidate).cves
    }

    /// Every origin package with its fixes, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[SecFix])> {
        self.by_origin
            .iter()
            .map(|(origin, fixes)| (origin.as_str(), fixes.as_slice()))
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

/// Parses a secdb document; `feed` names it in errors and in the report.
pub fn parse(bytes: &[u8], feed: &str) -> Result<(SecdbIndex, ParseReport), String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("{feed}: not JSON: {e}"))?;
    parse_value(&doc, feed)
}

/// Parses a secdb document already read into a JSON value (the published JSON is the
/// secdb YAML loaded and dumped, so a YAML source read into a value parses the same).
pub fn parse_value(doc: &Value, feed: &str) -> Result<(SecdbIndex, ParseReport), String> {
    let not_secdb = |why: &str| format!("{feed}: not an Alpine secdb document: {why}");
    let top = doc
        .as_object()
        .ok_or_else(|| not_secdb(&format!("the top level is {}", kind_of(doc))))?;
    let packages = top
        .get("packages")
        .ok_or_else(|| not_secdb("no \"packages\""))?;
    let mut report = ParseReport::new(feed);
    let mut index = SecdbIndex::default();
    match packages {
        Value::Null => {}
        Value::Array(entries) => {
            for (i, entry) in entries.iter().enumerate() {
                add_entry(&mut index, &mut report, i, entry);
            }
        }
        // Published as `{}` for repositories without fixes; members of a non-empty object
        // have no documented meaning.
        Value::Object(members) => {
            for key in members.keys() {
                report.skip(key.as_str(), "\"packages\" is an object, not a list");
            }
        }
        other => return Err(not_secdb(&format!("\"packages\" is {}", kind_of(other)))),
    }
    if report.nothing_usable() {
        return Err(not_secdb(&format!(
            "none of its {} package entries is usable",
            report.skipped
        )));
    }
    index.by_origin.retain(|_, f| !f.is_empty());
    Ok((index, report))
}

/// Checks a downloaded body before it replaces the feed file: the document must be a
/// secdb; single malformed records are acceptable (they are skipped when read).
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    parse(bytes, SOURCE).map(|_| ())
}

/// Reads and parses a feed file; errors name the file.
pub fn load(path: &Path, feed: &str) -> Result<(SecdbIndex, ParseReport), PkgError> {
    let bytes = super::cache::read(path)?;
    parse(&bytes, feed).map_err(|m| super::cache::unreadable(path, m))
}

/// Adds one `packages[i]` entry, or skips it with the reason.
fn add_entry(index: &mut SecdbIndex, report: &mut ParseReport, i: usize, entry: &Value) {
    let pkg = match entry.get("pkg") {
        Some(Value::Object(pkg)) => pkg,
        Some(other) => {
            return report.skip(
                format!("packages[{i}]"),
                format!("pkg is {}", kind_of(other)),
            )
        }
        None => return report.skip(format!("packages[{i}]"), "no \"pkg\" object"),
    };
    let name = match pkg.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_string(),
        _ => return report.skip(format!("packages[{i}]"), "no package name"),
    };
    let empty = Map::new();
    let secfixes = match pkg.get("secfixes") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(other) => {
            let why = format!("secfixes is {}, not a map", kind_of(other));
            return report.skip(name, why);
        }
    };
    let mut fixes = Vec::new();
    for (fixed_version, value) in secfixes {
        match fix_of(fixed_version, value) {
            Ok(Some(fix)) => fixes.push(fix),
            Ok(None) => {}
            Err(why) => report.skip(format!("{name} {fixed_version}"), why),
        }
    }
    report.kept();
    let all = index.by_origin.entry(name).or_default();
    all.extend(fixes);
    all.sort_by(|a, b| version::apk(&a.fixed_version, &b.fixed_version));
}

/// One `FIXED_VERSION: [ids]` member: `Ok(None)` for the "never vulnerable" key `0`, a fix
/// without ids for `{}`/`null`, an error for anything that is not a list of strings.
fn fix_of(fixed_version: &str, value: &Value) -> Result<Option<SecFix>, String> {
    let fixed_version = fixed_version.trim();
    if fixed_version.is_empty() {
        return Err("empty fixed version".to_string());
    }
    if fixed_version == "0" {
        return Ok(None);
    }
    let raw: Vec<&str> = match value {
        Value::Null => Vec::new(),
        Value::Object(m) if m.is_empty() => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| format!("an id is {}", kind_of(v))))
            .collect::<Result<_, _>>()?,
        other => return Err(format!("ids are {}, not a list", kind_of(other))),
    };
    let found = ids::normalise(raw);
    Ok(Some(SecFix {
        fixed_version: fixed_version.to_string(),
        cves: found.cves,
        other_ids: found.others,
    }))
}

/// The patch for one apk upgrade given the ids it fixes (none: a plain update). Other
/// advisory ids (`XSA-252`) make it a security patch too and are named in its description.
pub fn patch_for(u: &Upgrade, found: Ids, requires_reboot: bool) -> Advisory {
    let mut patch = plain_update(u);
    patch.requires_reboot = requires_reboot;
    if found.cves.is_empty() && found.others.is_empty() {
        return patch;
    }
    patch.kind = AdvisoryKind::Security;
    patch.severity_source = SOURCE.to_string();
    let named: Vec<&str> = found
        .cves
        .iter()
        .chain(found.others.iter())
        .map(String::as_str)
        .collect();
    patch.description = format!("Fixes {}", named.join(", "));
    patch.add_advisory_ids(&found.others);
    patch.cve_ids = found.cves;
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

    fn parsed(doc: &str) -> (SecdbIndex, ParseReport) {
        parse(doc.as_bytes(), "alpine-secdb test").unwrap()
    }

    #[test]
    fn recorded_sample_parses() {
        let (index, report) = parsed(SAMPLE);
        assert_eq!(report.skipped, 0, "{report:?}");
        validate(SAMPLE.as_bytes()).unwrap();
        // "CVE-2018-7540 XSA-252": both kept, apart.
        let xen = index.ids_between("xen", "4.10.0-r0", "4.10.0-r2");
        assert_eq!(xen.cves, ["CVE-2018-7540", "CVE-2018-7541"]);
        assert_eq!(xen.others, ["XSA-248", "XSA-252", "XSA-255"]);
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
        let (index, _) = parsed(FIXTURE);
        let cves = index.cves_between("lpa-hello", "1.0-r0", "2.0-r0");
        assert_eq!(cves, ["CVE-2026-0001", "CVE-2026-0004"]);
        assert_eq!(
            index.cves_between("lpa-hello", "1.1-r0", "2.0-r0"),
            ["CVE-2026-0001"]
        );
        assert!(index
            .cves_between("lpa-hello", "2.0-r0", "2.0-r0")
            .is_empty());
        let found = index.ids_between("lpa-hello", "1.0-r0", "2.0-r0");
        let p = patch_for(&up("lpa-hello", "1.0-r0", "2.0-r0"), found, false);
        assert_eq!(p.kind, AdvisoryKind::Security);
        assert_eq!(p.severity, Severity::Unknown);
        assert_eq!(p.severity_source, SOURCE);
        assert_eq!(p.id, "lpa-hello-2.0-r0");
        // The fixture's "CVE-2026-0004 LPA-4": the other id is named, not made a CVE.
        assert_eq!(p.cve_ids, ["CVE-2026-0001", "CVE-2026-0004"]);
        assert_eq!(p.description, "Fixes CVE-2026-0001, CVE-2026-0004, LPA-4");
        let plain = patch_for(&up("lpa-tool", "1.0-r0", "1.1-r0"), Ids::default(), false);
        assert_eq!(
            (plain.kind, plain.severity_source.as_str()),
            (AdvisoryKind::Other, "none")
        );
    }

    #[test]
    fn an_update_fixing_only_other_ids_is_a_security_patch() {
        let (index, _) = parsed(SAMPLE);
        let found = index.ids_between("xen", "4.10.0-r0", "4.10.0-r1");
        assert!(found.cves.is_empty());
        let p = patch_for(&up("xen", "4.10.0-r0", "4.10.0-r1"), found, false);
        assert_eq!(p.kind, AdvisoryKind::Security);
        assert!(p.cve_ids.is_empty());
        assert_eq!(p.description, "Fixes XSA-248");
        assert_eq!(p.advisory_ids, ["XSA-248"]);
    }

    /// Published by vuln-list-update and alpine-secdb (v3.3 community): before issue 15
    /// each made the whole feed fail ("invalid type: map, expected a sequence").
    #[test]
    fn packages_object_or_null_is_an_empty_feed() {
        for doc in [
            r#"{"packages": {}}"#,
            r#"{"packages": null}"#,
            r#"{"packages": []}"#,
        ] {
            let (index, report) = parsed(doc);
            assert!(index.is_empty(), "{doc}");
            assert_eq!((report.records, report.skipped), (0, 0), "{doc}");
            validate(doc.as_bytes()).unwrap();
        }
    }

    /// Before issue 15 one wrong-typed secfixes rejected the feed and `CVE_2019-2426` was
    /// dropped.
    #[test]
    fn a_wrong_typed_entry_costs_only_itself() {
        let doc = r#"{"packages": [
            {"pkg": {"name": "x", "secfixes": []}},
            {"pkg": {"name": "y", "secfixes": {"1-r0": ["CVE_2019-2426"], "2-r0": "CVE-2020-0001",
                "3-r0": [1, "CVE-2020-0002"], "4-r0": ["CVE 2018-16859"], "0": ["CVE-2000-0001"]}}},
            {"name": "z"},
            {"pkg": {"secfixes": {}}},
            {"pkg": "w"},
            7,
            {"pkg": {"name": "v"}},
            {"pkg": {"name": "u", "secfixes": {"2.8.0-r0": {}, "4.10-1-r1": ["XSA-252"]}}}
        ]}"#;
        let (index, report) = parsed(doc);
        assert_eq!(index.cves_between("y", "0.1-r0", "1-r0"), ["CVE-2019-2426"]);
        assert_eq!(
            index.cves_between("y", "0.1-r0", "9-r0"),
            ["CVE-2018-16859", "CVE-2019-2426"]
        );
        let fixed: Vec<&str> = index
            .fixes("y")
            .iter()
            .map(|f| f.fixed_version.as_str())
            .collect();
        assert_eq!(fixed, ["1-r0", "4-r0"]);
        // The odd but valid keys stay, `{}` is a fix without ids.
        let u: Vec<(&str, usize)> = index
            .fixes("u")
            .iter()
            .map(|f| (f.fixed_version.as_str(), f.other_ids.len()))
            .collect();
        assert_eq!(u, [("2.8.0-r0", 0), ("4.10-1-r1", 1)]);
        assert!(index.fixes("x").is_empty() && index.fixes("v").is_empty());
        // Kept: y, v, u. Skipped: x, two fixes of y, and four entries without a name.
        assert_eq!(report.records, 3, "{report:?}");
        assert_eq!(report.skipped, 7, "{report:?}");
        let keys: Vec<&str> = report.examples.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "x",
                "y 2-r0",
                "y 3-r0",
                "packages[2]",
                "packages[3]",
                "packages[4]",
                "packages[5]"
            ]
        );
        assert_eq!(report.examples[0].reason, "secfixes is a list, not a map");
        validate(doc.as_bytes()).unwrap();
    }

    #[test]
    fn documents_that_are_not_a_secdb_are_errors_naming_the_feed() {
        for bad in [
            "",
            "{}",
            "[]",
            "<html>503</html>",
            r#"{"packages": "none"}"#,
            r#"{"packages": [{"name": "x"}]}"#,
            r#"{"packages": {"a": 1}}"#,
            r#"{"packages": []} x"#,
        ] {
            let err = parse(bad.as_bytes(), "alpine-secdb v3.20/main").unwrap_err();
            assert!(
                err.starts_with("alpine-secdb v3.20/main: "),
                "{bad:?}: {err}"
            );
            assert!(validate(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let dir = std::env::temp_dir().join(format!("lpa-secdb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("main.json");
        std::fs::write(&file, "{").unwrap();
        let err = load(&file, SOURCE).unwrap_err().to_string();
        assert!(err.contains("main.json"), "{err}");
        std::fs::write(&file, FIXTURE).unwrap();
        assert!(!load(&file, SOURCE).unwrap().0.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
