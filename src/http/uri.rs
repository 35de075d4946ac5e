//! Request-target helpers: percent-decoding, path segments, query pairs.

use std::borrow::Cow;

/// Why a path or query could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriError(pub String);

impl std::fmt::Display for UriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UriError {}

/// The origin-form (`/path?query`) of an absolute-form request-target
/// (`https://host:12443/path?query`), which RFC 9112 3.2.2 requires a server to accept.
///
/// `None` when `target` is not an `http`/`https` absolute-form with a non-empty authority
/// free of userinfo (RFC 9110 4.2.4: treat `user@` as an error). The authority is not used:
/// the agent serves one origin whatever the name it is reached by.
pub fn origin_form(target: &str) -> Option<String> {
    let (scheme, rest) = target.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    })
}

/// Splits a raw path into percent-decoded segments; refuses bad escapes, NUL, non-UTF-8,
/// and `.`/`..` segments.
///
/// Empty segments (`//`, a trailing `/`) are dropped, so `/a//b/` and `/a/b` route alike.
/// An encoded `/` (`%2F`) and control characters are refused too: a decoded segment is
/// later used as a name (package, service, job id), where neither has a legitimate use.
pub fn path_segments(raw: &str) -> Result<Vec<Cow<'_, str>>, UriError> {
    let rest = raw
        .strip_prefix('/')
        .ok_or_else(|| UriError(format!("path must start with '/': {raw:?}")))?;
    let mut segments = Vec::new();
    for part in rest.split('/').filter(|p| !p.is_empty()) {
        let segment = decode_component(part, false)?;
        check_segment(&segment)?;
        segments.push(segment);
    }
    Ok(segments)
}

/// Parses a raw query into decoded `(key, value)` pairs (`+` is a space).
///
/// Empty pairs (`a=1&&b=2`) are skipped; a pair without `=` has an empty value.
pub fn query_pairs(raw: &str) -> Result<Vec<(String, String)>, UriError> {
    let mut pairs = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((
            decode_component(key, true)?.into_owned(),
            decode_component(value, true)?.into_owned(),
        ));
    }
    Ok(pairs)
}

/// Percent-decodes one component into UTF-8 text without control characters; borrowed
/// when there is nothing to decode (the common case: no allocation per request).
fn decode_component(raw: &str, plus_is_space: bool) -> Result<Cow<'_, str>, UriError> {
    let escaped = raw
        .bytes()
        .any(|b| b == b'%' || (plus_is_space && b == b'+'));
    let text = if escaped {
        Cow::Owned(unescape(raw, plus_is_space)?)
    } else {
        Cow::Borrowed(raw)
    };
    if text.chars().any(char::is_control) {
        return Err(UriError(format!("{raw:?} decodes to a control character")));
    }
    Ok(text)
}

/// Replaces `%XY` escapes (and `+` when `plus_is_space`); the result must be UTF-8.
fn unescape(raw: &str, plus_is_space: bool) -> Result<String, UriError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(decode_escape(bytes, i)?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| UriError(format!("{raw:?} does not decode to UTF-8")))
}

/// Decodes the `%XY` escape starting at `at`.
fn decode_escape(bytes: &[u8], at: usize) -> Result<u8, UriError> {
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
    match (hex(bytes.get(at + 1)), hex(bytes.get(at + 2))) {
        // Both digits are < 16, so the value fits a byte.
        (Some(hi), Some(lo)) => Ok((hi * 16 + lo) as u8),
        _ => {
            let end = (at + 3).min(bytes.len());
            let shown = String::from_utf8_lossy(&bytes[at..end]);
            Err(UriError(format!("bad percent escape {shown:?}")))
        }
    }
}

/// Refuses segments that would walk the hierarchy or hide a separator.
fn check_segment(segment: &str) -> Result<(), UriError> {
    if segment == "." || segment == ".." {
        return Err(UriError(format!("dot segment {segment:?} not allowed")));
    }
    if segment.contains('/') {
        return Err(UriError("encoded '/' in a path segment".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_becomes_origin_form() {
        let cases = [
            ("https://10.0.0.5:12443/api/v1/health", "/api/v1/health"),
            ("HTTP://host/a?b=c", "/a?b=c"),
            ("https://host", "/"),
            ("https://host?x=1", "/?x=1"),
            ("https://[::1]:12443/p", "/p"),
        ];
        for (target, origin) in cases {
            assert_eq!(origin_form(target).as_deref(), Some(origin), "{target}");
        }
        for target in [
            "ftp://host/a",
            "https:///a",
            "https://user@host/a",
            "host:12443",
            "*",
            "/a://b",
        ] {
            assert_eq!(origin_form(target), None, "{target}");
        }
    }

    #[test]
    fn splits_and_decodes_segments() {
        assert_eq!(
            path_segments("/api/v1/packages/lib%2Bfoo").unwrap(),
            vec!["api", "v1", "packages", "lib+foo"]
        );
        assert_eq!(path_segments("/a%20b").unwrap(), vec!["a b"]);
        assert_eq!(path_segments("/caf%C3%A9").unwrap(), vec!["café"]);
    }

    #[test]
    fn plus_in_path_stays_plus() {
        assert_eq!(path_segments("/g++").unwrap(), vec!["g++"]);
    }

    #[test]
    fn empty_segments_and_trailing_slash_are_ignored() {
        assert_eq!(path_segments("/a//b/").unwrap(), vec!["a", "b"]);
        assert_eq!(path_segments("/").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn path_must_be_absolute() {
        assert!(path_segments("api/v1").is_err());
        assert!(path_segments("").is_err());
        assert!(path_segments("*").is_err());
    }

    #[test]
    fn dot_segments_are_refused_plain_and_encoded() {
        for raw in [
            "/a/../b",
            "/a/./b",
            "/%2e%2e/etc",
            "/%2E%2e",
            "/.%2e",
            "/a/%2e",
        ] {
            assert!(path_segments(raw).is_err(), "{raw} accepted");
        }
        // Dots inside a name are fine.
        assert_eq!(path_segments("/libc6.1").unwrap(), vec!["libc6.1"]);
        assert_eq!(path_segments("/...").unwrap(), vec!["..."]);
    }

    #[test]
    fn bad_escapes_are_refused() {
        for raw in ["/%zz", "/%4", "/a%", "/%g0", "/%%41"] {
            assert!(path_segments(raw).is_err(), "{raw} accepted");
        }
    }

    #[test]
    fn nul_controls_non_utf8_and_encoded_slash_are_refused() {
        for raw in [
            "/a%00b", "/a%0Ab", "/%7f", "/%ff", "/%C3", "/a%2Fb", "/a%2fb",
        ] {
            assert!(path_segments(raw).is_err(), "{raw} accepted");
        }
    }

    #[test]
    fn plain_segments_are_borrowed_and_raw_controls_refused() {
        let segments = path_segments("/api/v1/health").unwrap();
        assert!(segments.iter().all(|s| matches!(s, Cow::Borrowed(_))));
        assert!(matches!(
            &path_segments("/a%20b").unwrap()[0],
            Cow::Owned(s) if s == "a b"
        ));
        for raw in ["/a\tb", "/a\u{7f}b", "/a\u{85}b"] {
            assert!(path_segments(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn query_pairs_decode_plus_and_escapes() {
        assert_eq!(
            query_pairs("status=upgradable&q=a+b%2Bc&flag").unwrap(),
            vec![
                ("status".to_string(), "upgradable".to_string()),
                ("q".to_string(), "a b+c".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn query_pairs_skip_empty_parts_and_keep_later_equals() {
        assert_eq!(
            query_pairs("&a=1&&b=x=y&").unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "x=y".into())]
        );
        assert_eq!(query_pairs("").unwrap(), Vec::new());
    }

    #[test]
    fn query_pairs_refuse_bad_input() {
        for raw in ["a=%zz", "a=%4", "a=%00", "%ff=1", "a=b%0d%0a"] {
            assert!(query_pairs(raw).is_err(), "{raw} accepted");
        }
    }
}
