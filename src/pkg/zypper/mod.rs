//! zypper (SUSE) over the rpm database: the installed set and details come from rpm
//! ([`super::rpm::rpmdb`]), upgrades and patches from zypper's XML output (`--xmlout`), which is
//! its stable machine interface (the tables change with the terminal and the version).
//!
//! The XML is read with quick-xml into a small tree (`super::xml::tree`); the readers of
//! each document are in `output`, the patch list in `patches`.
//! Changes run zypper's text mode with the job's output sink; zypper's silent refusals (a
//! downgrade without `--oldpackage` is "Nothing to do.", exit 0) are caught by a check before
//! it runs, by the output classifier and by reading the rpm database afterwards.
//! Verified against the real zypper 1.14.42 / libzypp 17.25.7 (`tests/data/zypper/`).

pub mod dry_run;
pub mod holds;
mod output;
mod patches;

pub use output::*;
pub use patches::*;

use std::path::{Path, PathBuf};

use super::advisories::{self, Advisory, FeedSettings, RebootRequired};
use super::offers::OfferIndex;
use super::plan::{Change, Plan};
use super::rpm::memo::InstalledMemo;
use super::rpm::{self, primary, repos, rpmdb, updateinfo};
use super::runner::{self, Command, Finished};
use super::{
    install_fixed, validate, BackendKind, BackendSettings, Exec, InstallOptions, InstalledPackage,
    MetadataCache, PackageDetails, PackageManager, PackageSpec, PkgError, RemoveOptions,
    RestoreStep, SavedPackage, Upgrade,
};

/// What a zypper exit status means (zypper(8) "EXIT CODES").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZypperExit {
    /// 0, or an informational 100 (updates needed), 101 (security updates needed), 102
    /// (reboot needed after the operation) or 103 (zypper itself must be restarted).
    Success,
    /// 7: another process holds the zypp lock past `ZYPP_LOCK_TIMEOUT`.
    Locked,
    /// 104: a requested capability was not found.
    NotFound,
    /// 106: some repositories were skipped because of errors (a refresh must fail loudly).
    ReposSkipped,
    /// Any other status, or a signal.
    Failed,
}

/// Classifies a zypper exit status.
pub fn classify_exit(code: Option<i32>) -> ZypperExit {
    match code {
        Some(0) | Some(100..=103) => ZypperExit::Success,
        Some(7) => ZypperExit::Locked,
        Some(104) => ZypperExit::NotFound,
        Some(106) => ZypperExit::ReposSkipped,
        _ => ZypperExit::Failed,
    }
}

/// The zypper backend.
#[derive(Clone, Debug)]
pub struct Zypper {
    settings: BackendSettings,
    /// A job reads the installed set several times while nothing changes it.
    memo: InstalledMemo,
    /// What the enabled repositories offer, from their rpm-md metadata.
    offers: OfferIndex,
}

impl Zypper {
    /// A zypper backend.
    pub fn new(settings: BackendSettings) -> Self {
        Zypper {
            settings,
            memo: InstalledMemo::default(),
            offers: OfferIndex::default(),
        }
    }

    /// zypper with the options and environment every call needs: non-interactive, `--root`
    /// for another root, its log under the managed root (never the host's when the root is
    /// elsewhere) and the lock wait bound.
    pub fn base_command(&self) -> Command {
        let root = &self.settings.root;
        let mut cmd = Command::new("zypper")
            .timeout(self.settings.command_timeout)
            .env("ZYPP_LOGFILE", root.join("var/log/zypper.log").as_os_str())
            .env(
                "ZYPP_LOCK_TIMEOUT",
                self.settings.lock_wait.as_secs().to_string(),
            )
            .arg("--non-interactive");
        if root != Path::new("/") {
            cmd = cmd.arg("--root").arg(root.as_os_str());
        }
        cmd
    }

    /// `zypper refresh`.
    pub fn refresh_command(&self) -> Command {
        self.base_command().arg("refresh")
    }

    /// `zypper --xmlout list-updates`.
    pub fn list_updates_command(&self) -> Command {
        self.base_command().args(["--xmlout", "list-updates"])
    }

    /// `zypper --xmlout list-patches`: the needed patches of every category (zypper 1.14
    /// ignores `--category` in XML mode anyway: filter with [`ZypperPatch::is_security`]).
    pub fn list_patches_command(&self) -> Command {
        self.base_command().args(["--xmlout", "list-patches"])
    }

    /// `zypper --xmlout info -t patch -- IDS`: each patch's text report, whose
    /// "Conflicts" lines (`name < fixed-version`) name the packages it updates.
    pub fn patch_info_command(&self, ids: &[&str]) -> Command {
        self.base_command()
            .args(["--xmlout", "info", "-t", "patch", "--"])
            .args(ids.iter().copied())
    }

    /// `install -t patch -- IDS`: zypper's own patch path (it also installs interactive
    /// patches, such as reboot-suggesting ones, in non-interactive mode: recorded).
    pub fn patch_install_command(&self, ids: &[&str]) -> Command {
        self.patch_install_with(ids, false)
    }

    /// [`Zypper::patch_install_command`], or its dry run (see [`Zypper::verb_command`]).
    pub(crate) fn patch_install_with(&self, ids: &[&str], dry: bool) -> Command {
        self.verb_command("install", dry)
            .args(["-t", "patch", "--"])
            .args(ids.iter().copied())
    }

    /// zypper running `verb`; a dry run (`dry`) asks for XML output and adds `--dry-run`
    /// after the verb, so that a change and its dry run are built in one place.
    pub(crate) fn verb_command(&self, verb: &str, dry: bool) -> Command {
        if dry {
            self.base_command().args(["--xmlout", verb, "--dry-run"])
        } else {
            self.base_command().arg(verb)
        }
    }

    /// `zypper needs-rebooting`: exit 102 when `ROOT/run/reboot-needed` exists (it honours
    /// `--root`), 0 otherwise.
    pub fn needs_rebooting_command(&self) -> Command {
        self.base_command().arg("needs-rebooting")
    }

    /// Records zypper's "a reboot is required" (exit 102 after installing a patch that
    /// suggests one) where `zypper needs-rebooting` looks: libzypp itself only writes
    /// `/run/reboot-needed` for packages flagged needreboot, not for patches (recorded:
    /// `needs-rebooting` said 0 right after a 102), so without this the flag would be lost.
    fn mark_reboot_needed(&self) -> Result<(), PkgError> {
        let run = self.settings.root.join("run");
        let flag = run.join("reboot-needed");
        std::fs::create_dir_all(&run)
            .and_then(|_| std::fs::write(&flag, b""))
            .map_err(|error| PkgError::Io {
                what: format!("writing {}", flag.display()),
                error,
            })
    }

    fn run(&self, cmd: &Command) -> Result<Finished, PkgError> {
        let finished = runner::capture(cmd).map_err(PkgError::from)?;
        match classify_exit(finished.code) {
            ZypperExit::Success => Ok(finished),
            ZypperExit::Locked => Err(PkgError::Locked {
                tool: "zypper".to_string(),
                waited: self.settings.lock_wait,
            }),
            _ => Err(failed(cmd, &finished)),
        }
    }

    /// `-x search -s --match-exact -- NAME`: every version of NAME, installed or offered.
    pub fn search_command(&self, name: &str) -> Command {
        self.base_command()
            .args(["--xmlout", "search", "-s", "--match-exact", "--", name])
    }

    /// `install [--oldpackage] [--no-recommends] [-f] [--allow-unsigned-rpm] -- ARGS`.
    /// `--allow-unsigned-rpm` only concerns rpm files named on the command line (saved
    /// rollback packages), never repository packages.
    pub fn install_command(
        &self,
        args: &[String],
        options: &InstallOptions,
        files: bool,
    ) -> Command {
        self.install_with(args, options, files, false)
    }

    /// [`Zypper::install_command`], or its dry run (see [`Zypper::verb_command`]).
    pub(crate) fn install_with(
        &self,
        args: &[String],
        options: &InstallOptions,
        files: bool,
        dry: bool,
    ) -> Command {
        let mut cmd = self.verb_command("install", dry);
        if options.allow_downgrade {
            cmd = cmd.arg("--oldpackage");
        }
        if options.no_recommends {
            cmd = cmd.arg("--no-recommends");
        }
        if options.force {
            cmd = cmd.arg("-f");
        }
        if files {
            cmd = cmd.arg("--allow-unsigned-rpm");
        }
        cmd.arg("--").args(args.iter().map(String::as_str))
    }

    /// `remove -- NAMES` (no `--clean-deps`: only what was asked, and its dependents).
    pub fn remove_command(&self, names: &[String]) -> Command {
        self.remove_with(names, false)
    }

    /// [`Zypper::remove_command`], or its dry run (see [`Zypper::verb_command`]).
    pub(crate) fn remove_with(&self, names: &[String], dry: bool) -> Command {
        self.verb_command("remove", dry)
            .arg("--")
            .args(names.iter().map(String::as_str))
    }

    /// `-x download -- name=version...`: into zypper's package cache, which the next
    /// install empties (`keeppackages=0`), so the files are copied out at once.
    pub fn download_command(&self, args: &[String]) -> Command {
        self.base_command()
            .args(["--xmlout", "download", "--"])
            .args(args.iter().map(String::as_str))
    }

    /// Runs a change with the job's output sink, cancel token and deadline.
    fn run_exec(&self, cmd: &Command, exec: &mut Exec<'_>) -> Result<Finished, PkgError> {
        let cmd = cmd.clone().timeout(exec.timeout).grace(exec.grace);
        runner::run_cancellable(&cmd, exec.on_line, exec.cancel).map_err(PkgError::from)
    }

    /// Runs a change and turns a failure (or zypper's silent refusals) into the matching
    /// error.
    fn change(
        &self,
        cmd: &Command,
        specs: &[PackageSpec],
        exec: &mut Exec<'_>,
    ) -> Result<Finished, PkgError> {
        let finished = self.run_exec(cmd, exec)?;
        match classify_change(&finished) {
            ZypperFailure::None => Ok(finished),
            ZypperFailure::Locked => Err(PkgError::Locked {
                tool: "zypper".to_string(),
                waited: self.settings.lock_wait,
            }),
            ZypperFailure::NotFound(args) => Err(rpmdb::unmatched(self, &args, specs, spec_arg)),
            ZypperFailure::OlderVersion(m) => Err(PkgError::VersionConflict(m)),
            ZypperFailure::Dependency(m) => Err(PkgError::DependencyConflict(m)),
            ZypperFailure::Other => Err(failed(cmd, &finished)),
        }
    }

    /// Downloads the installed versions and copies them into `dir`; what zypper cannot
    /// download (no longer published) is left out.
    fn save(
        &self,
        installed: &[(String, String)],
        dir: &Path,
        exec: &mut Exec<'_>,
    ) -> Result<Vec<SavedPackage>, PkgError> {
        std::fs::create_dir_all(dir).map_err(|error| PkgError::Io {
            what: format!("creating {}", dir.display()),
            error,
        })?;
        let args: Vec<String> = installed.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let cmd = self.download_command(&args);
        let finished = self.run_exec(&cmd, exec)?;
        match classify_exit(finished.code) {
            ZypperExit::Success => {}
            ZypperExit::Locked => {
                return Err(PkgError::Locked {
                    tool: "zypper".to_string(),
                    waited: self.settings.lock_wait,
                })
            }
            _ => return Err(failed(&cmd, &finished)),
        }
        let results = parse_download_xml(&finished.stdout)?;
        let mut saved = Vec::new();
        for (name, version) in installed {
            let Some(r) = results
                .iter()
                .find(|r| r.name == *name && rpmdb::version_matches(&r.version, version))
            else {
                continue;
            };
            let file = self.copy_out(&r.path, dir)?;
            saved.push(SavedPackage {
                name: name.clone(),
                version: version.clone(),
                file: Some(file),
            });
        }
        Ok(saved)
    }

    /// Copies a downloaded package into `dir`; zypper prints the cache path as the host
    /// sees it, but a path under the managed root is also accepted.
    fn copy_out(&self, path: &str, dir: &Path) -> Result<PathBuf, PkgError> {
        let direct = PathBuf::from(path);
        let source = if direct.exists() {
            direct
        } else {
            self.settings.root.join(path.trim_start_matches('/'))
        };
        let name = source.file_name().ok_or_else(|| PkgError::Parse {
            what: "zypper download output".to_string(),
            message: format!("no file name in {path:?}"),
        })?;
        let target = dir.join(name);
        crate::fsutil::copy_atomic(&source, &target).map_err(|error| PkgError::Io {
            what: format!("copying {} to {}", source.display(), target.display()),
            error,
        })?;
        Ok(target)
    }

    /// Needed security patches, per `list-patches`.
    pub fn security_patches(&self) -> Result<Vec<ZypperPatch>, PkgError> {
        let finished = self.run(&self.list_patches_command())?;
        let patches = parse_patches_xml(&finished.stdout)?;
        Ok(patches.into_iter().filter(|p| p.is_security()).collect())
    }
}

/// A failed zypper call; in XML mode zypper reports errors as `<message type="error">` on
/// standard output, so those are preferred over the (often empty) error output.
fn failed(cmd: &Command, finished: &Finished) -> PkgError {
    let messages = parse_error_messages(&finished.stdout);
    if messages.is_empty() {
        return rpmdb::command_failed(cmd, finished);
    }
    PkgError::Command {
        command: cmd.display(),
        code: finished.code,
        stderr_tail: messages.join("\n"),
    }
}

impl PackageManager for Zypper {
    fn kind(&self) -> BackendKind {
        BackendKind::Zypper
    }

    fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
        self.memo
            .get(&self.settings.root, || rpmdb::installed(&self.settings))
    }

    fn database_paths(&self) -> Vec<PathBuf> {
        rpmdb::database_paths(&self.settings.root)
    }

    fn details(&self, name: &str) -> Result<Option<PackageDetails>, PkgError> {
        validate::name(BackendKind::Zypper, name)?;
        rpmdb::details(&self.settings, true, name)
    }

    fn metadata_cache(&self) -> MetadataCache {
        // raw/<alias>/ holds each repository's downloaded metadata.
        let cache = self.settings.root.join("var/cache/zypp");
        MetadataCache {
            dirs: vec![cache.join("raw")],
            stamp: Some(cache.join(super::refresh::STAMP_NAME)),
        }
    }

    fn refresh(&self) -> Result<(), PkgError> {
        self.run(&self.refresh_command()).map(|_| ())
    }

    fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
        let finished = self.run(&self.list_updates_command())?;
        let updates = parse_list_updates_xml(&finished.stdout)?;
        let installed = if updates.iter().any(|u| u.edition_old.is_none()) {
            self.installed()?
        } else {
            Vec::new()
        };
        Ok(upgrades_from(&updates, &installed))
    }

    fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError> {
        validate::name(BackendKind::Zypper, name)?;
        let cmd = self.search_command(name);
        let finished = runner::capture(&cmd).map_err(PkgError::from)?;
        match classify_exit(finished.code) {
            ZypperExit::Success => parse_search_versions(&finished.stdout, name),
            ZypperExit::NotFound => Ok(Vec::new()),
            ZypperExit::Locked => Err(PkgError::Locked {
                tool: "zypper".to_string(),
                waited: self.settings.lock_wait,
            }),
            _ => Err(failed(&cmd, &finished)),
        }
    }

    /// From the primary lists of the repositories zypper has enabled (a local one in
    /// place, a remote one from zypper's raw cache).
    fn indexed_versions(&self, name: &str) -> Option<Vec<String>> {
        let dirs = repos::zypper_metadata_dirs(&self.settings.root)?;
        self.offers
            .versions(repos::stamped(&dirs), || primary::offers_of(&dirs), name)
    }

    /// One `install`: zypper updates an installed package named without a version, and
    /// `-f` reinstalls. Downgrades are refused before zypper runs unless allowed (then
    /// `--oldpackage`), and exact versions are checked in the database afterwards.
    fn install(
        &self,
        packages: &[PackageSpec],
        options: &InstallOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        for spec in packages {
            validate::name(BackendKind::Zypper, &spec.name)?;
            if let Some(v) = &spec.version {
                validate::version(BackendKind::Zypper, v)?;
            }
        }
        if packages.is_empty() {
            return Ok(());
        }
        let before = rpmdb::installed_versions(&self.installed()?);
        rpmdb::check_downgrades(&before, packages, options.allow_downgrade)?;
        let args: Vec<String> = packages.iter().map(spec_arg).collect();
        self.change(&self.install_command(&args, options, false), packages, exec)?;
        let after = rpmdb::installed_versions(&self.installed()?);
        let wanted: Vec<(String, String)> = packages
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.version.clone()?)))
            .collect();
        rpmdb::verify_versions(&after, &wanted)
    }

    /// zypper removes the dependents too, so without `force` rpm's own test refuses first.
    /// rpm deletes unmodified `%config` files and keeps modified ones as `.rpmsave`:
    /// `purge` has nothing more to do.
    fn remove(
        &self,
        names: &[String],
        options: &RemoveOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        for n in names {
            validate::name(BackendKind::Zypper, n)?;
        }
        if names.is_empty() {
            return Ok(());
        }
        rpmdb::check_removal(&self.settings, names, options.force)?;
        self.change(&self.remove_command(names), &[], exec)
            .map(|_| ())
    }

    fn save_for_rollback(
        &self,
        installed: &[(String, String)],
        dir: &Path,
        exec: &mut Exec<'_>,
    ) -> Result<Vec<SavedPackage>, PkgError> {
        if installed.is_empty() {
            return Ok(Vec::new());
        }
        self.save(installed, dir, exec)
    }

    /// Removals first, then one `install --oldpackage` of saved files and `name=version`
    /// arguments (zypper mixes both), checked in the database afterwards.
    fn restore(&self, steps: &[RestoreStep], exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let mut removes = Vec::new();
        let mut args = Vec::new();
        let mut wanted = Vec::new();
        let mut specs = Vec::new();
        let mut files = false;
        for step in steps {
            match step {
                RestoreStep::Remove { name } => removes.push(name.clone()),
                RestoreStep::Install {
                    name,
                    version,
                    file,
                } => {
                    let spec = PackageSpec {
                        name: name.clone(),
                        version: Some(version.clone()),
                    };
                    match file {
                        Some(f) => {
                            files = true;
                            args.push(f.display().to_string());
                        }
                        None => args.push(spec_arg(&spec)),
                    }
                    wanted.push((name.clone(), version.clone()));
                    specs.push(spec);
                }
            }
        }
        if !removes.is_empty() {
            rpmdb::check_removal(&self.settings, &removes, false)?;
            self.change(&self.remove_command(&removes), &[], exec)?;
        }
        if args.is_empty() {
            return Ok(());
        }
        let options = InstallOptions {
            allow_downgrade: true,
            ..InstallOptions::default()
        };
        self.change(&self.install_command(&args, &options, files), &specs, exec)?;
        let after = rpmdb::installed_versions(&self.installed()?);
        rpmdb::verify_versions(&after, &wanted)
    }

    /// `-x list-patches` (id, category, severity, CVE ids, restart flag, summary, issue
    /// date), then one `-x info -t patch` for the packages each patch updates.
    fn advisories(
        &self,
        upgrades: &[Upgrade],
        _feed: &FeedSettings,
    ) -> Result<Vec<Advisory>, PkgError> {
        if upgrades.is_empty() {
            return Ok(Vec::new());
        }
        let listed = self.run(&self.list_patches_command())?;
        let patches: Vec<ZypperPatch> = parse_patches_xml(&listed.stdout)?
            .into_iter()
            .filter(|p| p.status == "needed")
            .collect();
        if patches.is_empty() {
            return Ok(advisories::with_uncovered(Vec::new(), upgrades));
        }
        let ids: Vec<&str> = patches.iter().map(|p| p.id.as_str()).collect();
        let info = self.run(&self.patch_info_command(&ids))?;
        let infos = parse_patch_info_xml(&info.stdout)?;
        Ok(patches_to_advisories(&patches, &infos, upgrades))
    }

    /// `install -t patch -- IDS`, then plain updates as exact-version installs. zypper has
    /// no per-command package exclusion (a lock would outlive a crash), so when an excluded
    /// package belongs to a selected patch, the whole selection falls back to installing
    /// the remaining packages at their fixed versions (the default path).
    fn apply_advisories(
        &self,
        selected: &[Advisory],
        exclude: &[String],
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        for name in exclude {
            validate::name(BackendKind::Zypper, name)?;
        }
        let (patches, plain): (Vec<&Advisory>, Vec<&Advisory>) =
            selected.iter().partition(|a| a.severity_source == SOURCE);
        let excluded_in_patch = patches
            .iter()
            .flat_map(|a| a.packages.iter())
            .any(|p| exclude.contains(&p.name));
        if excluded_in_patch {
            return install_fixed(self, selected, exclude, exec);
        }
        let ids: Vec<&str> = patches.iter().map(|a| a.id.as_str()).collect();
        for id in &ids {
            updateinfo::validate_id(id)?;
        }
        if !ids.is_empty() {
            let finished = self.change(&self.patch_install_command(&ids), &[], exec)?;
            if finished.code == Some(102) {
                self.mark_reboot_needed()?;
            }
        }
        rpm::finish_apply(self, &plain, &patches, exclude, exec)
    }

    fn simulate(&self, change: &Change, exec: &mut Exec<'_>) -> Result<Plan, PkgError> {
        self.dry_run(change, exec)
    }

    fn holds(&self) -> Result<Vec<String>, PkgError> {
        self.read_holds()
    }

    fn hold_paths(&self) -> Vec<PathBuf> {
        self.hold_files()
    }

    fn hold(&self, name: &str) -> Result<(), PkgError> {
        self.add_lock(name)
    }

    fn unhold(&self, name: &str) -> Result<(), PkgError> {
        self.remove_lock(name)
    }

    fn reboot_required(&self) -> Result<RebootRequired, PkgError> {
        let cmd = self.needs_rebooting_command();
        let finished = runner::capture(&cmd).map_err(PkgError::from)?;
        needs_rebooting_verdict(finished.code).ok_or_else(|| failed(&cmd, &finished))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::{AdvisoryKind, AffectedPackage, Severity};
    use std::time::Duration;

    const UPDATES: &str = include_str!("../../../tests/data/zypper/zypper-x-list-updates.stdout");
    const UPDATES_EXTRA: &str =
        include_str!("../../../tests/data/zypper/zypper-x-list-updates-extra.stdout");
    const LOCKED: &str =
        include_str!("../../../tests/data/zypper/zypper-x-list-updates-locked.stdout");
    const PATCHES: &str =
        include_str!("../../../tests/data/zypper/zypper-x-list-patches-security.stdout");
    const REFRESH_BROKEN: &str =
        include_str!("../../../tests/data/zypper/zypper-refresh-broken.stderr");

    fn settings(root: &str) -> BackendSettings {
        BackendSettings {
            root: PathBuf::from(root),
            command_timeout: Duration::from_secs(60),
            lock_wait: Duration::from_secs(12),
        }
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn rec(code: i32, stdout: &str, stderr: &str) -> Finished {
        Finished {
            code: Some(code),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        }
    }

    macro_rules! data {
        ($f:literal) => {
            include_str!(concat!("../../../tests/data/zypper/", $f))
        };
    }

    #[test]
    fn search_versions_recorded() {
        let v = parse_search_versions(data!("zypper-x-search-lpa-hello.stdout"), "lpa-hello");
        assert_eq!(v.unwrap(), ["1.0-1", "1.1-1", "2.0-1"]);
        let none = parse_search_versions(data!("zypper-x-search-nosuch.stdout"), "nosuch");
        assert!(none.unwrap().is_empty());
        assert!(parse_search_versions("<stream>", "x").is_err());
    }

    #[test]
    fn nothing_to_do_trap_recorded() {
        let trap = rec(0, data!("zypper-install-older-trap.stdout"), "");
        assert!(trap.stdout.contains("Nothing to do."));
        let ZypperFailure::OlderVersion(m) = classify_change(&trap) else {
            panic!("the trap was taken for success");
        };
        assert!(m.contains("lpa-hello-1.0-1.noarch"), "{m}");
        assert!(m.contains("--oldpackage"), "{m}");
        for ok in [
            data!("zypper-install-oldpackage.stdout"),
            data!("zypper-install-same.stdout"),
            data!("zypper-install-exact-upgrade.stdout"),
            data!("zypper-install-force.stdout"),
            data!("zypper-install-name-upgrades.stdout"),
            data!("zypper-install-file-oldpackage.stdout"),
            data!("zypper-remove-with-dependent.stdout"),
        ] {
            assert_eq!(
                classify_change(&rec(0, ok, "")),
                ZypperFailure::None,
                "{ok}"
            );
        }
    }

    #[test]
    fn failures_recorded() {
        let nosuch = rec(
            104,
            data!("zypper-install-nosuch.stdout"),
            data!("zypper-install-nosuch.stderr"),
        );
        assert_eq!(
            classify_change(&nosuch),
            ZypperFailure::NotFound(vec!["nosuch".into()])
        );
        let noversion = rec(
            104,
            data!("zypper-install-noversion.stdout"),
            data!("zypper-install-noversion.stderr"),
        );
        assert_eq!(
            classify_change(&noversion),
            ZypperFailure::NotFound(vec!["lpa-hello=9.9-1".into()])
        );
        let dep = rec(4, data!("zypper-install-depproblem.stdout"), "");
        let ZypperFailure::Dependency(p) = classify_change(&dep) else {
            panic!("not a dependency problem");
        };
        assert!(
            p.starts_with("Problem: lpa-hello-2.0-1.noarch requires lpa-lib >= 1.0"),
            "{p}"
        );
        assert!(p.contains("not installable providers"), "{p}");
        assert!(!p.contains("Solution"), "{p}");
        let unsigned = rec(
            8,
            data!("zypper-install-file-unsigned.stdout"),
            data!("zypper-install-file-unsigned.stderr"),
        );
        assert_eq!(classify_change(&unsigned), ZypperFailure::Other);
        assert_eq!(classify_change(&rec(7, LOCKED, "")), ZypperFailure::Locked);
        assert_eq!(classify_change(&rec(4, "", "boom")), ZypperFailure::Other);
    }

    #[test]
    fn download_recorded() {
        let d = parse_download_xml(data!("zypper-x-download.stdout")).unwrap();
        assert_eq!(
            d,
            [
                Downloaded {
                    name: "lpa-hello".into(),
                    version: "1.0-1".into(),
                    path: "/var/cache/zypp/packages/lpa/lpa-hello-1.0-1.noarch.rpm".into(),
                },
                Downloaded {
                    name: "lpa-lib".into(),
                    version: "1.0-1".into(),
                    path: "/var/cache/zypp/packages/lpa/lpa-lib-1.0-1.noarch.rpm".into(),
                },
            ]
        );
        assert!(
            parse_download_xml(data!("zypper-x-download-missing.stdout"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn change_command_lines() {
        let z = Zypper::new(settings("/"));
        let all = InstallOptions {
            force: true,
            no_recommends: true,
            allow_downgrade: true,
        };
        let a = args(&z.install_command(&["lpa-hello=1.0-1".into()], &all, true));
        assert_eq!(
            a,
            [
                "--non-interactive",
                "install",
                "--oldpackage",
                "--no-recommends",
                "-f",
                "--allow-unsigned-rpm",
                "--",
                "lpa-hello=1.0-1"
            ]
        );
        let plain = args(&z.install_command(&["x".into()], &InstallOptions::default(), false));
        assert_eq!(plain, ["--non-interactive", "install", "--", "x"]);
        assert_eq!(
            args(&z.remove_command(&["a".into(), "b".into()])),
            ["--non-interactive", "remove", "--", "a", "b"]
        );
        assert_eq!(
            args(&z.download_command(&["a=1-1".into()])),
            ["--non-interactive", "--xmlout", "download", "--", "a=1-1"]
        );
        assert_eq!(
            args(&z.search_command("lpa-hello")),
            [
                "--non-interactive",
                "--xmlout",
                "search",
                "-s",
                "--match-exact",
                "--",
                "lpa-hello"
            ]
        );
        let other = Zypper::new(settings("/srv/img"));
        assert_eq!(
            args(&other.remove_command(&["a".into()])),
            [
                "--non-interactive",
                "--root",
                "/srv/img",
                "remove",
                "--",
                "a"
            ]
        );
        let spec = PackageSpec {
            name: "a".into(),
            version: Some("1:2-3".into()),
        };
        assert_eq!(spec_arg(&spec), "a=1:2-3");
    }

    #[test]
    fn list_updates_recorded() {
        let u = parse_list_updates_xml(UPDATES).unwrap();
        assert_eq!(
            u,
            [
                ZypperUpdate {
                    name: "lpa-hello".into(),
                    edition: "2.0-1".into(),
                    edition_old: Some("1.0-1".into()),
                    arch: Some("noarch".into()),
                    repo: Some("lpa".into()),
                },
                ZypperUpdate {
                    name: "lpa-lib".into(),
                    edition: "1.1-1".into(),
                    edition_old: Some("1.0-1".into()),
                    arch: Some("noarch".into()),
                    repo: Some("lpa".into()),
                },
            ]
        );
        let ups = upgrades_from(&u, &[]);
        assert_eq!(ups[0].current_version, "1.0-1");
        assert_eq!(ups[0].available_version, "2.0-1");
        assert_eq!(ups[0].origins, ["lpa"]);
    }

    #[test]
    fn list_updates_recorded_with_epoch_and_second_repo() {
        let u = parse_list_updates_xml(UPDATES_EXTRA).unwrap();
        assert_eq!(u.len(), 4);
        assert_eq!(
            u[2].name,
            "lpa-a-very-long-package-name-for-line-wrapping-tests"
        );
        assert_eq!(u[2].edition, "2.0-1.lpa.extra.long.release.string");
        assert_eq!(u[3].name, "lpa-x");
        assert_eq!(u[3].edition, "2:5.1-1");
        assert_eq!(u[3].edition_old.as_deref(), Some("2:5.0-1"));
        assert_eq!(u[3].repo.as_deref(), Some("lpa-extra"));
    }

    #[test]
    fn missing_edition_old_uses_installed_version() {
        let u = [ZypperUpdate {
            name: "a".into(),
            edition: "2-1".into(),
            edition_old: None,
            arch: None,
            repo: None,
        }];
        assert!(upgrades_from(&u, &[]).is_empty());
        let p = InstalledPackage {
            name: "a".into(),
            version: "1-1".into(),
            arch: None,
            description: String::new(),
            size_bytes: None,
            installed_at: None,
            maintainer: None,
            depends: vec![],
        };
        assert_eq!(upgrades_from(&u, &[p])[0].current_version, "1-1");
    }

    #[test]
    fn patches_recorded() {
        let p = parse_patches_xml(PATCHES).unwrap();
        assert_eq!(p.len(), 2, "zypper -x ignores --category");
        let sec = &p[0];
        assert_eq!(sec.id, "LPA-2026-0001");
        assert_eq!(sec.edition, "1");
        assert_eq!(sec.category, "security");
        assert_eq!(sec.severity, "important");
        assert_eq!(sec.status, "needed");
        assert!(!sec.restart && !sec.interactive && !sec.pkgmanager);
        assert_eq!(sec.summary, "Important: lpa-hello security update");
        assert_eq!(sec.issued, Some(1768435200));
        assert_eq!(sec.repo.as_deref(), Some("lpa"));
        assert_eq!(
            sec.issues,
            [PatchIssue {
                kind: "cve".into(),
                id: "CVE-2026-0001".into(),
                title: Some("CVE-2026-0001".into()),
                href: Some("https://lpa.invalid/cve/CVE-2026-0001".into()),
            }]
        );
        assert_eq!(sec.cves(), ["CVE-2026-0001"]);
        assert!(sec.is_security());
        assert_eq!(p[1].id, "LPA-2026-0002");
        assert_eq!(p[1].category, "bugfix");
        assert_eq!(p[1].severity, "none");
        assert!(p[1].issues.is_empty());
        assert!(!p[1].is_security());
    }

    #[test]
    fn locked_recorded() {
        assert_eq!(classify_exit(Some(7)), ZypperExit::Locked);
        assert!(parse_list_updates_xml(LOCKED).unwrap().is_empty());
        let m = parse_error_messages(LOCKED);
        assert_eq!(
            m,
            ["System management is locked by the application with pid 3 (sleep).\nClose this application before trying again."]
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(classify_exit(Some(0)), ZypperExit::Success);
        assert_eq!(classify_exit(Some(101)), ZypperExit::Success);
        assert_eq!(classify_exit(Some(103)), ZypperExit::Success);
        assert_eq!(classify_exit(Some(104)), ZypperExit::NotFound);
        assert_eq!(classify_exit(Some(106)), ZypperExit::ReposSkipped);
        assert_eq!(classify_exit(Some(4)), ZypperExit::Failed);
        assert_eq!(classify_exit(None), ZypperExit::Failed);
    }

    #[test]
    fn broken_refresh_error_text_is_kept() {
        let cmd = Zypper::new(settings("/")).refresh_command();
        let f = Finished {
            code: Some(4),
            stdout: String::new(),
            stderr: REFRESH_BROKEN.to_string(),
        };
        match failed(&cmd, &f) {
            PkgError::Command {
                code, stderr_tail, ..
            } => {
                assert_eq!(code, Some(4));
                assert!(stderr_tail.ends_with(
                    "Some of the repositories have not been refreshed because of an error."
                ));
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn malformed_output_is_an_error() {
        assert!(parse_list_updates_xml("<update kind=\"package\"/>").is_err());
        assert!(parse_list_updates_xml("<stream><update-status>").is_err());
        assert!(parse_patches_xml("<stream><update kind='patch'></stream>").is_err());
        assert!(parse_error_messages("not xml <").is_empty());
    }

    #[test]
    fn command_lines() {
        let z = Zypper::new(settings("/"));
        assert_eq!(z.kind(), BackendKind::Zypper);
        let cmd = z.list_updates_command();
        assert_eq!(cmd.program, PathBuf::from("zypper"));
        assert_eq!(
            args(&cmd),
            ["--non-interactive", "--xmlout", "list-updates"]
        );
        let env: Vec<(String, String)> = cmd
            .env
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert!(env.contains(&("ZYPP_LOGFILE".into(), "/var/log/zypper.log".into())));
        assert!(env.contains(&("ZYPP_LOCK_TIMEOUT".into(), "12".into())));
        let other = Zypper::new(settings("/srv/img"));
        let r = other.refresh_command();
        assert_eq!(
            args(&r),
            ["--non-interactive", "--root", "/srv/img", "refresh"]
        );
        assert!(r
            .env
            .iter()
            .any(|(k, v)| k == "ZYPP_LOGFILE" && v == "/srv/img/var/log/zypper.log"));
        assert_eq!(
            args(&other.list_patches_command())[3..],
            ["--xmlout", "list-patches"]
        );
    }

    const ALL_PATCHES: &str =
        include_str!("../../../tests/data/zypper/zypper-x-list-patches.stdout");
    const APPLIED_PATCHES: &str =
        include_str!("../../../tests/data/zypper/zypper-x-list-patches-applied.stdout");
    const PATCH_INFO: &str = include_str!("../../../tests/data/zypper/zypper-x-info-patch.stdout");
    const PATCH_INFO_TWO: &str =
        include_str!("../../../tests/data/zypper/zypper-x-info-patch-two-packages.stdout");

    fn up(name: &str, cur: &str, new: &str) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: Some("noarch".into()),
            origins: vec!["lpa".into()],
        }
    }

    #[test]
    fn all_patches_recorded_with_reboot_flag() {
        let p = parse_patches_xml(ALL_PATCHES).unwrap();
        assert_eq!(p.len(), 3);
        let crit = &p[2];
        assert_eq!(crit.id, "LPA-2026-0003");
        assert_eq!(crit.severity, "critical");
        // reboot_suggested shows as restart="true" (and interactive="true").
        assert!(crit.restart && crit.interactive);
        assert!(!p[0].restart && !p[1].restart);
        assert_eq!(crit.cves(), ["CVE-2026-0002", "CVE-2026-0003"]);
        assert_eq!(crit.issued, Some(1768867200));
        assert!(crit.description.ends_with("a reboot is suggested."));
        let applied = parse_patches_xml(APPLIED_PATCHES).unwrap();
        // After LPA-2026-0001 and -0003: the bugfix 0002 is satisfied by lpa-lib 1.1-1 too.
        assert!(applied.is_empty(), "{applied:?}");
    }

    #[test]
    fn patch_packages_recorded() {
        let i = parse_patch_info_xml(PATCH_INFO).unwrap();
        assert_eq!(
            i,
            [
                PatchPackages {
                    id: "LPA-2026-0001".into(),
                    packages: vec![("lpa-hello".into(), "2.0-1".into())]
                },
                PatchPackages {
                    id: "LPA-2026-0002".into(),
                    packages: vec![("lpa-lib".into(), "1.1-1".into())]
                },
                PatchPackages {
                    id: "LPA-2026-0003".into(),
                    packages: vec![("lpa-lib".into(), "1.1-1".into())]
                },
            ]
        );
        let two = parse_patch_info_xml(PATCH_INFO_TWO).unwrap();
        assert_eq!(
            two[0].packages,
            [
                ("lpa-lib".to_string(), "1.1-1".to_string()),
                ("lpa-hello".to_string(), "1.1-1".to_string())
            ]
        );
    }

    #[test]
    fn advisories_from_recorded_output() {
        let patches = parse_patches_xml(ALL_PATCHES).unwrap();
        let infos = parse_patch_info_xml(PATCH_INFO).unwrap();
        let ups = [
            up("lpa-hello", "1.0-1", "2.0-1"),
            up("lpa-lib", "1.0-1", "1.1-1"),
        ];
        let a = patches_to_advisories(&patches, &infos, &ups);
        let ids: Vec<&str> = a.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["LPA-2026-0001", "LPA-2026-0002", "LPA-2026-0003"]);
        let crit = &a[2];
        assert_eq!(crit.kind, AdvisoryKind::Security);
        assert_eq!(crit.severity, Severity::Critical);
        assert_eq!(crit.severity_source, "zypper");
        assert!(crit.requires_reboot);
        assert_eq!(crit.cve_ids, ["CVE-2026-0002", "CVE-2026-0003"]);
        assert_eq!(crit.name, "Critical: lpa-lib security update");
        assert_eq!(
            crit.published,
            Some(time::macros::datetime!(2026-01-20 00:00 UTC))
        );
        assert_eq!(
            crit.packages,
            [AffectedPackage {
                name: "lpa-lib".into(),
                current_version: "1.0-1".into(),
                available_version: "1.1-1".into(),
                arch: Some("noarch".into()),
            }]
        );
        assert_eq!(a[0].severity, Severity::High);
        assert_eq!(a[1].kind, AdvisoryKind::Bugfix);
        assert_eq!(a[1].severity, Severity::Unknown);
        // A patch for what is not upgradable here is left out; uncovered updates stay.
        let only_tool = [up("lpa-tool", "1.0-1", "1.1-1")];
        let a = patches_to_advisories(&patches, &infos, &only_tool);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].id, "lpa-tool-1.1-1");
        // libsolv's `name.arch` form for arch-specific packages.
        let mut x = up("python3.11", "3.11.5-1", "3.11.9-1");
        x.arch = Some("x86_64".into());
        assert_eq!(
            upgrade_for("python3.11.x86_64", std::slice::from_ref(&x)),
            Some(&x)
        );
        assert_eq!(
            upgrade_for("python3.11", std::slice::from_ref(&x)),
            Some(&x)
        );
        assert_eq!(
            upgrade_for("python3.11.aarch64", std::slice::from_ref(&x)),
            None
        );
        assert_eq!(patch_kind("recommended"), AdvisoryKind::Bugfix);
        assert_eq!(patch_kind("feature"), AdvisoryKind::Enhancement);
    }

    #[test]
    fn patch_application_recorded() {
        let applied = rec(
            102,
            include_str!("../../../tests/data/zypper/zypper-install-patch.stdout"),
            "",
        );
        assert_eq!(classify_change(&applied), ZypperFailure::None);
        let again = rec(
            0,
            include_str!("../../../tests/data/zypper/zypper-install-patch-again.stdout"),
            "",
        );
        assert_eq!(classify_change(&again), ZypperFailure::None);
        let nosuch = rec(
            104,
            include_str!("../../../tests/data/zypper/zypper-install-patch-nosuch.stdout"),
            include_str!("../../../tests/data/zypper/zypper-install-patch-nosuch.stderr"),
        );
        assert_eq!(
            classify_change(&nosuch),
            ZypperFailure::NotFound(vec!["LPA-9999-0001".into()])
        );
        let z = Zypper::new(settings("/srv/img"));
        assert_eq!(
            args(&z.patch_install_command(&["LPA-2026-0001", "LPA-2026-0003"]))[3..],
            [
                "install",
                "-t",
                "patch",
                "--",
                "LPA-2026-0001",
                "LPA-2026-0003"
            ]
        );
        assert_eq!(
            args(&z.patch_info_command(&["LPA-2026-0003"]))[3..],
            ["--xmlout", "info", "-t", "patch", "--", "LPA-2026-0003"]
        );
        assert_eq!(args(&z.needs_rebooting_command())[3..], ["needs-rebooting"]);
    }

    #[test]
    fn needs_rebooting_recorded() {
        assert!(
            include_str!("../../../tests/data/zypper/zypper-needs-rebooting.stdout")
                .contains("Reboot is probably not necessary")
        );
        assert!(
            include_str!("../../../tests/data/zypper/zypper-needs-rebooting-flag.stdout")
                .contains("Reboot is required")
        );
        assert!(!needs_rebooting_verdict(Some(0)).unwrap().required);
        let yes = needs_rebooting_verdict(Some(102)).unwrap();
        assert!(yes.required && yes.reason.contains("102"));
        assert!(needs_rebooting_verdict(Some(1)).is_none());
        assert!(needs_rebooting_verdict(None).is_none());
    }
}
