//! JSON shapes in words, for the reasons a tolerant feed parser gives when it skips a
//! record ("secfixes is a list, not a map").

use serde_json::Value;

/// A JSON value's type in words (`null`, `a list`, `an object`, ...).
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_words() {
        let cases = [
            ("null", "null"),
            ("true", "a boolean"),
            ("1.5", "a number"),
            ("\"x\"", "a string"),
            ("[]", "a list"),
            ("{}", "an object"),
        ];
        for (json, words) in cases {
            let v: Value = serde_json::from_str(json).unwrap();
            assert_eq!(kind_of(&v), words, "{json}");
        }
    }
}
