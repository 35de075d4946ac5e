//! dnf/yum output: check-update, updateinfo list/info, version lists (sorted by rpm order),
//! the transaction table of a dry run; rpm-md's repomd.xml and primary.xml (what the
//! repositories offer).
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::pkg::dnf;
use linux_patch_api::pkg::offers::Offers;
use linux_patch_api::pkg::rpm::{nevra, primary, repos, updateinfo::output};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = dnf::parse_check_update(&text);
    let _ = dnf::parse_updateinfo_list(&text);
    let _ = dnf::parse_list_versions(&text, "bash");
    let _ = nevra::split_nevra(&text);
    let _ = output::parse_info(&text);
    let _ = output::parse_list(&text);
    let _ = primary::repomd(&text);
    let _ = primary::read_stream(data, &["noarch", "x86_64"], &mut Offers::new());
    let _ = repos::parse_ini(&text);
    let _ = dnf::dry_run::parse_plan(&text, &|_| Some("1.0-1".into()), true);
    // versionlock.list: every locked name's lines go, and nothing else changes.
    for name in dnf::holds::locked_names(&text).iter().take(8) {
        let out = dnf::holds::without_locks(&text, name).expect("a listed lock is removable");
        assert!(!dnf::holds::locked_names(&out).contains(name));
    }
});
