//! One tracker issue (`{description?, releases: {CODENAME: {status, fixed_version?,
//! urgency?}}}`) read as a small JSON value and checked field by field, so a wrong shape
//! costs that issue only (the real tracker has `"releases": []` in places).

use serde_json::{Map, Value};

use super::{shorten, urgency_severity, TrackerFix};
use crate::pkg::advisories::ids;
use crate::pkg::advisories::shape::kind_of;

/// The tracker's id normalised: a CVE id in the canonical form, any other id (`TEMP-...`)
/// as written; `None` for an empty key.
pub fn issue_id(key: &str) -> Option<String> {
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    Some(ids::cve(key).unwrap_or_else(|| key.to_string()))
}

/// The fix an issue brings to `release`: `Ok(None)` when the release is not listed or not
/// resolved with a real fixed version (`"0"` means never vulnerable); `Err(reason)` when
/// the issue or the release's entry has the wrong shape.
pub fn fix_for(id: &str, issue: &Value, release: &str) -> Result<Option<TrackerFix>, String> {
    let (fields, releases) = releases_of(issue)?;
    let Some(entry) = releases.get(release) else {
        return Ok(None);
    };
    let Some((fixed, urgency)) = resolved(release, entry)? else {
        return Ok(None);
    };
    // A description of another type is not worth the issue: it is only shown.
    let description = fields.get("description").and_then(Value::as_str);
    Ok(Some(TrackerFix {
        cve: id.to_string(),
        fixed_version: fixed.to_string(),
        severity: urgency_severity(urgency),
        description: shorten(description.unwrap_or("")),
    }))
}

/// Whether an issue and every one of its release entries has the tracker's shape
/// (validation of a download, whatever the host's release).
pub fn check_all(issue: &Value) -> Result<(), String> {
    let (_, releases) = releases_of(issue)?;
    for (release, entry) in releases {
        resolved(release, entry)?;
    }
    Ok(())
}

/// A JSON object's members.
type Fields = Map<String, Value>;

/// The issue's fields and its `releases` map.
fn releases_of(issue: &Value) -> Result<(&Fields, &Fields), String> {
    let Value::Object(fields) = issue else {
        return Err(format!("the issue is {}, not an object", kind_of(issue)));
    };
    match fields.get("releases") {
        Some(Value::Object(r)) => Ok((fields, r)),
        Some(other) => Err(format!("releases is {}, not a map", kind_of(other))),
        None => Err("no releases".to_string()),
    }
}

/// A release entry's fixed version and urgency when it is resolved with a real fix.
fn resolved<'v>(release: &str, entry: &'v Value) -> Result<Option<(&'v str, &'v str)>, String> {
    let Value::Object(entry) = entry else {
        return Err(format!("release {release} is {}", kind_of(entry)));
    };
    let status = text_field(entry.get("status"), "status", release)?
        .ok_or_else(|| format!("release {release}: no status"))?;
    let fixed = text_field(entry.get("fixed_version"), "fixed_version", release)?;
    let urgency = text_field(entry.get("urgency"), "urgency", release)?.unwrap_or("");
    let fixed = fixed.map(str::trim).filter(|v| !v.is_empty() && *v != "0");
    Ok(fixed
        .filter(|_| status == "resolved")
        .map(|fixed| (fixed, urgency)))
}

/// A string field of a release entry: `None` when absent or null, an error for another type.
fn text_field<'v>(
    value: Option<&'v Value>,
    name: &str,
    release: &str,
) -> Result<Option<&'v str>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(format!("release {release}: {name} is {}", kind_of(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::Severity;

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ids_are_normalised_and_temp_ids_kept() {
        assert_eq!(issue_id("CVE_2019-2426").as_deref(), Some("CVE-2019-2426"));
        assert_eq!(
            issue_id("TEMP-0000000-A2EB44").as_deref(),
            Some("TEMP-0000000-A2EB44")
        );
        assert_eq!(issue_id(" "), None);
    }

    #[test]
    fn a_resolved_release_is_a_fix() {
        let issue = v(r#"{"description": "bad", "releases": {"bookworm":
            {"status": "resolved", "fixed_version": "1.2-1", "urgency": "high**"}}}"#);
        let fix = fix_for("CVE-2020-0001", &issue, "bookworm")
            .unwrap()
            .unwrap();
        assert_eq!(fix.fixed_version, "1.2-1");
        assert_eq!(fix.severity, Severity::High);
        assert_eq!(fix.description, "bad");
        assert_eq!(fix_for("CVE-2020-0001", &issue, "trixie").unwrap(), None);
        check_all(&issue).unwrap();
    }

    #[test]
    fn wrong_shapes_are_reasons() {
        let cases = [
            (r#"{"releases": []}"#, "releases is a list, not a map"),
            (r#"[]"#, "the issue is a list, not an object"),
            (r#"{"scope": "local"}"#, "no releases"),
            (
                r#"{"releases": {"bookworm": []}}"#,
                "release bookworm is a list",
            ),
            (
                r#"{"releases": {"bookworm": {"urgency": "low"}}}"#,
                "release bookworm: no status",
            ),
            (
                r#"{"releases": {"bookworm": {"status": "resolved", "fixed_version": 2}}}"#,
                "release bookworm: fixed_version is a number",
            ),
        ];
        for (json, reason) in cases {
            assert_eq!(
                fix_for("CVE-1", &v(json), "bookworm").unwrap_err(),
                reason,
                "{json}"
            );
        }
        // Another release's broken entry does not cost the wanted one.
        let mixed = v(r#"{"releases": {"sid": 5, "bookworm": {"status": "open"}}}"#);
        assert_eq!(fix_for("CVE-1", &mixed, "bookworm").unwrap(), None);
        // Validation of a download looks at every release.
        assert_eq!(check_all(&mixed).unwrap_err(), "release sid is a number");
    }
}
