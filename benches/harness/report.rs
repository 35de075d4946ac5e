//! The result table: printed as Markdown (docs/BENCHMARKS.md copies it) and kept as JSON.

use serde_json::{json, Value};

/// Whether a measurement meets the design's target.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The value (or the ratio, when there is a reference) must be at most this.
    AtMost(f64),
    /// The value (or the ratio) must be at least this.
    AtLeast(f64),
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub section: &'static str,
    pub what: String,
    pub unit: &'static str,
    pub ours: f64,
    pub reference: Option<(String, f64)>,
    pub target: Option<Target>,
}

impl Row {
    /// A measurement of the agent alone.
    pub fn new(
        section: &'static str,
        what: impl Into<String>,
        unit: &'static str,
        ours: f64,
    ) -> Row {
        Row {
            section,
            what: what.into(),
            unit,
            ours,
            reference: None,
            target: None,
        }
    }

    /// Adds the reference implementation's figure (the ratio is ours / theirs).
    pub fn against(mut self, name: impl Into<String>, theirs: f64) -> Row {
        self.reference = Some((name.into(), theirs));
        self
    }

    /// Adds the design's target (applied to the ratio when there is a reference).
    pub fn target(mut self, t: Target) -> Row {
        self.target = Some(t);
        self
    }

    /// ours / reference.
    pub fn ratio(&self) -> Option<f64> {
        self.reference.as_ref().map(|(_, r)| self.ours / r)
    }

    /// Whether the target is met (`None` without a target or with a missing figure).
    pub fn met(&self) -> Option<bool> {
        let value = match self.reference {
            Some(_) => self.ratio()?,
            None => self.ours,
        };
        if !value.is_finite() {
            return None;
        }
        self.target.map(|t| match t {
            Target::AtMost(x) => value <= x,
            Target::AtLeast(x) => value >= x,
        })
    }

    fn target_text(&self) -> String {
        let scope = if self.reference.is_some() { "×" } else { "" };
        match self.target {
            Some(Target::AtMost(x)) => format!("≤ {}{scope}", num(x)),
            Some(Target::AtLeast(x)) => format!("≥ {}{scope}", num(x)),
            None => String::new(),
        }
    }

    /// The row as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "section": self.section,
            "measurement": self.what,
            "unit": self.unit,
            "ours": finite(self.ours),
            "reference": self.reference.as_ref().map(|(n, _)| n.clone()),
            "reference_value": self.reference.as_ref().map(|(_, v)| finite(*v)),
            "ratio": self.ratio().map(finite),
            "target": self.target_text(),
            "met": self.met(),
        })
    }
}

fn finite(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// A number with sensible precision for the table.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v.fract() == 0.0 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| section | measurement | ours | reference | ours/ref | target | met |\n\
         |---|---|---:|---:|---:|---|---|\n",
    );
    for r in rows {
        let ours = format!("{} {}", num(r.ours), r.unit).trim_end().to_string();
        let reference = r
            .reference
            .as_ref()
            .map(|(n, v)| format!("{} {} ({n})", num(*v), r.unit))
            .unwrap_or_default();
        let ratio = r
            .ratio()
            .map(|x| format!("{}×", num(x)))
            .unwrap_or_default();
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        out.push_str(&format!(
            "| {} | {} | {ours} | {reference} | {ratio} | {} | {met} |\n",
            r.section,
            r.what,
            r.target_text()
        ));
    }
    out
}

/// Checks the arithmetic of the table (run by `cargo test`, which builds this harness).
pub fn self_check() {
    let r = Row::new("t", "x", "req/s", 50.0)
        .against("nginx", 100.0)
        .target(Target::AtLeast(1.0));
    assert_eq!(r.ratio(), Some(0.5));
    assert_eq!(r.met(), Some(false));
    let r = Row::new("t", "x", "MiB", 5.5).target(Target::AtMost(6.0));
    assert_eq!(r.met(), Some(true));
    assert_eq!(Row::new("t", "x", "ms", f64::NAN).met(), None);
    assert!(table(&[r]).contains("| t | x | 5.50 MiB |"));
    assert_eq!(num(10.0), "10");
    assert_eq!(num(1234.4), "1234");
    assert_eq!(num(0.1234), "0.123");
}
