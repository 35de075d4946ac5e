//! Reads the tracker document as a stream (the real file is 70+ MB): the top level, each
//! source package, each issue and its `releases` are walked with serde visitors; only the
//! wanted release's entry of an issue is held as a small JSON value (every release's when
//! validating) and handed to [`issue`](super::issue); other releases are skipped unread.
//! A source package, an issue or a `releases` of the wrong shape is skipped and counted in
//! the [`ParseReport`]; only a document whose top level is not a map of source packages
//! fails.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer;
use serde_json::{Map, Value};

use super::map_or::{MapOr, MapSeed};
use super::{issue, TrackerFix, TrackerIndex};
use crate::pkg::advisories::report::ParseReport;

/// The whole document: a map of source packages.
pub struct Top<'a> {
    /// The release whose fixes are kept.
    pub release: &'a str,
    /// Validation of a download: every release entry of every issue is checked, whatever
    /// the release, and no fix is kept.
    pub all: bool,
    /// Where kept and skipped issues are counted.
    pub report: &'a mut ParseReport,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = TrackerIndex;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TrackerIndex, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = TrackerIndex;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of source packages")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TrackerIndex, A::Error> {
        let report = self.report;
        let mut index = TrackerIndex::default();
        while let Some(source) = map.next_key::<String>()? {
            let package = Package {
                wanted: Wanted {
                    release: self.release,
                    all: self.all,
                },
                source: &source,
                report: &mut *report,
            };
            match map.next_value_seed(MapOr(package))? {
                Ok(fixes) if fixes.is_empty() => {}
                Ok(fixes) => index.by_source.entry(source).or_default().extend(fixes),
                Err(kind) => report.skip(source, format!("{kind}, not a map of issues")),
            }
        }
        Ok(index)
    }
}

/// Which release entries are read.
#[derive(Clone, Copy)]
struct Wanted<'a> {
    release: &'a str,
    all: bool,
}

/// One source package: a map of issue ids.
struct Package<'a> {
    wanted: Wanted<'a>,
    source: &'a str,
    report: &'a mut ParseReport,
}

impl<'de> MapSeed<'de> for Package<'_> {
    type Out = Vec<TrackerFix>;
    const EXPECTING: &'static str = "a source package's issues";

    fn read_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<TrackerFix>, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let read = map.next_value_seed(MapOr(Issue(self.wanted)))?;
            let Some(id) = issue::issue_id(&key) else {
                self.report
                    .skip(format!("{} {key}", self.source), "empty issue id");
                continue;
            };
            match fix_of(&id, read, self.wanted) {
                Ok(fix) => {
                    self.report.kept();
                    out.extend(fix);
                }
                Err(why) => self.report.skip(format!("{} {key}", self.source), why),
            }
        }
        Ok(out)
    }
}

/// What one issue held: its description and the wanted entries of its `releases`.
struct IssueRead {
    description: Option<String>,
    /// `None` without a `releases` key; `Err(kind)` when it is not a map.
    releases: Option<Result<Map<String, Value>, &'static str>>,
}

/// The fix (or the check, when validating) of one issue read from the stream.
fn fix_of(
    id: &str,
    read: Result<IssueRead, &'static str>,
    wanted: Wanted<'_>,
) -> Result<Option<TrackerFix>, String> {
    let read = read.map_err(|kind| format!("the issue is {kind}, not an object"))?;
    let releases = match read.releases {
        Some(Ok(r)) => r,
        Some(Err(kind)) => return Err(format!("releases is {kind}, not a map")),
        None => return Err("no releases".to_string()),
    };
    if wanted.all {
        return issue::check_all(&releases).map(|()| None);
    }
    issue::fix_for(id, read.description.as_deref(), &releases, wanted.release)
}

/// One issue: keeps its description and the wanted release entries.
struct Issue<'a>(Wanted<'a>);

impl<'de> MapSeed<'de> for Issue<'_> {
    type Out = IssueRead;
    const EXPECTING: &'static str = "an issue";

    fn read_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IssueRead, A::Error> {
        let mut read = IssueRead {
            description: None,
            releases: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                // Of another type it is not worth the issue: it is only shown.
                "description" => match map.next_value::<Value>()? {
                    Value::String(text) => read.description = Some(text),
                    _ => read.description = None,
                },
                "releases" => read.releases = Some(map.next_value_seed(MapOr(Releases(self.0)))?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(read)
    }
}

/// An issue's `releases`: the wanted entries as JSON values, the others skipped unread.
struct Releases<'a>(Wanted<'a>);

impl<'de> MapSeed<'de> for Releases<'_> {
    type Out = Map<String, Value>;
    const EXPECTING: &'static str = "a map of release codenames";

    fn read_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Map<String, Value>, A::Error> {
        let mut kept = Map::new();
        while let Some(codename) = map.next_key::<String>()? {
            if self.0.all || codename == self.0.release {
                let entry = map.next_value::<Value>()?;
                kept.insert(codename, entry);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(doc: &str, release: &str, all: bool) -> Result<(TrackerIndex, ParseReport), String> {
        let mut report = ParseReport::new("debian-tracker test");
        let mut de = serde_json::Deserializer::from_str(doc);
        let top = Top {
            release,
            all,
            report: &mut report,
        };
        let index = top.deserialize(&mut de).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok((index, report))
    }

    #[test]
    fn packages_issues_and_releases_of_the_wrong_kind_are_skipped() {
        let doc = r#"{"a": [1, {"x": 2}], "b": "x", "c": null,
            "h": {"CVE-2020-0001": {"description": 5, "releases": {"sid": {"status": "resolved",
            "fixed_version": "2"}, "bookworm": [1]}}, "CVE-2020-0002": [], "CVE-2020-0003":
            {"releases": "none"}, "CVE-2020-0004": {"scope": "local"}, "": {"releases": {}}}}"#;
        let (index, report) = read(doc, "sid", false).unwrap();
        let fixes = index.fixes("h");
        assert_eq!(fixes.len(), 1);
        assert_eq!(fixes[0].description, "");
        assert_eq!((report.records, report.skipped), (1, 7));
        let reasons: Vec<String> = report
            .examples
            .iter()
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                "a: a list, not a map of issues",
                "b: a string, not a map of issues",
                "c: null, not a map of issues",
                "h CVE-2020-0002: the issue is a list, not an object",
                "h CVE-2020-0003: releases is a string, not a map",
                "h CVE-2020-0004: no releases",
                "h : empty issue id",
            ]
        );
        // Validating looks at bookworm's broken entry too.
        let (_, checked) = read(doc, "", true).unwrap();
        assert_eq!((checked.records, checked.skipped), (0, 8));
        assert_eq!(checked.examples[3].reason, "release bookworm is a list");
    }

    #[test]
    fn a_top_level_of_another_kind_fails() {
        for bad in ["[]", "\"x\"", "3", "null"] {
            assert!(read(bad, "sid", false).is_err(), "{bad}");
        }
    }
}
