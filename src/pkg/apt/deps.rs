//! Dependencies as dpkg's status records them: forward, reverse, and lookups by name.

use super::super::Dependency;
use super::dpkg::StatusEntry;

/// Names a package depends on (`Pre-Depends`, `Depends`), every alternative, no duplicates.
pub fn depends_names(e: &StatusEntry) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for field in ["Pre-Depends", "Depends"] {
        for rel in e.relations(field).into_iter().flatten() {
            if !out.contains(&rel.name) {
                out.push(rel.name);
            }
        }
    }
    out
}

/// Dependencies with constraints: one entry per alternative; hard for `Pre-Depends` and
/// `Depends`, soft for `Recommends` and `Suggests`.
pub fn dependencies(e: &StatusEntry) -> Vec<Dependency> {
    let fields = [
        ("Pre-Depends", true),
        ("Depends", true),
        ("Recommends", false),
        ("Suggests", false),
    ];
    fields
        .iter()
        .flat_map(|&(field, required)| {
            e.relations(field)
                .into_iter()
                .flatten()
                .map(move |r| Dependency {
                    name: r.name,
                    constraint: r.constraint,
                    required,
                })
        })
        .collect()
}

/// Installed packages (display names, sorted) whose `Pre-Depends`/`Depends` name `target`
/// or a virtual package it provides.
pub fn reverse_dependencies(
    installed: &[StatusEntry],
    target: &StatusEntry,
    native: Option<&str>,
) -> Vec<String> {
    let mut wanted = target.provides();
    wanted.push(target.name.clone());
    let mut out: Vec<String> = installed
        .iter()
        .filter(|e| !std::ptr::eq(*e, target))
        .filter(|e| depends_names(e).iter().any(|n| wanted.contains(n)))
        .map(|e| e.display_name(native))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Finds an installed package by the name the inventory shows (`name` or `name:arch`);
/// a bare name also finds the only installed instance of a foreign-architecture package,
/// and `name:<native>` / `name:all` find the unqualified one.
pub fn find_installed<'a>(
    installed: &'a [StatusEntry],
    name: &str,
    native: Option<&str>,
) -> Option<&'a StatusEntry> {
    if let Some(e) = installed.iter().find(|e| e.display_name(native) == name) {
        return Some(e);
    }
    if let Some((bare, arch)) = name.split_once(':') {
        return installed
            .iter()
            .find(|e| e.name == bare && e.arch.as_deref() == Some(arch));
    }
    let mut same = installed.iter().filter(|e| e.name == name);
    match (same.next(), same.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}
