//! `GET /api/v1/system/info`, `POST /api/v1/system/reboot`,
//! `GET /api/v1/system/restart-needed` and (INTEROP) `GET /api/v1/system/services/{name}`.

use serde_json::Map;

use super::envelope::{ApiError, Reply};
use super::wire::envelope::NewJob;
use super::wire::restart::RestartNeededBody;
use super::wire::system::{RebootAccepted, RebootPlan, ServiceBody, SystemInfoBody};
use crate::jobs::{Engine, JobRequest};
use crate::pkg::inventory::Inventory;
use crate::system::info::SystemInfo;
use crate::system::restart_cache::RestartCache;
use crate::system::services::{self, ServiceError, ServiceStatus};
use crate::timefmt::rfc3339;

/// The API version reported by `system/info` (the wire module states it).
pub use super::wire::system::API_VERSION;

/// `GET /api/v1/system/info` on this host; `pending_reboot` comes from the backend's own
/// reboot signal when there is a backend.
pub fn info(compat_patch_manager: bool, inventory: Option<&Inventory>) -> Result<Reply, ApiError> {
    let mut facts = crate::system::info::gather();
    if let Some(inv) = inventory {
        facts.package_manager = Some(inv.backend().kind().name());
        match inv.reboot_required() {
            Ok(r) => {
                facts.pending_reboot = r.required;
                facts.pending_reboot_reason = r.reason;
                facts.pending_reboot_packages = r.packages;
            }
            Err(e) => {
                facts.pending_reboot = false;
                facts.pending_reboot_reason = format!("cannot tell: {e}");
            }
        }
    }
    Ok(Reply::ok(render_info(&facts, compat_patch_manager)))
}

/// Renders host facts: the specification's nested `os`/`kernel` objects plus the flat
/// INTEROP fields; with `compat` (compat.patch_manager) `os` and `kernel` are strings.
pub fn render_info(facts: &SystemInfo, compat: bool) -> SystemInfoBody<'_> {
    SystemInfoBody::new(facts, compat)
}

/// `POST /api/v1/system/reboot`: a reboot job scheduled `delay_seconds` from now, or the
/// reboot job already pending when it asks the same (one at a time; see the engine's
/// `reboot_slot.rs`). The answer describes the job returned, so a retried request sees the
/// first one's schedule.
pub fn reboot(body: &[u8], engine: Option<&Engine>) -> Result<Reply, ApiError> {
    let request = super::body::reboot(body)?;
    let engine = super::jobs::need(engine)?;
    let delay = time::Duration::seconds(i64::try_from(request.delay_seconds).unwrap_or(i64::MAX));
    let job = engine
        .submit(JobRequest::Reboot {
            scheduled_at: time::OffsetDateTime::now_utc() + delay,
            force: request.force,
            reason: request.reason.clone(),
        })
        .map_err(super::jobs::engine_error)?;
    let JobRequest::Reboot {
        scheduled_at,
        force,
        reason,
    } = &job.request
    else {
        return Err(ApiError::InternalError(format!(
            "job {} answered a reboot request but is a {} job",
            job.id,
            job.operation.as_str()
        )));
    };
    let asked = (*scheduled_at - job.created_at)
        .as_seconds_f64()
        .round()
        .max(0.0) as u64;
    let plan = RebootPlan {
        scheduled_at: rfc3339(*scheduled_at),
        delay_seconds: asked,
        force: *force,
        reason: reason.as_deref(),
    };
    Ok(Reply::accepted(RebootAccepted::new(NewJob::of(&job), plan)))
}

/// `GET /api/v1/system/restart-needed`: a fresh scan of this host's processes (kept for
/// the metrics) and the backend's reboot signal, `null` when it cannot be told.
pub fn restart_needed(
    inventory: Option<&Inventory>,
    cache: &RestartCache,
) -> Result<Reply, ApiError> {
    let scan = cache.put(crate::system::restart_needed::scan_host());
    let reboot = inventory.and_then(|i| i.reboot_required().ok().map(|r| r.required));
    Ok(Reply::ok(RestartNeededBody::new(&scan, reboot)))
}

/// `GET /api/v1/system/services/{name}` on this host.
pub fn service(name: &str) -> Result<Reply, ApiError> {
    services::query(name)
        .map(|s| Reply::ok(render_service(&s)))
        .map_err(service_error)
}

/// Renders a service status in the shape the Patch Manager parses.
pub fn render_service(s: &ServiceStatus) -> ServiceBody<'_> {
    ServiceBody::from(s)
}

/// Maps a service query failure onto the envelope's error codes.
pub fn service_error(err: ServiceError) -> ApiError {
    match err {
        ServiceError::InvalidName(why) => ApiError::InvalidRequest(format!("name: {why}")),
        ServiceError::NotFound(name) => ApiError::ServiceNotFound(name),
        ServiceError::NoManager => ApiError::ServiceUnhealthy {
            message: "no service manager found".into(),
            details: Map::new(),
        },
        ServiceError::Timeout(why) => ApiError::ServiceUnhealthy {
            message: why,
            details: Map::new(),
        },
        ServiceError::Failed(why) => ApiError::InternalError(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::info::parse_os_release;
    use serde_json::Value;

    fn json(body: impl serde::Serialize) -> Value {
        serde_json::to_value(body).unwrap()
    }

    fn facts() -> SystemInfo {
        let os = parse_os_release(
            "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\n\
             VERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n",
        )
        .os_info();
        SystemInfo {
            hostname: "patch-server-01".into(),
            os,
            kernel_release: "5.15.0-100-generic".into(),
            kernel_version: "#110-Ubuntu SMP".into(),
            architecture: "x86_64".into(),
            uptime_seconds: Some(864000),
            last_boot: Some(time::macros::datetime!(2026-04-01 00:00:00 UTC)),
            package_manager: Some("apt"),
            pending_reboot: true,
            pending_reboot_reason: "/run/reboot-required present".into(),
            pending_reboot_packages: vec!["linux-image-generic".into()],
        }
    }

    #[test]
    fn spec_shape_with_interop_fields() {
        let v = json(render_info(&facts(), false));
        assert_eq!(v["hostname"], "patch-server-01");
        assert_eq!(v["os"]["name"], "Ubuntu");
        assert_eq!(v["os"]["version"], "22.04.4 LTS (Jammy Jellyfish)");
        assert_eq!(v["os"]["codename"], "jammy");
        assert_eq!(v["os"]["architecture"], "x86_64");
        assert_eq!(v["os"]["id"], "ubuntu");
        assert_eq!(v["os"]["id_like"], "debian");
        assert_eq!(v["kernel"]["version"], "5.15.0-100-generic");
        assert_eq!(v["kernel"]["architecture"], "x86_64");
        assert_eq!(v["uptime_seconds"], 864000);
        assert_eq!(v["last_boot"], "2026-04-01T00:00:00Z");
        assert_eq!(v["package_manager"], "apt");
        assert_eq!(v["api_version"], "1.0.0");
        assert_eq!(v["service_status"], "running");
        assert_eq!(v["os_version"], "22.04");
        assert_eq!(v["architecture"], "x86_64");
        assert_eq!(v["pending_reboot"], true);
        assert_eq!(v["kernel_release"], "5.15.0-100-generic");
    }

    #[test]
    fn both_shapes_keep_the_wire_order() {
        use super::super::wire::envelope::assert_sorted_bytes;
        let f = facts();
        let nested = assert_sorted_bytes(&render_info(&f, false));
        assert_eq!(nested.as_object().unwrap().len(), 14);
        assert_eq!(nested["os"].as_object().unwrap().len(), 6);
        let flat = assert_sorted_bytes(&render_info(&f, true));
        assert_eq!(flat.as_object().unwrap().len(), 14);
    }

    #[test]
    fn compat_renders_os_and_kernel_as_strings() {
        let nested = json(render_info(&facts(), false));
        let flat = json(render_info(&facts(), true));
        assert_eq!(flat["os"], "Ubuntu");
        assert_eq!(flat["kernel"], "5.15.0-100-generic");
        // Everything else is the same.
        let mut a = nested.as_object().unwrap().clone();
        let mut b = flat.as_object().unwrap().clone();
        for k in ["os", "kernel"] {
            a.remove(k);
            b.remove(k);
        }
        assert_eq!(a, b);
        // The manager's required strings are all present and non-null.
        for k in ["hostname", "os", "os_version", "kernel", "architecture"] {
            assert!(flat[k].is_string(), "{k}");
        }
        assert!(flat["pending_reboot"].is_boolean());
    }

    #[test]
    fn live_info_has_this_hosts_architecture() {
        let reply = info(true, None).unwrap();
        assert_eq!(reply.status, 200);
        let v = reply.to_value();
        assert!(v["package_manager"].is_null());
        assert!(v["pending_reboot_reason"]
            .as_str()
            .is_some_and(|r| r.contains("no package backend")));
        assert_eq!(v["architecture"], std::env::consts::ARCH);
        assert!(v["kernel"].as_str().is_some_and(|k| !k.is_empty()));
    }

    #[test]
    fn service_rendering_and_errors() {
        let s = ServiceStatus {
            name: "ssh.service".into(),
            display_name: "OpenBSD Secure Shell server".into(),
            active_state: "active".into(),
            sub_state: "running".into(),
            load_state: "loaded".into(),
            enabled_state: "enabled".into(),
            healthy: true,
            main_pid: Some(689),
        };
        let v = json(render_service(&s));
        assert_eq!(v["name"], "ssh.service");
        assert_eq!(v["healthy"], true);
        assert_eq!(v["main_pid"], 689);
        assert_eq!(v.as_object().unwrap().len(), 8);

        let e = service_error(ServiceError::NotFound("nosuch".into()));
        assert_eq!((e.status(), e.code()), (404, "SERVICE_NOT_FOUND"));
        let e = service_error(ServiceError::NoManager);
        assert_eq!((e.status(), e.code()), (503, "SERVICE_UNHEALTHY"));
        assert_eq!(e.message(), "no service manager found");
        let e = service_error(ServiceError::InvalidName("bad".into()));
        assert_eq!(e.code(), "INVALID_REQUEST");
        assert_eq!(e.message(), "name: bad");
        let e = service(" bad").unwrap_err();
        assert_eq!(e.code(), "INVALID_REQUEST");
    }

    #[test]
    fn reboot_checks_its_body_before_the_engine() {
        let e = reboot(br#"{"delay_seconds":"soon"}"#, None).unwrap_err();
        assert_eq!(e.code(), "INVALID_REQUEST");
        assert!(e.message().contains("delay_seconds"), "{}", e.message());
        let e = reboot(br#"{"delay_seconds":5}"#, None).unwrap_err();
        assert_eq!(e.status(), 503);
    }
}
