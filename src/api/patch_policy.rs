//! The patch policy as requests give it: `options.classifications`, `options.min_severity`,
//! `options.include_packages`, `options.exclude_packages` and `options.reboot` (or the
//! manager's `allow_reboot`) of `POST /api/v1/patches/apply`, and the `classification`,
//! `min_severity`, `include` and `exclude` query parameters of `GET /api/v1/patches`.
//! Every bad value is refused with `INVALID_REQUEST` naming it and the allowed ones.

use serde_json::{Map, Value};

use super::envelope::ApiError;
use crate::pkg::advisories::{AdvisoryKind, Severity};
use crate::pkg::glob;
use crate::pkg::policy::{PatchPolicy, RebootSetting};

/// The classifications a policy may name.
const CLASSIFICATIONS: [(&str, AdvisoryKind); 4] = [
    ("security", AdvisoryKind::Security),
    ("bugfix", AdvisoryKind::Bugfix),
    ("enhancement", AdvisoryKind::Enhancement),
    ("other", AdvisoryKind::Other),
];
/// The severity floors a policy may name (`unknown` is no floor).
const SEVERITIES: [(&str, Severity); 4] = [
    ("critical", Severity::Critical),
    ("high", Severity::High),
    ("medium", Severity::Medium),
    ("low", Severity::Low),
];
/// Most masks in one list.
pub const MAX_MASKS: usize = 100;
/// Longest mask.
pub const MAX_MASK_LEN: usize = 256;
/// What a mask may hold besides ASCII letters and digits: the characters of package names
/// in the five ecosystems, and the glob characters.
const MASK_PUNCTUATION: &str = ".+-_:@~*?[]!^";

fn invalid(message: String) -> ApiError {
    ApiError::InvalidRequest(message)
}

/// A value for an error message: scalars as they are, containers by kind only.
fn describe(v: &Value) -> String {
    match v {
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        scalar => scalar.to_string(),
    }
}

/// The policy in a request's `options` (absent parts select everything).
pub fn from_options(options: &Map<String, Value>) -> Result<PatchPolicy, ApiError> {
    let strings = |key: &str| -> Result<Vec<String>, ApiError> {
        match options.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => string_list(v, &format!("options.{key}")),
        }
    };
    let classifications = strings("classifications")?
        .iter()
        .enumerate()
        .map(|(i, c)| {
            one_of(
                c,
                &format!("options.classifications[{i}]"),
                &CLASSIFICATIONS,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let min_severity = match options.get("min_severity") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(one_of(s, "options.min_severity", &SEVERITIES)?),
        Some(other) => {
            return Err(invalid(format!(
                "options.min_severity: expected a string, got {}",
                describe(other)
            )))
        }
    };
    Ok(PatchPolicy {
        classifications: dedup(classifications),
        min_severity,
        include_packages: masks(strings("include_packages")?, "options.include_packages")?,
        exclude_packages: masks(strings("exclude_packages")?, "options.exclude_packages")?,
    })
}

/// The reboot setting: `options.reboot` or the manager's top-level `allow_reboot`, each
/// `true` (`if_required`), `false` (`never`) or a setting's name; both at once is refused.
pub fn reboot(
    options: &Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<RebootSetting, ApiError> {
    let spec = reboot_value(options.get("reboot"), "options.reboot")?;
    let manager = reboot_value(body.get("allow_reboot"), "allow_reboot")?;
    match (spec, manager) {
        (Some(_), Some(_)) => Err(invalid(
            "options.reboot and allow_reboot: give one (the specification's or the manager's)"
                .into(),
        )),
        (a, b) => Ok(a.or(b).unwrap_or_default()),
    }
}

fn reboot_value(v: Option<&Value>, what: &str) -> Result<Option<RebootSetting>, ApiError> {
    let names = || {
        let all: Vec<&str> = RebootSetting::ALL.iter().map(|(n, _)| *n).collect();
        all.join(", ")
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(RebootSetting::IfRequired)),
        Some(Value::Bool(false)) => Ok(Some(RebootSetting::Never)),
        Some(Value::String(s)) => match RebootSetting::ALL.iter().find(|(n, _)| n == s) {
            Some((_, setting)) => Ok(Some(*setting)),
            None => Err(invalid(format!(
                "{what}: must be true, false or one of {}, got {s:?}",
                names()
            ))),
        },
        Some(other) => Err(invalid(format!(
            "{what}: must be true, false or one of {}, got {}",
            describe(other),
            names()
        ))),
    }
}

/// The policy of `GET /api/v1/patches`'s query: each parameter a comma-separated list
/// (`min_severity` one value).
pub fn from_query(
    classification: Option<&str>,
    min_severity: Option<&str>,
    include: Option<&str>,
    exclude: Option<&str>,
) -> Result<PatchPolicy, ApiError> {
    let list = |raw: Option<&str>| -> Vec<String> {
        raw.map(|r| r.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    };
    let classifications = list(classification)
        .iter()
        .map(|c| one_of(c, "query parameter classification", &CLASSIFICATIONS))
        .collect::<Result<Vec<_>, _>>()?;
    let min_severity = min_severity
        .map(|s| one_of(s, "query parameter min_severity", &SEVERITIES))
        .transpose()?;
    Ok(PatchPolicy {
        classifications: dedup(classifications),
        min_severity,
        include_packages: masks(list(include), "query parameter include")?,
        exclude_packages: masks(list(exclude), "query parameter exclude")?,
    })
}

fn one_of<T: Copy>(raw: &str, what: &str, all: &[(&str, T)]) -> Result<T, ApiError> {
    match all.iter().find(|(name, _)| *name == raw) {
        Some((_, v)) => Ok(*v),
        None => {
            let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
            Err(invalid(format!(
                "{what}: must be one of {}, got {raw:?}",
                names.join(", ")
            )))
        }
    }
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = v else {
        return Err(invalid(format!(
            "{what}: expected an array of strings, got {}",
            describe(v)
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(invalid(format!(
                "{what}[{i}]: expected a string, got {}",
                describe(other)
            ))),
        })
        .collect()
}

/// Checks a list of name masks: bounded, package-name characters and glob characters only,
/// brackets closed. Nothing here reaches a shell (none is used); masks are matched in
/// process by [`glob`].
fn masks(list: Vec<String>, what: &str) -> Result<Vec<String>, ApiError> {
    if list.len() > MAX_MASKS {
        return Err(invalid(format!(
            "{what}: at most {MAX_MASKS} masks, got {}",
            list.len()
        )));
    }
    for (i, m) in list.iter().enumerate() {
        mask(m).map_err(|why| invalid(format!("{what}[{i}]: {m:?} is not a name mask: {why}")))?;
    }
    Ok(dedup(list))
}

fn mask(m: &str) -> Result<(), String> {
    if m.is_empty() || m.len() > MAX_MASK_LEN {
        return Err(format!("must be 1-{MAX_MASK_LEN} bytes"));
    }
    if let Some(c) = m
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !MASK_PUNCTUATION.contains(*c))
    {
        return Err(format!(
            "{c:?} is not allowed (letters, digits and {MASK_PUNCTUATION} are)"
        ));
    }
    glob::check(m).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        }
    }

    fn err(v: Value) -> String {
        from_options(&opts(v)).unwrap_err().message()
    }

    #[test]
    fn every_part_of_the_options_is_read() {
        let p = from_options(&opts(serde_json::json!({
            "classifications": ["security", "bugfix", "security"],
            "min_severity": "high",
            "include_packages": ["lpa-*"],
            "exclude_packages": ["lpa-lib*", "nginx", "python3.[0-9]*"],
        })))
        .unwrap();
        assert_eq!(
            p.classifications,
            [AdvisoryKind::Security, AdvisoryKind::Bugfix]
        );
        assert_eq!(p.min_severity, Some(Severity::High));
        assert_eq!(p.include_packages, ["lpa-*"]);
        assert_eq!(p.exclude_packages.len(), 3);
        assert!(from_options(&Map::new()).unwrap().is_empty());
    }

    #[test]
    fn bad_option_values_are_named_with_the_allowed_ones() {
        let m = err(serde_json::json!({"classifications": ["security", "secutiry"]}));
        assert!(m.contains("options.classifications[1]"), "{m}");
        assert!(m.contains("\"secutiry\""), "{m}");
        assert!(m.contains("security, bugfix, enhancement, other"), "{m}");
        let m = err(serde_json::json!({"classifications": "security"}));
        assert!(
            m.contains("options.classifications: expected an array"),
            "{m}"
        );
        let m = err(serde_json::json!({"min_severity": "unknown"}));
        assert!(
            m.contains(
                "options.min_severity: must be one of critical, high, medium, low, got \"unknown\""
            ),
            "{m}"
        );
        let m = err(serde_json::json!({"min_severity": 3}));
        assert!(m.contains("options.min_severity: expected a string"), "{m}");
        let m = err(serde_json::json!({"exclude_packages": ["ok", "a b"]}));
        assert!(
            m.contains("options.exclude_packages[1]: \"a b\" is not a name mask"),
            "{m}"
        );
        let m = err(serde_json::json!({"include_packages": ["lpa-[lib"]}));
        assert!(
            m.contains("options.include_packages[0]") && m.contains("closing ]"),
            "{m}"
        );
        let m = err(serde_json::json!({"include_packages": ["x;rm -rf /"]}));
        assert!(m.contains("';' is not allowed"), "{m}");
        let m = err(serde_json::json!({"exclude_packages": [""]}));
        assert!(m.contains("must be 1-256 bytes"), "{m}");
        let m = err(serde_json::json!({"exclude_packages": ["a".repeat(257)]}));
        assert!(m.contains("must be 1-256 bytes"), "{m}");
        let many: Vec<String> = (0..101).map(|i| format!("p{i}")).collect();
        let m = err(serde_json::json!({"exclude_packages": many}));
        assert!(m.contains("at most 100 masks, got 101"), "{m}");
        let m = err(serde_json::json!({"exclude_packages": [7]}));
        assert!(
            m.contains("options.exclude_packages[0]: expected a string"),
            "{m}"
        );
    }

    #[test]
    fn reboot_takes_booleans_and_names_from_either_shape() {
        let r = |o: Value, b: Value| reboot(&opts(o), &opts(b));
        let none = serde_json::json!({});
        assert_eq!(r(none.clone(), none.clone()).unwrap(), RebootSetting::Never);
        let cases = [
            (serde_json::json!(true), RebootSetting::IfRequired),
            (serde_json::json!(false), RebootSetting::Never),
            (serde_json::json!("if_required"), RebootSetting::IfRequired),
            (serde_json::json!("never"), RebootSetting::Never),
            (serde_json::json!("always"), RebootSetting::Always),
        ];
        for (v, want) in cases {
            let spec = r(serde_json::json!({"reboot": v.clone()}), none.clone()).unwrap();
            let manager = r(none.clone(), serde_json::json!({"allow_reboot": v})).unwrap();
            assert_eq!((spec, manager), (want, want));
        }
        let m = r(serde_json::json!({"reboot": "sometimes"}), none.clone())
            .unwrap_err()
            .message();
        assert!(m.contains("options.reboot: must be true, false or one of if_required, never, always, got \"sometimes\""), "{m}");
        let m = r(none.clone(), serde_json::json!({"allow_reboot": 1}))
            .unwrap_err()
            .message();
        assert!(
            m.contains("allow_reboot: must be true, false or one of"),
            "{m}"
        );
        let m = r(
            serde_json::json!({"reboot": true}),
            serde_json::json!({"allow_reboot": true}),
        )
        .unwrap_err()
        .message();
        assert!(m.contains("give one"), "{m}");
    }

    #[test]
    fn the_query_takes_comma_separated_lists() {
        let p = from_query(
            Some("security,bugfix"),
            Some("medium"),
            Some("lpa-*"),
            Some("lpa-lib*,nginx"),
        )
        .unwrap();
        assert_eq!(
            p.classifications,
            [AdvisoryKind::Security, AdvisoryKind::Bugfix]
        );
        assert_eq!(p.min_severity, Some(Severity::Medium));
        assert_eq!(p.include_packages, ["lpa-*"]);
        assert_eq!(p.exclude_packages, ["lpa-lib*", "nginx"]);
        assert!(from_query(None, None, None, None).unwrap().is_empty());
        let m = |r: Result<PatchPolicy, ApiError>| r.unwrap_err().message();
        let e = m(from_query(Some("security,,bugfix"), None, None, None));
        assert!(e.contains("query parameter classification: must be one of security, bugfix, enhancement, other, got \"\""), "{e}");
        let e = m(from_query(None, Some("severe"), None, None));
        assert!(e.contains("query parameter min_severity: must be one of critical, high, medium, low, got \"severe\""), "{e}");
        let e = m(from_query(None, None, Some("a/b"), None));
        assert!(
            e.contains("query parameter include[0]: \"a/b\" is not a name mask"),
            "{e}"
        );
        let e = m(from_query(None, None, None, Some("ok,[")));
        assert!(e.contains("query parameter exclude[1]"), "{e}");
    }
}
