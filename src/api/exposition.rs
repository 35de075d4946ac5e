//! The Prometheus text exposition format, version 0.0.4: each metric family written at
//! once as `# HELP`, `# TYPE` and its samples, so a family is never split or repeated;
//! names checked against the format's grammar, HELP text and label values escaped.
//!
//! Knows nothing of what is measured: `api/metrics.rs` gathers the values.

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The media type of the format, as `GET /metrics` answers it.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The type of a metric family (the ones this agent exports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A value that only goes up (from the process's start).
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// Why a family could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpositionError {
    /// A metric name outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    BadName(String),
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`, or starting `__` (reserved).
    BadLabelName(String),
    /// A second family with the same name.
    DuplicateFamily(String),
    /// Two samples of one family with the same label set.
    DuplicateSeries(String),
}

impl std::fmt::Display for ExpositionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpositionError::BadName(n) => write!(f, "invalid metric name {n:?}"),
            ExpositionError::BadLabelName(n) => write!(f, "invalid label name {n:?}"),
            ExpositionError::DuplicateFamily(n) => write!(f, "metric family {n} written twice"),
            ExpositionError::DuplicateSeries(n) => write!(f, "duplicate series in {n}"),
        }
    }
}

/// One sample of a family: its labels (in the order written) and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A sample without labels.
    pub fn plain(value: f64) -> Sample {
        Sample {
            labels: Vec::new(),
            value,
        }
    }

    /// A sample with one label.
    pub fn labelled(name: &'static str, value_of_label: impl Into<String>, value: f64) -> Sample {
        Sample {
            labels: vec![(name, value_of_label.into())],
            value,
        }
    }
}

/// A document being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
    names: BTreeSet<String>,
}

impl Exposition {
    /// An empty document.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Writes one family: HELP, TYPE, then every sample. A family without samples is left
    /// out (a value not known is not exported, rather than exported as a guess).
    pub fn family(
        &mut self,
        name: &str,
        help: &str,
        kind: Kind,
        samples: &[Sample],
    ) -> Result<(), ExpositionError> {
        if !is_metric_name(name) {
            return Err(ExpositionError::BadName(name.to_string()));
        }
        if self.names.contains(name) {
            return Err(ExpositionError::DuplicateFamily(name.to_string()));
        }
        if samples.is_empty() {
            return Ok(());
        }
        let mut series = BTreeSet::new();
        let mut lines = String::new();
        for s in samples {
            let labels = labels(&s.labels)?;
            if !series.insert(labels.clone()) {
                return Err(ExpositionError::DuplicateSeries(name.to_string()));
            }
            let _ = writeln!(lines, "{name}{labels} {}", number(s.value));
        }
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
        self.text.push_str(&lines);
        self.names.insert(name.to_string());
        Ok(())
    }

    /// The document's text.
    pub fn into_text(self) -> String {
        self.text
    }
}

/// `{a="x",b="y"}`, or nothing for no labels.
fn labels(pairs: &[(&'static str, String)]) -> Result<String, ExpositionError> {
    if pairs.is_empty() {
        return Ok(String::new());
    }
    let mut seen = BTreeSet::new();
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if !is_label_name(name) || !seen.insert(*name) {
            return Err(ExpositionError::BadLabelName(name.to_string()));
        }
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape_label_value(value));
    }
    out.push('}');
    Ok(out)
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved for Prometheus itself).
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// HELP text: backslash and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value as the format spells it: integers without a fraction, `NaN`, `+Inf`,
/// `-Inf`.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_help_type_then_samples() {
        let mut e = Exposition::new();
        e.family(
            "a_total",
            "Requests.",
            Kind::Counter,
            &[
                Sample::labelled("code", "2xx", 3.0),
                Sample::labelled("code", "4xx", 0.0),
            ],
        )
        .unwrap();
        e.family("b", "A gauge.", Kind::Gauge, &[Sample::plain(1.5)])
            .unwrap();
        assert_eq!(
            e.into_text(),
            "# HELP a_total Requests.\n# TYPE a_total counter\n\
             a_total{code=\"2xx\"} 3\na_total{code=\"4xx\"} 0\n\
             # HELP b A gauge.\n# TYPE b gauge\nb 1.5\n"
        );
    }

    #[test]
    fn help_and_label_values_are_escaped() {
        let mut e = Exposition::new();
        e.family(
            "x",
            "back\\slash\nnew \"line\"",
            Kind::Gauge,
            &[Sample {
                labels: vec![("version", "1\"2\\3\n4".into()), ("backend", "apt".into())],
                value: 1.0,
            }],
        )
        .unwrap();
        assert_eq!(
            e.into_text(),
            "# HELP x back\\\\slash\\nnew \"line\"\n# TYPE x gauge\n\
             x{version=\"1\\\"2\\\\3\\n4\",backend=\"apt\"} 1\n"
        );
    }

    #[test]
    fn one_family_per_name_and_one_sample_per_series() {
        let mut e = Exposition::new();
        e.family("x", "h", Kind::Gauge, &[Sample::plain(1.0)])
            .unwrap();
        assert_eq!(
            e.family("x", "h", Kind::Gauge, &[Sample::plain(2.0)]),
            Err(ExpositionError::DuplicateFamily("x".into()))
        );
        let twice = [
            Sample::labelled("s", "a", 1.0),
            Sample::labelled("s", "a", 2.0),
        ];
        assert_eq!(
            e.family("y", "h", Kind::Gauge, &twice),
            Err(ExpositionError::DuplicateSeries("y".into()))
        );
        // A failed family writes nothing.
        assert_eq!(e.into_text(), "# HELP x h\n# TYPE x gauge\nx 1\n");
    }

    #[test]
    fn names_follow_the_grammar() {
        for good in ["a", "_a", "a:b_c9", "linux_patch_api_jobs"] {
            assert!(is_metric_name(good), "{good}");
        }
        for bad in ["", "9a", "a-b", "a b", "é"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
        assert!(is_label_name("severity") && is_label_name("_x"));
        for bad in ["", "a:b", "__name", "1a"] {
            assert!(!is_label_name(bad), "{bad}");
        }
        let mut e = Exposition::new();
        assert_eq!(
            e.family("bad-name", "h", Kind::Gauge, &[Sample::plain(1.0)]),
            Err(ExpositionError::BadName("bad-name".into()))
        );
        assert_eq!(
            e.family("ok", "h", Kind::Gauge, &[Sample::labelled("a:b", "v", 1.0)]),
            Err(ExpositionError::BadLabelName("a:b".into()))
        );
        let dup = Sample {
            labels: vec![("a", "1".into()), ("a", "2".into())],
            value: 1.0,
        };
        assert!(e.family("ok", "h", Kind::Gauge, &[dup]).is_err());
    }

    #[test]
    fn empty_families_are_left_out_and_values_spelled_by_the_format() {
        let mut e = Exposition::new();
        e.family("unknown", "h", Kind::Gauge, &[]).unwrap();
        assert_eq!(e.into_text(), "");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(12345.0), "12345");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
    }
}
