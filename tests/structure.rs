//! The structure targets of docs/ARCHITECTURE.md, held by a test so that they stay true:
//! no file in src/ over 900 lines before its unit tests, no import cycle between sibling
//! modules, and the wire format built by typed structs (a small budget of `json!` in
//! production code, none under src/jobs/).
//!
//! Reads the source as text; production code is a file's lines before its `#[cfg(test)]`,
//! without comment lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Most production lines one file may hold.
const MAX_PRODUCTION_LINES: usize = 900;
/// Most `json!` calls in all production code.
const MAX_JSON_MACROS: usize = 40;

/// One source file: its module path and its production text.
struct Source {
    module: Vec<String>,
    path: PathBuf,
    production: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect();
    let test_only: Vec<Vec<String>> = texts
        .iter()
        .flat_map(|(path, text)| test_modules(&module_of(&root, path), text))
        .collect();
    texts
        .into_iter()
        .map(|(path, text)| Source {
            module: module_of(&root, &path),
            production: production(&text),
            path,
        })
        .filter(|s| !test_only.iter().any(|t| s.module.starts_with(t)))
        .collect()
}

/// Modules a file declares as test-only: `#[cfg(test)]` followed by `mod name;`.
fn test_modules(module: &[String], text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("#[cfg(test)]") {
        let rest = text[at + "#[cfg(test)]".len()..].trim_start();
        let rest = rest.strip_prefix("pub(crate) ").unwrap_or(rest);
        let rest = rest.strip_prefix("pub ").unwrap_or(rest);
        let Some(decl) = rest.strip_prefix("mod ") else {
            continue;
        };
        let name: String = decl
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if decl[name.len()..].starts_with(';') {
            let mut m = module.to_vec();
            m.push(name);
            found.push(m);
        }
    }
    found
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/pkg/apt/sim.rs` → `[pkg, apt, sim]`; `mod.rs`, `lib.rs` and `main.rs` name their folder.
fn module_of(root: &Path, path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The lines before the file's first `#[cfg(test)]`, comment lines left out.
fn production(text: &str) -> String {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b` or `super::a` path in the text, resolved to a module path.
fn referenced_paths(source: &Source) -> Vec<Vec<String>> {
    let text = &source.production;
    let mut found = Vec::new();
    for (start, _) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let path: String = text[start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut parts = path.split("::").filter(|p| !p.is_empty());
        let mut resolved = match parts.next() {
            Some("crate") => Vec::new(),
            _ => {
                let mut m = source.module.clone();
                m.pop();
                m
            }
        };
        for part in parts {
            if part == "super" {
                resolved.pop();
            } else {
                resolved.push(part.to_string());
            }
        }
        found.push(resolved);
    }
    found
}

#[test]
fn no_source_file_is_over_the_size_limit() {
    let big: Vec<String> = sources()
        .iter()
        .map(|s| (s.production.lines().count(), &s.path))
        .filter(|(n, _)| *n > MAX_PRODUCTION_LINES)
        .map(|(n, p)| format!("{}: {n} production lines", p.display()))
        .collect();
    assert!(
        big.is_empty(),
        "over {MAX_PRODUCTION_LINES} lines: {big:#?}"
    );
}

#[test]
fn no_two_sibling_modules_import_each_other() {
    let all = sources();
    let modules: BTreeSet<Vec<String>> = all.iter().map(|s| s.module.clone()).collect();
    let mut edges: BTreeMap<(Vec<String>, Vec<String>), String> = BTreeMap::new();
    for source in &all {
        for target in referenced_paths(source) {
            let a = &source.module;
            let shared = a.iter().zip(&target).take_while(|(x, y)| x == y).count();
            if shared >= a.len() || shared >= target.len() {
                continue; // a parent or a child, not a sibling
            }
            let (sa, sb) = (a[..=shared].to_vec(), target[..=shared].to_vec());
            if modules.contains(&sa) && modules.contains(&sb) {
                edges.entry((sa, sb)).or_insert_with(|| {
                    format!("{} → {}", source.path.display(), target.join("::"))
                });
            }
        }
    }
    let cycles: Vec<String> = edges
        .iter()
        .filter(|((a, b), _)| a < b && edges.contains_key(&(b.clone(), a.clone())))
        .map(|((a, b), why)| format!("{why} and {}", edges[&(b.clone(), a.clone())]))
        .collect();
    assert!(cycles.is_empty(), "sibling import cycles: {cycles:#?}");
}

#[test]
fn the_wire_format_is_built_by_typed_structs() {
    let all = sources();
    let count = |s: &Source| s.production.matches("json!").count();
    let total: usize = all.iter().map(count).sum();
    let in_jobs: Vec<String> = all
        .iter()
        .filter(|s| s.module.first().is_some_and(|m| m == "jobs") && count(s) > 0)
        .map(|s| format!("{}: {}", s.path.display(), count(s)))
        .collect();
    assert!(in_jobs.is_empty(), "json! under src/jobs/: {in_jobs:?}");
    assert!(
        total <= MAX_JSON_MACROS,
        "{total} json! in production code (at most {MAX_JSON_MACROS})"
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // Guards against a walk that finds nothing and so passes everything.
    let all = sources();
    assert!(all.iter().any(|s| s.module == ["pkg", "apt", "sim"]));
    let sim = all
        .iter()
        .find(|s| s.module == ["pkg", "apt", "sim"])
        .unwrap();
    assert!(referenced_paths(sim)
        .iter()
        .any(|p| p.starts_with(&["pkg".to_string()])));
    assert!(production("a\n// c\nb\n#[cfg(test)]\nd").lines().count() == 2);
}
