//! Saving an installed version for rollback: a copy of its cached package file, or a note
//! that a repository still offers it. Separate because it is the rollback concern only.

use std::fs;
use std::path::Path;

use super::mutate::Offers;
use crate::pkg::{PkgError, SavedPackage};

pub(super) fn lookup<'a, T>(pairs: &'a [(String, T)], name: &str) -> Option<&'a T> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// Saves one installed version: a copy of its cached package file in `dir`, else `file:
/// None` when a repository still offers that version, else nothing.
pub(super) fn save_one(
    name: &str,
    version: &str,
    offer: &Offers,
    dir: &Path,
) -> Result<Option<SavedPackage>, PkgError> {
    let saved = |file| SavedPackage {
        name: name.to_string(),
        version: version.to_string(),
        file,
    };
    if let Some((_, src)) = offer.cached.iter().find(|(v, _)| v == version) {
        let Some(file_name) = src.file_name() else {
            return Ok(None);
        };
        let dest = dir.join(file_name);
        fs::create_dir_all(dir)
            .and_then(|()| crate::fsutil::copy_atomic(src, &dest))
            .map_err(|error| PkgError::Io {
                what: format!("copying {} to {}", src.display(), dest.display()),
                error,
            })?;
        return Ok(Some(saved(Some(dest))));
    }
    if offer.sync.iter().any(|e| e.version == version) {
        return Ok(Some(saved(None)));
    }
    Ok(None)
}
