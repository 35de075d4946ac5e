//! A small, strict reader of the Prometheus text exposition format 0.0.4, independent of
//! the agent's writer: every line is `# HELP name text`, `# TYPE name type` or a sample
//! `name{label="value",...} value`; names and label names follow the format's grammar;
//! label values use only the format's escapes; each family is HELP, then TYPE, then its
//! samples, contiguous and once; no series twice. Stricter than the format in one way the
//! agent promises: no blank lines, no comments other than HELP and TYPE, no timestamps.
//! Also runs `promtool check metrics` on the text when promtool is installed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

/// Label names and values.
pub type Labels = Vec<(String, String)>;

/// One series: the metric name and its labels (sorted by name).
pub type Series = (String, Labels);

/// A checked document: each family's type, and every sample's value.
#[derive(Debug, Default)]
pub struct Document {
    pub types: BTreeMap<String, String>,
    pub samples: BTreeMap<Series, f64>,
}

impl Document {
    /// The value of `name` with exactly `labels`, if present.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.sort();
        self.samples.get(&(name.to_string(), l)).copied()
    }

    /// Every series of one family.
    pub fn family(&self, name: &str) -> Vec<(&Labels, f64)> {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, l), v)| (l, *v))
            .collect()
    }
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn is_value(s: &str) -> bool {
    matches!(s, "NaN" | "+Inf" | "-Inf")
        || (s.parse::<f64>().is_ok() && !s.contains(['i', 'n', 'N', 'I']))
}

/// Where the reader is within a family.
#[derive(PartialEq)]
enum Stage {
    Help,
    Type,
    Samples,
}

/// Checks the whole text; `Err` names the first offending line.
pub fn check(text: &str) -> Result<Document, String> {
    if !text.ends_with('\n') {
        return Err("the text does not end with a line feed".into());
    }
    let mut doc = Document::default();
    let mut seen_families = BTreeSet::new();
    let mut current: Option<(String, Stage)> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| at("HELP without text"))?;
            if !is_name(name) || help.is_empty() {
                return Err(at("bad HELP"));
            }
            check_help_escapes(help).map_err(|w| at(&w))?;
            if !seen_families.insert(name.to_string()) {
                return Err(at("family declared twice"));
            }
            current = Some((name.to_string(), Stage::Help));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without type"))?;
            match &current {
                Some((family, Stage::Help)) if family == name => {}
                _ => return Err(at("TYPE not right after its HELP")),
            }
            if !matches!(
                kind,
                "counter" | "gauge" | "histogram" | "summary" | "untyped"
            ) {
                return Err(at("unknown type"));
            }
            doc.types.insert(name.to_string(), kind.to_string());
            current = Some((name.to_string(), Stage::Type));
        } else if line.starts_with('#') || line.trim().is_empty() {
            return Err(at("stray comment or blank line"));
        } else {
            let (series, value) = sample(line).map_err(|w| at(&w))?;
            match &mut current {
                Some((family, stage)) if *family == series.0 && *stage != Stage::Help => {
                    *stage = Stage::Samples;
                }
                _ => return Err(at("sample outside its family (TYPE must come first)")),
            }
            if doc.samples.insert(series, value).is_some() {
                return Err(at("duplicate series"));
            }
        }
    }
    if let Some((family, stage)) = &current {
        if *stage != Stage::Samples {
            return Err(format!("family {family} has no samples"));
        }
    }
    Ok(doc)
}

fn check_help_escapes(help: &str) -> Result<(), String> {
    let mut chars = help.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
            return Err("bad escape in HELP".into());
        }
    }
    Ok(())
}

/// `name{labels} value` → the series and the value.
fn sample(line: &str) -> Result<(Series, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("no value after the name")?;
    let name = &line[..name_end];
    if !is_name(name) {
        return Err("bad metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(body)?;
        labels = parsed;
        rest = after;
    }
    let value = rest
        .strip_prefix(' ')
        .ok_or("no single space before the value")?;
    if !is_value(value) {
        return Err(format!("bad value {value:?} (or a timestamp)"));
    }
    let v = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| "bad value")?,
    };
    let mut names = BTreeSet::new();
    for (k, _) in &labels {
        if !names.insert(k.clone()) {
            return Err("a label twice".into());
        }
    }
    labels.sort();
    Ok(((name.to_string(), labels), v))
}

/// Reads `a="x",b="y"}` and returns the pairs and what follows the `}`.
fn label_set(mut s: &str) -> Result<(Labels, &str), String> {
    let mut out = Vec::new();
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return Ok((out, after));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let name = &s[..eq];
        if !is_label_name(name) || name.starts_with("__") {
            return Err(format!("bad label name {name:?}"));
        }
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err("bad escape in a label value".into()),
                },
                Some((_, '\n')) => return Err("raw line feed in a label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        s = &s[end + 1..];
        if let Some(after) = s.strip_prefix(',') {
            s = after;
            if s.starts_with('}') {
                return Err("trailing comma".into());
            }
        } else if !s.starts_with('}') {
            return Err("labels not separated by ','".into());
        }
    }
}

/// Runs `promtool check metrics` on the text when promtool is installed (Debian's
/// `prometheus` package); `None` (with a printed note) when it is not.
pub fn promtool(text: &str) -> Option<Result<String, String>> {
    let tool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(tool) = tool else {
        eprintln!("NOTE: promtool is not installed; its check of the metrics text is skipped");
        return None;
    };
    let mut child = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() {
        Ok(said)
    } else {
        Err(said)
    })
}
