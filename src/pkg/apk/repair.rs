//! What the agent can say after an apk change was stopped. apk has no repair command for an
//! interrupted change and keeps no record of one: a killed `apk add` leaves the files it had
//! unpacked (and, apk 3, its `/lib/apk/exec/*` script) on disk while the installed database
//! does not list the package, and `apk fix` only reinstalls packages the database lists. So
//! nothing is repaired here; the report says what was checked (the database reads back),
//! which packages the stopped command was changing, the scripts left behind, and how an
//! administrator cleans up. It never claims consistency.

use std::path::Path;
use std::sync::{Arc, Mutex};

/// The packages of apk commands that were stopped (cancel or deadline) before they ended,
/// kept until the next repair report. Shared by the clones of one backend.
#[derive(Clone, Debug, Default)]
pub struct Interrupted(Arc<Mutex<Vec<String>>>);

impl Interrupted {
    /// Notes the packages of a stopped command (`name`, `name=version`, `name<2`).
    pub fn record(&self, args: &[String]) {
        let mut list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for name in args.iter().map(|a| package_name(a)) {
            if !list.iter().any(|n| n == name) {
                list.push(name.to_string());
            }
        }
    }

    /// The packages noted since the last call, emptying the list.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The package name of an apk argument (`name=1.0-r0`, `name<2` → `name`).
pub fn package_name(arg: &str) -> &str {
    let end = arg.find(['<', '>', '=', '~']).unwrap_or(arg.len());
    &arg[..end]
}

/// Scripts apk left in `<root>/lib/apk/exec` (it removes them once they ran), by name.
pub fn leftover_scripts(root: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(root.join("lib/apk/exec")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The report after a failed or stopped change: `packages` is how many records the installed
/// database read back with.
pub fn report(packages: usize, interrupted: &[String], scripts: &[String]) -> Vec<String> {
    let mut lines = vec![format!(
        "apk has no repair command and keeps no record of an interrupted change; checked only \
         that its installed database reads back ({packages} packages)"
    )];
    for name in interrupted {
        lines.push(format!(
            "apk was stopped while changing {name}: files it had unpacked may remain on disk \
             without an entry in apk's database; to clean up, run `apk add {name}` and then \
             `apk del {name}` (or `apk add {name}` to keep it)"
        ));
    }
    for script in scripts {
        lines.push(format!(
            "left behind by the stopped apk: /lib/apk/exec/{script} (a package script that \
             did not finish; delete it after cleaning up)"
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_commands_are_remembered_once_by_name() {
        let i = Interrupted::default();
        let clone = i.clone();
        i.record(&["lpa-slow".into(), "lpa-hello=1.0-r0".into()]);
        clone.record(&["lpa-hello<2".into()]);
        assert_eq!(i.take(), ["lpa-slow", "lpa-hello"]);
        assert!(clone.take().is_empty(), "taken once");
        assert_eq!(package_name("a~1.2"), "a");
    }

    #[test]
    fn the_report_says_what_was_checked_and_how_to_clean_up() {
        let lines = report(
            3,
            &["lpa-slow".into()],
            &["lpa-slow-1.0-r0.post-install".into()],
        );
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("3 packages"), "{}", lines[0]);
        assert!(lines.iter().all(|l| !l.contains("consistent")));
        assert!(lines[1].contains("`apk add lpa-slow` and then `apk del lpa-slow`"));
        assert!(lines[2].contains("/lib/apk/exec/lpa-slow-1.0-r0.post-install"));
        assert_eq!(report(0, &[], &[]).len(), 1, "always says what was checked");
    }

    #[test]
    fn leftover_scripts_of_a_root() {
        let root = std::env::temp_dir().join(format!("lpa-apk-exec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        assert!(leftover_scripts(&root).is_empty());
        std::fs::create_dir_all(root.join("lib/apk/exec")).unwrap();
        std::fs::write(root.join("lib/apk/exec/b.post-install"), "").unwrap();
        std::fs::write(root.join("lib/apk/exec/a.pre-install"), "").unwrap();
        assert_eq!(leftover_scripts(&root), ["a.pre-install", "b.post-install"]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
