//! Admission: a request is checked (grammar always, the package database when no
//! transaction holds the tool), then written and handed to the bounded worker queue. Kept
//! apart from running so what is refused at submission reads in one place.

use super::*;
use crate::pkg::offers;

impl Engine {
    /// Checks a request against the package database now and queues it; returns the
    /// pending job.
    pub fn submit(&self, request: JobRequest) -> Result<Job, EngineError> {
        self.check_accepting()?;
        match &request {
            JobRequest::Rollback { original } => return self.rollback(original),
            JobRequest::Reboot { .. } => return self.submit_reboot(request),
            _ => {}
        }
        // The checks ask the package tool, which waits for the lock a running transaction
        // holds (rpm, zypp): then only the grammar is checked now, and the job checks the
        // rest when it gets the transaction, failing with the same error codes.
        let checked = if self.txn.busy() {
            self.validate(&request)?;
            None
        } else {
            // Stamped before the checks read anything: a change during them shows.
            let stamps = self.db_stamps();
            self.precheck(&request)?;
            Some(stamps)
        };
        self.admit(Job::new(Uuid::new_v4(), request, now()), checked)
    }

    /// Package jobs (every operation but reboot) pending or running, oldest first.
    pub fn active_package_jobs(&self) -> Vec<Uuid> {
        let mut active: Vec<(OffsetDateTime, Uuid)> = self
            .table()
            .values()
            .filter(|e| e.job.operation != Operation::Reboot && !e.job.status.is_terminal())
            .map(|e| (e.job.created_at, e.job.id))
            .collect();
        active.sort();
        active.into_iter().map(|(_, id)| id).collect()
    }

    pub(super) fn check_accepting(&self) -> Result<(), EngineError> {
        if self.accepting.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(EngineError::Storage(
                "the agent is shutting down; no new jobs are accepted".into(),
            ))
        }
    }

    /// The checks that start no process: names and versions against the grammar.
    fn validate(&self, request: &JobRequest) -> Result<(), EngineError> {
        let backend = self.inventory.backend();
        let specs: Vec<&PackageSpec> = match request {
            JobRequest::Install { packages, .. } => packages.iter().collect(),
            JobRequest::Update { package, .. } => vec![package],
            JobRequest::Remove { name, .. } => {
                backend.validate_name(name)?;
                Vec::new()
            }
            JobRequest::PatchApply { exclude, .. } => {
                for name in exclude {
                    backend.validate_name(name)?;
                }
                Vec::new()
            }
            JobRequest::Reboot { .. } | JobRequest::Rollback { .. } => Vec::new(),
        };
        for spec in specs {
            backend.validate_name(&spec.name)?;
            if let Some(v) = &spec.version {
                backend.validate_version(v)?;
            }
        }
        Ok(())
    }

    pub(super) fn precheck(&self, request: &JobRequest) -> Result<(), EngineError> {
        let backend = self.inventory.backend();
        match request {
            JobRequest::Install { packages, options } => {
                if packages.is_empty() {
                    return Err(PkgError::Invalid {
                        field: "packages".into(),
                        message: "at least one package is required".into(),
                    }
                    .into());
                }
                let installed = self.inventory.installed()?;
                for p in packages {
                    check_spec(backend.as_ref(), &installed, p, options, false)?;
                }
            }
            JobRequest::Update { package, options } => {
                let installed = self.inventory.installed()?;
                check_spec(backend.as_ref(), &installed, package, options, true)?;
            }
            JobRequest::Remove { name, .. } => {
                backend.validate_name(name)?;
                let installed = self.inventory.installed()?;
                if !installed.iter().any(|p| &p.name == name) {
                    return Err(PkgError::NotFound(name.clone()).into());
                }
            }
            JobRequest::PatchApply { .. } => self.validate(request)?,
            JobRequest::Reboot { .. } | JobRequest::Rollback { .. } => {}
        }
        self.refuse_held(request)?;
        Ok(())
    }

    /// Writes a new job's first record and makes it known, handing it to the worker queue
    /// unless it is a reboot (the record is deleted again when the queue refuses it).
    /// `checked`: the database stamps its submission checks passed under, if they ran.
    /// Answers with the job as submitted (`pending`).
    ///
    /// A package job that starts at once is first written already running, which spares
    /// the request's path to the tool one durable write (two fsyncs) and keeps the record's
    /// meaning: a running record is what makes the next start repair the database after a
    /// crash, and it is on disk before the tool can start, as when a worker marks a job
    /// running. Its worker has it while the record is written and waits for it before the
    /// tool (`admission.rs`). A job that waits in line is written pending, then queued.
    pub(super) fn admit(
        &self,
        mut job: Job,
        checked: Option<DbStamps>,
    ) -> Result<Job, EngineError> {
        job.revision = 1;
        job.note("info", format!("{} job submitted", job.operation.as_str()));
        if !self.starts_at_once(&job) {
            self.store.save_new(&job).map_err(storage_error)?;
            if let Err(e) = self.hand_over(&job, job.clone(), checked, None) {
                self.store.delete(&job.id);
                return Err(e);
            }
            return Ok(job);
        }
        let kept = self.started(&job);
        let gate = admission::Admission::new();
        self.hand_over(&job, kept.clone(), checked, Some(Arc::clone(&gate)))?;
        if let Err(e) = self.store.save_new(&kept) {
            self.table().remove(&job.id);
            gate.settle(false);
            return Err(storage_error(e));
        }
        // Announced before the worker may go on: its own events come after these.
        self.announce(&job, &kept);
        gate.settle(true);
        Ok(job)
    }

    /// Whether a package job would start at once: none in line, the transaction free.
    /// Submissions racing each other may both say yes; the later one then waits for the
    /// transaction as a running job, as any job a worker has taken does.
    fn starts_at_once(&self, job: &Job) -> bool {
        // The transaction is asked first and apart: elsewhere its lock is taken before the
        // table's.
        job.operation != Operation::Reboot
            && !self.txn.busy()
            && !self.table().values().any(Entry::in_line)
    }

    /// `job` as a worker marks it when it starts it.
    fn started(&self, job: &Job) -> Job {
        let mut started = job.clone();
        started.revision += 1;
        mark_started(&mut started, self.boot_id.clone());
        started.updated_at = now();
        started
    }

    /// Sends a job to the workers (not a reboot) and puts it in the table. A job whose
    /// record is saved is announced under the same lock; one whose record is still being
    /// written (`gate`) is announced by [`Engine::admit`] once it is.
    fn hand_over(
        &self,
        submitted: &Job,
        kept: Job,
        checked: Option<DbStamps>,
        gate: Option<Arc<admission::Admission>>,
    ) -> Result<(), EngineError> {
        let mut table = self.table();
        let sent = match (relock(&self.queue).as_ref(), kept.operation) {
            (Some(_), Operation::Reboot) => Ok(()),
            (Some(tx), _) => tx.try_send(kept.id),
            (None, _) => Err(TrySendError::Disconnected(kept.id)),
        };
        if let Err(e) = sent {
            return Err(match e {
                TrySendError::Full(_) => EngineError::QueueFull {
                    max: self.settings.max_queued.max(1),
                },
                TrySendError::Disconnected(_) => EngineError::Storage(
                    "the agent is shutting down; no new jobs are accepted".into(),
                ),
            });
        }
        // Inserted under the same lock as the send: a worker that already took the id
        // waits for the table and finds the job.
        let announce = gate.is_none();
        if announce {
            self.publish_new(submitted, &kept);
        }
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let begun = kept.status == JobStatus::Running;
        let id = kept.id;
        let mut entry = Entry::new(kept, seq);
        entry.last_event = Some(Instant::now());
        entry.last_persist = Some(Instant::now());
        entry.checked = checked;
        entry.begun = begun;
        entry.admission = gate;
        table.insert(id, entry);
        if announce {
            // The reboot timer waits on it for a new reboot job; `cancel` on a status change.
            self.changed.notify_all();
        }
        Ok(())
    }

    /// Announces a job whose record is now on disk (see [`Engine::hand_over`]), and shows
    /// it to readers.
    fn announce(&self, submitted: &Job, kept: &Job) {
        let mut table = self.table();
        if let Some(entry) = table.get_mut(&kept.id) {
            entry.admission = None;
        }
        self.publish_new(submitted, kept);
        self.changed.notify_all();
    }

    /// `submitted`, then the state the job is kept in when that is further along.
    fn publish_new(&self, submitted: &Job, kept: &Job) {
        self.events.publish(&JobEvent::of(submitted));
        if kept.status != submitted.status {
            self.events.publish(&JobEvent::of(kept));
        }
    }
}

fn storage_error(e: crate::jobs::store::StoreError) -> EngineError {
    EngineError::Storage(e.to_string())
}

fn check_spec(
    backend: &dyn PackageManager,
    installed: &[InstalledPackage],
    spec: &PackageSpec,
    options: &InstallOptions,
    update: bool,
) -> Result<(), PkgError> {
    backend.validate_name(&spec.name)?;
    if let Some(v) = &spec.version {
        backend.validate_version(v)?;
    }
    let name = &spec.name;
    let current = installed
        .iter()
        .find(|p| &p.name == name)
        .map(|p| p.version.as_str());
    if update && current.is_none() {
        return Err(PkgError::NotFound(name.clone()));
    }
    let indexed = backend.indexed_versions(name);
    if indexed
        .as_deref()
        .is_some_and(|offered| offers::settles(offered, spec.version.as_deref()))
    {
        // The metadata files say it is on offer: no tool run before the `202`.
        log::debug!("{name}: on offer in the repositories' index");
        return check_downgrade(backend, spec, current, options);
    }
    let available = backend.available_versions(name)?;
    if available.is_empty() && current.is_none() {
        return Err(PkgError::NotFound(name.clone()));
    }
    let Some(v) = &spec.version else {
        return Ok(());
    };
    if !available.contains(v) && current != Some(v.as_str()) {
        let list = if available.is_empty() {
            "none".to_string()
        } else {
            available.join(", ")
        };
        return Err(PkgError::VersionConflict(format!(
            "{name}: version {v} is not available; available: {list}"
        )));
    }
    check_downgrade(backend, spec, current, options)
}

/// Refuses an exact version older than the installed one unless downgrades are allowed.
fn check_downgrade(
    backend: &dyn PackageManager,
    spec: &PackageSpec,
    current: Option<&str>,
    options: &InstallOptions,
) -> Result<(), PkgError> {
    let (name, Some(v)) = (&spec.name, &spec.version) else {
        return Ok(());
    };
    if let Some(cur) = current {
        if backend.compare_versions(v, cur) == CmpOrdering::Less && !options.allow_downgrade {
            return Err(PkgError::VersionConflict(format!(
                "{name}: version {v} would downgrade from {cur} to {v}; set allow_downgrade"
            )));
        }
    }
    Ok(())
}
