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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::pacman::tests::{entry, TempRoot};

    #[test]
    fn save_copies_the_cached_file_or_falls_back_to_the_repository() {
        let t = TempRoot::new("save");
        let cache = t.0.join("cache");
        fs::create_dir_all(&cache).unwrap();
        let src = cache.join("lpa-hello-1.0-1-any.pkg.tar.zst");
        fs::write(&src, "package bytes").unwrap();
        let offer = Offers {
            sync: vec![entry("lpa", "lpa-hello", "2.0-1")],
            cached: vec![("1.0-1".into(), src)],
        };
        let dir = t.0.join("saved");
        let s = save_one("lpa-hello", "1.0-1", &offer, &dir)
            .unwrap()
            .unwrap();
        let file = s.file.unwrap();
        assert_eq!(file, dir.join("lpa-hello-1.0-1-any.pkg.tar.zst"));
        assert_eq!(fs::read_to_string(file).unwrap(), "package bytes");
        let s = save_one("lpa-hello", "2.0-1", &offer, &dir)
            .unwrap()
            .unwrap();
        assert_eq!((s.version.as_str(), s.file), ("2.0-1", None));
        assert!(save_one("lpa-hello", "1.1-1", &offer, &dir)
            .unwrap()
            .is_none());
    }
}
