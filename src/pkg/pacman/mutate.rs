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
