//! `/api/v1/system` bodies: host facts in both answer shapes, a service's status and the
//! `202` answer of a reboot job.

use serde::Serialize;

use super::envelope::NewJob;
use crate::system::info::SystemInfo;
use crate::system::services::ServiceStatus;
use crate::timefmt::rfc3339;

/// The API version reported by `system/info`.
pub const API_VERSION: &str = "1.0.0";

/// The specification's `os` object.
#[derive(Debug, Serialize)]
pub struct OsDetail<'a> {
    architecture: &'a str,
    codename: Option<&'a str>,
    id: &'a str,
    id_like: Option<&'a str>,
    name: &'a str,
    version: Option<&'a str>,
}

/// The specification's `kernel` object.
#[derive(Debug, Serialize)]
pub struct KernelDetail<'a> {
    architecture: &'a str,
    version: &'a str,
}

/// A field that is an object in the specification's shape and a plain string in the Patch
/// Manager's.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ByShape<'a, T> {
    /// The manager's shape: the name (`os`) or release (`kernel`) alone.
    Flat(&'a str),
    /// The specification's shape.
    Nested(T),
}

/// `GET /api/v1/system/info`: the specification's fields plus the flat INTEROP ones (none
/// collides with the specification's names).
#[derive(Debug, Serialize)]
pub struct SystemInfoBody<'a> {
    api_version: &'static str,
    architecture: &'a str,
    hostname: &'a str,
    kernel: ByShape<'a, KernelDetail<'a>>,
    kernel_release: &'a str,
    last_boot: Option<String>,
    os: ByShape<'a, OsDetail<'a>>,
    os_version: String,
    package_manager: Option<&'static str>,
    pending_reboot: bool,
    pending_reboot_packages: &'a [String],
    pending_reboot_reason: &'a str,
    service_status: &'static str,
    uptime_seconds: Option<u64>,
}

impl<'a> SystemInfoBody<'a> {
    /// `facts` in the specification's shape, or with `flat` (compat.patch_manager) with
    /// `os` and `kernel` as strings.
    pub fn new(facts: &'a SystemInfo, flat: bool) -> SystemInfoBody<'a> {
        let os = &facts.os;
        let (os_field, kernel) = if flat {
            (
                ByShape::Flat(os.name.as_str()),
                ByShape::Flat(facts.kernel_release.as_str()),
            )
        } else {
            let os_detail = OsDetail {
                architecture: &facts.architecture,
                codename: os.codename.as_deref(),
                id: &os.id,
                id_like: os.id_like.as_deref(),
                name: &os.name,
                version: os.version.as_deref(),
            };
            let kernel = KernelDetail {
                architecture: &facts.architecture,
                version: &facts.kernel_release,
            };
            (ByShape::Nested(os_detail), ByShape::Nested(kernel))
        };
        SystemInfoBody {
            api_version: API_VERSION,
            architecture: &facts.architecture,
            hostname: &facts.hostname,
            kernel,
            kernel_release: &facts.kernel_release,
            last_boot: facts.last_boot.map(rfc3339),
            os: os_field,
            os_version: os.short_version(),
            package_manager: facts.package_manager,
            pending_reboot: facts.pending_reboot,
            pending_reboot_packages: &facts.pending_reboot_packages,
            pending_reboot_reason: &facts.pending_reboot_reason,
            service_status: "running",
            uptime_seconds: facts.uptime_seconds,
        }
    }
}

/// `GET /api/v1/system/services/{name}`, in the shape the Patch Manager parses.
#[derive(Debug, Serialize)]
pub struct ServiceBody<'a> {
    active_state: &'a str,
    display_name: &'a str,
    enabled_state: &'a str,
    healthy: bool,
    load_state: &'a str,
    main_pid: Option<u32>,
    name: &'a str,
    sub_state: &'a str,
}

impl<'a> From<&'a ServiceStatus> for ServiceBody<'a> {
    fn from(s: &'a ServiceStatus) -> ServiceBody<'a> {
        ServiceBody {
            active_state: &s.active_state,
            display_name: &s.display_name,
            enabled_state: &s.enabled_state,
            healthy: s.healthy,
            load_state: &s.load_state,
            main_pid: s.main_pid,
            name: &s.name,
            sub_state: &s.sub_state,
        }
    }
}

/// What a reboot job will do, as its `202` answer states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebootPlan<'a> {
    /// When the command runs (RFC 3339).
    pub scheduled_at: String,
    /// Seconds from the job's creation to then.
    pub delay_seconds: u64,
    /// Reboot even while package jobs are pending or running.
    pub force: bool,
    /// Why, as given by the requester.
    pub reason: Option<&'a str>,
}

/// `POST /api/v1/system/reboot` answered `202`.
#[derive(Debug, Serialize)]
pub struct RebootAccepted<'a> {
    created_at: String,
    delay_seconds: u64,
    force: bool,
    job_id: String,
    operation: &'static str,
    reason: Option<&'a str>,
    scheduled_at: String,
    status: &'static str,
}

impl<'a> RebootAccepted<'a> {
    /// The answer for `job`, carrying out `plan`.
    pub fn new(job: NewJob, plan: RebootPlan<'a>) -> RebootAccepted<'a> {
        RebootAccepted {
            created_at: job.created_at,
            delay_seconds: plan.delay_seconds,
            force: plan.force,
            job_id: job.job_id,
            operation: job.operation,
            reason: plan.reason,
            scheduled_at: plan.scheduled_at,
            status: job.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::envelope::assert_sorted_bytes;
    use super::*;

    #[test]
    fn service_and_reboot_answers_are_in_wire_order() {
        let s = ServiceStatus {
            name: "ssh.service".into(),
            display_name: "OpenSSH".into(),
            active_state: "active".into(),
            sub_state: "running".into(),
            load_state: "loaded".into(),
            enabled_state: "enabled".into(),
            healthy: true,
            main_pid: None,
        };
        let v = assert_sorted_bytes(&ServiceBody::from(&s));
        assert!(v["main_pid"].is_null());
        assert_eq!(v["name"], "ssh.service");
        let job = NewJob {
            created_at: "t".into(),
            job_id: "j".into(),
            operation: "reboot",
            status: "pending",
        };
        let plan = RebootPlan {
            scheduled_at: "s".into(),
            delay_seconds: 60,
            force: false,
            reason: None,
        };
        let v = assert_sorted_bytes(&RebootAccepted::new(job, plan));
        assert_eq!(v["delay_seconds"], 60);
        assert!(v["reason"].is_null());
        assert_eq!(v.as_object().unwrap().len(), 8);
    }
}
