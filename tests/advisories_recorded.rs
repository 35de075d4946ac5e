//! Every recorded advisory feed (../shared/recorded/advisories, provenance in its README.md)
//! through the parser that serves it, with expectations verified by hand from the files.
//!
//! Each module under tests/recorded/ names its files in `CASES` with the check of each;
//! `every_recorded_file_is_named` fails, listing them, when a file in the directory has no
//! case (or a case names a file that is not there).

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[path = "recorded/alpine_secdb.rs"]
mod alpine_secdb;
#[path = "recorded/arch_asa.rs"]
mod arch_asa;
#[path = "recorded/debian_tracker.rs"]
mod debian_tracker;
#[path = "recorded/osv.rs"]
mod osv;
#[path = "recorded/updateinfo.rs"]
mod updateinfo;

/// Every module's cases.
fn all_cases() -> Vec<(&'static str, fn())> {
    [
        alpine_secdb::CASES,
        arch_asa::CASES,
        debian_tracker::CASES,
        osv::CASES,
        updateinfo::CASES,
    ]
    .concat()
}

fn recorded_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/recorded/advisories")
}

/// The files under `dir`, relative to `root`, with `/` separators.
fn files_under(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            files_under(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.insert(parts.join("/"));
        }
    }
}

/// Runs every case, each on its own, and names all that failed.
#[test]
fn every_recorded_file_meets_its_expectations() {
    let mut failed = Vec::new();
    for (file, check) in all_cases() {
        eprintln!("checking {file}");
        if catch_unwind(AssertUnwindSafe(check)).is_err() {
            failed.push(file);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:#?}");
}

#[test]
fn every_recorded_file_is_named() {
    let root = recorded_dir();
    let mut on_disk = BTreeSet::new();
    files_under(&root, &root, &mut on_disk);
    on_disk.remove("README.md");
    let named: BTreeSet<String> = all_cases().iter().map(|(f, _)| f.to_string()).collect();
    let unnamed: Vec<&String> = on_disk.difference(&named).collect();
    let missing: Vec<&String> = named.difference(&on_disk).collect();
    assert!(
        unnamed.is_empty() && missing.is_empty(),
        "recorded files without a case: {unnamed:#?}\ncases without a file: {missing:#?}"
    );
    assert_eq!(named.len(), all_cases().len(), "a file is named twice");
}
