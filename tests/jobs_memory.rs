//! The agent's memory does not grow with the number or size of stored job logs (issue 17,
//! point 2): 300 finished jobs with about 1 MiB of log each are stored as records of the
//! format every version wrote, then the real binary serves 16 parallel `?limit=1` lists
//! over mutual TLS. Lists page on metadata; a log is read from its record only for the job
//! asked for.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::agent_bin::AgentBin;
use common::*;
use linux_patch_api::jobs::{Job, JobRequest, JobStatus};
use time::OffsetDateTime;
use uuid::Uuid;

const JOBS: usize = 300;
const LINES: usize = 1024;
const LINE_BYTES: usize = 1000;
const PARALLEL: usize = 16;
/// The agent's whole peak resident size allowed: far below the 300 MiB of stored logs,
/// generous for everything else it holds (it is about 20-40 MiB without jobs).
const PEAK_MAX: u64 = 200 * 1024 * 1024;

/// Writes one finished job with a ~1 MiB log, as the agent writes its records.
fn store_job(dir: &std::path::Path, i: usize, at: OffsetDateTime) -> Uuid {
    let id = Uuid::new_v4();
    let request = JobRequest::Reboot {
        scheduled_at: at,
        force: false,
        reason: Some(format!("stored job {i}")),
    };
    let mut job = Job::new(id, request, at + time::Duration::seconds(i as i64));
    for n in 0..LINES {
        let mut line = format!("job {i} line {n} ");
        line.push_str(&"x".repeat(LINE_BYTES - line.len()));
        job.note("info", line);
    }
    job.status = JobStatus::Completed;
    job.progress_percent = 100;
    job.completed_at = Some(at);
    let bytes = serde_json::to_vec(&job).unwrap();
    std::fs::write(dir.join(format!("{id}.json")), bytes).unwrap();
    id
}

fn get(agent: &AgentBin, env: &Env, path: &str) -> serde_json::Value {
    let r = request(agent.addr, env.client_config(), "GET", path, None);
    assert_eq!(r.status, 200, "{path}");
    assert_envelope(&r)
}

#[test]
fn listing_jobs_does_not_hold_or_copy_stored_logs() {
    let env = Env::new("jobs-memory");
    let dir = env.dir.path().join("jobs");
    std::fs::create_dir_all(&dir).unwrap();
    let at = OffsetDateTime::now_utc();
    let ids: Vec<Uuid> = (0..JOBS).map(|i| store_job(&dir, i, at)).collect();

    let agent = AgentBin::start(&env, "rate_limits:\n  enabled: false\n");
    let data = get(&agent, &env, "/api/v1/jobs?limit=1");
    assert_eq!(data["data"]["total"], JOBS, "every stored job is loaded");
    let loaded_rss = agent.status_bytes("VmRSS");
    eprintln!("after loading {JOBS} jobs: VmRSS {} MiB", loaded_rss >> 20);
    assert!(
        loaded_rss < PEAK_MAX,
        "the loaded agent holds {} MiB: the stored logs are in memory",
        loaded_rss >> 20
    );

    let config: Arc<_> = env.client_config();
    let addr = agent.addr;
    let threads: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                (0..3)
                    .map(|_| {
                        request(
                            addr,
                            Arc::clone(&config),
                            "GET",
                            "/api/v1/jobs?limit=1",
                            None,
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        for r in t.join().unwrap() {
            assert_eq!(r.status, 200);
            let page = &assert_envelope(&r)["data"];
            assert_eq!(page["total"], JOBS);
            assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
            assert!(page["jobs"][0].get("logs").is_none());
        }
    }
    let peak = agent.status_bytes("VmHWM");
    eprintln!(
        "after {PARALLEL} parallel lists x3: VmHWM {} MiB, VmRSS {} MiB",
        peak >> 20,
        agent.status_bytes("VmRSS") >> 20
    );
    assert!(
        peak < PEAK_MAX,
        "peak {} MiB: a list copied stored logs",
        peak >> 20
    );

    // The job asked for still shows its whole log, read from its record.
    let id = ids[JOBS / 2];
    let detail = get(&agent, &env, &format!("/api/v1/jobs/{id}"));
    let logs = detail["data"]["logs"].as_array().unwrap();
    assert_eq!(logs.len(), LINES);
    assert!(logs[LINES - 1]["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("job {} line {} ", JOBS / 2, LINES - 1)));
    assert!(detail["data"]["output"]
        .as_str()
        .unwrap()
        .contains("line 1023"));

    // Deleting a stored job removes its record; the list no longer names it.
    let r = request(
        addr,
        env.client_config(),
        "DELETE",
        &format!("/api/v1/jobs/{id}"),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(!dir.join(format!("{id}.json")).exists());
    assert!(eventually(Duration::from_secs(5), || {
        get(&agent, &env, "/api/v1/jobs?limit=1")["data"]["total"] == JOBS - 1
    }));
}
