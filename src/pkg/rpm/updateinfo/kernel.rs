//! The rpm family's reboot check: the running kernel against the newest installed kernel
//! package, and `needs-restarting -r`'s verdict.

use crate::pkg::advisories::RebootRequired;
use crate::pkg::rpm::rpmdb;
use crate::pkg::runner::{self, Command, Finished};
use crate::pkg::{version, BackendSettings, PkgError};

/// Kernel packages whose newest installed version is compared with the running kernel.
pub const KERNEL_PACKAGES: [&str; 9] = [
    "kernel",
    "kernel-core",
    "kernel-uek",
    "kernel-uek-core",
    "kernel-rt-core",
    "kernel-debug-core",
    "kernel-lt",
    "kernel-ml",
    "kernel-default",
];

/// One installed kernel package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelPackage {
    /// Package name.
    pub name: String,
    /// `V-R` (kernels carry no epoch).
    pub version: String,
    /// Architecture.
    pub arch: String,
}

/// `rpm -q --qf NAME␟VERSION␟RELEASE␟ARCH␞ -- kernel...` under the root.
pub fn kernel_query_command(settings: &BackendSettings) -> Command {
    let f = rpmdb::FIELD;
    let r = rpmdb::RECORD;
    rpmdb::rpm_command(settings)
        .arg("-q")
        .arg("--queryformat")
        .arg(format!(
            "%{{NAME}}{f}%{{VERSION}}{f}%{{RELEASE}}{f}%{{ARCH}}{r}"
        ))
        .arg("--")
        .args(KERNEL_PACKAGES)
}

/// Parses [`kernel_query_command`] output; rpm's "package X is not installed" lines
/// (on standard output, mixed with the records) are skipped.
pub fn parse_kernel_query(out: &str) -> Vec<KernelPackage> {
    out.split([rpmdb::RECORD, '\n'])
        .filter_map(|rec| {
            let fields: Vec<&str> = rec.split(rpmdb::FIELD).collect();
            let [name, v, r, arch] = fields[..] else {
                return None;
            };
            Some(KernelPackage {
                name: name.to_string(),
                version: format!("{v}-{r}"),
                arch: arch.to_string(),
            })
        })
        .collect()
}

/// Whether the running kernel (`uname -r`) is the newest installed kernel package.
pub fn kernel_verdict(running: &str, installed: &[KernelPackage]) -> RebootRequired {
    let Some(newest) = installed
        .iter()
        .max_by(|a, b| version::rpm(&a.version, &b.version))
    else {
        return RebootRequired {
            required: false,
            reason: format!("no kernel package installed (running kernel {running})"),
            packages: Vec::new(),
        };
    };
    // A variant kernel reports itself as `V-R.ARCH+debug`.
    let base = running.split_once('+').map_or(running, |(b, _)| b);
    let newest_release = format!("{}.{}", newest.version, newest.arch);
    if base == newest_release || base == newest.version {
        return RebootRequired {
            required: false,
            reason: format!(
                "running kernel {running} is the newest installed ({})",
                newest.name
            ),
            packages: Vec::new(),
        };
    }
    RebootRequired {
        required: true,
        reason: format!(
            "running kernel {running} differs from the newest installed {} {newest_release}",
            newest.name
        ),
        packages: vec![newest.name.clone()],
    }
}

/// `needs-restarting -r`'s verdict (dnf-utils, yum-utils, or zypper's script of the same
/// name): exit 0 = no reboot, exit 1 with "Reboot is required" = reboot; anything else
/// (e.g. dnf's "No such command", exit 1) is inconclusive (`None`).
pub fn needs_restarting_verdict(finished: &Finished) -> Option<RebootRequired> {
    let first = finished
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty());
    match finished.code {
        Some(0) => Some(RebootRequired {
            required: false,
            reason: format!(
                "needs-restarting -r exit 0{}",
                first.map(|l| format!(": {l}")).unwrap_or_default()
            ),
            packages: Vec::new(),
        }),
        Some(1)
            if finished
                .stdout
                .to_ascii_lowercase()
                .contains("reboot is required") =>
        {
            let packages = finished
                .stdout
                .lines()
                .filter_map(|l| l.trim().strip_prefix("* "))
                .map(|p| p.trim().to_string())
                .collect();
            Some(RebootRequired {
                required: true,
                reason: "needs-restarting -r exit 1: reboot is required".to_string(),
                packages,
            })
        }
        _ => None,
    }
}

/// The running kernel's release (`uname -r`).
pub fn running_kernel() -> Result<String, PkgError> {
    // SAFETY: uname fills the zeroed struct it is given; no pointer outlives the call.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(PkgError::Io {
            what: "uname".to_string(),
            error: std::io::Error::last_os_error(),
        });
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The kernel comparison of the rpm database under the settings' root.
pub fn kernel_reboot(settings: &BackendSettings) -> Result<RebootRequired, PkgError> {
    let running = running_kernel()?;
    let cmd = kernel_query_command(settings);
    let finished = runner::capture(&cmd).map_err(PkgError::from)?;
    // rpm exits with the number of names that are not installed.
    if finished.code.is_none() || finished.stderr.contains("error:") {
        return Err(rpmdb::command_failed(&cmd, &finished));
    }
    Ok(kernel_verdict(
        &running,
        &parse_kernel_query(&finished.stdout),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNELS: &str = include_str!("../../../../tests/data/dnf/rpm-q-kernels.stdout");
    const NEEDS_RESTARTING: &str =
        include_str!("../../../../tests/data/dnf/needs-restarting-r.stdout");

    fn k(name: &str, v: &str) -> KernelPackage {
        KernelPackage {
            name: name.into(),
            version: v.into(),
            arch: "x86_64".into(),
        }
    }

    #[test]
    fn kernel_decisions() {
        assert!(parse_kernel_query(KERNELS)
            .iter()
            .all(|p| !KERNEL_PACKAGES.contains(&p.name.as_str())));
        assert_eq!(
            parse_kernel_query(KERNELS).len(),
            1,
            "the recorded lpa-lib record"
        );
        let none = kernel_verdict("6.1.0-18-amd64", &[]);
        assert!(!none.required);
        assert!(
            none.reason.contains("no kernel package installed"),
            "{}",
            none.reason
        );
        let installed = [
            k("kernel-core", "5.14.0-362.8.1.el9_3"),
            k("kernel-core", "5.14.0-427.13.1.el9_4"),
            k("kernel", "5.14.0-427.13.1.el9_4"),
        ];
        let same = kernel_verdict("5.14.0-427.13.1.el9_4.x86_64", &installed);
        assert!(!same.required, "{}", same.reason);
        let debug = kernel_verdict("5.14.0-427.13.1.el9_4.x86_64+debug", &installed);
        assert!(!debug.required, "{}", debug.reason);
        let old = kernel_verdict("5.14.0-362.8.1.el9_3.x86_64", &installed);
        assert!(old.required);
        assert!(
            old.reason.contains("5.14.0-362.8.1.el9_3.x86_64"),
            "{}",
            old.reason
        );
        assert!(
            old.reason.contains("5.14.0-427.13.1.el9_4.x86_64"),
            "{}",
            old.reason
        );
        let rec =
            "kernel\x1f3.10.0\x1f1160.el7\x1fx86_64\x1epackage kernel-core is not installed\n";
        assert_eq!(parse_kernel_query(rec), [k("kernel", "3.10.0-1160.el7")]);
    }

    #[test]
    fn needs_restarting_decisions() {
        let f = |code: i32, out: &str| Finished {
            code: Some(code),
            stdout: out.into(),
            stderr: String::new(),
        };
        let no = needs_restarting_verdict(&f(0, NEEDS_RESTARTING)).unwrap();
        assert!(!no.required);
        assert!(no.reason.contains("No core libraries"), "{}", no.reason);
        let dnf_yes = "Core libraries or services have been updated since boot-up:\n  * kernel\n  * systemd\n\nReboot is required to fully utilize these updates.\nMore information: https://access.redhat.com/solutions/27943\n";
        let yes = needs_restarting_verdict(&f(1, dnf_yes)).unwrap();
        assert!(yes.required);
        assert_eq!(yes.packages, ["kernel", "systemd"]);
        assert!(needs_restarting_verdict(&f(1, "")).is_none());
        assert!(needs_restarting_verdict(&f(2, "")).is_none());
        assert!(!running_kernel().unwrap().is_empty());
    }
}
