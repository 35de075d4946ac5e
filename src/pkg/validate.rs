//! Package names and versions checked against each ecosystem's grammar before any process
//! starts, so that nothing a client sends can become an option or a path.
//!
//! Two layers: rules common to every ecosystem (length, no control characters, white space,
//! `/`, shell metacharacters, leading `-` or `.`, `..`), then the ecosystem's own character
//! set and shape. The common layer gives the clearer message for hostile input; the
//! ecosystem layer is the real whitelist.

use super::{version, BackendKind, PkgError};

/// Longest accepted name or version, in bytes.
pub const MAX_LEN: usize = 255;

/// Characters a shell, a glob or a package tool's own syntax (`name=version`) would treat
/// specially; refused everywhere with a message naming them.
const METACHARACTERS: &[char] = &[
    ';', '&', '|', '$', '`', '\'', '"', '\\', '<', '>', '(', ')', '{', '}', '[', ']', '*', '?',
    '!', '#', '=', '%', ',',
];

/// Checks a package name for `kind`; the error names the field `name`.
pub fn name(kind: BackendKind, name: &str) -> Result<(), PkgError> {
    common(name)
        .and_then(|()| match kind {
            BackendKind::Apt => deb_name(name),
            BackendKind::Dnf | BackendKind::Yum | BackendKind::Zypper => rpm_name(name),
            BackendKind::Pacman => pacman_name(name),
            BackendKind::Apk => apk_name(name),
        })
        .map_err(|message| invalid("name", name, message))
}

/// Checks a version string for `kind`; the error names the field `version`.
pub fn version(kind: BackendKind, version: &str) -> Result<(), PkgError> {
    common(version)
        .and_then(|()| match kind {
            BackendKind::Apt => deb_version(version),
            BackendKind::Dnf | BackendKind::Yum | BackendKind::Zypper => rpm_version(version),
            BackendKind::Pacman => pacman_version(version),
            BackendKind::Apk => apk_version(version),
        })
        .map_err(|message| invalid("version", version, message))
}

fn invalid(field: &str, value: &str, message: String) -> PkgError {
    // The value is echoed (escaped, shortened) so the client sees what was refused.
    let shown: String = value
        .chars()
        .take(40)
        .flat_map(char::escape_debug)
        .collect();
    let more = if value.chars().count() > 40 {
        "..."
    } else {
        ""
    };
    PkgError::Invalid {
        field: field.to_string(),
        message: format!("{message} (got \"{shown}{more}\")"),
    }
}

/// The rules every ecosystem shares.
fn common(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_LEN {
        return Err(format!(
            "is {} bytes long; at most {MAX_LEN} are allowed",
            s.len()
        ));
    }
    if s.starts_with('-') {
        return Err("must not start with '-' (it would be read as an option)".into());
    }
    if s.starts_with('.') {
        return Err("must not start with '.'".into());
    }
    for (i, c) in s.char_indices() {
        if c.is_control() {
            return Err(format!(
                "contains a control character (U+{:04X}) at byte {i}",
                u32::from(c)
            ));
        }
        if c.is_whitespace() {
            return Err(format!("contains white space at byte {i}"));
        }
        if c == '/' {
            return Err(format!("contains '/' at byte {i}; paths are not accepted"));
        }
        if METACHARACTERS.contains(&c) {
            return Err(format!(
                "contains the shell metacharacter '{c}' at byte {i}"
            ));
        }
        if !c.is_ascii() {
            return Err(format!(
                "contains the non-ASCII character '{c}' at byte {i}"
            ));
        }
    }
    if s.contains("..") {
        return Err("must not contain '..'".into());
    }
    Ok(())
}

/// Checks every character of `s` against `allowed`, naming the first one that is not.
fn charset(s: &str, what: &str, allowed: fn(u8) -> bool, listing: &str) -> Result<(), String> {
    match s.bytes().position(|c| !allowed(c)) {
        Some(i) => Err(format!(
            "character '{}' at byte {i} is not allowed in {what} (allowed: {listing})",
            char::from(s.as_bytes()[i])
        )),
        None => Ok(()),
    }
}

fn digits_only(s: &str, what: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("{what} must be digits only"));
    }
    Ok(())
}

/// Splits `[epoch:]rest`, checking the epoch is digits.
fn split_epoch<'a>(s: &'a str, ecosystem: &str) -> Result<&'a str, String> {
    match s.split_once(':') {
        Some((epoch, rest)) => {
            digits_only(epoch, &format!("the {ecosystem} epoch (before ':')"))?;
            if rest.is_empty() {
                return Err("nothing follows the epoch's ':'".into());
            }
            Ok(rest)
        }
        None => Ok(s),
    }
}

// ----- Debian ----------------------------------------------------------------------------

fn deb_name(s: &str) -> Result<(), String> {
    if s.len() < 2 {
        return Err("a Debian package name has at least 2 characters".into());
    }
    if !s.as_bytes()[0].is_ascii_lowercase() && !s.as_bytes()[0].is_ascii_digit() {
        return Err("a Debian package name starts with a-z or 0-9".into());
    }
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+.-".contains(&c);
    charset(s, "a Debian package name", ok, "a-z 0-9 + . -")
}

/// `[epoch:]upstream[-revision]` as Debian policy 5.6.12 describes it.
fn deb_version(s: &str) -> Result<(), String> {
    let has_epoch = s.contains(':');
    let rest = split_epoch(s, "Debian")?;
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    if upstream.is_empty() {
        return Err("the upstream version is empty".into());
    }
    if !upstream.as_bytes()[0].is_ascii_digit() {
        return Err("the upstream version must start with a digit".into());
    }
    let up_ok = |c: u8| c.is_ascii_alphanumeric() || b".+~-:".contains(&c);
    charset(
        upstream,
        "a Debian upstream version",
        up_ok,
        "A-Z a-z 0-9 . + ~ - :",
    )?;
    if !has_epoch && upstream.contains(':') {
        return Err("':' is only allowed after an epoch".into());
    }
    if let Some(r) = revision {
        if r.is_empty() {
            return Err("the Debian revision (after the last '-') is empty".into());
        }
        let rev_ok = |c: u8| c.is_ascii_alphanumeric() || b"+.~".contains(&c);
        charset(r, "a Debian revision", rev_ok, "A-Z a-z 0-9 + . ~")?;
    }
    Ok(())
}

// ----- rpm (dnf, yum, zypper) -----------------------------------------------------------

fn rpm_name(s: &str) -> Result<(), String> {
    let ok = |c: u8| c.is_ascii_alphanumeric() || b"._+-".contains(&c);
    charset(s, "an rpm package name", ok, "A-Z a-z 0-9 . _ + -")
}

fn rpm_segment_ok(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"._+~^".contains(&c)
}

/// `[epoch:]version[-release]`; neither version nor release may hold a `-`.
fn rpm_version(s: &str) -> Result<(), String> {
    let rest = split_epoch(s, "rpm")?;
    let (ver, rel) = match rest.split_once('-') {
        Some((v, r)) => (v, Some(r)),
        None => (rest, None),
    };
    if ver.is_empty() {
        return Err("the rpm version (before '-') is empty".into());
    }
    charset(
        ver,
        "an rpm version",
        rpm_segment_ok,
        "A-Z a-z 0-9 . _ + ~ ^",
    )?;
    if let Some(r) = rel {
        if r.is_empty() {
            return Err("the rpm release (after '-') is empty".into());
        }
        if r.contains('-') {
            return Err("an rpm version has at most one '-' (version-release)".into());
        }
        charset(r, "an rpm release", rpm_segment_ok, "A-Z a-z 0-9 . _ + ~ ^")?;
    }
    Ok(())
}

// ----- pacman ----------------------------------------------------------------------------

fn pacman_name(s: &str) -> Result<(), String> {
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"@._+-".contains(&c);
    charset(s, "a pacman package name", ok, "a-z 0-9 @ . _ + -")
}

/// `[epoch:]pkgver[-pkgrel]`; pkgrel is `N` or `N.M` as makepkg requires.
fn pacman_version(s: &str) -> Result<(), String> {
    let rest = split_epoch(s, "pacman")?;
    let (ver, rel) = match rest.split_once('-') {
        Some((v, r)) => (v, Some(r)),
        None => (rest, None),
    };
    if ver.is_empty() {
        return Err("the pkgver (before '-') is empty".into());
    }
    let ok = |c: u8| c.is_ascii_alphanumeric() || b"._+~^".contains(&c);
    charset(ver, "a pacman pkgver", ok, "A-Z a-z 0-9 . _ + ~ ^")?;
    if let Some(r) = rel {
        let (major, minor) = match r.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (r, None),
        };
        digits_only(major, "the pkgrel (after '-')")
            .and_then(|()| minor.map_or(Ok(()), |m| digits_only(m, "the pkgrel's part after '.'")))
            .map_err(|e| format!("{e}; a pkgrel looks like 1 or 1.1"))?;
    }
    Ok(())
}

// ----- apk -------------------------------------------------------------------------------

fn apk_name(s: &str) -> Result<(), String> {
    let ok = |c: u8| c.is_ascii_alphanumeric() || b"._+-".contains(&c);
    charset(s, "an apk package name", ok, "A-Z a-z 0-9 . _ + -")
}

/// apk-tools' own grammar: `digits{.digits}[letter]{_suffix[N]}[~hash][-rN]`.
fn apk_version(s: &str) -> Result<(), String> {
    if version::apk_is_valid(s) {
        Ok(())
    } else {
        Err(
            "not an apk version (digits{.digits}[letter]{_alpha|_beta|_pre|_rc|_cvs|_svn|_git|_hg|_p[N]}[~hash][-rN])"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "-oAPT::Foo=1",
        "$(reboot)",
        "a;b",
        "a b",
        "../x",
        "a\0b",
        "-x",
    ];

    fn field_of(e: PkgError) -> (String, String) {
        match e {
            PkgError::Invalid { field, message } => (field, message),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn hostile_input_is_refused_for_every_backend_and_field() {
        let long = "a".repeat(300);
        let mut inputs: Vec<&str> = HOSTILE.to_vec();
        inputs.push(&long);
        for kind in BackendKind::ALL {
            for s in &inputs {
                let (f, m) = field_of(name(kind, s).expect_err(s));
                assert_eq!(f, "name", "{kind:?} {s:?}");
                assert!(!m.is_empty());
                let (f, _) = field_of(version(kind, s).expect_err(s));
                assert_eq!(f, "version", "{kind:?} {s:?}");
            }
        }
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let msg = |s: &str| field_of(name(BackendKind::Apt, s).expect_err(s)).1;
        assert!(
            msg(&"a".repeat(300)).contains("300 bytes"),
            "{}",
            msg(&"a".repeat(300))
        );
        assert!(msg("-oAPT::Foo=1").contains("start with '-'"));
        assert!(msg("$(reboot)").contains("metacharacter '$'"));
        assert!(msg("a;b").contains("';'"));
        assert!(msg("a b").contains("white space"));
        assert!(msg("../x").contains("'/'") || msg("../x").contains("'.'"));
        assert!(msg("a\0b").contains("control character"));
        assert!(msg("").contains("empty"));
        assert!(msg("fOo").contains("'O'"), "{}", msg("fOo"));
        assert!(
            msg("a\0b").contains("a\\0b"),
            "the refused value is shown escaped"
        );
    }

    #[test]
    fn length_limit_is_inclusive() {
        let ok = "a".repeat(MAX_LEN);
        let too_long = "a".repeat(MAX_LEN + 1);
        for kind in BackendKind::ALL {
            assert!(name(kind, &ok).is_ok(), "{kind:?}");
            assert!(name(kind, &too_long).is_err(), "{kind:?}");
        }
    }

    #[test]
    fn real_names_are_accepted() {
        use BackendKind::*;
        let cases: &[(BackendKind, &[&str])] = &[
            (
                Apt,
                &["libc6", "libstdc++6", "g++", "python3.11", "0ad", "xorg"],
            ),
            (
                Dnf,
                &[
                    "NetworkManager",
                    "xorg-x11-server-Xorg",
                    "libstdc++",
                    "g++",
                    "python3.11",
                ],
            ),
            (Yum, &["NetworkManager", "glibc"]),
            (Zypper, &["xorg-x11-server-Xorg", "libstdc++6", "python311"]),
            (
                Pacman,
                &[
                    "lib32-glibc",
                    "libstdc++5",
                    "g++",
                    "python3.11",
                    "xorg-server",
                    "foo@bar",
                ],
            ),
            (
                Apk,
                &["libstdc++", "g++", "py3-requests", "musl", "NetworkManager"],
            ),
        ];
        for (kind, names) in cases {
            for n in *names {
                assert!(name(*kind, n).is_ok(), "{kind:?} {n}: {:?}", name(*kind, n));
            }
        }
    }

    #[test]
    fn ecosystem_specific_names_are_refused() {
        use BackendKind::*;
        assert!(
            name(Apt, "NetworkManager").is_err(),
            "Debian names are lower case"
        );
        assert!(name(Apt, "a").is_err(), "Debian names have 2+ characters");
        assert!(name(Apt, "foo_bar").is_err());
        assert!(name(Apt, "+foo").is_err());
        assert!(name(Pacman, "NetworkManager").is_err());
        assert!(name(Dnf, "foo@bar").is_err());
        assert!(name(Apk, "foo:bar").is_err());
        assert!(name(Zypper, "foo~bar").is_err());
    }

    #[test]
    fn real_versions_are_accepted() {
        use BackendKind::*;
        let cases: &[(BackendKind, &[&str])] = &[
            (
                Apt,
                &[
                    "1:2.36-9+deb12u4",
                    "2.0.0~rc1-1",
                    "1.2.3-r4",
                    "1.0",
                    "2:1.2-3-4",
                    "1:2:3-1",
                ],
            ),
            (
                Dnf,
                &["2.0.0~rc1-1", "1.0^git1", "1:2.36-9.el9", "1.2.3-r4", "1.0"],
            ),
            (Yum, &["0:1.0-1.el7_9"]),
            (Zypper, &["2.37-150400.8.17.1"]),
            (
                Pacman,
                &[
                    "1:2.36-9",
                    "1.0.0-1",
                    "2.0.0~rc1-1.1",
                    "20240101",
                    "r1234.abcdef-1",
                ],
            ),
            (
                Apk,
                &[
                    "1.2.3-r4",
                    "2.38_p1-r0",
                    "1.0",
                    "0.1_pre2~1234abcd",
                    "6b-r7",
                ],
            ),
        ];
        for (kind, versions) in cases {
            for v in *versions {
                assert!(
                    version(*kind, v).is_ok(),
                    "{kind:?} {v}: {:?}",
                    version(*kind, v)
                );
            }
        }
    }

    #[test]
    fn malformed_versions_are_refused() {
        use BackendKind::*;
        let cases: &[(BackendKind, &[&str])] = &[
            (
                Apt,
                &["1:", "a:1.0", "abc", "1.0-", "1.0-a_b", "1:2-x:y", "1.0:1"],
            ),
            (Dnf, &["1.0-1-1", "1.0-", "x:1.0", "1.0@2"]),
            (Pacman, &["1.0-r4", "1.0-", "1.0-1.x", "1.0-1-1", "a:1"]),
            (Apk, &["1.0-1", "1.0_foo", "a1.0", "1.0-r", "1.0bc"]),
        ];
        for (kind, versions) in cases {
            for v in *versions {
                assert!(version(*kind, v).is_err(), "{kind:?} {v} should be refused");
            }
        }
    }
}
