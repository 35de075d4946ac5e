//! One OSV record (https://ossf.github.io/osv-schema) as Ubuntu and Debian publish it.
//!
//! Only what the patch list needs is read: the id, CVE ids (`aliases`, and `upstream`
//! where Ubuntu writes `UBUNTU-CVE-2024-6387` for the CVE), summary/details, dates, a
//! severity word, and per affected package its ecosystem, source name, the ECOSYSTEM
//! ranges' introduced/fixed versions and the binary packages built from it. `related` is
//! not read for CVE ids: OSV uses it for vulnerabilities that are *not* fixed by the same
//! change. CVSS vectors are not turned into a severity: only a distribution's own word
//! (`{"type": "Ubuntu", "score": "medium"}`, Debian's urgency) is, never a guess.

use serde::Deserialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::super::ids;
use super::super::Severity;

/// Descriptions are kept only this long (characters): the index holds every notice of a
/// release, and the API shows a text, not a document.
pub const DETAILS_LIMIT: usize = 2000;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A notice with its own id that fixes one or more CVEs (`USN-7900-1`, `DSA-3029-1`).
    Notice,
    /// A distribution's per-CVE record (`UBUNTU-CVE-2025-14345`, `DEBIAN-CVE-...`): its
    /// severity and fixes describe that one CVE.
    Cve,
}

/// One version range of an affected package: vulnerable from `introduced` (`0`: from the
/// start) up to, not including, `fixed` (`None`: no fix published).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// First affected version (`0` for all).
    pub introduced: String,
    /// First fixed version, when there is one.
    pub fixed: Option<String>,
}

/// A binary package built from the affected source, with its version in the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binary {
    /// Binary package name (`openssh-client`).
    pub name: String,
    /// Its version (for a fixed range: the fixed binary version), when given.
    pub version: Option<String>,
}

/// One `affected[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affected {
    /// `package.ecosystem` (`Ubuntu:22.04:LTS`).
    pub ecosystem: String,
    /// `package.name`: the source package.
    pub package: String,
    /// The ECOSYSTEM ranges.
    pub spans: Vec<Span>,
    /// `ecosystem_specific.binaries` (empty when the record lists none, as Debian's).
    pub binaries: Vec<Binary>,
    /// The entry's own severity word (`severity[]` or Debian's `ecosystem_specific.urgency`).
    pub severity: Severity,
    /// Per-CVE priorities from `database_specific.cves_map` (Ubuntu), for this ecosystem.
    pub cve_severity: Vec<(String, Severity)>,
}

impl Affected {
    /// The first fixed version of the entry's ranges, if any range has one.
    pub fn fixed(&self) -> Option<&str> {
        self.spans.iter().find_map(|s| s.fixed.as_deref())
    }
}

/// A parsed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its id (`USN-7900-1`).
    pub id: String,
    /// Notice or per-CVE record.
    pub kind: RecordKind,
    /// `summary` ("" when none).
    pub summary: String,
    /// `details`, trimmed and cut at [`DETAILS_LIMIT`] characters ("" when none).
    pub details: String,
    /// CVE ids it fixes or describes, normalised, sorted, unique.
    pub cves: Vec<String>,
    /// Other ids it names (`XSA-252`, `GHSA-...`), as [`ids::normalise`] keeps them.
    pub other_ids: Vec<String>,
    /// `published`, when present and valid RFC 3339.
    pub published: Option<OffsetDateTime>,
    /// `modified`, when present and valid RFC 3339.
    pub modified: Option<OffsetDateTime>,
    /// Whether the record is `withdrawn` (it then applies to nothing).
    pub withdrawn: bool,
    /// The record-level severity word (`severity[]` of type `Ubuntu`...), else unknown.
    pub severity: Severity,
    /// The affected packages.
    pub affected: Vec<Affected>,
}

/// The raw document; unknown fields are ignored.
#[derive(Deserialize)]
struct RawRecord {
    id: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    upstream: Option<Vec<String>>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
    #[serde(default)]
    affected: Option<Vec<RawAffected>>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct RawAffected {
    package: RawPackage,
    #[serde(default)]
    ranges: Option<Vec<RawRange>>,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
    #[serde(default)]
    ecosystem_specific: Option<Value>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<Value>,
}

/// Parses one record; the error says what is wrong with it.
pub fn parse(bytes: &[u8]) -> Result<Record, String> {
    let raw: RawRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let id = raw.id.trim().to_string();
    if id.is_empty() {
        return Err("empty id".into());
    }
    let kind = kind_of(&id);
    let (cves, other_ids) = ids_of(&id, kind, &raw);
    let affected = raw
        .affected
        .unwrap_or_default()
        .into_iter()
        .map(affected_of)
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Record {
        kind,
        summary: raw.summary.unwrap_or_default().trim().to_string(),
        details: shorten(raw.details.as_deref().unwrap_or("")),
        cves,
        other_ids,
        published: raw.published.as_deref().and_then(timestamp),
        modified: raw.modified.as_deref().and_then(timestamp),
        withdrawn: raw.withdrawn.is_some_and(|w| !w.trim().is_empty()),
        severity: word_severity(raw.severity.as_deref().unwrap_or(&[])),
        affected,
        id,
    })
}

/// `UBUNTU-CVE-*` / `DEBIAN-CVE-*` (any `*-CVE-` prefix) are per-CVE records.
fn kind_of(id: &str) -> RecordKind {
    if cve_of_distro_id(id).is_some() {
        RecordKind::Cve
    } else {
        RecordKind::Notice
    }
}

/// `UBUNTU-CVE-2024-6387` → `CVE-2024-6387`; `None` for other ids.
pub fn cve_of_distro_id(id: &str) -> Option<String> {
    let (prefix, rest) = id.split_once("-CVE-")?;
    let ok = !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_uppercase());
    ok.then(|| ids::cve(&format!("CVE-{rest}"))).flatten()
}

/// CVE and other ids from `aliases`, `upstream` and (for a per-CVE record) the id.
fn ids_of(id: &str, kind: RecordKind, raw: &RawRecord) -> (Vec<String>, Vec<String>) {
    let mut strings: Vec<String> = Vec::new();
    for s in raw.aliases.iter().chain(raw.upstream.iter()).flatten() {
        strings.push(cve_of_distro_id(s.trim()).unwrap_or_else(|| s.clone()));
    }
    if kind == RecordKind::Cve {
        strings.extend(cve_of_distro_id(id));
    }
    let found = ids::normalise(strings.iter().map(String::as_str));
    let others = found.others.into_iter().filter(|o| o != id).collect();
    (found.cves, others)
}

fn affected_of(raw: RawAffected) -> Result<Affected, String> {
    let ecosystem = raw.package.ecosystem.trim().to_string();
    let package = raw.package.name.trim().to_string();
    if ecosystem.is_empty() || package.is_empty() {
        return Err("affected package without ecosystem or name".into());
    }
    let mut spans = Vec::new();
    for range in raw.ranges.unwrap_or_default() {
        if range.kind == "ECOSYSTEM" {
            spans.extend(spans_of(&range.events)?);
        }
    }
    let specific = raw.ecosystem_specific.unwrap_or(Value::Null);
    let mut severity = word_severity(raw.severity.as_deref().unwrap_or(&[]));
    if let Some(urgency) = specific.get("urgency").and_then(Value::as_str) {
        severity = severity.max(Severity::from_source(urgency.trim_end_matches('*')));
    }
    let cve_severity = cves_map(raw.database_specific.as_ref(), &ecosystem)?;
    Ok(Affected {
        binaries: binaries_of(&specific)?,
        ecosystem,
        package,
        spans,
        severity,
        cve_severity,
    })
}

/// The events of one range as spans: each `introduced` opens one, `fixed` closes it with
/// a fix, `last_affected`/`limit` close it without one.
fn spans_of(events: &[Value]) -> Result<Vec<Span>, String> {
    let mut out: Vec<Span> = Vec::new();
    let mut open: Option<String> = None;
    for event in events {
        let Some(map) = event.as_object() else {
            return Err("range event is not an object".into());
        };
        let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
        if let Some(v) = text("introduced") {
            if let Some(prev) = open.replace(v) {
                out.push(Span {
                    introduced: prev,
                    fixed: None,
                });
            }
        } else if let Some(v) = text("fixed") {
            let introduced = open.take().unwrap_or_else(|| "0".to_string());
            out.push(Span {
                introduced,
                fixed: Some(v),
            });
        } else if text("last_affected").is_some() || text("limit").is_some() {
            if let Some(prev) = open.take() {
                out.push(Span {
                    introduced: prev,
                    fixed: None,
                });
            }
        } else {
            return Err("range event without a version".into());
        }
    }
    out.extend(open.map(|introduced| Span {
        introduced,
        fixed: None,
    }));
    Ok(out)
}

/// `ecosystem_specific.binaries` in either published shape: a list of
/// `{"binary_name": N, "binary_version": V}` (current), or a list of `{N: V, ...}` maps
/// (older Ubuntu records).
fn binaries_of(specific: &Value) -> Result<Vec<Binary>, String> {
    let Some(list) = specific.get("binaries") else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err("ecosystem_specific.binaries is not a list".into());
    };
    let mut out = Vec::new();
    for item in list {
        let Some(map) = item.as_object() else {
            return Err("ecosystem_specific.binaries holds a non-object".into());
        };
        if let Some(name) = map.get("binary_name") {
            let name = name.as_str().filter(|n| !n.trim().is_empty());
            let name = name.ok_or("binary_name is not a name")?;
            let version = map.get("binary_version").and_then(Value::as_str);
            out.push(Binary {
                name: name.trim().to_string(),
                version: version.map(|v| v.trim().to_string()),
            });
            continue;
        }
        for (name, version) in map {
            out.push(Binary {
                name: name.trim().to_string(),
                version: version.as_str().map(|v| v.trim().to_string()),
            });
        }
    }
    Ok(out)
}

/// Ubuntu's `database_specific.cves_map`: `{ecosystem, cves: [{id, severity: [...]}]}`;
/// entries for another ecosystem than the affected entry's are ignored.
fn cves_map(database: Option<&Value>, ecosystem: &str) -> Result<Vec<(String, Severity)>, String> {
    let Some(map) = database.and_then(|d| d.get("cves_map")) else {
        return Ok(Vec::new());
    };
    if let Some(eco) = map.get("ecosystem").and_then(Value::as_str) {
        if eco.trim() != ecosystem {
            return Ok(Vec::new());
        }
    }
    let Some(cves) = map.get("cves").and_then(Value::as_array) else {
        return Err("database_specific.cves_map has no cves list".into());
    };
    let mut out = Vec::new();
    for entry in cves {
        let Some(id) = entry.get("id").and_then(Value::as_str).and_then(ids::cve) else {
            continue;
        };
        let words: Vec<RawSeverity> = match entry.get("severity") {
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|e| format!("cves_map {id}: {e}"))?
            }
            None => Vec::new(),
        };
        out.push((id, word_severity(&words)));
    }
    Ok(out)
}

/// The highest severity among non-CVSS entries (`Ubuntu: medium`); unknown without one.
fn word_severity(list: &[RawSeverity]) -> Severity {
    list.iter()
        .filter(|s| !s.kind.to_ascii_uppercase().starts_with("CVSS"))
        .map(|s| Severity::from_source(&s.score))
        .max()
        .unwrap_or(Severity::Unknown)
}

fn timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(DETAILS_LIMIT) {
        Some((cut, _)) => format!("{}...", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_with_upstream_cves_and_binaries() {
        let text = r#"{"id": "USN-1-1", "summary": " s ", "details": "d\n",
            "aliases": [], "upstream": ["UBUNTU-CVE-2024-0001", "CVE_2024-0002 XSA-9"],
            "published": "2024-07-01T09:06:31.434165Z",
            "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "src"},
              "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2"}]},
                         {"type": "GIT", "events": [{"introduced": "abc"}]}],
              "ecosystem_specific": {"binaries": [{"binary_name": "bin", "binary_version": "1.2b"}]}}]}"#;
        let r = parse(text.as_bytes()).unwrap();
        assert_eq!(r.kind, RecordKind::Notice);
        assert_eq!((r.summary.as_str(), r.details.as_str()), ("s", "d"));
        assert_eq!(r.cves, ["CVE-2024-0001", "CVE-2024-0002"]);
        assert_eq!(r.other_ids, ["XSA-9"]);
        assert_eq!(r.published.unwrap().unix_timestamp(), 1_719_824_791);
        let a = &r.affected[0];
        assert_eq!(
            a.spans,
            [Span {
                introduced: "0".into(),
                fixed: Some("1.2".into())
            }]
        );
        assert_eq!(
            a.binaries,
            [Binary {
                name: "bin".into(),
                version: Some("1.2b".into())
            }]
        );
        assert_eq!(a.fixed(), Some("1.2"));
        assert_eq!(a.severity, Severity::Unknown);
    }

    #[test]
    fn per_cve_record_and_its_severity_word() {
        let text = r#"{"id": "UBUNTU-CVE-2025-0003", "upstream": ["CVE-2025-0003"],
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}, {"type": "Ubuntu", "score": "high"}],
            "affected": [{"package": {"ecosystem": "Ubuntu:Pro:14.04:LTS", "name": "linux"},
              "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
              "ecosystem_specific": {}}]}"#;
        let r = parse(text.as_bytes()).unwrap();
        assert_eq!(r.kind, RecordKind::Cve);
        assert_eq!(r.cves, ["CVE-2025-0003"]);
        assert_eq!(r.severity, Severity::High);
        assert_eq!(r.affected[0].fixed(), None);
        assert!(r.affected[0].binaries.is_empty());
    }

    #[test]
    fn older_binaries_shape_urgency_and_cves_map() {
        let text = r#"{"id": "DSA-1-1", "affected": [
            {"package": {"ecosystem": "Debian:12", "name": "p"},
             "ecosystem_specific": {"binaries": [{"a": "1", "b": "2"}], "urgency": "low**"},
             "database_specific": {"cves_map": {"ecosystem": "Debian:12", "cves": [
                {"id": "CVE-2020-1111", "severity": [{"type": "Ubuntu", "score": "critical"}]},
                {"id": "not-a-cve"}]}}},
            {"package": {"ecosystem": "Debian:11", "name": "p"},
             "database_specific": {"cves_map": {"ecosystem": "Debian:12", "cves": []}}}]}"#;
        let r = parse(text.as_bytes()).unwrap();
        let a = &r.affected[0];
        assert_eq!(a.binaries.len(), 2);
        assert_eq!(
            a.binaries[1],
            Binary {
                name: "b".into(),
                version: Some("2".into())
            }
        );
        assert_eq!(a.severity, Severity::Low);
        assert_eq!(
            a.cve_severity,
            [("CVE-2020-1111".to_string(), Severity::Critical)]
        );
        assert!(r.affected[1].cve_severity.is_empty());
    }

    #[test]
    fn range_events_pair_up() {
        let ev: Vec<Value> = serde_json::from_str(
            r#"[{"introduced": "1"}, {"fixed": "2"}, {"introduced": "3"}, {"last_affected": "4"},
                {"introduced": "5"}]"#,
        )
        .unwrap();
        let spans = spans_of(&ev).unwrap();
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].fixed.as_deref(), Some("2"));
        assert_eq!(
            (spans[1].introduced.as_str(), spans[1].fixed.as_deref()),
            ("3", None)
        );
        assert_eq!(
            (spans[2].introduced.as_str(), spans[2].fixed.as_deref()),
            ("5", None)
        );
    }

    #[test]
    fn malformed_records_are_errors_with_a_reason() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"id": 7}"#,
            r#"{"id": " "}"#,
            r#"{"id": "USN-1", "affected": {}}"#,
            r#"{"id": "USN-1", "affected": [{"package": {"name": "x"}}]}"#,
            r#"{"id": "USN-1", "affected": [{"package": {"ecosystem": "Ubuntu:1", "name": "x"},
                "ecosystem_specific": {"binaries": "x"}}]}"#,
            r#"{"id": "USN-1", "affected": [{"package": {"ecosystem": "Ubuntu:1", "name": "x"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"x": "1"}]}]}]}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn distro_cve_ids() {
        assert_eq!(
            cve_of_distro_id("UBUNTU-CVE-2024-6387").as_deref(),
            Some("CVE-2024-6387")
        );
        assert_eq!(
            cve_of_distro_id("DEBIAN-CVE-2024-12345").as_deref(),
            Some("CVE-2024-12345")
        );
        assert_eq!(cve_of_distro_id("USN-6859-1"), None);
        assert_eq!(cve_of_distro_id("UBUNTU-CVE-20-1"), None);
        let long = "x".repeat(DETAILS_LIMIT + 10);
        assert!(shorten(&long).ends_with("...") && shorten(&long).len() == DETAILS_LIMIT + 3);
    }
}
