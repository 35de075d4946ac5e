//! apk: the installed database (`lib/apk/db/installed`), `apk version -l '<'`, `apk info`
//! versions, dependency tokens, the warning/error readers and a dry run's `--simulate` steps;
//! an `APKINDEX.tar.gz`; `/etc/apk/world` pins (holds), with their edits' round trips.
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::apk;
use linux_patch_api::pkg::offers::Offers;

fuzz_target!(|data: &[u8]| {
    let _ = apk::index::read_index_from(data, None, &mut Offers::new());
    let text = String::from_utf8_lossy(data);
    let _ = apk::parse_installed_db(&text);
    let _ = apk::parse_version_list(&text);
    let _ = apk::parse_info_versions(&text, "busybox");
    let _ = apk::repository_warning(&text);
    let _ = apk::untrusted_sources(&text);
    let _ = apk::unknown_names(&text);
    let _ = apk::dry_run::parse_plan(&text, &|_| None, false);
    let pins = apk::holds::pins(&text);
    let held = apk::holds::with_pin(&text, "lpa-fuzz", "1.0-r0");
    assert!(apk::holds::pins(&held).iter().any(|n| n == "lpa-fuzz"));
    assert!(
        !apk::holds::pins(&apk::holds::without_pin(&held, "lpa-fuzz"))
            .contains(&"lpa-fuzz".to_string())
    );
    for name in pins.iter().take(8) {
        let out = apk::holds::without_pin(&text, name);
        assert!(
            !apk::holds::pins(&out).contains(name),
            "{name} still pinned in {out:?}"
        );
    }
    for token in text.split_whitespace().take(64) {
        let _ = apk::parse_dependency(token);
        let _ = apk::split_name_version(token);
    }
});
