//! pacman's holds: `IgnorePkg` in pacman.conf's `[options]` (and in files it `Include`s
//! there), which `pacman -Su` honours by skipping the package ("ignoring package upgrade").
//! pacman has no command that edits its configuration, so the agent edits the file itself:
//! read whole, changed line by line (every other line, comment and blank kept byte for
//! byte), written temp + fsync + rename with the file's own mode.
//!
//! pacman's parser strips from `#` to the end of a line, and may repeat `IgnorePkg` (the
//! values add up); `pacman -S NAME` of an ignored package asks "Install anyway?" and
//! `--noconfirm` answers yes, so an explicit change is refused by the agent, not by pacman.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Pacman;
use crate::pkg::PkgError;

const KEY: &str = "IgnorePkg";

impl Pacman {
    /// The pacman.conf the backend runs with (a path as seen by this process).
    fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| self.settings.root.join("etc/pacman.conf"))
    }

    /// pacman.conf and the files its `[options]` section includes, inside the root.
    pub(super) fn hold_files(&self) -> Vec<PathBuf> {
        let main = self.config_path();
        let text = std::fs::read_to_string(&main).unwrap_or_default();
        let mut files = vec![main];
        files.extend(
            includes(&text)
                .into_iter()
                .map(|p| self.settings.root.join(p.trim_start_matches('/'))),
        );
        files
    }

    /// Every `IgnorePkg` name of `[options]`, from pacman.conf and its includes.
    pub(super) fn read_holds(&self) -> Result<Vec<String>, PkgError> {
        let mut names = Vec::new();
        for (i, file) in self.hold_files().iter().enumerate() {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                // An include that does not exist is pacman's error to report, not ours.
                Err(e) if i > 0 && e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(io(file, error)),
            };
            // An included file has no section header of its own: it is read as part of
            // `[options]`.
            names.extend(ignored(&text, i > 0));
        }
        Ok(names)
    }

    /// Adds `name` to the first `IgnorePkg` line of `[options]` in pacman.conf (a new line
    /// after the section header when there is none); nothing when already ignored.
    pub(super) fn add_hold(&self, name: &str) -> Result<(), PkgError> {
        if self.read_holds()?.iter().any(|n| n == name) {
            return Ok(());
        }
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let edited = with_hold(&text, name).ok_or_else(|| {
            PkgError::Unsupported(format!(
                "{} has no [options] section to add IgnorePkg to",
                path.display()
            ))
        })?;
        write(&path, &edited)
    }

    /// Removes `name` from every `IgnorePkg` line of pacman.conf and its includes (a line left
    /// empty goes); nothing when it is not ignored.
    pub(super) fn remove_hold(&self, name: &str) -> Result<(), PkgError> {
        for (i, path) in self.hold_files().iter().enumerate() {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if i > 0 && e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(io(path, error)),
            };
            if let Some(edited) = without_hold(&text, name, i > 0) {
                write(path, &edited)?;
            }
        }
        Ok(())
    }
}

fn io(path: &Path, error: std::io::Error) -> PkgError {
    PkgError::Io {
        what: path.display().to_string(),
        error,
    }
}

/// Replaces `path` atomically, keeping its permission bits.
fn write(path: &Path, text: &str) -> Result<(), PkgError> {
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    crate::fsutil::write_atomic(path, text.as_bytes(), mode).map_err(|e| io(path, e))
}

/// One line as pacman reads it: text before `#`, trimmed.
fn content(line: &str) -> &str {
    line.split('#').next().unwrap_or_default().trim()
}

/// A section header's name, for `[name]` lines.
fn section(line: &str) -> Option<&str> {
    content(line).strip_prefix('[')?.strip_suffix(']')
}

/// `key = value` of a line, when it has that shape.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let (k, v) = content(line).split_once('=')?;
    Some((k.trim(), v.trim()))
}

/// Calls `f(line, in_options)` for each line (with its end) of `text`; `start_in_options`
/// for an included file.
fn walk<'a>(text: &'a str, start_in_options: bool, mut f: impl FnMut(&'a str, bool)) {
    let mut in_options = start_in_options;
    for line in text.split_inclusive('\n') {
        if let Some(name) = section(line) {
            in_options = name == "options";
        }
        f(line, in_options);
    }
}

/// The `Include` paths of `[options]` (literal paths; pacman's globs are not expanded).
pub fn includes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    walk(text, false, |line, in_options| {
        if let Some(("Include", v)) = key_value(line).filter(|_| in_options) {
            if !v.is_empty() && !v.contains(['*', '?', '[']) {
                out.push(v.to_string());
            }
        }
    });
    out
}

/// The names of every `IgnorePkg` line in `[options]`.
pub fn ignored(text: &str, start_in_options: bool) -> Vec<String> {
    let mut out = Vec::new();
    walk(text, start_in_options, |line, in_options| {
        if let Some((KEY, v)) = key_value(line).filter(|_| in_options) {
            out.extend(v.split_whitespace().map(str::to_string));
        }
    });
    out
}

/// `text` with `name` appended to its first `IgnorePkg` line in `[options]`, or a new
/// `IgnorePkg = name` line right after the `[options]` header; `None` without that section.
pub fn with_hold(text: &str, name: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + name.len() + 16);
    let mut done = false;
    let mut header_at: Option<usize> = None;
    walk(text, false, |line, in_options| {
        if !done && in_options {
            if let Some((KEY, _)) = key_value(line) {
                let (body, end) = split_end(line);
                // Before a trailing comment, so the name is not commented out.
                let (value, comment) = match body.find('#') {
                    Some(i) => (body[..i].trim_end(), &body[i..]),
                    None => (body.trim_end(), ""),
                };
                out.push_str(value);
                out.push(' ');
                out.push_str(name);
                if !comment.is_empty() {
                    out.push(' ');
                    out.push_str(comment);
                }
                out.push_str(end);
                done = true;
                return;
            }
        }
        out.push_str(line);
        if header_at.is_none() && section(line) == Some("options") {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            header_at = Some(out.len());
        }
    });
    if done {
        return Some(out);
    }
    let at = header_at?;
    out.insert_str(at, &format!("{KEY} = {name}\n"));
    Some(out)
}

/// `text` without `name` on its `IgnorePkg` lines in `[options]` (a line left without names
/// is dropped); `None` when no line named it.
pub fn without_hold(text: &str, name: &str, start_in_options: bool) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    walk(text, start_in_options, |line, in_options| {
        let named = in_options
            && matches!(key_value(line), Some((KEY, v)) if v.split_whitespace().any(|n| n == name));
        if !named {
            out.push_str(line);
            return;
        }
        changed = true;
        let (_, v) = key_value(line).unwrap_or_default();
        let rest: Vec<&str> = v.split_whitespace().filter(|n| *n != name).collect();
        if !rest.is_empty() {
            let (_, end) = split_end(line);
            out.push_str(&format!("{KEY} = {}{end}", rest.join(" ")));
        }
    });
    changed.then_some(out)
}

/// A line and its line ending.
fn split_end(line: &str) -> (&str, &str) {
    match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "# top comment\n[options]\nArchitecture = auto\n#IgnorePkg   =\nSigLevel = Never\n\n[lpa]\nServer = file:///srv/lpa-pacman/repo\nIgnorePkg = notoptions\n";

    #[test]
    fn ignored_reads_only_options_and_strips_comments() {
        let text =
            "[options]\nIgnorePkg = a b # c\nIgnorePkg=d\n#IgnorePkg = e\n[core]\nIgnorePkg = f\n";
        assert_eq!(ignored(text, false), ["a", "b", "d"]);
        assert_eq!(ignored("IgnorePkg = g\n", true), ["g"]);
        assert!(ignored("IgnorePkg = g\n", false).is_empty());
        assert!(ignored(CONF, false).is_empty());
    }

    #[test]
    fn a_hold_goes_after_the_header_and_keeps_every_other_byte() {
        let held = with_hold(CONF, "lpa-hello").unwrap();
        assert_eq!(
            held,
            CONF.replace("[options]\n", "[options]\nIgnorePkg = lpa-hello\n")
        );
        let two = with_hold(&held, "lpa-lib").unwrap();
        assert!(two.contains("IgnorePkg = lpa-hello lpa-lib\n"), "{two}");
        assert_eq!(ignored(&two, false), ["lpa-hello", "lpa-lib"]);
        assert_eq!(with_hold("[core]\n", "x"), None);
        // A header without a newline at the end of the file.
        assert_eq!(
            with_hold("[options]", "x").unwrap(),
            "[options]\nIgnorePkg = x\n"
        );
    }

    #[test]
    fn a_hold_before_a_trailing_comment_is_not_commented_out() {
        let text = "[options]\nIgnorePkg = a # kept back\n";
        let held = with_hold(text, "b").unwrap();
        assert_eq!(held, "[options]\nIgnorePkg = a b # kept back\n");
        assert_eq!(ignored(&held, false), ["a", "b"]);
    }

    #[test]
    fn releasing_removes_the_name_and_an_emptied_line() {
        let two = "[options]\nIgnorePkg = a b\nIgnorePkg = b\n[lpa]\nIgnorePkg = b\n";
        let out = without_hold(two, "b", false).unwrap();
        assert_eq!(out, "[options]\nIgnorePkg = a\n[lpa]\nIgnorePkg = b\n");
        assert_eq!(without_hold(&out, "b", false), None);
        let back = without_hold(&with_hold(CONF, "x").unwrap(), "x", false).unwrap();
        assert_eq!(back, CONF);
    }

    #[test]
    fn edits_round_trip_on_odd_files() {
        let odd = [
            "[options]\r\nIgnorePkg = a\r\n",
            "[options] # main\nIgnorePkg=a=b # x\n[options]\nIgnorePkg = c",
            "[options]\nIgnorePkg =\n",
            "[options]\nIgnorePkg = # nothing\n",
            "#[options]\n[options]\n\n",
            "[core]\nIgnorePkg = z\n[options]",
        ];
        for text in odd {
            let held = with_hold(text, "n").unwrap();
            assert!(
                ignored(&held, false).contains(&"n".to_string()),
                "{text:?} -> {held:?}"
            );
            let back = without_hold(&held, "n", false).unwrap();
            assert!(
                !ignored(&back, false).contains(&"n".to_string()),
                "{back:?}"
            );
            for name in ignored(text, false) {
                let out = without_hold(text, &name, false).unwrap();
                assert!(!ignored(&out, false).contains(&name), "{out:?}");
            }
        }
        assert_eq!(
            ignored("[options]\nIgnorePkg=a=b # x\n", false),
            ["a=b"],
            "the value after the first '=', comment stripped"
        );
    }

    #[test]
    fn includes_of_options_are_listed() {
        let text = "[options]\nInclude = /etc/pacman.d/holds.conf\nInclude = /etc/p/*.conf\n[lpa]\nInclude = /etc/pacman.d/mirrorlist\n";
        assert_eq!(includes(text), ["/etc/pacman.d/holds.conf"]);
    }
}
