//! dnf's (and yum's) holds: the versionlock plugin's list, `/etc/dnf/plugins/versionlock.list`
//! (yum: `/etc/yum/pluginconf.d/versionlock.list`, or the `locklist` its `versionlock.conf`
//! names). Each lock line is `NAME-EPOCH:VERSION-RELEASE.*` as `dnf versionlock add` writes
//! it (`!` before it: an exclude, not a hold); dnf with the plugin enabled never moves a
//! locked package off that version.
//!
//! dnf itself does not read the list: without the plugin (installed and `enabled=1` in
//! `versionlock.conf`) a lock written there would be ignored by dnf. The agent then still
//! lists the locks it finds (and skips them in patch runs), releases them on request, but
//! refuses to add one, naming the missing plugin, rather than set a hold dnf would not keep.

use std::path::{Path, PathBuf};

use super::Dnf;
use crate::pkg::{BackendKind, PkgError};

impl Dnf {
    /// The plugin's configuration directory inside the root.
    fn plugin_conf_dir(&self) -> PathBuf {
        match self.kind {
            BackendKind::Yum => self.settings.root.join("etc/yum/pluginconf.d"),
            _ => self.settings.root.join("etc/dnf/plugins"),
        }
    }

    /// `versionlock.conf`'s text, when there is one.
    fn plugin_conf(&self) -> Option<String> {
        std::fs::read_to_string(self.plugin_conf_dir().join("versionlock.conf")).ok()
    }

    /// The lock list: `locklist` of `versionlock.conf` (a path inside the root), else the
    /// plugin's default.
    pub(super) fn lock_list(&self) -> PathBuf {
        let named = self.plugin_conf().and_then(|c| conf_value(&c, "locklist"));
        match named {
            Some(p) => self.settings.root.join(p.trim_start_matches('/')),
            None => self.plugin_conf_dir().join("versionlock.list"),
        }
    }

    /// Why a lock written now would not be honoured, when it would not.
    fn plugin_missing(&self) -> Option<String> {
        let module = match self.kind {
            BackendKind::Yum => "yum-plugins/versionlock.py",
            _ => "dnf-plugins/versionlock.py",
        };
        let installed = python_dirs(&self.settings.root)
            .iter()
            .any(|d| d.join(module).is_file());
        let enabled = self
            .plugin_conf()
            .and_then(|c| conf_value(&c, "enabled"))
            .is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "yes" | "true" | "on")
            });
        let package = match self.kind {
            BackendKind::Yum => "yum-plugin-versionlock",
            _ => "python3-dnf-plugin-versionlock; on Debian: dnf-plugins-core",
        };
        match (installed, enabled) {
            (true, true) => None,
            (false, _) => Some(format!(
                "the versionlock plugin ({package}) is not installed, so {} would not honour a lock; install it to hold packages",
                self.program()
            )),
            (true, false) => Some(format!(
                "the versionlock plugin is not enabled in {}; set enabled=1 to hold packages",
                self.plugin_conf_dir().join("versionlock.conf").display()
            )),
        }
    }

    /// The names locked in the list (none when it does not exist).
    pub(super) fn read_holds(&self) -> Result<Vec<String>, PkgError> {
        let path = self.lock_list();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(locked_names(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(io(&path, error)),
        }
    }

    /// Locks `name` at its installed version; refused without the plugin, `NotFound` when
    /// it is not installed (a versionlock pins an installed version).
    pub(super) fn add_hold(&self, name: &str) -> Result<(), PkgError> {
        if self.read_holds()?.iter().any(|n| n == name) {
            return Ok(());
        }
        if let Some(why) = self.plugin_missing() {
            return Err(PkgError::Unsupported(why));
        }
        let installed = crate::pkg::PackageManager::installed(self)?;
        let p = installed
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| PkgError::NotFound(name.to_string()))?;
        let path = self.lock_list();
        let mut text = read_or_empty(&path)?;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "\n# Added lock by linux-patch-api\n{}\n",
            lock_line(name, &p.version)
        ));
        write(&path, &text)
    }

    /// Removes every lock line of `name` (excludes and comments stay).
    pub(super) fn remove_hold(&self, name: &str) -> Result<(), PkgError> {
        let path = self.lock_list();
        let text = read_or_empty(&path)?;
        if let Some(edited) = without_locks(&text, name) {
            write(&path, &edited)?;
        }
        Ok(())
    }
}

/// Where Python packages live in the root (dnf's plugins are Python modules).
fn python_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for lib in ["usr/lib", "usr/lib64"] {
        let base = root.join(lib);
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("python") {
                dirs.push(e.path().join("site-packages"));
                dirs.push(e.path().join("dist-packages"));
            }
        }
    }
    dirs
}

/// `key = value` of an ini file, the first seen in any section.
fn conf_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
}

/// The lock line `dnf versionlock add` writes for an installed `version` (`[E:]V-R`).
pub fn lock_line(name: &str, version: &str) -> String {
    if version.contains(':') {
        format!("{name}-{version}.*")
    } else {
        format!("{name}-0:{version}.*")
    }
}

/// The package name of one lock line (`NAME-[E:]V-R.ARCH` or a bare name); `None` for
/// comments, blanks and excludes (`!`).
pub fn lock_name(line: &str) -> Option<&str> {
    let l = line.trim();
    if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
        return None;
    }
    // NAME-E:V-R...: the name ends at the dash before the epoch.
    if let Some((before, _)) = l.split_once(':') {
        return before
            .rsplit_once('-')
            .map(|(n, _)| n)
            .filter(|n| !n.is_empty());
    }
    // NAME-V-R.ARCH without an epoch: two dashes from the right, when both parts look
    // like a version and a release (start with a digit); otherwise the line is a name.
    let mut parts = l.rsplitn(3, '-');
    let (rel, ver, name) = (parts.next(), parts.next(), parts.next());
    match (name, ver, rel) {
        (Some(n), Some(v), Some(r))
            if v.starts_with(|c: char| c.is_ascii_digit())
                && r.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Some(n)
        }
        _ => Some(l),
    }
}

/// Every locked name of a lock list.
pub fn locked_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(lock_name)
        .map(str::to_string)
        .collect()
}

/// The list without `name`'s lock lines; `None` when it had none.
pub fn without_locks(text: &str, name: &str) -> Option<String> {
    let mut changed = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if lock_name(line) == Some(name) {
            changed = true;
        } else {
            out.push_str(line);
        }
    }
    changed.then_some(out)
}

fn io(path: &Path, error: std::io::Error) -> PkgError {
    PkgError::Io {
        what: path.display().to_string(),
        error,
    }
}

fn read_or_empty(path: &Path) -> Result<String, PkgError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(io(path, error)),
    }
}

/// Replaces the list atomically (0644, as the plugin leaves it).
fn write(path: &Path, text: &str) -> Result<(), PkgError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    crate::fsutil::write_atomic(path, text.as_bytes(), 0o644).map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `dnf versionlock add` writes it (dnf-plugins-core 4.x).
    const LIST: &str = "\n# Added lock on Sat Dec  5 16:00:00 2026\nlpa-hello-0:1.0-1.*\n\n# Added exclude on Sat Dec  5 16:01:00 2026\n!lpa-lib-0:1.1-1.*\nlpa-epoch-2:3.0-1.noarch\nkernel-core-5.14.0-70.el9.x86_64\nbare-name\n";

    #[test]
    fn the_recorded_list_names_its_lock() {
        let text = include_str!("../../../tests/data/dnf/versionlock.list");
        assert_eq!(locked_names(text), ["lpa-hello"]);
        // The line the agent writes is the line the plugin wrote.
        assert!(text.lines().any(|l| l == lock_line("lpa-hello", "1.0-1")));
        assert_eq!(
            without_locks(text, "lpa-hello").map(|t| locked_names(&t).len()),
            Some(0)
        );
    }

    #[test]
    fn lock_lines_name_their_package() {
        assert_eq!(
            locked_names(LIST),
            ["lpa-hello", "lpa-epoch", "kernel-core", "bare-name"]
        );
    }

    #[test]
    fn a_lock_is_written_as_the_plugin_writes_it() {
        assert_eq!(lock_line("lpa-hello", "1.0-1"), "lpa-hello-0:1.0-1.*");
        assert_eq!(lock_line("lpa-epoch", "2:3.0-1"), "lpa-epoch-2:3.0-1.*");
        assert_eq!(lock_name(&lock_line("a-b-c", "1.0-1")), Some("a-b-c"));
    }

    #[test]
    fn releasing_removes_only_that_packages_lock_lines() {
        let out = without_locks(LIST, "lpa-hello").unwrap();
        assert!(!out.contains("lpa-hello"));
        assert!(out.contains("!lpa-lib-0:1.1-1.*"), "the exclude stays");
        assert_eq!(without_locks(&out, "lpa-hello"), None);
        assert_eq!(
            without_locks(LIST, "lpa-lib"),
            None,
            "an exclude is no hold"
        );
    }

    #[test]
    fn conf_values_are_read_from_the_plugin_conf() {
        let conf = "[main]\nenabled = 1\nlocklist = /etc/dnf/plugins/locks.list\n";
        assert_eq!(conf_value(conf, "enabled").as_deref(), Some("1"));
        assert_eq!(
            conf_value(conf, "locklist").as_deref(),
            Some("/etc/dnf/plugins/locks.list")
        );
        assert_eq!(conf_value(conf, "nope"), None);
    }
}
