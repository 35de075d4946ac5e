//! `GET /metrics`: the agent's state in the Prometheus text exposition format (0.0.4), for
//! a scraper. Every value comes from what is already held: the inventory's cached sets and
//! reboot signal, the job table, the metadata cache's age on disk, the request counters, and
//! a restart-needed scan reused for up to a minute. Nothing here runs a package tool; a
//! value not known yet (no set computed, no reboot signal read) is left out, not guessed.
//!
//! Names follow node_exporter's apt textfile collector where one applies
//! (`apt_upgrades_pending` → `linux_patch_api_updates_pending`, `node_reboot_required` →
//! `linux_patch_api_reboot_required`), under the agent's own prefix.

use uuid::Uuid;

use super::envelope::{self, ApiError};
use super::exposition::{Exposition, ExpositionError, Kind, Sample, CONTENT_TYPE};
use crate::http::Response;
use crate::jobs::{Engine, JobTally};
use crate::pkg::advisories::{Advisory, Severity};
use crate::pkg::inventory::Inventory;
use crate::system::restart_cache::RestartCache;
use crate::system::restart_needed;

/// Severities in the order the family lists them, most severe first.
const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Unknown,
];

/// What a scrape reads.
pub struct Sources<'a> {
    /// The cached inventory, when a backend serves one.
    pub inventory: Option<&'a Inventory>,
    /// The job engine, when it runs.
    pub engine: Option<&'a Engine>,
    /// The last restart-needed scan.
    pub restart: &'a RestartCache,
    /// The request counters by status class.
    pub requests: [(&'static str, u64); 4],
}

/// The 200 answer with the exposition text, or the envelope's 500 when it cannot be
/// written; with the request id header every answer has.
pub fn response(sources: &Sources<'_>, request_id: &Uuid) -> Response {
    match render(sources) {
        Ok(text) => Response {
            status: 200,
            headers: vec![
                ("Content-Type".into(), CONTENT_TYPE.into()),
                ("X-Request-Id".into(), request_id.to_string()),
            ],
            body: text.into_bytes(),
            close: false,
        },
        Err(e) => envelope::render(request_id, &Err(ApiError::InternalError(e.to_string()))),
    }
}

/// The exposition text.
pub fn render(s: &Sources<'_>) -> Result<String, ExpositionError> {
    let mut e = Exposition::new();
    let inventory = s.inventory;
    let tally = s.engine.map(Engine::tally);
    e.family(
        "linux_patch_api_updates_pending",
        "Package updates pending, from the last computed upgradable set (node_exporter: apt_upgrades_pending).",
        Kind::Gauge,
        &updates_pending(inventory),
    )?;
    e.family(
        "linux_patch_api_security_updates_pending",
        "Security patches pending by severity, from the last computed patch list.",
        Kind::Gauge,
        &security_pending(inventory.and_then(Inventory::cached_advisories).as_deref()),
    )?;
    e.family(
        "linux_patch_api_reboot_required",
        "1 when the host needs a reboot (the last reboot signal read), else 0 (node_exporter: node_reboot_required).",
        Kind::Gauge,
        &reboot_required(inventory),
    )?;
    e.family(
        "linux_patch_api_jobs",
        "Jobs the agent holds, by status.",
        Kind::Gauge,
        &jobs(tally.as_ref()),
    )?;
    e.family(
        "linux_patch_api_metadata_age_seconds",
        "Seconds since the package metadata was last refreshed, from the tool's cache.",
        Kind::Gauge,
        &metadata_age(inventory),
    )?;
    e.family(
        "linux_patch_api_build_info",
        "The agent's version and package backend; always 1.",
        Kind::Gauge,
        &[build_info(inventory)],
    )?;
    e.family(
        "linux_patch_api_services_restart_needed",
        "Distinct services running code deleted or replaced since they started.",
        Kind::Gauge,
        &[services_restart_needed(s.restart, tally.as_ref())],
    )?;
    e.family(
        "linux_patch_api_http_requests_total",
        "Responses written since the agent started, by status class.",
        Kind::Counter,
        &requests(&s.requests),
    )?;
    Ok(e.into_text())
}

fn count(n: usize) -> f64 {
    n as f64
}

fn updates_pending(inventory: Option<&Inventory>) -> Vec<Sample> {
    inventory
        .and_then(Inventory::cached_upgrades)
        .map(|s| Sample::plain(count(s.upgrades.len())))
        .into_iter()
        .collect()
}

/// Every severity (0 included) once the patches are known; nothing before.
fn security_pending(advisories: Option<&Vec<Advisory>>) -> Vec<Sample> {
    let Some(advisories) = advisories else {
        return Vec::new();
    };
    SEVERITIES
        .iter()
        .map(|sev| {
            let n = advisories
                .iter()
                .filter(|a| a.is_security() && a.severity == *sev)
                .count();
            Sample::labelled("severity", sev.as_str(), count(n))
        })
        .collect()
}

fn reboot_required(inventory: Option<&Inventory>) -> Vec<Sample> {
    inventory
        .and_then(Inventory::cached_reboot_required)
        .map(|r| Sample::plain(if r.required { 1.0 } else { 0.0 }))
        .into_iter()
        .collect()
}

fn jobs(tally: Option<&JobTally>) -> Vec<Sample> {
    let Some(tally) = tally else {
        return Vec::new();
    };
    tally
        .by_status
        .iter()
        .map(|(status, n)| Sample::labelled("status", status.as_str(), count(*n)))
        .collect()
}

fn metadata_age(inventory: Option<&Inventory>) -> Vec<Sample> {
    inventory
        .and_then(Inventory::metadata_age)
        .map(|age| Sample::plain(age.as_secs() as f64))
        .into_iter()
        .collect()
}

fn build_info(inventory: Option<&Inventory>) -> Sample {
    let backend = inventory.map_or("none", |i| i.backend().kind().name());
    Sample {
        labels: vec![
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("backend", backend.to_string()),
        ],
        value: 1.0,
    }
}

/// From the cached scan, scanned again when it aged or a job finished after it.
fn services_restart_needed(cache: &RestartCache, tally: Option<&JobTally>) -> Sample {
    let changed_at = tally.and_then(|t| t.last_completed);
    let scan = cache.get_or(changed_at, restart_needed::scan_host);
    Sample::plain(count(scan.units.len()))
}

fn requests(counts: &[(&'static str, u64); 4]) -> Vec<Sample> {
    counts
        .iter()
        .map(|(class, n)| Sample::labelled("code", *class, *n as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::AdvisoryKind;
    use crate::system::restart_needed::RestartNeeded;
    use std::time::Duration;

    fn advisory(id: &str, kind: AdvisoryKind, severity: Severity) -> Advisory {
        Advisory::sample(id, kind, severity, &[])
    }

    #[test]
    fn security_patches_are_counted_by_severity_with_zeros() {
        let list = vec![
            advisory("DSA-1", AdvisoryKind::Security, Severity::High),
            advisory("DSA-2", AdvisoryKind::Security, Severity::High),
            advisory("DSA-3", AdvisoryKind::Security, Severity::Unknown),
            advisory("bash-5.2", AdvisoryKind::Other, Severity::Critical),
        ];
        let got: Vec<(String, f64)> = security_pending(Some(&list))
            .into_iter()
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect();
        let want = [
            ("critical", 0.0),
            ("high", 2.0),
            ("medium", 0.0),
            ("low", 0.0),
            ("unknown", 1.0),
        ];
        assert_eq!(got.len(), want.len());
        for ((label, v), (wl, wv)) in got.iter().zip(want) {
            assert_eq!((label.as_str(), *v), (wl, wv));
        }
        assert!(security_pending(None).is_empty());
    }

    #[test]
    fn without_a_backend_or_engine_unknown_values_are_left_out() {
        let cache = RestartCache::new(Duration::from_secs(3600));
        cache.put(RestartNeeded {
            units: vec!["cron.service".into(), "ssh.service".into()],
            ..RestartNeeded::default()
        });
        let sources = Sources {
            inventory: None,
            engine: None,
            restart: &cache,
            requests: [("2xx", 7), ("3xx", 0), ("4xx", 2), ("5xx", 0)],
        };
        let text = render(&sources).unwrap();
        for absent in [
            "linux_patch_api_updates_pending",
            "linux_patch_api_security_updates_pending",
            "linux_patch_api_reboot_required",
            "linux_patch_api_jobs",
            "linux_patch_api_metadata_age_seconds",
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        let version = env!("CARGO_PKG_VERSION");
        assert!(text.contains(&format!(
            "linux_patch_api_build_info{{version=\"{version}\",backend=\"none\"}} 1\n"
        )));
        assert!(text.contains("\nlinux_patch_api_services_restart_needed 2\n"));
        assert!(text.contains("\nlinux_patch_api_http_requests_total{code=\"2xx\"} 7\n"));
        assert!(text.contains("# TYPE linux_patch_api_http_requests_total counter\n"));
        let r = response(&sources, &Uuid::new_v4());
        assert_eq!(r.status, 200);
        assert_eq!(r.headers[0].1, CONTENT_TYPE);
        assert_eq!(r.body, text.into_bytes());
    }

    #[test]
    fn every_job_status_is_listed() {
        let mut tally = JobTally::default();
        tally.by_status[2].1 = 3;
        let got: Vec<String> = jobs(Some(&tally))
            .iter()
            .map(|s| format!("{}={}", s.labels[0].1, s.value))
            .collect();
        assert_eq!(
            got,
            [
                "pending=0",
                "running=0",
                "completed=3",
                "failed=0",
                "cancelled=0",
                "timeout=0"
            ]
        );
    }
}
