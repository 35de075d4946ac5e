//! `GET /health` and `GET /api/v1/health`: the agent's own readiness.
//!
//! Facts are gathered into [`HealthInputs`] and judged by the pure [`report`], so every
//! verdict can be tested without certificates, package managers or directories.

use crate::feed_refresh::FeedHealth;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::envelope::{ApiError, Reply};
use super::wire::health::{Checks, FeedDetail, HealthData, HealthDetails};
use crate::http::tls::TlsStatus;
use crate::timefmt::rfc3339;

/// A server certificate with fewer days left than this is reported as `expiring`.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Everything the health verdict depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthInputs {
    /// The current time.
    pub now: OffsetDateTime,
    /// Seconds since the agent started.
    pub uptime_seconds: u64,
    /// Facts about the loaded TLS material; `None` when no TLS state is available.
    pub tls: Option<TlsStatus>,
    /// The detected package manager, by API name.
    pub package_manager: Option<&'static str>,
    /// `jobs.storage_path`.
    pub job_storage_path: PathBuf,
    /// Whether the job storage is usable, or why not.
    pub job_storage: Result<(), String>,
    /// Every advisory feed's state (none when no feed applies).
    pub advisory_feeds: Vec<FeedHealth>,
}

/// The judged health: the `data` object and whether it is fatal (503).
#[derive(Clone, Debug, PartialEq)]
pub struct HealthReport {
    /// The envelope's `data` object.
    pub data: HealthData,
    /// True when the server certificate has expired.
    pub unhealthy: bool,
}

/// State of the server certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertState {
    /// Valid for at least [`EXPIRY_WARNING_DAYS`].
    Ok,
    /// Valid, but for fewer than [`EXPIRY_WARNING_DAYS`].
    Expiring,
    /// No longer valid.
    Expired,
    /// Not known (no TLS state, or the certificate could not be read).
    Unknown,
}

impl CertState {
    /// The word the `checks.certificates` field carries.
    pub fn as_str(self) -> &'static str {
        match self {
            CertState::Ok => "ok",
            CertState::Expiring => "expiring",
            CertState::Expired => "expired",
            CertState::Unknown => "unknown",
        }
    }
}

/// Judges a certificate end of validity: its state and the whole days left (negative when
/// expired).
pub fn cert_state(
    not_after: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> (CertState, Option<i64>) {
    let Some(not_after) = not_after else {
        return (CertState::Unknown, None);
    };
    let left = not_after - now;
    let days = left.whole_days();
    let state = if not_after <= now {
        CertState::Expired
    } else if days < EXPIRY_WARNING_DAYS {
        CertState::Expiring
    } else {
        CertState::Ok
    };
    (state, Some(days))
}

/// `crl_status`: `none` without a CRL, `stale` once its next update has passed, else `ok`.
pub fn crl_status(tls: Option<&TlsStatus>, now: OffsetDateTime) -> &'static str {
    match tls {
        Some(TlsStatus {
            crl_this_update: Some(_),
            crl_next_update,
            ..
        }) => match crl_next_update {
            Some(next) if *next < now => "stale",
            _ => "ok",
        },
        _ => "none",
    }
}

/// The worst state among the feeds: `refresh_failed`, `missing`, `stale`, `ok`; without
/// feeds `not_configured`.
fn worst_feed_state(feeds: &[FeedHealth]) -> &'static str {
    const ORDER: [&str; 4] = ["refresh_failed", "missing", "stale", "ok"];
    let rank = |s: &str| ORDER.iter().position(|o| *o == s).unwrap_or(0);
    feeds
        .iter()
        .map(|f| f.state)
        .min_by_key(|s| rank(s))
        .unwrap_or("not_configured")
}

/// Judges the inputs into the health `data` object.
pub fn report(inputs: &HealthInputs) -> HealthReport {
    let now = inputs.now;
    let not_after = inputs.tls.as_ref().and_then(|t| t.server_not_after);
    let (cert, days) = cert_state(not_after, now);
    let pkg = if inputs.package_manager.is_some() {
        "ok"
    } else {
        "missing"
    };
    let jobs = if inputs.job_storage.is_ok() {
        "ok"
    } else {
        "unavailable"
    };
    let crl = crl_status(inputs.tls.as_ref(), now);
    let feed = worst_feed_state(&inputs.advisory_feeds);
    let feed_ok = matches!(feed, "ok" | "not_configured");
    let all_ok = cert == CertState::Ok && pkg == "ok" && jobs == "ok" && crl != "stale" && feed_ok;
    let unhealthy = cert == CertState::Expired;
    let status = match (unhealthy, all_ok) {
        (true, _) => "unhealthy",
        (false, true) => "healthy",
        (false, false) => "degraded",
    };

    let failing: Vec<String> = inputs
        .advisory_feeds
        .iter()
        .filter_map(|f| f.error.as_ref().map(|e| format!("{}: {e}", f.name)))
        .collect();
    let details = HealthDetails {
        advisory_feed_error: (!failing.is_empty()).then(|| failing.join("; ")),
        advisory_feeds: inputs.advisory_feeds.iter().map(FeedDetail::from).collect(),
        certificate_days_remaining: days,
        certificate_not_after: not_after.map(rfc3339),
        job_storage_error: inputs.job_storage.as_ref().err().cloned(),
        job_storage_path: inputs.job_storage_path.display().to_string(),
        package_manager: inputs.package_manager,
    };
    // INTEROP: the Patch Manager reads the CRL's facts at the top level of `data`.
    let crl_this = inputs.tls.as_ref().and_then(|t| t.crl_this_update);
    let crl_next = inputs.tls.as_ref().and_then(|t| t.crl_next_update);
    let data = HealthData {
        checks: Checks {
            advisory_feed: feed,
            certificates: cert.as_str(),
            config: "ok",
            job_queue: jobs,
            package_manager: pkg,
        },
        crl_age_seconds: crl_this.map(|this| (now - this).whole_seconds().max(0)),
        crl_next_update: crl_this.and(crl_next).map(rfc3339),
        crl_status: crl,
        details,
        status,
        uptime_seconds: inputs.uptime_seconds,
        version: env!("CARGO_PKG_VERSION"),
    };
    HealthReport { data, unhealthy }
}

/// Turns a report into the handler result: 200, or 503 `SERVICE_UNHEALTHY` carrying the
/// report in `error.details`.
pub fn reply(report: HealthReport) -> Result<Reply, ApiError> {
    if !report.unhealthy {
        return Ok(Reply::ok(report.data));
    }
    // An error's details are a free-form map: the report goes there as a tree.
    let details = match serde_json::to_value(&report.data) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    Err(ApiError::ServiceUnhealthy {
        message: "the server certificate has expired".to_string(),
        details,
    })
}

/// Longest time a computed health answer is served again.
pub const CACHE_FOR: Duration = Duration::from_secs(1);

/// The last health answer, served again while it is younger than [`CACHE_FOR`], for the same
/// configuration and the same whole second of uptime (so `uptime_seconds` stays exact).
///
/// A health check costs file system calls (job storage), locks (TLS state, feeds) and
/// serialising the report; a manager or load balancer polling it many times a second gets
/// the same answer, computed at most once a second.
#[derive(Debug, Default)]
pub struct HealthCache {
    last: Mutex<Option<Cached>>,
}

/// One computed answer and what it was computed for.
#[derive(Debug)]
struct Cached {
    at: Instant,
    uptime_seconds: u64,
    /// Identity of the configuration it was computed with (a reload computes anew).
    config: usize,
    answer: Result<Reply, ApiError>,
}

impl HealthCache {
    /// An empty cache.
    pub fn new() -> HealthCache {
        HealthCache::default()
    }

    /// The cached answer if it still holds for (`now`, `uptime_seconds`, `config`), else
    /// `compute`'s, which is then cached.
    pub fn get_or(
        &self,
        now: Instant,
        uptime_seconds: u64,
        config: usize,
        compute: impl FnOnce() -> Result<Reply, ApiError>,
    ) -> Result<Reply, ApiError> {
        if let Some(hit) = self.lookup(now, uptime_seconds, config) {
            return hit;
        }
        // Computed outside the lock: a slow file system must not hold up other threads.
        let answer = compute();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some(Cached {
            at: now,
            uptime_seconds,
            config,
            answer: answer.clone(),
        });
        answer
    }

    fn lookup(
        &self,
        now: Instant,
        uptime_seconds: u64,
        config: usize,
    ) -> Option<Result<Reply, ApiError>> {
        // A poisoned lock only means a panic elsewhere; the cached value is whole.
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let cached = last.as_ref()?;
        let fresh = cached.uptime_seconds == uptime_seconds
            && cached.config == config
            && now.saturating_duration_since(cached.at) < CACHE_FOR;
        fresh.then(|| cached.answer.clone())
    }
}

/// Whether the job storage directory exists and is writable, or could be created: the
/// nearest existing ancestor is a writable directory. Nothing is created here.
pub fn job_storage_state(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => writable_dir(path),
        Ok(_) => Err(format!("{} is not a directory", path.display())),
        // ENOTDIR: a parent is a file; the walk up below names it.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            let ancestor = path
                .ancestors()
                .skip(1)
                .find(|a| !a.as_os_str().is_empty() && std::fs::symlink_metadata(a).is_ok())
                .ok_or_else(|| format!("{} has no existing parent", path.display()))?;
            if !ancestor.is_dir() {
                return Err(format!(
                    "{} cannot be created: {} is not a directory",
                    path.display(),
                    ancestor.display()
                ));
            }
            writable_dir(ancestor)
                .map_err(|why| format!("{} cannot be created: {why}", path.display()))
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// `access(2)` with W_OK|X_OK: also catches read-only file systems, which mode bits miss.
fn writable_dir(path: &Path) -> Result<(), String> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} contains a NUL byte", path.display()))?;
    // SAFETY: c is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "{} is not writable: {}",
            path.display(),
            std::io::Error::last_os_error()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::Duration;

    /// The report's `data` as the client sees it.
    fn data(r: &HealthReport) -> Value {
        serde_json::to_value(&r.data).unwrap()
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-04-09 13:04:02 UTC)
    }

    fn tls(days_left: i64) -> TlsStatus {
        TlsStatus {
            server_not_after: Some(now() + Duration::days(days_left)),
            crl_next_update: None,
            crl_this_update: None,
            loaded_at: now(),
        }
    }

    fn inputs() -> HealthInputs {
        HealthInputs {
            now: now(),
            uptime_seconds: 42,
            tls: Some(tls(200)),
            package_manager: Some("apt"),
            job_storage_path: PathBuf::from("/var/lib/linux_patch_api/jobs"),
            job_storage: Ok(()),
            advisory_feeds: Vec::new(),
        }
    }

    #[test]
    fn all_ok_is_healthy() {
        let r = report(&inputs());
        assert!(!r.unhealthy);
        let d = &data(&r);
        assert_eq!(d["status"], "healthy");
        assert_eq!(d["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(d["uptime_seconds"], 42);
        assert_eq!(
            d["checks"],
            json!({"config":"ok","certificates":"ok","package_manager":"ok","job_queue":"ok","advisory_feed":"not_configured"})
        );
        assert_eq!(d["details"]["certificate_days_remaining"], 200);
        assert_eq!(
            d["details"]["certificate_not_after"],
            "2026-10-26T13:04:02Z"
        );
        assert_eq!(d["details"]["package_manager"], "apt");
        assert_eq!(d["crl_status"], "none");
        assert!(d.get("crl_age_seconds").is_none());
        assert!(reply(r).is_ok());
    }

    fn feed(name: &str, state: &'static str, error: Option<&str>) -> FeedHealth {
        FeedHealth {
            name: name.into(),
            state,
            url: Some(format!("https://feeds.example/{name}")),
            path: PathBuf::from(format!("/var/lib/linux_patch_api/feeds/{name}")),
            age: Some(std::time::Duration::from_secs(90_000)),
            error: error.map(String::from),
            last_success: None,
        }
    }

    #[test]
    fn a_feed_in_trouble_degrades_and_says_which_and_why() {
        let mut i = inputs();
        i.advisory_feeds = vec![
            feed("debian-tracker", "ok", None),
            feed(
                "debian-osv",
                "refresh_failed",
                Some("server answered HTTP 503"),
            ),
        ];
        let r = report(&i);
        let v = data(&r);
        assert_eq!(v["status"], "degraded");
        assert_eq!(v["checks"]["advisory_feed"], "refresh_failed");
        let d = &v["details"];
        assert_eq!(d["advisory_feeds"][1]["name"], "debian-osv");
        assert_eq!(d["advisory_feeds"][1]["age_seconds"], 90_000);
        assert_eq!(
            d["advisory_feeds"][1]["url"],
            "https://feeds.example/debian-osv"
        );
        assert_eq!(d["advisory_feeds"][0]["error"], Value::Null);
        assert_eq!(
            d["advisory_feed_error"],
            "debian-osv: server answered HTTP 503"
        );
        i.advisory_feeds[1] = feed("debian-osv", "missing", None);
        let r = report(&i);
        let v = data(&r);
        assert_eq!(v["checks"]["advisory_feed"], "missing");
        assert!(v["details"].get("advisory_feed_error").is_none());
        i.advisory_feeds[1] = feed("debian-osv", "ok", None);
        let r = report(&i);
        let v = data(&r);
        assert_eq!(v["status"], "healthy");
        assert_eq!(v["checks"]["advisory_feed"], "ok");
    }

    #[test]
    fn expiring_certificate_degrades() {
        let mut i = inputs();
        i.tls = Some(tls(29));
        let r = report(&i);
        let v = data(&r);
        assert_eq!(v["status"], "degraded");
        assert_eq!(v["checks"]["certificates"], "expiring");
        assert_eq!(v["details"]["certificate_days_remaining"], 29);
        assert_eq!(reply(r).unwrap().status, 200);
    }

    #[test]
    fn expired_certificate_is_503_with_report() {
        let mut i = inputs();
        i.tls = Some(tls(-3));
        let r = report(&i);
        let v = data(&r);
        assert!(r.unhealthy);
        assert_eq!(v["checks"]["certificates"], "expired");
        assert_eq!(v["details"]["certificate_days_remaining"], -3);
        let err = reply(r).unwrap_err();
        assert_eq!(err.status(), 503);
        assert_eq!(err.code(), "SERVICE_UNHEALTHY");
        assert_eq!(err.details()["status"], "unhealthy");
    }

    #[test]
    fn missing_package_manager_and_storage_degrade() {
        let mut i = inputs();
        i.package_manager = None;
        i.job_storage = Err("nope".into());
        let r = report(&i);
        let v = data(&r);
        assert_eq!(v["status"], "degraded");
        assert_eq!(v["checks"]["package_manager"], "missing");
        assert_eq!(v["checks"]["job_queue"], "unavailable");
        assert_eq!(v["details"]["job_storage_error"], "nope");
        assert!(v["details"]["package_manager"].is_null());
    }

    #[test]
    fn no_tls_state_is_unknown_and_degraded() {
        let mut i = inputs();
        i.tls = None;
        let r = report(&i);
        let v = data(&r);
        assert_eq!(v["checks"]["certificates"], "unknown");
        assert_eq!(v["status"], "degraded");
        assert!(!r.unhealthy);
    }

    #[test]
    fn crl_fields() {
        let mut i = inputs();
        let mut t = tls(200);
        t.crl_this_update = Some(now() - Duration::hours(2));
        t.crl_next_update = Some(now() + Duration::hours(22));
        i.tls = Some(t.clone());
        let r = report(&i);
        let v = data(&r);
        assert_eq!(v["crl_status"], "ok");
        assert_eq!(v["crl_age_seconds"], 7200);
        assert_eq!(v["crl_next_update"], "2026-04-10T11:04:02Z");
        assert_eq!(v["status"], "healthy");

        t.crl_next_update = Some(now() - Duration::seconds(1));
        i.tls = Some(t);
        let r = report(&i);
        let v = data(&r);
        assert_eq!(v["crl_status"], "stale");
        assert_eq!(v["status"], "degraded");
    }

    #[test]
    fn cert_state_boundaries() {
        assert_eq!(cert_state(None, now()), (CertState::Unknown, None));
        assert_eq!(cert_state(Some(now()), now()).0, CertState::Expired);
        let just = now() + Duration::days(30);
        assert_eq!(cert_state(Some(just), now()), (CertState::Ok, Some(30)));
        let almost = just - Duration::seconds(1);
        assert_eq!(
            cert_state(Some(almost), now()),
            (CertState::Expiring, Some(29))
        );
    }

    #[test]
    fn job_storage_checks() {
        let base = std::env::temp_dir().join(format!("lpa-health-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&base).unwrap();
        assert!(job_storage_state(&base).is_ok());
        assert!(job_storage_state(&base.join("a/b/jobs")).is_ok());
        let file = base.join("file");
        std::fs::write(&file, "x").unwrap();
        let e = job_storage_state(&file).unwrap_err();
        assert!(e.contains("not a directory"), "{e}");
        let e = job_storage_state(&file.join("jobs")).unwrap_err();
        assert!(e.contains("cannot be created"), "{e}");
        std::fs::remove_dir_all(base).unwrap();
    }

    fn counted(calls: &std::cell::Cell<u32>) -> Result<Reply, ApiError> {
        calls.set(calls.get() + 1);
        Ok(Reply::ok(json!({"n": calls.get()})))
    }

    #[test]
    fn the_cache_serves_one_answer_per_second_of_uptime_and_configuration() {
        let cache = HealthCache::new();
        let calls = std::cell::Cell::new(0);
        let t0 = Instant::now();
        let first = cache.get_or(t0, 7, 1, || counted(&calls)).unwrap();
        let again = cache.get_or(t0 + std::time::Duration::from_millis(300), 7, 1, || {
            counted(&calls)
        });
        assert_eq!(again.unwrap(), first);
        assert_eq!(calls.get(), 1);
        // The next second of uptime, a reloaded configuration, or age: computed anew.
        cache.get_or(t0, 8, 1, || counted(&calls)).unwrap();
        assert_eq!(calls.get(), 2);
        cache.get_or(t0, 8, 2, || counted(&calls)).unwrap();
        assert_eq!(calls.get(), 3);
        let late = cache.get_or(t0 + CACHE_FOR, 8, 2, || counted(&calls));
        assert_eq!(calls.get(), 4);
        assert_eq!(late.unwrap().to_value(), json!({"n": 4}));
    }

    #[test]
    fn an_unhealthy_answer_is_cached_like_a_healthy_one() {
        let cache = HealthCache::new();
        let calls = std::cell::Cell::new(0);
        let t0 = Instant::now();
        let mut i = inputs();
        i.tls = Some(tls(-1));
        let unhealthy = || {
            calls.set(calls.get() + 1);
            reply(report(&i))
        };
        assert!(cache.get_or(t0, 1, 1, unhealthy).is_err());
        assert!(cache.get_or(t0, 1, 1, || counted(&calls)).is_err());
        assert_eq!(calls.get(), 1);
    }
}
