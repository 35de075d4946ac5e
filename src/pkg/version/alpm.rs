//! alpm (pacman) version ordering: libalpm's `alpm_pkg_vercmp` and its total refinement.

use std::cmp::Ordering;

use super::{c_bytes, cmp_numeric, run_end, Evr};

/// alpm ordering (pacman's `vercmp`): `[epoch:]pkgver[-pkgrel]`, made a total order.
///
/// libalpm's `alpm_pkg_vercmp` is not transitive, and Rust's sort may panic on such an
/// order (`?sort=version`). Two places break it, and this order refines both:
///
/// - pkgrel counts only when both sides have one (`1-2` = `1` = `1-1`, yet `1-2` > `1-1`):
///   here a missing pkgrel sorts first (`1` < `1-1` < `1-2`), as rpm does.
/// - its `rpmvercmp` stops at the end of one string after skipping separators, so trailing
///   separators are half ignored (`1.1` < `1..a` < `1.` < `1.1`): here every field is a
///   sequence of (separator-run length, segment) steps ending in an end step, compared
///   step by step — a longer separator run wins, then a letter segment < the end < a
///   number segment (libalpm's rules for what follows a common prefix).
///
/// On versions made of alphanumeric segments with single separators between them (every
/// real Arch version) this agrees with libalpm wherever libalpm says Less or Greater; the
/// tests check that against the library. [`alpm_libalpm`] is libalpm's answer itself.
pub fn alpm(a: &str, b: &str) -> Ordering {
    let (a, b) = (c_bytes(a), c_bytes(b));
    if a == b {
        return Ordering::Equal;
    }
    let (x, y) = (alpm_evr(a), alpm_evr(b));
    alpm_total(x.epoch.unwrap_or(b"0"), y.epoch.unwrap_or(b"0"))
        .then_with(|| alpm_total(x.version, y.version))
        .then_with(|| match (x.release, y.release) {
            (Some(r1), Some(r2)) => alpm_total(r1, r2),
            (r1, r2) => r1.is_some().cmp(&r2.is_some()),
        })
}

/// libalpm's own `alpm_pkg_vercmp`, not transitive (see [`alpm`]): for deciding what
/// pacman itself would call newer (downgrade checks, advisory ranges), never for sorting.
pub fn alpm_libalpm(a: &str, b: &str) -> Ordering {
    let (a, b) = (c_bytes(a), c_bytes(b));
    if a == b {
        return Ordering::Equal;
    }
    let (x, y) = (alpm_evr(a), alpm_evr(b));
    alpm_rpmvercmp(x.epoch.unwrap_or(b"0"), y.epoch.unwrap_or(b"0"))
        .then_with(|| alpm_rpmvercmp(x.version, y.version))
        .then_with(|| match (x.release, y.release) {
            (Some(r1), Some(r2)) => alpm_rpmvercmp(r1, r2),
            _ => Ordering::Equal,
        })
}

/// What follows a separator run in [`alpm_total`]'s walk, in its order.
#[derive(Clone, Copy)]
enum AlpmStep<'a> {
    /// A letter run: a pre-release (`1.0a` < `1.0`).
    Alpha(&'a [u8]),
    /// The end of the field.
    End,
    /// A digit run (compared as a number).
    Numeric(&'a [u8]),
}

impl AlpmStep<'_> {
    fn rank(self) -> u8 {
        match self {
            AlpmStep::Alpha(_) => 0,
            AlpmStep::End => 1,
            AlpmStep::Numeric(_) => 2,
        }
    }

    fn cmp(self, other: AlpmStep<'_>) -> Ordering {
        match (self, other) {
            (AlpmStep::Alpha(x), AlpmStep::Alpha(y)) => x.cmp(y),
            (AlpmStep::Numeric(x), AlpmStep::Numeric(y)) => cmp_numeric(x, y),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// The step at `i`: separator-run length, what follows it, and where the next step starts.
fn alpm_step(s: &[u8], i: usize) -> (usize, AlpmStep<'_>, usize) {
    let start = i + s[i..]
        .iter()
        .take_while(|c| !c.is_ascii_alphanumeric())
        .count();
    let Some(first) = s.get(start) else {
        return (start - i, AlpmStep::End, start);
    };
    let numeric = first.is_ascii_digit();
    let end = run_end(s, start, numeric);
    let step = if numeric {
        AlpmStep::Numeric(&s[start..end])
    } else {
        AlpmStep::Alpha(&s[start..end])
    };
    (start - i, step, end)
}

/// libalpm's segment comparison as a total order: step by step, see [`alpm`].
fn alpm_total(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    loop {
        let (sep_a, step_a, next_a) = alpm_step(a, i);
        let (sep_b, step_b, next_b) = alpm_step(b, j);
        let ord = sep_a.cmp(&sep_b).then_with(|| step_a.cmp(step_b));
        if ord != Ordering::Equal || matches!(step_a, AlpmStep::End) {
            return ord;
        }
        (i, j) = (next_a, next_b);
    }
}

/// libalpm's `parseEVR`: a missing epoch is `0`.
fn alpm_evr(s: &[u8]) -> Evr<'_> {
    Evr::parse(s, Some(b"0"))
}

/// libalpm's copy of rpm 4.8's `rpmvercmp`: no `~`/`^` rules, but a longer separator run
/// wins, and a leftover letter segment loses to the end.
fn alpm_rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0, 0);
    let (mut end_a, mut end_b) = (0, 0);
    while i < a.len() && j < b.len() {
        while i < a.len() && !a[i].is_ascii_alphanumeric() {
            i += 1;
        }
        while j < b.len() && !b[j].is_ascii_alphanumeric() {
            j += 1;
        }
        if i >= a.len() || j >= b.len() {
            break;
        }
        if i - end_a != j - end_b {
            return (i - end_a).cmp(&(j - end_b));
        }
        let numeric = a[i].is_ascii_digit();
        end_a = run_end(a, i, numeric);
        end_b = run_end(b, j, numeric);
        if end_b == j {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let seg = if numeric {
            cmp_numeric(&a[i..end_a], &b[j..end_b])
        } else {
            a[i..end_a].cmp(&b[j..end_b])
        };
        if seg != Ordering::Equal {
            return seg;
        }
        i = end_a;
        j = end_b;
    }
    let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
    match (ca, cb) {
        (None, None) => Ordering::Equal,
        (None, Some(c)) if !c.is_ascii_alphabetic() => Ordering::Less,
        (Some(c), _) if c.is_ascii_alphabetic() => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::version::tests::{all_pairs, report, sign, Gen, PIECES};
    use std::cmp::Ordering::{Equal, Greater, Less};
    use std::path::Path;

    type VercmpFn = unsafe extern "C" fn(*const libc::c_char, *const libc::c_char) -> libc::c_int;

    /// pacman's `vercmp` is a thin wrapper around libalpm's `alpm_pkg_vercmp`; Debian's
    /// pacman-package-manager ships the library but not that binary, so load the library.
    fn libalpm_vercmp() -> Option<VercmpFn> {
        for lib in [
            "libalpm.so.13",
            "libalpm.so.14",
            "libalpm.so.15",
            "libalpm.so",
        ] {
            let name = std::ffi::CString::new(lib).ok()?;
            // SAFETY: dlopen/dlsym with valid C strings; the handle is never closed, so
            // the function pointer stays valid.
            unsafe {
                let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
                if h.is_null() {
                    continue;
                }
                let sym = libc::dlsym(h, c"alpm_pkg_vercmp".as_ptr());
                if !sym.is_null() {
                    return Some(std::mem::transmute::<*mut libc::c_void, VercmpFn>(sym));
                }
            }
        }
        None
    }

    fn vercmp_binary(a: &str, b: &str) -> i32 {
        let out = std::process::Command::new("vercmp")
            .args([a, b])
            .output()
            .expect("run vercmp");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("vercmp output")
    }

    /// What the real libalpm says (sign), through the library or pacman's `vercmp`.
    fn real_vercmp(lib: Option<VercmpFn>, a: &str, b: &str) -> i32 {
        match lib {
            Some(f) => {
                let (ca, cb) = (
                    std::ffi::CString::new(a).expect("no NUL"),
                    std::ffi::CString::new(b).expect("no NUL"),
                );
                // SAFETY: two valid NUL-terminated strings, as the C API requires.
                unsafe { f(ca.as_ptr(), cb.as_ptr()) }.signum()
            }
            None => vercmp_binary(a, b).signum(),
        }
    }

    /// libalpm, or None (test skipped) when neither the library nor `vercmp` is here.
    fn real_libalpm() -> Option<Option<VercmpFn>> {
        let lib = libalpm_vercmp();
        let has_binary = ["/usr/bin/vercmp", "/bin/vercmp"]
            .iter()
            .any(|p| Path::new(p).exists());
        if lib.is_none() && !has_binary {
            eprintln!("SKIPPED: neither libalpm nor pacman's vercmp is installed");
            return None;
        }
        Some(lib)
    }

    /// A field as real Arch versions have it: alphanumeric at both ends, no separator runs.
    fn well_formed(field: &[u8]) -> bool {
        let alnum = |c: Option<&u8>| c.is_some_and(u8::is_ascii_alphanumeric);
        alnum(field.first())
            && alnum(field.last())
            && field
                .windows(2)
                .all(|w| w[0].is_ascii_alphanumeric() || w[1].is_ascii_alphanumeric())
    }

    fn well_formed_version(v: &str) -> bool {
        let evr = alpm_evr(v.as_bytes());
        well_formed(evr.version) && evr.release.is_none_or(well_formed)
    }

    #[test]
    fn alpm_agrees_with_real_libalpm() {
        let Some(lib) = real_libalpm() else {
            return;
        };
        let pairs = all_pairs(0x5eed_a1b3, PIECES);
        let mut bad = Vec::new();
        for (a, b) in &pairs {
            let real = real_vercmp(lib, a, b);
            let exact = sign(alpm_libalpm(a, b));
            if exact != real {
                bad.push(format!(
                    "{a:?} vs {b:?}: libalpm {real}, alpm_libalpm {exact}"
                ));
            }
            // The total order breaks libalpm's ties, and departs from it only on fields
            // with separators at an end or in runs (see `alpm`).
            let total = sign(alpm(a, b));
            if total != real && real != 0 && well_formed_version(a) && well_formed_version(b) {
                bad.push(format!("{a:?} vs {b:?}: libalpm {real}, alpm {total}"));
            }
        }
        report("alpm", &bad, pairs.len());
    }

    /// A version shaped like real Arch ones: optional epoch, dotted pkgver with letter/number
    /// segments (`6.8.9.arch1`, `1.0rc2`, `20240101`, `2.0.r12.gabc`), optional pkgrel.
    fn arch_like(g: &mut Gen) -> String {
        const SEGMENTS: &[&str] = &[
            "0", "1", "2", "3", "9", "10", "12", "01", "20240101", "a", "b", "rc1", "rc2", "alpha",
            "beta2", "arch1", "arch2", "r12", "gabc", "p1", "1a", "2b", "1rc1",
        ];
        let mut v = String::new();
        if g.below(6) == 0 {
            v.push_str(g.pick(&["1:", "2:", "0:"]));
        }
        for i in 0..1 + g.below(4) {
            if i > 0 {
                v.push_str(g.pick(&[".", ".", ".", "_", "+"]));
            }
            v.push_str(g.pick(SEGMENTS));
        }
        if g.below(4) != 0 {
            v.push_str(g.pick(&["-1", "-2", "-10", "-1.1", "-3"]));
        }
        v
    }

    #[test]
    fn alpm_total_order_agrees_with_libalpm_on_arch_like_versions() {
        let Some(lib) = real_libalpm() else {
            return;
        };
        let mut g = Gen(0x5eed_a1b4);
        let versions: Vec<String> = (0..400).map(|_| arch_like(&mut g)).collect();
        let (mut compared, mut bad) = (0, Vec::new());
        // Every pair (160 000): wherever libalpm says Less or Greater, so do we.
        for a in &versions {
            for b in &versions {
                let real = real_vercmp(lib, a, b);
                if real != 0 {
                    compared += 1;
                    if sign(alpm(a, b)) != real {
                        bad.push(format!("{a:?} vs {b:?}: libalpm {real}"));
                    }
                }
            }
        }
        report("alpm (Arch-like)", &bad, compared);
        // And on the same set the order is total: sorted, no pair is inverted.
        let mut sorted = versions.clone();
        sorted.sort_by(|a, b| alpm(a, b));
        for (i, a) in sorted.iter().enumerate() {
            for b in &sorted[i..] {
                assert_ne!(alpm(a, b), Greater, "{a:?} sorted before {b:?}");
            }
        }
    }

    #[test]
    fn alpm_known_orderings() {
        assert_eq!(
            alpm_libalpm("1.0-1", "1.0"),
            Equal,
            "for libalpm, pkgrel only counts when both have it"
        );
        assert_eq!(
            alpm("1.0-1", "1.0"),
            Greater,
            "the total order: no pkgrel first"
        );
        assert_eq!(alpm("1.0-2", "1.0-10"), Less);
        assert_eq!(alpm("1:1.0", "2.0"), Greater);
        assert_eq!(
            alpm("1.0a", "1.0"),
            Less,
            "a trailing letter segment is older"
        );
        assert_eq!(
            alpm("1.0.a", "1.0"),
            Greater,
            "unlike a letter, a separator is newer"
        );
        assert_eq!(alpm("1.0.1", "1.0"), Greater);
        assert_eq!(alpm("1..0", "1.0"), Greater, "a longer separator wins");
    }

    #[test]
    fn alpm_is_total_where_libalpm_is_not() {
        // The triple: libalpm says 1-2 = 1 = 1-1 yet 1-2 > 1-1.
        assert_eq!(alpm_libalpm("1-2", "1"), Equal);
        assert_eq!(alpm_libalpm("1", "1-1"), Equal);
        assert_eq!(alpm_libalpm("1-2", "1-1"), Greater);
        assert_eq!(alpm("1", "1-1"), Less);
        assert_eq!(alpm("1-1", "1-2"), Less);
        assert_eq!(alpm("1", "1-2"), Less);
        assert_eq!(alpm("1:1", "1-2"), Greater, "the epoch still decides first");
        assert_eq!(
            alpm("1.1", "1-2"),
            Greater,
            "pkgver still decides before pkgrel"
        );
        assert_eq!(alpm("0:1", "1"), Equal, "a missing epoch is 0");
        // Found by `make fuzz` (version_alpm): libalpm half ignores trailing separators,
        // a cycle 1.1 < 1..a < 1. < 1.1.
        assert_eq!(alpm_libalpm("1.1", "1..a"), Less);
        assert_eq!(alpm_libalpm("1..a", "1."), Less);
        assert_eq!(alpm_libalpm("1.", "1.1"), Less);
        assert_eq!(alpm("1.1", "1..a"), Less, "a longer separator run wins");
        assert_eq!(alpm("1.", "1..a"), Less, "as it does before an end");
        assert_eq!(alpm("1.", "1.1"), Less);
        assert_eq!(alpm("1.", "1.a"), Greater, "the end sorts above a letter");
        assert_eq!(alpm("1", "1."), Less);
    }
}
