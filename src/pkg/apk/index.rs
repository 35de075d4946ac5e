//! What apk's repositories offer, read from their `APKINDEX.tar.gz` (concatenated gzip
//! streams: the signature, then a tar holding the `APKINDEX` text, `P:` name and `V:`
//! version per package, a blank line between packages) for the check before a job is
//! accepted.
//!
//! Which file holds a repository's index (apk-tools 2.14 `apk_db_add_repository`, 3.0
//! `add_repository_component`): a local repository (a path) is read in place at
//! `<repo>/<arch>/APKINDEX.tar.gz`; a remote one from apk's cache (`etc/apk/cache`, else
//! `var/cache/apk`) as `APKINDEX.<8 hex digits>.tar.gz`, the digits the start of the SHA-1
//! (apk 2) or SHA-256 (apk 3) of that index URL. Tagged repositories (`@tag ...`) are
//! left out (apk installs from them only when asked by tag), so are an index signed by a
//! key apk does not trust (unless untrusted repositories are allowed), and any line or
//! file not understood: each of those can only send a check to apk itself.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::pkg::offers::{offer, Offers};
use crate::pkg::tar::for_each_entry;

/// Where apk keeps the indexes of remote repositories, in the order it looks.
const CACHE_DIRS: [&str; 2] = ["etc/apk/cache", "var/cache/apk"];

/// The index files of the repositories `/etc/apk/repositories` under `root` lists, those
/// that exist; `None` when the root has no repository list or architecture.
pub fn index_files(root: &Path) -> Option<Vec<PathBuf>> {
    let arch = std::fs::read_to_string(root.join("etc/apk/arch")).ok()?;
    let arch = arch.lines().next()?.trim().to_string();
    let list = std::fs::read_to_string(root.join("etc/apk/repositories")).ok()?;
    if arch.is_empty() || arch.contains('/') {
        return None;
    }
    let mut out = Vec::new();
    for line in list.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        if let Some(file) = index_of(root, line, &arch) {
            if !out.contains(&file) {
                out.push(file);
            }
        }
    }
    Some(out)
}

/// The index file of one repository line, if it exists.
fn index_of(root: &Path, line: &str, arch: &str) -> Option<PathBuf> {
    if line.contains(char::is_whitespace) || line.ends_with(".adb") {
        return None;
    }
    let local = line.strip_prefix("file://").unwrap_or(line);
    let file = if local.starts_with('/') {
        let rel = local.trim_start_matches('/');
        root.join(rel).join(arch).join("APKINDEX.tar.gz")
    } else if line.contains("://") {
        cached_index(root, &format!("{line}/{arch}/APKINDEX.tar.gz"))?
    } else {
        return None;
    };
    file.is_file().then_some(file)
}

/// apk's cached copy of the remote index at `url`.
fn cached_index(root: &Path, url: &str) -> Option<PathBuf> {
    let names = [
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &ring::digest::SHA256,
    ]
    .map(|alg| {
        let d = ring::digest::digest(alg, url.as_bytes());
        let hex: String = d.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("APKINDEX.{hex}.tar.gz")
    });
    CACHE_DIRS
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.is_dir())
        .and_then(|dir| names.iter().map(|n| dir.join(n)).find(|p| p.is_file()))
}

/// Adds every package of the index `path` to `offers`; with `keys`, the index must be
/// signed by a key file in that directory (as apk requires), else it is an error.
pub fn read_index(path: &Path, keys: Option<&Path>, offers: &mut Offers) -> io::Result<()> {
    let file = BufReader::with_capacity(64 * 1024, File::open(path)?);
    read_index_from(file, keys, offers)
}

/// [`read_index`] of an index already open (`APKINDEX.tar.gz` bytes).
pub fn read_index_from(
    input: impl Read,
    keys: Option<&Path>,
    offers: &mut Offers,
) -> io::Result<()> {
    let mut signer: Option<String> = None;
    let mut found = false;
    for_each_entry(MultiGzDecoder::new(input), |name, body| {
        if let Some(rest) = name.strip_prefix(".SIGN.") {
            // `.SIGN.RSA.<key file>` (or RSA256, RSA512): the key file's name follows.
            signer = rest.split_once('.').map(|(_, key)| key.to_string());
        } else if name == "APKINDEX" {
            if let Some(dir) = keys {
                let trusted = signer
                    .as_deref()
                    .is_some_and(|k| !k.contains('/') && dir.join(k).is_file());
                if !trusted {
                    return Err(invalid("not signed by a key in /etc/apk/keys"));
                }
            }
            found = true;
            read_text(body, offers)?;
        }
        Ok(())
    })?;
    if found {
        Ok(())
    } else {
        Err(invalid("no APKINDEX in the archive"))
    }
}

/// The `P:`/`V:` pairs of an `APKINDEX` text.
fn read_text(body: &mut dyn Read, offers: &mut Offers) -> io::Result<()> {
    let mut name: Option<String> = None;
    let mut version: Option<String> = None;
    for line in BufReader::new(body).lines() {
        let line = line?;
        if line.is_empty() {
            if let (Some(n), Some(v)) = (name.take(), version.take()) {
                offer(offers, &n, v);
            }
        } else if let Some(n) = line.strip_prefix("P:") {
            name = Some(n.to_string());
        } else if let Some(v) = line.strip_prefix("V:") {
            version = Some(v.to_string());
        }
    }
    if let (Some(n), Some(v)) = (name, version) {
        offer(offers, &n, v);
    }
    Ok(())
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads every index in `files`, leaving out one that cannot be read or trusted (logged):
/// its packages are then only not known here.
pub fn offers_of(files: &[PathBuf], keys: Option<&Path>) -> Offers {
    let mut offers = Offers::new();
    for f in files {
        if let Err(e) = read_index(f, keys, &mut offers) {
            log::debug!("{}: {e}; apk is asked for its packages", f.display());
        }
    }
    offers
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/apk/index");

    fn temp_root() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-apkindex-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(root: &Path, rel: &str, bytes: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    fn recorded(which: &str) -> Vec<u8> {
        std::fs::read(Path::new(DATA).join(which).join("APKINDEX.tar.gz")).unwrap()
    }

    #[test]
    fn recorded_signed_index_lists_every_fixture_version() {
        let keys = temp_root();
        let signed = Path::new(DATA).join("signed/APKINDEX.tar.gz");
        // Signed by the fixtures' key: trusted only with that key file present.
        assert!(read_index(&signed, Some(&keys), &mut Offers::new()).is_err());
        write(&keys, "lpa-fixtures.rsa.pub", b"key");
        let mut offers = Offers::new();
        read_index(&signed, Some(&keys), &mut offers).unwrap();
        assert_eq!(offers["lpa-hello"], ["1.0-r0", "1.1-r0", "2.0-r0"]);
        assert_eq!(offers["lpa-lib"], ["1.0-r0", "1.1-r0"]);
        assert!(!offers.contains_key("lpa-absent"));
        std::fs::remove_dir_all(keys).unwrap();
    }

    #[test]
    fn unsigned_index_only_when_untrusted_repositories_are_allowed() {
        let unsigned = Path::new(DATA).join("unsigned/APKINDEX.tar.gz");
        let keys = temp_root();
        assert!(read_index(&unsigned, Some(&keys), &mut Offers::new()).is_err());
        let mut offers = Offers::new();
        read_index(&unsigned, None, &mut offers).unwrap();
        assert_eq!(offers["lpa-hello"], ["1.0-r0", "1.1-r0", "2.0-r0"]);
        let whole = recorded("unsigned");
        let cut = keys.join("cut.tar.gz");
        std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        assert!(read_index(&cut, None, &mut Offers::new()).is_err());
        std::fs::remove_dir_all(keys).unwrap();
    }

    #[test]
    fn repository_lines_local_tagged_remote_and_unknown() {
        let root = temp_root();
        write(&root, "etc/apk/arch", b"x86_64\n");
        write(&root, "srv/a/x86_64/APKINDEX.tar.gz", &recorded("unsigned"));
        write(&root, "srv/b/x86_64/APKINDEX.tar.gz", &recorded("unsigned"));
        // apk 2's cache name for this URL: SHA-1 of the index URL, first 4 bytes.
        let url = "https://dl.example/alpine/v3.20/main/x86_64/APKINDEX.tar.gz";
        let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, url.as_bytes());
        let hex: String = d.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        write(&root, &format!("var/cache/apk/APKINDEX.{hex}.tar.gz"), b"x");
        write(
            &root,
            "etc/apk/repositories",
            b"# comment\n/srv/a\n@edge /srv/b\nfile:///srv/a\nhttps://dl.example/alpine/v3.20/main\nhttps://dl.example/alpine/v3.20/community\n/srv/missing\n",
        );
        assert_eq!(
            index_files(&root).unwrap(),
            [
                root.join("srv/a/x86_64/APKINDEX.tar.gz"),
                root.join(format!("var/cache/apk/APKINDEX.{hex}.tar.gz"))
            ]
        );
        std::fs::remove_file(root.join("etc/apk/arch")).unwrap();
        assert_eq!(index_files(&root), None);
        std::fs::remove_dir_all(root).unwrap();
    }
}
