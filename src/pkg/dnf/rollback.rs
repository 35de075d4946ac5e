//! Finding a saved version for rollback: an rpm of that name and version in a directory or
//! the tool's package cache. Separate because it is the rollback concern only.

use std::path::{Path, PathBuf};

use crate::pkg::PkgError;

/// A saved `name-V-R.ARCH.rpm` in `dir` (file names carry no epoch).
pub(super) fn find_rpm(dir: &Path, name: &str, version: &str) -> Option<PathBuf> {
    let prefix = format!("{name}-{}.", without_epoch(version));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|f| f.to_str()).is_some_and(|f| {
                f.starts_with(&prefix)
                    && f.ends_with(".rpm")
                    && !f[prefix.len()..f.len() - 4].contains('-')
            })
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

pub(super) fn without_epoch(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, v)| v)
}

/// Copies a package from dnf's own cache (`keepcache=1` keeps what it installed) under the
/// managed root into `dir`.
pub(super) fn copy_from_cache(
    root: &Path,
    name: &str,
    version: &str,
    dir: &Path,
) -> Result<Option<PathBuf>, PkgError> {
    let cache = root.join("var/cache/dnf");
    let Ok(repos) = std::fs::read_dir(&cache) else {
        return Ok(None);
    };
    for repo in repos.filter_map(Result::ok) {
        let Some(found) = find_rpm(&repo.path().join("packages"), name, version) else {
            continue;
        };
        let Some(file_name) = found.file_name() else {
            continue;
        };
        let target = dir.join(file_name);
        crate::fsutil::copy_atomic(&found, &target).map_err(|error| PkgError::Io {
            what: format!("copying {} to {}", found.display(), target.display()),
            error,
        })?;
        return Ok(Some(target));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_files_are_found_by_name_and_version() {
        let dir = std::env::temp_dir().join(format!("lpa-dnf-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "lpa-hello-1.0-1.noarch.rpm",
            "lpa-hello-libs-1.0-1.noarch.rpm",
            "lpa-x-2-3.x86_64.rpm",
        ] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let hello = find_rpm(&dir, "lpa-hello", "1.0-1");
        let x = find_rpm(&dir, "lpa-x", "1:2-3");
        let none = find_rpm(&dir, "lpa-hello", "1.1-1");
        let libs = find_rpm(&dir, "lpa-hello-libs", "1.0-1");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(hello, Some(dir.join("lpa-hello-1.0-1.noarch.rpm")));
        assert_eq!(x, Some(dir.join("lpa-x-2-3.x86_64.rpm")));
        assert_eq!(none, None);
        assert_eq!(libs, Some(dir.join("lpa-hello-libs-1.0-1.noarch.rpm")));
    }
}
