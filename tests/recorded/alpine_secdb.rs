//! The recorded Alpine secdb files (../shared/recorded/advisories/alpine-secdb/,
//! provenance in its README.md) through `alpine_secdb::parse_value`.
//!
//! The YAML files are the secdb's sources; the published JSON is the same document after a
//! plain YAML load and JSON dump, so they are read with the project's YAML parser into a
//! JSON value and parsed like a download. Expectations were read off the files by hand and
//! checked with Python (`yaml.safe_load` / `json.load`: per file the type and length of
//! `packages`, per package the secfixes keys and the type of each value, every id string;
//! the distinct CVE ids counted with the regex `CVE[-_ ](\d{4})-(\d+)` rewritten to
//! `CVE-\1-\2`, the XSA-/TALOS- ids
//! with the same token rule as `ids::is_advisory_id`). No recorded secdb file has a
//! malformed record, so nothing is skipped; the odd but valid shapes are checked one by one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use linux_patch_api::pkg::advisories::alpine_secdb::{parse, parse_value, SecdbIndex};
use linux_patch_api::pkg::advisories::report::ParseReport;

/// `(file under recorded/advisories, the check of its parse)`.
pub const CASES: &[(&str, fn())] = &[
    (
        "alpine-secdb/alpine-secdb_v3.11-community.yaml",
        v311_community,
    ),
    ("alpine-secdb/alpine-secdb_v3.11-main.yaml", v311_main),
    (
        "alpine-secdb/alpine-secdb_v3.3-community.yaml",
        v33_community_yaml,
    ),
    (
        "alpine-secdb/claircore_v3.10-community.json",
        claircore_v310,
    ),
    (
        "alpine-secdb/vuln-list-update_311-community.json",
        vlu_311_community,
    ),
    ("alpine-secdb/vuln-list-update_312-main.json", vlu_312_main),
    (
        "alpine-secdb/vuln-list-update_edge-community.json",
        vlu_edge_community,
    ),
    ("alpine-secdb/vulnerablecode_v3.11-main.json", vc_v311_main),
    (
        "alpine-secdb/vulnerablecode_v3.3-community.json",
        vc_v33_community,
    ),
];

fn recorded(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/recorded/advisories")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    let path = recorded(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON file as downloaded, or a YAML source loaded into a JSON value (the published
/// conversion).
fn parsed(rel: &str) -> (SecdbIndex, ParseReport) {
    let bytes = read(rel);
    let result = if rel.ends_with(".yaml") {
        let doc: serde_json::Value =
            serde_yaml_ng::from_slice(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
        parse_value(&doc, rel)
    } else {
        parse(&bytes, rel)
    };
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn all_ids(index: &SecdbIndex) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut cves = BTreeSet::new();
    let mut others = BTreeSet::new();
    for (_, fixes) in index.iter() {
        for f in fixes {
            cves.extend(f.cves.iter().cloned());
            others.extend(f.other_ids.iter().cloned());
        }
    }
    (cves, others)
}

fn versions(index: &SecdbIndex, origin: &str) -> Vec<String> {
    index
        .fixes(origin)
        .iter()
        .map(|f| f.fixed_version.clone())
        .collect()
}

/// A feed whose `packages` has nothing: an empty index, nothing kept, nothing skipped.
fn empty(rel: &str) {
    let (index, report) = parsed(rel);
    assert!(index.is_empty(), "{rel}");
    assert_eq!((report.records, report.skipped), (0, 0), "{rel}");
}

/// 85 packages, 239 fixed versions, 829 distinct CVEs; openjdk7 publishes
/// `CVE_2019-2426` (openjdk8 the same CVE correctly: one id), dia `CVE-2019-19451.patch`.
fn v311_community() {
    let rel = CASES[0].0;
    let (index, report) = parsed(rel);
    assert_eq!((report.records, report.skipped), (85, 0));
    assert_eq!(index.len(), 85);
    let fixes: usize = index.iter().map(|(_, f)| f.len()).sum();
    assert_eq!(fixes, 239);
    let (cves, others) = all_ids(&index);
    assert_eq!(cves.len(), 829);
    assert!(others.is_empty(), "{others:?}");
    assert!(cves.iter().all(|c| c.starts_with("CVE-")));
    assert_eq!(
        index.cves_between("openjdk7", "7.201.2.6.16-r0", "7.211.2.6.17-r0"),
        ["CVE-2018-11212", "CVE-2019-2422", "CVE-2019-2426"]
    );
    assert_eq!(
        index.cves_between("dia", "0.97.3-r0", "0.97.3-r1"),
        ["CVE-2019-19451"]
    );
    // Keys are sorted by apk ordering, whatever the file's order.
    assert_eq!(
        versions(&index, "chicken"),
        ["4.11.1-r0", "4.12.0-r2", "4.12.0-r3"]
    );
    assert_eq!(
        versions(&index, "containerd"),
        ["1.2.6", "1.2.9", "1.3.0", "1.3.1"]
    );
}

/// 175 packages, 502 fixed versions, 1109 distinct CVEs and 111 other ids (XSA-, TALOS-).
fn v311_main() {
    let rel = CASES[1].0;
    let (index, report) = parsed(rel);
    assert_eq!((report.records, report.skipped), (175, 0));
    assert_eq!(index.len(), 175);
    let fixes: usize = index.iter().map(|(_, f)| f.len()).sum();
    assert_eq!(fixes, 502);
    let (cves, others) = all_ids(&index);
    assert_eq!(cves.len(), 1109);
    assert_eq!(others.len(), 111);
    assert!(others
        .iter()
        .all(|o| o.starts_with("XSA-") || o.starts_with("TALOS-")));
    // rsync's two patches for one CVE: `CVE-2017-17434-1`, `-2`.
    assert_eq!(
        index.cves_between("rsync", "3.1.2-r6", "3.1.2-r7"),
        ["CVE-2017-16548", "CVE-2017-17433", "CVE-2017-17434"]
    );
    let sdl = index.ids_between("sdl2_image", "2.0.2-r0", "2.0.3-r0");
    assert_eq!(sdl.cves.len(), 7);
    assert_eq!(sdl.cves[0], "CVE-2017-12122");
    assert_eq!(sdl.others[0], "TALOS-2017-0488");
    assert_eq!(sdl.others.len(), 7);
    // xen: 26 fixed versions, one keyed `4.10-1-r1`; `CVE-????-?????  XSA-295` gives the
    // XSA id and no CVE.
    let xen = index.fixes("xen");
    assert_eq!(xen.len(), 26);
    let odd = xen.iter().find(|f| f.fixed_version == "4.10-1-r1");
    let odd = odd.unwrap_or_else(|| panic!("xen 4.10-1-r1 missing"));
    assert_eq!(
        odd.cves,
        ["CVE-2018-10981", "CVE-2018-10982", "CVE-2018-8897"]
    );
    assert_eq!(odd.other_ids, ["XSA-260", "XSA-261", "XSA-262"]);
    let unnamed = xen.iter().find(|f| f.fixed_version == "4.12.1-r0");
    let unnamed = unnamed.unwrap_or_else(|| panic!("xen 4.12.1-r0 missing"));
    assert!(unnamed.cves.is_empty());
    assert_eq!(unnamed.other_ids, ["XSA-295"]);
    // tcpdump's `CVE-2018-16301 (was fixed in libpcap)`: the id, not the words.
    let tcpdump = index.ids_between("tcpdump", "4.9.2-r4", "4.9.3-r0");
    assert!(tcpdump.cves.contains(&"CVE-2018-16301".to_string()));
    assert!(tcpdump.others.is_empty(), "{:?}", tcpdump.others);
}

/// `packages:` with no value (YAML null).
fn v33_community_yaml() {
    empty(CASES[2].0);
}

/// Trimmed by claircore to 3 packages: botan 4 fixes, cfengine 1, chicken 3; 9 CVEs.
fn claircore_v310() {
    let (index, report) = parsed(CASES[3].0);
    assert_eq!((report.records, report.skipped), (3, 0));
    assert_eq!(
        versions(&index, "botan"),
        ["2.5.0-r0", "2.6.0-r0", "2.7.0-r0", "2.9.0-r0"]
    );
    assert_eq!(versions(&index, "cfengine"), ["3.12.2-r0"]);
    assert_eq!(all_ids(&index).0.len(), 9);
    assert_eq!(
        index.cves_between("chicken", "4.11.0-r0", "4.12.0-r2"),
        ["CVE-2016-6830", "CVE-2016-6831", "CVE-2017-9334"]
    );
}

/// `"packages": {}` (an object).
fn vlu_311_community() {
    empty(CASES[4].0);
}

/// ansible: `"2.7.9-r0": ["CVE-2018-16876"]` and `"2.8.0-r0": {}`.
fn vlu_312_main() {
    let (index, report) = parsed(CASES[5].0);
    assert_eq!((report.records, report.skipped), (1, 0));
    assert_eq!(versions(&index, "ansible"), ["2.7.9-r0", "2.8.0-r0"]);
    assert!(index.fixes("ansible")[1].cves.is_empty());
    assert_eq!(
        index.cves_between("ansible", "2.7.0-r0", "2.8.0-r0"),
        ["CVE-2018-16876"]
    );
    assert!(index
        .cves_between("ansible", "2.7.9-r0", "2.8.0-r0")
        .is_empty());
}

/// `"packages":{}` again, edge.
fn vlu_edge_community() {
    empty(CASES[6].0);
}

/// xen with the key `4.10-1-r1` and `CVE-2018-7540 XSA-252`; apk-tools with 2 CVEs.
fn vc_v311_main() {
    let (index, report) = parsed(CASES[7].0);
    assert_eq!((report.records, report.skipped), (2, 0));
    let xen: Vec<(&str, &[String], &[String])> = index
        .fixes("xen")
        .iter()
        .map(|f| {
            (
                f.fixed_version.as_str(),
                f.cves.as_slice(),
                f.other_ids.as_slice(),
            )
        })
        .filter(|(v, _, _)| *v != "4.10-1-r1")
        .collect();
    let no: &[String] = &[];
    assert_eq!(
        xen,
        [
            ("4.10.0-r1", no, &["XSA-248".to_string()][..]),
            (
                "4.10.0-r2",
                &["CVE-2018-7540".to_string()][..],
                &["XSA-252".to_string()][..]
            ),
        ]
    );
    assert!(index
        .fixes("xen")
        .iter()
        .any(|f| f.fixed_version == "4.10-1-r1" && f.other_ids == ["XSA-252"]));
    assert_eq!(
        index.cves_between("apk-tools", "2.7.1-r0", "2.7.2-r0"),
        ["CVE-2017-9669", "CVE-2017-9671"]
    );
}

/// `"packages":[]`.
fn vc_v33_community() {
    empty(CASES[8].0);
}
