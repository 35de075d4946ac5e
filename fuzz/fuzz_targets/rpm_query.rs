//! rpm query output: installed headers, package details, whatrequires, erase tests and
//! the kernel query.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::rpm::{rpmdb, updateinfo::kernel};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = rpmdb::parse_installed(&text);
    let _ = rpmdb::parse_details(&text);
    let _ = rpmdb::parse_whatrequires(&text, "bash");
    let _ = rpmdb::parse_erase_test(&text);
    let _ = kernel::parse_kernel_query(&text);
});
