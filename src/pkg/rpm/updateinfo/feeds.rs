//! Each cached updateinfo file as a feed on the advisory board: named after its repository
//! (`updateinfo fedora-updates`), with the records its last parse kept and skipped, or why
//! it could not be read. The patch list shows them beside the other backends' feeds.

use std::collections::HashSet;
use std::path::{Component, Path};

use crate::pkg::advisories::board::FeedBoard;

use super::CachedNotices;

/// Every board entry of this module starts with this.
pub const PREFIX: &str = "updateinfo ";

/// The feed name of a cached updateinfo file: its repository id, from dnf's cache
/// directory (`<repo id>-<16 hex digits>`) or yum's (`<repo>/gen/updateinfo.xml`).
/// `None` when the path is not in either layout.
pub fn repo_id(root: &Path, path: &Path, yum: bool) -> Option<String> {
    if yum {
        let repo = path.parent()?.parent()?.file_name()?.to_str()?;
        return Some(repo.to_string());
    }
    let inside = path.strip_prefix(root.join("var/cache/dnf")).ok()?;
    let Some(Component::Normal(dir)) = inside.components().next() else {
        return None;
    };
    let dir = dir.to_str()?;
    // dnf names the directory after the repository id and a hash of its URLs.
    let id = match dir.rsplit_once('-') {
        Some((id, hash))
            if !id.is_empty()
                && hash.len() == 16
                && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            id
        }
        _ => dir,
    };
    Some(id.to_string())
}

/// A unique feed name for each file of `paths`: `updateinfo <repo id>`, or the path
/// under the root when two files share a repository id (a stale cache directory).
pub fn feed_names(root: &Path, paths: &[std::path::PathBuf], yum: bool) -> Vec<String> {
    let mut used = HashSet::new();
    paths
        .iter()
        .map(|path| {
            let by_repo = repo_id(root, path, yum).map(|id| format!("{PREFIX}{id}"));
            let by_path = || {
                let rel = path.strip_prefix(root).unwrap_or(path);
                format!("{PREFIX}{}", rel.display())
            };
            let name = by_repo
                .filter(|n| !used.contains(n))
                .unwrap_or_else(by_path);
            used.insert(name.clone());
            name
        })
        .collect()
}

/// Records one read of the cache on `board`: every file read (records, skipped), every
/// file that could not be (its error), and forgets the updateinfo feeds no longer cached.
pub fn record(cached: &CachedNotices, board: &FeedBoard) {
    let mut current = HashSet::new();
    for r in &cached.reports {
        board.parsed(&r.feed, r.records, r.skipped);
        current.insert(r.feed.as_str());
    }
    for (feed, error) in &cached.failures {
        board.unusable(feed, error.clone());
        current.insert(feed.as_str());
    }
    board.forget(|name| name.starts_with(PREFIX) && !current.contains(name));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::report::ParseReport;
    use std::path::PathBuf;

    #[test]
    fn names_come_from_the_repository_directory() {
        let root = Path::new("/r");
        let dnf = |p: &str| repo_id(root, Path::new(p), false);
        assert_eq!(
            dnf("/r/var/cache/dnf/updates-testing-99815d6036fb1038/repodata/x-updateinfo.xml.zst")
                .as_deref(),
            Some("updates-testing")
        );
        assert_eq!(
            dnf("/r/var/cache/dnf/local/repodata/u.xml").as_deref(),
            Some("local")
        );
        assert_eq!(dnf("/elsewhere/u.xml"), None);
        let yum = repo_id(
            root,
            Path::new("/r/var/cache/yum/x86_64/7/base/gen/updateinfo.xml"),
            true,
        );
        assert_eq!(yum.as_deref(), Some("base"));
        // Two cache directories of one repository (its URL changed) stay apart.
        let paths: Vec<PathBuf> = [
            "/r/var/cache/dnf/lpa-99815d6036fb1038/repodata/u.xml",
            "/r/var/cache/dnf/lpa-0000000000000001/repodata/u.xml",
            "/r/somewhere/u.xml",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(
            feed_names(root, &paths, false),
            [
                "updateinfo lpa",
                "updateinfo var/cache/dnf/lpa-0000000000000001/repodata/u.xml",
                "updateinfo somewhere/u.xml",
            ]
        );
    }

    #[test]
    fn a_read_is_recorded_and_stale_files_forgotten() {
        let board = FeedBoard::default();
        board.register("alpine-secdb v3.20/main");
        board.parsed("updateinfo gone", 4, 0);
        let mut report = ParseReport::new("updateinfo lpa");
        report.kept();
        report.skip("LPA-BAD", "no <id>");
        let cached = CachedNotices {
            reports: vec![report],
            failures: vec![(
                "updateinfo broken".into(),
                "gzip: not in gzip format".into(),
            )],
            ..CachedNotices::default()
        };
        record(&cached, &board);
        let got: Vec<(String, usize, usize, Option<String>)> = board
            .snapshot()
            .into_iter()
            .map(|s| (s.name, s.records, s.skipped, s.error))
            .collect();
        assert_eq!(
            got,
            [
                ("alpine-secdb v3.20/main".to_string(), 0, 0, None),
                (
                    "updateinfo broken".into(),
                    0,
                    0,
                    Some("gzip: not in gzip format".into())
                ),
                ("updateinfo lpa".into(), 1, 1, None),
            ]
        );
    }
}
