//! `audit.*`: bounds on what one client can add to the audit log (issue 17).
//!
//! Every state-changing request is audited, refused ones too, so without a bound one
//! authenticated client could grow the file without limit by sending refused requests.

use serde::Deserialize;

use super::fields::int;

/// Default of `audit.max_lines_per_client_per_minute`: far above what a manager sends
/// (a state-changing request is a job or a reboot), small enough to bound a flood.
pub const DEFAULT_MAX_LINES_PER_CLIENT_PER_MINUTE: u64 = 120;

/// `audit.*`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// `audit.max_lines_per_client_per_minute`: audit lines one client (certificate
    /// fingerprint, else address) may add per minute, 1-1000000, default 120; past it
    /// lines are counted and one summary line is written when the client is audited again.
    #[serde(deserialize_with = "int::<1, 1_000_000, _, _>")]
    pub max_lines_per_client_per_minute: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            max_lines_per_client_per_minute: DEFAULT_MAX_LINES_PER_CLIENT_PER_MINUTE,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn the_cap_has_a_default_a_range_and_is_read() {
        let c = Config::from_yaml_str("{}", Path::new("/")).unwrap();
        assert_eq!(c.audit.max_lines_per_client_per_minute, 120);
        let yaml = "audit:\n  max_lines_per_client_per_minute: 7\n";
        let c = Config::from_yaml_str(yaml, Path::new("/")).unwrap();
        assert_eq!(c.audit.max_lines_per_client_per_minute, 7);
        for bad in ["0", "1000001", "many"] {
            let yaml = format!("audit:\n  max_lines_per_client_per_minute: {bad}\n");
            let errors = Config::from_yaml_str(&yaml, Path::new("/")).unwrap_err();
            let text = format!("{errors:?}");
            assert!(
                text.contains("audit.max_lines_per_client_per_minute"),
                "{text}"
            );
        }
        let errors = Config::from_yaml_str("audit:\n  max_lines: 3\n", Path::new("/")).unwrap_err();
        assert!(format!("{errors:?}").contains("audit.max_lines"));
    }
}
