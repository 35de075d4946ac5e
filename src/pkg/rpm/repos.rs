//! Which rpm-md repositories dnf and zypper have enabled, read from their `.repo` files,
//! and where each keeps the metadata it last fetched: what [`super::primary`] then reads
//! for the check before a job is accepted.
//!
//! Only enabled repositories count: a cache directory left by a removed or disabled
//! repository must not make a name look offered. Anything that narrows what the tool
//! offers and cannot be followed here (`exclude`, `includepkgs`, zypper's locks, modular
//! metadata, another configured directory) makes the answer `None`, so the tool is asked;
//! a repository whose metadata is not found is left out, which can only send a check to
//! the tool.

use std::path::{Path, PathBuf};

/// One `[section]` of an ini file as dnf and zypper read it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// The section name (the repository id or alias).
    pub name: String,
    /// `key=value` pairs, keys lowercase, continuation lines joined with a space.
    pub entries: Vec<(String, String)>,
}

impl Section {
    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The sections of an ini text (`#` and `;` comments, continuation lines indented).
pub fn parse_ini(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push(Section {
                name: name.trim().to_string(),
                entries: Vec::new(),
            });
            continue;
        }
        let Some(section) = out.last_mut() else {
            continue;
        };
        if raw.starts_with([' ', '\t']) {
            if let Some((_, v)) = section.entries.last_mut() {
                v.push(' ');
                v.push_str(line);
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let key = k.trim().to_ascii_lowercase();
            section.entries.push((key, v.trim().to_string()));
        }
    }
    out
}

/// A boolean as dnf and zypper spell it; `None` when it is none of the spellings.
pub fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Keys that narrow what a repository (or the whole tool) offers.
const FILTERS: [&str; 3] = ["exclude", "excludepkgs", "includepkgs"];

fn filtered(s: &Section) -> bool {
    FILTERS
        .iter()
        .any(|k| s.get(k).is_some_and(|v| !v.trim().is_empty()))
}

/// Every section of the `*.repo` files in `dirs` (files in name order); `None` when one
/// narrows its offers.
fn repo_sections(dirs: &[PathBuf]) -> Option<Vec<Section>> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "repo"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).ok()?;
            for s in parse_ini(&text) {
                if filtered(&s) {
                    return None;
                }
                out.push(s);
            }
        }
    }
    Some(out)
}

/// The repository directories (each holding `repodata/`) of what dnf has enabled under
/// `root`, from its metadata cache; `None` when the configuration narrows offers.
pub fn dnf_metadata_dirs(root: &Path) -> Option<Vec<PathBuf>> {
    let conf = std::fs::read_to_string(root.join("etc/dnf/dnf.conf")).unwrap_or_default();
    let sections = parse_ini(&conf);
    let mut cachedir = root.join("var/cache/dnf");
    let mut reposdir: Option<&str> = None;
    for s in &sections {
        // Repositories defined in dnf.conf itself, or a filter for all: ask dnf.
        if s.name != "main" || filtered(s) {
            return None;
        }
        if let Some(dir) = s.get("cachedir") {
            cachedir = root.join(dir.trim_start_matches('/'));
        }
        reposdir = s.get("reposdir").or(reposdir);
    }
    // The agent passes `reposdir=ROOT/etc/yum.repos.d` for another root; on `/` dnf reads
    // dnf.conf's `reposdir` or its default list.
    let dirs: Vec<PathBuf> = if root != Path::new("/") {
        vec![root.join("etc/yum.repos.d")]
    } else {
        let default = "/etc/yum.repos.d /etc/yum/repos.d /etc/distro.repos.d";
        reposdir
            .unwrap_or(default)
            .split([',', ' ', '\t'])
            .filter(|d| !d.is_empty())
            .map(|d| root.join(d.trim_start_matches('/')))
            .collect()
    };
    let mut out = Vec::new();
    for s in repo_sections(&dirs)? {
        if s.get("enabled").map_or(Some(true), boolean) != Some(true) {
            continue;
        }
        if let Some(dir) = dnf_cache_dir(&cachedir, &s) {
            out.push(dir);
        }
    }
    Some(out)
}

/// dnf's cache directory of one repository, `<id>-<first 16 hex digits of the SHA-256 of
/// its metalink, else mirrorlist, else first baseurl>` (libdnf's `Repo::getHash`). A URL
/// with a variable (`$releasever`) is matched by the one directory of that id, if only
/// one exists.
pub fn dnf_cache_dir(cachedir: &Path, repo: &Section) -> Option<PathBuf> {
    let id = &repo.name;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    let url = ["metalink", "mirrorlist"]
        .iter()
        .find_map(|k| repo.get(k).filter(|v| !v.is_empty()))
        .or_else(|| {
            repo.get("baseurl")
                .and_then(|v| v.split([',', ' ', '\t']).find(|u| !u.is_empty()))
        })
        .unwrap_or(id);
    let found = if url.contains('$') {
        only_dir_of(cachedir, id)?
    } else {
        let digest = ring::digest::digest(&ring::digest::SHA256, url.as_bytes());
        let hex: String = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        cachedir.join(format!("{id}-{hex}"))
    };
    found.join("repodata/repomd.xml").is_file().then_some(found)
}

/// The one `<id>-<16 hex>` directory in `cachedir`, if there is exactly one.
fn only_dir_of(cachedir: &Path, id: &str) -> Option<PathBuf> {
    let prefix = format!("{id}-");
    let mut found = std::fs::read_dir(cachedir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix(&prefix)
                .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .map(|e| e.path());
    let one = found.next()?;
    found.next().is_none().then_some(one)
}

/// zypp.conf keys that move what this reader looks at.
const ZYPP_MOVED: [&str; 4] = ["reposdir", "cachedir", "metadatadir", "solvfilesdir"];

/// The repository directories (each holding `repodata/`) of what zypper has enabled under
/// `root`: a local repository (`file:`/`dir:`) with autorefresh is read where it is, as
/// zypper reads it before each command; a remote one from zypper's raw cache. `None` when locks or a moved directory could make
/// zypper's answer differ.
pub fn zypper_metadata_dirs(root: &Path) -> Option<Vec<PathBuf>> {
    let conf = std::fs::read_to_string(root.join("etc/zypp/zypp.conf")).unwrap_or_default();
    if parse_ini(&conf)
        .iter()
        .any(|s| ZYPP_MOVED.iter().any(|k| s.get(k).is_some()))
    {
        return None;
    }
    let locks = std::fs::read_to_string(root.join("etc/zypp/locks")).unwrap_or_default();
    if locks
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    {
        return None;
    }
    let mut out = Vec::new();
    for s in repo_sections(&[root.join("etc/zypp/repos.d")])? {
        // zypper writes `enabled=` into every file it makes; without it, leave it out.
        if s.get("enabled").and_then(boolean) != Some(true) {
            continue;
        }
        if let Some(dir) = zypper_dir(root, &s) {
            out.push(dir);
        }
    }
    Some(out)
}

fn zypper_dir(root: &Path, repo: &Section) -> Option<PathBuf> {
    let alias = &repo.name;
    if alias.is_empty() || alias.contains('/') {
        return None;
    }
    if repo
        .get("type")
        .is_some_and(|t| !t.eq_ignore_ascii_case("rpm-md"))
    {
        return None;
    }
    if repo
        .get("path")
        .is_some_and(|p| !p.trim_matches('/').is_empty())
    {
        return None;
    }
    let url = repo
        .get("baseurl")
        .unwrap_or("")
        .split_whitespace()
        .next()?;
    let local = ["file:", "dir:"]
        .iter()
        .find_map(|s| url.strip_prefix(s))
        .filter(|_| !url.contains(['$', '?']));
    let dir = match local {
        Some(path) => {
            // Without autorefresh zypper keeps using what it read at its last refresh,
            // which the files in place may no longer be.
            if repo.get("autorefresh").and_then(boolean) != Some(true) {
                return None;
            }
            let path = path.trim_start_matches("//");
            path.starts_with('/')
                .then(|| root.join(path.trim_start_matches('/')))?
        }
        None => root.join("var/cache/zypp/raw").join(alias),
    };
    dir.join("repodata/repomd.xml").is_file().then_some(dir)
}

/// The files whose change means the offers of `dirs` changed: each `repomd.xml` (a new
/// package list is a new repomd, the list's own name carries its checksum).
pub fn stamped(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter().map(|d| d.join("repodata/repomd.xml")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-repos-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// The repo file of the sandbox fixtures (tests/sandbox/fixtures-rpm.sh).
    const LPA_REPO: &str = "[lpa]\nname=LPA fixtures\nbaseurl=file:///srv/lpa-rpm/repo\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\nautorefresh=1\ntype=rpm-md\nmetadata_expire=0\n";

    #[test]
    fn ini_sections_comments_and_continuations() {
        let s = parse_ini("# c\n[a]\nBaseURL = http://x/1\n  http://x/2\n;k=v\nenabled=0\n[b]\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].get("baseurl"), Some("http://x/1 http://x/2"));
        assert_eq!(s[0].get("enabled").and_then(boolean), Some(false));
        assert_eq!(s[1].name, "b");
    }

    #[test]
    fn dnf_cache_dir_is_named_by_the_url_hash() {
        // The sandbox's dnf made `lpa-99815d6036fb1038` for this repo file.
        let root = temp_root();
        let cache = root.join("var/cache/dnf");
        write(&cache, "lpa-99815d6036fb1038/repodata/repomd.xml", "x");
        write(&cache, "lpa-0123456789abcdef/repodata/repomd.xml", "x");
        let repo = &parse_ini(LPA_REPO)[0];
        assert_eq!(
            dnf_cache_dir(&cache, repo).unwrap(),
            cache.join("lpa-99815d6036fb1038")
        );
        // With a variable, the one directory of that id; two are ambiguous.
        let var = &parse_ini("[lpa]\nbaseurl=http://m/$releasever/\n")[0];
        assert_eq!(dnf_cache_dir(&cache, var), None);
        std::fs::remove_dir_all(cache.join("lpa-0123456789abcdef")).unwrap();
        assert_eq!(
            dnf_cache_dir(&cache, var).unwrap(),
            cache.join("lpa-99815d6036fb1038")
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn only_enabled_dnf_repositories_count() {
        let root = temp_root();
        write(&root, "etc/yum.repos.d/lpa.repo", LPA_REPO);
        write(
            &root,
            "var/cache/dnf/lpa-99815d6036fb1038/repodata/repomd.xml",
            "x",
        );
        // A stale cache of a repository no file names any more.
        write(
            &root,
            "var/cache/dnf/gone-99815d6036fb1038/repodata/repomd.xml",
            "x",
        );
        let dirs = dnf_metadata_dirs(&root).unwrap();
        assert_eq!(dirs, [root.join("var/cache/dnf/lpa-99815d6036fb1038")]);
        write(
            &root,
            "etc/yum.repos.d/lpa.repo",
            &LPA_REPO.replace("enabled=1", "enabled=0"),
        );
        assert!(dnf_metadata_dirs(&root).unwrap().is_empty());
        // A filter narrows the offers: dnf is asked.
        write(
            &root,
            "etc/yum.repos.d/lpa.repo",
            &format!("{LPA_REPO}excludepkgs=lpa-*\n"),
        );
        assert_eq!(dnf_metadata_dirs(&root), None);
        write(&root, "etc/yum.repos.d/lpa.repo", LPA_REPO);
        write(&root, "etc/dnf/dnf.conf", "[main]\nexclude=lpa-hello\n");
        assert_eq!(dnf_metadata_dirs(&root), None);
        write(&root, "etc/dnf/dnf.conf", "[main]\ncachedir=/var/tmp/dnf\n");
        assert!(dnf_metadata_dirs(&root).unwrap().is_empty());
        // Another root: only ROOT/etc/yum.repos.d (the agent passes it as reposdir).
        write(&root, "etc/dnf/dnf.conf", "[main]\nreposdir=/elsewhere\n");
        assert_eq!(dnf_metadata_dirs(&root).unwrap().len(), 1);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn zypper_reads_local_repositories_in_place_and_remote_ones_from_its_raw_cache() {
        let root = temp_root();
        write(&root, "etc/zypp/repos.d/lpa.repo", LPA_REPO);
        write(&root, "srv/lpa-rpm/repo/repodata/repomd.xml", "x");
        let remote = "[oss]\nenabled=1\nbaseurl=https://download.example/oss/\ntype=rpm-md\n";
        write(&root, "etc/zypp/repos.d/oss.repo", remote);
        assert_eq!(
            zypper_metadata_dirs(&root).unwrap(),
            [root.join("srv/lpa-rpm/repo")]
        );
        write(&root, "var/cache/zypp/raw/oss/repodata/repomd.xml", "x");
        // A raw cache of a disabled repository does not count.
        write(&root, "var/cache/zypp/raw/old/repodata/repomd.xml", "x");
        write(
            &root,
            "etc/zypp/repos.d/old.repo",
            &remote
                .replace("[oss]", "[old]")
                .replace("enabled=1", "enabled=0"),
        );
        assert_eq!(
            zypper_metadata_dirs(&root).unwrap(),
            [
                root.join("srv/lpa-rpm/repo"),
                root.join("var/cache/zypp/raw/oss")
            ]
        );
        // A local repository without autorefresh: zypper's view may be older than the files.
        let manual = LPA_REPO.replace("autorefresh=1", "autorefresh=0");
        write(&root, "etc/zypp/repos.d/lpa.repo", &manual);
        assert_eq!(
            zypper_metadata_dirs(&root).unwrap(),
            [root.join("var/cache/zypp/raw/oss")]
        );
        write(
            &root,
            "etc/zypp/locks",
            "type: package\nmatch_exact: 1\nsolvable_name: lpa-hello\n",
        );
        assert_eq!(zypper_metadata_dirs(&root), None);
        std::fs::remove_dir_all(root).unwrap();
    }
}
