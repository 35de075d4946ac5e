//! The batches of a patch job with a time budget: patches grouped so that each group can be
//! installed on its own, most severe first. A patch's group holds every package the tool's
//! own plan of applying it would change (its closure); patches whose closures share a
//! package go together, so no batch depends on one not yet installed. Pure, so the order
//! and the grouping are tested without a tool.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use crate::pkg::advisories::Advisory;

/// Patches installed together in one tool transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Batch {
    /// The patches, most severe first, then by id.
    pub(super) patches: Vec<Advisory>,
    /// Every package their transaction is expected to change, in name order.
    pub(super) packages: Vec<String>,
}

impl Batch {
    /// The patch ids, in the batch's order.
    pub(super) fn ids(&self) -> Vec<String> {
        self.patches.iter().map(|p| p.id.clone()).collect()
    }
}

/// Groups `patches` into batches: most severe first (critical, high, medium, low, unknown),
/// then by id; `closure` names the packages applying one patch changes.
pub(super) fn batches(
    patches: &[Advisory],
    closure: &mut dyn FnMut(&Advisory) -> BTreeSet<String>,
) -> Vec<Batch> {
    let mut ordered: Vec<&Advisory> = patches.iter().collect();
    ordered.sort_by(|a, b| (Reverse(a.severity), &a.id).cmp(&(Reverse(b.severity), &b.id)));
    // Groups in the order of their most severe patch: a group joins the earliest group it
    // shares a package with, taking the others along.
    let mut groups: Vec<(Vec<Advisory>, BTreeSet<String>)> = Vec::new();
    for patch in ordered {
        let names = closure(patch);
        let sharing: Vec<usize> = groups
            .iter()
            .enumerate()
            .filter(|(_, (_, pkgs))| !pkgs.is_disjoint(&names))
            .map(|(i, _)| i)
            .collect();
        let Some(&first) = sharing.first() else {
            groups.push((vec![patch.clone()], names));
            continue;
        };
        // Later groups fold into the first, taken from the back so indexes stay valid.
        for &i in sharing[1..].iter().rev() {
            let (ps, pkgs) = groups.remove(i);
            groups[first].0.extend(ps);
            groups[first].1.extend(pkgs);
        }
        groups[first].0.push(patch.clone());
        groups[first].1.extend(names);
    }
    groups
        .into_iter()
        .map(|(mut patches, packages)| {
            patches.sort_by(|a, b| (Reverse(a.severity), &a.id).cmp(&(Reverse(b.severity), &b.id)));
            Batch {
                patches,
                packages: packages.into_iter().collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::{AdvisoryKind, Severity};

    fn patch(id: &str, severity: Severity, package: &str) -> Advisory {
        Advisory::sample(id, AdvisoryKind::Security, severity, &[package])
    }

    /// A closure from a table: patch id -> the packages its plan changes.
    fn run(patches: &[Advisory], table: &[(&str, &[&str])]) -> Vec<(Vec<String>, Vec<String>)> {
        let mut closure = |p: &Advisory| {
            table
                .iter()
                .find(|(id, _)| *id == p.id)
                .map(|(_, names)| names.iter().map(|n| n.to_string()).collect())
                .unwrap_or_default()
        };
        batches(patches, &mut closure)
            .into_iter()
            .map(|b| (b.ids(), b.packages))
            .collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn independent_patches_go_most_severe_first_then_by_id() {
        let patches = [
            patch("P-low", Severity::Low, "l"),
            patch("P-unknown", Severity::Unknown, "u"),
            patch("P-crit", Severity::Critical, "c"),
            patch("P-high-b", Severity::High, "hb"),
            patch("P-high-a", Severity::High, "ha"),
            patch("P-med", Severity::Medium, "m"),
        ];
        let table: &[(&str, &[&str])] = &[
            ("P-low", &["l"]),
            ("P-unknown", &["u"]),
            ("P-crit", &["c"]),
            ("P-high-b", &["hb"]),
            ("P-high-a", &["ha"]),
            ("P-med", &["m"]),
        ];
        let order: Vec<Vec<String>> = run(&patches, table).into_iter().map(|b| b.0).collect();
        assert_eq!(
            order,
            [
                strings(&["P-crit"]),
                strings(&["P-high-a"]),
                strings(&["P-high-b"]),
                strings(&["P-med"]),
                strings(&["P-low"]),
                strings(&["P-unknown"]),
            ]
        );
    }

    #[test]
    fn patches_sharing_a_package_of_their_plans_share_a_batch() {
        // The low patch's plan pulls in the library the critical one updates; the medium
        // one bridges the high one's package and the low one's.
        let patches = [
            patch("A", Severity::Critical, "lib"),
            patch("B", Severity::High, "tool"),
            patch("C", Severity::Low, "app"),
            patch("D", Severity::Medium, "other"),
            patch("E", Severity::Medium, "bridge"),
        ];
        let table: &[(&str, &[&str])] = &[
            ("A", &["lib"]),
            ("B", &["tool"]),
            ("C", &["app", "lib"]),
            ("D", &["other"]),
            ("E", &["bridge", "tool", "app"]),
        ];
        assert_eq!(
            run(&patches, table),
            [
                (
                    strings(&["A", "B", "E", "C"]),
                    strings(&["app", "bridge", "lib", "tool"])
                ),
                (strings(&["D"]), strings(&["other"])),
            ]
        );
    }

    #[test]
    fn a_patch_whose_packages_are_all_left_out_is_a_batch_of_nothing() {
        let patches = [
            patch("X", Severity::High, "x"),
            patch("Y", Severity::Low, "y"),
        ];
        let table: &[(&str, &[&str])] = &[("Y", &["y"])];
        assert_eq!(
            run(&patches, table),
            [
                (strings(&["X"]), Vec::new()),
                (strings(&["Y"]), strings(&["y"]))
            ]
        );
        assert!(batches(&[], &mut |_| BTreeSet::new()).is_empty());
    }
}
