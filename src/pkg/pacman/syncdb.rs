//! What the sync databases offer, read from the files themselves (`sync/REPO.db`, a gzip'd
//! tar with one `NAME-VERSION/` directory per package) and kept until one of them changes:
//! the check of a job's request then starts no `pacman -Si`, which costs about as much as
//! a small install. Any database this cannot read (another compression, a damaged file)
//! makes the caller ask pacman instead.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use flate2::read::MultiGzDecoder;

use crate::pkg::tar::for_each_entry;
use crate::watch::{stamps_of, FileStamp};

/// Versions on offer by name, and the database stamps they were read under.
struct Index {
    stamps: Vec<Option<FileStamp>>,
    versions: HashMap<String, Vec<String>>,
}

/// The sync databases' offers, shared by clones of the backend.
#[derive(Clone, Default)]
pub struct SyncIndex {
    last: Arc<Mutex<Option<Index>>>,
}

impl std::fmt::Debug for SyncIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncIndex")
    }
}

impl SyncIndex {
    /// Every version the repositories `repos` (in `sync_dir`) offer of `name`, in
    /// repository order; `None` when a database cannot be read here (then ask pacman).
    pub fn versions(&self, sync_dir: &Path, repos: &[String], name: &str) -> Option<Vec<String>> {
        let files: Vec<PathBuf> = repos
            .iter()
            .map(|r| sync_dir.join(format!("{r}.db")))
            .collect();
        // Stamped before reading: a database replaced meanwhile is read again next time.
        let stamps = stamps_of(&files);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = last.as_ref().is_some_and(|i| i.stamps == stamps);
        if !fresh {
            *last = None;
            let mut versions: HashMap<String, Vec<String>> = HashMap::new();
            for file in &files {
                for (n, v) in read_db(file).ok()? {
                    let list = versions.entry(n).or_default();
                    if !list.contains(&v) {
                        list.push(v);
                    }
                }
            }
            *last = Some(Index { stamps, versions });
        }
        let index = last.as_ref()?;
        Some(index.versions.get(name).cloned().unwrap_or_default())
    }
}

/// The repositories a `pacman.conf` enables, in its order (every `[section]` but
/// `[options]`); `None` when an `Include` outside a repository section may add more.
pub fn repositories(conf: &str) -> Option<Vec<String>> {
    let mut repos = Vec::new();
    let mut in_repo = false;
    for line in conf.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            in_repo = section != "options";
            if in_repo && !section.is_empty() {
                repos.push(section.to_string());
            }
        } else if !in_repo && line.starts_with("Include") {
            return None;
        }
    }
    Some(repos)
}

/// The `(name, version)` of every package directory in one sync database file.
pub fn read_db(path: &Path) -> io::Result<Vec<(String, String)>> {
    let file = std::fs::File::open(path)?;
    let mut magic = [0u8; 2];
    let mut probe = BufReader::new(file);
    probe.read_exact(&mut magic)?;
    if magic != [0x1f, 0x8b] {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not gzip-compressed",
        ));
    }
    let file = std::fs::File::open(path)?;
    let mut entries = package_dirs(MultiGzDecoder::new(BufReader::new(file)))?;
    entries.sort();
    entries.dedup();
    Ok(entries
        .iter()
        .filter_map(|d| split_dir(d))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect())
}

/// `NAME-[EPOCH:]VER-REL` into the name and `[EPOCH:]VER-REL` (neither pkgver nor pkgrel
/// may hold a `-`, so the last two dashes split it).
pub fn split_dir(dir: &str) -> Option<(&str, &str)> {
    let rel = dir.rfind('-')?;
    let ver = dir[..rel].rfind('-')?;
    let whole = !dir[..ver].is_empty() && rel > ver + 1 && rel + 1 < dir.len();
    whole.then(|| (&dir[..ver], &dir[ver + 1..]))
}

/// The first path component of every entry of a tar stream.
fn package_dirs(tar: impl Read) -> io::Result<Vec<String>> {
    let mut dirs = Vec::new();
    for_each_entry(tar, |path, _| {
        if let Some(first) = path.split('/').find(|c| !c.is_empty() && *c != ".") {
            dirs.push(first.to_string());
        }
        Ok(())
    })?;
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::tar::BLOCK;
    use std::io::Write;

    fn header(path: &str, size: usize, kind: u8) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..path.len()].copy_from_slice(path.as_bytes());
        let size = format!("{size:011o}\0");
        h[124..136].copy_from_slice(size.as_bytes());
        h[156] = kind;
        h[257..262].copy_from_slice(b"ustar");
        h
    }

    fn entry(tar: &mut Vec<u8>, path: &str, data: &[u8], kind: u8) {
        tar.extend_from_slice(&header(path, data.len(), kind));
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn temp_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-syncdb-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A sync database as repo-add writes it: a directory and a desc file per package,
    /// one of them behind a pax header with a long path.
    fn db(packages: &[&str]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (i, p) in packages.iter().enumerate() {
            if i == 0 {
                let rec = format!("path={p}/desc\n");
                let rec = format!("{} {rec}", rec.len() + 3);
                entry(&mut tar, "PaxHeader/x", rec.as_bytes(), b'x');
                entry(&mut tar, "truncated-name", b"%NAME%\n", b'0');
                continue;
            }
            entry(&mut tar, &format!("{p}/"), b"", b'5');
            entry(&mut tar, &format!("{p}/desc"), b"%NAME%\nx\n", b'0');
        }
        tar.extend_from_slice(&[0u8; 2 * BLOCK]);
        gz(&tar)
    }

    #[test]
    fn package_directories_split_into_name_and_version() {
        assert_eq!(split_dir("lpa-hello-2.0-1"), Some(("lpa-hello", "2.0-1")));
        assert_eq!(split_dir("lib32-x-1:2.3-4"), Some(("lib32-x", "1:2.3-4")));
        assert_eq!(split_dir("a-1-1"), Some(("a", "1-1")));
        assert_eq!(split_dir("nodash"), None);
        assert_eq!(split_dir("-1-1"), None);
    }

    #[test]
    fn repositories_in_config_order_without_options() {
        let conf = "[options]\nArchitecture = auto\n\n[core]\nInclude = /etc/pacman.d/mirrorlist\n#[testing]\n[lpa]\nServer = file:///srv\n";
        assert_eq!(repositories(conf).unwrap(), ["core", "lpa"]);
        // Repositories may come from an included file: then pacman is asked.
        assert_eq!(
            repositories("[options]\nInclude = /etc/pacman.d/repos.conf\n"),
            None
        );
    }

    #[test]
    fn versions_come_from_the_databases_and_are_read_again_after_a_change() {
        let dir = temp_dir();
        let repos = vec!["core".to_string(), "lpa".to_string()];
        std::fs::write(dir.join("core.db"), db(&["lpa-hello-1.0-1", "bash-5.2-1"])).unwrap();
        std::fs::write(
            dir.join("lpa.db"),
            db(&["lpa-lib-1.1-1", "lpa-hello-2.0-1"]),
        )
        .unwrap();
        let index = SyncIndex::default();
        assert_eq!(
            index.versions(&dir, &repos, "lpa-hello").unwrap(),
            ["1.0-1", "2.0-1"]
        );
        assert_eq!(index.versions(&dir, &repos, "bash").unwrap(), ["5.2-1"]);
        assert!(index.versions(&dir, &repos, "ghost").unwrap().is_empty());
        // A new database (pacman -Sy) is read again.
        std::fs::write(
            dir.join("lpa.db"),
            db(&["lpa-lib-1.1-1", "lpa-hello-3.0-1"]),
        )
        .unwrap();
        assert_eq!(
            index.versions(&dir, &repos, "lpa-hello").unwrap(),
            ["1.0-1", "3.0-1"]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unreadable_database_means_asking_pacman() {
        let dir = temp_dir();
        let repos = vec!["core".to_string()];
        // zstd-compressed (another magic number), then missing, then truncated.
        std::fs::write(dir.join("core.db"), [0x28, 0xb5, 0x2f, 0xfd, 0, 0]).unwrap();
        let index = SyncIndex::default();
        assert_eq!(index.versions(&dir, &repos, "lpa-hello"), None);
        std::fs::remove_file(dir.join("core.db")).unwrap();
        assert_eq!(index.versions(&dir, &repos, "lpa-hello"), None);
        let whole = db(&["lpa-hello-1.0-1"]);
        std::fs::write(dir.join("core.db"), &whole[..whole.len() / 2]).unwrap();
        assert_eq!(index.versions(&dir, &repos, "lpa-hello"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
