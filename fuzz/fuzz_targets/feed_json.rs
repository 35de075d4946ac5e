//! The JSON advisory feeds: the first byte picks Alpine secdb, Arch ASA, the Debian
//! security tracker or one OSV record; the rest is the document.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::advisories::{alpine_secdb, arch_asa, debian_tracker, osv};

fuzz_target!(|data: &[u8]| {
    let Some((&which, doc)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => drop(alpine_secdb::parse(doc, "fuzz")),
        1 => drop(arch_asa::parse(doc, "fuzz")),
        2 => drop(debian_tracker::parse(doc, "bookworm", "fuzz")),
        _ => drop(osv::record::parse(doc)),
    }
});
