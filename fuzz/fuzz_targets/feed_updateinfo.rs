//! updateinfo.xml (dnf/yum/zypper repositories' advisory feed), read as a stream.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::rpm::updateinfo::stream;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = stream::parse_xml(&text);
});
