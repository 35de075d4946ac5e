//! Request bodies of the mutating endpoints: parsed strictly, with errors that name the field.
//!
//! Both shapes the clients send are accepted: the specification's, and where it differs the
//! central Patch Manager's (see INTEROP.md).

use serde_json::{Map, Value};

use super::envelope::ApiError;
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

fn optional_string(v: Option<&Value>, what: &str) -> Result<Option<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string(v, what).map(|s| Some(s.to_string())),
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
        Value::String(name) => Ok(PackageSpec {
            name: name.clone(),
            version: None,
        }),
        Value::Object(o) => {
            only(o, &what, &["name", "version"])?;
            let name = o
                .get("name")
                .ok_or_else(|| invalid(format!("{what}.name: required")))
                .and_then(|v| string(v, &format!("{what}.name")))?;
            Ok(PackageSpec {
                name: name.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
