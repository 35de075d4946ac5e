//! Regression test of issue 17 point 4: another user racing the agent for the staging
//! directory of an apt rollback (a sandbox root) must never get the staged package.

use super::*;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn settings(root: &Path) -> BackendSettings {
    BackendSettings {
        root: root.to_path_buf(),
        command_timeout: Duration::from_secs(90),
        lock_wait: Duration::from_millis(2500),
    }
}

/// Plants a symlink to `to` at every name the old code predicted, as fast as it can.
fn plant(stop: Arc<AtomicBool>, names: Vec<PathBuf>, to: PathBuf) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            for n in &names {
                let _ = std::os::unix::fs::symlink(&to, n);
            }
        }
    })
}

#[test]
fn a_racing_local_user_never_gets_the_staged_package() {
    let root = Temp(std::env::temp_dir().join(format!("lpa-apt-race-{}", uuid::Uuid::new_v4())));
    std::fs::create_dir_all(root.0.join("var/tmp")).unwrap();
    std::fs::create_dir_all(root.0.join("var/lib")).unwrap();
    let attacker = root.0.join("attacker");
    std::fs::create_dir_all(&attacker).unwrap();
    let outside = Temp(root.0.with_extension("outside"));
    std::fs::create_dir_all(&outside.0).unwrap();
    let deb = outside.0.join("lpa-lib_1.0-1_all.deb");
    std::fs::write(&deb, "deb").unwrap();
    let apt = Apt::new(settings(&root.0));
    let pid = std::process::id();
    let predicted = vec![
        root.0.join(format!("var/tmp/.lpa-restore-{pid}")),
        root.0.join(format!("var/tmp/.lpa-download-{pid}")),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let planter = plant(stop.clone(), predicted.clone(), attacker.clone());
    let step = RestoreStep::Install {
        name: "lpa-lib".into(),
        version: "1.0-1".into(),
        file: Some(deb.clone()),
    };
    let mut used = None;
    for round in 0..2000 {
        let stage = apt.staging("restore").unwrap();
        let _ = apt.restore_arg(&step, stage.path());
        let meta = std::fs::symlink_metadata(stage.path()).unwrap();
        if predicted.iter().any(|p| p == stage.path())
            || !meta.is_dir()
            || meta.mode() & 0o7777 != 0o700
            || std::fs::read_dir(&attacker).unwrap().count() > 0
        {
            used = Some(round);
            break;
        }
        drop(stage);
        let download = apt.download_stage().unwrap();
        if predicted.iter().any(|p| p == download.path())
            || std::fs::read_dir(&attacker).unwrap().count() > 0
        {
            used = Some(round);
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    planter.join().unwrap();
    assert_eq!(
        used, None,
        "the staging directory was one a local user could plant"
    );
    // What was planted is left alone and empty.
    assert_eq!(std::fs::read_dir(&attacker).unwrap().count(), 0);
}
