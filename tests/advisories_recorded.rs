//! Every recorded advisory feed (../shared/recorded/advisories) through the parser that
//! serves it, with expectations verified by hand from the files.
//!
//! On this branch only the updateinfo files are covered; the lead merges the Alpine,
//! Debian, Arch and OSV cases and the test that every file is named.

#[path = "recorded/updateinfo.rs"]
mod updateinfo;

#[test]
fn updateinfo_files() {
    for (file, check) in updateinfo::CASES {
        eprintln!("checking {file}");
        check();
    }
}

#[test]
fn every_updateinfo_file_is_named() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/recorded/advisories/updateinfo");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| format!("updateinfo/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    on_disk.sort();
    let mut named: Vec<String> = updateinfo::CASES
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    named.sort();
    assert_eq!(named, on_disk);
}
