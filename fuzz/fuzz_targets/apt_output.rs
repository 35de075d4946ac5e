//! apt's tool output: `apt-cache policy` blocks and `apt-get -s` simulation lines.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::apt::{policy, sim};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = policy::parse_policy(&text);
    let _ = sim::parse_simulation(&text);
    let _ = linux_patch_api::pkg::apt::holds::parse_showhold(&text);
});
