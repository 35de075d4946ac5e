//! A job started at admission: its worker has it while its first record is written, and
//! its tool waits for that record (see `engine/admission.rs`).

use super::*;
use std::os::unix::fs::OpenOptionsExt;

#[test]
fn the_tool_of_a_job_started_at_once_runs_after_its_running_record_is_on_disk() {
    let r = rig();
    *r.fake.watch_records.lock().unwrap() = Some(r.settings.storage_path.clone());
    // Spares ready or not, the order is the same; run one job of each kind of first write.
    for name in ["c", "b"] {
        let job = r.engine.submit(install(&[(name, None)])).unwrap();
        let done = r.wait_done(&job.id);
        assert_eq!(done.status, JobStatus::Completed, "{done:?}");
        let seen = r.fake.records_at_tool.lock().unwrap().last().cloned();
        let record = format!("{}.json", job.id);
        assert!(
            seen.as_ref()
                .is_some_and(|v| v.contains(&(record.clone(), "running".to_string()))),
            "the tool of {record} ran before its record said running: {seen:?}"
        );
    }
}

#[test]
fn a_job_whose_first_record_cannot_be_written_is_refused_and_never_runs() {
    let r = rig();
    let jobs = r.settings.storage_path.clone();
    // Writes fail even for root: the job directory is a file now.
    std::fs::remove_dir_all(&jobs).unwrap();
    std::fs::write(&jobs, b"not a directory").unwrap();
    let refused = r.engine.submit(install(&[("c", None)]));
    assert!(
        matches!(refused, Err(EngineError::Storage(_))),
        "{refused:?}"
    );
    assert!(r.engine.list().is_empty(), "{:?}", r.engine.list());

    // Room again: a later job runs, and the refused one never did.
    std::fs::remove_file(&jobs).unwrap();
    std::fs::create_dir_all(&jobs).unwrap();
    let later = r.engine.submit(install(&[("b", None)])).unwrap();
    assert_eq!(r.wait_done(&later.id).status, JobStatus::Completed);
    assert_eq!(r.fake.called("install c"), 0);
    assert_eq!(r.fake.version("c"), None);
    assert_eq!(r.engine.list().len(), 1);
}

/// Replaces every spare of the rig (once two are made) by a FIFO: a record's write then
/// blocks in open(2) until a reader comes, as on a disk that hangs. Returns their paths.
fn fifo_spares(r: &Rig) -> Vec<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let jobs = r.settings.storage_path.clone();
    let spares = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&jobs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                crate::jobs::spares::is_spare_name(&p.file_name().unwrap().to_string_lossy())
            })
            .collect()
    };
    let give_up = Instant::now() + Duration::from_secs(10);
    while spares().len() < 2 {
        assert!(Instant::now() < give_up, "no spares made");
        std::thread::sleep(Duration::from_millis(5));
    }
    let fifos = spares();
    for path in &fifos {
        std::fs::remove_file(path).unwrap();
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }
    fifos
}

/// A submission whose first record's write hangs on the rig's spares turned FIFOs.
struct HungSubmit {
    fifos: Vec<std::path::PathBuf>,
    submit: std::thread::JoinHandle<Result<Job, EngineError>>,
}

impl HungSubmit {
    /// Submits an install of `c` on another thread; its record's write blocks.
    fn start(r: &Rig) -> HungSubmit {
        let fifos = fifo_spares(r);
        let engine = Arc::clone(&r.engine);
        let submit = std::thread::spawn(move || engine.submit(install(&[("c", None)])));
        HungSubmit { fifos, submit }
    }

    /// Opens a reader on each FIFO, which lets the blocked write go on (to fail on the
    /// spare's positioned write and write the record anew); the submission's answer.
    fn release(self) -> Job {
        let _readers: Vec<std::fs::File> = self
            .fifos
            .iter()
            .filter_map(|p| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(p)
                    .ok()
            })
            .collect();
        self.submit.join().unwrap().unwrap()
    }
}

/// Lets a hung submission go on far past the rig's 300 ms job timeout, and checks that its
/// worker gave up on the record: the job failed, saying so.
fn given_up_on_its_record(r: &Rig, hung: HungSubmit) {
    std::thread::sleep(Duration::from_secs(3));
    let job = hung.release();
    let done = r.wait_done(&job.id);
    assert_eq!(done.status, JobStatus::Failed, "{done:?}");
    let error = done.error.unwrap();
    assert_eq!(error.code, "INTERNAL_ERROR");
    assert!(
        error
            .message
            .contains("not written within the job's timeout"),
        "{}",
        error.message
    );
}

#[test]
fn a_worker_waits_for_the_first_record_at_most_the_job_timeout() {
    let r = rig_with(|s| s.timeout = Duration::from_millis(300));
    let hung = HungSubmit::start(&r);
    given_up_on_its_record(&r, hung);
    assert_eq!(r.fake.called("install"), 0);
}

#[test]
fn a_job_is_not_shown_until_its_first_record_is_on_disk() {
    let r = rig_with(|s| s.timeout = Duration::from_secs(30));
    let hung = HungSubmit::start(&r);
    // In the table, its worker has it; its record is not written yet.
    let give_up = Instant::now() + Duration::from_secs(10);
    while r.engine.active_package_jobs().is_empty() {
        assert!(Instant::now() < give_up, "the job never reached the table");
        std::thread::sleep(Duration::from_millis(2));
    }
    let id = r.engine.active_package_jobs()[0];
    assert!(r.engine.list().is_empty());
    assert!(r.engine.get(&id).is_none());
    assert!(r.engine.meta(&id).is_none());
    assert!(r.engine.summaries().is_empty());
    assert_eq!(r.engine.tally(), JobTally::default());
    assert_eq!(r.fake.called("install"), 0);
    let job = hung.release();
    assert_eq!(job.id, id);
    assert_eq!(r.wait_done(&id).status, JobStatus::Completed);
    assert_eq!(r.engine.list().len(), 1);
}

/// The fake's held tool's files (`held_tool`), in a fresh directory.
fn held_tool(r: &Rig) -> std::path::PathBuf {
    let dir = r.dir.join("held");
    std::fs::create_dir_all(&dir).unwrap();
    *r.fake.held_tool.lock().unwrap() = Some(dir.clone());
    dir
}

/// Waits (at most 10 s) until `path` exists.
fn appears(path: &std::path::Path) -> bool {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        if Instant::now() > give_up {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A submission whose first record's write hangs, its held tool already started; the
/// tool's directory.
fn hung_with_its_tool_started(r: &Rig) -> (std::path::PathBuf, HungSubmit) {
    let dir = held_tool(r);
    let hung = HungSubmit::start(r);
    assert!(appears(&dir.join("started")), "the tool never started");
    (dir, hung)
}

#[test]
fn a_held_tool_starts_while_the_first_record_is_written_and_passes_its_lock_after() {
    let r = rig_with(|s| s.timeout = Duration::from_secs(30));
    // The record's write hangs, and the tool is already started: held at its lock.
    let (dir, hung) = hung_with_its_tool_started(&r);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!dir.join("seen").exists(), "the tool passed its lock early");
    let job = hung.release();
    let done = r.wait_done(&job.id);
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    let seen = std::fs::read_to_string(dir.join("seen")).unwrap();
    assert!(
        seen.lines().any(|l| l == format!("{}.json", job.id)),
        "the tool passed its lock before the record was there: {seen:?}"
    );
    assert_eq!(r.fake.version("c").as_deref(), Some("1"));
}

#[test]
fn a_held_tool_whose_first_record_never_comes_is_stopped_at_its_lock() {
    let r = rig_with(|s| s.timeout = Duration::from_millis(300));
    let (dir, hung) = hung_with_its_tool_started(&r);
    given_up_on_its_record(&r, hung);
    assert!(!dir.join("seen").exists(), "the tool passed its lock");
    assert_eq!(r.fake.version("c"), None);
}

#[test]
fn a_job_written_before_its_worker_has_it_is_not_held() {
    let r = rig();
    let dir = held_tool(&r);
    // The first job keeps the transaction a while: the second waits in line, its record
    // written before a worker takes it, so there is nothing to hold its tool for.
    *r.fake.delay.lock().unwrap() = Duration::from_millis(300);
    let first = r.engine.submit(install(&[("c", None)])).unwrap();
    let second = r.engine.submit(install(&[("a", Some("2"))])).unwrap();
    for job in [&first, &second] {
        let done = r.wait_done(&job.id);
        assert_eq!(done.status, JobStatus::Completed, "{done:?}");
        let messages: Vec<&str> = done.logs.iter().map(|l| l.message.as_str()).collect();
        assert!(messages.contains(&"W: a warning"), "{messages:?}");
    }
    let started = std::fs::read_to_string(dir.join("started")).unwrap();
    assert_eq!(
        started.lines().count(),
        1,
        "held once, for the first job only"
    );
    let seen = std::fs::read_to_string(dir.join("seen")).unwrap();
    assert!(seen.contains(&format!("{}.json", first.id)), "{seen:?}");
    assert_eq!(r.fake.version("a").as_deref(), Some("2"));
}
