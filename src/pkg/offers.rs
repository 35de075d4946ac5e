//! What the repositories offer, read from the tools' metadata files and kept until one of
//! the files it came from changes (the rpm-md and APKINDEX readers fill it; pacman's sync
//! databases have their own, `pacman/syncdb.rs`).
//!
//! It answers one question only, for the check before a job is accepted: "is this name (and
//! this version) on offer?". A yes lets the check skip the tool; anything else (the files
//! cannot be read, the name or version is not in them) sends the caller to the tool, whose
//! answer stays the one given to the client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::watch::{stamps_of, FileStamp};

/// Versions on offer by name.
pub type Offers = HashMap<String, Vec<String>>;

/// The offers and the stamps of the files they were read under.
struct Loaded {
    files: Vec<PathBuf>,
    stamps: Vec<Option<FileStamp>>,
    offers: Offers,
}

/// The last offers read, shared by clones of a backend.
#[derive(Clone, Default)]
pub struct OfferIndex {
    last: Arc<Mutex<Option<Loaded>>>,
}

impl std::fmt::Debug for OfferIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OfferIndex")
    }
}

impl OfferIndex {
    /// The versions of `name` in the offers read from `files` (configuration and metadata,
    /// every file whose change may change the answer); `load` reads them again when a
    /// stamp differs from the last load's. `None` when `load` cannot read them.
    pub fn versions(
        &self,
        files: Vec<PathBuf>,
        load: impl FnOnce() -> Option<Offers>,
        name: &str,
    ) -> Option<Vec<String>> {
        // Stamped before reading: a file replaced meanwhile is read again next time.
        let stamps = stamps_of(&files);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = last
            .as_ref()
            .is_some_and(|l| l.files == files && l.stamps == stamps);
        if !fresh {
            *last = None;
            let offers = load()?;
            *last = Some(Loaded {
                files,
                stamps,
                offers,
            });
        }
        let loaded = last.as_ref()?;
        Some(loaded.offers.get(name).cloned().unwrap_or_default())
    }
}

/// Adds `version` to `name`'s offers once.
pub fn offer(offers: &mut Offers, name: &str, version: String) {
    let list = offers.entry(name.to_string()).or_default();
    if !list.contains(&version) {
        list.push(version);
    }
}

/// Whether `offered` answers for `version` without the tool: the name is on offer and
/// so is the requested version, if any.
pub fn settles(offered: &[String], version: Option<&str>) -> bool {
    !offered.is_empty() && version.is_none_or(|v| offered.iter().any(|o| o == v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn temp_file(text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("lpa-offers-{}", uuid::Uuid::new_v4()));
        std::fs::write(&p, text).unwrap();
        p
    }

    fn read(p: &PathBuf) -> Option<Offers> {
        let text = std::fs::read_to_string(p).ok()?;
        let mut o = Offers::new();
        for line in text.lines() {
            let (n, v) = line.split_once(' ')?;
            offer(&mut o, n, v.to_string());
        }
        Some(o)
    }

    #[test]
    fn offers_are_kept_until_a_file_changes_and_read_again_after() {
        let file = temp_file("a 1\na 2\na 1\n");
        let index = OfferIndex::default();
        let loads = Cell::new(0);
        let ask = |name: &str| {
            index.versions(
                vec![file.clone()],
                || {
                    loads.set(loads.get() + 1);
                    read(&file)
                },
                name,
            )
        };
        assert_eq!(ask("a").unwrap(), ["1", "2"]);
        assert!(ask("b").unwrap().is_empty());
        assert_eq!(loads.get(), 1, "unchanged files are not read again");
        std::fs::write(&file, "a 1\nb 7-1\n").unwrap();
        assert_eq!(ask("b").unwrap(), ["7-1"]);
        assert_eq!(loads.get(), 2);
        std::fs::write(&file, "broken").unwrap();
        assert_eq!(ask("a"), None, "an unreadable source answers nothing");
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn another_file_list_is_another_source() {
        let (one, two) = (temp_file("a 1\n"), temp_file("a 2\n"));
        let index = OfferIndex::default();
        assert_eq!(
            index
                .versions(vec![one.clone()], || read(&one), "a")
                .unwrap(),
            ["1"]
        );
        assert_eq!(
            index
                .versions(vec![two.clone()], || read(&two), "a")
                .unwrap(),
            ["2"]
        );
        std::fs::remove_file(one).unwrap();
        std::fs::remove_file(two).unwrap();
    }

    #[test]
    fn only_an_offered_name_and_version_settle_the_check() {
        let offered = vec!["1.0-1".to_string(), "2.0-1".to_string()];
        assert!(settles(&offered, None));
        assert!(settles(&offered, Some("2.0-1")));
        assert!(!settles(&offered, Some("3.0-1")));
        assert!(!settles(&[], None));
    }
}
