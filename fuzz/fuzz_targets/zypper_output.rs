//! zypper's XML and text output: list-updates, patches, patch info, download, search
//! versions (sorted by rpm order), error messages and a dry run's install summary.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::zypper;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = zypper::parse_list_updates_xml(&text);
    let _ = zypper::parse_patches_xml(&text);
    let _ = zypper::parse_patch_info_xml(&text);
    let _ = zypper::parse_download_xml(&text);
    let _ = zypper::parse_search_versions(&text, "bash");
    let _ = zypper::parse_error_messages(&text);
    let _ = zypper::dry_run::parse_summary(&text, false);
    let _ = zypper::holds::parse_locks(&text);
});
