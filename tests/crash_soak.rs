//! Crash safety under repeated kill -9 (issue 16, section 3): the real agent binary in a
//! sandbox root with the real apt, killed with SIGKILL at random observable points (a job
//! queued, a job running, a rollback running, right after a job record changed on disk, dpkg
//! inside a maintainer script) and restarted each time. After every restart: no job the
//! client was given is lost, none stays unfinished, every record on disk parses and is final,
//! and `dpkg --audit` is clean (the agent repairs what the kill left half-configured).
//!
//! Knobs: `LPA_SOAK_KILLS` (default 20) for a longer run, `LPA_SOAK_SEED` to replay a run
//! (the seed is printed). Needs root (CI is root).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::jobs::*;
use common::sandbox::{Sandbox, SandboxAgent};
use common::*;
use linux_patch_api::jobs::spares::is_spare_name;
use serde_json::{json, Value};

/// The agent's job directory inside the sandbox root (the default `jobs.storage_path`).
const JOBS_DIR: &str = "var/lib/linux_patch_api/jobs";
/// The final statuses of a job.
const FINAL: [&str; 4] = ["completed", "failed", "cancelled", "timeout"];
/// How long anything the soak waits for may take before it is called stuck.
const STUCK: Duration = Duration::from_secs(90);

/// splitmix64: a seeded, reproducible sequence (no crate needed for a test's dice).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
    )
}

/// Where a kill lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    /// Right after a second job was queued behind a first one.
    Queued,
    /// While a package job reports `running`.
    Running,
    /// While a rollback job reports `running`.
    Rollback,
    /// Right after the record of a running job was rewritten on disk.
    StateWrite,
    /// While dpkg runs lpa-slow's postinst (the package is left half-configured).
    InDpkg,
}

const POINTS: [Point; 5] = [
    Point::Queued,
    Point::Running,
    Point::Rollback,
    Point::StateWrite,
    Point::InDpkg,
];

struct Soak {
    env: Env,
    sb: Sandbox,
    extra: String,
    rng: Rng,
    /// Every job id the agent handed out, in order.
    ids: Vec<String>,
}

impl Soak {
    fn jobs_dir(&self) -> PathBuf {
        self.sb.root().join(JOBS_DIR)
    }

    /// Submits a request; the id when accepted. A refusal must be a 4xx error envelope (the
    /// package state moved under a rollback, say), never a 5xx.
    fn try_submit(
        &mut self,
        agent: &SandboxAgent,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Option<String> {
        let r = call(agent, &self.env, method, path, body);
        let v = assert_envelope(&r);
        if r.status == 202 {
            let id = v["data"]["job_id"].as_str().unwrap().to_string();
            self.ids.push(id.clone());
            return Some(id);
        }
        assert!(
            (400..500).contains(&r.status),
            "{method} {path}: {} {v}\n{}",
            r.status,
            agent.log_text()
        );
        eprintln!("soak: {method} {path} refused: {} {}", r.status, v["error"]);
        None
    }

    /// The next package change: lpa-hello absent -> 1.0-1 -> 1.1-1 -> removed, around again.
    fn submit_change(&mut self, agent: &SandboxAgent) -> Option<String> {
        let (method, path, body) = match (APT.version)(&self.sb, "lpa-hello").as_deref() {
            None => (
                "POST",
                "/api/v1/packages",
                Some(json!({"packages": [{"name": "lpa-hello", "version": "1.0-1"}]})),
            ),
            Some("1.0-1") => (
                "POST",
                "/api/v1/packages",
                Some(json!({"packages": [{"name": "lpa-hello", "version": "1.1-1"}]})),
            ),
            Some(_) => ("DELETE", "/api/v1/packages/lpa-hello", None),
        };
        self.try_submit(agent, method, path, body)
    }

    fn submit_reinstall(&mut self, agent: &SandboxAgent, name: &str) -> Option<String> {
        let body = json!({"packages": [name], "options": {"force": true}});
        self.try_submit(agent, "POST", "/api/v1/packages", Some(body))
    }

    /// The newest job that changed packages, when it completed (what a rollback can undo now).
    fn newest_change(&self, agent: &SandboxAgent) -> Option<String> {
        self.ids
            .iter()
            .rev()
            .map(|id| job(agent, &self.env, id))
            .find(|j| j["changes"].as_array().is_some_and(|c| !c.is_empty()))
            .filter(|j| j["status"] == "completed")
            .and_then(|j| j["job_id"].as_str().map(str::to_string))
    }

    /// Brings the agent to the kill point; says what it hit.
    fn approach(&mut self, agent: &SandboxAgent, point: Point) -> String {
        match point {
            Point::Queued => {
                let first = self.submit_change(agent);
                let second = self.submit_reinstall(agent, "lpa-tool");
                format!("after queueing {second:?} behind {first:?}")
            }
            Point::Running => {
                let Some(id) = self.submit_change(agent) else {
                    return "with no job".into();
                };
                let pause = self.rng.below(400);
                self.at_running(agent, &id, Duration::from_millis(pause))
            }
            Point::Rollback => {
                // A change to undo: the newest one, or a fresh one run to its end.
                let original = match self.newest_change(agent) {
                    Some(id) => id,
                    None => {
                        let Some(id) = self.submit_change(agent) else {
                            return "with no change to roll back".into();
                        };
                        completed(agent, &self.env, &id);
                        id
                    }
                };
                let path = format!("/api/v1/jobs/{original}/rollback");
                let Some(id) = self.try_submit(agent, "POST", &path, Some(json!({}))) else {
                    let hit = self.approach(agent, Point::Running);
                    return format!("rollback refused, instead {hit}");
                };
                let pause = self.rng.below(300);
                let hit = self.at_running(agent, &id, Duration::from_millis(pause));
                format!("rollback of {original}: {hit}")
            }
            Point::StateWrite => {
                let Some(id) = self.submit_change(agent) else {
                    return "with no job".into();
                };
                let nth = 1 + self.rng.below(2) as usize;
                self.after_record_writes(&id, nth)
            }
            Point::InDpkg => {
                let Some(id) = self.submit_reinstall(agent, "lpa-slow") else {
                    return "with no job".into();
                };
                let setting_up = eventually(STUCK, || {
                    job(agent, &self.env, &id)["output"]
                        .as_str()
                        .is_some_and(|o| o.contains("Setting up lpa-slow"))
                });
                assert!(
                    setting_up,
                    "dpkg never configured lpa-slow: {}",
                    job(agent, &self.env, &id)
                );
                // Into the postinst's sleep.
                std::thread::sleep(Duration::from_millis(300));
                format!("job {id} in lpa-slow's postinst")
            }
        }
    }

    /// Waits for the job to run, then `pause` more.
    fn at_running(&self, agent: &SandboxAgent, id: &str, pause: Duration) -> String {
        let mut status = String::new();
        let seen = eventually(STUCK, || {
            status = job(agent, &self.env, id)["status"]
                .as_str()
                .unwrap()
                .to_string();
            status != "pending"
        });
        assert!(seen, "job {id} never left the queue");
        std::thread::sleep(pause);
        format!("job {id} {pause:?} after it was seen {status}")
    }

    /// Watches a job's record file and returns right after its `nth` rewrite (every write is
    /// a rename of a new file; inode numbers are reused, so the change time tells too), or
    /// once the record is final with fewer writes.
    fn after_record_writes(&self, id: &str, nth: usize) -> String {
        use std::os::unix::fs::MetadataExt;
        let path = self.jobs_dir().join(format!("{id}.json"));
        let identity = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.ino(), m.size(), m.ctime(), m.ctime_nsec()))
        };
        let is_final = |p: &Path| {
            std::fs::read(p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|r| FINAL.contains(&r["status"].as_str().unwrap_or_default()))
        };
        let mut last = identity(&path);
        let mut writes = 0;
        let until = Instant::now() + STUCK;
        while writes < nth {
            assert!(
                Instant::now() < until,
                "the record of job {id} stopped changing"
            );
            let now = identity(&path);
            if now != last {
                writes += 1;
                last = now;
            } else if is_final(&path) {
                return format!("after job {id} ended ({writes} writes seen)");
            } else {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        format!("right after write {nth} of job {id}'s record")
    }

    /// What the soak checks after every restart.
    fn check(&self, agent: &SandboxAgent) {
        // Every job handed out is still there and final: those of earlier processes were
        // recovered before the agent served anything.
        for id in &self.ids {
            let j = job(agent, &self.env, id);
            let status = j["status"].as_str().unwrap();
            assert!(FINAL.contains(&status), "job {id} left {status}: {j}");
            assert!(j["completed_at"].is_string(), "{j}");
            assert_eq!(j["progress_percent"], 100, "{j}");
            if status != "completed" {
                assert!(j["error_code"].is_string(), "{j}");
            }
        }
        let mut listed: Vec<String> = Vec::new();
        loop {
            let path = format!("/api/v1/jobs?limit=1000&offset={}", listed.len());
            let r = call(agent, &self.env, "GET", &path, None);
            let page = assert_envelope(&r)["data"]["jobs"].clone();
            let page = page.as_array().unwrap();
            listed.extend(
                page.iter()
                    .map(|j| j["job_id"].as_str().unwrap().to_string()),
            );
            if page.len() < 1000 {
                break;
            }
        }
        for id in &self.ids {
            assert!(listed.contains(id), "job {id} is not listed");
        }
        self.check_records();
        // The package database: whatever the kill left, the agent's recovery repairs it.
        let mut audit = String::new();
        let clean = eventually(STUCK, || {
            audit = stdout(&self.sb, "dpkg", &["--audit"]).1;
            audit.is_empty()
        });
        if !clean {
            let recent: Vec<String> = self
                .ids
                .iter()
                .rev()
                .take(2)
                .map(|id| {
                    let j = job(agent, &self.env, id);
                    format!("job {id}: {}", j["output"].as_str().unwrap_or_default())
                })
                .collect();
            panic!(
                "dpkg --audit after the restart: {audit}\n{}\n{}",
                recent.join("\n"),
                agent.log_text()
            );
        }
    }

    /// Every record on disk parses and is final; nothing was moved aside.
    fn check_records(&self) {
        for entry in std::fs::read_dir(self.jobs_dir()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            // A write in progress (the restart repair notes its report): atomic, not a record.
            if (name.starts_with('.') && name.contains(".json.tmp.")) || is_spare_name(&name) {
                continue;
            }
            assert!(
                name.ends_with(".json"),
                "unexpected file in the job directory: {name}"
            );
            let bytes = std::fs::read(entry.path()).unwrap();
            let record: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
            let status = record["status"].as_str().unwrap_or_default();
            assert!(FINAL.contains(&status), "{name} is {status:?}");
        }
    }

    /// After a kill inside lpa-slow's postinst: dpkg says the package is half-configured.
    /// Its postinst sleeps 30 s only to hold the transaction open for the kill; it is made
    /// quick so the repair's `dpkg --configure -a` does not wait that out every time.
    fn left_half_configured(&self) {
        let audit = stdout(&self.sb, "dpkg", &["--audit"]).1;
        assert!(audit.contains("lpa-slow"), "dpkg --audit: {audit:?}");
        let postinst = self.sb.root().join("var/lib/dpkg/info/lpa-slow.postinst");
        let script = std::fs::read_to_string(&postinst).unwrap();
        std::fs::write(&postinst, script.replace("sleep 30", "true")).unwrap();
    }
}

#[test]
fn twenty_kill_minus_nine_restarts_lose_no_job_and_leave_dpkg_consistent() {
    require_sandbox!();
    let _one = serial();
    let kills = env_u64("LPA_SOAK_KILLS").unwrap_or(20);
    let seed = env_u64("LPA_SOAK_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!("crash soak: {kills} kills, LPA_SOAK_SEED={seed}");
    let started = Instant::now();
    let mut sb = Sandbox::new("crash-soak");
    agent_under_test(&mut sb);
    (APT.setup)(&mut sb);
    let mut soak = Soak {
        env: Env::new("crash-soak"),
        sb,
        // Retention must not delete what the soak counts on finding (long runs).
        extra: agent_config(&APT, "jobs:\n  retention_max_jobs: 1000000\n"),
        rng: Rng(seed),
        ids: Vec::new(),
    };
    let mut agent = soak.sb.start_agent(&soak.env, &soak.extra);
    let mut hits = std::collections::BTreeMap::new();
    for round in 1..=kills {
        let point = POINTS[soak.rng.below(POINTS.len() as u64) as usize];
        let what = soak.approach(&agent, point);
        agent.kill_agent_process();
        drop(agent);
        eprintln!("crash soak: kill {round} {point:?}: {what}");
        *hits.entry(format!("{point:?}")).or_insert(0) += 1;
        if point == Point::InDpkg {
            soak.left_half_configured();
        }
        agent = soak.sb.start_agent(&soak.env, &soak.extra);
        soak.check(&agent);
    }
    // The agent still does real work after it all.
    let id = soak.submit_change(&agent).expect("a change after the soak");
    completed(&agent, &soak.env, &id);
    (APT.consistent)(&soak.sb);
    eprintln!(
        "crash soak: {kills} kills ({hits:?}), {} jobs, {:?}, LPA_SOAK_SEED={seed}",
        soak.ids.len(),
        started.elapsed()
    );
}

/// Runs the tests against another agent build when `LPA_CRASH_SOAK_AGENT` names one (an
/// older binary, to see them fail before a fix).
fn agent_under_test(sb: &mut Sandbox) {
    if let Some(bin) = std::env::var_os("LPA_CRASH_SOAK_AGENT") {
        sb.set_agent_binary(Path::new(&bin));
    }
}

/// A fresh `<uuid>.json` path in the job directory.
fn record_path(dir: &Path) -> PathBuf {
    dir.join(format!("{}.json", uuid::Uuid::new_v4()))
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn damaged_job_records_are_logged_moved_aside_and_the_agent_keeps_serving() {
    require_sandbox!();
    let _one = serial();
    let env = Env::new("crash-damaged");
    let mut sb = Sandbox::new("crash-damaged");
    agent_under_test(&mut sb);
    (APT.setup)(&mut sb);
    let extra = agent_config(&APT, "");
    let mut agent = sb.start_agent(&env, &extra);
    let id = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-tool"]})),
    );
    completed(&agent, &env, &id);
    agent.kill_agent_process();
    drop(agent);

    let dir = sb.root().join(JOBS_DIR);
    let good = dir.join(format!("{id}.json"));
    let record = std::fs::read(&good).unwrap();
    // What a crash, a full disk or a stray hand can leave where a record belongs.
    let truncated = record_path(&dir);
    std::fs::write(&truncated, &record[..record.len() / 2]).unwrap();
    let garbage = record_path(&dir);
    std::fs::write(&garbage, [0xff, 0x00, 0xfe, b'{', 0x80, b'\n']).unwrap();
    let empty = record_path(&dir);
    std::fs::write(&empty, b"").unwrap();
    let fifo = record_path(&dir);
    mkfifo(&fifo);
    let zero = record_path(&dir);
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    // A record an editor saved with a byte-order mark still loads.
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend(&record);
    std::fs::write(&good, with_bom).unwrap();
    // A record left running by a crash: recovered, and the log says which status it had.
    let running_id = uuid::Uuid::new_v4().to_string();
    let mut running: Value = serde_json::from_slice(&record).unwrap();
    running["id"] = json!(running_id);
    running["status"] = json!("running");
    running["completed_at"] = Value::Null;
    std::fs::write(dir.join(format!("{running_id}.json")), running.to_string()).unwrap();
    // A first record a power cut left in its spare file (written and flushed, its rename
    // not committed): padded with blanks as the agent writes them, taken as the job's.
    let spared_id = uuid::Uuid::new_v4().to_string();
    running["id"] = json!(spared_id);
    let mut padded = running.to_string().into_bytes();
    padded.resize(linux_patch_api::jobs::spares::SPARE_LEN - 1, b' ');
    padded.push(b'\n');
    let spare = dir.join(".spare.tmp.4242.0");
    std::fs::write(&spare, padded).unwrap();

    // Start-up finishes (start_agent gives it 15 s) and the agent serves.
    let agent = sb.start_agent(&env, &extra);
    let r = call(&agent, &env, "GET", "/health", None);
    assert_eq!(r.status, 200, "{}", agent.log_text());
    let log = agent.log_text();
    for (what, path) in [
        ("truncated", &truncated),
        ("garbage", &garbage),
        ("empty", &empty),
        ("FIFO", &fifo),
        ("symlink to /dev/zero", &zero),
    ] {
        let name = path.file_name().unwrap().to_string_lossy();
        let line = log
            .lines()
            .find(|l| l.contains(&*name) && l.contains("moved to"))
            .unwrap_or_else(|| panic!("no log line names the {what} record {name}:\n{log}"));
        assert!(line.contains("ERROR"), "{line}");
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{what} left in place"
        );
        assert!(
            std::fs::symlink_metadata(path.with_extension("json.corrupt")).is_ok(),
            "{what} not moved aside"
        );
    }
    assert!(log.contains("symlink") && log.contains("FIFO"), "{log}");
    assert!(
        log.contains(&format!(
            "install job {running_id} was left running; marked failed"
        )),
        "{log}"
    );
    assert_eq!(job(&agent, &env, &id)["status"], "completed");
    let recovered = job(&agent, &env, &running_id);
    assert_eq!(recovered["status"], "failed", "{recovered}");
    assert_eq!(recovered["error_code"], "AGENT_RESTARTED", "{recovered}");
    let spared = job(&agent, &env, &spared_id);
    assert_eq!(spared["status"], "failed", "{spared}");
    assert_eq!(spared["error_code"], "AGENT_RESTARTED", "{spared}");
    assert!(log.contains("found in spare file"), "{log}");
    assert!(std::fs::symlink_metadata(&spare).is_err(), "spare left");
    assert!(
        dir.join(format!("{spared_id}.json")).exists(),
        "not renamed"
    );
    // And it still does real work.
    let again = submit(&agent, &env, "DELETE", "/api/v1/packages/lpa-tool", None);
    completed(&agent, &env, &again);
}

/// A small tmpfs over a directory, unmounted on drop (whatever the test did).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts one of `size`; `Err` says why it cannot (the caller skips, saying so).
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = [0u8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
}

#[test]
fn a_full_disk_refuses_new_jobs_with_a_clear_error_and_the_agent_keeps_serving() {
    require_sandbox!();
    let _one = serial();
    let env = Env::new("crash-full");
    let mut sb = Sandbox::new("crash-full");
    agent_under_test(&mut sb);
    (APT.setup)(&mut sb);
    let jobs = sb.root().join(JOBS_DIR);
    let _disk = match Tmpfs::mount(&jobs, "512k") {
        Ok(t) => t,
        Err(why) => {
            eprintln!("SKIPPED: cannot mount a small tmpfs for the full disk: {why}");
            return;
        }
    };
    let extra = agent_config(&APT, "");
    let agent = sb.start_agent(&env, &extra);
    // The spare record files are made before the disk fills, as on a host that ran a while:
    // a job then finds a spare ready, and is refused because its replacement cannot be
    // written.
    let spares = || {
        std::fs::read_dir(&jobs)
            .unwrap()
            .filter(|e| is_spare_name(&e.as_ref().unwrap().file_name().to_string_lossy()))
            .count()
    };
    assert!(eventually(STUCK, || spares() >= 2), "no spare record files");
    let filler = jobs.join("filler");
    fill(&filler);

    let body = json!({"packages": ["lpa-tool"]});
    let r = call(&agent, &env, "POST", "/api/v1/packages", Some(body.clone()));
    let v = assert_error(&r, 500, "INTERNAL_ERROR");
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("No space left on device") && message.contains(JOBS_DIR),
        "{v}"
    );
    assert!(
        agent.log_text().contains("No space left on device"),
        "{}",
        agent.log_text()
    );
    // Still serving: reads answer, and nothing half-written was left behind (the spare
    // record files made before the disk filled are the agent's reserve, not records).
    assert_eq!(call(&agent, &env, "GET", "/health", None).status, 200);
    let listed = call(&agent, &env, "GET", "/api/v1/jobs", None);
    assert_eq!(assert_envelope(&listed)["data"]["jobs"], json!([]));
    let names: Vec<String> = std::fs::read_dir(&jobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !is_spare_name(n))
        .collect();
    assert_eq!(names, ["filler"]);

    // Room again: the same request goes through.
    std::fs::remove_file(&filler).unwrap();
    let id = submit(&agent, &env, "POST", "/api/v1/packages", Some(body));
    completed(&agent, &env, &id);
}

#[test]
fn a_package_a_crash_left_half_installed_is_reinstalled_at_its_version_on_restart() {
    require_sandbox!();
    let _one = serial();
    let env = Env::new("crash-reinstreq");
    let mut sb = Sandbox::new("crash-reinstreq");
    agent_under_test(&mut sb);
    (APT.setup)(&mut sb);
    let extra = agent_config(&APT, "");
    let mut agent = sb.start_agent(&env, &extra);
    let old = json!({"packages": [{"name": "lpa-hello", "version": "1.0-1"}]});
    let id = submit(&agent, &env, "POST", "/api/v1/packages", Some(old));
    completed(&agent, &env, &id);
    agent.kill_agent_process();
    drop(agent);
    // What a kill while dpkg unpacks leaves (dpkg --configure -a and apt-get -f install
    // do not fix it), and the record of the job that was running then.
    let status = sb.root().join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&status).unwrap();
    let broken = text.replace(
        "Package: lpa-hello\nStatus: install ok installed\n",
        "Package: lpa-hello\nStatus: install reinstreq half-installed\n",
    );
    assert_ne!(broken, text, "lpa-hello not found installed in {text}");
    std::fs::write(&status, broken).unwrap();
    assert!(stdout(&sb, "dpkg", &["--audit"]).1.contains("lpa-hello"));
    let dir = sb.root().join(JOBS_DIR);
    let mut running: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.json"))).unwrap()).unwrap();
    let cut_off = uuid::Uuid::new_v4().to_string();
    running["id"] = json!(cut_off);
    running["status"] = json!("running");
    running["completed_at"] = Value::Null;
    std::fs::write(dir.join(format!("{cut_off}.json")), running.to_string()).unwrap();

    let agent = sb.start_agent(&env, &extra);
    // The repair's report lands in the interrupted job's log when the repair is over.
    let mut output = String::new();
    let reported = eventually(STUCK, || {
        output = job(&agent, &env, &cut_off)["output"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        output.contains("dpkg --audit is clean") || output.contains("repair failed")
    });
    let audit = stdout(&sb, "dpkg", &["--audit"]).1;
    assert!(
        reported && audit.is_empty(),
        "dpkg --audit: {audit}\njob log:\n{output}"
    );
    // Repaired at the version dpkg recorded: nothing upgraded behind the operator's back.
    assert_eq!((APT.version)(&sb, "lpa-hello").as_deref(), Some("1.0-1"));
    assert!(output.contains("--reinstall"), "{output}");
}

#[test]
fn a_job_after_an_interrupted_dpkg_finishes_dpkgs_journal_first() {
    require_sandbox!();
    let _one = serial();
    let env = Env::new("crash-journal");
    let mut sb = Sandbox::new("crash-journal");
    agent_under_test(&mut sb);
    (APT.setup)(&mut sb);
    let extra = agent_config(&APT, "");
    let agent = sb.start_agent(&env, &extra);
    // What a dpkg killed outside any job leaves (found by the soak: a kill during the
    // start-up repair): a journal entry, which `dpkg --audit` does not report but apt
    // refuses to run with ("dpkg was interrupted, you must manually run ...").
    let updates = sb.root().join("var/lib/dpkg/updates");
    std::fs::create_dir_all(&updates).unwrap();
    std::fs::write(updates.join("0001"), b"").unwrap();
    let body = json!({"packages": [{"name": "lpa-hello", "version": "1.0-1"}]});
    let id = submit(&agent, &env, "POST", "/api/v1/packages", Some(body));
    completed(&agent, &env, &id);
    let output = job(&agent, &env, &id)["output"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        output.contains("dpkg was interrupted earlier; running"),
        "{output}"
    );
    assert!(!updates.join("0001").exists(), "the journal was finished");
    assert_eq!((APT.version)(&sb, "lpa-hello").as_deref(), Some("1.0-1"));
}
