//! The man pages render without a warning (`groff -man -ww -z`), and the section-8 page
//! has every part an operator looks for. groff comes from groff-base (CI installs it).

use std::process::Command;

const PAGES: [&str; 2] = ["man/linux-patch-api.8", "man/linux-patch-api.yaml.5"];

#[test]
fn groff_reports_nothing_for_either_page() {
    for page in PAGES {
        let path = format!("{}/{page}", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z", &path])
            .output()
            .expect("groff is installed (Debian package groff-base)");
        assert!(out.status.success(), "{page}: groff failed");
        assert!(
            out.stderr.is_empty() && out.stdout.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_section_8_page_has_every_part() {
    let page = std::fs::read_to_string(format!(
        "{}/man/linux-patch-api.8",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "ENROLLMENT",
        "SIGNALS",
        "EXIT STATUS",
        "FILES",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        assert!(page.contains(&format!(".SH {section}\n")), "{section}");
    }
}
