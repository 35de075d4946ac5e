//! The X.509/DER reader: certificates and CRLs summarized from arbitrary DER, and
//! fingerprint text; a fingerprint rendered by the agent parses back to the same digest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::x509;

fuzz_target!(|data: &[u8]| {
    let _ = x509::summarize_cert(data);
    let _ = x509::summarize_crl(data);
    let _ = x509::parse_sha256_fingerprint(&String::from_utf8_lossy(data));
    let rendered = x509::sha256_fingerprint(data);
    x509::parse_sha256_fingerprint(&rendered)
        .unwrap_or_else(|e| panic!("own fingerprint {rendered:?} does not parse: {e}"));
});
