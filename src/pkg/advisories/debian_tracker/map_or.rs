//! A serde seed that reads a map when the value is one and otherwise consumes the value and
//! says what it was, so a record of the wrong shape inside a streamed document costs only
//! itself (`"releases": []` where a map belongs).

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

/// What to do with a map's entries.
pub trait MapSeed<'de> {
    /// The result of reading the map.
    type Out;
    /// What the map should hold, for serde's messages.
    const EXPECTING: &'static str;
    /// Reads the entries.
    fn read_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error>;
}

/// `Ok(S::Out)` for a map, `Err(kind)` ("a list", "a string", "null", ...) for any other
/// value, which is consumed whole.
pub struct MapOr<S>(pub S);

impl<'de, S: MapSeed<'de>> DeserializeSeed<'de> for MapOr<S> {
    type Value = Result<S::Out, &'static str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: MapSeed<'de>> Visitor<'de> for MapOr<S> {
    type Value = Result<S::Out, &'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(S::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.read_map(map).map(Ok)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("a list"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("a string"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts a map's entries.
    struct Count;

    impl<'de> MapSeed<'de> for Count {
        type Out = usize;
        const EXPECTING: &'static str = "a map";

        fn read_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                n += 1;
            }
            Ok(n)
        }
    }

    fn read(json: &str) -> Result<usize, &'static str> {
        let mut de = serde_json::Deserializer::from_str(json);
        let out = MapOr(Count).deserialize(&mut de).unwrap();
        de.end().unwrap();
        out
    }

    #[test]
    fn maps_are_read_and_everything_else_named_and_consumed() {
        assert_eq!(read(r#"{"a": 1, "b": [2]}"#), Ok(2));
        assert_eq!(read(r#"[1, {"x": [2]}]"#), Err("a list"));
        assert_eq!(read(r#""x""#), Err("a string"));
        assert_eq!(read("true"), Err("a boolean"));
        assert_eq!(read("-1"), Err("a number"));
        assert_eq!(read("1"), Err("a number"));
        assert_eq!(read("1.5"), Err("a number"));
        assert_eq!(read("null"), Err("null"));
    }
}
