//! How long a patch batch takes on this host: seconds per package changed, learnt from the
//! host's own earlier budgeted runs (an exponential moving average per backend, and per
//! package name where one was measured), kept in a small state file beside the job records.
//! A budgeted patch job asks it for a batch's expected time before starting the batch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fsutil::{read_state_file, strip_bom, write_atomic, PRIVATE_MODE};

/// Name of the statistics file, in the directory that holds the job records' directory.
pub const FILE_NAME: &str = "batch_times.json";
/// Largest statistics file read (a few thousand package names).
const FILE_CAP: u64 = 1024 * 1024;
/// Package names remembered per backend; past it the least measured are dropped.
const MAX_NAMES: usize = 4096;
/// Weight of the newest measurement in the moving average.
const ALPHA: f64 = 0.3;
/// Longest per-package time accepted from the file or a measurement: a day.
const MAX_SECONDS: f64 = 86_400.0;

/// The expected time of a batch when this host has no measurement: a fixed part per batch
/// (the tool's start, metadata, locks) and a part per package changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchDefaults {
    /// Seconds every batch is expected to take at least (`jobs.batch_seconds`).
    pub per_batch: u64,
    /// Seconds expected per package changed (`jobs.batch_package_seconds`).
    pub per_package: u64,
}

impl Default for BatchDefaults {
    fn default() -> Self {
        BatchDefaults {
            per_batch: 60,
            per_package: 10,
        }
    }
}

/// One measured average and how many runs it is made of.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Average {
    /// Seconds per package changed.
    pub seconds: f64,
    /// Measurements folded in.
    pub samples: u64,
}

impl Average {
    fn fold(&mut self, seconds: f64) {
        self.seconds = if self.samples == 0 {
            seconds
        } else {
            ALPHA * seconds + (1.0 - ALPHA) * self.seconds
        };
        self.samples = self.samples.saturating_add(1);
    }

    fn valid(&self) -> bool {
        self.seconds.is_finite() && (0.0..=MAX_SECONDS).contains(&self.seconds)
    }
}

/// What one backend's runs measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendTimes {
    /// Seconds per package changed, over every batch.
    #[serde(default)]
    pub per_package: Option<Average>,
    /// Seconds per package changed, for batches that changed this package.
    #[serde(default)]
    pub packages: BTreeMap<String, Average>,
}

/// The statistics file's content: per backend name (`apt`, `dnf`, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchTimes {
    /// Format version, 1.
    pub version: u32,
    /// Measurements by backend name.
    #[serde(default)]
    pub backends: BTreeMap<String, BackendTimes>,
}

/// Why the statistics file was not used.
#[derive(Debug)]
pub enum BatchTimesError {
    /// It could not be read (missing is not an error: see [`BatchTimes::load`]).
    Read(String),
    /// It is not the format this agent writes, or holds a value out of range.
    Invalid(String),
}

impl std::fmt::Display for BatchTimesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchTimesError::Read(e) => write!(f, "cannot read it: {e}"),
            BatchTimesError::Invalid(e) => write!(f, "damaged: {e}"),
        }
    }
}

/// Where the statistics file of a job store at `storage_path` lives.
pub fn path_for(storage_path: &Path) -> PathBuf {
    storage_path.with_file_name(FILE_NAME)
}

impl BatchTimes {
    /// The statistics in `path`; none (empty) when there is no file yet.
    pub fn load(path: &Path) -> Result<BatchTimes, BatchTimesError> {
        let bytes = match read_state_file(path, FILE_CAP) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(BatchTimes::empty()),
            Err(e) => return Err(BatchTimesError::Read(e.to_string())),
        };
        let times: BatchTimes = serde_json::from_slice(strip_bom(&bytes))
            .map_err(|e| BatchTimesError::Invalid(e.to_string()))?;
        times.check()?;
        Ok(times)
    }

    /// No measurement at all.
    pub fn empty() -> BatchTimes {
        BatchTimes {
            version: 1,
            backends: BTreeMap::new(),
        }
    }

    fn check(&self) -> Result<(), BatchTimesError> {
        if self.version != 1 {
            return Err(BatchTimesError::Invalid(format!(
                "version {} (expected 1)",
                self.version
            )));
        }
        for (backend, t) in &self.backends {
            let bad =
                t.per_package.iter().any(|a| !a.valid()) || t.packages.values().any(|a| !a.valid());
            if bad || t.packages.len() > MAX_NAMES {
                return Err(BatchTimesError::Invalid(format!(
                    "{backend}: a time outside 0-{MAX_SECONDS} s or over {MAX_NAMES} names"
                )));
            }
        }
        Ok(())
    }

    /// Writes the statistics to `path` atomically, readable by root only.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes, PRIVATE_MODE)
    }

    /// The expected time of a batch changing `packages` on `backend`: per package, its own
    /// measured average, else the backend's, else the default; plus the fixed part per
    /// batch while the backend has no measurement (a measured average already contains it).
    /// A batch of no package runs no tool: zero.
    pub fn expected(&self, backend: &str, packages: &[String], d: BatchDefaults) -> Duration {
        if packages.is_empty() {
            return Duration::ZERO;
        }
        let times = self.backends.get(backend);
        let general = times.and_then(|t| t.per_package).map(|a| a.seconds);
        let seconds: f64 = packages
            .iter()
            .map(|n| {
                times
                    .and_then(|t| t.packages.get(n))
                    .map(|a| a.seconds)
                    .or(general)
                    .unwrap_or(d.per_package as f64)
            })
            .sum();
        let fixed = if general.is_some() {
            0.0
        } else {
            d.per_batch as f64
        };
        Duration::from_secs_f64((seconds + fixed).clamp(0.0, MAX_SECONDS * 4.0))
    }

    /// Folds in one batch of `backend` that changed `packages` in `took`; a batch of no
    /// package ran no tool and teaches nothing.
    pub fn record(&mut self, backend: &str, packages: &[String], took: Duration) {
        if packages.is_empty() {
            return;
        }
        let per = (took.as_secs_f64() / packages.len().max(1) as f64).min(MAX_SECONDS);
        let times = self.backends.entry(backend.to_string()).or_default();
        times
            .per_package
            .get_or_insert(Average {
                seconds: per,
                samples: 0,
            })
            .fold(per);
        for name in packages {
            times
                .packages
                .entry(name.clone())
                .or_insert(Average {
                    seconds: per,
                    samples: 0,
                })
                .fold(per);
        }
        if times.packages.len() > MAX_NAMES {
            let mut by_samples: Vec<(u64, String)> = times
                .packages
                .iter()
                .map(|(n, a)| (a.samples, n.clone()))
                .collect();
            by_samples.sort();
            let extra = times.packages.len() - MAX_NAMES;
            for (_, n) in by_samples.into_iter().take(extra) {
                times.packages.remove(&n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn without_measurements_the_defaults_count() {
        let t = BatchTimes::empty();
        let d = BatchDefaults::default();
        assert_eq!(
            t.expected("apt", &names(&["a", "b"]), d),
            Duration::from_secs(80)
        );
        assert_eq!(t.expected("apt", &[], d), Duration::ZERO);
    }

    #[test]
    fn measurements_replace_the_defaults_and_move_as_an_average() {
        let mut t = BatchTimes::empty();
        let d = BatchDefaults::default();
        t.record("apt", &names(&["a", "b"]), Duration::from_secs(20));
        // 10 s per package measured: the fixed part is inside the measurement now.
        assert_eq!(
            t.expected("apt", &names(&["a", "c"]), d),
            Duration::from_secs(20)
        );
        t.record("apt", &names(&["a"]), Duration::from_secs(20));
        let a = t.backends["apt"].packages["a"];
        assert_eq!(a.samples, 2);
        assert!(
            (a.seconds - (0.3 * 20.0 + 0.7 * 10.0)).abs() < 1e-9,
            "{a:?}"
        );
        // A batch of nothing teaches nothing.
        t.record("apt", &[], Duration::from_secs(1));
        assert_eq!(t.backends["apt"].per_package.unwrap().samples, 2);
        // Another backend has learnt nothing.
        assert_eq!(
            t.expected("dnf", &names(&["a"]), d),
            Duration::from_secs(70)
        );
    }

    #[test]
    fn the_file_round_trips_and_a_damaged_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("lpa-batch-times-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = path_for(&dir.join("jobs"));
        assert_eq!(path, dir.join(FILE_NAME));
        assert_eq!(BatchTimes::load(&path).unwrap(), BatchTimes::empty());
        let mut t = BatchTimes::empty();
        t.record("zypper", &names(&["x"]), Duration::from_secs(3));
        t.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert_eq!(BatchTimes::load(&path).unwrap(), t);
        for bad in [
            "{",
            r#"{"version":2,"backends":{}}"#,
            r#"{"version":1,"backends":{"apt":{"per_package":{"seconds":-1,"samples":1}}}}"#,
            r#"{"version":1,"backends":{"apt":{"packages":{"a":{"seconds":1e9,"samples":1}}}}}"#,
            r#"{"version":1,"extra":true}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                matches!(BatchTimes::load(&path), Err(BatchTimesError::Invalid(_))),
                "{bad}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_names_kept_are_bounded() {
        let mut t = BatchTimes::empty();
        let many: Vec<String> = (0..MAX_NAMES + 5).map(|i| format!("p{i}")).collect();
        t.record("apk", &many[..1], Duration::from_secs(1));
        t.record("apk", &many, Duration::from_secs(1));
        let kept = &t.backends["apk"].packages;
        assert_eq!(kept.len(), MAX_NAMES);
        // The one measured twice stays.
        assert_eq!(kept["p0"].samples, 2);
    }
}
