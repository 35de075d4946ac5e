//! The YAML-to-struct reader behind [`super::Config::from_yaml_str`]: a serde `Deserializer`
//! over a parsed YAML value that knows the dotted key of every value it hands out.
//!
//! serde stops at the first error, but the operator should see every problem in the file at
//! once. So [`read_all`] deserializes, notes the key where the first error arose, leaves that
//! key out and deserializes again, until the rest reads cleanly; a key left out takes its
//! default, exactly as an absent one. Unknown keys are not errors that stop a pass: the
//! reader knows each struct's field names and notes every other key as it skips it.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_yaml_ng::{Error, Value};

use super::{describe, join, ConfigError};

/// serde newtype name that asks the reader for a path resolved against the config file's
/// directory (see [`super::fields::path`]); the reader hands such a path over as bytes.
pub(super) const RELATIVE_PATH: &str = "$linux_patch_api::config::relative_path";

/// What one run of the reader learned, beyond the value itself.
#[derive(Default)]
pub(super) struct Findings {
    /// Errors from the file's shape and values, keyed.
    pub errors: Vec<ConfigError>,
    /// Field names of each struct read, by dotted key: the order errors are reported in.
    pub fields: HashMap<String, &'static [&'static str]>,
    /// For each list read, the positions in the file of the items kept (items with an error
    /// are left out, so a later item's index in the Vec may differ from its index in the file).
    pub items: HashMap<String, Vec<usize>>,
    /// Every key present in the file, dotted.
    pub present: HashSet<String>,
}

/// State shared by every [`Node`] of one pass.
struct Pass<'a> {
    /// Directory relative paths are resolved against.
    base: &'a Path,
    /// Keys (and list items) left out because an earlier pass failed there.
    skip: &'a HashSet<String>,
    /// Where this pass's error arose: the innermost key, and serde's message.
    failed: RefCell<Option<(String, String)>>,
    /// Unknown and non-string keys met in this pass; these do not stop it.
    notes: RefCell<Vec<ConfigError>>,
    /// Struct field lists by key.
    fields: RefCell<HashMap<String, &'static [&'static str]>>,
    /// Kept item positions by list key.
    items: RefCell<HashMap<String, Vec<usize>>>,
    /// Keys present.
    present: RefCell<HashSet<String>>,
}

impl Pass<'_> {
    /// Records where an error arose; the innermost key (the first one recorded) wins.
    fn fail(&self, key: &str, error: &Error) {
        let mut failed = self.failed.borrow_mut();
        if failed.is_none() {
            *failed = Some((key.to_string(), error.to_string()));
        }
    }

    /// Records a problem that does not stop the pass.
    fn note(&self, key: &str, message: String) {
        self.notes.borrow_mut().push(ConfigError::at(key, message));
    }
}

/// Most passes over one file: a file with more problems than this is told to fix these
/// first, so that a huge broken file cannot cost quadratic time.
const MAX_PASSES: usize = 1000;

/// Reads `root` into `T`, retrying without each failing key, and returns the value (bad keys
/// at their defaults) with every problem found. A problem at the root itself (no key to
/// leave out) ends the reading with `T::default()`.
pub(super) fn read_all<T: DeserializeOwned + Default>(root: &Value, base: &Path) -> (T, Findings) {
    let mut skip: HashSet<String> = HashSet::new();
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut notes: Vec<ConfigError> = Vec::new();
    loop {
        let pass = Pass {
            base,
            skip: &skip,
            failed: RefCell::new(None),
            notes: RefCell::new(Vec::new()),
            fields: RefCell::new(HashMap::new()),
            items: RefCell::new(HashMap::new()),
            present: RefCell::new(HashSet::new()),
        };
        let result = T::deserialize(Node {
            value: root,
            key: String::new(),
            pass: &pass,
        });
        // A key left out in a later pass is not visited again: keep what earlier passes noted.
        for note in pass.notes.borrow_mut().drain(..) {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        let failed = pass.failed.borrow_mut().take();
        let value = match (result, failed) {
            (Ok(value), _) => value,
            // Each pass leaves out one more key, so this ends after at most one pass per key.
            (Err(_), Some((key, message)))
                if !key.is_empty() && !skip.contains(&key) && skip.len() < MAX_PASSES =>
            {
                let error = keyed(&key, &message);
                // A required field left out for its bad value is already reported.
                if !errors.iter().any(|e| e.key == error.key) {
                    errors.push(error);
                }
                skip.insert(key);
                continue;
            }
            (Err(_), Some(_)) if skip.len() >= MAX_PASSES => {
                let message = format!("more than {MAX_PASSES} problems; fix these first");
                errors.push(ConfigError::file(message));
                T::default()
            }
            (Err(e), failed) => {
                let message = failed.map_or_else(|| e.to_string(), |(_, m)| m);
                errors.push(ConfigError::file(message));
                T::default()
            }
        };
        errors.extend(notes);
        let findings = Findings {
            errors,
            fields: pass.fields.into_inner(),
            items: pass.items.into_inner(),
            present: pass.present.into_inner(),
        };
        return (value, findings);
    }
}

/// serde's message for an error at `key`, in the operator's words: a missing required field
/// is named as its own key.
fn keyed(key: &str, message: &str) -> ConfigError {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match missing {
        Some(field) => ConfigError::at(&join(key, field), "required"),
        None => ConfigError::at(key, message),
    }
}

/// One YAML value and its dotted key, as a serde `Deserializer`.
struct Node<'a> {
    /// The value.
    value: &'a Value,
    /// Its dotted key, empty at the root.
    key: String,
    /// The pass it belongs to.
    pass: &'a Pass<'a>,
}

impl<'a> Node<'a> {
    /// An error raised here, recorded with this node's key.
    fn error(&self, message: String) -> Error {
        let error = <Error as de::Error>::custom(message);
        self.pass.fail(&self.key, &error);
        error
    }
}

impl<'de> de::Deserializer<'de> for Node<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self.value, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name != RELATIVE_PATH {
            return visitor.visit_newtype_struct(self);
        }
        match self.value {
            Value::String(text) if text.is_empty() => Err(self.error("must not be empty".into())),
            Value::String(text) => {
                let path = self.pass.base.join(text);
                visitor.visit_byte_buf(path.as_os_str().as_bytes().to_vec())
            }
            other => Err(self.error(format!("expected a string, got {}", describe(other)))),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_seq(Items::new(&[], &self.key, self.pass)),
            Value::Sequence(items) => visitor.visit_seq(Items::new(items, &self.key, self.pass)),
            other => Err(self.error(format!("expected a list, got {}", describe(other)))),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.pass
            .fields
            .borrow_mut()
            .insert(self.key.clone(), fields);
        let map = match self.value {
            Value::Null => None,
            Value::Mapping(map) => Some(map),
            other => return Err(self.error(format!("expected a mapping, got {}", describe(other)))),
        };
        let entries = map.into_iter().flat_map(|m| m.iter());
        visitor.visit_map(Entries {
            entries: Box::new(entries),
            fields,
            key: self.key,
            pass: self.pass,
            pending: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct tuple tuple_struct map enum identifier ignored_any
    }
}

/// The known, kept entries of one mapping read as a struct.
struct Entries<'a> {
    /// Every entry of the mapping, in file order.
    entries: Box<dyn Iterator<Item = (&'a Value, &'a Value)> + 'a>,
    /// The struct's field names; any other key is noted as unknown and skipped.
    fields: &'static [&'static str],
    /// Dotted key of the mapping.
    key: String,
    /// The pass.
    pass: &'a Pass<'a>,
    /// The value of the key just handed out, with its dotted key.
    pending: Option<(String, &'a Value)>,
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for (name, value) in self.entries.by_ref() {
            let Value::String(name) = name else {
                let message = format!("keys must be strings, got {}", describe(name));
                self.pass.note(&self.key, message);
                continue;
            };
            let key = join(&self.key, name);
            self.pass.present.borrow_mut().insert(key.clone());
            if !self.fields.contains(&name.as_str()) {
                self.pass.note(&key, "unknown key".into());
                continue;
            }
            if self.pass.skip.contains(&key) {
                continue;
            }
            self.pending = Some((key, value));
            return seed
                .deserialize(name.as_str().into_deserializer())
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let Some((key, value)) = self.pending.take() else {
            return Err(<Error as de::Error>::custom("a value without its key"));
        };
        let pass = self.pass;
        seed.deserialize(Node {
            value,
            key: key.clone(),
            pass,
        })
        .inspect_err(|e| pass.fail(&key, e))
    }
}

/// The kept items of one list.
struct Items<'a> {
    /// Every item with its position in the file.
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    /// Dotted key of the list.
    key: String,
    /// The pass.
    pass: &'a Pass<'a>,
}

impl<'a> Items<'a> {
    /// The items of `items`, the list at `key`.
    fn new(items: &'a [Value], key: &str, pass: &'a Pass<'a>) -> Items<'a> {
        pass.items.borrow_mut().insert(key.to_string(), Vec::new());
        Items {
            items: items.iter().enumerate(),
            key: key.to_string(),
            pass,
        }
    }
}

impl<'de> de::SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        for (i, value) in self.items.by_ref() {
            let key = format!("{}[{i}]", self.key);
            if self.pass.skip.contains(&key) {
                continue;
            }
            if let Some(kept) = self.pass.items.borrow_mut().get_mut(&self.key) {
                kept.push(i);
            }
            let pass = self.pass;
            let node = Node {
                value,
                key: key.clone(),
                pass,
            };
            return seed
                .deserialize(node)
                .inspect_err(|e| pass.fail(&key, e))
                .map(Some);
        }
        Ok(None)
    }
}

/// Sort rank of a dotted key: per segment, the field's position in its struct (unknown keys
/// first, as -1) or the item's position in its list; so errors read in the order the
/// settings are declared, whatever the order of the file.
pub(super) fn rank(key: &str, fields: &HashMap<String, &'static [&'static str]>) -> Vec<i64> {
    let mut out = Vec::new();
    let mut prefix = String::new();
    for segment in segments(key) {
        match segment {
            Segment::Name(name) => {
                let position = fields
                    .get(&prefix)
                    .and_then(|f| f.iter().position(|n| *n == name));
                out.push(position.map_or(-1, |p| p as i64));
                prefix = join(&prefix, name);
            }
            Segment::Index(text, i) => {
                out.push(i as i64);
                prefix.push_str(text);
            }
        }
    }
    out
}

/// One part of a dotted key.
enum Segment<'k> {
    /// A field name.
    Name(&'k str),
    /// A list index, with its `[i]` text.
    Index(&'k str, usize),
}

/// Splits `a.b[2].c` into `a`, `b`, `[2]`, `c`.
fn segments(key: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Segment::Name(name));
        }
        while let Some(end) = rest.find(']') {
            let (index, tail) = rest.split_at(end + 1);
            // Unknown keys are the operator's text and may hold any brackets.
            let number = index
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            out.push(Segment::Index(index, number));
            rest = tail;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_rank_by_declared_field_then_item_position() {
        let mut fields: HashMap<String, &'static [&'static str]> = HashMap::new();
        fields.insert(String::new(), &["a", "b"]);
        fields.insert("b".into(), &["x", "list"]);
        fields.insert("b.list[3]".into(), &["name", "format"]);
        assert_eq!(rank("b.list[3].format", &fields), vec![1, 1, 3, 1]);
        assert_eq!(rank("b.list[3].colour", &fields), vec![1, 1, 3, -1]);
        assert_eq!(rank("a", &fields), vec![0]);
        assert_eq!(rank("zz", &fields), vec![-1]);
        assert!(rank("b.x", &fields) < rank("b.list[0]", &fields));
        for odd in ["a[1]]", "é]", "x[é]", "[", "]]", "a..b", ""] {
            rank(odd, &fields);
        }
    }

    #[test]
    fn a_bad_key_takes_its_default_and_the_rest_is_still_read() {
        let root: Value = serde_yaml_ng::from_str(
            "server: {port: 0, workers: 8, colour: red}\njobs: {max_queued: x}\n",
        )
        .unwrap();
        let (c, found) = read_all::<crate::config::Config>(&root, Path::new("/"));
        assert_eq!((c.server.port, c.server.workers), (12443, 8));
        let keys: Vec<&str> = found.errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["server.port", "jobs.max_queued", "server.colour"]);
        assert!(found.present.contains("server.workers"));
    }

    #[test]
    fn a_file_with_very_many_problems_is_cut_short() {
        let items = "- {subject: ''}\n".repeat(MAX_PASSES + 5);
        let text = format!(
            "tls:\n  allowed_clients:\n{}",
            items.replace("- ", "    - ")
        );
        let root: Value = serde_yaml_ng::from_str(&text).unwrap();
        let (_, found) = read_all::<crate::config::Config>(&root, Path::new("/"));
        assert_eq!(found.errors.len(), MAX_PASSES + 1);
        let last = found
            .errors
            .last()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            last,
            format!("more than {MAX_PASSES} problems; fix these first")
        );
    }

    #[test]
    fn a_missing_field_is_named_as_its_own_key() {
        let e = keyed("advisories.feeds[3]", "missing field `name`");
        assert_eq!(e.to_string(), "advisories.feeds[3].name: required");
        let e = keyed("server.port", "must be 1-65535, got 0");
        assert_eq!(e.to_string(), "server.port: must be 1-65535, got 0");
    }
}
