//! Whether a reboot is needed, from each family's own signal, and whether a package
//! installs a kernel image (decided from its file list, never from its name).
//!
//! - Debian/Ubuntu: `<root>/run/reboot-required` (written by packages' maintainer scripts),
//!   with the packages that asked in `reboot-required.pkgs`.
//! - Arch and Alpine: the running kernel (uname release) against the installed kernels. A
//!   root with no kernel image installed (a container, the test sandbox) never needs one.
//!   Otherwise a running kernel whose modules directory is gone (its package was upgraded
//!   or removed) needs one, and so does a modules directory whose kernel package is
//!   installed at another version than the one running.

use std::fs;
use std::path::{Path, PathBuf};

use super::RebootRequired;
use crate::pkg::PkgError;

/// Whether a file list (absolute paths) holds a kernel image: `/boot/vmlinuz*`,
/// `/lib/modules/*/vmlinuz` or `/usr/lib/modules/*/vmlinuz`.
pub fn has_kernel_image<S: AsRef<str>>(files: &[S]) -> bool {
    files.iter().any(|f| is_kernel_image(f.as_ref()))
}

fn is_kernel_image(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    if let Some(name) = path.strip_prefix("/boot/") {
        return name.starts_with("vmlinuz") && !name.contains('/');
    }
    let rest = path
        .strip_prefix("/usr/lib/modules/")
        .or_else(|| path.strip_prefix("/lib/modules/"));
    matches!(rest.and_then(|r| r.split_once('/')), Some((rel, "vmlinuz")) if !rel.is_empty())
}

/// The running kernel's release (`uname -r`).
pub fn running_kernel() -> Option<String> {
    // SAFETY: utsname is plain old data; uname fills it and returns 0 on success.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    let bytes: Vec<u8> = uts
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8(bytes).ok().filter(|r| !r.is_empty())
}

/// The answer when the running kernel's release cannot be read.
pub fn unknown_kernel() -> RebootRequired {
    RebootRequired {
        required: false,
        reason: "the running kernel release is unknown (uname failed)".to_string(),
        packages: Vec::new(),
    }
}

/// Debian/Ubuntu: `<root>/run/reboot-required` and its `.pkgs` list.
pub fn debian(root: &Path) -> Result<RebootRequired, PkgError> {
    let marker = root.join("run/reboot-required");
    match fs::symlink_metadata(&marker) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(RebootRequired {
                required: false,
                reason: "/run/reboot-required absent".to_string(),
                packages: Vec::new(),
            })
        }
        Err(error) => {
            return Err(PkgError::Io {
                what: marker.display().to_string(),
                error,
            })
        }
    }
    let pkgs = root.join("run/reboot-required.pkgs");
    let packages = match fs::read_to_string(&pkgs) {
        Ok(text) => unique_lines(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            return Err(PkgError::Io {
                what: pkgs.display().to_string(),
                error,
            })
        }
    };
    Ok(RebootRequired {
        required: true,
        reason: "/run/reboot-required present".to_string(),
        packages,
    })
}

/// The lines of a `.pkgs` file, in order, without blanks and repeats (maintainer scripts
/// append, so a package upgraded twice is there twice).
fn unique_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.iter().any(|o| o == line) {
            out.push(line.to_string());
        }
    }
    out
}

/// Arch: kernels live in `<root>/usr/lib/modules/REL/` with `vmlinuz` and a `pkgbase` file
/// naming their package; `installed_version(pkg)` is the installed version of a package.
/// `6.6.1.arch1-1` of `linux` runs as `6.6.1-arch1-1`; `6.6.30-1` of `linux-lts` as
/// `6.6.30-1-lts`.
pub fn arch(
    root: &Path,
    running: &str,
    installed_version: &dyn Fn(&str) -> Option<String>,
) -> RebootRequired {
    let modules = root.join("usr/lib/modules");
    let kernels = kernel_dirs(&modules, |d| d.join("vmlinuz").is_file());
    let pkgbase = |d: &Path| {
        fs::read_to_string(d.join("pkgbase"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let check = |dir: &Path| -> Option<(String, String)> {
        let pkg = pkgbase(dir)?;
        let version = installed_version(&pkg)?;
        Some((pkg, version))
    };
    decide(&modules, &kernels, running, &check, &|d| pkgbase(d))
}

/// Alpine: kernel images are `<root>/boot/vmlinuz-FLAVOR`, modules in
/// `<root>/lib/modules/REL/`; the running `6.6.1-0-lts` belongs to package `linux-lts` at
/// version `6.6.1-r0` (flavor = the release's last `-` part).
pub fn alpine(
    root: &Path,
    running: &str,
    installed_version: &dyn Fn(&str) -> Option<String>,
) -> RebootRequired {
    let modules = root.join("lib/modules");
    let images = boot_images(&root.join("boot"));
    let package_of = |release: &str| -> Option<String> {
        let (_, flavor) = release.rsplit_once('-')?;
        Some(format!("linux-{flavor}"))
    };
    let check = |dir: &Path| -> Option<(String, String)> {
        let rel = dir.file_name()?.to_str()?;
        let pkg = package_of(rel)?;
        let version = installed_version(&pkg)?;
        Some((pkg, version))
    };
    let named = |d: &Path| d.file_name()?.to_str().and_then(package_of);
    decide(&modules, &images, running, &check, &named)
}

/// The shared decision: no kernel installed → no; running modules dir missing → yes;
/// its package installed at another version → yes.
fn decide(
    modules: &Path,
    kernels: &[PathBuf],
    running: &str,
    installed: &dyn Fn(&Path) -> Option<(String, String)>,
    package_of: &dyn Fn(&Path) -> Option<String>,
) -> RebootRequired {
    let not = |reason: String| RebootRequired {
        required: false,
        reason,
        packages: Vec::new(),
    };
    if kernels.is_empty() {
        return not("no kernel image installed in this root (container or chroot)".to_string());
    }
    let dir = modules.join(running);
    if !dir.is_dir() {
        let mut packages: Vec<String> = kernels.iter().filter_map(|k| package_of(k)).collect();
        packages.sort();
        packages.dedup();
        return RebootRequired {
            required: true,
            reason: format!(
                "running kernel {running} has no modules directory {} (kernel upgraded or removed)",
                dir.display()
            ),
            packages,
        };
    }
    let Some((pkg, version)) = installed(&dir) else {
        return not(format!(
            "running kernel {running} is installed; its package is not known"
        ));
    };
    if release_matches(running, &version) {
        return not(format!(
            "running kernel {running} is the installed {pkg} {version}"
        ));
    }
    RebootRequired {
        required: true,
        reason: format!("running kernel {running} differs from installed {pkg} {version}"),
        packages: vec![pkg],
    }
}

/// Whether a uname release is a package version: both split on `.`, `-`, `_` (Alpine's
/// `-rN` read as `N`), the release equal to the version or the version followed by a
/// flavor (`-lts`, `-zen`).
pub fn release_matches(release: &str, version: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(['.', '-', '_'])
            .map(|w| match w.strip_prefix('r') {
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.to_string(),
                _ => w.to_string(),
            })
            .collect()
    };
    // An epoch (`1:6.6-1`) is not part of the release.
    let version = version.split_once(':').map_or(version, |(_, v)| v);
    let (r, v) = (words(release), words(version));
    r.len() >= v.len() && r[..v.len()] == v[..] && r.len() <= v.len() + 1
}

/// Subdirectories of `dir` passing `is_kernel`.
fn kernel_dirs(dir: &Path, is_kernel: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && is_kernel(p))
        .collect();
    out.sort();
    out
}

/// `vmlinuz*` files in `boot`, as the modules directories they name (`vmlinuz-lts` → a
/// path whose file name is `X-lts`, so the flavor can be read like a release's).
fn boot_images(boot: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(boot) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("vmlinuz"))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Root(PathBuf);

    impl Root {
        fn new(tag: &str) -> Root {
            let d = std::env::temp_dir().join(format!("lpa-reboot-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(&d).unwrap();
            Root(d)
        }

        fn put(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn kernel_images_by_path() {
        assert!(has_kernel_image(&["/boot/vmlinuz-6.1.0-18-amd64"]));
        assert!(has_kernel_image(&["/boot/vmlinuz-lts"]));
        assert!(has_kernel_image(&[
            "/usr/lib/modules/6.6.1-arch1-1/vmlinuz"
        ]));
        assert!(has_kernel_image(&["/lib/modules/6.1.0-18-amd64/vmlinuz"]));
        assert!(!has_kernel_image(&[
            "/boot/",
            "/usr/lib/modules/6.6.1/kernel/x.ko.zst"
        ]));
        assert!(!has_kernel_image(&[
            "/usr/bin/vmlinuz",
            "/boot/grub/vmlinuz"
        ]));
        assert!(!has_kernel_image(&["/usr/lib/modules//vmlinuz"]));
        assert!(!has_kernel_image::<&str>(&[]));
    }

    #[test]
    fn running_kernel_is_known() {
        let rel = running_kernel().unwrap();
        assert!(rel.chars().next().unwrap().is_ascii_digit(), "{rel}");
    }

    #[test]
    fn debian_marker_and_packages() {
        let root = Root::new("deb");
        let r = debian(&root.0).unwrap();
        assert!(!r.required);
        assert!(r.reason.contains("absent"));
        root.put("run/reboot-required", "*** System restart required ***\n");
        let r = debian(&root.0).unwrap();
        assert!(r.required);
        assert!(r.packages.is_empty());
        root.put(
            "run/reboot-required.pkgs",
            "linux-image-6.1.0-18-amd64\nlibc6\n\nlibc6\n",
        );
        let r = debian(&root.0).unwrap();
        assert_eq!(r.packages, ["linux-image-6.1.0-18-amd64", "libc6"]);
        assert_eq!(r.reason, "/run/reboot-required present");
    }

    #[test]
    fn release_and_version_correspondence() {
        assert!(release_matches("6.6.1-arch1-1", "6.6.1.arch1-1"));
        assert!(release_matches("6.6.30-1-lts", "6.6.30-1"));
        assert!(release_matches("6.6.1-0-lts", "6.6.1-r0"));
        assert!(release_matches("6.8.9-zen1-2-zen", "6.8.9.zen1-2"));
        assert!(!release_matches("6.6.1-arch1-1", "6.6.2.arch1-1"));
        assert!(!release_matches("6.6.3-1-lts", "6.6.30-1"));
        assert!(!release_matches("6.6.1-0-lts", "6.6.1-r1"));
    }

    #[test]
    fn arch_decisions() {
        let root = Root::new("arch");
        let v = |p: &str| (p == "linux").then(|| "6.6.1.arch1-1".to_string());
        let r = arch(&root.0, "6.1.0-18-amd64", &v);
        assert!(!r.required, "{r:?}");
        assert!(r.reason.contains("no kernel image"));

        root.put("usr/lib/modules/6.6.1-arch1-1/vmlinuz", "");
        root.put("usr/lib/modules/6.6.1-arch1-1/pkgbase", "linux\n");
        let r = arch(&root.0, "6.5.9-arch2-1", &v);
        assert!(r.required);
        assert_eq!(r.packages, ["linux"]);
        assert!(r.reason.contains("no modules directory"), "{}", r.reason);

        let r = arch(&root.0, "6.6.1-arch1-1", &v);
        assert!(!r.required, "{r:?}");

        let newer = |p: &str| (p == "linux").then(|| "6.6.2.arch1-1".to_string());
        let r = arch(&root.0, "6.6.1-arch1-1", &newer);
        assert!(r.required);
        assert!(r.reason.contains("6.6.2.arch1-1"), "{}", r.reason);

        let unknown = |_: &str| None;
        assert!(!arch(&root.0, "6.6.1-arch1-1", &unknown).required);
    }

    #[test]
    fn alpine_decisions() {
        let root = Root::new("alpine");
        let v = |p: &str| (p == "linux-lts").then(|| "6.6.1-r0".to_string());
        assert!(!alpine(&root.0, "6.6.1-0-lts", &v).required);
        root.put("boot/vmlinuz-lts", "");
        let r = alpine(&root.0, "6.6.1-0-lts", &v);
        assert!(r.required, "{r:?}");
        assert_eq!(r.packages, ["linux-lts"]);
        root.put("lib/modules/6.6.1-0-lts/modules.dep", "");
        assert!(!alpine(&root.0, "6.6.1-0-lts", &v).required);
        let newer = |p: &str| (p == "linux-lts").then(|| "6.6.1-r1".to_string());
        let r = alpine(&root.0, "6.6.1-0-lts", &newer);
        assert!(r.required);
        assert_eq!(r.packages, ["linux-lts"]);
    }
}
