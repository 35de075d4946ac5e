//! dpkg's status database and control-file fields: stanzas, relations, file lists.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::apt::dpkg;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = dpkg::parse_stanzas(&text);
    if let Ok(entries) = dpkg::parse_status(&text) {
        std::hint::black_box(entries.len());
    }
    let _ = dpkg::parse_relations(&text);
    let _ = dpkg::parse_file_list(&text);
});
