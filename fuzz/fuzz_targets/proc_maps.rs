//! The restart-needed readers of `/proc`: maps lines (a mapped path holds whatever bytes a
//! user put in a file name) and cgroup lines. The first byte picks: odd, `unit_of`; even,
//! `stale_files` with a lookup that calls every other inode replaced.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::system::restart_needed::{stale_files, unit_of};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if pick % 2 == 1 {
        if let Some(unit) = unit_of(&text) {
            assert!(!unit.is_empty() && !unit.contains('/'), "{unit:?}");
        }
        return;
    }
    let mut asked = Vec::new();
    let files = stale_files(&text, |path, inode| {
        asked.push(path.to_string());
        inode % 2 == 0
    });
    assert!(files.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    assert!(files.iter().all(|f| f.starts_with('/')), "{files:?}");
    let mut once = asked.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), asked.len(), "a path looked up twice");
});
