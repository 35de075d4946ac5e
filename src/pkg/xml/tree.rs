//! A small element tree for short documents: zypper's `--xmlout` answers and rpm-md's
//! `repomd.xml` (a few KB to a few hundred KB). Built from quick-xml's events; the large
//! `updateinfo.xml` never goes through it (see [`crate::pkg::rpm::updateinfo`]).

use quick_xml::events::{BytesStart, Event};

/// One element with its attributes and content.
#[derive(Debug, Default)]
pub struct Element {
    /// Name without namespace prefix.
    pub name: String,
    /// Decoded attributes in document order (names without prefix).
    pub attrs: Vec<(String, String)>,
    /// Child elements and text, in document order.
    pub children: Vec<Node>,
}

/// Element content.
#[derive(Debug)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Decoded text (CDATA included).
    Text(String),
}

impl Element {
    /// An attribute's decoded value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first direct child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|n| match n {
            Node::Element(e) if e.name == name => Some(e),
            _ => None,
        })
    }

    /// Every element called `name` below this one, in document order.
    pub fn descendants<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        let mut out = Vec::new();
        collect(self, name, &mut out);
        out.into_iter()
    }

    /// The concatenated text content, trimmed.
    pub fn text(&self) -> String {
        let mut s = String::new();
        gather_text(self, &mut s);
        s.trim().to_string()
    }
}

fn collect<'a>(e: &'a Element, name: &str, out: &mut Vec<&'a Element>) {
    for n in &e.children {
        if let Node::Element(c) = n {
            if c.name == name {
                out.push(c);
            }
            collect(c, name, out);
        }
    }
}

fn gather_text(e: &Element, s: &mut String) {
    for n in &e.children {
        match n {
            Node::Text(t) => s.push_str(t),
            Node::Element(c) => gather_text(c, s),
        }
    }
}

/// Parses a document into a synthetic root element holding the top-level nodes. Any
/// well-formedness error (unmatched or unclosed tag, unquoted or repeated attribute) is an
/// error with quick-xml's message and the byte position.
pub fn parse(input: &str) -> Result<Element, String> {
    let mut r = super::reader(input.as_bytes());
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let event = r
            .read_event_into(&mut buf)
            .map_err(|e| format!("{e} at byte {}", r.error_position()))?;
        match event {
            Event::Start(s) => stack.push(element(&s)?),
            Event::Empty(s) => {
                let e = element(&s)?;
                push(&mut stack, Node::Element(e));
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err("an end tag without a start tag".to_string());
                }
                if let Some(done) = stack.pop() {
                    push(&mut stack, Node::Element(done));
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| e.to_string())?;
                push(&mut stack, Node::Text(text.into_owned()));
            }
            Event::CData(c) => {
                let text = c.decode().map_err(|e| e.to_string())?;
                push(&mut stack, Node::Text(text.into_owned()));
            }
            Event::GeneralRef(g) => push(&mut stack, Node::Text(super::reference_text(&g))),
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if stack.len() != 1 {
        let open = stack.last().map(|e| e.name.as_str()).unwrap_or("");
        return Err(format!("unclosed element <{open}>"));
    }
    stack.pop().ok_or_else(|| "empty document".to_string())
}

/// An element from a start tag; a malformed attribute is an error.
fn element(s: &BytesStart<'_>) -> Result<Element, String> {
    for a in s.attributes() {
        a.map_err(|e| format!("in <{}>: {e}", super::local_name(s)))?;
    }
    Ok(Element {
        name: super::local_name(s),
        attrs: super::attrs(s),
        children: Vec::new(),
    })
}

fn push(stack: &mut [Element], node: Node) {
    if let Some(top) = stack.last_mut() {
        top.children.push(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases() {
        let doc = parse(
            "<?xml version='1.0'?><!-- c --><a x = '1 &amp; 2' y=\"&lt;&#65;&#x42;&amp;bogus;\"><b/><c>t<![CDATA[<raw>]]>&#039;</c></a>",
        )
        .unwrap();
        let a = doc.child("a").unwrap();
        assert_eq!(a.attr("x"), Some("1 & 2"));
        assert_eq!(a.attr("y"), Some("<AB&bogus;"));
        assert!(a.child("b").is_some());
        assert_eq!(a.child("c").unwrap().text(), "t<raw>'");
        assert_eq!(a.descendants("c").count(), 1);
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a x=1/>").is_err());
        assert!(parse("<a x='1' x='2'/>").is_err());
        assert!(parse("<a").is_err());
        assert!(parse("<a>").is_err());
        assert!(parse("</a>").is_err());
    }
}
