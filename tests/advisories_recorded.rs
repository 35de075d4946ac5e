//! Every recorded real advisory feed file (../shared/recorded/advisories) through the
//! parser that serves it, with expectations verified by hand from the file.
//!
//! This branch carries only the OSV cases; the lead merges the other feeds' modules.

#[path = "recorded/osv.rs"]
mod osv;

#[test]
fn recorded_osv_files_parse_as_published() {
    for (name, case) in osv::CASES {
        eprintln!("checking {name}");
        case();
    }
}
