//! The recorded Arch security tracker files (../shared/recorded/advisories/arch-asa/,
//! provenance in its README.md) through `arch_asa::parse` and the patches it gives.
//!
//! Expectations were read off the files by hand and checked with jq (`jq -c '.[] |
//! [.name, .packages, .status, .severity, .affected, .fixed, .ticket, .issues,
//! .advisories]'`). No group is malformed; the published oddities are `ticket: null`
//! everywhere, `fixed: null` for still-vulnerable groups, status and severity `Unknown`
//! with a fixed version, and the epoch version `1:8.05-1`.

use std::path::{Path, PathBuf};

use linux_patch_api::pkg::advisories::arch_asa::{parse, patches, validate, AvgGroup};
use linux_patch_api::pkg::advisories::{AdvisoryKind, Severity};
use linux_patch_api::pkg::Upgrade;

/// `(file under recorded/advisories, the check of its parse)`.
pub const CASES: &[(&str, fn())] = &[
    ("arch-asa/vuln-list-update_archlinux.json", vuln_list_update),
    (
        "arch-asa/vulnerablecode_archlinux-multi.json",
        vulnerablecode_multi,
    ),
    ("arch-asa/vulnerablecode_archlinux.json", vulnerablecode),
];

fn recorded(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/recorded/advisories")
        .join(rel)
}

/// Every group of the file (none may be skipped), after the download validation.
fn groups(rel: &str) -> Vec<AvgGroup> {
    let path = recorded(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    validate(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let (groups, report) = parse(&bytes, rel).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.skipped, 0, "{rel}: {:?}", report.examples);
    assert_eq!(report.records, groups.len(), "{rel}");
    groups
}

fn up(name: &str, cur: &str, new: &str) -> Upgrade {
    Upgrade {
        name: name.into(),
        current_version: cur.into(),
        available_version: new.into(),
        arch: Some("x86_64".into()),
        origins: vec![],
    }
}

/// AVG-20 (curl, Low, 7.50.2-1 → 7.50.3-1, CVE-2016-7167, ASA-201609-19) and AVG-4
/// (bzip2, Low, fixed 1.0.6-6), both `ticket: null`.
fn vuln_list_update() {
    let g = groups(CASES[0].0);
    let names: Vec<&str> = g.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["AVG-20", "AVG-4"]);
    assert_eq!(g[0].fixed.as_deref(), Some("7.50.3-1"));
    let found = patches(&g, &[up("curl", "7.50.2-1", "7.50.3-1")], &|_| false);
    assert_eq!(found.len(), 1);
    let p = &found[0];
    assert_eq!(p.id, "AVG-20");
    assert_eq!(
        (p.kind, p.severity),
        (AdvisoryKind::Security, Severity::Low)
    );
    assert_eq!(p.cve_ids, ["CVE-2016-7167"]);
    assert_eq!(
        p.description,
        "denial of service in curl, fixed in 7.50.3-1 (ASA-201609-19)."
    );
    assert_eq!(p.advisory_ids, ["ASA-201609-19"]);
    // Already at the fix: nothing.
    assert!(patches(&g, &[up("bzip2", "1.0.6-6", "1.0.6-7")], &|_| false).is_empty());
}

/// AVG-2781 (python-pyjwt) and AVG-2780 (wpewebkit, 3 CVEs) have status and severity
/// `Unknown` but a fixed version; AVG-4 as above.
fn vulnerablecode_multi() {
    let g = groups(CASES[1].0);
    assert_eq!(g.len(), 3);
    assert_eq!(
        g[1].issues,
        ["CVE-2022-22662", "CVE-2022-22677", "CVE-2022-26710"]
    );
    let ups = [
        up("python-pyjwt", "2.3.0-1", "2.4.0-1"),
        up("wpewebkit", "2.36.3-1", "2.36.4-1"),
    ];
    let found = patches(&g, &ups, &|_| false);
    let got: Vec<(&str, Severity, usize)> = found
        .iter()
        .map(|p| (p.id.as_str(), p.severity, p.cve_ids.len()))
        .collect();
    // Unknown stays unknown: never guessed.
    assert_eq!(
        got,
        [
            ("AVG-2781", Severity::Unknown, 1),
            ("AVG-2780", Severity::Unknown, 3)
        ]
    );
    assert_eq!(
        found[0].description,
        "unknown in python-pyjwt, fixed in 2.4.0-1."
    );
}

/// AVG-1146 (squid, Critical) and AVG-1157 (openconnect, High, affected `1:8.05-1`) are
/// still vulnerable (`fixed: null`): no patch. AVG-708 covers 4 wireshark packages, fixed
/// 2.6.1-1, Critical, 2 CVEs, 2 ASAs.
fn vulnerablecode() {
    let g = groups(CASES[2].0);
    assert_eq!(g.len(), 3);
    assert_eq!(
        (g[0].fixed.as_deref(), g[0].status.as_str()),
        (None, "Vulnerable")
    );
    assert_eq!(g[1].affected.as_deref(), Some("1:8.05-1"));
    assert_eq!(g[1].fixed, None);
    let ups = [
        up("squid", "4.10-2", "4.11-1"),
        up("openconnect", "1:8.05-1", "1:8.10-1"),
        up("wireshark-cli", "2.6.0-1", "2.6.1-1"),
        up("wireshark-qt", "2.6.0-1", "2.6.1-1"),
    ];
    let found = patches(&g, &ups, &|_| false);
    assert_eq!(found.len(), 1);
    let p = &found[0];
    assert_eq!(p.id, "AVG-708");
    assert_eq!(p.severity, Severity::Critical);
    assert_eq!(p.cve_ids, ["CVE-2018-11361", "CVE-2018-11362"]);
    let names: Vec<&str> = p.packages.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["wireshark-cli", "wireshark-qt"]);
    assert_eq!(
        p.description,
        "multiple issues in wireshark-common, wireshark-gtk, wireshark-cli, wireshark-qt, \
         fixed in 2.6.1-1 (ASA-201805-22, ASA-201805-23)."
    );
    assert_eq!(p.advisory_ids, ["ASA-201805-22", "ASA-201805-23"]);
}
