//! Job records on disk: one JSON file per job, written atomically; loading with restart
//! recovery; retention by count and age.
//!
//! Reading defends against what may be found in the directory: only regular files are read,
//! never through a symlink, never blocking on a FIFO, at most [`record_cap`] bytes; anything
//! else is logged and renamed `*.corrupt`, so start-up always finishes and keeps serving.
//!
//! Restart decision: a job found `pending` at start-up is failed, never run. Its request
//! was judged against a package state (and maybe a maintenance window) that may no longer
//! hold, and whoever submitted it may already have given up on it; the caller resubmits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{Job, JobError, JobStatus, LogLine};
use super::spares::{is_spare_name, Spares, SPARE_LEN};
use crate::fsutil::{
    is_temp_name, read_state_file, strip_bom, sync_dir, write_atomic, PRIVATE_MODE,
};

/// Where the kernel publishes this boot's random id.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// Room in a record for everything but its log (request, changes, result, notes past the
/// log cap): far beyond any real job, small enough to read at start-up without a care.
const RECORD_OVERHEAD_MAX: u64 = 16 * 1024 * 1024;

/// The largest job record read, for a log capped at `log_max_bytes`: JSON may escape one
/// byte as six (`\u0000`), plus [`RECORD_OVERHEAD_MAX`]. A bigger file was not written by
/// the agent and is moved aside rather than read into memory.
pub fn record_cap(log_max_bytes: usize) -> u64 {
    (log_max_bytes as u64)
        .saturating_mul(6)
        .saturating_add(RECORD_OVERHEAD_MAX)
}

/// Error code of jobs interrupted (or never started) because the agent stopped.
pub const AGENT_RESTARTED: &str = "AGENT_RESTARTED";

/// Why a record could not be written.
#[derive(Debug)]
pub enum StoreError {
    /// The record could not be serialised.
    Encode(String),
    /// A record could not be read back (its log asked for).
    Decode(String),
    /// The file could not be written.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Encode(m) => write!(f, "cannot encode a job record: {m}"),
            StoreError::Decode(m) => write!(f, "cannot read a job record: {m}"),
            StoreError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for StoreError {}

/// The job directory.
pub struct Store {
    dir: PathBuf,
    /// Records larger than this are not read (see [`record_cap`]).
    cap: u64,
    // Newest revision written per job (u64::MAX once deleted), held across the write so
    // two writers of one job cannot land out of order.
    written: Mutex<HashMap<Uuid, u64>>,
    /// Where new records go first (see [`Spares`]).
    spares: Spares,
}

impl Store {
    /// Opens (creating, mode 0700) the job directory.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        create_private_dir(dir).map_err(|error| StoreError::Io {
            path: dir.to_path_buf(),
            error,
        })?;
        Ok(Store {
            dir: dir.to_path_buf(),
            cap: record_cap(1024 * 1024),
            written: Mutex::new(HashMap::new()),
            spares: Spares::new(dir),
        })
    }

    /// The same store reading records up to `cap` bytes (see [`record_cap`]).
    pub fn with_record_cap(mut self, cap: u64) -> Store {
        self.cap = cap;
        self
    }

    /// The record file of a job.
    pub fn path_of(&self, id: &Uuid) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes a job's record unless a newer revision (or its deletion) was written already.
    pub fn save(&self, job: &Job) -> Result<(), StoreError> {
        let saved = self.save_by(job, |path, bytes| write_atomic(path, bytes, PRIVATE_MODE));
        if job.status.is_terminal() {
            // Its tool is done: the spares' deferred fsyncs no longer queue beside it.
            self.spares.job_ended();
        }
        saved
    }

    /// Writes a new job's first record, through a spare file when one is ready (a data flush
    /// and no journal commit on the way to the tool); otherwise as [`Store::save`].
    pub fn save_new(&self, job: &Job) -> Result<(), StoreError> {
        self.save_by(job, |path, bytes| self.spares.write_new(path, bytes))
    }

    /// Keeps spare files ready for [`Store::save_new`] from now on; called once the records
    /// are loaded (loading removes temp-named files and blank spares).
    pub fn keep_spares(&self) {
        self.spares.keep();
    }

    fn save_by(
        &self,
        job: &Job,
        write: impl FnOnce(&Path, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if written.get(&job.id).is_some_and(|&r| r >= job.revision) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(job).map_err(|e| StoreError::Encode(e.to_string()))?;
        let path = self.path_of(&job.id);
        write(&path, &bytes).map_err(|error| StoreError::Io { path, error })?;
        written.insert(job.id, job.revision);
        Ok(())
    }

    /// Deletes a job's record; later saves of it are ignored.
    pub fn delete(&self, id: &Uuid) {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        written.insert(*id, u64::MAX);
        let path = self.path_of(id);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn!("cannot delete job record {}: {e}", path.display());
            }
        }
    }

    /// Every readable record. Unreadable ones are logged and renamed `*.corrupt`; temp files
    /// a crash left are removed, after taking a first record out of a spare (see
    /// [`super::spares`]).
    pub fn load(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        self.load_each(|job| jobs.push(job));
        jobs
    }

    /// Hands every readable record to `visit`, one at a time (so a caller can drop each
    /// log before the next record is read); otherwise as [`Store::load`].
    pub fn load_each(&self, mut visit: impl FnMut(Job)) {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => {
                log::error!("cannot list job records in {}: {e}", self.dir.display());
                return;
            }
        };
        // Listed first: a spare recovered below gets a record's name, which the listing
        // must not then yield again.
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for name in names {
            let path = self.dir.join(&name);
            if is_spare_name(&name) {
                if let Some(job) = self.recover_spare(&path) {
                    visit(job);
                }
            } else if is_temp_name(&name) {
                let _ = std::fs::remove_file(&path);
            } else if let Some(stem) = name.strip_suffix(".json") {
                if let Some(job) = self.load_one(&path, stem) {
                    visit(job);
                }
            }
        }
    }

    /// A job's first record that a crash left under its spare's name (its bytes were
    /// durable before the tool could start; the rename was not yet): renamed into place and
    /// returned. A blank spare, or one whose write never finished (so no tool ran), is
    /// removed; so is one whose job has a record under its own name already (written
    /// later, which also committed the rename).
    fn recover_spare(&self, path: &Path) -> Option<Job> {
        // A record longer than a spare is never written through one: a bigger file here is
        // not the agent's record, and is not read whole.
        let parsed = match read_state_file(path, SPARE_LEN as u64) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
            Ok(bytes) => serde_json::from_slice::<Job>(strip_bom(&bytes))
                .inspect_err(|e| {
                    log::warn!(
                        "spare record file {} holds no whole record ({e}); removed",
                        path.display()
                    )
                })
                .ok(),
            Err(e) => {
                log::warn!("spare record file {}: {e}; removed", path.display());
                None
            }
        };
        let job = match parsed {
            Some(job) if std::fs::symlink_metadata(self.path_of(&job.id)).is_err() => job,
            _ => {
                let _ = std::fs::remove_file(path);
                return None;
            }
        };
        let target = self.path_of(&job.id);
        log::warn!(
            "job {}: its first record was found in spare file {} after a stop; renamed to {}",
            job.id,
            path.display(),
            target.display()
        );
        if let Err(e) = std::fs::rename(path, &target).and_then(|()| sync_dir(&target)) {
            log::error!("cannot rename {} into place: {e}", path.display());
        }
        Some(job)
    }

    /// The log in the record of job `id` (the record holds the whole job; only its log is
    /// kept). Nothing is moved aside here: start-up decides about unreadable records.
    pub fn load_logs(&self, id: &Uuid) -> Result<Vec<LogLine>, StoreError> {
        #[derive(serde::Deserialize)]
        struct LogsOnly {
            #[serde(default)]
            logs: Vec<LogLine>,
        }
        let path = self.path_of(id);
        let bytes = read_state_file(&path, self.cap).map_err(|e| StoreError::Io {
            path: path.clone(),
            error: std::io::Error::other(e.to_string()),
        })?;
        serde_json::from_slice::<LogsOnly>(strip_bom(&bytes))
            .map(|r| r.logs)
            .map_err(|e| StoreError::Decode(format!("{}: {e}", path.display())))
    }

    fn load_one(&self, path: &Path, stem: &str) -> Option<Job> {
        let bytes = match read_state_file(path, self.cap) {
            Ok(b) => b,
            Err(e) if e.is_unfit() => {
                self.move_aside(path, &e.to_string());
                return None;
            }
            Err(e) => {
                // Maybe passing (EIO, EMFILE): left in place for the next start.
                log::error!("cannot read job record {}: {e}; skipped", path.display());
                return None;
            }
        };
        let parsed = serde_json::from_slice::<Job>(strip_bom(&bytes))
            .map_err(|e| e.to_string())
            .and_then(|job| match Uuid::parse_str(stem) {
                Ok(id) if id == job.id => Ok(job),
                _ => Err(format!("the file name does not match job id {}", job.id)),
            });
        match parsed {
            Ok(job) => Some(job),
            Err(e) => {
                self.move_aside(path, &e);
                None
            }
        }
    }

    /// Renames a record that can never load to `*.corrupt` (kept for a human to look at),
    /// saying why.
    fn move_aside(&self, path: &Path, why: &str) {
        let aside = path.with_extension("json.corrupt");
        log::error!(
            "unreadable job record {}: {why}; moved to {}",
            path.display(),
            aside.display()
        );
        if let Err(e) = std::fs::rename(path, &aside) {
            log::error!("cannot move {} aside: {e}", path.display());
        }
    }
}

/// Creates a directory (and parents) readable by the agent only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// This boot's id, when the kernel says.
pub fn current_boot_id() -> Option<String> {
    std::fs::read_to_string(BOOT_ID_PATH)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Fails a job the previous agent process left unfinished; returns whether it changed.
/// `boot_id` is this boot's id: a running job that started under another one was cut off
/// by a reboot.
pub fn recover(job: &mut Job, boot_id: Option<&str>, now: OffsetDateTime) -> bool {
    let message = match job.status {
        JobStatus::Running => {
            let rebooted =
                matches!((job.boot_id.as_deref(), boot_id), (Some(a), Some(b)) if a != b);
            if rebooted {
                "the host rebooted while this job was running (boot id changed)"
            } else {
                "the agent restarted while this job was running"
            }
        }
        JobStatus::Pending => "not started: the agent restarted",
        _ => return false,
    };
    job.note("error", message);
    job.status = JobStatus::Failed;
    job.error = Some(JobError::new(AGENT_RESTARTED, message));
    job.progress_percent = 100;
    job.completed_at = Some(now);
    job.updated_at = now;
    job.revision += 1;
    true
}

/// Terminal jobs to delete: those finished more than `max_age` ago, and beyond the
/// newest `max_jobs` (oldest first).
pub fn expired<'a>(
    jobs: impl Iterator<Item = &'a Job>,
    max_jobs: usize,
    max_age: Duration,
    now: OffsetDateTime,
) -> Vec<Uuid> {
    let mut done: Vec<(OffsetDateTime, Uuid)> = jobs
        .filter(|j| j.status.is_terminal())
        .map(|j| (j.completed_at.unwrap_or(j.updated_at), j.id))
        .collect();
    // Newest first, so everything past `max_jobs` is the oldest.
    done.sort_by(|a, b| b.cmp(a));
    let cutoff = now - max_age;
    done.iter()
        .enumerate()
        .filter(|(i, (at, _))| *i >= max_jobs || *at < cutoff)
        .map(|(_, (_, id))| *id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::model::JobRequest;
    use crate::pkg::policy::RebootSetting;
    use crate::pkg::RemoveOptions;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("lpa-store-{}", Uuid::new_v4()))
    }

    fn job(status: JobStatus) -> Job {
        let mut j = Job::new(
            Uuid::new_v4(),
            JobRequest::Remove {
                name: "a".into(),
                options: RemoveOptions::default(),
            },
            OffsetDateTime::now_utc(),
        );
        j.status = status;
        j.revision = 1;
        j
    }

    #[test]
    fn save_load_round_trip_with_0600_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        let store = Store::open(&dir).unwrap();
        let mut j = job(JobStatus::Running);
        j.note("info", "hello");
        store.save(&j).unwrap();
        let mode = std::fs::metadata(store.path_of(&j.id))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = store.load();
        assert_eq!(loaded.len(), 1);
        assert_eq!(
            serde_json::to_value(&loaded[0]).unwrap(),
            serde_json::to_value(&j).unwrap()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A store of a new directory keeping spares, once one is ready (at most 10 s).
    fn with_a_spare() -> (PathBuf, Store) {
        let dir = temp_dir();
        let store = Store::open(&dir).unwrap();
        store.keep_spares();
        let limit = std::time::Instant::now() + Duration::from_secs(10);
        while store.spares.ready() == 0 {
            assert!(std::time::Instant::now() < limit, "no spare made");
            std::thread::sleep(Duration::from_millis(5));
        }
        (dir, store)
    }

    #[test]
    fn a_first_record_through_a_spare_loads_back_and_its_logs_read() {
        let (dir, store) = with_a_spare();
        let mut j = job(JobStatus::Running);
        j.note("info", "first");
        store.save_new(&j).unwrap();
        let bytes = std::fs::read(store.path_of(&j.id)).unwrap();
        assert_eq!(bytes.len(), SPARE_LEN, "padded");
        let loaded = store.load();
        assert_eq!(loaded.len(), 1, "the spares are not records");
        assert_eq!(
            serde_json::to_value(&loaded[0]).unwrap(),
            serde_json::to_value(&j).unwrap()
        );
        assert_eq!(store.load_logs(&j.id).unwrap().len(), 1);
        // The next revision is written the usual way, unpadded.
        j.revision += 1;
        j.status = JobStatus::Completed;
        store.save(&j).unwrap();
        let bytes = std::fs::read(store.path_of(&j.id)).unwrap();
        assert_eq!(bytes, serde_json::to_vec(&j).unwrap());
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_first_record_a_crash_left_in_its_spare_is_renamed_into_place_at_start_up() {
        let (dir, store) = with_a_spare();
        let running = job(JobStatus::Running);
        store.save_new(&running).unwrap();
        drop(store);
        // What the disk may hold after a crash: the spare's bytes, its rename lost.
        let left = dir.join(".spare.tmp.99.1");
        std::fs::rename(dir.join(format!("{}.json", running.id)), &left).unwrap();
        let blank = dir.join(".spare.tmp.99.2");
        std::fs::write(&blank, vec![b' '; SPARE_LEN]).unwrap();
        let torn = dir.join(".spare.tmp.99.3");
        std::fs::write(&torn, br#"{"id":"#).unwrap();
        // A spare holding a job that has its own record (the later one) is not taken.
        let later = job(JobStatus::Completed);
        let superseded = dir.join(".spare.tmp.99.4");
        let mut older = later.clone();
        older.status = JobStatus::Running;
        std::fs::write(&superseded, serde_json::to_vec(&older).unwrap()).unwrap();
        // Longer than any spare the agent writes: not read, removed.
        let oversized = dir.join(".spare.tmp.99.5");
        let mut big = serde_json::to_vec(&job(JobStatus::Running)).unwrap();
        big.resize(SPARE_LEN + 1, b' ');
        std::fs::write(&oversized, big).unwrap();
        let store = Store::open(&dir).unwrap();
        store.save(&later).unwrap();

        let mut loaded = store.load();
        loaded.sort_by_key(|j| j.status == JobStatus::Completed);
        let statuses: Vec<_> = loaded.iter().map(|j| (j.id, j.status)).collect();
        assert_eq!(
            statuses,
            [
                (running.id, JobStatus::Running),
                (later.id, JobStatus::Completed)
            ]
        );
        assert!(store.path_of(&running.id).exists(), "renamed into place");
        for gone in [&left, &blank, &torn, &superseded, &oversized] {
            assert!(!gone.exists(), "{} left", gone.display());
        }
        // Loading again finds the same records, once each.
        assert_eq!(store.load().len(), 2);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_patch_job_written_before_advisory_ids_still_loads() {
        let dir = temp_dir();
        let store = Store::open(&dir).unwrap();
        let upgrade = crate::pkg::Upgrade {
            name: "xen".into(),
            current_version: "4.10.0-r0".into(),
            available_version: "4.10.0-r1".into(),
            arch: None,
            origins: vec![],
        };
        let mut patch = crate::pkg::advisories::plain_update(&upgrade);
        patch.add_advisory_ids(["XSA-248"]);
        let mut j = Job::new(
            Uuid::new_v4(),
            JobRequest::PatchApply {
                patches: vec![patch],
                exclude: vec![],
                reboot: RebootSetting::IfRequired,
                reboot_delay_seconds: 0,
                policy: Default::default(),
                max_duration_minutes: None,
            },
            OffsetDateTime::now_utc(),
        );
        j.revision = 1;
        store.save(&j).unwrap();
        // Rewrite the record as an agent without the field wrote it.
        let path = store.path_of(&j.id);
        let mut record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let text = record.to_string();
        assert!(text.contains("XSA-248"), "{text}");
        let stored = &mut record["request"]["patches"][0];
        assert!(stored
            .as_object_mut()
            .unwrap()
            .remove("advisory_ids")
            .is_some());
        // Nor had it a policy, and its reboot was a boolean.
        assert_eq!(record["request"]["reboot"], "if_required");
        record["request"]["reboot"] = serde_json::Value::Bool(true);
        let request = record["request"].as_object_mut().unwrap();
        assert!(request.remove("policy").is_some());
        std::fs::write(&path, record.to_string()).unwrap();
        let loaded = store.load();
        std::fs::remove_dir_all(dir).unwrap();
        assert_eq!(loaded.len(), 1, "the old record was moved aside");
        let JobRequest::PatchApply {
            patches,
            reboot,
            policy,
            ..
        } = &loaded[0].request
        else {
            panic!("{:?}", loaded[0].request);
        };
        assert_eq!(patches[0].id, "xen-4.10.0-r1");
        assert!(patches[0].advisory_ids.is_empty());
        assert_eq!(*reboot, RebootSetting::IfRequired);
        assert!(policy.is_empty());
    }

    #[test]
    fn an_older_revision_or_a_deleted_job_is_not_written() {
        let dir = temp_dir();
        let store = Store::open(&dir).unwrap();
        let mut j = job(JobStatus::Running);
        j.revision = 5;
        store.save(&j).unwrap();
        let mut old = j.clone();
        old.revision = 4;
        old.status = JobStatus::Pending;
        store.save(&old).unwrap();
        assert_eq!(store.load()[0].status, JobStatus::Running);
        store.delete(&j.id);
        j.revision = 6;
        store.save(&j).unwrap();
        assert!(store.load().is_empty(), "a deleted job came back");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_records_are_moved_aside_and_temp_files_removed() {
        let dir = temp_dir();
        let store = Store::open(&dir).unwrap();
        let good = job(JobStatus::Completed);
        store.save(&good).unwrap();
        let bad = dir.join(format!("{}.json", Uuid::new_v4()));
        std::fs::write(&bad, b"{not json").unwrap();
        let misnamed = dir.join(format!("{}.json", Uuid::new_v4()));
        std::fs::write(&misnamed, serde_json::to_vec(&good).unwrap()).unwrap();
        let tmp = dir.join(".x.json.tmp.1.2");
        std::fs::write(&tmp, b"partial").unwrap();
        let loaded = store.load();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id, good.id);
        assert!(!bad.exists() && bad.with_extension("json.corrupt").exists());
        assert!(misnamed.with_extension("json.corrupt").exists());
        assert!(!tmp.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn fifos_symlinks_and_oversized_records_are_moved_aside_without_blocking() {
        let dir = temp_dir();
        let store = Store::open(&dir).unwrap().with_record_cap(4096);
        let good = job(JobStatus::Completed);
        store.save(&good).unwrap();
        // A FIFO: a plain read blocks start-up forever waiting for a writer.
        let fifo = dir.join(format!("{}.json", Uuid::new_v4()));
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A symlink to /dev/zero: a plain read never ends, eating memory.
        let zero = dir.join(format!("{}.json", Uuid::new_v4()));
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        // A symlink to a good record is refused too: records are never read through one.
        let link = dir.join(format!("{}.json", good.id.simple()));
        std::os::unix::fs::symlink(store.path_of(&good.id), &link).unwrap();
        let big = dir.join(format!("{}.json", Uuid::new_v4()));
        std::fs::write(&big, vec![b' '; 5000]).unwrap();

        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.clone();
        std::thread::spawn(move || {
            let _ = tx.send(Store::open(&d).unwrap().with_record_cap(4096).load());
        });
        let loaded = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("loading the job directory blocked");
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id, good.id);
        for p in [&fifo, &zero, &link, &big] {
            let aside = p.with_extension("json.corrupt");
            assert!(
                std::fs::symlink_metadata(p).is_err(),
                "{} left",
                p.display()
            );
            assert!(
                std::fs::symlink_metadata(&aside).is_ok(),
                "{}",
                aside.display()
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_record_with_a_byte_order_mark_loads() {
        let dir = temp_dir();
        let store = Store::open(&dir).unwrap();
        let j = job(JobStatus::Completed);
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(serde_json::to_vec(&j).unwrap());
        std::fs::write(store.path_of(&j.id), bytes).unwrap();
        let loaded = store.load();
        std::fs::remove_dir_all(dir).unwrap();
        assert_eq!(loaded.len(), 1, "the record with a BOM was moved aside");
        assert_eq!(loaded[0].id, j.id);
    }

    #[test]
    fn the_record_cap_leaves_room_for_an_escaped_log() {
        assert_eq!(record_cap(1024 * 1024), 22 * 1024 * 1024);
        assert_eq!(record_cap(usize::MAX), u64::MAX);
    }

    #[test]
    fn recovery_tells_agent_restart_from_reboot_and_fails_pending() {
        let now = OffsetDateTime::now_utc();
        let mut same = job(JobStatus::Running);
        same.boot_id = Some("boot-a".into());
        assert!(recover(&mut same, Some("boot-a"), now));
        let e = same.error.clone().unwrap();
        assert_eq!(same.status, JobStatus::Failed);
        assert_eq!(e.code, "AGENT_RESTARTED");
        assert_eq!(e.message, "the agent restarted while this job was running");

        let mut rebooted = job(JobStatus::Running);
        rebooted.boot_id = Some("boot-a".into());
        recover(&mut rebooted, Some("boot-b"), now);
        assert_eq!(
            rebooted.error.unwrap().message,
            "the host rebooted while this job was running (boot id changed)"
        );

        let mut pending = job(JobStatus::Pending);
        recover(&mut pending, Some("boot-b"), now);
        assert_eq!(pending.status, JobStatus::Failed);
        assert_eq!(
            pending.error.unwrap().message,
            "not started: the agent restarted"
        );
        assert_eq!(pending.progress_percent, 100);
        assert!(pending.completed_at.is_some());

        let mut done = job(JobStatus::Completed);
        assert!(!recover(&mut done, Some("boot-b"), now));
        assert_eq!(done.status, JobStatus::Completed);
    }

    #[test]
    fn retention_by_count_and_age_skips_unfinished_jobs() {
        let now = OffsetDateTime::now_utc();
        let mut jobs = Vec::new();
        for (i, status) in [
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Cancelled,
            JobStatus::Running,
            JobStatus::Completed,
        ]
        .into_iter()
        .enumerate()
        {
            let mut j = job(status);
            j.completed_at = Some(now - time::Duration::minutes(10 - i as i64));
            jobs.push(j);
        }
        // Count: keep the newest 2 finished (indices 4 and 2), never the running one.
        let by_count = expired(jobs.iter(), 2, Duration::from_secs(86_400), now);
        assert_eq!(by_count.len(), 2);
        assert!(by_count.contains(&jobs[0].id) && by_count.contains(&jobs[1].id));
        // Age: older than 7.5 minutes are indices 0 and 1 (10 and 9 minutes) and 2 (8).
        let by_age = expired(jobs.iter(), 100, Duration::from_secs(450), now);
        let mut want = vec![jobs[0].id, jobs[1].id, jobs[2].id];
        let mut got = by_age.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }
}
