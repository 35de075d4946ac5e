//! Tests of the job engine, by concern: a fake backend and a rig running a real engine on it,
//! shared by the files of this folder.

use super::*;

mod admission;
mod budget;
mod holds;
mod lifecycle;
mod logs;
mod persistence;
mod queue;
mod reboot;
mod reboot_once;
mod rollback;
mod transaction;
mod worker;
use crate::pkg::policy::RebootSetting;
use crate::pkg::{BackendKind, PackageDetails, SavedPackage, Upgrade};
use std::sync::atomic::AtomicUsize;

/// How the fake's next mutations fail (after applying their first package).
#[derive(Clone, Copy, Debug)]
enum Fail {
    Dependency,
    Version,
    NotFound,
    Tool,
    Panic,
}

impl Fail {
    fn error(self) -> PkgError {
        match self {
            Fail::Dependency => PkgError::DependencyConflict("b conflicts".into()),
            Fail::Version => PkgError::VersionConflict("no such version".into()),
            Fail::NotFound => PkgError::NotFound("ghost".into()),
            Fail::Tool => PkgError::Command {
                command: "fake-tool".into(),
                code: Some(100),
                stderr_tail: "E: broken".into(),
            },
            Fail::Panic => panic!("the fake backend panicked"),
        }
    }
}

/// An in-memory package manager with scripted mutations; no process is ever started.
struct Fake {
    db: PathBuf,
    installed: Mutex<BTreeMap<String, String>>,
    available: Mutex<BTreeMap<String, Vec<String>>>,
    hang: AtomicBool,
    delay: Mutex<Duration>,
    lines: AtomicUsize,
    fail: Mutex<Option<Fail>>,
    unsaveable: Mutex<Vec<String>>,
    calls: Mutex<Vec<String>>,
    intervals: Mutex<Vec<(Instant, Instant)>>,
    /// Whether asking for available versions rewrites the database (another process
    /// changing it while the checks run).
    touch_on_check: AtomicBool,
    /// What the metadata files offer, when the fake has them (`None`: ask the tool).
    indexed: Mutex<Option<BTreeMap<String, Vec<String>>>>,
    /// What the fake's hold mechanism holds.
    holds: Mutex<Vec<String>>,
    /// When set, a job directory whose records each mutation lists as it starts.
    watch_records: Mutex<Option<PathBuf>>,
    /// Per mutation, the records it found there: (file name, status).
    records_at_tool: Mutex<Vec<Vec<(String, String)>>>,
    /// When set, the fake starts held ([`PackageManager::starts_held`]): a mutation given a
    /// gate first runs a real command held at `lock` in this directory, which adds a line
    /// to `started` there, then, once it has the lock, writes the job directory's listing
    /// to `seen`.
    held_tool: Mutex<Option<PathBuf>>,
}

impl Fake {
    fn new(dir: &std::path::Path) -> Arc<Fake> {
        let map = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let fake = Fake {
            db: dir.join("fake-db"),
            installed: Mutex::new(map(&[("a", "1"), ("b", "1")])),
            available: Mutex::new(
                [("a", vec!["1", "2"]), ("b", vec!["1"]), ("c", vec!["1"])]
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v.into_iter().map(String::from).collect()))
                    .collect(),
            ),
            hang: AtomicBool::new(false),
            delay: Mutex::new(Duration::ZERO),
            lines: AtomicUsize::new(2),
            fail: Mutex::new(None),
            unsaveable: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            intervals: Mutex::new(Vec::new()),
            touch_on_check: AtomicBool::new(false),
            indexed: Mutex::new(None),
            holds: Mutex::new(Vec::new()),
            watch_records: Mutex::new(None),
            records_at_tool: Mutex::new(Vec::new()),
            held_tool: Mutex::new(None),
        };
        fake.write_db();
        Arc::new(fake)
    }

    fn write_db(&self) {
        // Replaced by rename, so the inventory sees a new stamp whatever the clock says.
        let text = format!("{:?}", *self.installed.lock().unwrap());
        let tmp = self.db.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.db).unwrap();
    }

    /// What the fake repositories offer of `name` (not recorded as a call).
    fn offered(&self, name: &str) -> Vec<String> {
        self.available
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    fn called(&self, prefix: &str) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|c| c.starts_with(prefix)).count()
    }

    fn version(&self, name: &str) -> Option<String> {
        self.installed.lock().unwrap().get(name).cloned()
    }

    fn wait(&self, exec: &Exec<'_>, start: Instant) -> Result<(), PkgError> {
        loop {
            let delay = *self.delay.lock().unwrap();
            if !self.hang.load(Ordering::SeqCst) && start.elapsed() >= delay {
                return Ok(());
            }
            if exec.cancel.is_cancelled() {
                return Err(PkgError::Cancelled("fake-tool".into()));
            }
            if start.elapsed() >= exec.timeout {
                return Err(PkgError::Timeout {
                    command: "fake-tool".into(),
                    after: exec.timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn mutation(
        &self,
        what: String,
        exec: &mut Exec<'_>,
        apply: Vec<(String, Option<String>)>,
    ) -> Result<(), PkgError> {
        let start = Instant::now();
        if let Some(dir) = self.watch_records.lock().unwrap().clone() {
            self.records_at_tool.lock().unwrap().push(records_in(&dir));
        }
        self.calls.lock().unwrap().push(what);
        if let Some(gate) = exec.start.take() {
            self.held_command(gate, exec)?;
        }
        for i in 0..self.lines.load(Ordering::SeqCst) {
            (exec.on_line)(Stream::Stdout, &format!("line {i}"));
        }
        (exec.on_line)(Stream::Stderr, "W: a warning");
        let mut r = self.wait(exec, start);
        if r.is_ok() {
            let fail = *self.fail.lock().unwrap();
            let n = if fail.is_some() { 1 } else { apply.len() };
            {
                let mut inst = self.installed.lock().unwrap();
                for (name, v) in apply.into_iter().take(n) {
                    match v {
                        Some(v) => inst.insert(name, v),
                        None => inst.remove(&name),
                    };
                }
            }
            self.write_db();
            if let Some(f) = fail {
                r = Err(f.error());
            }
        }
        self.intervals.lock().unwrap().push((start, Instant::now()));
        r
    }
}

impl Fake {
    /// The real command a held start runs (see `held_tool`).
    fn held_command(
        &self,
        gate: &dyn crate::pkg::runner::StartGate,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        use crate::pkg::runner::{self, Held, ToolLock};
        let dir = self
            .held_tool
            .lock()
            .unwrap()
            .clone()
            .expect("a gate, not held");
        let jobs = self.db.parent().unwrap().join("jobs");
        let lock = ToolLock::try_take(&dir.join("lock")).expect("a free lock");
        let script = format!(
            "echo >> {started}; exec flock --exclusive --timeout 60 {lock} sh -c 'ls {jobs} > {seen}'",
            started = dir.join("started").display(),
            lock = dir.join("lock").display(),
            jobs = jobs.display(),
            seen = dir.join("seen").display(),
        );
        let cmd = runner::Command::new("sh").arg("-c").arg(script);
        runner::run_held(&cmd, exec.on_line, exec.cancel, Held { lock, gate })
            .map(|_| ())
            .map_err(PkgError::from)
    }
}

impl PackageManager for Fake {
    fn kind(&self) -> BackendKind {
        BackendKind::Apt
    }
    fn starts_held(&self) -> bool {
        self.held_tool.lock().unwrap().is_some()
    }
    fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
        let inst = self.installed.lock().unwrap();
        Ok(inst
            .iter()
            .map(|(n, v)| InstalledPackage {
                name: n.clone(),
                version: v.clone(),
                arch: None,
                description: String::new(),
                size_bytes: None,
                installed_at: None,
                maintainer: None,
                depends: Vec::new(),
            })
            .collect())
    }
    fn database_paths(&self) -> Vec<PathBuf> {
        vec![self.db.clone()]
    }
    fn details(&self, _: &str) -> Result<Option<PackageDetails>, PkgError> {
        Ok(None)
    }
    fn refresh(&self) -> Result<(), PkgError> {
        Ok(())
    }
    fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
        Ok(Vec::new())
    }
    fn compare_versions(&self, a: &str, b: &str) -> CmpOrdering {
        a.cmp(b)
    }
    fn validate_name(&self, name: &str) -> Result<(), PkgError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            return Err(PkgError::Invalid {
                field: "name".into(),
                message: format!("{name:?} is not a package name"),
            });
        }
        Ok(())
    }
    fn validate_version(&self, version: &str) -> Result<(), PkgError> {
        if version.is_empty() || version.contains(' ') {
            return Err(PkgError::Invalid {
                field: "version".into(),
                message: format!("{version:?} is not a version"),
            });
        }
        Ok(())
    }
    fn indexed_versions(&self, name: &str) -> Option<Vec<String>> {
        let index = self.indexed.lock().unwrap();
        Some(index.as_ref()?.get(name).cloned().unwrap_or_default())
    }

    fn holds(&self) -> Result<Vec<String>, PkgError> {
        Ok(self.holds.lock().unwrap().clone())
    }
    /// A patch apply's targets as upgrades from the installed versions; others plan nothing.
    fn simulate(
        &self,
        change: &crate::pkg::plan::Change,
        _: &mut Exec<'_>,
    ) -> Result<crate::pkg::plan::Plan, PkgError> {
        self.calls.lock().unwrap().push("simulate".into());
        let installed = self.installed.lock().unwrap();
        let entries = change
            .apply_targets()
            .iter()
            .filter_map(|t| {
                let from = installed.get(&t.name).map(String::as_str);
                crate::pkg::plan::PlanEntry::between(
                    &t.name,
                    from,
                    t.version.as_deref(),
                    &|a, b| a.cmp(b),
                )
            })
            .collect();
        Ok(crate::pkg::plan::Plan {
            entries,
            ..Default::default()
        })
    }
    fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError> {
        self.calls.lock().unwrap().push(format!("available {name}"));
        if self.touch_on_check.load(Ordering::SeqCst) {
            self.write_db();
        }
        Ok(self.offered(name))
    }
    fn install(
        &self,
        packages: &[PackageSpec],
        _: &InstallOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let apply = packages
            .iter()
            .map(|p| {
                let latest = self.offered(&p.name).last().cloned();
                (p.name.clone(), p.version.clone().or(latest))
            })
            .collect();
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        self.mutation(format!("install {}", names.join(",")), exec, apply)
    }
    fn remove(
        &self,
        names: &[String],
        _: &RemoveOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let apply = names.iter().map(|n| (n.clone(), None)).collect();
        self.mutation(format!("remove {}", names.join(",")), exec, apply)
    }
    fn save_for_rollback(
        &self,
        installed: &[(String, String)],
        dir: &std::path::Path,
        exec: &mut Exec<'_>,
    ) -> Result<Vec<SavedPackage>, PkgError> {
        self.calls.lock().unwrap().push("save".into());
        (exec.on_line)(Stream::Stdout, "saving");
        let skip = self.unsaveable.lock().unwrap().clone();
        let mut saved = Vec::new();
        for (n, v) in installed.iter().filter(|(n, _)| !skip.contains(n)) {
            let file = dir.join(format!("{n}_{v}.pkg"));
            std::fs::write(&file, b"package").unwrap();
            saved.push(SavedPackage {
                name: n.clone(),
                version: v.clone(),
                file: Some(file),
            });
        }
        Ok(saved)
    }
    fn restore(&self, steps: &[RestoreStep], exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let apply = steps
            .iter()
            .map(|s| match s {
                RestoreStep::Install { name, version, .. } => (name.clone(), Some(version.clone())),
                RestoreStep::Remove { name } => (name.clone(), None),
            })
            .collect();
        let files = steps
            .iter()
            .filter(|s| matches!(s, RestoreStep::Install { file: Some(_), .. }))
            .count();
        self.mutation(
            format!("restore {} steps, {files} from files", steps.len()),
            exec,
            apply,
        )
    }
    fn repair(&self, _: &mut Exec<'_>) -> Result<Vec<String>, PkgError> {
        self.calls.lock().unwrap().push("repair".into());
        Ok(vec!["configured 1 half-installed package".into()])
    }
}

struct Rig {
    dir: PathBuf,
    fake: Arc<Fake>,
    inventory: Arc<Inventory>,
    events: Events,
    settings: EngineSettings,
    engine: Arc<Engine>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.fake.hang.store(false, Ordering::SeqCst);
        self.engine.shutdown(Duration::from_secs(2));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rig_with(tune: impl FnOnce(&mut EngineSettings)) -> Rig {
    let dir = std::env::temp_dir().join(format!("lpa-engine-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut settings = EngineSettings {
        storage_path: dir.join("jobs"),
        max_concurrent: 2,
        timeout: Duration::from_secs(5),
        max_queued: 10,
        retention_max_jobs: 100,
        retention_days: 30,
        log_max_bytes: 1 << 20,
        cancel_grace: Duration::from_millis(100),
        rollback_cache_path: dir.join("rollback"),
        rollback_cache_max_bytes: 1 << 20,
        reboot_command: vec![reboot_script(&dir).display().to_string(), "--now".into()],
        budget: BudgetSettings::default(),
    };
    tune(&mut settings);
    let fake = Fake::new(&dir);
    let inventory = Arc::new(Inventory::new(fake.clone(), Duration::from_secs(3600)));
    let events = Events::new();
    let engine = Engine::start_with_boot_id(
        settings.clone(),
        inventory.clone(),
        events.clone(),
        Some("boot-1".into()),
    )
    .unwrap();
    Rig {
        dir,
        fake,
        inventory,
        events,
        settings,
        engine,
    }
}

fn rig() -> Rig {
    rig_with(|_| {})
}

/// A stand-in reboot command: appends its arguments to `reboots` beside itself, or
/// fails when a file `reboot-fails` is there.
fn reboot_script(dir: &std::path::Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("reboot.sh");
    let script = "#!/bin/sh\nd=$(dirname \"$0\")\n[ -e \"$d/reboot-fails\" ] && { echo 'reboot: refused' >&2; exit 3; }\necho \"$*\" >> \"$d/reboots\"\n";
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn reboots(r: &Rig) -> Vec<String> {
    std::fs::read_to_string(r.dir.join("reboots"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn reboot_in(delay: Duration, force: bool) -> JobRequest {
    JobRequest::Reboot {
        scheduled_at: now() + delay,
        force,
        reason: Some("maintenance".into()),
    }
}

fn patch(id: &str, name: &str, from: &str, to: &str, reboot: bool) -> Advisory {
    let mut a = crate::pkg::advisories::plain_update(&crate::pkg::Upgrade {
        name: name.into(),
        current_version: from.into(),
        available_version: to.into(),
        arch: None,
        origins: Vec::new(),
    });
    a.id = id.into();
    a.requires_reboot = reboot;
    a
}

fn apply(patches: Vec<Advisory>, exclude: &[&str], reboot: bool) -> JobRequest {
    let reboot = if reboot {
        RebootSetting::IfRequired
    } else {
        RebootSetting::Never
    };
    apply_with(patches, exclude, reboot)
}

fn apply_with(patches: Vec<Advisory>, exclude: &[&str], reboot: RebootSetting) -> JobRequest {
    JobRequest::PatchApply {
        patches,
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
        reboot,
        reboot_delay_seconds: 0,
        policy: Default::default(),
        max_duration_minutes: None,
    }
}

impl Rig {
    fn wait_for(&self, id: &Uuid, what: &str, done: impl Fn(&Job) -> bool) -> Job {
        let give_up = Instant::now() + Duration::from_secs(5);
        loop {
            let job = self.engine.get(id).expect("job exists");
            if done(&job) {
                return job;
            }
            assert!(
                Instant::now() < give_up,
                "timed out waiting for {what}: {:?}",
                job.status
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn wait_done(&self, id: &Uuid) -> Job {
        self.wait_for(id, "the end", |j| j.status.is_terminal())
    }

    fn wait_in_tool(&self, prefix: &str) {
        let give_up = Instant::now() + Duration::from_secs(5);
        while self.fake.called(prefix) == 0 {
            assert!(Instant::now() < give_up, "{prefix} never called");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn run(&self, request: JobRequest) -> Job {
        let job = self.engine.submit(request).unwrap();
        assert_eq!(job.status, JobStatus::Pending);
        self.wait_done(&job.id)
    }
}

/// The job records in `dir` that parse, with their status (a spare's blank padding too).
fn records_in(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let bytes = std::fs::read(e.path()).ok()?;
            let record: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            let status = record["status"].as_str()?.to_string();
            Some((e.file_name().to_string_lossy().into_owned(), status))
        })
        .collect();
    v.sort();
    v
}

fn spec(name: &str, version: Option<&str>) -> PackageSpec {
    PackageSpec {
        name: name.into(),
        version: version.map(Into::into),
    }
}

fn install(specs: &[(&str, Option<&str>)]) -> JobRequest {
    JobRequest::Install {
        packages: specs.iter().map(|(n, v)| spec(n, *v)).collect(),
        options: InstallOptions::default(),
    }
}

fn remove(name: &str) -> JobRequest {
    JobRequest::Remove {
        name: name.into(),
        options: RemoveOptions::default(),
    }
}

fn change(n: &str, b: Option<&str>, a: Option<&str>) -> Change {
    Change {
        name: n.into(),
        before: b.map(Into::into),
        after: a.map(Into::into),
    }
}

fn messages(job: &Job) -> Vec<String> {
    job.logs.iter().map(|l| l.message.clone()).collect()
}

/// Everything a job's record keeps (what the API shows is rendered from these), to compare
/// a job before and after it went through the disk.
fn record(job: &Job) -> serde_json::Value {
    serde_json::to_value(job).expect("a job serialises")
}
