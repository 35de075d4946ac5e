//! Version ordering of each ecosystem: dpkg, rpm, apk and alpm (pacman).

use std::cmp::Ordering;

/// dpkg ordering (`dpkg --compare-versions`): epoch, upstream, revision; `~` sorts first.
pub fn dpkg(a: &str, b: &str) -> Ordering {
    let _ = (a, b);
    todo!()
}

/// rpm ordering (`rpmvercmp` over `[epoch:]version[-release]`), `~` and `^` included.
pub fn rpm(a: &str, b: &str) -> Ordering {
    let _ = (a, b);
    todo!()
}

/// apk ordering (apk-tools `apk_version_compare`): suffixes `_alpha`..`_p`, `-rN`.
pub fn apk(a: &str, b: &str) -> Ordering {
    let _ = (a, b);
    todo!()
}

/// alpm ordering (pacman's `vercmp`): `[epoch:]pkgver[-pkgrel]`.
pub fn alpm(a: &str, b: &str) -> Ordering {
    let _ = (a, b);
    todo!()
}
