//! The apt + dpkg backend (Debian, Ubuntu).
//!
//! Reads come from dpkg's database directly (`var/lib/dpkg/status`, `info/*.list`), whose
//! format has been stable for decades; refresh and upgrade computation run `apt-get`.
//!
//! Decisions (see also the docs of [`dpkg`] and [`sim`]):
//! - Inventory: a package counts as installed when dpkg's state is `installed`,
//!   `triggers-pending` or `triggers-awaited` (files in place, configured), whatever the
//!   selection (`install` or `hold`). `config-files` (removed, `rc`), `half-installed`,
//!   `unpacked`, `half-configured` and `not-installed` are left out; [`Apt::unfinished`]
//!   reports the interrupted ones for repair (`dpkg --configure -a`).
//! - Multi-arch: an instance of a foreign architecture is named `name:arch` (as dpkg-query and
//!   apt print it); native and `all` packages keep the bare name. The native architecture is
//!   the one recorded for the `dpkg` package. A package installed for two architectures
//!   appears twice, once under each name.
//! - `depends` in the inventory lists every name of `Pre-Depends` and `Depends`, each
//!   alternative of `a | b` included (any of them may be what is installed), architecture
//!   qualifiers (`:any`) dropped, duplicates removed.
//! - Details: one [`Dependency`] per alternative; `Pre-Depends`/`Depends` are required,
//!   `Recommends`/`Suggests` are not. Reverse dependencies are installed packages whose
//!   `Pre-Depends`/`Depends` name the package or a virtual package it `Provides`. Files are
//!   `info/<name>[:<arch>].list` without dpkg's `/.` entry (directories included, as
//!   `dpkg -L`). The license comes from a machine-readable `/usr/share/doc/<name>/copyright`
//!   when there is one (dpkg's database has none).
//! - Upgrades: `apt-get -s dist-upgrade`, not `upgrade`: an upgrade that needs a new
//!   dependency or a removal is still an upgrade the host is missing, and `upgrade` would
//!   hide it as "kept back". Each candidate keeps ALL of apt's origins, verbatim
//!   (`Label:Suite` or `Label:Version/Suite`).
//! - Another root (`settings.root` other than `/`): apt-get runs as
//!   `chroot ROOT apt-get ...`, i.e. the root's own apt with the root's configuration and
//!   sources (paths in its `file:` URIs are inside the root). `apt-get -o RootDir=` was
//!   tried and rejected: it still reads the host's `/etc/apt/apt.conf.d` (a host's
//!   `docker-clean` made it fail with "Problem renaming the file ... Invalid cross-device
//!   link"), and `-o Dir=` would run the host's dpkg on the host. A root without
//!   `/usr/bin/apt-get` gets [`PkgError::Unsupported`].
//! - Locks: `-o DPkg::Lock::Timeout=<lock_wait>` makes apt wait for dpkg's locks itself, but
//!   not for `var/lib/apt/lists/lock` (taken by `apt-get update`), so lock failures are
//!   retried here until `lock_wait` has passed, then reported as [`PkgError::Locked`].
//!
//! Changes (verified in an overlay sandbox, both as `/` inside bubblewrap and through
//! `chroot`; the messages classified are recorded in `tests/data/apt/`):
//! - Every apt-get run has `-o Dpkg::Use-Pty=0`: with a pseudo-terminal apt starts dpkg in
//!   a session of its own, which the runner's process-group kill does not reach (a cancelled
//!   install left dpkg and its maintainer script running with the lock held).
//! - `install`: one `apt-get install -y -q [--allow-downgrades] [--no-install-recommends]
//!   [--reinstall] -- name[=version]...` transaction. Every name is first looked up with
//!   `apt-cache policy`: apt-get reads an unknown name with `.` or `+` as a regular
//!   expression (`lpa.hello` installs lpa-hello) and a trailing `-` as "remove", so a name
//!   apt does not know exactly is [`PkgError::NotFound`] before anything runs.
//! - `available_versions`: `apt-cache policy`, every version of every origin, plus the
//!   installed one when only dpkg's database has it (not a removed package's `rc` version).
//! - `remove`: `apt-get remove|purge -y -q --`; a name not installed (for `remove`; for
//!   `purge` also not left as conffiles) is `NotFound`. Without `force`, a simulation
//!   first: if apt would take other packages along, [`PkgError::DependencyConflict`] names
//!   them; with `force` apt removes them.
//! - `save_for_rollback`: the version's file from `var/cache/apt/archives` when there, else
//!   `env -C DIR apt-get download -- name=version` (the runner has no working directory;
//!   `install --download-only` does not copy packages from `file:` repositories into the
//!   cache, so it cannot serve). One run per package, so one version that is no longer
//!   offered is left out instead of failing the others. The download goes to a private
//!   staging directory handed to `_apt` (mode 0700, see [`super::staging`]) and the file is
//!   then moved into the rollback cache: apt's sandbox user cannot enter the agent's 0700 state directory, and
//!   apt would otherwise download unsandboxed as root, with a warning ([`sandbox`]).
//! - `restore`: one `apt-get install -y -q --allow-downgrades --` transaction with saved
//!   files as absolute paths, `name=version` where no file is left, and `name-` removals.
//! - `repair`: nothing when `dpkg --audit` prints nothing (it exits 0 either way); else
//!   `dpkg --configure -a`, then `apt-get -f install` if the audit still complains.
//!
//! Advisories: one patch per upgrade, security when any origin of the candidate is a security
//! suite; CVE ids and severity from the Debian security tracker feed when configured
//! (`advisories::debian_tracker`). Reboot: `<root>/run/reboot-required` (+ `.pkgs`).

pub mod deps;
pub mod dpkg;
pub mod dry_run;
mod feeds;
pub mod holds;
pub mod journal;
pub mod mutate;
pub mod outcome;
pub mod policy;
mod reinstall;
mod rollback_files;
pub mod sandbox;
pub mod sim;

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use self::dpkg::StatusEntry;
use self::mutate::RestoreArg;
use super::advisories::cache::FeedCache;
use super::advisories::debian_tracker::{self, TrackerIndex};
use super::advisories::feeds::FeedSource;
use super::advisories::{self, reboot, Advisory, FeedSettings, Parsed, RebootRequired};
use super::plan::{Change, Plan};
use super::runner::{self, Command, Finished, RunError};
use super::{
    BackendKind, BackendSettings, Exec, InstallOptions, InstalledPackage, MetadataCache,
    PackageDetails, PackageManager, PackageSpec, PkgError, RemoveOptions, RestoreStep,
    SavedPackage, Upgrade,
};

pub use self::deps::{dependencies, depends_names, find_installed, reverse_dependencies};
pub use self::outcome::{check_outcome, is_lock_failure, stderr_tail};

/// The tool name used in errors.
const TOOL: &str = "apt-get";
/// apt-get's exit status for every kind of failure.
const APT_ERROR: i32 = 100;
/// At most this many error lines are kept in [`PkgError::Command`].
const TAIL_LINES: usize = 10;
/// Copyright files are read only this far (the license is near the top).
const COPYRIGHT_LIMIT: u64 = 256 * 1024;

/// The apt/dpkg backend.
#[derive(Clone, Debug)]
pub struct Apt {
    settings: BackendSettings,
    /// The parsed Debian tracker feed, kept while its file is unchanged.
    tracker: FeedCache<Parsed<TrackerIndex>>,
    /// The parsed OSV feeds (Ubuntu USN, Debian DSA), kept while their files are unchanged.
    osv: FeedCache<Parsed<advisories::osv::OsvIndex>>,
}

impl Apt {
    /// A backend managing `settings.root`.
    pub fn new(settings: BackendSettings) -> Self {
        Apt {
            settings,
            tracker: FeedCache::default(),
            osv: FeedCache::default(),
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &BackendSettings {
        &self.settings
    }

    fn under_root(&self, rel: &str) -> PathBuf {
        self.settings.root.join(rel)
    }

    fn status_path(&self) -> PathBuf {
        self.under_root("var/lib/dpkg/status")
    }

    /// dpkg's journal of changes not yet folded into `status` (see [`journal`]).
    fn journal_dir(&self) -> PathBuf {
        self.under_root("var/lib/dpkg/updates")
    }

    /// The status as dpkg reads it: `status` with its journal applied.
    fn read_status(&self) -> Result<Vec<StatusEntry>, PkgError> {
        journal::read(&self.status_path(), &self.journal_dir()).map_err(status_error)
    }

    /// Packages dpkg left half-done (`half-installed`, `unpacked`, `half-configured`, or
    /// flagged `reinstreq`): the host needs `dpkg --configure -a` or a reinstall.
    pub fn unfinished(&self) -> Result<Vec<String>, PkgError> {
        let entries = self.read_status()?;
        let native = dpkg::native_arch(&entries);
        Ok(entries
            .iter()
            .filter(|e| e.state.is_unfinished() || e.flag == "reinstreq")
            .map(|e| e.display_name(native.as_deref()))
            .collect())
    }

    /// A command running `program` of this root: directly for `/`, else as
    /// `chroot ROOT program` (the root's own tool, configuration and database).
    fn in_root(&self, program: &str) -> Result<Command, PkgError> {
        if is_host_root(&self.settings.root) {
            return Ok(Command::new(program));
        }
        let inner = self.under_root(&format!("usr/bin/{program}"));
        if !inner.is_file() {
            return Err(PkgError::Unsupported(format!(
                "{program} for root {}: it has no /usr/bin/{program} to run",
                self.settings.root.display()
            )));
        }
        Ok(Command::new("chroot")
            .arg(self.settings.root.as_os_str())
            .arg(program))
    }

    /// An `apt-get` command for this root with the non-interactive environment, the lock
    /// wait, conffile defaults and the deadline already set; `args` follow them.
    pub fn apt_get(&self, args: &[&str]) -> Result<Command, PkgError> {
        self.apt_get_in(None, args)
    }

    /// Like [`Apt::apt_get`], run in the working directory `cwd` (a path as the tool sees
    /// it) through `env -C`: the runner has no working directory of its own, and
    /// `apt-get download` writes into the current one.
    fn apt_get_in(&self, cwd: Option<&Path>, args: &[&str]) -> Result<Command, PkgError> {
        let cmd = match cwd {
            None => self.in_root("apt-get")?,
            Some(dir) => self
                .in_root("env")?
                .arg("-C")
                .arg(dir.as_os_str())
                .arg("apt-get"),
        };
        Ok(non_interactive(cmd)
            .args([
                "-o".to_string(),
                format!("DPkg::Lock::Timeout={}", lock_secs(self.settings.lock_wait)),
                "-o".to_string(),
                "Dpkg::Options::=--force-confdef".to_string(),
                "-o".to_string(),
                "Dpkg::Options::=--force-confold".to_string(),
                // With a pseudo-terminal apt starts dpkg in a session of its own, out of
                // reach of the runner's process-group kill: a cancelled job would leave
                // dpkg and its maintainer script running, holding the lock.
                "-o".to_string(),
                "Dpkg::Use-Pty=0".to_string(),
            ])
            .args(args.iter().copied())
            .timeout(self.settings.command_timeout))
    }

    /// `apt-cache policy -- NAME...`: every version of each package in every origin.
    pub fn policy_command(&self, names: &[&str]) -> Result<Command, PkgError> {
        Ok(non_interactive(self.in_root("apt-cache")?)
            .args(["policy", "--"])
            .args(names.iter().copied())
            .timeout(self.settings.command_timeout))
    }

    /// A `dpkg` command for this root (repair), conffile prompts answered as apt does.
    pub fn dpkg_command(&self, args: &[&str]) -> Result<Command, PkgError> {
        Ok(non_interactive(self.in_root("dpkg")?)
            .args(["--force-confdef", "--force-confold"])
            .args(args.iter().copied())
            .timeout(self.settings.command_timeout))
    }

    /// The metadata refresh: fails on any fetch error (`--error-on=any`).
    pub fn update_command(&self) -> Result<Command, PkgError> {
        self.apt_get(&["-q", "--error-on=any", "update"])
    }

    /// The upgrade simulation ([`mutate::SIMULATE`]: no lock, nothing written). Holds are
    /// ignored here only, so that a held package's update is listed (flagged held; patch
    /// runs skip it).
    pub fn simulate_upgrade_command(&self) -> Result<Command, PkgError> {
        let mut args = mutate::SIMULATE.to_vec();
        args.extend(["-q", "-o", "APT::Ignore-Hold=true", "dist-upgrade"]);
        self.apt_get(&args)
    }

    /// Runs an apt-get command, retrying while a lock is busy until `lock_wait` has passed.
    pub fn run_apt(&self, cmd: &Command) -> Result<Finished, PkgError> {
        let start = Instant::now();
        loop {
            let fin = runner::capture(cmd).map_err(PkgError::from)?;
            match check_outcome(&cmd.display(), &fin, start.elapsed()) {
                Ok(()) => return Ok(fin),
                Err(PkgError::Locked { .. }) if start.elapsed() < self.settings.lock_wait => {
                    let left = self.settings.lock_wait.saturating_sub(start.elapsed());
                    std::thread::sleep(left.min(Duration::from_secs(1)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn installed_entries(&self) -> Result<(Vec<StatusEntry>, Option<String>), PkgError> {
        let mut entries = self.read_status()?;
        let native = dpkg::native_arch(&entries);
        entries.retain(|e| e.state.counts_as_installed());
        Ok((entries, native))
    }

    /// `info/<name>:<arch>.list` (Multi-Arch: same) or `info/<name>.list`, whichever exists.
    fn list_file(&self, e: &StatusEntry) -> Option<PathBuf> {
        let info = self.under_root("var/lib/dpkg/info");
        let mut candidates = Vec::new();
        if let Some(arch) = &e.arch {
            candidates.push(info.join(format!("{}:{}.list", e.name, arch)));
        }
        candidates.push(info.join(format!("{}.list", e.name)));
        candidates.into_iter().find(|p| p.is_file())
    }

    fn installed_at(&self, e: &StatusEntry) -> Option<OffsetDateTime> {
        let modified = std::fs::metadata(self.list_file(e)?)
            .ok()?
            .modified()
            .ok()?;
        Some(OffsetDateTime::from(modified))
    }

    fn record(&self, e: &StatusEntry, native: Option<&str>) -> InstalledPackage {
        InstalledPackage {
            name: e.display_name(native),
            version: e.version.clone().unwrap_or_default(),
            arch: e.arch.clone(),
            description: e.summary(),
            size_bytes: e.size_bytes(),
            installed_at: self.installed_at(e),
            maintainer: e.stanza.get("Maintainer").map(str::to_string),
            depends: depends_names(e),
        }
    }

    fn files(&self, e: &StatusEntry) -> Result<Vec<String>, PkgError> {
        let Some(path) = self.list_file(e) else {
            return Ok(Vec::new());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(dpkg::parse_file_list(&text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(PkgError::Io {
                what: path.display().to_string(),
                error,
            }),
        }
    }

    fn license(&self, e: &StatusEntry) -> Option<String> {
        let path = self.under_root(&format!("usr/share/doc/{}/copyright", e.name));
        let mut text = String::new();
        std::fs::File::open(path)
            .ok()?
            .take(COPYRIGHT_LIMIT)
            .read_to_string(&mut text)
            .ok()?;
        dpkg::copyright_license(&text)
    }
}

/// The changing side (see [`mutate`] for argument lists and failure classification).
impl Apt {
    /// Runs a mutation command, retrying while a lock is busy until `lock_wait` has passed;
    /// its failures are classified by `classify`.
    fn run_mutation(
        &self,
        cmd: &Command,
        exec: &mut Exec<'_>,
        classify: fn(&str, &Finished, Duration) -> Result<(), PkgError>,
    ) -> Result<Finished, PkgError> {
        let start = Instant::now();
        let mut finished_dpkg = false;
        loop {
            let fin = run_exec(cmd.clone(), exec)?;
            match classify(&cmd.display(), &fin, start.elapsed()) {
                Ok(()) => return Ok(fin),
                Err(_) if !finished_dpkg && mutate::dpkg_interrupted(&fin) => {
                    finished_dpkg = true;
                    self.finish_interrupted_dpkg(exec)?;
                }
                Err(PkgError::Locked { .. }) if start.elapsed() < self.settings.lock_wait => {
                    let left = self.settings.lock_wait.saturating_sub(start.elapsed());
                    std::thread::sleep(left.min(Duration::from_secs(1)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// An earlier dpkg run was killed (apt: "dpkg was interrupted"): finishes it with
    /// `dpkg --configure -a`, as apt asks, so that the job asked for can run.
    fn finish_interrupted_dpkg(&self, exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let configure = self.dpkg_command(&["--configure", "-a"])?;
        (exec.on_line)(
            runner::Stream::Stdout,
            &format!(
                "dpkg was interrupted earlier; running {}",
                configure.display()
            ),
        );
        run_exec(configure.clone(), exec)
            .and_then(|fin| mutate::classify_dpkg(&configure.display(), &fin, Duration::ZERO))
    }

    /// `apt-cache policy` blocks for `names`.
    fn policy(
        &self,
        names: &[&str],
        exec: &mut Exec<'_>,
    ) -> Result<Vec<policy::PolicyBlock>, PkgError> {
        let cmd = self.policy_command(names)?;
        let fin = run_quiet(cmd.clone(), exec)?;
        if fin.code != Some(0) {
            return Err(PkgError::Command {
                command: cmd.display(),
                code: fin.code,
                stderr_tail: stderr_tail(&fin.stderr),
            });
        }
        Ok(policy::parse_policy(&fin.stdout))
    }

    /// Names apt knows under no exact name. apt-get falls back to regular expressions (a
    /// `.` or `+` in a name) and reads a trailing `-`/`+` as remove/install, so an unknown
    /// name must never reach it: `lpa.hello` would install `lpa-hello`.
    fn unknown_names(&self, names: &[&str], exec: &mut Exec<'_>) -> Result<Vec<String>, PkgError> {
        let blocks = self.policy(names, exec)?;
        Ok(names
            .iter()
            .filter(|n| policy::find(&blocks, n).is_none())
            .map(|n| n.to_string())
            .collect())
    }

    /// Names that are not there to remove: not in dpkg's database at all, or (for a plain
    /// removal) left only as configuration files.
    fn not_removable(&self, names: &[String], purge: bool) -> Result<Vec<String>, PkgError> {
        let entries = self.read_status()?;
        let native = dpkg::native_arch(&entries);
        let present: Vec<StatusEntry> = entries
            .into_iter()
            .filter(|e| {
                e.state.counts_as_installed()
                    || e.state.is_unfinished()
                    || (purge && e.state == dpkg::DpkgState::ConfigFiles)
            })
            .collect();
        Ok(names
            .iter()
            .filter(|n| find_installed(&present, n, native.as_deref()).is_none())
            .cloned()
            .collect())
    }

    /// Refuses a removal that would take other installed packages with it (apt removes
    /// dependents silently): simulates it and lists what else would go.
    fn refuse_dependents(
        &self,
        names: &[String],
        purge: bool,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let args = mutate::remove_args(names, purge, true);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = self.apt_get(&refs)?;
        let fin = run_quiet(cmd.clone(), exec)?;
        mutate::classify(&cmd.display(), &fin, Duration::ZERO)?;
        let extra = mutate::extra_removals(&sim::parse_simulation(&fin.stdout), names);
        if extra.is_empty() {
            return Ok(());
        }
        Err(PkgError::DependencyConflict(format!(
            "removing {} would also remove {}, which depend on it; use force to remove them too",
            names.join(", "),
            extra.join(", ")
        )))
    }

    /// `dpkg --audit`'s problems, and an interrupted dpkg run's pending journal (which
    /// `--audit` does not report, yet apt refuses to run with); empty when consistent.
    fn audit(&self, exec: &mut Exec<'_>) -> Result<Vec<String>, PkgError> {
        let cmd = self.dpkg_command(&["--audit"])?;
        let fin = self.run_mutation(&cmd, exec, mutate::classify_dpkg)?;
        let mut problems = mutate::audit_problems(&fin.stdout);
        if mutate::journal_pending(&self.journal_dir()) {
            problems.push(mutate::JOURNAL_PENDING.to_string());
        }
        Ok(problems)
    }
}

impl Apt {
    /// One tracker feed's fixes for its release; `None` when the file does not exist.
    fn tracker_index(
        &self,
        src: &FeedSource,
    ) -> Result<Option<Arc<Parsed<TrackerIndex>>>, PkgError> {
        let path = src.path.as_path();
        let release =
            match debian_tracker::release_of(&self.settings.root, src.release.as_deref()) {
                Some(r) => r,
                None if !path.exists() => return Ok(None),
                None => return Err(advisories::cache::unreadable(
                    path,
                    "no release to match: set the feed release (no VERSION_CODENAME in os-release)"
                        .to_string(),
                )),
            };
        self.tracker.get_or_load(path, &release, |p| {
            let (index, report) = debian_tracker::load(p, &release, &src.name)?;
            Ok(Parsed { index, report })
        })
    }

    /// Whether the installed package's file list holds a kernel image.
    fn installs_kernel(&self, e: &StatusEntry) -> Result<bool, PkgError> {
        Ok(reboot::has_kernel_image(&self.files(e)?))
    }
}

impl PackageManager for Apt {
    fn kind(&self) -> BackendKind {
        BackendKind::Apt
    }

    fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
        let (entries, native) = self.installed_entries()?;
        Ok(entries
            .iter()
            .map(|e| self.record(e, native.as_deref()))
            .collect())
    }

    /// The journal's directory too: a change dpkg journals alters no byte of `status`.
    fn database_paths(&self) -> Vec<PathBuf> {
        vec![self.status_path(), self.journal_dir()]
    }

    fn details(&self, name: &str) -> Result<Option<PackageDetails>, PkgError> {
        let (entries, native) = self.installed_entries()?;
        let native = native.as_deref();
        let Some(target) = find_installed(&entries, name, native) else {
            return Ok(None);
        };
        Ok(Some(PackageDetails {
            package: self.record(target, native),
            dependencies: dependencies(target),
            reverse_dependencies: reverse_dependencies(&entries, target, native),
            files: self.files(target)?,
            homepage: target.stanza.get("Homepage").map(str::to_string),
            license: self.license(target),
        }))
    }

    fn metadata_cache(&self) -> MetadataCache {
        // Debian's own stamp: apt.systemd.daily rewrites it after each successful update too.
        let root = &self.settings.root;
        MetadataCache {
            dirs: vec![root.join("var/lib/apt/lists")],
            stamp: Some(root.join("var/lib/apt/periodic/update-success-stamp")),
        }
    }

    fn refresh(&self) -> Result<(), PkgError> {
        self.run_apt(&self.update_command()?).map(|_| ())
    }

    fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
        let fin = self.run_apt(&self.simulate_upgrade_command()?)?;
        Ok(sim::upgrades(&sim::parse_simulation(&fin.stdout)))
    }

    /// One patch per OSV notice (USN, DSA) an upgrade's fix is in, else one per upgrade:
    /// security by origin, CVE ids and severity from the Debian tracker (see `feeds.rs`).
    fn advisories(
        &self,
        upgrades: &[Upgrade],
        feed: &FeedSettings,
    ) -> Result<Vec<Advisory>, PkgError> {
        let (entries, native) = self.installed_entries()?;
        let mut hosts = Vec::with_capacity(upgrades.len());
        for u in upgrades {
            let entry = find_installed(&entries, &u.name, native.as_deref());
            let kernel = match entry {
                Some(e) => self.installs_kernel(e)?,
                None => false,
            };
            hosts.push(advisories::osv::HostUpgrade {
                upgrade: u,
                source: entry.map(|e| debian_tracker::source_name(&e.name, e.stanza.get("Source"))),
                requires_reboot: kernel,
            });
        }
        Ok(self.feed_patches(feed, &hosts))
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
        self.mark("hold", name)
    }

    fn unhold(&self, name: &str) -> Result<(), PkgError> {
        self.mark("unhold", name)
    }

    /// `<root>/run/reboot-required` and `reboot-required.pkgs`.
    fn reboot_required(&self) -> Result<RebootRequired, PkgError> {
        reboot::debian(&self.settings.root)
    }

    fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError> {
        let cancel = runner::Cancel::new();
        let mut quiet = |_: runner::Stream, _: &str| {};
        let mut exec = Exec {
            on_line: &mut quiet,
            cancel: &cancel,
            timeout: self.settings.command_timeout,
            grace: runner::KILL_GRACE,
            start: None,
        };
        let blocks = self.policy(&[name], &mut exec)?;
        Ok(policy::find(&blocks, name)
            .map(policy::PolicyBlock::available)
            .unwrap_or_default())
    }

    fn install(
        &self,
        packages: &[PackageSpec],
        options: &InstallOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        if packages.is_empty() {
            return Ok(());
        }
        // An `apt-cache policy` run only for names apt-get could take as a pattern.
        let risky: Vec<&str> = packages
            .iter()
            .map(|p| p.name.as_str())
            .filter(|n| mutate::pattern_like(n))
            .collect();
        if !risky.is_empty() {
            let unknown = self.unknown_names(&risky, exec)?;
            if !unknown.is_empty() {
                return Err(PkgError::NotFound(unknown.join(", ")));
            }
        }
        let args = mutate::install_args(packages, options);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = self.apt_get(&refs)?;
        self.run_mutation(&cmd, exec, mutate::classify).map(|_| ())
    }

    fn remove(
        &self,
        names: &[String],
        options: &RemoveOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        if names.is_empty() {
            return Ok(());
        }
        let absent = self.not_removable(names, options.purge)?;
        if !absent.is_empty() {
            return Err(PkgError::NotFound(absent.join(", ")));
        }
        if !options.force {
            self.refuse_dependents(names, options.purge, exec)?;
        }
        let args = mutate::remove_args(names, options.purge, false);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = self.apt_get(&refs)?;
        self.run_mutation(&cmd, exec, mutate::classify).map(|_| ())
    }

    fn save_for_rollback(
        &self,
        installed: &[(String, String)],
        dir: &Path,
        exec: &mut Exec<'_>,
    ) -> Result<Vec<SavedPackage>, PkgError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let entries = self.read_status()?;
        let mut saved = Vec::new();
        for (name, version) in installed {
            if let Some(file) = self.save_one(&entries, name, version, dir, exec)? {
                saved.push(SavedPackage {
                    name: name.clone(),
                    version: version.clone(),
                    file: Some(file),
                });
            }
        }
        Ok(saved)
    }

    fn restore(&self, steps: &[RestoreStep], exec: &mut Exec<'_>) -> Result<(), PkgError> {
        if steps.is_empty() {
            return Ok(());
        }
        let stage = self.staging("restore")?;
        let args: Vec<RestoreArg> = steps
            .iter()
            .map(|s| self.restore_arg(s, stage.path()))
            .collect::<Result<_, _>>()?;
        let args = mutate::restore_args(&args);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = self.apt_get(&refs)?;
        self.run_mutation(&cmd, exec, mutate::classify).map(|_| ())
    }

    fn repair(&self, exec: &mut Exec<'_>) -> Result<Vec<String>, PkgError> {
        let problems = self.audit(exec)?;
        if problems.is_empty() {
            return Ok(Vec::new());
        }
        let mut done = vec![mutate::audit_summary(&problems)];
        let configure = self.dpkg_command(&["--configure", "-a"])?;
        self.run_mutation(&configure, exec, mutate::classify_dpkg)?;
        done.push(format!("ran {}", configure.display()));
        if self.audit(exec)?.is_empty() {
            done.push("dpkg --audit is clean".into());
            return Ok(done);
        }
        let fix = self.apt_get(&["-f", "install", "-y", "-q"])?;
        self.run_mutation(&fix, exec, mutate::classify)?;
        done.push(format!("ran {}", fix.display()));
        let mut left = self.audit(exec)?;
        let mut ran = format!("{}; {}", configure.display(), fix.display());
        if !left.is_empty() {
            if let Some(again) = self.reinstall_flagged(exec)? {
                done.push(format!("ran {again}"));
                ran = format!("{ran}; {again}");
                left = self.audit(exec)?;
            }
        }
        if left.is_empty() {
            done.push("dpkg --audit is clean".into());
            return Ok(done);
        }
        Err(PkgError::Command {
            command: ran,
            code: Some(0),
            stderr_tail: format!("after the repair, {}", mutate::audit_summary(&left)),
        })
    }
}

/// The environment every apt/dpkg run gets: no prompts, no service-restart dialogs, and
/// apt's English messages (they are parsed).
fn non_interactive(cmd: Command) -> Command {
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .env("NEEDRESTART_MODE", "a")
        .env("APT_LISTCHANGES_FRONTEND", "none")
        .env("LC_ALL", "C")
}

/// Runs one command of a mutation under its [`Exec`]: its deadline, its output callback and
/// its cancel token. A cancel is [`PkgError::Cancelled`] whatever the runner's own mapping.
fn run_exec(cmd: Command, exec: &mut Exec<'_>) -> Result<Finished, PkgError> {
    let cmd = cmd.timeout(exec.timeout).grace(exec.grace);
    runner::run_cancellable(&cmd, &mut *exec.on_line, exec.cancel).map_err(|e| match e {
        RunError::Cancelled { command } => PkgError::Cancelled(command),
        RunError::Timeout { command, after } => PkgError::Timeout { command, after },
        other => PkgError::from(other),
    })
}

/// Like [`run_exec`], with the output kept out of the job's log (queries).
fn run_quiet(cmd: Command, exec: &mut Exec<'_>) -> Result<Finished, PkgError> {
    let mut quiet = |_: runner::Stream, _: &str| {};
    let mut inner = Exec {
        on_line: &mut quiet,
        cancel: exec.cancel,
        timeout: exec.timeout,
        grace: exec.grace,
        start: None,
    };
    run_exec(cmd, &mut inner)
}

impl Apt {
    /// Reinstalls, at their recorded versions, the packages dpkg flags `reinstreq` (see
    /// [`reinstall`]); the command run, or `None` when there were none.
    fn reinstall_flagged(&self, exec: &mut Exec<'_>) -> Result<Option<String>, PkgError> {
        let entries = self.read_status()?;
        let targets =
            reinstall::reinstall_targets(&entries, dpkg::native_arch(&entries).as_deref());
        if targets.is_empty() {
            return Ok(None);
        }
        let args = reinstall::reinstall_args(&targets);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = self.apt_get(&refs)?;
        self.run_mutation(&cmd, exec, mutate::classify)?;
        Ok(Some(cmd.display()))
    }
}

fn io_error(what: &Path, error: std::io::Error) -> PkgError {
    PkgError::Io {
        what: what.display().to_string(),
        error,
    }
}

/// The only `.deb` file in `dir`, if there is exactly one.
fn single_deb(dir: &Path) -> Result<Option<PathBuf>, PkgError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        if path.extension().is_some_and(|x| x == "deb") && path.is_file() {
            found.push(path);
        }
    }
    Ok(if found.len() == 1 { found.pop() } else { None })
}

/// Whether `root` is the host's own root (`/`, `/.`, ...).
fn is_host_root(root: &Path) -> bool {
    root.components()
        .all(|c| matches!(c, Component::RootDir | Component::CurDir))
        && root.has_root()
}

/// `DPkg::Lock::Timeout` takes whole seconds; a partial second rounds up so that a small
/// configured wait is not turned into no wait at all.
fn lock_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

fn status_error(e: journal::JournalError) -> PkgError {
    match e {
        journal::JournalError::Io(path, error) => PkgError::Io {
            what: path.display().to_string(),
            error,
        },
        journal::JournalError::Parse(path, e) => PkgError::Parse {
            what: path.display().to_string(),
            message: e.to_string(),
        },
        moving @ journal::JournalError::Moving => PkgError::Parse {
            what: "var/lib/dpkg/status".into(),
            message: moving.to_string(),
        },
    }
}

#[cfg(test)]
mod staging_race;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::feeds::FeedFormat;
    use crate::pkg::Dependency;
    use std::ffi::OsString;

    const STATUS: &str = include_str!("../../tests/data/apt/status");
    const HELLO_LIST: &str = include_str!("../../tests/data/apt/lpa-hello.list");
    const UPDATE_MISSING_ERR: &str = include_str!("../../tests/data/apt/update-missing.stderr");
    const UPDATE_MISSING_RC: &str = include_str!("../../tests/data/apt/update-missing.rc");
    const UPDATE_LOCKED_ERR: &str = include_str!("../../tests/data/apt/update-locked.stderr");
    const UPDATE_LOCKED_RC: &str = include_str!("../../tests/data/apt/update-locked.rc");
    const INSTALL_LOCKED_ERR: &str = include_str!("../../tests/data/apt/install-locked.stderr");
    const INSTALL_LOCKED_RC: &str = include_str!("../../tests/data/apt/install-locked.rc");
    const UPDATE_OK: &str = include_str!("../../tests/data/apt/update.stdout");
    const UPDATE_OK_RC: &str = include_str!("../../tests/data/apt/update.rc");

    /// A throw-away root holding the recorded dpkg database.
    struct Root(PathBuf);

    impl Root {
        fn new(tag: &str) -> Root {
            let dir = std::env::temp_dir().join(format!(
                "lpa-apt-test-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("var/lib/dpkg/info")).unwrap();
            std::fs::write(dir.join("var/lib/dpkg/status"), STATUS).unwrap();
            std::fs::write(dir.join("var/lib/dpkg/info/lpa-hello.list"), HELLO_LIST).unwrap();
            Root(dir)
        }

        fn apt(&self) -> Apt {
            Apt::new(settings(&self.0))
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn settings(root: &Path) -> BackendSettings {
        BackendSettings {
            root: root.to_path_buf(),
            command_timeout: Duration::from_secs(90),
            lock_wait: Duration::from_millis(2500),
        }
    }

    fn finished(rc: &str, stdout: &str, stderr: &str) -> Finished {
        Finished {
            code: Some(rc.trim().parse().unwrap()),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn quiet_exec<R>(f: impl FnOnce(&mut Exec<'_>) -> R) -> (R, Vec<String>) {
        let cancel = runner::Cancel::new();
        let mut lines = Vec::new();
        let mut cb = |_: runner::Stream, l: &str| lines.push(l.to_string());
        let r = {
            let mut e = Exec {
                on_line: &mut cb,
                cancel: &cancel,
                timeout: Duration::from_secs(5),
                grace: runner::KILL_GRACE,
                start: None,
            };
            f(&mut e)
        };
        (r, lines)
    }

    const COMMON: [&str; 8] = [
        "-o",
        "DPkg::Lock::Timeout=3",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
        "-o",
        "Dpkg::Use-Pty=0",
    ];

    #[test]
    fn mutation_commands_for_the_host_root() {
        let apt = Apt::new(settings(Path::new("/")));
        let pkgs = [PackageSpec {
            name: "lpa-hello".into(),
            version: Some("1.0-1".into()),
        }];
        let opts = InstallOptions {
            allow_downgrade: true,
            ..InstallOptions::default()
        };
        let a = mutate::install_args(&pkgs, &opts);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let cmd = apt.apt_get(&refs).unwrap();
        let mut want: Vec<&str> = COMMON.to_vec();
        want.extend([
            "install",
            "-y",
            "-q",
            "--allow-downgrades",
            "--",
            "lpa-hello=1.0-1",
        ]);
        assert_eq!(cmd.program, PathBuf::from("apt-get"));
        assert_eq!(args(&cmd), want);
        let dl = apt
            .apt_get_in(Some(Path::new("/var/tmp/save")), &["download"])
            .unwrap();
        assert_eq!(dl.program, PathBuf::from("env"));
        assert_eq!(args(&dl)[..3], ["-C", "/var/tmp/save", "apt-get"]);
        assert_eq!(args(&dl)[3..11], COMMON);
        assert!(dl
            .env
            .contains(&(OsString::from("LC_ALL"), OsString::from("C"))));
        let policy = apt.policy_command(&["lpa-hello", "lpa-lib"]).unwrap();
        assert_eq!(policy.program, PathBuf::from("apt-cache"));
        assert_eq!(args(&policy), ["policy", "--", "lpa-hello", "lpa-lib"]);
        let dpkg = apt.dpkg_command(&["--configure", "-a"]).unwrap();
        assert_eq!(dpkg.program, PathBuf::from("dpkg"));
        assert_eq!(
            args(&dpkg),
            ["--force-confdef", "--force-confold", "--configure", "-a"]
        );
        assert!(dpkg.env.contains(&(
            OsString::from("DEBIAN_FRONTEND"),
            OsString::from("noninteractive")
        )));
    }

    #[test]
    fn mutation_commands_for_another_root() {
        let root = Root::new("mut-chroot");
        let apt = root.apt();
        assert!(matches!(
            apt.dpkg_command(&["--audit"]),
            Err(PkgError::Unsupported(m)) if m.contains("/usr/bin/dpkg")
        ));
        std::fs::create_dir_all(root.0.join("usr/bin")).unwrap();
        for tool in ["apt-get", "apt-cache", "dpkg", "env"] {
            std::fs::write(root.0.join("usr/bin").join(tool), "").unwrap();
        }
        let r = root.0.display().to_string();
        let dl = apt
            .apt_get_in(Some(Path::new("/var/tmp/x")), &["download"])
            .unwrap();
        assert_eq!(dl.program, PathBuf::from("chroot"));
        assert_eq!(
            args(&dl)[..5],
            [r.as_str(), "env", "-C", "/var/tmp/x", "apt-get"]
        );
        let policy = apt.policy_command(&["lpa-hello"]).unwrap();
        assert_eq!(
            args(&policy),
            [r.as_str(), "apt-cache", "policy", "--", "lpa-hello"]
        );
        let dpkg = apt.dpkg_command(&["--audit"]).unwrap();
        assert_eq!(args(&dpkg)[..2], [r.as_str(), "dpkg"]);
        // Paths as the chrooted tool sees them.
        assert_eq!(
            apt.inner_path(&root.0.join("var/tmp/rb")),
            Some(PathBuf::from("/var/tmp/rb"))
        );
        assert_eq!(apt.inner_path(Path::new("/elsewhere/rb")), None);
        let host = Apt::new(settings(Path::new("/")));
        assert_eq!(
            host.inner_path(Path::new("/elsewhere/rb")),
            Some(PathBuf::from("/elsewhere/rb"))
        );
    }

    #[test]
    fn restore_files_outside_a_chroot_are_staged_inside() {
        let root = Root::new("restore-stage");
        let apt = root.apt();
        let outside = root.0.with_extension("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let deb = outside.join("lpa-lib_1.0-1_all.deb");
        std::fs::write(&deb, "deb").unwrap();
        let stage = apt.staging("test").unwrap();
        let parent = root.0.join(crate::pkg::staging::PARENT);
        assert!(stage.path().starts_with(&parent), "{:?}", stage.path());
        let step = RestoreStep::Install {
            name: "lpa-lib".into(),
            version: "1.0-1".into(),
            file: Some(deb.clone()),
        };
        match apt.restore_arg(&step, stage.path()).unwrap() {
            RestoreArg::File(p) => {
                assert!(
                    p.to_string_lossy()
                        .starts_with("/var/lib/linux_patch_api-staging/.lpa-test-"),
                    "{p:?}"
                );
                assert!(p.ends_with("lpa-lib_1.0-1_all.deb"));
                assert!(root.0.join(p.strip_prefix("/").unwrap()).is_file());
            }
            other => panic!("{other:?}"),
        }
        // A saved file that is gone: the repository version instead.
        let gone = RestoreStep::Install {
            name: "lpa-lib".into(),
            version: "1.0-1".into(),
            file: Some(outside.join("missing.deb")),
        };
        assert_eq!(
            apt.restore_arg(&gone, stage.path()).unwrap(),
            RestoreArg::Version("lpa-lib".into(), "1.0-1".into())
        );
        let staged = stage.path().to_path_buf();
        drop(stage);
        assert!(!staged.exists());
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn save_copies_from_the_archive_cache_without_running_apt() {
        // The fake root has no apt-get: a download attempt would be Unsupported.
        let root = Root::new("save-cache");
        let apt = root.apt();
        let archives = root.0.join("var/cache/apt/archives");
        std::fs::create_dir_all(&archives).unwrap();
        std::fs::write(archives.join("lpa-hello_1.0-1_all.deb"), "cached").unwrap();
        let dir = root.0.join("var/tmp/rb");
        let pairs = [("lpa-hello".to_string(), "1.0-1".to_string())];
        let (r, lines) = quiet_exec(|e| apt.save_for_rollback(&pairs, &dir, e));
        let saved = r.unwrap();
        assert_eq!(
            saved,
            [SavedPackage {
                name: "lpa-hello".into(),
                version: "1.0-1".into(),
                file: Some(dir.join("lpa-hello_1.0-1_all.deb")),
            }]
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("lpa-hello_1.0-1_all.deb")).unwrap(),
            "cached"
        );
        assert!(lines.is_empty());
        let missing = [("lpa-lib".to_string(), "1.0-1".to_string())];
        let (r, _) = quiet_exec(|e| apt.save_for_rollback(&missing, &dir, e));
        assert!(matches!(r, Err(PkgError::Unsupported(_))), "{r:?}");
    }

    #[test]
    fn removal_of_what_is_not_there_is_not_found_before_anything_runs() {
        let root = Root::new("remove-absent");
        std::fs::write(
            root.0.join("var/lib/dpkg/status"),
            include_str!("../../tests/data/apt/status-after-remove-lpa"),
        )
        .unwrap();
        let apt = root.apt();
        let plain = RemoveOptions::default();
        let names = [
            "lpa-tool".to_string(),
            "lpa-hello".to_string(),
            "lpa-x".to_string(),
        ];
        let (r, _) = quiet_exec(|e| apt.remove(&names, &plain, e));
        match r {
            Err(PkgError::NotFound(n)) => assert_eq!(n, "lpa-hello, lpa-x"),
            other => panic!("{other:?}"),
        }
        // Purging a removed package's conffiles is allowed: it gets as far as running apt.
        let purge = RemoveOptions {
            purge: true,
            force: false,
        };
        let (r, _) = quiet_exec(|e| apt.remove(&names[1..2], &purge, e));
        assert!(matches!(r, Err(PkgError::Unsupported(_))), "{r:?}");
    }

    #[test]
    fn empty_requests_run_nothing() {
        let apt = Apt::new(settings(Path::new("/nonexistent-lpa-root")));
        let (r, _) = quiet_exec(|e| apt.install(&[], &InstallOptions::default(), e));
        assert!(r.is_ok());
        let (r, _) = quiet_exec(|e| apt.remove(&[], &RemoveOptions::default(), e));
        assert!(r.is_ok());
        let (r, _) = quiet_exec(|e| apt.restore(&[], e));
        assert!(r.is_ok());
    }

    #[test]
    fn cancel_and_timeout_map_to_their_own_errors() {
        let cancel = runner::Cancel::new();
        cancel.cancel();
        let mut cb = |_: runner::Stream, _: &str| {};
        let mut e = Exec {
            on_line: &mut cb,
            cancel: &cancel,
            timeout: Duration::from_secs(5),
            grace: runner::KILL_GRACE,
            start: None,
        };
        let r = run_exec(Command::new("true"), &mut e);
        assert!(matches!(r, Err(PkgError::Cancelled(c)) if c == "true"));
        let (r, _) = quiet_exec(|e| {
            e.timeout = Duration::from_millis(200);
            run_exec(Command::new("sleep").arg("5"), e)
        });
        assert!(
            matches!(r, Err(PkgError::Timeout { after, .. }) if after == Duration::from_millis(200))
        );
    }

    #[test]
    fn audit_summaries() {
        let p = mutate::audit_problems(include_str!(
            "../../tests/data/apt/dpkg-audit-interrupted.stdout"
        ));
        assert_eq!(
            mutate::audit_summary(&p),
            "dpkg --audit reports unfinished packages: lpa-slow"
        );
        assert_eq!(
            mutate::audit_summary(&["something odd ".to_string()]),
            "dpkg --audit reports: something odd"
        );
    }

    #[test]
    fn installed_reads_the_recorded_database() {
        let root = Root::new("installed");
        let all = root.apt().installed().unwrap();
        assert_eq!(all.len(), 204);
        let hello = all.iter().find(|p| p.name == "lpa-hello").unwrap();
        assert_eq!(hello.version, "1.0-1");
        assert_eq!(hello.arch.as_deref(), Some("all"));
        assert_eq!(hello.description, "LPA fixture hello");
        assert_eq!(hello.size_bytes, Some(9216));
        assert_eq!(
            hello.maintainer.as_deref(),
            Some("LPA Tests <tests@lpa.invalid>")
        );
        assert_eq!(hello.depends, ["lpa-lib"]);
        let listed = std::fs::metadata(root.0.join("var/lib/dpkg/info/lpa-hello.list"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(hello.installed_at, Some(OffsetDateTime::from(listed)));
        // No list file recorded for it in this root: no date rather than a wrong one.
        let tool = all.iter().find(|p| p.name == "lpa-tool").unwrap();
        assert_eq!(tool.installed_at, None);
        let apt = all.iter().find(|p| p.name == "apt").unwrap();
        assert_eq!(apt.depends[..4], ["adduser", "gpgv", "gpgv2", "gpgv1"]);
        assert!(all.iter().all(|p| !p.version.is_empty()));
    }

    #[test]
    fn installed_leaves_out_removed_and_half_done_packages() {
        let root = Root::new("states");
        std::fs::write(
            root.0.join("var/lib/dpkg/status"),
            format!(
                "{}\n{}",
                include_str!("../../tests/data/apt/status-after-remove-lpa"),
                "Package: broken\nStatus: install reinstreq half-installed\nVersion: 1\n\n\
                 Package: held\nStatus: hold ok installed\nVersion: 2\n\n\
                 Package: trig\nStatus: install ok triggers-pending\nVersion: 3\n"
            ),
        )
        .unwrap();
        let apt = root.apt();
        let names: Vec<String> = apt
            .installed()
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["lpa-lib", "lpa-tool", "held", "trig"]);
        assert_eq!(apt.unfinished().unwrap(), ["broken"]);
        assert!(apt.details("lpa-hello").unwrap().is_none());
    }

    #[test]
    fn details_of_the_recorded_fixture() {
        let root = Root::new("details");
        let apt = root.apt();
        let d = apt.details("lpa-hello").unwrap().unwrap();
        assert_eq!(d.package.name, "lpa-hello");
        assert_eq!(
            d.dependencies,
            [Dependency {
                name: "lpa-lib".into(),
                constraint: Some(">= 1.0".into()),
                required: true,
            }]
        );
        assert!(d.reverse_dependencies.is_empty());
        assert_eq!(d.files, dpkg::parse_file_list(HELLO_LIST));
        assert_eq!(d.homepage.as_deref(), Some("https://lpa.invalid/hello"));
        assert_eq!(d.license, None);
        let lib = apt.details("lpa-lib").unwrap().unwrap();
        assert_eq!(lib.reverse_dependencies, ["lpa-hello"]);
        assert!(lib.dependencies.is_empty());
        assert!(lib.files.is_empty());
        assert!(apt.details("no-such-package").unwrap().is_none());
    }

    #[test]
    fn details_soft_dependencies_alternatives_and_provides() {
        let root = Root::new("apt-details");
        let apt = root.apt();
        let d = apt.details("apt").unwrap().unwrap();
        let gpgv: Vec<(&str, bool)> = d
            .dependencies
            .iter()
            .filter(|x| x.name.starts_with("gpgv"))
            .map(|x| (x.name.as_str(), x.required))
            .collect();
        assert_eq!(gpgv, [("gpgv", true), ("gpgv2", true), ("gpgv1", true)]);
        let ca = d
            .dependencies
            .iter()
            .find(|x| x.name == "ca-certificates")
            .unwrap();
        assert!(!ca.required);
        let doc = d
            .dependencies
            .iter()
            .find(|x| x.name == "dpkg-dev")
            .unwrap();
        assert_eq!(doc.constraint.as_deref(), Some(">= 1.17.2"));
        assert!(!doc.required);
        // libc6 is needed by most of the base system.
        let libc = apt.details("libc6").unwrap().unwrap();
        assert!(libc.reverse_dependencies.len() > 30);
        assert!(libc.reverse_dependencies.contains(&"apt".to_string()));
        assert!(libc.reverse_dependencies.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            apt.details("libc6:amd64").unwrap().unwrap().package.name,
            "libc6"
        );
    }

    #[test]
    fn reverse_dependencies_follow_provides() {
        let entries = dpkg::parse_status(
            "Package: mta\nStatus: install ok installed\nVersion: 1\nProvides: mail-transport-agent\n\n\
             Package: mailer\nStatus: install ok installed\nVersion: 1\n\
             Depends: default-mta | mail-transport-agent\n\n\
             Package: other\nStatus: install ok installed\nVersion: 1\nRecommends: mta\n",
        )
        .unwrap();
        assert_eq!(
            reverse_dependencies(&entries, &entries[0], None),
            ["mailer"]
        );
    }

    #[test]
    fn find_by_qualified_and_bare_names() {
        let entries = dpkg::parse_status(
            "Package: dpkg\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\n\
             Package: libfoo\nStatus: install ok installed\nVersion: 1\nArchitecture: i386\n\n\
             Package: libbar\nStatus: install ok installed\nVersion: 1\nArchitecture: i386\n\n\
             Package: libbar\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n",
        )
        .unwrap();
        let native = Some("amd64");
        let arch_of = |n: &str| {
            find_installed(&entries, n, native).map(|e| e.arch.clone().unwrap_or_default())
        };
        assert_eq!(arch_of("libfoo:i386").as_deref(), Some("i386"));
        assert_eq!(arch_of("libfoo").as_deref(), Some("i386"));
        assert_eq!(arch_of("libbar").as_deref(), Some("amd64"));
        assert_eq!(arch_of("libbar:i386").as_deref(), Some("i386"));
        assert_eq!(arch_of("libbar:amd64").as_deref(), Some("amd64"));
        assert_eq!(arch_of("libbar:arm64"), None);
        assert_eq!(arch_of("dpkg:amd64").as_deref(), Some("amd64"));
    }

    #[test]
    fn database_path_and_missing_or_broken_database() {
        let apt = Apt::new(settings(Path::new("/nonexistent-lpa-root")));
        assert_eq!(
            apt.database_paths(),
            [
                PathBuf::from("/nonexistent-lpa-root/var/lib/dpkg/status"),
                PathBuf::from("/nonexistent-lpa-root/var/lib/dpkg/updates")
            ]
        );
        assert!(matches!(apt.installed(), Err(PkgError::Io { .. })));
        let root = Root::new("broken");
        std::fs::write(root.0.join("var/lib/dpkg/status"), "Package: x\ngarbage\n").unwrap();
        match root.apt().installed() {
            Err(PkgError::Parse { what, message }) => {
                assert!(what.ends_with("var/lib/dpkg/status"), "{what}");
                assert!(message.starts_with("line 2:"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn commands_for_the_host_root() {
        let apt = Apt::new(settings(Path::new("/")));
        let update = apt.update_command().unwrap();
        assert_eq!(update.program, PathBuf::from("apt-get"));
        assert_eq!(
            args(&update),
            [
                "-o",
                "DPkg::Lock::Timeout=3",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                "-o",
                "Dpkg::Use-Pty=0",
                "-q",
                "--error-on=any",
                "update"
            ]
        );
        assert_eq!(update.timeout, Duration::from_secs(90));
        for (k, v) in [
            ("DEBIAN_FRONTEND", "noninteractive"),
            ("NEEDRESTART_MODE", "a"),
            ("LC_ALL", "C"),
        ] {
            assert!(
                update.env.contains(&(OsString::from(k), OsString::from(v))),
                "{k}"
            );
        }
        let sim = apt.simulate_upgrade_command().unwrap();
        assert_eq!(
            args(&sim)[8..],
            [
                "-s",
                "-o",
                "Debug::NoLocking=1",
                "-o",
                "Dir::Log::Planner=/dev/null",
                "-q",
                "-o",
                "APT::Ignore-Hold=true",
                "dist-upgrade"
            ]
        );
    }

    #[test]
    fn commands_for_another_root_use_its_own_apt() {
        let root = Root::new("chroot");
        let apt = root.apt();
        assert!(matches!(
            apt.update_command(),
            Err(PkgError::Unsupported(_))
        ));
        std::fs::create_dir_all(root.0.join("usr/bin")).unwrap();
        std::fs::write(root.0.join("usr/bin/apt-get"), "").unwrap();
        let cmd = apt.update_command().unwrap();
        assert_eq!(cmd.program, PathBuf::from("chroot"));
        assert_eq!(
            args(&cmd)[..2],
            [root.0.display().to_string(), "apt-get".into()]
        );
        assert_eq!(args(&cmd).last().map(String::as_str), Some("update"));
    }

    #[test]
    fn host_root_spellings_and_lock_rounding() {
        assert!(is_host_root(Path::new("/")));
        assert!(is_host_root(Path::new("/.")));
        assert!(!is_host_root(Path::new("/srv/image")));
        assert!(!is_host_root(Path::new("relative")));
        assert_eq!(lock_secs(Duration::from_secs(120)), 120);
        assert_eq!(lock_secs(Duration::from_millis(1)), 1);
        assert_eq!(lock_secs(Duration::ZERO), 0);
    }

    #[test]
    fn recorded_update_outcomes() {
        let ok = finished(UPDATE_OK_RC, UPDATE_OK, "");
        assert!(check_outcome("apt-get update", &ok, Duration::ZERO).is_ok());
        let missing = finished(UPDATE_MISSING_RC, "", UPDATE_MISSING_ERR);
        match check_outcome("apt-get update", &missing, Duration::ZERO) {
            Err(PkgError::Command {
                command,
                code,
                stderr_tail,
            }) => {
                assert_eq!(command, "apt-get update");
                assert_eq!(code, Some(100));
                assert_eq!(
                    stderr_tail,
                    "E: Failed to fetch file:/srv/lpa-deb/missing/./Packages  File not found - \
                     /srv/lpa-deb/missing/./Packages (2: No such file or directory)\n\
                     E: Some index files failed to download. They have been ignored, or old \
                     ones used instead."
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recorded_lock_failures_are_locked() {
        for (rc, err) in [
            (UPDATE_LOCKED_RC, UPDATE_LOCKED_ERR),
            (INSTALL_LOCKED_RC, INSTALL_LOCKED_ERR),
        ] {
            let fin = finished(rc, "", err);
            match check_outcome("apt-get", &fin, Duration::from_secs(7)) {
                Err(PkgError::Locked { tool, waited }) => {
                    assert_eq!(tool, "apt-get");
                    assert_eq!(waited, Duration::from_secs(7));
                }
                other => panic!("{other:?}"),
            }
        }
        // The same words outside an `E:` line (apt's "Waiting for cache lock" progress) or
        // with another exit status are not a lock failure.
        assert!(!is_lock_failure(
            "Waiting for cache lock: Could not get lock /x"
        ));
        let odd = finished("1", "", UPDATE_LOCKED_ERR);
        assert!(matches!(
            check_outcome("apt-get", &odd, Duration::ZERO),
            Err(PkgError::Command { code: Some(1), .. })
        ));
    }

    #[test]
    fn stderr_tail_without_error_lines_and_when_killed() {
        assert_eq!(stderr_tail("W: a\n\nW: b\n"), "W: a\nW: b");
        let many: String = (0..15).map(|i| format!("E: {i}\n")).collect();
        assert_eq!(stderr_tail(&many).lines().count(), TAIL_LINES);
        assert!(stderr_tail(&many).starts_with("E: 5\n"));
        let killed = Finished {
            code: None,
            stdout: String::new(),
            stderr: "E: x\n".into(),
        };
        assert!(matches!(
            check_outcome("apt-get", &killed, Duration::ZERO),
            Err(PkgError::Command { code: None, .. })
        ));
    }

    #[test]
    fn license_from_a_machine_readable_copyright_file() {
        let root = Root::new("license");
        let doc = root.0.join("usr/share/doc/lpa-hello");
        std::fs::create_dir_all(&doc).unwrap();
        std::fs::write(
            doc.join("copyright"),
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: lpa-hello\n\nFiles: *\nCopyright: 2026 LPA Tests\nLicense: MIT\n",
        )
        .unwrap();
        let d = root.apt().details("lpa-hello").unwrap().unwrap();
        assert_eq!(d.license.as_deref(), Some("MIT"));
    }

    const TRACKER: &str = include_str!("../../tests/sandbox/feeds/debian-tracker.json");
    const BOTH_SUITES: &str = include_str!("../../tests/data/apt/dist-upgrade.stdout");

    fn feed_in(root: &Root, text: &str, release: Option<&str>) -> FeedSettings {
        let path = root.0.join("feeds/tracker.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        FeedSettings::single("debian-tracker", FeedFormat::DebianTracker, path, release)
    }

    fn recorded_upgrades() -> Vec<Upgrade> {
        sim::upgrades(&sim::parse_simulation(BOTH_SUITES))
    }

    #[test]
    fn advisories_from_the_tracker_feed() {
        let root = Root::new("adv-feed");
        let feed = feed_in(&root, TRACKER, Some("bookworm"));
        let ups = recorded_upgrades();
        let apt = root.apt();
        let all = apt.advisories(&ups, &feed).unwrap();
        assert_eq!(all.len(), 2);
        let hello = all.iter().find(|a| a.id == "lpa-hello-2.0-1").unwrap();
        assert!(hello.is_security());
        assert_eq!(hello.severity, advisories::Severity::High);
        assert_eq!(hello.severity_source, "debian-tracker");
        assert_eq!(hello.cve_ids, ["CVE-2026-0001", "CVE-2026-0004"]);
        let lib = all.iter().find(|a| a.id == "lpa-lib-1.1-1").unwrap();
        assert!(
            !lib.is_security(),
            "a normal suite's update stays non-security"
        );
        assert_eq!(lib.severity, advisories::Severity::Low);
        assert_eq!(lib.cve_ids, ["CVE-2026-0005"]);
        assert!(!lib.requires_reboot && !hello.requires_reboot);
        // Parsed once; the same answer from the cache (and from a clone).
        assert_eq!(apt.clone().advisories(&ups, &feed).unwrap(), all);
        // The other release's entries: only CVE-2026-0001 for lpa-hello, none for lpa-lib
        // beyond its own.
        let trixie = feed_in(&root, TRACKER, Some("trixie"));
        let t = apt.advisories(&ups, &trixie).unwrap();
        assert_eq!(t[1].cve_ids, ["CVE-2026-0001"]);
    }

    #[test]
    fn without_a_feed_origins_still_classify() {
        let root = Root::new("adv-none");
        let ups = recorded_upgrades();
        for feed in [
            FeedSettings::default(),
            FeedSettings::single(
                "debian-tracker",
                FeedFormat::DebianTracker,
                root.0.join("not-downloaded.json"),
                None,
            ),
        ] {
            let all = root.apt().advisories(&ups, &feed).unwrap();
            assert_eq!(all.len(), 2);
            let hello = all.iter().find(|a| a.name == "lpa-hello").unwrap();
            assert!(hello.is_security());
            assert_eq!(hello.severity, advisories::Severity::Unknown);
            assert_eq!(hello.severity_source, "none");
            assert!(all.iter().all(|a| a.cve_ids.is_empty()));
        }
    }

    #[test]
    fn ubuntu_gets_usn_patches_from_its_osv_feed() {
        let root = Root::new("adv-usn");
        std::fs::create_dir_all(root.0.join("etc")).unwrap();
        std::fs::write(
            root.0.join("etc/os-release"),
            "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n",
        )
        .unwrap();
        let mut status = STATUS.to_string();
        status.push_str(
            "\nPackage: openssh-server\nStatus: install ok installed\nArchitecture: amd64\n\
             Source: openssh\nVersion: 1:8.9p1-3ubuntu0.6\n",
        );
        std::fs::write(root.0.join("var/lib/dpkg/status"), status).unwrap();
        let recorded = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/recorded/advisories/osv-ubuntu/USN-6859-1.json");
        let dir = root.0.join("feeds/ubuntu-osv");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&recorded, dir.join("USN-6859-1.json")).unwrap();
        let feed = FeedSettings::single("ubuntu-osv", FeedFormat::Osv, dir, None);
        let mut ups = recorded_upgrades();
        ups.push(Upgrade {
            name: "openssh-server".into(),
            current_version: "1:8.9p1-3ubuntu0.6".into(),
            available_version: "1:8.9p1-3ubuntu0.10".into(),
            arch: Some("amd64".into()),
            origins: vec![],
        });
        let all = root.apt().advisories(&ups, &feed).unwrap();
        let usn = all.iter().find(|a| a.id == "USN-6859-1").unwrap();
        assert!(usn.is_security());
        assert_eq!(usn.cve_ids, ["CVE-2024-6387"]);
        assert_eq!(usn.severity_source, "ubuntu-osv");
        assert_eq!(usn.packages.len(), 1);
        assert_eq!(usn.packages[0].available_version, "1:8.9p1-3ubuntu0.10");
        // The other upgrades no notice covers stay one plain patch each.
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all.iter().any(|a| a.id == "lpa-hello-2.0-1"));
        let state = &feed.board.snapshot()[0];
        assert_eq!(
            (state.records, state.skipped, state.error.as_deref()),
            (1, 0, None)
        );
    }

    #[test]
    fn a_broken_feed_is_named_and_the_others_still_serve() {
        let root = Root::new("adv-bad");
        let ups = recorded_upgrades();
        let mut feed = feed_in(&root, "{\"lpa-hello\": [", Some("bookworm"));
        let good = root.0.join("feeds/good.json");
        std::fs::write(&good, TRACKER).unwrap();
        feed.feeds.push(FeedSource {
            name: "mirror-tracker".into(),
            format: FeedFormat::DebianTracker,
            url: None,
            path: good,
            release: Some("bookworm".into()),
        });
        let all = root.apt().advisories(&ups, &feed).unwrap();
        let hello = all.iter().find(|a| a.name == "lpa-hello").unwrap();
        assert_eq!(hello.cve_ids, ["CVE-2026-0001", "CVE-2026-0004"]);
        let states = feed.board.snapshot();
        let bad = states.iter().find(|s| s.name == "debian-tracker").unwrap();
        assert!(
            bad.error.as_deref().unwrap().contains("tracker.json"),
            "{bad:?}"
        );
        let ok = states.iter().find(|s| s.name == "mirror-tracker").unwrap();
        assert_eq!((ok.error.as_deref(), ok.records > 0), (None, true));
        // Alone, the broken feed costs nothing but its data: severity unknown.
        feed.feeds.pop();
        let all = root.apt().advisories(&ups, &feed).unwrap();
        assert!(all
            .iter()
            .all(|a| a.severity == advisories::Severity::Unknown));
        // No release configured and no os-release in the root.
        let feed = feed_in(&root, TRACKER, None);
        root.apt().advisories(&ups, &feed).unwrap();
        let why = feed.board.snapshot()[0].error.clone().unwrap();
        assert!(why.contains("release"), "{why}");
        std::fs::create_dir_all(root.0.join("etc")).unwrap();
        std::fs::write(
            root.0.join("etc/os-release"),
            "ID=debian\nVERSION_CODENAME=bookworm\n",
        )
        .unwrap();
        assert_eq!(
            root.apt().advisories(&ups, &feed).unwrap()[1].cve_ids.len(),
            2
        );
    }

    #[test]
    fn source_packages_and_kernel_images() {
        let root = Root::new("adv-source");
        let feed = feed_in(
            &root,
            r#"{"augeas": {"CVE-2026-1000": {"releases": {"bookworm": {"status": "resolved",
                "fixed_version": "1.14.0-1+deb12u2", "urgency": "medium"}}}}}"#,
            Some("bookworm"),
        );
        std::fs::write(
            root.0.join("var/lib/dpkg/info/lpa-lib.list"),
            "/.\n/boot\n/boot/vmlinuz-6.1.0-99-amd64\n",
        )
        .unwrap();
        let up = |name: &str, cur: &str, new: &str| Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: None,
            origins: vec!["Debian:12.9/bookworm".into()],
        };
        let ups = [
            up("libaugeas0", "1.14.0-1+deb12u1", "1.14.0-1+deb12u2"),
            up("lpa-lib", "1.0-1", "1.1-1"),
        ];
        let all = root.apt().advisories(&ups, &feed).unwrap();
        assert_eq!(
            all[0].cve_ids,
            ["CVE-2026-1000"],
            "matched through Source: augeas"
        );
        assert_eq!(all[0].severity, advisories::Severity::Medium);
        assert!(!all[0].is_security());
        assert!(!all[0].requires_reboot);
        assert!(
            all[1].requires_reboot,
            "lpa-lib's file list now holds a kernel image"
        );
    }

    #[test]
    fn reboot_marker_in_the_root() {
        let root = Root::new("reboot");
        assert!(!root.apt().reboot_required().unwrap().required);
        std::fs::create_dir_all(root.0.join("run")).unwrap();
        std::fs::write(root.0.join("run/reboot-required"), "").unwrap();
        std::fs::write(root.0.join("run/reboot-required.pkgs"), "lpa-hello\n").unwrap();
        let r = root.apt().reboot_required().unwrap();
        assert!(r.required);
        assert_eq!(r.packages, ["lpa-hello"]);
    }
}
