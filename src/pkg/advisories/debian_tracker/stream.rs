//! Reads the tracker document as a stream (the real file is 70+ MB): the top level and each
//! source package are walked with serde visitors, and only one issue at a time is held as a
//! JSON value, handed to [`issue::fix_for`](super::issue::fix_for). A source package or an
//! issue of the wrong shape is skipped and counted in the [`ParseReport`]; only a document
//! whose top level is not a map of source packages fails.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::Value;

use super::issue;
use super::{TrackerFix, TrackerIndex};
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
                release: self.release,
                all: self.all,
                source: &source,
                report: &mut *report,
            };
            match map.next_value_seed(package)? {
                Ok(fixes) if fixes.is_empty() => {}
                Ok(fixes) => index.by_source.entry(source).or_default().extend(fixes),
                Err(kind) => report.skip(source, format!("{kind}, not a map of issues")),
            }
        }
        Ok(index)
    }
}

/// One source package: a map of issue ids; anything else is consumed and reported as
/// its kind (`Err("a list")`).
struct Package<'a> {
    release: &'a str,
    all: bool,
    source: &'a str,
    report: &'a mut ParseReport,
}

impl<'de> DeserializeSeed<'de> for Package<'_> {
    type Value = Result<Vec<TrackerFix>, &'static str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Package<'_> {
    type Value = Result<Vec<TrackerFix>, &'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a source package's issues")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Value>()?;
            let record = format!("{} {key}", self.source);
            let Some(id) = issue::issue_id(&key) else {
                self.report.skip(record, "empty issue id");
                continue;
            };
            let read = if self.all {
                issue::check_all(&value).map(|()| None)
            } else {
                issue::fix_for(&id, &value, self.release)
            };
            match read {
                Ok(fix) => {
                    self.report.kept();
                    out.extend(fix);
                }
                Err(why) => self.report.skip(record, why),
            }
        }
        Ok(Ok(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("a list"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("a string"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(doc: &str, release: &str) -> Result<(TrackerIndex, ParseReport), String> {
        let mut report = ParseReport::new("debian-tracker test");
        let mut de = serde_json::Deserializer::from_str(doc);
        let top = Top {
            release,
            all: false,
            report: &mut report,
        };
        let index = top.deserialize(&mut de).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok((index, report))
    }

    #[test]
    fn packages_of_every_wrong_kind_are_skipped() {
        let doc = r#"{"a": [1, {"x": 2}], "b": "x", "c": true, "d": -1, "e": 2, "f": 1.5,
            "g": null, "h": {"CVE-2020-0001": {"releases": {"sid": {"status": "resolved",
            "fixed_version": "2"}}}}}"#;
        let (index, report) = read(doc, "sid").unwrap();
        assert_eq!(index.fixes("h").len(), 1);
        assert_eq!((report.records, report.skipped), (1, 7));
        let reasons: Vec<String> = report
            .examples
            .iter()
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect();
        assert_eq!(reasons[0], "a: a list, not a map of issues");
        assert_eq!(reasons[6], "g: null, not a map of issues");
    }

    #[test]
    fn a_top_level_of_another_kind_fails() {
        for bad in ["[]", "\"x\"", "3", "null"] {
            assert!(read(bad, "sid").is_err(), "{bad}");
        }
    }
}
