//! What a change would do, as the package manager's own simulation says: the types of a
//! dry run (`?dry_run=true`), shared by every backend, and the change itself, built once
//! so that the simulation and the real run are asked with the same arguments.

use std::cmp::Ordering;

use super::advisories::Advisory;
use super::{advisory_targets, InstallOptions, PackageSpec, RemoveOptions};

/// A change a dry run simulates: the same values a job's real run gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Install or update these packages (exact versions where given).
    Install(Vec<PackageSpec>, InstallOptions),
    /// Remove these packages.
    Remove(Vec<String>, RemoveOptions),
    /// Apply these patches, leaving out the `exclude`d packages.
    Apply(Vec<Advisory>, Vec<String>),
}

impl Change {
    /// The packages a patch apply installs (the default `apply_advisories` path): the fixed
    /// versions of the patches' packages minus the excluded ones. Empty for other changes.
    pub fn apply_targets(&self) -> Vec<PackageSpec> {
        match self {
            Change::Apply(patches, exclude) => advisory_targets(patches, exclude),
            _ => Vec::new(),
        }
    }
}

/// What one package would undergo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanAction {
    /// Newly installed.
    Install,
    /// Replaced by a higher version (or reinstalled at the same one).
    Upgrade,
    /// Replaced by a lower version.
    Downgrade,
    /// Removed, configuration files kept where the tool keeps them.
    Remove,
    /// Removed with its configuration files.
    Purge,
}

impl PlanAction {
    /// The wire spelling (`install`, `upgrade`, `downgrade`, `remove`, `purge`).
    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Install => "install",
            PlanAction::Upgrade => "upgrade",
            PlanAction::Downgrade => "downgrade",
            PlanAction::Remove => "remove",
            PlanAction::Purge => "purge",
        }
    }

    /// The action that takes a package from `from` to `to` (either absent), ordered by
    /// `cmp`; `None` when both are absent.
    pub fn between(
        from: Option<&str>,
        to: Option<&str>,
        cmp: &dyn Fn(&str, &str) -> Ordering,
    ) -> Option<PlanAction> {
        match (from, to) {
            (None, None) => None,
            (None, Some(_)) => Some(PlanAction::Install),
            (Some(_), None) => Some(PlanAction::Remove),
            (Some(f), Some(t)) => Some(if cmp(t, f) == Ordering::Less {
                PlanAction::Downgrade
            } else {
                PlanAction::Upgrade
            }),
        }
    }
}

/// One package of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanEntry {
    /// Package name as the tool names it.
    pub name: String,
    /// What would happen to it.
    pub action: PlanAction,
    /// The installed version, `None` for a new install.
    pub from_version: Option<String>,
    /// The version it would have, `None` for a removal.
    pub to_version: Option<String>,
}

impl PlanEntry {
    /// An entry as the backends' parser tests write their expectations.
    #[cfg(test)]
    pub fn of(name: &str, action: PlanAction, from: Option<&str>, to: Option<&str>) -> PlanEntry {
        PlanEntry {
            name: name.into(),
            action,
            from_version: from.map(str::to_string),
            to_version: to.map(str::to_string),
        }
    }

    /// An entry from the versions before and after, its action decided by `cmp`; `None`
    /// when the package is absent before and after.
    pub fn between(
        name: &str,
        from: Option<&str>,
        to: Option<&str>,
        cmp: &dyn Fn(&str, &str) -> Ordering,
    ) -> Option<PlanEntry> {
        Some(PlanEntry {
            name: name.to_string(),
            action: PlanAction::between(from, to, cmp)?,
            from_version: from.map(str::to_string),
            to_version: to.map(str::to_string),
        })
    }
}

/// A package the change would leave alone, with the reason (a tool keeping it back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Package name.
    pub name: String,
    /// Why it is left alone, in the tool's words where it gave them.
    pub reason: String,
}

/// The answer of a simulation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every package the transaction would install, change or remove, dependencies and
    /// autoremovals included, in name order.
    pub entries: Vec<PlanEntry>,
    /// Bytes the tool says it would download, when it says.
    pub download_bytes: Option<u64>,
    /// The tool's messages about problems that do not stop the change.
    pub warnings: Vec<String>,
    /// Packages the change would leave alone, with the reason.
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// Sorts the entries and skipped packages by name, each name once (the first kept), so
    /// that plans compare and read the same whatever order the tool printed.
    pub fn normalise(mut self) -> Plan {
        self.entries.sort_by(|a, b| a.name.cmp(&b.name));
        self.entries.dedup_by(|a, b| a.name == b.name);
        self.skipped.sort_by(|a, b| a.name.cmp(&b.name));
        self.skipped.dedup_by(|a, b| a.name == b.name);
        self
    }
}

/// Reads a size the way the tools print it (`1,234 kB`, `3.5 MiB`, `512 B`, `12k`): a
/// number, an optional space, and a unit (SI `kB`/`MB`/`GB` are powers of 1000, binary
/// `KiB`/`MiB`/`GiB` and apk's bare `K`/`M`/`G` powers of 1024); `None` when it is not one.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.replace(',', "").parse().ok()?;
    let scale: f64 = match unit.trim() {
        "" | "B" | "b" | "bytes" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" | "K" | "k" => 1024.0,
        "MiB" | "M" => 1024.0 * 1024.0,
        "GiB" | "G" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    // Rounded: "1.5 kB" is 1500 bytes, not 1499.9999.
    Some((number * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        crate::pkg::version::dpkg(a, b)
    }

    #[test]
    fn actions_from_versions() {
        let a = |f, t| PlanAction::between(f, t, &cmp);
        assert_eq!(a(None, Some("1.0-1")), Some(PlanAction::Install));
        assert_eq!(a(Some("1.0-1"), None), Some(PlanAction::Remove));
        assert_eq!(a(Some("1.0-1"), Some("1.1-1")), Some(PlanAction::Upgrade));
        assert_eq!(a(Some("1.1-1"), Some("1.0-1")), Some(PlanAction::Downgrade));
        assert_eq!(a(Some("1.0-1"), Some("1.0-1")), Some(PlanAction::Upgrade));
        assert_eq!(a(None, None), None);
        assert_eq!(
            [
                PlanAction::Install,
                PlanAction::Upgrade,
                PlanAction::Downgrade,
                PlanAction::Remove,
                PlanAction::Purge
            ]
            .map(PlanAction::as_str),
            ["install", "upgrade", "downgrade", "remove", "purge"]
        );
    }

    #[test]
    fn normalise_sorts_and_keeps_each_name_once() {
        let e = |n: &str, t: &str| PlanEntry::between(n, None, Some(t), &cmp).unwrap();
        let plan = Plan {
            entries: vec![e("b", "1"), e("a", "1"), e("b", "2")],
            ..Plan::default()
        }
        .normalise();
        let names: Vec<(&str, Option<&str>)> = plan
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.to_version.as_deref()))
            .collect();
        assert_eq!(names, [("a", Some("1")), ("b", Some("1"))]);
    }

    #[test]
    fn sizes_as_the_tools_print_them() {
        assert_eq!(parse_size("1,234 B"), Some(1234));
        assert_eq!(parse_size("4,096 kB"), Some(4_096_000));
        assert_eq!(parse_size("1.5 kB"), Some(1500));
        assert_eq!(parse_size("2 MB"), Some(2_000_000));
        assert_eq!(parse_size("1.0 KiB"), Some(1024));
        assert_eq!(parse_size("3.5 MiB"), Some(3_670_016));
        assert_eq!(parse_size("12k"), Some(12_288));
        assert_eq!(parse_size("0 B"), Some(0));
        assert_eq!(parse_size("5"), Some(5));
        for bad in ["", "kB", "1 parsec", "-3 B", "1..2 kB", "x1 B"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
