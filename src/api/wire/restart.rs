//! What needs a restart after patching: the body of `GET /api/v1/system/restart-needed`
//! and the `restart_needed` object of a patch job's result, built from the scan of
//! `system::restart_needed`.

use serde::Serialize;

use crate::system::restart_needed::{RestartNeeded, StaleProcess};

/// One process still running code from a deleted or replaced file.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessEntry<'a> {
    command: &'a str,
    deleted_files: &'a [String],
    pid: u32,
    unit: Option<&'a str>,
}

impl<'a> ProcessEntry<'a> {
    fn of(p: &'a StaleProcess) -> ProcessEntry<'a> {
        ProcessEntry {
            command: &p.command,
            deleted_files: &p.deleted_files,
            pid: p.pid,
            unit: p.unit.as_deref(),
        }
    }
}

fn processes(scan: &RestartNeeded) -> Vec<ProcessEntry<'_>> {
    scan.processes.iter().map(ProcessEntry::of).collect()
}

/// A patch job's `result.restart_needed`.
#[derive(Clone, Debug, Serialize)]
pub struct RestartEntry<'a> {
    processes: Vec<ProcessEntry<'a>>,
    truncated: bool,
    units: &'a [String],
}

impl<'a> RestartEntry<'a> {
    /// The scan as a job result carries it.
    pub fn of(scan: &'a RestartNeeded) -> RestartEntry<'a> {
        RestartEntry {
            processes: processes(scan),
            truncated: scan.truncated,
            units: &scan.units,
        }
    }
}

/// `GET /api/v1/system/restart-needed`: the scan plus the kernel's reboot signal (`null`
/// when it cannot be told: no package backend, or the backend's signal failed).
#[derive(Clone, Debug, Serialize)]
pub struct RestartNeededBody<'a> {
    processes: Vec<ProcessEntry<'a>>,
    reboot_required: Option<bool>,
    truncated: bool,
    units: &'a [String],
}

impl<'a> RestartNeededBody<'a> {
    /// The answer for `scan` and the reboot signal.
    pub fn new(scan: &'a RestartNeeded, reboot_required: Option<bool>) -> RestartNeededBody<'a> {
        RestartNeededBody {
            processes: processes(scan),
            reboot_required,
            truncated: scan.truncated,
            units: &scan.units,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::envelope::assert_sorted_bytes;
    use super::*;

    fn scan() -> RestartNeeded {
        RestartNeeded {
            processes: vec![StaleProcess {
                pid: 689,
                command: "sshd".into(),
                unit: Some("ssh.service".into()),
                deleted_files: vec!["/usr/lib/x86_64-linux-gnu/libssl.so.3".into()],
            }],
            units: vec!["ssh.service".into()],
            truncated: false,
        }
    }

    #[test]
    fn bodies_are_in_wire_order() {
        let s = scan();
        let v = assert_sorted_bytes(&RestartNeededBody::new(&s, Some(true)));
        assert_eq!(v["processes"][0]["pid"], 689);
        assert_eq!(v["processes"][0]["unit"], "ssh.service");
        assert_eq!(
            v["processes"][0]["deleted_files"][0],
            "/usr/lib/x86_64-linux-gnu/libssl.so.3"
        );
        assert_eq!(v["reboot_required"], true);
        assert_eq!(v["units"][0], "ssh.service");
        assert_eq!(v["truncated"], false);
        assert_sorted_bytes(&v["processes"][0]);
        let r = assert_sorted_bytes(&RestartEntry::of(&s));
        assert_eq!(r.as_object().unwrap().len(), 3);
        let unknown = assert_sorted_bytes(&RestartNeededBody::new(&RestartNeeded::default(), None));
        assert!(unknown["reboot_required"].is_null());
        assert_eq!(unknown["processes"].as_array().unwrap().len(), 0);
    }
}
