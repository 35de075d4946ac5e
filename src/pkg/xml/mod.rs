//! XML as the package tools write it, read with quick-xml (streaming, fuzzed upstream).
//!
//! Two ways in: [`tree`] builds a small element tree for the short documents of zypper's
//! `--xmlout` and rpm-md's `repomd.xml`, and the updateinfo parser
//! ([`super::rpm::updateinfo`]) consumes the events of [`reader`] directly so that a
//! tens-of-MB `updateinfo.xml` is never held whole. The helpers here decode the pieces
//! both need: names without namespace prefix, attribute values and entity references.

pub mod tree;

use std::io::BufRead;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart};
use quick_xml::{Reader, XmlVersion};

/// A reader over `input` with the checks this crate relies on: end tags must match their
/// start tags (a truncated or mangled document is an error, not a shorter document).
pub fn reader<R: BufRead>(input: R) -> Reader<R> {
    let mut r = Reader::from_reader(input);
    let config = r.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    r
}

/// An element name without its namespace prefix (`suse:patch` → `patch`), as text.
pub fn local_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

/// The decoded value of attribute `name` (matched without namespace prefix); `None`
/// when absent. A value with an undefined reference is kept as written.
pub fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name.as_bytes())
        .map(|a| match a.normalized_value(XmlVersion::Implicit1_0) {
            Ok(v) => v.into_owned(),
            Err(_) => String::from_utf8_lossy(&a.value).into_owned(),
        })
}

/// Every attribute as decoded `(name, value)` pairs; a value with a reference the
/// document does not define (no DTD is read) is kept as written; a syntactically broken
/// attribute is left out (see [`tree::parse`] for the strict reading).
pub fn attrs(e: &BytesStart<'_>) -> Vec<(String, String)> {
    e.attributes()
        .flatten()
        .map(|a| {
            let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
            let value = match a.normalized_value(XmlVersion::Implicit1_0) {
                Ok(v) => v.into_owned(),
                Err(_) => String::from_utf8_lossy(&a.value).into_owned(),
            };
            (key, value)
        })
        .collect()
}

/// The text an entity or character reference in content stands for; an entity the
/// document does not define (no DTD is read) is kept as written rather than lost.
pub fn reference_text(r: &BytesRef<'_>) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    let name = String::from_utf8_lossy(r.as_ref()).into_owned();
    match resolve_predefined_entity(&name) {
        Some(s) => s.to_string(),
        None => format!("&{name};"),
    }
}

/// Decodes character references left in text that was escaped twice (Amazon's
/// updateinfo writes `&amp;#039;`, which one XML decoding turns into `&#039;`). Only
/// numeric references are decoded: they cannot be meant literally in prose, while `&amp;`
/// after one decoding may well be.
pub fn decode_residual_char_refs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest
            .find(';')
            .filter(|end| *end <= 10)
            .and_then(|end| Some((char_ref(&rest[2..end])?, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `039` or `x27` → the character.
fn char_ref(num: &str) -> Option<char> {
    let code = match num.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => num.parse().ok()?,
    };
    char::from_u32(code).filter(|c| *c != '\0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event;

    #[test]
    fn names_attributes_and_references() {
        let mut r = reader(
            "<s:a s:x='1 &amp; 2' y=\"&lt;&#65;&#x42;\" z='&bogus;'>&#039;&bogus;&gt;</s:a>"
                .as_bytes(),
        );
        let mut buf = Vec::new();
        let Ok(Event::Start(start)) = r.read_event_into(&mut buf) else {
            panic!("no start tag");
        };
        assert_eq!(local_name(&start), "a");
        assert_eq!(attr(&start, "x").as_deref(), Some("1 & 2"));
        assert_eq!(attr(&start, "y").as_deref(), Some("<AB"));
        assert_eq!(attr(&start, "z").as_deref(), Some("&bogus;"));
        assert_eq!(attr(&start, "w"), None);
        assert_eq!(attrs(&start).len(), 3);
        let mut refs = Vec::new();
        loop {
            buf.clear();
            match r.read_event_into(&mut buf) {
                Ok(Event::GeneralRef(g)) => refs.push(reference_text(&g)),
                Ok(Event::End(_)) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(refs, ["'", "&bogus;", ">"]);
    }

    #[test]
    fn twice_escaped_text_is_repaired_and_nothing_else_touched() {
        assert_eq!(
            decode_residual_char_refs("the microprocessor&#039;s cache &#x27;x&#x27;"),
            "the microprocessor's cache 'x'"
        );
        assert_eq!(
            decode_residual_char_refs("AT&T &amp; &#; &#0; &#12345678901; &#39"),
            "AT&T &amp; &#; &#0; &#12345678901; &#39"
        );
    }
}
