//! `/api/v1/packages`: the inventory (list and details), and install/update/remove jobs.
//!
//! Reads are answered from [`Inventory`]; the mutations (after the router has validated their
//! path and query) are queued on the job engine and answered `202` with the job.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::common::pkg_error;
use super::envelope::{ApiError, Reply};
use super::router::{PackageQuery, PackageSort, PackageStatus, SortOrder};
use super::shape::{take_count, ClientShape};
use super::wire::envelope::NewJob;
use super::wire::packages::{
    Freshness, InstallAccepted, PackageDetail, PackageEntry, PackageList, PageBounds,
    RemoveAccepted, UpdateAccepted,
};
use crate::jobs::{Engine, Job, JobRequest};
use crate::pkg::inventory::Inventory;
use crate::pkg::{InstalledPackage, RemoveOptions, Upgrade};

/// `GET /api/v1/packages`; `inventory` is `None` when no package manager was found; `shape`
/// decides the list's default page.
pub fn list_packages(
    inventory: Option<&Inventory>,
    query: &PackageQuery,
    shape: ClientShape,
) -> Result<Reply, ApiError> {
    list(need(inventory)?, query, shape)
}

/// `GET /api/v1/packages/{name}`; `inventory` is `None` when no package manager was found.
pub fn get_package(inventory: Option<&Inventory>, name: &str) -> Result<Reply, ApiError> {
    show(need(inventory)?, name)
}

/// `POST /api/v1/packages`: an install job; `engine` is `None` when no package manager was
/// found.
pub fn install_packages(body: &[u8], engine: Option<&Engine>) -> Result<Reply, ApiError> {
    let (packages, options) = super::body::install(body)?;
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    let job = submit(engine, JobRequest::Install { packages, options })?;
    Ok(Reply::accepted(InstallAccepted::new(
        NewJob::of(&job),
        names,
    )))
}

/// `PUT /api/v1/packages/{name}`: an update job.
pub fn update_package(name: &str, body: &[u8], engine: Option<&Engine>) -> Result<Reply, ApiError> {
    let (package, options) = super::body::update(name, body)?;
    let target = package.version.clone();
    let job = submit(engine, JobRequest::Update { package, options })?;
    Ok(Reply::accepted(UpdateAccepted::new(
        NewJob::of(&job),
        name,
        target,
    )))
}

/// `DELETE /api/v1/packages/{name}`: a removal job.
pub fn remove_package(
    name: &str,
    purge: bool,
    force: bool,
    engine: Option<&Engine>,
) -> Result<Reply, ApiError> {
    let options = RemoveOptions { purge, force };
    let job = submit(
        engine,
        JobRequest::Remove {
            name: name.to_string(),
            options,
        },
    )?;
    Ok(Reply::accepted(RemoveAccepted::new(
        NewJob::of(&job),
        name,
        purge,
    )))
}

fn submit(engine: Option<&Engine>, request: JobRequest) -> Result<Job, ApiError> {
    super::jobs::need(engine)?
        .submit(request)
        .map_err(super::jobs::engine_error)
}

/// The inventory, or `SERVICE_UNHEALTHY` naming the missing package manager.
pub fn need(inventory: Option<&Inventory>) -> Result<&Inventory, ApiError> {
    inventory.ok_or_else(|| {
        let details = serde_json::Map::from_iter([("package_manager".into(), "missing".into())]);
        ApiError::ServiceUnhealthy {
            message:
                "no supported package manager was found on this host (see package_manager.backend)"
                    .into(),
            details,
        }
    })
}

/// `GET /api/v1/packages`; `limit` is null in the answer when every match was returned.
fn list(
    inventory: &Inventory,
    query: &PackageQuery,
    shape: ClientShape,
) -> Result<Reply, ApiError> {
    let pattern = query.name.as_deref().map(Pattern::parse).transpose()?;
    let installed = inventory.installed().map_err(pkg_error)?;
    let snapshot = inventory.upgrades().map_err(pkg_error)?;
    let upgrades = by_name(&snapshot.upgrades);
    let backend = inventory.backend();
    let status = query.status.unwrap_or(PackageStatus::Installed);
    let mut selected: Vec<&InstalledPackage> = installed
        .iter()
        .filter(|p| pattern.as_ref().is_none_or(|pat| pat.matches(&p.name)))
        .filter(|p| status != PackageStatus::Upgradable || upgrades.contains_key(p.name.as_str()))
        .collect();
    let cmp = |a: &str, b: &str| backend.compare_versions(a, b);
    sort(
        &mut selected,
        query.sort.unwrap_or(PackageSort::Name),
        query.order,
        &cmp,
    );
    let total = selected.len();
    let size = shape.page_size(&query.page);
    let page: Vec<PackageEntry> = selected
        .into_iter()
        .skip(usize::try_from(query.page.offset).unwrap_or(usize::MAX))
        .take(take_count(size))
        .map(|p| PackageEntry::new(p, upgrades.get(p.name.as_str()).copied()))
        .collect();
    let bounds = PageBounds {
        total,
        limit: size,
        offset: query.page.offset,
    };
    let fresh = Freshness::new(&snapshot, time::OffsetDateTime::now_utc());
    Ok(Reply::ok(PackageList::new(
        page,
        bounds,
        backend.kind().name(),
        fresh,
    )))
}

/// `GET /api/v1/packages/{name}`.
fn show(inventory: &Inventory, name: &str) -> Result<Reply, ApiError> {
    let details = inventory
        .details(name)
        .map_err(pkg_error)?
        .ok_or_else(|| ApiError::PkgNotFound(name.to_string()))?;
    let snapshot = inventory.upgrades().map_err(pkg_error)?;
    let upgrade = snapshot
        .upgrades
        .iter()
        .find(|u| u.name == details.package.name);
    let fresh = Freshness::new(&snapshot, time::OffsetDateTime::now_utc());
    Ok(Reply::ok(PackageDetail::new(&details, upgrade, fresh)))
}

fn by_name(upgrades: &[Upgrade]) -> HashMap<&str, &Upgrade> {
    upgrades.iter().map(|u| (u.name.as_str(), u)).collect()
}

/// Orders packages by the requested field; ties fall back to name, then version.
fn sort(
    packages: &mut [&InstalledPackage],
    by: PackageSort,
    order: SortOrder,
    cmp_versions: &dyn Fn(&str, &str) -> Ordering,
) {
    packages.sort_by(|a, b| {
        let primary = match by {
            PackageSort::Name => Ordering::Equal,
            PackageSort::Version => cmp_versions(&a.version, &b.version),
            // Unknown sizes sort as the smallest.
            PackageSort::Size => a.size_bytes.cmp(&b.size_bytes),
        };
        let ordered = primary
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| cmp_versions(&a.version, &b.version));
        match order {
            SortOrder::Asc => ordered,
            SortOrder::Desc => ordered.reverse(),
        }
    });
}

/// A `name` filter: literal text with `*` matching any run of characters.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    parts: Vec<String>,
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, ApiError> {
        let ok = |c: char| c.is_ascii_alphanumeric() || "@._+:-*".contains(c);
        if let Some(bad) = text.chars().find(|c| !ok(*c)) {
            return Err(ApiError::InvalidRequest(format!(
                "query parameter name: {bad:?} is not allowed; use package-name characters and * wildcards, got {text:?}"
            )));
        }
        Ok(Pattern {
            parts: text.split('*').map(str::to_string).collect(),
        })
    }

    fn matches(&self, name: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(x) => x,
            None => return true,
        };
        let Some(mut remaining) = name.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return remaining.is_empty();
        };
        for part in middle {
            match remaining.find(part.as_str()) {
                Some(i) => remaining = &remaining[i + part.len()..],
                None => return false,
            }
        }
        remaining.len() >= last.len() && remaining.ends_with(last.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, size: Option<u64>) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            arch: Some("amd64".into()),
            description: format!("{name} summary"),
            size_bytes: size,
            installed_at: None,
            maintainer: None,
            depends: vec![],
        }
    }

    #[test]
    fn wildcard_patterns_match_like_shell_globs() {
        let p = |t: &str| Pattern::parse(t).unwrap();
        assert!(p("nginx").matches("nginx"));
        assert!(!p("nginx").matches("nginx-common"));
        assert!(p("nginx*").matches("nginx-common"));
        assert!(p("*-common").matches("nginx-common"));
        assert!(p("lib*6").matches("libc6"));
        assert!(!p("lib*6").matches("libc6-dev"));
        assert!(p("*").matches("anything"));
        assert!(p("a*b*c").matches("aXbYc"));
        assert!(!p("a*b*c").matches("acb"));
        assert!(
            !p("ab*ba").matches("aba"),
            "prefix and suffix must not overlap"
        );
    }

    #[test]
    fn patterns_refuse_what_no_package_name_holds() {
        for bad in ["a b", "a;b", "$(x)", "a/b", "a?"] {
            let e = Pattern::parse(bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_REQUEST");
            assert!(
                e.message().contains("query parameter name"),
                "{}",
                e.message()
            );
        }
    }

    #[test]
    fn sort_by_version_with_pacman_versions_does_not_panic() {
        // The case: libalpm's order (1-2 = 1 = 1-1, 1-2 > 1-1) made this sort panic
        // ("comparison does not implement a total order") on an Arch host.
        let versions = [
            "2", "1.1-1", "2-2", "2-1", "2", "1-3", "1-2", "1.1-5", "1-2", "2", "1-2", "1-1",
            "2-2", "1-3", "1.1", "2-1", "1.1-5", "1.1-1", "1.1-5", "1-3", "2-2", "2-1", "1.1-5",
            "1-2", "2-1", "1-1", "1-3", "1.1-1", "1-3", "1.1-1", "2", "1-3", "1-1", "1-3",
        ];
        let owned: Vec<InstalledPackage> = versions.iter().map(|v| pkg("same", v, None)).collect();
        let mut v: Vec<&InstalledPackage> = owned.iter().collect();
        let alpm = crate::pkg::version::alpm;
        for order in [SortOrder::Asc, SortOrder::Desc] {
            sort(&mut v, PackageSort::Version, order, &alpm);
            for w in v.windows(2) {
                let got = alpm(&w[0].version, &w[1].version);
                let inverted = if order == SortOrder::Asc {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
                assert_ne!(got, inverted, "{} before {}", w[0].version, w[1].version);
            }
        }
    }

    #[test]
    fn sort_by_version_uses_the_ecosystem_order_and_desc_reverses() {
        let a = pkg("a", "1.10", Some(5));
        let b = pkg("b", "1.9", None);
        let c = pkg("c", "1.9", Some(1));
        let mut v = vec![&a, &b, &c];
        // A numeric-aware order stands in for the backend's.
        let numeric = |x: &str, y: &str| {
            let n = |s: &str| {
                s.split('.')
                    .map(|p| p.parse::<u64>().unwrap_or(0))
                    .collect::<Vec<_>>()
            };
            n(x).cmp(&n(y))
        };
        sort(&mut v, PackageSort::Version, SortOrder::Asc, &numeric);
        assert_eq!(
            v.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["b", "c", "a"]
        );
        sort(&mut v, PackageSort::Version, SortOrder::Desc, &numeric);
        assert_eq!(
            v.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["a", "c", "b"]
        );
        sort(&mut v, PackageSort::Size, SortOrder::Asc, &numeric);
        assert_eq!(
            v.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["b", "c", "a"]
        );
    }

    #[test]
    fn package_json_has_spec_and_interop_fields() {
        let p = pkg("nginx", "1.24.0-1", Some(2048));
        let u = Upgrade {
            name: "nginx".into(),
            current_version: "1.24.0-1".into(),
            available_version: "1.24.0-2".into(),
            arch: None,
            origins: vec!["Debian:bookworm-security".into()],
        };
        let v = serde_json::to_value(PackageEntry::new(&p, Some(&u))).unwrap();
        assert_eq!(v["upgradable"], true);
        assert_eq!(v["available_version"], "1.24.0-2");
        assert_eq!(v["latest_version"], "1.24.0-2");
        assert_eq!(v["status"], "installed");
        assert_eq!(v["description"], "nginx summary");
        let v = serde_json::to_value(PackageEntry::new(&p, None)).unwrap();
        assert_eq!(v["upgradable"], false);
        assert!(v["available_version"].is_null());
        assert_eq!(v["latest_version"], "1.24.0-1");
    }

    #[test]
    fn without_a_package_manager_the_inventory_is_unavailable() {
        let e = get_package(None, "nginx").unwrap_err();
        assert_eq!(e.status(), 503);
    }
}
