//! rpm-md's package list (`repodata/*-primary.xml[.gz]`, named by `repodata/repomd.xml`),
//! read as a stream for what a repository offers: name, architecture and `[E:]V-R` of
//! every `<package type="rpm">`. gzip (what createrepo_c writes by default, and what the
//! sandbox's dnf and zypper keep) and plain XML are read here; another compression is an
//! error, and the caller then asks the tool.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use quick_xml::events::Event;

use crate::pkg::offers::{offer, Offers};
use crate::pkg::xml::{self, tree};

/// What a `repomd.xml` says about its package list.
#[derive(Debug, PartialEq, Eq)]
pub struct Repomd {
    /// The `primary` location, relative to the repository (`repodata/...`).
    pub primary: String,
    /// Whether the repository has modular metadata (`modules`): dnf then hides packages
    /// of modules that are not enabled, which this reader cannot tell.
    pub modular: bool,
}

/// Reads a `repomd.xml` (a few KB); `None` when it is not one or names no primary.
pub fn repomd(text: &str) -> Option<Repomd> {
    let doc = tree::parse(text).ok()?;
    let data: Vec<&tree::Element> = doc.descendants("data").collect();
    let primary = data.iter().find(|d| d.attr("type") == Some("primary"))?;
    let href = primary.child("location")?.attr("href")?.to_string();
    let modular = data.iter().any(|d| d.attr("type") == Some("modules"));
    Some(Repomd {
        primary: href,
        modular,
    })
}

/// The primary file of the repository whose metadata is in `dir` (the directory holding
/// `repodata/`); `None` when repomd cannot be read or the repository is modular.
pub fn primary_of(dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dir.join("repodata/repomd.xml")).ok()?;
    let md = repomd(&text)?;
    if md.modular || md.primary.contains("..") {
        return None;
    }
    Some(dir.join(md.primary))
}

/// Adds every package of the primary file `path` built for one of `arches` to `offers`,
/// its version as dnf and zypper print it (`[E:]V-R`, the epoch only when not 0).
pub fn read_into(path: &Path, arches: &[&str], offers: &mut Offers) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let file = BufReader::with_capacity(64 * 1024, File::open(path)?);
    if name.ends_with(".xml.gz") {
        read_stream(BufReader::new(MultiGzDecoder::new(file)), arches, offers)
    } else if name.ends_with(".xml") {
        read_stream(file, arches, offers)
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{name}: a compression this agent does not read"),
        ))
    }
}

/// The package being read.
#[derive(Default)]
struct Draft {
    rpm: bool,
    name: String,
    arch: String,
    version: Option<String>,
}

/// Streams one primary document; any XML error is an error (a cut file is not a shorter
/// list).
pub fn read_stream<R: BufRead>(input: R, arches: &[&str], offers: &mut Offers) -> io::Result<()> {
    let mut reader = xml::reader(input);
    let mut buf = Vec::new();
    let mut draft: Option<Draft> = None;
    // The direct child of <package> whose text is being read.
    let mut field: Option<String> = None;
    let mut depth = 0usize;
    let mut root_seen = false;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(bad)?;
        match event {
            Event::Start(e) => {
                depth += 1;
                let local = xml::local_name(&e);
                if depth == 1 {
                    if local != "metadata" {
                        return Err(bad("the root is not <metadata>"));
                    }
                    root_seen = true;
                } else if depth == 2 && local == "package" {
                    draft = Some(Draft {
                        rpm: xml::attr(&e, "type").as_deref() == Some("rpm"),
                        ..Draft::default()
                    });
                } else if depth == 3 && draft.is_some() {
                    field = Some(local);
                }
            }
            Event::Empty(e) => {
                if let (2, Some(d)) = (depth, draft.as_mut()) {
                    if xml::local_name(&e) == "version" {
                        d.version = evr(&e);
                    }
                }
            }
            Event::Text(t) => {
                if let (Some(f), Some(d)) = (field.as_deref(), draft.as_mut()) {
                    let text = t.xml10_content().map_err(bad)?;
                    match f {
                        "name" => d.name.push_str(&text),
                        "arch" => d.arch.push_str(&text),
                        _ => {}
                    }
                }
            }
            Event::GeneralRef(r) => {
                if let (Some("name"), Some(d)) = (field.as_deref(), draft.as_mut()) {
                    d.name.push_str(&xml::reference_text(&r));
                }
            }
            Event::End(_) => {
                if depth == 3 {
                    field = None;
                } else if depth == 2 {
                    if let Some(d) = draft.take() {
                        keep(d, arches, offers);
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof if root_seen && depth == 0 => return Ok(()),
            Event::Eof => return Err(bad("the document ends early")),
            _ => {}
        }
        buf.clear();
    }
}

/// `[E:]V-R` of a `<version epoch ver rel/>`, the epoch left out when 0 or absent.
fn evr(e: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    let ver = xml::attr(e, "ver")?;
    let rel = xml::attr(e, "rel")?;
    Some(match xml::attr(e, "epoch") {
        Some(ep) if !ep.is_empty() && ep != "0" => format!("{ep}:{ver}-{rel}"),
        _ => format!("{ver}-{rel}"),
    })
}

fn keep(d: Draft, arches: &[&str], offers: &mut Offers) {
    let name = d.name.trim();
    if !d.rpm || name.is_empty() || !arches.contains(&d.arch.trim()) {
        return;
    }
    if let Some(v) = d.version {
        offer(offers, name, v);
    }
}

fn bad(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("primary.xml: {e}"))
}

/// The architectures whose packages this machine installs without asking for them by
/// arch: `noarch` and its own (a multilib or foreign arch is left to the tool).
pub fn native_arches() -> [&'static str; 2] {
    ["noarch", std::env::consts::ARCH]
}

/// Reads every primary in `dirs` (each holding `repodata/`) into one offer list; `None`
/// when one cannot be read.
pub fn offers_of(dirs: &[PathBuf]) -> Option<Offers> {
    let mut offers = Offers::new();
    let arches = native_arches();
    for dir in dirs {
        let primary = primary_of(dir)?;
        if let Err(e) = read_into(&primary, &arches, &mut offers) {
            log::debug!("{}: {e}; the tool is asked instead", primary.display());
            return None;
        }
    }
    Some(offers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rpm-md");

    fn recorded() -> PathBuf {
        PathBuf::from(DATA)
    }

    #[test]
    fn recorded_repomd_names_the_gzip_primary() {
        let text = std::fs::read_to_string(recorded().join("repodata/repomd.xml")).unwrap();
        let md = repomd(&text).unwrap();
        assert!(md.primary.starts_with("repodata/"), "{}", md.primary);
        assert!(md.primary.ends_with("-primary.xml.gz"), "{}", md.primary);
        assert!(!md.modular);
        let modular = text.replace(
            "</repomd>",
            "<data type=\"modules\"><location href=\"repodata/m.yaml.gz\"/></data></repomd>",
        );
        assert!(repomd(&modular).unwrap().modular);
        assert_eq!(repomd("<repomd><data type='filelists'/></repomd>"), None);
        assert_eq!(repomd("<repomd"), None);
    }

    #[test]
    fn recorded_primary_lists_every_fixture_version() {
        let offers = offers_of(&[recorded()]).unwrap();
        assert_eq!(offers["lpa-hello"], ["1.0-1", "1.1-1", "2.0-1"]);
        assert_eq!(offers["lpa-lib"], ["1.0-1", "1.1-1"]);
        assert_eq!(offers["lpa-tool"], ["1.0-1"]);
        assert!(!offers.contains_key("lpa-absent"));
    }

    #[test]
    fn epochs_foreign_arches_and_source_packages() {
        let doc = r#"<?xml version="1.0"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" packages="4">
<package type="rpm"><name>a</name><arch>noarch</arch><version epoch="2" ver="1.0" rel="3.fc40"/></package>
<package type="rpm"><name>a</name><arch>s390x</arch><version epoch="0" ver="9" rel="1"/></package>
<package type="rpm"><name>b&amp;c</name><arch>src</arch><version epoch="0" ver="1" rel="1"/></package>
<package type="rpm"><name>d</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/><format><rpm:provides><rpm:entry name="x"/></rpm:provides></format></package>
</metadata>"#;
        let mut offers = Offers::new();
        read_stream(doc.as_bytes(), &["noarch", "x86_64"], &mut offers).unwrap();
        assert_eq!(offers["a"], ["2:1.0-3.fc40"]);
        assert_eq!(offers["d"], ["1-1"]);
        assert_eq!(offers.len(), 2);
    }

    #[test]
    fn a_cut_or_foreign_document_is_an_error() {
        let whole = include_str!("../../../tests/data/dnf/dnf-cache-repomd.xml");
        for doc in ["", "<metadata><package type=\"rpm\"><name>a", whole] {
            let mut offers = Offers::new();
            assert!(
                read_stream(doc.as_bytes(), &["noarch"], &mut offers).is_err(),
                "{doc}"
            );
        }
        let gz = recorded().join(
            repomd(&std::fs::read_to_string(recorded().join("repodata/repomd.xml")).unwrap())
                .unwrap()
                .primary,
        );
        let bytes = std::fs::read(&gz).unwrap();
        let dir = std::env::temp_dir().join(format!("lpa-primary-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let cut = dir.join("x-primary.xml.gz");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(read_into(&cut, &["noarch"], &mut Offers::new()).is_err());
        let zst = dir.join("x-primary.xml.zst");
        std::fs::write(&zst, [0x28, 0xb5, 0x2f, 0xfd]).unwrap();
        let err = read_into(&zst, &["noarch"], &mut Offers::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
