//! dnf/yum output: check-update, updateinfo list/info, version lists (sorted by rpm order),
//! the transaction table of a dry run.
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
    let _ = dnf::dry_run::parse_plan(&text, &|_| Some("1.0-1".into()), true);
});
