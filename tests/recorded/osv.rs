//! The recorded OSV files (Ubuntu USN / UBUNTU-CVE, Debian DSA) through the OSV reader.
//!
//! Every expectation below was read off the file by hand (ids, ecosystems, fixed versions,
//! binary names, `upstream`/`aliases`, `severity` and `database_specific.cves_map`), not
//! produced by running the reader. Included by tests/advisories_recorded.rs.

use std::io::Write;
use std::path::{Path, PathBuf};

use linux_patch_api::pkg::advisories::osv::{
    self, record, record::RecordKind, HostEcosystem, HostUpgrade, OsvIndex,
};
use linux_patch_api::pkg::advisories::{AdvisoryKind, Severity};
use linux_patch_api::pkg::Upgrade;

/// Every recorded OSV file with the check that reads it.
pub const CASES: &[(&str, fn())] = &[
    ("osv-debian/DSA-3029-1.json", dsa_3029_1),
    ("osv-ubuntu/USN-2169-1.json", usn_2169_1),
    ("osv-ubuntu/USN-6859-1.json", usn_6859_1),
    ("osv-ubuntu/USN-7500-1.json", usn_7500_1),
    ("osv-ubuntu/USN-7900-1.json", usn_7900_1),
    (
        "osv-ubuntu/UBUNTU-CVE-2025-14345.json",
        ubuntu_cve_2025_14345,
    ),
    (
        "osv-ubuntu/UBUNTU-CVE-2025-38094.json",
        ubuntu_cve_2025_38094,
    ),
];

fn recorded(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/recorded/advisories")
        .join(rel)
}

fn parse(rel: &str) -> record::Record {
    let bytes = std::fs::read(recorded(rel)).expect("recorded file");
    record::parse(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The file as the whole feed of `host`: (index, records kept, records skipped).
fn load(rel: &str, host: &HostEcosystem) -> (OsvIndex, usize, usize) {
    let (index, report) = osv::load(&recorded(rel), host).unwrap_or_else(|e| panic!("{e}"));
    (index, report.records, report.skipped)
}

fn up(name: &str, cur: &str, new: &str) -> Upgrade {
    Upgrade {
        name: name.into(),
        current_version: cur.into(),
        available_version: new.into(),
        arch: Some("amd64".into()),
        origins: vec![],
    }
}

fn binaries(a: &record::Affected) -> Vec<&str> {
    a.binaries.iter().map(|b| b.name.as_str()).collect()
}

fn rfc3339(t: Option<time::OffsetDateTime>) -> String {
    t.expect("date")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn dsa_3029_1() {
    let rel = "osv-debian/DSA-3029-1.json";
    let r = parse(rel);
    assert_eq!((r.id.as_str(), r.kind), ("DSA-3029-1", RecordKind::Notice));
    assert_eq!(r.summary, "nginx - security update");
    assert_eq!(r.cves, ["CVE-2014-3616"]);
    assert_eq!(r.severity, Severity::Unknown);
    assert_eq!(rfc3339(r.published), "2014-09-20T00:00:00Z");
    assert!(
        r.details.starts_with("Antoine Delignat-Lavaud"),
        "{}",
        r.details
    );
    let [a] = r.affected.as_slice() else {
        panic!("one affected entry")
    };
    assert_eq!(
        (a.ecosystem.as_str(), a.package.as_str()),
        ("Debian:7", "nginx")
    );
    assert_eq!(a.fixed(), Some("1.2.1-2.2+wheezy3"));
    assert!(a.binaries.is_empty());

    // Debian 7 host: matched by source name (the record lists no binaries).
    let host = HostEcosystem::debian("7");
    let (index, kept, skipped) = load(rel, &host);
    assert_eq!((kept, skipped), (1, 0));
    let nginx = up("nginx-full", "1.2.1-2.2+wheezy2", "1.2.1-2.2+wheezy3");
    let hu = [HostUpgrade {
        upgrade: &nginx,
        source: Some("nginx".into()),
        requires_reboot: false,
    }];
    let out = osv::patches(&index, &host, &hu);
    assert!(out.uncovered.is_empty());
    let [p] = out.advisories.as_slice() else {
        panic!("one patch")
    };
    assert_eq!(
        (p.id.as_str(), p.name.as_str()),
        ("DSA-3029-1", "nginx - security update")
    );
    assert_eq!(
        (p.kind, p.severity),
        (AdvisoryKind::Security, Severity::Unknown)
    );
    assert_eq!(p.severity_source, "debian-osv");
    assert_eq!(p.cve_ids, ["CVE-2014-3616"]);
    assert_eq!(p.packages[0].available_version, "1.2.1-2.2+wheezy3");
    // Already at the fixed version: nothing; another release: nothing kept.
    let later = up("nginx-full", "1.2.1-2.2+wheezy3", "1.2.1-2.2+wheezy4");
    let hu = [HostUpgrade {
        upgrade: &later,
        source: Some("nginx".into()),
        requires_reboot: false,
    }];
    assert_eq!(osv::patches(&index, &host, &hu).uncovered, [0]);
    assert_eq!(load(rel, &HostEcosystem::debian("12")).1, 0);
}

fn usn_2169_1() {
    let rel = "osv-ubuntu/USN-2169-1.json";
    let r = parse(rel);
    assert_eq!(
        (r.id.as_str(), r.summary.as_str()),
        ("USN-2169-1", "python-django vulnerabilities")
    );
    assert_eq!(r.cves, ["CVE-2014-0472", "CVE-2014-0473", "CVE-2014-0474"]);
    assert_eq!(rfc3339(r.published), "2014-04-22T11:58:31.107433Z");
    let [a] = r.affected.as_slice() else {
        panic!("one affected entry")
    };
    assert_eq!(a.ecosystem, "Ubuntu:14.04:LTS");
    assert_eq!(a.fixed(), Some("1.6.1-2ubuntu0.1"));
    assert_eq!(binaries(a), ["python-django", "python-django-doc"]);
    // No database_specific and no severity: unknown, never guessed.
    let host = HostEcosystem::ubuntu("14.04", false);
    let (index, kept, _) = load(rel, &host);
    assert_eq!(kept, 1);
    let doc = up("python-django-doc", "1.6.1-2", "1.6.1-2ubuntu0.1");
    let hu = [HostUpgrade {
        upgrade: &doc,
        source: None,
        requires_reboot: false,
    }];
    let out = osv::patches(&index, &host, &hu);
    let [p] = out.advisories.as_slice() else {
        panic!("one patch")
    };
    assert_eq!(
        (p.id.as_str(), p.severity),
        ("USN-2169-1", Severity::Unknown)
    );
    assert_eq!(p.cve_ids.len(), 3);
}

fn usn_6859_1() {
    let rel = "osv-ubuntu/USN-6859-1.json";
    let r = parse(rel);
    assert_eq!(
        (r.id.as_str(), r.summary.as_str()),
        ("USN-6859-1", "openssh vulnerability")
    );
    assert_eq!(r.cves, ["CVE-2024-6387"]);
    let eco: Vec<(&str, Option<&str>)> = r
        .affected
        .iter()
        .map(|a| (a.ecosystem.as_str(), a.fixed()))
        .collect();
    assert_eq!(
        eco,
        [
            ("Ubuntu:22.04:LTS", Some("1:8.9p1-3ubuntu0.10")),
            ("Ubuntu:24.04:LTS", Some("1:9.6p1-3ubuntu13.3"))
        ]
    );
    for a in &r.affected {
        assert_eq!(a.binaries.len(), 11);
        assert!(binaries(a).contains(&"openssh-server") && binaries(a).contains(&"ssh"));
    }
    // The fixed version per release: jammy's and noble's differ.
    let jammy = HostEcosystem::ubuntu("22.04", false);
    let (index, _, _) = load(rel, &jammy);
    assert_eq!(
        index.binary_fixes("openssh-server")[0].fixed_version,
        "1:8.9p1-3ubuntu0.10"
    );
    let server = up(
        "openssh-server",
        "1:8.9p1-3ubuntu0.7",
        "1:8.9p1-3ubuntu0.10",
    );
    let client = up(
        "openssh-client",
        "1:8.9p1-3ubuntu0.7",
        "1:8.9p1-3ubuntu0.10",
    );
    let vim = up("vim", "2:8.2.3995-1ubuntu2.15", "2:8.2.3995-1ubuntu2.16");
    let hu: Vec<HostUpgrade<'_>> = [&server, &client, &vim]
        .into_iter()
        .map(|u| HostUpgrade {
            upgrade: u,
            source: None,
            requires_reboot: false,
        })
        .collect();
    let out = osv::patches(&index, &jammy, &hu);
    assert_eq!(out.uncovered, [2]);
    let [p] = out.advisories.as_slice() else {
        panic!("one patch")
    };
    assert_eq!(p.id, "USN-6859-1");
    assert_eq!(p.packages.len(), 2);
    assert_eq!(p.severity_source, "ubuntu-osv");
    let (noble, _, _) = load(rel, &HostEcosystem::ubuntu("24.04", false));
    assert_eq!(
        noble.binary_fixes("ssh")[0].fixed_version,
        "1:9.6p1-3ubuntu13.3"
    );
    assert_eq!(load(rel, &HostEcosystem::ubuntu("20.04", false)).1, 0);
}

fn usn_7500_1() {
    let rel = "osv-ubuntu/USN-7500-1.json";
    let r = parse(rel);
    assert_eq!(
        (r.id.as_str(), r.summary.as_str()),
        ("USN-7500-1", "linux-azure vulnerabilities")
    );
    assert_eq!(r.cves, ["CVE-2024-56653", "CVE-2025-21953"]);
    let [a] = r.affected.as_slice() else {
        panic!("one affected entry")
    };
    assert_eq!(
        (a.ecosystem.as_str(), a.package.as_str()),
        ("Ubuntu:24.04:LTS", "linux-azure")
    );
    assert_eq!(a.fixed(), Some("6.8.0-1028.33"));
    assert_eq!(a.binaries.len(), 13);
    assert!(binaries(a).contains(&"linux-image-unsigned-6.8.0-1028-azure"));
    assert_eq!(a.severity, Severity::Unknown);
    let (index, kept, _) = load(rel, &HostEcosystem::ubuntu("24.04", false));
    assert_eq!(kept, 1);
    assert_eq!(index.notices()[0].severity, Severity::Unknown);
}

fn usn_7900_1() {
    let rel = "osv-ubuntu/USN-7900-1.json";
    let r = parse(rel);
    assert_eq!(
        (r.id.as_str(), r.summary.as_str()),
        ("USN-7900-1", "openjdk-17-crac vulnerabilities")
    );
    assert_eq!(r.cves, ["CVE-2025-53057", "CVE-2025-53066"]);
    let [a] = r.affected.as_slice() else {
        panic!("one affected entry")
    };
    assert_eq!(a.ecosystem, "Ubuntu:25.10");
    assert_eq!(a.fixed(), Some("17.0.17+10-0ubuntu1~25.10"));
    assert_eq!(a.binaries.len(), 7);
    // cves_map: both CVEs `{"type": "Ubuntu", "score": "medium"}` (the CVSS entries ignored).
    assert_eq!(
        a.cve_severity,
        [
            ("CVE-2025-53057".to_string(), Severity::Medium),
            ("CVE-2025-53066".to_string(), Severity::Medium)
        ]
    );
    let host = HostEcosystem::ubuntu("25.10", false);
    let (index, _, _) = load(rel, &host);
    let jre = up(
        "openjdk-17-crac-jre-headless",
        "17.0.16+8-0ubuntu1",
        "17.0.17+10-0ubuntu1~25.10",
    );
    let hu = [HostUpgrade {
        upgrade: &jre,
        source: None,
        requires_reboot: false,
    }];
    let out = osv::patches(&index, &host, &hu);
    let [p] = out.advisories.as_slice() else {
        panic!("one patch")
    };
    assert_eq!(
        (p.id.as_str(), p.severity),
        ("USN-7900-1", Severity::Medium)
    );
    assert_eq!(rfc3339(p.published), "2025-12-01T14:37:11Z");
    assert!(p.description.starts_with("Jinfeng Guo discovered"));
}

fn ubuntu_cve_2025_14345() {
    let rel = "osv-ubuntu/UBUNTU-CVE-2025-14345.json";
    let r = parse(rel);
    assert_eq!(r.kind, RecordKind::Cve);
    assert_eq!(r.cves, ["CVE-2025-14345"]);
    assert_eq!(r.summary, "");
    // CVSS_V3 x2 and CVSS_V4 are not turned into a word; `Ubuntu: medium` is the priority.
    assert_eq!(r.severity, Severity::Medium);
    let eco: Vec<&str> = r.affected.iter().map(|a| a.ecosystem.as_str()).collect();
    assert_eq!(
        eco,
        [
            "Ubuntu:14.04:LTS",
            "Ubuntu:16.04:LTS",
            "Ubuntu:18.04:LTS",
            "Ubuntu:20.04:LTS"
        ]
    );
    // Every range is `introduced: 0` without `fixed`: nothing is fixed anywhere.
    assert!(r.affected.iter().all(|a| a.fixed().is_none()));
    assert_eq!(
        binaries(&r.affected[0]),
        [
            "mongodb",
            "mongodb-clients",
            "mongodb-dev",
            "mongodb-server"
        ]
    );
    let host = HostEcosystem::ubuntu("20.04", false);
    let (index, kept, _) = load(rel, &host);
    assert_eq!(kept, 1);
    assert_eq!(index.cve_severity("CVE-2025-14345"), Severity::Medium);
    assert!(index.binary_fixes("mongodb-server").is_empty());
    let m = up(
        "mongodb-server",
        "1:3.6.9+really3.6.8+90~g8e540c0b6d-0ubuntu5.3",
        "1:3.6.9+really3.6.8+90~g8e540c0b6d-0ubuntu5.4",
    );
    let hu = [HostUpgrade {
        upgrade: &m,
        source: None,
        requires_reboot: false,
    }];
    assert_eq!(osv::patches(&index, &host, &hu).uncovered, [0]);
}

fn ubuntu_cve_2025_38094() {
    let rel = "osv-ubuntu/UBUNTU-CVE-2025-38094.json";
    let r = parse(rel);
    assert_eq!((r.kind, r.severity), (RecordKind::Cve, Severity::Medium));
    assert_eq!(r.cves, ["CVE-2025-38094"]);
    let [a] = r.affected.as_slice() else {
        panic!("one affected entry")
    };
    assert_eq!(
        (a.ecosystem.as_str(), a.package.as_str()),
        ("Ubuntu:Pro:14.04:LTS", "linux")
    );
    assert!(a.fixed().is_none());
    assert!(a.binaries.is_empty(), "ecosystem_specific is {{}}");
    // A Pro ecosystem applies only to a host with Ubuntu Pro.
    assert_eq!(load(rel, &HostEcosystem::ubuntu("14.04", false)).1, 0);
    let (index, kept, _) = load(rel, &HostEcosystem::ubuntu("14.04", true));
    assert_eq!(kept, 1);
    assert_eq!(index.cve_severity("CVE-2025-38094"), Severity::Medium);
}

/// The recorded Ubuntu files plus a malformed entry and a record of another release, in a
/// real zip archive written with the zip crate, read back entry by entry.
#[test]
fn recorded_records_in_an_all_zip_archive() {
    let dir = std::env::temp_dir().join(format!("lpa-osv-allzip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("all.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (rel, _) in CASES {
        let name = Path::new(rel)
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        w.start_file(name, opts).expect("entry");
        w.write_all(&std::fs::read(recorded(rel)).expect("read"))
            .expect("write");
    }
    w.start_file("USN-0000-1.json", opts).expect("entry");
    w.write_all(
        br#"{"id": "USN-0000-1", "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS"}}]}"#,
    )
    .expect("write");
    w.start_file("USN-0001-1.json", opts).expect("entry");
    w.write_all(br#"{"id": "USN-0001-1", "affected": [{"package": {"ecosystem": "Ubuntu:18.04:LTS", "name": "x"}}]}"#)
        .expect("write");
    w.finish().expect("finish");

    let jammy = HostEcosystem::ubuntu("22.04", false);
    osv::validate_archive(&path).expect("valid archive");
    let (index, report) = osv::load(&path, &jammy).expect("archive");
    // Only USN-6859-1 names Ubuntu:22.04; the malformed jammy entry is skipped and named.
    assert_eq!((report.records, report.skipped), (1, 1));
    assert_eq!(report.examples[0].key, "USN-0000-1.json");
    assert_eq!(report.feed, "ubuntu-osv 22.04");
    let ids: Vec<&str> = index.notices().iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["USN-6859-1"]);
    let (debian, report) = osv::load(&path, &HostEcosystem::debian("7")).expect("archive");
    assert_eq!((debian.len(), report.skipped), (1, 0));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
