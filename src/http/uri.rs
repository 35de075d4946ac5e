//! Request-target helpers: percent-decoding, path segments, query pairs.

/// Why a path or query could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriError(pub String);

/// Splits a raw path into percent-decoded segments; refuses bad escapes, NUL, non-UTF-8,
/// and `.`/`..` segments.
pub fn path_segments(raw: &str) -> Result<Vec<String>, UriError> {
    let _ = raw;
    todo!()
}

/// Parses a raw query into decoded `(key, value)` pairs (`+` is a space).
pub fn query_pairs(raw: &str) -> Result<Vec<(String, String)>, UriError> {
    let _ = raw;
    todo!()
}
