//! The recorded Debian security tracker excerpts (../shared/recorded/advisories/
//! debian-tracker/, provenance in its README.md) through the streaming tracker parser, as
//! the agent reads the feed file.
//!
//! Expectations were read off the files by hand and checked with jq (per source package
//! and issue: the type of `releases`, and per release `status/fixed_version/urgency`:
//! `jq -r 'to_entries[] | .key as $s | .value | to_entries[] | "\($s) \(.key)
//! \(.value.releases | type) ..."'`). vunnel's excerpt has the published
//! `"chromium-browser": {"CVE-2022-0358": {"releases": []}}`: that one issue is skipped and
//! counted, the rest of the file kept.

use std::fs::File;
use std::path::{Path, PathBuf};

use linux_patch_api::pkg::advisories::debian_tracker::{
    parse_reader, patch_for, validate, TrackerIndex,
};
use linux_patch_api::pkg::advisories::report::ParseReport;
use linux_patch_api::pkg::advisories::Severity;
use linux_patch_api::pkg::Upgrade;

/// `(file under recorded/advisories, the check of its parse)`.
pub const CASES: &[(&str, fn())] = &[
    (
        "debian-tracker/osv.dev_debian_security_tracker_mock.json",
        osv_dev_mock,
    ),
    ("debian-tracker/vulnerablecode_debian.json", vulnerablecode),
    ("debian-tracker/vunnel_debian.json", vunnel),
];

fn recorded(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/recorded/advisories")
        .join(rel)
}

/// Streams the file for `release`, and checks the download validation accepts it.
fn parsed(rel: &str, release: &str) -> (TrackerIndex, ParseReport) {
    let path = recorded(rel);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let out = parse_reader(file, release, rel).unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    validate(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
    out
}

/// `(issue id, fixed version, severity)` of a source package's fixes, in file order.
fn fixes(index: &TrackerIndex, source: &str) -> Vec<(String, String, Severity)> {
    index
        .fixes(source)
        .iter()
        .map(|f| (f.cve.clone(), f.fixed_version.clone(), f.severity))
        .collect()
}

fn fix(id: &str, version: &str, severity: Severity) -> (String, String, Severity) {
    (id.to_string(), version.to_string(), severity)
}

fn up(name: &str, cur: &str, new: &str) -> Upgrade {
    Upgrade {
        name: name.into(),
        current_version: cur.into(),
        available_version: new.into(),
        arch: Some("amd64".into()),
        origins: vec!["Debian-Security:buster/updates".into()],
    }
}

/// apparmor, 3 issues: CVE-2014-1424 fixed "0" everywhere (never vulnerable),
/// CVE-2016-1585 open on bookworm but resolved 3.0.12-1 on sid (unimportant),
/// CVE-2017-6507 resolved 2.11.0-3 "not yet assigned".
fn osv_dev_mock() {
    let rel = CASES[0].0;
    let (bookworm, report) = parsed(rel, "bookworm");
    assert_eq!((report.records, report.skipped), (3, 0));
    assert_eq!(
        fixes(&bookworm, "apparmor"),
        [fix("CVE-2017-6507", "2.11.0-3", Severity::Unknown)]
    );
    let (sid, _) = parsed(rel, "sid");
    assert_eq!(
        fixes(&sid, "apparmor"),
        [
            fix("CVE-2016-1585", "3.0.12-1", Severity::Low),
            fix("CVE-2017-6507", "2.11.0-3", Severity::Unknown)
        ]
    );
}

/// librsync 1 issue (open), mimetex 3 (two CVEs fixed 1.50-1.1 and the hand-edited
/// `TEMP-0000000-A2EB44` fixed 1.4.5 on buster, all medium), atomicparsley 2 (resolved on
/// bookworm only, not yet assigned).
fn vulnerablecode() {
    let rel = CASES[1].0;
    let (buster, report) = parsed(rel, "buster");
    assert_eq!((report.records, report.skipped), (6, 0));
    assert!(buster.fixes("librsync").is_empty());
    assert!(buster.fixes("atomicparsley").is_empty());
    assert_eq!(
        fixes(&buster, "mimetex"),
        [
            fix("CVE-2009-1382", "1.50-1.1", Severity::Medium),
            fix("CVE-2009-2459", "1.50-1.1", Severity::Medium),
            fix("TEMP-0000000-A2EB44", "1.4.5", Severity::Medium),
        ]
    );
    // 1.50-1 → 1.76-1 brings the two CVE fixes (1.4.5 is older than 1.50-1).
    let u = up("mimetex", "1.50-1", "1.76-1");
    let p = patch_for(
        &u,
        &buster.fixed_between("mimetex", "1.50-1", "1.76-1"),
        false,
    );
    assert_eq!(p.cve_ids, ["CVE-2009-1382", "CVE-2009-2459"]);
    assert_eq!(p.severity, Severity::Medium);
    // From 1.3-1 the TEMP issue is fixed too: named, never a CVE.
    let u = up("mimetex", "1.3-1", "1.76-1");
    let p = patch_for(
        &u,
        &buster.fixed_between("mimetex", "1.3-1", "1.76-1"),
        false,
    );
    assert_eq!(p.cve_ids, ["CVE-2009-1382", "CVE-2009-2459"]);
    assert!(
        p.description.contains("TEMP-0000000-A2EB44"),
        "{}",
        p.description
    );
    let (bookworm, _) = parsed(rel, "bookworm");
    assert_eq!(
        fixes(&bookworm, "atomicparsley"),
        [
            fix(
                "CVE-2021-37231",
                "20210715.151551.e7ad03a-1",
                Severity::Unknown
            ),
            fix(
                "CVE-2021-37232",
                "20210715.151551.e7ad03a-1",
                Severity::Unknown
            ),
        ]
    );
}

/// 7 issues in 6 source packages; chromium-browser's `"releases": []` is skipped. On
/// buster: prototypejs CVE-2008-7220 high** (CVE-2007-2383 is fixed "0"), txt2man low**,
/// backupninja medium; chromium is open (end-of-life) and sope has no buster entry.
fn vunnel() {
    let rel = CASES[2].0;
    let (buster, report) = parsed(rel, "buster");
    assert_eq!((report.records, report.skipped), (6, 1));
    assert_eq!(report.examples[0].key, "chromium-browser CVE-2022-0358");
    assert_eq!(report.examples[0].reason, "releases is a list, not a map");
    assert_eq!(buster.len(), 3);
    assert_eq!(
        fixes(&buster, "prototypejs"),
        [fix("CVE-2008-7220", "1.6.0.2-1", Severity::High)]
    );
    assert_eq!(
        fixes(&buster, "txt2man"),
        [fix("CVE-2013-1444", "1.5.5-4.1", Severity::Low)]
    );
    assert_eq!(
        fixes(&buster, "backupninja"),
        [fix("CVE-2005-3111", "0.8-2", Severity::Medium)]
    );
    let (bookworm, report) = parsed(rel, "bookworm");
    assert_eq!((report.records, report.skipped), (6, 1));
    assert_eq!(
        fixes(&bookworm, "chromium"),
        [fix("CVE-2022-0456", "98.0.4758.80-1", Severity::Unknown)]
    );
    assert_eq!(
        fixes(&bookworm, "sope"),
        [fix("CVE-2025-53603", "5.8.0-1+deb12u1", Severity::Unknown)]
    );
    assert!(bookworm.fixes("chromium-browser").is_empty());
}
