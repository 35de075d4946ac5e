//! Property: the deb version ordering (`version::dpkg`) is a total order and sorting by it
//! never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::version;

fuzz_target!(|data: &[u8]| {
    lpa_fuzz::version_target(data, lpa_fuzz::DEB_ALPHABET, version::dpkg);
});
