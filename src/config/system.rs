//! `system.*`: host actions (the reboot command).

use std::path::Path;

use serde_yaml_ng::Value;

use super::{describe, Section, Walker};

/// `system.*`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemConfig {
    /// `system.reboot_command`: the reboot command as a list of arguments (no shell); empty
    /// (default) = `systemctl reboot` under systemd, else `reboot`.
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

impl Walker<'_> {
    /// `system.*`
    pub(super) fn system(&mut self, top: &Section) -> SystemConfig {
        let s = self.child(top, "system", &["reboot_command"]);
        let key = s.key("reboot_command");
        let reboot_command = match s.get("reboot_command") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => {
                let argv: Vec<String> = items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let program = argv.first().map_or("/", String::as_str);
                if argv.len() != items.len() || argv.iter().any(String::is_empty) {
                    self.error(&key, "every item must be a non-empty string");
                    Vec::new()
                } else if !program.starts_with('/') && program.contains('/') {
                    let message =
                        format!("the program must be a name or an absolute path, got {program:?}");
                    self.error(&key, message);
                    Vec::new()
                } else {
                    argv
                }
            }
            Some(other) => {
                let message = format!(
                    "expected a list of arguments such as [systemctl, reboot], got {}",
                    describe(other)
                );
                self.error(&key, message);
                Vec::new()
            }
        };
        SystemConfig { reboot_command }
    }
}
