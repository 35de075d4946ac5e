//! `GET /health` body: the verdict, each check's state, the facts behind them, and the CRL
//! fields the Patch Manager reads at the top level.

use serde::Serialize;

use crate::feed_refresh::FeedHealth;
use crate::timefmt::rfc3339;

/// The health `data` object (also the `details` of a 503 `SERVICE_UNHEALTHY`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthData {
    /// Each check's state.
    pub checks: Checks,
    /// Seconds since the CRL's `thisUpdate`, when a CRL is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl_age_seconds: Option<i64>,
    /// The CRL's `nextUpdate` (RFC 3339), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl_next_update: Option<String>,
    /// `none`, `ok` or `stale`.
    pub crl_status: &'static str,
    /// The facts behind the checks.
    pub details: HealthDetails,
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: &'static str,
    /// Seconds since the agent started.
    pub uptime_seconds: u64,
    /// The agent's version.
    pub version: &'static str,
}

/// `checks`: one word per concern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checks {
    /// The worst feed state, or `not_configured`.
    pub advisory_feed: &'static str,
    /// `ok`, `expiring`, `expired` or `unknown`.
    pub certificates: &'static str,
    /// Always `ok`: an agent with a bad configuration does not start.
    pub config: &'static str,
    /// `ok` or `unavailable`.
    pub job_queue: &'static str,
    /// `ok` or `missing`.
    pub package_manager: &'static str,
}

/// `details`: what the checks were judged from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthDetails {
    /// Every failing feed's `name: error`, joined; only when one fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisory_feed_error: Option<String>,
    /// One entry per feed; only when feeds apply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advisory_feeds: Vec<FeedDetail>,
    /// Whole days of validity left (negative when expired).
    pub certificate_days_remaining: Option<i64>,
    /// The server certificate's end of validity (RFC 3339).
    pub certificate_not_after: Option<String>,
    /// Why the job storage is unusable; only when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_storage_error: Option<String>,
    /// `jobs.storage_path`.
    pub job_storage_path: String,
    /// The detected package manager.
    pub package_manager: Option<&'static str>,
}

/// One advisory feed: its name, state, URL, file, age, last refresh and error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeedDetail {
    age_seconds: Option<u64>,
    error: Option<String>,
    last_refresh: Option<String>,
    name: String,
    path: String,
    state: &'static str,
    url: Option<String>,
}

impl From<&FeedHealth> for FeedDetail {
    fn from(f: &FeedHealth) -> FeedDetail {
        FeedDetail {
            age_seconds: f.age.map(|a| a.as_secs()),
            error: f.error.clone(),
            last_refresh: f.last_success.map(rfc3339),
            name: f.name.clone(),
            path: f.path.display().to_string(),
            state: f.state,
            url: f.url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::envelope::assert_sorted_bytes;
    use super::*;

    #[test]
    fn optional_fields_are_left_out_and_the_rest_is_in_wire_order() {
        let feed = FeedHealth {
            name: "debian".into(),
            state: "ok",
            url: None,
            path: "/var/lib/f".into(),
            age: None,
            error: None,
            last_success: None,
        };
        let mut data = HealthData {
            checks: Checks {
                advisory_feed: "ok",
                certificates: "ok",
                config: "ok",
                job_queue: "ok",
                package_manager: "ok",
            },
            crl_age_seconds: None,
            crl_next_update: None,
            crl_status: "none",
            details: HealthDetails {
                advisory_feed_error: None,
                advisory_feeds: Vec::new(),
                certificate_days_remaining: None,
                certificate_not_after: None,
                job_storage_error: None,
                job_storage_path: "/j".into(),
                package_manager: None,
            },
            status: "healthy",
            uptime_seconds: 1,
            version: "0",
        };
        let v = assert_sorted_bytes(&data);
        assert!(v.get("crl_age_seconds").is_none());
        assert_eq!(v["details"].as_object().unwrap().len(), 4);
        data.crl_age_seconds = Some(5);
        data.crl_next_update = Some("t".into());
        data.details.advisory_feeds = vec![FeedDetail::from(&feed)];
        data.details.advisory_feed_error = Some("e".into());
        data.details.job_storage_error = Some("e".into());
        let v = assert_sorted_bytes(&data);
        assert_eq!(v["crl_age_seconds"], 5);
        assert_eq!(v["details"].as_object().unwrap().len(), 7);
        assert_eq!(v["details"]["advisory_feeds"][0]["path"], "/var/lib/f");
    }
}
