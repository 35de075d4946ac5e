//! `updateinfo.xml` read as a stream of quick-xml events.
//!
//! Only the `<update>` being read is held (its text fields capped at [`MAX_TEXT`]); each
//! finished notice goes to the caller, who keeps what it needs. Memory therefore grows
//! with what is kept, not with the file (docs/BENCHMARKS.md measures a 30 MB file).
//!
//! A document whose root is not `<updates>`, or that is not XML before its root, is an
//! error naming the file. After the root, a malformed record is skipped and counted in the
//! [`ParseReport`]; a break in the XML itself (a truncated or mangled file) ends the
//! reading there: the records before it are kept and the broken one is reported skipped.

use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::pkg::advisories::report::ParseReport;
use crate::pkg::xml;
use crate::pkg::PkgError;

use super::notice::{Draft, Notice, PackageAttrs};

/// Most bytes of text kept per field; the rest of a larger field is dropped (no real
/// advisory comes near it, a hostile file could).
pub const MAX_TEXT: usize = 1 << 20;

/// Direct children of `<update>` whose text is kept.
const FIELDS: [&str; 4] = ["id", "title", "severity", "description"];

/// Parses a whole document held in memory (tests, small files); see [`parse_reader`].
pub fn parse_xml(text: &str) -> Result<(Vec<Notice>, ParseReport), PkgError> {
    let mut notices = Vec::new();
    let report = parse_reader(text.as_bytes(), "updateinfo.xml", |n| notices.push(n))?;
    Ok((notices, report))
}

/// Reads an updateinfo document from `input`, giving each usable notice to `keep` in
/// document order; `feed` names the file in the report and in errors.
pub fn parse_reader<R: BufRead>(
    input: R,
    feed: &str,
    keep: impl FnMut(Notice),
) -> Result<ParseReport, PkgError> {
    let mut s = Stream {
        reader: xml::reader(input),
        report: ParseReport::new(feed),
        keep,
        root: Root::NotYet,
        draft: None,
        outer: 0,
        depth: 0,
        capture: None,
        text: String::new(),
    };
    s.run()?;
    Ok(s.report)
}

/// Where the reader is relative to the root element.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Root {
    NotYet,
    Open,
    Closed,
}

/// Which element's text is being collected, and at which depth inside `<update>` it began.
#[derive(Clone, Copy)]
enum Capture {
    Field(&'static str, usize),
    Reboot(usize),
}

impl Capture {
    fn depth(self) -> usize {
        match self {
            Capture::Field(_, d) | Capture::Reboot(d) => d,
        }
    }
}

struct Stream<R, F> {
    reader: Reader<R>,
    report: ParseReport,
    keep: F,
    root: Root,
    /// The `<update>` being read.
    draft: Option<Draft>,
    /// Open elements inside the root but outside any update (none in real files).
    outer: usize,
    /// Element depth inside the current `<update>` (the update itself is 0).
    depth: usize,
    capture: Option<Capture>,
    text: String,
}

impl<R: BufRead, F: FnMut(Notice)> Stream<R, F> {
    fn run(&mut self) -> Result<(), PkgError> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let event = match self.reader.read_event_into(&mut buf) {
                Ok(e) => e,
                Err(e) => return self.broken(&e.to_string()),
            };
            match event {
                Event::Start(e) => self.start(&e, false)?,
                Event::Empty(e) => self.start(&e, true)?,
                Event::End(_) => self.end(),
                Event::Text(t) => match t.xml10_content() {
                    Ok(text) => self.push_text(&text),
                    Err(e) => self.fail_record(format!("text is not UTF-8: {e}")),
                },
                Event::CData(c) => match c.decode() {
                    Ok(text) => self.push_text(&text),
                    Err(e) => self.fail_record(format!("CDATA is not UTF-8: {e}")),
                },
                Event::GeneralRef(g) => self.push_text(&xml::reference_text(&g)),
                Event::Eof => return self.eof(),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    fn error(&self, message: String) -> PkgError {
        PkgError::Parse {
            what: self.report.feed.clone(),
            message,
        }
    }

    /// A break in the XML: an error before the root, the end of reading after it.
    fn broken(&mut self, message: &str) -> Result<(), PkgError> {
        let at = self.reader.error_position();
        if self.root == Root::NotYet {
            return Err(self.error(format!("not XML: {message} at byte {at}")));
        }
        let key = match self.draft.take() {
            Some(d) if !d.key().is_empty() => d.key().to_string(),
            _ => format!("byte {at}"),
        };
        self.report.skip(
            key,
            format!(
                "the XML breaks here ({message} at byte {at}); the rest of the file is not read"
            ),
        );
        Ok(())
    }

    fn eof(&mut self) -> Result<(), PkgError> {
        match self.root {
            Root::NotYet => Err(self.error("no root element: empty or not XML".to_string())),
            Root::Closed => Ok(()),
            Root::Open => {
                if let Some(d) = self.draft.take() {
                    let key = d.key().to_string();
                    self.report
                        .skip(key, "the file ends inside this record (truncated)");
                } else {
                    log::warn!(
                        "{}: the file ends before </updates> (truncated?)",
                        self.report.feed
                    );
                }
                Ok(())
            }
        }
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), PkgError> {
        let name = xml::local_name(e);
        if self.root == Root::NotYet {
            if name != "updates" {
                return Err(self.error(format!("root element is <{name}>, not <updates>")));
            }
            self.root = if empty { Root::Closed } else { Root::Open };
            return Ok(());
        }
        let Some(draft) = self.draft.as_mut() else {
            if name == "update" {
                let d = Draft::new(xml::attr(e, "type"));
                if empty {
                    self.finish(d);
                } else {
                    self.draft = Some(d);
                    self.depth = 0;
                }
            } else if !empty {
                self.outer += 1;
            }
            return Ok(());
        };
        let depth = self.depth + 1;
        match name.as_str() {
            "issued" => draft.issued(xml::attr(e, "date")),
            "reference" => draft.reference(xml::attr(e, "type"), xml::attr(e, "id")),
            "package" => draft.package(PackageAttrs {
                name: xml::attr(e, "name"),
                epoch: xml::attr(e, "epoch"),
                version: xml::attr(e, "version"),
                release: xml::attr(e, "release"),
                arch: xml::attr(e, "arch"),
            }),
            _ => {}
        }
        if !empty {
            self.depth = depth;
            if self.capture.is_none() {
                self.capture = capture_for(&name, depth);
                self.text.clear();
            }
        }
        Ok(())
    }

    fn end(&mut self) {
        if self.draft.is_none() {
            if self.outer > 0 {
                self.outer -= 1;
            } else if self.root == Root::Open {
                self.root = Root::Closed;
            }
            return;
        }
        if self.depth == 0 {
            if let Some(d) = self.draft.take() {
                self.finish(d);
            }
            return;
        }
        if let Some(c) = self.capture.filter(|c| c.depth() == self.depth) {
            let text = std::mem::take(&mut self.text);
            if let Some(d) = self.draft.as_mut() {
                match c {
                    Capture::Field(name, _) => d.field(name, text),
                    Capture::Reboot(_) => d.reboot(&text),
                }
            }
            self.capture = None;
        }
        self.depth -= 1;
    }

    fn push_text(&mut self, text: &str) {
        if self.capture.is_none() {
            return;
        }
        let mut room = MAX_TEXT.saturating_sub(self.text.len()).min(text.len());
        while !text.is_char_boundary(room) {
            room -= 1;
        }
        self.text.push_str(&text[..room]);
    }

    fn fail_record(&mut self, reason: String) {
        if self.draft.is_some() {
            // A field that cannot be decoded spoils the record, not the file.
            self.capture = None;
            if let Some(d) = self.draft.take() {
                let key = d.key().to_string();
                self.report.skip(key, reason);
            }
            self.skip_rest_of_update();
        }
    }

    /// Reads past the end of the current `<update>` after it was given up.
    fn skip_rest_of_update(&mut self) {
        let mut buf = Vec::new();
        let mut depth = self.depth;
        loop {
            buf.clear();
            match self.reader.read_event_into(&mut buf) {
                Ok(Event::Start(_)) => depth += 1,
                Ok(Event::End(_)) if depth == 0 => break,
                Ok(Event::End(_)) => depth -= 1,
                Ok(Event::Eof) | Err(_) => break,
                Ok(_) => {}
            }
        }
        self.depth = 0;
    }

    fn finish(&mut self, d: Draft) {
        match d.finish() {
            Ok(n) => {
                self.report.kept();
                (self.keep)(n);
            }
            Err((key, reason)) => self.report.skip(key, reason),
        }
    }
}

/// Whether the text of element `name` at `depth` inside `<update>` is wanted.
fn capture_for(name: &str, depth: usize) -> Option<Capture> {
    if name == "reboot_suggested" {
        return Some(Capture::Reboot(depth));
    }
    if depth != 1 {
        return None;
    }
    FIELDS
        .iter()
        .find(|f| **f == name)
        .map(|f| Capture::Field(f, depth))
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = include_str!("../../../../tests/data/dnf/dnf-cache-updateinfo.xml");

    fn parse(doc: &str) -> (Vec<Notice>, ParseReport) {
        parse_xml(doc).unwrap()
    }

    #[test]
    fn xml_recorded() {
        let (n, report) = parse(XML);
        assert_eq!(n.len(), 3);
        assert_eq!((report.records, report.skipped), (3, 0));
        assert!(!n[0].reboot_suggested && !n[1].reboot_suggested && n[2].reboot_suggested);
        assert_eq!(n[2].id, "LPA-2026-0003");
        assert_eq!(n[2].kind, "security");
        assert_eq!(n[2].issued.as_deref(), Some("2026-01-20 00:00:00"));
        assert_eq!(n[2].cves, ["CVE-2026-0002", "CVE-2026-0003"]);
        assert_eq!(
            n[2].packages,
            [("lpa-lib".into(), "1.1-1".into(), "noarch".into())]
        );
        assert_eq!(n[1].severity.as_deref(), Some("None"));
    }

    /// A document with one good record between bad ones of every kind.
    const MIXED: &str = r#"<?xml version="1.0"?>
<!DOCTYPE updates>
<u:updates xmlns:u="http://linux.duke.edu/metadata/updateinfo">
  <u:update type="security"><u:title>no id</u:title></u:update>
  <update type="hotfix"><id>BAD-TYPE</id></update>
  <update type="bugfix"><id>BAD-DATE</id><issued date="2024-02-30"/></update>
  <update type="bugfix"><id>BAD-PKG</id><pkglist><collection>
    <package name="a" version="1"/></collection></pkglist></update>
  <foo><bar/></foo>
  <update type="security">
    <id>GOOD-1</id>
    <title><![CDATA[a <b>&amp; c]]> &amp; d&amp;#039;s</title>
    <description>line 1&#10;line 2
line 3</description>
    <severity></severity>
    <references><reference type="CVE" id="CVE 2018-16859"/><reference type="cve" id="cve_2019-2426"/></references>
    <pkglist><collection><package name="k" version="5" release="1" epoch="2" arch="x86_64">
      <reboot_suggested>True</reboot_suggested></package></collection></pkglist>
  </update>
  <update type="bugfix"><id>BAD-EPOCH</id><pkglist><collection>
    <package name="a" epoch="x" version="1" release="1" arch="noarch"/></collection></pkglist></update>
</u:updates>
"#;

    #[test]
    fn bad_records_are_skipped_and_counted() {
        let (n, report) = parse(MIXED);
        assert_eq!(n.len(), 1, "{n:#?}");
        let good = &n[0];
        assert_eq!(good.id, "GOOD-1");
        assert_eq!(good.title, "a <b>&amp; c & d's", "CDATA is literal");
        assert_eq!(good.description, "line 1\nline 2\nline 3");
        assert_eq!(good.severity, None);
        assert_eq!(good.cves, ["CVE-2018-16859", "CVE-2019-2426"]);
        assert_eq!(
            good.packages,
            [("k".into(), "2:5-1".into(), "x86_64".into())]
        );
        assert!(good.reboot_suggested);
        assert_eq!((report.records, report.skipped), (1, 5));
        let keys: Vec<&str> = report.examples.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "<update without id>",
                "BAD-TYPE",
                "BAD-DATE",
                "BAD-PKG",
                "BAD-EPOCH"
            ]
        );
        assert_eq!(report.feed, "updateinfo.xml");
    }

    #[test]
    fn unreadable_documents_are_errors() {
        for doc in ["", "not xml", "<repomd><data/></repomd>", "<<updates>"] {
            let err = parse_xml(doc).unwrap_err();
            assert!(
                matches!(err, PkgError::Parse { ref what, .. } if what == "updateinfo.xml"),
                "{doc:?}: {err}"
            );
        }
        assert_eq!(parse("<updates/>").1.records, 0);
    }

    #[test]
    fn a_break_keeps_what_came_before() {
        let truncated = "<updates><update type='bugfix'><id>A-1</id></update><update type='bugfix'><id>A-2</id><title>x</ti";
        let (n, report) = parse(truncated);
        assert_eq!(n.len(), 1);
        assert_eq!(report.skipped, 1);
        assert_eq!(report.examples[0].key, "A-2");
        let mangled = "<updates><update type='bugfix'><id>A-1</id></update><update type='bugfix'><id>A-2</id></title></update><update type='bugfix'><id>A-3</id></update></updates>";
        let (n, report) = parse(mangled);
        assert_eq!(n.len(), 1);
        assert_eq!(report.skipped, 1);
        assert!(
            report.examples[0].reason.contains("the XML breaks here"),
            "{report:?}"
        );
    }

    #[test]
    fn huge_fields_are_capped() {
        let big = "x".repeat(MAX_TEXT + 10);
        let doc = format!("<updates><update type='bugfix'><id>A-1</id><description>{big}</description></update></updates>");
        let (n, _) = parse(&doc);
        assert_eq!(n[0].description.len(), MAX_TEXT);
    }
}
