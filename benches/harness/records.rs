//! The durable write of a new job's first record, the one disk write between a `POST` and
//! its tool: through a spare file (what the agent does, `jobs/spares.rs`) against a new
//! file (temp, fsync, rename, directory fsync), on the file system the job sandboxes use.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use linux_patch_api::fsutil::{write_atomic, PRIVATE_MODE};
use linux_patch_api::jobs::spares::Spares;

use crate::report::Row;
use crate::sandboxed::median;

/// Samples of each write (interleaved; the median is reported).
const SAMPLES: usize = 21;

/// A record the size of a new install job's (about 800 bytes).
const RECORD_LEN: usize = 800;

/// Quiet before each write, as a job's `POST` is timed after a flush and a settle.
const QUIET: Duration = Duration::from_millis(300);

/// Measures both writes and adds their row.
pub fn record_section(rows: &mut Vec<Row>, detail: &mut serde_json::Map<String, Value>) {
    match crate::guarded("a new job's first record", measure) {
        Ok(v) => {
            rows.push(
                Row::new(
                    "jobs",
                    "a new job's first record, durable (through a spare file)",
                    "ms",
                    v["spare_ms"].as_f64().unwrap_or(f64::NAN),
                )
                .against(
                    "a new file: temp, fsync, rename, dir fsync",
                    v["new_file_ms"].as_f64().unwrap_or(f64::NAN),
                ),
            );
            detail.insert("job_first_record".into(), v);
        }
        Err(e) => {
            crate::say(&format!("a new job's first record failed: {e}"));
            detail.insert("job_first_record".into(), json!({ "error": e }));
        }
    }
}

fn measure() -> Result<Value, String> {
    let dir = std::env::temp_dir().join(format!("lpa-bench-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let measured = sample(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let (spare, new_file) = measured?;
    Ok(json!({
        "directory": dir.display().to_string(),
        "samples": SAMPLES,
        "record_bytes": RECORD_LEN,
        "spare_ms": median(&spare),
        "new_file_ms": median(&new_file),
        "spare_ms_samples": spare,
        "new_file_ms_samples": new_file,
    }))
}

fn sample(dir: &Path) -> Result<(Vec<f64>, Vec<f64>), String> {
    let spares = Spares::new(dir);
    spares.keep();
    let record = vec![b' '; RECORD_LEN];
    let (mut spare, mut new_file) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        wait_ready(&spares)?;
        new_file.push(timed(|| {
            write_atomic(&name(dir, "new", i), &record, PRIVATE_MODE)
        })?);
        spare.push(timed(|| spares.write_new(&name(dir, "spare", i), &record))?);
        // As when the job that took the spare ends: the keeper syncs its replacement then.
        spares.job_ended();
    }
    Ok((spare, new_file))
}

/// Waits (at most 10 s) for a spare the keeper has synced: it leaves the disk alone after
/// one is taken until a job ends, as while a job's tool runs.
fn wait_ready(spares: &Spares) -> Result<(), String> {
    let limit = Instant::now() + Duration::from_secs(10);
    while spares.ready() == 0 {
        if Instant::now() > limit {
            return Err("no spare record file ready after 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// One write after a flush and a quiet, in milliseconds.
fn timed(write: impl FnOnce() -> std::io::Result<()>) -> Result<f64, String> {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::thread::sleep(QUIET);
    let t0 = Instant::now();
    write().map_err(|e| e.to_string())?;
    Ok(t0.elapsed().as_secs_f64() * 1000.0)
}

fn name(dir: &Path, kind: &str, i: usize) -> PathBuf {
    dir.join(format!("{kind}-{i}.json"))
}
