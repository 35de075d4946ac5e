//! Reading what is installed: libalpm's local database (`desc`, `files`), package details and
//! reverse dependencies, and the upgrade list of `pacman -Qu`. Separate because it only reads
//! and parses; nothing here changes the host.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::outcome::command_failed;
use crate::pkg::runner::{Command, Finished};
use crate::pkg::{Dependency, InstalledPackage, PackageDetails, PkgError, Upgrade};

/// One `local/<name>-<version>/` directory with its parsed `desc`.
#[derive(Clone, Debug)]
pub(super) struct LocalEntry {
    pub(super) dir: PathBuf,
    pub(super) desc: Sections,
}

impl LocalEntry {
    pub(super) fn name(&self) -> Option<&str> {
        self.desc.first("NAME")
    }

    pub(super) fn to_installed(&self) -> Result<InstalledPackage, PkgError> {
        installed_from_desc(&self.desc).map_err(|message| PkgError::Parse {
            what: self.dir.join("desc").display().to_string(),
            message,
        })
    }
}

/// The sections of an alpm database file (`desc`, `files`): `%NAME%` then value lines up to
/// a blank line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sections(Vec<(String, Vec<String>)>);

impl Sections {
    /// The values of one section (without the `%`s), empty when absent.
    pub fn get(&self, key: &str) -> &[String] {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// The first value of one section.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.get(key).first().map(String::as_str)
    }
}

/// Parses an alpm database file into its sections.
pub fn parse_sections(text: &str) -> Sections {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if line.is_empty() {
            open = false;
        } else if let Some(key) = section_header(line) {
            out.push((key.to_string(), Vec::new()));
            open = true;
        } else if open {
            if let Some((_, values)) = out.last_mut() {
                values.push(line.to_string());
            }
        }
    }
    Sections(out)
}

pub(super) fn section_header(line: &str) -> Option<&str> {
    let key = line.strip_prefix('%')?.strip_suffix('%')?;
    let valid = !key.is_empty() && key.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    valid.then_some(key)
}

/// Builds the inventory record from a parsed `desc`; the error says what is missing.
pub fn installed_from_desc(desc: &Sections) -> Result<InstalledPackage, String> {
    let name = desc.first("NAME").ok_or("no %NAME%")?;
    let version = desc.first("VERSION").ok_or("no %VERSION%")?;
    Ok(InstalledPackage {
        name: name.to_string(),
        version: version.to_string(),
        arch: desc.first("ARCH").map(str::to_string),
        description: desc.first("DESC").unwrap_or("").to_string(),
        size_bytes: desc.first("SIZE").and_then(|s| s.parse().ok()),
        installed_at: desc.first("INSTALLDATE").and_then(parse_epoch),
        maintainer: desc.first("PACKAGER").map(str::to_string),
        depends: desc
            .get("DEPENDS")
            .iter()
            .map(|d| parse_depend(d, true).name)
            .collect(),
    })
}

pub(super) fn parse_epoch(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(s.parse().ok()?).ok()
}

/// Parses one alpm dependency string (`lpa-lib>=1.0`, `foo: why` for optional ones).
pub fn parse_depend(s: &str, required: bool) -> Dependency {
    // Optional dependencies carry a description after ": ".
    let spec = s.split_once(": ").map_or(s, |(d, _)| d).trim();
    match spec.find(['<', '>', '=']) {
        Some(i) => Dependency {
            name: spec[..i].to_string(),
            constraint: Some(spec[i..].to_string()),
            required,
        },
        None => Dependency {
            name: spec.to_string(),
            constraint: None,
            required,
        },
    }
}

/// The paths of a `files` database file, absolute (directories keep pacman's trailing `/`).
pub fn parse_files(text: &str) -> Vec<String> {
    parse_sections(text)
        .get("FILES")
        .iter()
        .map(|f| format!("/{f}"))
        .collect()
}

pub(super) fn details_of(
    entry: &LocalEntry,
    all: &[LocalEntry],
    files: Vec<String>,
) -> Result<PackageDetails, PkgError> {
    let package = entry.to_installed()?;
    let desc = &entry.desc;
    let mut dependencies: Vec<Dependency> = desc
        .get("DEPENDS")
        .iter()
        .map(|d| parse_depend(d, true))
        .collect();
    dependencies.extend(
        desc.get("OPTDEPENDS")
            .iter()
            .map(|d| parse_depend(d, false)),
    );
    let license = desc.get("LICENSE");
    Ok(PackageDetails {
        reverse_dependencies: reverse_dependencies(desc, all),
        dependencies,
        files,
        homepage: desc.first("URL").map(str::to_string),
        license: (!license.is_empty()).then(|| license.join(", ")),
        package,
    })
}

/// Installed packages whose hard dependencies name this package or one of its provides.
pub fn reverse_dependencies_of(target: &Sections, all: &[Sections]) -> Vec<String> {
    let Some(name) = target.first("NAME") else {
        return Vec::new();
    };
    let mut provided: Vec<String> = vec![name.to_string()];
    provided.extend(
        target
            .get("PROVIDES")
            .iter()
            .map(|p| parse_depend(p, true).name),
    );
    let mut out: Vec<String> = all
        .iter()
        .filter(|d| d.first("NAME") != Some(name))
        .filter(|d| {
            d.get("DEPENDS")
                .iter()
                .any(|dep| provided.contains(&parse_depend(dep, true).name))
        })
        .filter_map(|d| d.first("NAME").map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

pub(super) fn reverse_dependencies(target: &Sections, all: &[LocalEntry]) -> Vec<String> {
    let descs: Vec<Sections> = all.iter().map(|e| e.desc.clone()).collect();
    reverse_dependencies_of(target, &descs)
}

/// The installed version of `name` from its `local/NAME-VERSION/desc`, looking only at the
/// directories whose name can be NAME-VERSION (a version holds exactly one `-`).
pub fn local_version(local: &Path, name: &str) -> Option<String> {
    let prefix = format!("{name}-");
    let mut dirs: Vec<PathBuf> = fs::read_dir(local)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.strip_prefix(&prefix)
                .is_some_and(|v| v.matches('-').count() == 1)
        })
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.iter().find_map(|d| {
        let desc = parse_sections(&fs::read_to_string(d.join("desc")).ok()?);
        (desc.first("NAME") == Some(name)).then(|| desc.first("VERSION").map(str::to_string))?
    })
}

/// Reads every `local/*/desc`, sorted by directory name; a missing `local/` is an empty set.
pub(super) fn read_local_db(local: &Path) -> Result<Vec<LocalEntry>, PkgError> {
    let io_err = |error| PkgError::Io {
        what: local.display().to_string(),
        error,
    };
    let dir = match fs::read_dir(local) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(e)),
    };
    let mut dirs = Vec::new();
    for item in dir {
        let item = item.map_err(io_err)?;
        if item.file_type().map_err(io_err)?.is_dir() {
            dirs.push(item.path());
        }
    }
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        match fs::read_to_string(d.join("desc")) {
            Ok(text) => out.push(LocalEntry {
                dir: d,
                desc: parse_sections(&text),
            }),
            // pacman itself skips a directory without desc (an interrupted transaction).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                log::warn!("pacman: {} has no desc; skipped", d.display());
            }
            Err(error) => {
                return Err(PkgError::Io {
                    what: d.join("desc").display().to_string(),
                    error,
                })
            }
        }
    }
    Ok(out)
}

pub(super) fn read_files(dir: &Path) -> Result<Vec<String>, PkgError> {
    match fs::read_to_string(dir.join("files")) {
        Ok(text) => Ok(parse_files(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(PkgError::Io {
            what: dir.join("files").display().to_string(),
            error,
        }),
    }
}

/// Parses `pacman -Qu` output (`name old -> new`, maybe ` [ignored]`). Ignored packages
/// are left out: `-Su` would not upgrade them.
pub fn parse_upgradable(stdout: &str) -> Result<Vec<Upgrade>, PkgError> {
    let mut out = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [name, old, "->", new] => out.push(Upgrade {
                name: name.to_string(),
                current_version: old.to_string(),
                available_version: new.to_string(),
                arch: None,
                origins: Vec::new(),
            }),
            [_, _, "->", _, "[ignored]"] => {}
            _ => {
                return Err(PkgError::Parse {
                    what: "pacman -Qu output".to_string(),
                    message: format!("unexpected line: {line}"),
                })
            }
        }
    }
    Ok(out)
}

/// Whether pacman's error output says the database lock was busy.
pub fn is_lock_error(stderr: &str) -> bool {
    stderr.contains("unable to lock database") || stderr.contains("could not lock database")
}

/// Whether `-Qu` warned that a sync database was never downloaded (`-Sy` needed).
pub fn is_missing_sync_db(stderr: &str) -> bool {
    stderr.contains("does not exist (use '-Sy' to download)")
}

/// Reads what `pacman -Qu` ended with: exit 1 with no output means nothing to upgrade,
/// unless a sync database is missing (then nothing was compared: an error, not "none").
pub fn interpret_upgradable(cmd: &Command, done: &Finished) -> Result<Vec<Upgrade>, PkgError> {
    match done.code {
        Some(0) => parse_upgradable(&done.stdout),
        Some(1) if done.stdout.trim().is_empty() && !is_missing_sync_db(&done.stderr) => {
            Ok(Vec::new())
        }
        _ => Err(command_failed(cmd, done)),
    }
}
