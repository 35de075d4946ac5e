//! `logging.*`, `api.*` and `compat.*`: diagnostics and behaviour switches.

use std::path::PathBuf;

use serde_yaml_ng::Value;

use super::{describe, Section, Walker};
use crate::compat::PatchManagerCompat;

/// `logging.*`
#[derive(Clone, Debug, PartialEq)]
pub struct LoggingConfig {
    /// `logging.level`: error|warn|info|debug|trace|off, default info.
    pub level: log::LevelFilter,
    /// `logging.audit_log`: JSON-lines audit file, default
    /// `/var/log/linux_patch_api/audit.log`.
    pub audit_log: PathBuf,
}

/// `api.*`
#[derive(Clone, Debug, PartialEq)]
pub struct ApiConfig {
    /// `api.read_only`: refuse every mutating endpoint, default false.
    pub read_only: bool,
}

/// `compat.*`
#[derive(Clone, Debug, PartialEq)]
pub struct CompatConfig {
    /// `compat.patch_manager`: serve the central Patch Manager's shape (`system/info` `os`
    /// and `kernel` as strings, no default page, `timeout` jobs as failed): `auto` (default,
    /// on when this host is enrolled), `true` or `false`. See [`crate::compat`].
    pub patch_manager: PatchManagerCompat,
}

/// Default audit log file.
pub(super) const DEFAULT_AUDIT_LOG: &str = "/var/log/linux_patch_api/audit.log";

impl Walker<'_> {
    /// `logging.*`
    pub(super) fn logging(&mut self, top: &Section) -> LoggingConfig {
        let s = self.child(top, "logging", &["level", "audit_log"]);
        LoggingConfig {
            level: self.level(&s).unwrap_or(log::LevelFilter::Info),
            audit_log: self.path(&s, "audit_log", DEFAULT_AUDIT_LOG),
        }
    }

    /// `logging.level`, one of [`LEVELS`].
    fn level(&mut self, s: &Section) -> Option<log::LevelFilter> {
        let text = self.string(s, "level")?;
        let found = LEVELS
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, l)| *l);
        if found.is_none() {
            let names: Vec<&str> = LEVELS.iter().map(|(n, _)| *n).collect();
            let message = format!("must be one of {}; got {text:?}", names.join(", "));
            self.error(&s.key("level"), message);
        }
        found
    }

    /// `api.*`
    pub(super) fn api(&mut self, top: &Section) -> ApiConfig {
        let s = self.child(top, "api", &["read_only"]);
        ApiConfig {
            read_only: self.boolean(&s, "read_only", false),
        }
    }

    /// `compat.*`
    pub(super) fn compat(&mut self, top: &Section) -> CompatConfig {
        let s = self.child(top, "compat", &["patch_manager"]);
        CompatConfig {
            patch_manager: self.patch_manager_compat(&s),
        }
    }

    /// `compat.patch_manager`: a boolean (as before) or one of `auto`, `true`, `false`.
    fn patch_manager_compat(&mut self, s: &Section) -> PatchManagerCompat {
        let Some(value) = s.get("patch_manager") else {
            return PatchManagerCompat::default();
        };
        let parsed = match value {
            Value::Bool(b) => Some(PatchManagerCompat::from_bool(*b)),
            Value::String(text) => PatchManagerCompat::parse_text(text),
            _ => None,
        };
        if let Some(setting) = parsed {
            return setting;
        }
        let got = match value {
            Value::String(text) => format!("{text:?}"),
            other => describe(other).to_string(),
        };
        let message = format!("must be {}; got {got}", crate::compat::ACCEPTED);
        self.error(&s.key("patch_manager"), message);
        PatchManagerCompat::default()
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
