//! `logging.*`, `api.*` and `compat.*`: diagnostics and behaviour switches.

use std::path::PathBuf;

use serde::de::{Deserializer, Error};
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::describe;
use super::fields::{boolean, one_of, path, raw, string};
use crate::compat::PatchManagerCompat;

/// `logging.*`
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// `logging.level`: error|warn|info|debug|trace|off, default info.
    #[serde(deserialize_with = "level")]
    pub level: log::LevelFilter,
    /// `logging.audit_log`: JSON-lines audit file, default
    /// `/var/log/linux_patch_api/audit.log`.
    #[serde(deserialize_with = "path")]
    pub audit_log: PathBuf,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: log::LevelFilter::Info,
            audit_log: PathBuf::from("/var/log/linux_patch_api/audit.log"),
        }
    }
}

/// Names accepted by `logging.level`.
const LEVELS: &[(&str, log::LevelFilter)] = &[
    ("error", log::LevelFilter::Error),
    ("warn", log::LevelFilter::Warn),
    ("info", log::LevelFilter::Info),
    ("debug", log::LevelFilter::Debug),
    ("trace", log::LevelFilter::Trace),
    ("off", log::LevelFilter::Off),
];

/// `logging.level`, one of [`LEVELS`].
fn level<'de, D: Deserializer<'de>>(d: D) -> Result<log::LevelFilter, D::Error> {
    let text = string(d)?;
    let names: Vec<&str> = LEVELS.iter().map(|(n, _)| *n).collect();
    one_of(&text, &names).map_err(D::Error::custom)?;
    LEVELS
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, l)| *l)
        .ok_or_else(|| D::Error::custom("unknown level"))
}

/// `api.*`
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// `api.read_only`: refuse every mutating endpoint, default false.
    #[serde(deserialize_with = "boolean")]
    pub read_only: bool,
}

/// `compat.*`
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompatConfig {
    /// `compat.patch_manager`: serve the central Patch Manager's shape (`system/info` `os`
    /// and `kernel` as strings, no default page, `timeout` jobs as failed): `auto` (default,
    /// on when this host is enrolled), `true` or `false` (a boolean or the word). See
    /// [`crate::compat`].
    #[serde(deserialize_with = "patch_manager")]
    pub patch_manager: PatchManagerCompat,
}

/// `compat.patch_manager`: a boolean (as before) or one of `auto`, `true`, `false`.
fn patch_manager<'de, D: Deserializer<'de>>(d: D) -> Result<PatchManagerCompat, D::Error> {
    let value = raw(d)?;
    let parsed = match &value {
        Value::Bool(b) => Some(PatchManagerCompat::from_bool(*b)),
        Value::String(text) => PatchManagerCompat::parse_text(text),
        _ => None,
    };
    parsed.ok_or_else(|| {
        let got = match &value {
            Value::String(text) => format!("{text:?}"),
            other => describe(other).to_string(),
        };
        D::Error::custom(format!("must be {}; got {got}", crate::compat::ACCEPTED))
    })
}

#[cfg(test)]
mod tests {
    use crate::compat::PatchManagerCompat;
    use crate::config::tests::{one_error, parse};

    #[test]
    fn compat_patch_manager_takes_auto_and_the_booleans() {
        let value = |text: &str| parse(text).unwrap().compat.patch_manager;
        assert_eq!(value("compat:\n"), PatchManagerCompat::Auto);
        assert_eq!(
            value("compat:\n  patch_manager: auto\n"),
            PatchManagerCompat::Auto
        );
        assert_eq!(
            value("compat:\n  patch_manager: true\n"),
            PatchManagerCompat::On
        );
        assert_eq!(
            value("compat:\n  patch_manager: false\n"),
            PatchManagerCompat::Off
        );
        assert_eq!(
            value("compat: {patch_manager: \"false\"}\n"),
            PatchManagerCompat::Off
        );
        assert_eq!(
            one_error("compat:\n  patch_manager: yes\n"),
            "compat.patch_manager: must be auto, true or false; got \"yes\""
        );
        assert_eq!(
            one_error("compat:\n  patch_manager: 1\n"),
            "compat.patch_manager: must be auto, true or false; got an integer"
        );
        assert_eq!(
            one_error("compat:\n  patch_manager: [auto]\n"),
            "compat.patch_manager: must be auto, true or false; got a list"
        );
    }

    #[test]
    fn levels_are_named() {
        assert_eq!(
            one_error("logging:\n  level: verbose\n"),
            "logging.level: must be one of error, warn, info, debug, trace, off; got \"verbose\""
        );
        let c = parse("logging:\n  level: off\n").unwrap();
        assert_eq!(c.logging.level, log::LevelFilter::Off);
    }
}
