//! The recorded rpm-md `updateinfo.xml` files (../shared/recorded/advisories/updateinfo/,
//! provenance in its README.md) through the streaming updateinfo parser.
//!
//! Every expectation was read off the file by hand and checked with Python's
//! ElementTree (`ET.parse(f).getroot()`: per `<update>` the id, type, severity, issued
//! date, reference ids and types, and each `<package>`'s name/epoch/version/release/arch).
//! None of the four files has a malformed record, so each must parse with nothing
//! skipped.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use linux_patch_api::pkg::advisories::report::ParseReport;
use linux_patch_api::pkg::advisories::Severity;
use linux_patch_api::pkg::rpm::updateinfo::{parse_date, parse_reader, Notice};

/// `(file under recorded/advisories, the check of its parse)`.
pub const CASES: &[(&str, fn())] = &[
    ("updateinfo/vuln-list-update_rocky8-updateinfo.xml", rocky8),
    (
        "updateinfo/vuln-list-update_amazon-updateinfo_2_items.xml",
        amazon2,
    ),
    (
        "updateinfo/vuln-list-update_amazon-updateinfo_AL2023.xml",
        amazon2023,
    ),
    (
        "updateinfo/vuln-list-update_bottlerocket-updateinfo.xml",
        bottlerocket,
    ),
];

fn recorded(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/recorded/advisories")
        .join(rel)
}

/// Streams the file through the parser as the agent does (a `BufReader` over the file).
fn parse(rel: &str) -> (Vec<Notice>, ParseReport) {
    let path = recorded(rel);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut notices = Vec::new();
    let report = parse_reader(BufReader::new(file), rel, |n| notices.push(n))
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(report.records, notices.len(), "{rel}");
    assert_eq!(report.skipped, 0, "{rel}: {:?}", report.examples);
    (notices, report)
}

fn pkg(name: &str, version: &str, arch: &str) -> (String, String, String) {
    (name.into(), version.into(), arch.into())
}

fn severity(n: &Notice) -> Severity {
    n.severity
        .as_deref()
        .map_or(Severity::Unknown, Severity::from_source)
}

fn rocky8() {
    let (n, _) = parse(CASES[0].0);
    let ids: Vec<&str> = n.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "RLBA-2021:2580",
            "RLSA-2021:2575",
            "RLSA-2021:3057",
            "RLSA-2019:1972"
        ]
    );
    let bugfix = &n[0];
    assert_eq!(bugfix.kind, "bugfix");
    assert_eq!(bugfix.title, "firewalld bug fix and enhancement update");
    // Published as `<severity>None</severity>`: kept as written, unknown when normalised.
    assert_eq!(bugfix.severity.as_deref(), Some("None"));
    assert_eq!(severity(bugfix), Severity::Unknown);
    assert_eq!(bugfix.issued.as_deref(), Some("2021-07-22 18:25:24"));
    assert!(bugfix.cves.is_empty());
    // The erratum reference names Red Hat's advisory it was rebuilt from.
    assert_eq!(bugfix.other_ids, ["RHBA-2021:2580"]);
    assert_eq!(
        bugfix.packages,
        [
            pkg("firewalld-filesystem", "0.8.2-7.el8_4", "noarch"),
            pkg("firewalld", "0.8.2-7.el8_4", "noarch"),
            pkg("python3-firewall", "0.8.2-7.el8_4", "noarch"),
        ]
    );
    assert_eq!(
        bugfix.description,
        "For more information visit https://errata.rockylinux.org/RLBA-2021:2580"
    );
    assert_eq!(n[1].kind, "security");
    assert_eq!(severity(&n[1]), Severity::Medium);
    assert_eq!(n[1].cves, ["CVE-2021-3520"]);
    assert_eq!(n[1].packages, [pkg("lz4", "1.8.3-3.el8_4", "x86_64")]);
    assert_eq!(severity(&n[2]), Severity::High);
    assert_eq!(
        n[2].cves,
        ["CVE-2021-22543", "CVE-2021-22555", "CVE-2021-3609"]
    );
    assert_eq!(
        n[2].packages,
        [pkg("kernel", "4.18.0-305.12.1.el8_4", "x86_64")]
    );
    let ruby = &n[3];
    assert_eq!(ruby.title, "Important: ruby:2.5 security update");
    // cve, bugzilla and self references: the bugzilla number is no advisory id and the
    // self reference is the record's own id.
    assert_eq!(ruby.cves, ["CVE-2019-8324"]);
    assert!(ruby.other_ids.is_empty(), "{:?}", ruby.other_ids);
    // The <module> element of the collection is not a package.
    assert_eq!(
        ruby.packages,
        [
            pkg(
                "rubygem-abrt",
                "0.3.0-4.module+el8.5.0+738+032c9c02",
                "noarch"
            ),
            pkg(
                "rubygem-bson",
                "4.3.0-2.module+el8.4.0+592+03ff458a",
                "x86_64"
            ),
        ]
    );
    assert!(ruby
        .description
        .starts_with("Ruby is an extensible, interpreted"));
    assert!(ruby
        .description
        .contains("tasks.\n\nSecurity Fix(es):\n\n* rubygems"));
    assert!(n.iter().all(|n| !n.reboot_suggested));
}

fn amazon2() {
    let (n, _) = parse(CASES[1].0);
    assert_eq!(n.len(), 2);
    let qemu = &n[0];
    assert_eq!(qemu.id, "ALAS2-2018-942");
    assert_eq!(
        qemu.title,
        "Amazon Linux 2 2017.12 - ALAS2-2018-942: important priority package update for qemu-kvm"
    );
    assert_eq!(severity(qemu), Severity::High);
    // Amazon writes minutes without seconds.
    assert_eq!(qemu.issued.as_deref(), Some("2018-02-07 18:49"));
    assert_eq!(
        qemu.issued.as_deref().and_then(parse_date),
        Some(time::macros::datetime!(2018-02-07 18:49 UTC))
    );
    assert_eq!(qemu.cves, ["CVE-2017-5715"]);
    // Epoch 10 on every package.
    assert_eq!(qemu.packages.len(), 5);
    assert_eq!(
        qemu.packages[0],
        pkg("qemu-kvm", "10:1.5.3-141.amzn2.5.3", "x86_64")
    );
    assert!(qemu
        .packages
        .iter()
        .all(|p| p.1 == "10:1.5.3-141.amzn2.5.3"));
    // `&amp;#039;` in the file (escaped twice): an apostrophe, not `&#039;`.
    assert!(
        qemu.description.contains("the microprocessor's data cache"),
        "{}",
        qemu.description
    );
    assert!(!qemu.description.contains("&#"));
    assert!(qemu
        .description
        .ends_with("CVE-2017-5715 hw: cpu: speculative execution branch target injection"));
    let java = &n[1];
    assert_eq!(java.id, "ALAS2-2018-949");
    assert_eq!(java.issued.as_deref(), Some("2018-02-07 17:47"));
    assert_eq!(java.cves.len(), 15);
    assert_eq!(java.cves.first().map(String::as_str), Some("CVE-2018-2579"));
    assert_eq!(java.cves.last().map(String::as_str), Some("CVE-2018-2678"));
    assert_eq!(java.packages.len(), 17);
    assert_eq!(
        java.packages[0],
        pkg("java-1.8.0-openjdk", "1:1.8.0.161-0.b14.amzn2", "x86_64")
    );
    assert!(java.packages.iter().any(|p| p.2 == "noarch"));
}

fn amazon2023() {
    let (n, _) = parse(CASES[2].0);
    assert_eq!(n.len(), 1);
    let rsyslog = &n[0];
    assert_eq!(rsyslog.id, "ALAS2023-2023-001");
    assert_eq!(rsyslog.severity.as_deref(), Some("Important"));
    assert_eq!(rsyslog.issued.as_deref(), Some("2023-02-17 20:41"));
    assert_eq!(rsyslog.cves, ["CVE-2014-3634", "CVE-2022-24903"]);
    assert_eq!(rsyslog.packages.len(), 61);
    // Epoch 0 is not written into the version.
    assert_eq!(
        rsyslog.packages[0],
        pkg(
            "rsyslog-mmfields-debuginfo",
            "8.2204.0-3.amzn2023.0.2",
            "x86_64"
        )
    );
    let mut arches: Vec<&str> = rsyslog.packages.iter().map(|p| p.2.as_str()).collect();
    arches.sort();
    arches.dedup();
    assert_eq!(arches, ["aarch64", "i686", "noarch", "x86_64"]);
    assert!(rsyslog
        .description
        .contains("rsyslog's reception TCP modules"));
}

fn bottlerocket() {
    let (n, _) = parse(CASES[3].0);
    let ids: Vec<&str> = n.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["BRSA-1bwujdrkn6nc", "BRSA-kdg8bd1th2gb"]);
    let kernel = &n[0];
    assert_eq!(kernel.title, "kernel CVE-2024-43840");
    assert_eq!(severity(kernel), Severity::Medium);
    assert_eq!(
        kernel.issued.as_deref().and_then(parse_date),
        Some(time::macros::datetime!(2025-06-11 19:52:52 UTC))
    );
    assert_eq!(kernel.cves, ["CVE-2024-43840"]);
    // The vendor (`brsa`) reference is the record itself.
    assert!(kernel.other_ids.is_empty());
    assert_eq!(
        kernel.packages,
        [
            pkg("kernel-6.1", "6.1.140-1.1749663821.e27d1b03.br1", "x86_64"),
            pkg(
                "bottlerocket-kernel-6.1",
                "6.1.140-1.1749663821.e27d1b03.br1",
                "x86_64"
            ),
            pkg("kernel-6.1", "6.1.140-1.1749663821.e27d1b03.br1", "aarch64"),
            pkg(
                "bottlerocket-kernel-6.1",
                "6.1.140-1.1749663821.e27d1b03.br1",
                "aarch64"
            ),
        ]
    );
    let glibc = &n[1];
    assert_eq!(glibc.cves, ["CVE-2025-15281"]);
    assert_eq!(
        glibc.packages[0],
        pkg("glibc", "1:2.43-1.1773716061.e2e9d7a9.br1", "x86_64")
    );
    assert!(glibc
        .description
        .starts_with("In the GNU C Library, calling wordexp"));
}
