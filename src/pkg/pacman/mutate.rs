//! Planning package changes: what `-Si` and the package cache offer for a name, and how a
//! request becomes `-U` files and `-S` targets (refusing unknown versions and downgrades).
//! Separate because it is pure decision logic, tested without pacman.

use std::cmp::Ordering;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::pkg::{version, InstallOptions, PackageSpec, PkgError};

// ---------------------------------------------------------------------------------------
// Package changes.
//
// pacman installs a repository's version with `-S` and any other version only from a package
// file (`-U`); there is no `-S name=version`. So an exact version is looked for in the sync
// databases first (`-Si`, which names the repository of each entry) and then among the
// package files of the cache directory, where pacman keeps every file it downloaded or
// installed. A request becomes at most two transactions, `-U` of cache files first, then `-S`
// of repository names, because pacman cannot mix files and repository names in one.
// ---------------------------------------------------------------------------------------

/// One entry of `pacman -Si`: the repository that offers a package, and its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncEntry {
    /// Repository name (`core`, `lpa`, ...).
    pub repo: String,
    /// Package name.
    pub name: String,
    /// Version in the repository.
    pub version: String,
}

/// What pacman could install for one name: repository entries (in pacman's repository order,
/// the first is what `-S name` takes) and package files in the cache directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offers {
    /// Sync database entries for the name.
    pub sync: Vec<SyncEntry>,
    /// `(version, file)` for every package file of the name in the cache directory.
    pub cached: Vec<(String, PathBuf)>,
}

impl Offers {
    /// Every version on offer, repositories first, without repeats.
    pub fn versions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let all = self.sync.iter().map(|e| &e.version);
        for v in all.chain(self.cached.iter().map(|(v, _)| v)) {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        out
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sync.is_empty() && self.cached.is_empty()
    }
}

/// What a request turns into: package files for one `-U`, repository targets for one `-S`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallPlan {
    /// Package files (cache or saved copies) for `pacman -U`.
    pub files: Vec<PathBuf>,
    /// Repository targets for `pacman -S` (`name`, or `repo/name` when the version asked
    /// for is not in the first repository offering the name).
    pub targets: Vec<String>,
}

impl InstallPlan {
    pub(super) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.targets.is_empty()
    }
}

/// Parses `pacman -Si` output (one block per package, `Key : value` lines); packages pacman
/// did not find only appear on stderr.
pub fn parse_sync_info(stdout: &str) -> Vec<SyncEntry> {
    let mut out = Vec::new();
    let (mut repo, mut name) = (None::<String>, None::<String>);
    for line in stdout.lines() {
        let Some((key, value)) = line.split_once(" : ").or_else(|| line.split_once(" :")) else {
            continue;
        };
        let value = value.trim().to_string();
        match key.trim() {
            "Repository" => (repo, name) = (Some(value), None),
            "Name" => name = Some(value),
            "Version" => {
                if let (Some(r), Some(n)) = (&repo, &name) {
                    out.push(SyncEntry {
                        repo: r.clone(),
                        name: n.clone(),
                        version: value,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// The version in a package file name `NAME-VER-REL-ARCH.pkg.tar[.EXT]` when it belongs to
/// `name`: pkgver, pkgrel and arch contain no `-`, so exactly two must follow the name.
pub fn cache_file_version(file_name: &str, name: &str) -> Option<String> {
    let (stem, ext) = file_name.split_once(".pkg.tar")?;
    // One compression suffix at most: `.sig` signatures and `.part` downloads are not
    // packages.
    let compression = [
        "", ".gz", ".bz2", ".xz", ".zst", ".lz4", ".lrz", ".lzo", ".lz", ".Z",
    ];
    if !compression.contains(&ext) {
        return None;
    }
    let rest = stem.strip_prefix(name)?.strip_prefix('-')?;
    let (ver_rel, arch) = rest.rsplit_once('-')?;
    let (ver, rel) = ver_rel.split_once('-')?;
    let valid = |s: &str| !s.is_empty() && !s.contains('-');
    (valid(ver) && valid(rel) && valid(arch)).then(|| format!("{ver}-{rel}"))
}

/// Package files of `name` in `dir`, sorted by file name; a missing directory has none.
pub fn cached_files(dir: &Path, name: &str) -> Result<Vec<(String, PathBuf)>, PkgError> {
    let io_err = |error| PkgError::Io {
        what: dir.display().to_string(),
        error,
    };
    let entries = match fs::read_dir(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err)?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if let Some(v) = cache_file_version(file_name, name) {
            out.push((v, entry.path()));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Decides how each requested package is installed. `installed` gives the installed version
/// of a name, `offers` what pacman has for it. Refuses (before anything runs) a version that
/// is on offer nowhere, and a downgrade without `allow_downgrade` — pacman itself would only
/// warn "downgrading package". A name on offer nowhere and not installed is `NotFound` when a
/// version was asked for; without a version it is left to `-S`, which also resolves groups
/// and provides, and fails with "target not found" otherwise.
pub fn plan_install(
    specs: &[PackageSpec],
    options: &InstallOptions,
    installed: &dyn Fn(&str) -> Option<String>,
    offers: &dyn Fn(&str) -> Offers,
) -> Result<InstallPlan, PkgError> {
    let mut plan = InstallPlan::default();
    for spec in specs {
        let have = installed(&spec.name);
        let offer = offers(&spec.name);
        let wanted = match &spec.version {
            None => {
                plan.targets.push(spec.name.clone());
                offer.sync.first().map(|e| e.version.clone())
            }
            Some(v) => {
                place_exact(&mut plan, &spec.name, v, &offer, have.is_some())?;
                Some(v.clone())
            }
        };
        if let (Some(have), Some(wanted)) = (have, wanted) {
            refuse_downgrade(&spec.name, &have, &wanted, options)?;
        }
    }
    Ok(plan)
}

pub(super) fn place_exact(
    plan: &mut InstallPlan,
    name: &str,
    version: &str,
    offer: &Offers,
    is_installed: bool,
) -> Result<(), PkgError> {
    if let Some(i) = offer.sync.iter().position(|e| e.version == version) {
        // `-S name` takes the first repository's entry; another one must be named.
        let e = &offer.sync[i];
        let target = if i == 0 {
            name.to_string()
        } else {
            format!("{}/{name}", e.repo)
        };
        plan.targets.push(target);
        return Ok(());
    }
    if let Some((_, file)) = offer.cached.iter().find(|(v, _)| v == version) {
        plan.files.push(file.clone());
        return Ok(());
    }
    if offer.is_empty() && !is_installed {
        return Err(PkgError::NotFound(name.to_string()));
    }
    let known = offer.versions();
    Err(PkgError::VersionConflict(format!(
        "{name} {version} is neither in a repository nor in the package cache (on offer: {})",
        if known.is_empty() {
            "nothing".to_string()
        } else {
            known.join(", ")
        }
    )))
}

pub(super) fn refuse_downgrade(
    name: &str,
    have: &str,
    wanted: &str,
    options: &InstallOptions,
) -> Result<(), PkgError> {
    if options.allow_downgrade || version::alpm_libalpm(wanted, have) != Ordering::Less {
        return Ok(());
    }
    Err(PkgError::VersionConflict(format!(
        "{name} {wanted} is older than the installed {have}; allow_downgrade is not set"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::pacman::tests::{entry, TempRoot};

    // --- package changes -----------------------------------------------------------------

    const SI_HELLO: &str = include_str!("../../../tests/data/pacman/si-hello.stdout");
    const SI_MULTI: &str = include_str!("../../../tests/data/pacman/si-multi.stdout");
    const SI_MULTI_ERR: &str = include_str!("../../../tests/data/pacman/si-multi.stderr");
    const SI_NOPE_OUT: &str = include_str!("../../../tests/data/pacman/si-nope.stdout");
    fn spec(name: &str, version: Option<&str>) -> PackageSpec {
        PackageSpec {
            name: name.into(),
            version: version.map(str::to_string),
        }
    }

    /// Offers of the fixture: repo lpa has hello 2.0-1; the cache holds hello 1.0-1, 1.1-1.
    fn fixture_offers(name: &str) -> Offers {
        match name {
            "lpa-hello" => Offers {
                sync: vec![entry("lpa", "lpa-hello", "2.0-1")],
                cached: vec![
                    (
                        "1.0-1".into(),
                        PathBuf::from("/c/lpa-hello-1.0-1-any.pkg.tar.zst"),
                    ),
                    (
                        "1.1-1".into(),
                        PathBuf::from("/c/lpa-hello-1.1-1-any.pkg.tar.zst"),
                    ),
                ],
            },
            "lpa-lib" => Offers {
                sync: vec![entry("lpa", "lpa-lib", "1.1-1")],
                cached: Vec::new(),
            },
            _ => Offers::default(),
        }
    }

    fn none_installed(_: &str) -> Option<String> {
        None
    }

    fn hello_2_installed(name: &str) -> Option<String> {
        (name == "lpa-hello").then(|| "2.0-1".to_string())
    }

    #[test]
    fn sync_info_parses_recorded_si() {
        assert_eq!(
            parse_sync_info(SI_HELLO),
            [entry("lpa", "lpa-hello", "2.0-1")]
        );
        // Several names, one unknown (exit 1): the known ones are still printed.
        assert_eq!(
            parse_sync_info(SI_MULTI),
            [
                entry("lpa", "lpa-hello", "2.0-1"),
                entry("lpa", "lpa-lib", "1.1-1")
            ]
        );
        assert!(SI_MULTI_ERR.contains("'nope' was not found"));
        assert!(parse_sync_info(SI_NOPE_OUT).is_empty());
    }

    #[test]
    fn cache_file_names_give_versions_of_that_name_only() {
        let v = |f: &str, n: &str| cache_file_version(f, n);
        assert_eq!(
            v("lpa-hello-1.0-1-any.pkg.tar.zst", "lpa-hello").as_deref(),
            Some("1.0-1")
        );
        assert_eq!(
            v("glibc-2:2.39-1-x86_64.pkg.tar.xz", "glibc").as_deref(),
            Some("2:2.39-1")
        );
        assert_eq!(v("foo-1.0-1-any.pkg.tar", "foo").as_deref(), Some("1.0-1"));
        // Another package whose name starts with ours.
        assert_eq!(
            v("lpa-hello-extra-1.0-1-any.pkg.tar.zst", "lpa-hello"),
            None
        );
        assert_eq!(v("lpa-hello-1.0-1-any.pkg.tar.zst", "lpa"), None);
        assert_eq!(v("lpa-hello-1.0-1-any.pkg.tar.zst.sig", "lpa-hello"), None);
        assert_eq!(v("lpa-hello-1.0-1-any.pkg.tar.zst.part", "lpa-hello"), None);
        assert_eq!(v("lpa-hello-1.0-1-any.pkg.tarx", "lpa-hello"), None);
        assert_eq!(v("lpa-hello-1.0-any.pkg.tar.zst", "lpa-hello"), None);
    }

    #[test]
    fn cached_files_reads_the_directory() {
        let t = TempRoot::new("cache");
        for f in [
            "lpa-hello-1.1-1-any.pkg.tar.zst",
            "lpa-hello-1.0-1-any.pkg.tar.zst",
            "lpa-hello-1.0-1-any.pkg.tar.zst.sig",
            "lpa-lib-1.0-1-any.pkg.tar.zst",
        ] {
            fs::write(t.0.join(f), "x").unwrap();
        }
        let got = cached_files(&t.0, "lpa-hello").unwrap();
        assert_eq!(
            got,
            [
                (
                    "1.0-1".to_string(),
                    t.0.join("lpa-hello-1.0-1-any.pkg.tar.zst")
                ),
                (
                    "1.1-1".to_string(),
                    t.0.join("lpa-hello-1.1-1-any.pkg.tar.zst")
                ),
            ]
        );
        assert!(cached_files(&t.0.join("missing"), "x").unwrap().is_empty());
    }

    #[test]
    fn offers_list_repository_versions_first_without_repeats() {
        let mut o = fixture_offers("lpa-hello");
        o.cached.push((
            "2.0-1".into(),
            PathBuf::from("/c/lpa-hello-2.0-1-any.pkg.tar.zst"),
        ));
        assert_eq!(o.versions(), ["2.0-1", "1.0-1", "1.1-1"]);
        assert!(Offers::default().versions().is_empty());
    }

    #[test]
    fn plan_takes_repository_then_cache() {
        let o = InstallOptions::default();
        let plan = plan_install(
            &[
                spec("lpa-hello", Some("1.0-1")),
                spec("lpa-lib", None),
                spec("lpa-tool", None),
            ],
            &o,
            &none_installed,
            &fixture_offers,
        )
        .unwrap();
        assert_eq!(
            plan.files,
            [PathBuf::from("/c/lpa-hello-1.0-1-any.pkg.tar.zst")]
        );
        // A name in no repository is still handed to -S (groups, provides): pacman decides.
        assert_eq!(plan.targets, ["lpa-lib", "lpa-tool"]);
        let plan = plan_install(
            &[spec("lpa-hello", Some("2.0-1"))],
            &o,
            &none_installed,
            &fixture_offers,
        )
        .unwrap();
        assert_eq!(plan.targets, ["lpa-hello"]);
        assert!(plan.files.is_empty());
    }

    #[test]
    fn plan_names_the_repository_of_a_second_entry() {
        let offers = |_: &str| Offers {
            sync: vec![entry("core", "x", "2-1"), entry("testing", "x", "3-1")],
            cached: Vec::new(),
        };
        let plan = plan_install(
            &[spec("x", Some("3-1"))],
            &InstallOptions::default(),
            &none_installed,
            &offers,
        )
        .unwrap();
        assert_eq!(plan.targets, ["testing/x"]);
    }

    #[test]
    fn plan_refuses_unknown_versions_and_names() {
        let o = InstallOptions::default();
        match plan_install(
            &[spec("lpa-hello", Some("9.9-1"))],
            &o,
            &none_installed,
            &fixture_offers,
        ) {
            Err(PkgError::VersionConflict(m)) => {
                assert!(
                    m.contains("9.9-1") && m.contains("2.0-1, 1.0-1, 1.1-1"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            plan_install(&[spec("nope", Some("1-1"))], &o, &none_installed, &fixture_offers),
            Err(PkgError::NotFound(n)) if n == "nope"
        ));
        // Installed but offered nowhere any more: the version, not the name, is the problem.
        let installed = |n: &str| (n == "gone").then(|| "1-1".to_string());
        assert!(matches!(
            plan_install(
                &[spec("gone", Some("2-1"))],
                &o,
                &installed,
                &fixture_offers
            ),
            Err(PkgError::VersionConflict(_))
        ));
    }

    #[test]
    fn plan_refuses_a_downgrade_unless_allowed() {
        let refuse = InstallOptions::default();
        match plan_install(
            &[spec("lpa-hello", Some("1.1-1"))],
            &refuse,
            &hello_2_installed,
            &fixture_offers,
        ) {
            Err(PkgError::VersionConflict(m)) => assert!(m.contains("allow_downgrade"), "{m}"),
            other => panic!("{other:?}"),
        }
        let allow = InstallOptions {
            allow_downgrade: true,
            ..refuse
        };
        let plan = plan_install(
            &[spec("lpa-hello", Some("1.1-1"))],
            &allow,
            &hello_2_installed,
            &fixture_offers,
        )
        .unwrap();
        assert_eq!(
            plan.files,
            [PathBuf::from("/c/lpa-hello-1.1-1-any.pkg.tar.zst")]
        );
        // `-S name` would downgrade silently when the installed version is newer than the
        // repository's.
        let newer = |n: &str| (n == "lpa-hello").then(|| "3.0-1".to_string());
        assert!(matches!(
            plan_install(&[spec("lpa-hello", None)], &refuse, &newer, &fixture_offers),
            Err(PkgError::VersionConflict(_))
        ));
        // Same version: not a downgrade (--needed skips it).
        assert!(plan_install(
            &[spec("lpa-hello", Some("2.0-1"))],
            &refuse,
            &hello_2_installed,
            &fixture_offers
        )
        .is_ok());
    }
}
