//! `/api/v1/packages`: the inventory (list and details), and install/update/remove jobs.
//!
//! Reads are answered from [`Inventory`]; the mutations (after the router has validated their
//! path and query) are queued on the job engine and answered `202` with the job.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;

use super::common::pkg_error;
use super::envelope::{ApiError, Reply};
use super::page_cache::{Limits, PageCache, Source};
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
/// decides the list's default page; `cache` keeps rendered pages (see [`list_cache`]).
pub fn list_packages(
    inventory: Option<&Inventory>,
    query: &PackageQuery,
    shape: ClientShape,
    cache: &ListCache,
) -> Result<Reply, ApiError> {
    list(need(inventory)?, query, shape, cache)
}

/// `GET /api/v1/packages/{name}`; `inventory` is `None` when no package manager was found.
pub fn get_package(inventory: Option<&Inventory>, name: &str) -> Result<Reply, ApiError> {
    show(need(inventory)?, name)
}

/// `POST /api/v1/packages`: an install job (its plan when `dry_run`); `engine` is `None` when no package manager was
/// found.
pub fn install_packages(
    body: &[u8],
    engine: Option<&Engine>,
    dry_run: bool,
) -> Result<Reply, ApiError> {
    let (packages, options) = super::body::install(body)?;
    if dry_run {
        return super::dry_run::answer(engine, &JobRequest::Install { packages, options });
    }
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    let job = submit(engine, JobRequest::Install { packages, options })?;
    Ok(Reply::accepted(InstallAccepted::new(
        NewJob::of(&job),
        names,
    )))
}

/// `PUT /api/v1/packages/{name}`: an update job (its plan when `dry_run`).
pub fn update_package(
    name: &str,
    body: &[u8],
    engine: Option<&Engine>,
    dry_run: bool,
) -> Result<Reply, ApiError> {
    let (package, options) = super::body::update(name, body)?;
    if dry_run {
        return super::dry_run::answer(engine, &JobRequest::Update { package, options });
    }
    let target = package.version.clone();
    let job = submit(engine, JobRequest::Update { package, options })?;
    Ok(Reply::accepted(UpdateAccepted::new(
        NewJob::of(&job),
        name,
        target,
    )))
}

/// `DELETE /api/v1/packages/{name}`: a removal job (its plan when `dry_run`).
pub fn remove_package(
    name: &str,
    options: RemoveOptions,
    engine: Option<&Engine>,
    dry_run: bool,
) -> Result<Reply, ApiError> {
    let request = JobRequest::Remove {
        name: name.to_string(),
        options,
    };
    if dry_run {
        return super::dry_run::answer(engine, &request);
    }
    let job = submit(engine, request)?;
    Ok(Reply::accepted(RemoveAccepted::new(
        NewJob::of(&job),
        name,
        options.purge,
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

/// What a rendered page depends on besides the inventory's sets: the query as the router
/// normalised it, with defaults applied, and the answer shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListKey {
    name: Option<String>,
    status: PackageStatus,
    sort: PackageSort,
    order: SortOrder,
    offset: u64,
    /// The page size the shape decided (`None`: every match).
    size: Option<u32>,
    shape: ClientShape,
}

impl ListKey {
    fn of(query: &PackageQuery, shape: ClientShape) -> ListKey {
        ListKey {
            name: query.name.clone(),
            status: query.status.unwrap_or(PackageStatus::Installed),
            sort: query.sort.unwrap_or(PackageSort::Name),
            order: query.order,
            offset: query.page.offset,
            size: shape.page_size(&query.page),
            shape,
        }
    }
}

/// One rendered page: its `packages` array as JSON, and the matches before paging.
pub struct RenderedPage {
    packages: Box<RawValue>,
    total: usize,
}

/// The rendered pages of `GET /api/v1/packages`, kept per query and inventory sets.
pub type ListCache = PageCache<ListKey, RenderedPage>;

/// How many pages [`list_cache`] keeps: a poller asks the same few queries again and again;
/// 4 MiB holds about ten full pages of a host with 900 packages (370 KB each).
pub const LIST_CACHE_LIMITS: Limits = Limits {
    entries: 16,
    bytes: 4 << 20,
};

/// An empty cache of rendered package pages, bounded by [`LIST_CACHE_LIMITS`].
pub fn list_cache() -> ListCache {
    PageCache::new(LIST_CACHE_LIMITS)
}

/// `GET /api/v1/packages`; `limit` is null in the answer when every match was returned. The
/// page comes from `cache` when it was rendered from the same installed and upgradable sets;
/// the freshness fields are always computed now.
fn list(
    inventory: &Inventory,
    query: &PackageQuery,
    shape: ClientShape,
    cache: &ListCache,
) -> Result<Reply, ApiError> {
    let pattern = query.name.as_deref().map(Pattern::parse).transpose()?;
    let installed = inventory.installed().map_err(pkg_error)?;
    let snapshot = inventory.upgrades().map_err(pkg_error)?;
    let holds = inventory.holds().map_err(pkg_error)?;
    let key = ListKey::of(query, shape);
    // The hold set is a source too: a hold change renders the page again at once.
    let sources = vec![
        Source::of(&installed),
        Source::of(&snapshot.upgrades),
        Source::of(&holds),
    ];
    let page = match cache.get(&key, &sources) {
        Some(page) => page,
        None => {
            let sets = Sets {
                installed: &installed,
                upgrades: &snapshot.upgrades,
                holds: &holds,
            };
            let page = Arc::new(render(inventory, sets, pattern.as_ref(), &key)?);
            let bytes = page.packages.get().len();
            cache.insert(key.clone(), sources, Arc::clone(&page), bytes);
            page
        }
    };
    let bounds = PageBounds {
        total: page.total,
        limit: key.size,
        offset: key.offset,
    };
    let fresh = Freshness::new(&snapshot, time::OffsetDateTime::now_utc());
    Ok(Reply::ok(PackageList::new(
        &page.packages,
        bounds,
        inventory.backend().kind().name(),
        fresh,
    )))
}

/// The sets a page is rendered from.
#[derive(Clone, Copy)]
struct Sets<'a> {
    installed: &'a [InstalledPackage],
    upgrades: &'a [Upgrade],
    holds: &'a [String],
}

/// Selects, sorts and pages the installed set as `key` asks, and serialises the page.
fn render(
    inventory: &Inventory,
    sets: Sets<'_>,
    pattern: Option<&Pattern>,
    key: &ListKey,
) -> Result<RenderedPage, ApiError> {
    let upgrades = by_name(sets.upgrades);
    let mut selected: Vec<&InstalledPackage> = sets
        .installed
        .iter()
        .filter(|p| pattern.is_none_or(|pat| pat.matches(&p.name)))
        .filter(|p| {
            key.status != PackageStatus::Upgradable || upgrades.contains_key(p.name.as_str())
        })
        .collect();
    let backend = inventory.backend();
    let cmp = |a: &str, b: &str| backend.compare_versions(a, b);
    sort(&mut selected, key.sort, key.order, &cmp);
    let total = selected.len();
    let page: Vec<PackageEntry> = selected
        .into_iter()
        .skip(usize::try_from(key.offset).unwrap_or(usize::MAX))
        .take(take_count(key.size))
        .map(|p| {
            PackageEntry::new(p, upgrades.get(p.name.as_str()).copied())
                .with_held(is_held(sets.holds, &p.name))
        })
        .collect();
    let packages = serde_json::value::to_raw_value(&page)
        .map_err(|e| ApiError::InternalError(format!("rendering the package list: {e}")))?;
    Ok(RenderedPage { packages, total })
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
    let holds = inventory.holds().map_err(pkg_error)?;
    let held = is_held(&holds, &details.package.name);
    Ok(Reply::ok(
        PackageDetail::new(&details, upgrade, fresh).with_held(held),
    ))
}

/// Whether a hold entry (a name, or a zypper glob lock) covers `name`.
fn is_held(holds: &[String], name: &str) -> bool {
    holds.iter().any(|h| crate::pkg::holds::covers(h, name))
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

    /// A backend over a database file of `name version` lines, with the upgradable set the
    /// test sets.
    struct Fake {
        db: std::path::PathBuf,
        upgrades: std::sync::Mutex<Vec<Upgrade>>,
        /// One held name per line, as a hold list on disk.
        holds: std::path::PathBuf,
    }

    impl crate::pkg::PackageManager for Fake {
        crate::pkg::read_only_mutations!();

        fn available_versions(&self, _name: &str) -> Result<Vec<String>, crate::pkg::PkgError> {
            Ok(Vec::new())
        }
        fn kind(&self) -> crate::pkg::BackendKind {
            crate::pkg::BackendKind::Apt
        }
        fn installed(&self) -> Result<Vec<InstalledPackage>, crate::pkg::PkgError> {
            let text =
                std::fs::read_to_string(&self.db).map_err(|error| crate::pkg::PkgError::Io {
                    what: "db".into(),
                    error,
                })?;
            Ok(text
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(name, version)| pkg(name, version, None))
                .collect())
        }
        fn database_paths(&self) -> Vec<std::path::PathBuf> {
            vec![self.db.clone()]
        }
        fn details(
            &self,
            _name: &str,
        ) -> Result<Option<crate::pkg::PackageDetails>, crate::pkg::PkgError> {
            Ok(None)
        }
        fn refresh(&self) -> Result<(), crate::pkg::PkgError> {
            Ok(())
        }
        fn upgradable(&self) -> Result<Vec<Upgrade>, crate::pkg::PkgError> {
            Ok(self.upgrades.lock().unwrap().clone())
        }
        fn compare_versions(&self, a: &str, b: &str) -> Ordering {
            a.cmp(b)
        }
        fn holds(&self) -> Result<Vec<String>, crate::pkg::PkgError> {
            let text = std::fs::read_to_string(&self.holds).unwrap_or_default();
            Ok(text.lines().map(str::to_string).collect())
        }
        fn hold_paths(&self) -> Vec<std::path::PathBuf> {
            vec![self.holds.clone()]
        }
    }

    fn upgrade(name: &str, to: &str) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: "1".into(),
            available_version: to.into(),
            arch: None,
            origins: vec![],
        }
    }

    /// An inventory over a fake database holding `text`, and the fake.
    fn inventory(text: &str) -> (Inventory, Arc<Fake>) {
        let dir = std::env::temp_dir().join(format!("lpa-pages-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("status");
        std::fs::write(&db, text).unwrap();
        let holds = dir.join("holds");
        std::fs::write(&holds, "").unwrap();
        let fake = Arc::new(Fake {
            db,
            upgrades: std::sync::Mutex::new(vec![]),
            holds,
        });
        let inv = Inventory::new(fake.clone(), std::time::Duration::from_secs(3600));
        (inv, fake)
    }

    /// Replaces the database by rename, as dpkg does.
    fn rewrite(db: &std::path::Path, text: &str) {
        let tmp = db.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, db).unwrap();
    }

    fn query(text: &str) -> PackageQuery {
        let pairs: Vec<(String, String)> = text
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let segments = ["api", "v1", "packages"].map(String::from);
        match super::super::router::route("GET", "/api/v1/packages", &segments, &pairs) {
            Ok(super::super::router::Endpoint::ListPackages(q)) => q,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn listed(
        inv: &Inventory,
        q: &str,
        shape: ClientShape,
        cache: &ListCache,
    ) -> serde_json::Value {
        list(inv, &query(q), shape, cache).unwrap().to_value()
    }

    fn names_versions(v: &serde_json::Value) -> Vec<String> {
        v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{} {} {}", p["name"], p["version"], p["upgradable"]))
            .collect()
    }

    #[test]
    fn a_kept_page_is_served_until_the_database_changes() {
        let (inv, fake) = inventory("a 1\nb 1\n");
        let cache = list_cache();
        let spec = ClientShape::Specification;
        let first = listed(&inv, "", spec, &cache);
        assert_eq!(first["total"], 2);
        assert_eq!(cache.usage().0, 1);
        let again = listed(&inv, "", spec, &cache);
        assert_eq!(again["packages"], first["packages"]);
        assert_eq!(again["total"], 2);
        assert_eq!(cache.usage().0, 1, "served from the kept page");

        rewrite(&fake.db, "a 1\nb 2\nc 1\n");
        let after = listed(&inv, "", spec, &cache);
        assert_eq!(
            names_versions(&after),
            [
                "\"a\" \"1\" false",
                "\"b\" \"2\" false",
                "\"c\" \"1\" false"
            ]
        );
        assert_eq!(after["total"], 3);
        assert_eq!(cache.usage().0, 1, "the page of the old database is gone");
    }

    #[test]
    fn a_hold_change_renders_the_page_again_at_once() {
        let (inv, fake) = inventory("a 1\nb 1\n");
        let cache = list_cache();
        let spec = ClientShape::Specification;
        let held = |v: &serde_json::Value| -> Vec<bool> {
            v["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["held"].as_bool().unwrap())
                .collect()
        };
        assert_eq!(held(&listed(&inv, "", spec, &cache)), [false, false]);
        assert_eq!(held(&listed(&inv, "", spec, &cache)), [false, false]);
        assert_eq!(cache.usage().0, 1);
        // A hold set by hand: the file is replaced, as the tools do.
        rewrite(&fake.holds, "b\n");
        assert_eq!(held(&listed(&inv, "", spec, &cache)), [false, true]);
        assert_eq!(cache.usage().0, 1, "the page of the old hold set is gone");
        rewrite(&fake.holds, "");
        assert_eq!(held(&listed(&inv, "", spec, &cache)), [false, false]);
    }

    #[test]
    fn a_new_upgradable_set_renders_the_page_again() {
        let (inv, fake) = inventory("a 1\nb 1\n");
        let cache = list_cache();
        let spec = ClientShape::Specification;
        let before = listed(&inv, "", spec, &cache);
        assert_eq!(before["packages"][0]["upgradable"], false);
        *fake.upgrades.lock().unwrap() = vec![upgrade("a", "2")];
        // As after a job or a metadata refresh: the inventory computes the set anew.
        inv.invalidate_upgrades();
        let after = listed(&inv, "", spec, &cache);
        assert_eq!(after["packages"][0]["upgradable"], true);
        assert_eq!(after["packages"][0]["available_version"], "2");
        let only = listed(&inv, "status=upgradable", spec, &cache);
        assert_eq!(names_versions(&only), ["\"a\" \"1\" true"]);
    }

    #[test]
    fn different_queries_and_shapes_never_share_a_page() {
        let text: String = (0..150).map(|i| format!("p{i:03} 1\n")).collect();
        let (inv, _fake) = inventory(&text);
        let cache = list_cache();
        let spec = ClientShape::Specification;
        let manager = ClientShape::PatchManager;
        // The specification pages by 100 by default, the manager takes every match.
        assert_eq!(
            listed(&inv, "", spec, &cache)["packages"]
                .as_array()
                .unwrap()
                .len(),
            100
        );
        assert_eq!(
            listed(&inv, "", manager, &cache)["packages"]
                .as_array()
                .unwrap()
                .len(),
            150
        );
        assert_eq!(listed(&inv, "", spec, &cache)["limit"], 100);
        assert!(listed(&inv, "", manager, &cache)["limit"].is_null());
        let cases: [(&str, usize, &str); 6] = [
            ("name=p00*", 10, "\"p000\""),
            ("name=p01*", 10, "\"p010\""),
            ("order=desc", 100, "\"p149\""),
            ("limit=5&offset=7", 5, "\"p007\""),
            ("limit=5&offset=8", 5, "\"p008\""),
            ("sort=version&order=desc&limit=3", 3, "\"p149\""),
        ];
        for _ in 0..2 {
            for (q, len, first) in cases {
                let v = listed(&inv, q, spec, &cache);
                let page = v["packages"].as_array().unwrap();
                assert_eq!(page.len(), len, "{q}");
                assert_eq!(page[0]["name"].to_string(), first, "{q}");
            }
        }
        assert_eq!(
            cache.usage().0,
            2 + cases.len(),
            "one page per query and shape"
        );
        // The same query written differently is the same page.
        listed(&inv, "order=asc&sort=name&offset=0", spec, &cache);
        assert_eq!(cache.usage().0, 2 + cases.len());
    }

    #[test]
    fn a_bad_name_filter_is_refused_before_the_cache() {
        let (inv, _fake) = inventory("a 1\n");
        let cache = list_cache();
        let e = list(&inv, &query("name=a;b"), ClientShape::Specification, &cache);
        assert!(e.is_err());
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn without_a_package_manager_the_inventory_is_unavailable() {
        let e = get_package(None, "nginx").unwrap_err();
        assert_eq!(e.status(), 503);
    }
}
