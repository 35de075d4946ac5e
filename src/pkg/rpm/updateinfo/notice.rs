//! One `<update>` of an `updateinfo.xml` and the checks that decide whether it is usable.
//!
//! [`super::stream`] feeds a [`Draft`] with what it reads; [`Draft::finish`] gives the
//! [`Notice`] or the reason the record is skipped. One bad record never costs the others.

use crate::pkg::advisories::ids;
use crate::pkg::rpm::rpmdb;

use super::date::parse_date;

/// Update types rpm-md writers use: createrepo/Fedora/Red Hat (`security`, `bugfix`,
/// `enhancement`, `newpackage`) and SUSE (`recommended`, `optional`, `feature`). Anything
/// else is a record this parser does not understand.
pub const KNOWN_TYPES: [&str; 7] = [
    "security",
    "bugfix",
    "enhancement",
    "newpackage",
    "recommended",
    "optional",
    "feature",
];

/// One `<update>` of an `updateinfo.xml`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notice {
    /// `<id>`.
    pub id: String,
    /// The `type` attribute (one of [`KNOWN_TYPES`]).
    pub kind: String,
    /// `<title>`.
    pub title: String,
    /// `<severity>`, when present and not empty (`None` as written stays `"None"`).
    pub severity: Option<String>,
    /// `<description>`.
    pub description: String,
    /// `<issued date>`, as written (checked to be a date [`parse_date`] reads).
    pub issued: Option<String>,
    /// CVE ids of `type="cve"` references, normalised ([`ids::normalise`]), sorted.
    pub cves: Vec<String>,
    /// Other advisory ids it names: non-CVE ids in CVE references (`XSA-252`) and the ids
    /// of `erratum`/`self`/vendor references other than its own (`RHBA-2021:2580`);
    /// bugzilla numbers are not advisory ids. Sorted, unique.
    pub other_ids: Vec<String>,
    /// Packages as `(name, [E:]V-R, arch)`.
    pub packages: Vec<(String, String, String)>,
    /// Whether any `<reboot_suggested>` says `True`/`true`/`1` (libsolv's reading).
    pub reboot_suggested: bool,
}

/// The attributes of one `<package>` of a pkglist.
#[derive(Clone, Debug, Default)]
pub struct PackageAttrs {
    /// `name`.
    pub name: Option<String>,
    /// `epoch` (absent = 0).
    pub epoch: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `release`.
    pub release: Option<String>,
    /// `arch`.
    pub arch: Option<String>,
}

/// An `<update>` being read: the notice so far and the first problem found in it.
#[derive(Debug, Default)]
pub struct Draft {
    notice: Notice,
    cve_refs: Vec<String>,
    problem: Option<String>,
}

impl Draft {
    /// A record of the given `type` attribute.
    pub fn new(kind: Option<String>) -> Draft {
        let mut d = Draft::default();
        match kind {
            Some(k) if KNOWN_TYPES.contains(&k.as_str()) => d.notice.kind = k,
            Some(k) => d.fail(format!("unknown update type {k:?}")),
            None => d.fail("no type attribute"),
        }
        d
    }

    /// Keeps the first problem; later ones add nothing a reader needs.
    fn fail(&mut self, reason: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some(reason.into());
        }
    }

    /// The text of a direct child element (`id`, `title`, `severity`, `description`).
    pub fn field(&mut self, name: &str, text: String) {
        match name {
            "id" => self.notice.id = text.trim().to_string(),
            "title" => self.notice.title = clean(&text),
            "severity" => {
                self.notice.severity = Some(text.trim().to_string()).filter(|s| !s.is_empty())
            }
            "description" => self.notice.description = clean(&text),
            _ => {}
        }
    }

    /// `<issued date="...">`: a date that cannot be read makes the record unusable
    /// (what it would publish is wrong), a missing one does not.
    pub fn issued(&mut self, date: Option<String>) {
        let Some(date) = date.map(|d| d.trim().to_string()) else {
            return;
        };
        if parse_date(&date).is_none() {
            self.fail(format!("issued date {date:?} is not a date"));
        }
        self.notice.issued = Some(date);
    }

    /// One `<reference type=... id=...>`.
    pub fn reference(&mut self, kind: Option<String>, id: Option<String>) {
        let kind = kind.unwrap_or_default().to_ascii_lowercase();
        let Some(id) = id.map(|i| i.trim().to_string()).filter(|i| !i.is_empty()) else {
            return;
        };
        match kind.as_str() {
            "cve" => self.cve_refs.push(id),
            "bugzilla" => {}
            _ if !id.contains(char::is_whitespace) => self.notice.other_ids.push(id),
            _ => {}
        }
    }

    /// One `<package>`: name, version and arch are required, the epoch must be a number.
    pub fn package(&mut self, p: PackageAttrs) {
        let (Some(name), Some(version), Some(arch)) = (&p.name, &p.version, &p.arch) else {
            let what = p.name.as_deref().unwrap_or("a package");
            self.fail(format!("{what} in the pkglist lacks name, version or arch"));
            return;
        };
        let epoch = p.epoch.as_deref().unwrap_or("").trim();
        if !epoch.bytes().all(|b| b.is_ascii_digit()) {
            self.fail(format!("package {name} has epoch {epoch:?}"));
            return;
        }
        let v = rpmdb::render_version(epoch, version, p.release.as_deref().unwrap_or(""));
        self.notice.packages.push((name.clone(), v, arch.clone()));
    }

    /// The text of a `<reboot_suggested>` (in the update or in one of its packages).
    pub fn reboot(&mut self, text: &str) {
        if matches!(text.trim(), "True" | "true" | "1") {
            self.notice.reboot_suggested = true;
        }
    }

    /// The id, for a skip report of a record that ended early.
    pub fn key(&self) -> &str {
        &self.notice.id
    }

    /// The finished notice, or `(key, reason)` of a record to skip.
    pub fn finish(mut self) -> Result<Notice, (String, String)> {
        let key = if self.notice.id.is_empty() {
            "<update without id>".to_string()
        } else {
            self.notice.id.clone()
        };
        if self.notice.id.is_empty() {
            self.fail("no <id>");
        }
        if let Some(reason) = self.problem {
            return Err((key, reason));
        }
        let found = ids::normalise(self.cve_refs.iter().map(String::as_str));
        self.notice.cves = found.cves;
        let own = self.notice.id.clone();
        let others = &mut self.notice.other_ids;
        others.extend(found.others);
        others.retain(|o| *o != own);
        others.sort();
        others.dedup();
        Ok(self.notice)
    }
}

/// Trims text and repairs Amazon's twice-escaped character references (`&amp;#039;`).
fn clean(text: &str) -> String {
    crate::pkg::xml::decode_residual_char_refs(text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, epoch: &str) -> PackageAttrs {
        PackageAttrs {
            name: Some(name.into()),
            epoch: Some(epoch.into()),
            version: Some("1.0".into()),
            release: Some("1".into()),
            arch: Some("noarch".into()),
        }
    }

    fn draft(id: &str) -> Draft {
        let mut d = Draft::new(Some("security".into()));
        d.field("id", format!(" {id}\n"));
        d
    }

    #[test]
    fn a_good_record() {
        let mut d = draft("RLSA-2019:1972");
        d.field("severity", "Important".into());
        d.field("title", "it&#039;s\n".into());
        d.issued(Some("2019-07-30 11:16:25".into()));
        d.reference(Some("cve".into()), Some("CVE_2019-8324".into()));
        d.reference(Some("cve".into()), Some("CVE-2018-7540 XSA-252".into()));
        d.reference(Some("bugzilla".into()), Some("1692520".into()));
        d.reference(Some("self".into()), Some("RLSA-2019:1972".into()));
        d.reference(Some("erratum".into()), Some("RHSA-2019:1972".into()));
        d.package(pkg("a", "0"));
        d.package(pkg("b", "10"));
        d.reboot("False");
        let n = d.finish().unwrap();
        assert_eq!(n.id, "RLSA-2019:1972");
        assert_eq!(n.title, "it's");
        assert_eq!(n.cves, ["CVE-2018-7540", "CVE-2019-8324"]);
        assert_eq!(n.other_ids, ["RHSA-2019:1972", "XSA-252"]);
        assert_eq!(
            n.packages[1],
            ("b".into(), "10:1.0-1".into(), "noarch".into())
        );
        assert!(!n.reboot_suggested);
    }

    #[test]
    fn bad_records_are_refused_with_a_reason() {
        let reason = |d: Draft| d.finish().unwrap_err();
        assert_eq!(
            reason(Draft::new(Some("security".into()))),
            ("<update without id>".to_string(), "no <id>".to_string())
        );
        let r = reason(Draft::new(Some("hotfix".into())));
        assert!(r.1.contains("unknown update type \"hotfix\""), "{r:?}");
        assert_eq!(reason(Draft::new(None)).1, "no type attribute");
        let mut d = draft("X-1");
        d.issued(Some("yesterday".into()));
        assert_eq!(reason(d).1, "issued date \"yesterday\" is not a date");
        let mut d = draft("X-2");
        d.package(PackageAttrs {
            arch: None,
            ..pkg("a", "0")
        });
        assert_eq!(
            reason(d),
            (
                "X-2".to_string(),
                "a in the pkglist lacks name, version or arch".to_string()
            )
        );
        let mut d = draft("X-3");
        d.package(pkg("a", "one"));
        assert_eq!(reason(d).1, "package a has epoch \"one\"");
    }

    #[test]
    fn reboot_variants() {
        for (text, want) in [
            ("True", true),
            ("true", true),
            ("1", true),
            ("False", false),
            ("", false),
            ("0", false),
        ] {
            let mut d = draft("X-1");
            d.reboot(text);
            assert_eq!(d.finish().unwrap().reboot_suggested, want, "{text:?}");
        }
    }
}
