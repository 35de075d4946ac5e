//! apt's tool output: `apt-cache policy` blocks and `apt-get -s` simulation lines, read as
//! upgrades and as a dry run's plan.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::apt::{dry_run, policy, sim};
use linux_patch_api::pkg::plan::parse_size;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = policy::parse_policy(&text);
    let _ = sim::parse_simulation(&text);
    let _ = dry_run::parse_plan(&text, &text);
    let _ = parse_size(&text);
    let _ = linux_patch_api::pkg::apt::holds::parse_showhold(&text);
});
