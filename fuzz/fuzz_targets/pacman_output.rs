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
});
