//! Processes still running code from files that were deleted or replaced after they mapped
//! them (a library or program upgraded under them), and the service each belongs to: what
//! needrestart, `zypper ps` and dnf's `needs-restarting` report, read from `/proc` alone.
//!
//! Only executable mappings count (programs and shared libraries: a mapping with `x` in its
//! permissions and a path), never shared memory (`/dev/shm`, `/memfd:`, SysV `/SYSV...`),
//! devices or anonymous memory. A file is stale when the kernel marks the mapping
//! ` (deleted)`, or when the path, looked up in the process's own root (`/proc/PID/root`,
//! so containers and sandboxes are read in their own tree), now names another inode than
//! the one mapped: a package upgrade writes the new file beside the old one and renames it
//! over. The device number is not compared: on btrfs subvolumes and overlayfs the maps line
//! and `stat` disagree about it for the very same file.
//!
//! A process that exits or cannot be read meanwhile is skipped, never an error; kernel
//! threads map nothing and are skipped with it. The scan is bounded: at most
//! [`ScanLimits::max_pids`] processes, [`ScanLimits::max_maps_bytes`] of each maps file, a
//! deadline, and [`ScanLimits::max_listed`] processes (and [`MAX_FILES_LISTED`] files each,
//! [`ScanLimits::max_listed_bytes`] of text in all) in the answer; `truncated` says when any
//! bound cut it short. Units are gathered from
//! every stale process found, listed or not.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Most stale files named per process (a process rarely maps more than a few dozen).
pub const MAX_FILES_LISTED: usize = 64;

/// Mapping paths that are memory, not files a package installs.
const NOT_FILES: [&str; 4] = ["/dev/", "/memfd:", "/SYSV", "/anon_hugepage"];

/// The marker the kernel appends to the path of a mapping whose file was unlinked.
const DELETED: &str = " (deleted)";

/// The bounds of one scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanLimits {
    /// Most processes read (in pid order).
    pub max_pids: usize,
    /// Most processes listed in the answer (their units still count).
    pub max_listed: usize,
    /// Most bytes read of one process's maps.
    pub max_maps_bytes: u64,
    /// Most bytes of text (commands, units, paths) in the answer: a local user can map
    /// files with names of 4 KiB, and a job record keeps the answer.
    pub max_listed_bytes: usize,
    /// How long the whole scan may take.
    pub deadline: Duration,
}

impl Default for ScanLimits {
    fn default() -> ScanLimits {
        ScanLimits {
            max_pids: 32_768,
            max_listed: 256,
            max_maps_bytes: 4 << 20,
            max_listed_bytes: 256 << 10,
            deadline: Duration::from_secs(2),
        }
    }
}

/// One process running code from a deleted or replaced file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleProcess {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub command: String,
    /// The systemd unit (`ssh.service`, `session-2.scope`) or OpenRC service (`sshd`) its
    /// cgroup names, if any.
    pub unit: Option<String>,
    /// The stale files it maps, sorted, at most [`MAX_FILES_LISTED`].
    pub deleted_files: Vec<String>,
}

/// The outcome of one scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartNeeded {
    /// The stale processes in pid order, at most [`ScanLimits::max_listed`].
    pub processes: Vec<StaleProcess>,
    /// The distinct units of every stale process found, sorted.
    pub units: Vec<String>,
    /// Whether a bound (processes read or listed, the deadline) cut the answer short.
    #[serde(default)]
    pub truncated: bool,
}

/// Scans the host's `/proc` with the default bounds.
pub fn scan_host() -> RestartNeeded {
    scan(Path::new("/proc"), &ScanLimits::default())
}

/// Most scan readers alive at once in this process: readers left blocked by earlier scans
/// count until their read returns; beyond this a scan answers at once, empty and truncated.
const MAX_READERS: usize = 8;

/// Readers alive now.
static READERS: AtomicUsize = AtomicUsize::new(0);

/// The processes (by proc root and pid) a reader was left blocked on: later scans skip them
/// until that read returns, so a process stuck in the kernel costs one thread, not one per
/// scan.
static STUCK: Mutex<BTreeSet<(PathBuf, u32)>> = Mutex::new(BTreeSet::new());

fn stuck() -> MutexGuard<'static, BTreeSet<(PathBuf, u32)>> {
    // The set only names pids to skip; a panic while it was held leaves it usable.
    STUCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where one scan's reader is, shared with the caller waiting for it.
#[derive(Default)]
struct Progress {
    /// The pid whose files are being read.
    reading: Option<u32>,
    /// The caller stopped waiting (deadline): the reader stops at its next step.
    abandoned: bool,
}

/// Counts a reader alive until dropped.
struct ReaderSlot;

impl ReaderSlot {
    fn take() -> Option<ReaderSlot> {
        let taken = READERS.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < MAX_READERS).then_some(n + 1)
        });
        taken.is_ok().then_some(ReaderSlot)
    }
}

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        READERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Scans the process tree under `proc_root` (a `/proc`, or a copy of its shape in tests).
///
/// The reading runs on a thread of its own and the caller waits for it until the deadline
/// at most: reading one process's maps takes that process's memory-map lock, which a
/// process stuck in the kernel can hold indefinitely. What was found by then is answered
/// (`truncated`); the pid the reader is blocked on is skipped by later scans until the
/// read returns, and the reader then ends.
pub fn scan(proc_root: &Path, limits: &ScanLimits) -> RestartNeeded {
    let deadline = Instant::now() + limits.deadline;
    let mut found = Found::new(limits);
    let Some(slot) = ReaderSlot::take() else {
        found.truncated = true;
        return found.finish();
    };
    let (tx, rx) = mpsc::channel();
    let progress = Arc::new(Mutex::new(Progress::default()));
    let reader = Reader {
        root: proc_root.to_path_buf(),
        limits: *limits,
        deadline,
        progress: Arc::clone(&progress),
    };
    let spawned = std::thread::Builder::new()
        .name("restart-scan".into())
        .spawn(move || {
            let _slot = slot;
            reader.walk(&tx);
        });
    if spawned.is_err() {
        found.truncated = true;
        return found.finish();
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Step::Stale(p)) => found.add(p),
            Ok(Step::Done { cut }) => {
                found.truncated |= cut;
                break;
            }
            // The deadline passed, or the reader ended without saying it was done.
            Err(_) => {
                abandon(&progress, proc_root);
                found.truncated = true;
                break;
            }
        }
    }
    found.finish()
}

/// Stops waiting for a reader; the pid it is reading, if any, is skipped from now on.
fn abandon(progress: &Mutex<Progress>, proc_root: &Path) {
    let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
    p.abandoned = true;
    if let Some(pid) = p.reading {
        stuck().insert((proc_root.to_path_buf(), pid));
    }
}

/// What the reader hands the waiting caller.
enum Step {
    /// One stale process.
    Stale(StaleProcess),
    /// Every process read; `cut` when a bound stopped it early.
    Done { cut: bool },
}

/// One scan's reader.
struct Reader {
    root: PathBuf,
    limits: ScanLimits,
    deadline: Instant,
    progress: Arc<Mutex<Progress>>,
}

impl Reader {
    /// Reads the processes in pid order until done, a bound, or the caller gave up.
    fn walk(&self, tx: &mpsc::Sender<Step>) {
        let (pids, mut cut) = pids(&self.root, self.limits.max_pids);
        for pid in pids {
            if Instant::now() >= self.deadline {
                cut = true;
                break;
            }
            if stuck().contains(&(self.root.clone(), pid)) {
                cut = true;
                continue;
            }
            let Some(found) = self.read(pid) else {
                return;
            };
            if let Some(p) = found {
                if tx.send(Step::Stale(p)).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Step::Done { cut });
    }

    /// One process, with the caller told which; `None` once the caller gave up (the pid
    /// then leaves the skipped set: its read returned).
    fn read(&self, pid: u32) -> Option<Option<StaleProcess>> {
        self.mark(Some(pid))?;
        let found = stale_process(&self.root, pid, self.limits.max_maps_bytes);
        self.mark(None).map(|()| found).or_else(|| {
            stuck().remove(&(self.root.clone(), pid));
            None
        })
    }

    /// Records what is being read; `None` when the caller gave up.
    fn mark(&self, reading: Option<u32>) -> Option<()> {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if p.abandoned {
            return None;
        }
        p.reading = reading;
        Some(())
    }
}

/// The answer as it is gathered: the listing capped, the units from every process.
struct Found {
    max_listed: usize,
    bytes_left: usize,
    processes: Vec<StaleProcess>,
    units: BTreeSet<String>,
    truncated: bool,
}

impl Found {
    fn new(limits: &ScanLimits) -> Found {
        Found {
            max_listed: limits.max_listed,
            bytes_left: limits.max_listed_bytes,
            processes: Vec::new(),
            units: BTreeSet::new(),
            truncated: false,
        }
    }

    fn add(&mut self, p: StaleProcess) {
        if let Some(u) = &p.unit {
            self.units.insert(u.clone());
        }
        let size = p.command.len()
            + p.unit.as_ref().map_or(0, String::len)
            + p.deleted_files.iter().map(String::len).sum::<usize>();
        if self.processes.len() < self.max_listed && size <= self.bytes_left {
            self.bytes_left -= size;
            self.processes.push(p);
        } else {
            self.truncated = true;
        }
    }

    fn finish(self) -> RestartNeeded {
        RestartNeeded {
            processes: self.processes,
            units: self.units.into_iter().collect(),
            truncated: self.truncated,
        }
    }
}

/// The numeric entries of `proc_root`, sorted, at most `max`; and whether some were left.
fn pids(proc_root: &Path, max: usize) -> (Vec<u32>, bool) {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return (Vec::new(), false);
    };
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort_unstable();
    let cut = pids.len() > max;
    pids.truncate(max);
    (pids, cut)
}

/// One process, when it maps a stale file and can still be read.
fn stale_process(proc_root: &Path, pid: u32, max_maps_bytes: u64) -> Option<StaleProcess> {
    let dir = proc_root.join(pid.to_string());
    let maps = read_capped(&dir.join("maps"), max_maps_bytes)?;
    let root = dir.join("root");
    let mut files = stale_files(&maps, |path, inode| replaced(&root, path, inode));
    if files.is_empty() {
        return None;
    }
    files.truncate(MAX_FILES_LISTED);
    let command = read_capped(&dir.join("comm"), 256)
        .map(|c| c.trim_end_matches('\n').to_string())
        .unwrap_or_default();
    let unit = read_capped(&dir.join("cgroup"), 64 << 10).and_then(|c| unit_of(&c));
    Some(StaleProcess {
        pid,
        command,
        unit,
        deleted_files: files,
    })
}

/// At most `max` bytes of a file as text; `None` when it cannot be read (gone, denied).
fn read_capped(path: &Path, max: u64) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether `path`, seen from the process's `root`, now names another inode than `inode`.
/// A path that cannot be looked up is not called replaced: without an answer there is no
/// claim to make (the ` (deleted)` marker covers files that are gone).
fn replaced(root: &Path, path: &str, inode: u64) -> bool {
    let inside = root.join(path.trim_start_matches('/'));
    std::fs::metadata(inside).is_ok_and(|m| m.ino() != inode)
}

/// The stale files of one maps text, sorted and unique; `replaced(path, inode)` tells a
/// replaced file from the one mapped, asked once per distinct path.
pub fn stale_files(maps: &str, mut replaced: impl FnMut(&str, u64) -> bool) -> Vec<String> {
    let mut mapped: BTreeMap<&str, (u64, bool)> = BTreeMap::new();
    for line in maps.lines() {
        let Some(m) = executable_mapping(line) else {
            continue;
        };
        let entry = mapped.entry(m.path).or_insert((m.inode, false));
        entry.1 |= m.deleted;
    }
    mapped
        .into_iter()
        .filter(|(path, (inode, deleted))| *deleted || replaced(path, *inode))
        .map(|(path, _)| path.to_string())
        .collect()
}

/// One file-backed executable mapping of a maps line.
struct Mapping<'a> {
    path: &'a str,
    inode: u64,
    deleted: bool,
}

/// Reads `address perms offset dev inode path` and keeps the mapping when it is
/// executable and backed by a file a package could have installed.
fn executable_mapping(line: &str) -> Option<Mapping<'_>> {
    let mut rest = line;
    let mut fields = [""; 5];
    for field in &mut fields {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ')?;
        *field = &rest[..end];
        rest = &rest[end..];
    }
    let [_, perms, _, _, inode] = fields;
    let path = rest.trim_start_matches(' ');
    if !perms.contains('x') || !path.starts_with('/') {
        return None;
    }
    if NOT_FILES.iter().any(|p| path.starts_with(p)) {
        return None;
    }
    let (path, deleted) = match path.strip_suffix(DELETED) {
        Some(p) => (p, true),
        None => (path, false),
    };
    Some(Mapping {
        path,
        inode: inode.parse().ok()?,
        deleted,
    })
}

/// The service a process belongs to, from its `/proc/PID/cgroup`: the systemd unit of the
/// unified hierarchy (`0::`) or of the `name=systemd` one (cgroup v1), else OpenRC's
/// service (`openrc.NAME` on cgroup v2, the `name=openrc` hierarchy on v1).
pub fn unit_of(cgroup: &str) -> Option<String> {
    let mut systemd_v1 = None;
    let mut unified = None;
    let mut openrc_v1 = None;
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        match controllers {
            "" => unified = Some(path),
            "name=systemd" => systemd_v1 = Some(path),
            "name=openrc" => openrc_v1 = Some(path),
            _ => {}
        }
    }
    let systemd = systemd_v1.or(unified).and_then(systemd_unit);
    systemd
        .or_else(|| unified.and_then(openrc_v2))
        .or_else(|| openrc_v1.and_then(openrc_v1_service))
}

/// The deepest `.service` or `.scope` of a systemd cgroup path whose ancestors are all
/// slices or units (`/system.slice/ssh.service`, `/user.slice/user-1000.slice/session-2.scope`,
/// `/init.scope`); none for paths outside systemd's tree (`/docker/ID`, `/`).
fn systemd_unit(path: &str) -> Option<String> {
    let mut unit = None;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part.ends_with(".service") || part.ends_with(".scope") {
            unit = Some(part);
        } else if !part.ends_with(".slice") {
            // Above a unit there are only slices, so a path outside systemd's tree names
            // none; below one, a service may make sub-groups of its own.
            break;
        }
    }
    unit.map(str::to_string)
}

/// OpenRC on the unified hierarchy: `/openrc.sshd` → `sshd`.
fn openrc_v2(path: &str) -> Option<String> {
    let first = path.split('/').find(|p| !p.is_empty())?;
    let name = first.strip_prefix("openrc.")?;
    (!name.is_empty()).then(|| name.to_string())
}

/// OpenRC's own v1 hierarchy: `/sshd` → `sshd`.
fn openrc_v1_service(path: &str) -> Option<String> {
    let first = path.split('/').find(|p| !p.is_empty())?;
    Some(first.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    /// Lines as a real `/proc/self/maps` writes them (Debian 12, x86_64).
    const MAPS: &str = "\
55f312358000-55f31235a000 r--p 00000000 fe:00 247282                     /usr/bin/head
55f31235a000-55f312360000 r-xp 00002000 fe:00 247282                     /usr/bin/head
555fdf1fb000-555fdf21c000 rw-p 00000000 00:00 0                          [heap]
7fa5c3707000-7fa5c3729000 rw-p 00000000 00:00 0 
7f2c1a228000-7f2c1a3b0000 r-xp 00028000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)
7f2c1a3b0000-7f2c1a3ff000 r--p 001b0000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)
7f2c1a500000-7f2c1a600000 rw-s 00000000 00:1a 1234                       /dev/shm/pulse-shm-1 (deleted)
7f2c1a600000-7f2c1a700000 r-xp 00000000 00:01 2048                       /memfd:wayland-cursor (deleted)
7f2c1a700000-7f2c1a800000 r--p 00000000 fe:00 9001                       /usr/lib/locale/locale-archive (deleted)
7f2c1a800000-7f2c1a900000 rw-s 00000000 00:01 32768                      /SYSV00000000 (deleted)
7fa5c397f000-7fa5c3981000 r-xp 00000000 00:00 0                          [vdso]
7f2c1aa00000-7f2c1aa10000 r-xp 00000000 fe:00 400001                     /opt/app dir/lib one.so
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";

    #[test]
    fn deleted_and_replaced_executable_mappings_are_stale() {
        let mut asked = Vec::new();
        let files = stale_files(MAPS, |path, inode| {
            asked.push((path.to_string(), inode));
            path == "/opt/app dir/lib one.so"
        });
        assert_eq!(
            files,
            vec![
                "/opt/app dir/lib one.so",
                "/usr/lib/x86_64-linux-gnu/libc.so.6"
            ]
        );
        // Each executable path not marked deleted is asked once; the marker needs no lookup.
        assert_eq!(
            asked,
            vec![
                ("/opt/app dir/lib one.so".to_string(), 400001),
                ("/usr/bin/head".to_string(), 247282),
            ]
        );
    }

    fn recorded(name: &str) -> String {
        std::fs::read_to_string(format!("tests/data/proc/{name}")).unwrap()
    }

    #[test]
    fn recorded_maps_of_a_live_and_a_deleted_program() {
        // Nothing replaced: nothing stale, and only the executable files were looked up.
        let mut asked = Vec::new();
        let none = stale_files(&recorded("maps-cat"), |path, _| {
            asked.push(path.to_string());
            false
        });
        assert!(none.is_empty());
        assert_eq!(
            asked,
            [
                "/usr/bin/cat",
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                "/usr/lib/x86_64-linux-gnu/libc.so.6"
            ]
        );
        let gone = stale_files(&recorded("maps-sleep-deleted"), |_, _| false);
        assert_eq!(gone, ["/tmp/lpa-rec-sleep"]);
        assert_eq!(unit_of(&recorded("cgroup-v1-hybrid-root")), None);
    }

    #[test]
    fn memory_and_data_mappings_never_count() {
        let files = stale_files(MAPS, |_, _| false);
        assert_eq!(files, vec!["/usr/lib/x86_64-linux-gnu/libc.so.6"]);
        assert!(stale_files("", |_, _| true).is_empty());
        assert!(stale_files("garbage line\n7f-8f r-xp 0 fe:00 x /bin/x\n", |_, _| true).is_empty());
    }

    #[test]
    fn units_from_cgroup_v2_v1_and_openrc() {
        assert_eq!(
            unit_of("0::/system.slice/ssh.service\n").as_deref(),
            Some("ssh.service")
        );
        assert_eq!(
            unit_of("0::/user.slice/user-1000.slice/session-2.scope\n").as_deref(),
            Some("session-2.scope")
        );
        assert_eq!(
            unit_of(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-u690.service\n"
            )
            .as_deref(),
            Some("run-u690.service")
        );
        assert_eq!(
            unit_of("0::/system.slice/containerd.service/kubepods-x\n").as_deref(),
            Some("containerd.service")
        );
        assert_eq!(unit_of("0::/init.scope\n").as_deref(), Some("init.scope"));
        assert_eq!(unit_of("0::/\n"), None);
        assert_eq!(unit_of("0::/docker/4f1e2a\n"), None);
        // cgroup v1 (hybrid): the name=systemd hierarchy wins over controllers and 0::.
        let v1 = "12:memory:/system.slice/cron.service\n\
                  1:name=systemd:/system.slice/cron.service\n0::/\n";
        assert_eq!(unit_of(v1).as_deref(), Some("cron.service"));
        // This host's own shape: v1 controllers at the root, nothing to name.
        let host = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/1bf8\n0::/\n";
        assert_eq!(unit_of(host), None);
        assert_eq!(unit_of("0::/openrc.sshd\n").as_deref(), Some("sshd"));
        assert_eq!(
            unit_of("3:name=openrc:/chronyd\n0::/\n").as_deref(),
            Some("chronyd")
        );
        assert_eq!(unit_of("not a cgroup line\n"), None);
    }

    /// A temporary directory removed on drop.
    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp_dir() -> Dir {
        let d = std::env::temp_dir().join(format!("lpa-restart-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    /// A maps line in the kernel's layout for `path` at `inode`.
    fn line(perms: &str, inode: u64, path: &str) -> String {
        format!("7f2c1a228000-7f2c1a3b0000 {perms} 00028000 fe:00 {inode:<26}{path}\n")
    }

    /// A fake `/proc/PID` with the given files, its `root` pointing at `root`.
    fn process(proc_root: &Path, pid: u32, root: &Path, files: &[(&str, &str)]) {
        let dir = proc_root.join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        symlink(root, dir.join("root")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn scans_a_proc_tree_with_roots_units_and_bounds() {
        let tmp = temp_dir();
        let (procfs, root) = (tmp.0.join("proc"), tmp.0.join("root"));
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        let lib = root.join("usr/lib/libz.so.1");
        std::fs::write(&lib, b"old").unwrap();
        let old_inode = std::fs::metadata(&lib).unwrap().ino();
        // Upgraded the way dpkg does: the new file renamed over the old one.
        std::fs::write(root.join("usr/lib/libz.so.1.new"), b"new").unwrap();
        std::fs::rename(root.join("usr/lib/libz.so.1.new"), &lib).unwrap();
        let new_inode = std::fs::metadata(&lib).unwrap().ino();
        std::fs::write(root.join("usr/lib/current.so"), b"same").unwrap();
        let current = std::fs::metadata(root.join("usr/lib/current.so"))
            .unwrap()
            .ino();

        let stale = line("r-xp", old_inode, "/usr/lib/libz.so.1");
        let fresh = line("r-xp", current, "/usr/lib/current.so");
        let gone = line("r-xp", 77, "/usr/sbin/cron (deleted)");
        process(
            &procfs,
            410,
            &root,
            &[
                ("maps", &format!("{stale}{fresh}")),
                ("comm", "sshd\n"),
                ("cgroup", "0::/system.slice/ssh.service\n"),
            ],
        );
        process(
            &procfs,
            77,
            &root,
            &[
                ("maps", &gone),
                ("comm", "cron\n"),
                ("cgroup", "1:name=systemd:/system.slice/cron.service\n"),
            ],
        );
        // Up to date, a kernel thread (empty maps), one without cgroup, one unreadable.
        process(&procfs, 5, &root, &[("maps", &fresh), ("comm", "bash\n")]);
        process(&procfs, 2, &root, &[("maps", ""), ("comm", "kthreadd\n")]);
        process(
            &procfs,
            900,
            &root,
            &[("maps", &gone), ("comm", "orphan\n")],
        );
        process(&procfs, 901, &root, &[("comm", "vanished\n")]);
        std::fs::create_dir_all(procfs.join("self")).unwrap();

        let all = scan(&procfs, &ScanLimits::default());
        let pids: Vec<u32> = all.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![77, 410, 900]);
        assert_eq!(all.processes[1].command, "sshd");
        assert_eq!(all.processes[1].unit.as_deref(), Some("ssh.service"));
        assert_eq!(all.processes[1].deleted_files, vec!["/usr/lib/libz.so.1"]);
        assert_eq!(all.processes[0].deleted_files, vec!["/usr/sbin/cron"]);
        assert_eq!(all.processes[2].unit, None);
        assert_eq!(all.units, vec!["cron.service", "ssh.service"]);
        assert!(!all.truncated);
        assert_ne!(new_inode, old_inode, "the rename made a new inode");

        // The listing is capped, the units still count every stale process.
        let capped = scan(
            &procfs,
            &ScanLimits {
                max_listed: 1,
                ..ScanLimits::default()
            },
        );
        assert_eq!(capped.processes.len(), 1);
        assert_eq!(capped.units, all.units);
        assert!(capped.truncated);
        // The text budget: the first process fits, the others are left out.
        let budget = ScanLimits {
            max_listed_bytes: "cron".len() + "cron.service".len() + "/usr/sbin/cron".len(),
            ..ScanLimits::default()
        };
        let small = scan(&procfs, &budget);
        assert_eq!(small.processes.len(), 1);
        assert_eq!(small.units, all.units);
        assert!(small.truncated);
        // Fewer processes read: only pids 2 and 5, none stale.
        let few = scan(
            &procfs,
            &ScanLimits {
                max_pids: 2,
                ..ScanLimits::default()
            },
        );
        assert!(few.processes.is_empty() && few.truncated);
        let none = scan(
            &procfs,
            &ScanLimits {
                deadline: Duration::ZERO,
                ..ScanLimits::default()
            },
        );
        assert!(none.processes.is_empty() && none.truncated);
        assert_eq!(
            scan(&tmp.0.join("nowhere"), &ScanLimits::default()),
            RestartNeeded::default()
        );
    }

    #[test]
    fn a_read_that_blocks_ends_the_scan_at_its_deadline() {
        let tmp = temp_dir();
        let procfs = tmp.0.join("proc");
        let gone = line("r-xp", 9, "/usr/bin/old (deleted)");
        process(&procfs, 10, &tmp.0, &[("maps", &gone), ("comm", "old\n")]);
        // A maps file whose reading never returns, as with a process stuck holding its
        // memory-map lock: a FIFO nobody writes to.
        std::fs::create_dir_all(procfs.join("11")).unwrap();
        let fifo = procfs.join("11/maps");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        process(&procfs, 12, &tmp.0, &[("maps", &gone), ("comm", "never\n")]);
        let got = scan(&procfs, &ScanLimits::default());
        let pids: Vec<u32> = got.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![10], "what was found before the block is kept");
        assert!(got.truncated);
        // The next scan skips the process its predecessor is still blocked on.
        let next = scan(&procfs, &ScanLimits::default());
        let pids: Vec<u32> = next.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![10, 12]);
        assert!(next.truncated, "a skipped process is a cut answer");
        // Release the reader left behind: a writer opens and closes, it reads EOF. Without
        // blocking: should the reader not be waiting, there is nothing to release.
        let w = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK) };
        if w >= 0 {
            unsafe { libc::close(w) };
        }
    }

    #[test]
    fn a_huge_maps_file_is_read_up_to_its_cap() {
        let tmp = temp_dir();
        let procfs = tmp.0.join("proc");
        let gone = line("r-xp", 9, "/usr/bin/late (deleted)");
        let filler = line("r--p", 1, "/usr/share/data").repeat(100);
        process(&procfs, 10, &tmp.0, &[("maps", &format!("{filler}{gone}"))]);
        let limits = ScanLimits {
            max_maps_bytes: 1024,
            ..ScanLimits::default()
        };
        assert!(scan(&procfs, &limits).processes.is_empty());
        assert_eq!(scan(&procfs, &ScanLimits::default()).processes.len(), 1);
    }
}
