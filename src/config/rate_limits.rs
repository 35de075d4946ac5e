//! `rate_limits.*` and [`RateCategory`]: per-client, per-category request budgets.

use super::{Section, Walker};

/// One token bucket rule: `requests` per `window_seconds`.
#[derive(Clone, Debug, PartialEq)]
pub struct RateRule {
    /// Requests allowed per window (burst size), at least 1.
    pub requests: u32,
    /// Window length in seconds, at least 1.
    pub window_seconds: u64,
}

/// `rate_limits.*`: the specification's table as defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitsConfig {
    /// `rate_limits.enabled`: default true.
    pub enabled: bool,
    /// `rate_limits.max_clients`: most client identities tracked at once, default 4096.
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

/// The rate-limit categories, in the order of [`Config::rate_rules`]: `index()` is the
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

    /// Position of this category in [`Config::rate_rules`] and in the rate limiter.
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

impl Walker<'_> {
    /// `rate_limits.*`
    pub(super) fn rate_limits(&mut self, top: &Section) -> RateLimitsConfig {
        let d = RateLimitsConfig::default();
        let s = self.child(top, "rate_limits", RATE_KEYS);
        let mut rule = |c: RateCategory| self.rule(&s, c.key(), d.rule(c).clone());
        let health = rule(RateCategory::Health);
        let package_list = rule(RateCategory::PackageList);
        let package_operations = rule(RateCategory::PackageOperations);
        let patch_operations = rule(RateCategory::PatchOperations);
        let job_operations = rule(RateCategory::JobOperations);
        let system_operations = rule(RateCategory::SystemOperations);
        RateLimitsConfig {
            enabled: self.boolean(&s, "enabled", d.enabled),
            max_clients: self.usize_or(&s, "max_clients", (16, 1_000_000), d.max_clients),
            health,
            package_list,
            package_operations,
            patch_operations,
            job_operations,
            system_operations,
        }
    }

    /// One `rate_limits.<category>` rule.
    fn rule(&mut self, parent: &Section, name: &str, d: RateRule) -> RateRule {
        let s = self.child(parent, name, &["requests", "window_seconds"]);
        let requests = self
            .integer(&s, "requests", (1, 100_000))
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(d.requests);
        RateRule {
            requests,
            window_seconds: self.u64_or(&s, "window_seconds", (1, 86_400), d.window_seconds),
        }
    }
}

/// Keys allowed under `rate_limits`.
const RATE_KEYS: &[&str] = &[
    "enabled",
    "max_clients",
    "health",
    "package_list",
    "package_operations",
    "patch_operations",
    "job_operations",
    "system_operations",
];
