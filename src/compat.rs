//! `compat.patch_manager`: which client's shape the API serves, and why.
//!
//! The setting is `auto` (the default), `true` or `false`. `auto` serves the central Patch
//! Manager's shape when this host holds an enrollment record (`enrolled.json` in
//! `enrollment.state_dir`): a host enrolled with `--enroll` is by definition driven by that
//! manager. The decision is taken when the agent starts and again on every configuration
//! reload (SIGHUP), never per request, so one request never sees a mix of shapes.

use std::path::{Path, PathBuf};

use crate::enroll::state::ENROLLED_FILE;

/// The values `compat.patch_manager` accepts, as the error message names them.
pub const ACCEPTED: &str = "auto, true or false";

/// `compat.patch_manager` as written in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PatchManagerCompat {
    /// The manager's shape when this host is enrolled, the specification's otherwise.
    #[default]
    Auto,
    /// Always the manager's shape (`true`).
    On,
    /// Always the specification's shape (`false`).
    Off,
}

impl PatchManagerCompat {
    /// Reads the YAML spelling: the booleans, or the strings `auto`, `true`, `false`.
    pub fn parse_text(text: &str) -> Option<PatchManagerCompat> {
        match text {
            "auto" => Some(PatchManagerCompat::Auto),
            "true" => Some(PatchManagerCompat::On),
            "false" => Some(PatchManagerCompat::Off),
            _ => None,
        }
    }

    /// The boolean spelling (`true` = on).
    pub fn from_bool(on: bool) -> PatchManagerCompat {
        if on {
            PatchManagerCompat::On
        } else {
            PatchManagerCompat::Off
        }
    }

    /// How the value is written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchManagerCompat::Auto => "auto",
            PatchManagerCompat::On => "true",
            PatchManagerCompat::Off => "false",
        }
    }
}

/// The shape decided, with the reason given in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// True: the Patch Manager's shape; false: the specification's.
    pub patch_manager: bool,
    /// Why, in words for the log.
    pub reason: String,
}

impl Decision {
    /// The log line that says which shape is served and why.
    pub fn describe(&self) -> String {
        let shape = if self.patch_manager {
            "the Patch Manager's shape"
        } else {
            "the specification's shape"
        };
        format!("serving {shape}: {}", self.reason)
    }
}

/// Where the enrollment record lives for this state directory.
pub fn enrollment_record(state_dir: &Path) -> PathBuf {
    state_dir.join(ENROLLED_FILE)
}

/// Decides the shape from the setting and the enrollment state directory. Only the
/// record's presence counts: it is written last, after the certificates, so its presence
/// means a completed enrollment (an unreadable record still marks an enrolled host).
pub fn decide(setting: PatchManagerCompat, state_dir: &Path) -> Decision {
    match setting {
        PatchManagerCompat::On => Decision {
            patch_manager: true,
            reason: "compat.patch_manager is true".into(),
        },
        PatchManagerCompat::Off => Decision {
            patch_manager: false,
            reason: "compat.patch_manager is false".into(),
        },
        PatchManagerCompat::Auto => {
            let record = enrollment_record(state_dir);
            if record.is_file() {
                Decision {
                    patch_manager: true,
                    reason: format!(
                        "compat.patch_manager is auto and this host is enrolled ({})",
                        record.display()
                    ),
                }
            } else {
                Decision {
                    patch_manager: false,
                    reason: format!(
                        "compat.patch_manager is auto and this host is not enrolled (no {})",
                        record.display()
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_booleans_map_to_the_three_values() {
        assert_eq!(
            PatchManagerCompat::parse_text("auto"),
            Some(PatchManagerCompat::Auto)
        );
        assert_eq!(
            PatchManagerCompat::parse_text("true"),
            Some(PatchManagerCompat::On)
        );
        assert_eq!(
            PatchManagerCompat::parse_text("false"),
            Some(PatchManagerCompat::Off)
        );
        for bad in ["Auto", "yes", "on", "1", ""] {
            assert_eq!(PatchManagerCompat::parse_text(bad), None, "{bad}");
        }
        assert_eq!(PatchManagerCompat::from_bool(true), PatchManagerCompat::On);
        assert_eq!(
            PatchManagerCompat::from_bool(false),
            PatchManagerCompat::Off
        );
        assert_eq!(PatchManagerCompat::default(), PatchManagerCompat::Auto);
        for v in [
            PatchManagerCompat::Auto,
            PatchManagerCompat::On,
            PatchManagerCompat::Off,
        ] {
            assert_eq!(PatchManagerCompat::parse_text(v.as_str()), Some(v));
        }
    }

    #[test]
    fn auto_follows_the_enrollment_record_and_explicit_values_win() {
        let dir = std::env::temp_dir().join(format!("lpa-compat-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let auto = decide(PatchManagerCompat::Auto, &dir);
        assert!(!auto.patch_manager);
        assert!(auto.reason.contains("not enrolled"), "{}", auto.reason);
        assert!(decide(PatchManagerCompat::On, &dir).patch_manager);

        std::fs::write(dir.join(ENROLLED_FILE), "{}").unwrap();
        let auto = decide(PatchManagerCompat::Auto, &dir);
        assert!(auto.patch_manager);
        assert!(auto.reason.contains("enrolled.json"), "{}", auto.reason);
        assert!(
            auto.describe()
                .starts_with("serving the Patch Manager's shape"),
            "{}",
            auto.describe()
        );
        let off = decide(PatchManagerCompat::Off, &dir);
        assert!(!off.patch_manager);
        assert_eq!(
            off.describe(),
            "serving the specification's shape: compat.patch_manager is false"
        );

        // A missing state directory is simply "not enrolled".
        let gone = dir.join("nope");
        assert!(!decide(PatchManagerCompat::Auto, &gone).patch_manager);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
