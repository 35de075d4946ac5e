//! The config loader: any YAML text gives a Config or a list of key-named errors.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use linux_patch_api::config::Config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(errors) = Config::from_yaml_str(&text, Path::new("/etc/linux-patch-api")) {
        assert!(
            !errors.is_empty(),
            "an error result must name at least one problem"
        );
    }
});
