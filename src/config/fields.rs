//! Field readers shared by the config sections, for `#[serde(deserialize_with = "...")]`:
//! each turns one YAML value into a typed setting or says what is wrong in the words the
//! operator sees (`must be 1-65535, got 70000`); the loader adds the key.

use std::ffi::OsString;
use std::net::IpAddr;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use serde::de::{Deserialize, Deserializer, Error, Visitor};
use serde_yaml_ng::Value;

use super::de::RELATIVE_PATH;
use super::describe;

/// The raw YAML value of a field, for readers that inspect it themselves.
pub(super) fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    Value::deserialize(d)
}

/// A whole number within `LO..=HI`: `port: 70000` is `must be 1-65535, got 70000`.
pub(super) fn int<'de, const LO: u64, const HI: u64, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let value = raw(d)?;
    let Value::Number(n) = &value else {
        return Err(D::Error::custom(format!(
            "expected an integer, got {}",
            describe(&value)
        )));
    };
    if !(n.is_i64() || n.is_u64()) {
        return Err(D::Error::custom(format!("expected an integer, got {n}")));
    }
    n.as_u64()
        .filter(|v| (LO..=HI).contains(v))
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| D::Error::custom(format!("must be {LO}-{HI}, got {n}")))
}

/// Like [`int`], for a setting that is unset unless given.
pub(super) fn opt_int<'de, const LO: u64, const HI: u64, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    int::<LO, HI, D, T>(d).map(Some)
}

/// `true` or `false`; YAML 1.1's `yes`/`no` are strings here, and refused.
pub(super) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match raw(d)? {
        Value::Bool(b) => Ok(b),
        other => Err(D::Error::custom(format!(
            "expected a boolean (true or false), got {}",
            describe(&other)
        ))),
    }
}

/// A string, as written.
pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match raw(d)? {
        Value::String(text) => Ok(text),
        other => Err(D::Error::custom(format!(
            "expected a string, got {}",
            describe(&other)
        ))),
    }
}

/// A non-empty path; a relative one is taken relative to the config file's directory.
pub(super) fn path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    d.deserialize_newtype_struct(RELATIVE_PATH, PathVisitor)
}

/// Like [`path`], for a path that is unset unless given.
pub(super) fn opt_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    path(d).map(Some)
}

/// Like [`opt_path`], where `null` also means unset.
pub(super) fn nullable_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    Option::<Relative>::deserialize(d).map(|p| p.map(|Relative(p)| p))
}

/// A path read through [`path`], so that `Option` can wrap it.
struct Relative(PathBuf);

impl<'de> Deserialize<'de> for Relative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        path(d).map(Relative)
    }
}

/// Receives the path the config reader resolved (as bytes, since a directory name need not
/// be UTF-8), or a plain string from another deserializer.
struct PathVisitor;

impl<'de> Visitor<'de> for PathVisitor {
    type Value = PathBuf;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a path")
    }

    fn visit_byte_buf<E: Error>(self, bytes: Vec<u8>) -> Result<PathBuf, E> {
        Ok(PathBuf::from(OsString::from_vec(bytes)))
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<PathBuf, E> {
        if text.is_empty() {
            return Err(E::custom("must not be empty"));
        }
        Ok(PathBuf::from(text))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<PathBuf, D::Error> {
        let text = string(d)?;
        self.visit_str(&text)
    }
}

/// An IPv4 or IPv6 address.
pub(super) fn ip<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
    let text = string(d)?;
    text.parse()
        .map_err(|_| D::Error::custom(format!("not an IP address: {text:?}")))
}

/// Like [`ip`], for an address that is unset unless given.
pub(super) fn opt_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    ip(d).map(Some)
}

/// One of `names`, else `must be one of a, b; got "x"`.
pub(super) fn one_of(text: &str, names: &[&str]) -> Result<(), String> {
    if names.contains(&text) {
        Ok(())
    } else {
        Err(format!("must be one of {}; got {text:?}", names.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T>(f: fn(Value) -> Result<T, serde_yaml_ng::Error>, yaml: &str) -> Result<T, String> {
        let value: Value = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        f(value).map_err(|e| e.to_string())
    }

    #[test]
    fn integers_are_checked_for_type_and_range() {
        let port = |v| int::<1, 65535, _, u16>(v);
        assert_eq!(read(port, "8443"), Ok(8443));
        assert_eq!(read(port, "0").unwrap_err(), "must be 1-65535, got 0");
        assert_eq!(read(port, "-3").unwrap_err(), "must be 1-65535, got -3");
        assert_eq!(
            read(port, "1.5").unwrap_err(),
            "expected an integer, got 1.5"
        );
        assert_eq!(
            read(port, "'80'").unwrap_err(),
            "expected an integer, got a string"
        );
    }

    #[test]
    fn booleans_paths_and_addresses_say_what_they_expected() {
        assert_eq!(
            read(boolean, "yes").unwrap_err(),
            "expected a boolean (true or false), got a string"
        );
        assert_eq!(read(path, "/a/b"), Ok(PathBuf::from("/a/b")));
        assert_eq!(read(path, "''").unwrap_err(), "must not be empty");
        assert_eq!(read(ip, "x").unwrap_err(), "not an IP address: \"x\"");
        assert_eq!(one_of("b", &["a", "b"]), Ok(()));
        assert_eq!(
            one_of("c", &["a", "b"]).unwrap_err(),
            "must be one of a, b; got \"c\""
        );
    }
}
