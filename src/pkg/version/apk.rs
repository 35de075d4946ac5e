//! apk (Alpine) version ordering: apk-tools' `apk_version_compare` and validation.

use std::cmp::Ordering;

use super::c_bytes;

/// apk ordering (apk-tools `apk_version_compare`): suffixes `_alpha`..`_p`, `-rN`.
///
/// Follows apk-tools 2.14/3.0: `digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}`;
/// a number with a leading zero compares as a string; comparison stops at the first token
/// that does not parse.
pub fn apk(a: &str, b: &str) -> Ordering {
    let mut ca = ApkCursor::new(c_bytes(a));
    let mut cb = ApkCursor::new(c_bytes(b));
    let (mut ta, mut tb) = (ca.first(), cb.first());
    while ta.kind == tb.kind && ta.kind < Tok::End {
        let r = ta.cmp_same_kind(&tb);
        if r != Ordering::Equal {
            return r;
        }
        ta = ca.next(ta.kind);
        tb = cb.next(tb.kind);
    }
    if ta.kind == tb.kind {
        return Ordering::Equal;
    }
    // One side continues: longer is newer unless what follows is a pre-release suffix.
    if ta.kind == Tok::Suffix && ta.suffix < SUFFIX_NONE {
        return Ordering::Less;
    }
    if tb.kind == Tok::Suffix && tb.suffix < SUFFIX_NONE {
        return Ordering::Greater;
    }
    tb.kind.cmp(&ta.kind)
}

/// Whether apk-tools accepts `v` as a version (`apk_version_validate`).
pub fn apk_is_valid(v: &str) -> bool {
    if v.as_bytes().contains(&0) {
        return false;
    }
    let mut c = ApkCursor::new(v.as_bytes());
    let mut t = c.first();
    while t.kind < Tok::End {
        t = c.next(t.kind);
    }
    t.kind == Tok::End
}

/// apk's token kinds, in the order the grammar allows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tok {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix ranks: pre-release ones below `SUFFIX_NONE`, post-release ones above.
const SUFFIXES: [&[u8]; 9] = [
    b"alpha", b"beta", b"pre", b"rc", b"cvs", b"svn", b"git", b"hg", b"p",
];
const SUFFIX_NONE: u8 = 5;

/// The rank of a suffix word (`alpha` = 1 ... `rc` = 4, `cvs` = 6 ... `p` = 10), 0 if unknown.
fn suffix_rank(word: &[u8]) -> u8 {
    match SUFFIXES.iter().position(|s| *s == word) {
        Some(i) if i < 4 => i as u8 + 1,
        Some(i) => i as u8 + 2,
        None => 0,
    }
}

/// One token: its kind, its text, and its numeric value where it has one.
struct ApkToken<'a> {
    kind: Tok,
    value: &'a [u8],
    number: u64,
    suffix: u8,
}

impl ApkToken<'_> {
    fn cmp_same_kind(&self, other: &ApkToken<'_>) -> Ordering {
        match self.kind {
            Tok::Digit
                if self.value.first() == Some(&b'0') || other.value.first() == Some(&b'0') =>
            {
                self.value.cmp(other.value)
            }
            Tok::Digit | Tok::InitialDigit | Tok::SuffixNo | Tok::RevisionNo => {
                self.number.cmp(&other.number)
            }
            Tok::Letter => self.value.first().cmp(&other.value.first()),
            Tok::Suffix => self.suffix.cmp(&other.suffix),
            _ => self.value.cmp(other.value),
        }
    }
}

/// Reads apk version tokens off a byte string.
struct ApkCursor<'a> {
    rest: &'a [u8],
}

impl<'a> ApkCursor<'a> {
    fn new(s: &'a [u8]) -> ApkCursor<'a> {
        ApkCursor { rest: s }
    }

    fn token(kind: Tok, value: &'a [u8]) -> ApkToken<'a> {
        ApkToken {
            kind,
            value,
            number: 0,
            suffix: 0,
        }
    }

    fn invalid() -> ApkToken<'a> {
        Self::token(Tok::Invalid, b"")
    }

    /// A digit run as a number (wrapping like apk's `uint64_t` arithmetic).
    fn digits(&mut self, kind: Tok) -> ApkToken<'a> {
        let n = self.rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Self::invalid();
        }
        let (value, rest) = self.rest.split_at(n);
        self.rest = rest;
        let number = value.iter().fold(0u64, |acc, d| {
            acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        });
        ApkToken {
            number,
            ..Self::token(kind, value)
        }
    }

    /// The longest prefix of bytes satisfying `f`, consumed.
    fn span(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let n = self.rest.iter().take_while(|&&c| f(c)).count();
        let (value, rest) = self.rest.split_at(n);
        self.rest = rest;
        value
    }

    fn first(&mut self) -> ApkToken<'a> {
        self.digits(Tok::InitialDigit)
    }

    /// The token after one of kind `prev`, or `Invalid` where the grammar forbids it.
    fn next(&mut self, prev: Tok) -> ApkToken<'a> {
        let Some(&c) = self.rest.first() else {
            return Self::token(Tok::End, b"");
        };
        match c {
            b'a'..=b'z' if prev <= Tok::Digit => {
                let (value, rest) = self.rest.split_at(1);
                self.rest = rest;
                Self::token(Tok::Letter, value)
            }
            b'.' if prev <= Tok::Digit => {
                self.rest = &self.rest[1..];
                self.digits(Tok::Digit)
            }
            b'0'..=b'9' => match prev {
                Tok::InitialDigit | Tok::Digit => self.digits(Tok::Digit),
                Tok::Suffix => self.digits(Tok::SuffixNo),
                _ => Self::invalid(),
            },
            b'_' if prev <= Tok::SuffixNo => {
                self.rest = &self.rest[1..];
                let word = self.span(|c| c.is_ascii_lowercase());
                match suffix_rank(word) {
                    0 => Self::invalid(),
                    suffix => ApkToken {
                        suffix,
                        ..Self::token(Tok::Suffix, word)
                    },
                }
            }
            b'~' if prev < Tok::CommitHash => {
                self.rest = &self.rest[1..];
                let hash = self.span(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
                if hash.is_empty() {
                    Self::invalid()
                } else {
                    Self::token(Tok::CommitHash, hash)
                }
            }
            b'-' if prev < Tok::RevisionNo && self.rest.starts_with(b"-r") => {
                self.rest = &self.rest[2..];
                self.digits(Tok::RevisionNo)
            }
            _ => Self::invalid(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    /// Orderings from apk-tools' own test table (test/version.data and test/unit/version.data).
    const APK_TABLE: &[(&str, char, &str)] = &[
        ("2.34", '>', "0.1.0_alpha"),
        ("23_foo", '>', "4_beta"),
        ("1.0", '<', "1.0bc"),
        ("0.1.0_alpha", '=', "0.1.0_alpha"),
        ("0.1.0_alpha", '<', "0.1.3_alpha"),
        ("0.1.0_alpha2", '>', "0.1.0_alpha"),
        ("0.1.0_alpha", '<', "2.2.39-r1"),
        ("1.0.4-r3", '<', "1.0.4-r4"),
        ("1.1", '>', "1.1_alpha1"),
        ("1.2", '<', "1.3_alpha"),
        ("1.3_alpha2", '<', "1.3_alpha3"),
        ("0.7.0", '<', "0.8_beta1"),
        ("3.10.18-r1", '>', "2.3.0b-r1"),
        ("2.3.0b-r1", '<', "2.3.0b-r2"),
        ("0.12.3", '>', "0.12"),
        ("0.12", '<', "0.13_beta1"),
        ("1.2.11", '<', "1.2.12.1"),
        ("3.1_p16", '<', "3.1_p17"),
        ("1.06-r6", '<', "006"),
        ("006", '>', "1.0.0"),
        ("1.2.2-r1", '>', "1.2.2"),
        ("2.59", '<', "20050718-r1"),
        ("3.9.8-r5", '>', "2.01.01_alpha10"),
        ("1.0", '>', "0.99.3.20040818"),
        ("1.39", '>', "1.00_beta2"),
        ("0.5.2.7", '<', "4.2.52_p2-r1"),
        ("4.2.52_p2-r1", '<', "4.2.52_p4-r2"),
        ("1.02.07", '<', "1.02.10-r1"),
        ("2.18.3-r10", '>', "1.05-r18"),
        ("3.0.20060720", '<', "20060720"),
        ("2.5.1-r8", '<', "2.5.1a-r1"),
        ("1.3.5-r10", '>', "1.3.5-r8"),
        ("2.0.0_rc3-r1", '>', "1.5"),
        ("3.0.0-r2", '<', "021109-r3"),
        ("0.9.16-r1", '<', "3.9_pre20060124"),
        ("1.1.7", '<', "6b-r7"),
        ("0.10.0", '<', "0.10.1_rc1"),
        ("1.1a", '<', "1.3a"),
        ("0.15.1b-r2", '>', "0.15.1b"),
        ("2.10.1", '>', "02.08.01b"),
        ("1.6d", '>', "1.2.07.8"),
        ("1.2.07.8", '<', "1.2.12.04"),
        ("0.59s-r11", '<', "0.65"),
        ("4.20", '>', "0.20070118"),
        ("0.20070118", '<', "0.20070207_rc1"),
        ("4.5_p1-r1", '>', "4.5_p1"),
        ("0.9.8c-r1", '<', "0.9.8d"),
        ("2.2.3-r2", '<', "013"),
        ("1.7", '<', "1.7b"),
        ("1.8.5", '<', "1.8.5_p2"),
        ("2.9.11_pre20051101-r3", '>', "2.9.11_pre20051101"),
        ("1.6.8_p12-r1", '>', "1.6.8_p9-r2"),
        ("0.9.28.1", '<', "087-r1"),
        ("20040406-r1", '>', "2.12r-r4"),
        ("2.12r-r4", '<', "2.12r-r5"),
        ("7.0.17", '<', "7.0.174"),
        ("1.3-r0", '<', "1.3.1-r0"),
        ("1.3_pre1-r1", '<', "1.3.2"),
        ("1.0_p10-r0", '>', "1.0_p9-r0"),
        ("0.1.0_alpha_pre2", '<', "0.1.0_alpha"),
        (
            "1.0.0_pre20191002222144-r0",
            '<',
            "1.0.0_pre20210530193627-r0",
        ),
        ("6.0_pre1", '<', "6.0"),
        ("6.0_p1", '>', "6.0"),
        ("8.2.0", '<', "8.2.001"),
        ("8.2.0015", '<', "8.2.002"),
        ("1.0~1234", '<', "1.0~2345"),
        ("1.0~1234-r1", '<', "1.0~2345-r0"),
        ("1.0~1234-r1", '>', "1.0~1234-r0"),
    ];

    #[test]
    fn apk_matches_apk_tools_table() {
        for (a, op, b) in APK_TABLE {
            let want = match op {
                '<' => Less,
                '>' => Greater,
                _ => Equal,
            };
            assert_eq!(apk(a, b), want, "{a} {op} {b}");
            assert_eq!(apk(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn apk_validity_matches_apk_tools_table() {
        for v in [
            "1.2",
            "0.1_pre2",
            "0.1_pre2~1234abcd",
            "0.1_p1_pre2",
            "0.1_alpha1_pre2",
            "0.1_git20240101_pre1",
            "2.38_p1-r0",
            "1.2.3-r4",
        ] {
            assert!(apk_is_valid(v), "{v} should be valid");
        }
        for v in [
            "",
            "0.1bc",
            "0.1bc1",
            "0.1a1",
            "0.1a.1",
            "0.1_pre2~",
            "0.1_pre2~1234xbcd",
            "0.1_pre2~1234abcd_pre1",
            "0.1_pre2-r1~1234xbcd",
            "0.1_foobar",
            "0.1_foobar1",
            "0.1-pre1.1",
            "0.1-r",
            "0.1-r2_pre1",
            "0.1-r2_p3_pre1",
            "0.1-r2-r3",
            "0.1-r2.1",
            ".1",
            "a",
            "_pre1",
            "-r1",
            "0.1_",
            "0.1_-r0",
            "0.1__alpha",
            "0.1_1_alpha",
            "1.0\0",
        ] {
            assert!(!apk_is_valid(v), "{v:?} should be invalid");
        }
    }

    /// Orderings apk-tools itself acted on in the recorded scenario (tests/data/version/).
    #[test]
    fn apk_matches_recorded_apk_decisions() {
        let text = include_str!("../../../tests/data/version/apk-recorded-order.txt");
        let mut checked = 0;
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            // "(1/2) Upgrading lpa-lib (1.0-r0 -> 2.0-r0)" and "... Downgrading ..."
            if let Some(pos) = words.iter().position(|w| *w == "->") {
                let from = words[pos - 1].trim_start_matches('(');
                let to = words[pos + 1].trim_end_matches(')');
                let want = if line.contains("Upgrading") {
                    Less
                } else {
                    Greater
                };
                assert_eq!(apk(from, to), want, "{line}");
                checked += 1;
            }
            // "lpa-hello-1.0-r0   < 2.0-r0" from `apk version -l '<'`
            if words.len() == 3 && words[1] == "<" {
                let mut parts = words[0].rsplitn(3, '-');
                let (rel, ver) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let installed = format!("{ver}-{rel}");
                assert_eq!(apk(&installed, words[2]), Less, "{line}");
                checked += 1;
            }
        }
        assert!(checked >= 4, "only {checked} recorded decisions found");
    }
}
