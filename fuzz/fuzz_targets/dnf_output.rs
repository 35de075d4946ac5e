//! dnf/yum output: check-update, updateinfo list/info, version lists (sorted by rpm order).
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::dnf;
use linux_patch_api::pkg::rpm::{nevra, updateinfo::output};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = dnf::parse_check_update(&text);
    let _ = dnf::parse_updateinfo_list(&text);
    let _ = dnf::parse_list_versions(&text, "bash");
    let _ = nevra::split_nevra(&text);
    let _ = output::parse_info(&text);
    let _ = output::parse_list(&text);
    // versionlock.list: every locked name's lines go, and nothing else changes.
    for name in dnf::holds::locked_names(&text).iter().take(8) {
        let out = dnf::holds::without_locks(&text, name).expect("a listed lock is removable");
        assert!(!dnf::holds::locked_names(&out).contains(name));
    }
});
