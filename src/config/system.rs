//! `system.*`: host actions (the reboot command).

use std::path::Path;

use serde::de::{Deserializer, Error};
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::describe;
use super::fields::raw;

/// `system.*`
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SystemConfig {
    /// `system.reboot_command`: the reboot command as a list of arguments (no shell), the
    /// program a name or an absolute path; empty (default) = `systemctl reboot` under
    /// systemd, else `reboot`.
    #[serde(deserialize_with = "argv")]
    pub reboot_command: Vec<String>,
}

impl SystemConfig {
    /// The reboot command to run: the configured one, or the init system's.
    pub fn reboot_argv(&self) -> Vec<String> {
        if !self.reboot_command.is_empty() {
            return self.reboot_command.clone();
        }
        if Path::new("/run/systemd/system").is_dir() {
            vec!["systemctl".into(), "reboot".into()]
        } else {
            vec!["reboot".into()]
        }
    }
}

/// A command as a list of non-empty strings, run without a shell.
fn argv<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items = match raw(d)? {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(items) => items,
        other => {
            return Err(D::Error::custom(format!(
                "expected a list of arguments such as [systemctl, reboot], got {}",
                describe(&other)
            )))
        }
    };
    let argv: Vec<String> = items
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if argv.len() != items.len() || argv.iter().any(String::is_empty) {
        return Err(D::Error::custom("every item must be a non-empty string"));
    }
    let program = argv.first().map_or("/", String::as_str);
    if !program.starts_with('/') && program.contains('/') {
        return Err(D::Error::custom(format!(
            "the program must be a name or an absolute path, got {program:?}"
        )));
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{one_error, parse};

    #[test]
    fn system_keys_are_validated() {
        let c = parse("system:\n  reboot_command: [/usr/local/bin/rb, --now]\n").unwrap();
        assert_eq!(c.system.reboot_argv(), vec!["/usr/local/bin/rb", "--now"]);
        assert_eq!(
            one_error("system:\n  reboot_command: systemctl reboot\n"),
            "system.reboot_command: expected a list of arguments such as [systemctl, reboot], got a string"
        );
        assert_eq!(
            one_error("system:\n  reboot_command: [bin/reboot]\n"),
            "system.reboot_command: the program must be a name or an absolute path, got \"bin/reboot\""
        );
        assert_eq!(
            one_error("system:\n  reboot_command: [reboot, '']\n"),
            "system.reboot_command: every item must be a non-empty string"
        );
        assert!(parse("system:\n  reboot_command: []\n")
            .unwrap()
            .system
            .reboot_command
            .is_empty());
        let default = SystemConfig::default().reboot_argv();
        assert!(default == ["reboot"] || default == ["systemctl", "reboot"]);
    }
}
