//! Helpers shared by the fuzz targets: version-string generators, the total-order property
//! check, and an in-memory stream for the HTTP and WebSocket readers.

use std::cmp::Ordering;
use std::io::{self, Read, Write};
use std::time::Instant;

use linux_patch_api::http::request::Deadlines;

/// Cuts fuzz input into at most `max` pieces at 0xFF bytes (never valid UTF-8, so no
/// generated text contains it); the separator keeps a piece's boundaries stable under
/// mutation, which a length-prefix scheme would not.
pub fn pieces(data: &[u8], max: usize) -> Vec<&[u8]> {
    data.split(|&b| b == 0xFF).take(max).collect()
}

/// Text from fuzz bytes: odd first byte → the bytes as (lossy) UTF-8; otherwise each byte
/// picks a character of `alphabet`, so most inputs look like real versions.
pub fn text(bytes: &[u8], alphabet: &[u8]) -> String {
    match bytes.split_first() {
        Some((&mode, rest)) if mode % 2 == 1 => String::from_utf8_lossy(rest).into_owned(),
        Some((_, rest)) => rest
            .iter()
            .map(|&b| char::from(alphabet[usize::from(b) % alphabet.len()]))
            .collect(),
        None => String::new(),
    }
}

/// Characters that matter to the dpkg ordering.
pub const DEB_ALPHABET: &[u8] = b"0123456789012345.:-~+abcz.-:~";
/// Characters that matter to rpm and alpm (`~`, `^`, separators, letters, epoch colon).
pub const RPM_ALPHABET: &[u8] = b"0123456789012345.:-~^_+abrcz..--";
/// Characters that matter to apk (`_suffix`, `~hash`, `-rN`, one letter).
pub const APK_ALPHABET: &[u8] = b"0123456789.0123._-r~abcdfpltrhgsvnoe";

/// Checks that `cmp` is a total order on `versions`: reflexive, antisymmetric, transitive
/// on every triple, and that sorting by it neither panics nor leaves an inversion.
/// Panics (so libFuzzer reports a crash) naming the offending values.
pub fn check_total_order(versions: &[String], cmp: fn(&str, &str) -> Ordering) {
    for a in versions {
        assert_eq!(cmp(a, a), Ordering::Equal, "not reflexive: {a:?}");
        for b in versions {
            let ab = cmp(a, b);
            assert_eq!(ab, cmp(b, a).reverse(), "not antisymmetric: {a:?} {b:?}");
            for c in versions {
                let (bc, ac) = (cmp(b, c), cmp(a, c));
                if ab != Ordering::Greater && bc != Ordering::Greater {
                    assert_ne!(
                        ac,
                        Ordering::Greater,
                        "not transitive: {a:?} <= {b:?} <= {c:?}"
                    );
                }
                if ab == Ordering::Equal && bc == Ordering::Equal {
                    assert_eq!(ac, Ordering::Equal, "= not transitive: {a:?} {b:?} {c:?}");
                }
            }
        }
    }
    // Long lists reach the sort's consistency checks (they only run from ~20 elements).
    let mut sorted: Vec<String> = versions
        .iter()
        .cycle()
        .take(versions.len() * 8)
        .cloned()
        .collect();
    sorted.sort_by(|a, b| cmp(a, b));
    for w in sorted.windows(2) {
        assert_ne!(
            cmp(&w[0], &w[1]),
            Ordering::Greater,
            "sort left {:?} before {:?}",
            w[0],
            w[1]
        );
    }
}

/// The property target body for one version family.
pub fn version_target(data: &[u8], alphabet: &[u8], cmp: fn(&str, &str) -> Ordering) {
    let versions: Vec<String> = pieces(data, 6)
        .into_iter()
        .map(|p| text(p, alphabet))
        .collect();
    check_total_order(&versions, cmp);
}

/// A connection whose peer sent `input` and then closed; writes are kept.
pub struct Script {
    input: io::Cursor<Vec<u8>>,
    /// Everything written back.
    pub output: Vec<u8>,
}

impl Script {
    /// A stream that yields `input`, then end of file.
    pub fn new(input: Vec<u8>) -> Script {
        Script {
            input: io::Cursor::new(input),
            output: Vec::new(),
        }
    }
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Small reads exercise the readers' resumption across partial input.
        let n = buf.len().min(977);
        self.input.read(&mut buf[..n])
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Deadlines for Script {
    fn set_read_deadline(&mut self, _deadline: Instant) {}
    fn set_write_deadline(&mut self, _deadline: Instant) {}
}

/// Percent-encodes every byte outside `[A-Za-z0-9-._~]` (the query renderer for the
/// round-trip property: the agent itself only decodes).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
