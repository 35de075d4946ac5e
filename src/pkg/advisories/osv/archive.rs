//! Reading OSV records: an `all.zip` archive as OSV.dev publishes it, a directory of
//! `.json` records (a mirror or a checkout of a distribution's repository), or one record.
//!
//! The archive is read entry by entry from its file (never whole into memory); each entry
//! is read up to [`ENTRY_LIMIT`] and parsed alone, and only records naming the host's
//! release are kept. A bad entry (too big, unreadable, not a record) is skipped and
//! counted in the [`ParseReport`]; only an archive or directory that cannot be opened at
//! all is an error.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use zip::ZipArchive;

use super::super::report::ParseReport;
use super::ecosystem::HostEcosystem;
use super::index::OsvIndex;
use super::inflate::{read_limited, EntryHeader, Inflater};

/// The largest record read (bytes); the biggest published USN/kernel CVE records are a few
/// hundred KiB.
pub const ENTRY_LIMIT: u64 = 4 << 20;

/// How deep a record directory is walked (the Ubuntu repository nests `osv/cve/2025/`).
const MAX_DEPTH: usize = 8;

/// Why a source of records could not be read at all.
#[derive(Debug)]
pub enum OsvError {
    /// The file or directory could not be opened or listed.
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The file is not a readable zip archive.
    Archive {
        /// The path.
        path: PathBuf,
        /// What the zip reader said.
        message: String,
    },
    /// A single-record file (not an archive or directory) is not a usable record.
    Record {
        /// The path.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl fmt::Display for OsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OsvError::Io { path, error } => write!(f, "OSV feed {}: {error}", path.display()),
            OsvError::Archive { path, message } => {
                write!(
                    f,
                    "OSV feed {}: not a readable zip archive: {message}",
                    path.display()
                )
            }
            OsvError::Record { path, message } => {
                write!(
                    f,
                    "OSV feed {}: not an OSV record: {message}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for OsvError {}

impl From<OsvError> for crate::pkg::PkgError {
    fn from(e: OsvError) -> Self {
        let path = match &e {
            OsvError::Io { path, .. }
            | OsvError::Archive { path, .. }
            | OsvError::Record { path, .. } => path.clone(),
        };
        super::super::cache::unreadable(&path, e.to_string())
    }
}

/// The records of `host`'s release from `path`: a directory (walked), a zip archive
/// (recognised by its signature, whatever its name) or one `.json` record.
pub fn load(path: &Path, host: &HostEcosystem) -> Result<(OsvIndex, ParseReport), OsvError> {
    let meta = std::fs::metadata(path).map_err(|error| io(path, error))?;
    if meta.is_dir() {
        return load_dir(path, host);
    }
    if !meta.is_file() {
        // Opening a FIFO would wait for a writer: refuse anything but a regular file.
        return Err(record_err(path, "not a regular file or directory".into()));
    }
    if is_zip(path)? {
        return load_archive(path, host);
    }
    load_record(path, host)
}

/// The records of `host`'s release in a zip archive, read entry by entry.
pub fn load_archive(
    path: &Path,
    host: &HostEcosystem,
) -> Result<(OsvIndex, ParseReport), OsvError> {
    let file = File::open(path).map_err(|error| io(path, error))?;
    let mut zip =
        ZipArchive::new(BufReader::with_capacity(1 << 16, file)).map_err(|e| archive(path, e))?;
    let mut report = ParseReport::new(host.feed_name());
    let mut index = OsvIndex::default();
    let mut inflater = Inflater::new(ENTRY_LIMIT);
    let mut buf = Vec::new();
    for i in 0..zip.len() {
        // Raw bytes, inflated by our reused state (see `inflate`).
        let mut entry = match zip.by_index_raw(i) {
            Ok(e) => e,
            Err(e) => {
                report.skip(format!("entry {i}"), e.to_string());
                continue;
            }
        };
        let name = entry.name().to_string();
        if entry.is_dir() || !name.ends_with(".json") {
            continue;
        }
        if entry.encrypted() {
            report.skip(name, "encrypted entry");
            continue;
        }
        let head = EntryHeader {
            method: entry.compression(),
            size: entry.size(),
            crc32: entry.crc32(),
        };
        match inflater.read(&mut entry, head, &mut buf) {
            Ok(()) => index.add_bytes(&buf, &name, host, &mut report),
            Err(reason) => report.skip(name, reason),
        }
    }
    Ok((index, report))
}

/// The records of `host`'s release in a directory of `.json` files, walked recursively
/// (symbolic links are not followed).
pub fn load_dir(path: &Path, host: &HostEcosystem) -> Result<(OsvIndex, ParseReport), OsvError> {
    let files = record_files(path).map_err(|error| io(path, error))?;
    let mut report = ParseReport::new(host.feed_name());
    let mut index = OsvIndex::default();
    let mut buf = Vec::new();
    for file in files {
        let key = file
            .strip_prefix(path)
            .unwrap_or(&file)
            .display()
            .to_string();
        let read = File::open(&file)
            .map_err(|e| e.to_string())
            .and_then(|mut f| {
                let size = f.metadata().map_err(|e| e.to_string())?.len();
                read_capped(&mut f, size, &mut buf)
            });
        match read {
            Ok(()) => index.add_bytes(&buf, &key, host, &mut report),
            Err(reason) => report.skip(key, reason),
        }
    }
    Ok((index, report))
}

/// One record file; it must parse (it is the whole feed).
pub fn load_record(path: &Path, host: &HostEcosystem) -> Result<(OsvIndex, ParseReport), OsvError> {
    let mut file = File::open(path).map_err(|error| io(path, error))?;
    let size = file.metadata().map_err(|error| io(path, error))?.len();
    let mut buf = Vec::new();
    read_capped(&mut file, size, &mut buf).map_err(|message| record_err(path, message))?;
    let rec = super::record::parse(&buf).map_err(|message| record_err(path, message))?;
    let mut report = ParseReport::new(host.feed_name());
    let mut index = OsvIndex::default();
    if index.add(rec, host) {
        report.kept();
    }
    Ok((index, report))
}

/// Checks a downloaded archive before it replaces the feed file: a zip archive whose
/// central directory reads and which holds at least one `.json` entry.
pub fn validate_archive(path: &Path) -> Result<(), OsvError> {
    let file = File::open(path).map_err(|error| io(path, error))?;
    let zip = ZipArchive::new(BufReader::new(file)).map_err(|e| archive(path, e))?;
    if zip.file_names().any(|n| n.ends_with(".json")) {
        Ok(())
    } else {
        Err(archive(path, "no .json record in the archive"))
    }
}

/// Reads a file of `declared` bytes into `buf`, at most [`ENTRY_LIMIT`] (checked before
/// reading and while reading: the file may grow).
fn read_capped(r: &mut impl Read, declared: u64, buf: &mut Vec<u8>) -> Result<(), String> {
    if declared > ENTRY_LIMIT {
        return Err(format!(
            "{declared} bytes, above the {ENTRY_LIMIT}-byte record limit"
        ));
    }
    read_limited(r, ENTRY_LIMIT, buf)
}

/// Collects `.json` regular files under `dir`.
/// The `.json` record files under a record directory, sorted: what [`load_dir`] reads
/// (the feed cache stamps exactly these to notice an edit anywhere below).
pub fn record_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    walk(dir, 0, &mut files)?;
    files.sort();
    Ok(files)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() && depth < MAX_DEPTH {
            walk(&path, depth + 1, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether the file starts with a zip local-header or end-of-directory signature.
fn is_zip(path: &Path) -> Result<bool, OsvError> {
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(|error| io(path, error))?;
    let n = file.read(&mut head).map_err(|error| io(path, error))?;
    Ok(n == 4 && (head == *b"PK\x03\x04" || head == *b"PK\x05\x06"))
}

fn io(path: &Path, error: std::io::Error) -> OsvError {
    OsvError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn archive(path: &Path, message: impl fmt::Display) -> OsvError {
    OsvError::Archive {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn record_err(path: &Path, message: String) -> OsvError {
    OsvError::Record {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-osv-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const REC: &str = r#"{"id": "DSA-1-1", "aliases": ["CVE-2014-3616"], "affected": [
        {"package": {"ecosystem": "Debian:7", "name": "nginx"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2"}]}]}]}"#;

    fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
        let mut w = zip::ZipWriter::new(File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn archive_entries_are_read_one_by_one_and_bad_ones_counted() {
        let dir = temp("zip");
        let zip = dir.join("all.zip");
        let big = format!(
            "{{\"id\": \"DSA-2-1\", \"details\": \"Debian:7 {}\"}}",
            "x".repeat(ENTRY_LIMIT as usize)
        );
        write_zip(
            &zip,
            &[
                ("DSA-1-1.json", REC.as_bytes()),
                (
                    "DSA-bad.json",
                    b"{\"id\": \"DSA-3\", \"affected\": \"Debian:7\"}",
                ),
                ("DSA-big.json", big.as_bytes()),
                ("README.txt", b"Debian:7 not a record"),
            ],
        );
        let host = HostEcosystem::debian("7");
        let (index, report) = load(&zip, &host).unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!((report.records, report.skipped), (1, 2));
        assert_eq!(report.examples[0].key, "DSA-bad.json");
        assert!(
            report.examples[1].reason.contains("record limit"),
            "{:?}",
            report.examples
        );
        validate_archive(&zip).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn directories_and_single_records() {
        let dir = temp("dir");
        std::fs::create_dir_all(dir.join("osv/dsa")).unwrap();
        std::fs::write(dir.join("osv/dsa/DSA-1-1.json"), REC).unwrap();
        std::fs::write(dir.join("osv/broken.json"), "{\"id\": \"Debian:7\"").unwrap();
        std::fs::write(dir.join("notes.md"), "Debian:7").unwrap();
        let host = HostEcosystem::debian("7");
        let (index, report) = load(&dir, &host).unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!((report.records, report.skipped), (1, 1));
        assert_eq!(report.examples[0].key, "osv/broken.json");
        let (one, report) = load(&dir.join("osv/dsa/DSA-1-1.json"), &host).unwrap();
        assert_eq!((one.len(), report.records), (1, 1));
        let err = load(&dir.join("osv/broken.json"), &host).unwrap_err();
        assert!(err.to_string().contains("broken.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_sources_are_errors_naming_the_path() {
        let dir = temp("bad");
        let host = HostEcosystem::debian("7");
        let err = load(&dir.join("missing.zip"), &host).unwrap_err();
        assert!(err.to_string().contains("missing.zip"), "{err}");
        let err = load(Path::new("/dev/null"), &host).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let trunc = dir.join("all.zip");
        write_zip(&trunc, &[("DSA-1-1.json", REC.as_bytes())]);
        let bytes = std::fs::read(&trunc).unwrap();
        std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
        let err = load(&trunc, &host).unwrap_err();
        assert!(matches!(err, OsvError::Archive { .. }), "{err}");
        assert!(validate_archive(&trunc).is_err());
        let empty = dir.join("empty.zip");
        write_zip(&empty, &[("README", b"x")]);
        assert!(validate_archive(&empty).is_err());
        let pkg: crate::pkg::PkgError = err.into();
        assert!(pkg.to_string().contains("all.zip"), "{pkg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
