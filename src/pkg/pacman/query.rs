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
/// (`IgnorePkg`: held) are upgrades too, so that the list shows what a hold keeps back;
/// `-Su` would not upgrade them, and the agent's patch runs skip them.
pub fn parse_upgradable(stdout: &str) -> Result<Vec<Upgrade>, PkgError> {
    let mut out = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [name, old, "->", new] | [name, old, "->", new, "[ignored]"] => out.push(Upgrade {
                name: name.to_string(),
                current_version: old.to_string(),
                available_version: new.to_string(),
                arch: None,
                origins: Vec::new(),
            }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::pacman::tests::{finished, HELLO_DESC, HELLO_FILES, SY_BAD_ERR, U_LOCKED_ERR};

    const QU: &str = include_str!("../../../tests/data/pacman/qu.stdout");
    const QU_IGNORED: &str = include_str!("../../../tests/data/pacman/qu-ignored.stdout");
    const QU_NONE_OUT: &str = include_str!("../../../tests/data/pacman/qu-none.stdout");
    const QU_NONE_ERR: &str = include_str!("../../../tests/data/pacman/qu-none.stderr");
    const QU_NOSYNC_OUT: &str = include_str!("../../../tests/data/pacman/qu-before-sync.stdout");
    const QU_NOSYNC_ERR: &str = include_str!("../../../tests/data/pacman/qu-before-sync.stderr");
    const QU_ROOT: &str = include_str!("../../../tests/data/pacman/root-qu.stdout");
    const SY_LOCKED_ERR: &str = include_str!("../../../tests/data/pacman/sy-locked.stderr");
    const ROOT_SY_LOCKED_ERR: &str =
        include_str!("../../../tests/data/pacman/root-sy-locked.stderr");

    #[test]
    fn desc_sections_parse() {
        let s = parse_sections(HELLO_DESC);
        assert_eq!(s.first("NAME"), Some("lpa-hello"));
        assert_eq!(s.first("VERSION"), Some("1.0-1"));
        assert_eq!(s.get("DEPENDS"), ["lpa-lib>=1.0".to_string()]);
        assert!(s.get("OPTDEPENDS").is_empty());
        // pacman keeps the backup list in `files`, after %FILES%.
        assert_eq!(
            parse_sections(HELLO_FILES).get("BACKUP"),
            ["etc/lpa-hello.conf\t801ef2bfa1ce9046be4eb650dabcc017".to_string()]
        );
    }

    #[test]
    fn installed_record_from_recorded_desc() {
        let p = installed_from_desc(&parse_sections(HELLO_DESC)).unwrap();
        assert_eq!(p.name, "lpa-hello");
        assert_eq!(p.version, "1.0-1");
        assert_eq!(p.arch.as_deref(), Some("any"));
        assert_eq!(p.description, "LPA fixture hello");
        assert_eq!(p.size_bytes, Some(48));
        assert_eq!(
            p.installed_at,
            Some(OffsetDateTime::from_unix_timestamp(1795866135).unwrap())
        );
        assert_eq!(
            p.maintainer.as_deref(),
            Some("LPA Tests <tests@lpa.invalid>")
        );
        assert_eq!(p.depends, ["lpa-lib"]);
    }

    #[test]
    fn desc_without_version_is_rejected() {
        let err = installed_from_desc(&parse_sections("%NAME%\nfoo\n\n")).unwrap_err();
        assert!(err.contains("VERSION"), "{err}");
    }

    #[test]
    fn missing_description_is_empty_not_absent() {
        let p = installed_from_desc(&parse_sections("%NAME%\na\n\n%VERSION%\n1-1\n\n")).unwrap();
        assert_eq!(p.description, "");
        assert!(p.depends.is_empty());
    }

    #[test]
    fn depend_strings_split_into_name_and_constraint() {
        let d = parse_depend("lpa-lib>=1.0", true);
        assert_eq!(d.name, "lpa-lib");
        assert_eq!(d.constraint.as_deref(), Some(">=1.0"));
        assert!(d.required);
        let d = parse_depend("glibc", true);
        assert_eq!((d.name.as_str(), d.constraint), ("glibc", None));
        // Optional dependencies as pacman stores them: "name: reason".
        let d = parse_depend("python-foo<2: for the foo plugin", false);
        assert_eq!(d.name, "python-foo");
        assert_eq!(d.constraint.as_deref(), Some("<2"));
        assert!(!d.required);
    }

    #[test]
    fn files_are_absolute() {
        assert_eq!(
            parse_files(HELLO_FILES),
            [
                "/etc/",
                "/etc/lpa-hello.conf",
                "/usr/",
                "/usr/bin/",
                "/usr/bin/lpa-hello"
            ]
        );
        // The BACKUP section that follows must not leak into the list.
        assert!(!parse_files(HELLO_FILES).iter().any(|f| f.contains('\t')));
    }

    #[test]
    fn reverse_dependencies_follow_provides_and_optdepends_are_optional() {
        let lib = parse_sections("%NAME%\nlibfoo\n\n%VERSION%\n1-1\n\n%PROVIDES%\nfoo.so=1-64\n\n");
        let user = parse_sections(
            "%NAME%\napp\n\n%VERSION%\n1-1\n\n%DEPENDS%\nfoo.so=1-64\n\n%OPTDEPENDS%\nlibfoo: extras\n\n",
        );
        let other = parse_sections("%NAME%\nx\n\n%VERSION%\n1-1\n\n%OPTDEPENDS%\nlibfoo\n\n");
        let all = [lib.clone(), user.clone(), other];
        assert_eq!(reverse_dependencies_of(&lib, &all), ["app"]);
        let entry = LocalEntry {
            dir: PathBuf::from("/nonexistent/app-1-1"),
            desc: user,
        };
        let d = details_of(&entry, &[], Vec::new()).unwrap();
        assert_eq!(d.dependencies.len(), 2);
        assert!(d.dependencies[0].required);
        assert_eq!(d.dependencies[1].name, "libfoo");
        assert!(!d.dependencies[1].required);
    }

    #[test]
    fn upgradable_parses_recorded_qu() {
        let u = parse_upgradable(QU).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].name, "lpa-hello");
        assert_eq!(u[0].current_version, "1.0-1");
        assert_eq!(u[0].available_version, "2.0-1");
        assert_eq!(
            (u[1].name.as_str(), u[1].available_version.as_str()),
            ("lpa-lib", "1.1-1")
        );
        let r = parse_upgradable(QU_ROOT).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].current_version, "1.1-1");
    }

    #[test]
    fn ignored_packages_are_upgrades_too() {
        let u = parse_upgradable(QU_IGNORED).unwrap();
        let names: Vec<&str> = u.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["lpa-hello", "lpa-lib"]);
        assert_eq!(u[1].available_version, "1.1-1");
    }

    #[test]
    fn unknown_qu_line_is_a_parse_error() {
        assert!(matches!(
            parse_upgradable("lpa-hello 1.0-1 2.0-1\n"),
            Err(PkgError::Parse { .. })
        ));
    }

    #[test]
    fn qu_exit_one_without_output_means_none() {
        let cmd = Command::new("pacman").arg("-Qu");
        let r = interpret_upgradable(&cmd, &finished(1, QU_NONE_OUT, QU_NONE_ERR)).unwrap();
        assert!(r.is_empty());
        assert_eq!(
            interpret_upgradable(&cmd, &finished(0, QU, ""))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn qu_without_sync_database_is_an_error() {
        let cmd = Command::new("pacman").arg("-Qu");
        match interpret_upgradable(&cmd, &finished(1, QU_NOSYNC_OUT, QU_NOSYNC_ERR)) {
            Err(PkgError::Command {
                code, stderr_tail, ..
            }) => {
                assert_eq!(code, Some(1));
                assert!(stderr_tail.contains("-Sy"), "{stderr_tail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lock_errors_are_recognised_in_recorded_output() {
        assert!(is_lock_error(SY_LOCKED_ERR));
        assert!(is_lock_error(U_LOCKED_ERR));
        assert!(is_lock_error(ROOT_SY_LOCKED_ERR));
        assert!(!is_lock_error(SY_BAD_ERR));
        assert!(!is_lock_error(QU_NOSYNC_ERR));
    }
}
