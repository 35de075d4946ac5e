//! Request bodies of the mutating endpoints: parsed strictly, with errors that name the field.
//!
//! Both shapes the clients send are accepted: the specification's, and where it differs the
//! central Patch Manager's (see INTEROP.md).

use serde_json::{Map, Value};

use super::envelope::ApiError;
use crate::pkg::policy::{PatchPolicy, RebootSetting};
use crate::pkg::{InstallOptions, PackageSpec};

/// Most packages one install request may name.
pub const MAX_PACKAGES: usize = 100;

fn invalid(message: String) -> ApiError {
    ApiError::InvalidRequest(message)
}

/// Parses a JSON object body; an empty body is `{}` (the manager's PUT sends none).
pub fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(invalid(format!(
            "request body: expected a JSON object, got {}",
            kind(&other)
        ))),
        Err(e) => Err(invalid(format!("request body: not valid JSON: {e}"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Refuses keys not in `known`, naming them.
fn only(map: &Map<String, Value>, what: &str, known: &[&str]) -> Result<(), ApiError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!(
            "{what}: unknown field {k:?}; expected one of {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn boolean(map: &Map<String, Value>, what: &str, key: &str) -> Result<bool, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(invalid(format!(
            "{what}.{key}: expected a boolean, got {}",
            kind(other)
        ))),
    }
}

fn string<'v>(v: &'v Value, what: &str) -> Result<&'v str, ApiError> {
    v.as_str()
        .ok_or_else(|| invalid(format!("{what}: expected a string, got {}", kind(v))))
}

/// An optional version string: bounded and printable (the grammar check comes later, with
/// the backend), so a megabyte of version never travels further than this.
fn optional_string(v: Option<&Value>, what: &str) -> Result<Option<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let s = string(v, what)?;
            if s.len() > MAX_TEXT || s.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "{what}: must be at most {MAX_TEXT} bytes of printable text"
                )));
            }
            Ok(Some(s.to_string()))
        }
    }
}

/// `options` of an install or update; `allowed` names the keys that endpoint takes.
fn install_options(map: &Map<String, Value>, allowed: &[&str]) -> Result<InstallOptions, ApiError> {
    let options = match map.get("options") {
        None | Some(Value::Null) => return Ok(InstallOptions::default()),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(invalid(format!(
                "options: expected an object, got {}",
                kind(other)
            )))
        }
    };
    only(options, "options", allowed)?;
    Ok(InstallOptions {
        force: boolean(options, "options", "force")?,
        no_recommends: boolean(options, "options", "no_recommends")?,
        allow_downgrade: boolean(options, "options", "allow_downgrade")?,
    })
}

/// `POST /api/v1/packages`: `{"packages": [{"name", "version"}|"name", ...], "options": {...}}`.
pub fn install(body: &[u8]) -> Result<(Vec<PackageSpec>, InstallOptions), ApiError> {
    let map = object(body)?;
    only(&map, "request body", &["packages", "options"])?;
    let list = match map.get("packages") {
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(invalid(format!(
                "packages: expected an array, got {}",
                kind(other)
            )))
        }
        None => return Err(invalid("packages: required".into())),
    };
    if list.is_empty() || list.len() > MAX_PACKAGES {
        return Err(invalid(format!(
            "packages: must name 1-{MAX_PACKAGES} packages, got {}",
            list.len()
        )));
    }
    let specs = list
        .iter()
        .enumerate()
        .map(|(i, item)| package_spec(item, i))
        .collect::<Result<Vec<_>, _>>()?;
    let options = install_options(&map, &["force", "no_recommends", "allow_downgrade"])?;
    Ok((specs, options))
}

fn package_spec(item: &Value, i: usize) -> Result<PackageSpec, ApiError> {
    let what = format!("packages[{i}]");
    match item {
        Value::String(_) => Ok(PackageSpec {
            name: text(item, &what)?,
            version: None,
        }),
        Value::Object(o) => {
            only(o, &what, &["name", "version"])?;
            let name = o
                .get("name")
                .ok_or_else(|| invalid(format!("{what}.name: required")))
                .and_then(|v| text(v, &format!("{what}.name")))?;
            Ok(PackageSpec {
                name,
                version: optional_string(o.get("version"), &format!("{what}.version"))?,
            })
        }
        other => Err(invalid(format!(
            "{what}: expected an object or a name, got {}",
            kind(other)
        ))),
    }
}

/// `PUT /api/v1/packages/{name}`: optional `{"version", "options"}`; no body at all is fine.
pub fn update(name: &str, body: &[u8]) -> Result<(PackageSpec, InstallOptions), ApiError> {
    let map = object(body)?;
    only(&map, "request body", &["version", "options"])?;
    let version = optional_string(map.get("version"), "version")?;
    let options = install_options(&map, &["force", "no_recommends", "allow_downgrade"])?;
    Ok((
        PackageSpec {
            name: name.to_string(),
            version,
        },
        options,
    ))
}

/// `POST /api/v1/jobs/{id}/rollback`: `{}` or nothing.
pub fn empty(body: &[u8]) -> Result<(), ApiError> {
    let map = object(body)?;
    only(&map, "request body", &[])
}

/// Longest delay a reboot may be scheduled for: a week.
pub const MAX_REBOOT_DELAY_SECONDS: u64 = 7 * 86_400;
/// Most ids or names one patch request may list.
pub const MAX_PATCH_ITEMS: usize = 1000;
/// Longest id, name or reason accepted.
const MAX_TEXT: usize = 512;

/// Which patches a `POST /api/v1/patches/apply` selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatchSelection {
    /// Every available patch (the specification's absent or empty `patches`).
    All,
    /// The specification's `patches`: patch ids.
    Ids(Vec<String>),
    /// INTEROP's `packages`: patch names (or ids, or affected package names); empty selects
    /// nothing.
    Names(Vec<String>),
}

/// `POST /api/v1/patches/apply` in either shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchApply {
    /// What to apply.
    pub selection: PatchSelection,
    /// `options.classifications`, `min_severity`, `include_packages`, `exclude_packages`.
    pub policy: PatchPolicy,
    /// `options.reboot` / `allow_reboot`: when to reboot afterwards.
    pub reboot: RebootSetting,
    /// `options.reboot_delay_minutes` x 60, or `reboot_delay_seconds`.
    pub reboot_delay_seconds: u64,
    /// `options.max_duration_minutes`: the time budget; none for one transaction.
    pub max_duration_minutes: Option<u32>,
}

/// Parses the specification's `{patches, options{reboot, reboot_delay_minutes,
/// exclude_packages, ...policy}}` or the manager's `{packages, allow_reboot,
/// reboot_delay_seconds}` (which may carry `options` too).
pub fn patch_apply(body: &[u8]) -> Result<PatchApply, ApiError> {
    let map = object(body)?;
    only(
        &map,
        "request body",
        &[
            "patches",
            "options",
            "packages",
            "allow_reboot",
            "reboot_delay_seconds",
        ],
    )?;
    let selection = match (map.get("patches"), map.get("packages")) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "patches and packages: give one (patches: the specification's ids; packages: the manager's names)".into(),
            ))
        }
        (Some(v), None) => match texts(v, "patches")? {
            ids if ids.is_empty() => PatchSelection::All,
            ids => PatchSelection::Ids(ids),
        },
        (None, Some(v)) => PatchSelection::Names(texts(v, "packages")?),
        (None, None) => PatchSelection::All,
    };
    let options = match map.get("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(other) => {
            return Err(invalid(format!(
                "options: expected an object, got {}",
                kind(other)
            )))
        }
    };
    only(
        &options,
        "options",
        &[
            "reboot",
            "reboot_delay_minutes",
            "classifications",
            "min_severity",
            "include_packages",
            "exclude_packages",
            "max_duration_minutes",
        ],
    )?;
    let minutes = seconds(
        options.get("reboot_delay_minutes"),
        "options.reboot_delay_minutes",
        60,
    )?;
    let secs = seconds(map.get("reboot_delay_seconds"), "reboot_delay_seconds", 1)?;
    if minutes.is_some() && secs.is_some() {
        return Err(invalid(
            "options.reboot_delay_minutes and reboot_delay_seconds: give one".into(),
        ));
    }
    Ok(PatchApply {
        selection,
        policy: super::patch_policy::from_options(&options)?,
        reboot: super::patch_policy::reboot(&options, &map)?,
        reboot_delay_seconds: minutes.or(secs).unwrap_or(0),
        max_duration_minutes: max_duration_minutes(options.get("max_duration_minutes"))?,
    })
}

/// Shortest and longest time budget of a patch job, in minutes (a day at most).
pub const MAX_DURATION_MINUTES: std::ops::RangeInclusive<u32> = 1..=1440;

/// `options.max_duration_minutes`: an integer 1-1440, or absent (no budget).
fn max_duration_minutes(v: Option<&Value>) -> Result<Option<u32>, ApiError> {
    let v = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
        Some(n) if MAX_DURATION_MINUTES.contains(&n) => Ok(Some(n)),
        _ => Err(invalid(format!(
            "options.max_duration_minutes: expected an integer {}-{}, got {v}",
            MAX_DURATION_MINUTES.start(),
            MAX_DURATION_MINUTES.end()
        ))),
    }
}

/// `POST /api/v1/system/reboot`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reboot {
    /// Seconds before the reboot command runs.
    pub delay_seconds: u64,
    /// Reboot even while package jobs are pending or running.
    pub force: bool,
    /// Why (written to the audit log and the job).
    pub reason: Option<String>,
}

/// Parses `{"delay_seconds", "force", "reason"}` (INTEROP sends the first two).
pub fn reboot(body: &[u8]) -> Result<Reboot, ApiError> {
    let map = object(body)?;
    only(&map, "request body", &["delay_seconds", "force", "reason"])?;
    let reason = match map.get("reason") {
        None | Some(Value::Null) => None,
        Some(v) => Some(text(v, "reason")?),
    };
    Ok(Reboot {
        delay_seconds: seconds(map.get("delay_seconds"), "delay_seconds", 1)?.unwrap_or(0),
        force: boolean(&map, "request body", "force")?,
        reason,
    })
}

/// A delay in `unit`-second steps, as seconds, bounded by [`MAX_REBOOT_DELAY_SECONDS`].
fn seconds(v: Option<&Value>, what: &str, unit: u64) -> Result<Option<u64>, ApiError> {
    let v = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let max = MAX_REBOOT_DELAY_SECONDS / unit;
    match v.as_u64() {
        Some(n) if n <= max => Ok(Some(n * unit)),
        _ => Err(invalid(format!(
            "{what}: expected an integer 0-{max}, got {v}"
        ))),
    }
}

/// A list of short printable strings.
fn texts(v: &Value, what: &str) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = v else {
        return Err(invalid(format!(
            "{what}: expected an array of strings, got {}",
            kind(v)
        )));
    };
    if items.len() > MAX_PATCH_ITEMS {
        return Err(invalid(format!(
            "{what}: at most {MAX_PATCH_ITEMS} items, got {}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| text(item, &format!("{what}[{i}]")))
        .collect()
}

/// A non-empty printable string of at most 512 bytes.
fn text(v: &Value, what: &str) -> Result<String, ApiError> {
    let s = string(v, what)?;
    if s.is_empty() || s.len() > MAX_TEXT || s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what}: must be 1-{MAX_TEXT} bytes of printable text"
        )));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_are_bounded_before_they_travel_further() {
        let msg = |b: String| install(b.as_bytes()).unwrap_err().message();
        let long = "a".repeat(MAX_TEXT + 1);
        assert!(msg(format!(r#"{{"packages":["{long}"]}}"#)).contains("packages[0]: must be"));
        assert!(msg(format!(r#"{{"packages":[{{"name":"{long}"}}]}}"#))
            .contains("packages[0].name: must be"));
        assert!(msg(r#"{"packages":["a\u0000b"]}"#.to_string()).contains("printable"));
        let version = format!(r#"{{"packages":[{{"name":"a","version":"{long}"}}]}}"#);
        assert!(msg(version).contains("packages[0].version: must be at most"));
        let err = update("a", format!(r#"{{"version":"{long}"}}"#).as_bytes()).unwrap_err();
        assert!(
            err.message().contains("version: must be at most"),
            "{err:?}"
        );
        // Up to the bound they pass; the ecosystem's grammar judges them later.
        let ok = "a".repeat(MAX_TEXT);
        assert!(install(format!(r#"{{"packages":["{ok}"]}}"#).as_bytes()).is_ok());
    }

    #[test]
    fn install_accepts_objects_and_plain_names() {
        let (specs, opts) = install(
            br#"{"packages":[{"name":"nginx","version":"1.24.0-1"},{"name":"openssl","version":null},"curl"],
                "options":{"no_recommends":true}}"#,
        )
        .unwrap();
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[0].version.as_deref(), Some("1.24.0-1"));
        assert_eq!(specs[1].version, None);
        assert_eq!(specs[2].name, "curl");
        assert!(opts.no_recommends && !opts.force && !opts.allow_downgrade);
    }

    #[test]
    fn install_errors_name_the_field() {
        let msg = |b: &[u8]| install(b).unwrap_err().message();
        assert!(msg(b"").contains("packages: required"));
        assert!(msg(b"[]").contains("expected a JSON object"));
        assert!(msg(b"{nope").contains("not valid JSON"));
        assert!(msg(br#"{"packages":[]}"#).contains("must name 1-100"));
        assert!(msg(br#"{"packages":[{"version":"1"}]}"#).contains("packages[0].name: required"));
        assert!(
            msg(br#"{"packages":[{"name":5}]}"#).contains("packages[0].name: expected a string")
        );
        assert!(msg(br#"{"packages":["a"],"extra":1}"#).contains("unknown field \"extra\""));
        assert!(msg(br#"{"packages":["a"],"options":{"force":"yes"}}"#)
            .contains("options.force: expected a boolean"));
        assert!(msg(br#"{"packages":["a"],"options":{"purge":true}}"#)
            .contains("options: unknown field"));
    }

    #[test]
    fn update_without_body_is_the_latest_version() {
        let (spec, opts) = update("nginx", b"").unwrap();
        assert_eq!(
            spec,
            PackageSpec {
                name: "nginx".into(),
                version: None
            }
        );
        assert_eq!(opts, InstallOptions::default());
        let (spec, opts) = update(
            "nginx",
            br#"{"version":"1.0-1","options":{"allow_downgrade":true}}"#,
        )
        .unwrap();
        assert_eq!(spec.version.as_deref(), Some("1.0-1"));
        assert!(opts.allow_downgrade);
    }

    #[test]
    fn rollback_body_must_be_empty() {
        assert!(empty(b"").is_ok());
        assert!(empty(b"{}").is_ok());
        assert!(empty(br#"{"x":1}"#).is_err());
    }

    #[test]
    fn patch_apply_takes_both_shapes() {
        let spec = patch_apply(
            br#"{"patches":["USN-6000-1"],"options":{"reboot":true,"reboot_delay_minutes":5,"exclude_packages":["linux-image-generic"]}}"#,
        )
        .unwrap();
        assert_eq!(
            spec.selection,
            PatchSelection::Ids(vec!["USN-6000-1".into()])
        );
        assert_eq!(spec.policy.exclude_packages, vec!["linux-image-generic"]);
        assert_eq!(spec.reboot, RebootSetting::IfRequired);
        assert_eq!(spec.reboot_delay_seconds, 300);
        let manager = patch_apply(
            br#"{"packages":["openssl"],"allow_reboot":true,"reboot_delay_seconds":90}"#,
        )
        .unwrap();
        assert_eq!(
            manager.selection,
            PatchSelection::Names(vec!["openssl".into()])
        );
        assert_eq!(manager.reboot, RebootSetting::IfRequired);
        assert_eq!(manager.reboot_delay_seconds, 90);
        assert_eq!(patch_apply(b"").unwrap().selection, PatchSelection::All);
        assert_eq!(
            patch_apply(br#"{"patches":[]}"#).unwrap().selection,
            PatchSelection::All
        );
        assert_eq!(
            patch_apply(br#"{"packages":[]}"#).unwrap().selection,
            PatchSelection::Names(Vec::new())
        );
        assert_eq!(patch_apply(b"{}").unwrap().reboot, RebootSetting::Never);
        let policy = patch_apply(
            br#"{"patches":[],"options":{"reboot":"always","classifications":["security"],"min_severity":"critical","include_packages":["lpa-*"]}}"#,
        )
        .unwrap();
        assert_eq!(policy.reboot, RebootSetting::Always);
        assert_eq!(policy.policy.include_packages, ["lpa-*"]);
        assert_eq!(
            policy.policy.min_severity,
            Some(crate::pkg::advisories::Severity::Critical)
        );
    }

    #[test]
    fn patch_apply_errors_name_the_field() {
        let msg = |b: &[u8]| patch_apply(b).unwrap_err().message();
        assert!(msg(br#"{"patches":["a"],"packages":["b"]}"#).contains("give one"));
        assert!(msg(br#"{"patches":"a"}"#).contains("patches: expected an array of strings"));
        assert!(msg(br#"{"patches":[1]}"#).contains("patches[0]: expected a string"));
        assert!(msg(br#"{"patches":[""]}"#).contains("patches[0]: must be 1-512 bytes"));
        assert!(msg(br#"{"packages":["a\nb"]}"#).contains("packages[0]: must be 1-512 bytes"));
        assert!(msg(br#"{"options":{"reboot_delay_minutes":-1}}"#)
            .contains("options.reboot_delay_minutes: expected an integer 0-10080"));
        assert!(msg(br#"{"reboot_delay_seconds":604801}"#)
            .contains("reboot_delay_seconds: expected an integer 0-604800"));
        assert!(
            msg(br#"{"options":{"reboot_delay_minutes":1},"reboot_delay_seconds":1}"#)
                .contains("give one")
        );
        assert!(msg(br#"{"options":{"force":true}}"#).contains("options: unknown field"));
        assert!(msg(br#"{"allow_reboot":"yes"}"#)
            .contains("allow_reboot: must be true, false or one of"));
        assert!(msg(br#"{"options":{"min_severity":"urgent"}}"#)
            .contains("options.min_severity: must be one of critical, high, medium, low"));
        assert!(msg(br#"{"packages":[],"options":{"classifications":["fix"]}}"#)
            .contains("options.classifications[0]: must be one of security, bugfix, enhancement, other, got \"fix\""));
    }

    #[test]
    fn the_time_budget_is_minutes_within_a_day() {
        let minutes = |b: &[u8]| patch_apply(b).map(|p| p.max_duration_minutes);
        assert_eq!(minutes(b"{}").unwrap(), None);
        assert_eq!(
            minutes(br#"{"options":{"max_duration_minutes":null}}"#).unwrap(),
            None
        );
        assert_eq!(
            minutes(br#"{"options":{"max_duration_minutes":1}}"#).unwrap(),
            Some(1)
        );
        assert_eq!(
            minutes(br#"{"patches":["a"],"options":{"max_duration_minutes":1440}}"#).unwrap(),
            Some(1440)
        );
        for bad in ["0", "1441", "-5", "1.5", "\"60\"", "true", "4294967297"] {
            let body = format!(r#"{{"options":{{"max_duration_minutes":{bad}}}}}"#);
            let e = minutes(body.as_bytes()).unwrap_err();
            assert!(
                e.message()
                    .contains("options.max_duration_minutes: expected an integer 1-1440"),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn reboot_body() {
        assert_eq!(
            reboot(br#"{"delay_seconds":60,"force":false,"reason":"Scheduled maintenance"}"#)
                .unwrap(),
            Reboot {
                delay_seconds: 60,
                force: false,
                reason: Some("Scheduled maintenance".into())
            }
        );
        assert_eq!(reboot(b"").unwrap().delay_seconds, 0);
        let msg = |b: &[u8]| reboot(b).unwrap_err().message();
        assert!(msg(br#"{"delay_seconds":1.5}"#).contains("delay_seconds: expected an integer"));
        assert!(msg(br#"{"reason":""}"#).contains("reason: must be 1-512 bytes"));
        assert!(msg(br#"{"when":"now"}"#).contains("unknown field \"when\""));
    }
}
