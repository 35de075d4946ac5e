//! The updateinfo files of dnf's and yum's metadata cache under the managed root, read
//! as a stream (decompressed by the system's tool where needed).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::pkg::xml::tree;
use crate::pkg::BackendSettings;

use super::notice::Notice;
use super::stream::parse_reader;
use super::{feeds, piped, ParseReport};

/// The updateinfo files of dnf's (or yum's) metadata cache under `root`, oldest first so
/// that a newer copy of the same advisory wins.
pub fn cached_files(root: &Path, yum: bool) -> Vec<PathBuf> {
    let mut found: Vec<(Option<std::time::SystemTime>, PathBuf)> = Vec::new();
    if yum {
        find_yum_gen(&root.join("var/cache/yum"), 0, &mut found);
    } else if let Ok(dirs) = std::fs::read_dir(root.join("var/cache/dnf")) {
        for dir in dirs.filter_map(Result::ok).map(|d| d.path()) {
            let repomd = dir.join("repodata/repomd.xml");
            let Ok(text) = std::fs::read_to_string(&repomd) else {
                continue;
            };
            if let Some(href) = repomd_updateinfo(&text) {
                found.push((mtime(&repomd), dir.join(href)));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// yum 3 keeps `<cachedir>/<basearch>/<releasever>/<repo>/gen/updateinfo.xml`.
fn find_yum_gen(
    dir: &Path,
    depth: usize,
    found: &mut Vec<(Option<std::time::SystemTime>, PathBuf)>,
) {
    let candidate = dir.join("gen/updateinfo.xml");
    if candidate.is_file() {
        found.push((mtime(&candidate), candidate));
    }
    if depth >= 4 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            find_yum_gen(&e.path(), depth + 1, found);
        }
    }
}

/// The system tool that decompresses `path`, by its suffix; `None` for plain XML.
pub fn decompressor(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    [
        (".gz", "gzip"),
        (".xz", "xz"),
        (".bz2", "bzip2"),
        (".zst", "zstd"),
    ]
    .into_iter()
    .find(|(suffix, _)| name.ends_with(suffix))
    .map(|(_, tool)| tool)
}

/// Streams one updateinfo file through [`parse_reader`], decompressing with the system
/// tool where needed; `keep` gets every usable notice, the report is named `feed`.
pub fn read_file(
    path: &Path,
    feed: &str,
    timeout: Duration,
    keep: impl FnMut(Notice),
) -> Result<ParseReport, String> {
    let Some(tool) = decompressor(path) else {
        let file = File::open(path).map_err(|e| e.to_string())?;
        return parse_reader(BufReader::with_capacity(64 * 1024, file), feed, keep)
            .map_err(|e| e.to_string());
    };
    let mut piped = piped::decompress(tool, path, timeout)?;
    let parsed = match piped.output() {
        Some(out) => parse_reader(out, feed, keep).map_err(|e| e.to_string()),
        None => Err("no output pipe".to_string()),
    };
    // A decompressor failure (corrupt or cut file) is the cause to report, before the
    // XML error it led to.
    let finished = piped.finish();
    finished.and(parsed)
}

/// The notices of dnf's (or yum's) cache that the caller asked for, with the parse report
/// of every file read.
#[derive(Debug, Default)]
pub struct CachedNotices {
    /// Notices by id (a later file wins).
    pub notices: HashMap<String, Notice>,
    /// One report per file that could be read, named by [`feeds::feed_names`].
    pub reports: Vec<ParseReport>,
    /// `(feed name, error)` of every file that could not be read.
    pub failures: Vec<(String, String)>,
}

/// Every cached notice whose id `wanted` accepts (dnf lists the few that apply here; a
/// Fedora file holds thousands), by id, later files winning. Unreadable files are logged
/// and skipped: their advisories still list from dnf's own output.
pub fn cached_notices(
    settings: &BackendSettings,
    yum: bool,
    wanted: impl Fn(&str) -> bool,
) -> CachedNotices {
    let mut out = CachedNotices::default();
    let paths = cached_files(&settings.root, yum);
    let names = feeds::feed_names(&settings.root, &paths, yum);
    for (path, feed) in paths.iter().zip(names) {
        let notices = &mut out.notices;
        let keep = |n: Notice| {
            if wanted(&n.id) {
                notices.insert(n.id.clone(), n);
            }
        };
        match read_file(path, &feed, settings.command_timeout, keep) {
            Ok(report) => out.reports.push(report),
            Err(e) => {
                log::warn!(
                    "{feed} ({}): {e}; reboot_suggested and issued dates of its advisories are unknown",
                    path.display()
                );
                out.failures.push((feed, e));
            }
        }
    }
    out
}

/// The `updateinfo` location (`repodata/...`) named by a `repomd.xml` (a few KB: read as
/// a small tree).
pub fn repomd_updateinfo(text: &str) -> Option<String> {
    let doc = tree::parse(text).ok()?;
    let data = doc
        .descendants("data")
        .find(|d| d.attr("type") == Some("updateinfo"))?;
    data.child("location")?.attr("href").map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = include_str!("../../../../tests/data/dnf/dnf-cache-updateinfo.xml");
    const REPOMD: &str = include_str!("../../../../tests/data/dnf/dnf-cache-repomd.xml");

    #[test]
    fn repomd_recorded() {
        assert_eq!(
            repomd_updateinfo(REPOMD).unwrap(),
            "repodata/7a903adb79f1e36715811b14cc705c27d24bce18597a093515b6bf64886704a8-updateinfo.xml"
        );
        assert_eq!(
            repomd_updateinfo("<repomd><data type='primary'/></repomd>"),
            None
        );
        assert_eq!(repomd_updateinfo("<repomd"), None);
    }

    #[test]
    fn cached_notices_are_streamed_from_compressed_files_and_filtered() {
        let root = std::env::temp_dir().join(format!("lpa-ui-notices-{}", std::process::id()));
        let repo = root.join("var/cache/dnf/lpa-99815d6036fb1038");
        let href = repomd_updateinfo(REPOMD).unwrap();
        let plain = repo.join(&href);
        std::fs::create_dir_all(plain.parent().unwrap()).unwrap();
        std::fs::write(&plain, XML).unwrap();
        let gz = std::process::Command::new("gzip")
            .arg("--")
            .arg(&plain)
            .status()
            .unwrap();
        assert!(gz.success());
        // repomd names the compressed file, as createrepo_c writes it.
        let repomd = REPOMD.replace(&href, &format!("{href}.gz"));
        std::fs::write(repo.join("repodata/repomd.xml"), repomd).unwrap();
        let settings = BackendSettings {
            root: root.clone(),
            command_timeout: Duration::from_secs(60),
            lock_wait: Duration::from_secs(1),
        };
        let got = cached_notices(&settings, false, |id| id != "LPA-2026-0002");
        let mut ids: Vec<&String> = got.notices.keys().collect();
        ids.sort();
        assert_eq!(ids, ["LPA-2026-0001", "LPA-2026-0003"]);
        assert!(got.notices["LPA-2026-0003"].reboot_suggested);
        assert_eq!(got.reports.len(), 1);
        assert_eq!((got.reports[0].records, got.reports[0].skipped), (3, 0));
        assert_eq!(got.reports[0].feed, "updateinfo lpa");
        // A corrupt compressed file costs its notices, with a warning, not the listing.
        std::fs::write(repo.join(format!("{href}.gz")), "not gzip").unwrap();
        let broken = cached_notices(&settings, false, |_| true);
        std::fs::remove_dir_all(&root).unwrap();
        assert!(broken.notices.is_empty() && broken.reports.is_empty());
        assert_eq!(broken.failures.len(), 1);
        assert_eq!(broken.failures[0].0, "updateinfo lpa");
    }

    #[test]
    fn decompressors_by_suffix() {
        assert_eq!(
            decompressor(Path::new("/c/x-updateinfo.xml.gz")),
            Some("gzip")
        );
        assert_eq!(
            decompressor(Path::new("/c/x-updateinfo.xml.zst")),
            Some("zstd")
        );
        assert_eq!(
            decompressor(Path::new("/c/x-updateinfo.xml.bz2")),
            Some("bzip2")
        );
        assert_eq!(
            decompressor(Path::new("/c/x-updateinfo.xml.xz")),
            Some("xz")
        );
        assert_eq!(decompressor(Path::new("/c/x-updateinfo.xml")), None);
    }

    #[test]
    fn cache_is_found_under_the_root() {
        let root = std::env::temp_dir().join(format!("lpa-ui-cache-{}", std::process::id()));
        let repo = root.join("var/cache/dnf/lpa-99815d6036fb1038/repodata");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("repomd.xml"), REPOMD).unwrap();
        let files = cached_files(&root, false);
        let yum_gen = root.join("var/cache/yum/x86_64/7/updates/gen");
        std::fs::create_dir_all(&yum_gen).unwrap();
        std::fs::write(yum_gen.join("updateinfo.xml"), XML).unwrap();
        let yum_files = cached_files(&root, true);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            files,
            [root.join("var/cache/dnf/lpa-99815d6036fb1038/repodata/7a903adb79f1e36715811b14cc705c27d24bce18597a093515b6bf64886704a8-updateinfo.xml")]
        );
        assert_eq!(yum_files, [yum_gen.join("updateinfo.xml")]);
    }
}
