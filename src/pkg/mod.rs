//! Package managers behind one interface, in the manner of PackageKit's backends: the rest
//! of the agent never knows which tool it drives.
//!
//! Nothing here knows HTTP. Reads of the installed set come from the package database
//! directly where its format is stable; everything else runs the tool through
//! [`runner`], never through a shell.

pub mod advisories;
pub mod apk;
pub mod apt;
pub mod detect;
pub mod dnf;
pub mod glob;
pub mod holds;
pub mod inventory;
pub mod offers;
pub mod pacman;
pub mod plan;
pub mod policy;
pub mod refresh;
pub mod rpm;
pub mod runner;
pub mod snapshot_store;
pub mod staging;
pub mod tar;
pub mod validate;
pub mod version;
pub mod xml;
pub mod zypper;

use std::cmp::Ordering;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

/// Which package manager a backend drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// apt + dpkg (Debian, Ubuntu).
    Apt,
    /// dnf + rpm (Fedora, RHEL 8+).
    Dnf,
    /// yum + rpm (RHEL/CentOS 7).
    Yum,
    /// zypper + rpm (SUSE).
    Zypper,
    /// pacman (Arch).
    Pacman,
    /// apk (Alpine).
    Apk,
}

impl BackendKind {
    /// Every backend, in detection preference order.
    pub const ALL: [BackendKind; 6] = [
        BackendKind::Apt,
        BackendKind::Dnf,
        BackendKind::Yum,
        BackendKind::Zypper,
        BackendKind::Pacman,
        BackendKind::Apk,
    ];

    /// The name used in config and in API answers (`apt`, `dnf`, ...).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Apt => "apt",
            BackendKind::Dnf => "dnf",
            BackendKind::Yum => "yum",
            BackendKind::Zypper => "zypper",
            BackendKind::Pacman => "pacman",
            BackendKind::Apk => "apk",
        }
    }

    /// Parses a config name.
    pub fn from_name(name: &str) -> Option<BackendKind> {
        BackendKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// This ecosystem's version ordering (dpkg, rpm, alpm or apk), a total order.
    pub fn compare_versions(self, a: &str, b: &str) -> Ordering {
        match self {
            BackendKind::Apt => version::dpkg(a, b),
            BackendKind::Dnf | BackendKind::Yum | BackendKind::Zypper => version::rpm(a, b),
            BackendKind::Pacman => version::alpm(a, b),
            BackendKind::Apk => version::apk(a, b),
        }
    }
}

/// How a backend runs its tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendSettings {
    /// The root the backend manages (`/` for the host; another path for an image or chroot).
    pub root: PathBuf,
    /// Deadline for one command (the whole process group is killed on expiry).
    pub command_timeout: Duration,
    /// How long to wait for another process's package-database lock before failing.
    pub lock_wait: Duration,
}

/// Where a backend keeps its repository metadata, so that its age can be read from disk
/// (and so survives a restart of the agent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataCache {
    /// Directories whose entries the tool writes when it fetches metadata.
    pub dirs: Vec<PathBuf>,
    /// A file the agent rewrites after each successful refresh: the tools leave unchanged
    /// metadata untouched and date some files by the mirror's Last-Modified, so the entries
    /// alone would make fresh metadata look old. `None` for a backend without one.
    pub stamp: Option<PathBuf>,
}

/// One installed package, as its database records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledPackage {
    /// Package name.
    pub name: String,
    /// Installed version in the ecosystem's own syntax (epoch included where set).
    pub version: String,
    /// Architecture (`amd64`, `x86_64`, `noarch`, `all`, ...), when recorded.
    pub arch: Option<String>,
    /// One-line summary; empty when the database has none (never absent).
    pub description: String,
    /// Installed size in bytes, when recorded.
    pub size_bytes: Option<u64>,
    /// When it was installed, when recorded.
    pub installed_at: Option<OffsetDateTime>,
    /// Maintainer or packager, when recorded.
    pub maintainer: Option<String>,
    /// Names of the packages it depends on (no versions), for list views.
    pub depends: Vec<String>,
}

/// One dependency of a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// Name of the package (or virtual package / capability) depended on.
    pub name: String,
    /// Version constraint as written, e.g. `>= 1.1`; `None` when unversioned.
    pub constraint: Option<String>,
    /// True for hard requirements; false for recommends/suggests/optional.
    pub required: bool,
}

/// Everything known about one installed package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageDetails {
    /// The inventory record.
    pub package: InstalledPackage,
    /// Its dependencies with constraints.
    pub dependencies: Vec<Dependency>,
    /// Installed packages that depend on it.
    pub reverse_dependencies: Vec<String>,
    /// Files it installed.
    pub files: Vec<String>,
    /// Upstream homepage, when recorded.
    pub homepage: Option<String>,
    /// License, when recorded.
    pub license: Option<String>,
}

/// One upgrade the package manager would make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgrade {
    /// Package name.
    pub name: String,
    /// Installed version.
    pub current_version: String,
    /// Candidate version the tool would install.
    pub available_version: String,
    /// Architecture, when the tool says.
    pub arch: Option<String>,
    /// Where the candidate comes from: repository id, or apt's `Origin/Suite` list.
    pub origins: Vec<String>,
}

/// One package to install or update: the latest candidate, or an exact version.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageSpec {
    /// Package name (already validated).
    pub name: String,
    /// Exact version in the ecosystem's syntax; `None` for the newest candidate.
    pub version: Option<String>,
}

/// Switches of an install or update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstallOptions {
    /// Reinstall even when the requested version is already installed.
    pub force: bool,
    /// Do not pull in recommended/weak dependencies (apt `--no-install-recommends`, dnf
    /// `--setopt=install_weak_deps=False`, zypper `--no-recommends`).
    pub no_recommends: bool,
    /// Allow installing a version lower than the installed one.
    pub allow_downgrade: bool,
}

/// Switches of a removal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoveOptions {
    /// Remove configuration files too (apt purge; `pacman -Rn`; others remove them anyway
    /// or keep `.rpmsave` copies, as the tool does).
    pub purge: bool,
    /// Remove even when other installed packages depend on it (they are removed too where the
    /// tool can only do it that way, e.g. dnf/zypper remove dependents; apt removes them).
    pub force: bool,
}

/// How a mutation runs: where its output goes, how it is stopped, and its deadline.
pub struct Exec<'a> {
    /// Receives every output line of the tool as it arrives.
    pub on_line: &'a mut dyn FnMut(runner::Stream, &str),
    /// Stops the tool's process group (SIGTERM, grace, SIGKILL) when cancelled.
    pub cancel: &'a runner::Cancel,
    /// Deadline of each command the mutation runs.
    pub timeout: Duration,
    /// After SIGTERM on deadline or cancel, how long before SIGKILL (`jobs.cancel_grace_seconds`).
    pub grace: Duration,
    /// What the mutation's first command waits for before it changes anything, opened by
    /// the backend as it starts that command held at the tool's own lock
    /// ([`PackageManager::starts_held`]); `None` once opened or when the caller waited.
    pub start: Option<&'a dyn runner::StartGate>,
}

/// A package version saved before a mutation, so that a rollback can put it back.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedPackage {
    /// Package name.
    pub name: String,
    /// The version that was installed.
    pub version: String,
    /// The saved package file, when the backend keeps one (apt: a downloaded .deb; pacman:
    /// the cached package); `None` when the backend restores from its repositories/cache.
    pub file: Option<PathBuf>,
}

/// One step of a rollback.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RestoreStep {
    /// Install exactly this version (from `file` when given), downgrading if needed.
    Install {
        /// Package name.
        name: String,
        /// Version to return to.
        version: String,
        /// A saved package file to install from.
        file: Option<PathBuf>,
    },
    /// Remove the package (it was not installed before).
    Remove {
        /// Package name.
        name: String,
    },
}

/// Why a package operation failed.
#[derive(Debug)]
pub enum PkgError {
    /// A name or version did not pass the ecosystem's grammar (nothing was run).
    Invalid {
        /// Which input, e.g. `name` or `version`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The package is not installed / not known.
    NotFound(String),
    /// Another process held the package database lock past the wait bound (retryable).
    Locked {
        /// The tool that found the lock busy.
        tool: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The command did not finish before its deadline; its process group was killed.
    Timeout {
        /// The command line, for the log.
        command: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// The tool ran and reported failure.
    Command {
        /// The command line, for the log.
        command: String,
        /// Exit code; `None` when killed by a signal.
        code: Option<i32>,
        /// The last lines of its error output.
        stderr_tail: String,
    },
    /// The tool's output or the database could not be understood.
    Parse {
        /// What was being read.
        what: String,
        /// What went wrong.
        message: String,
    },
    /// A file or process could not be accessed.
    Io {
        /// What was being accessed.
        what: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The backend cannot do this on this system.
    Unsupported(String),
    /// The requested version does not exist, or would be a downgrade that was not allowed.
    VersionConflict(String),
    /// The tool refused because dependencies cannot be satisfied or conflict.
    DependencyConflict(String),
    /// The operation was stopped by a cancel request; its process group was killed.
    Cancelled(String),
    /// A repository or package failed the tool's signature check (no trusted key for it):
    /// what was refused and how to trust it.
    Untrusted(String),
    /// The package is held (apt-mark hold, versionlock, zypper lock, IgnorePkg, apk pin):
    /// the change named it explicitly and holds are never overridden.
    Held(String),
}

impl std::fmt::Display for PkgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PkgError::Invalid { field, message } => write!(f, "{field}: {message}"),
            PkgError::NotFound(name) => write!(f, "package not found: {name}"),
            PkgError::Locked { tool, waited } => write!(
                f,
                "{tool}: the package database is locked by another process (waited {} s)",
                waited.as_secs()
            ),
            PkgError::Timeout { command, after } => {
                write!(
                    f,
                    "{command}: no result within {} s; stopped",
                    after.as_secs()
                )
            }
            PkgError::Command {
                command,
                code,
                stderr_tail,
            } => match code {
                Some(c) => write!(f, "{command} failed with exit code {c}: {stderr_tail}"),
                None => write!(f, "{command} was killed by a signal: {stderr_tail}"),
            },
            PkgError::Parse { what, message } => write!(f, "cannot read {what}: {message}"),
            PkgError::Io { what, error } => write!(f, "{what}: {error}"),
            PkgError::Unsupported(m) => write!(f, "not supported: {m}"),
            PkgError::VersionConflict(m) => write!(f, "version conflict: {m}"),
            PkgError::DependencyConflict(m) => write!(f, "dependency problem: {m}"),
            PkgError::Cancelled(command) => write!(f, "{command}: cancelled"),
            PkgError::Untrusted(m) => write!(f, "untrusted package source: {m}"),
            PkgError::Held(name) => write!(
                f,
                "{name} is held; release the hold (DELETE /api/v1/packages/{name}/hold) to change it"
            ),
        }
    }
}

impl std::error::Error for PkgError {}

impl PkgError {
    /// Whether trying again later may succeed (locks, timeouts, transient tool failures).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            PkgError::Locked { .. } | PkgError::Timeout { .. } | PkgError::Command { .. }
        )
    }
}

/// One package manager. Implementations hold their [`BackendSettings`].
pub trait PackageManager: Send + Sync {
    /// Which tool this is.
    fn kind(&self) -> BackendKind;

    /// The installed set, read from the database (without spawning where its format is stable).
    fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError>;

    /// Files whose change means the installed set changed (for cache invalidation).
    fn database_paths(&self) -> Vec<PathBuf>;

    /// Details of one installed package; `Ok(None)` when it is not installed.
    fn details(&self, name: &str) -> Result<Option<PackageDetails>, PkgError>;

    /// Refreshes repository metadata (apt-get update, dnf makecache, ...).
    fn refresh(&self) -> Result<(), PkgError>;

    /// Where this backend's repository metadata lives (for its age); the default has none.
    fn metadata_cache(&self) -> MetadataCache {
        MetadataCache::default()
    }

    /// Upgrades the tool would make now, computed by the tool from its current metadata.
    fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError>;

    /// This ecosystem's version ordering ([`BackendKind::compare_versions`] of
    /// [`kind`](Self::kind)).
    fn compare_versions(&self, a: &str, b: &str) -> Ordering {
        self.kind().compare_versions(a, b)
    }

    /// Checks a package name against this ecosystem's grammar ([`validate::name`] for
    /// [`kind`](Self::kind)).
    fn validate_name(&self, name: &str) -> Result<(), PkgError> {
        validate::name(self.kind(), name)
    }

    /// Checks a version string against this ecosystem's grammar ([`validate::version`] for
    /// [`kind`](Self::kind)).
    fn validate_version(&self, version: &str) -> Result<(), PkgError> {
        validate::version(self.kind(), version)
    }

    /// Every version of `name` the configured repositories (and the tool's caches, where it
    /// installs from them) offer, in the ecosystem's syntax; empty when the name is unknown.
    fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError>;

    /// What the repositories offer of `name`, read from the tool's metadata files without
    /// starting it; `None` when they cannot be read here (the default). Only a name (and
    /// version) found here is trusted: anything else is asked of
    /// [`available_versions`](Self::available_versions).
    fn indexed_versions(&self, _name: &str) -> Option<Vec<String>> {
        None
    }

    /// Installs or updates packages (exact versions where given), non-interactively.
    /// Runtime refusals map to `VersionConflict`, `DependencyConflict` or `NotFound`.
    fn install(
        &self,
        packages: &[PackageSpec],
        options: &InstallOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError>;

    /// Removes packages (purging configuration files when asked).
    fn remove(
        &self,
        names: &[String],
        options: &RemoveOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError>;

    /// Saves what a rollback needs to reinstall these installed `(name, version)` pairs,
    /// into `dir` (bounded by the caller). A package that cannot be saved is returned with
    /// `file: None` only when the backend can still restore it from its repositories;
    /// otherwise it is left out, and the caller reports it as not restorable.
    fn save_for_rollback(
        &self,
        installed: &[(String, String)],
        dir: &std::path::Path,
        exec: &mut Exec<'_>,
    ) -> Result<Vec<SavedPackage>, PkgError>;

    /// Applies rollback steps in one transaction where the tool allows it.
    fn restore(&self, steps: &[RestoreStep], exec: &mut Exec<'_>) -> Result<(), PkgError>;

    /// Whether every mutation (install, remove, restore, apply) opens [`Exec::start`] itself,
    /// starting its first command held at the tool's own lock ([`runner::run_held`]); when
    /// `false` (the default) the caller opens its gate before the mutation.
    fn starts_held(&self) -> bool {
        false
    }

    /// Repairs a database a killed transaction left interrupted (apt: `dpkg --configure -a`);
    /// returns what it did, one line each, empty when nothing was needed.
    ///
    /// By default nothing: the rpm family runs a transaction's scriptlets inside it and has
    /// no half-configured state like dpkg's; rpm's database lock is an fcntl lock that dies
    /// with a killed process, and dnf's and zypper's pid files name a dead pid, which they
    /// ignore.
    fn repair(&self, exec: &mut Exec<'_>) -> Result<Vec<String>, PkgError> {
        let _ = exec;
        Ok(Vec::new())
    }

    /// The tool's record of what the administrator asked for, outside the package database
    /// (apk: `/etc/apk/world`), as bytes a job saves before its change so that a rollback
    /// can put it back exactly; `None` when the backend keeps none.
    fn selection_state(&self) -> Result<Option<Vec<u8>>, PkgError> {
        Ok(None)
    }

    /// Puts back what [`PackageManager::selection_state`] returned, after a rollback's steps
    /// ran; returns what it did, one line each.
    fn restore_selection_state(&self, _saved: &[u8]) -> Result<Vec<String>, PkgError> {
        Ok(Vec::new())
    }

    /// The patches these pending `upgrades` make up, from the family's security metadata:
    /// one per advisory where the source has advisories (listing all its packages that are
    /// upgradable here), otherwise one per upgrade. Without metadata: one per upgrade of
    /// unknown severity.
    fn advisories(
        &self,
        upgrades: &[Upgrade],
        _feed: &advisories::FeedSettings,
    ) -> Result<Vec<advisories::Advisory>, PkgError> {
        Ok(advisories::per_package(upgrades))
    }

    /// Applies exactly these patches, leaving out the `exclude`d packages, through the
    /// tool's own security-aware path where it has one. The default installs each affected
    /// package at its advisory's available version.
    fn apply_advisories(
        &self,
        selected: &[advisories::Advisory],
        exclude: &[String],
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        install_fixed(self, selected, exclude, exec)
    }

    /// What `change` would do, from the tool's own simulation run with the arguments the
    /// real change uses, after the refusals the real change makes first; changes nothing.
    /// The default (a backend without a simulation) answers `Unsupported`.
    fn simulate(&self, change: &plan::Change, exec: &mut Exec<'_>) -> Result<plan::Plan, PkgError> {
        let _ = (change, exec);
        Err(PkgError::Unsupported(format!(
            "{} has no dry run",
            self.kind().name()
        )))
    }

    /// The names held by the tool's own mechanism (apt-mark showhold, dnf versionlock,
    /// zypper locks, pacman IgnorePkg, apk world pins), sorted, each once; the default
    /// backend has no holds.
    fn holds(&self) -> Result<Vec<String>, PkgError> {
        Ok(Vec::new())
    }

    /// Files whose change means the holds may have changed (for the hold cache); empty when
    /// the backend has no holds.
    fn hold_paths(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Holds `name` (already validated) through the tool's own mechanism; holding a held
    /// package succeeds. The caller holds the package transaction.
    fn hold(&self, _name: &str) -> Result<(), PkgError> {
        Err(PkgError::Unsupported(format!(
            "{}: package holds are not supported",
            self.kind().name()
        )))
    }

    /// Releases the hold of `name`; releasing a package that is not held succeeds.
    fn unhold(&self, _name: &str) -> Result<(), PkgError> {
        Err(PkgError::Unsupported(format!(
            "{}: package holds are not supported",
            self.kind().name()
        )))
    }

    /// Which of `names` are held, in the order given: what patch apply and update-all skip,
    /// and what a dry run reports as skipped.
    fn held_among(&self, names: &[String]) -> Result<Vec<String>, PkgError> {
        let held = self.holds()?;
        Ok(holds::among(&held, names))
    }

    /// Whether the host needs a reboot, from the family's own signal (never from package
    /// names). The default knows none and says so.
    fn reboot_required(&self) -> Result<advisories::RebootRequired, PkgError> {
        Ok(advisories::RebootRequired {
            required: false,
            reason: format!("{} has no reboot signal", self.kind().name()),
            packages: Vec::new(),
        })
    }
}

/// The packages (at their available versions) that applying `selected` installs, minus
/// `exclude`, each once.
pub fn advisory_targets<'a>(
    selected: impl IntoIterator<Item = &'a advisories::Advisory>,
    exclude: &[String],
) -> Vec<PackageSpec> {
    let mut specs: Vec<PackageSpec> = Vec::new();
    for p in selected.into_iter().flat_map(|a| a.packages.iter()) {
        if exclude.iter().any(|e| e == &p.name) || specs.iter().any(|s| s.name == p.name) {
            continue;
        }
        specs.push(PackageSpec {
            name: p.name.clone(),
            version: Some(p.available_version.clone()),
        });
    }
    specs
}

/// Installs the fixed versions of `selected`'s packages minus `exclude`; runs nothing when
/// that leaves none.
pub fn install_fixed<'a, B: PackageManager + ?Sized>(
    backend: &B,
    selected: impl IntoIterator<Item = &'a advisories::Advisory>,
    exclude: &[String],
    exec: &mut Exec<'_>,
) -> Result<(), PkgError> {
    let specs = advisory_targets(selected, exclude);
    if specs.is_empty() {
        return Ok(());
    }
    backend.install(&specs, &InstallOptions::default(), exec)
}

/// For test doubles that only read: the mutation methods of [`PackageManager`] (all but
/// `available_versions`), answering `Unsupported`.
#[cfg(test)]
macro_rules! read_only_mutations {
    () => {
        fn install(
            &self,
            _packages: &[$crate::pkg::PackageSpec],
            _options: &$crate::pkg::InstallOptions,
            _exec: &mut $crate::pkg::Exec<'_>,
        ) -> Result<(), $crate::pkg::PkgError> {
            Err($crate::pkg::PkgError::Unsupported(
                "read-only test double".into(),
            ))
        }
        fn remove(
            &self,
            _names: &[String],
            _options: &$crate::pkg::RemoveOptions,
            _exec: &mut $crate::pkg::Exec<'_>,
        ) -> Result<(), $crate::pkg::PkgError> {
            Err($crate::pkg::PkgError::Unsupported(
                "read-only test double".into(),
            ))
        }
        fn save_for_rollback(
            &self,
            _installed: &[(String, String)],
            _dir: &std::path::Path,
            _exec: &mut $crate::pkg::Exec<'_>,
        ) -> Result<Vec<$crate::pkg::SavedPackage>, $crate::pkg::PkgError> {
            Err($crate::pkg::PkgError::Unsupported(
                "read-only test double".into(),
            ))
        }
        fn restore(
            &self,
            _steps: &[$crate::pkg::RestoreStep],
            _exec: &mut $crate::pkg::Exec<'_>,
        ) -> Result<(), $crate::pkg::PkgError> {
            Err($crate::pkg::PkgError::Unsupported(
                "read-only test double".into(),
            ))
        }
        fn repair(
            &self,
            _exec: &mut $crate::pkg::Exec<'_>,
        ) -> Result<Vec<String>, $crate::pkg::PkgError> {
            Ok(Vec::new())
        }
    };
}
#[cfg(test)]
pub(crate) use read_only_mutations;
