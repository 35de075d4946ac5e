//! Spare record files: the first record of a job, written before its tool may start, goes
//! into a file created, filled and fsynced beforehand, so that making it durable costs one
//! data flush and no journal commit.
//!
//! A new file's fsync commits its creation and its blocks, then the rename's directory fsync
//! commits again: 2.2-3.5 ms on the bench's disk, more than the agent's whole share of an apk
//! job. A spare already has its blocks and its inode on disk: overwritten with a record of
//! the same length, its `fdatasync` writes only the bytes. It is then renamed to the
//! record's name without syncing the directory: the job's next record (written by
//! [`crate::fsutil::write_atomic`], whose directory fsync commits this rename with its own)
//! or the next start settles it. A crash before that leaves the durable record under either
//! name, and the start-up load renames one found in a spare into place
//! ([`crate::jobs::store::Store::load_each`]); a torn spare means the write never finished,
//! so the tool never started. Still temp + fsync + rename: a crash leaves either no record
//! or the whole one. (This relies on a rename being atomic across a crash, as on ext4, xfs
//! and btrfs: the file is found under one of its two names.)
//!
//! Full disk: a spare is taken only when the file system still has room for its
//! replacement and a record beside it (`statvfs`, [`ROOM`]); without it the job is refused,
//! as it is when the record itself cannot be written. Checking the room costs the request a
//! system call where writing the replacement at once cost it a file creation (a journal
//! handle, 0.1-0.6 ms on the bench's disk). A keeper thread writes and syncs replacements
//! after the job that took a spare ends, and keeps [`READY`] of them, off the request's
//! path.
//!
//! Spares are named like [`crate::fsutil::write_atomic`]'s temp files; the start-up load
//! removes those a stopped agent left blank.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::fsutil::{sync_dir, temp_path, PRIVATE_MODE};

/// The length of a spare, and of a record written through one (padded with blanks, which
/// JSON readers skip). Far above a new job's record (about 1 KiB).
pub const SPARE_LEN: usize = 8 * 1024;

/// Spares the keeper keeps synced and ready.
const READY: usize = 2;

/// Free bytes a spare is taken with: its replacement and a record as long as a spare.
const ROOM: u64 = 2 * SPARE_LEN as u64;

/// The keeper leaves the disk alone after a spare is taken until a job ends
/// ([`Spares::job_ended`]), at most this long: the job that took it is running its tool
/// then, and a spare's fsync would queue beside the tool's own writes. The bound keeps the
/// reserve filled beside a job of hours.
const QUIET_AFTER_TAKE: Duration = Duration::from_secs(60);

/// After the keeper could not make a spare (a full disk), it tries again this much later,
/// or at the next job.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The name a spare is created under in the job directory (made unique by
/// [`crate::fsutil::temp_path`]).
const SPARE_NAME: &str = "spare";

/// Whether a file name in the job directory is a spare's.
pub fn is_spare_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_prefix(SPARE_NAME))
        .is_some_and(|n| n.starts_with(".tmp."))
}

/// The spare files of one job directory and the keeper that makes them.
pub struct Spares {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// Filled and fsynced: ready to take a record.
    ready: Vec<PathBuf>,
    /// The keeper runs (started once).
    keeping: bool,
    /// The store is gone: the keeper stops.
    stopped: bool,
    /// Set after a failed creation: no new spare before then.
    retry_at: Option<Instant>,
    /// Set when a spare is taken: no disk work before then, or before a job ends.
    quiet_until: Option<Instant>,
}

impl State {
    /// Removes every spare: nothing is left to use them (a stopped agent's would go at the
    /// next start anyway).
    fn discard(&mut self) {
        for path in self.ready.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// How long the keeper may sleep before [`State::due`] may say yes without a wake-up.
    fn nap(&self, at: Instant) -> Duration {
        let until = [self.quiet_until, self.retry_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > at)
            .min();
        until.map_or(RETRY_AFTER, |t| t - at)
    }

    /// Whether the keeper should make a spare now.
    fn due(&self, at: Instant) -> bool {
        let quiet = self.quiet_until.is_some_and(|t| at < t);
        let may_create = self.retry_at.is_none_or(|t| at >= t);
        !quiet && may_create && self.ready.len() < READY
    }
}

impl Spares {
    /// The spares of `dir` (none made until [`Spares::keep`]).
    pub fn new(dir: &Path) -> Spares {
        Spares {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
            }),
        }
    }

    /// Starts the keeper (once): from now on [`READY`] spares are kept. Called after the
    /// start-up load, which removes every temp-named file it finds.
    pub fn keep(&self) {
        let mut state = self.shared.lock();
        if state.keeping || state.stopped {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("job-spares".into())
            .spawn(move || shared.keeper());
        match spawned {
            Ok(_) => state.keeping = true,
            // Records are then written the ordinary way: slower, nothing lost.
            Err(e) => log::warn!("cannot start the spare record keeper: {e}"),
        }
    }

    /// Writes `bytes` (a new record) to `path` through a ready spare when there is one and
    /// it fits, else by [`crate::fsutil::write_atomic`]. Fails, leaving no record, when the
    /// spare used cannot be replaced (the disk is full) or the write fails. Through a spare,
    /// the bytes are durable on return and the rename is not yet (see the module's note).
    pub fn write_new(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let Some(spare) = self.take(bytes.len())? else {
            return crate::fsutil::write_atomic(path, bytes, PRIVATE_MODE);
        };
        if let Err(e) = fill(&spare, bytes) {
            log::debug!("spare {} not usable ({e}); writing anew", spare.display());
            discard(&spare);
            return crate::fsutil::write_atomic(path, bytes, PRIVATE_MODE);
        }
        // No directory fsync here: that commit is the job's next record's, or the next
        // start's recovery of the spare.
        std::fs::rename(&spare, path).inspect_err(|_| discard(&spare))
    }

    /// A ready spare for a record of `len` bytes when the disk has room for its replacement;
    /// `None` when none is ready or the record is too long for one (it needs its final
    /// newline). Fails with `ENOSPC` when the room is not there.
    fn take(&self, len: usize) -> std::io::Result<Option<PathBuf>> {
        if len >= SPARE_LEN || self.shared.lock().ready.is_empty() {
            return Ok(None);
        }
        room(&self.shared.dir, ROOM)?;
        let mut state = self.shared.lock();
        let taken = state.ready.pop();
        // The room is there: the keeper may try again once the job ends.
        state.retry_at = None;
        state.quiet_until = Some(Instant::now() + QUIET_AFTER_TAKE);
        drop(state);
        self.shared.wake.notify_all();
        Ok(taken)
    }

    /// A job ended (its final record is written): the keeper's deferred work may run now,
    /// while no tool of the job that took a spare is running.
    pub fn job_ended(&self) {
        let mut state = self.shared.lock();
        if state.quiet_until.take().is_some() {
            drop(state);
            self.shared.wake.notify_all();
        }
    }

    /// The spares ready now (for tests and the log).
    pub fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.wake.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes spares until stopped, up to [`READY`], each written and synced.
    fn keeper(&self) {
        loop {
            {
                let mut state = self.lock();
                loop {
                    if state.stopped {
                        state.discard();
                        return;
                    }
                    let at = Instant::now();
                    if state.due(at) {
                        break;
                    }
                    // Woken by a spare taken; also when a quiet or a retry delay is over.
                    let nap = state.nap(at).max(Duration::from_millis(1));
                    state = self
                        .wake
                        .wait_timeout(state, nap)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
            self.make_one();
        }
    }

    fn make_one(&self) {
        let made = self.create().and_then(|p| sync(&p).map(|()| p));
        let mut state = self.lock();
        match made {
            Ok(path) => state.ready.push(path),
            Err(e) => {
                if state.retry_at.is_none() {
                    log::warn!(
                        "cannot prepare a spare job record in {}: {e}; records are written \
                         the slower way until there is room",
                        self.dir.display()
                    );
                }
                state.retry_at = Some(Instant::now() + RETRY_AFTER);
            }
        }
    }

    /// Creates a spare (0600) filled with [`SPARE_LEN`] blanks, not yet synced. Removed
    /// again when the disk cannot take it.
    fn create(&self) -> std::io::Result<PathBuf> {
        let path = temp_path(&self.dir.join(SPARE_NAME))?;
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| f.write_all(&padded(b"")));
        match written {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }
}

/// Fails with `ENOSPC` unless the file system of `dir` has `bytes` free for this process
/// (blocks and, where it counts them, inodes).
fn room(dir: &Path, bytes: u64) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `st` a buffer statvfs fills on success.
    if unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // 32 bits wide on some targets' libc, 64 on x86_64.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
    let inodes = st.f_files == 0 || st.f_favail >= 2;
    if free >= bytes && inodes {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
    }
}

/// `bytes` followed by blanks up to [`SPARE_LEN`], the last one a newline; `bytes` whole
/// when longer (callers never pass those: [`Spares::take`] refuses them).
fn padded(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(SPARE_LEN.max(bytes.len() + 1));
    v.extend_from_slice(bytes);
    if v.len() < SPARE_LEN - 1 {
        v.resize(SPARE_LEN - 1, b' ');
    }
    v.push(b'\n');
    v
}

/// Removes a spare that may hold a record no job will have, durably: a start-up after a
/// crash must not find it and take it for a job's first record.
fn discard(spare: &Path) {
    let _ = std::fs::remove_file(spare);
    let _ = sync_dir(spare);
}

/// Opens an existing spare for writing, never through a symlink.
fn open_spare(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Fsyncs a spare: its blocks and inode on disk, so overwriting it changes neither.
fn sync(path: &Path) -> std::io::Result<()> {
    match open_spare(path).and_then(|f| f.sync_all()) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

/// Overwrites a ready spare with `bytes`, padded to its length, and makes them durable.
/// The length and blocks are those the spare was synced with, so `fdatasync` writes the
/// bytes alone (the timestamps it leaves behind are never read).
fn fill(spare: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let f = open_spare(spare)?;
    f.write_all_at(&padded(bytes), 0)?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-spares-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Spares of a new directory, with [`READY`] of them ready.
    fn kept() -> (PathBuf, Spares) {
        let dir = temp_dir();
        let s = Spares::new(&dir);
        s.keep();
        until_ready(&s, READY);
        (dir, s)
    }

    /// Waits (at most 10 s) until `n` spares are ready.
    fn until_ready(s: &Spares, n: usize) {
        let limit = Instant::now() + Duration::from_secs(10);
        while s.ready() < n {
            assert!(
                Instant::now() < limit,
                "{} spares ready, not {n}",
                s.ready()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn without_the_keeper_a_record_is_written_the_ordinary_way() {
        let dir = temp_dir();
        let s = Spares::new(&dir);
        let path = dir.join("a.json");
        s.write_new(&path, b"{\"a\":1}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}");
        assert_eq!(names(&dir), ["a.json"]);
    }

    #[test]
    fn a_record_through_a_spare_is_padded_json_0600_and_the_spare_is_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, s) = kept();
        let spares_before = names(&dir);
        assert_eq!(spares_before.len(), READY, "{spares_before:?}");
        assert!(spares_before
            .iter()
            .all(|n| crate::fsutil::is_temp_name(n) && is_spare_name(n)));

        let path = dir.join("b.json");
        s.write_new(&path, br#"{"id":"b","status":"running"}"#)
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), SPARE_LEN);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["status"], "running");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The spare it used is gone from the names.
        let after = names(&dir);
        assert!(after.contains(&"b.json".to_string()));
        let used: Vec<&String> = spares_before
            .iter()
            .filter(|n| !after.contains(n))
            .collect();
        assert_eq!(used.len(), 1, "{spares_before:?} -> {after:?}");
        // No replacement is written while the job runs its tool...
        assert_eq!(s.ready(), READY - 1);
        assert_eq!(names(&dir).len(), READY, "{:?}", names(&dir));
        // ...it is, and synced, once a job ends.
        s.job_ended();
        until_ready(&s, READY);
        assert_eq!(names(&dir).len(), READY + 1, "{:?}", names(&dir));
    }

    #[test]
    fn a_record_as_long_as_a_spare_or_longer_is_written_whole_the_ordinary_way() {
        let (dir, s) = kept();
        // One with no room for the final newline, and one far longer.
        for n in [SPARE_LEN - 2, SPARE_LEN + 100] {
            let record = format!("\"{}\"", "x".repeat(n));
            let path = dir.join(format!("{n}.json"));
            s.write_new(&path, record.as_bytes()).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), record);
            assert_eq!(s.ready(), READY, "no spare used for {n}");
        }
    }

    #[test]
    fn padding_never_cuts_a_record() {
        let fits = vec![b'a'; SPARE_LEN - 1];
        assert_eq!(padded(&fits).len(), SPARE_LEN);
        assert_eq!(&padded(&fits)[..SPARE_LEN - 1], &fits[..]);
        let long = vec![b'b'; SPARE_LEN + 5];
        assert_eq!(&padded(&long)[..SPARE_LEN + 5], &long[..]);
        assert!(padded(b"{}").ends_with(b" \n"));
    }

    #[test]
    fn the_keeper_stops_with_its_spares() {
        let (dir, s) = kept();
        let shared = Arc::downgrade(&s.shared);
        drop(s);
        let limit = Instant::now() + Duration::from_secs(10);
        while shared.upgrade().is_some() {
            assert!(Instant::now() < limit, "the keeper still holds its state");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(names(&dir).is_empty(), "{:?}", names(&dir));
    }

    #[test]
    fn a_spare_is_made_up_to_ready_outside_the_quiet_and_the_retry_delay() {
        let at = Instant::now();
        let mut s = State::default();
        assert!(s.due(at));
        s.ready = vec![PathBuf::from("a"); READY];
        assert!(!s.due(at), "enough ready");
        s.ready.pop();
        s.retry_at = Some(at + Duration::from_secs(1));
        assert!(!s.due(at), "waiting to retry");
        assert!(s.due(at + Duration::from_secs(2)));
        assert_eq!(s.nap(at), Duration::from_secs(1));
        s.quiet_until = Some(at + Duration::from_millis(300));
        s.retry_at = None;
        assert!(!s.due(at), "quiet after a take");
        assert_eq!(s.nap(at), Duration::from_millis(300));
        assert!(s.due(at + Duration::from_millis(300)));
        s.quiet_until = None;
        assert_eq!(s.nap(at), RETRY_AFTER);
    }

    #[test]
    fn no_spare_is_taken_without_room_for_its_replacement() {
        let (dir, s) = kept();
        assert!(room(&dir, ROOM).is_ok());
        let none = room(&dir, u64::MAX).unwrap_err();
        assert_eq!(none.raw_os_error(), Some(libc::ENOSPC));
        assert!(room(&dir.join("missing"), 1).is_err());
        // A record still goes through a spare when the room is there.
        s.write_new(&dir.join("c.json"), b"{}").unwrap();
        assert_eq!(s.ready(), READY - 1);
    }
}
