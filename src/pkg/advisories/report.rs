//! What a feed parser kept and what it skipped.
//!
//! A feed is a list of independent records: a malformed record is skipped, counted and
//! logged with its feed, key and reason, and never costs the rest of the feed. Every
//! parser returns a [`ParseReport`] beside its index; the patch list says how many records
//! of which feed were skipped.

use serde::Serialize;

/// Skipped records kept with their reasons, at most this many per feed (the count is exact).
pub const KEPT_REASONS: usize = 20;

/// One record a parser could not use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedRecord {
    /// The record's key in the feed (package name, CVE id, advisory id, file name...).
    pub key: String,
    /// Why it was skipped, in words.
    pub reason: String,
}

/// The outcome of parsing one feed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ParseReport {
    /// The feed's name (e.g. `alpine-secdb v3.20/main`, `debian-tracker`).
    pub feed: String,
    /// Records read and used.
    pub records: usize,
    /// Records skipped (exact count).
    pub skipped: usize,
    /// The first [`KEPT_REASONS`] skipped records.
    pub examples: Vec<SkippedRecord>,
}

impl ParseReport {
    /// An empty report for `feed`.
    pub fn new(feed: impl Into<String>) -> Self {
        ParseReport {
            feed: feed.into(),
            ..ParseReport::default()
        }
    }

    /// Counts a record that was used.
    pub fn kept(&mut self) {
        self.records += 1;
    }

    /// Counts, logs and (up to [`KEPT_REASONS`]) keeps a skipped record.
    pub fn skip(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        let rec = SkippedRecord {
            key: key.into(),
            reason: reason.into(),
        };
        log::warn!(
            "advisory feed {}: skipped record {}: {}",
            self.feed,
            rec.key,
            rec.reason
        );
        self.skipped += 1;
        if self.examples.len() < KEPT_REASONS {
            self.examples.push(rec);
        }
    }

    /// Whether the document had records but none of them could be used: then it is not
    /// the feed at all (another JSON document, a changed format) and an error, not a feed
    /// with everything skipped.
    pub fn nothing_usable(&self) -> bool {
        self.records == 0 && self.skipped > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_counted_exactly_and_examples_capped() {
        let mut r = ParseReport::new("alpine-secdb v3.11/main");
        r.kept();
        for i in 0..(KEPT_REASONS + 5) {
            r.skip(format!("pkg{i}"), "secfixes is not a map");
        }
        assert_eq!(r.records, 1);
        assert_eq!(r.skipped, KEPT_REASONS + 5);
        assert_eq!(r.examples.len(), KEPT_REASONS);
        assert_eq!(r.examples[0].key, "pkg0");
        assert!(!r.nothing_usable());
        let mut none = ParseReport::new("f");
        assert!(!none.nothing_usable());
        none.skip("k", "wrong");
        assert!(none.nothing_usable());
    }
}
