//! pacman output: `-Qi`/`-Si` sections, file lists, `-Qu` upgrades, sync info, depends,
//! a dry run's `--print` lines.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::pacman;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = pacman::parse_sections(&text);
    let _ = pacman::parse_files(&text);
    let _ = pacman::parse_upgradable(&text);
    let _ = pacman::parse_sync_info(&text);
    let _ = pacman::dry_run::parse_print(&text);
    for line in text.lines().take(64) {
        let _ = pacman::parse_depend(line, true);
    }
    // IgnorePkg holds: reading pacman.conf, and the edits that must keep every other byte.
    let _ = pacman::holds::includes(&text);
    let ignored = pacman::holds::ignored(&text, false);
    if let Some(held) = pacman::holds::with_hold(&text, "lpa-fuzz") {
        assert!(pacman::holds::ignored(&held, false).iter().any(|n| n == "lpa-fuzz"));
        let back = pacman::holds::without_hold(&held, "lpa-fuzz", false);
        assert!(back.is_some());
    }
    for name in ignored.iter().take(8) {
        if let Some(out) = pacman::holds::without_hold(&text, name, false) {
            assert!(!pacman::holds::ignored(&out, false).contains(name));
        }
    }
});
