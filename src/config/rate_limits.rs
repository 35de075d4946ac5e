//! `rate_limits.*` and [`RateCategory`]: per-client, per-category request budgets.

use serde::Deserialize;

use super::fields::{boolean, int, opt_int};

/// One token bucket rule: `requests` per `window_seconds`.
#[derive(Clone, Debug, PartialEq)]
pub struct RateRule {
    /// Requests allowed per window (burst size), at least 1.
    pub requests: u32,
    /// Window length in seconds, at least 1.
    pub window_seconds: u64,
}

/// `rate_limits.*`: the specification's table as defaults.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "RateLimitsFile")]
pub struct RateLimitsConfig {
    /// `rate_limits.enabled`: default true.
    pub enabled: bool,
    /// `rate_limits.max_clients`: most client identities tracked at once, 16-1000000,
    /// default 4096.
    pub max_clients: usize,
    /// `rate_limits.health`: 60/60.
    pub health: RateRule,
    /// `rate_limits.package_list`: 30/60.
    pub package_list: RateRule,
    /// `rate_limits.package_operations`: 10/60.
    pub package_operations: RateRule,
    /// `rate_limits.patch_operations`: 5/60.
    pub patch_operations: RateRule,
    /// `rate_limits.job_operations`: 60/60.
    pub job_operations: RateRule,
    /// `rate_limits.system_operations`: 5/60.
    pub system_operations: RateRule,
}

/// The rate-limit categories, in the order of [`super::Config::rate_rules`]: `index()` is the
/// category index the rate limiter is built and queried with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateCategory {
    /// `GET /health`.
    Health,
    /// Listing and showing packages.
    PackageList,
    /// Installing, removing, upgrading packages.
    PackageOperations,
    /// Listing and applying patches.
    PatchOperations,
    /// Job status, cancel, rollback.
    JobOperations,
    /// System information, services, reboot.
    SystemOperations,
}

impl RateCategory {
    /// Every category, in index order.
    pub const ALL: [RateCategory; 6] = [
        RateCategory::Health,
        RateCategory::PackageList,
        RateCategory::PackageOperations,
        RateCategory::PatchOperations,
        RateCategory::JobOperations,
        RateCategory::SystemOperations,
    ];

    /// Position of this category in [`super::Config::rate_rules`] and in the rate limiter.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The key under `rate_limits` in config.yaml, e.g. `package_list`.
    pub fn key(self) -> &'static str {
        match self {
            RateCategory::Health => "health",
            RateCategory::PackageList => "package_list",
            RateCategory::PackageOperations => "package_operations",
            RateCategory::PatchOperations => "patch_operations",
            RateCategory::JobOperations => "job_operations",
            RateCategory::SystemOperations => "system_operations",
        }
    }
}

impl RateLimitsConfig {
    /// The configured rule of one category.
    pub fn rule(&self, category: RateCategory) -> &RateRule {
        match category {
            RateCategory::Health => &self.health,
            RateCategory::PackageList => &self.package_list,
            RateCategory::PackageOperations => &self.package_operations,
            RateCategory::PatchOperations => &self.patch_operations,
            RateCategory::JobOperations => &self.job_operations,
            RateCategory::SystemOperations => &self.system_operations,
        }
    }
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let per_minute = |requests| RateRule {
            requests,
            window_seconds: 60,
        };
        RateLimitsConfig {
            enabled: true,
            max_clients: 4096,
            health: per_minute(60),
            package_list: per_minute(30),
            package_operations: per_minute(10),
            patch_operations: per_minute(5),
            job_operations: per_minute(60),
            system_operations: per_minute(5),
        }
    }
}

/// `rate_limits.*` as written: a rule given in part keeps its category's default for the
/// rest (`package_list: {window_seconds: 30}` still allows 30 requests).
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RateLimitsFile {
    /// `rate_limits.enabled`
    #[serde(deserialize_with = "boolean")]
    enabled: bool,
    /// `rate_limits.max_clients`: 16-1000000.
    #[serde(deserialize_with = "int::<16, 1_000_000, _, _>")]
    max_clients: usize,
    /// `rate_limits.health`
    health: RuleFile,
    /// `rate_limits.package_list`
    package_list: RuleFile,
    /// `rate_limits.package_operations`
    package_operations: RuleFile,
    /// `rate_limits.patch_operations`
    patch_operations: RuleFile,
    /// `rate_limits.job_operations`
    job_operations: RuleFile,
    /// `rate_limits.system_operations`
    system_operations: RuleFile,
}

impl Default for RateLimitsFile {
    fn default() -> Self {
        let d = RateLimitsConfig::default();
        RateLimitsFile {
            enabled: d.enabled,
            max_clients: d.max_clients,
            health: RuleFile::default(),
            package_list: RuleFile::default(),
            package_operations: RuleFile::default(),
            patch_operations: RuleFile::default(),
            job_operations: RuleFile::default(),
            system_operations: RuleFile::default(),
        }
    }
}

/// One `rate_limits.<category>` as written; an absent value keeps the category's default.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RuleFile {
    /// `requests`: per window (the burst size), 1-100000.
    #[serde(deserialize_with = "opt_int::<1, 100_000, _, _>")]
    requests: Option<u32>,
    /// `window_seconds`: 1-86400.
    #[serde(deserialize_with = "opt_int::<1, 86_400, _, _>")]
    window_seconds: Option<u64>,
}

impl RuleFile {
    /// The rule, with `d`'s values where none were given.
    fn or(self, d: &RateRule) -> RateRule {
        RateRule {
            requests: self.requests.unwrap_or(d.requests),
            window_seconds: self.window_seconds.unwrap_or(d.window_seconds),
        }
    }
}

impl From<RateLimitsFile> for RateLimitsConfig {
    fn from(f: RateLimitsFile) -> Self {
        let d = RateLimitsConfig::default();
        RateLimitsConfig {
            enabled: f.enabled,
            max_clients: f.max_clients,
            health: f.health.or(&d.health),
            package_list: f.package_list.or(&d.package_list),
            package_operations: f.package_operations.or(&d.package_operations),
            patch_operations: f.patch_operations.or(&d.patch_operations),
            job_operations: f.job_operations.or(&d.job_operations),
            system_operations: f.system_operations.or(&d.system_operations),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{one_error, parse};

    #[test]
    fn a_rule_given_in_part_keeps_its_category_defaults() {
        let c = parse("rate_limits:\n  package_list: {window_seconds: 30}\n").unwrap();
        assert_eq!(c.rate_limits.package_list.requests, 30);
        assert_eq!(c.rate_limits.package_list.window_seconds, 30);
        assert_eq!(c.rate_limits.health.requests, 60);
        assert_eq!(
            one_error("rate_limits:\n  health: {requests: 0}\n"),
            "rate_limits.health.requests: must be 1-100000, got 0"
        );
        assert_eq!(
            one_error("rate_limits:\n  enabled: no\n"),
            "rate_limits.enabled: expected a boolean (true or false), got a string"
        );
    }
}
