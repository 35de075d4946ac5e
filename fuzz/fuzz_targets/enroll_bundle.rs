//! The enrollment bundle: an `approved` status body read into a Bundle, then checked
//! (PEM certificates, key match, chain, validity) as the enrollment does.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::enroll::provision::{validate, Bundle};

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::from_status_body(data) {
        let _ = validate(
            &bundle,
            time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20000),
        );
    }
});
