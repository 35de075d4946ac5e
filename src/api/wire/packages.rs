//! `/api/v1/packages` bodies: the list with its page and freshness, one package's details,
//! and the `202` answers of install, update and remove jobs.

use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::envelope::NewJob;
use crate::pkg::inventory::UpgradeSnapshot;
use crate::pkg::{Dependency, InstalledPackage, PackageDetails, Upgrade};
use crate::timefmt::rfc3339;

/// One package as the list shows it: the specification's fields plus INTEROP's.
#[derive(Debug, Serialize)]
pub struct PackageEntry<'a> {
    architecture: Option<&'a str>,
    available_version: Option<&'a str>,
    /// Names only (the details answer lists constraints).
    dependencies: &'a [String],
    description: &'a str,
    /// Whether the package manager's own hold mechanism keeps it back.
    held: bool,
    installed_at: Option<String>,
    /// The available version when upgradable, else the installed one.
    latest_version: &'a str,
    maintainer: Option<&'a str>,
    name: &'a str,
    /// Where the upgrade comes from, when there is one.
    repository: Option<String>,
    size_bytes: Option<u64>,
    /// Always `installed`: the inventory lists installed packages.
    status: &'static str,
    upgradable: bool,
    version: &'a str,
}

impl<'a> PackageEntry<'a> {
    /// `p`, with the upgrade the tool would make to it, if any.
    pub fn new(p: &'a InstalledPackage, upgrade: Option<&'a Upgrade>) -> PackageEntry<'a> {
        let available = upgrade.map(|u| u.available_version.as_str());
        PackageEntry {
            architecture: p.arch.as_deref(),
            available_version: available,
            dependencies: &p.depends,
            description: &p.description,
            held: false,
            installed_at: p.installed_at.map(rfc3339),
            latest_version: available.unwrap_or(&p.version),
            maintainer: p.maintainer.as_deref(),
            name: &p.name,
            repository: upgrade.map(|u| u.origins.join(", ")),
            size_bytes: p.size_bytes,
            status: "installed",
            upgradable: upgrade.is_some(),
            version: &p.version,
        }
    }

    /// The same entry, saying whether the package is held.
    pub fn with_held(mut self, held: bool) -> PackageEntry<'a> {
        self.held = held;
        self
    }
}

/// How old the upgrade information is, so a client can judge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freshness<'a> {
    /// Seconds since the metadata was refreshed (never negative).
    pub metadata_age_seconds: Option<i64>,
    /// Why the last refresh failed.
    pub metadata_refresh_error: Option<&'a str>,
    /// When the metadata was last refreshed by this agent.
    pub metadata_refreshed_at: Option<String>,
    /// When the upgrades were computed.
    pub upgrades_computed_at: String,
}

impl<'a> Freshness<'a> {
    /// The freshness of `s` as of `now`.
    pub fn new(s: &'a UpgradeSnapshot, now: OffsetDateTime) -> Freshness<'a> {
        Freshness::at(
            s.computed_at,
            s.metadata_refreshed_at,
            s.refresh_error.as_deref(),
            now,
        )
    }

    /// Upgrades computed at `computed` from metadata refreshed at `refreshed` (or whose
    /// refresh failed with `error`), as of `now`.
    pub fn at(
        computed: OffsetDateTime,
        refreshed: Option<OffsetDateTime>,
        error: Option<&'a str>,
        now: OffsetDateTime,
    ) -> Freshness<'a> {
        Freshness {
            metadata_age_seconds: refreshed.map(|t| (now - t).whole_seconds().max(0)),
            metadata_refresh_error: error,
            metadata_refreshed_at: refreshed.map(rfc3339),
            upgrades_computed_at: rfc3339(computed),
        }
    }
}

/// `GET /api/v1/packages`: one page, its bounds and the upgrade data's freshness.
#[derive(Debug, Serialize)]
pub struct PackageList<'a> {
    /// Null when every match was returned (the manager's shape without `limit`).
    limit: Option<u32>,
    metadata_age_seconds: Option<i64>,
    metadata_refresh_error: Option<&'a str>,
    metadata_refreshed_at: Option<String>,
    offset: u64,
    package_manager: &'static str,
    /// The page's [`PackageEntry`]s, already serialised (a page is cached rendered).
    packages: &'a RawValue,
    /// Matches before paging.
    total: usize,
    upgrades_computed_at: String,
}

/// Where a page sits in the whole list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageBounds {
    /// Matches before paging.
    pub total: usize,
    /// The page size, `None` for every match.
    pub limit: Option<u32>,
    /// Matches skipped.
    pub offset: u64,
}

impl<'a> PackageList<'a> {
    /// The list answer for `packages` (a serialised array of [`PackageEntry`]), one page of
    /// a backend's inventory.
    pub fn new(
        packages: &'a RawValue,
        bounds: PageBounds,
        package_manager: &'static str,
        fresh: Freshness<'a>,
    ) -> PackageList<'a> {
        PackageList {
            limit: bounds.limit,
            metadata_age_seconds: fresh.metadata_age_seconds,
            metadata_refresh_error: fresh.metadata_refresh_error,
            metadata_refreshed_at: fresh.metadata_refreshed_at,
            offset: bounds.offset,
            package_manager,
            packages,
            total: bounds.total,
            upgrades_computed_at: fresh.upgrades_computed_at,
        }
    }
}

/// One dependency with its constraint.
#[derive(Debug, Serialize)]
pub struct DependencyEntry<'a> {
    name: &'a str,
    required: bool,
    /// The constraint as written (`>= 1.1`), null when unversioned.
    version: Option<&'a str>,
}

impl<'a> From<&'a Dependency> for DependencyEntry<'a> {
    fn from(d: &'a Dependency) -> DependencyEntry<'a> {
        DependencyEntry {
            name: &d.name,
            required: d.required,
            version: d.constraint.as_deref(),
        }
    }
}

/// `GET /api/v1/packages/{name}`: the list entry's fields with dependencies spelt out,
/// plus files, homepage, license, reverse dependencies and freshness.
#[derive(Debug, Serialize)]
pub struct PackageDetail<'a> {
    architecture: Option<&'a str>,
    available_version: Option<&'a str>,
    dependencies: Vec<DependencyEntry<'a>>,
    description: &'a str,
    files: &'a [String],
    held: bool,
    homepage: Option<&'a str>,
    installed_at: Option<String>,
    latest_version: &'a str,
    license: Option<&'a str>,
    maintainer: Option<&'a str>,
    metadata_age_seconds: Option<i64>,
    metadata_refresh_error: Option<&'a str>,
    metadata_refreshed_at: Option<String>,
    name: &'a str,
    repository: Option<String>,
    reverse_dependencies: &'a [String],
    size_bytes: Option<u64>,
    status: &'static str,
    upgradable: bool,
    upgrades_computed_at: String,
    version: &'a str,
}

impl<'a> PackageDetail<'a> {
    /// The details of `d`, with its pending upgrade and the upgrade data's freshness.
    pub fn new(
        d: &'a PackageDetails,
        upgrade: Option<&'a Upgrade>,
        fresh: Freshness<'a>,
    ) -> PackageDetail<'a> {
        let e = PackageEntry::new(&d.package, upgrade);
        PackageDetail {
            architecture: e.architecture,
            available_version: e.available_version,
            dependencies: d.dependencies.iter().map(DependencyEntry::from).collect(),
            description: e.description,
            files: &d.files,
            held: e.held,
            homepage: d.homepage.as_deref(),
            installed_at: e.installed_at,
            latest_version: e.latest_version,
            license: d.license.as_deref(),
            maintainer: e.maintainer,
            metadata_age_seconds: fresh.metadata_age_seconds,
            metadata_refresh_error: fresh.metadata_refresh_error,
            metadata_refreshed_at: fresh.metadata_refreshed_at,
            name: e.name,
            repository: e.repository,
            reverse_dependencies: &d.reverse_dependencies,
            size_bytes: e.size_bytes,
            status: e.status,
            upgradable: e.upgradable,
            upgrades_computed_at: fresh.upgrades_computed_at,
            version: e.version,
        }
    }

    /// The same details, saying whether the package is held.
    pub fn with_held(mut self, held: bool) -> PackageDetail<'a> {
        self.held = held;
        self
    }
}

/// `POST /api/v1/packages` answered `202`.
#[derive(Debug, Serialize)]
pub struct InstallAccepted {
    created_at: String,
    job_id: String,
    operation: &'static str,
    /// The names asked for.
    packages: Vec<String>,
    status: &'static str,
}

impl InstallAccepted {
    /// The answer for `job`, installing `packages`.
    pub fn new(job: NewJob, packages: Vec<String>) -> InstallAccepted {
        InstallAccepted {
            created_at: job.created_at,
            job_id: job.job_id,
            operation: job.operation,
            packages,
            status: job.status,
        }
    }
}

/// `PUT /api/v1/packages/{name}` answered `202`.
#[derive(Debug, Serialize)]
pub struct UpdateAccepted<'a> {
    created_at: String,
    job_id: String,
    operation: &'static str,
    package: &'a str,
    status: &'static str,
    /// The exact version asked for; null for the newest candidate.
    target_version: Option<String>,
}

impl<'a> UpdateAccepted<'a> {
    /// The answer for `job`, updating `package` to `target_version`.
    pub fn new(job: NewJob, package: &'a str, target_version: Option<String>) -> Self {
        UpdateAccepted {
            created_at: job.created_at,
            job_id: job.job_id,
            operation: job.operation,
            package,
            status: job.status,
            target_version,
        }
    }
}

/// `DELETE /api/v1/packages/{name}` answered `202`.
#[derive(Debug, Serialize)]
pub struct RemoveAccepted<'a> {
    created_at: String,
    job_id: String,
    operation: &'static str,
    package: &'a str,
    purge: bool,
    status: &'static str,
}

impl<'a> RemoveAccepted<'a> {
    /// The answer for `job`, removing (or purging) `package`.
    pub fn new(job: NewJob, package: &'a str, purge: bool) -> RemoveAccepted<'a> {
        RemoveAccepted {
            created_at: job.created_at,
            job_id: job.job_id,
            operation: job.operation,
            package,
            purge,
            status: job.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::envelope::assert_sorted_bytes;
    use super::*;

    fn package() -> InstalledPackage {
        InstalledPackage {
            name: "hello".into(),
            version: "2.10-2".into(),
            arch: Some("amd64".into()),
            description: "greets".into(),
            size_bytes: Some(280),
            installed_at: Some(time::macros::datetime!(2026-03-01 10:00 UTC)),
            maintainer: None,
            depends: vec!["libc6".into()],
        }
    }

    fn upgrade() -> Upgrade {
        Upgrade {
            name: "hello".into(),
            current_version: "2.10-2".into(),
            available_version: "2.10-3".into(),
            arch: None,
            origins: vec!["Debian/stable".into(), "Debian/security".into()],
        }
    }

    fn fresh<'a>() -> Freshness<'a> {
        Freshness::at(
            time::macros::datetime!(2026-03-02 10:00 UTC),
            Some(time::macros::datetime!(2026-03-02 09:00 UTC)),
            Some("mirror down"),
            time::macros::datetime!(2026-03-02 10:30 UTC),
        )
    }

    #[test]
    fn list_entry_with_and_without_an_upgrade() {
        let p = package();
        let u = upgrade();
        let v = assert_sorted_bytes(&PackageEntry::new(&p, Some(&u)));
        assert_eq!(v["latest_version"], "2.10-3");
        assert_eq!(v["available_version"], "2.10-3");
        assert_eq!(v["repository"], "Debian/stable, Debian/security");
        assert_eq!(v["upgradable"], true);
        assert_eq!(v["installed_at"], "2026-03-01T10:00:00Z");
        assert_eq!(v["dependencies"], serde_json::json!(["libc6"]));
        assert!(v["maintainer"].is_null());
        let v = assert_sorted_bytes(&PackageEntry::new(&p, None));
        assert_eq!(v["latest_version"], "2.10-2");
        assert!(v["available_version"].is_null());
        assert!(v["repository"].is_null());
        assert_eq!(v["upgradable"], false);
        assert_eq!(v["held"], false);
        assert_eq!(v.as_object().unwrap().len(), 14);
        let v = assert_sorted_bytes(&PackageEntry::new(&p, None).with_held(true));
        assert_eq!(v["held"], true);
    }

    #[test]
    fn list_and_detail_carry_the_freshness() {
        let p = package();
        let bounds = PageBounds {
            total: 7,
            limit: None,
            offset: 5,
        };
        let page = serde_json::value::to_raw_value(&[PackageEntry::new(&p, None)]).unwrap();
        let list = PackageList::new(&page, bounds, "apt", fresh());
        let v = assert_sorted_bytes(&list);
        assert!(v["limit"].is_null());
        assert_eq!(v["total"], 7);
        assert_eq!(v["offset"], 5);
        assert_eq!(v["metadata_age_seconds"], 5400);
        assert_eq!(v["metadata_refresh_error"], "mirror down");
        assert_eq!(v["upgrades_computed_at"], "2026-03-02T10:00:00Z");
        assert_eq!(v["packages"][0]["name"], "hello");

        let details = PackageDetails {
            package: p.clone(),
            dependencies: vec![Dependency {
                name: "libc6".into(),
                constraint: Some(">= 2.34".into()),
                required: true,
            }],
            reverse_dependencies: vec![],
            files: vec!["/usr/bin/hello".into()],
            homepage: None,
            license: Some("GPL-3".into()),
        };
        let u = upgrade();
        let v = assert_sorted_bytes(&PackageDetail::new(&details, Some(&u), fresh()));
        assert_eq!(
            v["dependencies"],
            serde_json::json!([{"name": "libc6", "required": true, "version": ">= 2.34"}])
        );
        assert_eq!(v["files"][0], "/usr/bin/hello");
        assert_eq!(v["license"], "GPL-3");
        assert_eq!(v["latest_version"], "2.10-3");
        assert_eq!(v["metadata_refreshed_at"], "2026-03-02T09:00:00Z");
        assert_eq!(v.as_object().unwrap().len(), 22);
        assert_eq!(v["held"], false);
        let v = assert_sorted_bytes(&PackageDetail::new(&details, None, fresh()).with_held(true));
        assert_eq!(v["held"], true);
    }

    #[test]
    fn accepted_answers_are_in_wire_order() {
        let job = || NewJob {
            created_at: "2026-03-02T10:00:00Z".into(),
            job_id: "j".into(),
            operation: "install",
            status: "pending",
        };
        let v = assert_sorted_bytes(&InstallAccepted::new(job(), vec!["a".into()]));
        assert_eq!(v["packages"][0], "a");
        let v = assert_sorted_bytes(&UpdateAccepted::new(job(), "a", None));
        assert!(v["target_version"].is_null());
        let v = assert_sorted_bytes(&RemoveAccepted::new(job(), "a", true));
        assert_eq!(v["purge"], true);
        assert_eq!(v["job_id"], "j");
    }
}
